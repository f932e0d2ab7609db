"""The job supervisor against real processes: limits, records, restarts, the protocol.

Measured numbers are printed (run with ``-s`` to see them).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
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

from .conftest import MTIME_TICK

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]

pytestmark = pytest.mark.e2e

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
DELTA_RE = re.compile(r"^\d+:\d\d:\d\d\.\d{6}$")


# --------------------------------------------------------------------------- helpers


def group_members(pgid: int) -> list[tuple[int, str]]:
    """(pid, state) of every process in group ``pgid``, zombies included, from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if int(fields[2]) == pgid:
            members.append((int(entry), fields[0].decode()))
    return members


def live_members(pgid: int) -> list[int]:
    return [pid for pid, state in group_members(pgid) if state not in ("Z", "X")]


async def group_gone(pgid: int, within: float = 0.5, *, reaped: bool = False) -> bool:
    """Whether the group has no live process (or, ``reaped``, none at all) left.

    Signals land at once; dying (and being reaped) takes a moment on a busy machine.
    """
    members = (lambda: group_members(pgid)) if reaped else (lambda: live_members(pgid))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while members() and loop.time() < deadline:
        await asyncio.sleep(0.01)
    return not members()


def spec(jid: str, limit: float, async_dir: Path, **kw: Any) -> JobSpec:
    return JobSpec(jid=jid, limit=limit, async_dir=str(async_dir), **kw)


def status_file(async_dir: Path, jid: str) -> Any:
    return json.loads((async_dir / jid).read_text())


def sidecar(async_dir: Path, jid: str) -> dict[str, Any]:
    data: dict[str, Any] = sv.read_sidecar(str(async_dir / sv.PRIVATE_DIR), jid)
    return data


