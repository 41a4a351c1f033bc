"""PReLU, ConvTranspose, bilinear resize, MatMul of two activations and LayerNorm, compiled and run on the
simulated device at O1 and O5, batch 1 and 4: bit for bit the golden graph (QuantizedModel.as_graph())."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from pytpu import TPU_128x128_PARAMS, model_execute
from tests.quant_helpers import quantize, run_golden, seeded
from tests.test_golden_reference import requantize
from tests.test_quantize_layers import prelu_per_channel
from tests.test_quantize_layers_extra import case, linear_taps, resize_numpy, tf_coordinates
from tpu_compiler import Network, compiler
from tpu_compiler.compiler import O1, O5

HW = TPU_128x128_PARAMS
PRESETS = {"O1": O1, "O5": O5}
BATCH = 4


def _w(seed: int, *shape: int, scale: float = 0.3, offset: float = 0.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale + offset).astype(np.float32)


def _prelu(x: tf.Tensor, slope: np.ndarray | np.floating) -> tf.Tensor:
    """PReLU as converters emit it."""
    return tf.where(x < 0, x * slope, x)


def prelu_chain(x: tf.Tensor) -> tf.Tensor:
    """130, 17 and 3 channels (two words, one partial word, a few lanes); one slope shared by all channels."""
    y = _prelu(tf.nn.conv2d(x, _w(1, 1, 1, 8, 130), 1, "VALID"), _w(2, 130, scale=0.5))
    y = _prelu(tf.nn.conv2d(y, _w(3, 1, 1, 130, 17, scale=0.1), 1, "VALID"), np.float32(0.2))
    return _prelu(tf.nn.conv2d(y, _w(4, 3, 3, 17, 3, scale=0.2), 1, "SAME"), np.array([0.1, -0.4, 2.0], np.float32))


def conv_transpose_chain(x: tf.Tensor) -> tf.Tensor:
    """Stride 2 SAME (3 -> 17 channels, bias, ReLU), then stride 3 VALID with a 4x4 kernel to 130 channels and a
    crop beyond the kernel's reach (negative pads: rows and columns of the zero-inserted input removed)."""
    n = tf.shape(x)[0]
    y = tf.nn.conv2d_transpose(x, _w(5, 3, 3, 17, 3), tf.stack([n, 10, 13, 17]), 2, "SAME") + _w(6, 17)
    kernel = _w(7, 4, 4, 130, 17, scale=0.1)
    y = tf.nn.conv2d_transpose(tf.nn.relu(y), kernel, tf.stack([n, 31, 40, 130]), 3, "VALID")
    return y[:, 4:-1, 5:, :]


def resize_chain(x: tf.Tensor) -> tf.Tensor:
    """Half-pixel upsampling of 130 channels to an odd size, align-corners resampling of 17 channels (fewer rows,
    more columns), then a plain (asymmetric) resize of 3 channels."""
    resize = tf.compat.v1.image.resize_bilinear
    y = resize(tf.nn.conv2d(x, _w(8, 1, 1, 8, 130), 1, "VALID"), [9, 13], half_pixel_centers=True)
    y = resize(tf.nn.conv2d(y, _w(9, 1, 1, 130, 17, scale=0.1), 1, "VALID"), [4, 20], align_corners=True)
    return resize(tf.nn.conv2d(y, _w(10, 3, 3, 17, 3, scale=0.2), 1, "SAME"), [11, 7])


def attention_chain(x: tf.Tensor) -> tf.Tensor:
    """Scores over 130-deep rows (two K tiles), a product with ``transpose_a`` giving 130 columns (two M tiles and
    two output words), and 17 channels of values: 35 rows, odd everywhere."""
    q = tf.reshape(tf.nn.conv2d(x, _w(11, 1, 1, 8, 130), 1, "VALID"), [-1, 35, 130])
    k = tf.reshape(tf.nn.conv2d(x, _w(12, 1, 1, 8, 130), 1, "VALID"), [-1, 35, 130])
    v = tf.reshape(tf.nn.conv2d(x, _w(13, 1, 1, 8, 17), 1, "VALID"), [-1, 35, 17])
    scores = tf.nn.relu(tf.matmul(q, k, transpose_b=True) * 0.05)  # [35, 35]
    mixed = tf.matmul(scores, v)  # [35, 17]
    gram = tf.matmul(q, k, transpose_a=True) * 0.01  # [130, 130]
    return tf.concat([gram[:, 100:117, 113:], mixed], axis=1)


