"""What a run leaves behind: one event per instruction, and the summaries built from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from pytpu.isa.program import LayerSpan
from pytpu.isa.units import Unit
from pytpu.params import ModelParameters
from pytpu.sim.timing import QUEUES


@dataclass(frozen=True, slots=True)
class Event:
    """One executed instruction: its queue was busy ``start..end``; it completed at ``done`` (cycles)."""

    unit: Unit
    index: int
    mnemonic: str
    queue: str
    start: int
    end: int
    done: int
    channel: int = -1
    """DDR channel of a DMA transfer, -1 otherwise."""


@dataclass(frozen=True)
class LayerTime:
    """When a layer's instructions ran (microseconds) and how long each queue was busy with them."""

    start_us: float
    end_us: float
    busy_us: dict[str, float]

    @property
    def duration_us(self) -> float:
        return self.end_us - self.start_us


@dataclass(frozen=True)
class Timeline:
    """Every event of a run, in execution (start time) order."""

    hw: ModelParameters
    events: tuple[Event, ...]

    @cached_property
    def _by_ref(self) -> dict[tuple[Unit, int], Event]:
        return {(e.unit, e.index): e for e in self.events}

    @cached_property
    def cycles(self) -> int:
        """Finish time of the last instruction."""
        return max((e.done for e in self.events), default=0)

    @property
    def execution_time_us(self) -> float:
        return self.hw.cycles_to_us(self.cycles)

    def event(self, unit: Unit, index: int) -> Event:
        """The event of one instruction."""
        return self._by_ref[(unit, index)]

    def resources(self) -> tuple[str, ...]:
        """Instruction queues, then DDR channels."""
        return (*QUEUES, *(f"DDR{c}" for c in range(self.hw.ddr.channels)))

    def busy_cycles(self) -> dict[str, int]:
        """Cycles each queue and each DDR channel was occupied."""
        busy = dict.fromkeys(self.resources(), 0)
        for e in self.events:
            busy[e.queue] += e.end - e.start
            if e.channel >= 0:
                busy[f"DDR{e.channel}"] += e.end - e.start
        return busy

    def busy_us(self) -> dict[str, float]:
        return {name: self.hw.cycles_to_us(c) for name, c in self.busy_cycles().items()}

    def idle_us(self) -> dict[str, float]:
        """Time each resource was not occupied during the run."""
        total = self.cycles
        return {name: self.hw.cycles_to_us(total - c) for name, c in self.busy_cycles().items()}

    @cached_property
    def _layer_times(self) -> dict[tuple[LayerSpan, ...], dict[str, LayerTime]]:
        return {}

    def layer_times(self, layers: Sequence[LayerSpan]) -> dict[str, LayerTime]:
        """Per layer of the side table: first start, last completion and busy time per queue.

        Kept per side table: a replayed run returns its program's timeline, summarised once.
        """
        key = tuple(layers)
        known = self._layer_times.get(key)
        if known is None:
            known = self._layer_times[key] = self._summarise(key)
        return dict(known)

    def _summarise(self, layers: Sequence[LayerSpan]) -> dict[str, LayerTime]:
        spans: dict[str, list[Event]] = {}
        for layer in layers:
            unit = Unit[layer.unit]
            found = spans.setdefault(layer.name, [])
            found.extend(self.event(unit, i) for i in range(layer.start, layer.stop))
        return {name: self._layer_time(events) for name, events in spans.items() if events}

    def _layer_time(self, events: list[Event]) -> LayerTime:
        busy: dict[str, float] = {}
        for e in events:
            busy[e.queue] = busy.get(e.queue, 0.0) + self.hw.cycles_to_us(e.end - e.start)
        start = min(e.start for e in events)
        end = max(e.done for e in events)
        return LayerTime(self.hw.cycles_to_us(start), self.hw.cycles_to_us(end), busy)
