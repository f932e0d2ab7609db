"""The job supervisor under faults: stale environments, a stopped or killed
supervisor, full disks, huge output, damaged status files, other versions.

Real processes throughout; the disk-full cases mount a small tmpfs (root).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playgraph.runtime import jobs
from playgraph.runtime.connection.local import LocalConnection
from playgraph.runtime.jobspec import JobSpec
from playgraph.runtime.target import supervisor as sv

from .conftest import MTIME_TICK, stop_supervisor

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def spec(jid: str, limit: float, async_dir: Path, **kw: Any) -> JobSpec:
    return JobSpec(jid=jid, limit=limit, async_dir=str(async_dir), **kw)


def sidecar(async_dir: Path, jid: str) -> dict[str, Any]:
    data: dict[str, Any] = sv.read_sidecar(str(async_dir / sv.PRIVATE_DIR), jid)
    return data


def supervisor_pid(async_dir: Path) -> int:
    # A daemon just forked by ``serve`` writes its pid a moment after the launcher exits.
    deadline = time.monotonic() + 5
    pid = sv.lock_pid(str(async_dir / sv.PRIVATE_DIR))
    while pid is None and time.monotonic() < deadline:
        time.sleep(0.01)
        pid = sv.lock_pid(str(async_dir / sv.PRIVATE_DIR))
    assert pid is not None
    return pid


def live_group(pgid: int) -> bool:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


async def finished(conn: LocalConnection, async_dir: Path, jid: str) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while loop.time() < deadline:
        got = await conn.wait_jobs([jid], timeout=5, async_dir=str(async_dir))
        if got[jid]["finished"]:
            return got[jid]
    raise AssertionError(f"{jid} never finished")


def no_tmp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.tmp")]


# --------------------------------------------------------------------------- environment


def test_each_job_gets_its_own_runs_environment(
    async_dir: Path, arun: Run[None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A supervisor started by one run serves the next: the next run's jobs see
    the next run's environment, not the first's."""

    async def run_once(value: str | None) -> str:
        if value is None:
            monkeypatch.delenv("PGTEST_PROFILE", raising=False)
        else:
            monkeypatch.setenv("PGTEST_PROFILE", value)
        conn = LocalConnection("localhost")
        jid = jobs.new_jid()
        await conn.start_job(spec(jid, 10, async_dir, shell="echo ${PGTEST_PROFILE-unset}"))
        rec = await finished(conn, async_dir, jid)
        await jobs.close_clients()  # the run ends; its supervisor stays
        return str(rec["stdout"])

    async def main() -> None:
        assert await run_once("first") == "first"
        pid = supervisor_pid(async_dir)
        assert await run_once("second") == "second"
        assert await run_once(None) == "unset"
        assert supervisor_pid(async_dir) == pid  # the same, long-lived supervisor

    arun(main())