def _keras_layer_norm(x: tf.Tensor, seed: int) -> tf.Tensor:
    """keras's ``x * inv + (beta - mean * inv)``, ``inv = rsqrt(var + eps) * gamma``; some gammas negative."""
    channels = x.shape[-1]
    gamma = _w(seed, channels, offset=1.0) * np.where(np.arange(channels) % 4 == 1, -1, 1).astype(np.float32)
    mean, variance = tf.nn.moments(x, [-1], keepdims=True)
    inv = tf.math.rsqrt(variance + 1e-3) * gamma
    return x * inv + (_w(seed + 1, channels, scale=0.2) - mean * inv)


def layer_norm_chain(x: tf.Tensor) -> tf.Tensor:
    """Rows of 130 (two words), 17 and 3 codes over a 5 x 7 map (odd row counts)."""
    y = _keras_layer_norm(tf.nn.conv2d(x, _w(14, 1, 1, 8, 130), 1, "VALID"), 15)
    y = _keras_layer_norm(tf.nn.conv2d(y, _w(16, 1, 1, 130, 17, scale=0.1), 1, "VALID"), 17)
    return _keras_layer_norm(tf.nn.conv2d(y, _w(18, 3, 3, 17, 3, scale=0.2), 1, "SAME"), 19)


@dataclass
class Net:
    """A quantized model, int8 codes of ``BATCH`` samples for each input, and the outputs to compare."""

    model: Any
    codes: dict[str, np.ndarray]
    outputs: list[str]


def _tf_net(build: Callable[[tf.Tensor], tf.Tensor], shape: tuple[int, ...]) -> Net:
    _, model, _ = quantize(build, seeded((16, *shape), 0))
    return Net(model, model.rescale({"x:0": seeded((BATCH, *shape), 3)}), ["y:0"])


def _case_net(name: str) -> Net:
    """One of tests/test_quantize_layers_extra.py's ONNX cases (its held-out samples' codes)."""
    c = case(name)
    return Net(c.model, {k: v[:BATCH] for k, v in c.codes.items()}, [c.out])


NETS: dict[str, Callable[[], Net]] = {
    "prelu_per_channel": lambda: _tf_net(prelu_per_channel, (10, 12, 8)),
    "prelu_chain": lambda: _tf_net(prelu_chain, (5, 7, 8)),
    "conv_transpose_onnx": lambda: _case_net("conv_transpose_onnx"),
    "conv_transpose_chain": lambda: _tf_net(conv_transpose_chain, (5, 7, 3)),
    "resize_bilinear_half_pixel": lambda: _case_net("resize_bilinear_half_pixel"),
    "resize_bilinear_align_corners": lambda: _case_net("resize_bilinear_align_corners"),
    "resize_gather_half_pixel": lambda: _case_net("resize_gather_half_pixel"),
    "resize_gather_asymmetric": lambda: _case_net("resize_gather_asymmetric"),
    "resize_chain": lambda: _tf_net(resize_chain, (5, 7, 8)),
    "attention": lambda: _case_net("attention"),
    "attention_chain": lambda: _tf_net(attention_chain, (5, 7, 8)),
    "layer_norm_onnx": lambda: _case_net("layer_norm_onnx"),
    "layer_norm_decomposed": lambda: _case_net("layer_norm_decomposed"),
    "layer_norm_chain": lambda: _tf_net(layer_norm_chain, (5, 7, 8)),
}
KINDS = {
    "prelu_per_channel": "prelu",
    "prelu_chain": "prelu",
    "conv_transpose_onnx": "conv_transpose",
    "conv_transpose_chain": "conv_transpose",
    "resize_bilinear_half_pixel": "resize_bilinear",
    "resize_bilinear_align_corners": "resize_bilinear",
    "resize_gather_half_pixel": "resize_bilinear",
    "resize_gather_asymmetric": "resize_bilinear",
    "resize_chain": "resize_bilinear",
    "attention": "matmul",
    "attention_chain": "matmul",
    "layer_norm_onnx": "layer_norm",
    "layer_norm_decomposed": "layer_norm",
    "layer_norm_chain": "layer_norm",
}


