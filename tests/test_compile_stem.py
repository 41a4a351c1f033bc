"""Stems on planar (NCHW) network inputs and the network rewrites around them: bit for bit the golden graph."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from pytpu import TPU_128x128_PARAMS, model_execute
from pytpu.isa import MaxPool, Move, Pack, Store
from tests.quant_helpers import quantize, run_golden, seeded
from tpu_compiler import Network, compiler
from tpu_compiler.compiler import O1, O5, Segment, TensorAxis
from tpu_compiler.compiler.grouped_maps import plan_grouped_maps
from tpu_compiler.compiler.lookups import ROW_LUT
from tpu_compiler.compiler.rewrites import rewrite
from tpu_compiler.compiler.views import plan_views
from tpu_compiler.lowering.stem import PLANAR_INPUT, StemGeometry, plan_stem

HW = TPU_128x128_PARAMS
RNG = np.random.default_rng(11)


def _w(*shape: int, scale: float = 0.2) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def _nhwc(x: tf.Tensor) -> tf.Tensor:
    return tf.transpose(x, [0, 2, 3, 1])


W7, W3, W5, W3D = _w(7, 7, 3, 64, scale=0.1), _w(3, 3, 3, 32), _w(5, 5, 1, 16), _w(3, 3, 3, 24)
W3_8 = _w(3, 3, 8, 16)


def resnet_stem(x: tf.Tensor) -> tf.Tensor:
    """keras ResNet-50: an NCHW Pad, the transpose, a 7x7 stride-2 convolution, Pad(-128) and a max pool."""
    y = _nhwc(tf.pad(x, [[0, 0], [0, 0], [3, 3], [3, 3]]))
    y = tf.nn.relu(tf.nn.conv2d(y, W7, [1, 2, 2, 1], "VALID"))
    return tf.nn.max_pool2d(tf.pad(y, [[0, 0], [1, 1], [1, 1], [0, 0]]), 3, 2, "VALID")


def mobilenet_stem(x: tf.Tensor) -> tf.Tensor:
    """MobileNetV2: the transpose, then a 3x3 stride-2 convolution padded by 1, 32 outputs, ReLU6."""
    y = tf.pad(_nhwc(x), [[0, 0], [1, 1], [1, 1], [0, 0]])
    return tf.nn.relu6(tf.nn.conv2d(y, W3, [1, 2, 2, 1], "VALID"))


def nhwc_image_stem(x: tf.Tensor) -> tf.Tensor:
    """keras DenseNet-121 exported with an NHWC input: a Pad, a 7x7 stride-2 convolution, ReLU, a max pool."""
    y = tf.pad(x, [[0, 0], [3, 3], [3, 3], [0, 0]])
    y = tf.nn.relu(tf.nn.conv2d(y, W7, [1, 2, 2, 1], "VALID"))
    return tf.nn.max_pool2d(tf.pad(y, [[0, 0], [1, 1], [1, 1], [0, 0]]), 3, 2, "VALID")


def nhwc_wide_stem(x: tf.Tensor) -> tf.Tensor:
    """An NHWC input of 8 channels (no image): read as it is, a word per pixel."""
    return tf.nn.relu(tf.nn.conv2d(x, W3_8, [1, 2, 2, 1], "SAME"))


def same_padding_stem(x: tf.Tensor) -> tf.Tensor:
    """SAME padding of a stride-2 convolution on an even size: one row and column after, none before."""
    return tf.nn.conv2d(_nhwc(x), W3D, [1, 2, 2, 1], "SAME")


def gray_stem(x: tf.Tensor) -> tf.Tensor:
    """One channel, 5x5 stride 1, 16 outputs (eight pixels per accumulator row)."""
    y = tf.pad(_nhwc(x), [[0, 0], [2, 2], [2, 2], [0, 0]])
    return tf.nn.relu(tf.nn.conv2d(y, W5, [1, 1, 1, 1], "VALID"))


def dilated_stem(x: tf.Tensor) -> tf.Tensor:
    """An asymmetric NCHW Pad and a dilated, strided convolution."""
    y = _nhwc(tf.pad(x, [[0, 0], [0, 0], [1, 2], [0, 3]]))
    return tf.nn.conv2d(y, W3D, [1, 2, 1, 1], "VALID", dilations=[1, 2, 2, 1])


def other_fill(x: tf.Tensor) -> tf.Tensor:
    """A Pad whose fill is not the convolution's pad code: it stays a layout layer."""
    y = _nhwc(tf.pad(x, [[0, 0], [0, 0], [1, 1], [1, 1]], constant_values=0.7))
    return tf.nn.conv2d(y, W3, [1, 2, 2, 1], "VALID")


