"""onnxruntime's static quantizer, the quantization peer: pre-process, calibrate, quantize to int8 QDQ, run.

    python benchmarks/peers/ort_quantize.py --model M.onnx --calib C.npz --method Entropy [--per-channel] \
        [--bins 2048] --out Q.onnx

``C.npz`` maps each model input to a float array of N calibration samples (a single array is used for a
single-input model whatever its key). The settings are the same for every model:

- ``quant_pre_process``: symbolic and ONNX shape inference plus onnxruntime's basic graph optimisations
  (constant folding, BatchNormalization folded into Conv, ...). If it fails on a model it is retried without
  symbolic shape inference, then without optimisation, and finally skipped; each failure is kept in ``notes``.
- ``quantize_static``: ``QuantFormat.QDQ``; activations ``QInt8`` asymmetric (``ActivationSymmetric=False``:
  scale and zero point from the calibrated range); weights ``QInt8`` symmetric (``WeightSymmetric=True``: zero
  point 0, range [-127, 127] scaled by max |w|); biases int32 at input scale x weight scale;
  ``reduce_range=False``; per-tensor weights, or with ``per_channel`` one scale per output channel (Conv axis 0,
  Gemm the output-feature axis); every op type onnxruntime can quantize; a Relu/Clip after a quantized op
  dropped into its output's range (onnxruntime's default); calibration on the CPU provider, one sample per run
  unless ``batch`` says otherwise.
- calibration ``method``: ``MinMax`` (the min and max over all samples); ``Entropy`` (the clipping threshold
  that minimises the KL divergence between the histogram and its 128-level quantization); ``Percentile`` (the
  99.999th percentile of |x| over a 2048-bin histogram; onnxruntime makes Percentile ranges symmetric about
  zero by default, and that is kept).

``quantize_static`` builds Entropy's histogram with 128 bins, as many as the quantized levels, and passes no
option to change that: its KL search then has the whole range as its only candidate, and Entropy gives exactly
MinMax's ranges (checked on MobileNetV2: all 66 activation scales equal). ``histogram_bins`` (``--bins``)
calibrates through onnxruntime's ``create_calibrator`` with more bins and hands the ranges to
``quantize_static`` as a calibration cache; 2048 makes Entropy a real KL calibration, and a slow one: its search
runs in Python, about 70 s for MobileNetV2 where MinMax takes 2 s. Entropy and Percentile also hold every
calibrated tensor of every sample in memory (about 1.6 GB for MobileNetV2 and 20 photos, against 0.5 GB).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    create_calibrator,
    quant_pre_process,
    quantize_static,
)
from onnxruntime.quantization.calibrate import save_tensors_data
from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

from pytpu.errors import QuantizationError

METHODS = {"MinMax": CalibrationMethod.MinMax, "Entropy": CalibrationMethod.Entropy,
           "Percentile": CalibrationMethod.Percentile}  # fmt: skip
EXTRA_OPTIONS = {"ActivationSymmetric": False, "WeightSymmetric": True, "CalibPercentile": 99.999}
# (what is skipped, quant_pre_process keyword arguments), tried in this order.
_PREPROCESS_ATTEMPTS: tuple[tuple[str, dict[str, bool]], ...] = (
    ("nothing", {}),
    ("symbolic shape inference", {"skip_symbolic_shape": True}),
    ("symbolic shape inference and optimisation", {"skip_symbolic_shape": True, "skip_optimization": True}),
)


@dataclass(frozen=True)
class OrtQuantized:
    """The quantized model and how it was made; ``quantize_s`` is calibration plus quantization."""

    path: Path
    method: str
    per_channel: bool
    preprocessed: bool
    preprocess_s: float
    quantize_s: float
    samples: int
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path), "notes": list(self.notes)}


class ArrayReader(CalibrationDataReader):
    """The calibration arrays, ``batch`` samples per inference (one by default: many models have a fixed batch 1)."""

    def __init__(self, calibration: Mapping[str, np.ndarray], batch: int = 1):
        self.arrays = {name: np.ascontiguousarray(array) for name, array in calibration.items()}
        self.batch = batch
        self.samples = _sample_count(self.arrays)
        self.position, self.end = 0, self.samples

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.position >= self.end:
            return None
        stop = min(self.position + self.batch, self.end)
        feeds = {name: array[self.position : stop] for name, array in self.arrays.items()}
        self.position = stop
        return feeds

    def __len__(self) -> int:
        return self.samples

    def set_range(self, start_index: int, end_index: int) -> None:
        self.position, self.end = start_index, end_index


def ort_quantize(
    model_path: Path | str,
    calibration: Mapping[str, np.ndarray],
    method: str = "MinMax",
    per_channel: bool = False,
    work_dir: Path | str | None = None,
    *,
    out: Path | str | None = None,
    batch: int = 1,
    histogram_bins: int | None = None,
) -> OrtQuantized:
    """Pre-process and quantize ``model_path`` with onnxruntime's settings described in the module docstring.

    Files go to ``work_dir`` (a fresh temporary directory if None); the quantized model to ``out`` if given.
    ``histogram_bins`` (Entropy, Percentile) calibrates with that many histogram bins through onnxruntime's
    ``create_calibrator`` and hands the ranges to ``quantize_static`` as a calibration cache.
    Raises :class:`QuantizationError` for an unknown method, calibration arrays that do not match the
    model's inputs, or a failure inside onnxruntime.
    """
    if method not in METHODS:
        raise QuantizationError(f"unknown calibration method {method!r}; known: {', '.join(METHODS)}")
    if histogram_bins is not None and method == "MinMax":
        raise QuantizationError("histogram_bins applies to the Entropy and Percentile methods only")
    model_path = Path(model_path)
    work = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="ort_quantize_"))
    work.mkdir(parents=True, exist_ok=True)
    _check_inputs(model_path, calibration)
    reader = ArrayReader(calibration, batch)
    started = time.perf_counter()
    source, notes = preprocess(model_path, work / f"{model_path.stem}.preprocessed.onnx")
    preprocess_s = time.perf_counter() - started
    granularity = "per-channel" if per_channel else "per-tensor"
    target = Path(out) if out is not None else work / f"{model_path.stem}.{method}.{granularity}.qdq.onnx"
    started = time.perf_counter()
    cache = None
    try:
        if histogram_bins is not None:
            cache = work / f"{model_path.stem}.{method}.{histogram_bins}-bins.ranges.json"
            calibrate(source, reader, method, histogram_bins, cache)
        with contextlib.redirect_stdout(sys.stderr):  # calibration prints its progress; stdout is for tables
            quantize_static(source, target, None if cache else reader, quant_format=QuantFormat.QDQ,
                            per_channel=per_channel, reduce_range=False, activation_type=QuantType.QInt8,
                            weight_type=QuantType.QInt8, calibrate_method=METHODS[method],
                            extra_options=dict(EXTRA_OPTIONS), calibration_cache_path=cache)  # fmt: skip
    except Exception as err:  # onnxruntime raises anything from ValueError to its own Fail
        raise QuantizationError(f"onnxruntime quantize_static ({method}, {granularity}) failed: {err}") from err
    quantize_s = time.perf_counter() - started
    return OrtQuantized(target, method, per_channel, source != model_path, preprocess_s, quantize_s,
                        reader.samples, tuple(notes))  # fmt: skip


def preprocess(model_path: Path, out: Path) -> tuple[Path, list[str]]:
    """``quant_pre_process`` into ``out``, with fewer steps after each failure; the model itself if all fail."""
    notes: list[str] = []
    for skipped, options in _PREPROCESS_ATTEMPTS:
        try:
            quant_pre_process(str(model_path), str(out), **options)
            return out, notes
        except Exception as err:  # any step may fail on an unusual model: try the next, smaller set
            notes.append(f"quant_pre_process skipping {skipped} failed: {type(err).__name__}: {str(err)[:200]}")
    notes.append("quantizing the model without pre-processing")
    return model_path, notes


def calibrate(model: Path, reader: ArrayReader, method: str, bins: int, cache: Path) -> None:
    """Calibrate as ``quantize_static`` does, but with ``bins`` histogram bins; the ranges are saved to ``cache``."""
    options: dict[str, Any] = {"num_bins": bins}
    if method == "Percentile":
        options["percentile"] = EXTRA_OPTIONS["CalibPercentile"]
    op_types = sorted(set(QLinearOpsRegistry) | set(QDQRegistry))  # quantize_static's default: every op it knows
    with tempfile.TemporaryDirectory(prefix="ort_calibrate_") as tmp, contextlib.redirect_stdout(sys.stderr):
        augmented = Path(tmp) / "augmented.onnx"
        calibrator = create_calibrator(model, op_types, str(augmented), METHODS[method], extra_options=options)
        calibrator.collect_data(reader)
        save_tensors_data(calibrator.compute_data(), cache)


def ort_run(path: Path | str, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """Every output of the model on ``feeds``; one sample at a time if the model has a fixed batch of 1."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    count = _sample_count(feeds)
    if count == 1 or all(i.shape and i.shape[0] != 1 for i in session.get_inputs()):
        return list(session.run(None, dict(feeds)))
    results = [session.run(None, {k: v[i : i + 1] for k, v in feeds.items()}) for i in range(count)]
    return [np.concatenate([r[j] for r in results]) for j in range(len(results[0]))]