@cache
def net(name: str) -> Net:
    return NETS[name]()


@cache
def golden(name: str) -> tuple[np.ndarray, ...]:
    n = net(name)
    return tuple(run_golden(n.model, n.codes, n.outputs, batch=BATCH))


def _device(model: Any, codes: dict[str, np.ndarray], outputs: list[str], preset: str) -> list[np.ndarray]:
    """The outputs of the compiled program on the simulated device, at the batch of ``codes``."""
    network, renaming = Network.from_quantized_model(model)
    network.set_batch(len(next(iter(codes.values()))))
    executable, descriptions = compiler.compile_(HW, network, PRESETS[preset])
    result = model_execute(executable, descriptions, {renaming[k]: v for k, v in codes.items()})
    return [result.output_codes[renaming[name]] for name in outputs]


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("batch", [1, BATCH])
@pytest.mark.parametrize("name", list(NETS))
def test_bit_exact(name: str, batch: int, preset: str) -> None:
    n = net(name)
    assert KINDS[name] in {layer.KIND for layer in n.model.layers}
    outputs = _device(n.model, {k: v[:batch] for k, v in n.codes.items()}, n.outputs, preset)
    for output, got, expected in zip(n.outputs, outputs, golden(name), strict=True):
        assert got.dtype == np.int8 and got.shape == expected[:batch].shape
        assert np.array_equal(got, expected[:batch]), output


@pytest.mark.parametrize("eps_code", [0, None])
def test_layer_norm_of_constant_rows(eps_code: int | None) -> None:
    """Rows of equal codes (no variance), without epsilon (``u = 0``: the table's entry 0, deviations 0) and with
    the layer's; one row of each sample varies."""
    from dnn_quant import InMemoryQuantizedModel

    model = net("layer_norm_onnx").model
    (layer,) = model.layers
    variant = dataclasses.replace(layer, eps_code=layer.eps_code if eps_code is None else eps_code)
    model = InMemoryQuantizedModel([variant], model.inputs, model.outputs, model.anchors_mapping)
    codes = np.repeat(np.array([-128, -3, 0, 77, 127], np.int8)[:, None, None], 32, axis=2).repeat(6, axis=1)
    codes[:, 2] = np.random.default_rng(5).integers(-128, 128, (5, 32), dtype=np.int8)
    (expected,) = run_golden(model, {"x:0": codes}, model.outputs, batch=5)
    (got,) = _device(model, {"x:0": codes}, model.outputs, "O1")
    assert np.array_equal(got, expected)


def test_every_kind_the_quantizer_emits_is_lowered() -> None:
    from dnn_quant.layers import LAYER_TYPES
    from tpu_compiler.lowering import RULES
    from tpu_compiler.network import SHAPE_RULES

    assert set(LAYER_TYPES) <= set(RULES) & set(SHAPE_RULES)


