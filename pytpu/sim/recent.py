"""What the simulator keeps about the programs it ran lately (programs are immutable, so by identity)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

from pytpu.isa.program import Program
from pytpu.params import ModelParameters

T = TypeVar("T")


class RecentPrograms(Generic[T]):
    """A value per (program, platform) for the last ``size`` programs stored; safe across the threads on
    which devices run their inferences."""

    def __init__(self, size: int = 8):
        self._size = size
        self._kept: OrderedDict[int, tuple[Program, ModelParameters, T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, program: Program, hw: ModelParameters) -> T | None:
        with self._lock:
            known = self._kept.get(id(program))
        if known is not None and known[0] is program and known[1] == hw:
            return known[2]
        return None

    def put(self, program: Program, hw: ModelParameters, value: T) -> None:
        with self._lock:
            self._kept[id(program)] = (program, hw, value)  # holding the program keeps its id from being reused
            self._kept.move_to_end(id(program))
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
