"""What every lowering rule works with: the platform, the activation buffers in DDR, constants, emission."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pytpu.isa import Drain, Fill, Instruction, Load, LoadWeights, Move, Pattern, Store, Unit, limits_of
from pytpu.params import ModelParameters
from pytpu.sim.hazards import ACCESS
from tpu_compiler.compiler.memory import Arena, Constants, Ring
from tpu_compiler.compiler.patterns import compress
from tpu_compiler.compiler.schedule import Emitter
from tpu_compiler.compiler.slicing import SlicingScheme
from tpu_compiler.network import Layer, Tensor

if TYPE_CHECKING:
    from tpu_compiler.lowering.epilogue import Epilogue


def ddr_walk(ddr: int | Pattern, count: int) -> Pattern:
    """DDR words of a transfer of ``count`` words: ``count`` consecutive from a word, or the pattern given."""
    return ddr if isinstance(ddr, Pattern) else Pattern.contiguous(ddr, count)


@dataclass(frozen=True)
class Buffer:
    """A tensor in DDR: ``batch`` samples one after the other, each ``positions`` pixels of ``wpp`` words."""

    tensor: Tensor
    channel: int
    address: int
    """DDR word address of sample 0."""
    wpp: int
    split: int = 0
    """Words of each sample held on ``channel`` (0: all of them).  A buffer split over both channels (large maps
    under ``MIRROR``, so both lanes move them) holds the rest of each sample on the other channel, at its
    address here plus ``shift``; addresses elsewhere are always those on ``channel``."""
    shift: int = 0
    group: int = 1
    """Pixels per word along each row: 1, or ``q`` for a map its producer leaves in pixel groups (a stem's or a
    pixel-group convolution's output read by a pixel-group convolution, ``compiler/grouped_maps.py``): each
    row ``ceil(W / q)`` words, pixel ``q * j + i`` at bytes ``i * C ..`` of word ``j``."""
    lane: int = 0
    """Byte of each pixel's word where its channels start: 0, or for a convolution's output of one word read
    only by a concatenation, the lane the concatenation puts it at (``compiler/concat_lanes.py``)."""

    @property
    def row_words(self) -> int:
        """Words of one row of a map (``H x W x C``)."""
        return -(-self.tensor.shape[2] // self.group) * self.wpp

    @property
    def sample_words(self) -> int:
        if self.group > 1:
            return self.tensor.shape[1] * self.row_words
        return self.tensor.positions * self.wpp

    def transfers(self, walk: Pattern, cache: Pattern) -> list[tuple[int, Pattern, Pattern]]:
        """(channel, DDR walk, cache pattern) of the transfers moving ``walk``'s words of this buffer to or from
        ``cache``: one, or for a split buffer one or more per channel (``compress`` pairs the pieces)."""
        if not self.split:
            return [(self.channel, walk, cache)]
        ddr, words = walk.addresses(), cache.addresses()
        other = (ddr - self.address) % self.sample_words >= self.split
        cuts = [int(c) for c in np.flatnonzero(np.diff(other)) + 1]
        out = []
        for a, b in zip([0, *cuts], [*cuts, len(ddr)], strict=True):
            channel, shift = (1 - self.channel, self.shift) if other[a] else (self.channel, 0)
            out += [(channel, piece, part) for piece, part in compress([ddr[a:b] + shift, words[a:b]])]
        return out

    def at(self, sample: int, word: int = 0) -> int:
        return self.address + sample * self.sample_words + word


STREAM_STEP = 256
"""Granularity (words) of the places the weight stream considers."""


@dataclass(frozen=True)
class ConstantLane:
    """A DMA lane that loads constants, and where in DDR the constants it loads are laid out."""

    lane: Unit
    store: Constants
    base: int
    """DDR word of ``store``'s first word on ``store.channel``."""


class Context:
    def __init__(
        self,
        hw: ModelParameters,
        buffers: dict[str, Buffer],
        constant_lanes: tuple[ConstantLane, ...],
        batch: int,
        scheme: SlicingScheme | None,
        stream_weights: bool = False,
        band_share: float = 0.5,
        band_copies: tuple[int, int] = (2, 2),
        spatial_limit: int = 1,
        stream_depth: int = -1,
        parallel: bool = True,
    ):
        self.hw, self.lim = hw, limits_of(hw)
        self.cwl = self.lim.cwl
        self.buffers, self.constant_lanes = buffers, constant_lanes
        self.batch, self.scheme = batch, scheme
        self.ring = Ring(self.lim.cache_words, self.cwl) if stream_weights else None
        """The weight stream (None: each layer's weights go into its own arena)."""
        self.band_share = band_share
        """The share of its cache a layer that moves bands through DDR keeps for them when weights stream
        (the slicer's ``max_cache_utilization``); the stream gets the rest."""
        self.me_copies, self.ewp_copies = band_copies
        self.spatial_limit = max(1, spatial_limit)
        """The slicer's ``spatial_limit``: the pieces a convolution or element-wise layer with doubled buffers is
        cut into at least, so the next layer starts on the first and loads and stores pipeline."""
        """Copies of the band buffers of array (ME) layers and of EWP layers: 2 (round robin) lets the DMA fill
        one while a unit works on the other; 1 gives the band all the room."""
        self.parallel = parallel
        """Whether layers overlap (``PARALLEL``); under ``SEQUENTIAL`` each layer starts once the one before
        is done (units overlap only within a layer), so nothing of a layer is deferred into the next."""
        self.stream_depth = stream_depth
        """How many weight-loading layers ahead of the one computing the stream may load (``IntermediateInsertion``'s
        depth; -1: as far as the cache allows)."""
        self._computing: dict[tuple[int, str], int] = {}
        """(pass, layer) -> the step of its first ME or EWP instruction."""
        self._streamed: list[tuple[int, str]] = []
        """(pass, layer) of the layers that have loaded weights through the stream, in program order."""
        self._stream_order: list[str] = []
        self._last_use = np.full(self.lim.cache_words, -1, dtype=np.int64)
        """Per cache word, the index of the last layer (in program order) known to use it."""
        self._applied = 0
        self.stream_pass = 0
        """How many times the layers have been lowered before (sample-major segments lower them per sample)."""
        self.ring_limit: dict[str, int] = {}
        """Layer -> the cache words ``0..limit`` its weights stream through; its own buffers are above."""
        self._lane_words = [0] * len(constant_lanes)
        """Constant words each constant lane has loaded so far: the next load goes to the one with fewest."""
        self.emitter = Emitter()
        self._deferred: tuple[Drain, str, np.ndarray] | None = None
        """A layer's last DRAIN waiting for the next LOADW, its layer, and the cache words it touches."""
        self.samples = range(batch)
        """The samples the layer being lowered computes (all of them, or one in a sample-major segment)."""
        self.resident: dict[tuple[int, int], tuple[int, int, int]] = {}
        """(DDR channel, first word) of a tensor kept in the cache -> (its words, its cache address, words per
        cache copy): a
        tensor kept per sample holds one sample at a time, every sample's DDR words mapping onto that copy."""
        self.live: dict[str, list[str]] = {}
        """Layer -> the resident tensors alive while it runs."""
        self.arena_limit: dict[str, int] = {}
        """Layer -> the cache words below the resident tensors live while it runs."""
        self.readers: dict[str, list[Layer]] = {}
        """Tensor -> the layers reading it (directly or through a view), in program order."""
        self.pass_ends: set[str] = set()
        """The last layer of the per-sample passes: its buffers go at the top of its arena, away from the bottom,
        where the next pass's first layer (the stem) puts its first bands, which can then load and be prepared
        while this one finishes."""
        self.gathers: dict[tuple[object, ...], list[Instruction]] = {}
        """A layout layer's chunk -> its MOVEs and FILLs, made once for every sample and pass that repeats it."""
        self.fusible: dict[str, Layer] = {}
        """Producer -> the lookup that may run as its epilogue (``lowering.epilogue``, under ``layer_fusion``)."""
        self.epilogues: dict[str, Epilogue] = {}
        """Producer -> the lookup it applies to its output bands."""
        self.packed: dict[str, int] = {}
        """Kept tensor -> ``q`` when its producer left it packed: the ``q`` pixels of each group of a row in the
        word of the group's first pixel (the others' words unwritten); only its one reader knows (see
        ``stem.lower_stem`` and ``pool.lower_pool``)."""

    def cached(self, buffer: Buffer, ddr_word: int) -> int | None:
        """The cache word holding DDR word ``ddr_word`` of ``buffer`` if that tensor is kept in the cache."""
        for (channel, start), (words, at, period) in self.resident.items():
            if channel == buffer.channel and start <= ddr_word < start + words:
                return at + (ddr_word - start) % period
        return None

    def wpp(self, channels: int) -> int:
        return -(-channels // self.cwl)

    def plan_stream(self, layers: list[tuple[str, tuple[str, ...]]]) -> None:
        """Split each layer's cache below its kept tensors between the weight stream and its own buffers.

        ``layers``: (name, inputs) in program order.  A layer whose inputs and output all stay in the cache
        needs little room of its own (it reads and writes them in place): its buffers get an eighth of the
        cache and the stream the rest, so the stream holds several layers' weights ahead of the one
        computing.  A layer that moves bands through DDR keeps ``band_share`` (the slicer's
        ``max_cache_utilization``; O5: half), so its bands stay large.
        """
        if self.ring is None:
            return
        cache = self.lim.cache_words
        self._stream_order = [name for name, _ in layers]
        for name, inputs in layers:
            limit = self.arena_limit.get(name, cache)
            kept = all(self._kept(n) for n in (*inputs, name))
            own = cache // 8 if kept else int(limit * self.band_share)
            self.ring_limit[name] = max(limit - own, min(cache // 8, limit // 2))

    def stream_slot(self, words: int, what: str) -> int:
        """Cache address of ``words`` constant words in the weight stream for the layer being lowered.

        Of the places below the layer's limit, the one whose words were last used longest ago (by earlier
        layers' buffers and kept tensors, or by weights not yet consumed): its load can then run that much
        further ahead of the layer.  Ties go to the lowest address.
        """
        slots = self.stream_slots([words], what)
        assert slots is not None
        return slots[0]

    def stream_slots(self, sizes: list[int], what: str) -> list[int] | None:
        """Places in the weight stream for pieces of ``sizes`` words that are all live at once: each, in turn,
        where ``stream_slot`` would put it among the words the pieces before it leave.  None if they do not
        fit apart (then one place for all of them always does, if the layer can be placed at all)."""
        assert self.ring is not None
        layer = self.emitter.layer
        n = len(self._stream_order)
        i = self.stream_pass * n + self._stream_order.index(layer)
        while self._applied < i:  # earlier layers' own buffers and kept tensors: their limit and up
            self._last_use[self.ring_limit[self._stream_order[self._applied % n]] :] = self._applied
            self._applied += 1
        limit = self.ring_limit[layer]
        if len(sizes) == 1 and sizes[0] > limit:
            return [self.ring.alloc(sizes[0], limit, what, layer)]  # raises the error naming the layer
        taken = np.iinfo(np.int64).max
        use = self._last_use[:limit].copy()
        places = []
        for words in sizes:
            if words > limit:
                return None
            starts = np.arange(0, limit - words + 1, STREAM_STEP)
            if starts[-1] != limit - words:
                starts = np.append(starts, limit - words)
            # latest use of any word in [s, s + words): a sliding maximum over the per-word last use
            peaks = np.array([use[s : s + words].max() for s in starts])
            best = int(np.argmin(peaks))
            if peaks[best] == taken:
                return None
            at = int(starts[best])
            use[at : at + words] = taken
            places.append(at)
        for at, words in zip(places, sizes, strict=True):
            self._last_use[at : at + words] = i
        return places

    def kept_block(self, buffer: Buffer, samples: range | None = None) -> bool:
        """Whether every sample of ``samples`` (those the layer being lowered computes) of ``buffer`` is kept in
        the cache, one after the other (so the rows of several samples are read or written in place as one
        block)."""
        samples = self.samples if samples is None else samples
        first = self.cached(buffer, buffer.at(samples.start))
        if first is None:
            return False
        for i, sample in enumerate(samples):
            start, end = buffer.at(sample), buffer.at(sample, buffer.sample_words - 1)
            if self.cached(buffer, start) != first + i * buffer.sample_words:
                return False
            if self.cached(buffer, end) != first + i * buffer.sample_words + buffer.sample_words - 1:
                return False
        return True

    def _kept(self, name: str) -> bool:
        buffer = self.buffers.get(name)
        return buffer is not None and self.cached(buffer, buffer.address) is not None

    def arena(self, layer: str) -> Arena:
        limits = self.ring_limit.get(layer, 0), self.arena_limit.get(layer, self.lim.cache_words)
        return Arena(*limits, self.cwl, layer, from_end=layer in self.pass_ends)

    def emit(self, unit: Unit, ins: Instruction, wait: int = -1) -> None:
        if self._deferred is not None and self._meets_deferred(unit, ins):
            self.flush_drain()
        if self.stream_depth >= 0 and unit in (Unit.ME, Unit.EWP):  # (only a bounded stream waits for them)
            self._computing.setdefault((self.stream_pass, self.emitter.layer), len(self.emitter.steps))
        self.emitter.emit(unit, ins, wait=wait)
        if self._deferred is not None and isinstance(ins, LoadWeights):
            self.flush_drain()

    def defer_drain(self, drain: Drain) -> None:
        """Emit a layer's last ``drain`` after the next layer's first LOADW (the ME issues in order and a DRAIN
        waits for the array to be free: a LOADW behind it leaves the array idle while the tile loads), or
        before anything that touches the words it reads or writes, whichever comes first.  Under
        ``SEQUENTIAL`` it is emitted at once: the next layer waits for it anyway."""
        self.flush_drain()
        if not self.parallel:
            self.emitter.emit(Unit.ME, drain)
            return
        reads, writes = ACCESS[Drain](drain, self.lim)
        touched = np.zeros(self.lim.cache_words, dtype=bool)
        touched[reads] = touched[writes] = True
        self._deferred = (drain, self.emitter.layer, touched)

    def flush_drain(self) -> None:
        """Emit the deferred DRAIN, if any."""
        if self._deferred is not None:
            drain, layer, _ = self._deferred
            self._deferred = None
            self.emitter.emit(Unit.ME, drain, layer)

    def _meets_deferred(self, unit: Unit, ins: Instruction) -> bool:
        """Whether ``ins`` must come after the deferred DRAIN: any ME instruction but a LOADW (the array and
        accumulators), and anything touching the DRAIN's cache words."""
        assert self._deferred is not None
        if unit is Unit.ME and not isinstance(ins, LoadWeights):
            return True
        reads, writes = ACCESS[type(ins)](ins, self.lim)
        touched = self._deferred[2]
        return bool(touched[reads].any() or touched[writes].any())

    def load_constant(self, arena: Arena, words: np.ndarray, what: str) -> int:
        """Put constant words into DDR and emit their load into the cache; returns the cache address."""
        at = arena.alloc(len(words), what)
        self.load_constant_at(at, words)
        return at

    def load_ahead(self, arena: Arena, words: np.ndarray, what: str) -> int:
        """``load_constant`` through the weight stream when there is one, so the load runs ahead of the layer
        (a lookup table no longer waits for the layer before to free its arena); for a layer's only
        constant block (the stream places each layer's constants apart only within one call)."""
        if self.ring is None:
            return self.load_constant(arena, words, what)
        at = self.stream_slot(len(words), what)
        self.load_constant_at(at, words)
        return at

    def load_constant_at(self, at: int, words: np.ndarray) -> None:
        """Put constant words into DDR and emit their load to cache word ``at``, on the constant lane that has
        loaded the fewest words so far (so the lanes stream equal shares whatever the sizes of the loads)."""
        k = self._lane_words.index(min(self._lane_words))
        self._lane_words[k] += len(words)
        lane = self.constant_lanes[k]
        ddr = lane.base + lane.store.add(words)
        load = Load(
            ch=lane.store.channel, ddr=Pattern.contiguous(ddr, len(words)), cache=Pattern.contiguous(at, len(words))
        )
        streamed = at < self.ring_limit.get(self.emitter.layer, 0)
        self.emit(lane.lane, load, wait=self._stream_wait() if streamed else -1)

    def _stream_wait(self) -> int:
        """The step a weight-stream load of the layer being lowered waits for: the first ME or EWP instruction of
        the weight-loading layer ``stream_depth`` before it, so that the stream runs at most that many layers
        ahead of the work (-1: none; outside the stream, none)."""
        if self.ring is None or self.stream_depth < 0:
            return -1
        key = (self.stream_pass, self.emitter.layer)
        if not self._streamed or self._streamed[-1] != key:
            self._streamed.append(key)
        ahead = len(self._streamed) - 1 - self.stream_depth
        return self._computing.get(self._streamed[ahead], -1) if ahead >= 0 else -1

    def load(self, buffer: Buffer, ddr: int | Pattern, cache: Pattern) -> None:
        """Load DDR words of ``buffer`` into ``cache``: consecutive from a word, or walked by a pattern.

        A tensor kept in the cache is copied by the EWP (a word per cycle) instead; nothing when in place."""
        walk = ddr_walk(ddr, cache.count)
        at = self.cached(buffer, walk.base)
        if at is not None:
            self.move(cache, Pattern(at, walk.dims))
            return
        for channel, piece, words in buffer.transfers(walk, cache):  # each channel's activations on its own lane
            self.emit(Unit.DTL1 if channel else Unit.DTL0, Load(ch=channel, ddr=piece, cache=words))

    def store(self, buffer: Buffer, ddr: int | Pattern, cache: Pattern) -> None:
        """Store ``cache`` to DDR words of ``buffer``: consecutive from a word, or walked by a pattern."""
        walk = ddr_walk(ddr, cache.count)
        at = self.cached(buffer, walk.base)
        if at is not None:
            self.move(Pattern(at, walk.dims), cache)
            return
        for channel, piece, words in buffer.transfers(walk, cache):
            self.emit(Unit.DTL1 if channel else Unit.DTL0, Store(ch=channel, cache=words, ddr=piece))

    def move(self, dst: Pattern, src: Pattern) -> None:
        """Copy whole words in the cache (nothing if ``dst`` is ``src``)."""
        if dst != src:
            self.emit(Unit.EWP, Move(dst=dst, src=src, src_off=0, dst_off=0, len=self.cwl))

    def fill(self, dst: Pattern, value: int) -> None:
        self.emit(Unit.EWP, Fill(dst=dst, value=value, off=0, len=self.cwl))