def round_trip_layout(x: tf.Tensor) -> tf.Tensor:
    """keras EfficientNet's preprocessing: an NHWC -> NCHW -> NHWC round trip between a per-channel scale and
    the stem (the transposes cancel out)."""
    y = _nhwc(x) * tf.constant([0.5, 2.0, 1.5])
    y = tf.transpose(tf.transpose(y, [0, 3, 1, 2]), [0, 2, 3, 1])
    return tf.nn.conv2d(y, W3, [1, 2, 2, 1], "SAME")


def normalised_input(x: tf.Tensor) -> tf.Tensor:
    """keras EfficientNet on an NCHW input: a rescaling of the image, the transpose, a per-channel
    normalisation (a depthwise 1x1 convolution once quantized), the NHWC -> NCHW -> NHWC round trip around
    an NCHW pad, and the stem."""
    y = _nhwc(x * 0.8 + 0.1)
    y = (y - tf.constant([0.4, 0.5, 0.3])) / tf.constant([0.2, 0.3, 0.25])
    y = _nhwc(tf.pad(tf.transpose(y, [0, 3, 1, 2]), [[0, 0], [0, 0], [0, 1], [0, 1]]))
    return tf.nn.conv2d(y, W3, [1, 2, 2, 1], "VALID")


CASES: dict[str, tuple[Callable[[tf.Tensor], tf.Tensor], tuple[int, ...]]] = {
    "resnet_stem": (resnet_stem, (3, 40, 36)),
    "mobilenet_stem": (mobilenet_stem, (3, 33, 30)),
    "odd_width": (mobilenet_stem, (3, 9, 37)),
    "wide_rows": (resnet_stem, (3, 12, 203)),
    "odd_pooled_width": (resnet_stem, (3, 22, 25)),
    "gray_stem": (gray_stem, (1, 14, 29)),
    "same_padding": (same_padding_stem, (3, 16, 20)),
    "dilated_stem": (dilated_stem, (3, 17, 23)),
    "other_fill": (other_fill, (3, 10, 12)),
    "round_trip_layout": (round_trip_layout, (3, 11, 14)),
    "normalised_input": (normalised_input, (3, 20, 22)),
    "nhwc_image": (nhwc_image_stem, (40, 36, 3)),
    "nhwc_wide": (nhwc_wide_stem, (12, 14, 8)),
}


@cache
def _model(name: str) -> Any:
    build, shape = CASES[name]
    return quantize(build, seeded((4, *shape), 0))[1]


def _golden(model: Any, codes: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [run_golden(model, {"x:0": codes[i : i + 1]}, ["y:0"], batch=1)[0] for i in range(len(codes))]
    )


def _compile(model: Any, batch: int, parameters: Any) -> tuple[Any, Any, dict[str, str]]:
    network, renaming = Network.from_quantized_model(model)
    network.set_batch(batch)
    executable, descriptions = compiler.compile_(HW, network, parameters)
    return executable, descriptions, renaming


@pytest.mark.parametrize("preset", ["O1", "O5"])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("name", sorted(CASES))
def test_bit_exact(name: str, batch: int, preset: str) -> None:
    model = _model(name)
    codes = model.rescale({"x:0": seeded((batch, *CASES[name][1]), 3)})["x:0"]
    executable, descriptions, renaming = _compile(model, batch, {"O1": O1, "O5": O5}[preset])
    out = model_execute(executable, descriptions, {renaming["x:0"]: codes}).output_codes[renaming["y:0"]]
    assert np.array_equal(out, _golden(model, codes))


