"""The controller's side of jobs: talking to a target's job supervisor.

The supervisor (`runtime/target/supervisor.py`) runs on the target and owns the
jobs; this module speaks its newline-delimited JSON protocol over any pair of
asyncio streams (a unix socket locally, a ``client`` bridge under sudo or SSH),
and shapes records the way ansible-core's ``async_status`` does.

One client per (event loop, target, user, async dir): every inventory host that
maps to the same machine and user shares one supervisor and one stream, so a
fan-out to 100 local hosts costs one socket, not 100 interpreters.

Deadlines: every request has one — ``wait`` its timeout, ``kill`` the
supervisor's kill grace, plus `request_grace` (6 s, or
``$PLAYGRAPH_SUPERVISOR_GRACE`` seconds) for all of them.  A
supervisor that misses it (stopped, stuck) fails the request with
`SupervisorTimeout`, naming its pid and async dir, and the client is dropped,
so the next call opens a new one instead of queueing behind it; a local
supervisor seen stopped (SIGSTOP) fails the opening at once.  Its jobs' limits
and records do not depend on it: the target's keeper holds them.

Trust: a local supervisor is used only if its async dir, private dir and socket
are this user's (and not writable by others) and the socket's peer is this
user (``SO_PEERCRED``); its version (protocol and program hash) must be ours,
else it is asked to exit and ours is started, adopting its jobs.

Environment: a job started through a local socket gets the controller's own
environment at the time of the request (sent with the job); one started
through a ``client`` bridge gets the bridge's (its SSH or sudo session's).

Big records: status files too big for one answer line come back as a marker
and are read in pieces (``read``), so any output ansible-core would return
(it does not cap it) is returned whole.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import secrets
import socket
import sys
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from .jobspec import JobSpec
from .target import supervisor as _target

SUPERVISOR_PATH = Path(_target.__file__).resolve()
"""The supervisor script, run locally and shipped to remote targets."""

SUPERVISOR_VERSION = _target.program_version(str(SUPERVISOR_PATH))
"""The version a supervisor must report to be used (protocol and program hash)."""

STREAM_LIMIT = _target.MAX_LINE
START_TIMEOUT = 10.0
"""Seconds to wait for a freshly started supervisor to answer."""
REQUEST_GRACE = 6.0
"""Seconds a supervisor may take to answer a request beyond the request's own time.

Longer than the run's grace past a job's limit (`RunOptions.grace`, 5 s), so a
supervisor paused that long and resumed is waited for; short enough that when it
never answers again every task still ends within a job's limit (1 s at least) +
the run's grace of the moment it went silent."""

RUN_ID = f"{socket.gethostname()}:{os.getpid()}:{int(time.time() * 1000)}"
"""This controller process's run id, ``<hostname>:<pid>:<start ms>``, recorded with its jobs."""


def request_grace() -> float:
    """`REQUEST_GRACE`, or ``$PLAYGRAPH_SUPERVISOR_GRACE`` when set to a positive number."""
    try:
        value = float(os.environ.get("PLAYGRAPH_SUPERVISOR_GRACE", ""))
    except ValueError:
        return REQUEST_GRACE
    return value if value > 0 else REQUEST_GRACE


class JobError(Exception):
    """The supervisor refused a request, or could not be reached or started."""


class SupervisorLost(JobError):
    """The stream to the supervisor closed; requests in flight have no answer."""


class SupervisorTimeout(JobError):
    """The supervisor did not answer within its deadline (stopped or stuck)."""


BUSY_CAP = 60.0
"""Seconds past a request's own deadline it may wait while its supervisor keeps
answering other requests: under load a busy supervisor's queue is slow, not
stuck, and a start given up on while still queued would run unseen."""


class UntrustedSupervisor(JobError):
    """The async dir, private dir or socket is not this user's alone."""


# --------------------------------------------------------------------------- records


def new_jid() -> str:
    """A job id in ansible-core's shape, ``j<up to 12 digits>.<pid>`` — always a string.

    The ``j`` keeps Jinja2 native types from reading the id as a float.
    """
    return f"j{secrets.randbelow(10**12)}.{os.getpid()}"


