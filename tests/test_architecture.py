"""The architecture's import rules, checked in fresh interpreters so nothing else has loaded the modules."""

import json
import pathlib
import subprocess
import sys

import pytest

HEAVY = ["jax", "flax", "optax", "tensorflow", "textual", "adb_shell", "ai_edge_litert", "rich"]


def modules_after_import(module: str) -> set[str]:
    """Top-level names of the modules that importing ``module`` adds to a fresh interpreter."""
    code = (
        "import sys, json; before = set(sys.modules); "
        f"import {module}; print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in json.loads(out)}


def test_engine_imports_only_numpy_and_the_standard_library():
    third_party = modules_after_import("engine") - set(sys.stdlib_module_names) - {"engine", "numpy"}
    assert not third_party, f"engine pulled in {sorted(third_party)}"


@pytest.mark.parametrize("package", ["engine", "training", "devicelink"])
def test_only_the_app_imports_textual(package):
    """Data flows one way: the app imports these packages, never the reverse, and only the app uses Textual."""
    root = pathlib.Path(__file__).resolve().parents[1] / package
    forbidden = ("import textual", "from textual", "import planestrike_tui", "from planestrike_tui")
    offenders = [
        f"{path.relative_to(root.parent)}: {line.strip()}"
        for path in root.rglob("*.py")
        for line in path.read_text().splitlines()
        if line.strip().startswith(forbidden)
    ]
    assert not offenders


def test_the_cli_starts_without_heavy_libraries():
    assert not modules_after_import("planestrike_tui.cli") & set(HEAVY)