@pytest.mark.parametrize("name", ["resnet_stem", "mobilenet_stem", "gray_stem", "dilated_stem", "same_padding"])
def test_stems_read_the_input_planar(name: str) -> None:
    """The host packs the input as given (NCHW rows), nothing but the stem touches it, no transpose runs."""
    model = _model(name)
    executable, descriptions, renaming = _compile(model, 1, O5)
    description = descriptions[renaming["x:0"]]
    assert description.axes == () and description.shape == (1, *CASES[name][1])
    assert description.channels == CASES[name][1][-1]
    kinds = {layer.name: layer.KIND for layer in model.layers}
    assert {kinds[span.name] for span in executable.layers} <= {"conv", "max_pool"}


def test_an_nhwc_image_is_packed_planar_for_its_stem() -> None:
    """An NHWC network input of 3 channels read by a stem: the host packs it NCHW (axes 0, 3, 1, 2), each
    channel's rows in words, and the stem reads those rows; nothing else touches it. 8 channels: as given."""
    model = _model("nhwc_image")
    executable, descriptions, renaming = _compile(model, 1, O5)
    description = descriptions[renaming["x:0"]]
    assert description.axes == (0, 3, 1, 2) and description.shape == (1, 40, 36, 3)
    kinds = {layer.name: layer.KIND for layer in model.layers}
    assert {kinds[span.name] for span in executable.layers} <= {"conv", "max_pool"}
    assert not any(isinstance(ins, Pack) and ins.kh * ins.kw == 49 for ins in executable.program.ewp)
    wide = _compile(_model("nhwc_wide"), 1, O5)
    assert wide[1][wide[2]["x:0"]].axes == ()


def test_a_stem_read_only_by_a_max_pool_stays_packed() -> None:
    """ResNet's stem (two pixels per accumulator row) is kept and read only by the max pool, so it is never
    unpacked: the pool takes the vertical maximum of the packed words (all 128 lanes, two pixels per word
    read), unpacks those 10 rows only (9 odd pixels each of the stem's 18 columns), then takes the
    horizontal maximum."""
    executable = _compile(_model("resnet_stem"), 1, O5)[0]
    ewp = executable.program.ewp
    pools = [ins for ins in ewp if isinstance(ins, MaxPool)]
    vertical = [p for p in pools if (p.kh, p.kw) == (3, 1)]
    horizontal = [p for p in pools if (p.kh, p.kw) == (1, 3)]
    assert vertical and len(vertical) == len(horizontal) == len(pools) // 2
    assert all(p.len == 128 and p.pix == 2 for p in vertical)
    assert sum(ins.dst.count for ins in ewp if isinstance(ins, Move) and ins.src_off == 64) == 10 * 9


def test_the_rewrites_fold_resnets_pads() -> None:
    network, _ = Network.from_quantized_model(_model("resnet_stem"))
    before = [(layer.kind, layer.get("op")) for layer in network.layers]
    rewritten = rewrite(network, HW)
    assert [(layer.kind, layer.get("op")) for layer in network.layers] == before  # the input network is kept
    kinds = [(layer.kind, layer.get("op")) for layer in rewritten.layers]
    assert kinds[:4] == [("layout", "Transpose"), ("conv", None), ("max_pool", None), ("layout", "Identity")]
    conv, pool = rewritten.layers[1], rewritten.layers[2]
    assert conv.get("pads") == [3, 3, 3, 3] and conv.get(PLANAR_INPUT)
    assert pool.get("pads") == [1, 1, 1, 1]
    assert rewritten.tensors[pool.name].shape == network.tensors[pool.name].shape


