"""Convolutions of few channels with several output pixels per accumulator row (lowering/conv_groups.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from pytpu import TPU_128x128_PARAMS, model_execute
from pytpu.isa import Gemm, Lut, Move, Pack, Store
from tests.quant_helpers import quantize, run_golden, seeded
from tpu_compiler import Network, compiler
from tpu_compiler.compiler import O1, O5
from tpu_compiler.compiler import compile as compile_module
from tpu_compiler.compiler.grouped_maps import plan_grouped_maps
from tpu_compiler.compiler.rewrites import rewrite
from tpu_compiler.compiler.views import plan_views

HW = TPU_128x128_PARAMS
RNG = np.random.default_rng(11)


def _w(*shape: int, scale: float = 0.1) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def _pointwise_then(conv: Callable[[tf.Tensor], tf.Tensor], c_in: int) -> Callable[[tf.Tensor], tf.Tensor]:
    """A 1x1 convolution to ``c_in`` channels (its output stays in the cache), then ``conv``."""
    first = _w(1, 1, 8, c_in, scale=0.3)
    return lambda x: conv(tf.nn.relu(tf.nn.conv2d(x, first, 1, "VALID")))


def _conv(c_in: int, c_out: int, k: int, stride: int = 1, dilation: int = 1, padding: str = "SAME") -> Any:
    weights = _w(k, k, c_in, c_out, scale=1.0 / np.sqrt(k * k * c_in))
    return lambda y: tf.nn.relu(tf.nn.conv2d(y, weights, stride, padding, dilations=dilation))


def _depthwise(channels: int) -> Any:
    weights = _w(3, 3, channels, 1, scale=0.3)
    return lambda y: tf.nn.relu6(tf.nn.depthwise_conv2d(y, weights, [1, 1, 1, 1], "SAME"))


def _wide_depthwise(channels: int, k: int = 3, stride: int = 1) -> Any:
    """1x1 to ``channels``, a depthwise ``k`` x ``k`` convolution, 1x1 to 8: the depthwise map stays in the cache
    (its last ``channels % 128`` channels in pixel groups, lowering/conv_tail.py)."""
    first, dw, last = _w(1, 1, 8, channels, scale=0.3), _w(k, k, channels, 1, scale=0.3), _w(1, 1, channels, 8)
    return lambda x: tf.nn.conv2d(
        tf.nn.relu6(
            tf.nn.depthwise_conv2d(tf.nn.relu(tf.nn.conv2d(x, first, 1, "VALID")), dw, [1, stride, stride, 1], "SAME")
        ),
        last,
        1,
        "VALID",
    )


CASES: dict[str, tuple[Callable[[tf.Tensor], tf.Tensor], tuple[int, int, int]]] = {
    # (graph, one sample's input shape): the first layer a 1x1 to the grouped layer's input channels
    "3x3_64_to_64": (_pointwise_then(_conv(64, 64, 3), 64), (24, 28, 8)),
    "3x3_odd_width": (_pointwise_then(_conv(64, 64, 3), 64), (19, 21, 8)),
    "3x3_48_to_40": (_pointwise_then(_conv(48, 40, 3), 48), (16, 17, 8)),
    "3x3_16_to_32": (_pointwise_then(_conv(16, 32, 3), 16), (40, 41, 8)),
    "3x3_128_to_32": (_pointwise_then(_conv(128, 32, 3), 128), (20, 21, 8)),
    "3x3_stride_2": (_pointwise_then(_conv(16, 32, 3, stride=2), 16), (66, 70, 8)),
    "3x3_dilated": (_pointwise_then(_conv(32, 32, 3, dilation=2), 32), (40, 40, 8)),
    "5x5_valid": (_pointwise_then(_conv(24, 16, 5, padding="VALID"), 24), (44, 44, 8)),
    "1x3_rows": (_pointwise_then(lambda y: tf.nn.conv2d(y, _w(1, 3, 32, 32), 1, "SAME"), 32), (30, 41, 8)),
    "depthwise_32": (_pointwise_then(_depthwise(32), 32), (36, 37, 8)),
    "depthwise_144_tail": (_wide_depthwise(144), (20, 23, 8)),
    "depthwise_144_all_in_groups": (_wide_depthwise(144), (32, 34, 8)),
    "depthwise_192_stride_2_tail": (_wide_depthwise(192, stride=2), (21, 26, 8)),
    "depthwise_296_5x5_tail": (_wide_depthwise(296, k=5), (24, 26, 8)),
    "depthwise_96_tail": (_wide_depthwise(96), (40, 44, 8)),
    "depthwise_224_tail": (_wide_depthwise(224), (60, 64, 8)),
    "3x3_16_to_32_lookup": (  # (read by a max pool: a word per pixel)
        _pointwise_then(
            lambda y: tf.nn.max_pool2d(tf.sigmoid(tf.nn.conv2d(y, _w(3, 3, 16, 32), 1, "SAME")), 2, 2, "VALID"),
            16,
        ),
        (30, 33, 8),
    ),
    # A strided 1x1 convolution of the network's input (in DDR) loads only the pixels it reads: not grouped.
    "1x1_stride_2_of_the_input": (lambda x: tf.nn.conv2d(x, _w(1, 1, 1, 1, scale=1.0), 2, "SAME"), (3, 3, 1)),
    "1x1_stride_2_of_the_input_odd": (lambda x: tf.nn.conv2d(x, _w(1, 1, 2, 8, scale=0.7), 2, "SAME"), (9, 11, 2)),
    "zero_weights": (
        _pointwise_then(lambda y: tf.nn.conv2d(y, np.zeros((3, 3, 64, 64), np.float32), 1, "SAME"), 64),
        (24, 28, 8),
    ),
}


def _golden(model: Any, codes: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [run_golden(model, {"x:0": codes[i : i + 1]}, ["y:0"], batch=1)[0] for i in range(len(codes))]
    )


def _compile(name: str, batch: int, parameters: Any) -> tuple[Any, Any, Any, Any]:
    graph, shape = CASES[name]
    _, model, _ = quantize(graph, seeded((2, *shape), 0))
    network, renaming = Network.from_quantized_model(model)
    network.set_batch(batch)
    executable, descriptions = compiler.compile_(HW, network, parameters)
    return model, renaming, executable, descriptions


@pytest.mark.parametrize("preset", ["O1", "O5"])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("name", sorted(CASES))
def test_grouped_convolutions_are_bit_exact(name: str, batch: int, preset: str) -> None:
    model, renaming, executable, descriptions = _compile(name, batch, {"O1": O1, "O5": O5}[preset])
    codes = model.rescale({"x:0": seeded((batch, *CASES[name][1]), 5)})["x:0"]
    result = model_execute(executable, descriptions, {renaming["x:0"]: codes})
    assert np.array_equal(result.output_codes[renaming["y:0"]], _golden(model, codes))


def _layer_gemms(executable: Any, position: int) -> list[Gemm]:
    """The GEMMs of the ``position``-th layer (in program order) that runs on the ME."""
    spans = [s for s in executable.layers if s.unit == "ME"]
    name = list(dict.fromkeys(s.name for s in spans))[position]
    return [
        ins for s in spans if s.name == name for ins in executable.program.me[s.start : s.stop] if isinstance(ins, Gemm)
    ]


def test_a_64_channel_3x3_convolution_takes_half_the_array_rows_of_two_taps_per_word() -> None:
    """24x28 outputs, 64 to 64 channels: each accumulator row holds two output pixels (M = 128), each GEMM
    row two input pixels (K = 128); per kernel row two GEMMs of 24 x 14 rows: 3 x 2 x 336 = 2016 array rows,
    where packing two taps per word took 3 x 2 x 672 = 4032."""
    _, _, executable, _ = _compile("3x3_64_to_64", 1, O5)
    gemms = _layer_gemms(executable, -1)
    assert {(g.k, g.m) for g in gemms} == {(128, 128)}
    assert sum(g.x.count for g in gemms) == 3 * 2 * 24 * 14
    packs = [ins for ins in executable.program.ewp if isinstance(ins, Pack)]
    assert packs and all(p.kw == 2 and p.sx == 2 and p.len == 64 for p in packs)


def test_a_wide_input_pairs_outputs_reading_its_pixel_words_one_by_one() -> None:
    """128 to 32 channels: an input pixel fills a word (p = 1) and two outputs share an accumulator row
    (M = 64): per kernel row four GEMMs (the 2 + 2 input pixels a pair's windows span) of 20 x 11 rows,
    against nine GEMMs of 20 x 21 rows tap by tap."""
    _, _, executable, _ = _compile("3x3_128_to_32", 1, O5)
    gemms = _layer_gemms(executable, -1)
    assert {(g.k, g.m) for g in gemms} == {(128, 64)}
    assert sum(g.x.count for g in gemms) == 3 * 4 * 20 * 11


def test_a_lookup_after_grouped_convolution_runs_on_its_group_words() -> None:
    """layer_fusion: the sigmoid after a 16-to-32 channel 3x3 (kept maps) is looked up on the drained group words,
    several pixels per word, before they are spread into the lookup's output; the lookup layer emits nothing."""
    looked_up, spans = {}, {}
    for fusion in (-1, 0):
        _, _, executable, _ = _compile("3x3_16_to_32_lookup", 1, dataclasses.replace(O5, layer_fusion=fusion))
        program = executable.program
        spans[fusion] = {s.name for s in executable.layers if s.unit == "EWP" and s.stop > s.start}
        looked_up[fusion] = sum(i.dst.count for i in program.ewp if isinstance(i, Lut))
        spread = sum(i.dst.count for i in program.ewp if isinstance(i, Move))
        assert spread == 30 * 33  # the grouped convolution's spreading, either way
    assert any("Sigmoid" in name for name in spans[0]) and not any("Sigmoid" in name for name in spans[-1])
    assert looked_up[0] == 30 * 33 and looked_up[-1] == 30 * -(-33 // 4)  # q = 4 pixels per group word


def test_a_wide_depthwise_convolution_computes_its_last_channels_in_pixel_groups() -> None:
    """144 channels: the first 128 tap by tap (nine GEMMs of 20 x 23 rows, M = 128), the last 16 in pixel groups
    (several output pixels of 16 channels per accumulator row, M > 16), far fewer array rows than a second
    word tap by tap; exact (test_grouped_convolutions_are_bit_exact)."""
    _, _, executable, _ = _compile("depthwise_144_tail", 1, O5)
    gemms = _layer_gemms(executable, 1)
    direct = [g for g in gemms if g.m == 128]
    tail = [g for g in gemms if g.m != 128]
    assert sum(g.x.count for g in direct) == 9 * 20 * 23
    assert tail and all(g.m % 16 == 0 and g.m > 16 for g in tail)
    assert sum(g.x.count for g in tail) < 9 * 20 * 23 / 3
    packs = [ins for ins in executable.program.ewp if isinstance(ins, Pack)]
    assert any(p.len == 16 and p.pix == 2 for p in packs)  # the tail lanes of the second word of each pixel


def test_a_wide_depthwise_convolution_on_a_larger_map_computes_every_word_in_pixel_groups() -> None:
    """144 channels on 32 x 34 pixels: a band's GEMMs in pixel groups (8 rows of 17 pairs) outlast their tiles'
    loads, so the full word goes in two chunks of 64 lanes too, and the last 16 lanes as before: no GEMM reads
    the pixel words tap by tap, and the array rows are fewer than one word's tap by tap."""
    _, _, executable, _ = _compile("depthwise_144_all_in_groups", 1, O5)
    gemms = _layer_gemms(executable, 1)
    assert sum(g.x.count for g in gemms) < 9 * 32 * 34
    packs = [ins for ins in executable.program.ewp if isinstance(ins, Pack) and ins.len in (16, 64)]
    assert {(p.src_off, p.len) for p in packs} == {(0, 64), (64, 64), (0, 16)}
    spread = [ins for ins in executable.program.ewp if isinstance(ins, Move) and ins.len in (16, 64)]
    assert {(m.dst_off, m.len) for m in spread} == {(0, 64), (64, 64), (0, 16)}


def test_a_96_channel_depthwise_convolution_runs_as_two_chunks_of_pixel_groups() -> None:
    """96 channels on 40 x 44 pixels: 64 channels two pixels per GEMM row and accumulator row (K = M = 128) and
    32 four per row, each chunk's lanes packed from and spread to lanes 0 and 64 of the pixel words; no GEMM
    tap by tap (M = 96). (A strided one would read every input pixel on the EWP per chunk: it stays direct.)"""
    _, _, executable, _ = _compile("depthwise_96_tail", 1, O5)
    gemms = _layer_gemms(executable, 1)
    assert {(g.k, g.m) for g in gemms} == {(128, 128)}
    packs = [ins for ins in executable.program.ewp if isinstance(ins, Pack) and ins.len in (32, 64)]
    assert {(p.src_off, p.len) for p in packs} == {(0, 64), (64, 32)}
    spread = [ins for ins in executable.program.ewp if isinstance(ins, Move) and ins.len in (32, 64)]
    assert {(m.dst_off, m.len) for m in spread} == {(0, 64), (64, 32)}


def _grouped_chain(c: int, stride: int = 1, lookup: bool = True) -> Any:
    """1x1 to ``c`` channels, a 3x3 of ``c`` to ``c`` in pixel groups (then SiLU), a second 3x3 (``stride``)
    reading it, 1x1 to 8: YOLOv8's C2f bottleneck between its split and its residual add."""
    first, a, b, last = _w(1, 1, 8, c, scale=0.3), _w(3, 3, c, c), _w(3, 3, c, c), _w(1, 1, c, 8)

    def build(x: tf.Tensor) -> tf.Tensor:
        y = tf.nn.relu(tf.nn.conv2d(x, first, 1, "VALID"))
        y = tf.nn.conv2d(y, a, 1, "SAME")
        y = y * tf.sigmoid(y) if lookup else tf.nn.relu(y)
        y = tf.nn.relu(tf.nn.conv2d(y, b, stride, "SAME"))
        return tf.nn.conv2d(y, last, 1, "VALID")

    return build


CHAINS: dict[str, tuple[Any, tuple[int, int, int], int]] = {
    # (graph, one sample's input shape, pixels per word of the map between the two 3x3 convolutions)
    "16_silu": (_grouped_chain(16), (24, 29, 8), 8),
    "32_relu": (_grouped_chain(32, lookup=False), (20, 21, 8), 4),
    "16_stride_2": (_grouped_chain(16, stride=2), (26, 35, 8), 8),
}


def _exact_in_groups(
    build: Any, shape: tuple[int, int, int], preset: str
) -> tuple[Any, Network, dict[str, int], Any, Any]:
    """``build`` quantized, its rewritten network and the maps planned in pixel groups; compiled at ``preset``
    (O1, O5, or O5 with every map through DDR) at batch 1 and 3, each exact. Returns the model, the network,
    those maps, the batch-3 executable and the parameters."""
    _, model, _ = quantize(build, seeded((2, *shape), 0))
    network = rewrite(Network.from_quantized_model(model)[0], HW)
    grouped = plan_grouped_maps(network, plan_views(network, HW.tpu_parameters.cache_word_length), HW, None, set())
    through_ddr = dataclasses.replace(O5, action_graph_data_transfer_optimization=False)
    parameters = {"O1": O1, "O5": O5}.get(preset, through_ddr)
    for batch in (1, 3):
        codes = model.rescale({"x:0": seeded((batch, *shape), 5)})["x:0"]
        compiled = _compile_model(model, batch, parameters)
        result = model_execute(compiled[0], compiled[1], {compiled[2]["x:0"]: codes})
        assert np.array_equal(result.output_codes[compiled[2]["y:0"]], _golden(model, codes))
    return model, network, grouped, compiled[0], parameters


def _stored(executable: Any) -> int:
    return sum(i.ddr.count for i in (*executable.program.dtl0, *executable.program.dtl1) if isinstance(i, Store))


@pytest.mark.parametrize("preset", ["O1", "O5", "through_ddr"])
@pytest.mark.parametrize("name", sorted(CHAINS))
def test_a_pixel_group_convolution_leaves_its_map_in_groups_for_the_next(
    monkeypatch: pytest.MonkeyPatch, name: str, preset: str
) -> None:
    """A convolution lowered in pixel groups whose output (after its lookup) only another pixel-group
    convolution reads leaves it as the words it drains, ``q`` pixels each: no spreading MOVEs, and the reader
    builds its packed rows from them with MOVEs instead of PACKs (fewer PACKs and MOVEs than the same network
    with that map a word per pixel). The second's output, read by a 1x1 convolution, stays in groups too.
    Exact at batch 1 and 3; with every map through DDR each grouped map stores ``ceil(W / q)`` words per row
    instead of ``W``."""
    build, shape, q = CHAINS[name]
    model, network, grouped, executable, parameters = _exact_in_groups(build, shape, preset)
    convs = [layer for layer in network.layers if layer.kind == "conv"]
    # both 3x3 outputs in groups: the second's for the last 1x1, which reads them a pixel slot at a time
    assert set(grouped.values()) == {q} and {convs[1].name, convs[2].name} <= set(grouped)
    monkeypatch.setattr(compile_module, "plan_grouped_maps", lambda *args: {})
    spread = _compile_model(model, 3, parameters)[0]  # the same network with every map a word per pixel
    packs = [sum(isinstance(i, Pack) for i in e.program.ewp) for e in (executable, spread)]
    assert 0 < packs[0] < packs[1]  # the first 3x3 still packs the 1x1's map; the second no longer packs
    moved = [sum(i.dst.count for i in e.program.ewp if isinstance(i, Move)) for e in (executable, spread)]
    assert moved[0] < moved[1]  # no spreading of the first 3x3's output
    if preset == "through_ddr":
        shapes = [network.tensors[conv.name].shape for conv in convs[1:3]]
        assert _stored(spread) - _stored(executable) == sum(3 * oh * (ow - -(-ow // q)) for _, oh, ow, _ in shapes)


def _compile_model(model: Any, batch: int, parameters: Any) -> tuple[Any, Any, Any]:
    network, renaming = Network.from_quantized_model(model)
    network.set_batch(batch)
    executable, descriptions = compiler.compile_(HW, network, parameters)
    return executable, descriptions, renaming


def _inverted_residual(c: int, mid: int, wide: int, silu: bool = False) -> Any:
    """MobileNetV2's first blocks: 1x1 to ``c``, a 3x3 depthwise (in pixel groups), a 1x1 projection to ``mid``
    channels, the next block's 1x1 expansion to ``wide`` (ReLU6, or SiLU: a lookup), 1x1 to 8."""
    first, dw = _w(1, 1, 8, c, scale=0.3), _w(3, 3, c, 1, scale=0.3)
    project, expand, last = _w(1, 1, c, mid, scale=0.2), _w(1, 1, mid, wide, scale=0.3), _w(1, 1, wide, 8)

    def build(x: tf.Tensor) -> tf.Tensor:
        y = tf.nn.relu(tf.nn.conv2d(x, first, 1, "VALID"))
        y = tf.nn.relu6(tf.nn.depthwise_conv2d(y, dw, [1, 1, 1, 1], "SAME"))
        y = tf.nn.conv2d(y, project, 1, "VALID")
        y = tf.nn.conv2d(y, expand, 1, "VALID")
        y = y * tf.sigmoid(y) if silu else tf.nn.relu6(y)
        return tf.nn.conv2d(y, last, 1, "VALID")

    return build


POINTWISE: dict[str, tuple[Any, tuple[int, int, int], int]] = {
    # (graph, one sample's input shape, pixels per word of the depthwise and projection outputs)
    "32_16_96_odd_width": (_inverted_residual(32, 16, 96), (21, 30, 8), 4),
    "24_24_144_two_words": (_inverted_residual(24, 24, 144), (18, 17, 8), 5),
    "32_16_64_silu": (_inverted_residual(32, 16, 64, silu=True), (20, 26, 8), 4),
}


@pytest.mark.parametrize("preset", ["O1", "O5", "through_ddr"])
@pytest.mark.parametrize("name", sorted(POINTWISE))
def test_1x1_convolutions_read_a_map_left_in_pixel_groups_as_it_is(
    monkeypatch: pytest.MonkeyPatch, name: str, preset: str
) -> None:
    """A depthwise convolution's output read only by a 1x1 projection stays in pixel groups; the projection
    reads those words as they are (``p = q``, a block-diagonal tile, no PACK or MOVE) and leaves its own output
    in the same groups for the 1x1 expansion, which reads one pixel slot at a time (its GEMMs' lane offsets
    step by the projection's channels) and writes a word (or two) per pixel (lowering/conv_ungroup.py).
    Against the same network with every map a word per pixel: fewer array rows, fewer MOVEd words, and
    through DDR fewer stored words. Exact at batch 1 and 3, widths not a multiple of the pixels per word."""
    build, shape, q = POINTWISE[name]
    model, network, grouped, executable, parameters = _exact_in_groups(build, shape, preset)
    convs = [layer for layer in network.layers if layer.kind == "conv"]
    assert set(grouped.values()) == {q}
    assert {convs[1].name, convs[2].name} <= set(grouped) and convs[3].name not in grouped
    mid = network.tensors[convs[2].name].channels
    assert {g.off for g in _layer_gemms(executable, 3)} == {j * mid for j in range(q)}
    monkeypatch.setattr(compile_module, "plan_grouped_maps", lambda *args: {})
    spread = _compile_model(model, 3, parameters)[0]  # the same network with every map a word per pixel
    rows = [sum(i.x.count for i in e.program.me if isinstance(i, Gemm)) for e in (executable, spread)]
    assert rows[0] < rows[1]  # the projection: a GEMM row per q pixels
    moved = [sum(i.dst.count for i in e.program.ewp if isinstance(i, Move)) for e in (executable, spread)]
    assert moved[0] < moved[1]  # no spreading of the depthwise output
    if preset == "through_ddr":
        assert _stored(executable) < _stored(spread)
