"""``compile_``: Network -> (Executable, TensorDescriptions), as passes over one instruction list.

1. views: transposes folded into the host's packing, layout layers that are views (``views.py``);
2. memory plan: every other tensor gets a DDR region (activations on channel 0; constants after them,
   or on channel 1 under ``BalancingMode.MIRROR``);
3. lowering: each layer's rule (``tpu_compiler.lowering.RULES``) emits its instructions in program order;
4. dependency resolution (``schedule.resolve``) per ``dependency_resolution_algorithm``;
5. the Executable: streams, the constant segment, the layer side table, and the TensorDescriptions under
   the user's names.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Mapping

from pytpu.errors import CompilationError
from pytpu.executable import DdrSegment, Executable, TensorDescription
from pytpu.isa import Instruction, LayerSpan, Program, Unit
from pytpu.params import ModelParameters
from tpu_compiler.compiler.concat_lanes import plan_concat_lanes
from tpu_compiler.compiler.context import Buffer, ConstantLane, Context
from tpu_compiler.compiler.grouped_maps import plan_grouped_maps
from tpu_compiler.compiler.memory import Constants
from tpu_compiler.compiler.parameters import (
    BalancingMode,
    CompileParameters,
    DependencyResolutionAlgorithm,
    IntermediateInsertion,
    SubgraphSlicerParameters,
)
from tpu_compiler.compiler.presets import DEFAULT
from tpu_compiler.compiler.reorder import reorder
from tpu_compiler.compiler.rewrites import rewrite
from tpu_compiler.compiler.schedule import resolve
from tpu_compiler.compiler.slicing import SlicingScheme, check_names
from tpu_compiler.compiler.views import Views, plan_views
from tpu_compiler.lowering import RULES, epilogue
from tpu_compiler.network import Layer, Network, concat_lanes, concatenates_channels

ACTIVATION_CHANNEL = 0


def compile_(
    hardware_parameters: ModelParameters,
    network: Network,
    parameters: CompileParameters = DEFAULT,
    slicing_scheme: SlicingScheme | None = None,
) -> tuple[Executable, dict[str, TensorDescription]]:
    """Compile ``network`` for the platform ``hardware_parameters`` with ``parameters`` (O1, O5, or custom)."""
    hw, net = hardware_parameters, network
    cwl = hw.tpu_parameters.cache_word_length
    unknown = [(layer.name, layer.kind) for layer in net.layers if layer.kind not in RULES]
    if unknown:
        raise CompilationError(f"no lowering rule for layers {unknown} (known kinds: {sorted(RULES)})")
    check_names(slicing_scheme, {layer.name for layer in net.layers})
    share = float(parameters.slicer.max_cache_utilization)
    if not 0 < share <= 1:
        raise CompilationError(f"slicer.max_cache_utilization must be in (0, 1], got {share}")
    depth = _stream_depth(parameters)
    net = rewrite(net, hw)
    views = plan_views(net, cwl)
    mirror = parameters.ram_io_balancing is BalancingMode.MIRROR and hw.ddr.channels > 1
    io = {current for current, _ in views.inputs.values()} | _held_outputs(views)
    grouped = plan_grouped_maps(net, views, hw, slicing_scheme, io)
    buffers, activation_words = _plan_ddr(
        net, views, cwl, 2 if mirror else 1, hw.tpu_parameters.cache_words // 2, io, grouped
    )
    if parameters.shared_cache_schedule_optimizations.fallthrough_patch:
        for name, lane in plan_concat_lanes(net, views, cwl, io).items():
            buffers[name] = dataclasses.replace(buffers[name], lane=lane)
    excluded: set[str] = set()
    deadline = _search_deadline(parameters)
    keep = parameters.action_graph_data_transfer_optimization
    gathers: dict[tuple[object, ...], list[Instruction]] = {}  # layout moves: the same in every attempt
    order = [layer for layer in net.layers if layer.name not in views.skipped]
    split = _sample_major_prefix(order, buffers, net, hw.tpu_parameters.cache_words, parameters.layer_fusion)
    split = _cut_fewest_branches(order, views, split, parameters.slicer)
    while True:
        lanes = _constant_lanes(cwl, mirror, activation_words)
        ctx = Context(
            hw,
            buffers,
            lanes,
            net.batch,
            slicing_scheme,
            _streams_weights(parameters),
            share,
            _band_copies(parameters),
            int(parameters.slicer.spatial_limit),
            depth,
            parameters.dependency_resolution_algorithm is DependencyResolutionAlgorithm.PARALLEL,
        )
        ctx.gathers = gathers
        for layer in order:
            for name in dict.fromkeys(views.root(n) for n in layer.inputs):
                ctx.readers.setdefault(name, []).append(layer)
        if split and order[split - 1].kind != "layout":  # (a layout layer places its buffers itself)
            ctx.pass_ends = {order[split - 1].name}
        ctx.fusible = epilogue.fusible(order, ctx.readers, _held_outputs(views), split, parameters.layer_fusion)
        if keep:
            fallthrough = parameters.ewp_cache_schedule_optimizations.fallthrough_patch
            _plan_residency(ctx, order, net, views, excluded, split, fallthrough)
        ctx.plan_stream([(layer.name, layer.inputs) for layer in order])
        try:
            _lower(ctx, order, split)
            break
        except CompilationError:
            # The tensors kept in the cache left this layer too little room: keep the largest in DDR, retry.
            live = ctx.live.get(ctx.emitter.layer, [])
            if not live:
                raise
            if time.monotonic() > deadline:  # out of search time: the safe plan, every activation through DDR
                warnings.warn(
                    "compile_: the cache schedule search reached its time_limit_seconds; activations of this "
                    "program go through DDR",
                    stacklevel=2,
                )
                keep = False
                continue
            excluded.add(max(live, key=lambda name: (buffers[name].sample_words, name)))
    regions = tuple((channel, 0, words) for channel, words in enumerate(activation_words))
    algorithm = parameters.dependency_resolution_algorithm
    program, spans, after = resolve(ctx.emitter.steps, hw, algorithm, regions)
    if algorithm is DependencyResolutionAlgorithm.PARALLEL:

        def rebuild(positions: Mapping[Unit, list[int]]) -> tuple[Program, tuple[LayerSpan, ...]]:
            return resolve(ctx.emitter.steps, hw, algorithm, regions, positions)[:2]

        program, spans = reorder(program, spans, after, hw, rebuild)
    descriptions = _descriptions(net, views, buffers, cwl)
    executable = Executable(
        hw=hw,
        program=program,
        constants=tuple(DdrSegment(c.store.channel, c.base * cwl, c.store.data()) for c in lanes if c.store.words),
        inputs=tuple(net.user_name(n) for n in net.inputs),
        outputs=tuple(net.user_name(n) for n in net.outputs),
        layers=spans,
    )
    return executable, descriptions


def _lower(ctx: Context, order: list[Layer], split: int) -> None:
    """Emit every layer: the first ``split`` once per sample (sample-major), the rest for the whole batch."""
    passes = [(range(s, s + 1), order[:split]) for s in range(ctx.batch)] if split else []
    for i, (samples, layers) in enumerate([*passes, (range(ctx.batch), order[split:])]):
        ctx.samples, ctx.stream_pass = samples, i
        for layer in layers:
            ctx.emitter.layer = layer.name
            RULES[layer.kind](ctx, layer)
    ctx.flush_drain()


def _held_outputs(views: Views) -> set[str]:
    """The tensors whose DDR words hold the network's outputs."""
    return {held for held, _ in views.outputs.values()}


