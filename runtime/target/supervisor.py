#!/usr/bin/env python3
"""playgraph's job supervisor: runs on the target machine, one per (user, async dir).

This file is shipped as-is to targets, so it is self-contained, stdlib only and
runs on Python 3.8+ (annotations are never evaluated at run time).

Usage::

    python3 -E -S supervisor.py serve  --async-dir DIR [--idle-exit SECONDS] [--foreground]
    python3 -E -S supervisor.py client --async-dir DIR [--idle-exit SECONDS]

``serve`` daemonizes, takes an exclusive ``flock`` on
``DIR/.playgraph/supervisor.lock`` (so only one supervisor serves a directory)
and answers newline-delimited JSON on the unix socket
``DIR/.playgraph/supervisor.sock``.  ``client`` bridges stdin/stdout to that
socket, starting the daemon first when none answers; it first prints one line
``{"hello": {"version": 1, "async_dir": "<expanded DIR>"}}``.  The bridge is how
SSH and ``become`` reach the supervisor; a local controller uses the socket.

``~`` in DIR is expanded with this process's ``$HOME`` (``os.path.expanduser``),
as ansible-core's async_wrapper does.

Protocol: a request is ``{"id": ID, "op": OP, ...}``; the response echoes the
id, ``{"id": ID, "result": ...}`` or ``{"id": ID, "error": "message"}``.
Requests on one stream may overlap (a ``wait`` does not hold up later
requests); answers still owed when a client half-closes are sent.

* ``start {job}`` — job: ``jid, limit, argv | shell, executable, env, cwd,
  stdin_b64, result ("command" | "json"), module``.  Result:
  ``{jid, pid, pgid, start, results_file}``, sent once ``DIR/<jid>`` holds the
  running record.
* ``status {jids}`` — ``{jid: record | null | "unparsable text"}`` read from the
  status files (the durable truth), null when a file is absent.
* ``wait {jids, timeout}`` — the same map, sent as soon as any of the jobs has
  finished (or is absent), at the latest after ``timeout`` seconds.
* ``kill {jid}`` — SIGTERM the job's process group, SIGKILL 2 s later; result
  is the job's final record (null for an unknown jid).
* ``list`` — every job: sidecar metadata with ``state`` (status files of other
  tools' jobs too, marked ``foreign``).
* ``cleanup {jid}`` — remove ``DIR/<jid>`` (and the sidecar once the job has
  ended); never kills.  ``{erased: bool, path}``.
* ``ping`` — ``{pong, pid, version, async_dir, python, running}``.
* ``shutdown`` — the supervisor exits; jobs keep running and are adopted by the
  next supervisor.

Layout under DIR (mode 0700)::

    DIR/<jid>                    Ansible's status file (running record, then the result)
    DIR/<jid>.tmp                transient: every write is tmp + rename
    DIR/.playgraph/supervisor.lock   flock + the daemon's pid
    DIR/.playgraph/supervisor.sock   the unix socket
    DIR/.playgraph/supervisor.log    start/stop/adopt events and internal errors
    DIR/.playgraph/<jid>.json    sidecar: pid, pgid, start, limit, deadline, module,
                                 cmd, state (running/finished/timeout/killed/lost)
    DIR/.playgraph/<jid>.out/.err/.in   the job's stdout/stderr/stdin while it runs
    DIR/.playgraph/<jid>.rc      the command's exit status, written by the job's wrapper
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import errno
import fcntl
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import IO, Any, ClassVar

PROTOCOL_VERSION = 1
PRIVATE_DIR = ".playgraph"
LOCK_NAME = "supervisor.lock"
SOCK_NAME = "supervisor.sock"
LOG_NAME = "supervisor.log"
DEFAULT_IDLE_EXIT = 120.0
TERM_GRACE = 2.0
"""Seconds between SIGTERM and SIGKILL for a timed-out or killed job."""
ADOPT_POLL = 0.2
"""Liveness poll for adopted jobs, which are not our children (no SIGCHLD)."""
MAX_LINE = 64 * 1024 * 1024
MAX_WAIT = 24 * 3600.0
FOREIGN_POLL = 0.2
HALF_CLOSE_LINGER = 300.0
"""How long answers still owed to a client that closed its side are kept coming."""
LOG_MAX = 1024 * 1024

RUNNING = "running"
FINISHED = "finished"
TIMEOUT = "timeout"
KILLED = "killed"
LOST = "lost"

TIMEOUT_MSG = "Timeout exceeded"
KILLED_MSG = "killed by playgraph jobs kill"
LOST_MSG = "job lost: its process ended without a status (killed outside the supervisor?)"

# The job wrapper: a POSIX sh that enters the job's cwd, runs the command
# ("$@") and then writes its exit status to the rc file ($0).  The status
# therefore survives the supervisor, and "finished" is decided by whether the
# wrapper got that far — not by timing.  The wrapper keeps sh's default SIGTERM
# disposition, so a group kill stops it before it writes an rc: a killed job
# never looks finished.  The rc is one short write(2) ending in a newline, and
# a reader takes it only once that newline is there — atomic for our readers
# without the extra exec of an `mv` per job.  $? is 128+N for a command killed
# by signal N, as in any shell.  (cd is here because posix_spawn has no chdir
# before Python 3.13.)
WRAPPER = 'cd -- "$1" || exit 125; shift; "$@"; printf "%s\\n" "$?" >"$0"'

# Python ignores these; a job must start with the defaults (as Popen's
# restore_signals does).
_DEFAULT_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ", "SIGXFZ") if hasattr(signal, name)
)


_JID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")


class RequestError(Exception):
    """A request the supervisor refuses; its message goes back as ``error``."""


# --------------------------------------------------------------------------- paths


def expand_dir(async_dir: str) -> str:
    """The absolute async dir; ``~`` uses ``$HOME`` like ansible-core's wrapper."""
    return os.path.abspath(os.path.expanduser(async_dir))


