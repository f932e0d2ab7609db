"""LocalConnection against real processes: commands, files, become, jobs through it."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playgraph.runtime import jobs
from playgraph.runtime.connection.local import LocalConnection
from playgraph.runtime.connection.posix import sudo_argv
from playgraph.runtime.jobspec import Become, JobSpec
from playgraph.runtime.target import supervisor as sv

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]

pytestmark = pytest.mark.e2e

# A stand-in for sudo (none is installed here, and tests must not need root's
# password): it parses the options playgraph passes, asks for a password on
# stderr with -S (one line read from stdin, byte by byte, as sudo does), logs
# the user, then runs the command as the current user.
FAKE_SUDO = r"""#!/bin/sh
prompt="Password:"; S=0; N=0; user=root
while [ $# -gt 0 ]; do
  case "$1" in
    -n) N=1; shift;;
    -H) shift;;
    -S) S=1; shift;;
    -p) prompt=$2; shift 2;;
    -u) user=$2; shift 2;;
    --) shift; break;;
    *) echo "fake sudo: unknown option $1" >&2; exit 2;;
  esac
done
echo "user=$user n=$N s=$S" >> "$FAKE_SUDO_LOG"
if [ -n "$FAKE_SUDO_PASSWORD" ]; then
  if [ "$S" != 1 ]; then echo "sudo: a password is required" >&2; exit 1; fi
  tries=0
  while :; do
    printf '%s' "$prompt" >&2
    IFS= read -r pw || exit 1
    [ "$pw" = "$FAKE_SUDO_PASSWORD" ] && break
    tries=$((tries + 1))
    [ $tries -ge 3 ] && { echo "sudo: 3 incorrect password attempts" >&2; exit 1; }
  done
