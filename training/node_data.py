"""Per-layer error as Model Explorer node data: open a .tflite in Google's Model Explorer, load this file, and the
graph's nodes are coloured by how far each layer's output is from the Flax model's.

The format is Model Explorer's ``ModelNodeData`` (``model_explorer.node_data_builder``), written here as plain
JSON so planestrike does not depend on the package (with its 128 MB native adapter):

    {"main": {"results": {"1": {"value": 0.166}, "2": {...}}, "gradient": [{"stop": 0, "bgColor": ...}, ...]}}

- the top-level key is the graph id: the subgraph's name, else its signature key, else ``main`` (the rule of Model
  Explorer's TFLite adapter; our converted models name their one subgraph ``main``);
- ``results`` is keyed by node id: Model Explorer's TFLite adapter numbers each op by its position in the
  subgraph's op list (``GraphLayer.node_id``); ops with no Flax counterpart (RESHAPE, DEQUANTIZE) stay uncoloured;
- each value is the layer's max |difference| from the Flax model over all boards; the gradient runs from green
  (the smallest of them) to red (the largest).

One file per .tflite agent, since each colours one model's graph: ``--node-data OUT.json`` with one .tflite agent
writes OUT.json; with several, OUT.MODEL.json for each (``OUT.planestrike.int8.json``...).
"""

from __future__ import annotations

import json
import os
import stat
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import PlanestrikeError
from engine.files import check_writable, write_atomically

if TYPE_CHECKING:
    from training.layer_parity import LayerDiff

GRADIENT = [{"stop": 0, "bgColor": "#d9f2d9"}, {"stop": 0.5, "bgColor": "#ffd966"}, {"stop": 1, "bgColor": "#f4a6a6"}]
LITERT_KINDS = ("tflite", "app")  # the agent kinds that run a .tflite in this process: they have layers to read


def model_node_data(graph_id: str, rows: Iterable[LayerDiff]) -> dict:
    """The ``ModelNodeData`` object for one model: its layers' max |difference| keyed by node id."""
    results = {row.node_id: {"value": row.max_abs_diff} for row in rows}
    return {graph_id: {"results": results, "gradient": GRADIENT}}


def graph_id(model: Path) -> str:
    """The id Model Explorer gives the model's main graph (see the module docstring)."""
    from ai_edge_litert import schema_py_generated as schema

    from training.litert_model import read_model

    data, _ = read_model(model)  # the checked bytes: the reads below stay inside the file
    try:
        root = schema.Model.GetRootAs(data, 0)
        name = (root.Subgraphs(0).Name() or b"").decode("utf-8")
        if name:
            return name
        for i in range(root.SignatureDefsLength()):
            signature = root.SignatureDefs(i)
            if signature.SubgraphIndex() == 0 and signature.SignatureKey():
                return signature.SignatureKey().decode("utf-8")
    except (struct.error, IndexError, TypeError, ValueError):  # a name that cannot be read: the default
        pass
    return "main"


def plan_outputs(out: Path, specs: Iterable[str]) -> dict[str, Path]:
    """The node-data file of each .tflite agent in ``specs``, checked before any work: none may be an input of
    the comparison (a model, its sidecar, a checkpoint), a directory or special file, or unwritable; no two may
    coincide. Raises ``PlanestrikeError`` with one line."""
    from engine.specs import check_agent_spec

    out = Path(out)
    models, inputs = {}, []
    for spec in specs:
        kind, argument = check_agent_spec(spec)
        path = _model_of(kind.name, argument)
        if path is not None:
            models[spec] = path
            inputs += [path, path.with_name(path.name + ".json")]
        elif kind.name == "flax":
            inputs.append(_checkpoint_of(argument))
    if not models:
        raise PlanestrikeError("--node-data colours a .tflite model's graph: add a tflite agent to --agents, e.g. "
                               "--agents flax,tflite:int8")
    if len(models) == 1:
        planned = {spec: out for spec in models}
    else:
        suffix = out.suffix or ".json"
        planned = {spec: out.with_name(f"{out.name.removesuffix(out.suffix)}.{path.name.removesuffix('.tflite')}"
                                       f"{suffix}") for spec, path in models.items()}
    seen: dict[str, str] = {}
    for spec, target in planned.items():
        key = os.path.abspath(target)
        if key in seen:
            raise PlanestrikeError(f"--node-data: {seen[key]} and {spec} would both write {target} (their models "
                                   "have the same file name): compare them in separate runs")
        seen[key] = spec
        _check_output(target, inputs)
    return planned


def write(planned: dict[str, Path], rows: list[LayerDiff], models: dict[str, Path]) -> list[Path]:
    """Write each planned file atomically; returns the paths written."""
    written = []
    for spec, target in planned.items():
        data = model_node_data(graph_id(models[spec]), (row for row in rows if row.agent == spec))
        write_atomically(target, (json.dumps(data, indent=2) + "\n").encode())
        written.append(target)
    return written


def _model_of(kind: str, argument: str | None) -> Path | None:
    if kind == "tflite":
        from training.litert_agent import model_path

        return model_path(argument)
    if kind == "app":
        from assets import OFFICIAL_APP_MODEL

        return OFFICIAL_APP_MODEL
    return None


def _checkpoint_of(argument: str | None) -> Path:
    from assets import BUNDLED_CHECKPOINT
    from training.checkpoint import checkpoint_file

    return BUNDLED_CHECKPOINT if argument is None else checkpoint_file(argument)


def _check_output(target: Path, inputs: list[Path]) -> None:
    if target.is_dir():
        raise PlanestrikeError(f"--node-data {target} is a directory: give a file name such as {target / 'errors.json'}")
    if not target.parent.is_dir():
        raise PlanestrikeError(f"cannot write {target}: directory {target.parent} does not exist")
    for source in inputs:
        same = (os.path.samefile(target, source) if target.exists() and source.exists()
                else os.path.abspath(target) == os.path.abspath(source))
        if same:
            raise PlanestrikeError(f"--node-data {target} would overwrite {source}, an input of this comparison: "
                                   "choose another name")
    if target.exists() and not stat.S_ISREG(os.stat(target).st_mode):
        raise PlanestrikeError(f"--node-data {target} exists and is not a regular file: choose another name")
    try:
        check_writable(target)
    except OSError as error:
        raise PlanestrikeError(f"cannot write {target}: {error.strerror or error}; choose another --node-data") from None
