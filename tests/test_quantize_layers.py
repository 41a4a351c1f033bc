"""Each layer kind the quantizer finds: the integer model tracks the float one, at any batch."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import tensorflow as tf

from tests.quant_helpers import quantize, run_float, run_golden, seeded, sqnr_db

RNG = np.random.default_rng(1)


def _w(*shape: int, scale: float = 0.3) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def conv_bn_relu6(x: tf.Tensor) -> tf.Tensor:
    y = tf.nn.conv2d(x, _w(3, 3, 8, 16), [1, 2, 2, 1], "SAME")
    y = y * _w(16, scale=1.0) + _w(16)  # batch norm, as frozen keras graphs hold it
    return tf.clip_by_value(tf.nn.relu(y), 0.0, 6.0)


def depthwise_dilated(x: tf.Tensor) -> tf.Tensor:
    # the native op, as converters emit it (tf.nn.depthwise_conv2d would wrap it in space-to-batch ops)
    y = tf.raw_ops.DepthwiseConv2dNative(
        input=x, filter=_w(3, 3, 8, 2), strides=[1, 1, 1, 1], padding="SAME", dilations=[1, 2, 2, 1]
    )
    return tf.nn.relu(tf.nn.bias_add(y, _w(16)))


def grouped(x: tf.Tensor) -> tf.Tensor:
    parts = tf.split(x, 2, axis=3)
    return tf.concat([tf.nn.conv2d(p, _w(1, 1, 4, 6), [1, 1, 1, 1], "VALID") for p in parts], axis=3)


def residual_add(x: tf.Tensor) -> tf.Tensor:
    y = tf.nn.conv2d(x, _w(1, 1, 8, 8), [1, 1, 1, 1], "VALID")
    return tf.nn.relu(x + y)


def squeeze_excite(x: tf.Tensor) -> tf.Tensor:
    gate = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    gate = tf.sigmoid(tf.nn.conv2d(gate, _w(1, 1, 8, 8), [1, 1, 1, 1], "VALID"))
    return x * gate


def swish_hardswish(x: tf.Tensor) -> tf.Tensor:
    y = x * tf.sigmoid(x)
    return y * tf.nn.relu6(y + 3.0) / 6.0


def gelu_tanh_mish(x: tf.Tensor) -> tf.Tensor:
    a = 0.5 * x * (1.0 + tf.math.erf(x / np.float32(np.sqrt(2.0))))
    return tf.tanh(a) + x * tf.tanh(tf.nn.softplus(x))


def pools(x: tf.Tensor) -> tf.Tensor:
    m = tf.nn.max_pool2d(x, 3, 2, "SAME")
    a = tf.nn.avg_pool2d(x, 3, 2, "SAME")
    return tf.concat([m, a * 2.0], axis=3)


def dense_head(x: tf.Tensor) -> tf.Tensor:
    y = tf.reshape(tf.reduce_mean(x, axis=[1, 2]), [-1, 8])
    return tf.matmul(y, _w(8, 10)) + _w(10)


def layout_ops(x: tf.Tensor) -> tf.Tensor:
    y = tf.pad(x, [[0, 0], [1, 1], [2, 2], [0, 0]])
    y = tf.nn.depth_to_space(tf.nn.conv2d(y, _w(1, 1, 8, 8), [1, 1, 1, 1], "VALID"), 2)
    y = tf.compat.v1.image.resize_nearest_neighbor(y, [20, 24])
    return tf.transpose(y[:, 2:18, :, :], [0, 3, 1, 2])


def softmax_head(x: tf.Tensor) -> tf.Tensor:
    logits = tf.nn.conv2d(x, _w(1, 1, 8, 10, scale=1.0), [1, 1, 1, 1], "VALID")
    return tf.nn.softmax(logits)


def softmax_decomposed(x: tf.Tensor) -> tf.Tensor:
    """The form converters emit for opset-9 softmax over all but the batch axis."""
    y = tf.nn.conv2d(x, _w(1, 1, 8, 6, scale=1.0), [1, 1, 1, 1], "VALID")
    e = tf.exp(y - tf.reduce_max(y, axis=[1, 2, 3], keepdims=True))
    return e / tf.reduce_sum(e, axis=[1, 2, 3], keepdims=True)


def local_response_norm(x: tf.Tensor) -> tf.Tensor:
    y = tf.nn.relu(tf.nn.conv2d(x, _w(1, 1, 8, 12), [1, 1, 1, 1], "VALID"))
    return tf.nn.local_response_normalization(y, depth_radius=2, bias=1.0, alpha=0.5, beta=0.75)


def nchw_normalisation(x: tf.Tensor) -> tf.Tensor:
    """Per-channel (x - mean) / std on an NCHW tensor, before the transpose to NHWC."""
    nchw = tf.transpose(x, [0, 3, 1, 2])
    scaled = (nchw - _w(1, 8, 1, 1)) / (np.abs(_w(1, 8, 1, 1)) + 0.5)
    return tf.nn.conv2d(tf.transpose(scaled, [0, 2, 3, 1]), _w(3, 3, 8, 4), [1, 1, 1, 1], "SAME")


def prelu_per_channel(x: tf.Tensor) -> tf.Tensor:
    """PReLU as converters emit it, with a slope per channel (some negative), after a convolution."""
    y = tf.nn.conv2d(x, _w(1, 1, 8, 6), [1, 1, 1, 1], "VALID")
    return tf.where(y < 0, y * np.array([0.25, 0.1, -0.3, 0.0, 1.5, 0.05], np.float32), y)


def channel_shuffle(x: tf.Tensor) -> tf.Tensor:
    """A shuffle whose reshape moves the batch axis, as converters emit at batch 1: golden maps over samples."""
    y = tf.reshape(x, [10, 12, 2, 4, 1])
    y = tf.transpose(y, [4, 0, 1, 3, 2])
    return tf.nn.relu(tf.reshape(y, [1, 10, 12, 8]))


GRAPHS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    f.__name__: f
    for f in (
        conv_bn_relu6,
        depthwise_dilated,
        grouped,
        residual_add,
        squeeze_excite,
        swish_hardswish,
        gelu_tanh_mish,
        pools,
        dense_head,
        layout_ops,
        softmax_head,
        softmax_decomposed,
        local_response_norm,
        nchw_normalisation,
        prelu_per_channel,
    )
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_integer_model_tracks_float(name: str) -> None:
    calibration, evaluation = seeded((16, 10, 12, 8), 0), seeded((4, 10, 12, 8), 1)
    _, model, gd = quantize(GRAPHS[name], calibration)
    codes = model.rescale({"x:0": evaluation})["x:0"]
    (out,) = run_golden(model, {"x:0": codes}, ["y:0"])
    assert out.dtype == np.int8
    result = model.rescale({"y:0": out})["y:0"]
    assert sqnr_db(run_float(gd, evaluation), result) > 20.0


@pytest.mark.parametrize("name", ["conv_bn_relu6", "squeeze_excite", "dense_head", "pools", "channel_shuffle"])
def test_result_does_not_depend_on_batch(name: str) -> None:
    build = GRAPHS.get(name, channel_shuffle)
    _, model, _ = quantize(build, seeded((8, 10, 12, 8), 0), batch=1 if name == "channel_shuffle" else None)
    codes = model.rescale({"x:0": seeded((5, 10, 12, 8), 2)})["x:0"]
    (together,) = run_golden(model, {"x:0": codes}, ["y:0"], batch=5)
    alone = [run_golden(model, {"x:0": codes[i : i + 1]}, ["y:0"], batch=1)[0] for i in range(5)]
    assert np.array_equal(together, np.concatenate(alone))


def test_every_layer_output_is_int8() -> None:
    _, model, _ = quantize(GRAPHS["squeeze_excite"], seeded((8, 10, 12, 8), 0))
    graph = model.as_graph()
    for layer in model.layers:
        assert graph.get_tensor_by_name(layer.name).dtype == tf.int8, layer.name


def two_splits(x: tf.Tensor) -> tf.Tensor:
    """A split whose second output is split again: the float graph has ops ``split`` and ``split_1``."""
    first, second = tf.split(x, 2, axis=3)
    inner, outer = tf.split(tf.nn.relu(second), 2, axis=3)
    return tf.concat([first, outer, inner], axis=3)


def test_every_output_of_a_multi_output_op_keeps_its_name() -> None:
    """``split:1`` is output 1 of the golden graph's ``split`` (not an op named ``split_1``, which the float
    graph's second split already names): every layer output is fetched by its own name."""
    _, model, _ = quantize(two_splits, seeded((2, 5, 6, 8), 0))
    names = [layer.name for layer in model.layers]
    assert {"split:0", "split:1", "split_1:0", "split_1:1"} <= set(names)
    codes = model.rescale({"x:0": seeded((1, 5, 6, 8), 1)})["x:0"]
    first, second, *_ = run_golden(model, {"x:0": codes}, names, batch=1)
    assert np.array_equal(first, codes[..., :4]) and np.array_equal(second, codes[..., 4:])