async def wait_finished(
    conn: LocalConnection, async_dir: Path, jids: list[str], timeout: float = 10
) -> dict[str, dict[str, Any]]:
    """Wait (through the supervisor's push) until every job has its final record."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    done: dict[str, dict[str, Any]] = {}
    left = list(jids)
    while left:
        remaining = deadline - loop.time()
        assert remaining > 0, f"jobs still running: {left}"
        got = await conn.wait_jobs(left, timeout=remaining, async_dir=str(async_dir))
        for jid, rec in got.items():
            assert rec is not None, jid
            if rec["finished"]:
                done[jid] = rec
        left = [j for j in left if j not in done]
    return done


# --------------------------------------------------------------------------- limits


def test_limit_kills_the_whole_group_on_time(
    async_dir: Path, tmp_path: Path, arun: Run[None]
) -> None:
    marker = tmp_path / "MARKER"
    conn = LocalConnection("localhost")

    async def main() -> None:
        await conn.start_job(
            spec("j1.1", 1, async_dir, argv=["sh", "-c", f"sleep 3; touch {marker}"])
        )
        # A job that ignores SIGTERM is SIGKILLed TERM_GRACE later.
        await conn.start_job(spec("j2.1", 1, async_dir, shell="trap '' TERM; sleep 30; sleep 30"))
        meta = sidecar(async_dir, "j1.1")
        stubborn = sidecar(async_dir, "j2.1")
        got = await conn.wait_jobs(["j1.1"], timeout=5, async_dir=str(async_dir))
        seen = time.time()
        rec = got["j1.1"]
        assert rec is not None and rec["finished"] == 1
        assert rec["failed"] is True and rec["msg"] == "Timeout exceeded"
        assert rec["child_pid"] == meta["pid"]
        raw = status_file(async_dir, "j1.1")
        assert raw == {"msg": "Timeout exceeded", "failed": True, "child_pid": meta["pid"]}
        written = (async_dir / "j1.1").stat().st_mtime - meta["start"]
        print(
            f"\ntimeout record written {written - 1:+.4f} s after the limit; "
            f"seen by wait {seen - meta['start'] - 1:+.4f} s"
        )
        # A file's mtime comes from the kernel's coarse clock (one tick, up to 10 ms at
        # HZ=100, behind time.time()): a record written 1 ms after the limit can look early.
        assert 1.0 - MTIME_TICK <= written < 1.3
        assert seen - meta["start"] < 1.3
        assert await group_gone(meta["pgid"])
        assert sidecar(async_dir, "j1.1")["state"] == "timeout"

        # The stubborn job: recorded at the limit, its group SIGKILLed 2 s later.
        rec2 = (await wait_finished(conn, async_dir, ["j2.1"]))["j2.1"]
        assert rec2["msg"] == "Timeout exceeded" and time.time() - stubborn["start"] < 1.3
        assert live_members(stubborn["pgid"]) != []  # sleep ignores TERM: still there
        await asyncio.sleep(max(0.0, stubborn["start"] + 1 + sv.TERM_GRACE + 0.3 - time.time()))
        # Gone and reaped (the spawner, the jobs' parent, is their orphans' subreaper).
        assert await group_gone(stubborn["pgid"], within=0.2, reaped=True)

        await asyncio.sleep(max(0.0, meta["start"] + 3.3 - time.time()))
        assert not marker.exists()

    arun(main())


def test_job_finished_before_its_limit_is_never_overwritten(
    async_dir: Path, arun: Run[None]
) -> None:
    conn = LocalConnection("localhost")

    async def main() -> None:
        await conn.start_job(spec("j1.1", 1, async_dir, argv=["sleep", "0.85"]))
        await conn.start_job(spec("j2.1", 1, async_dir, shell="echo quick"))
        recs = await wait_finished(conn, async_dir, ["j1.1", "j2.1"])
        assert recs["j1.1"].get("rc") == 0 and "failed" not in recs["j1.1"], recs
        start = sidecar(async_dir, "j1.1")["start"]
        # Past the limit and past the SIGKILL grace: nothing touched the records.
        await asyncio.sleep(max(0.0, start + 1 + sv.TERM_GRACE + 0.2 - time.time()))
        for jid in ("j1.1", "j2.1"):
            raw = status_file(async_dir, jid)
            assert raw["rc"] == 0 and raw["msg"] == "" and "Timeout" not in json.dumps(raw)
            assert sidecar(async_dir, jid)["state"] == "finished"
        assert status_file(async_dir, "j2.1")["stdout"] == "quick"

    arun(main())


# --------------------------------------------------------------------------- records


def test_status_while_running_and_after(async_dir: Path, arun: Run[None]) -> None:
    conn = LocalConnection("localhost")
    ad = str(async_dir)

    async def main() -> None:
        launch = await conn.start_job(
            spec(
                "j7.1", 10, async_dir, shell="echo out; echo err >&2; sleep 0.4; printf 'two\\n\\n'"
            )
        )
        rf = str(async_dir / "j7.1")
        assert launch == {
            "ansible_job_id": "j7.1",
            "started": True,
            "finished": False,
            "results_file": rf,
            "changed": True,
            "failed": False,
        }
        # The running record is on disk when start returns.
        assert status_file(async_dir, "j7.1") == {
            "started": True,
            "finished": False,
            "ansible_job_id": "j7.1",
        }
        running = (await conn.job_status(["j7.1"], async_dir=ad))["j7.1"]
        assert running == {
            "started": True,
            "finished": False,
            "ansible_job_id": "j7.1",
            "results_file": rf,
            "stdout": "",
            "stderr": "",
            "stdout_lines": [],
            "stderr_lines": [],
        }
        rec = (await wait_finished(conn, async_dir, ["j7.1"]))["j7.1"]
        assert rec["started"] is True and rec["finished"] is True
        assert rec["rc"] == 0 and rec["changed"] is True and rec["msg"] == ""
        assert rec["cmd"] == "echo out; echo err >&2; sleep 0.4; printf 'two\\n\\n'"
        assert rec["stdout"] == "out\ntwo" and rec["stdout_lines"] == ["out", "two"]
        assert rec["stderr"] == "err" and rec["stderr_lines"] == ["err"]
        assert TIME_RE.match(rec["start"]) and TIME_RE.match(rec["end"])
        assert DELTA_RE.match(rec["delta"]) and 0.35 <= float(rec["delta"].rsplit(":", 1)[1]) < 5
        assert rec["ansible_job_id"] == "j7.1" and rec["results_file"] == rf
        assert "failed" not in rec

        # An unknown jid: ansible-core's "could not find job" record.
        missing = await conn.job_status(["j404.1"], async_dir=ad)
        assert missing["j404.1"]["msg"] == "could not find job"
        assert missing["j404.1"]["failed"] is True and missing["j404.1"]["finished"] is True
        assert jobs.status_record("j404.1", None, "/x/j404.1") == {
            "started": True,
            "finished": True,
            "failed": True,
            "msg": "could not find job",
            "ansible_job_id": "j404.1",
            "results_file": "/x/j404.1",
            "stdout": "",
            "stderr": "",
            "stdout_lines": [],
            "stderr_lines": [],
        }

    arun(main())


def test_failures_stderr_and_undecodable_output(
    async_dir: Path, tmp_path: Path, arun: Run[None]
) -> None:
    conn = LocalConnection("localhost")

    async def main() -> None:
        await conn.start_job(spec("j1.1", 10, async_dir, shell="echo bad >&2; exit 3"))
        await conn.start_job(spec("j2.1", 10, async_dir, argv=["printf", "\\377\\376ok\\n"]))
        await conn.start_job(spec("j3.1", 10, async_dir, argv=["no-such-program-xyz"]))
        await conn.start_job(spec("j4.1", 10, async_dir, argv=["true"], cwd=str(tmp_path / "nope")))
        # stdin, env, cwd and a chosen shell.
        await conn.start_job(spec("j5.1", 10, async_dir, argv=["cat"], stdin=b"fed\n"))
        await conn.start_job(
            spec(
                "j6.1",
                10,
                async_dir,
                shell='echo "$FOO:$PWD:$BASH_VERSION" | cut -c1-200',
                env={"FOO": "bar"},
                cwd=str(tmp_path),
                executable="/bin/bash",
            )
        )
        # argv never runs a shell builtin (sh's `exit` would end the wrapper).
        await conn.start_job(spec("j7.1", 10, async_dir, argv=["exit", "3"]))
        recs = await wait_finished(conn, async_dir, [f"j{i}.1" for i in range(1, 8)])
        r1 = recs["j1.1"]
        assert r1["rc"] == 3 and r1["failed"] is True and r1["msg"] == "non-zero return code"
        assert r1["stderr"] == "bad" and r1["changed"] is True
        assert recs["j2.1"]["stdout"] == "\ufffd\ufffdok"
        r3 = recs["j3.1"]
        # As the command module reports a missing program.
        assert r3["rc"] == 2 and r3["failed"] is True
        assert r3["msg"] == "[Errno 2] No such file or directory: 'no-such-program-xyz'"
        r4 = recs["j4.1"]
        assert r4["failed"] is True and r4["msg"].startswith("Unable to change directory")
        assert recs["j5.1"]["stdout"] == "fed"
        foo, pwd, bash = recs["j6.1"]["stdout"].split(":", 2)
        assert (foo, pwd) == ("bar", str(tmp_path)) and bash
        assert recs["j7.1"]["rc"] == 2 and "exit" in recs["j7.1"]["msg"]
        # Scratch files are gone once the records are written.
        leftovers = [
            p.name
            for p in (async_dir / sv.PRIVATE_DIR).iterdir()
            if p.suffix in (".out", ".err", ".rc", ".in")
        ]
        assert leftovers == []

    arun(main())


MODULE = r"""
import json, sys
mode = sys.argv[1]
if mode == "junk":
    print("leading junk")
    print("more junk {")
    print(json.dumps({"changed": False, "source": "user"}))
    print("junk_after_module_output")
    sys.stderr.write("printed to stderr\n")