def _sample_major_prefix(
    order: list[Layer], buffers: dict[str, Buffer], net: Network, cache_words: int, fusion: int
) -> int:
    """How many leading layers run fused, one sample at a time: up to the last whose output, for the whole
    batch, takes more than a quarter of the cache (``fusion`` > 0: at most that many layers; 0: none).

    The batch's activations there would not stay in the cache and would make a DDR round trip per layer;
    one sample's do, at the price of loading those layers' weights once per sample (early layers of a
    CNN: large maps, few weights).  The rest of the network, small maps and most of the weights, runs for
    the whole batch with its weights loaded once.
    """
    if net.batch == 1 or fusion == 0:
        return 0
    split = 0
    for i, layer in enumerate(order):
        buffer = buffers.get(layer.name)
        if buffer is not None and buffer.sample_words * net.batch > cache_words // 4:
            split = i + 1
    return split if fusion < 0 else min(split, fusion)


def _cut_fewest_branches(order: list[Layer], views: Views, split: int, slicer: SubgraphSlicerParameters) -> int:
    """Where the per-sample passes end: of the cuts from ``split`` back over ``slicer.analysis_depth`` layers,
    the one the fewest tensors cross (made before it, read after it), the latest on ties; a cut crossed by more
    than ``slicer.analysis_depth_branch`` tensors is not taken.

    A tensor crossing the cut holds every sample until the whole-batch layers read it: a cut through a
    residual branch (EfficientNet's squeeze-and-excitation) holds two maps per sample, the end of the block
    before it one.  The per-sample passes then end a few layers early, which loads those layers' weights
    once instead of once per sample."""
    if split == 0:
        return 0
    made_at = {layer.name: i for i, layer in enumerate(order)}
    last_read: dict[str, int] = {}
    for i, layer in enumerate(order):
        for name in layer.inputs:
            root = views.root(name)
            if root in made_at:
                last_read[root] = i
    outputs = _held_outputs(views)

    def crossing(cut: int) -> int:
        return sum(1 for name, i in made_at.items() if i < cut and (last_read.get(name, -1) >= cut or name in outputs))

    best, fewest = split, crossing(split)
    for cut in range(split - 1, max(1, split - int(slicer.analysis_depth)) - 1, -1):
        count = crossing(cut)
        if count < fewest and count <= slicer.analysis_depth_branch:
            best, fewest = cut, count
    return best if fewest <= slicer.analysis_depth_branch else split