def test_a_pad_with_another_fill_is_not_folded() -> None:
    network, _ = Network.from_quantized_model(_model("other_fill"))
    rewritten = rewrite(network, HW)
    ops = [layer.get("op") for layer in rewritten.layers]
    assert ops[:2] == ["Transpose", "Pad"]  # commuted, but the pad stays
    conv = next(layer for layer in rewritten.layers if layer.kind == "conv")
    assert conv.get("pads") == [0, 0, 0, 0] and not conv.get(PLANAR_INPUT)


def _pad_pool(fill: int, pad: int, kernel: int, lo: int = -128) -> Network:
    net = Network()
    net.add_input("x", (1, 6, 6, 4), 0.1, 0)
    weights = np.ones((1, 1, 4, 4), np.int8)
    arrays = {"weights": weights, "bias": np.zeros(4, np.int32), "mult": np.ones(4), "shift": np.ones(4)}
    net.add_layer("conv", "conv", ["x"], {"out": {"scale": 0.1, "zero_point": 0}, "lo": lo}, arrays)
    paddings = np.array([[0, 0], [pad, pad], [pad, pad], [0, 0]])
    config = {"op": "Pad", "attrs": {"fill": fill}, "out": {"scale": 0.1, "zero_point": 0}}
    net.add_layer("layout", "pad", ["conv"], config, {"consts.paddings": paddings})
    net.add_layer("max_pool", "pool", ["pad"], {"kernel": [kernel, kernel], "strides": [2, 2], "out": config["out"]})
    net.add_output("pool")
    return net


@pytest.mark.parametrize(
    "fill, pad, kernel, lo, folded",
    [
        (-128, 1, 3, -128, True),
        (-5, 1, 3, -5, True),  # the fill is the producer's lowest code
        (-5, 1, 3, -128, False),  # the fill could beat a real code
        (-128, 3, 3, -128, False),  # a window would cover only padding
    ],
)
def test_pad_before_max_pool(fill: int, pad: int, kernel: int, lo: int, folded: bool) -> None:
    rewritten = rewrite(_pad_pool(fill, pad, kernel, lo), HW)
    assert ("pad" not in rewritten.tensors) == folded
    if folded:
        assert rewritten.layers[-1].get("pads") == [pad] * 4


def test_pad_transpose_commute() -> None:
    net = Network()
    net.add_input("x", (1, 2, 5, 7), 0.1, 3)
    paddings = np.array([[0, 0], [0, 1], [2, 3], [4, 5]])
    out = {"scale": 0.1, "zero_point": 3}
    net.add_layer(
        "layout", "pad", ["x"], {"op": "Pad", "attrs": {"fill": 9}, "out": out}, {"consts.paddings": paddings}
    )
    net.add_layer("layout", "t", ["pad"], {"op": "Transpose", "out": out}, {"consts.perm": np.array([0, 2, 3, 1])})
    net.add_output("t")
    rewritten = rewrite(net, HW)
    transpose, pad = rewritten.layers
    assert (transpose.get("op"), transpose.inputs, pad.get("op"), pad.name) == ("Transpose", ("x",), "Pad", "t")
    assert pad.arrays["consts.paddings"].tolist() == [[0, 0], [2, 3], [4, 5], [0, 1]]
    assert rewritten.tensors["t"].shape == net.tensors["t"].shape


def test_inverse_transposes_cancel() -> None:
    """The per-channel scale (a depthwise 1x1 convolution) becomes a lookup per channel before the first
    transpose, and the round trip after it cancels: one transpose is left, between the lookup and the stem."""
    network, _ = Network.from_quantized_model(_model("round_trip_layout"))
    transposes = [layer for layer in network.layers if layer.get("op") == "Transpose"]
    rewritten = rewrite(network, HW)
    assert len(transposes) == 3
    lookup, transpose, conv = rewritten.layers[:3]
    assert (lookup.kind, lookup.inputs, lookup.arrays["table"].shape) == (ROW_LUT, ("x:0",), (3, 256))
    assert transpose.get("op") == "Transpose" and conv.inputs == (transpose.name,) and conv.get(PLANAR_INPUT)
    assert rewritten.tensors[conv.name].shape == network.tensors[conv.name].shape


