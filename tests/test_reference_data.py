"""The repository stands on its own: the official app's models are vendored with their licence and hashes, they have
a name users can type, and nothing in the tests, the README or the docs reaches outside the checkout."""

import hashlib
import re
from pathlib import Path

import pytest

from assets import OFFICIAL_APP_DIR, OFFICIAL_APP_MODEL, OFFICIAL_APP_MODEL_SHA256, OFFICIAL_APP_TF_AGENTS_MODEL
from litert_helpers import run_cli

REPO = Path(__file__).resolve().parents[1]


def test_the_vendored_models_match_the_hashes_their_readme_publishes():
    readme = (OFFICIAL_APP_DIR / "README.md").read_text()
    for model in (OFFICIAL_APP_MODEL, OFFICIAL_APP_TF_AGENTS_MODEL):
        data = model.read_bytes()
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{model.name}`"))
        assert hashlib.sha256(data).hexdigest() in row and f"{len(data):,}" in row
    assert hashlib.sha256(OFFICIAL_APP_MODEL.read_bytes()).hexdigest() == OFFICIAL_APP_MODEL_SHA256  # what `app` checks
    assert "Apache License 2.0" in readme and "The TensorFlow Authors" in readme
    licence = (OFFICIAL_APP_DIR / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence


def test_the_official_model_has_a_spec_of_its_own_and_plays_its_exact_mean():
    result = run_cli("eval", "--agent", "app", "--exact", "--json")
    assert result.returncode == 0, result.stderr
    assert '"mean_strikes": 13.191666' in result.stdout
    assert "app (the official Android app's model" in " ".join(run_cli("eval", "--help").stdout.split())


# Absolute paths that exist only on the machine that wrote them, and reaching up from the test folder.
_OUTSIDE = re.compile(r"(?<![\w.])/(?:work|root|home|Users|mnt)/[\w.-]+|parents\[[2-9]\]")
_RELATIVE = re.compile(r"(?<![\w/])(?:\.\./)+[\w.-][\w./-]*")


def _texts():
    # This file is left out: it spells the patterns out on purpose.
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "tests").glob("*.py"))]:
        if path.name != Path(__file__).name:
            yield path, path.read_text()


def _outside(base: Path, line: str) -> list[str]:
    """The paths in ``line`` (relative ones read from ``base``) that lie outside the repository."""
    found = [match.group() for match in _OUTSIDE.finditer(line)]
    return found + [match.group() for match in _RELATIVE.finditer(line)
                    if not (base / match.group()).resolve().is_relative_to(REPO)]


def test_no_test_readme_or_doc_names_a_path_outside_the_repository():
    offenders = [f"{path.relative_to(REPO)}:{number}: {found}"
                 for path, text in _texts()
                 for number, line in enumerate(text.splitlines(), 1)
                 for found in _outside(path.parent, line)]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("base, line, outside", [
    # (spelled in pieces, so that a plain grep for such paths does not find these examples)
    (REPO, "planestrike eval --agent tflite:" + "../" + "shared/reference-models/planestrike_tf.tflite", True),
    (REPO / "tests", "REFERENCE = Path(__file__).resolve().parents" + "[2] / 'shared'", True),
    (REPO, "model         /work/main/assets/planestrike.tflite", True),
    (REPO / "docs", "see [the app](../README.md) and assets/official_app/", False),
    (REPO, "planestrike eval --agent tflite:assets/official_app/planestrike_tf_agents.tflite", False),
])
def test_the_path_check_catches_what_it_is_meant_to(base, line, outside):
    assert bool(_outside(base, line)) == outside
