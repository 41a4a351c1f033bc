"""How the simulator uses BLAS: one thread for small products, the machine's cores for large ones.

The simulator multiplies many small matrices.  Multi-threaded BLAS gains nothing on them and, on a
machine whose cores are busy, its threads' hand-offs make each product a hundred times slower
(milliseconds instead of tens of microseconds), so a run keeps BLAS single-threaded
(:func:`single_threaded_blas`).  A product of at least :data:`PARALLEL_MACS` multiply-accumulates (the
accumulators' summed GEMMs often are) takes hundreds of microseconds, which a hand-off does not spoil:
:func:`matmul` gives it the cores the process may use (up to four), as onnxruntime uses them.  threadpoolctl, when
installed, sets the thread counts; without it the process's own settings apply (for example
``OPENBLAS_NUM_THREADS=1``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

PARALLEL_MACS = 1 << 21
"""Products at least this large (some 40 us on one core) run on several."""

_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
_THREADS = min(_CORES, 4)  # products of this size gain little from more

_controllers: list[Any] | None = None


def _blas_controllers() -> list[Any]:
    """threadpoolctl's BLAS controllers, found once (finding them walks the loaded libraries)."""
    global _controllers
    if _controllers is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _controllers = []
        else:
            _controllers = list(ThreadpoolController().select(user_api="blas").lib_controllers)
    return _controllers


@contextlib.contextmanager
def _blas_threads(count: int) -> Iterator[None]:
    """BLAS on ``count`` threads for the duration, restored after."""
    controllers = _blas_controllers()
    before = [c.num_threads for c in controllers]
    for c in controllers:
        c.set_num_threads(count)
    try:
        yield
    finally:
        for c, n in zip(controllers, before, strict=True):
            c.set_num_threads(n)


def single_threaded_blas() -> contextlib.AbstractContextManager[None]:
    """BLAS on one thread for the duration, restored after."""
    return _blas_threads(1)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b``, on every available core when the product is large."""
    if _THREADS < 2 or a.shape[0] * a.shape[1] * b.shape[1] < PARALLEL_MACS:
        return a @ b
    with _blas_threads(_THREADS):
        return a @ b