def test_a_normalised_input_is_looked_up_planar() -> None:
    """keras EfficientNet's preprocessing on an NCHW image: the rescaling and the per-channel normalisation
    become one lookup per channel on the planar input, and the stem reads its rows: no transposed map (a
    word per pixel) is made, and the only map stored is the output."""
    model = _model("normalised_input")
    network, _ = Network.from_quantized_model(model)
    rewritten = rewrite(network, HW)
    assert [layer.kind for layer in rewritten.layers][:3] == [ROW_LUT, "layout", "conv"]
    assert rewritten.layers[0].inputs == ("x:0",) and rewritten.layers[2].get("pads") == [0, 1, 0, 1]
    for preset in (O1, O5):
        executable, descriptions, renaming = _compile(model, 1, preset)
        assert descriptions[renaming["x:0"]].axes == ()
        stores = [ins for ins in (*executable.program.dtl0, *executable.program.dtl1) if isinstance(ins, Store)]
        assert sum(ins.ddr.count for ins in stores) == 10 * 11  # 10x11 outputs of 24 channels, a word each


def test_lookups_compose() -> None:
    """Two lookups in a row become one whose table is the second indexed by the first, exactly."""
    net = Network()
    net.add_input("x", (1, 4, 5, 6), 0.1, 0)
    out = {"scale": 0.1, "zero_point": 0}
    first, second = RNG.integers(-128, 128, 256).astype(np.int8), RNG.integers(-128, 128, 256).astype(np.int8)
    net.add_layer("lut", "a", ["x"], {"out": out}, {"table": first})
    net.add_layer("lut", "b", ["a"], {"out": out}, {"table": second})
    net.add_output("b")
    rewritten = rewrite(net, HW)
    (lookup,) = rewritten.layers
    assert (lookup.name, lookup.inputs) == ("b", ("x",))
    assert np.array_equal(lookup.arrays["table"], second[first.astype(np.int64) + 128])
    codes = RNG.integers(-128, 128, (2, 4, 5, 6)).astype(np.int8)
    net.set_batch(2)
    for preset in (O1, O5):
        executable, descriptions = compiler.compile_(HW, net, preset)
        got = model_execute(executable, descriptions, {"x": codes}).output_codes["b"]
        assert np.array_equal(got, second[first[codes.astype(np.int64) + 128].astype(np.int64) + 128])


def test_planar_plan_of_resnet50() -> None:
    """keras ResNet-50's stem: two pixels per accumulator row, two kernel rows and four groups per window word."""
    plan = plan_stem(
        StemGeometry(h=224, w=224, oh=112, ow=112, kh=7, kw=7, sy=2, sx=2, dy=1, dx=1, top=3, left=3, c=3, m=64), HW
    )
    assert plan is not None and (plan.q, plan.stack, plan.offsets) == (2, 2, 4)
    assert plan.depth(0) <= 128 and plan.stack * 3 * plan.segment <= 128


def test_user_bands_of_a_stem() -> None:
    model = _model("resnet_stem")
    conv = next(layer.name for layer in model.layers if layer.KIND == "conv")
    scheme = {conv: ({TensorAxis.HEIGHT: Segment(0, 7)}, {TensorAxis.HEIGHT: Segment(7, 20)})}
    codes = model.rescale({"x:0": seeded((2, *CASES["resnet_stem"][1]), 4)})["x:0"]
    network, renaming = Network.from_quantized_model(model)
    network.set_batch(2)
    executable, descriptions = compiler.compile_(HW, network, O5, slicing_scheme=scheme)
    out = model_execute(executable, descriptions, {renaming["x:0"]: codes}).output_codes[renaming["y:0"]]
    assert np.array_equal(out, _golden(model, codes))


W_SILU = (_w(3, 3, 3, 16), _w(3, 3, 16, 32, scale=0.1))


