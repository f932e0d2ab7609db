"""The runtime owns a run's lifecycle: whatever a command opened is closed when it ends.

`playgraph.runtime.run.open_runtime` closes every connection and the event loop's
supervisor clients; ``run``, ``adhoc`` and ``jobs`` all go through it, so under
``python -X dev -W error::ResourceWarning`` none of them leaves a stream to the
garbage collector (``ResourceWarning: unclosed transport``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import pytest
from playgraph.runtime import run as runtime_run
from playgraph.runtime.context import RunOptions
from playgraph.runtime.inventory import Inventory

from tests.conftest import ROOT

STRICT = [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-m", "playgraph"]
COMMANDS = {
    "run": ["run", "-i", "examples/local.ini", "examples/fanout.yml"],
    "adhoc": ["adhoc", "all", "-i", "examples/local.ini", "-a", "sleep 1", "-B", "5", "-P", "1"],
    "jobs list": ["jobs", "list", "-i", "examples/local.ini"],
    "jobs status": ["jobs", "status", "j1.2", "h01", "-i", "examples/local.ini"],
}
EXIT = {"jobs status": 2}  # an unknown jid: async_status's "could not find job"


@pytest.mark.e2e
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_command_leaves_nothing_unclosed(name: str) -> None:
    done = subprocess.run(
        [*STRICT, *COMMANDS[name]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PLAYGRAPH_NO_CACHE": "1"},
        check=False,
    )
    assert done.returncode == EXIT.get(name, 0), (done.stdout, done.stderr)
    assert "ResourceWarning" not in done.stderr, done.stderr
    assert "unclosed" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr


class _Closing:
    """A connection that only records that it was closed."""

    def __init__(self, host: str, closed: list[str]) -> None:
        self.host = host
        self.closed = closed

    async def close(self) -> None:
        self.closed.append(self.host)


def test_open_runtime_closes_connections_and_clients_even_when_the_body_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed_clients: list[int] = []

    async def close_clients() -> None:
        closed_clients.append(len(closed_clients))

    monkeypatch.setattr(runtime_run, "close_clients", close_clients)
    closed: list[str] = []

    def connect(host: str, _variables: object) -> Any:
        return _Closing(host, closed)

    async def main() -> None:
        async with runtime_run.open_runtime(Inventory(), RunOptions(), connect=connect) as run:
            run.connection("localhost", None, run.templar.lazy(run.host_layers("localhost", None)))
            raise RuntimeError("the body failed")

    with pytest.raises(RuntimeError, match="the body failed"):
        asyncio.run(main())
    assert closed == ["localhost"]
    assert closed_clients == [0]


def test_the_clients_a_loop_shares_close_with_its_last_runtime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two runs in one event loop share its supervisor clients: the first to end must not
    close them under the other."""
    events: list[str] = []

    async def close_clients() -> None:
        events.append("clients closed")

    monkeypatch.setattr(runtime_run, "close_clients", close_clients)
    inventory = Inventory()

    async def main() -> None:
        async with runtime_run.open_runtime(inventory, RunOptions()):
            async with runtime_run.open_runtime(inventory, RunOptions()):
                pass
            events.append("inner ended")
        events.append("outer ended")

    asyncio.run(main())
    assert events == ["inner ended", "clients closed", "outer ended"]


def test_run_graph_closes_what_it_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    """`run_graph` is the lifecycle's main user: its clients are closed when it returns."""
    from playgraph.compiler.ir import Graph

    closed: list[Any] = []

    async def close_clients() -> None:
        closed.append(True)

    monkeypatch.setattr(runtime_run, "close_clients", close_clients)
    outcome = asyncio.run(runtime_run.run_graph(Graph(plays=()), Inventory(), RunOptions()))
    assert outcome.exit_code == 0 and closed == [True]