def _search_deadline(parameters: CompileParameters) -> float:
    """When the cache schedule search (which activations stay in the cache) must stop: the smallest positive
    ``time_limit_seconds`` of the shared cache schedule's configurations from now (-1: no limit).

    The search lowers the network, and while a layer finds too little room beside the kept tensors, keeps the
    largest of them in DDR and lowers again.  Past the deadline it lowers once more keeping nothing.
    """
    limits = [c.time_limit_seconds for c in parameters.shared_cache_schedule_optimizations.configurations]
    positive = [float(t) for t in limits if t > 0]
    return time.monotonic() + min(positive) if positive else math.inf


def _constant_lanes(cwl: int, mirror: bool, activation_words: list[int]) -> tuple[ConstantLane, ...]:
    """Where constants live and which lanes load them.

    ``NONE``: all on the activations' channel, after them, loaded by DTL1 (DTL0 moves activations).
    ``MIRROR``: spread over both channels, each channel's share loaded by its own lane (DTL0 from channel 0
    after the activations, DTL1 from channel 1), the loads taking turns, so the weights stream at both
    channels' rate.
    """
    if not mirror:
        return (ConstantLane(Unit.DTL1, Constants(cwl, ACTIVATION_CHANNEL), activation_words[0]),)
    return (
        ConstantLane(Unit.DTL0, Constants(cwl, ACTIVATION_CHANNEL), activation_words[0]),
        ConstantLane(Unit.DTL1, Constants(cwl, 1 - ACTIVATION_CHANNEL), activation_words[1]),
    )