def silu_stem(x: tf.Tensor) -> tf.Tensor:
    """YOLOv8n's first layers: the transpose, a 3x3 stride-2 stem of 16 outputs, SiLU (a lookup), and a 3x3
    stride-2 convolution reading it."""
    y = tf.nn.conv2d(_nhwc(x), W_SILU[0], [1, 2, 2, 1], "SAME")
    return tf.nn.conv2d(y * tf.sigmoid(y), W_SILU[1], [1, 2, 2, 1], "SAME")


W_WIDE = _w(3, 3, 16, 96, scale=0.1)


def silu_stem_wide(x: tf.Tensor) -> tf.Tensor:
    """``silu_stem`` with 96 outputs after the lookup: too many for pixel groups, so the stem's map is spread
    to a word per pixel."""
    y = tf.nn.conv2d(_nhwc(x), W_SILU[0], [1, 2, 2, 1], "SAME")
    return tf.nn.conv2d(y * tf.sigmoid(y), W_WIDE, [1, 2, 2, 1], "SAME")


def test_a_stem_applies_the_lookup_after_it_to_its_bands() -> None:
    """``layer_fusion`` with the maps through DDR: the stem looks up each output band before storing it as the
    lookup's output, so its own 16x20 map is never stored. Exact with and without, at batch 1 and 3."""
    model = quantize(silu_stem_wide, seeded((4, 3, 32, 40), 0))[1]
    through_ddr = dataclasses.replace(O5, action_graph_data_transfer_optimization=False)
    stored = {}
    for fusion in (-1, 0):
        parameters = dataclasses.replace(through_ddr, layer_fusion=fusion)
        for batch in (1, 3):
            codes = model.rescale({"x:0": seeded((batch, 3, 32, 40), 3)})["x:0"]
            executable, descriptions, renaming = _compile(model, batch, parameters)
            out = model_execute(executable, descriptions, {renaming["x:0"]: codes}).output_codes[renaming["y:0"]]
            assert np.array_equal(out, _golden(model, codes))
        program = _compile(model, 1, parameters)[0].program
        stored[fusion] = sum(ins.ddr.count for ins in (*program.dtl0, *program.dtl1) if isinstance(ins, Store))
    assert stored[0] - stored[-1] == 16 * 20  # the stem's map: a word per pixel


def test_a_map_too_large_for_the_cache_is_split_over_both_ddr_channels() -> None:
    """Under ``MIRROR`` the stem's 132x132x16 looked-up map (17,424 words, more than half the cache, so it goes
    through DDR) keeps the first half of its rows on one channel and the rest on the other: its bands are
    stored and loaded back by both lanes, half each. Exact at batch 1 and 2; with ``NONE`` one channel."""
    model = quantize(silu_stem_wide, seeded((2, 3, 264, 264), 0))[1]
    for batch in (1, 2):
        codes = model.rescale({"x:0": seeded((batch, 3, 264, 264), 3)})["x:0"]
        executable, descriptions, renaming = _compile(model, batch, O5)
        out = model_execute(executable, descriptions, {renaming["x:0"]: codes}).output_codes[renaming["y:0"]]
        assert np.array_equal(out, _golden(model, codes))
    program = executable.program
    stored = [sum(i.ddr.count for i in lane if isinstance(i, Store)) for lane in (program.dtl0, program.dtl1)]
    assert stored[0] >= 2 * 66 * 132 and stored[1] >= 2 * 66 * 132  # each lane half of both samples' map
    single = dataclasses.replace(O5, ram_io_balancing=O1.ram_io_balancing)
    program = _compile(model, 1, single)[0].program
    assert not any(isinstance(i, Store) for i in program.dtl1)


W_STEM32, W_DILATED, W_VALID = _w(3, 3, 3, 32), _w(5, 5, 32, 16, scale=0.05), _w(3, 3, 16, 24, scale=0.1)


def dilated_reader(x: tf.Tensor) -> tf.Tensor:
    """A 32-output stem (ReLU) read by a 5x5 convolution of dilation 3: its left padding of 6 columns is more
    than a word of 4 pixels."""
    y = tf.nn.relu(tf.nn.conv2d(_nhwc(x), W_STEM32, [1, 2, 2, 1], "SAME"))
    return tf.nn.conv2d(y, W_DILATED, [1, 1, 1, 1], "SAME", dilations=[1, 3, 3, 1])