elif mode == "warn":
    print(json.dumps({"changed": True, "warnings": "own warning"}))
    print("trailing")
else:
    print("Traceback: no json here")
    sys.stderr.write("boom\n")
"""


def test_json_results(async_dir: Path, tmp_path: Path, arun: Run[None]) -> None:
    module = tmp_path / "mod.py"
    module.write_text(MODULE)
    conn = LocalConnection("localhost")
    py = sys.executable

    async def main() -> None:
        for i, mode in enumerate(("junk", "warn", "bad"), 1):
            await conn.start_job(
                spec(
                    f"j{i}.1",
                    10,
                    async_dir,
                    argv=[py, str(module), mode],
                    result="json",
                    module="mymod",
                )
            )
        recs = await wait_finished(conn, async_dir, ["j1.1", "j2.1", "j3.1"])
        raw1 = status_file(async_dir, "j1.1")
        assert raw1 == {
            "changed": False,
            "source": "user",
            "stderr": "printed to stderr\n",
            "warnings": [
                "Module invocation had junk after the JSON data: junk_after_module_output"
            ],
        }
        assert recs["j1.1"]["finished"] == 1 and recs["j1.1"]["stderr_lines"] == [
            "printed to stderr"
        ]
        assert status_file(async_dir, "j2.1")["warnings"] == [
            "own warning",
            "Module invocation had junk after the JSON data: trailing",
        ]
        raw3 = status_file(async_dir, "j3.1")
        assert raw3["failed"] == 1 and raw3["ansible_job_id"] == "j3.1"
        assert raw3["data"] == "Traceback: no json here\n" and raw3["stderr"] == "boom\n"
        assert raw3["msg"] == "ValueError: No start of json char found"
        assert raw3["cmd"] == [py, str(module), "bad"]
        assert sidecar(async_dir, "j1.1")["module"] == "mymod"

    arun(main())


def test_status_record_shapes() -> None:
    rf = "/home/u/.ansible_async/j1.2"
    running = {"started": 1, "finished": 0, "ansible_job_id": "j1.2"}
    assert jobs.status_record("j1.2", running, rf)["finished"] is False
    # Old (<= 2.18) job files hold 0/1; records are 2.19's booleans.
    assert jobs.status_record("j1.2", {"started": True, "finished": False}, rf)["started"] is True
    done = jobs.status_record("j1.2", {"rc": 0, "stdout": "a\nb", "nested": {"x": 1}}, rf)
    assert (
        done["finished"] is True and done["started"] is True and done["stdout_lines"] == ["a", "b"]
    )
    assert done["stderr"] == "" and done["nested"] == {"x": 1}
    # Unparsable: damaged (every writer renames whole files into place), never
    # "running" forever; test_supervisor_faults.py has the details.
    for raw in ("{not json", b"", "[1, 2]"):
        rec = jobs.status_record("j1.2", raw, rf)
        assert rec["finished"] is True and rec["failed"] is True and "damaged" in rec["msg"]
    assert jobs.status_record("j1.2", json.dumps({"rc": 1}), rf)["finished"] is True
    # A module result with "started" but no "finished" stays "running", as in ansible-core.
    assert jobs.status_record("j1.2", {"started": 1}, rf)["finished"] is False
    for _ in range(50):
        assert re.fullmatch(r"j\d{1,12}\.\d+", jobs.new_jid())
    assert jobs.new_jid().endswith(f".{os.getpid()}")


# --------------------------------------------------------------------------- wait


def test_wait_answers_when_a_job_ends_not_at_the_timeout(async_dir: Path, arun: Run[None]) -> None:
    conn = LocalConnection("localhost")
    ad = str(async_dir)

    async def main() -> None:
        await conn.start_job(spec("j1.1", 10, async_dir, argv=["sleep", "0.3"]))
        await conn.start_job(spec("j2.1", 10, async_dir, argv=["sleep", "5"]))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        got = await conn.wait_jobs(["j2.1", "j1.1"], timeout=10, async_dir=ad)
        waited = loop.time() - t0
        assert got["j1.1"] is not None and got["j1.1"]["finished"] == 1
        assert got["j2.1"]["finished"] is False
        end = sidecar(async_dir, "j1.1")["end"]
        print(
            f"\nwait answered {time.time() - end:.4f} s after the job ended (waited {waited:.3f} s)"
        )
        assert waited < 0.3 + 0.2
        # Nothing finishes: the answer comes at the timeout.
        t0 = loop.time()
        got = await conn.wait_jobs(["j2.1"], timeout=0.3, async_dir=ad)
        assert 0.29 <= loop.time() - t0 < 0.5
        assert got["j2.1"]["finished"] is False
        # Already finished or unknown: at once.
        t0 = loop.time()
        got = await conn.wait_jobs(["j2.1", "j1.1", "j9.9"], timeout=5, async_dir=ad)
        assert loop.time() - t0 < 0.1 and got["j9.9"]["msg"] == "could not find job"

    arun(main())


# --------------------------------------------------------------------------- scale


def test_hundred_jobs_through_one_client(async_dir: Path, arun: Run[None]) -> None:
    conn = LocalConnection("localhost")
    n = 100

    async def main() -> None:
        client = await jobs.local_supervisor(str(async_dir))  # warm: the daemon is up
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        launches = await asyncio.gather(
            *(
                conn.start_job(spec(f"j{i}.7", 10, async_dir, argv=["echo", f"job {i}"]))
                for i in range(n)
            )
        )
        launch = loop.time() - t0
        assert [r["ansible_job_id"] for r in launches] == [f"j{i}.7" for i in range(n)]
        recs = await wait_finished(conn, async_dir, [f"j{i}.7" for i in range(n)])
        total = loop.time() - t0
        print(
            f"\n{n} jobs: launch {launch * 1000 / n:.2f} ms/job ({launch * 1000:.0f} ms), "
            f"all recorded after {total * 1000:.0f} ms"
        )
        for i in range(n):
            assert recs[f"j{i}.7"]["stdout"] == f"job {i}" and recs[f"j{i}.7"]["rc"] == 0
        assert launch / n < 0.02
        # One supervisor, one stream for every caller on this loop.
        assert await jobs.local_supervisor(str(async_dir)) is client
        listed = await conn.list_jobs(async_dir=str(async_dir))
        assert len(listed) == n and {m["state"] for m in listed} == {"finished"}

    arun(main())


# --------------------------------------------------------------------------- durability


def test_job_survives_its_controller(async_dir: Path, arun: Run[None]) -> None:
    code = f"""