def _streams_weights(parameters: CompileParameters) -> bool:
    """Whether convolution weights stream through the cache below the layers' own buffers (see Context.ring).

    An ``IntermediateInsertion`` cache schedule reserves that space ahead for preloading; it only pays when
    later layers' loads may overlap a layer's computation (``PARALLEL``); under ``SEQUENTIAL`` no load of a layer
    starts before the layer before it is done, so the stream would only take cache from the bands.
    """
    if parameters.dependency_resolution_algorithm is not DependencyResolutionAlgorithm.PARALLEL:
        return False
    configurations = parameters.shared_cache_schedule_optimizations.configurations
    return any(isinstance(c, IntermediateInsertion) for c in configurations)


def _stream_depth(parameters: CompileParameters) -> int:
    """How many weight-loading layers ahead of the one computing the weight stream may load: the smallest
    ``depth`` of the shared cache schedule's ``IntermediateInsertion`` configurations (-1: no bound).

    The stream places each piece where the cache was last used longest ago and the dependency pass lets its
    load run as soon as those words are free, so unbounded it runs as far ahead as the cache allows; a depth
    ``d`` makes each load of a layer also wait until the ``d``-th weight-loading layer before it has started
    (1: only the next layer's weights load during a layer, the manual's example).
    """
    depths = [
        c.depth
        for c in parameters.shared_cache_schedule_optimizations.configurations
        if isinstance(c, IntermediateInsertion)
    ]
    for depth in depths:
        if depth == 0 or depth < -1:
            raise CompilationError(
                f"IntermediateInsertion.depth must be -1 (no bound) or at least 1 (weight-loading layers the "
                f"stream may load ahead), got {depth}"
            )
    bounded = [d for d in depths if d > 0]
    return min(bounded) if bounded else -1


def _band_copies(parameters: CompileParameters) -> tuple[int, int]:
    """Copies of the band buffers of array layers (the shared cache schedule) and of EWP layers (the EWP's):
    with ``round_robin`` two, used in turn, so the next band loads while a unit works on this one."""
    shared, ewp = parameters.shared_cache_schedule_optimizations, parameters.ewp_cache_schedule_optimizations
    return (2 if shared.round_robin else 1), (2 if ewp.round_robin else 1)


MIN_OWN_SHARE = 12
"""A tensor stays in the cache only where every layer of its lifetime keeps ``1 / MIN_OWN_SHARE`` of the cache
below it.  A tenth rather than an eighth kept an 80x80x16 map of YOLOv8n's first C2f block (its first fit,
once the stem's map stays in pixel groups, was 128 words below an eighth): 389.1 -> 355.7 us at O5, batch 1.
A twelfth rather than a tenth keeps EfficientNet-B0's first 1x1 convolution's 112x112x16 output once its
stem's map stays in pixel groups for the depthwise convolution after it (its first fit, below the other
112x112 maps, falls 77 words below a tenth): 762.6 -> 697.6 us at O5, batch 1.  No other benchmark model
changes at O1 or O5, batch 1 or 8, with either step."""