def valid_reader(x: tf.Tensor) -> tf.Tensor:
    """A stride-1 stem, SiLU, and an unpadded 3x3 convolution."""
    y = tf.nn.conv2d(_nhwc(x), W_SILU[0], [1, 1, 1, 1], "SAME")
    return tf.nn.conv2d(y * tf.sigmoid(y), W_VALID, [1, 1, 1, 1], "VALID")


W_DEPTHWISE = _w(3, 3, 32, 1, scale=0.3)


def depthwise_reader(x: tf.Tensor) -> tf.Tensor:
    """MobileNetV2's first block: a 32-output stride-2 stem (ReLU6) read by a 3x3 depthwise convolution."""
    y = tf.nn.relu6(tf.nn.conv2d(_nhwc(x), W_STEM32, [1, 2, 2, 1], "SAME"))
    return tf.nn.relu6(tf.nn.depthwise_conv2d(y, W_DEPTHWISE, [1, 1, 1, 1], "SAME"))


GROUPED: dict[str, tuple[Callable[[tf.Tensor], tf.Tensor], tuple[int, ...], int]] = {
    "silu": (silu_stem, (3, 48, 64), 8),
    "silu_odd_width": (silu_stem, (3, 40, 78), 8),  # 39 columns: the last group's 8th pixel is none
    "silu_six": (silu_stem, (3, 40, 100), 6),
    "dilated_reader": (dilated_reader, (3, 24, 46), 4),
    "valid_reader": (valid_reader, (3, 14, 37), 5),
    "depthwise_reader": (depthwise_reader, (3, 36, 58), 4),
}


@cache
def _grouped_model(name: str) -> Any:
    build, shape, _ = GROUPED[name]
    return quantize(build, seeded((4, *shape), 0))[1]


@pytest.mark.parametrize("preset", ["O1", "O5", "through_ddr"])
@pytest.mark.parametrize("name", sorted(GROUPED))
def test_a_stems_map_stays_in_pixel_groups(name: str, preset: str) -> None:
    """A stem read (after its lookup) only by a pixel-group convolution leaves its map as the words it drains,
    ``q`` pixels each, and the convolution builds its packed rows from them with MOVEs (no PACK).  Exact at
    batch 1 and 3; with every map through DDR, the stem's map stores ``ceil(W / q)`` words per row."""
    _, shape, q = GROUPED[name]
    model = _grouped_model(name)
    network = rewrite(Network.from_quantized_model(model)[0], HW)
    stem = next(layer for layer in network.layers if layer.get(PLANAR_INPUT))
    grouped = plan_grouped_maps(network, plan_views(network, HW.tpu_parameters.cache_word_length), HW, None, set())
    assert grouped[stem.name] == q
    through_ddr = dataclasses.replace(O5, action_graph_data_transfer_optimization=False)
    parameters = {"O1": O1, "O5": O5}.get(preset, through_ddr)
    for batch in (1, 3):
        codes = model.rescale({"x:0": seeded((batch, *shape), 3)})["x:0"]
        executable, descriptions, renaming = _compile(model, batch, parameters)
        out = model_execute(executable, descriptions, {renaming["x:0"]: codes}).output_codes[renaming["y:0"]]
        assert np.array_equal(out, _golden(model, codes))
    program = _compile(model, 1, parameters)[0].program
    assert not any(isinstance(ins, Pack) for ins in program.ewp)
    if preset == "through_ddr":
        _, oh, ow, _ = network.tensors[stem.name].shape
        _, oh2, ow2, _ = network.tensors[network.outputs[0]].shape
        stored = sum(ins.ddr.count for ins in (*program.dtl0, *program.dtl1) if isinstance(ins, Store))
        assert stored == oh * -(-ow // q) + oh2 * ow2
