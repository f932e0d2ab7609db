"""The SSH connections to each target, shared by every inventory host that reaches it.

An `Endpoint` is one target (address, port, user, credentials — `SSHOptions.link_key`)
with its pool of SSH connections: at most `SESSIONS_PER_LINK` channels on each
(OpenSSH's default ``MaxSessions``), more connections opened as more channels are
wanted (a few at a time, below ``MaxStartups``), a refused channel teaching the
pool the server's real limit, a dead connection replaced.  Endpoints live per
event loop (`endpoint_for`); the last inventory host to let go closes them.

Failures to connect raise `TargetUnreachable` with Ansible's ``Failed to connect to
the host via ssh: …`` wording and ssh's own words for why.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import getpass
import math
import random
import socket
import time
import weakref
from typing import Any

import asyncssh

from ..jobs import STREAM_LIMIT
from .base import TargetUnreachable
from .ssh_known_hosts import accept_new_key
from .ssh_options import SSHOptions

SESSIONS_PER_LINK = 10
"""Channels per SSH connection before another is opened (OpenSSH's default MaxSessions)."""
PARALLEL_OPENS = 8
"""Connections opened at once to one target: below OpenSSH's default ``MaxStartups 10``,
beyond which a server starts dropping new connections."""
FAILED = "Failed to connect to the host via ssh: "
HANDSHAKE_RETRY_FIRST = 0.1
HANDSHAKE_RETRY_MAX = 1.0
"""Seconds between attempts when a server drops a connection during its handshake (backoff,
with jitter, until the connection timeout)."""
_HANDSHAKE_RESETS = (
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    asyncssh.ConnectionLost,
)


# --------------------------------------------------------------------------- errors


def _reason(options: SSHOptions, exc: BaseException) -> str:
    """ssh's own words for why a connection could not be made (Ansible shows them)."""
    where = f"connect to host {options.where()}"
    if isinstance(exc, asyncssh.PermissionDenied):
        user = options.user or getpass.getuser()
        methods = ["publickey"] + (["password"] if options.password is not None else [])
        return f"{user}@{options.address}: Permission denied ({','.join(methods)})."
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return f"Host key verification failed for {options.where()}: {exc.reason}"
    if isinstance(exc, socket.gaierror):
        return f"Could not resolve hostname {options.address}: {exc.strerror or exc}"
    if isinstance(exc, TimeoutError):
        return f"{where}: Connection timed out"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where}: Connection refused"
    if isinstance(exc, asyncssh.Error):
        return f"{where}: {exc.reason}"
    if isinstance(exc, OSError):
        return f"{where}: {exc.strerror or exc}"
    return f"{where}: {exc}"


def unreachable(options: SSHOptions, exc: BaseException) -> TargetUnreachable:
    return TargetUnreachable(FAILED + _reason(options, exc))


def lost(options: SSHOptions, detail: str) -> TargetUnreachable:
    return TargetUnreachable(f"{FAILED}the connection to {options.where()} was lost ({detail})")


# --------------------------------------------------------------------------- channels


class Session(asyncssh.SSHClientSession[bytes]):
    """One channel's ends as asyncio streams: stdout/stderr readers, flow control, closing."""

    def __init__(self) -> None:
        self.stdout = asyncio.StreamReader(limit=STREAM_LIMIT)
        self.stderr = asyncio.StreamReader(limit=STREAM_LIMIT)
        self.closed: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self._writable = asyncio.Event()
        self._writable.set()

    def data_received(self, data: bytes, datatype: int | None) -> None:
        stream = self.stderr if datatype == asyncssh.EXTENDED_DATA_STDERR else self.stdout
        stream.feed_data(data)

    def eof_received(self) -> bool:
        self.stdout.feed_eof()
        self.stderr.feed_eof()
        # Stay half open: the command may still read what we send (we end stdin ourselves).
        return True

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stdout.feed_eof()
        self.stderr.feed_eof()
        self._writable.set()
        if not self.closed.done():
            self.closed.set_result(exc)

    async def drain(self) -> None:
        await self._writable.wait()
        if self.closed.done():
            raise BrokenPipeError("the SSH channel is closed")


