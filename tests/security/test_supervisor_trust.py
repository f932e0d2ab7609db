"""The job supervisor trusts only its own user: directories, socket and peer.

A shared async dir, or a socket served by another user, would let that user read
every task's environment and hand back forged results; a client of another user
must not start jobs as the supervisor's user.  Both sides check (``SO_PEERCRED``).
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playgraph.runtime import jobs
from playgraph.runtime.connection.local import LocalConnection
from playgraph.runtime.jobspec import JobSpec
from playgraph.runtime.target import supervisor as sv

from tests.runtime.conftest import stop_supervisor

pytestmark = pytest.mark.e2e

OTHER = "pgtest_h3other"


@pytest.fixture(scope="module")
def other_user() -> pwd.struct_passwd:
    """Another local user (CI runs as root; created once, idempotently)."""
    try:
        return pwd.getpwnam(OTHER)
    except KeyError:
        pass
    made = subprocess.run(
        ["useradd", "--no-create-home", "-s", "/usr/sbin/nologin", OTHER], capture_output=True
    )
    if made.returncode not in (0, 9):  # 9: it exists (a concurrent run made it)
        raise RuntimeError(f"useradd {OTHER}: {made.stderr.decode().strip()}")
    return pwd.getpwnam(OTHER)


@pytest.fixture
def async_dir(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "async"
    try:
        yield root
    finally:
        stop_supervisor(root)


def run(coro: object) -> object:
    async def main() -> object:
        try:
            return await coro  # type: ignore[misc]
        finally:
            await jobs.close_clients()

    return asyncio.run(main())


def test_an_async_dir_of_another_user_is_refused(
    async_dir: Path, other_user: pwd.struct_passwd
) -> None:
    async_dir.mkdir(mode=0o700)
    os.chown(async_dir, other_user.pw_uid, other_user.pw_gid)
    with pytest.raises(jobs.JobError, match=f"owned by uid {other_user.pw_uid}, not by this user"):
        run(jobs.local_supervisor(str(async_dir)))
    assert not (async_dir / sv.PRIVATE_DIR).exists()
    # The target side refuses it as well (a bridge, or a supervisor started by hand).
    proc = subprocess.run(
        jobs.supervisor_argv("client", "--async-dir", str(async_dir)),
        input=b"",
        capture_output=True,
        timeout=20,
    )
    assert proc.returncode == 1 and b"refusing async dir" in proc.stderr, proc.stderr
    assert b"Traceback" not in proc.stderr


def test_a_group_or_world_writable_async_dir_is_refused(async_dir: Path) -> None:
    async_dir.mkdir()
    os.chmod(async_dir, 0o777)
    with pytest.raises(jobs.JobError, match=r"writable by group or others \(mode 0777\)"):
        run(jobs.local_supervisor(str(async_dir)))
    os.chmod(async_dir, 0o700)
    (async_dir / sv.PRIVATE_DIR).mkdir()
    os.chmod(async_dir / sv.PRIVATE_DIR, 0o770)
    with pytest.raises(jobs.JobError, match="refusing private dir"):
        run(jobs.local_supervisor(str(async_dir)))


def _foreign_listener(user: pwd.struct_passwd, where: Path, log: Path) -> subprocess.Popen[bytes]:
    """A unix socket server run as ``user`` that records what it is sent."""
    code = (
        "import socket,sys,os\n"
        "s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(5)\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    c,_=s.accept(); c.settimeout(2)\n"
        "    try:\n"
        "        data=c.recv(65536)\n"
        "    except OSError:\n"
        "        data=b''\n"
        "    open(sys.argv[2],'ab').write(data)\n"
        "    try:\n"
        '        c.sendall(b\'{"id": 1, "result": {"pid": 1, "version": "forged"}}\\n\')\n'
        "    except OSError:\n"
        "        pass\n"
        "    c.close()\n"
    )
    proc = subprocess.Popen(
        [jobs.target_python(), "-c", code, str(where / "sock"), str(log)],
        user=user.pw_uid,
        group=user.pw_gid,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    return proc


def test_a_socket_of_another_user_is_refused(
    async_dir: Path, tmp_path: Path, other_user: pwd.struct_passwd
) -> None:
    """Their socket in our private dir: refused by its owner, and, if it is made to look
    like ours (chown), by its peer's uid — before anything (our environment) is sent."""
    # Somewhere they can reach (pytest's tmp_path is private to root).
    theirs = Path(tempfile.mkdtemp(prefix="pgtest_h3_"))
    os.chmod(theirs, 0o777)
    log = theirs / "received"
    log.touch()
    os.chmod(log, 0o666)
    listener = _foreign_listener(other_user, theirs, log)
    try:
        priv = async_dir / sv.PRIVATE_DIR
        priv.mkdir(parents=True, mode=0o700)
        os.chmod(async_dir, 0o700)
        sock_path = priv / sv.SOCK_NAME
        os.rename(theirs / "sock", sock_path)
        with pytest.raises(jobs.JobError, match=f"owned by uid {other_user.pw_uid}"):
            run(jobs.local_supervisor(str(async_dir)))
        os.chown(sock_path, os.geteuid(), os.getegid())
        with pytest.raises(jobs.JobError, match=rf"is uid {other_user.pw_uid}, not this user"):
            run(jobs.local_supervisor(str(async_dir)))
        # The bridge (ssh, become) checks its peer too.
        proc = subprocess.run(
            jobs.supervisor_argv("client", "--async-dir", str(async_dir)),
            input=b"",
            capture_output=True,
            timeout=20,
        )
        assert proc.returncode == 1 and b"its peer" in proc.stderr, proc.stderr
        time.sleep(0.2)
        assert log.read_bytes() == b"", "something was sent to another user's socket"
    finally:
        listener.kill()
        listener.wait()
        shutil.rmtree(theirs, ignore_errors=True)


