"""The ``ssh`` connection: a target over SSH, on asyncssh.

One multiplexed SSH connection per target serves every inventory alias that
reaches the same (address, port, user, credentials) — what Ansible's
ControlPersist shares too.  Commands, file transfers and the job supervisor's
bridge are channels on it.  A connection carries at most `SESSIONS_PER_LINK`
channels at once (OpenSSH's default ``MaxSessions``); beyond that a second
connection to the same target is opened, and a server that refuses a channel
teaches the pool its real limit.

Jobs go to the target's job supervisor (`runtime/target/supervisor.py`) through
its ``client`` bridge on one long-lived channel per (target, python, become user,
async dir): ``[sudo -u X] python3 -E -S ~/.cache/playgraph/<sha>/supervisor.py
client --async-dir D``.  The same channel's first lines check that the script
is in the target's cache and, when it is not, carry it there (``head -c`` of the
channel's stdin), so opening a bridge costs one channel and no extra round trip.

The supervisor's status files are the durable truth, so a dropped connection
loses nothing: the next call opens a new connection and a new bridge, a poll or
join carries on, and a ``start`` whose answer was lost is checked before it is
repeated (the supervisor refuses a second start of the same jid anyway).

Unreachable targets — refused, timed out, unknown name, authentication or host
key failures, a connection lost mid-command — raise `TargetUnreachable` with
Ansible's ``Failed to connect to the host via ssh: …`` wording.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import asyncssh

from .. import config as _config
from ..jobs import JobError, SupervisorClient, SupervisorLost, cached_client, launch_record
from ..jobspec import Become, JobSpec
from . import posix
from .base import TargetUnreachable
from .remote_scripts import boot_argv, remote_line
from .ssh_options import SSHOptions, parse_options
from .ssh_pool import ChannelWriter, Endpoint, Session, endpoint_for, forget, lost
from .supervised import SupervisedJobs

if TYPE_CHECKING:
    from .base import Connection

__all__ = ["SSHConnection", "SSHOptions", "parse_options"]

R = TypeVar("R")

_warned: set[str] = set()


def _warn(message: str) -> None:
    """One ``[WARNING]:`` line on stderr per distinct message and process (as Ansible's display)."""
    if message not in _warned:
        _warned.add(message)
        sys.stderr.write(f"[WARNING]: {message}\n")


class _ChannelPipes:
    """A channel's streams (`posix.Pipes`)."""

    def __init__(self, chan: asyncssh.SSHClientChannel[bytes], session: Session) -> None:
        self.chan = chan
        self.session = session

    async def read_stdout(self) -> bytes:
        return await self.session.stdout.read(65536)

    async def read_stderr(self) -> bytes:
        return await self.session.stderr.read(65536)

    async def write_stdin(self, data: bytes) -> None:
        with contextlib.suppress(OSError, asyncssh.Error):
            self.chan.write(data)
            await self.session.drain()

    def end_stdin(self) -> None:
        with contextlib.suppress(OSError, asyncssh.Error):
            self.chan.write_eof()

    def give_up(self) -> None:
        # End sudo's stdin, so it gives up and exits (status 1).
        self.end_stdin()

    async def wait_closed(self) -> None:
        await self.session.closed


class _ChannelStream:
    """A long-lived command's stdin/stdout on its own channel (`base.Stream`)."""

    def __init__(
        self, chan: asyncssh.SSHClientChannel[bytes], session: Session, options: SSHOptions
    ) -> None:
        self.chan = chan
        self.session = session
        self.options = options

    async def readexactly(self, n: int) -> bytes:
        try:
            return await self.session.stdout.readexactly(n)
        except asyncio.IncompleteReadError:
            closed = self.session.closed
            gone = closed.result() if closed.done() else None
            if gone is not None:
                raise lost(self.options, str(gone)) from None
            raise

    def write(self, data: bytes) -> None:
        if self.session.closed.done():
            raise BrokenPipeError("the SSH channel is closed")
        try:
            self.chan.write(data)
        except (OSError, asyncssh.Error) as exc:
            raise BrokenPipeError(f"the SSH channel is closed: {exc}") from exc

    async def drain(self) -> None:
        await self.session.drain()

    async def close(self) -> None:
        with contextlib.suppress(OSError, asyncssh.Error):
            self.chan.write_eof()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.session.closed), posix.TERM_GRACE)
        self.chan.close()


