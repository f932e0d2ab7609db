"""The ``local`` connection: this machine, through asyncio subprocesses.

Commands run as children of the controller, each in its own process group (so a
timeout or a cancelled task can stop everything it started).  Jobs go to the
machine's job supervisor (`runtime/target/supervisor.py`) over its unix
socket; with ``become`` they go through the supervisor's ``client`` bridge run
under sudo, as a long-lived subprocess speaking on its stdin/stdout.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import secrets
import shlex
import shutil
import signal
import stat
import tempfile
import time
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..jobs import (
    STREAM_LIMIT,
    SUPERVISOR_PATH,
    JobError,
    SupervisorClient,
    SupervisorLost,
    cached_client,
    launch_record,
    local_supervisor,
    supervisor_argv,
)
from .base import Become, CommandResult, JobSpec
from .supervised import SupervisedJobs

if TYPE_CHECKING:
    from .base import Connection

R = TypeVar("R")

TERM_GRACE = 2.0
"""Seconds between SIGTERM and SIGKILL when a command's time is up."""
DRAIN_AFTER_KILL = 1.0
"""How long to keep reading a killed command's pipes (an escaped child may hold them)."""
BRIDGE_TIMEOUT = 15.0
"""Seconds for sudo + the supervisor bridge to say hello."""


# --------------------------------------------------------------------------- become


def sudo_argv(become: Become, *, prompt: str | None = None) -> list[str]:
    """``sudo [flags] -u USER --``: ``-n -H`` by default; ``-S -p PROMPT`` with a password.

    ``-n`` would make sudo refuse to read a password, so it is dropped then.
    """
    if become.method != "sudo":
        raise JobError(f"become method {become.method!r} is not supported by the local connection")
    flags = shlex.split(become.flags) if become.flags else ["-H"]
    if prompt is None:
        if "-n" not in flags and "--non-interactive" not in flags:
            flags = ["-n", *flags]
    else:
        flags = [f for f in flags if f not in ("-n", "--non-interactive", "-S", "--stdin")]
        flags += ["-S", "-p", prompt]
    return [become.exe or "sudo", *flags, "-u", become.user, "--"]


class _PasswordFeeder:
    """Collects a sudo'ed process's stderr and answers sudo's password prompt on stdin.

    sudo reads the password from stdin (``-S``) and prints a prompt unique to this
    call on stderr; the password is written only when that prompt appears, so it
    never reaches the command's own stdin when sudo does not ask (NOPASSWD).
    A second prompt means the password was wrong: the process is stopped.
    """

    def __init__(self, proc: asyncio.subprocess.Process, password: str | None, prompt: str) -> None:
        self.proc = proc
        self.password = password
        self.prompt = prompt.encode()
        self.stderr = bytearray()
        self.failure: str | None = None
        self.ready = asyncio.Event()
        """Set once sudo is done (the command runs); prompts after that are the command's."""

    async def pump(self) -> None:
        assert self.proc.stderr is not None
        prompts = 0
        while True:
            chunk = await self.proc.stderr.read(65536)
            if not chunk:
                break
            self.stderr += chunk
            if self.password is None or self.ready.is_set():
                continue
            seen = bytes(self.stderr).count(self.prompt)
            if seen > prompts:
                prompts = seen
                if prompts > 1:
                    self.failure = "incorrect sudo password"
                    _signal_group(self.proc, signal.SIGKILL)
                    continue
                assert self.proc.stdin is not None
                with contextlib.suppress(ConnectionError):
                    self.proc.stdin.write(self.password.encode() + b"\n")
                    await self.proc.stdin.drain()

    def clean_stderr(self) -> bytes:
        return bytes(self.stderr).replace(self.prompt, b"")


# --------------------------------------------------------------------------- helpers


def _signal_group(proc: asyncio.subprocess.Process, sig: int) -> None:
    # Each command leads its own group (start_new_session), so this reaches
    # everything it started that did not leave the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


async def _stop_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the command's group, SIGKILL it after TERM_GRACE, reap the leader."""
    _signal_group(proc, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), TERM_GRACE)
    _signal_group(proc, signal.SIGKILL)  # leftovers of the group, if any
    await proc.wait()