import asyncio
from playgraph.runtime.jobspec import JobSpec
from playgraph.runtime.connection.local import LocalConnection
async def main():
    conn = LocalConnection("localhost")
    print(await conn.start_job(JobSpec(jid="j5.5", limit=10, async_dir={str(async_dir)!r},
                                       shell="sleep 0.5; echo done")))
asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "'finished': False" in out.stdout
    conn = LocalConnection("localhost")

    async def main() -> None:
        rec = (await wait_finished(conn, async_dir, ["j5.5"]))["j5.5"]
        assert rec["stdout"] == "done" and rec["rc"] == 0

    arun(main())


def test_jobs_survive_the_supervisor(async_dir: Path, arun: Run[None]) -> None:
    conn = LocalConnection("localhost")
    ad = str(async_dir)

    async def main() -> None:
        client = await jobs.local_supervisor(ad)
        old_pid = (await client.ping())["pid"]
        await conn.start_job(
            spec("j1.1", 10, async_dir, shell="sleep 0.3; echo A")
        )  # ends while none runs
        await conn.start_job(
            spec("j2.1", 10, async_dir, shell="sleep 1.2; echo B")
        )  # ends after restart
        await conn.start_job(
            spec("j3.1", 1.5, async_dir, argv=["sleep", "30"])
        )  # deadline after restart
        await conn.start_job(
            spec("j4.1", 10, async_dir, argv=["sleep", "30"])
        )  # killed by someone else: its spawner outlives the supervisor and hears how
        lost_pgid = sidecar(async_dir, "j4.1")["pgid"]
        late = sidecar(async_dir, "j3.1")
        os.kill(old_pid, signal.SIGKILL)
        await asyncio.sleep(0.6)
        os.killpg(lost_pgid, signal.SIGKILL)
        await asyncio.sleep(0.05)
        # The cached client notices the loss; the next call starts a new supervisor.
        recs = await wait_finished(conn, async_dir, ["j1.1", "j2.1", "j3.1", "j4.1"])
        new = await jobs.local_supervisor(ad)
        assert new is not client and (await new.ping())["pid"] != old_pid
        assert recs["j1.1"]["stdout"] == "A" and recs["j1.1"]["rc"] == 0
        assert recs["j2.1"]["stdout"] == "B" and recs["j2.1"]["rc"] == 0
        assert recs["j3.1"]["msg"] == "Timeout exceeded" and recs["j3.1"]["failed"] is True
        # As the command module reports a program killed by a signal (never "lost":
        # the job's exit status outlived its supervisor).
        killed = recs["j4.1"]
        assert (killed["failed"], killed["rc"], killed["msg"]) == (True, -9, "non-zero return code")
        written = (async_dir / "j3.1").stat().st_mtime - late["start"]
        print(f"\nadopted job's timeout recorded {written - 1.5:+.3f} s after its limit")
        assert 1.5 - MTIME_TICK <= written < 1.5 + sv.ADOPT_POLL + 0.3
        assert await group_gone(late["pgid"])
        states = {m["jid"]: m["state"] for m in await conn.list_jobs(async_dir=ad)}
        assert states == {
            "j1.1": "finished",
            "j2.1": "finished",
            "j3.1": "timeout",
            "j4.1": "finished",
        }

    arun(main())


def test_a_wait_in_flight_outlives_the_supervisor(async_dir: Path, arun: Run[None]) -> None:
    conn = LocalConnection("localhost")
    ad = str(async_dir)

    async def main() -> None:
        pid = (await (await jobs.local_supervisor(ad)).ping())["pid"]
        await conn.start_job(spec("j1.1", 10, async_dir, shell="sleep 0.8; echo X"))
        waiting = asyncio.ensure_future(conn.wait_jobs(["j1.1"], timeout=10, async_dir=ad))
        await asyncio.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        # The connection retries on a fresh supervisor, which adopts the job.
        rec = (await waiting)["j1.1"]
        assert rec is not None and rec["finished"] == 1 and rec["stdout"] == "X"

    arun(main())


def test_status_files_are_readable_without_a_supervisor(async_dir: Path, arun: Run[None]) -> None:
    conn = LocalConnection("localhost")

    async def main() -> None:
        await conn.start_job(spec("j1.1", 10, async_dir, argv=["echo", "durable"]))
        await wait_finished(conn, async_dir, ["j1.1"])
        client = await jobs.local_supervisor(str(async_dir))
        await client.shutdown()

    arun(main())
    deadline = time.monotonic() + 5
    while sv.lock_held(str(async_dir / sv.PRIVATE_DIR / sv.LOCK_NAME)):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert not (async_dir / sv.PRIVATE_DIR / sv.SOCK_NAME).exists()
    raw = (async_dir / "j1.1").read_text()
    rec = jobs.status_record("j1.1", raw, str(async_dir / "j1.1"))
    assert rec["finished"] == 1 and rec["stdout"] == "durable"


