"""What one job costs the supervisor, and that the cheaper paths keep every record right.

A fan-out of 10,000 hosts is 10,000 starts and 10,000 final records on one
supervisor, so the file work per job is counted here (a budget that a change
must not quietly grow), and jobs that end together (finished in batches) are
checked record by record.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import os
import signal
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playgraph.runtime.connection.local import LocalConnection
from playgraph.runtime.jobspec import JobSpec
from playgraph.runtime.target import supervisor as sv

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]

COUNTED = ("open", "rename", "link", "unlink", "stat", "lstat", "statvfs", "listdir")

# Per job, measured on the second job of a supervisor (the first also opens
# /dev/null once, for every later job's stdin).  Start (13): look for an existing
# job (1 open, 1 lstat); the sidecar and the running record (2 x open + rename);
# .out and .err (2 opens); the keeper's lock probe (1 open); the cwd and program
# checks (3 stats).  The spawner then records the pid (a symlink) and, when the
# job ends, its exit file, in its own process: no sidecar rewrite with the pid,
# and no wrapper process per job.  Finish (11; the budget keeps the margin it
# had): look for a claim (1 open); read out and err (2 opens, 1 statvfs; the exit
# status comes with the spawner's word, the sidecar is not written again); the
# claim (1 open, 1 link) renamed onto the status file; the scratch files (4
# unlinks: out, err, exit, pid).
START_BUDGET = 13
FINISH_BUDGET = 14


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[collections.Counter[str]]:
    """Counts of the file system calls made through ``os`` while the test runs."""
    counts: collections.Counter[str] = collections.Counter()
    for name in COUNTED:
        real = getattr(os, name)

        def counting(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            counts[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, name, counting)

    def counting_open(*args: Any, **kwargs: Any) -> Any:
        counts["open"] += 1
        return open(*args, **kwargs)

    # The supervisor's own file objects (reads of records and output).
    monkeypatch.setattr(sv, "open", counting_open, raising=False)
    yield counts


def _stop_keeper(root: Path) -> None:
    pid = sv.lock_pid(str(root / sv.PRIVATE_DIR), sv.KEEPER_LOCK)
    if pid and sv.pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


def test_a_job_costs_a_bounded_number_of_file_calls(
    tmp_path: Path, counted: collections.Counter[str]
) -> None:
    root = tmp_path / "async"
    sv.ensure_dirs(str(root))
    start_calls: collections.Counter[str] = collections.Counter()
    finish_calls: collections.Counter[str] = collections.Counter()

    async def main() -> None:
        sup = sv.Supervisor(str(root), 0)
        sup.loop = asyncio.get_running_loop()
        sup.stopped = sup.loop.create_future()
        env = {"PATH": "/usr/bin:/bin"}
        for n in (1, 2):
            # Long enough for its start to be counted alone (starts overlap other work).
            req = {"job": {"jid": f"j{n}", "limit": 30, "argv": ["sleep", "0.5"], "env_base": env}}
            counted.clear()
            answer = await sup.op_start(req, {})
            if n == 2:
                start_calls.update(counted)
            job = sup.jobs[f"j{n}"]
            assert answer["pid"] != os.getpid() and not job.wrapped
            if sup.disk_handle is not None:
                sup.disk_handle.cancel()  # the periodic disk check is not a job's cost
            counted.clear()
            # The spawner reaps it and tells the supervisor, whose finisher writes the record.
            deadline = time.monotonic() + 10
            while f"j{n}" in sup.jobs and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            if n == 2:
                finish_calls.update(counted)
            record = sv.read_json(str(root / f"j{n}"))
            assert record["rc"] == 0 and record["cmd"] == ["sleep", "0.5"], record
        if sup.disk_handle is not None:
            sup.disk_handle.cancel()
        if getattr(sup, "devnull", None) is not None:
            os.close(sup.devnull)
        spawner = sup.spawner.pid
        sup.spawner.close()  # it exits at the end of its stream, having no job left
        assert spawner is not None and os.waitpid(spawner, 0)[1] == 0

    try:
        asyncio.run(main())
    finally:
        _stop_keeper(root)
    print(f"start: {dict(start_calls)}; finish: {dict(finish_calls)}")
    assert sum(start_calls.values()) <= START_BUDGET, start_calls
    assert sum(finish_calls.values()) <= FINISH_BUDGET, finish_calls
    # Each of the job's records is a whole file, and nothing is left behind.
    assert sv.read_json(str(root / "j2"))["rc"] == 0
    assert (root / "j2").stat().st_ino == (root / sv.PRIVATE_DIR / "j2.final").stat().st_ino
    left = sorted(p.name for p in (root / sv.PRIVATE_DIR).iterdir())
    assert [n for n in left if not n.endswith((".json", ".final", ".lock", ".log"))] == [], left


@pytest.mark.e2e
def test_jobs_that_end_together_each_get_their_own_record(async_dir: Path, arun: Run[None]) -> None:
    """More jobs than one finishing batch end at once: every record is the job's own
    (rc, output, input), published, and no scratch or tmp file is left."""
    count = sv.FINISH_BATCH * sv.FINISHERS + 9
    conn = LocalConnection("localhost")

    def job(n: int) -> JobSpec:
        line = 'read x; echo "out $x"; echo "err $x" >&2; exit $((x % 3))'
        return JobSpec(
            jid=f"j{n}.1",
            limit=30,
            async_dir=str(async_dir),
            argv=["sh", "-c", line] if n % 2 else None,
            shell=None if n % 2 else line,
            stdin=f"{n}\n".encode(),
        )

    async def main() -> None:
        began = time.monotonic()
        for n in range(count):
            await conn.start_job(job(n))
        jids = [f"j{n}.1" for n in range(count)]
        done: dict[str, dict[str, Any]] = {}
        while len(done) < count:
            assert time.monotonic() - began < 60, f"{count - len(done)} jobs not finished"
            left = [j for j in jids if j not in done]
            got = await conn.wait_jobs(left, timeout=10, async_dir=str(async_dir))
            done.update({jid: rec for jid, rec in got.items() if rec["finished"]})
        for n in range(count):
            rec = done[f"j{n}.1"]
            assert (rec["rc"], rec["stdout"], rec["stderr"]) == (n % 3, f"out {n}", f"err {n}"), rec

    arun(main())
    priv = async_dir / sv.PRIVATE_DIR
    for n in range(count):
        jid = f"j{n}.1"
        assert (async_dir / jid).stat().st_ino == (priv / f"{jid}.final").stat().st_ino
        assert sv.read_sidecar(str(priv), jid)["state"] == sv.FINISHED
    leftovers = [
        p.name
        for folder in (async_dir, priv)
        for p in folder.iterdir()
        if p.name.endswith((".tmp", ".out", ".err", ".rc", ".in"))
    ]
    assert leftovers == []


def test_stdin_reaches_the_job_from_its_first_byte(async_dir: Path, arun: Run[None]) -> None:
    """The input file is written and handed over through one descriptor: the job
    reads it from the start, binary and whole."""
    conn = LocalConnection("localhost")
    data = bytes(range(256)) * 300

    async def main() -> None:
        await conn.start_job(
            JobSpec(
                jid="j1.1",
                limit=30,
                async_dir=str(async_dir),
                argv=["sh", "-c", "base64 -w0"],
                stdin=data,
            )
        )
        rec = (await conn.wait_jobs(["j1.1"], timeout=20, async_dir=str(async_dir)))["j1.1"]
        assert rec["finished"] and rec["rc"] == 0, rec
        assert base64.b64decode(rec["stdout"]) == data

    arun(main())