async def _spawn(*argv: str, **kwargs: Any) -> asyncio.subprocess.Process:
    """``create_subprocess_exec`` that a cancellation cannot cut in half.

    The child runs before the call returns; cancelled in between, asyncio would
    kill only the leader and then wait for pipes its children still hold.  Here
    the start completes and the whole group is stopped.
    """
    task = asyncio.ensure_future(asyncio.create_subprocess_exec(*argv, **kwargs))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await _stop_group(await task)
        raise


def _command(argv: Sequence[str] | None, shell: str | None, executable: str | None) -> list[str]:
    if (argv is None) == (shell is None):
        raise ValueError("exactly one of argv and shell")
    if shell is not None:
        return [executable or "/bin/sh", "-c", shell]
    assert argv is not None
    if not argv:
        raise ValueError("argv must not be empty")
    return list(argv)


def _current_umask() -> int:
    # os.umask can only be read by setting it, which races with other threads.
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _write_atomic(data: bytes, path: str, mode: int | None) -> None:
    """Write via a temp file in the same directory, then rename over ``path``."""
    target = os.path.abspath(os.path.expanduser(path))
    directory, name = os.path.split(target)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".playgraph.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            if mode is None:
                try:
                    mode = stat.S_IMODE(os.stat(target).st_mode)  # keep an existing file's mode
                except FileNotFoundError:
                    mode = 0o666 & ~_current_umask()  # as a plain new file would get
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _readable_by_all(path: Path) -> bool:
    try:
        if not os.stat(path).st_mode & stat.S_IROTH:
            return False
        return all(os.stat(parent).st_mode & stat.S_IXOTH for parent in path.parents)
    except OSError:
        return False


@cache
def _shared_supervisor_script() -> str:
    """A copy of the supervisor script that other users can read (for ``become``).

    The repository may sit in a private home; the copy lives in a fresh
    directory of ours (unguessable, not writable by others).
    """
    if _readable_by_all(SUPERVISOR_PATH):
        return str(SUPERVISOR_PATH)
    directory = tempfile.mkdtemp(prefix="playgraph-")
    os.chmod(directory, 0o755)
    copy = os.path.join(directory, "supervisor.py")
    shutil.copyfile(SUPERVISOR_PATH, copy)
    os.chmod(copy, 0o644)
    atexit.register(shutil.rmtree, directory, True)
    return copy


# --------------------------------------------------------------------------- connection