def test_a_bridge_gives_its_jobs_its_session_environment(async_dir: Path, arun: Run[None]) -> None:
    """Through a ``client`` bridge (ssh, become) the base environment is the bridge's."""

    async def main() -> None:
        # The supervisor is started by a local controller with its own environment...
        os.environ["PGTEST_WHERE"] = "controller"
        try:
            await jobs.local_supervisor(str(async_dir))
        finally:
            del os.environ["PGTEST_WHERE"]
        env = {"PATH": os.environ["PATH"], "HOME": "/root", "PGTEST_WHERE": "session"}
        proc = await asyncio.create_subprocess_exec(
            *jobs.supervisor_argv("client", "--async-dir", str(async_dir)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        job = jobs.spec_to_wire(spec("j1.1", 10, async_dir, shell="echo $PGTEST_WHERE"))
        request = {"id": 1, "op": "start", "job": job}
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(request).encode() + b"\n")
        hello = json.loads(await proc.stdout.readline())["hello"]
        assert hello["version"] == jobs.SUPERVISOR_VERSION and hello["pid"] > 0
        assert "result" in json.loads(await proc.stdout.readline())
        proc.stdin.close()
        await proc.wait()
        rec = await finished(LocalConnection("localhost"), async_dir, "j1.1")
        assert rec["stdout"] == "session"

    arun(main())


def test_secrets_in_the_environment_never_reach_disk_or_argv(
    async_dir: Path, arun: Run[None], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "pgtest-secret-4711"
    monkeypatch.setenv("PGTEST_TOKEN", secret)

    async def main() -> None:
        conn = LocalConnection("localhost")
        await conn.start_job(spec("j1.1", 10, async_dir, argv=["sleep", "0.3"]))
        await conn.start_job(
            spec("j2.1", 10, async_dir, argv=["true"], env={"PGTEST_TASK_SECRET": secret + "x"})
        )
        pid = supervisor_pid(async_dir)
        for proc in (pid, sidecar(async_dir, "j1.1")["watchdog"]):
            assert secret.encode() not in Path(f"/proc/{proc}/cmdline").read_bytes()
        await finished(conn, async_dir, "j1.1")
        await finished(conn, async_dir, "j2.1")
        for path in async_dir.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path

    arun(main())


# --------------------------------------------------------------------------- deadlines


def test_a_stopped_supervisor_fails_requests_at_their_deadline(
    async_dir: Path, arun: Run[None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAYGRAPH_SUPERVISOR_GRACE", "1")
    conn = LocalConnection("localhost")
    ad = str(async_dir)

    async def main() -> None:
        await conn.start_job(spec("j1.1", 30, async_dir, argv=["sleep", "30"]))
        pid = supervisor_pid(async_dir)
        os.kill(pid, signal.SIGSTOP)
        try:
            loop = asyncio.get_running_loop()
            began = loop.time()
            with pytest.raises(jobs.JobError) as caught:
                # The guard only turns a hang into a clear failure of this test.
                await asyncio.wait_for(conn.wait_jobs(["j1.1"], timeout=1, async_dir=ad), 20)
            took = loop.time() - began
            assert took < 1 + 1 + 1.0, took
            message = str(caught.value)
            assert f"pid {pid}" in message and ad in message and "supervisor" in message
            # The next request does not queue behind it either: a new client meets
            # the same silence and says so within the grace.
            began = loop.time()
            with pytest.raises(jobs.JobError, match=f"pid {pid}"):
                await asyncio.wait_for(conn.list_jobs(async_dir=ad), 20)
            assert loop.time() - began < 1 + 1.0
            # A status is read from the job file itself: no supervisor needed.
            began = loop.time()
            got = await asyncio.wait_for(conn.job_status(["j1.1"], async_dir=ad), 20)
            assert got["j1.1"]["started"] and not got["j1.1"]["finished"], got
            assert loop.time() - began < 0.5
        finally:
            os.kill(pid, signal.SIGCONT)

    arun(main())


def test_the_limit_holds_while_no_supervisor_runs(async_dir: Path, arun: Run[None]) -> None:
    """SIGKILL the supervisor right after the launch: the watchdog kills the job at
    its limit and writes the timeout record; nobody asks the supervisor anything."""
    conn = LocalConnection("localhost")

    async def main() -> None:
        await conn.start_job(spec("j1.1", 1.5, async_dir, argv=["sleep", "30"]))
        await conn.start_job(spec("j2.1", 1.5, async_dir, shell="trap '' TERM; sleep 30"))
        await conn.start_job(spec("j3.1", 5, async_dir, argv=["sleep", "0.2"]))
        metas = {jid: sidecar(async_dir, jid) for jid in ("j1.1", "j2.1", "j3.1")}
        os.kill(supervisor_pid(async_dir), signal.SIGKILL)
        await jobs.close_clients()
        t0 = metas["j1.1"]["start"]
        while live_group(metas["j1.1"]["pgid"]) and time.time() < t0 + 5:
            await asyncio.sleep(0.02)
        killed_after = time.time() - t0
        assert 1.5 <= killed_after < 1.5 + 0.5, killed_after
        # The one ignoring SIGTERM gets SIGKILL TERM_GRACE later.
        t2 = metas["j2.1"]["start"]
        while live_group(metas["j2.1"]["pgid"]) and time.time() < t2 + 8:
            await asyncio.sleep(0.02)
        assert 1.5 + sv.TERM_GRACE <= time.time() - t2 < 1.5 + sv.TERM_GRACE + 0.6
        await asyncio.sleep(0.3)
        for jid in ("j1.1", "j2.1"):
            record = json.loads((async_dir / jid).read_text())
            assert record == sv.timeout_record(metas[jid]["pid"]), record
        assert not no_tmp_files(async_dir)
        # A new supervisor adopts them all and agrees.
        rec = await finished(conn, async_dir, "j3.1")
        assert rec["rc"] == 0
        states = {m["jid"]: m["state"] for m in await conn.list_jobs(async_dir=str(async_dir))}
        assert states == {"j1.1": "timeout", "j2.1": "timeout", "j3.1": "finished"}

    arun(main())


def test_an_adopted_job_keeps_its_original_deadline(async_dir: Path, arun: Run[None]) -> None:
    conn = LocalConnection("localhost")

    async def main() -> None:
        await conn.start_job(spec("j1.1", 2, async_dir, argv=["sleep", "30"]))
        meta = sidecar(async_dir, "j1.1")
        os.kill(supervisor_pid(async_dir), signal.SIGKILL)
        await jobs.close_clients()
        await asyncio.sleep(0.5)
        rec = await finished(conn, async_dir, "j1.1")  # a new supervisor adopts it
        assert rec["msg"] == "Timeout exceeded"
        written = (async_dir / "j1.1").stat().st_mtime - meta["start"]
        assert 2 - MTIME_TICK <= written < 2 + 0.6, written

    arun(main())


# --------------------------------------------------------------------------- disk full


@pytest.fixture
def small_async_dir(async_dir: Path) -> Iterator[Path]:
    """The async dir on a 64 KiB tmpfs (private, as the supervisor requires)."""
    async_dir.mkdir(parents=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(async_dir)], check=True
    )
    try:
        yield async_dir
    finally:
        stop_supervisor(async_dir)
        subprocess.run(["umount", "-l", str(async_dir)], check=False)


def test_output_filling_the_disk_fails_the_job_and_says_enospc(
    small_async_dir: Path, arun: Run[None]
) -> None:
    conn = LocalConnection("localhost")

    async def main() -> None:
        await conn.start_job(
            spec(
                "j1.1",
                10,
                small_async_dir,
                shell="sleep 0.2; head -c 300000 /dev/zero | tr '\\0' x",
            )
        )
        rec = await finished(conn, small_async_dir, "j1.1")
        assert rec["failed"] is True
        assert "ENOSPC" in rec["msg"] and "No space left on device" in rec["msg"], rec["msg"]
        assert not no_tmp_files(small_async_dir)
        # Space is back once the job's scratch files are gone: the next job works.
        await conn.start_job(spec("j2.1", 10, small_async_dir, shell="echo ok"))
        assert (await finished(conn, small_async_dir, "j2.1"))["stdout"] == "ok"

    arun(main())


def test_a_start_on_a_full_disk_fails_with_enospc(small_async_dir: Path, arun: Run[None]) -> None:
    conn = LocalConnection("localhost")

    async def main() -> None:
        await jobs.local_supervisor(str(small_async_dir))
        filler = small_async_dir / "filler"
        with contextlib.suppress(OSError), open(filler, "wb") as f:
            while True:
                f.write(b"x" * 4096)
                f.flush()
        with pytest.raises(jobs.JobError, match=r"No space left on device \(ENOSPC\)"):
            await conn.start_job(spec("j1.1", 10, small_async_dir, argv=["sleep", "5"]))
        assert not no_tmp_files(small_async_dir)
        assert not (small_async_dir / "j1.1").exists()
        assert not (small_async_dir / sv.PRIVATE_DIR / "j1.1.json").exists()
        filler.unlink()
        await conn.start_job(spec("j2.1", 10, small_async_dir, shell="echo ok"))
        assert (await finished(conn, small_async_dir, "j2.1"))["stdout"] == "ok"

    arun(main())


def test_a_job_ending_on_a_full_disk_is_not_running_forever(
    small_async_dir: Path, arun: Run[None]
) -> None:
    """The record cannot be written even without the output: it is written in the
    running record's place, naming the cause."""
    conn = LocalConnection("localhost")
    filler = small_async_dir / "filler"

    async def main() -> None:
        fill = f"sleep 0.3; cat /dev/zero > {filler}; echo done"
        await conn.start_job(spec("j1.1", 10, small_async_dir, shell=fill))
        rec = await finished(conn, small_async_dir, "j1.1")
        assert rec["failed"] is True and "ENOSPC" in rec["msg"], rec
        assert not no_tmp_files(small_async_dir)

    arun(main())


def test_huge_output_is_read_back_whole(async_dir: Path, arun: Run[None]) -> None:
    """50 MB of non-ASCII output is a ~150 MB record (JSON escapes): over the
    protocol's line limit, read back in pieces, as ansible-core returns it whole."""
    conn = LocalConnection("localhost")
    line = "é" * 499
    count = 50 * 1000 * 1000 // (len(line.encode()) + 1)

    async def main() -> None:
        await conn.start_job(spec("j1.1", 60, async_dir, shell=f"yes '{line}' | head -n {count}"))
        rec = await finished(conn, async_dir, "j1.1")
        assert rec["rc"] == 0
        assert len(rec["stdout_lines"]) == count and rec["stdout_lines"][-1] == line
        assert (async_dir / "j1.1").stat().st_size > sv.MAX_LINE

    arun(main())


# --------------------------------------------------------------------------- damage


def test_damaged_status_files_are_finished_and_say_so(async_dir: Path, arun: Run[None]) -> None:
    conn = LocalConnection("localhost")
    ad = str(async_dir)
    cases = {
        "j1.1": (b"", "it is empty"),
        "j2.1": (b'{"started": true, "fini', "not valid JSON"),
        "j3.1": (b"[1, 2]", "JSON array, not an object"),
        "j4.1": (b'"text"', "JSON string, not an object"),
        "j5.1": (b"42", "JSON number, not an object"),
    }

    async def main() -> None:
        await jobs.local_supervisor(ad)
        for jid, (raw, _) in cases.items():
            (async_dir / jid).write_bytes(raw)
        recs = await conn.job_status(list(cases), async_dir=ad)
        for jid, (_, damage) in cases.items():
            rec = recs[jid]
            assert rec["finished"] is True and rec["failed"] is True, rec
            assert str(async_dir / jid) in rec["msg"] and damage in rec["msg"], rec["msg"]
        # A wait on a damaged job answers at once instead of timing out.
        began = time.monotonic()
        await conn.wait_jobs(["j3.1"], timeout=5, async_dir=ad)
        assert time.monotonic() - began < 1
        listed = {m["jid"]: m for m in await conn.list_jobs(async_dir=ad)}
        for jid, (_, damage) in cases.items():
            assert listed[jid]["state"] == "finished" and damage in listed[jid]["damaged"]

    arun(main())


def test_nul_bytes_fail_only_that_job_clearly(async_dir: Path, arun: Run[None]) -> None:
    conn = LocalConnection("localhost")

    async def main() -> None:
        for kw, what in (
            ({"argv": ["echo", "a\0b"]}, "argv contains a NUL byte"),
            ({"shell": "echo a\0b"}, "the command contains a NUL byte"),
            ({"shell": "echo", "env": {"A": "x\0y"}}, "the value of A contains a NUL byte"),
            ({"shell": "echo", "env": {"A\0B": "x"}}, "invalid environment variable name"),
            ({"shell": "echo", "cwd": "/tmp\0x"}, "chdir contains a NUL byte"),
        ):
            with pytest.raises(jobs.JobError, match=what):
                await conn.start_job(spec(jobs.new_jid(), 5, async_dir, **kw))
        await conn.start_job(spec("j1.1", 5, async_dir, shell="echo fine"))
        assert (await finished(conn, async_dir, "j1.1"))["stdout"] == "fine"

    arun(main())


def test_a_playbook_with_damaged_and_nul_jobs_fails_only_those_tasks(tmp_path: Path) -> None:
    async_dir = tmp_path / "async"
    async_dir.mkdir(mode=0o700)
    (async_dir / "j9.9").write_text("[1]")
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: read a damaged job
      async_status: {jid: j9.9}
      register: damaged
      ignore_errors: true
    - name: a NUL in argv
      command: {argv: ["echo", "a\\0b"]}
      async: 5
      poll: 0
      ignore_errors: true
    - name: launch
      command: echo still here
      async: 5
      poll: 1
      register: after
    - assert:
        that:
          - damaged.finished
          - "'damaged' in damaged.msg"
          - after.stdout == 'still here'
"""
    )
    inventory = tmp_path / "hosts"
    inventory.write_text("localhost ansible_connection=local\n")
    env = dict(os.environ, ANSIBLE_ASYNC_DIR=str(async_dir))
    try:
        proc = subprocess.run(
            [str(REPO / ".venv/bin/playgraph"), "run", "-i", str(inventory), str(playbook)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    finally:
        stop_supervisor(async_dir)
    assert "internal error" not in proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "NUL byte" in proc.stdout


# --------------------------------------------------------------------------- who started it


def test_sidecars_record_run_host_and_task(tmp_path: Path) -> None:
    async_dir = tmp_path / "async"
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        """
- hosts: h1
  gather_facts: false
  tasks:
    - name: background {{ inventory_hostname }}
      command: sleep 0.1
      async: 5
      poll: 0
"""
    )
    inventory = tmp_path / "hosts"
    inventory.write_text("h1 ansible_connection=local\n")
    env = dict(os.environ, ANSIBLE_ASYNC_DIR=str(async_dir))
    try:
        proc = subprocess.run(
            [str(REPO / ".venv/bin/playgraph"), "run", "-i", str(inventory), str(playbook)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        (meta,) = [sv.read_json(str(p)) for p in (async_dir / sv.PRIVATE_DIR).glob("j*.json")]
    finally:
        stop_supervisor(async_dir)
    hostname, pid, started = meta["run_id"].split(":")
    assert hostname and int(pid) > 0 and int(started) > 0
    assert meta["host"] == "h1"
    assert meta["task"]["name"] == "background h1" and meta["task"]["id"]


def test_list_shows_run_host_and_task(async_dir: Path, arun: Run[None]) -> None:
    conn = LocalConnection("localhost")

    async def main() -> None:
        task = {"name": "t", "id": "n1"}
        await conn.start_job(
            spec("j1.1", 5, async_dir, argv=["true"], run_id=jobs.RUN_ID, host="web1", task=task)
        )
        await finished(conn, async_dir, "j1.1")
        (listed,) = await conn.list_jobs(async_dir=str(async_dir))
        assert (listed["run_id"], listed["host"], listed["task"]) == (jobs.RUN_ID, "web1", task)
        assert jobs.RUN_ID.split(":")[1] == str(os.getpid())

    arun(main())


# --------------------------------------------------------------------------- versions


def test_a_supervisor_of_another_version_is_replaced(
    async_dir: Path, tmp_path: Path, arun: Run[None]
) -> None:
    other = tmp_path / "old" / "supervisor.py"
    other.parent.mkdir()
    shutil.copy(sv.__file__, other)
    with open(other, "a") as f:
        f.write("\n# another build\n")
    assert sv.program_version(str(other)) != jobs.SUPERVISOR_VERSION

    async def main() -> None:
        subprocess.run(
            [jobs.target_python(), "-E", "-S", str(other), "serve", "--async-dir", str(async_dir)],
            check=True,
            timeout=10,
        )
        old_pid = supervisor_pid(async_dir)
        # The old build starts a job (through its own bridge), then we come along.
        bridge = await asyncio.create_subprocess_exec(
            jobs.target_python(),
            "-E",
            "-S",
            str(other),
            "client",
            "--async-dir",
            str(async_dir),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        job = jobs.spec_to_wire(spec("j1.1", 10, async_dir, shell="sleep 0.5; echo old"))
        out, _ = await bridge.communicate(
            json.dumps({"id": 1, "op": "start", "job": job}).encode() + b"\n"
        )
        assert b'"result"' in out.splitlines()[1]
        client = await jobs.local_supervisor(str(async_dir))
        info = await client.ping()
        assert info["version"] == jobs.SUPERVISOR_VERSION and info["pid"] != old_pid
        assert not sv.pid_alive(old_pid)
        rec = await finished(LocalConnection("localhost"), async_dir, "j1.1")
        assert rec["stdout"] == "old"  # adopted: the status file stays the truth

    arun(main())