class _ChannelProcess(_ChannelPipes):
    """A command on its own channel (`posix.Process`)."""

    def __init__(
        self,
        conn: SSHConnection,
        chan: asyncssh.SSHClientChannel[bytes],
        session: Session,
        tag: str,
    ) -> None:
        super().__init__(chan, session)
        self.conn = conn
        self.tag: str | None = tag

    async def stop(self, talk: posix.BecomeTalk) -> None:
        """SIGTERM the command's process group, SIGKILL it after TERM_GRACE, close the channel."""
        closed = self.session.closed
        for sig in ("TERM", "KILL"):
            if closed.done():
                break
            if talk.pid is not None:
                # Over another channel: sshd refuses `signal` requests for root logins.
                with contextlib.suppress(TargetUnreachable, OSError, asyncssh.Error):
                    kill = ["kill", "-s", sig, "--", f"-{talk.pid}"]
                    await self.conn.run(kill, timeout=posix.TERM_GRACE)
            else:
                with contextlib.suppress(OSError, asyncssh.Error):
                    self.chan.send_signal(sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(closed), posix.TERM_GRACE)
        self.chan.close()

    async def exit_status(self, *, timed_out: bool, talk: posix.BecomeTalk) -> int:
        rc = self.chan.get_returncode()
        closed = self.session.closed
        gone = closed.result() if closed.done() else None
        if not closed.done():
            self.chan.close()
        if rc is not None:
            return rc
        if timed_out:
            return -9
        if talk.failure is not None:
            return 1  # sudo's own status for a failed authentication
        detail = str(gone) if gone is not None else "the command's channel closed early"
        raise lost(self.conn.options, detail)


