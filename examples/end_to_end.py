"""The main job: a real trained MobileNetV2 through the whole chain, on real photos.

Fetches MobileNetV2 (ImageNet weights, sha256-verified, cached), converts it to TensorFlow with
``onnx_to_tf``, quantizes it to int8 (calibrated on the corner crops of the photos), compiles it for the
128x128 TPU at O5 and O1 (``Network.from_quantized_model``, ``compiler.compile_``), writes the ``.tpu``
programs and runs them on the simulated device through ``pytpu.Device``. For each photo's centre crop it
prints the top-1 class from onnxruntime (the float ONNX model), the converted graph, the integer reference
(``QuantizedModel.as_graph()``) and the TPU, and whether the TPU's output equals the reference bit for bit;
then each program's simulated latency per inference and its ratio to T_min (``tpu_compiler.t_min_us``).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import onnxruntime as ort
import tensorflow as tf

import pytpu
from onnx_direct.metrics import relative_error
from onnx_direct.runner import TFRunner
from tpu_compiler import O1, O5, CompileParameters, t_min_us
from tpu_framework import Network, QuantizedModel, RegularModel, TPU_128x128_PARAMS, TpuProgram, compiler, onnx_to_tf
from tpu_framework.assets import photos
from tpu_framework.assets.mobilenet_v2 import mobilenet_v2

PRESETS: dict[str, CompileParameters] = {"O5": O5, "O1": O1}
TPU_PRESET = "O5"  # the program that classifies every photo; the others run the first photo for their latency


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def main() -> None:
    model = mobilenet_v2()
    input_name, output_name = model.graph.input[0].name, model.graph.output[0].name
    classes = photos.imagenet_classes()

    started = time.perf_counter()
    graph, mapping = onnx_to_tf(model, input_shape={input_name: [1, 3, 224, 224]})
    transposes = sum(node.op == "Transpose" for node in graph.as_graph_def().node)
    print(
        f"converted MobileNetV2 ({len(model.graph.node)} ONNX nodes) in {time.perf_counter() - started:.2f} s, "
        f"{transposes} Transpose ops in the TF graph"
    )

    quantized = quantize(graph, mapping, input_name, output_name)
    with tempfile.TemporaryDirectory() as directory:
        programs, network = compile_programs(quantized, Path(directory))
        classify(model, graph, mapping, quantized, programs[TPU_PRESET], input_name, output_name, classes)
        report_latency(programs, network, input_name)


def quantize(graph: tf.Graph, mapping: dict[str, str], input_name: str, output_name: str) -> QuantizedModel:
    started = time.perf_counter()
    corners = np.concatenate([photos.imagenet_views(photos.photo(n))[1:] for n in photos.IMAGENET_LIKE])
    regular = RegularModel(
        graph.as_graph_def(),
        {mapping[input_name]: (1, 3, 224, 224)},
        [mapping[output_name]],
        anchors_mapping=dict(mapping),
        percentile=99.99,
    )
    quantized = regular.quantize(regular.calibrate({mapping[input_name]: corners}))
    print(
        f"quantized to int8 ({len(quantized.layers)} layers, calibrated on {len(corners)} corner crops) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return quantized


def compile_programs(quantized: QuantizedModel, directory: Path) -> tuple[dict[str, Path], Network]:
    """As the manual's chapter 5: the compiler's Network, ``compile_`` per preset, one ``.tpu`` file each."""
    network, _ = Network.from_quantized_model(quantized)
    network.set_batch(1)
    programs = {}
    for name, preset in PRESETS.items():
        started = time.perf_counter()
        executable, descriptions = compiler.compile_(TPU_128x128_PARAMS, network, preset)
        path = directory / f"mobilenet_v2_b1_{name.lower()}_128x128.tpu"
        TpuProgram.from_executable(executable, descriptions).to_file(path)
        programs[name] = path
        print(
            f"compiled at {name} in {time.perf_counter() - started:.1f} s: {path.name} "
            f"({path.stat().st_size / 1e6:.1f} MB, {len(network.layers)} layers)"
        )
    return programs, network


def classify(
    model: object,
    graph: tf.Graph,
    mapping: dict[str, str],
    quantized: QuantizedModel,
    program: Path,
    input_name: str,
    output_name: str,
    classes: tuple[str, ...],
) -> None:
    golden = quantized.as_graph(batch_size=1).as_graph_def()
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])  # type: ignore[attr-defined]
    worst, exact = 0.0, 0
    header = ("onnxruntime top-1", "converted TF top-1", "int8 top-1", f"TPU {TPU_PRESET} top-1")
    print(f"\n{'photo':<16} " + " ".join(f"{h:<26}" for h in header) + " TPU = int8")
    with (
        TFRunner(graph, mapping) as runner,
        tf.Graph().as_default() as int8_graph,
        pytpu.Device.open(pytpu.Device.list_devices()[0]) as device,
        device.load(program) as loaded,
        loaded.inference() as inference,
    ):
        tf.graph_util.import_graph_def(golden, name="")
        int8_session = tf.compat.v1.Session(graph=int8_graph)
        for name in photos.IMAGENET_LIKE:
            x = photos.imagenet_preprocess(photos.photo(name))
            want = session.run([output_name], {input_name: x})[0]
            got = runner({input_name: x}, [output_name])[output_name]
            int8 = run_int8(quantized, int8_session, mapping, input_name, output_name, x)
            tpu = inference.sync({input_name: x})[output_name]
            worst = max(worst, relative_error(got, want))
            same = bool(np.array_equal(tpu, int8))
            exact += same
            cells = [
                f"{classes[int(np.argmax(v))][:18]} ({softmax(v)[0, int(np.argmax(v))]:.2f})"
                for v in (want, got, int8, tpu)
            ]
            print(f"{name:<16} " + " ".join(f"{c:<26}" for c in cells) + f" {'yes' if same else 'NO'}")
    print(f"\nlargest difference TF vs onnxruntime: {worst:.2e} of the largest logit")
    print(f"TPU output equal to the int8 reference on {exact} of {len(photos.IMAGENET_LIKE)} photos")


def report_latency(programs: dict[str, Path], network: Network, input_name: str) -> None:
    """Simulated time of one inference per program (it does not depend on the data), against T_min."""
    bound = t_min_us(network, TPU_128x128_PARAMS)
    x = photos.imagenet_preprocess(photos.photo(photos.IMAGENET_LIKE[0]))
    print(f"\nT_min of MobileNetV2 at batch 1 on {TPU_128x128_PARAMS.name}: {bound:.1f} us")
    for name, path in programs.items():
        with (
            pytpu.Device.open() as device,
            device.load(path) as loaded,
            loaded.inference() as inference,
        ):
            inference.sync({input_name: x})
            status = inference.status
        print(
            f"TPU {name}: {status.execution_time_us:.1f} us per inference on the device "
            f"({status.times.latency_us:.1f} us with the host link), {status.execution_time_us / bound:.1f}x T_min"
        )


def run_int8(
    quantized: QuantizedModel,
    session: tf.compat.v1.Session,
    mapping: dict[str, str],
    input_name: str,
    output_name: str,
    x: np.ndarray,
) -> np.ndarray:
    """As the manual's chapter 5: rescale in, the integer graph, rescale out."""
    codes = session.run(mapping[output_name], quantized.rescale({mapping[input_name]: x}))
    return quantized.rescale({mapping[output_name]: codes})[mapping[output_name]]


if __name__ == "__main__":
    main()