def test_the_supervisor_refuses_clients_of_another_user(
    async_dir: Path, tmp_path: Path, other_user: pwd.struct_passwd
) -> None:
    marker = tmp_path / "ran"

    async def main() -> None:
        await (await jobs.local_supervisor(str(async_dir))).ping()

    run(main())
    priv = async_dir / sv.PRIVATE_DIR
    sock_path = priv / sv.SOCK_NAME
    # Open the way for the test only (the supervisor checked its dirs at start).
    os.chmod(priv, 0o711)
    os.chmod(sock_path, 0o666)
    fd = os.open(priv, os.O_RDONLY | os.O_PATH | os.O_DIRECTORY)
    try:
        request = {
            "id": 1,
            "op": "start",
            "job": {
                "jid": "j1.1",
                "limit": 5,
                "shell": f"touch {marker}",
                "env_base": {"PATH": "/usr/bin:/bin"},
            },
        }
        code = (
            "import socket,sys\n"
            "s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)\n"
            "try:\n"
            "    s.sendall(sys.argv[2].encode()+b'\\n')\n"
            "except OSError:\n"
            "    pass  # refused at once: the answer is already there\n"
            "print(s.makefile('rb').readline().decode(), end='')\n"
        )
        proc = subprocess.run(
            [
                jobs.target_python(),
                "-c",
                code,
                f"/proc/self/fd/{fd}/{sv.SOCK_NAME}",
                json.dumps(request),
            ],
            user=other_user.pw_uid,
            group=other_user.pw_gid,
            pass_fds=(fd,),
            capture_output=True,
            timeout=20,
        )
    finally:
        os.close(fd)
        os.chmod(priv, 0o700)
        os.chmod(sock_path, 0o600)
    assert proc.stdout, proc.stderr
    answer = json.loads(proc.stdout)
    assert "refused" in answer["error"] and "result" not in answer, answer
    time.sleep(0.3)
    assert not marker.exists() and not (async_dir / "j1.1").exists()


def test_our_own_supervisor_is_trusted_and_private(async_dir: Path) -> None:
    conn = LocalConnection("localhost")

    async def main() -> None:
        await conn.start_job(JobSpec(jid="j1.1", limit=5, async_dir=str(async_dir), argv=["true"]))

    run(main())
    for path in (async_dir / sv.PRIVATE_DIR, async_dir / sv.PRIVATE_DIR / sv.SOCK_NAME):
        st = path.lstat()
        assert st.st_uid == os.geteuid() and st.st_mode & 0o077 == 0, oct(st.st_mode)
    sock = socket.socket(socket.AF_UNIX)
    address, fd = sv.socket_address(str(async_dir / sv.PRIVATE_DIR / sv.SOCK_NAME))
    try:
        sock.connect(address)
        cred = sv.peer_cred(sock)
        assert cred is not None and cred[1] == os.geteuid()
        assert cred[0] == sv.lock_pid(str(async_dir / sv.PRIVATE_DIR))
    finally:
        sock.close()
        if fd is not None:
            os.close(fd)
