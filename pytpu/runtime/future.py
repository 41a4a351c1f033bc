"""``InferenceFuture``: a ``concurrent.futures.Future`` of an inference that asyncio code can await too."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from concurrent.futures import Future
from typing import Any, TypeVar

from pytpu.runtime.status import InferenceStatus

T = TypeVar("T")
U = TypeVar("U")


class InferenceFuture(Future[T]):
    """The result of a submitted inference: ``result()`` blocks, ``await future`` suspends, ``status()``
    gives the :class:`InferenceStatus` (times, per-layer counters) without raising for a failed one.

    Waiting for it (either way) is what moves the simulated host clock to the inference's completion, so
    an inference submitted after waiting starts after it.
    """

    def __init__(self, on_wait: Callable[[InferenceStatus], None] | None = None):
        super().__init__()
        self._on_wait = on_wait
        self._status: InferenceStatus | None = None

    def result(self, timeout: float | None = None) -> T:
        try:
            return super().result(timeout)
        finally:
            if self.done() and not self.cancelled():
                self._waited()

    def status(self, timeout: float | None = None) -> InferenceStatus:
        """Wait for the inference; its status, ``is_success`` False if it failed."""
        self.exception(timeout)
        self._waited()
        assert self._status is not None
        return self._status

    def __await__(self) -> Generator[Any, None, T]:
        return asyncio.wrap_future(self).__await__()

    def then(self, fn: Callable[[InferenceStatus, T | None], U]) -> InferenceFuture[U]:
        """A future of ``fn(status, value)``, called when this one completes (``value`` None if it failed).

        The new future carries the same status; an exception ``fn`` raises becomes its exception.
        """
        derived: InferenceFuture[U] = InferenceFuture(self._on_wait)

        def settle(source: Future[T]) -> None:
            if source.cancelled():
                derived.cancel()
                return
            status = self._status
            assert status is not None
            value = None if status.error is not None else Future.result(source)
            try:
                derived.settle(status, fn(status, value))
            except Exception as exc:
                derived.settle(status, error=exc)

        self.add_done_callback(settle)
        return derived

    def settle(self, status: InferenceStatus, value: T | None = None, error: BaseException | None = None) -> None:
        """Complete the future (the device's worker calls this)."""
        self._status = status
        if error is not None:
            self.set_exception(error)
        else:
            self.set_result(value)  # type: ignore[arg-type]

    def _waited(self) -> None:
        if self._on_wait is not None and self._status is not None:
            self._on_wait(self._status)