def _sample_count(arrays: Mapping[str, np.ndarray]) -> int:
    counts = {len(array) for array in arrays.values()}
    if len(counts) != 1 or 0 in counts:
        raise QuantizationError(f"the arrays must hold the same, non-zero number of samples, not {sorted(counts)}")
    return counts.pop()


def _check_inputs(model_path: Path, calibration: Mapping[str, np.ndarray]) -> None:
    graph = onnx.load(str(model_path), load_external_data=False).graph
    initializers = {t.name for t in graph.initializer}
    inputs = {i.name for i in graph.input if i.name not in initializers}
    if set(calibration) != inputs:
        raise QuantizationError(f"calibration arrays {sorted(calibration)} do not match the inputs {sorted(inputs)}")


def _load_calibration(npz: Path, model: Path) -> dict[str, np.ndarray]:
    with np.load(npz) as archive:
        arrays = {name: archive[name] for name in archive.files}
    graph = onnx.load(str(model), load_external_data=False).graph
    initializers = {t.name for t in graph.initializer}
    inputs = [i.name for i in graph.input if i.name not in initializers]
    if len(arrays) == 1 and len(inputs) == 1:
        return {inputs[0]: next(iter(arrays.values()))}
    return arrays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="float ONNX model")
    parser.add_argument("--calib", type=Path, required=True, help=".npz of calibration arrays, one per input")
    parser.add_argument("--method", choices=list(METHODS), default="MinMax")
    parser.add_argument("--per-channel", action="store_true", help="one weight scale per output channel")
    parser.add_argument("--out", type=Path, required=True, help="where to write the QDQ model")
    parser.add_argument("--batch", type=int, default=1, help="calibration samples per inference")
    parser.add_argument("--bins", type=int, help="histogram bins for Entropy/Percentile (default: onnxruntime's)")
    args = parser.parse_args(argv)
    calibration = _load_calibration(args.calib, args.model)
    with tempfile.TemporaryDirectory(prefix="ort_quantize_") as work:
        result = ort_quantize(args.model, calibration, args.method, args.per_channel, work, out=args.out,
                              batch=args.batch, histogram_bins=args.bins)  # fmt: skip
    # The process's peak resident memory: meaningful because the CLI quantizes one model per process.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({**result.to_json(), "peak_rss_mb": round(peak_mb)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
