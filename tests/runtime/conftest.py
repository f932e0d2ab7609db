"""Fixtures for the runtime tests.

Shared fixtures first (add new ones below this block):

* ``arun`` — run a coroutine on a fresh event loop; the loop's shared job
  supervisor clients are closed afterwards (the supervisors keep running).
* ``async_dir`` — a fresh async dir per test; at teardown the supervisor serving
  it is stopped (SIGTERM via the pid in its lock file) and job process groups
  still running are killed, so no test leaves processes behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playgraph.runtime import jobs
from playgraph.runtime.target import supervisor as sv

T = TypeVar("T")


@pytest.fixture
def arun() -> Callable[[Coroutine[Any, Any, T]], T]:
    def run(coro: Coroutine[Any, Any, T]) -> T:
        async def main() -> T:
            try:
                return await coro
            finally:
                await jobs.close_clients()

        return asyncio.run(main())

    return run


MTIME_TICK = 0.01
"""The coarse clock's step that file timestamps are taken from, at most: a record
written 1 ms after a limit can look early."""


def stop_supervisor(root: Path) -> None:
    """Stop whatever supervisor serves ``root`` and kill its jobs' process groups."""
    priv = root / sv.PRIVATE_DIR
    lock = priv / sv.LOCK_NAME
    for _ in range(5):
        if not sv.lock_held(str(lock)):
            break
        with contextlib.suppress(ValueError, OSError):
            pid = int(lock.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while sv.pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            if sv.pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
    for sidecar in priv.glob("*.json") if priv.is_dir() else []:
        meta = sv.read_sidecar(str(priv), sidecar.name[: -len(".json")])
        if isinstance(meta, dict) and meta.get("state") == sv.RUNNING and meta.get("pgid"):
            sv.killpg(int(meta["pgid"]), signal.SIGKILL)
        if isinstance(meta, dict) and meta.get("watchdog") and sv.pid_alive(int(meta["watchdog"])):
            sv.killpg(int(meta["watchdog"]), signal.SIGKILL)  # it outlives a killed supervisor


@pytest.fixture
def async_dir(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "async"
    try:
        yield root
    finally:
        stop_supervisor(root)