def test_fused_layers() -> None:
    _, model, _ = quantize(GRAPHS["conv_bn_relu6"], seeded((8, 10, 12, 8), 0))
    kinds = [layer.KIND for layer in model.layers]
    assert kinds == ["conv", "layout"]  # conv + batch norm + ReLU6 in one layer; the output Identity
    conv = model.layers[0]
    assert conv.lo == conv.out.zero_point  # ReLU folded into the output clamp


def test_layer_kinds_of_rewritten_and_recognised_ops() -> None:
    data = seeded((8, 10, 12, 8), 0)
    kinds = {
        name: [layer.KIND for layer in quantize(GRAPHS[name], data)[1].layers]
        for name in ("softmax_head", "softmax_decomposed", "local_response_norm", "nchw_normalisation")
    }
    assert kinds["softmax_head"] == ["conv", "softmax", "layout"]
    assert kinds["softmax_decomposed"] == ["conv", "softmax", "layout"]
    assert kinds["local_response_norm"] == ["conv", "lut", "conv", "lut", "mul", "layout"]  # square, band, power
    assert [layer.KIND for layer in quantize(GRAPHS["prelu_per_channel"], data)[1].layers] == [
        "conv",
        "prelu",
        "layout",
    ]
    assert kinds["nchw_normalisation"][:4] == ["layout", "layout", "conv", "layout"]  # 1x1 depthwise between transposes


def test_swish_layer_modes() -> None:
    data = seeded((8, 6, 6, 8), 0)
    _, one_table, _ = quantize(lambda x: x * tf.sigmoid(x), data)
    _, split, _ = quantize(lambda x: x * tf.sigmoid(x), data, swish_layer_mode="sigmoid_mul")
    assert [layer.KIND for layer in one_table.layers] == ["lut", "layout"]
    assert [layer.KIND for layer in split.layers] == ["lut", "mul", "layout"]