class ChannelWriter:
    """The supervisor client's request stream on an SSH channel (`jobs.StreamSink`)."""

    def __init__(self, chan: asyncssh.SSHClientChannel[bytes], session: Session) -> None:
        self._chan = chan
        self._session = session

    def write(self, data: bytes) -> None:
        try:
            self._chan.write(data)
        except (OSError, asyncssh.Error) as exc:
            raise BrokenPipeError(f"the SSH channel is closed: {exc}") from exc

    async def drain(self) -> None:
        await self._session.drain()

    def close(self) -> None:
        self._chan.close()


# --------------------------------------------------------------------------- the pool


class Link:
    """One SSH connection of an endpoint, and how many channels it carries."""

    def __init__(self, cap: int) -> None:
        self.conn: asyncssh.SSHClientConnection | None = None
        self.sessions = 0
        self.cap = cap
        self.alive = True
        self.reason = ""


class _LinkClient(asyncssh.SSHClient):
    """Tells the pool when a connection dies (so no new channel is tried on it), and
    records new host keys under ``StrictHostKeyChecking=accept-new``."""

    def __init__(self, endpoint: Endpoint, link: Link) -> None:
        self._endpoint = endpoint
        self._link = link

    def validate_host_public_key(self, host: str, addr: str, port: int, key: Any) -> bool:
        # asyncssh asks only about keys its known_hosts lookup did not trust.
        options = self._endpoint.options
        if not options.accept_new:
            return False
        try:
            problem = accept_new_key(options.known_hosts_files(), host, addr, port, key)
        except OSError as exc:
            problem = (
                f"cannot record the host key of {host} in {options.known_hosts_files()[0]}: {exc}"
            )
        self._endpoint.host_key_problem = problem
        return problem is None

    def connection_lost(self, exc: Exception | None) -> None:
        self._link.alive = False
        self._link.reason = str(exc) if exc is not None else "closed"
        self._endpoint.changed()


