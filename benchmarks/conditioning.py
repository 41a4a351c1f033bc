"""How well-conditioned each zoo model is in float32, and how close the converter comes to that floor.

    python benchmarks/conditioning.py [--models NAME ...] [--json PATH]

For each model, on the real photos, one photo at a time (the models are converted at batch 1):

- max |out|: the largest output magnitude;
- ORT opt/noopt: onnxruntime with every graph optimisation (ORT_ENABLE_ALL: fused convolutions and
  activations, other kernels) against onnxruntime with none (ORT_DISABLE_ALL). Both are correct float32
  implementations of the same graph, so this is the model's float32 noise floor: what round-off alone moves
  the output by;
- ours/ORT: our converted TF graph against onnxruntime with all optimisations (the reference the tests use);
- ratio: ours/ORT over ORT opt/noopt. Near 1 means the converter differs from onnxruntime no more than
  onnxruntime differs from itself.

Errors are max-abs error over max-abs reference output, the largest over the photos. A model whose noise floor
approaches the 1e-4 the zoo tests hold the converter to cannot tell a converter bug from round-off.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import onnx
import onnxruntime as ort

from onnx_direct import onnx_to_tf
from onnx_direct.metrics import relative_error
from onnx_direct.runner import TFRunner
from tpu_framework.assets.zoo import ZOO, ZooModel

TOLERANCE = 1e-4  # what tests/test_real_models.py holds the converter to
Outputs = list[dict[str, np.ndarray]]


def onnxruntime_outputs(model: onnx.ModelProto, feeds: dict[str, np.ndarray], optimize: bool) -> Outputs:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return [dict(zip(names, session.run(names, photo), strict=True)) for photo in per_photo(feeds)]


def converted_outputs(model: onnx.ModelProto, entry: ZooModel, feeds: dict[str, np.ndarray]) -> Outputs:
    graph, mapping = onnx_to_tf(model, input_shape=entry.input_shape(model))
    names = [o.name for o in model.graph.output]
    with TFRunner(graph, mapping) as runner:
        return [runner(photo, names) for photo in per_photo(feeds)]


def per_photo(feeds: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    count = len(next(iter(feeds.values())))
    return [{k: v[i : i + 1] for k, v in feeds.items()} for i in range(count)]


def max_error(got: Outputs, want: Outputs) -> float:
    """The largest relative error over photos and outputs."""
    return max(relative_error(g[name], w[name]) for g, w in zip(got, want, strict=True) for name in w)


def condition(entry: ZooModel) -> dict[str, Any]:
    model = entry.load()
    feeds = entry.sample(model)
    optimised = onnxruntime_outputs(model, feeds, optimize=True)
    plain = onnxruntime_outputs(model, feeds, optimize=False)
    ours = converted_outputs(model, entry, feeds)
    floor = max_error(optimised, plain)
    error = max_error(ours, optimised)
    return {
        "model": entry.name,
        "photos": len(optimised),
        "max_abs_output": max(float(np.abs(v).max()) for photo in optimised for v in photo.values()),
        "ort_opt_vs_noopt": floor,
        "ours_vs_ort": error,
        "ours_vs_ort_noopt": max_error(ours, plain),
        "ratio": error / floor if floor else None,
        "within_tolerance": error < TOLERANCE,
    }


_COLUMNS = [
    ("model", "{:<26}", 26, "model"),
    ("max_abs_output", "{:>10.3g}", 10, "max |out|"),
    ("ort_opt_vs_noopt", "{:>12.2e}", 12, "ORT opt/noopt"),
    ("ours_vs_ort", "{:>10.2e}", 10, "ours/ORT"),
    ("ratio", "{:>8.2f}", 8, "ratio"),
]


def print_header() -> None:
    print(" ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (_, _, w, h) in enumerate(_COLUMNS)), flush=True)


def print_row(row: dict[str, Any]) -> None:
    cells = [fmt.format(row[key]) if row.get(key) is not None else "-".rjust(width) for key, fmt, width, _ in _COLUMNS]
    flag = "" if row["within_tolerance"] else f"  above {TOLERANCE:g}"
    print(" ".join(cells) + flag, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=list(ZOO), help=f"default: all of {', '.join(ZOO)}")
    parser.add_argument("--json", metavar="PATH", help="write the rows as JSON")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.models) - set(ZOO))
    if unknown:
        parser.error(f"unknown models {unknown}; known: {', '.join(ZOO)}")
    print_header()
    rows = []
    for name in args.models:
        row = condition(ZOO[name])
        print_row(row)
        rows.append(row)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
