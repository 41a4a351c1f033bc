"""Every layer kind the quantizer emits, compiled and run on the simulated device: bit for bit the golden graph."""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from pytpu import TPU_128x128_PARAMS, TpuProgram, model_execute
from pytpu.errors import CompilationError
from pytpu.isa import Add, Drain, Gemm, Load, LoadWeights, Lut, Move, Pack, Rescale, Store
from pytpu.sim import Simulator
from tests.quant_helpers import quantize, run_golden, seeded
from tests.test_quantize_layers import GRAPHS, channel_shuffle
from tpu_compiler import Network, compiler
from tpu_compiler.compiler import O1, O5, Segment, TensorAxis
from tpu_compiler.compiler import compile as compile_module
from tpu_compiler.compiler.parameters import DependencyResolutionAlgorithm, IntermediateInsertion
from tpu_compiler.compiler.rewrites import rewrite

HW = TPU_128x128_PARAMS
RNG = np.random.default_rng(7)


def _w(*shape: int, scale: float = 0.3) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def big_conv(x: tf.Tensor) -> tf.Tensor:
    """K = 9 * 130 and M = 140: several K tiles accumulate, two output tiles, 130 channels over two words."""
    y = tf.nn.relu(tf.nn.conv2d(x, _w(1, 1, 8, 130), [1, 1, 1, 1], "VALID"))
    return tf.nn.conv2d(y, _w(3, 3, 130, 140, scale=0.05), [1, 1, 1, 1], "SAME")


def strided_dilated(x: tf.Tensor) -> tf.Tensor:
    y = tf.pad(x, [[0, 0], [1, 2], [0, 3], [0, 0]])
    y = tf.nn.conv2d(y, _w(3, 3, 8, 17), [1, 2, 2, 1], "VALID")
    return tf.nn.conv2d(y, _w(3, 3, 17, 3), [1, 1, 1, 1], "SAME", dilations=[1, 2, 2, 1])


def depthwise_multiplier(x: tf.Tensor) -> tf.Tensor:
    y = tf.raw_ops.DepthwiseConv2dNative(input=x, filter=_w(3, 3, 8, 3), strides=[1, 2, 2, 1], padding="SAME")
    return tf.nn.relu6(y)


def dense_wide(x: tf.Tensor) -> tf.Tensor:
    y = tf.reduce_mean(x, axis=[1, 2])
    y = tf.nn.relu(tf.matmul(y, _w(8, 200)))
    return tf.nn.softmax(tf.matmul(y, _w(200, 1000, scale=0.1)))


def concat_scales(x: tf.Tensor) -> tf.Tensor:
    a = tf.nn.conv2d(x, _w(1, 1, 8, 5), [1, 1, 1, 1], "VALID")
    b = tf.nn.relu(x) * 3.0
    return tf.concat([a, b, x], axis=3)


def avg_pool_padding(x: tf.Tensor) -> tf.Tensor:
    return tf.nn.avg_pool2d(x, 3, 1, "SAME") + tf.nn.max_pool2d(x, 2, 1, "SAME")


def layout_mix(x: tf.Tensor) -> tf.Tensor:
    y = tf.nn.space_to_depth(x, 2)
    y = tf.tile(y[:, 1:4, :, 3:20], [1, 2, 1, 1])
    return tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [-1, 6 * 6 * 17])


EXTRA: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    f.__name__: f
    for f in (big_conv, strided_dilated, depthwise_multiplier, dense_wide, concat_scales, avg_pool_padding, layout_mix)
}
CASES = {**GRAPHS, **EXTRA, "channel_shuffle": channel_shuffle}


@cache
def _model(name: str) -> Any:
    rigid = name == "channel_shuffle"
    _, model, _ = quantize(CASES[name], seeded((8, 10, 12, 8), 0), batch=1 if rigid else None)
    return model


def _golden(model: Any, codes: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [run_golden(model, {"x:0": codes[i : i + 1]}, ["y:0"], batch=1)[0] for i in range(len(codes))]
    )


def _run(model: Any, codes: np.ndarray, parameters: Any, **kwargs: Any) -> tuple[np.ndarray, Any]:
    network, renaming = Network.from_quantized_model(model)
    network.set_batch(len(codes))
    executable, descriptions = compiler.compile_(HW, network, parameters, **kwargs)
    result = model_execute(executable, descriptions, {renaming["x:0"]: codes})
    return result.output_codes[renaming["y:0"]], result


@pytest.mark.parametrize("preset", ["O1", "O5"])
@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("name", sorted(CASES))
def test_bit_exact(name: str, batch: int, preset: str) -> None:
    model = _model(name)
    codes = model.rescale({"x:0": seeded((batch, 10, 12, 8), 3)})["x:0"]
    out, _ = _run(model, codes, {"O1": O1, "O5": O5}[preset])
    golden = _golden(model, codes)
    assert out.dtype == np.int8 and out.shape == golden.shape
    assert np.array_equal(out, golden)


def test_float_inputs_are_packed_like_rescale() -> None:
    model = _model("residual_add")
    data = seeded((2, 10, 12, 8), 5)
    network, _ = Network.from_quantized_model(model)
    network.set_batch(2)
    executable, descriptions = compiler.compile_(HW, network, O1)
    result = model_execute(executable, descriptions, {"x:0": data})
    golden = _golden(model, model.rescale({"x:0": data})["x:0"])
    assert np.array_equal(result.output_codes["y:0"], golden)


def test_user_slicing_scheme() -> None:
    model = _model("conv_bn_relu6")
    codes = model.rescale({"x:0": seeded((1, 10, 12, 8), 3)})["x:0"]
    conv = model.layers[0].name
    scheme = {conv: ({TensorAxis.HEIGHT: Segment(0, 2)}, {TensorAxis.HEIGHT: Segment(2, 5)})}
    out, _ = _run(model, codes, O1, slicing_scheme=scheme)
    assert np.array_equal(out, _golden(model, codes))


@pytest.mark.parametrize(
    "scheme, message",
    [
        ({"nowhere": ({TensorAxis.HEIGHT: Segment(0, 5)},)}, "nowhere"),
        ({"CONV": ({TensorAxis.HEIGHT: Segment(0, 2)}, {TensorAxis.HEIGHT: Segment(3, 5)})}, "CONV"),
        ({"CONV": ({TensorAxis.WIDTH: Segment(0, 2)},)}, "WIDTH"),
    ],
)
def test_impossible_slicing_scheme(scheme: dict[str, Any], message: str) -> None:
    model = _model("conv_bn_relu6")
    conv = model.layers[0].name
    scheme = {conv if k == "CONV" else k: v for k, v in scheme.items()}
    network, _ = Network.from_quantized_model(model)
    with pytest.raises(CompilationError, match=conv if message == "CONV" else message):
        compiler.compile_(HW, network, O1, slicing_scheme=scheme)