@pytest.mark.parametrize("transpose_b", [False, True])
def test_matmul_larger_than_the_cache_runs_in_bands(transpose_b: bool) -> None:
    """A 2600 x 1500 product (39,000 output words, more than the cache) of a hand-built network, against the
    contract read in numpy: rows of the left operand and of the output go through the cache in bands."""
    rng = np.random.default_rng(9)
    a = rng.integers(-127, 128, (2, 2600, 40), dtype=np.int8)  # two samples
    b = rng.integers(-127, 128, (2, 1500, 40) if transpose_b else (2, 40, 1500), dtype=np.int8)
    network = Network()
    network.add_input("a", (1, 2600, 40), 0.1, 0)
    network.add_input("b", (1, *b.shape[1:]), 0.1, 0)
    config = {"out": {"scale": 1.0, "zero_point": 3}, "transpose_b": transpose_b, "mult": -(3 << 20), "shift": 31}
    network.add_layer("matmul", "y", ["a", "b"], {**config, "lo": -100, "hi": 120})
    network.add_output("y")
    network.set_batch(2)
    executable, descriptions = compiler.compile_(HW, network, O5)
    got = model_execute(executable, descriptions, {"a": a, "b": b}).output_codes["y"]
    right = np.swapaxes(b, -1, -2) if transpose_b else b
    expected = requantize(a.astype(np.int64) @ right.astype(np.int64), -(3 << 20), 31, 3, -100, 120)
    assert np.array_equal(got, expected)


def test_resize_larger_than_the_cache_runs_in_bands() -> None:
    """60 x 70 x 130 -> 119 x 139 (half-pixel rows, align-corners columns): 33,000 output words a sample, in bands
    of rows, against the scheme read in numpy."""
    x = np.random.default_rng(10).integers(-128, 128, (2, 60, 70, 130), dtype=np.int8)
    plans = [
        (1, *linear_taps(tf_coordinates(60, 119, False, True), 60)),
        (2, *linear_taps(tf_coordinates(70, 139, True, False), 70)),
    ]
    arrays = {
        f"{name}.{i}": array
        for i, (_, *pair) in enumerate(plans)
        for name, array in zip(("indices", "weights"), pair, strict=True)
    }
    network = Network()
    network.add_input("x", (1, 60, 70, 130), 0.1, -4)
    network.add_layer("resize_bilinear", "y", ["x"], {"out": {"scale": 0.1, "zero_point": -4}, "axes": [1, 2]}, arrays)
    network.add_output("y")
    network.set_batch(2)
    executable, descriptions = compiler.compile_(HW, network, O1)
    got = model_execute(executable, descriptions, {"x": x}).output_codes["y"]
    assert np.array_equal(got, resize_numpy(x, plans))


# -- the new EWP instructions on their own, against Python readings of their definitions (docs/isa.md) ----------

SRC, DST, CONST = 0, 1000, 2000


def _run_one(sim: Any, ins: Any) -> int:
    """Run one EWP instruction; its cycles."""
    from pytpu.isa import ProgramBuilder, Unit

    builder = ProgramBuilder()
    builder.emit(Unit.EWP, ins)
    return int(sim.run(builder.build()).cycles)


def _shifted(v: int, s: int) -> int:
    return (v + (1 << (s - 1))) >> s if s else v


def test_prelu_instruction() -> None:
    from pytpu.isa import Pattern, PRelu
    from pytpu.isa.layouts import pack_lane_mults
    from pytpu.sim import Simulator

    rng = np.random.default_rng(11)
    codes = rng.integers(-128, 128, (6, 128), dtype=np.int8)
    negative = rng.integers(-(1 << 30), 1 << 30, 128)
    sim = Simulator()
    sim.write_cache(SRC, codes.reshape(-1))
    sim.write_cache(DST, np.full(6 * 128, 99, np.int8))
    sim.write_cache(CONST, pack_lane_mults(negative, 128))
    ins = PRelu(
        dst=Pattern.contiguous(DST, 6),
        a=Pattern.contiguous(SRC, 6),
        za=-5,
        pos=1 << 29,
        neg=CONST,
        shift=30,
        zo=3,
        lo=-100,
        hi=110,
        off=7,
        len=20,
    )
    cycles = _run_one(sim, ins)
    out = sim.read_cache(DST, 6).reshape(6, 128)
    for i, j in np.ndindex(6, 20):
        v = int(codes[i, 7 + j]) + 5
        expected = _shifted(v * ((1 << 29) if v >= 0 else int(negative[7 + j])), 30) + 3
        assert out[i, 7 + j] == min(max(expected, -100), 110)
    assert (out[:, :7] == 99).all() and (out[:, 27:] == 99).all()  # other lanes kept
    assert cycles == 16 + 6 + 4


