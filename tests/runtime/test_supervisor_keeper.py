"""The keeper and exactly-one final records: a stopped or killed supervisor never
turns a timeout into "job lost", never leaves a finished job "running", never
runs a launch twice; a stopped local supervisor is reported at once.

Real processes throughout (the disk case mounts a small tmpfs: root).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playgraph.runtime import jobs
from playgraph.runtime.connection.local import LocalConnection
from playgraph.runtime.context import RunOptions
from playgraph.runtime.jobspec import JobSpec
from playgraph.runtime.target import supervisor as sv

from .conftest import stop_supervisor

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]

pytestmark = pytest.mark.e2e


def spec(jid: str, limit: float, async_dir: Path, **kw: Any) -> JobSpec:
    return JobSpec(jid=jid, limit=limit, async_dir=str(async_dir), **kw)


def sidecar(async_dir: Path, jid: str) -> dict[str, Any]:
    data: dict[str, Any] = sv.read_sidecar(str(async_dir / sv.PRIVATE_DIR), jid)
    return data


def record(async_dir: Path, jid: str) -> Any:
    return json.loads((async_dir / jid).read_text())


def supervisor_pid(async_dir: Path) -> int:
    pid = sv.lock_pid(str(async_dir / sv.PRIVATE_DIR))
    assert pid is not None
    return pid


def until(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def finished_record(async_dir: Path, jid: str) -> bool:
    try:
        rec = record(async_dir, jid)
    except (OSError, ValueError):
        return False
    return not ("started" in rec and not rec.get("finished"))


def test_a_stopped_supervisor_leaves_timeouts_and_results_to_the_keeper(
    async_dir: Path, arun: Run[None]
) -> None:
    """SIGSTOP the supervisor: the keeper kills the job past its limit and writes
    "Timeout exceeded", and finishes the short job with its real result; resumed,
    the supervisor keeps both records (it used to call the first "job lost")."""
    conn = LocalConnection("localhost")

    async def main() -> None:
        await conn.start_job(spec("j1.1", 1, async_dir, argv=["sleep", "30"]))
        await conn.start_job(spec("j2.1", 5, async_dir, shell="sleep 0.3; echo short"))
        metas = {jid: sidecar(async_dir, jid) for jid in ("j1.1", "j2.1")}
        pid = supervisor_pid(async_dir)
        os.kill(pid, signal.SIGSTOP)
        try:
            assert until(lambda: not sv.pid_alive(metas["j1.1"]["pid"]), 3)
            took = time.time() - metas["j1.1"]["start"]
            assert 1 <= took < 1 + 0.7, took
            assert until(lambda: finished_record(async_dir, "j1.1"), 2)
            assert until(lambda: finished_record(async_dir, "j2.1"), 2)
            assert record(async_dir, "j1.1") == sv.timeout_record(metas["j1.1"]["pid"])
            short = record(async_dir, "j2.1")
            assert (short["rc"], short["stdout"]) == (0, "short"), short
        finally:
            os.kill(pid, signal.SIGCONT)
        await jobs.close_clients()
        got = await conn.job_status(["j1.1", "j2.1"], async_dir=str(async_dir))
        assert got["j1.1"]["msg"] == "Timeout exceeded", got["j1.1"]
        assert (got["j2.1"]["rc"], got["j2.1"]["stdout"]) == (0, "short")
        states = {m["jid"]: m["state"] for m in await conn.list_jobs(async_dir=str(async_dir))}
        assert states == {"j1.1": "timeout", "j2.1": "finished"}
        leftovers = [p.name for p in async_dir.rglob("*") if p.name.endswith(".tmp")]
        assert not leftovers

    arun(main())


def test_a_job_killed_at_its_deadline_without_us_is_a_timeout_not_lost(
    async_dir: Path, arun: Run[None]
) -> None:
    """The finisher decides from the files and the clock: no rc, ended at or after its
    deadline is "Timeout exceeded"; before it, lost."""
    root = str(async_dir)
    priv = sv.ensure_dirs(root)
    logs: list[str] = []
    base = {"cmd": ["sleep"], "result": "command", "pid": 4242, "supervisor_pid": 1}
    now = time.time()
    late = {**base, "jid": "j1.1", "start": now - 3, "deadline": now - 1}
    early = {**base, "jid": "j2.1", "start": now - 1, "deadline": now + 9}
    for meta in (late, early):
        sv.write_json_atomic(os.path.join(root, meta["jid"]), sv.running_record(meta["jid"]))
    assert sv.finish_job(root, late, None, 0.0, logs.append) == sv.timeout_record(4242)
    assert sv.finish_job(root, early, None, 0.0, logs.append)["msg"] == sv.LOST_MSG
    # A second finisher keeps the first one's record.
    assert sv.finish_job(root, dict(early), "timeout", 0.0, logs.append)["msg"] == sv.LOST_MSG
    assert record(async_dir, "j2.1")["msg"] == sv.LOST_MSG
    # The claims say how each ended; the sidecars (none here) are never written again.
    assert sorted(os.listdir(priv)) == ["j1.1.final", "j2.1.final"]


def test_a_repeated_start_answers_with_the_job_and_never_runs_it_twice(
    async_dir: Path, arun: Run[None]
) -> None:
    async def main() -> None:
        client = await jobs.local_supervisor(str(async_dir))
        job = spec("j1.1", 10, async_dir, argv=["sleep", "2"], run_id="run-a")
        first = await client.start(job)
        again = await client.start(job)
        assert again["pid"] == first["pid"] and again.get("existing") is True
        with pytest.raises(jobs.JobError, match="already exists"):
            await client.start(spec("j1.1", 10, async_dir, argv=["sleep", "2"], run_id="run-b"))
        listed = [m for m in await client.list_jobs() if m["jid"] == "j1.1"]
        assert len(listed) == 1 and listed[0]["pid"] == first["pid"]

    arun(main())


def _leave_a_half_started_job(async_dir: Path, jid: str, argv: list[str] | None) -> None:
    """What a supervisor killed mid-start leaves: sidecar (no pid yet), running
    record, and maybe the job's wrapper already running."""
    root = str(async_dir)
    priv = sv.ensure_dirs(root)
    now = time.time()
    meta = {
        "jid": jid,
        "pid": None,
        "pgid": None,
        "start": now,
        "limit": 10,
        "deadline": now + 10,
        "module": "command",
        "cmd": argv,
        "result": "command",
        "cwd": "/",
        "state": sv.RUNNING,
        "terminating": None,
        "supervisor_pid": 999999,
    }
    sv.write_json_atomic(os.path.join(priv, f"{jid}.json"), meta)
    sv.write_json_atomic(os.path.join(root, jid), sv.running_record(jid))
    if argv is not None:
        out = os.path.join(priv, f"{jid}.out")
        with open(os.devnull, "rb") as null, open(out, "wb") as stdout:
            wrapper = ["/bin/sh", "-c", sv.WRAPPER, os.path.join(priv, f"{jid}.rc"), "/", *argv]
            sv.spawn(wrapper, {"PATH": "/usr/bin:/bin"}, null, stdout, stdout)


