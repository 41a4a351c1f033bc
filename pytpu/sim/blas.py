"""Keep BLAS single-threaded while the simulator runs.

The simulator multiplies many small matrices (at most 4096 x 128 by 128 x 128).  Multi-threaded BLAS
gains nothing on them and, on a machine whose cores are busy, its threads' hand-offs make each product
a hundred times slower (milliseconds instead of tens of microseconds).  threadpoolctl, when installed,
limits the threads for the duration of a run; without it the process's own settings apply (for example
``OPENBLAS_NUM_THREADS=1``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield
