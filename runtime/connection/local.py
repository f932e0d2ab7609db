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
import shutil
import signal
import stat
import tempfile
import time
from collections.abc import Sequence
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
    read_job_file,
    status_record,
    supervisor_argv,
)
from ..jobspec import Become, JobSpec
from ..target.supervisor import expand_dir
from . import posix
from .base import CommandResult
from .supervised import SupervisedJobs

if TYPE_CHECKING:
    from .base import Connection

R = TypeVar("R")


class _ProcessPipes:
    """A subprocess's pipes (`posix.Pipes`); stdin may be /dev/null (then writes are dropped)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def read_stdout(self) -> bytes:
        assert self.proc.stdout is not None
        return await self.proc.stdout.read(65536)

    async def read_stderr(self) -> bytes:
        assert self.proc.stderr is not None
        return await self.proc.stderr.read(65536)

    async def write_stdin(self, data: bytes) -> None:
        if self.proc.stdin is None:
            return
        with contextlib.suppress(ConnectionError):  # the builtin: a broken pipe
            self.proc.stdin.write(data)
            await self.proc.stdin.drain()

    def end_stdin(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(ConnectionError):
                self.proc.stdin.close()

    def give_up(self) -> None:
        _signal_group(self.proc, signal.SIGKILL)

    async def wait_closed(self) -> None:
        await self.proc.wait()


class _LocalStream:
    """A long-lived subprocess's stdin/stdout (`base.Stream`); stderr is dropped."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.proc = proc
        self._stdin = proc.stdin
        self._stdout = proc.stdout

    async def readexactly(self, n: int) -> bytes:
        return await self._stdout.readexactly(n)

    def write(self, data: bytes) -> None:
        if self._stdin.is_closing():
            raise BrokenPipeError("the stream's stdin is closed")
        self._stdin.write(data)

    async def drain(self) -> None:
        await self._stdin.drain()

    async def close(self) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            self._stdin.close()
        try:
            await asyncio.wait_for(asyncio.shield(self.proc.wait()), posix.TERM_GRACE)
        except TimeoutError:
            _signal_group(self.proc, signal.SIGKILL)
            await self.proc.wait()


class _LocalProcess(_ProcessPipes):
    """A command as a subprocess leading its own process group (`posix.Process`)."""

    tag: str | None = None

    async def stop(self, talk: posix.BecomeTalk) -> None:
        await _stop_group(self.proc)

    async def exit_status(self, *, timed_out: bool, talk: posix.BecomeTalk) -> int:
        return self.proc.returncode if self.proc.returncode is not None else await self.proc.wait()


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
        await asyncio.wait_for(proc.wait(), posix.TERM_GRACE)
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


