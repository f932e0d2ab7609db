"""A warm module server on the target: one Python per target and interpreter runs every call.

A module call through the per-call path starts a new interpreter that imports
ansible's module support (~0.1-0.2 s of CPU each time).  Here the runner runs
once as a server (``ansible_runner.py --serve``, see its docstring for the
frames): it imports that support once, then forks a child per call, which runs
the module exactly as the per-call runner does, in its own session, with the
task's environment, and answers with the module's exit status and output.

One server per (target, interpreter), shared by every inventory alias that
reaches the same target as the same user (the SSH connection's link key; on the
local connection, the machine), started lazily on a connection's stream
(`Connection.open_stream`: a subprocess, or a channel of the shared SSH
connection), closed with that connection.  Payloads travel through the server
too: a call names its payload's place in the target's cache, and when it is not
there the server says so and the controller sends it once.

Used only without ``become`` and when the task's environment sets nothing the
interpreter reads at its start (``PYTHON*``, locale): a fork inherits the server's.
When a server cannot start, the call takes the per-call path (and a new start is
tried after `RETRY_AFTER`); a call in flight when the server dies is a failed
module result, never repeated; a cancelled call's process group is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import struct
import sys
import time
import weakref
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import connection as _connection
from ..connection.base import CommandResult, Stream, TargetUnreachable
from ..connection.local import LocalConnection
from ..modules.base import TaskContext

HELLO_TIMEOUT = 15.0
"""Seconds for a new server to say hello (interpreter start, over SSH a channel)."""
KILL_WAIT = 5.0
"""Seconds a cancelled call waits for its process group to be gone (SIGTERM, SIGKILL)."""
RETRY_AFTER = 30.0
"""Seconds after a server failed to start before another start is tried on that target."""
_STARTUP_ENV = ("PYTHON", "LC_", "LANG")
"""Environment variables read at an interpreter's start: a task setting one runs per call."""


class ServerLost(Exception):
    """The server ended (or could not be reached) before answering."""


class NotSent(ServerLost):
    """The request never left: the server was already gone (the call may go elsewhere)."""


@dataclass(frozen=True, slots=True)
class Reply:
    header: dict[str, Any]
    data: bytes


def _frame(header: Mapping[str, Any], data: bytes = b"") -> bytes:
    body = json.dumps(header).encode()
    return struct.pack(">I", len(body)) + body + data


class ForkServer:
    """The controller's end of one server: requests by id, answers as they come."""

    def __init__(self, stream: Stream, hello: Mapping[str, Any]) -> None:
        self.stream = stream
        self.pid = int(hello.get("pid") or 0)
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._error: BaseException | None = None
        self._reader = asyncio.ensure_future(self._read())
        self._puts: dict[str, asyncio.Future[None]] = {}

    @property
    def alive(self) -> bool:
        return self._error is None

    @classmethod
    async def start(cls, stream: Stream) -> ForkServer:
        try:
            header, _ = await asyncio.wait_for(_read_frame(stream), HELLO_TIMEOUT)
            hello = header.get("hello")
            if not isinstance(hello, dict):
                raise ServerLost(f"the module server said {header!r} instead of hello")
        except BaseException:
            await stream.close()
            raise
        return cls(stream, hello)

    async def _read(self) -> None:
        error: BaseException
        try:
            while True:
                header, data = await _read_frame(self.stream)
                fut = self._pending.pop(int(header.get("id") or 0), None)
                if fut is not None and not fut.done():
                    fut.set_result(Reply(header, data))
        except TargetUnreachable as lost:
            error = lost
        except Exception as exc:  # noqa: BLE001 - the stream ended or broke: lost
            error = ServerLost(str(exc) or type(exc).__name__)
        except asyncio.CancelledError:
            error = ServerLost("closed")
        self._error = error
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(error)
        self._pending.clear()

    async def request(self, header: dict[str, Any], data: bytes = b"") -> Reply:
        """Send one request and wait for its answer; a cancelled wait asks for a kill."""
        if self._error is not None:
            raise NotSent(str(self._error))
        ident = next(self._ids)
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[ident] = fut
        try:
            self.stream.write(_frame({**header, "id": ident, "size": len(data)}, data))
        except (OSError, RuntimeError) as exc:
            self._pending.pop(ident, None)
            raise NotSent(f"could not send: {exc}") from None
        try:
            await self.stream.drain()
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            if "run" in header and not fut.done():
                # As the per-call path: a cancelled command's process group is stopped
                # before the cancellation goes on.
                with contextlib.suppress(OSError, RuntimeError):
                    self.stream.write(_frame({"id": ident, "kill": True}))
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(asyncio.shield(fut), KILL_WAIT)
            raise
        except (OSError, RuntimeError) as exc:
            # Part of it may have reached the server: in flight, lost with it.
            raise ServerLost(str(exc) or type(exc).__name__) from None
        finally:
            self._pending.pop(ident, None)

    async def put(self, path: str, data: bytes) -> None:
        """Write a payload into the target's cache (once at a time per path)."""
        running = self._puts.get(path)
        if running is None:
            running = self._puts[path] = asyncio.ensure_future(self._put(path, data))
        try:
            await asyncio.shield(running)
        finally:
            if running.done():
                self._puts.pop(path, None)

    async def _put(self, path: str, data: bytes) -> None:
        reply = await self.request({"put": path}, data)
        if "error" in reply.header:
            raise OSError(str(reply.header["error"]))

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader
        await self.stream.close()


