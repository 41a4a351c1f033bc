"""Simulated runs off the process's main thread, on a worker thread with a heap of its own.

A replay allocates and frees thousands of temporary arrays per inference.  glibc's malloc serves the main
thread from the process's main heap and every other thread from an arena of its own; in a process that has
done much else first (a notebook or benchmark that loaded TensorFlow, models and data), the main heap is
fragmented, and the same replay ran 8-12% slower there than in a fresh process (ResNet-50, batch 1:
docs/compiler.md).  On a worker thread it runs as fast as in a fresh process.  The runtime's devices run
inferences on worker threads already; :func:`off_main_thread` does the same for calls from the main thread.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_WORKERS = 4
"""Worker threads at most (calls from other threads than the main one run where they are called)."""

_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None  # the process that made it, and the pool


def off_main_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)``, on a worker thread if called from the main thread, in a copy of the caller's
    context (numpy's error settings, for one).  The caller waits for the result; exceptions reach it as ``fn``
    raised them.  A caller interrupted while waiting (Ctrl-C) returns at once, the run finishing on its
    worker."""
    if threading.current_thread() is not threading.main_thread():
        return fn(*args, **kwargs)
    context = contextvars.copy_context()

    def call() -> T:
        return context.run(fn, *args, **kwargs)

    try:
        future = _executor().submit(call)
    except RuntimeError:  # the interpreter is shutting down: no new threads
        return fn(*args, **kwargs)
    return future.result()


def _executor() -> ThreadPoolExecutor:
    """The pool (a new one in a forked child, whose copy of the pool has no threads)."""
    global _pool
    with _lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(_WORKERS, thread_name_prefix="pytpu-sim"))
        return _pool[1]