def test_unknown_layer_kind() -> None:
    network = Network()
    network.add_input("x", (1, 4, 4, 8), 0.1, 0)
    with pytest.raises(CompilationError, match="mystery"):
        network.add_layer("teleport", "mystery", ["x"], {"out": {"scale": 0.1, "zero_point": 0}})


def test_layer_too_big_to_place() -> None:
    network = Network()
    network.add_input("x", (1, 2, 2, 4096), 0.1, 0)
    weights = np.ones((3, 3, 4096, 512), np.int8)
    arrays = {
        "weights": weights,
        "bias": np.zeros(512, np.int32),
        "mult": np.ones(512, np.int64),
        "shift": np.ones(512, np.int64),
    }
    config = {"out": {"scale": 0.1, "zero_point": 0}, "pads": [1, 1, 1, 1]}
    network.add_layer("conv", "huge_conv", ["x"], config, arrays)
    network.add_output("huge_conv")
    with pytest.raises(CompilationError, match=r"huge_conv.*cache words"):
        compiler.compile_(HW, network, O1)


def test_compiling_twice_gives_identical_programs(tmp_path: Any) -> None:
    model = _model("squeeze_excite")
    files = []
    for i in range(2):
        network, _ = Network.from_quantized_model(model)
        executable, descriptions = compiler.compile_(HW, network, O1)
        path = tmp_path / f"program{i}.tpu"
        TpuProgram.from_executable(executable, descriptions).to_file(str(path))
        files.append(path.read_bytes())
    assert files[0] == files[1]


def test_user_names_when_several_denote_one_tensor() -> None:
    """An ONNX input and the no-op Cast after it map to one tensor: the program's input keeps the input's name."""
    from dnn_quant import InMemoryQuantizedModel

    model = _model("residual_add")
    anchors = {"input": "x:0", "/Cast_output_0": "x:0", "/Conv_output_0": "y:0", "logits": "y:0"}
    aliased = InMemoryQuantizedModel(model.layers, model.inputs, model.outputs, anchors)
    _, renaming = Network.from_quantized_model(aliased)
    assert renaming["x:0"] == "input" and renaming["y:0"] == "logits"


def large_then_small(x: tf.Tensor) -> tf.Tensor:
    """A 96x96 map (9216 words a sample), a residual block on it, then a stride-4 conv to a small map."""
    y = tf.nn.relu(tf.nn.conv2d(x, _w(3, 3, 8, 16, scale=0.2), [1, 1, 1, 1], "SAME"))
    y = y + tf.nn.conv2d(y, _w(1, 1, 16, 16, scale=0.2), [1, 1, 1, 1], "VALID")
    y = tf.nn.relu(tf.nn.conv2d(y, _w(4, 4, 16, 24, scale=0.1), [1, 4, 4, 1], "VALID"))
    return tf.reduce_mean(tf.nn.conv2d(y, _w(3, 3, 24, 32, scale=0.1), [1, 1, 1, 1], "SAME"), axis=[1, 2])