# --------------------------------------------------------------------------- ops


def test_kill_list_cleanup(async_dir: Path, arun: Run[None]) -> None:
    conn = LocalConnection("localhost")
    ad = str(async_dir)

    async def main() -> None:
        await conn.start_job(spec("j1.1", 60, async_dir, argv=["sleep", "30"], module="shell"))
        await conn.start_job(spec("j2.1", 60, async_dir, argv=["true"]))
        await wait_finished(conn, async_dir, ["j2.1"])
        pgid = sidecar(async_dir, "j1.1")["pgid"]
        listed = {m["jid"]: m for m in await conn.list_jobs(async_dir=ad)}
        assert listed["j1.1"]["state"] == "running" and listed["j2.1"]["state"] == "finished"
        assert listed["j1.1"]["limit"] == 60 and listed["j1.1"]["module"] == "shell"
        assert listed["j1.1"]["cmd"] == ["sleep", "30"] and listed["j1.1"]["pid"] == pgid

        t0 = time.monotonic()
        killed = await conn.kill_job("j1.1", async_dir=ad)
        assert time.monotonic() - t0 < 0.5  # sleep dies on SIGTERM; no 2 s grace needed
        assert killed is not None and killed["finished"] == 1
        assert status_file(async_dir, "j1.1") == {
            "failed": True,
            "killed": True,
            "msg": "killed by playgraph jobs kill",
            "child_pid": pgid,
        }
        assert await group_gone(pgid)
        # Killing a finished job changes nothing; an unknown one is None.
        again = await conn.kill_job("j2.1", async_dir=ad)
        assert again is not None and again["rc"] == 0
        assert await conn.kill_job("j3.3", async_dir=ad) is None
        listed = {m["jid"]: m["state"] for m in await conn.list_jobs(async_dir=ad)}
        assert listed == {"j1.1": "killed", "j2.1": "finished"}

        assert await conn.cleanup_job("j2.1", async_dir=ad) is True
        assert not (async_dir / "j2.1").exists()
        assert not (async_dir / sv.PRIVATE_DIR / "j2.1.json").exists()
        assert await conn.cleanup_job("j2.1", async_dir=ad) is False
        assert (await conn.job_status(["j2.1"], async_dir=ad))["j2.1"][
            "msg"
        ] == "could not find job"
        # A foreign job file (ansible-core's own wrapper) is listed too.
        (async_dir / "j8.8").write_text(json.dumps({"started": 1, "finished": 0}))
        listed = {m["jid"]: m["state"] for m in await conn.list_jobs(async_dir=ad)}
        assert listed == {"j1.1": "killed", "j8.8": "running"}

    arun(main())


