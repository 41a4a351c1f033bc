"""Real models through the converter: none is rejected, all match onnxruntime on real photos."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from onnx_direct import get_sub_model, onnx_to_tf
from onnx_direct.metrics import relative_error
from onnx_direct.naming import tf_name
from onnx_direct.runner import TFRunner
from tests.helpers import ort_run
from tpu_framework.assets import photos
from tpu_framework.assets.zoo import ZOO

pytestmark = pytest.mark.slow

PHOTOS = photos.IMAGENET_LIKE


def inner_transposes(graph_def: object, model: onnx.ModelProto) -> list[str]:
    """Transpose ops that are not the relayout of a graph input or output."""
    boundary = [tf_name(i.name) + "_relayout" for i in [*model.graph.input, *model.graph.output]]
    transposes = [n.name for n in graph_def.node if n.op == "Transpose"]  # type: ignore[attr-defined]
    return [name for name in transposes if not name.startswith(tuple(boundary))]


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_model_matches_onnxruntime(name):
    entry = ZOO[name]
    model = entry.load()
    feeds = entry.sample(model, PHOTOS)
    outputs = [o.name for o in model.graph.output]
    graph, mapping = onnx_to_tf(model, input_shape=entry.input_shape(model))
    with TFRunner(graph, mapping, optimize=False) as runner:  # a few runs: Grappler would cost more than it saves
        for i in range(len(PHOTOS)):
            photo = {k: v[i : i + 1] for k, v in feeds.items()}
            want = ort_run(model, photo)
            got = runner(photo, outputs)
            for out in outputs:
                assert got[out].shape == want[out].shape
                assert relative_error(got[out], want[out]) < 1e-4, (name, PHOTOS[i], out)
                if entry.kind == "classifier":
                    assert np.argmax(got[out]) == np.argmax(want[out]), (name, PHOTOS[i])


@pytest.mark.parametrize("name", ["light_resnet50", "mobilenet_v2", "light_inception_v1", "light_densenet121"])
def test_no_transpose_inside_the_graph(name):
    """Only the input's NCHW -> NHWC and the outputs' way back; a flatten of a non-unit feature map
    (AlexNet, VGG) is the one place a Transpose is needed inside, and these models have none."""
    model = ZOO[name].load()
    graph, _ = onnx_to_tf(model, input_shape=ZOO[name].input_shape(model))
    assert inner_transposes(graph.as_graph_def(), model) == []


def test_resnet50_has_a_single_transpose_at_its_input():
    model = ZOO["light_resnet50"].load()
    graph, _ = onnx_to_tf(model, input_shape=ZOO["light_resnet50"].input_shape(model))
    transposes = [n.name for n in graph.as_graph_def().node if n.op == "Transpose"]
    assert len(transposes) == 1 and transposes[0].startswith(tf_name(model.graph.input[0].name) + "_relayout")


def test_mobilenet_v2_classifies_real_photos():
    entry = ZOO["mobilenet_v2"]
    model = entry.load()
    graph, mapping = onnx_to_tf(model, input_shape=entry.input_shape(model))
    classes = photos.imagenet_classes()
    expected = {"chelsea": "cat", "coffee": "espresso"}
    with TFRunner(graph, mapping) as runner:
        for photo, word in expected.items():
            logits = runner(entry.sample(model, (photo,)), [model.graph.output[0].name])[model.graph.output[0].name]
            assert word in classes[int(np.argmax(logits))].lower(), (photo, classes[int(np.argmax(logits))])


def test_manual_sub_model_example_on_mobilenet_v2():
    """Manual chapter 8: cut the network in the middle; head then tail gives the full model's class."""
    entry = ZOO["mobilenet_v2"]
    model = entry.load()
    nodes = model.graph.node
    cut = next(n.output[0] for n in nodes[len(nodes) // 2 :] if n.op_type == "Add")
    head = get_sub_model(model, [model.graph.input[0].name], [cut])
    tail = get_sub_model(model, [cut], [model.graph.output[0].name])
    assert len(head.graph.node) + len(tail.graph.node) == len(nodes)
    for name in PHOTOS[:3]:
        x = entry.sample(model, (name,))
        full = ort_run(model, x, optimize=False)[model.graph.output[0].name]
        middle = ort_run(head, x, optimize=False)[cut]
        split = ort_run(tail, {cut: middle}, optimize=False)[model.graph.output[0].name]
        assert np.argmax(split) == np.argmax(full)
        assert np.array_equal(split, full)