def private_dir(root: str) -> str:
    return os.path.join(root, PRIVATE_DIR)


def ensure_dirs(root: str) -> str:
    """Create DIR and DIR/.playgraph (0700); return the private dir."""
    priv = private_dir(root)
    for path in (root, priv):
        with contextlib.suppress(FileExistsError):
            os.makedirs(path, mode=0o700)
        if not os.path.isdir(path):
            raise OSError(errno.ENOTDIR, "not a directory", path)
    # makedirs' mode is filtered by the umask; the job files are private.
    os.chmod(priv, 0o700)
    return priv


def check_jid(jid: Any) -> str:
    if not isinstance(jid, str) or not _JID_RE.match(jid) or jid.endswith(".tmp"):
        raise RequestError(f"invalid jid: {jid!r}")
    return jid


def socket_address(sock_path: str) -> tuple[str, int | None]:
    """An address for bind/connect that fits sun_path (108 bytes).

    Deep async dirs (pytest's tmp_path, long home dirs) overflow it; on Linux the
    directory can be reached through ``/proc/self/fd/N`` instead.  The caller
    closes the returned fd after bind/connect.
    """
    if len(os.fsencode(sock_path)) < 100 or not os.path.isdir("/proc/self/fd"):
        return sock_path, None
    flags = os.O_RDONLY | getattr(os, "O_PATH", 0) | getattr(os, "O_DIRECTORY", 0)
    fd = os.open(os.path.dirname(sock_path), flags)
    return f"/proc/self/fd/{fd}/{os.path.basename(sock_path)}", fd


def write_json_atomic(path: str, data: Any) -> None:
    """Write JSON to ``path.tmp`` and rename it over ``path``: readers never see half a file."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(data))
    os.rename(tmp, path)


def _create(path: str) -> IO[bytes]:
    """A new private file, truncated."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


def read_json(path: str) -> Any:
    """Parsed JSON, None when absent, the raw text when it does not parse."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def lock_held(lock_path: str) -> bool:
    """Whether some process holds the supervisor lock right now."""
    try:
        fd = os.open(lock_path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # also drops the probe lock
    return False


# --------------------------------------------------------------------------- processes


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie counts as dead.

    Orphans are reparented to pid 1, which in containers often never reaps, so
    ``kill(pid, 0)`` alone would report a finished process alive forever.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return True
    state = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3]
    return state not in (b"Z", b"X")


def killpg(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def read_rc(path: str) -> int | None:
    """The exit status the wrapper wrote; None while absent or not completely written."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        return int(data) if data.endswith(b"\n") else None
    except (OSError, ValueError):
        return None


def exit_code(status: int) -> int:
    # os.waitstatus_to_exitcode is 3.9+.
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return -1


def spawn(
    argv: list[str], env: dict[str, str], stdin: IO[bytes], stdout: IO[bytes], stderr: IO[bytes]
) -> tuple[int, subprocess.Popen[bytes] | None]:
    """Start ``argv`` as the leader of a new session and process group.

    posix_spawn (vfork-like in glibc) costs a fraction of Popen's fork here, and
    our reaper owns the child.  Popen is the fallback where setsid is missing;
    its object is returned so it is kept (and told the exit status) until reaped.
    """
    spawner = getattr(os, "posix_spawn", None)
    if spawner is not None:
        try:
            pid: int = spawner(
                argv[0],
                argv,
                env,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, stdin.fileno(), 0),
                    (os.POSIX_SPAWN_DUP2, stdout.fileno(), 1),
                    (os.POSIX_SPAWN_DUP2, stderr.fileno(), 2),
                ],
                setsid=True,  # its own process group: killpg reaches all of it
                setsigdef=_DEFAULT_SIGNALS,
                setsigmask=(),
            )
            return pid, None
        except NotImplementedError:
            pass
    proc = subprocess.Popen(
        argv, stdin=stdin, stdout=stdout, stderr=stderr, env=env, start_new_session=True
    )
    return proc.pid, proc