def launch_record(jid: str, results_file: str) -> dict[str, Any]:
    """What a ``poll: 0`` task returns at once (ansible-core 2.19: booleans, not 0/1)."""
    return {
        "ansible_job_id": jid,
        "started": True,
        "finished": False,
        "results_file": results_file,
        "changed": True,
        "failed": False,
    }


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """ansible's ``merge_hash``: dicts merge recursively, everything else is replaced."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = _merge(old, value)
        else:
            out[key] = value
    return out


def _lines(value: Any) -> list[str]:
    return value.splitlines() if isinstance(value, str) and value else []


def running_record(jid: str | None, results_file: str | None) -> dict[str, Any]:
    """What async_status says of a job that has not ended (ansible-core's skeleton)."""
    record: dict[str, Any] = {
        "started": True,
        "finished": False,
        "stdout": "",
        "stderr": "",
        "stdout_lines": [],
        "stderr_lines": [],
    }
    if jid is not None:
        record["ansible_job_id"] = jid
    if results_file is not None:
        record["results_file"] = results_file
    return record


def status_record(
    jid: str, raw: Mapping[str, Any] | str | bytes | None, results_file: str
) -> dict[str, Any]:
    """What ``async_status mode=status`` returns for a job, given its status file.

    ``raw`` is the file's content: parsed, as text, or None when the file is
    absent.  Mirrors ansible-core's action plugin (a pre-filled skeleton) and
    module (``finished`` added to a bare module result), with ``*_lines``
    derived as the action layer does.  A damaged file (empty, not JSON, not an
    object) is a finished, failed job whose ``msg`` names the file and the
    damage (ansible-core would say "running" forever).
    ``started``/``finished`` are booleans, as ansible-core 2.19 returns them (so
    ``until: job.finished`` is a boolean conditional); 0/1 in old job files are read too.
    """
    skeleton = running_record(jid, results_file)
    data: dict[str, Any] | None
    if raw is None:
        data = {
            "failed": True,
            "msg": "could not find job",
            "ansible_job_id": jid,
            "started": True,
            "finished": True,
        }
    else:
        if isinstance(raw, Mapping):
            data = dict(raw)
        else:
            text = raw.encode() if isinstance(raw, str) else bytes(raw)
            damage = _target.damage_of(text)
            # Records are written whole (tmp + rename, by us and by ansible-core's
            # wrapper): one that does not parse is damaged, not half-written.
            data = {
                "failed": True,
                "msg": f"the job's status file {results_file} is damaged: {damage}",
                "ansible_job_id": jid,
                "started": True,
                "finished": True,
            }
            if damage is None:
                data = json.loads(text)
        if "started" not in data:
            # A bare module result: the job is over.
            data["finished"] = True
            data["ansible_job_id"] = jid
        elif "finished" not in data:
            data["finished"] = False
    for stream in ("stdout", "stderr"):
        if stream in data and f"{stream}_lines" not in data:
            data[f"{stream}_lines"] = _lines(data[stream])
    record = _merge(skeleton, data)
    for key in ("started", "finished"):
        record[key] = bool(record[key])
    return record


def spec_to_wire(spec: JobSpec) -> dict[str, Any]:
    """The ``job`` object of a ``start`` request."""
    if (spec.argv is None) == (spec.shell is None):
        raise JobError("a job needs exactly one of argv and shell")
    return {
        "jid": spec.jid,
        "limit": spec.limit,
        "argv": list(spec.argv) if spec.argv is not None else None,
        "shell": spec.shell,
        "executable": spec.executable,
        "env": dict(spec.env),
        "cwd": spec.cwd,
        "stdin_b64": base64.b64encode(spec.stdin).decode() if spec.stdin is not None else None,
        "result": spec.result,
        "module": spec.module,
        "run_id": spec.run_id,
        "host": spec.host,
        "task": dict(spec.task) if spec.task is not None else None,
        "no_log": spec.no_log,
    }


def read_job_file(async_dir: str, jid: str) -> Any:
    """A job's status file read here, parsed as the supervisor's ``status`` sends it:
    the record, its text when damaged, None when absent.

    The file is the truth (ansible-core's own async_status reads it); the
    supervisor only serves it faster.  ``async_dir`` must be this user's alone.
    """
    try:
        _target.check_jid(jid)
    except _target.RequestError as exc:
        raise JobError(str(exc)) from None
    root = _target.expand_dir(async_dir)
    _check_dirs(root)
    try:
        fd = os.open(os.path.join(root, jid), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise JobError(f"cannot read the status file of {jid} in {root}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        raw = f.read()
    return parse_record(raw)


def parse_record(raw: bytes) -> Any:
    """A status file's bytes as the supervisor's ``status`` sends them: the record (a
    JSON object), else the text (damaged: `_target.damage_of` says why).  Parsed once."""
    try:
        data = json.loads(raw)
    except ValueError:
        return _target.decode(raw)
    return data if isinstance(data, dict) else _target.decode(raw)


# --------------------------------------------------------------------------- client


class StreamSink(Protocol):
    """Where a client writes its requests: an `asyncio.StreamWriter`, or the ssh
    connection's adapter for an SSH channel (`connection/ssh.py`), which is not one."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...


class SupervisorClient:
    """The protocol over one stream pair; concurrent requests are multiplexed by id.

    A reader task routes each response line to the future of its request.
    ``async_dir`` is the supervisor's expanded directory (status files live
    there) and ``pid`` its process id, learnt from the ``hello`` when the
    stream was opened.  ``send_env``: send this process's environment with each
    job (a direct local connection; a bridge has sent its own in its hello), as
    it was when the client opened: a client lives for one run.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: StreamSink,
        *,
        async_dir: str = "",
        hello: Mapping[str, Any] | None = None,
        send_env: bool = False,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.async_dir = async_dir
        self.pid: int | None = None
        if hello is not None:
            self.async_dir = str(hello.get("async_dir") or async_dir)
            pid = hello.get("pid")
            self.pid = pid if isinstance(pid, int) else None
        self.send_env = send_env
        # Taken once: copying os.environ per job cost a fan-out ~1 ms a host.
        self._env_base = dict(os.environ) if send_env else None
        self._env_json: str | None = None
        """`_env_base` as JSON, made at the first start."""
        self.grace = request_grace()
        self._reader = reader
        self._writer = writer
        self._on_close = on_close
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._write_lock = asyncio.Lock()
        self._closed = False
        self._lost: str | None = None
        # When the supervisor last answered anything: tells busy from stuck.
        self._last_heard = asyncio.get_running_loop().time()
        self._reader_task = asyncio.get_running_loop().create_task(self._read_loop())

    @property
    def closed(self) -> bool:
        return self._closed or self._lost is not None

    def results_file(self, jid: str) -> str:
        return os.path.join(self.async_dir, jid)

    def describe(self) -> str:
        """``the job supervisor (pid N) for DIR``, for messages."""
        pid = f" (pid {self.pid})" if self.pid is not None else ""
        return f"the job supervisor{pid} for {self.async_dir or 'its async dir'}"

    async def _read_loop(self) -> None:
        reason = "the supervisor closed the connection"
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                self._last_heard = asyncio.get_running_loop().time()
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue  # not ours (e.g. a stray banner); responses are JSON
                if not isinstance(msg, dict):
                    continue
                rid = msg.get("id")
                fut = self._pending.pop(rid, None) if isinstance(rid, int) else None
                if fut is None or fut.done():
                    continue
                if "error" in msg:
                    fut.set_exception(JobError(str(msg["error"])))
                else:
                    fut.set_result(msg.get("result"))
        except (OSError, ValueError) as exc:
            reason = f"lost the supervisor connection: {exc}"
        except asyncio.CancelledError:
            reason = "the client was closed"
            raise
        finally:
            if self._lost is None:
                self._lost = reason
            pending, self._pending = self._pending, {}
            for fut in pending.values():
                if not fut.done():
                    fut.set_exception(SupervisorLost(self._lost))
                    fut.exception()  # its caller may be gone (timed out): not "never retrieved"

    def _abandon(self, reason: str) -> None:
        """Give up on a supervisor that missed a deadline: every request still
        waiting fails now, and the cache opens a new client on the next call."""
        if self._lost is None:
            self._lost = reason
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(SupervisorTimeout(reason))
                fut.exception()  # its caller may be gone (timed out): not "never retrieved"
        self._reader_task.cancel()

    async def request(self, op: str, *, seconds: float = 0.0, **fields: Any) -> Any:
        """Send one request and wait for its response's ``result``.

        ``seconds`` is how long the request itself may take (a ``wait``'s
        timeout); the supervisor gets `request_grace` more, then
        `SupervisorTimeout`.  A supervisor that answered other requests within
        the last grace is busy, not stuck: the request waits on, up to `BUSY_CAP`
        more, and only a silent one is abandoned.
        """
        return await self._exchange(
            op, seconds, lambda rid: json.dumps({"id": rid, "op": op, **fields}).encode() + b"\n"
        )

    async def _exchange(self, op: str, seconds: float, encode: Callable[[int], bytes]) -> Any:
        """`request` with its line made by ``encode(request id)``."""
        if self._closed:
            raise SupervisorLost("the client was closed")
        if self._lost is not None:
            raise SupervisorLost(self._lost)
        rid = next(self._ids)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending[rid] = fut
        line = encode(rid)
        limit = seconds + self.grace
        begun = loop.time()
        # The deadline is a timer on this task, not a task of its own awaited through
        # asyncio.wait: a fan-out makes thousands of requests, and each extra task and
        # waiter cost an event loop iteration per request.
        task = asyncio.current_task()
        assert task is not None
        overdue: list[float] = []  # the quiet time seen when the deadline cut it short

        def check() -> None:
            if fut.done():
                return
            now = loop.time()
            quiet = now - self._last_heard
            if quiet >= self.grace or now - begun >= limit + BUSY_CAP:
                overdue.append(quiet)
                task.cancel()
                return
            wait = min(self.grace - quiet, begun + limit + BUSY_CAP - now) + 0.01
            timer[0] = loop.call_at(now + wait, check)

        timer = [loop.call_at(begun + limit, check)]
        try:
            async with self._write_lock:
                self._writer.write(line)
                await self._writer.drain()
            return await fut
        except asyncio.CancelledError:
            if not overdue or task.uncancel() > 0:
                raise  # our caller gave up (cancelled): so does the exchange
            took = loop.time() - begun
            reason = (
                f"{self.describe()} did not answer {op!r} within {took:.0f} s:"
                " it is stopped or stuck"
            )
            if overdue[0] >= self.grace:
                self._abandon(reason)
            raise SupervisorTimeout(reason) from None
        except (ConnectionError, BrokenPipeError) as exc:
            raise SupervisorLost(f"lost the supervisor connection: {exc}") from exc
        finally:
            timer[0].cancel()
            self._pending.pop(rid, None)

    async def hello(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("hello", version=SUPERVISOR_VERSION)
        if isinstance(result.get("async_dir"), str):
            self.async_dir = result["async_dir"]
        if isinstance(result.get("pid"), int):
            self.pid = result["pid"]
        return result

    async def ping(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("ping")
        if isinstance(result.get("async_dir"), str):
            self.async_dir = result["async_dir"]
        return result

    async def start(self, spec: JobSpec) -> dict[str, Any]:
        """Start a job; returns once its running record is on disk."""
        job = spec_to_wire(spec)
        if self._env_base is None:
            result: dict[str, Any] = await self.request("start", job=job)
            return result
        if self._env_json is None:
            self._env_json = json.dumps(self._env_base)
        # The line json.dumps would make of {"id", "op", "job": {..., "env_base"}}, with
        # the environment (the biggest part, the same for every job) encoded once.
        head = f'"op": "start", "job": {json.dumps(job)[:-1]}, "env_base": {self._env_json}}}}}\n'
        result = await self._exchange("start", 0.0, lambda rid: f'{{"id": {rid}, {head}'.encode())
        return result

    async def _whole(self, raws: dict[str, Any]) -> dict[str, Any]:
        """Read back the records the supervisor sent as ``["oversize", size, inode]``."""
        for jid, raw in raws.items():
            if isinstance(raw, list) and raw[:1] == ["oversize"]:
                raws[jid] = await self._read_file(jid)
        return raws

    async def _read_file(self, jid: str) -> Any:
        """A status file read in pieces; parsed like the supervisor's ``status`` does."""
        for _ in range(3):
            data = bytearray()
            inode: Any = None
            while True:
                try:
                    piece = await self.request(
                        "read", jid=jid, offset=len(data), length=_target.READ_CHUNK
                    )
                except JobError as error:
                    if "no status file" in str(error):
                        return None
                    raise
                if inode is not None and piece.get("inode") != inode:
                    break  # replaced while we read: start again
                inode = piece.get("inode")
                chunk = base64.b64decode(piece.get("data", ""))
                data += chunk
                if not chunk or len(data) >= int(piece.get("size", 0)):
                    return parse_record(bytes(data))
        raise JobError(f"the status file of {jid} kept changing while it was read")

    async def status(self, jids: Sequence[str]) -> dict[str, Any]:
        """Each job's status file content (dict), raw text if damaged, None if absent."""
        result: dict[str, Any] = await self.request("status", jids=list(jids))
        return await self._whole(result)

    async def wait(self, jids: Sequence[str], timeout: float) -> dict[str, Any]:
        """Like `status`, answered as soon as any job ends, at the latest after ``timeout``."""
        result: dict[str, Any] = await self.request(
            "wait", seconds=timeout, jids=list(jids), timeout=timeout
        )
        return await self._whole(result)

    async def kill(self, jid: str) -> Any:
        """Terminate a job's process group; its final record (None for an unknown jid)."""
        raw = await self.request("kill", seconds=_target.TERM_GRACE, jid=jid)
        return (await self._whole({jid: raw}))[jid]

    async def list_jobs(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("list")
        return result

    async def cleanup(self, jid: str) -> bool:
        """Remove a job's status file; False when there was none."""
        result = await self.request("cleanup", jid=jid)
        return bool(result.get("erased"))

    async def shutdown(self) -> None:
        """Stop the supervisor (its jobs keep running; the next one adopts them)."""
        await self.request("shutdown")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        self._reader_task.cancel()
        await asyncio.wait([self._reader_task])  # wait() never raises the task's error
        if self._on_close is not None:
            await self._on_close()


# --------------------------------------------------------------------------- sharing

_ClientTask = asyncio.Task[SupervisorClient]
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, _ClientTask]] = (
    weakref.WeakKeyDictionary()
)


async def cached_client(
    key: Hashable, factory: Callable[[], Awaitable[SupervisorClient]]
) -> SupervisorClient:
    """The running loop's client for ``key``, opened once by ``factory``.

    Concurrent callers (100 hosts starting at once) share one opening; a closed or
    lost client is replaced on the next call.
    """
    loop = asyncio.get_running_loop()
    clients = _CLIENTS.setdefault(loop, {})
    task = clients.get(key)
    if task is not None and task.done() and not _usable(task):
        if not task.cancelled() and task.exception() is None:
            await task.result().close()
        task = None
    if task is None:

        async def open_client() -> SupervisorClient:
            return await factory()

        task = loop.create_task(open_client())
        clients[key] = task
    try:
        # shield: one caller giving up must not cancel the others' opening.
        return await asyncio.shield(task)
    except BaseException:
        if task.done() and clients.get(key) is task and (task.cancelled() or task.exception()):
            del clients[key]
        raise


def _usable(task: _ClientTask) -> bool:
    return not task.cancelled() and task.exception() is None and not task.result().closed


async def close_clients() -> None:
    """Close every client of the running loop (the supervisors and jobs keep running)."""
    clients = _CLIENTS.pop(asyncio.get_running_loop(), {})
    for task in clients.values():
        if not task.done():
            task.cancel()
        try:
            client = await task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing: a failed open has nothing to close
            continue
        await client.close()


# --------------------------------------------------------------------------- local daemon


@cache
def target_python() -> str:
    """The interpreter that runs the supervisor here, resolved once and never a shim.

    A pyenv shim on PATH costs ~100 ms per start (ARCHITECTURE.md, the job supervisor), so
    PATH is not consulted: the system ``/usr/bin/python3`` if present, else
    the real file behind this process's interpreter.
    """
    system = "/usr/bin/python3"
    if os.access(system, os.X_OK):
        return system
    return os.path.realpath(sys.executable)


def supervisor_argv(*args: str, python: str | None = None) -> list[str]:
    """A command line running the supervisor script.

    ``-S`` skips the site import (the script is stdlib only; starts faster);
    ``-E`` keeps PYTHON* variables from steering a long-lived daemon.
    """
    return [python or target_python(), "-E", "-S", str(SUPERVISOR_PATH), *args]


async def open_unix(sock_path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to a supervisor's socket: ours (file and peer), or `JobError`."""
    try:
        _target.check_private(sock_path, "supervisor socket", follow=False, kind="socket")
    except _target.UnsafePath as exc:
        raise UntrustedSupervisor(str(exc)) from None
    address, fd = _target.socket_address(sock_path)
    try:
        reader, writer = await asyncio.open_unix_connection(address, limit=STREAM_LIMIT)
    finally:
        if fd is not None:
            os.close(fd)
    sock = writer.get_extra_info("socket")
    cred = _target.peer_cred(sock) if sock is not None else None
    if cred is not None and cred[1] != os.geteuid():
        writer.close()
        raise UntrustedSupervisor(
            f"refusing the supervisor socket {sock_path}: its peer (pid {cred[0]}) is uid"
            f" {cred[1]}, not this user (uid {os.geteuid()})"
        )
    return reader, writer


def _check_dirs(root: str) -> None:
    """An existing async dir (and private dir) must be this user's and private."""
    # One stat each (a join reads a job file this way per host): a path that cannot
    # be stat'ed is absent, as os.path.exists/lexists would say.
    for path, what, follow in (
        (root, "async dir", True),
        (_target.private_dir(root), "private dir", False),
    ):
        try:
            _target.check_private(path, what, follow=follow)
        except _target.UnsafePath as exc:
            raise UntrustedSupervisor(str(exc)) from None
        except (OSError, ValueError):
            pass


async def _spawn_serve(root: str, idle_exit: float | None) -> None:
    args = ["serve", "--async-dir", root]
    if idle_exit is not None:
        args += ["--idle-exit", str(idle_exit)]
    proc = await asyncio.create_subprocess_exec(
        *supervisor_argv(*args),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    # The launcher exits as soon as the daemon has forked away.
    try:
        _, err = await asyncio.wait_for(proc.communicate(), START_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise JobError(f"could not start the job supervisor for {root}: no answer") from None
    if proc.returncode != 0:
        detail = err.decode(errors="replace").strip() or f"exit status {proc.returncode}"
        detail = detail.removeprefix("playgraph supervisor: ")
        raise JobError(f"could not start the job supervisor for {root}: {detail}")


async def _retire(client: SupervisorClient, root: str, deadline: float) -> None:
    """Ask a supervisor of another version to exit; wait (bounded) until its lock is free."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(JobError):
        await client.shutdown()
    await client.close()
    lock = os.path.join(_target.private_dir(root), _target.LOCK_NAME)
    while _target.lock_held(lock):
        if loop.time() > deadline:
            raise JobError(
                f"{client.describe()} is another playgraph version and does not exit;"
                f" stop it (kill {client.pid}) and retry"
            )
        await asyncio.sleep(0.02)


async def _open_local(root: str, idle_exit: float | None) -> SupervisorClient:
    _check_dirs(root)
    sock_path = os.path.join(_target.private_dir(root), _target.SOCK_NAME)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT
    spawned_at: float | None = None
    delay = 0.002
    lock = os.path.join(_target.private_dir(root), _target.LOCK_NAME)
    while True:
        pid = _target.lock_pid(_target.private_dir(root))
        if pid is not None and _target.process_stopped(pid) and _target.lock_held(lock):
            # The kernel would queue our connection and hello: nothing answers
            # until it is resumed, so say it now instead of at the deadline.
            raise SupervisorTimeout(
                f"the job supervisor (pid {pid}) for {root} is stopped (SIGSTOP?):"
                " it does not answer"
            )
        client: SupervisorClient | None = None
        try:
            reader, writer = await open_unix(sock_path)
            sock = writer.get_extra_info("socket")
            cred = _target.peer_cred(sock) if sock is not None else None
            client = SupervisorClient(reader, writer, async_dir=root, send_env=True)
            client.pid = cred[0] if cred is not None else None
            # A connection can be accepted by a supervisor that is just exiting
            # (idle); only an answered hello counts.
            info = await client.hello()
            if info.get("version") == SUPERVISOR_VERSION:
                return client
            await _retire(client, root, deadline)
            spawned_at = None
            error: BaseException = JobError(f"replaced version {info.get('version')}")
        except SupervisorTimeout:
            # It holds the socket but does not answer: stopped or stuck.  Waiting
            # longer would only hang the run.
            assert client is not None
            await client.close()
            raise
        except UntrustedSupervisor:
            raise
        except (OSError, JobError) as exc:
            error = exc
            if client is not None:
                await client.close()
        now = loop.time()
        if now > deadline:
            pid = _target.lock_pid(_target.private_dir(root))
            who = f" (pid {pid})" if pid is not None and _target.pid_alive(pid) else ""
            raise JobError(
                f"the job supervisor{who} for {root} does not answer on {sock_path}: {error}"
            )
        # Start one when none answers; again if a start seems to have been lost
        # (e.g. it lost the lock to a supervisor that was exiting).
        if spawned_at is None or now - spawned_at > 1.0:
            await _spawn_serve(root, idle_exit)
            spawned_at = loop.time()
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)


async def local_supervisor(async_dir: str, *, idle_exit: float | None = None) -> SupervisorClient:
    """The client of this machine's supervisor for ``async_dir`` (this user), started if needed.

    ``~`` expands with this process's ``$HOME``, as the supervisor does.
    """
    root = _target.expand_dir(async_dir)
    key = ("local", root, os.geteuid())
    return await cached_client(key, lambda: _open_local(root, idle_exit))