def _plan_residency(
    ctx: Context,
    order: list[Layer],
    net: Network,
    views: Views,
    excluded: set[str],
    split: int,
    fallthrough: bool = False,
) -> None:
    """Which activations stay in the cache from their producer to their last consumer (no DDR round trip).

    The action graph's data transfer optimisation: a tensor that is neither a network input nor output,
    at most half the cache, is placed from the top of the cache down (first fit among the tensors alive at
    the same time) if every layer of its lifetime keeps at least a twelfth of the cache for its own
    buffers (weights, bands; ``MIN_OWN_SHARE``).  Layers then read it in place or copy it with the EWP (a
    word per cycle, instead of four DMA cycles plus the latency), and its producer writes it in place.  A
    tensor made and used only by the first ``split`` layers (run per sample) holds one sample; one made
    there and used after holds the whole batch and is alive from the first of those layers on (every sample's pass).
    With ``fallthrough`` (the EWP cache schedule's ``fallthrough_patch``) a concatenation's output may take its
    first source's words (``_concat_in_place``).
    """
    cache_words = ctx.lim.cache_words
    last: dict[str, int] = {}
    for i, layer in enumerate(order):
        for name in layer.inputs:
            last[views.root(name)] = i
    kept = _held_outputs(views) | {held for held, _ in views.inputs.values()}
    low = [cache_words] * len(order)
    placed: list[tuple[int, int, int, int]] = []  # (first layer, last layer, address, words)
    where: dict[str, int] = {}  # kept tensor -> its cache address
    plan = _Placed(net, ctx, last, where)
    for p, layer in enumerate(order):
        name = layer.name
        buffer = ctx.buffers.get(name)
        if buffer is None or name in kept or name in excluded or name not in last:
            continue
        q, words, first = last[name], buffer.sample_words * ctx.batch, p
        if q <= p:
            continue
        if q < split:  # one sample at a time
            words = buffer.sample_words
        elif p < split:  # written by every sample's pass
            first = 0
        if words > cache_words // 2:
            continue
        size = (buffer.sample_words * ctx.batch, words)
        if layer.kind == "concat":
            at = _concat_in_place(plan, layer, p, size) if fallthrough else None
        else:
            at = _in_place(plan, layer, p, size)
        if at is None:
            alive = [(a, w) for f, e, a, w in placed if f <= q and first <= e]
            starts = [cache_words - words] + [a - words for a, _ in alive]
            fits = [s for s in starts if s >= 0 and all(s + words <= a or a + w <= s for a, w in alive)]
            if not fits:
                continue
            at = max(fits)
            if at < cache_words // MIN_OWN_SHARE:
                continue
        placed.append((first, q, at, words))
        where[name] = at
        ctx.resident[buffer.channel, buffer.address] = (buffer.sample_words * ctx.batch, at, words)
        for i in range(first, q + 1):
            low[i] = min(low[i], at)
            ctx.live.setdefault(order[i].name, []).append(name)
    ctx.arena_limit = {layer.name: low[i] for i, layer in enumerate(order)}


IN_PLACE_KINDS = frozenset({"add", "mul", "lut"})
"""Element-wise layers whose output may take the cache words of an operand read for the last time."""


@dataclasses.dataclass(frozen=True)
class _Placed:
    """The residency plan so far: the network and context, each tensor's last reader (its index in program
    order) and the cache address of each tensor kept."""

    net: Network
    ctx: Context
    last: dict[str, int]
    where: dict[str, int]


def _in_place(plan: _Placed, layer: Layer, index: int, size: tuple[int, int]) -> int | None:
    """The cache address of an operand of element-wise ``layer`` (at ``index`` in program order) that is kept,
    read for the last time here, and of the output's shape and ``size`` (its words, words per cache copy);
    the output then overwrites it word by word.  Residual blocks otherwise keep the block's input, the
    branch's output and the sum at once, and place the sum below the others, fragmenting the cache."""
    if layer.kind not in IN_PLACE_KINDS:
        return None
    shape = plan.net.tensors[layer.name].shape
    places = [
        _last_read_here(plan, layer, name, index, size)
        for name in layer.inputs
        if plan.net.tensors[name].shape == shape
    ]
    return max((at for at in places if at is not None), default=None)


def _last_read_here(plan: _Placed, layer: Layer, name: str, index: int, size: tuple[int, int]) -> int | None:
    """The cache address of ``layer``'s operand ``name`` if it is kept, ``layer`` (at ``index`` in program order)
    reads it once and for the last time, and it has ``size`` (its words, words per cache copy)."""
    buffer = plan.ctx.buffers.get(name)
    if buffer is None or name not in plan.where or plan.last.get(name) != index or layer.inputs.count(name) != 1:
        return None
    words, at, period = plan.ctx.resident[buffer.channel, buffer.address]
    return at if (words, period) == size else None


