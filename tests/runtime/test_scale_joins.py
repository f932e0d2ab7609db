"""Joins never fail because the job supervisor is busy (issue 14, scale).

At 5,000 hosts the joins' status requests queued behind one busy supervisor past
their deadline, and the joins failed.  Now: a local join reads the job file (the
truth) instead of asking; an unanswered status request with attempts left is
"not finished yet"; a record the supervisor pushed while the join waited spares
the next attempt its request; and a supervisor that keeps answering other
requests is busy, not stuck, so nothing queued behind it is abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from playgraph.compiler import compile_playbook
from playgraph.runtime import jobs
from playgraph.runtime.context import RunOptions
from playgraph.runtime.inventory import Inventory
from playgraph.runtime.jobspec import Become
from playgraph.runtime.run import run_graph
from playgraph.runtime.target import supervisor as sv
from playgraph.runtime.testing.fake_connection import FakeConnection, FakeWorld
from playgraph.runtime.testing.vclock import run_virtual

JOIN = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: launch
      ansible.builtin.command: sleep 2
      async: 30
      poll: 0
      register: slow_job
    - name: join
      ansible.builtin.async_status:
        jid: "{{ slow_job.ansible_job_id }}"
      register: job_result
      until: job_result is finished
      retries: RETRIES
      delay: 1
"""


class _Unanswering(FakeConnection):
    """A target whose supervisor leaves the first ``silent`` status requests unanswered."""

    def __init__(self, host: str, world: FakeWorld, silent: float) -> None:
        super().__init__(host, world)
        self.silent = silent
        self.asked = 0

    async def job_status(
        self,
        jids: Sequence[str],
        *,
        async_dir: str = "~/.ansible_async",
        become: Become | None = None,
    ) -> dict[str, dict[str, Any]]:
        self.asked += 1
        if self.asked <= self.silent:
            await asyncio.sleep(6)
            raise jobs.SupervisorTimeout(
                "the job supervisor (pid 7) for /x did not answer 'status' within 6 s:"
                " it is stopped or stuck"
            )
        return await super().job_status(jids, async_dir=async_dir, become=become)

    async def wait_jobs(
        self,
        jids: Sequence[str],
        *,
        timeout: float,
        async_dir: str = "~/.ansible_async",
        become: Become | None = None,
    ) -> dict[str, dict[str, Any]]:
        if self.silent == float("inf"):
            await asyncio.sleep(timeout + 6)
            raise jobs.SupervisorTimeout("the job supervisor (pid 7) for /x did not answer 'wait'")
        return await super().wait_jobs(jids, timeout=timeout, async_dir=async_dir, become=become)


def _run(hosts: int, retries: int, silent: float) -> tuple[Any, FakeWorld, float]:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"pg-scale-joins-{os.getpid()}.yml"
    path.write_text(JOIN.replace("RETRIES", str(retries)))
    graph = compile_playbook(str(path)).graph
    inventory = Inventory()
    for index in range(hosts):
        inventory.add_host(f"h{index}", ["all"], {"ansible_python_interpreter": "/usr/bin/python3"})
    world = FakeWorld(latency=0.01)

    async def main() -> tuple[Any, float]:
        loop = asyncio.get_running_loop()
        began = loop.time()
        outcome = await run_graph(
            graph,
            inventory,
            RunOptions(forks=5),
            connect=lambda host, variables=None: _Unanswering(host, world, silent),
        )
        return outcome, loop.time() - began

    outcome, took = run_virtual(main())
    return outcome, world, took


