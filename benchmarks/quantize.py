"""Quantization benchmark on real trained models and real data, beside onnxruntime's quantize_static in one run.

    python benchmarks/quantize.py [--models NAME ...] [--quick] [--json PATH] [--percentile P]
                                  [--fine-tuning-epochs N] [--layers N]

Models, each float ONNX model quantized by both tools from the same calibration samples and measured on the
same held-out samples against the float model (onnxruntime, float32):

- ``mobilenet_v2``: ImageNet MobileNetV2 on real photos (resize 256, centre crop 224, ImageNet mean/std; five
  views of each photo: the centre crop and the four corner crops). Photos are split by photo, never one photo
  on both sides: ``CALIBRATION_PHOTOS`` and ``EVALUATION_PHOTOS`` (those of Debian's ``darknet`` package are
  used when it is installed).
- ``fashion_mnist``: the project's Fashion-MNIST CNN, calibrated on the first training images, evaluated on
  the 10,000 test images with their labels.
- ``yolov8n``: the detector at 320x320, cut with ``get_sub_model`` before the detection post-processing: its
  outputs are the six head convolutions (box distributions ``cv2.*`` and class logits ``cv3.*`` at strides 8,
  16 and 32), before the concatenation, DFL softmax and anchor decoding. Photos stretched to 320x320, /255;
  five views per photo (the whole photo and its four corner quarters-and-a-bit, 3/4 of each side).

Ours: ``RegularModel`` with each calibration method (max, percentile, mse, entropy; weights per channel,
activations per tensor, asymmetric), then ``fine_tune`` from the best of them on the calibration samples
(Fashion-MNIST: on 2000 other training images).
onnxruntime: ``quant_pre_process`` then ``quantize_static`` (QDQ, int8, weights per tensor and per channel,
MinMax, Entropy with 2048 histogram bins, Percentile 99.999; see ``benchmarks/peers/ort_quantize.py``).

Columns: output SQNR in dB (the mean over the outputs for several outputs), top-1 agreement with the float
model, the same on confident samples (float top-1 probability >= 0.5), accuracy against labels, calibration
time (ours: calibrate + quantize, or fine_tune; onnxruntime: calibration + quantization, pre-processing not
counted). Then the per-layer report of our best method (``dnn_quant.layer_report``) and a check of the
targets.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import onnx
import tensorflow as tf
from PIL import Image

from dnn_quant import QuantizedModel, RegularModel, layer_report
from dnn_quant.float_runner import run_batch
from dnn_quant.report import LayerError, format_report, to_json
from onnx_direct import get_sub_model, onnx_to_tf
from pytpu.errors import QuantizationError
from tpu_framework.assets import photos
from tpu_framework.assets.fashion_mnist import fashion_mnist_model_path, fashion_mnist_preprocess, load_fashion_mnist
from tpu_framework.assets.mobilenet_v2 import mobilenet_v2_path
from tpu_framework.assets.yolov8n import yolov8n


def _load_peer() -> ModuleType:
    """benchmarks/peers/ort_quantize.py (the peers directory is not a package)."""
    path = Path(__file__).resolve().parent / "peers" / "ort_quantize.py"
    spec = importlib.util.spec_from_file_location("ort_quantize_peer", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


_PEER = _load_peer()
ort_quantize, ort_run = _PEER.ort_quantize, _PEER.ort_run

# Split by photo. Stereo pairs (motorcycle_left/right) stay on one side.
CALIBRATION_PHOTOS = (
    "astronaut",
    "coffee",
    "china",
    "motorcycle_left",
    "motorcycle_right",
    "immunohistochemistry",
    "horses",
    "person",
    "scream",
)
EVALUATION_PHOTOS = (
    "chelsea",
    "rocket",
    "flower",
    "camera",
    "coins",
    "hubble_deep_field",
    "retina",
    "moon",
    "dog",
    "eagle",
    "giraffe",
    "kite",
)
QUICK_CALIBRATION, QUICK_EVALUATION = ("astronaut", "coffee"), ("chelsea", "camera", "rocket")
FASHION_CALIBRATION, FASHION_QUICK = 500, (100, 1000)  # training images; quick: training, test images
FASHION_FINE_TUNING = 2000  # the training images after the calibration ones: epochs judged on 400 held out
YOLO_SIZE = 320
YOLO_HEADS = tuple(
    f"/model.22/cv{branch}.{level}/cv{branch}.{level}.2/Conv_output_0" for level in range(3) for branch in (2, 3)
)
OUR_METHODS = ("max", "percentile", "mse", "entropy")
ORT_METHODS = ("MinMax", "Entropy", "Percentile")
ORT_BINS = {"Entropy": 2048}  # onnxruntime's own Entropy uses 128 bins and then equals MinMax
CONFIDENT = 0.5
TARGET_FINE_TUNE_GAIN_DB = 1.0
TARGET_CONFIDENT_AGREEMENT = 0.95
TARGET_ACCURACY_DROP = 0.003
MODELS = ("mobilenet_v2", "fashion_mnist", "yolov8n")


@dataclass
class Case:
    """One model and its data: the float ONNX file both tools quantize, and the samples."""

    name: str
    path: Path
    input: str
    outputs: list[str]
    shape: tuple[int | None, ...]  # the input shape to convert and quantize at
    calibration: np.ndarray
    evaluation: np.ndarray
    labels: np.ndarray | None = None
    classifier: bool = True
    description: str = ""
    notes: list[str] = field(default_factory=list)
    fine_tuning: np.ndarray | None = None  # fine_tune's samples (None: the calibration ones)


# --- data ------------------------------------------------------------------------------------------------------


def photo_split(quick: bool) -> tuple[list[str], list[str], list[str]]:
    """Calibration and evaluation photos installed here, and the ones that are not."""
    calibration, evaluation = (
        (QUICK_CALIBRATION, QUICK_EVALUATION) if quick else (CALIBRATION_PHOTOS, EVALUATION_PHOTOS)
    )
    found_c, found_e = photos.available_photos(calibration), photos.available_photos(evaluation)
    missing = sorted(set(calibration) - set(found_c) | set(evaluation) - set(found_e))
    assert not set(found_c) & set(found_e), "a photo on both sides of the split"
    return found_c, found_e, missing


def detector_views(image: Image.Image, size: int = YOLO_SIZE) -> np.ndarray:
    """The whole photo and its four corners (3/4 of each side), each stretched to ``size``, RGB / 255, NCHW."""
    image = image.convert("RGB")
    width, height = image.size
    w, h = round(width * 0.75), round(height * 0.75)
    boxes = [
        (0, 0, width, height),
        (0, 0, w, h),
        (width - w, 0, width, h),
        (0, height - h, w, height),
        (width - w, height - h, width, height),
    ]
    views = [
        np.asarray(image.crop(b).resize((size, size), Image.Resampling.BILINEAR), np.float32) / 255.0 for b in boxes
    ]
    return np.stack(views).transpose(0, 3, 1, 2).astype(np.float32)


def mobilenet_case(quick: bool, work: Path) -> Case:
    calibration, evaluation, missing = photo_split(quick)
    case = Case(
        "mobilenet_v2",
        mobilenet_v2_path(),
        "input",
        ["logits"],
        (1, 3, 224, 224),
        np.concatenate([photos.imagenet_views(photos.photo(n)) for n in calibration]),
        np.concatenate([photos.imagenet_views(photos.photo(n)) for n in evaluation]),
        description=f"calibration {len(calibration)} photos ({', '.join(calibration)}), evaluation "
        f"{len(evaluation)} photos ({', '.join(evaluation)}), 5 views each",
    )
    if missing:
        case.notes.append(f"photos not installed here: {', '.join(missing)} (apt-get install darknet)")
    return case


def fashion_case(quick: bool, work: Path) -> Case:
    calibrate_count, test_count = FASHION_QUICK if quick else (FASHION_CALIBRATION, 10000)
    tuning_count = calibrate_count if quick else FASHION_FINE_TUNING
    train_images, _ = load_fashion_mnist("train")
    test_images, test_labels = load_fashion_mnist("test")
    return Case(
        "fashion_mnist",
        fashion_mnist_model_path(),
        "input",
        ["logits"],
        (None, 1, 28, 28),
        fashion_mnist_preprocess(train_images[:calibrate_count]),
        fashion_mnist_preprocess(test_images[:test_count]),
        labels=test_labels[:test_count],
        description=f"calibration: the first {calibrate_count} training images; fine-tuning: the next "
        f"{tuning_count}; evaluation: {test_count} test images",
        fine_tuning=fashion_mnist_preprocess(train_images[calibrate_count : calibrate_count + tuning_count]),
    )


def yolo_case(quick: bool, work: Path) -> Case:
    model = yolov8n()
    info = next(i for i in model.graph.input if i.name == "images")
    for dim, size in zip(info.type.tensor_type.shape.dim, (1, 3, YOLO_SIZE, YOLO_SIZE), strict=True):
        dim.Clear()
        dim.dim_value = size
    heads = get_sub_model(model, ["images"], list(YOLO_HEADS))
    path = work / "yolov8n_heads.onnx"
    onnx.save(heads, path)
    calibration, evaluation, missing = photo_split(quick)
    case = Case(
        "yolov8n",
        path,
        "images",
        list(YOLO_HEADS),
        (1, 3, YOLO_SIZE, YOLO_SIZE),
        np.concatenate([detector_views(photos.photo(n)) for n in calibration]),
        np.concatenate([detector_views(photos.photo(n)) for n in evaluation]),
        classifier=False,
        description=f"{YOLO_SIZE}x{YOLO_SIZE}, the six head convolutions; calibration {len(calibration)} photos, "
        f"evaluation {len(evaluation)} photos, 5 views each",
    )
    if missing:
        case.notes.append(f"photos not installed here: {', '.join(missing)} (apt-get install darknet)")
    return case


CASES: dict[str, Callable[[bool, Path], Case]] = {
    "mobilenet_v2": mobilenet_case,
    "fashion_mnist": fashion_case,
    "yolov8n": yolo_case,
}


# --- metrics ---------------------------------------------------------------------------------------------------


def sqnr_db(reference: np.ndarray, approximation: np.ndarray) -> float:
    reference = np.asarray(reference, np.float64)
    noise = float(np.sum(np.square(reference - approximation)))
    signal = float(np.sum(np.square(reference)))
    return math.inf if noise == 0.0 else 10.0 * math.log10(signal / noise)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def metrics(case: Case, reference: list[np.ndarray], outputs: list[np.ndarray]) -> dict[str, Any]:
    """SQNR per output and their mean; for classifiers top-1 agreement (all, confident) and accuracy."""
    per_output = [sqnr_db(r, o) for r, o in zip(reference, outputs, strict=True)]
    result: dict[str, Any] = {
        "sqnr_db": float(np.mean(per_output)),
        "output_sqnr_db": dict(zip(case.outputs, per_output, strict=True)),
    }
    if case.classifier:
        want, got = reference[0].argmax(axis=1), outputs[0].argmax(axis=1)
        confident = softmax(reference[0]).max(axis=1) >= CONFIDENT
        result["top1_agreement"] = float(np.mean(got == want))
        result["confident_samples"] = int(confident.sum())
        result["confident_agreement"] = float(np.mean(got[confident] == want[confident])) if confident.any() else None
        if case.labels is not None:
            result["accuracy"] = float(np.mean(got == case.labels))
    return result


# --- ours ------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Progress bars and library chatter go to stderr: stdout is for the tables."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


class Ours:
    """The model converted once; a RegularModel per method; the golden graph run on the evaluation samples."""

    def __init__(self, case: Case):
        self.case = case
        with quiet_stdout():
            graph, self.mapping = onnx_to_tf(onnx.load(case.path), {case.input: list(case.shape)}, try_simplify=True)
        self.graph_def = graph.as_graph_def()
        self.input = self.mapping[case.input]
        self.outputs = [self.mapping[o] for o in case.outputs]

    def regular(self, method: str, percentile: float) -> RegularModel:
        return RegularModel(
            self.graph_def,
            {self.input: self.case.shape},
            self.outputs,
            anchors_mapping=self.mapping,
            percentile=percentile if method == "percentile" else 100.0,
            operation_cfg={"default": method},
        )

    def evaluate(self, regular: RegularModel, model: QuantizedModel, samples: np.ndarray) -> list[np.ndarray]:
        """The golden graph's outputs, dequantized, at the float graph's batch (16 if it has none)."""
        batch = run_batch(regular.graph)
        golden = model.as_graph(batch_size=batch).as_graph_def()
        with tf.Graph().as_default() as graph:
            tf.graph_util.import_graph_def(golden, name="")
        chunks: list[list[np.ndarray]] = []
        with tf.compat.v1.Session(graph=graph) as session:
            step = batch or 16
            for start in range(0, len(samples), step):
                codes = model.rescale({self.input: samples[start : start + step]})
                chunks.append(session.run(self.outputs, codes))
        return [
            model.rescale({name: np.concatenate([c[i] for c in chunks])})[name] for i, name in enumerate(self.outputs)
        ]


@dataclass
class Layers:
    """The per-layer report of our best calibration method on one model."""

    method: str
    rows: list[LayerError]


def run_ours(
    case: Case, ours: Ours, reference: list[np.ndarray], args: argparse.Namespace
) -> tuple[list[dict[str, Any]], Layers | None]:
    rows: list[dict[str, Any]] = []
    state: dict[str, Any] = {}
    for method in OUR_METHODS:
        label = f"percentile {args.percentile:g}" if method == "percentile" else method
        row: dict[str, Any] = {"model": case.name, "tool": "ours", "method": label, "granularity": "per-channel"}
        try:
            regular = ours.regular(method, args.percentile)
            started = time.perf_counter()
            with quiet_stdout():
                thresholds = regular.calibrate({ours.input: case.calibration})
                model = regular.quantize(thresholds)
            row["calibration_s"] = time.perf_counter() - started
            row.update(metrics(case, reference, ours.evaluate(regular, model, case.evaluation)))
            state[label] = (regular, thresholds, model)
        except Exception as err:  # a failing method is a result; the other rows still run
            row["error"] = f"{type(err).__name__}: {err}"[:300]
        print_row(row)
        rows.append(row)
    calibrated = [r for r in rows if "sqnr_db" in r]
    if not calibrated:
        return rows, None
    best = max(calibrated, key=lambda r: r["sqnr_db"])
    best["best"] = True
    regular, thresholds, model = state[best["method"]]
    rows.append(fine_tuned(case, ours, reference, regular, thresholds, best["method"], args))
    print_row(rows[-1])
    with quiet_stdout():
        report = layer_report(regular, model, {ours.input: case.evaluation})
    return rows, Layers(best["method"], report)


def fine_tuned(
    case: Case,
    ours: Ours,
    reference: list[np.ndarray],
    regular: RegularModel,
    thresholds: dict[str, Any],
    base: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "model": case.name,
        "tool": "ours",
        "method": f"fine-tune ({base})",
        "granularity": "per-channel",
        "fine_tuning_epochs": args.fine_tuning_epochs,
    }
    try:
        with tempfile.TemporaryDirectory(prefix="fine_tune_") as work, quiet_stdout():
            started = time.perf_counter()
            tuned = regular.fine_tune(
                thresholds,
                {ours.input: case.calibration if case.fine_tuning is None else case.fine_tuning},
                fine_tuning_epochs=args.fine_tuning_epochs,
                working_dir=work,
            )
            model = regular.quantize(tuned)
            row["calibration_s"] = time.perf_counter() - started
    except QuantizationError as err:
        if "not implemented" in str(err):
            row["na"] = "fine_tune is not implemented"
            return row
        row["error"] = f"QuantizationError: {err}"[:300]
        return row
    except Exception as err:  # record it, keep benchmarking the rest
        row["error"] = f"{type(err).__name__}: {err}"[:300]
        return row
    row.update(metrics(case, reference, ours.evaluate(regular, model, case.evaluation)))
    return row


# --- onnxruntime -----------------------------------------------------------------------------------------------


def run_ort(case: Case, reference: list[np.ndarray], work: Path) -> list[dict[str, Any]]:
    rows = []
    for per_channel in (False, True):
        for method in ORT_METHODS:
            bins = ORT_BINS.get(method)
            label = f"{method} {bins} bins" if bins else ("Percentile 99.999" if method == "Percentile" else method)
            row: dict[str, Any] = {
                "model": case.name,
                "tool": "onnxruntime",
                "method": label,
                "granularity": "per-channel" if per_channel else "per-tensor",
            }
            try:
                with quiet_stdout():
                    quantized = ort_quantize(
                        case.path,
                        {case.input: case.calibration},
                        method,
                        per_channel,
                        work / f"{case.name}-{method}-{per_channel}",
                        histogram_bins=bins,
                    )
                    outputs = ort_run(quantized.path, {case.input: case.evaluation})
                row["calibration_s"] = quantized.quantize_s
                row["preprocess_s"] = quantized.preprocess_s
                if quantized.notes:
                    row["notes"] = list(quantized.notes)
                row.update(metrics(case, reference, outputs))
            except Exception as err:  # a failing configuration is a result
                row["error"] = f"{type(err).__name__}: {err}"[:300]
            print_row(row)
            rows.append(row)
    return rows


# --- output ----------------------------------------------------------------------------------------------------

_COLUMNS = [
    ("model", "model", "{:<13}", 13),
    ("tool", "tool", "{:<11}", 11),
    ("method", "method", "{:<28}", 28),
    ("granularity", "weights", "{:<11}", 11),
    ("sqnr_db", "SQNR dB", "{:>8.2f}", 8),
    ("top1_agreement", "top-1 agr", "{:>9.1%}", 9),
    ("confident_agreement", "conf agr", "{:>8.1%}", 8),
    ("accuracy", "accuracy", "{:>8.2%}", 8),
    ("calibration_s", "calib s", "{:>8.1f}", 8),
]


def header() -> str:
    return " ".join(title.rjust(w) if fmt.startswith("{:>") else title.ljust(w) for _, title, fmt, w in _COLUMNS)


def print_row(row: dict[str, Any]) -> None:
    cells = []
    for key, _, fmt, width in _COLUMNS:
        value = row.get(key)
        cells.append(fmt.format(value) if value is not None else "-".rjust(width))
    suffix = "  <- best of ours" if row.get("best") else ""
    if "na" in row:
        suffix = f"  n/a: {row['na']}"
    elif "error" in row:
        suffix = f"  error: {row['error'][:160]}"
    print(" ".join(cells) + suffix, flush=True)


def check_targets(rows: list[dict[str, Any]], models: Sequence[str]) -> list[dict[str, Any]]:
    """Each target of the issue, per model: PASS, FAIL or n/a, with the numbers."""
    targets: list[dict[str, Any]] = []

    def add(model: str, name: str, passed: bool | None, detail: str) -> None:
        status = "n/a" if passed is None else ("PASS" if passed else "FAIL")
        targets.append({"model": model, "target": name, "status": status, "detail": detail})

    for model in models:
        mine = [r for r in rows if r["model"] == model and r["tool"] == "ours" and "sqnr_db" in r]
        best = next((r for r in mine if r.get("best")), None)
        peers = [r for r in rows if r["model"] == model and r["tool"] == "onnxruntime" and "sqnr_db" in r]
        tuned = next((r for r in rows if r["model"] == model and r["method"].startswith("fine-tune")), None)
        if best is None:
            add(model, "quantized", False, "no method of ours produced a model")
            continue
        if peers:
            # each metric's best on both sides, fine-tuning counted as one of our methods
            for key, title, fmt in (("sqnr_db", "SQNR", "{:.2f} dB"), ("top1_agreement", "top-1 agreement", "{:.2%}")):
                ours_best = max((r for r in mine if key in r), key=lambda r: r[key], default=None)
                peer = max((r for r in peers if key in r), key=lambda r: r[key], default=None)
                if ours_best is None or peer is None:
                    continue
                add(
                    model,
                    f"{title} >= onnxruntime's best",
                    ours_best[key] >= peer[key],
                    f"ours {fmt.format(ours_best[key])} ({ours_best['method']}) vs onnxruntime {fmt.format(peer[key])} "
                    f"({peer['method']}, {peer['granularity']})",
                )
        if tuned is None or "sqnr_db" not in tuned:
            why = (tuned or {}).get("na") or (tuned or {}).get("error") or "not run"
            add(model, f"fine-tuning gains >= {TARGET_FINE_TUNE_GAIN_DB:g} dB", None, why)
        else:
            gain = tuned["sqnr_db"] - best["sqnr_db"]
            add(
                model,
                f"fine-tuning gains >= {TARGET_FINE_TUNE_GAIN_DB:g} dB",
                gain >= TARGET_FINE_TUNE_GAIN_DB,
                f"{tuned['sqnr_db']:.2f} dB vs {best['sqnr_db']:.2f} dB ({best['method']}): {gain:+.2f} dB",
            )
        if model == "mobilenet_v2":
            value = best.get("confident_agreement")
            add(
                model,
                f"confident top-1 agreement >= {TARGET_CONFIDENT_AGREEMENT:.0%}",
                None if value is None else value >= TARGET_CONFIDENT_AGREEMENT,
                f"{value:.1%} of {best['confident_samples']} evaluation views with float top-1 probability >= "
                f"{CONFIDENT:g} ({best['method']})"
                if value is not None
                else "no confident view",
            )
        if model == "fashion_mnist":
            reference = next(r for r in rows if r["model"] == model and r["tool"] == "float")
            drop = reference["accuracy"] - best["accuracy"]
            add(
                model,
                f"accuracy within {100 * TARGET_ACCURACY_DROP:.1f} points of float",
                drop <= TARGET_ACCURACY_DROP + 1e-12,
                f"float {reference['accuracy']:.2%}, int8 {best['accuracy']:.2%} ({best['method']}): "
                f"{-100 * drop:+.2f} points",
            )
    return targets


def benchmark(name: str, args: argparse.Namespace, work: Path) -> tuple[list[dict[str, Any]], Layers | None]:
    started = time.perf_counter()
    case = CASES[name](args.quick, work)
    print(f"# {name}: {case.description}", flush=True)
    for note in case.notes:
        print(f"# {name}: {note}", flush=True)
    reference = ort_run(case.path, {case.input: case.evaluation})
    float_row: dict[str, Any] = {
        "model": name,
        "tool": "float",
        "method": "onnxruntime fp32",
        "granularity": "-",
        "calibration_samples": len(case.calibration),
        "evaluation_samples": len(case.evaluation),
    }
    float_row.update({k: v for k, v in metrics(case, reference, reference).items() if k != "output_sqnr_db"})
    float_row["sqnr_db"] = None
    print_row(float_row)
    mine, layers = run_ours(case, Ours(case), reference, args)
    rows = [float_row, *mine]
    rows += run_ort(case, reference, work)
    for row in rows[1:]:
        if len(case.outputs) > 1 and "output_sqnr_db" in row:
            per = ", ".join(f"{o.split('/')[2]} {v:.1f}" for o, v in row["output_sqnr_db"].items())
            row["per_output"] = per
    if len(case.outputs) > 1:
        print(f"# {name}: SQNR is the mean over the outputs; per output:", flush=True)
        for row in rows[1:]:
            if "per_output" in row:
                print(f"#   {row['tool']:<11} {row['method']:<28} {row['granularity']:<11} {row['per_output']}")
    print(f"# {name}: {time.perf_counter() - started:.0f} s", flush=True)
    return rows, layers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=list(MODELS), help=f"default: all of {', '.join(MODELS)}")
    parser.add_argument("--quick", action="store_true", help="a few images only: a smoke run")
    parser.add_argument("--percentile", type=float, default=99.99, help="our percentile method's percentile")
    parser.add_argument(
        "--fine-tuning-epochs", type=int, default=10, help="epochs of each fine-tuning phase (default: fine_tune's)"
    )
    parser.add_argument("--layers", type=int, default=10, help="worst layers to print per model")
    parser.add_argument("--json", metavar="PATH", help="write the rows, layer reports and targets as JSON")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        parser.error(f"unknown models {unknown}; known: {', '.join(MODELS)}")
    started = time.perf_counter()
    print(header(), flush=True)
    rows: list[dict[str, Any]] = []
    reports: dict[str, Layers] = {}
    with tempfile.TemporaryDirectory(prefix="quantize_benchmark_") as work:
        for name in args.models:
            model_rows, layers = benchmark(name, args, Path(work))
            rows += model_rows
            if layers is not None:
                reports[name] = layers
    for name, layers in reports.items():
        print(
            f"\nPer-layer error of ours ({layers.method}) on {name}: the {args.layers} worst of "
            f"{len(layers.rows)} tensors, on the evaluation samples"
        )
        print(format_report(layers.rows, mark=min(5, args.layers), limit=args.layers))
    targets = check_targets(rows, args.models)
    print("\nTargets (held-out data):")
    for t in targets:
        print(f"  {t['status']:<4}  {t['model']:<13} {t['target']:<42} {t['detail']}")
    elapsed = time.perf_counter() - started
    print(f"\n{elapsed:.0f} s in all", flush=True)
    if args.json:
        document = {
            "settings": {
                "quick": args.quick,
                "percentile": args.percentile,
                "fine_tuning_epochs": args.fine_tuning_epochs,
                "seconds": elapsed,
            },
            "rows": rows,
            "layers": {name: {"method": r.method, "layers": to_json(r.rows)} for name, r in reports.items()},
            "targets": targets,
        }
        Path(args.json).write_text(json.dumps(_finite(document), indent=1))
    return 0


def _finite(value: Any) -> Any:
    """JSON without infinities (an exact output has no finite SQNR): they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