def _stored_words(model: Any, batch: int, parameters: Any) -> tuple[int, int]:
    """Words the program stores to DDR, and the words of every layer's output for the whole batch."""
    network, _ = Network.from_quantized_model(model)
    network.set_batch(batch)
    executable, _ = compiler.compile_(HW, network, parameters)
    stored = sum(ins.cache.count for ins in executable.program.dtl0 if isinstance(ins, Store))
    tensors = [network.tensors[layer.name] for layer in network.layers]
    return stored, batch * sum(t.positions * -(-t.channels // HW.tpu_parameters.cache_word_length) for t in tensors)


@pytest.mark.parametrize("preset", ["O5", "O1+layer_fusion", "O1"])
def test_batch_too_large_for_the_cache_runs_fused_per_sample(preset: str) -> None:
    """At batch 3 the 96x96 maps of the batch exceed a quarter of the cache. With layer fusion the leading
    layers run one sample at a time and their maps stay in the cache; without, most go through DDR."""
    parameters = {"O5": O5, "O1": O1, "O1+layer_fusion": dataclasses.replace(O1, layer_fusion=-1)}[preset]
    _, model, _ = quantize(large_then_small, seeded((4, 96, 96, 8), 0))
    codes = model.rescale({"x:0": seeded((3, 96, 96, 8), 3)})["x:0"]
    out, _ = _run(model, codes, parameters)
    assert np.array_equal(out, _golden(model, codes))
    stored, intermediate = _stored_words(model, 3, parameters)
    if parameters.layer_fusion:
        assert stored < 0.5 * intermediate
    else:
        assert stored > 0.8 * intermediate


def test_slicer_cache_share_splits_the_cache_between_bands_and_weight_stream() -> None:
    """``slicer.max_cache_utilization``: the share a layer moving bands through DDR keeps for them under O5,
    the weight stream getting the rest. Other shares give other, equally exact programs; (0, 1] is checked."""
    _, model, _ = quantize(large_then_small, seeded((4, 96, 96, 8), 0))
    codes = model.rescale({"x:0": seeded((1, 96, 96, 8), 3)})["x:0"]
    programs = []
    for share in (0.25, 1.0):
        slicer = dataclasses.replace(O5.slicer, max_cache_utilization=share)
        parameters = dataclasses.replace(O5, slicer=slicer, action_graph_data_transfer_optimization=False)
        out, _ = _run(model, codes, parameters)
        assert np.array_equal(out, _golden(model, codes))
        network, _ = Network.from_quantized_model(model)
        programs.append(compiler.compile_(HW, network, parameters)[0].program)
    assert programs[0] != programs[1]
    for share in (0.0, 1.5):
        network, _ = Network.from_quantized_model(model)
        bad = dataclasses.replace(O5, slicer=dataclasses.replace(O5.slicer, max_cache_utilization=share))
        with pytest.raises(CompilationError, match="max_cache_utilization"):
            compiler.compile_(HW, network, bad)


def wide_convolutions(x: tf.Tensor) -> tf.Tensor:
    """3x3 convolutions of 128 channels on rows of 128 pixels (several bands: a band's rows fill half the
    accumulators): about as many array cycles per pixel as DMA cycles to load and store it."""
    y = tf.nn.relu(tf.nn.conv2d(x, _w(3, 3, 128, 128, scale=0.03), [1, 1, 1, 1], "SAME"))
    return tf.nn.max_pool2d(tf.nn.conv2d(y, _w(3, 3, 128, 128, scale=0.03), [1, 1, 1, 1], "SAME"), 3, 1, "SAME")


def test_round_robin_band_buffers_overlap_loads_with_work() -> None:
    """``round_robin`` of the shared (array layers) and EWP cache schedules: two copies of the band buffers
    used in turn, so the DMA loads the next band while a unit works on this one. Without it one copy; under
    PARALLEL the program is then slower, exact either way."""
    _, model, _ = quantize(wide_convolutions, seeded((2, 48, 128, 128), 0))
    codes = model.rescale({"x:0": seeded((1, 48, 128, 128), 3)})["x:0"]
    base = dataclasses.replace(O5, action_graph_data_transfer_optimization=False)  # every band through DDR
    times = {}
    for round_robin in (True, False):
        parameters = dataclasses.replace(
            base,
            shared_cache_schedule_optimizations=dataclasses.replace(
                base.shared_cache_schedule_optimizations, round_robin=round_robin
            ),
            ewp_cache_schedule_optimizations=dataclasses.replace(
                base.ewp_cache_schedule_optimizations, round_robin=round_robin
            ),
        )
        out, result = _run(model, codes, parameters)
        assert np.array_equal(out, _golden(model, codes))
        times[round_robin] = result.execution_time_us
    assert times[True] < 0.95 * times[False], times


def work_then_weights(x: tf.Tensor) -> tf.Tensor:
    """A 3x3 convolution on a 64x64 map (~25 us of array work, few weights), then six 1x1 512-channel
    convolutions on 4x4 (up to 2,048 weight words each: loading one takes twice the array's time for it):
    their weights can all load during the first layer's work."""
    y = tf.nn.relu(tf.nn.conv2d(x, _w(3, 3, 64, 128, scale=0.03), [1, 1, 1, 1], "SAME"))
    y = tf.nn.max_pool2d(y, 16, 16, "VALID")
    for c_in in (128, 512, 512, 512, 512, 512):
        y = tf.nn.relu(tf.nn.conv2d(y, _w(1, 1, c_in, 512, scale=0.5 / np.sqrt(c_in)), [1, 1, 1, 1], "VALID"))
    return y


def _stream_depth(depth: int) -> Any:
    shared = O5.shared_cache_schedule_optimizations
    configurations = tuple(
        dataclasses.replace(c, depth=depth) if isinstance(c, IntermediateInsertion) else c
        for c in shared.configurations
    )
    return dataclasses.replace(
        O5, shared_cache_schedule_optimizations=dataclasses.replace(shared, configurations=configurations)
    )


def test_intermediate_insertion_depth_bounds_how_far_the_weight_stream_loads_ahead() -> None:
    """``IntermediateInsertion.depth``: the weight stream loads at most that many weight-loading layers ahead of
    the one computing (-1: as far as the cache allows). With depth 1 the four small layers' weights cannot all
    load during the first layer's work, so the program is slower; a depth beyond the network's weight-loading
    layers changes nothing; every program is exact; 0 and below -1 are clear errors."""
    _, model, _ = quantize(work_then_weights, seeded((2, 64, 64, 64), 0))
    codes = model.rescale({"x:0": seeded((1, 64, 64, 64), 3)})["x:0"]
    times = {}
    for depth in (-1, 1):
        out, result = _run(model, codes, _stream_depth(depth))
        assert np.array_equal(out, _golden(model, codes))
        times[depth] = result.execution_time_us
    assert times[-1] < 0.95 * times[1], times
    network, _ = Network.from_quantized_model(model)
    programs = [compiler.compile_(HW, network, _stream_depth(depth))[0].program for depth in (-1, 16)]
    assert programs[0] == programs[1]
    for depth in (0, -2):
        with pytest.raises(CompilationError, match=r"IntermediateInsertion\.depth"):
            compiler.compile_(HW, network, _stream_depth(depth))


def test_sequential_runs_layers_one_after_another_and_overlaps_units_within_each() -> None:
    """``SEQUENTIAL`` dependency resolution (O1): no instruction of a layer starts before every instruction of
    the layers before it is done, so no weights load ahead; within a layer the units still overlap (a 512-channel
    layer's first GEMMs run while its later weight tiles load). ``PARALLEL`` lets the next layers' weights load
    during a layer's work, so layers overlap and the program is faster. Both exact."""
    _, model, _ = quantize(work_then_weights, seeded((2, 64, 64, 64), 0))
    codes = model.rescale({"x:0": seeded((1, 64, 64, 64), 3)})["x:0"]
    network, _ = Network.from_quantized_model(model)
    times = {}
    for algorithm in DependencyResolutionAlgorithm:
        parameters = dataclasses.replace(O1, dependency_resolution_algorithm=algorithm)
        out, result = _run(model, codes, parameters)
        assert np.array_equal(out, _golden(model, codes))
        times[algorithm] = result.execution_time_us
        executable = compiler.compile_(HW, network, parameters)[0]
        timeline = Simulator(HW).time(executable.program)
        spans = sorted(timeline.layer_times(executable.layers).values(), key=lambda t: t.start_us)
        apart = [later.start_us >= earlier.end_us for earlier, later in itertools.pairwise(spans)]
        assert all(apart) == (algorithm is DependencyResolutionAlgorithm.SEQUENTIAL), apart
        layer_of = {(s.unit, i): s.name for s in executable.layers for i in range(s.start, s.stop)}
        first_gemm: dict[str, int] = {}
        last_load: dict[str, int] = {}
        for e in timeline.events:
            name = layer_of[(e.unit.name, e.index)]
            if e.queue == "ME.array":
                first_gemm[name] = min(first_gemm.get(name, e.start), e.start)
            elif e.queue in ("DTL0", "DTL1"):
                last_load[name] = max(last_load.get(name, e.end), e.end)
        overlapped = [name for name, start in first_gemm.items() if start < last_load.get(name, -1)]
        if algorithm is DependencyResolutionAlgorithm.SEQUENTIAL:  # (PARALLEL: loaded during earlier layers)
            assert len(overlapped) >= 5, overlapped  # the 512-channel layers
    assert times[DependencyResolutionAlgorithm.PARALLEL] < 0.9 * times[DependencyResolutionAlgorithm.SEQUENTIAL]


W_SE = (_w(3, 3, 8, 32, scale=0.2), _w(32, 8), _w(8, 32))


def squeeze_excite_large(x: tf.Tensor) -> tf.Tensor:
    """EfficientNet's squeeze-and-excitation on a 112x112 map: the swish output stays in the cache for the
    final multiply; the global mean reads it in place."""
    y = tf.nn.conv2d(x, W_SE[0], [1, 1, 1, 1], "SAME")
    y = y * tf.sigmoid(y)
    s = tf.sigmoid(tf.matmul(tf.nn.relu(tf.matmul(tf.reduce_mean(y, axis=[1, 2]), W_SE[1])), W_SE[2]))
    return y * s[:, None, None, :]


def test_mirror_spreads_activations_over_both_channels() -> None:
    """Under ``MIRROR`` the tensors between layers alternate between the two DDR channels, each stored and
    loaded by its channel's lane (the network's input and output stay on channel 0); under ``NONE`` every
    activation is on channel 0 and moved by DTL0. Both programs are exact."""
    _, model, _ = quantize(large_then_small, seeded((2, 96, 96, 8), 0))
    codes = model.rescale({"x:0": seeded((1, 96, 96, 8), 3)})["x:0"]
    for parameters in (O5, O1):
        parameters = dataclasses.replace(parameters, action_graph_data_transfer_optimization=False)
        out, _ = _run(model, codes, parameters)
        assert np.array_equal(out, _golden(model, codes))
        network, _ = Network.from_quantized_model(model)
        program = compiler.compile_(HW, network, parameters)[0].program
        lane1 = {ins.ch for ins in program.dtl1 if isinstance(ins, Store)}
        lane0 = {ins.ch for ins in program.dtl0 if isinstance(ins, Store)}
        assert (lane0, lane1) == (({0}, {1}) if parameters.ram_io_balancing.name == "MIRROR" else ({0}, set()))


def middle_convolutions(x: tf.Tensor) -> tf.Tensor:
    """Two 3x3 convolutions of 128 channels on a 16x32 map: one band each fits the cache."""
    y = tf.nn.relu(tf.nn.conv2d(x, _w(3, 3, 128, 128, scale=0.03), [1, 1, 1, 1], "SAME"))
    return tf.nn.conv2d(y, _w(3, 3, 128, 128, scale=0.03), [1, 1, 1, 1], "SAME")


def test_spatial_limit_cuts_layers_through_ddr_into_bands_that_pipeline() -> None:
    """``slicer.spatial_limit``: a convolution moving its maps through DDR is cut into that many bands, so its
    first load and last store overlap the array's work on the others (one band: nothing overlaps)."""
    _, model, _ = quantize(middle_convolutions, seeded((2, 16, 32, 128), 0))
    codes = model.rescale({"x:0": seeded((1, 16, 32, 128), 3)})["x:0"]
    base = dataclasses.replace(O5, action_graph_data_transfer_optimization=False)
    times = {}
    for limit in (1, 4):
        out, result = _run(
            model, codes, dataclasses.replace(base, slicer=dataclasses.replace(base.slicer, spatial_limit=limit))
        )
        assert np.array_equal(out, _golden(model, codes))
        times[limit] = result.execution_time_us
    assert times[4] < 0.9 * times[1], times  # measured 19.2 against 23.6 us


def branch_at_the_cut(x: tf.Tensor) -> tf.Tensor:
    """Two 64x64 maps (4,096 words a sample, a quarter of the cache for three samples), the first read again
    after the second by a stride-4 convolution: a cut after the second map is crossed by both."""
    first = tf.nn.relu(tf.nn.conv2d(x, _w(3, 3, 8, 16, scale=0.2), 1, "SAME"))
    second = tf.nn.relu(tf.nn.conv2d(first, _w(1, 1, 16, 16, scale=0.3), 1, "VALID"))
    pooled = tf.nn.max_pool2d(second, 4, 4, "VALID")
    strided = tf.nn.conv2d(first, _w(4, 4, 16, 16, scale=0.05), 4, "VALID")
    return tf.nn.conv2d(tf.concat([pooled, strided], axis=3), _w(1, 1, 32, 8, scale=0.2), 1, "VALID")


@pytest.mark.parametrize("depth, branches, layers", [(10, 4, 1), (0, 4, 2), (10, 0, 2)])
def test_slicer_ends_the_per_sample_passes_at_the_cut_fewest_tensors_cross(
    monkeypatch: pytest.MonkeyPatch, depth: int, branches: int, layers: int
) -> None:
    """The per-sample passes run to the last layer whose batch-wide map exceeds a quarter of the cache (the
    second map); the slicer looks back ``analysis_depth`` layers for a cut fewer tensors cross (after the
    first map, which alone crosses it), taking none crossed by more than ``analysis_depth_branch``. Exact
    either way."""
    _, model, _ = quantize(branch_at_the_cut, seeded((4, 64, 64, 8), 0))
    codes = model.rescale({"x:0": seeded((3, 64, 64, 8), 3)})["x:0"]
    lower, splits = compile_module._lower, []

    def record(ctx: Any, order: Any, split: int) -> None:
        splits.append(split)
        lower(ctx, order, split)

    monkeypatch.setattr(compile_module, "_lower", record)
    slicer = dataclasses.replace(O5.slicer, analysis_depth=depth, analysis_depth_branch=branches)
    out, _ = _run(model, codes, dataclasses.replace(O5, slicer=slicer))
    assert np.array_equal(out, _golden(model, codes))
    assert splits == [layers]


def test_cache_schedule_search_honours_its_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """While a layer lacks room beside the kept activations the search lowers again keeping fewer; past
    ``time_limit_seconds`` it stops and keeps none. A layer that reports too little room the first time it
    is lowered with kept tensors stands in for a large network's."""
    _, model, _ = quantize(squeeze_excite_large, seeded((2, 112, 112, 8), 0))
    codes = model.rescale({"x:0": seeded((1, 112, 112, 8), 3)})["x:0"]
    stored = _stored_words(model, 1, O1)[0]
    lower, calls = compile_module._lower, []

    def lacks_room_once(ctx: Any, order: Any, split: int) -> None:
        calls.append(bool(ctx.resident))
        if len(calls) == 1 and ctx.resident:
            ctx.emitter.layer = order[-1].name
            ctx.live[order[-1].name] = [next(iter(ctx.buffers))]
            raise CompilationError("too little room")
        lower(ctx, order, split)

    monkeypatch.setattr(compile_module, "_lower", lacks_room_once)
    hurried = dataclasses.replace(
        O1,
        shared_cache_schedule_optimizations=dataclasses.replace(
            O1.shared_cache_schedule_optimizations,
            configurations=(IntermediateInsertion(depth=16, time_limit_seconds=1e-9),),
        ),
    )
    with pytest.warns(UserWarning, match="time_limit_seconds"):
        out, _ = _run(model, codes, hurried)
    assert calls == [True, False]  # lowered again keeping nothing
    assert np.array_equal(out, _golden(model, codes))
    calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _stored_words(model, 1, O1)[0] == stored  # no limit: the search lowers again, no warning
    assert calls[0] and calls[1]
    calls.clear()
    with pytest.warns(UserWarning):
        assert _stored_words(model, 1, hurried)[0] > stored


def _checked_executable(graph: Callable[[tf.Tensor], tf.Tensor], shape: tuple[int, ...], parameters: Any) -> Any:
    """Quantize ``graph`` on inputs of ``shape`` (one sample), check its program exact at batch 1, return it."""
    _, model, _ = quantize(graph, seeded((2, *shape), 0))
    codes = model.rescale({"x:0": seeded((1, *shape), 3)})["x:0"]
    network, renaming = Network.from_quantized_model(model)
    executable, descriptions = compiler.compile_(HW, network, parameters)
    result = model_execute(executable, descriptions, {renaming["x:0"]: codes})
    assert np.array_equal(result.output_codes[renaming["y:0"]], _golden(model, codes))
    return executable


def test_each_band_loads_its_first_weight_tile_before_the_last_drain_of_the_band_before() -> None:
    """The ME issues in order and a DRAIN waits for the array to be free, so a LOADW behind a band's last DRAIN
    would leave the array idle while the tile loads. Only a layer's first LOADW may follow a DRAIN."""
    parameters = dataclasses.replace(O5, action_graph_data_transfer_optimization=False)
    parameters = dataclasses.replace(parameters, slicer=dataclasses.replace(parameters.slicer, spatial_limit=4))
    me = _checked_executable(middle_convolutions, (16, 32, 128), parameters).program.me
    drains = sum(isinstance(ins, Drain) for ins in me)
    behind_drain = sum(isinstance(a, Drain) and isinstance(b, LoadWeights) for a, b in itertools.pairwise(me))
    assert drains >= 8 and behind_drain == 1  # several bands in each of two layers; the second layer's start


W_PACKED = (_w(1, 1, 64, 64, scale=0.1), _w(3, 3, 64, 128, scale=0.05))


def packed_after_pointwise(x: tf.Tensor) -> tf.Tensor:
    """A 3x3 convolution of 64 to 128 channels (two taps packed per word) reading a kept map, in bands."""
    y = tf.nn.relu(tf.nn.conv2d(x, W_PACKED[0], [1, 1, 1, 1], "VALID"))
    return tf.nn.relu(tf.nn.conv2d(y, W_PACKED[1], [1, 1, 1, 1], "SAME"))


def test_a_bands_packed_rows_come_before_the_next_bands_input_on_the_ewp() -> None:
    """The EWP runs in order: a band's PACK queued behind the next band's input MOVE (which waits for this
    band's GEMMs to free its buffer) would leave the array idle. Each PACK follows its own band's MOVE."""
    ewp = _checked_executable(packed_after_pointwise, (48, 48, 64), O5).program.ewp
    packs = [i for i, ins in enumerate(ewp) if isinstance(ins, Pack)]
    assert len(packs) >= 3
    for i in packs:
        pack = ewp[i]
        move = next(ins for ins in reversed(ewp[:i]) if isinstance(ins, Move))
        assert pack.src <= move.dst.base < pack.src + pack.h * pack.row, (move, pack)


W_STRIDED = (_w(1, 1, 64, 256, scale=0.1), _w(1, 1, 256, 512, scale=0.05), _w(1, 1, 512, 64, scale=0.05))


def strided_pointwise(x: tf.Tensor) -> tf.Tensor:
    """ResNet's stage entry: a stride-2 1x1 convolution of a kept 28x28x256 map into a kept 14x14x512 one."""
    y = tf.nn.relu(tf.nn.conv2d(x, W_STRIDED[0], [1, 1, 1, 1], "VALID"))
    y = tf.nn.relu(tf.nn.conv2d(y, W_STRIDED[1], [1, 2, 2, 1], "VALID"))
    return tf.nn.conv2d(y, W_STRIDED[2], [1, 1, 1, 1], "VALID")


def test_a_layer_reading_and_writing_kept_maps_in_place_gets_bands_of_all_its_rows() -> None:
    """No band buffers are counted for a kept input read in place and a kept output drained into in place,
    so the strided convolution is one band: every GEMM multiplies all 196 output pixels by its tile (two
    bands of 98 would load each 128x128 tile twice and wait for it)."""
    executable = _checked_executable(strided_pointwise, (28, 28, 64), O5)
    on_me = [s for s in executable.layers if s.unit == "ME"]
    spans = [s for s in on_me if s.name == on_me[1].name]  # the strided convolution's
    me = executable.program.me
    rows = {ins.x.count for s in spans for ins in me[s.start : s.stop] if isinstance(ins, Gemm)}
    assert rows == {14 * 14}


def test_a_layers_last_drain_waits_for_the_next_layers_first_weight_load() -> None:
    """Between two convolutions whose intermediate stays in the cache, the first layer's last DRAIN is emitted
    after the second layer's first LOADW, so no LOADW queues behind a DRAIN on the ME."""
    me = _checked_executable(middle_convolutions, (16, 32, 128), O5).program.me
    assert sum(isinstance(ins, Drain) for ins in me) >= 2
    assert not any(isinstance(a, Drain) and isinstance(b, LoadWeights) for a, b in itertools.pairwise(me))


W_RESIDUAL = (_w(1, 1, 64, 32, scale=0.1), _w(3, 3, 32, 32, scale=0.05), _w(1, 1, 32, 64, scale=0.1))


def residual_blocks(x: tf.Tensor) -> tf.Tensor:
    """Two bottleneck blocks sharing weights: 1x1, 3x3, 1x1, then the sum with the block's input."""
    y = tf.nn.relu(tf.nn.conv2d(x, _w(1, 1, 8, 64, scale=0.3), 1, "VALID"))
    for _ in range(2):
        branch = tf.nn.relu(tf.nn.conv2d(y, W_RESIDUAL[0], 1, "VALID"))
        branch = tf.nn.relu(tf.nn.conv2d(branch, W_RESIDUAL[1], 1, "SAME"))
        y = tf.nn.relu(y + tf.nn.conv2d(branch, W_RESIDUAL[2], 1, "VALID"))
    return y


def test_a_residual_sum_overwrites_an_operand_read_for_the_last_time() -> None:
    """The sum of a block takes the cache words of the branch's output (read for the last time by the sum),
    so the block's input, the branch and the sum are never three copies in the cache: each ADD writes the
    words it reads."""
    executable = _checked_executable(residual_blocks, (12, 16, 8), O5)
    spans = [s for s in executable.layers if s.unit == "EWP"]
    sums = [s for s in spans if any(isinstance(ins, Add) for ins in executable.program.ewp[s.start : s.stop])]
    first = [ins for ins in executable.program.ewp[sums[0].start : sums[0].stop] if isinstance(ins, Add)]
    assert len(sums) == 2 and first  # the second sum is the network's output, written to its own buffer
    assert all(ins.dst in (ins.a, ins.b) for ins in first)


def test_a_strided_pointwise_convolution_loads_only_the_pixels_it_reads() -> None:
    """With no tensor kept in the cache, the stride-2 1x1 convolution of the 28x28x256 map reads one pixel in
    four from DDR, and its loads bring just those (14 x 14 pixels of two words), not the whole rows."""
    parameters = dataclasses.replace(O1, action_graph_data_transfer_optimization=False)
    executable = _checked_executable(strided_pointwise, (28, 28, 64), parameters)
    spans = [s for s in executable.layers if s.unit == "DTL0"]
    strided = [s for s in spans if s.name == [s.name for s in executable.layers if s.unit == "ME"][1]]
    loads = [ins for s in strided for ins in executable.program.dtl0[s.start : s.stop] if isinstance(ins, Load)]
    assert loads and sum(ins.cache.count for ins in loads) == 14 * 14 * 2


W_WIDE_RESIDUAL = (_w(1, 1, 8, 256, scale=0.3), _w(1, 1, 256, 256, scale=0.05), _w(1, 1, 256, 128, scale=0.05))


def wide_residual(x: tf.Tensor) -> tf.Tensor:
    """A sum of two kept 256-channel maps (two words per pixel) between 1x1 convolutions."""
    y = tf.nn.relu(tf.nn.conv2d(x, W_WIDE_RESIDUAL[0], 1, "VALID"))
    y = tf.nn.relu(y + tf.nn.conv2d(y, W_WIDE_RESIDUAL[1], 1, "VALID"))
    return tf.nn.conv2d(y, W_WIDE_RESIDUAL[2], 1, "VALID")


def test_a_sum_of_kept_maps_of_several_words_per_pixel_goes_word_by_word() -> None:
    """The convolution before drains its output tile by tile (a word each) and the one after reads a K tile
    (a word) at a time: the ADD takes one word of every pixel per instruction, so it starts on the first
    drained tile and the next convolution on the first summed word."""
    executable = _checked_executable(wide_residual, (10, 12, 8), O5)
    adds = [ins for ins in executable.program.ewp if isinstance(ins, Add)]
    assert len(adds) == 2
    assert [ins.dst.dims for ins in adds] == [((120, 2),)] * 2
    assert adds[1].dst.base == adds[0].dst.base + 1


W_HUGE_DENSE = (_w(8, 2048, scale=0.3), _w(2048, 1536, scale=0.02))


def huge_dense(x: tf.Tensor) -> tf.Tensor:
    """A 2048 x 1536 dense layer: 3 MB of weights, more than the weight stream holds at once."""
    y = tf.nn.relu(tf.matmul(tf.reduce_mean(x, axis=[1, 2]), W_HUGE_DENSE[0]))
    return tf.matmul(y, W_HUGE_DENSE[1])


def test_a_layers_next_weight_group_loads_before_its_output_store() -> None:
    """The dense layer's weights go in several groups of output channels; each group's outputs are stored to
    DDR (the network's output) on the activations' lane.  A lane runs in order: each group's weight loads
    come before the previous group's store, which waits for its drain, so none follows the store of the
    group before the last."""
    executable = _checked_executable(huge_dense, (2, 2, 8), O5)
    dense = [s for s in executable.layers if s.unit == "ME"][-1].name
    lane = executable.program.dtl0
    span = next(s for s in executable.layers if s.name == dense and s.unit == "DTL0")
    mine = [lane[i] for i in range(span.start, span.stop)]
    stores = [i for i, ins in enumerate(mine) if isinstance(ins, Store)]
    assert len(stores) >= 2  # one per weight group
    assert any(isinstance(ins, Load) for ins in mine[: stores[-2]])
    assert not any(isinstance(ins, Load) for ins in mine[stores[-2] :])


def test_a_sum_in_pixel_chunks_goes_word_by_word_within_each() -> None:
    """A 16x20 map of 256 channels is summed in chunks of pixels (the convolutions take it in bands); within a
    chunk each ADD takes one word of every pixel, so the next convolution's first K tile of the chunk (its
    first word) does not wait for the second."""
    executable = _checked_executable(wide_residual, (16, 20, 8), O5)
    adds = [ins for ins in executable.program.ewp if isinstance(ins, Add)]
    assert len(adds) >= 4 and len(adds) % 2 == 0
    assert all(len(ins.dst.dims) == 1 and ins.dst.dims[0][1] == 2 for ins in adds)
    assert sum(ins.dst.count for ins in adds) == 16 * 20 * 2


def conv_then_lookup(x: tf.Tensor) -> tf.Tensor:
    """A convolution, its activation as a lookup, and a convolution reading that."""
    y = tf.sigmoid(tf.nn.conv2d(x, _w(3, 3, 16, 128, scale=0.1), [1, 1, 1, 1], "SAME"))
    return tf.nn.conv2d(y, _w(3, 3, 128, 32, scale=0.05), [1, 2, 2, 1], "SAME")


def test_layer_fusion_looks_up_a_convolutions_output_bands_before_storing_them() -> None:
    """``layer_fusion``: a lookup that is a convolution's only reader is applied to each output band the
    convolution drains, and the band is stored as the lookup's output, so the convolution's own map makes
    no DDR round trip. Exact either way; fused, the program moves one map less through DDR and is faster."""
    _, model, _ = quantize(conv_then_lookup, seeded((2, 24, 32, 16), 0))
    codes = model.rescale({"x:0": seeded((2, 24, 32, 16), 3)})["x:0"]
    through_ddr = dataclasses.replace(O5, action_graph_data_transfer_optimization=False)
    stored, times = {}, {}
    for fusion in (-1, 0):
        parameters = dataclasses.replace(through_ddr, layer_fusion=fusion)
        for batch in (2, 1):
            out, result = _run(model, codes[:batch], parameters)
            assert np.array_equal(out, _golden(model, codes[:batch]))
        network, _ = Network.from_quantized_model(model)
        program = compiler.compile_(HW, network, parameters)[0].program
        stored[fusion] = sum(ins.ddr.count for ins in (*program.dtl0, *program.dtl1) if isinstance(ins, Store))
        times[fusion] = result.execution_time_us
    assert stored[0] - stored[-1] == 24 * 32  # the convolution's map: a word per pixel, not stored
    assert times[-1] < times[0], times


W_SPLIT = (_w(1, 1, 8, 32, scale=0.2), _w(3, 3, 16, 16, scale=0.1), _w(1, 1, 48, 16, scale=0.1))


def split_concat_block(x: tf.Tensor) -> tf.Tensor:
    """YOLOv8's C2f block: a 1x1 convolution split in two halves, a residual 3x3 on the second, the halves and
    the sum concatenated (three scales), and a 1x1 convolution of that."""
    y = tf.nn.relu(tf.nn.conv2d(x, W_SPLIT[0], 1, "VALID"))
    first, second = tf.split(y, 2, axis=3)
    summed = second + tf.nn.relu(tf.nn.conv2d(second, W_SPLIT[1], 1, "SAME"))
    return tf.nn.conv2d(tf.concat([first, second, summed], axis=3), W_SPLIT[2], 1, "VALID")


def test_layout_layers_and_concatenations_of_kept_maps_read_and_write_them_in_place() -> None:
    """Every map stays in the cache: each split half is one MOVE of its lanes per pixel out of the kept map, and
    the concatenation one MOVE per run of lanes and pixel into the kept output's lanes (the two halves, lanes
    0-31 of one map, are one run; then the rescale of the sources of another scale, in place there); nothing
    is copied into buffers first."""
    executable = _checked_executable(split_concat_block, (10, 12, 8), O1)  # (O5 interleaves the EWP layers)
    program = executable.program
    layers = {span.name: program.ewp[span.start : span.stop] for span in executable.layers if span.unit == "EWP"}
    concat = next(ins for name, ins in layers.items() if "concat" in name)
    moves = [ins for ins in concat if isinstance(ins, Move)]
    assert sum(ins.dst.count for ins in moves) == 2 * 10 * 12
    assert sorted((ins.dst_off, ins.len) for ins in moves) == [(0, 32), (32, 16)]
    assert all(isinstance(ins, (Move, Rescale)) for ins in concat)
    for name in (name for name in layers if "split" in name):
        assert sum(ins.dst.count for ins in layers[name] if isinstance(ins, Move)) == 10 * 12


W_TWO_SCALES = (_w(1, 1, 8, 24, scale=0.05), _w(1, 1, 8, 40, scale=0.5), _w(1, 1, 64, 8, scale=0.1))


def two_scale_concat(x: tf.Tensor) -> tf.Tensor:
    """A concatenation whose first source has a smaller range than the output (so a different scale)."""
    small = tf.nn.relu(tf.nn.conv2d(x, W_TWO_SCALES[0], 1, "VALID"))
    large = tf.nn.relu(tf.nn.conv2d(x, W_TWO_SCALES[1], 1, "VALID"))
    return tf.nn.conv2d(tf.concat([small, large], axis=3), W_TWO_SCALES[2], 1, "VALID")


@pytest.mark.parametrize("preset", [O1, O5], ids=["O1", "O5"])
def test_a_concatenation_rescales_its_first_source_straight_from_it(preset: Any) -> None:
    """The first source's lanes keep their offset in the output: one RESCALE reads them from the source and
    writes the output's lanes, with no MOVE first; the other source is moved (and rescaled in place if need be)."""
    executable = _checked_executable(two_scale_concat, (6, 7, 8), preset)
    program = executable.program
    concat = [
        ins
        for span in executable.layers
        if span.unit == "EWP" and "concat" in span.name
        for ins in program.ewp[span.start : span.stop]
    ]
    first = [ins for ins in concat if isinstance(ins, Rescale) and ins.off == 0]
    assert sum(ins.dst.count for ins in first) == 6 * 7
    assert all(ins.a != ins.dst and ins.len == 24 for ins in first)
    moves = [ins for ins in concat if isinstance(ins, Move)]
    assert {ins.dst_off for ins in moves} == {24} and sum(ins.dst.count for ins in moves) == 6 * 7


W_DENSE = (_w(1, 1, 8, 40, scale=0.5), _w(3, 3, 40, 16, scale=0.01), _w(1, 1, 56, 8, scale=0.1))


def dense_layer(x: tf.Tensor) -> tf.Tensor:
    """DenseNet's layer: a map and a 3x3 convolution of it concatenated, the map of the larger range (so of the
    output's scale), then read by a 1x1 convolution."""
    features = tf.nn.relu(tf.nn.conv2d(x, W_DENSE[0], 1, "VALID"))
    grown = tf.nn.relu(tf.nn.conv2d(features, W_DENSE[1], 1, "SAME"))
    return tf.nn.conv2d(tf.concat([features, grown], axis=3), W_DENSE[2], 1, "VALID")


def _fallthrough(shared: bool, ewp: bool) -> Any:
    """O5 with the shared and EWP cache schedules' ``fallthrough_patch`` as given."""
    shared_schedule, ewp_schedule = O5.shared_cache_schedule_optimizations, O5.ewp_cache_schedule_optimizations
    return dataclasses.replace(
        O5,
        shared_cache_schedule_optimizations=dataclasses.replace(shared_schedule, fallthrough_patch=shared),
        ewp_cache_schedule_optimizations=dataclasses.replace(ewp_schedule, fallthrough_patch=ewp),
    )


def _concat_instructions(executable: Any) -> list[Any]:
    return [
        ins
        for span in executable.layers
        if span.unit == "EWP" and "concat" in span.name
        for ins in executable.program.ewp[span.start : span.stop]
    ]


@pytest.mark.parametrize("fallthrough", [True, False])
def test_a_concatenation_falls_through_onto_its_first_source_with_fallthrough_patch(fallthrough: bool) -> None:
    """With the EWP schedule's ``fallthrough_patch`` the concatenation's output takes the words of its first
    source (kept, of the output's scale, read for the last time, as many words per pixel): those channels are
    not moved, only the second source's lanes are written (moved and rescaled); without it every lane is."""
    concat = _concat_instructions(_checked_executable(dense_layer, (9, 11, 8), _fallthrough(False, fallthrough)))
    moved = sorted({(ins.dst_off, ins.len) for ins in concat if isinstance(ins, Move)})
    assert moved == ([(40, 16)] if fallthrough else [(0, 40), (40, 16)])
    assert sum(ins.dst.count for ins in concat if isinstance(ins, Move)) == 9 * 11 * len(moved)
    assert {(ins.off, ins.len) for ins in concat if isinstance(ins, Rescale)} == {(40, 16)}


@pytest.mark.parametrize("fallthrough", [True, False])
def test_a_convolution_falls_through_to_its_lanes_in_a_concatenation_with_fallthrough_patch(fallthrough: bool) -> None:
    """With the shared schedule's ``fallthrough_patch`` a convolution whose one-word output only a concatenation
    reads writes it at the lanes it has there (40-55), in the cache or through DDR: the concatenation rescales it
    straight from it, one pass with no MOVE; without it the output sits at lanes 0-15 and is moved, then rescaled
    in place."""
    executable = _checked_executable(dense_layer, (9, 11, 8), _fallthrough(fallthrough, True))
    concat = _concat_instructions(executable)
    rescales = [ins for ins in concat if isinstance(ins, Rescale)]
    assert {(ins.off, ins.len) for ins in rescales} == {(40, 16)}
    assert sum(ins.dst.count for ins in rescales) == 9 * 11
    moves = [ins for ins in concat if isinstance(ins, Move)]
    if fallthrough:
        assert not moves and all(ins.a != ins.dst for ins in rescales)
    else:
        assert {(ins.src_off, ins.dst_off) for ins in moves} == {(0, 40)} and all(ins.a == ins.dst for ins in rescales)
    spread = [ins for ins in executable.program.ewp if isinstance(ins, Move) and ins not in moves]  # pixel groups
    written = {ins.off for ins in executable.program.me if isinstance(ins, Drain) and ins.m == 16}
    written |= {ins.dst_off for ins in spread if ins.len == 16}
    assert written == {40 if fallthrough else 0}
    through_ddr = dataclasses.replace(_fallthrough(fallthrough, True), action_graph_data_transfer_optimization=False)
    concat = _concat_instructions(_checked_executable(dense_layer, (9, 11, 8), through_ddr))  # stored at its lanes
    assert any(isinstance(ins, Move) and ins.len == 16 for ins in concat) != fallthrough


@pytest.mark.parametrize("preset", [O1, O5], ids=["O1", "O5"])
def test_a_concatenation_reads_split_halves_from_the_split_map(preset: Any) -> None:
    """C2f's concatenation takes the split halves' lanes from the map the split cuts (lanes 0-15 and 16-31
    stay where they are: one MOVE or RESCALE of lanes 0-31 for both, the halves being one map, no lane
    shift); the first half, read by the concatenation alone, is no longer computed, the second (read by the
    residual branch too) still is."""
    executable = _checked_executable(split_concat_block, (10, 12, 8), preset)
    program = executable.program
    spans = [span for span in executable.layers if span.unit == "EWP" and span.stop > span.start]
    assert len([span for span in spans if "split" in span.name]) == 1
    concat = [ins for span in spans if "concat" in span.name for ins in program.ewp[span.start : span.stop]]
    looked = [(ins.off, ins.len) for ins in concat if isinstance(ins, Rescale) and ins.a != ins.dst]  # from a source
    lanes = [(ins.src_off, ins.dst_off, ins.len) for ins in concat if isinstance(ins, Move)]
    assert sorted({*lanes, *((off, off, n) for off, n in looked)}) == [(0, 0, 32), (0, 32, 16)]


def excite_reshaped(x: tf.Tensor) -> tf.Tensor:
    """Keras EfficientNet's squeeze-and-excitation as converted from ONNX: the channel means go (1, C) ->
    (1, C, 1, 1) -> (1, 1, 1, C) before scaling the map."""
    means = tf.reshape(tf.reshape(tf.reduce_mean(x, axis=[1, 2]), [-1, 8, 1, 1]), [-1, 1, 1, 8])
    return x * tf.sigmoid(means)


@pytest.mark.parametrize("preset", [O1, O5], ids=["O1", "O5"])
def test_a_reshape_of_a_reshape_is_one_reshape_a_view_of_the_means(preset: Any) -> None:
    """The two reshapes become one, (1, C) -> (1, 1, 1, C), whose words are the means' (a view): no layout
    layer moves a byte; exact."""
    _, model, _ = quantize(excite_reshaped, seeded((2, 6, 7, 8), 0))
    network, _ = Network.from_quantized_model(model)
    reshapes = [layer for layer in rewrite(network, HW).layers if layer.get("op") == "Reshape"]
    assert len([layer for layer in network.layers if layer.get("op") == "Reshape"]) == 2 and len(reshapes) == 1
    executable = _checked_executable(excite_reshaped, (6, 7, 8), preset)
    assert not [span for span in executable.layers if span.unit == "EWP" and "Reshape" in span.name]


W_LOOKUP = (_w(3, 3, 8, 64, scale=0.2), _w(1, 1, 64, 8, scale=0.1))


def conv_sigmoid_conv(x: tf.Tensor) -> tf.Tensor:
    return tf.nn.conv2d(tf.sigmoid(tf.nn.conv2d(x, W_LOOKUP[0], 1, "SAME")), W_LOOKUP[1], 1, "VALID")


@pytest.mark.parametrize("stream", [True, False])
def test_a_lookup_table_loads_through_the_weight_stream_ahead_of_its_layer(stream: bool) -> None:
    """With the weight stream (O5) a lookup layer's table goes where weights go, so its load waits for nothing
    of the layers before (in the layer's own buffers it waits until the convolution before, whose band buffers
    held those words, is done with them); exact either way. Maps through DDR, the lookup a layer of its own."""
    parameters = dataclasses.replace(O5, layer_fusion=0, action_graph_data_transfer_optimization=False)
    if not stream:
        schedule = dataclasses.replace(parameters.shared_cache_schedule_optimizations, configurations=())
        parameters = dataclasses.replace(parameters, shared_cache_schedule_optimizations=schedule)
    program = _checked_executable(conv_sigmoid_conv, (24, 64, 8), parameters).program
    table = next(ins.table for ins in program.ewp if isinstance(ins, Lut))
    loads = [
        ins
        for lane in (program.dtl0, program.dtl1)
        for ins in lane
        if isinstance(ins, Load) and ins.cache.base == table and ins.cache.count == 2  # 256 entries
    ]
    assert len(loads) == 1 and (not loads[0].deps) == stream