def _join_results(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for play in document["plays"]:
        for entry in play["tasks"]:
            if entry["task"]["name"] == "join":
                merged.update(entry["hosts"])
    return merged


def test_an_unanswered_status_is_not_finished_yet_within_the_budget() -> None:
    outcome, _, _ = _run(hosts=4, retries=10, silent=2)
    assert outcome.exit_code == 0, outcome.document
    for host, result in _join_results(outcome.document).items():
        assert result.get("finished") is True and not result.get("failed"), (host, result)


def test_a_supervisor_that_never_answers_fails_the_join_at_the_end_of_its_budget() -> None:
    outcome, _, took = _run(hosts=2, retries=3, silent=float("inf"))
    assert outcome.exit_code == 2
    for host, result in _join_results(outcome.document).items():
        assert result.get("failed") and "did not answer 'status'" in result["msg"], (host, result)
    # Four attempts of at most 6 s + 1 s delays, not a hang (virtual seconds).
    assert took < 4 * 6 + 3 * 1 + 5, took


def test_a_record_pushed_while_waiting_spares_the_next_request() -> None:
    outcome, world, _ = _run(hosts=20, retries=10, silent=0)
    assert outcome.exit_code == 0
    asked = [call for call in world.calls if call[2] == "job_status"]
    # One request per join (its first attempt); the last attempt uses the wait's record.
    assert len(asked) == 20, len(asked)


# --------------------------------------------------------------------------- real supervisor


@pytest.mark.e2e
def test_a_join_succeeds_from_the_job_file_while_the_supervisor_is_stopped(
    tmp_path: Path, async_dir: Path
) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        "[all]\nh1\nh2\nh3\n\n[all:vars]\nansible_connection=local\n"
        f"ansible_python_interpreter=/usr/bin/python3\nansible_async_dir={async_dir}\n"
    )
    lock = async_dir / sv.PRIVATE_DIR / sv.LOCK_NAME
    # Between the launches and the joins, the supervisor is stopped (and stays so).
    stop = (
        "    - name: stop the supervisor\n"
        f"      ansible.builtin.shell: kill -STOP $(cat {lock})\n"
        "      run_once: true\n"
    )
    text = (
        JOIN.replace("sleep 2", "sleep 1")
        .replace("async: 30", "async: 20")
        .replace("RETRIES", "30")
        .replace("delay: 1", "delay: 0.3")
        .replace("    - name: join\n", stop + "    - name: join\n")
    )
    playbook = tmp_path / "play.yml"
    playbook.write_text(text)
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "playgraph",
                "run",
                str(playbook),
                "-i",
                str(inventory),
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PLAYGRAPH_SUPERVISOR_GRACE": "1"},
        )
    finally:
        pid = sv.lock_pid(str(async_dir / sv.PRIVATE_DIR))
        stopped = pid is not None and sv.process_stopped(pid)
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCONT)
    assert stopped, "the supervisor was not stopped during the joins"
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = _join_results(json.loads(done.stdout))
    assert sorted(results) == ["h1", "h2", "h3"]
    for host, result in results.items():
        assert result["finished"] is True and result["rc"] == 0, (host, result)


# --------------------------------------------------------------------------- busy or stuck


@contextlib.asynccontextmanager
async def _fake_supervisor(hold_status: float, chatter: bool) -> Any:
    """A client on a socketpair whose far end answers ``status`` after ``hold_status``
    seconds and, with ``chatter``, answers ``ping`` at once meanwhile."""
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours)
    far_reader, far_writer = await asyncio.open_connection(sock=theirs)

    async def serve() -> None:
        while line := await far_reader.readline():
            req = json.loads(line)

            async def answer(req: dict[str, Any]) -> None:
                if req["op"] == "status":
                    await asyncio.sleep(hold_status)
                    result: Any = {jid: None for jid in req["jids"]}
                elif chatter:
                    result = {"pong": True}
                else:
                    return
                far_writer.write(json.dumps({"id": req["id"], "result": result}).encode() + b"\n")

            asyncio.get_running_loop().create_task(answer(req))

    server = asyncio.get_running_loop().create_task(serve())
    client = jobs.SupervisorClient(reader, writer, async_dir="/x")
    try:
        yield client
    finally:
        await client.close()
        server.cancel()
        far_writer.close()


def test_a_busy_supervisor_is_waited_for_and_a_silent_one_abandoned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLAYGRAPH_SUPERVISOR_GRACE", "0.5")

    async def busy() -> float:
        async with _fake_supervisor(hold_status=1.5, chatter=True) as client:
            loop = asyncio.get_running_loop()
            began = loop.time()
            status = loop.create_task(client.status(["j1.1"]))
            while not status.done():
                await client.request("ping")  # other hosts' requests keep being answered
                await asyncio.sleep(0.1)
            assert status.result() == {"j1.1": None}
            assert not client.closed
            return loop.time() - began

    assert 1.5 <= asyncio.run(busy()) < 3

    async def silent() -> None:
        async with _fake_supervisor(hold_status=30, chatter=False) as client:
            loop = asyncio.get_running_loop()
            began = loop.time()
            with pytest.raises(jobs.SupervisorTimeout, match="did not answer 'status'"):
                await client.status(["j1.1"])
            assert loop.time() - began < 0.5 + 0.5
            assert client.closed

    asyncio.run(silent())
