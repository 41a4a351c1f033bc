"""Converter benchmark on real models, beside onnx2tf in the same run.

    python benchmarks/convert.py [--models NAME ...] [--peer-python .venv-peers/bin/python] [--json PATH]

For each model: our conversion time, TF vs onnxruntime inference time (batch 1, median of 10),
Transpose ops in the graph, max error against onnxruntime over real photos (max-abs error over max-abs
output), top-1 agreement for classifiers; then the same through onnx2tf (`bash benchmarks/setup_peers.sh`)
and the ratio of the two conversion times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
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

_PEER_RUNNER = Path(__file__).with_name("peers") / "onnx2tf_runner.py"
_REPEATS = 10


def _timed(fn: Any, repeats: int) -> list[float]:
    """Seconds of ``repeats`` calls of ``fn`` after one untimed call."""
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def best_seconds(fn: Any, repeats: int = _REPEATS) -> float:
    """The shortest of ``repeats`` timed calls of ``fn`` after one untimed call."""
    return min(_timed(fn, repeats))


def paired_best_seconds(a: Any, b: Any, rounds: int, pause_s: float) -> tuple[float, float]:
    """The shortest of ``rounds`` timed calls of ``a`` and of ``b``, timed alternately (a, b, a, b, ...) after
    one untimed call each, so that both see the machine at the same speed (a shared machine's drifts by
    tens of percent over minutes).  Each call starts after a pause, once the other's worker threads (which
    spin a while after their work) have gone idle."""
    a()
    b()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for fn, out in ((a, times[0]), (b, times[1])):
            time.sleep(pause_s)
            started = time.perf_counter()
            fn()
            out.append(time.perf_counter() - started)
    return min(times[0]), min(times[1])


def median_seconds(fn: Any, repeats: int = _REPEATS) -> float:
    """The median of ``repeats`` timed calls of ``fn`` after one untimed call."""
    return float(np.median(_timed(fn, repeats)))


def per_photo(run: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Each output for every photo, one photo at a time (the models are converted at batch 1)."""
    count = len(next(iter(feeds.values())))
    results = [run({k: v[i : i + 1] for k, v in feeds.items()}) for i in range(count)]
    return [np.concatenate([r[j] for r in results]) for j in range(len(results[0]))]


def ours(model: onnx.ModelProto, entry: ZooModel, feeds: dict[str, np.ndarray], names: list[str]) -> dict[str, Any]:
    shapes = entry.input_shape(model)
    onnx_to_tf(model, input_shape=shapes)  # warm-up: TF's first graph construction pays one-off costs
    started = time.perf_counter()
    graph, mapping = onnx_to_tf(model, input_shape=shapes)
    convert_s = time.perf_counter() - started
    transposes = sum(n.op == "Transpose" for n in graph.as_graph_def().node)
    with TFRunner(graph, mapping) as runner:
        outputs = per_photo(lambda f: [runner(f, names)[n] for n in names], feeds)
        first = {k: v[:1] for k, v in feeds.items()}
        infer_s = median_seconds(lambda: runner(first, names))
    return {"convert_s": convert_s, "infer_s": infer_s, "transposes": transposes, "outputs": outputs}


def onnxruntime(model: onnx.ModelProto, feeds: dict[str, np.ndarray], names: list[str]) -> dict[str, Any]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = per_photo(lambda f: session.run(names, f), feeds)
    first = {k: v[:1] for k, v in feeds.items()}
    return {"infer_s": median_seconds(lambda: session.run(names, first)), "outputs": outputs}


def onnx2tf(
    model: onnx.ModelProto, entry: ZooModel, feeds: dict[str, np.ndarray], peer_python: str, names: list[str]
) -> dict[str, Any]:
    fixed = _fixed_input(model, entry)
    with tempfile.TemporaryDirectory() as work:
        onnx.save(fixed, Path(work) / "source.onnx")
        np.savez(Path(work) / "inputs.npz", **feeds)
        env = {**os.environ, "PATH": f"{Path(peer_python).parent}{os.pathsep}{os.environ['PATH']}"}
        done = subprocess.run(
            [
                peer_python,
                str(_PEER_RUNNER),
                str(Path(work) / "source.onnx"),
                str(Path(work) / "inputs.npz"),
                str(Path(work) / "run"),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=3600,
        )
        if done.returncode != 0:
            return {"error": _failure(done)}
        report = json.loads(done.stdout.strip().splitlines()[-1])
        peer = dict(np.load(Path(work) / "run" / "peer_outputs.npz"))
    report["outputs"] = list(peer.values())
    return report


def _failure(done: subprocess.CompletedProcess[str]) -> str:
    """Why the peer failed: killed by a signal (the kernel's OOM killer sends 9), or its last real error line."""
    if done.returncode < 0:
        return f"killed by signal {-done.returncode}" + (" (out of memory)" if done.returncode == -9 else "")
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith(("I0000", "W0000", "WARNING"))]
    return (lines or ["failed"])[-1][:200]