class SSHConnection(posix.PosixCommands, SupervisedJobs):
    """An inventory host reached over SSH (``ansible_connection=ssh``, the default).

    Cheap to make: nothing happens until `connect` or the first call, and the
    SSH connections themselves belong to a per-event-loop pool shared by every
    inventory host with the same address, port, user and credentials.
    """

    kind = "ssh"

    def __init__(
        self,
        host: str,
        variables: Mapping[str, Any] | None = None,
        *,
        defaults: _config.ConnectionDefaults | None = None,
        idle_exit: float | None = None,
    ) -> None:
        self.host = host
        self.options = parse_options(host, variables or {}, defaults)
        self.idle_exit = idle_exit
        """``--idle-exit`` for a supervisor this connection starts (None: its default)."""
        self._endpoint: Endpoint | None = None
        self._streams: set[_ChannelStream] = set()
        for message in self.options.warnings:
            _warn(f"{host}: {message}")

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.options.warnings

    def _pool(self) -> Endpoint:
        if self._endpoint is None:
            self._endpoint = endpoint_for(self.options)
            self._endpoint.users += 1
        return self._endpoint

    async def connect(self) -> None:
        """Make sure an SSH connection to the target is up (shared, idempotent)."""
        endpoint = self._pool()
        if endpoint.live():
            return
        link = await endpoint.acquire()
        endpoint.release(link)

    @property
    def connect_seconds(self) -> list[float]:
        """How long each SSH connection to this target took to open (for benchmarks)."""
        return list(self._endpoint.connect_seconds) if self._endpoint is not None else []

    async def close(self) -> None:
        """Let go of the pool; the last user of a target closes its connections.

        Jobs and the supervisor run on: they never depended on the connection.
        """
        streams, self._streams = self._streams, set()
        for stream in streams:
            await stream.close()
        endpoint, self._endpoint = self._endpoint, None
        if endpoint is None:
            return
        endpoint.users -= 1
        if endpoint.users <= 0:
            forget(endpoint)
            await endpoint.close()

    # ----------------------------------------------------------------- commands

    async def _start(
        self, cmd: posix.CommandLine, *, cwd: str | None, stdin: bool, nonce: str
    ) -> _ChannelProcess:
        """A channel running ``cmd``.  A connection lost while it runs raises
        `TargetUnreachable` (from `exit_status`): whether it ran cannot be known, so it
        is not repeated."""
        tag = f"PLAYGRAPH-PID-{nonce}"
        line = remote_line(cmd.argv, env=cmd.env, cwd=cwd, tag=tag)
        _link, chan, session = await self._pool().channel(line)
        return _ChannelProcess(self, chan, session, tag)

    def _where(self) -> str:
        return f" on {self.host}"

    async def open_stream(self, argv: Sequence[str]) -> _ChannelStream:
        """``argv`` on a long-lived channel of the shared connection (stderr dropped);
        closed by `close` at the latest, and with the connection."""
        line = "exec " + shlex.join(argv) + " 2>/dev/null"
        _link, chan, session = await self._pool().channel(line)
        stream = _ChannelStream(chan, session, self.options)
        self._streams.add(stream)
        session.closed.add_done_callback(lambda _closed: self._streams.discard(stream))
        return stream

    # ----------------------------------------------------------------- jobs

    async def _supervisor(self, async_dir: str, become: Become | None) -> SupervisorClient:
        endpoint = self._pool()
        who = (become.exe, become.method, become.user, become.flags) if become is not None else None
        key = ("ssh", endpoint.options.link_key, self.options.python, who, async_dir)
        return await cached_client(key, lambda: self._open_bridge(endpoint, async_dir, become))

    async def _open_bridge(
        self, endpoint: Endpoint, async_dir: str, become: Become | None
    ) -> SupervisorClient:
        """The supervisor's ``client`` bridge on a long-lived channel (under sudo with become)."""
        nonce = posix.new_nonce()
        password = become.password if become is not None else None
        prompt = posix.sudo_prompt(password, nonce)
        args = ["--async-dir", async_dir]
        if self.idle_exit is not None:
            args += ["--idle-exit", repr(float(self.idle_exit))]
        boot, source = boot_argv(nonce, self.options.python, args)
        if become is not None:
            boot = [*posix.sudo_argv(become, prompt=prompt, connection="ssh"), *boot]
        line = "exec " + shlex.join(boot)
        link, chan, session = await endpoint.channel(line)
        talk = posix.BecomeTalk(password=password, prompt=prompt)
        pump = asyncio.ensure_future(talk.pump(_ChannelPipes(chan, session)))
        who = f" as {become.user}" if become is not None else ""
        try:
            hello = await asyncio.wait_for(
                self._bridge_hello(chan, session, talk, nonce, source), posix.BRIDGE_TIMEOUT
            )
        except (TimeoutError, JobError, OSError, asyncssh.Error) as exc:
            chan.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(session.closed), posix.DRAIN_AFTER_KILL)
            await asyncio.wait([pump], timeout=posix.DRAIN_AFTER_KILL)
            gone = session.closed.result() if session.closed.done() else None
            if gone is not None and not link.alive:
                raise lost(self.options, str(gone)) from exc
            detail = talk.failure or posix.text(talk.clean_stderr())
            if isinstance(exc, JobError) and str(exc):
                detail = f"{exc}: {detail}" if detail else str(exc)
            detail = detail or f"exit status {chan.get_returncode()}"
            raise JobError(
                f"could not reach the job supervisor on {self.host}{who}: {detail}"
            ) from exc
        except BaseException:
            chan.close()
            pump.cancel()
            raise
        # From here on the channel's stdin/stdout carry the protocol (`talk` is done
        # with sudo) and its stderr is only kept for diagnostics.

        async def on_close() -> None:
            chan.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(session.closed), posix.DRAIN_AFTER_KILL)
            pump.cancel()
            await asyncio.wait([pump])

        return SupervisorClient(
            session.stdout,
            ChannelWriter(chan, session),
            hello=hello,
            on_close=on_close,
        )

    @staticmethod
    async def _bridge_hello(
        chan: asyncssh.SSHClientChannel[bytes],
        session: Session,
        talk: posix.BecomeTalk,
        nonce: str,
        source: bytes,
    ) -> dict[str, Any]:
        """Read the boot script's report (uploading the supervisor if missing), then the hello."""
        prefix = f"{nonce} ".encode()
        while True:
            line = await session.stdout.readline()
            if not line:
                raise JobError("the bridge ended before it started")
            if line.startswith(prefix):
                break
        talk.ready.set()  # sudo (if any) is done
        state = line[len(prefix) :].split()
        if state[:1] == [b"nopython"]:
            raise JobError("no python3 on the target (set ansible_python_interpreter)")
        if state[:1] == [b"missing"]:
            chan.write(source)
            await session.drain()
        while True:
            line = await session.stdout.readline()
            if not line:
                raise JobError("the supervisor bridge ended before its hello")
            try:
                message = json.loads(line)
            except ValueError:
                continue
            hello = message.get("hello") if isinstance(message, dict) else None
            if isinstance(hello, dict):
                return hello

    async def _call(
        self,
        async_dir: str,
        become: Become | None,
        op: Callable[[SupervisorClient], Awaitable[R]],
    ) -> R:
        """Run ``op`` on the supervisor's client; once more on a fresh one if it was lost.

        A lost client means a lost channel or connection: the next one is opened
        (or the target is unreachable).  These ops are safe to repeat.
        """
        for last in (False, True):
            client = await self._supervisor(async_dir, become)
            try:
                return await op(client)
            except SupervisorLost as gone:
                # Closed at once, so the shared cache drops it before its reader sees the end.
                await client.close()
                if last:
                    raise lost(self.options, str(gone)) from gone
        raise AssertionError("unreachable")

    async def _replace(
        self, client: SupervisorClient, async_dir: str, become: Become | None
    ) -> SupervisorClient:
        """A fresh client for a lost one (closed first, so the shared cache drops it at once:
        a write to a dead channel fails before its reader has seen the end)."""
        await client.close()
        return await self._supervisor(async_dir, become)

    async def start_job(self, spec: JobSpec) -> dict[str, Any]:
        """Start a job through the supervisor; Ansible's launch record once it is on disk.

        If the connection drops before the answer, the job may or may not have
        started: the new supervisor client looks for its status file first and
        starts it only when absent — and the supervisor refuses a second start of
        a jid anyway ("already exists"), which then means it runs.
        """
        client = await self._supervisor(spec.async_dir, spec.become)
        try:
            started = await client.start(spec)
        except SupervisorLost:
            client = await self._replace(client, spec.async_dir, spec.become)
            try:
                if (await client.status([spec.jid])).get(spec.jid) is None:
                    try:
                        started = await client.start(spec)
                    except JobError as error:
                        if isinstance(error, SupervisorLost) or "already exists" not in str(error):
                            raise
                        started = {}
                else:
                    started = {}
            except SupervisorLost as gone:
                await client.close()
                raise lost(self.options, str(gone)) from gone
        rf = started.get("results_file") or client.results_file(spec.jid)
        return launch_record(spec.jid, str(rf))


if TYPE_CHECKING:

    def _implements_protocol(conn: SSHConnection) -> Connection:
        return conn  # mypy checks SSHConnection against the Connection protocol here