async def _read_frame(stream: Stream) -> tuple[dict[str, Any], bytes]:
    (size,) = struct.unpack(">I", await stream.readexactly(4))
    header = json.loads(await stream.readexactly(size))
    if not isinstance(header, dict):
        raise ValueError("a frame that is not a JSON object")
    extra = int(header.get("out") or 0) + int(header.get("err") or 0)
    return header, (await stream.readexactly(extra) if extra else b"")


# --------------------------------------------------------------------------- the servers


@dataclass(slots=True)
class _Slot:
    task: asyncio.Task[ForkServer] | None = None
    failed_at: float | None = None


_SERVERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, _Slot]] = (
    weakref.WeakKeyDictionary()
)


def _key(ctx: TaskContext) -> Hashable | None:
    """Which server a call may use; None: none (the per-call path)."""
    conn = ctx.conn
    # Never imported from here: asyncssh costs ~0.2 s, and a run with no SSH host
    # never loads it; an SSH connection exists only once its module is loaded.
    ssh = sys.modules.get(f"{_connection.__name__}.ssh")
    if ssh is not None and isinstance(conn, ssh.SSHConnection):
        return ("ssh", conn.options.link_key, ctx.python)
    if isinstance(conn, LocalConnection):
        return ("local", ctx.python)
    return ("other", id(conn), ctx.python)


def usable(ctx: TaskContext) -> bool:
    """Whether a call of ``ctx`` may go to a server (no become, no interpreter settings)."""
    if ctx.become is not None:
        return False
    return not any(key.upper().startswith(_STARTUP_ENV) for key in ctx.environment)


async def server(ctx: TaskContext, argv: list[str]) -> ForkServer | None:
    """The running server for ``ctx``'s target (started now if need be); None when it
    cannot be had (the caller takes the per-call path)."""
    slots = _SERVERS.setdefault(asyncio.get_running_loop(), {})
    key = _key(ctx)
    slot = slots.setdefault(key, _Slot())
    if slot.task is not None and slot.task.done():
        found = None if slot.task.cancelled() or slot.task.exception() else slot.task.result()
        if found is None or not found.alive:
            slot.task = None
    if slot.task is None:
        if slot.failed_at is not None and time.monotonic() - slot.failed_at < RETRY_AFTER:
            return None
        slot.task = asyncio.ensure_future(_start(ctx, argv))
    task = slot.task
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            raise
        slot.failed_at = time.monotonic()
        return None
    except Exception:  # noqa: BLE001 - no server (no stream, no hello): the per-call path
        if slot.task is task:
            slot.failed_at = time.monotonic()
        return None


async def _start(ctx: TaskContext, argv: list[str]) -> ForkServer:
    stream = await ctx.conn.open_stream(argv)
    return await ForkServer.start(stream)


def servers() -> list[ForkServer]:
    """This event loop's running servers (for tests and benchmarks)."""
    found = []
    for slot in _SERVERS.get(asyncio.get_running_loop(), {}).values():
        task = slot.task
        if task is not None and task.done() and not task.cancelled() and not task.exception():
            found.append(task.result())
    return [s for s in found if s.alive]


async def call(
    ctx: TaskContext, argv: list[str], body: dict[str, Any], data: bytes
) -> CommandResult | dict[str, Any] | None:
    """Run one module call (``body``: the runner's request) on the server.

    A `CommandResult` as the per-call path would have had; a failed result when the
    server was lost with the call in flight; None when no server could take it (the
    caller runs it per call).  ``data``: the payload, sent if the cache lacks it.
    """
    srv = await server(ctx, argv)
    if srv is None:
        return None
    env = dict(ctx.environment)
    start = time.time()
    for _attempt in range(2):
        try:
            reply = await srv.request({"run": body, "env": env})
        except NotSent:
            return None
        except ServerLost as gone:
            return lost_result(ctx, gone)
        missing = reply.header.get("missing")
        if missing is None:
            break
        try:
            await srv.put(str(missing), data)
        except ServerLost:
            return None  # nothing ran yet
        except OSError as error:
            return {"failed": True, "changed": False, "msg": str(error)}
    else:
        return None
    header = reply.header
    out = int(header.get("out") or 0)
    return CommandResult(
        rc=int(header.get("rc", 1)),
        stdout=reply.data[:out],
        stderr=reply.data[out:],
        start=start,
        end=time.time(),
    )


def lost_result(ctx: TaskContext, why: BaseException) -> dict[str, Any]:
    if isinstance(why, TargetUnreachable):
        raise why
    return {
        "failed": True,
        "changed": False,
        "msg": f"playgraph's module server on {ctx.conn.host} stopped while the module ran"
        f" ({why}); the module may have run in part",
        "module_stdout": "",
        "module_stderr": "",
    }