def test_interp_instruction() -> None:
    from pytpu.errors import CacheCapacityError, FieldRangeError
    from pytpu.isa import Interp, Pattern
    from pytpu.sim import Simulator

    rng = np.random.default_rng(12)
    codes = rng.integers(-128, 128, (40, 128), dtype=np.int8)
    sim = Simulator()
    sim.write_cache(SRC, codes.reshape(-1))
    src = Pattern(SRC + 10, ((3, 8), (4, 1)))  # 12 words; taps 1 and 2 at +1 and -10 words
    ins = Interp(
        dst=Pattern.contiguous(DST, 12),
        src=src,
        taps=3,
        d1=1,
        d2=-10,
        d3=0,
        w0=300,
        w1=-200,
        w2=924,
        w3=0,
        shift=10,
        zo=-2,
        lo=-128,
        hi=127,
        off=0,
        len=128,
    )
    cycles = _run_one(sim, ins)
    out = sim.read_cache(DST, 12).reshape(12, 128).astype(np.int64)
    words = src.addresses() - SRC
    wide = codes.astype(np.int64)
    total = 300 * wide[words] - 200 * wide[words + 1] + 924 * wide[words - 10]
    assert np.array_equal(out, np.clip(((total + 512) >> 10) - 2, -128, 127))
    assert cycles == 16 + 3 * 12
    with pytest.raises(FieldRangeError, match="w3"):
        _run_one(Simulator(), dataclasses.replace(ins, w3=1))
    with pytest.raises(CacheCapacityError, match="tap 2"):
        _run_one(Simulator(), dataclasses.replace(ins, d2=-SRC - 11))


@pytest.mark.parametrize("channels", [3, 130])
def test_layer_norm_instruction(channels: int) -> None:
    from dnn_quant.layers import LayerNorm as LayerNormLayer
    from dnn_quant.layers.layer_norm import rsqrt_table
    from dnn_quant.qparams import QParams
    from pytpu.isa import LayerNorm, Pattern
    from pytpu.isa.layouts import norm_params_words, pack_norm_params, pack_table32
    from pytpu.sim import Simulator
    from tests.test_quantize_layers_extra import layer_norm_numpy

    rng = np.random.default_rng(channels)
    words, groups = -(-channels // 128), 5
    codes = rng.integers(-128, 128, (groups, channels), dtype=np.int8)
    codes[0] = 17  # a row without variance
    mult = rng.integers(-(1 << 30), 1 << 30, channels)
    shift = rng.integers(20, 47, channels)
    bias = rng.integers(-(1 << 50), 1 << 50, channels)
    layer = LayerNormLayer("y", ["x"], QParams(0.1, -9), channels, 12345, rsqrt_table(), mult, shift, bias)
    image = np.full((groups, words * 128), 55, np.int8)
    image[:, :channels] = codes
    sim = Simulator()
    sim.write_cache(SRC, image.reshape(-1))
    sim.write_cache(DST, np.full(groups * words * 128, 99, np.int8))
    sim.write_cache(CONST, pack_table32(rsqrt_table(), 128))
    sim.write_cache(CONST + 100, pack_norm_params(bias, mult, shift, 128))
    n = groups * words
    ins = LayerNorm(
        dst=Pattern.contiguous(DST, n),
        src=Pattern.contiguous(SRC, n),
        words=words,
        last=channels - (words - 1) * 128,
        eps=12345,
        table=CONST,
        params=CONST + 100,
        zo=-9,
    )
    cycles = _run_one(sim, ins)
    out = sim.read_cache(DST, n).reshape(groups, words * 128)
    assert np.array_equal(out[:, :channels], layer_norm_numpy(layer, codes))
    assert (out[:, channels:] == 99).all()  # bytes beyond the codes kept
    assert cycles == 16 + 2 * n + 8 + norm_params_words(channels, 128)