def become_subreaper() -> None:
    """Reparent orphaned job descendants to us (Linux), so we reap them.

    Without it, a job's grandchildren killed with its process group would stay
    zombies under a non-reaping pid 1 and look alive to ``kill(pid, 0)``.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_child_subreaper = 36
        libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0)
    except Exception:
        pass


# --------------------------------------------------------------------------- results


def fmt_time(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S.%f")


def fmt_delta(seconds: float) -> str:
    text = str(datetime.timedelta(seconds=max(0.0, seconds)))
    # str(timedelta) drops ".000000" when the microseconds are 0; Ansible's
    # readers expect a fixed shape.
    return text if "." in text else text + ".000000"


def decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def command_result(
    cmd: Any, rc: int, out: bytes, err: bytes, start: float, end: float
) -> dict[str, Any]:
    """The command module's result: stdout/stderr lose trailing CR/LF (strip_empty_ends)."""
    result: dict[str, Any] = {
        "changed": True,
        "cmd": cmd,
        "rc": rc,
        "stdout": decode(out).rstrip("\r\n"),
        "stderr": decode(err).rstrip("\r\n"),
        "start": fmt_time(start),
        "end": fmt_time(end),
        "delta": fmt_delta(end - start),
        "msg": "",
    }
    if rc != 0:
        result["failed"] = True
        result["msg"] = "non-zero return code"
    return result


def filter_json_output(text: str) -> tuple[str, list[str]]:
    """Cut a module's JSON object out of its stdout, as ansible-core's wrapper does.

    Leading lines before the first line starting with ``{`` are dropped
    silently; trailing lines after the last line ending with ``}`` are dropped
    with a warning.
    """
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip().startswith("{")), None)
    if first is None:
        raise ValueError("No start of json char found")
    lines = lines[first:]
    last = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].strip().endswith("}")), None)
    if last is None:
        raise ValueError("No end of json char found")
    warnings = []
    junk = lines[last + 1 :]
    if junk:
        warnings.append(
            "Module invocation had junk after the JSON data: {}".format("\n".join(junk))
        )
    return "\n".join(lines[: last + 1]), warnings


def json_result(cmd: Any, jid: str, out: bytes, err: bytes) -> dict[str, Any]:
    """A module's own JSON result (``result: json``), or the wrapper's parse failure."""
    stdout, stderr = decode(out), decode(err)
    try:
        text, warnings = filter_json_output(stdout)
        result = json.loads(text)
        if not isinstance(result, dict):
            raise ValueError("module output is not a JSON object")
    except ValueError as exc:
        return {
            "failed": 1,
            "cmd": cmd,
            "data": stdout,
            "stderr": stderr,
            "msg": "".join(traceback.format_exception_only(type(exc), exc)).strip(),
            "ansible_job_id": jid,
        }
    if warnings:
        existing = result.get("warnings", [])
        if not isinstance(existing, list):
            existing = [existing]
        result["warnings"] = existing + warnings
    if stderr:
        result["stderr"] = stderr
    return result


# --------------------------------------------------------------------------- daemon


class Job:
    """One job the running supervisor tracks: its own child, or one adopted after a restart."""

    def __init__(self, meta: dict[str, Any], adopted: bool = False) -> None:
        self.meta = meta
        self.jid: str = meta["jid"]
        self.pid: int | None = meta.get("pid")
        self.adopted = adopted
        self.proc: subprocess.Popen[bytes] | None = None
        self.exited = False
        """The wrapper has ended (reaped, or seen gone); the record is being written."""
        self.terminating: str | None = meta.get("terminating")
        self.deadline_handle: asyncio.TimerHandle | None = None
        self.waiters: list[asyncio.Future[None]] = []