def test_a_job_whose_supervisor_died_mid_start_is_adopted_or_reported(
    async_dir: Path, arun: Run[None]
) -> None:
    _leave_a_half_started_job(async_dir, "j1.1", ["/bin/sh", "-c", "sleep 0.5; echo adopted"])
    _leave_a_half_started_job(async_dir, "j2.1", None)
    conn = LocalConnection("localhost")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        got: dict[str, dict[str, Any]] = {}
        while loop.time() < deadline:
            got = await conn.wait_jobs(["j1.1"], timeout=2, async_dir=str(async_dir))
            if got["j1.1"]["finished"]:
                break
        assert (got["j1.1"]["rc"], got["j1.1"]["stdout"]) == (0, "adopted"), got
        lost = (await conn.job_status(["j2.1"], async_dir=str(async_dir)))["j2.1"]
        assert lost["failed"] and lost["finished"]
        assert "supervisor (pid 999999)" in lost["msg"] and "never ran" in lost["msg"]
        assert "job lost" not in lost["msg"]

    arun(main())


def test_a_stopped_local_supervisor_is_reported_at_once(async_dir: Path, arun: Run[None]) -> None:
    conn = LocalConnection("localhost")

    async def main() -> None:
        await conn.start_job(spec("j1.1", 30, async_dir, argv=["sleep", "30"]))
        pid = supervisor_pid(async_dir)
        await jobs.close_clients()
        os.kill(pid, signal.SIGSTOP)
        try:
            assert until(lambda: sv.process_stopped(pid), 2)  # delivery is asynchronous
            began = time.monotonic()
            with pytest.raises(jobs.JobError) as caught:
                await conn.list_jobs(async_dir=str(async_dir))
            assert time.monotonic() - began < 1.0
            assert f"pid {pid}" in str(caught.value) and "stopped" in str(caught.value)
            assert str(async_dir) in str(caught.value)
            # A status needs no supervisor: the job file answers.
            got = await conn.job_status(["j1.1"], async_dir=str(async_dir))
            assert got["j1.1"]["finished"] is False
        finally:
            os.kill(pid, signal.SIGCONT)
        # Resumed, it answers again.
        got = await conn.job_status(["j1.1"], async_dir=str(async_dir))
        assert got["j1.1"]["finished"] is False

    arun(main())


