"""A virtual-time asyncio event loop for tests of the scheduler.

The scheduler sleeps and reads time only through the event loop
(``asyncio.sleep``, ``loop.time()``), so the same code runs here with time that
jumps straight to the next deadline whenever every task is blocked — like
Trio's ``MockClock(autojump_threshold=0)``.  A run that blocks with no timer
left can never make progress: the loop raises `Deadlock` instead of hanging.

Only in-memory work (the scripted fake connection) belongs on this loop; real
sockets and subprocesses would see time that does not pass.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from playgraph.semantics import PlaygraphError

T = TypeVar("T")


class Deadlock(PlaygraphError, RuntimeError):
    """Every task waits and no timer is pending: the run can never finish."""


class _AutojumpSelector(selectors.DefaultSelector):
    """Advances the loop's clock by the timeout instead of waiting for it."""

    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualTimeLoop | None = None

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready:
            return ready
        assert self.loop is not None
        if timeout is None:
            if self.loop.has_pending_work():
                return []
            raise Deadlock("every task is blocked and no timer is pending")
        if timeout > 0:
            self.loop.advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` only moves when every task is blocked."""

    def __init__(self, start: float = 0.0) -> None:
        selector = _AutojumpSelector()
        super().__init__(selector)
        selector.loop = self
        self._now = start

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def has_pending_work(self) -> bool:
        return bool(self._ready)  # type: ignore[attr-defined]


def run_virtual(
    main: Callable[[], Coroutine[Any, Any, T]] | Awaitable[T], *, start: float = 0.0
) -> T:
    """Run a coroutine to completion on a fresh virtual-time loop."""
    loop = VirtualTimeLoop(start)
    try:
        awaitable = main() if callable(main) else main
        return loop.run_until_complete(awaitable)
    finally:
        loop.close()
