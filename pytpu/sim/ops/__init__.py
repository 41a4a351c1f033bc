"""Functional semantics of the instructions: one small module per instruction family, found by scanning.

Each ``op_*.py`` module registers a function per instruction class with :func:`semantics`.  The function
reads the device state as it is when the instruction starts and returns the cache/DDR writes, which the
engine applies when the instruction completes.  (Weight buffers and accumulators are written at once: the
matrix engine's interlocks make that equivalent.)  Adding an instruction means adding a function here and
a class in ``pytpu.isa``; nothing central changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from pytpu.isa.base import Instruction
from pytpu.sim.state import DeviceState, Write

Semantics = Callable[[Any, DeviceState], list[Write]]

_REGISTRY: dict[type[Instruction], Semantics] = {}
_LOADED = False


def semantics(cls: type[Instruction]) -> Callable[[Semantics], Semantics]:
    """Register the function that executes instructions of class ``cls``."""

    def register(fn: Semantics) -> Semantics:
        _REGISTRY[cls] = fn
        return fn

    return register


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("op_"):
            importlib.import_module(f"{__name__}.{module.name}")
    _LOADED = True


def table() -> dict[type[Instruction], Semantics]:
    """Instruction class -> semantics function, for every registered class."""
    _load_all()
    return dict(_REGISTRY)