class Endpoint:
    """The SSH connections to one target, shared by the inventory hosts that reach it."""

    def __init__(self, options: SSHOptions) -> None:
        self.options = options
        self.links: list[Link] = []
        self.cap = SESSIONS_PER_LINK
        self.users = 0
        self._opening = 0
        self._waiting = 0
        self._failures = 0
        self._failure: TargetUnreachable | None = None
        self._max_links = math.inf
        """Lowered when an extra connection fails while others are up (the server's MaxStartups
        or a per-user limit): the pool then shares the connections it has."""
        self._changed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tasks: set[asyncio.Task[None]] = set()
        self._client_options: asyncssh.SSHClientConnectionOptions | None = None
        self.connect_seconds: list[float] = []
        """Wall time of each connection opened (handshake + authentication)."""
        self.host_key_problem: str | None = None
        """Why the last handshake's host key was refused under accept-new (a changed key)."""

    def changed(self) -> None:
        fut, self._changed = self._changed, asyncio.get_running_loop().create_future()
        if not fut.done():
            fut.set_result(None)

    def live(self) -> list[Link]:
        self.links = [link for link in self.links if link.alive]
        return self.links

    async def acquire(self) -> Link:
        """A slot for one channel on a live connection, opening connections as needed.

        Waiters share the connections being opened; when an opening fails while
        no connection is up, every waiter of that moment gets its error (one
        timeout for all aliases of a dead target, not one each in turn).
        """
        self._waiting += 1
        failures_at_start = self._failures
        try:
            while True:
                for link in self.live():
                    if link.sessions < link.cap:
                        link.sessions += 1
                        return link
                if (
                    self._failures > failures_at_start
                    and not self.live()
                    and self._opening == 0
                    and self._failure is not None
                ):
                    raise self._failure
                changed = self._changed
                wanted = math.ceil(self._waiting / max(1, self.cap))
                room = self._max_links - len(self.links)
                if self._opening < min(wanted, PARALLEL_OPENS, room):
                    self._opening += 1
                    task = asyncio.get_running_loop().create_task(self._open())
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                await changed
        finally:
            self._waiting -= 1

    def release(self, link: Link) -> None:
        link.sessions = max(0, link.sessions - 1)
        self.changed()

    def refused(self, link: Link) -> bool:
        """A channel was refused: learn the server's session limit. True if worth retrying."""
        others = link.sessions - 1
        if others <= 0:
            return False
        link.cap = others
        self.cap = min(self.cap, others)
        return True

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        deadline = loop.time() + self.options.timeout
        backoff = HANDSHAKE_RETRY_FIRST
        link = Link(self.cap)
        try:
            port: Any = self.options.port if self.options.port is not None else ()
            if self._client_options is None:
                # Built once (it reads the key files, known_hosts and ~/.ssh/config), for
                # this host: the config's `Host` blocks are matched here.
                self._client_options = asyncssh.SSHClientConnectionOptions(
                    host=self.options.address, port=port, **self.options.asyncssh_options()
                )
            while True:
                link = Link(self.cap)  # a fresh one: a failed attempt's client marks its own dead
                self.host_key_problem = None
                try:
                    link.conn = await asyncio.wait_for(
                        asyncssh.connect(
                            self.options.address,
                            port,
                            options=self._client_options,
                            client_factory=functools.partial(_LinkClient, self, link),
                        ),
                        max(0.001, deadline - loop.time()),
                    )
                    break
                except _HANDSHAKE_RESETS:
                    # Dropped before or during the handshake (sshd's MaxStartups, a busy
                    # server): nothing ran, so try again while the connection timeout lasts.
                    pause = backoff * (0.5 + random.random())
                    if loop.time() + pause >= deadline:
                        raise
                    await asyncio.sleep(pause)
                    backoff = min(backoff * 2, HANDSHAKE_RETRY_MAX)
            self.connect_seconds.append(time.perf_counter() - start)
            self.links.append(link)
            self._failure = None
        except (OSError, asyncssh.Error, TimeoutError, ValueError) as exc:
            if isinstance(exc, ValueError):
                # asyncssh's complaints about options (a key file it cannot read, …).
                error = TargetUnreachable(f"{FAILED}{exc}")
            elif isinstance(exc, asyncssh.HostKeyNotVerifiable) and self.host_key_problem:
                error = TargetUnreachable(f"{FAILED}{self.host_key_problem}")
            else:
                error = unreachable(self.options, exc)
            self._failure = error
            self._failures += 1
            if self.live():
                self._max_links = len(self.links)
        finally:
            self._opening -= 1
            self.changed()

    async def channel(self, command: str) -> tuple[Link, asyncssh.SSHClientChannel[bytes], Session]:
        """A new session channel running ``command``; its slot is freed when it closes.

        A channel that could not be opened never ran anything, so it is retried on
        another connection: after a refusal (the server's MaxSessions) or when the
        connection turned out to be dead (it is replaced).
        """
        options = self.options
        for _attempt in range(8):
            link = await self.acquire()
            assert link.conn is not None
            try:
                chan, session = await asyncio.wait_for(
                    link.conn.create_session(Session, command, encoding=None),
                    options.timeout,
                )
            except asyncssh.ChannelOpenError as exc:
                retry = self.refused(link)
                self.release(link)
                if retry:
                    continue
                raise TargetUnreachable(
                    f"{FAILED}{options.where()} refused a channel: {exc.reason}"
                ) from exc
            except (OSError, asyncssh.Error, TimeoutError) as exc:
                alive = link.alive
                self.release(link)
                if not alive:
                    continue
                if isinstance(exc, TimeoutError):
                    with contextlib.suppress(Exception):
                        link.conn.abort()
                    raise lost(options, "no answer to a channel request") from exc
                raise unreachable(options, exc) from exc
            except BaseException:
                self.release(link)
                raise
            assert isinstance(session, Session)
            session.closed.add_done_callback(functools.partial(self._released, link))
            return link, chan, session
        raise TargetUnreachable(f"{FAILED}{options.where()} keeps refusing channels")

    def _released(self, link: Link, _closed: asyncio.Future[Exception | None]) -> None:
        self.release(link)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        links, self.links = self.links, []
        for link in links:
            if link.conn is not None:
                link.conn.close()
        for link in links:
            if link.conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(link.conn.wait_closed(), 2.0)


_Endpoints = dict[tuple[Any, ...], "Endpoint"]
_ENDPOINTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Endpoints] = (
    weakref.WeakKeyDictionary()
)


def endpoint_for(options: SSHOptions) -> Endpoint:
    endpoints = _ENDPOINTS.setdefault(asyncio.get_running_loop(), {})
    endpoint = endpoints.get(options.link_key)
    if endpoint is None:
        endpoint = endpoints[options.link_key] = Endpoint(options)
    return endpoint


def forget(endpoint: Endpoint) -> None:
    endpoints = _ENDPOINTS.get(asyncio.get_running_loop(), {})
    if endpoints.get(endpoint.options.link_key) is endpoint:
        del endpoints[endpoint.options.link_key]