def _concat_in_place(plan: _Placed, layer: Layer, index: int, size: tuple[int, int]) -> int | None:
    """The cache address of a channel concatenation's first source when the output can take its words: the
    source is kept, read for the last time here, of the output's quantization, its channels keep their lanes
    and the output has as many words per pixel (so its other sources only fill lanes after the source's)."""
    name = layer.inputs[0]
    buffer, y = plan.ctx.buffers.get(name), plan.ctx.buffers[layer.name]
    shape, out = plan.net.tensors[name].shape, plan.net.tensors[layer.name].shape
    if (
        buffer is None
        or not concatenates_channels(layer, out)
        or shape[:-1] != out[:-1]
        or int(layer.get("mults")[0]) != 0
        or concat_lanes(layer)[0] not in (None, (0, shape[-1]))
        or (buffer.wpp, buffer.group) != (y.wpp, y.group)
    ):
        return None
    return _last_read_here(plan, layer, name, index, size)


def _plan_ddr(
    net: Network,
    views: Views,
    cwl: int,
    channels: int,
    split_from: int,
    io: set[str],
    grouped: Mapping[str, int],
) -> tuple[dict[str, Buffer], list[int]]:
    """Every tensor's DDR buffer, and the activation words on each channel; ``io``: the tensors holding the
    network's inputs and outputs; ``grouped``: the maps stored in pixel groups (``grouped_maps``) and their
    pixels per word.

    The network's inputs and outputs live on the activation channel; with ``channels`` = 2 (``MIRROR``) the
    other tensors alternate between both channels, each moved by its channel's lane, so activations too
    stream at both channels' rate.  A map of more than ``split_from`` words per sample (too large to stay in
    the cache) is split: the first half of each sample's rows on its channel, the rest on the other, so
    both lanes move each of its bands (YOLOv8n's 160x160x16 first map, a word per pixel)."""
    buffers: dict[str, Buffer] = {}
    tops = [0] * channels
    owners = [current for current, _ in views.inputs.values()]
    owners += [layer.name for layer in net.layers if layer.name not in views.skipped]
    count = 0
    for name in owners:
        if name in buffers:
            continue
        tensor = net.tensors[name]
        channel = ACTIVATION_CHANNEL
        if name not in io:
            channel, count = (ACTIVATION_CHANNEL + count) % channels, count + 1
        buffer = Buffer(tensor, channel, tops[channel], -(-tensor.channels // cwl), group=grouped.get(name, 1))
        if channels == 2 and name not in io and buffer.sample_words > split_from:
            rows = tensor.shape[1] if len(tensor.shape) > 2 else tensor.positions
            half = rows // 2 * (buffer.sample_words // rows)
            buffer = dataclasses.replace(buffer, split=half, shift=tops[1 - channel] - buffer.address)
            tops[1 - channel] += buffer.sample_words * net.batch
        buffers[name] = buffer
        tops[channel] += buffer.sample_words * net.batch
    for name in net.tensors:
        root = views.root(name)
        if name not in buffers and root in buffers:
            base = buffers[root]
            buffers[name] = dataclasses.replace(
                base, tensor=net.tensors[name], wpp=-(-net.tensors[name].channels // cwl)
            )
    return buffers, tops


def _descriptions(net: Network, views: Views, buffers: dict[str, Buffer], cwl: int) -> dict[str, TensorDescription]:
    out: dict[str, TensorDescription] = {}
    for name, (held, axes) in (*views.inputs.items(), *views.outputs.items()):
        tensor, buffer = net.tensors[name], buffers[held]
        shape = (net.batch, *tensor.shape[1:]) if tensor.shape[0] == 1 else tensor.shape
        user = net.user_name(name)
        out[user] = TensorDescription(
            name=user,
            shape=tuple(int(d) for d in shape),
            scale=tensor.scale,
            zero_point=tensor.zero_point,
            ddr_channel=buffer.channel,
            ddr_address=buffer.address * cwl,
            word_length=cwl,
            axes=axes,
        )
    return out