def test_bad_requests_never_crash_the_daemon(async_dir: Path, arun: Run[None]) -> None:
    async def main() -> None:
        client = await jobs.local_supervisor(str(async_dir))
        sock = async_dir / sv.PRIVATE_DIR / sv.SOCK_NAME
        reader, writer = await jobs.open_unix(str(sock))
        for line in (
            b"not json\n",
            b"[1]\n",
            b'{"id": 1, "op": "nope"}\n',
            b'{"id": 2, "op": "start", "job": {"jid": "../x", "limit": 1, "argv": ["true"]}}\n',
            b'{"id": 3, "op": "start", "job": {"jid": "j1.1", "limit": -1, "argv": ["true"]}}\n',
            b'{"id": 4, "op": "start", "job": {"jid": "j1.1", "limit": 1}}\n',
            b'{"id": 5, "op": "status", "jids": "j1"}\n',
            b'{"id": 6, "op": "wait", "jids": [], "timeout": -1}\n',
        ):
            writer.write(line)
            await writer.drain()
            msg = json.loads(await reader.readline())
            assert "error" in msg and "result" not in msg, msg
        writer.close()
        spec1 = spec("j1.1", 5, async_dir, argv=["true"])
        await client.start(spec1)
        with pytest.raises(jobs.JobError, match="already exists"):
            await client.start(spec1)
        assert (await client.ping())["pong"] is True

    arun(main())