fi
exec "$@"
"""


@pytest.fixture
def fake_sudo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    sudo = bindir / "sudo"
    sudo.write_text(FAKE_SUDO)
    sudo.chmod(0o755)
    log = tmp_path / "sudo.log"
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SUDO_LOG", str(log))
    monkeypatch.delenv("FAKE_SUDO_PASSWORD", raising=False)
    return log


def alive(pid: int) -> bool:
    return sv.pid_alive(pid)


# --------------------------------------------------------------------------- run


def test_run_argv_shell_env_cwd_stdin(tmp_path: Path, arun: Run[None]) -> None:
    conn = LocalConnection("localhost")

    async def main() -> None:
        await conn.connect()
        t0 = time.time()
        r = await conn.run(["echo", "hi"])
        assert (r.rc, r.stdout, r.stderr) == (0, b"hi\n", b"")
        assert t0 <= r.start <= r.end <= time.time()
        r = await conn.run(
            shell="echo $BASH_VERSION; echo oops >&2; exit 4", executable="/bin/bash"
        )
        assert r.rc == 4 and r.stdout.strip() and r.stderr == b"oops\n"
        r = await conn.run(
            shell='echo "$FOO:$PWD"; command -v sh', env={"FOO": "bar"}, cwd=str(tmp_path)
        )
        foo_pwd, sh = r.stdout.decode().splitlines()
        assert foo_pwd == f"bar:{tmp_path}" and sh  # PATH kept: the env is merged
        r = await conn.run(["cat"], stdin=b"\xff\x00data")
        assert r.stdout == b"\xff\x00data"
        r = await conn.run(["sh", "-c", "kill -9 $$"])
        assert r.rc == -9
        r = await conn.run(["no-such-program-xyz"])
        assert r.rc == 127 and b"no-such-program-xyz" in r.stderr
        r = await conn.run(["true"], cwd=str(tmp_path / "missing"))
        assert r.rc == 1 and r.stderr.startswith(b"Unable to change directory")
        with pytest.raises(ValueError):
            await conn.run(["true"], shell="true")

    arun(main())


def test_run_timeout_and_cancel_stop_the_process_group(tmp_path: Path, arun: Run[None]) -> None:
    conn = LocalConnection("localhost")
    bg = tmp_path / "bg.pid"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        r = await conn.run(shell=f"echo started; sleep 30 & echo $! > {bg}; wait", timeout=0.5)
        took = loop.time() - t0
        assert r.rc == -signal.SIGTERM and r.stdout == b"started\n"
        assert 0.5 <= took < 1.5
        assert not alive(int(bg.read_text()))  # the background child went with the group

        bg.unlink()
        task = asyncio.ensure_future(conn.run(shell=f"sleep 30 & echo $! > {bg}; wait"))
        while not bg.exists() or not bg.read_text().strip():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Signalled at once; dying takes the scheduler a moment on a busy machine.
        pid = int(bg.read_text())
        for _ in range(100):
            if not alive(pid):
                break
            await asyncio.sleep(0.01)
        assert not alive(pid)

    arun(main())


# --------------------------------------------------------------------------- files


def test_put_and_get_file(tmp_path: Path, arun: Run[None]) -> None:
    conn = LocalConnection("localhost")
    target = tmp_path / "f.txt"

    async def main() -> None:
        await conn.put_file(b"one", str(target), mode=0o640)
        assert target.read_bytes() == b"one" and stat.S_IMODE(target.stat().st_mode) == 0o640
        await conn.put_file(b"two", str(target))  # an existing file keeps its mode
        assert target.read_bytes() == b"two" and stat.S_IMODE(target.stat().st_mode) == 0o640
        assert await conn.get_file(str(target)) == b"two"
        assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]  # no temp files left
        with pytest.raises(FileNotFoundError):
            await conn.get_file(str(tmp_path / "missing"))
        with pytest.raises(FileNotFoundError):
            await conn.put_file(b"x", str(tmp_path / "no" / "dir" / "f"))

    arun(main())


# --------------------------------------------------------------------------- become


def test_sudo_argv() -> None:
    assert sudo_argv(Become(user="app")) == ["sudo", "-n", "-H", "-u", "app", "--"]
    assert sudo_argv(Become(user="app"), prompt="P:") == [
        "sudo",
        "-H",
        "-S",
        "-p",
        "P:",
        "-u",
        "app",
        "--",
    ]
    assert sudo_argv(Become(flags="-n -E"), prompt="P:") == [
        "sudo",
        "-E",
        "-S",
        "-p",
        "P:",
        "-u",
        "root",
        "--",
    ]
    with pytest.raises(jobs.JobError, match="su"):
        sudo_argv(Become(method="su"))


def test_become_run_and_files(
    fake_sudo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arun: Run[None]
) -> None:
    conn = LocalConnection("localhost")
    target = tmp_path / "owned.txt"

    async def main() -> None:
        r = await conn.run(["cat"], stdin=b"data", become=Become(user="app"))
        assert (r.rc, r.stdout) == (0, b"data")
        # sudo resets the environment: variables are set inside it.
        r = await conn.run(shell="echo $FOO", env={"FOO": "b a r"}, become=Become(user="app"))
        assert r.stdout == b"b a r\n"
        # With a password: answered on sudo's prompt only, never fed to the command.
        monkeypatch.setenv("FAKE_SUDO_PASSWORD", "s3cret")
        r = await conn.run(["cat"], stdin=b"data", become=Become(user="app", password="s3cret"))
        assert (r.rc, r.stdout, r.stderr) == (0, b"data", b"")
        r = await conn.run(["cat"], stdin=b"data", become=Become(user="app", password="wrong"))
        assert r.rc != 0 and b"incorrect sudo password" in r.stderr and b"data" not in r.stdout
        monkeypatch.setenv("FAKE_SUDO_PASSWORD", "")  # NOPASSWD: sudo asks nothing
        r = await conn.run(["cat"], stdin=b"data", become=Become(user="app", password="s3cret"))
        assert (r.rc, r.stdout) == (0, b"data")

        await conn.put_file(b"as app", str(target), mode=0o600, become=Become(user="app"))
        assert target.read_bytes() == b"as app" and stat.S_IMODE(target.stat().st_mode) == 0o600
        assert await conn.get_file(str(target), become=Become(user="app")) == b"as app"
        with pytest.raises(OSError, match="could not read"):
            await conn.get_file(str(tmp_path / "missing"), become=Become(user="app"))

    arun(main())
    log = fake_sudo.read_text().splitlines()
    assert log[0] == "user=app n=1 s=0" and "user=app n=0 s=1" in log


def test_become_files_expand_tilde_as_the_target_user(
    fake_sudo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arun: Run[None]
) -> None:
    # Under become, ``~`` is the target user's home (as over SSH), not a folder named "~".
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # the fake sudo keeps it: "the target user's"
    monkeypatch.chdir(tmp_path)
    conn = LocalConnection("localhost")

    async def main() -> None:
        await conn.put_file(b"tilde", "~/t.txt", become=Become(user="app"))
        assert await conn.get_file("~/t.txt", become=Become(user="app")) == b"tilde"

    arun(main())
    assert (home / "t.txt").read_bytes() == b"tilde" and not (tmp_path / "~").exists()


def test_become_jobs_go_through_the_bridge(
    fake_sudo: Path, async_dir: Path, monkeypatch: pytest.MonkeyPatch, arun: Run[None]
) -> None:
    monkeypatch.setenv("FAKE_SUDO_PASSWORD", "s3cret")
    conn = LocalConnection("localhost")
    become = Become(user="app", password="s3cret")
    ad = str(async_dir)

    async def main() -> None:
        launch = await conn.start_job(
            JobSpec(jid="j1.1", limit=5, shell="echo as-app", async_dir=ad, become=become)
        )
        assert launch["results_file"] == str(async_dir / "j1.1") and launch["finished"] == 0
        got = await conn.wait_jobs(["j1.1"], timeout=5, async_dir=ad, become=become)
        rec = got["j1.1"]
        assert rec is not None and rec["finished"] == 1 and rec["stdout"] == "as-app"
        # One bridge per (user, dir): later calls reuse it.
        assert (await conn.job_status(["j1.1"], async_dir=ad, become=become))["j1.1"] == rec
        assert [m["jid"] for m in await conn.list_jobs(async_dir=ad, become=become)] == ["j1.1"]
        assert await conn.cleanup_job("j1.1", async_dir=ad, become=become) is True
        await conn.close()

    arun(main())
    log = fake_sudo.read_text().splitlines()
    assert log == ["user=app n=0 s=1"]  # a single sudo for all of it


def test_become_bridge_failure_is_a_clear_error(
    fake_sudo: Path, async_dir: Path, monkeypatch: pytest.MonkeyPatch, arun: Run[None]
) -> None:
    monkeypatch.setenv("FAKE_SUDO_PASSWORD", "s3cret")
    conn = LocalConnection("localhost")

    async def main() -> None:
        with pytest.raises(jobs.JobError, match="as app: sudo: a password is required"):
            await conn.job_status(["j1.1"], async_dir=str(async_dir), become=Become(user="app"))

    arun(main())


# --------------------------------------------------------------------------- jobs


def test_jobs_keep_running_after_close(async_dir: Path, tmp_path: Path, arun: Run[None]) -> None:
    marker = tmp_path / "done"
    ad = str(async_dir)

    async def first() -> None:
        conn = LocalConnection("web1")
        launch = await conn.start_job(
            JobSpec(jid="j1.1", limit=5, shell=f"sleep 0.3; touch {marker}", async_dir=ad)
        )
        assert launch["ansible_job_id"] == "j1.1"
        await conn.close()

    async def second() -> None:
        conn = LocalConnection("web2")  # another inventory host on this machine
        got = await conn.wait_jobs(["j1.1"], timeout=5, async_dir=ad)
        assert got["j1.1"] is not None and got["j1.1"]["rc"] == 0

    arun(first())
    arun(second())
    assert marker.exists()