class LocalConnection(posix.PosixCommands, SupervisedJobs):
    """The controller's own machine as a target (``ansible_connection=local``).

    Stateless apart from its options: the job supervisor clients are shared by
    every local connection on the event loop (see `jobs.cached_client`), so
    ``close`` leaves them — and the jobs — running.
    """

    def __init__(self, host: str = "localhost", *, idle_exit: float | None = None) -> None:
        self.host = host
        self.idle_exit = idle_exit
        """``--idle-exit`` for a supervisor this connection has to start (None: its default)."""
        self._streams: set[_LocalStream] = set()

    async def connect(self) -> None:
        """Nothing to open: this machine is always reachable."""

    async def open_stream(self, argv: Sequence[str]) -> _LocalStream:
        """``argv`` as a long-lived subprocess in its own session (a Ctrl-C at the controller
        does not reach it); closed by `close` at the latest."""
        proc = await _spawn(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            limit=STREAM_LIMIT,
            start_new_session=True,
        )
        stream = _LocalStream(proc)
        self._streams.add(stream)
        return stream

    # ----------------------------------------------------------------- commands

    async def _start(
        self, cmd: posix.CommandLine, *, cwd: str | None, stdin: bool, nonce: str
    ) -> _LocalProcess | CommandResult:
        full_env = {**os.environ, **cmd.env} if cmd.env else None
        needs_stdin = stdin or cmd.password is not None
        start = time.time()
        try:
            proc = await _spawn(
                *cmd.argv,
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
        return _LocalProcess(proc)

    # ----------------------------------------------------------------- files

    async def put_file(
        self, data: bytes, path: str, *, mode: int | None = None, become: Become | None = None
    ) -> None:
        """Write ``data`` to ``path`` atomically (temp file in the same dir + rename)."""
        if become is None:
            await asyncio.to_thread(_write_atomic, data, path, mode)
            return
        # As the other user: the same temp-then-rename, done by a shell under sudo.
        await super().put_file(data, path, mode=mode, become=become)

    async def get_file(self, path: str, *, become: Become | None = None) -> bytes:
        """Read a file (as another user with ``become``); OSError when it cannot be read."""
        if become is None:
            return await asyncio.to_thread(Path(os.path.expanduser(path)).read_bytes)
        return await super().get_file(path, become=become)

    async def close(self) -> None:
        """Close the streams this connection opened; shared supervisor clients and jobs
        keep running."""
        streams, self._streams = self._streams, set()
        for stream in streams:
            await stream.close()

    # ----------------------------------------------------------------- jobs

    async def _supervisor(self, async_dir: str, become: Become | None) -> SupervisorClient:
        if become is None:
            return await local_supervisor(async_dir, idle_exit=self.idle_exit)
        key = ("local-become", become.exe, become.method, become.user, become.flags, async_dir)
        return await cached_client(key, lambda: self._open_bridge(async_dir, become))

    async def _open_bridge(self, async_dir: str, become: Become) -> SupervisorClient:
        """The supervisor of another user, through its ``client`` bridge under sudo."""
        prompt = posix.sudo_prompt(become.password, posix.new_nonce())
        script = _shared_supervisor_script()
        args = ["client", "--async-dir", async_dir]
        if self.idle_exit is not None:
            args += ["--idle-exit", str(self.idle_exit)]
        argv = [*posix.sudo_argv(become, prompt=prompt), *supervisor_argv(*args)]
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
        talk = posix.BecomeTalk(password=become.password, prompt=prompt)
        pump = asyncio.ensure_future(talk.pump(_ProcessPipes(proc)))
        assert proc.stdout is not None and proc.stdin is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), posix.BRIDGE_TIMEOUT)
            hello = json.loads(line)["hello"] if line else None
        except (TimeoutError, ValueError, KeyError, TypeError):
            hello = None
        if not isinstance(hello, dict):
            _signal_group(proc, signal.SIGKILL)
            await proc.wait()
            await asyncio.wait([pump], timeout=posix.DRAIN_AFTER_KILL)
            detail = talk.failure or posix.text(talk.clean_stderr()) or f"exit {proc.returncode}"
            raise JobError(f"could not reach the job supervisor as {become.user}: {detail}")
        talk.ready.set()  # from here on stdin/stdout carry the protocol

        async def on_close() -> None:
            try:
                await asyncio.wait_for(proc.wait(), posix.TERM_GRACE)
            except TimeoutError:
                _signal_group(proc, signal.SIGKILL)
                await proc.wait()
            await asyncio.wait([pump], timeout=posix.DRAIN_AFTER_KILL)

        return SupervisorClient(proc.stdout, proc.stdin, hello=hello, on_close=on_close)

    async def job_status(
        self,
        jids: Sequence[str],
        *,
        async_dir: str = "~/.ansible_async",
        become: Become | None = None,
    ) -> dict[str, dict[str, Any]]:
        """``async_status``-shaped records; as this user, read from the job files themselves.

        The file is the truth and reading it here costs less than asking: a busy
        or stopped supervisor then never delays (or fails) a join.
        """
        if become is not None:
            return await super().job_status(jids, async_dir=async_dir, become=become)
        root = expand_dir(async_dir)
        return {
            jid: status_record(jid, read_job_file(root, jid), os.path.join(root, jid))
            for jid in jids
        }

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


if TYPE_CHECKING:

    def _implements_protocol(conn: LocalConnection) -> Connection:
        return conn  # mypy checks LocalConnection against the Connection protocol here