class Supervisor:
    """The daemon: starts jobs, enforces limits, writes records, answers requests."""

    def __init__(self, root: str, idle_exit: float) -> None:
        self.root = root
        self.priv = private_dir(root)
        self.idle_exit = idle_exit
        self.jobs: dict[str, Job] = {}
        """Jobs whose wrapper is running or whose record is being written."""
        self.by_pid: dict[int, Job] = {}
        self.adopted: dict[str, Job] = {}
        self.clients = 0
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.stopped: asyncio.Future[None] = None  # type: ignore[assignment]
        self.last_activity = 0.0
        self.adopt_handle: asyncio.TimerHandle | None = None
        self.pending_kills: dict[int, asyncio.TimerHandle] = {}
        """SIGKILLs due TERM_GRACE after a SIGTERM, by process group."""
        self.home = os.path.expanduser("~")

    # ----------------------------------------------------------------- paths

    def status_path(self, jid: str) -> str:
        return os.path.join(self.root, jid)

    def scratch(self, jid: str, ext: str) -> str:
        return os.path.join(self.priv, jid + ext)

    def log(self, msg: str) -> None:
        try:
            with open(os.path.join(self.priv, LOG_NAME), "a") as f:
                f.write(f"{fmt_time(time.time())} [{os.getpid()}] {msg}\n")
        except OSError:
            pass

    # ----------------------------------------------------------------- lifecycle

    async def main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stopped = self.loop.create_future()
        self.last_activity = self.loop.time()
        self.loop.add_signal_handler(signal.SIGCHLD, self.reap)
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, self.stop)
        self.log(f"supervisor started (python {sys.version.split()[0]})")
        self.adopt_all()
        sock_path = os.path.join(self.priv, SOCK_NAME)
        _unlink(sock_path)  # stale socket of a dead supervisor; we hold the lock
        address, fd = socket_address(sock_path)
        try:
            server = await asyncio.start_unix_server(
                self.serve_client, path=address, limit=MAX_LINE
            )
        finally:
            if fd is not None:
                os.close(fd)
        os.chmod(sock_path, 0o600)
        self.schedule_idle_check(self.idle_exit)
        try:
            await self.stopped
        finally:
            server.close()
            _unlink(sock_path)
            # A stopped supervisor cannot keep a grace period: what ignored the
            # SIGTERM is killed now rather than left running past its limit.
            for pgid, handle in self.pending_kills.items():
                handle.cancel()
                killpg(pgid, signal.SIGKILL)
            self.log(f"supervisor stopped; {len(self.jobs)} job(s) still running")

    def stop(self) -> None:
        if not self.stopped.done():
            self.stopped.set_result(None)

    def touch(self) -> None:
        self.last_activity = self.loop.time()

    def schedule_idle_check(self, delay: float) -> None:
        if self.idle_exit > 0:
            self.loop.call_later(max(delay, 0.05), self.idle_check)

    def idle_check(self) -> None:
        if self.stopped.done():
            return
        if self.jobs or self.clients or self.pending_kills:
            # Busy: look again soon, so going idle is noticed within ~1 s.
            self.schedule_idle_check(min(self.idle_exit, 1.0))
            return
        idle = self.loop.time() - self.last_activity
        if idle >= self.idle_exit - 0.01:
            self.log(f"idle for {idle:.0f} s; exiting")
            self.stop()
        else:
            self.schedule_idle_check(self.idle_exit - idle)

    # ----------------------------------------------------------------- children

    def reap(self) -> None:
        """SIGCHLD: reap every exited child; our wrappers finish their jobs.

        As a subreaper we also get orphaned job descendants; those are just reaped.
        """
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            job = self.by_pid.pop(pid, None)
            if job is None:
                continue
            if job.proc is not None:
                # Tell Popen the child is gone, so it never waits for it itself.
                job.proc.returncode = exit_code(status)
            self.on_exit(job)

    def on_exit(self, job: Job) -> None:
        if job.exited:
            return
        job.exited = True
        if job.deadline_handle is not None:
            job.deadline_handle.cancel()
        self.loop.create_task(self.finalize(job))

    async def finalize(self, job: Job) -> None:
        # Reading output and writing the record touch the disk; a thread keeps the
        # loop (and other jobs' exact deadlines) free while a big output is read.
        try:
            await self.loop.run_in_executor(None, self.write_final, job)
        except Exception:
            self.log(f"finalizing {job.jid} failed:\n{traceback.format_exc()}")
        finally:
            self.jobs.pop(job.jid, None)
            self.adopted.pop(job.jid, None)
            for fut in job.waiters:
                if not fut.done():
                    fut.set_result(None)
            self.touch()

    def write_final(self, job: Job) -> None:
        """Write the job's final record.  Runs in a worker thread."""
        meta, jid = job.meta, job.jid
        rc_path = self.scratch(jid, ".rc")
        rc: int | None = None
        end = time.time()
        rc = read_rc(rc_path)
        if rc is not None:
            with contextlib.suppress(OSError):
                end = os.stat(rc_path).st_mtime
        # An rc file means the wrapper saw the command end before any signal got
        # to it: a real result, even if a timeout or kill was on its way.
        if rc is not None:
            out = self._read_scratch(jid, ".out")
            err = self._read_scratch(jid, ".err")
            if meta.get("result") == "json":
                record = json_result(meta.get("cmd"), jid, out, err)
            else:
                record = command_result(meta.get("cmd"), rc, out, err, meta["start"], end)
            state = FINISHED
        elif job.terminating == "kill":
            record = {"failed": True, "killed": True, "msg": KILLED_MSG, "child_pid": job.pid}
            state = KILLED
        elif job.terminating == "timeout" or (
            job.adopted and time.time() >= meta.get("deadline", math.inf)
        ):
            record = {"msg": TIMEOUT_MSG, "failed": True, "child_pid": job.pid}
            state = TIMEOUT
        else:
            record = {"failed": True, "msg": LOST_MSG}
            state = LOST
        write_json_atomic(self.status_path(jid), record)
        meta.update(state=state, end=end, rc=rc)
        write_json_atomic(self.scratch(jid, ".json"), meta)
        for ext in (".out", ".err", ".rc", ".in"):
            _unlink(self.scratch(jid, ext))

    def _read_scratch(self, jid: str, ext: str) -> bytes:
        try:
            with open(self.scratch(jid, ext), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    # ----------------------------------------------------------------- limits

    def on_deadline(self, job: Job) -> None:
        if not job.exited:
            self.terminate(job, "timeout")

    def terminate(self, job: Job, reason: str) -> None:
        """SIGTERM the job's group now, SIGKILL whatever is left after TERM_GRACE."""
        if job.exited or job.terminating is not None or job.pid is None:
            return
        job.terminating = reason
        job.meta["terminating"] = reason
        # Recorded before the signal, so a successor supervisor knows why the job died.
        try:
            write_json_atomic(self.scratch(job.jid, ".json"), job.meta)
        except OSError:
            self.log(f"could not update sidecar of {job.jid}")
        pgid = job.pid
        killpg(pgid, signal.SIGTERM)
        self.pending_kills[pgid] = self.loop.call_later(TERM_GRACE, self.kill_group, pgid)

    def kill_group(self, pgid: int) -> None:
        self.pending_kills.pop(pgid, None)
        killpg(pgid, signal.SIGKILL)

    # ----------------------------------------------------------------- adoption

    def adopt_all(self) -> None:
        """Take over the jobs a previous supervisor left running."""
        try:
            names = os.listdir(self.priv)
        except OSError:
            return
        for name in sorted(names):
            if not name.endswith(".json"):
                continue
            meta = read_json(os.path.join(self.priv, name))
            if not isinstance(meta, dict) or meta.get("state") != RUNNING or "jid" not in meta:
                continue
            job = Job(meta, adopted=True)
            self.jobs[job.jid] = job
            finished = read_rc(self.scratch(job.jid, ".rc")) is not None
            if finished or not (job.pid and pid_alive(job.pid)):
                self.on_exit(job)
                continue
            self.adopted[job.jid] = job
            remaining = float(meta.get("deadline", math.inf)) - time.time()
            if job.terminating is not None:
                # The previous supervisor was already stopping it: finish the job off.
                reason, job.terminating = job.terminating, None
                self.terminate(job, reason)
            elif remaining <= 0:
                self.terminate(job, "timeout")
            elif math.isfinite(remaining):
                job.deadline_handle = self.loop.call_at(
                    self.loop.time() + remaining, self.on_deadline, job
                )
            self.log(f"adopted {job.jid} (pid {job.pid}, {remaining:.3f} s left)")
        if self.adopted:
            self.adopt_handle = self.loop.call_later(ADOPT_POLL, self.poll_adopted)

    def poll_adopted(self) -> None:
        # Adopted wrappers are not our children: no SIGCHLD, so look.
        for job in list(self.adopted.values()):
            assert job.pid is not None
            if read_rc(self.scratch(job.jid, ".rc")) is not None or not pid_alive(job.pid):
                del self.adopted[job.jid]
                self.on_exit(job)
        if self.adopted:
            self.adopt_handle = self.loop.call_later(ADOPT_POLL, self.poll_adopted)

    # ----------------------------------------------------------------- requests

    async def serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.clients += 1
        self.touch()
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    self.send(writer, {"id": None, "error": "request line too long"})
                    break
                except ConnectionError:
                    break
                if not line:
                    break
                if line.strip():
                    self.dispatch(line, writer, tasks)
        finally:
            # A client that only half-closed (a bridge whose stdin ended) is still
            # owed its answers: let pending waits and kills finish, within reason.
            if tasks:
                await asyncio.wait(set(tasks), timeout=HALF_CLOSE_LINGER)
            for task in tasks:
                task.cancel()
            self.clients -= 1
            self.touch()
            writer.close()

    def send(self, writer: asyncio.StreamWriter, msg: dict[str, Any]) -> None:
        if writer.is_closing():
            return
        writer.write(json.dumps(msg).encode() + b"\n")

    def dispatch(
        self, line: bytes, writer: asyncio.StreamWriter, tasks: set[asyncio.Task[None]]
    ) -> None:
        rid: Any = None
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise RequestError("request is not a JSON object")
            rid = req.get("id")
            op = req.get("op")
            sync_op = self.SYNC_OPS.get(op) if isinstance(op, str) else None
            async_op = self.ASYNC_OPS.get(op) if isinstance(op, str) else None
            if sync_op is not None:
                # Quick ops run inline: in order, and never half-done by a disconnect.
                self.send(writer, {"id": rid, "result": sync_op(self, req)})
                return
            if async_op is None:
                raise RequestError(f"unknown op: {op!r}")
        except (RequestError, ValueError, TypeError, KeyError, OSError) as exc:
            self.send(writer, {"id": rid, "error": _error_text(exc)})
            return
        except Exception as exc:  # never let a request crash the daemon
            self.log(f"request failed:\n{traceback.format_exc()}")
            self.send(writer, {"id": rid, "error": f"internal error: {_error_text(exc)}"})
            return
        task = self.loop.create_task(self.run_async(async_op, req, rid, writer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def run_async(
        self,
        handler: Callable[[Supervisor, dict[str, Any]], Any],
        req: dict[str, Any],
        rid: Any,
        writer: asyncio.StreamWriter,
    ) -> None:
        try:
            result = await handler(self, req)
            msg: dict[str, Any] = {"id": rid, "result": result}
        except asyncio.CancelledError:
            raise
        except (RequestError, ValueError, TypeError, KeyError, OSError) as exc:
            msg = {"id": rid, "error": _error_text(exc)}
        except Exception as exc:
            self.log(f"request failed:\n{traceback.format_exc()}")
            msg = {"id": rid, "error": f"internal error: {_error_text(exc)}"}
        try:
            self.send(writer, msg)
            await writer.drain()
        except ConnectionError:
            pass

    # -- start

    def op_start(self, req: dict[str, Any]) -> dict[str, Any]:
        spec = req.get("job")
        if not isinstance(spec, dict):
            raise RequestError("start needs a job object")
        jid = check_jid(spec.get("jid"))
        limit = spec.get("limit")
        if isinstance(limit, bool) or not isinstance(limit, (int, float)):
            raise RequestError("limit must be a number")
        if not (math.isfinite(limit) and limit > 0):
            raise RequestError("limit must be a positive number of seconds")
        argv, shell = spec.get("argv"), spec.get("shell")
        if (argv is None) == (shell is None):
            raise RequestError("exactly one of argv and shell")
        env = dict(os.environ)
        extra_env = spec.get("env") or {}
        if not isinstance(extra_env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in extra_env.items()
        ):
            raise RequestError("env must map strings to strings")
        env.update(extra_env)
        if argv is not None:
            if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
                raise RequestError("argv must be a non-empty list of strings")
            cmd: Any = list(argv)
            # Resolve the program here so sh runs it as a program, never as one of
            # its builtins (argv ["exit", "3"] must not end the wrapper).
            program: str | None = argv[0]
            if "/" not in argv[0]:
                program = shutil.which(argv[0], path=env.get("PATH", os.defpath))
            args = [program or argv[0], *list(argv[1:])]
        else:
            if not isinstance(shell, str):
                raise RequestError("shell must be a string")
            program = ""
            cmd = shell
            args = [spec.get("executable") or "/bin/sh", "-c", shell]
        result_mode = spec.get("result", "command")
        if result_mode not in ("command", "json"):
            raise RequestError("result must be 'command' or 'json'")
        # A relative cwd is taken from the home directory, where a login would start.
        cwd = os.path.join(self.home, os.path.expanduser(spec.get("cwd") or self.home))
        if (
            jid in self.jobs
            or os.path.lexists(self.status_path(jid))
            or os.path.lexists(self.scratch(jid, ".json"))
        ):
            raise RequestError(f"job {jid} already exists")

        meta: dict[str, Any] = {
            "jid": jid,
            "pid": None,
            "pgid": None,
            "start": 0.0,
            "limit": limit,
            "deadline": 0.0,
            "module": str(spec.get("module") or "command"),
            "cmd": cmd,
            "result": result_mode,
            "cwd": cwd,
            "state": RUNNING,
            "terminating": None,
            "end": None,
            "rc": None,
            "supervisor_pid": os.getpid(),
        }
        files = contextlib.ExitStack()
        try:
            stdin_b64 = spec.get("stdin_b64")
            stdin_path = os.devnull
            if stdin_b64 is not None:
                stdin_path = self.scratch(jid, ".in")
                with _create(stdin_path) as f:
                    f.write(base64.b64decode(stdin_b64))
            stdin = files.enter_context(open(stdin_path, "rb"))  # noqa: SIM115 - ExitStack closes
            stdout = files.enter_context(_create(self.scratch(jid, ".out")))
            stderr = files.enter_context(_create(self.scratch(jid, ".err")))
            start = time.time()
            t0 = self.loop.time()
            if not os.path.isdir(cwd):
                raise _StartFailed(f"Unable to change directory before execution: {cwd}")
            if program is None or (program and not os.path.exists(os.path.join(cwd, program))):
                # What the command module reports for a missing program (rc = errno).
                raise _StartFailed(
                    f"[Errno 2] No such file or directory: {args[0]!r}", rc=errno.ENOENT
                )
            argv_sh = ["/bin/sh", "-c", WRAPPER, self.scratch(jid, ".rc"), cwd, *args]
            try:
                pid, proc = spawn(argv_sh, env, stdin, stdout, stderr)
            except OSError as exc:
                raise _StartFailed(f"Unable to start the job: {exc}") from exc
        except _StartFailed as exc:
            # Like a module that fails at once: the job "started" and its record says why.
            now = time.time()
            meta.update(start=now, deadline=now, state=FINISHED, end=now)
            write_json_atomic(self.scratch(jid, ".json"), meta)
            write_json_atomic(
                self.status_path(jid),
                {
                    "failed": True,
                    "changed": False,
                    "rc": exc.rc,
                    "cmd": cmd,
                    "msg": str(exc),
                    "stdout": "",
                    "stderr": "",
                },
            )
            for ext in (".out", ".err", ".in"):
                _unlink(self.scratch(jid, ext))
            return {
                "jid": jid,
                "pid": None,
                "pgid": None,
                "start": now,
                "results_file": self.status_path(jid),
            }
        except BaseException:
            for ext in (".out", ".err", ".in"):
                _unlink(self.scratch(jid, ext))
            raise
        finally:
            files.close()  # the child has its copies

        meta.update(pid=pid, pgid=pid, start=start, deadline=start + limit)
        job = Job(meta)
        job.proc = proc
        self.jobs[jid] = job
        self.by_pid[pid] = job
        job.deadline_handle = self.loop.call_at(t0 + limit, self.on_deadline, job)
        try:
            # Sidecar first: if we die right after, a successor can still adopt the job.
            write_json_atomic(self.scratch(jid, ".json"), meta)
            write_json_atomic(
                self.status_path(jid), {"started": True, "finished": False, "ansible_job_id": jid}
            )
        except OSError:
            # No record, no job: one nobody could ever see must not run on.
            killpg(pid, signal.SIGKILL)
            job.deadline_handle.cancel()
            del self.jobs[jid]
            self.by_pid.pop(pid, None)
            for ext in (".json", ".out", ".err", ".in"):
                _unlink(self.scratch(jid, ext))
            raise
        self.touch()
        return {
            "jid": jid,
            "pid": pid,
            "pgid": pid,
            "start": start,
            "results_file": self.status_path(jid),
        }

    # -- status / wait

    def read_status(self, jid: str) -> Any:
        return read_json(self.status_path(jid))

    def jids_arg(self, req: dict[str, Any]) -> list[str]:
        jids = req.get("jids")
        if not isinstance(jids, list):
            raise RequestError("jids must be a list")
        return [check_jid(j) for j in jids]

    def op_status(self, req: dict[str, Any]) -> dict[str, Any]:
        return {jid: self.read_status(jid) for jid in self.jids_arg(req)}

    def is_done(self, jid: str) -> bool:
        """Finished for a waiter: absent, or a record that is not a running record."""
        if jid in self.jobs:
            return False
        rec = self.read_status(jid)
        if rec is None:
            return True
        return not (isinstance(rec, dict) and "started" in rec and not rec.get("finished"))

    async def op_wait(self, req: dict[str, Any]) -> dict[str, Any]:
        jids = self.jids_arg(req)
        timeout = req.get("timeout", 0)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
            raise RequestError("timeout must be a non-negative number")
        timeout = min(float(timeout), MAX_WAIT)
        if not jids or any(self.is_done(j) for j in jids):
            return self.op_status(req)
        fut: asyncio.Future[None] = self.loop.create_future()
        mine = [self.jobs[j] for j in jids if j in self.jobs]
        for job in mine:
            job.waiters.append(fut)
        # Jobs we do not run (another tool's wrapper) give no signal; look at their files.
        foreign = [j for j in jids if j not in self.jobs]
        poll_handle: asyncio.TimerHandle | None = None

        def poll_foreign() -> None:
            nonlocal poll_handle
            if any(self.is_done(j) for j in foreign) and not fut.done():
                fut.set_result(None)
            elif not fut.done():
                poll_handle = self.loop.call_later(FOREIGN_POLL, poll_foreign)

        if foreign:
            poll_handle = self.loop.call_later(FOREIGN_POLL, poll_foreign)
        timer = self.loop.call_later(timeout, _resolve, fut)
        try:
            await fut
        finally:
            timer.cancel()
            if poll_handle is not None:
                poll_handle.cancel()
            for job in mine:
                if fut in job.waiters:
                    job.waiters.remove(fut)
        return self.op_status(req)

    # -- kill / list / cleanup / ping / shutdown

    async def op_kill(self, req: dict[str, Any]) -> Any:
        jid = check_jid(req.get("jid"))
        job = self.jobs.get(jid)
        if job is None:
            rec = self.read_status(jid)
            if isinstance(rec, dict) and "started" in rec and not rec.get("finished"):
                raise RequestError(f"job {jid} is not run by this supervisor; cannot kill it")
            return rec
        fut: asyncio.Future[None] = self.loop.create_future()
        job.waiters.append(fut)
        self.terminate(job, "kill")
        await fut
        return self.read_status(jid)

    def op_list(self, req: dict[str, Any]) -> list[dict[str, Any]]:
        jobs: dict[str, dict[str, Any]] = {}
        for name in os.listdir(self.priv):
            if name.endswith(".json"):
                meta = read_json(os.path.join(self.priv, name))
                if isinstance(meta, dict) and isinstance(meta.get("jid"), str):
                    jobs[meta["jid"]] = meta
        for jid, job in self.jobs.items():
            jobs[jid] = dict(job.meta)
        for name in os.listdir(self.root):
            if name in jobs or name.startswith(".") or name.endswith(".tmp"):
                continue
            if not _JID_RE.match(name) or not os.path.isfile(self.status_path(name)):
                continue
            rec = self.read_status(name)
            running = isinstance(rec, dict) and "started" in rec and not rec.get("finished")
            jobs[name] = {"jid": name, "state": RUNNING if running else FINISHED, "foreign": True}
        return sorted(jobs.values(), key=lambda m: (m.get("start") or 0, m["jid"]))

    def op_cleanup(self, req: dict[str, Any]) -> dict[str, Any]:
        jid = check_jid(req.get("jid"))
        path = self.status_path(jid)
        erased = _unlink(path)
        if jid not in self.jobs:
            # A running job keeps its sidecar: a successor must still adopt it.
            # (Its record is written again when it ends, as with ansible-core.)
            for ext in (".json", ".out", ".err", ".rc", ".in"):
                _unlink(self.scratch(jid, ext))
        return {"erased": erased, "path": path}

    def op_ping(self, req: dict[str, Any]) -> dict[str, Any]:
        return {
            "pong": True,
            "pid": os.getpid(),
            "version": PROTOCOL_VERSION,
            "async_dir": self.root,
            "python": sys.version.split()[0],
            "running": len(self.jobs),
        }

    def op_shutdown(self, req: dict[str, Any]) -> dict[str, Any]:
        # Answer first; stopping is scheduled so the reply is written.
        self.loop.call_soon(self.stop)
        return {"stopping": True, "running": len(self.jobs)}

    SYNC_OPS: ClassVar[dict[str, Callable[[Supervisor, dict[str, Any]], Any]]] = {
        "start": op_start,
        "status": op_status,
        "list": op_list,
        "cleanup": op_cleanup,
        "ping": op_ping,
        "shutdown": op_shutdown,
    }
    ASYNC_OPS: ClassVar[dict[str, Callable[[Supervisor, dict[str, Any]], Any]]] = {
        "wait": op_wait,
        "kill": op_kill,
    }


class _StartFailed(Exception):
    """The job could not be started; recorded as a failed result."""

    def __init__(self, msg: str, rc: int | None = None) -> None:
        super().__init__(msg)
        self.rc = rc


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, RequestError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------- commands


def daemonize() -> None:
    """Double fork + setsid; the original process exits 0 once the daemon exists."""
    pid = os.fork()
    if pid > 0:
        os.waitpid(pid, 0)
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    # Release the caller's pipes at once, so whoever waits on our stderr sees EOF.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    # The supervisor itself should not pin a mount point; jobs get their own cwd.
    os.chdir("/")


def cmd_serve(async_dir: str, idle_exit: float, foreground: bool) -> int:
    root = expand_dir(async_dir)
    try:
        priv = ensure_dirs(root)
    except OSError as exc:
        sys.stderr.write(f"playgraph supervisor: cannot create {root}: {exc}\n")
        return 1
    lock_path = os.path.join(priv, LOCK_NAME)
    if lock_held(lock_path):
        return 0  # one is running already; no need to fork
    if not foreground:
        daemonize()
    lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)  # close-on-exec: jobs never hold it
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # lost the race to another supervisor: it serves
    os.ftruncate(lock_fd, 0)
    os.write(lock_fd, b"%d\n" % os.getpid())
    become_subreaper()
    sup = Supervisor(root, idle_exit)
    try:
        asyncio.run(sup.main())
    except Exception:
        sup.log(f"supervisor crashed:\n{traceback.format_exc()}")
        return 1
    return 0


def _spawn_serve(root: str, idle_exit: float) -> None:
    """Start the daemon for ``root`` from the client bridge; returns once it has forked."""
    pid = os.fork()
    if pid == 0:
        try:
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)  # our stdout is the protocol stream
            # -S: no site import (the supervisor is stdlib only, and starts faster);
            # -E: no PYTHON* variables steering a long-lived daemon.
            script = os.path.abspath(__file__)
            argv = [sys.executable, "-E", "-S", script, "serve", "--async-dir", root]
            argv += ["--idle-exit", repr(idle_exit)]
            os.execv(sys.executable, argv)
        finally:
            os._exit(127)
    os.waitpid(pid, 0)


def connect_or_start(
    root: str, idle_exit: float = DEFAULT_IDLE_EXIT, timeout: float = 10.0
) -> socket.socket:
    """Connect to the supervisor of ``root``, starting it when none answers.

    Two clients racing here may both start a daemon; the flock makes all but one
    exit, and both connect to the survivor.
    """
    sock_path = os.path.join(private_dir(root), SOCK_NAME)
    deadline = time.monotonic() + timeout
    spawned_at: float | None = None
    delay = 0.002
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        address, fd = socket_address(sock_path)
        try:
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
        finally:
            if fd is not None:
                os.close(fd)
        now = time.monotonic()
        if now > deadline:
            raise OSError(f"no supervisor answers on {sock_path}: {error}")
        if spawned_at is None or now - spawned_at > 1.0:
            _spawn_serve(root, idle_exit)
            spawned_at = time.monotonic()
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def cmd_client(async_dir: str, idle_exit: float) -> int:
    root = expand_dir(async_dir)
    try:
        ensure_dirs(root)
        sock = connect_or_start(root, idle_exit)
    except OSError as exc:
        sys.stderr.write(f"playgraph supervisor client: {exc}\n")
        return 1
    hello = {"hello": {"version": PROTOCOL_VERSION, "async_dir": root}}
    _write_all(1, json.dumps(hello).encode() + b"\n")

    def pump_in() -> None:
        try:
            while True:
                data = os.read(0, 65536)
                if not data:
                    break
                sock.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)

    threading.Thread(target=pump_in, daemon=True).start()
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            _write_all(1, data)
    except OSError:
        return 1
    return 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    usage = (
        "usage: supervisor.py {serve|client} --async-dir DIR [--idle-exit SECONDS] [--foreground]"
    )
    if sys.version_info < (3, 8):  # noqa: UP036 - this file runs on targets' pythons
        sys.stderr.write("playgraph supervisor needs Python 3.8+\n")
        return 2
    if not args or args[0] not in ("serve", "client"):
        sys.stderr.write(usage + "\n")
        return 2
    command, rest = args[0], args[1:]
    async_dir = "~/.ansible_async"
    idle_exit = DEFAULT_IDLE_EXIT
    foreground = False
    try:
        while rest:
            opt = rest.pop(0)
            if opt == "--async-dir":
                async_dir = rest.pop(0)
            elif opt == "--idle-exit":
                idle_exit = float(rest.pop(0))
            elif opt == "--foreground":
                foreground = True
            else:
                raise ValueError(opt)
    except (IndexError, ValueError):
        sys.stderr.write(usage + "\n")
        return 2
    if command == "serve":
        return cmd_serve(async_dir, idle_exit, foreground)
    return cmd_client(async_dir, idle_exit)


if __name__ == "__main__":
    sys.exit(main())
