"""How the simulator uses BLAS: the machine's cores for its products, one thread for tiny ones.

The accumulators' summed GEMMs are products of at least a million multiply-accumulates (tens to hundreds
of microseconds on one core), and every such shape the compiler produces runs 1.6-2x faster on two
threads than on one, so a run gives BLAS the cores the process may use, up to four, as onnxruntime uses
them (:func:`simulation_blas`).  A product under :data:`PARALLEL_MACS` runs on one thread: there a
hand-off between threads costs more than it saves and, on a machine whose cores are busy, can make it
a hundred times slower.  threadpoolctl, when installed, sets the thread counts; without it the process's
own settings apply (for example ``OPENBLAS_NUM_THREADS=1``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

PARALLEL_MACS = 1 << 20
"""Products at least this large (some 20 us on one core) run on several threads, smaller ones on one."""

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


def simulation_blas() -> contextlib.AbstractContextManager[None]:
    """BLAS on the simulator's threads for the duration of a run, restored after."""
    return _blas_threads(_THREADS)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` (inside :func:`simulation_blas`: on one thread when the product is small)."""
    if _THREADS < 2 or a.shape[0] * a.shape[1] * b.shape[1] >= PARALLEL_MACS:
        return a @ b
    with _blas_threads(1):
        return a @ b
