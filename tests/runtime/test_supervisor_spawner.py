"""Jobs are the children of the supervisor's spawner, not of an sh wrapper each.

What that must keep: a job's real exit status outlives its supervisor and its
spawner; a job starts with default signal dispositions; an rc the program chose
itself is never mistaken for a signal; a stopped supervisor's half-started job is
given up at its deadline and never started later; the keeper's cost per tick does
not grow with the jobs it keeps while a supervisor serves.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playgraph.runtime import jobs
from playgraph.runtime.connection.local import LocalConnection
from playgraph.runtime.jobspec import JobSpec
from playgraph.runtime.target import supervisor as sv

GLIBC_INTERNAL = (1 << 31) | (1 << 32)
"""SigIgn's bits for signals 32 and 33."""

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]


def spec(jid: str, limit: float, async_dir: Path, **kw: Any) -> JobSpec:
    return JobSpec(jid=jid, limit=limit, async_dir=str(async_dir), **kw)


async def finished(
    conn: LocalConnection, async_dir: Path, jid: str, within: float = 10
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        got = (await conn.wait_jobs([jid], timeout=1, async_dir=str(async_dir)))[jid]
        if got is not None and got["finished"]:
            return got
    raise AssertionError(f"{jid} did not finish within {within} s")


def spawner_of(async_dir: Path) -> int:
    """The pid of the spawner serving ``async_dir`` (by its command line)."""
    needle = b"\0spawner\0--async-dir\0" + os.fsencode(async_dir) + b"\0"
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if needle in cmdline and sv.pid_alive(int(entry)):
                return int(entry)
    raise AssertionError(f"no spawner for {async_dir}")


@pytest.mark.e2e
def test_a_job_is_the_spawners_child_with_default_signals(async_dir: Path, arun: Run[None]) -> None:
    conn = LocalConnection("localhost")

    async def main() -> None:
        # /proc/self is the job itself: no wrapper between it and the spawner.
        line = "grep -E '^(PPid|SigIgn):' /proc/self/status"
        await conn.start_job(spec("j1.1", 10, async_dir, argv=["sh", "-c", f"exec {line}"]))
        rec = await finished(conn, async_dir, "j1.1")
        fields = dict(line.split(":\t") for line in rec["stdout"].splitlines())
        assert int(fields["PPid"]) == spawner_of(async_dir)
        # Nothing ignored (but glibc's internal signals 32 and 33, which posix_spawn
        # leaves ignored and no program can use).
        assert int(fields["SigIgn"], 16) & ~GLIBC_INTERNAL == 0, fields
        # And no file of the spawner's or of another job's: stdin, stdout, stderr
        # (and the directory ls reads).
        await conn.start_job(spec("j2.1", 10, async_dir, argv=["ls", "/proc/self/fd"]))
        listed = (await finished(conn, async_dir, "j2.1"))["stdout"].split()
        assert sorted(listed) == ["0", "1", "2", "3"], listed

    arun(main())


@pytest.mark.e2e
def test_an_rc_the_program_chose_is_never_read_as_a_signal(
    async_dir: Path, arun: Run[None]
) -> None:
    """The rc is the job's own returncode, as the command module reports it: a
    program that exits 137 says 137; one killed by SIGKILL says -9 (an sh wrapper
    saw both as 137)."""
    conn = LocalConnection("localhost")

    async def main() -> None:
        chooses = ["python3", "-c", "import sys; sys.exit(137)"]
        await conn.start_job(spec("j1.1", 10, async_dir, argv=chooses))
        await conn.start_job(spec("j2.1", 10, async_dir, argv=["sh", "-c", "kill -9 $$"]))
        chose = await finished(conn, async_dir, "j1.1")
        killed = await finished(conn, async_dir, "j2.1")
        assert (chose["rc"], killed["rc"]) == (137, -9)
        assert chose["failed"] and killed["failed"]

    arun(main())


@pytest.mark.e2e
def test_a_killed_spawners_jobs_keep_their_real_status(async_dir: Path, arun: Run[None]) -> None:
    """SIGKILL the spawner: its running jobs are reparented to the supervisor (its
    subreaper ancestor), which reaps them with their real exit status; the next
    job gets a new spawner."""
    conn = LocalConnection("localhost")

    async def main() -> None:
        await conn.start_job(spec("j1.1", 10, async_dir, shell="sleep 0.6; echo one; exit 3"))
        await conn.start_job(spec("j2.1", 10, async_dir, argv=["sleep", "30"]))
        first = spawner_of(async_dir)
        os.kill(first, signal.SIGKILL)
        one = await finished(conn, async_dir, "j1.1")
        assert (one["rc"], one["stdout"]) == (3, "one")
        pgid = sv.read_sidecar(str(async_dir / sv.PRIVATE_DIR), "j2.1")["pgid"]
        os.killpg(pgid, signal.SIGTERM)
        two = await finished(conn, async_dir, "j2.1")
        assert (two["rc"], two["msg"]) == (-15, "non-zero return code")
        await conn.start_job(spec("j3.1", 10, async_dir, shell="echo three"))
        three = await finished(conn, async_dir, "j3.1")
        assert three["stdout"] == "three" and spawner_of(async_dir) != first
        # Nothing of theirs is left but their records.
        left = sorted(p.name for p in (async_dir / sv.PRIVATE_DIR).iterdir())
        assert not [n for n in left if n.endswith((".exit", ".pid", ".out", ".err", ".tmp"))]

    arun(main())


@pytest.mark.e2e
def test_a_job_a_stopped_supervisor_never_spawned_is_given_up_at_its_deadline(
    async_dir: Path, arun: Run[None]
) -> None:
    """What a supervisor stopped between recording a start and spawning it leaves
    (sidecar without a pid, running record): the keeper records it as never
    started once its deadline passes, naming the supervisor."""
    conn = LocalConnection("localhost")
    root = str(async_dir)

    async def main() -> None:
        # A real job first: it brings up the keeper (and keeps it).
        await conn.start_job(spec("j0.1", 10, async_dir, argv=["sleep", "3"]))
        pid = (await (await jobs.local_supervisor(root)).ping())["pid"]
        priv = sv.private_dir(root)
        now = time.time()
        meta = {
            "jid": "j1.1",
            "pid": None,
            "pgid": None,
            "start": now,
            "limit": 1,
            "deadline": now + 1,
            "cmd": ["sleep", "30"],
            "result": "command",
            "state": sv.RUNNING,
            "supervisor_pid": pid,
            "stdin": False,
        }
        sv.write_json_atomic(os.path.join(priv, "j1.1.json"), meta)
        sv.write_json_atomic(os.path.join(root, "j1.1"), sv.running_record("j1.1"))
        os.kill(pid, signal.SIGSTOP)
        try:
            record: Any = None
            give_up = time.monotonic() + 8
            while time.monotonic() < give_up:
                record = sv.read_json(os.path.join(root, "j1.1"))
                if isinstance(record, dict) and "started" not in record:
                    break
                await asyncio.sleep(0.05)
            assert isinstance(record, dict) and "never ran" in record["msg"], record
            assert f"(pid {pid})" in record["msg"] and "stopped or killed" in record["msg"]
            assert time.time() >= now + 1 + sv.KEEPER_LAG
        finally:
            os.kill(pid, signal.SIGCONT)

    arun(main())


def test_the_spawner_refuses_a_job_whose_record_is_written(tmp_path: Path) -> None:
    """A start that reaches the spawner after the keeper gave the job up (its
    supervisor was stopped mid-start, then resumed) is refused, never run."""
    root = str(tmp_path / "async")
    priv = sv.ensure_dirs(root)
    with open(os.path.join(priv, "j1.1" + sv.FINAL_EXT), "w") as claim:
        claim.write("{}")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    program = sv.__file__
    proc = subprocess.Popen(
        [sys.executable, "-E", "-S", program, "spawner", "--async-dir", root],
        stdin=theirs,
        start_new_session=True,
    )
    theirs.close()
    marker = tmp_path / "ran"
    try:
        with open(os.devnull, "rb") as null:
            fds = [null.fileno()] * 3
            for jid in ("j1.1", "j2.1"):
                line = {
                    "jid": jid,
                    "argv": ["/bin/sh", "-c", f"echo {jid} >> {marker}"],
                    "env": {"PATH": "/usr/bin:/bin"},
                    "cwd": "/",
                }
                rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("3i", *fds))]
                ours.sendmsg([json.dumps(line).encode() + b"\n"], rights)
        ours.settimeout(10)
        answers: dict[str, dict[str, Any]] = {}
        buffer = b""
        while "j1.1" not in answers or "exited" not in answers:
            buffer += ours.recv(65536)
            *lines, buffer = buffer.split(b"\n")
            for raw in lines:
                msg = json.loads(raw)
                key = "exited" if "exited" in msg else str(msg.get("spawned") or msg.get("failed"))
                answers[key] = msg
        assert answers["j1.1"]["failed"] == "j1.1" and "already written" in answers["j1.1"]["error"]
        assert answers["j2.1"]["spawned"] == "j2.1"
        assert answers["exited"]["exited"] == "j2.1" and answers["exited"]["rc"] == 0
        assert sv.read_exit(os.path.join(priv, "j2.1" + sv.EXIT_EXT))[0] == 0
        assert marker.read_text() == "j2.1\n"
    finally:
        ours.close()  # the end of its stream: it exits, having no job left
        assert proc.wait(timeout=10) == 0


def test_the_keeper_looks_only_at_due_jobs_while_a_supervisor_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = str(tmp_path / "async")
    priv = sv.ensure_dirs(root)
    keeper = sv.Keeper(root)
    now = time.time()
    for n in range(2000):
        meta = {"jid": f"j{n}", "pid": 10**7 + n, "deadline": now + 30 + n, "state": sv.RUNNING}
        keeper.keep(f"j{n}", sv._Kept(meta))
    due = {"jid": "due", "pid": 10**7 - 1, "deadline": now - 1, "state": sv.RUNNING}
    keeper.keep("due", sv._Kept(due))
    looked: list[str] = []
    real = sv.job_ended

    def counting(priv_dir: str, jid: str) -> bool:
        looked.append(jid)
        return real(priv_dir, jid)

    monkeypatch.setattr(sv, "job_ended", counting)
    keeper.tick(supervised=True)
    # The due one only: no sidecar (cleaned up), so it is done with; the rest wait.
    assert looked == [] and "due" not in keeper.kept and len(keeper.kept) == 2000
    keeper.tick(supervised=False)  # no supervisor: every job is looked at
    assert len(looked) == 2000 and os.path.isdir(priv)