def test_concurrent_starts_give_one_daemon(async_dir: Path, arun: Run[None]) -> None:
    async def bridge() -> int:
        proc = await asyncio.create_subprocess_exec(
            *jobs.supervisor_argv("client", "--async-dir", str(async_dir)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate(b'{"id": 1, "op": "ping"}\n')
        hello, answer = out.decode().splitlines()
        assert json.loads(hello)["hello"]["async_dir"] == str(async_dir)
        pid: int = json.loads(answer)["result"]["pid"]
        return pid

    async def socket_client() -> int:
        pid: int = (await (await jobs.local_supervisor(str(async_dir))).ping())["pid"]
        return pid

    async def main() -> None:
        pids = await asyncio.gather(*(bridge() for _ in range(4)), socket_client())
        assert len(set(pids)) == 1
        serving = []
        for entry in os.listdir("/proc"):
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if (
                b"serve" in cmdline
                and str(async_dir).encode() in cmdline
                and sv.pid_alive(int(entry))
            ):
                serving.append(int(entry))
        assert serving == [pids[0]]
        # Started without site and never through a shim.
        assert b"-S" in Path(f"/proc/{pids[0]}/cmdline").read_bytes().split(b"\0")
        assert "shims" not in os.path.realpath(jobs.target_python())

    arun(main())


def test_idle_exit(async_dir: Path, arun: Run[None]) -> None:
    async def main() -> None:
        client = await jobs.local_supervisor(str(async_dir), idle_exit=0.4)
        await client.start(spec("j1.1", 5, async_dir, argv=["sleep", "0.3"]))
        pid = (await client.ping())["pid"]
        await client.close()
        await asyncio.sleep(0.45)
        assert sv.pid_alive(pid)  # a job was running until 0.3 s: idle only since then
        for _ in range(100):
            if not sv.pid_alive(pid):
                break
            await asyncio.sleep(0.02)
        assert not sv.pid_alive(pid)
        assert not (async_dir / sv.PRIVATE_DIR / sv.SOCK_NAME).exists()
        assert status_file(async_dir, "j1.1")["rc"] == 0

    arun(main())


def _vermin(*paths: Path) -> subprocess.CompletedProcess[str]:
    """vermin's verdict on whether ``paths`` run on Python 3.8 (syntax and stdlib API)."""
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "vermin"),
            "-t=3.8-",
            "--no-tips",
            "--violations",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_target_code_runs_on_python_3_8(tmp_path: Path) -> None:
    """The supervisor and the target programs are shipped to targets, whose python3 may
    be as old as 3.8 (this machine has none to run them on, so vermin reads them)."""
    target = Path(sv.__file__).parent
    verdict = _vermin(target)
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    assert "Minimum required versions: 3." in verdict.stdout
    # The check itself bites: 3.9's str.removeprefix and 3.10's match are caught.
    newer = tmp_path / "newer.py"
    newer.write_text("x = 'ab'.removeprefix('a')\nmatch x:\n    case _:\n        pass\n")
    caught = _vermin(newer)
    assert caught.returncode != 0 and "removeprefix" in caught.stdout, caught.stdout


def test_spawn_falls_back_to_popen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def no_spawn(*args: Any, **kwargs: Any) -> int:
        raise NotImplementedError

    monkeypatch.setattr(os, "posix_spawn", no_spawn)
    out = tmp_path / "out"
    with open(os.devnull, "rb") as stdin, open(out, "wb") as stdout:
        pid, proc = sv.spawn(
            ["/bin/sh", "-c", "echo $$; [ $(ps -o pgid= -p $$) -eq $$ ]"],
            dict(os.environ),
            stdin,
            stdout,
            stdout,
        )
    assert proc is not None and proc.wait() == 0
    assert int(out.read_text()) == pid
