"""`planestrike compare`: the same boards for every agent, pairwise differences, per-move latency."""

import json

import numpy as np
import pytest
from litert_helpers import APP_MODEL, assert_one_line_error, fresh_checkpoint, run_cli

from engine.policy_distance import strike_distribution
from training.compare import CompareConfig, compare_agents
from training.parity import game_boards

PAIR_KEYS = {"a", "b", "max_abs_diff", "mean_abs_diff", "kl", "argmax_agreement"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A real checkpoint and its real conversion."""
    from training.convert import ConvertConfig, convert_checkpoint

    directory = tmp_path_factory.mktemp("compare-run")
    fresh_checkpoint(directory, seed=5)
    convert_checkpoint(ConvertConfig(checkpoint=directory))
    return directory


def test_flax_against_its_own_tflite_agrees_everywhere(run_dir, tmp_path):
    flax, tflite = f"flax:{run_dir}", f"tflite:{run_dir / 'planestrike.tflite'}"
    result = run_cli("compare", "--agents", f"{flax},{tflite}", "--boards", "200", "--json", cache=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert set(report) == {"boards", "agents", "pairs"} and report["boards"] == 200
    assert list(report["agents"]) == [flax, tflite]
    for timing in report["agents"].values():
        assert set(timing) == {"latency_us_p50", "latency_us_p95"}
        assert 0 < timing["latency_us_p50"] <= timing["latency_us_p95"]
    [pair] = report["pairs"]
    assert set(pair) == PAIR_KEYS and (pair["a"], pair["b"]) == (flax, tflite)
    assert pair["max_abs_diff"] <= 1e-5 and pair["argmax_agreement"] == 1.0
    assert 0 <= pair["kl"] < 1e-6 and pair["mean_abs_diff"] <= pair["max_abs_diff"]


def test_every_pair_of_three_different_agents_is_reported():
    agents = ("hunter", "random", f"tflite:{APP_MODEL}")
    report = compare_agents(CompareConfig(agents=agents, boards=300, seed=1)).to_dict()
    assert [(p["a"], p["b"]) for p in report["pairs"]] == [(agents[0], agents[1]), (agents[0], agents[2]),
                                                            (agents[1], agents[2])]
    by_pair = {(p["a"], p["b"]): p for p in report["pairs"]}
    hunter_random, hunter_app = by_pair[agents[:2]], by_pair[(agents[0], agents[2])]
    # The random agent spreads its strikes evenly; the hunter and the app's trained model both aim at the plane.
    assert hunter_random["argmax_agreement"] < hunter_app["argmax_agreement"] < 1
    assert hunter_random["kl"] > 0 and hunter_app["kl"] > 0
    assert all(np.isfinite(p[key]) for p in report["pairs"] for key in PAIR_KEYS - {"a", "b"})


def test_identical_scores_have_zero_kl_and_the_strike_distribution_ignores_tried_cells():
    boards = game_boards(50, seed=2)
    scores = np.random.default_rng(0).random((50, 64))
    distribution = strike_distribution(scores, boards)
    assert np.allclose(distribution.sum(axis=1), 1.0)
    assert (distribution[boards.reshape(50, 64) != 0] == 0).all()
    from training.compare import _pair

    same = _pair("x", "y", scores, scores, boards)
    assert same.kl == 0 and same.max_abs_diff == 0 and same.argmax_agreement == 1


def test_cli_table_is_readable(tmp_path):
    result = run_cli("compare", "--agents", f"hunter,tflite:{APP_MODEL}", "--boards", "200", cache=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "200 boards" in result.stdout and "p95 us" in result.stdout
    assert f"hunter / tflite:{APP_MODEL}" in result.stdout and "same cell" in result.stdout


@pytest.mark.parametrize("agents, fragments", [
    ("hunter", ["at least two agents"]),
    ("hunter,hunter", ["the same agent twice"]),
    ("hunter,chess", ["unknown agent 'chess'"]),
    ("hunter,,random", ["empty agent"]),
    ("hunter,tflite:/nonexistent.tflite", ["/nonexistent.tflite", "no such file"]),
])
def test_cli_errors_are_one_line(tmp_path, agents, fragments):
    assert_one_line_error(run_cli("compare", "--agents", agents, "--boards", "50", cache=tmp_path), *fragments)


# --- Per layer: `compare --layers` and Model Explorer node data.

LAYER_KEYS = {"agent", "reference", "same_checkpoint", "layer", "node_id", "op", "max_abs_diff", "mean_abs_diff",
              "reference_max_abs"}
LAYERS = ["dense_0", "dense_1", "logits", "softmax"]


@pytest.fixture(scope="module")
def bundled_layers():
    """The bundled checkpoint against its three bundled conversions, layer by layer."""
    agents = ("flax", "tflite:float32", "tflite:float16", "tflite:int8")
    return compare_agents(CompareConfig(agents=agents, boards=400, seed=3, layers=True))


def rows_of(report, agent):
    return {row.layer: row for row in report.layers if row.agent == agent}


def test_float32_layers_match_the_flax_layers_to_float32_rounding(bundled_layers):
    rows = rows_of(bundled_layers, "tflite:float32")
    assert list(rows) == LAYERS
    assert [rows[name].op for name in LAYERS] == ["FULLY_CONNECTED"] * 3 + ["SOFTMAX"]
    for row in rows.values():
        assert row.reference == "flax" and row.same_checkpoint is True
        assert 0 <= row.mean_abs_diff <= row.max_abs_diff
    for name in LAYERS[:-1]:  # float32 rounding relative to the layer's scale, no more
        assert rows[name].max_abs_diff <= 1e-6 * rows[name].reference_max_abs
    assert rows["softmax"].max_abs_diff <= 1e-5  # the parity gate's own limit (a confident softmax amplifies)


def test_quantization_error_enters_at_the_first_layer_and_grows_until_the_softmax_squashes_it(bundled_layers):
    float32, float16, int8 = (rows_of(bundled_layers, spec) for spec in ("tflite:float32", "tflite:float16",
                                                                          "tflite:int8"))
    for name in LAYERS:
        assert float32[name].max_abs_diff < float16[name].max_abs_diff < int8[name].max_abs_diff
    for rows in (float16, int8):
        assert rows["dense_0"].mean_abs_diff < rows["dense_1"].mean_abs_diff < rows["logits"].mean_abs_diff
        assert rows["softmax"].mean_abs_diff < rows["dense_0"].mean_abs_diff
        assert all(row.same_checkpoint for row in rows.values())
    # The DEQUANTIZE ops put float16's layers elsewhere in the op list: matched by structure, not by position or name.
    assert [float16[name].node_id for name in LAYERS] == ["7", "8", "9", "10"]
    assert [int8[name].node_id for name in LAYERS] == ["1", "2", "3", "4"]


def test_the_softmax_layer_is_exactly_what_the_agent_answers(bundled_layers):
    """The second interpreter (every tensor kept) computes what the agent itself plays with."""
    by_pair = {(p.a, p.b): p for p in bundled_layers.pairs}
    for spec in ("tflite:float32", "tflite:float16", "tflite:int8"):
        assert rows_of(bundled_layers, spec)["softmax"].max_abs_diff == by_pair[("flax", spec)].max_abs_diff


def test_a_model_of_another_checkpoint_is_flagged_as_a_different_model_not_a_bad_conversion(run_dir):
    report = compare_agents(CompareConfig(agents=(f"flax:{run_dir}", "tflite", "app",
                                                  f"tflite:{run_dir / 'planestrike.tflite'}"), boards=100, layers=True))
    assert {row.same_checkpoint for row in report.layers if row.agent == "tflite"} == {False}
    assert {row.same_checkpoint for row in report.layers if row.agent == "app"} == {None}  # no sidecar: unknown
    own = rows_of(report, f"tflite:{run_dir / 'planestrike.tflite'}")
    assert all(row.same_checkpoint for row in own.values()) and own["softmax"].max_abs_diff <= 1e-5
    assert report.to_dict()["layers"] == [row.to_dict() for row in report.layers]


def test_cli_layers_json_and_node_data_for_model_explorer(tmp_path):
    out = tmp_path / "errors.json"
    result = run_cli("compare", "--agents", "flax,tflite:int8", "--boards", "150", "--layers", "--node-data", out,
                     "--json", cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert set(report) == {"boards", "agents", "pairs", "layers"}
    assert [row["layer"] for row in report["layers"]] == LAYERS
    assert all(set(row) == LAYER_KEYS and row["agent"] == "tflite:int8" for row in report["layers"])
    assert_model_node_data(json.loads(out.read_text()), {row["node_id"]: row["max_abs_diff"] for row in report["layers"]})


def test_cli_layers_table_and_one_node_data_file_per_model(tmp_path):
    out = tmp_path / "errors.json"
    result = run_cli("compare", "--agents", "flax,tflite,tflite:float16", "--boards", "100", "--node-data", out,
                     cache=tmp_path / "cache")  # --node-data implies --layers
    assert result.returncode == 0, result.stderr
    assert "tflite:float16 vs flax, layer by layer (converted from its checkpoint)" in result.stdout
    assert "max |flax|" in result.stdout and "FULLY_CONNECTED" in result.stdout
    assert sorted(path.name for path in tmp_path.glob("errors*")) == ["errors.planestrike.float16.json",
                                                                     "errors.planestrike.json"]
    assert set(json.loads((tmp_path / "errors.planestrike.float16.json").read_text())["main"]["results"]) == \
        {"7", "8", "9", "10"}


def assert_model_node_data(data: dict, values: dict[str, float]) -> None:
    """Model Explorer's ModelNodeData (model_explorer.node_data_builder), field by field: graph id -> GraphNodeData
    {results: {node id: NodeDataResult {value}}, gradient: [GradientItem {stop 0..1, bgColor}] with stops 0 and 1}."""
    assert list(data) == ["main"]  # the graph id Model Explorer's TFLite adapter gives our models' subgraph
    graph = data["main"]
    assert set(graph) <= {"results", "thresholds", "gradient", "hideInAggregatedStatsTable", "hideInChildrenStatsTable",
                          "hideAggregatedStats", "showExpandedSummaryOnGroupNode",
                          "showLabelCountColumnsInChildrenStatsTable"}
    assert {node: result["value"] for node, result in graph["results"].items()} == values
    for result in graph["results"].values():
        assert set(result) <= {"value", "bgColor", "textColor"} and isinstance(result["value"], float)
    stops = [item["stop"] for item in graph["gradient"]]
    assert stops[0] == 0 and stops[-1] == 1 and stops == sorted(stops)
    assert all(set(item) <= {"stop", "bgColor", "textColor"} and item["bgColor"].startswith("#")
               for item in graph["gradient"])


def test_node_data_loads_into_model_explorers_own_classes_when_installed(tmp_path):
    """With the `explorer` extra installed: the file round-trips through Model Explorer's dataclasses."""
    builder = pytest.importorskip("model_explorer.node_data_builder")
    dacite = pytest.importorskip("dacite")
    from training.layer_parity import LayerDiff
    from training.node_data import model_node_data

    rows = [LayerDiff("tflite", "flax", True, "dense_0", "1", "FULLY_CONNECTED", 0.5, 0.1, 2.0)]
    data = model_node_data("main", rows)
    graphs = {key: dacite.from_dict(builder.GraphNodeData, value) for key, value in data.items()}
    rebuilt = json.loads(builder.ModelNodeData(graphsData=graphs).to_json_string())
    assert {key: rebuilt["main"][key] for key in data["main"]} == data["main"]


@pytest.mark.parametrize("args, fragments", [
    (["--layers", "--agents", "hunter,tflite"], ["--layers compares each .tflite model with a Flax model"]),
    (["--layers", "--agents", "flax,hunter"], ["add a tflite agent"]),
    (["--node-data", "{tmp}/x.json", "--agents", "flax,hunter"], ["--node-data colours a .tflite model's graph"]),
    (["--node-data", "{tmp}", "--agents", "flax,tflite"], ["is a directory"]),
    (["--node-data", "{tmp}/nowhere/x.json", "--agents", "flax,tflite"], ["nowhere does not exist"]),
    (["--node-data", "{tmp}/model.tflite", "--agents", "flax,tflite:{tmp}/model.tflite"],
     ["would overwrite", "an input of this comparison"]),
    (["--node-data", "{tmp}/model.tflite.json", "--agents", "flax,tflite:{tmp}/model.tflite"], ["would overwrite"]),
    (["--node-data", "{tmp}/checkpoint.msgpack", "--agents", "flax:{tmp},tflite"], ["would overwrite"]),
    (["--node-data", "{tmp}/x.json", "--agents", "flax,tflite:{tmp}/a/planestrike.tflite,tflite"],
     ["would both write", "x.planestrike.json"]),
    (["--node-data", "/proc/x.json", "--agents", "flax,tflite"], ["cannot write /proc/x.json"]),
    (["--node-data", "", "--agents", "flax,tflite"], ["--node-data: is empty"]),
])
def test_cli_layer_errors_are_one_line_before_any_work(tmp_path, args, fragments):
    import shutil

    from assets import BUNDLED_TFLITE

    fresh_checkpoint(tmp_path)
    shutil.copy(BUNDLED_TFLITE, tmp_path / "model.tflite")
    (tmp_path / "a").mkdir()
    args = [arg.format(tmp=tmp_path) for arg in args]
    before = sorted(path.name for path in tmp_path.iterdir())
    result = run_cli("compare", *args, "--boards", "50", cache=tmp_path / "cache")
    assert_one_line_error(result, *[fragment.format(tmp=tmp_path) for fragment in fragments])
    assert sorted(path.name for path in tmp_path.iterdir() if path.name != "cache") == \
        [name for name in before if name != "cache"]
