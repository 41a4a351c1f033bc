"""Every real model the converter is tested on quantizes, and its integer model tracks the float one."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest

from dnn_quant import RegularModel
from onnx_direct import onnx_to_tf
from onnx_direct.runner import run_tf
from tests.quant_helpers import run_golden, sqnr_db
from tpu_framework.assets import photos
from tpu_framework.assets.yolov8n import yolov8n_heads
from tpu_framework.assets.zoo import ZOO, ZooModel

pytestmark = pytest.mark.slow
CALIBRATION, EVALUATION = photos.IMAGENET_LIKE[:3], photos.IMAGENET_LIKE[3:5]
# One model per layer family runs its golden graph against float here (the rest only quantize, to keep the
# suite's time); benchmarks/quantize.py measures all of them.
EVALUATED = (
    "mobilenet_v2",
    "yolov8n",
    "light_shufflenet",
    "light_inception_v1",
    "keras_efficientnet_b0",
    "keras_mobilenet_v3_small",
)
MIN_SQNR_DB = 10.0  # a broken layer gives ~0 dB; quality targets live in the benchmark


def _quantize(entry: ZooModel, photos_: tuple[str, ...]) -> dict[str, Any]:
    model: onnx.ModelProto = yolov8n_heads(entry.size) if entry.name == "yolov8n" else entry.load()
    shapes = entry.input_shape(model)
    graph, mapping = onnx_to_tf(model, input_shape=shapes)
    source = entry.input_name(model)
    outputs = [o.name for o in model.graph.output]
    regular = RegularModel(
        graph.as_graph_def(),
        {mapping[source]: tuple(shapes[source])},
        [mapping[o] for o in outputs],
        anchors_mapping=dict(mapping),
    )
    quantized = regular.quantize(regular.calibrate({mapping[source]: entry.sample(model, photos_)[source]}))
    return {
        "model": model,
        "graph": graph,
        "mapping": mapping,
        "source": source,
        "outputs": outputs,
        "quantized": quantized,
    }


@pytest.mark.parametrize("name", sorted(set(ZOO) - set(EVALUATED)))
def test_zoo_model_quantizes(name: str) -> None:
    quantized = _quantize(ZOO[name], CALIBRATION[:1])["quantized"]
    assert quantized.layers and all(layer.out.scale > 0 for layer in quantized.layers)


@pytest.mark.parametrize("name", EVALUATED)
def test_zoo_model_tracks_float(name: str) -> None:
    entry = ZOO[name]
    q = _quantize(entry, CALIBRATION)
    mapping, source, quantized = q["mapping"], q["source"], q["quantized"]
    evaluation = entry.sample(q["model"], EVALUATION)[source]
    codes = quantized.rescale({mapping[source]: evaluation})
    golden = run_golden(quantized, codes, [mapping[o] for o in q["outputs"]])
    for output, value in zip(q["outputs"], golden, strict=True):
        assert value.dtype == np.int8
        reference = np.concatenate(
            [run_tf(q["graph"], mapping, {source: x[None]}, [output])[output] for x in evaluation]
        )
        result = quantized.rescale({mapping[output]: value})[mapping[output]]
        assert sqnr_db(reference, result) > MIN_SQNR_DB, output
