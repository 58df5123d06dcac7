"""`planestrike convert`: a Flax checkpoint to a .tflite model, checked by the parity gate before it is written."""

from __future__ import annotations

import argparse
import json
import sys

from planestrike_tui.commands.arguments import path
from planestrike_tui.commands.output import print_rows, shown


def register(commands: argparse._SubParsersAction) -> None:
    from training.convert import QUANTIZATIONS  # light: JAX and TensorFlow load only when converting

    parser = commands.add_parser(
        "convert",
        help="convert a checkpoint to TensorFlow Lite (jax2tf, parity-checked)",
        description="Convert a Flax checkpoint to a .tflite model with jax2tf and the TFLite converter. The model "
        "must use builtin ops only and answer like the Flax model on 1,200 boards from real games (the parity "
        "gate); only then are the model and its metadata sidecar (MODEL.json) written.",
    )
    parser.add_argument("--checkpoint", type=path, default=None, metavar="DIR",
                        help="checkpoint directory or file (default: the bundled assets/checkpoint.msgpack)")
    parser.add_argument("--out", type=path, default=None, metavar="FILE",
                        help="model to write (default, next to the checkpoint: planestrike.tflite, or "
                        "planestrike.float16.tflite / planestrike.int8.tflite when quantized, so no mode overwrites "
                        "another); an existing file "
                        "that is not a TFLite model is replaced only with --force, the checkpoint itself never")
    parser.add_argument("--quantize", choices=QUANTIZATIONS, default="none",
                        help="none (float32, default), float16 weights, or dynamic-int8 weights")
    parser.add_argument("--force", action="store_true",
                        help="keep the model even if it fails the parity gate (with a warning), and replace an "
                        "--out file that is not a TFLite model")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from assets import BUNDLED_CHECKPOINT
    from training.convert import ConvertConfig, convert_checkpoint

    config = ConvertConfig(checkpoint=args.checkpoint or BUNDLED_CHECKPOINT, out=args.out,
                           quantize=args.quantize, force=args.force)
    report = convert_checkpoint(config)
    if report.forced:
        print(f"planestrike: WARNING: {shown(report.model)} FAILED the parity gate ({'; '.join(report.parity.failures())}) "
              "and was written only because of --force: do not ship it", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict()))
        return 0
    meta, parity = report.metadata, report.parity
    limits = parity.thresholds
    rows = [
        ("model", f"{shown(report.model)} ({meta['bytes']:,} bytes, {args.quantize}, sha256 {meta['sha256'][:16]})"),
        ("from", shown(config.checkpoint)),
        ("ops", f"{_ops_summary(meta['ops'])} (builtin only)"),
        ("input", ", ".join(_tensor(t) for t in meta["inputs"])),
        ("output", ", ".join(_tensor(t) for t in meta["outputs"])),
        ("parity", f"{'PASSED' if parity.passed else 'FAILED'} on {parity.boards:,} boards from real games"),
        ("  max |diff|", f"{parity.max_abs_diff:.3g} (limit {limits.max_abs_diff:g})"),
        ("  mean |diff|", f"{parity.mean_abs_diff:.3g} (limit {limits.mean_abs_diff:g})"),
        ("  same cell", f"{parity.argmax_agreement:.2%} of boards" + (
            f", {parity.decision_agreement:.2%} counting {parity.rounding_ties} rounding ties"
            if parity.rounding_ties else "") + f" (limit {limits.min_agreement:.0%})"),
        ("skill", f"{meta['eval']['exact_mean_strikes']:.4f} mean strikes (exact, 120 placements)"),
        ("sidecar", shown(report.sidecar) + ("  (unchanged: the same model as before, nothing written)"
                                              if report.unchanged else "")),
        ("time", f"{report.seconds:.1f} s"),
    ]
    print_rows(rows, width=13)
    return 0


def _ops_summary(ops: list[str]) -> str:
    counts: dict[str, int] = {}
    for op in ops:
        counts[op] = counts.get(op, 0) + 1
    return ", ".join(op if n == 1 else f"{op} x{n}" for op, n in counts.items())


def _tensor(tensor: dict) -> str:
    return f"{tensor['name']} {tensor['dtype']}{tensor['shape']}"
