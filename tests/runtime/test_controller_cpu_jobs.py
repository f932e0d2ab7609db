"""The controller's CPU per job on the supervisor protocol (issue 14, scale).

Counted, not timed: a fan-out makes a start request per host and a join reads a
job file per host, so what each costs in event loop hops, tasks, system calls
and JSON parses is multiplied by the hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from playgraph.runtime import jobs
from playgraph.runtime.jobspec import JobSpec
from playgraph.runtime.target import supervisor as sv


@contextlib.asynccontextmanager
async def _supervisor(
    answer: Callable[[dict[str, Any]], Any] | None,
    lines: list[bytes] | None = None,
    *,
    send_env: bool = False,
) -> AsyncIterator[jobs.SupervisorClient]:
    """A client on a socketpair whose far end answers every request with
    ``answer(request)`` at once (never, when ``answer`` is None); ``lines`` gets
    the request lines as sent."""
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours)
    far_reader, far_writer = await asyncio.open_connection(sock=theirs)

    async def serve() -> None:
        while line := await far_reader.readline():
            if lines is not None:
                lines.append(line)
            if answer is None:
                continue
            req = json.loads(line)
            far_writer.write(json.dumps({"id": req["id"], "result": answer(req)}).encode() + b"\n")

    server = asyncio.get_running_loop().create_task(serve())
    client = jobs.SupervisorClient(reader, writer, async_dir="/x", send_env=send_env)
    try:
        yield client
    finally:
        await client.close()
        server.cancel()
        far_writer.close()


class _LoopCounter:
    """Counts the event loop's iterations and the tasks created on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.iterations = 0
        self.tasks = 0
        run_once = loop._run_once  # type: ignore[attr-defined]
        create_task = loop.create_task

        def counted_run_once() -> None:
            self.iterations += 1
            run_once()

        def counted_create_task(coro: Any, **kwargs: Any) -> Any:
            self.tasks += 1
            return create_task(coro, **kwargs)

        loop._run_once = counted_run_once  # type: ignore[attr-defined]
        loop.create_task = counted_create_task  # type: ignore[method-assign]


def test_a_request_costs_no_task_of_its_own_and_few_loop_iterations() -> None:
    requests = 200

    async def main() -> tuple[int, int]:
        async with _supervisor(lambda req: {"pong": True}) as client:
            await client.request("ping")  # the reader is running
            counter = _LoopCounter(asyncio.get_running_loop())
            for _ in range(requests):
                await client.request("ping")
            return counter.tasks, counter.iterations

    tasks, iterations = asyncio.run(main())
    # A task per request, awaited through asyncio.wait, cost three more iterations
    # each: 8 per request then, 5 now (2 of them the fake supervisor's: its read and
    # its answer; then the answer's read, the client's reader, the caller).
    assert tasks == 0
    assert iterations <= requests * 5 + 5, iterations


def test_the_deadline_of_a_request_still_abandons_a_silent_supervisor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLAYGRAPH_SUPERVISOR_GRACE", "0.2")

    async def main() -> None:
        async with _supervisor(None) as client:
            began = asyncio.get_running_loop().time()
            with pytest.raises(jobs.SupervisorTimeout, match="did not answer 'status'"):
                await client.status(["j1.1"])
            assert asyncio.get_running_loop().time() - began < 1.0
            assert client.closed
            assert not client._pending

    asyncio.run(main())


def test_a_caller_that_gives_up_is_cancelled_not_timed_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLAYGRAPH_SUPERVISOR_GRACE", "0.2")

    async def main() -> None:
        async with _supervisor(None) as client:
            waiting = asyncio.get_running_loop().create_task(client.status(["j1.1"]))
            await asyncio.sleep(0.05)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            # Its deadline went with it: the client is not abandoned later.
            await asyncio.sleep(0.4)
            assert not client.closed
            assert not client._pending

    asyncio.run(main())


def test_the_start_line_is_the_one_json_dumps_makes() -> None:
    lines: list[bytes] = []
    spec = JobSpec(
        jid="j1.1",
        limit=30.0,
        argv=["sleep", "2"],
        env={"A": "é"},
        run_id="r",
        host="h1",
        task={"name": "t ✓", "id": "x"},
    )

    async def main() -> dict[str, Any]:
        async with _supervisor(lambda req: {"started": True}, lines, send_env=True) as client:
            await client.start(spec)
            await client.start(spec)
            assert client._env_base is not None
            return client._env_base

    env = asyncio.run(main())
    # The environment is encoded once and spliced in; the bytes are the same.
    for rid, line in enumerate(lines, start=1):
        job = {**jobs.spec_to_wire(spec), "env_base": env}
        assert line == json.dumps({"id": rid, "op": "start", "job": job}).encode() + b"\n"


@pytest.mark.parametrize(
    "raw",
    [b"", b"  \n", b"{not json", b"[1, 2]", b'"text"', b"null", b'{"rc": 0}', b"\xff\xfe{}"],
)
def test_a_status_file_is_parsed_once_as_before(
    raw: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = json.loads(raw) if sv.damage_of(raw) is None else sv.decode(raw)
    calls = 0
    loads = json.loads

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return loads(*args, **kwargs)

    monkeypatch.setattr(jobs.json, "loads", counted)
    assert jobs.parse_record(raw) == expected
    assert calls == 1


def test_reading_a_job_file_stats_each_directory_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = str(tmp_path / "async")
    sv.ensure_dirs(root)
    Path(root, "j1.1").write_text('{"started": 1, "finished": 1, "rc": 0}')
    stats: list[str] = []
    for name in ("stat", "lstat"):
        real = getattr(os, name)

        def counted(path: Any, *args: Any, _real: Any = real, **kwargs: Any) -> Any:
            stats.append(str(path))
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(os, name, counted)
    assert jobs.read_job_file(root, "j1.1") == {"started": 1, "finished": 1, "rc": 0}
    # The async dir and the private dir, once each (exists + stat, lexists + lstat before).
    assert stats == [root, sv.private_dir(root)]
    # Still refused when not private, and fine when absent.
    os.chmod(root, 0o777)
    with pytest.raises(jobs.UntrustedSupervisor, match="writable by group or others"):
        jobs.read_job_file(root, "j1.1")
    assert jobs.read_job_file(str(tmp_path / "absent"), "j1.1") is None