class LocalConnection(SupervisedJobs):
    """The controller's own machine as a target (``ansible_connection=local``).

    Stateless apart from its options: the job supervisor clients are shared by
    every local connection on the event loop (see `jobs.cached_client`), so
    ``close`` leaves them — and the jobs — running.
    """

    def __init__(self, host: str = "localhost", *, idle_exit: float | None = None) -> None:
        self.host = host
        self.idle_exit = idle_exit
        """``--idle-exit`` for a supervisor this connection has to start (None: its default)."""

    async def connect(self) -> None:
        """Nothing to open: this machine is always reachable."""

    # ----------------------------------------------------------------- commands

    async def run(
        self,
        argv: Sequence[str] | None = None,
        *,
        shell: str | None = None,
        executable: str | None = None,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        become: Become | None = None,
    ) -> CommandResult:
        """Run a command to completion; on ``timeout`` its process group is stopped.

        ``rc`` is -N when the command was killed by signal N (also after a timeout).
        """
        cmd = _command(argv, shell, executable)
        nonce = secrets.token_hex(8)
        password = become.password if become is not None else None
        prompt = f"[playgraph sudo {nonce}] password:" if password is not None else None
        marker = f"PLAYGRAPH-BECOME-{nonce}".encode()
        if become is not None:
            if env:
                # sudo resets the environment; set the variables inside it.
                cmd = ["env", *(f"{k}={v}" for k, v in env.items()), *cmd]
                env = None
            if password is not None:
                # The marker tells where sudo's conversation ends and the command begins.
                cmd = ["/bin/sh", "-c", f'echo {marker.decode()}; exec "$@"', "sh", *cmd]
            cmd = [*sudo_argv(become, prompt=prompt), *cmd]
        full_env = {**os.environ, **env} if env else None
        needs_stdin = stdin is not None or password is not None
        start = time.time()
        try:
            proc = await _spawn(
                *cmd,
                stdin=asyncio.subprocess.PIPE if needs_stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=full_env,
                cwd=os.path.expanduser(cwd) if cwd else None,
                start_new_session=True,
            )
        except OSError as exc:
            # Reported as a shell would: 127 not found, 126 not executable, 1 bad cwd.
            bad_cwd = cwd is not None and not os.path.isdir(os.path.expanduser(cwd))
            rc = 1 if bad_cwd else 127 if isinstance(exc, FileNotFoundError) else 126
            message = f"Unable to change directory before execution: {exc}" if bad_cwd else str(exc)
            return CommandResult(
                rc=rc, stdout=b"", stderr=message.encode(), start=start, end=time.time()
            )
        out = bytearray()
        feeder = _PasswordFeeder(proc, password, prompt or "")
        work = asyncio.ensure_future(
            self._communicate(proc, out, feeder, stdin, marker if password is not None else None)
        )
        try:
            await asyncio.wait_for(asyncio.shield(work), timeout)
        except TimeoutError:
            await _stop_group(proc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(work, DRAIN_AFTER_KILL)
        except asyncio.CancelledError:
            work.cancel()
            await asyncio.shield(_stop_group(proc))
            raise
        rc = proc.returncode if proc.returncode is not None else await proc.wait()
        err = feeder.clean_stderr()
        if feeder.failure is not None:
            err = (err + b"\n" + feeder.failure.encode()).strip()
        return CommandResult(rc=rc, stdout=bytes(out), stderr=err, start=start, end=time.time())

    @staticmethod
    async def _communicate(
        proc: asyncio.subprocess.Process,
        out: bytearray,
        feeder: _PasswordFeeder,
        stdin: bytes | None,
        marker: bytes | None,
    ) -> None:
        if marker is None:
            feeder.ready.set()
        started = (marker or b"") + b"\n"

        async def read_stdout() -> None:
            assert proc.stdout is not None
            head = b""
            while True:
                chunk = await proc.stdout.read(65536)
                if not chunk:
                    break
                if feeder.ready.is_set():
                    out.extend(chunk)
                    continue
                head += chunk
                at = head.find(started)
                if at >= 0:
                    out.extend(head[at + len(started) :])
                    feeder.ready.set()
            if not feeder.ready.is_set():
                out.extend(head)  # sudo never started the command
                feeder.ready.set()

        async def feed_stdin() -> None:
            if proc.stdin is None:
                return
            await feeder.ready.wait()
            with contextlib.suppress(ConnectionError):
                if stdin:
                    proc.stdin.write(stdin)
                    await proc.stdin.drain()
                proc.stdin.close()

        await asyncio.gather(read_stdout(), feeder.pump(), feed_stdin())
        await proc.wait()

    # ----------------------------------------------------------------- files

    async def put_file(
        self, data: bytes, path: str, *, mode: int | None = None, become: Become | None = None
    ) -> None:
        """Write ``data`` to ``path`` atomically (temp file in the same dir + rename)."""
        if become is None:
            await asyncio.to_thread(_write_atomic, data, path, mode)
            return
        # As the other user: the same temp-then-rename, done by a shell under sudo.
        script = (
            'set -e; t="$1.playgraph-$$.tmp"; trap \'rm -f "$t"\' EXIT; '
            '(umask 077; cat > "$t"); '
            'if [ -n "$2" ]; then chmod "$2" "$t"; '
            'elif ! chmod --reference="$1" "$t" 2>/dev/null; then '
            'chmod "$(printf %o $((0666 & ~0$(umask))))" "$t"; fi; '
            'mv -f "$t" "$1"; trap - EXIT'
        )
        mode_arg = format(mode, "o") if mode is not None else ""
        result = await self.run(
            ["/bin/sh", "-c", script, "sh", path, mode_arg], stdin=data, become=become
        )
        if result.rc != 0:
            raise OSError(f"could not write {path} as {become.user}: {_text(result.stderr)}")

    async def get_file(self, path: str, *, become: Become | None = None) -> bytes:
        """Read a file (as another user with ``become``); OSError when it cannot be read."""
        if become is None:
            return await asyncio.to_thread(Path(os.path.expanduser(path)).read_bytes)
        result = await self.run(["cat", "--", path], become=become)
        if result.rc != 0:
            raise OSError(f"could not read {path} as {become.user}: {_text(result.stderr)}")
        return result.stdout

    async def close(self) -> None:
        """Nothing of ours to release: shared supervisor clients and jobs keep running."""

    # ----------------------------------------------------------------- jobs

    async def _supervisor(self, async_dir: str, become: Become | None) -> SupervisorClient:
        if become is None:
            return await local_supervisor(async_dir, idle_exit=self.idle_exit)
        key = ("local-become", become.exe, become.method, become.user, become.flags, async_dir)
        return await cached_client(key, lambda: self._open_bridge(async_dir, become))

    async def _open_bridge(self, async_dir: str, become: Become) -> SupervisorClient:
        """The supervisor of another user, through its ``client`` bridge under sudo."""
        nonce = secrets.token_hex(8)
        prompt = f"[playgraph sudo {nonce}] password:" if become.password is not None else None
        script = _shared_supervisor_script()
        args = ["client", "--async-dir", async_dir]
        if self.idle_exit is not None:
            args += ["--idle-exit", str(self.idle_exit)]
        argv = [*sudo_argv(become, prompt=prompt), *supervisor_argv(*args)]
        argv[argv.index(str(SUPERVISOR_PATH))] = script
        proc = await _spawn(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=STREAM_LIMIT,
            # Its own session: a Ctrl-C at the controller must not cut the bridge mid-request.
            start_new_session=True,
        )
        feeder = _PasswordFeeder(proc, become.password, prompt or "")
        pump = asyncio.ensure_future(feeder.pump())
        assert proc.stdout is not None and proc.stdin is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), BRIDGE_TIMEOUT)
            hello = json.loads(line)["hello"] if line else None
        except (TimeoutError, ValueError, KeyError, TypeError):
            hello = None
        if not isinstance(hello, dict):
            _signal_group(proc, signal.SIGKILL)
            await proc.wait()
            await asyncio.wait([pump], timeout=DRAIN_AFTER_KILL)
            detail = feeder.failure or _text(feeder.clean_stderr()) or f"exit {proc.returncode}"
            raise JobError(f"could not reach the job supervisor as {become.user}: {detail}")
        feeder.ready.set()  # from here on stdin/stdout carry the protocol

        async def on_close() -> None:
            try:
                await asyncio.wait_for(proc.wait(), TERM_GRACE)
            except TimeoutError:
                _signal_group(proc, signal.SIGKILL)
                await proc.wait()
            await asyncio.wait([pump], timeout=DRAIN_AFTER_KILL)

        return SupervisorClient(proc.stdout, proc.stdin, hello=hello, on_close=on_close)

    async def start_job(self, spec: JobSpec) -> dict[str, Any]:
        """Start a job through the supervisor; Ansible's launch record once it is on disk."""

        client = await self._supervisor(spec.async_dir, spec.become)
        try:
            started = await client.start(spec)
        except SupervisorLost:
            client = await self._supervisor(spec.async_dir, spec.become)
            # The lost supervisor may have started it: then its running record is there.
            if (await client.status([spec.jid])).get(spec.jid) is None:
                started = await client.start(spec)
            else:
                started = {}
        rf = started.get("results_file") or client.results_file(spec.jid)
        return launch_record(spec.jid, str(rf))


def _text(data: bytes) -> str:
    return data.decode(errors="replace").strip()


if TYPE_CHECKING:

    def _implements_protocol(conn: LocalConnection) -> Connection:
        return conn  # mypy checks LocalConnection against the Connection protocol here