def _fixed_input(model: onnx.ModelProto, entry: ZooModel) -> onnx.ModelProto:
    """The model with its input shape fixed, as onnx2tf converts best (it is told nothing else)."""
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    shape = next(iter(entry.input_shape(model).values()))
    info = next(i for i in fixed.graph.input if i.name == entry.input_name(model))
    for dim, size in zip(info.type.tensor_type.shape.dim, shape, strict=True):
        dim.Clear()
        dim.dim_value = size
    return fixed


def peer_error(peer_outputs: list[np.ndarray], reference: list[np.ndarray]) -> float | None:
    """Error of onnx2tf's outputs, matched to the ONNX outputs by shape (it may return them channels-last)."""
    errors = []
    for want in reference:
        candidates = [p for p in peer_outputs if p.shape == want.shape]
        candidates += [
            np.moveaxis(p, -1, 1) for p in peer_outputs if p.ndim >= 3 and np.moveaxis(p, -1, 1).shape == want.shape
        ]
        if not candidates:
            return None
        errors.append(min(relative_error(c, want) for c in candidates))
    return max(errors)


def top1_agreement(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.mean(np.argmax(got.reshape(len(got), -1), 1) == np.argmax(want.reshape(len(want), -1), 1)))


def benchmark(entry: ZooModel, peer_python: str | None) -> dict[str, Any]:
    model = entry.load()
    feeds = entry.sample(model)
    names = [o.name for o in model.graph.output]
    reference = onnxruntime(model, feeds, names)
    mine = ours(model, entry, feeds, names)
    row: dict[str, Any] = {
        "model": entry.name,
        "nodes": len(model.graph.node),
        "photos": len(next(iter(feeds.values()))),
        "convert_s": mine["convert_s"],
        "tf_infer_ms": 1e3 * mine["infer_s"],
        "ort_infer_ms": 1e3 * reference["infer_s"],
        "transposes": mine["transposes"],
        "max_rel_error": max(relative_error(g, w) for g, w in zip(mine["outputs"], reference["outputs"], strict=True)),
    }
    if entry.kind == "classifier":
        row["top1_agreement"] = top1_agreement(mine["outputs"][0], reference["outputs"][0])
    if peer_python:
        peer = onnx2tf(model, entry, feeds, peer_python, names)
        if "error" in peer:
            row["onnx2tf_error"] = peer["error"]
        else:
            row.update(
                {
                    "onnx2tf_convert_s": peer["convert_s"],
                    "onnx2tf_infer_ms": 1e3 * peer["infer_s"],
                    "onnx2tf_transposes": peer["transposes"],
                    "onnx2tf_max_rel_error": peer_error(peer["outputs"], reference["outputs"]),
                    "convert_speedup": peer["convert_s"] / mine["convert_s"],
                }
            )
    return row


_COLUMNS = [
    ("model", "{:<24}", 24),
    ("nodes", "{:>6}", 6),
    ("convert_s", "{:>9.2f}", 9),
    ("tf_infer_ms", "{:>9.1f}", 9),
    ("ort_infer_ms", "{:>9.1f}", 9),
    ("transposes", "{:>5}", 5),
    ("max_rel_error", "{:>10.1e}", 10),
    ("onnx2tf_convert_s", "{:>9.1f}", 9),
    ("onnx2tf_infer_ms", "{:>9.1f}", 9),
    ("onnx2tf_transposes", "{:>5}", 5),
    ("onnx2tf_max_rel_error", "{:>10.1e}", 10),
    ("convert_speedup", "{:>8.1f}x", 9),
]
_HEADERS = [
    "model",
    "nodes",
    "conv s",
    "TF ms",
    "ORT ms",
    "T",
    "max err",
    "o2t s",
    "o2t ms",
    "o2t T",
    "o2t err",
    "speedup",
]


def print_row(row: dict[str, Any]) -> None:
    cells = []
    for key, fmt, width in _COLUMNS:
        value = row.get(key)
        cells.append(fmt.format(value) if value is not None else "-".rjust(width))
    print(" ".join(cells) + (f"  onnx2tf failed: {row['onnx2tf_error']}" if "onnx2tf_error" in row else ""), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=list(ZOO), help=f"default: all of {', '.join(ZOO)}")
    parser.add_argument(
        "--peer-python",
        default=".venv-peers/bin/python",
        help="python of the venv with onnx2tf (benchmarks/setup_peers.sh); 'none' skips the peer",
    )
    parser.add_argument("--json", metavar="PATH", help="write the rows as JSON")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.models) - set(ZOO))
    if unknown:
        parser.error(f"unknown models {unknown}; known: {', '.join(ZOO)}")
    peer = None if args.peer_python == "none" else args.peer_python
    if peer and not Path(peer).is_file():
        parser.error(f"{peer} not found: run bash benchmarks/setup_peers.sh, or pass --peer-python none")
    widths = [w for _, _, w in _COLUMNS]
    print(" ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(_HEADERS, widths, strict=True))))
    rows = []
    for name in args.models:
        row = benchmark(ZOO[name], peer)
        print_row(row)
        rows.append(row)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