def test_a_silent_supervisor_gets_the_runs_grace_and_no_more() -> None:
    """Paused for the run's grace and resumed, it is waited for; silent for good, a
    task still ends within the shortest limit (1 s) + the run's grace."""
    assert "PLAYGRAPH_SUPERVISOR_GRACE" not in os.environ
    assert RunOptions().grace < jobs.request_grace() <= RunOptions().grace + 1


@pytest.fixture
def small_async_dir(async_dir: Path) -> Iterator[Path]:
    async_dir.mkdir(parents=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(async_dir)], check=True
    )
    try:
        yield async_dir
    finally:
        stop_supervisor(async_dir)
        subprocess.run(["umount", "-l", str(async_dir)], check=False)


def test_a_job_that_ran_while_the_disk_was_full_says_enospc(
    small_async_dir: Path, arun: Run[None]
) -> None:
    """Output lost to a full disk that was freed again before the job ended (other
    jobs' files removed) must not pass for the job's own failure or success."""
    conn = LocalConnection("localhost")
    filler = small_async_dir / ".filler"

    async def main() -> None:
        await conn.start_job(spec("j1.1", 10, small_async_dir, shell="sleep 1; echo out"))
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        await asyncio.sleep(sv.DISK_WATCH * 2 + 0.1)
        filler.unlink()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        got: dict[str, dict[str, Any]] = {}
        while loop.time() < deadline:
            got = await conn.wait_jobs(["j1.1"], timeout=2, async_dir=str(small_async_dir))
            if got["j1.1"]["finished"]:
                break
        assert got["j1.1"]["failed"] and "No space left on device" in got["j1.1"]["msg"], got

    arun(main())


def test_tmp_files_of_a_writer_killed_mid_write_are_swept(async_dir: Path, arun: Run[None]) -> None:
    """Every writer names its tmp files after its pid; a new supervisor removes those
    whose writer is dead (a SIGKILLed supervisor's), never a live writer's."""
    priv = Path(sv.ensure_dirs(str(async_dir)))
    dead_pid = int(subprocess.run(["sh", "-c", "echo $$"], capture_output=True).stdout)
    assert not sv.pid_alive(dead_pid)  # a pid that has just ended
    orphans = [priv / f"j1.1.json.{dead_pid}-3.tmp", async_dir / f"j1.1.{dead_pid}-4.tmp"]
    live = priv / f"j2.1.final.{os.getpid()}-5.tmp"
    for path in [*orphans, live]:
        path.write_text("{}")

    async def main() -> None:
        await jobs.local_supervisor(str(async_dir))  # starts one: it sweeps first

    arun(main())
    assert [p for p in orphans if p.exists()] == [] and live.exists()
