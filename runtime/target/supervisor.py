#!/usr/bin/env python3
"""playgraph's job supervisor: runs on the target machine, one per (user, async dir).

This file is shipped as-is to targets, so it is self-contained, stdlib only and
runs on Python 3.8+ (annotations are never evaluated at run time).

Usage::

    python3 -E -S supervisor.py serve  --async-dir DIR [--idle-exit SECONDS] [--foreground]
    python3 -E -S supervisor.py client --async-dir DIR [--idle-exit SECONDS]
    python3 -E -S supervisor.py keep   --async-dir DIR
    python3 -E -S supervisor.py spawner --async-dir DIR   (started by ``serve``)

``serve`` daemonizes, takes an exclusive ``flock`` on
``DIR/.playgraph/supervisor.lock`` (so only one supervisor serves a directory)
and answers newline-delimited JSON on the unix socket
``DIR/.playgraph/supervisor.sock``.  ``client`` bridges stdin/stdout to that
socket, starting the daemon first when none answers (or replacing one of
another version, see below); it first prints one line
``{"hello": {"version": V, "async_dir": "<expanded DIR>", "pid": P}}``.  The
bridge is how SSH and ``become`` reach the supervisor; a local controller uses
the socket.

``~`` in DIR is expanded with this process's ``$HOME`` (``os.path.expanduser``),
as ansible-core's async_wrapper does.

Trust: DIR and DIR/.playgraph must be owned by this user and not writable by
group or others, and the socket's peer (``SO_PEERCRED``) must be this user, on
both sides; anything else is refused with a one-line error.

Versions: ``version`` is ``<PROTOCOL_VERSION>.<sha256 of this file>`` (see
`program_version`).  A client that finds a supervisor of another version asks
it to ``shutdown`` (its jobs keep running, their limits held by the
keeper) and starts its own, which adopts them.

Protocol: a request is ``{"id": ID, "op": OP, ...}``; the response echoes the
id, ``{"id": ID, "result": ...}`` or ``{"id": ID, "error": "message"}``.
Requests on one stream may overlap (a ``wait`` does not hold up later
requests); answers still owed when a client half-closes are sent.

* ``hello {version, env?}`` — ``{pid, version, async_dir, python}``.  ``env``
  is the caller's environment (the bridge's, i.e. its SSH or sudo session's):
  it becomes the base environment of the jobs this connection starts.
* ``start {job}`` — job: ``jid, limit, argv | shell, executable, env,
  env_base?, cwd, stdin_b64, result ("command" | "json"), module, run_id?,
  host?, task?``.  A job's environment is ``env_base`` (the requester's own
  environment, sent by a local controller) or else the connection's hello
  ``env``, updated with ``env``; never the supervisor's own.  It is passed to
  the job only, never written to a file or an argv.  Result:
  ``{jid, pid, pgid, start, results_file}``, sent once ``DIR/<jid>`` holds the
  running record.
* ``status {jids}`` — ``{jid: value}`` read from the status files (the durable
  truth): the record (an object); null when the file is absent; the file's text
  when it is damaged (empty, not JSON, or JSON that is not an object); or
  ``["oversize", size, inode]`` when the file does not fit the answer's budget
  (`INLINE_MAX` for all its files together): read it with ``read``.
* ``read {jid, offset, length}`` — ``{data: base64, size, inode}``, a piece of
  the status file (at most `READ_CHUNK` bytes), for records too big for one line.
* ``wait {jids, timeout}`` — the same map, sent as soon as any of the jobs has
  finished (or is absent), at the latest after ``timeout`` seconds.
* ``kill {jid}`` — SIGTERM the job's process group, SIGKILL 2 s later; result
  is the job's final record, as in ``status`` (null for an unknown jid).
* ``list`` — every job: sidecar metadata with ``state`` (status files of other
  tools' jobs too, marked ``foreign``; ``damaged`` says why a status file
  cannot be read).
* ``cleanup {jid}`` — remove ``DIR/<jid>`` (and the sidecar once the job has
  ended); never kills.  ``{erased: bool, path}``.
* ``ping`` — ``{pong, pid, version, async_dir, python, running}``.
* ``shutdown`` — the supervisor exits; jobs keep running and are adopted by the
  next supervisor.

Limits without a supervisor: a *keeper* process (``keep``, started by the
supervisor, in its own session, one per async dir thanks to the flock on
``DIR/.playgraph/keeper.lock``) reads the sidecars and holds every job's limit
while no supervisor does (it was killed or is stopped): `KEEPER_LAG` after a
deadline it sends the group SIGTERM, SIGKILL `TERM_GRACE` later, and writes the
timeout record; a job that ended and has no final record `KEEPER_SETTLE` later
is finished by the keeper from its exit and output files.  While a supervisor
serves, the keeper looks only at jobs whose deadline is due (a heap) and lists
the directory at most every `KEEPER_SCAN_SUPERVISED` seconds.  It exits once no
job has run for `KEEPER_LINGER` seconds; the next start brings it back.  One
process per directory, not one per job: a fan-out of 100 jobs costs no extra
process.

Jobs are not the supervisor's children but its *spawner*'s (``spawner``, one per
supervisor, see `Spawner`): it reaps them and writes each job's exit file, so a
job's real exit status outlives a killed or stopped supervisor without a
wrapper process per job.

Exactly one final record: whoever finishes a job (a supervisor, its successor,
the keeper) first *claims* it by linking the record's file to
``DIR/.playgraph/<jid>.final`` (``link`` fails if it exists), then publishes
the claim as the status file; a later finisher finds the claim and keeps it.
So a job the keeper killed while the supervisor was stopped stays "Timeout
exceeded", never "job lost".  A job killed by a signal at or after its
deadline timed out; before it, its record says which signal (rc -N, as the
command module reports).  One that ended with no exit file on record (its
spawner died too) timed out at or after its deadline, else it was lost.

Starts are idempotent: the sidecar and the running record are written before
the job is spawned, so a supervisor killed mid-start leaves a job its successor
adopts (found by the pid its spawner recorded) or reports as never started (as
the keeper does, past the job's deadline, for one whose supervisor was stopped
mid-start; the spawner then refuses to start it), and a controller that lost
the answer sees the status file and does not start it again; a repeated
``start`` of a jid from the same run answers with the job.

Disk full: a record that cannot be written (ENOSPC) is retried once the job's
output files are removed, then written in place as a short failure naming the
cause; a job that ends while the async dir's filesystem is full is failed with
a message saying so (its output may be cut short).  No ``.tmp`` is left behind.

Layout under DIR (mode 0700)::

    DIR/<jid>                    Ansible's status file (running record, then the result)
    DIR/<jid>.<n>.tmp            transient: every write is tmp + rename (or link + rename)
    DIR/.playgraph/supervisor.lock   flock + the daemon's pid
    DIR/.playgraph/supervisor.sock   the unix socket
    DIR/.playgraph/supervisor.log    start/stop/adopt events and internal errors
    DIR/.playgraph/keeper.lock   flock of the keeper
    DIR/.playgraph/<jid>.json    sidecar: pid, pgid, start, limit, deadline, module,
                                 cmd, state (running/finished/timeout/killed/lost),
                                 run_id, host, task (who started it), watchdog
                                 (the keeper's pid when the job started), stdin
                                 (whether it has a .in file), wrapped; written
                                 once before the job starts: its pid and its end
                                 are read from the files below (`read_sidecar`)
    DIR/.playgraph/<jid>.out/.err/.in   the job's stdout/stderr/stdin while it runs
    DIR/.playgraph/<jid>.pid     symlink to "<pid>:<start time>", made by its spawner
    DIR/.playgraph/<jid>.exit    "<returncode> <end time>\n", written by its spawner
    DIR/.playgraph/<jid>.rc      the exit status a wrapper wrote (no spawner, or an
                                 older supervisor's job)
    DIR/.playgraph/<jid>.final   the claimed final record (same file as DIR/<jid>)
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import datetime
import errno
import fcntl
import hashlib
import heapq
import itertools
import json
import math
import os
import re
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import IO, Any, ClassVar

PROTOCOL_VERSION = 3
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
INLINE_MAX = 1024 * 1024
"""Bytes of status files one answer carries inline; bigger ones are read in pieces."""
READ_CHUNK = 4 * 1024 * 1024
"""Largest piece a ``read`` answers (base64 keeps it well under MAX_LINE)."""
HELLO_TIMEOUT = 10.0
"""Seconds the bridge waits for a supervisor's hello (a stopped one never answers)."""
MAX_WAIT = 24 * 3600.0
FOREIGN_POLL = 0.2
HALF_CLOSE_LINGER = 300.0
"""How long answers still owed to a client that closed its side are kept coming."""
LOG_MAX = 1024 * 1024
KEEPER_LOCK = "keeper.lock"
FINAL_EXT = ".final"
KEEPER_TICK = 0.5
"""The keeper's longest sleep: how late it notices a job that ended."""
KEEPER_LAG = 0.2
"""How long after a deadline the keeper steps in (a live supervisor acts at it)."""
KEEPER_SCAN_SUPERVISED = 1.0
"""How often the keeper lists the directory for new jobs while a supervisor serves it."""
KEEPER_SETTLE = 0.5
"""How long a job may stay ended without a final record before the keeper writes it."""
KEEPER_LINGER = 2.0
"""How long the keeper stays with no job to keep."""
KEEPER_SEARCH = 1.0
"""How old a sidecar without a pid must be before the keeper looks for its process."""
DISK_WATCH = 0.25
MTIME_SLACK = 0.05
"""Seconds a directory's mtime must precede a listing for the listing to be trusted
as complete (filesystem timestamps are coarser than the clock)."""
WHICH_TTL = 1.0
"""Seconds a program lookup is remembered (a burst of starts pays for one)."""
FINISHERS = 4
"""Final-record writers at most at once (worker threads)."""
FINISH_BATCH = 16
"""Jobs a finisher takes per hand-off to its thread."""
KEEPER_RECHECK = 0.5
"""Seconds `ensure_keeper` trusts the keeper pid it read (the lock is probed at every start)."""
"""While jobs run, how often the supervisor looks whether the disk is full."""

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

KEEPER_PATH = "/usr/local/bin:/usr/bin:/bin"
"""The keeper's whole environment (it runs no shell, but a sane PATH costs nothing)."""

# Python ignores these; a job must start with the defaults (as Popen's
# restore_signals does).
_DEFAULT_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ", "SIGXFZ") if hasattr(signal, name)
)


# A job starts with every disposition at its default, whatever its spawner
# inherited (a controller under nohup ignores SIGHUP).  glibc's two internal
# signals (32, 33) cannot be named here: posix_spawn leaves them ignored.
_ALL_SIGNALS = frozenset(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP}


_JID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")


class RequestError(Exception):
    """A request the supervisor refuses; its message goes back as ``error``."""


class StorageError(RequestError):
    """A file could not be written (e.g. ENOSPC); the message names the file and the cause."""

    def __init__(self, path: str, exc: OSError) -> None:
        super().__init__(f"cannot write {path}: {describe_oserror(exc)}")
        self.errno = exc.errno
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            FULL_SEEN[0] = time.time()


FULL_SEEN = [0.0]
"""When a write of this process last failed for want of space (epoch seconds)."""


class UnsafePath(OSError):
    """A directory, file or socket that another user could control."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unsafe path"


def describe_oserror(exc: OSError) -> str:
    """``No space left on device (ENOSPC)``: the reason and the errno's name."""
    if exc.errno is None:
        return str(exc)
    name = errno.errorcode.get(exc.errno, str(exc.errno))
    return f"{exc.strerror or os.strerror(exc.errno)} ({name})"


_VERSIONS: dict[str, str] = {}


def program_version(path: str | None = None) -> str:
    """``<PROTOCOL_VERSION>.<sha256 of the program, 16 hex>``: two builds of the
    supervisor (shipped by content hash) never take each other for the same."""
    path = path or os.path.abspath(__file__)
    if path not in _VERSIONS:
        with open(path, "rb") as f:
            _VERSIONS[path] = f"{PROTOCOL_VERSION}.{hashlib.sha256(f.read()).hexdigest()[:16]}"
    return _VERSIONS[path]


# --------------------------------------------------------------------------- paths


def expand_dir(async_dir: str) -> str:
    """The absolute async dir; ``~`` uses ``$HOME`` like ansible-core's wrapper."""
    return os.path.abspath(os.path.expanduser(async_dir))


def private_dir(root: str) -> str:
    return os.path.join(root, PRIVATE_DIR)


def ensure_dirs(root: str) -> str:
    """Create DIR and DIR/.playgraph (0700); return the private dir.

    Both must be this user's and not writable by others (`check_private`):
    another user's directory could hold their socket, forged status files, or
    read our jobs' output.
    """
    priv = private_dir(root)
    for path in (root, priv):
        with contextlib.suppress(FileExistsError):
            os.makedirs(path, mode=0o700)
        if not os.path.isdir(path):
            raise OSError(errno.ENOTDIR, "not a directory", path)
    check_private(root, "async dir")
    # makedirs' mode is filtered by the umask; the job files are private.
    st = os.lstat(priv)
    if stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid():
        os.chmod(priv, 0o700)
    check_private(priv, "private dir", follow=False)
    return priv


def check_private(path: str, what: str, *, follow: bool = True, kind: str = "dir") -> None:
    """Refuse ``path`` unless it is this user's and not group/world-writable."""
    st = os.stat(path) if follow else os.lstat(path)
    uid = os.geteuid()
    want = stat.S_ISSOCK if kind == "socket" else stat.S_ISDIR
    if not want(st.st_mode):
        raise UnsafePath(
            f"refusing {what} {path}: not a {'socket' if kind == 'socket' else 'directory'}"
        )
    if st.st_uid != uid:
        raise UnsafePath(
            f"refusing {what} {path}: owned by uid {st.st_uid}, not by this user (uid {uid})"
        )
    if kind == "dir" and st.st_mode & 0o022:
        raise UnsafePath(
            f"refusing {what} {path}: writable by group or others"
            f" (mode {stat.S_IMODE(st.st_mode):04o})"
        )


def peer_cred(sock: socket.socket) -> tuple[int, int] | None:
    """(pid, uid) of a unix socket's peer; None where SO_PEERCRED is missing."""
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        return None
    size = struct.calcsize("3i")
    pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, opt, size))
    return pid, uid


def check_env(env: Any, what: str) -> dict[str, str]:
    """An environment from a request, refused (not crashed on) when a name or value is bad."""
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise RequestError(f"{what} must map strings to strings")
    for key, value in env.items():
        if not key or "=" in key or "\0" in key:
            raise RequestError(f"{what}: invalid environment variable name {key!r}")
        if "\0" in value:
            raise RequestError(f"{what}: the value of {key} contains a NUL byte")
    return dict(env)


def check_text(values: list[str], what: str) -> None:
    """NUL cannot be passed to a program (execve cuts strings there): refuse it clearly."""
    if any("\0" in value for value in values):
        raise RequestError(f"{what} contains a NUL byte")


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
    """Write JSON to ``path.tmp`` and rename it over ``path``: readers never see half a file.

    Raises `StorageError` (naming the file and e.g. ENOSPC); the tmp file is removed.
    """
    tmp = tmp_name(path)
    raw = json.dumps(data).encode()
    try:
        # Plain fd calls: a burst of starts writes thousands of these, and a file
        # object (buffer, text layer) costs more than the write itself.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            try:
                _write_all(fd, raw)
            finally:
                os.close(fd)
            os.rename(tmp, path)
        except BaseException:
            _unlink(tmp)
            raise
    except OSError as exc:
        raise StorageError(path, exc) from exc


_TMP_IDS = itertools.count()
_TMP_RE = re.compile(r"\.(\d+)-\d+\.tmp$")


def tmp_name(path: str) -> str:
    """``path.<pid>-<n>.tmp``: unique per writer, so two processes (a supervisor and
    the keeper) or two threads writing one file never share a half-written tmp."""
    return f"{path}.{os.getpid()}-{next(_TMP_IDS)}.tmp"


def write_json_in_place(path: str, data: Any) -> None:
    """Overwrite an existing small file without allocating a new one: the last
    resort on a full disk (not atomic, so only for a short record)."""
    raw = json.dumps(data).encode()
    try:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.pwrite(fd, raw, 0)
            os.ftruncate(fd, len(raw))
        finally:
            os.close(fd)
    except OSError as exc:
        raise StorageError(path, exc) from exc


def fs_full(path: str) -> bool:
    """Whether the filesystem holding ``path`` has no block left for us."""
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail == 0


def damage_of(raw: bytes) -> str | None:
    """Why a status file's content is not a record (None when it is one)."""
    if not raw.strip():
        return "it is empty"
    try:
        data = json.loads(raw)
    except ValueError as exc:
        return f"it is not valid JSON ({exc})"
    if not isinstance(data, dict):
        return f"it holds a JSON {_json_kind(data)}, not an object"
    return None


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool) or value is None:
        return "literal"
    return "number"


def _create(path: str) -> int:
    """A new private file, truncated: its fd (the caller closes it)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)


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


_SHELLS = frozenset({"sh", "dash", "bash", "ksh", "zsh", "ash"})


def command_rc(cmd: Any, rc: int) -> int:
    """The rc the command module would report, from the wrapper's ``$?``.

    sh reports a child killed by signal N as 128+N; the command module (Python's
    ``returncode``) as -N.  When the wrapper's child is the program itself -- an argv,
    or a shell line of one simple command, which sh execs in its own place -- 128+N
    means that program was killed.  A line with pipes, lists or an ``exit`` ends
    with a status of its own (a pipeline whose last command was killed exits
    128+N, and the command module reports that), so it stays."""
    if not 128 < rc <= 128 + 64:
        return rc
    line = cmd
    if isinstance(cmd, list):
        # sh -c LINE as an argv is a shell line again.
        if len(cmd) >= 3 and os.path.basename(str(cmd[0])) in _SHELLS and cmd[1] == "-c":
            line = cmd[2]
        else:
            return -(rc - 128)
    if not isinstance(line, str) or "\n" in line.strip():
        return rc
    import shlex  # only on this rare path

    try:
        words = list(shlex.shlex(line, posix=True, punctuation_chars=True))
    except ValueError:
        return rc
    if not words or words[0] in ("exit", "return") or any(set(w) <= set("();<>|&") for w in words):
        return rc
    return -(rc - 128)


def reaped() -> Iterator[tuple[int, int]]:
    """(pid, wait status) of each child that has ended, reaped without waiting."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, status


def exit_code(status: int) -> int:
    # os.waitstatus_to_exitcode is 3.9+.
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return -1


def _fileno(f: IO[bytes] | int) -> int:
    return f if isinstance(f, int) else f.fileno()


def spawn(
    argv: list[str],
    env: dict[str, str],
    stdin: IO[bytes] | int,
    stdout: IO[bytes] | int,
    stderr: IO[bytes] | int,
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
                    (os.POSIX_SPAWN_DUP2, _fileno(stdin), 0),
                    (os.POSIX_SPAWN_DUP2, _fileno(stdout), 1),
                    (os.POSIX_SPAWN_DUP2, _fileno(stderr), 2),
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


# --------------------------------------------------------------------------- spawner
#
# Jobs are the children of a *spawner*: one small process per supervisor, in its
# own session, a subreaper, started on the first job.  The supervisor sends it
# each job's argv, environment, cwd and three fds (SCM_RIGHTS); it answers with
# the pid.  When a job ends the spawner reaps it and writes its exit file
# (``<jid>.exit``: returncode and end time) before telling the supervisor, so
# the exit status survives the supervisor: a supervisor that is killed or
# stopped leaves a spawner that keeps reaping and recording until its last job
# ends.  This replaces a ``sh`` wrapper per job (a second process and exec each)
# with nothing per job but the job itself.  Should the spawner die, its jobs
# are reparented to the supervisor (a subreaper too), which reaps them itself.

SPAWN_TIMEOUT = 10.0
"""Seconds a start waits for the spawner's answer (a stopped spawner never answers)."""
SPAWNER_RETRY = 30.0
"""Seconds before a spawner that could not be started is tried again (the sh
wrapper starts jobs meanwhile)."""
EXIT_WRITE_GRACE = 1.0
"""Seconds an empty exit file may be in the middle of its write before it counts as failed."""
EXIT_EXT = ".exit"
PID_EXT = ".pid"
_FDS_PER_JOB = 3


def write_exit(path: str, rc: int, end: float) -> None:
    """A job's exit file: its returncode (-N when signal N ended it, as Python's
    ``returncode``) and when it ended, in one write ending in a newline."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        _write_all(fd, b"%d %.6f\n" % (rc, end))
    finally:
        os.close(fd)


def read_exit(path: str) -> tuple[int, float] | None:
    """(returncode, end) from an exit file; None while absent or not completely written."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        if not data.endswith(b"\n"):
            return None
        rc, end = data.split()
        return int(rc), float(end)
    except (OSError, ValueError):
        return None


def settled_exit(path: str) -> tuple[tuple[int, float] | None, bool]:
    """``read_exit``, waiting out a reaper caught between creating the file and
    writing it: ((returncode, end) or None, whether the file was left unwritten
    -- its write failed, e.g. ENOSPC)."""
    give_up = time.monotonic() + EXIT_WRITE_GRACE
    while True:
        got = read_exit(path)
        if got is not None:
            return got, False
        try:
            st = os.stat(path)
        except OSError:
            return None, False
        if time.time() - st.st_mtime >= EXIT_WRITE_GRACE or time.monotonic() >= give_up:
            return None, True
        time.sleep(0.01)


def job_ended(priv: str, jid: str) -> bool:
    """Whether the job's end is on record: its exit file, or a wrapper's rc file
    (jobs started by supervisors of protocol 2 and before)."""
    return (
        read_exit(os.path.join(priv, jid + EXIT_EXT)) is not None
        or read_rc(os.path.join(priv, jid + ".rc")) is not None
    )


def spawned(priv: str, jid: str) -> tuple[int, float] | None:
    """(pid, start) as the job's spawner recorded them (``<jid>.pid``, a symlink to
    ``<pid>:<start>``: no data block to write).  The start is the real one: a
    sidecar's is taken before the job waits its turn at the spawner."""
    try:
        pid, start = os.readlink(os.path.join(priv, jid + PID_EXT)).split(":")
        return int(pid), float(start)
    except (OSError, ValueError):
        return None


def note_spawned(meta: dict[str, Any], priv: str, jid: str) -> bool:
    """Fill a sidecar's pid, start and deadline from `spawned`; whether they were there."""
    got = spawned(priv, jid)
    if got is None:
        return False
    pid, start = got
    limit = meta.get("limit")
    meta.update(pid=pid, pgid=pid, start=start)
    if isinstance(limit, (int, float)) and not isinstance(limit, bool):
        meta["deadline"] = start + limit
    return True


def read_sidecar(priv: str, jid: str) -> Any:
    """A job's sidecar (as `read_json`), completed from the files that record what
    happened since it was written: the pid its spawner recorded while the job runs,
    and its end (state, rc, when) from its claimed final record.  A spawned job's
    sidecar is written once, before the job exists: at thousands of jobs, writing
    it again at each step was most of the supervisor's disk work."""
    meta = read_json(os.path.join(priv, jid + ".json"))
    if not isinstance(meta, dict) or meta.get("state") != RUNNING:
        return meta
    try:
        with open(os.path.join(priv, jid + FINAL_EXT), "rb") as f:
            raw = f.read()
            ended = os.fstat(f.fileno()).st_mtime
    except FileNotFoundError:
        if meta.get("pid") is None:
            note_spawned(meta, priv, jid)
        return meta
    except OSError:
        return meta
    record = json.loads(raw) if damage_of(raw) is None else {}
    if not isinstance(record, dict):
        record = {}
    rc = record.get("rc")
    meta.update(
        state=record_state(record),
        end=meta.get("end") or ended,
        rc=rc if isinstance(rc, int) and not isinstance(rc, bool) else None,
    )
    return meta


class Spawner:
    """The spawner process (``supervisor.py spawner``): fd 0 is its stream to the supervisor.

    Requests are JSON lines ``{"jid", "argv", "env", "cwd"}``, each sent with the
    job's stdin, stdout and stderr fds; answers are ``{"spawned": jid, "pid": P}``
    or ``{"failed": jid, "error": msg, "errno": N}``, and ``{"exited": jid, "pid":
    P, "rc": RC, "end": T}`` once the exit file is written.
    """

    def __init__(self, priv: str, sock: socket.socket) -> None:
        self.priv = priv
        self.sock: socket.socket | None = sock
        self.children: dict[int, str] = {}
        self.inbuf = b""
        self.fds: list[int] = []
        self.outbuf = bytearray()
        self.wake_r, wake_w = os.pipe()
        for fd in (self.wake_r, wake_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(wake_w)
        # A Python-level handler (not SIG_IGN, which would auto-reap) so that
        # SIGCHLD wakes the select below.
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def log(self, msg: str) -> None:
        with contextlib.suppress(OSError), open(os.path.join(self.priv, LOG_NAME), "a") as f:
            f.write(f"{fmt_time(time.time())} [{os.getpid()}] spawner: {msg}\n")

    def run(self) -> None:
        while self.sock is not None or self.children:
            readable = [self.wake_r] + ([self.sock] if self.sock is not None else [])
            writable = [self.sock] if self.sock is not None and self.outbuf else []
            try:
                ready_r, ready_w, _ = select.select(readable, writable, [], 1.0)
            except InterruptedError:
                continue
            if self.wake_r in ready_r:
                with contextlib.suppress(OSError):
                    while os.read(self.wake_r, 4096):
                        pass
            self.reap()
            if self.sock is not None and self.sock in ready_r:
                self.receive()
            if self.sock is not None and self.sock in ready_w:
                self.flush()

    def reap(self) -> None:
        for pid, status in reaped():
            jid = self.children.pop(pid, None)
            if jid is None:
                continue  # an orphaned descendant of a job, reparented to us
            rc, end = exit_code(status), time.time()
            try:
                write_exit(os.path.join(self.priv, jid + EXIT_EXT), rc, end)
            except OSError as exc:
                # The supervisor still hears the status (and records the cause).
                self.log(f"could not write the exit file of {jid}: {exc}")
            self.send({"exited": jid, "pid": pid, "rc": rc, "end": end})

    def receive(self) -> None:
        assert self.sock is not None
        try:
            # Close-on-exec: a job must not inherit the next job's files.
            data, ancdata, _flags, _addr = self.sock.recvmsg(
                1 << 16,
                socket.CMSG_SPACE(64 * _FDS_PER_JOB * 4),
                getattr(socket, "MSG_CMSG_CLOEXEC", 0),
            )
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, ancdata = b"", []
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                usable = len(payload) - len(payload) % 4
                self.fds.extend(struct.unpack(f"{usable // 4}i", payload[:usable]))
        if not data:
            self.disconnected()
            return
        self.inbuf += data
        while b"\n" in self.inbuf:
            line, self.inbuf = self.inbuf.split(b"\n", 1)
            fds, self.fds = self.fds[:_FDS_PER_JOB], self.fds[_FDS_PER_JOB:]
            try:
                self.start(json.loads(line), fds)
            finally:
                for fd in fds:
                    os.close(fd)

    def start(self, req: dict[str, Any], fds: list[int]) -> None:
        jid = str(req.get("jid"))
        if len(fds) != _FDS_PER_JOB:
            self.send({"failed": jid, "error": "the job's files did not arrive", "errno": None})
            return
        argv, env, cwd = req["argv"], req["env"], req["cwd"]
        if os.path.lexists(os.path.join(self.priv, jid + FINAL_EXT)):
            # The keeper gave it up as never started while its supervisor was stopped.
            self.send({"failed": jid, "error": "its record was already written", "errno": None})
            return
        try:
            os.chdir(cwd)
            try:
                started = time.time()
                pid = os.posix_spawn(
                    argv[0],
                    argv,
                    env,
                    file_actions=[(os.POSIX_SPAWN_DUP2, fd, i) for i, fd in enumerate(fds)],
                    setsid=True,  # its own process group: killpg reaches all of it
                    setsigdef=_ALL_SIGNALS,
                    setsigmask=(),
                )
            finally:
                os.chdir("/")  # never pin a mount point
        except OSError as exc:
            self.send({"failed": jid, "error": str(exc), "errno": exc.errno})
            return
        self.children[pid] = jid
        try:
            # Where the keeper and a successor find it (the sidecar has no pid);
            # before the answer, so a job known to be started is on disk with its pid.
            os.symlink(f"{pid}:{started:.6f}", os.path.join(self.priv, jid + PID_EXT))
        except OSError as exc:
            self.log(f"could not record the pid of {jid}: {exc}")
        self.send({"spawned": jid, "pid": pid, "start": started})

    def send(self, msg: dict[str, Any]) -> None:
        if self.sock is None:
            return
        self.outbuf += json.dumps(msg).encode() + b"\n"
        self.flush()

    def flush(self) -> None:
        assert self.sock is not None
        try:
            sent = self.sock.send(self.outbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.disconnected()
            return
        del self.outbuf[:sent]

    def disconnected(self) -> None:
        """The supervisor is gone (exited, or killed): keep reaping (and recording)
        until the last job ends."""
        if self.sock is None:
            return
        self.sock.close()
        self.sock = None
        self.outbuf.clear()
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()
        if self.children:
            self.log(f"supervisor gone; {len(self.children)} job(s) still running")


def cmd_spawner(async_dir: str) -> int:
    priv = private_dir(expand_dir(async_dir))
    # Nothing ignored here (its jobs would inherit it): it has its own session
    # and no terminal, so no SIGINT or SIGHUP comes its way by accident.
    become_subreaper()
    sock = socket.socket(fileno=0)
    sock.setblocking(False)
    spawner = Spawner(priv, sock)
    try:
        spawner.run()
    except Exception:
        spawner.log(f"crashed:\n{traceback.format_exc()}")
        return 1
    return 0


class SpawnerLink:
    """The supervisor's end of its spawner: start it, send it jobs, hear their ends."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.sock: socket.socket | None = None
        self.pid: int | None = None
        self.inbuf = b""
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        """Starts sent, by jid, until the spawner answers."""
        self.outq: collections.deque[tuple[memoryview, list[int]]] = collections.deque()
        self.writer_on = False
        self.retry_at = -math.inf

    def ensure(self) -> bool:
        """Whether a spawner is there to start jobs (starting one if need be)."""
        if self.sock is not None:
            return True
        if not hasattr(socket, "CMSG_SPACE") or time.monotonic() < self.retry_at:
            return False
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        argv = [sys.executable, "-E", "-S", os.path.abspath(__file__), "spawner"]
        argv += ["--async-dir", self.sup.root]
        try:
            null = self.sup.null_fd()
            self.pid = os.posix_spawn(
                argv[0],
                argv,
                {"PATH": KEEPER_PATH},
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, theirs.fileno(), 0),
                    (os.POSIX_SPAWN_DUP2, null, 1),
                    (os.POSIX_SPAWN_DUP2, null, 2),
                ],
                setsid=True,  # a signal to the supervisor's group must not reach it
                setsigdef=_DEFAULT_SIGNALS,
                setsigmask=(),
            )
        except (OSError, NotImplementedError) as exc:
            self.sup.log(f"could not start the spawner ({exc}); jobs start under sh wrappers")
            self.retry_at = time.monotonic() + SPAWNER_RETRY
            ours.close()
            return False
        finally:
            theirs.close()
        ours.setblocking(False)
        self.sock = ours
        self.sup.loop.add_reader(ours.fileno(), self.on_readable)
        return True

    async def spawn(
        self, jid: str, argv: list[str], env: dict[str, str], cwd: str, fds: list[int]
    ) -> tuple[int, float]:
        """Start a job through the spawner: its pid and when it started (a new spawner
        takes a moment to answer its first job).  Starts overlap: the supervisor
        serves other requests while the spawner works.  OSError as posix_spawn would
        raise it; `_SpawnerGone` when the spawner died or did not answer (nothing
        was started that we know of).  ``fds`` must stay open until this returns."""
        if self.sock is None:
            raise _SpawnerGone("it is not running")
        line = json.dumps({"jid": jid, "argv": argv, "env": env, "cwd": cwd}).encode() + b"\n"
        answer: asyncio.Future[dict[str, Any]] = self.sup.loop.create_future()
        self.waiting[jid] = answer
        self.outq.append((memoryview(line), list(fds)))
        self._flush()
        try:
            msg = await asyncio.wait_for(asyncio.shield(answer), SPAWN_TIMEOUT)
        except asyncio.TimeoutError:  # noqa: UP041 - not the builtin before Python 3.11
            self.lost(f"the spawner did not answer in {SPAWN_TIMEOUT:.0f} s (stopped?)", kill=True)
            raise _SpawnerGone(f"no answer in {SPAWN_TIMEOUT:.0f} s") from None
        finally:
            self.waiting.pop(jid, None)
        if "pid" in msg:
            return int(msg["pid"]), float(msg["start"])
        code = msg.get("errno")
        raise OSError(code if isinstance(code, int) else errno.EIO, str(msg.get("error")))

    def _flush(self) -> None:
        """Send what is queued; the rest once the socket can take it."""
        while self.sock is not None and self.outq:
            data, fds = self.outq[0]
            try:
                if fds:
                    rights = [
                        (socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))
                    ]
                    sent = self.sock.sendmsg([data], rights)
                    fds.clear()  # they travel with the first byte sent
                else:
                    sent = self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self.lost(f"the spawner is gone ({exc})")
                return
            if sent < len(data):
                self.outq[0] = (data[sent:], fds)
            else:
                self.outq.popleft()
        if self.sock is None:
            return
        if self.outq and not self.writer_on:
            self.sup.loop.add_writer(self.sock.fileno(), self._flush)
            self.writer_on = True
        elif not self.outq and self.writer_on:
            self.sup.loop.remove_writer(self.sock.fileno())
            self.writer_on = False

    def _read(self) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            raise _SpawnerGone("it exited")
        self.inbuf += data
        while b"\n" in self.inbuf:
            line, self.inbuf = self.inbuf.split(b"\n", 1)
            msg = json.loads(line)
            if "exited" in msg:
                self.sup.spawner_exit(msg)
                continue
            fut = self.waiting.get(str(msg.get("spawned") or msg.get("failed")))
            if fut is not None and not fut.done():
                fut.set_result(msg)

    def on_readable(self) -> None:
        try:
            self._read()
        except (OSError, ValueError, _SpawnerGone) as exc:
            self.lost(f"the spawner is gone ({exc})")

    def lost(self, why: str, *, kill: bool = False) -> None:
        """Drop the link; the spawner's jobs are now ours (as its subreaper ancestor)
        or already on record in their exit files.  ``kill``: it is alive but not
        answering (one that closed its end may be reaped already, its pid reused)."""
        if self.sock is None:
            return
        self.sup.log(why)
        self.sup.loop.remove_reader(self.sock.fileno())
        if self.writer_on:
            self.sup.loop.remove_writer(self.sock.fileno())
            self.writer_on = False
        self.sock.close()
        self.sock = None
        self.inbuf = b""
        self.outq.clear()
        for fut in self.waiting.values():
            if not fut.done():
                fut.set_exception(_SpawnerGone(why))
        if kill and self.pid is not None:
            # One that stopped answering is not left holding jobs we cannot hear about.
            killpg(self.pid, signal.SIGKILL)
        self.pid = None
        self.sup.spawner_lost()

    def close(self) -> None:
        """On the supervisor's exit: the spawner sees the end of its stream and
        stays only while jobs of ours still run."""
        if self.sock is not None:
            self.sup.loop.remove_reader(self.sock.fileno())
            if self.writer_on:
                self.sup.loop.remove_writer(self.sock.fileno())
            self.sock.close()
            self.sock = None


class _SpawnerGone(Exception):
    """The spawner died or stopped answering."""


# --------------------------------------------------------------------------- results


def timeout_record(pid: int | None) -> dict[str, Any]:
    return {"msg": TIMEOUT_MSG, "failed": True, "child_pid": pid}


def running_record(jid: str) -> dict[str, Any]:
    return {"started": True, "finished": False, "ansible_job_id": jid}


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


# --------------------------------------------------------------------------- final records


def claim_path(root: str, jid: str) -> str:
    return os.path.join(private_dir(root), jid + FINAL_EXT)


def record_state(record: dict[str, Any]) -> str:
    """The sidecar state a final record stands for."""
    if record.get("msg") == TIMEOUT_MSG and "child_pid" in record:
        return TIMEOUT
    if record.get("killed"):
        return KILLED
    msg = str(record.get("msg") or "")
    if msg == LOST_MSG or msg.startswith("the job's exit status could not be recorded"):
        return LOST
    return FINISHED


def publish(root: str, jid: str, *, fresh: bool = False) -> None:
    """Make the claimed record (``<jid>.final``) the status file: link + rename.
    ``fresh``: the caller has just made the claim, so it cannot be published yet."""
    claim, status = claim_path(root, jid), os.path.join(root, jid)
    if not fresh:
        with contextlib.suppress(OSError):
            if os.stat(claim).st_ino == os.stat(status).st_ino:
                return  # published already (rename of a file onto itself is a no-op)
    tmp = tmp_name(status)
    try:
        os.link(claim, tmp)
        os.rename(tmp, status)
    except OSError as exc:
        _unlink(tmp)
        raise StorageError(status, exc) from exc


def claimed(root: str, jid: str) -> dict[str, Any] | None:
    """The job's final record if someone has claimed it (published again, in case its
    claimer died in between), else None.  ``{}``: claimed, but written in place."""
    try:
        with open(claim_path(root, jid), "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    if not raw:
        return {}
    with contextlib.suppress(StorageError):
        publish(root, jid)
    data = json.loads(raw) if damage_of(raw) is None else {}
    return data if isinstance(data, dict) else {}


def claim_and_publish(
    root: str, jid: str, record: dict[str, Any], *, looked: bool = False
) -> dict[str, Any]:
    """Write ``record`` as the job's final record unless another finisher has: the
    record in force.  `StorageError` when ours cannot be written (e.g. ENOSPC).
    ``looked``: the caller has just found no claim (the link below decides anyway;
    looking first only spares writing a record that would lose)."""
    if not looked:
        existing = claimed(root, jid)
        if existing is not None:
            return existing
    claim = claim_path(root, jid)
    tmp = tmp_name(claim)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _write_all(fd, json.dumps(record).encode())
        finally:
            os.close(fd)
        try:
            os.link(tmp, claim)  # the claim: fails if another finisher was first
        except FileExistsError:
            _unlink(tmp)
            return claimed(root, jid) or record
    except OSError as exc:
        _unlink(tmp)
        raise StorageError(claim, exc) from exc
    try:
        # The tmp name is a third link to the claimed record: renamed over the
        # status file it publishes the claim, with no link + unlink of its own.
        os.rename(tmp, os.path.join(root, jid))
        return record
    except OSError:
        _unlink(tmp)
    try:
        publish(root, jid, fresh=True)
    except StorageError:
        # The claim is ours and whole; only the status file's new name did not fit.
        write_json_in_place(os.path.join(root, jid), record)
    return record


def settle(
    root: str,
    jid: str,
    record: dict[str, Any],
    rc: int | None,
    log: Callable[[str], None],
    *,
    looked: bool = False,
) -> dict[str, Any]:
    """`claim_and_publish`, whatever the disk says: the full record; else again once
    the job's scratch files are gone; else a short failure; else that failure in
    the running record's place, so the job never stays "running" with no cause given."""
    try:
        return claim_and_publish(root, jid, record, looked=looked)
    except StorageError as exc:
        first = exc
    log(f"writing the record of {jid} failed: {first}")
    for ext in (".out", ".err", ".in"):
        _unlink(os.path.join(private_dir(root), jid + ext))
    with contextlib.suppress(StorageError):
        return claim_and_publish(root, jid, record)
    short = {
        "failed": True,
        "changed": False,
        "rc": rc,
        "msg": f"the job ended but its result could not be written: {first}",
    }
    with contextlib.suppress(StorageError):
        return claim_and_publish(root, jid, short)
    try:  # an empty claim needs no data block
        os.close(os.open(claim_path(root, jid), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return claimed(root, jid) or short
    except OSError:
        pass  # not even an inode: write anyway
    try:
        write_json_in_place(os.path.join(root, jid), short)
    except StorageError as exc:
        log(f"could not write any record for {jid}: {exc}")
        raise
    return short


def decide_record(
    root: str,
    meta: dict[str, Any],
    terminating: str | None,
    full_seen: float,
    ended_at: float | None = None,
    exited: tuple[int, float] | None = None,
) -> tuple[dict[str, Any], int | None, float]:
    """The final record of a job whose process has ended, from its files: (record, rc, end).

    ``full_seen``: when the async dir's filesystem was last seen full; a job that
    ran since may have lost output, and fails saying so.  ``ended_at``: when the
    caller first saw the process gone (default: now).  ``exited``: the job's
    (returncode, end) as its reaper told the caller, for when its exit file is
    missing.
    """
    jid = meta["jid"]
    priv = private_dir(root)
    rc_path = os.path.join(priv, jid + ".rc")
    exit_path = os.path.join(priv, jid + EXIT_EXT)
    end = ended_at if ended_at is not None else time.time()
    # The spawner's word (or our own reaping) already says what its exit file holds.
    exit_unwritten = False
    if exited is None:
        exited, exit_unwritten = settled_exit(exit_path)
    legacy_rc = read_rc(rc_path) if exited is None else None
    # Before its output files are read (and removed): a job that ended on a
    # full disk, or ran while it was full (our writes failed, or we saw it),
    # probably lost output (its writes failed with ENOSPC).
    full = fs_full(priv) or max(full_seen, FULL_SEEN[0]) >= float(meta.get("start") or 0)
    # A wrapper got to make its rc file (the command had ended: no signal killed
    # the wrapper) but not to write the status into it: no space left for it.
    rc_unwritten = False
    if exited is None and legacy_rc is None:
        with contextlib.suppress(OSError):
            rc_unwritten = os.path.getsize(rc_path) == 0
    unwritten = rc_unwritten or (exit_unwritten and exited is None)
    pid = meta.get("pid")
    deadline = float(meta.get("deadline") or math.inf)
    if exited is not None:
        rc, end = exited
        if terminating == "kill":
            return {"failed": True, "killed": True, "msg": KILLED_MSG, "child_pid": pid}, None, end
        # Ended by a signal at or after its deadline, or at all once its limit was
        # being enforced: the limit ended it (ours, a predecessor's or the keeper's).
        if (terminating == "timeout" and (rc < 0 or end >= deadline)) or (
            rc < 0 and end >= deadline
        ):
            return timeout_record(pid), None, end
    elif legacy_rc is not None:
        # A wrapper's rc file means it saw the command end before any signal got
        # to it: a real result, even if a timeout or kill was on its way.
        with contextlib.suppress(OSError):
            end = os.stat(rc_path).st_mtime
        exited = (command_rc(meta.get("cmd"), legacy_rc), end)
    if exited is not None:
        rc = exited[0]
        out = _read_file(os.path.join(priv, jid + ".out"))
        err = _read_file(os.path.join(priv, jid + ".err"))
        if meta.get("result") == "json":
            record = json_result(meta.get("cmd"), jid, out, err)
        else:
            record = command_result(meta.get("cmd"), rc, out, err, meta["start"], end)
        if full:
            record["failed"] = True
            record["msg"] = (
                f"the async dir's filesystem ({root}) was full while the job ran: No space"
                " left on device (ENOSPC); the job's output may be incomplete"
            )
        return record, rc, end
    if terminating == "kill":
        return {"failed": True, "killed": True, "msg": KILLED_MSG, "child_pid": pid}, None, end
    if terminating == "unstarted":
        who = meta.get("supervisor_pid")
        return (
            {
                "failed": True,
                "changed": False,
                "msg": f"the job supervisor (pid {who}) for {root} was stopped or killed"
                " while starting this job; it never ran",
            },
            None,
            end,
        )
    # Its group ended at or after its deadline: the limit (ours, a predecessor's or
    # the keeper's) ended it, even if whoever sees it now did not send the signal.
    # Not on a full disk: there the killer's mark may be what could not be written,
    # and a job that ended in time without an exit file lost it to the disk.
    timed_out = terminating == "timeout" or (not full and end >= deadline)
    if timed_out and not rc_unwritten:
        return timeout_record(pid), None, end
    if full or unwritten:
        # Its reaper could not write the exit file either.
        msg = (
            "the job's exit status could not be recorded: the async dir's filesystem"
            f" ({root}) is full: No space left on device (ENOSPC)"
        )
        return {"failed": True, "msg": msg}, None, end
    return {"failed": True, "msg": LOST_MSG}, None, end


def finish_job(
    root: str,
    meta: dict[str, Any],
    terminating: str | None,
    full_seen: float,
    log: Callable[[str], None],
    ended_at: float | None = None,
    exited: tuple[int, float] | None = None,
) -> dict[str, Any]:
    """Finish a job whose process has ended: its final record (ours, or the one
    another finisher claimed first), its sidecar's state, no scratch files left.
    ``meta`` (the sidecar) is updated in place; returns the record in force."""
    jid = meta["jid"]
    record = claimed(root, jid)
    rc: int | None = None
    end = time.time()
    if record is None:
        mine, rc, end = decide_record(root, meta, terminating, full_seen, ended_at, exited)
        record = settle(root, jid, mine, rc, log, looked=True)
        if record is not mine:
            rc = None
    if rc is None and isinstance(record.get("rc"), int):
        rc = record["rc"]
    # In memory only: on disk the claim says it (see `read_sidecar`).
    meta.update(state=record_state(record), end=meta.get("end") or end, rc=rc)
    # ``stdin`` False: the job had no input file; ``wrapped`` False: no rc file
    # (older sidecars say neither).
    exts = [".out", ".err", EXIT_EXT, PID_EXT]
    if meta.get("stdin", True):
        exts.append(".in")
    if meta.get("wrapped", True):
        exts.append(".rc")
    for ext in exts:
        _unlink(os.path.join(private_dir(root), jid + ext))
    return record


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def find_wrapper(rc_path: str) -> int | None:
    """The live job wrapper whose rc file is ``rc_path`` (its first argument), by
    its command line: a supervisor killed between spawning a job and recording
    its pid left only this to find it by (Linux; None elsewhere)."""
    needle = b"\0" + os.fsencode(rc_path) + b"\0"
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if needle in cmdline and cmdline.startswith(b"/bin/sh\0-c\0") and pid_alive(int(entry)):
            return int(entry)
    return None


def process_stopped(pid: int) -> bool:
    """Whether ``pid`` is stopped (SIGSTOP, a debugger): it answers nothing until resumed."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] in (b"T", b"t")


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
        """The job has ended (reaped, seen gone, or its limit or a kill ended it): its
        record is being written."""
        self.terminating: str | None = meta.get("terminating")
        self.wrapped = False
        """Started under the sh wrapper (no spawner): the rc file is the wrapper's."""
        self.gone_at: float | None = None
        """When an adopted job was first seen gone with no exit file (monotonic)."""
        self.exit: tuple[int, float] | None = None
        """(returncode, end) as the spawner or our own reaping saw it."""
        self.deadline_handle: asyncio.TimerHandle | None = None
        self.waiters: list[asyncio.Future[None]] = []


class Supervisor:
    """The daemon: starts jobs, enforces limits, writes records, answers requests."""

    def __init__(self, root: str, idle_exit: float) -> None:
        self.root = root
        self.priv = private_dir(root)
        self.idle_exit = idle_exit
        self.jobs: dict[str, Job] = {}
        """Jobs that run or whose record is being written."""
        self.by_pid: dict[int, Job] = {}
        self.adopted: dict[str, Job] = {}
        self.clients = 0
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.stopped: asyncio.Future[None] = None  # type: ignore[assignment]
        self.last_activity = 0.0
        self.adopt_handle: asyncio.TimerHandle | None = None
        self.pending_kills: dict[int, asyncio.TimerHandle] = {}
        """SIGKILLs due TERM_GRACE after a SIGTERM, by process group."""
        self.keeper_pid: int | None = None
        self.keeper_spawned = -math.inf
        self.full_seen = 0.0
        """When the async dir's filesystem was last seen full (epoch seconds)."""
        self.disk_handle: asyncio.TimerHandle | None = None
        self.home = os.path.expanduser("~")
        self.version = program_version()
        self.uid = os.geteuid()
        self.programs: dict[tuple[str, str], tuple[str, float]] = {}
        """`which` answers: (program, PATH) -> (path, when looked up)."""
        self.keeper_seen = -math.inf
        """When `ensure_keeper` last read the keeper's pid."""
        self.devnull: int | None = None
        self.spawner = SpawnerLink(self)
        self.early_exits: dict[str, dict[str, Any]] = {}
        """Exits the spawner reported before their start was done registering them."""
        self.to_finish: list[Job] = []
        """Jobs that ended, waiting for a finisher to write their final records."""
        self.finishers = 0

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
        self.spawner.ensure()  # it imports while we set up: the first job need not wait
        sock_path = os.path.join(self.priv, SOCK_NAME)
        _unlink(sock_path)  # stale socket of a dead supervisor; we hold the lock
        address, fd = socket_address(sock_path)
        # Born private (no window at the umask's mode before the chmod); the
        # jobs keep the umask we were started with.
        umask = os.umask(0o077)
        try:
            server = await asyncio.start_unix_server(
                self.serve_client, path=address, limit=MAX_LINE
            )
        finally:
            os.umask(umask)
            if fd is not None:
                os.close(fd)
        os.chmod(sock_path, 0o600)
        self.schedule_idle_check(self.idle_exit)
        try:
            await self.stopped
        finally:
            server.close()
            _unlink(sock_path)
            self.spawner.close()
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
        """SIGCHLD: reap every exited child: the spawner, jobs started under the sh
        wrapper, and the jobs of a spawner that died (reparented to us).

        As a subreaper we also get orphaned job descendants; those are just reaped.
        """
        for pid, status in reaped():
            job = self.by_pid.pop(pid, None)
            if job is None:
                continue
            if job.proc is not None:
                # Tell Popen the child is gone, so it never waits for it itself.
                job.proc.returncode = exit_code(status)
            if job.exited:
                self.forget_end(job.jid)
                continue
            if not job.wrapped:
                # Its spawner died first: we hold its real status; on record for a successor.
                job.exit = (exit_code(status), time.time())
                with contextlib.suppress(OSError):
                    write_exit(self.scratch(job.jid, EXIT_EXT), *job.exit)
            self.on_exit(job)

    def spawner_exit(self, msg: dict[str, Any]) -> None:
        """The spawner reaped a job of ours (its exit file is written)."""
        pid, jid = msg.get("pid"), str(msg.get("exited"))
        job = self.by_pid.get(pid) if isinstance(pid, int) else None
        if job is None or job.jid != jid:
            self.early_exits[jid] = msg  # its start is still registering it
            return
        del self.by_pid[pid]  # type: ignore[arg-type]  # an int: found by it above
        if job.exited:
            self.forget_end(jid)
            return
        job.exit = (int(msg["rc"]), float(msg["end"]))
        self.on_exit(job)

    def spawner_lost(self) -> None:
        """The spawner died (or was killed for not answering): its running jobs are
        reparented to us and heard by `reap`; the ones it reaped are on record."""
        for pid, job in list(self.by_pid.items()):
            if job.wrapped or job.adopted:
                continue
            if job_ended(self.priv, job.jid) or not pid_alive(pid):
                del self.by_pid[pid]
                self.on_exit(job)
        self.reap()

    def on_exit(self, job: Job) -> None:
        if job.exited:
            return
        job.exited = True
        if job.deadline_handle is not None:
            job.deadline_handle.cancel()
        self.to_finish.append(job)
        if self.finishers < FINISHERS:
            self.finishers += 1
            self.loop.create_task(self.finalize())

    async def finalize(self) -> None:
        # Reading output and writing the record touch the disk; a thread keeps the
        # loop (and other jobs' exact deadlines) free while a big output is read.
        # Jobs that end together go to the thread in small batches: one hand-off per
        # batch instead of one per job, and several finishers so that one big
        # output does not hold up every other record.
        try:
            while self.to_finish:
                batch = self.to_finish[:FINISH_BATCH]
                del self.to_finish[:FINISH_BATCH]
                try:
                    await self.loop.run_in_executor(None, self.write_finals, batch)
                except Exception:
                    self.log(f"finalizing {len(batch)} job(s) failed:\n{traceback.format_exc()}")
                finally:
                    for job in batch:
                        self.jobs.pop(job.jid, None)
                        self.adopted.pop(job.jid, None)
                        for fut in job.waiters:
                            if not fut.done():
                                fut.set_result(None)
                    self.touch()
        finally:
            self.finishers -= 1

    def write_finals(self, batch: list[Job]) -> None:
        """Write each job's final record (or keep the one the keeper or a predecessor
        claimed first).  Runs in a worker thread."""
        for job in batch:
            try:
                finish_job(
                    self.root, job.meta, job.terminating, self.full_seen, self.log, exited=job.exit
                )
            except Exception:
                self.log(f"finalizing {job.jid} failed:\n{traceback.format_exc()}")

    def watch_disk(self) -> None:
        """While jobs run, note when the disk is full: a job that ran then may have
        lost output even if space is freed before it ends."""
        self.disk_handle = None
        if not self.jobs or self.stopped.done():
            return
        if fs_full(self.priv):
            self.full_seen = time.time()
        self.disk_handle = self.loop.call_later(DISK_WATCH, self.watch_disk)

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
        except StorageError as exc:
            self.log(f"could not update the sidecar of {job.jid}: {exc}")
        pgid = job.pid
        killpg(pgid, signal.SIGTERM)
        self.pending_kills[pgid] = self.loop.call_later(TERM_GRACE, self.kill_group, pgid)
        if not job.wrapped:
            # Its record is due now, as ansible-core's is: a job that ignores SIGTERM
            # is SIGKILLed TERM_GRACE later, but that end no longer changes its result.
            # (A wrapper's own death at the SIGTERM did this for wrapped jobs.)
            self.on_exit(job)

    def forget_end(self, jid: str) -> None:
        """A job finished at its limit or kill has now ended too: its exit file goes."""
        for ext in (EXIT_EXT, PID_EXT):
            _unlink(self.scratch(jid, ext))

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
        self.sweep_tmp(self.priv, names)
        with contextlib.suppress(OSError):
            self.sweep_tmp(self.root, os.listdir(self.root))
        for name in sorted(names):
            if not name.endswith(".json"):
                continue
            meta = read_sidecar(self.priv, name[: -len(".json")])
            if not isinstance(meta, dict) or meta.get("state") != RUNNING or "jid" not in meta:
                continue
            job = Job(meta, adopted=True)
            self.jobs[job.jid] = job
            rc_path = self.scratch(job.jid, ".rc")
            finished = job_ended(self.priv, job.jid)
            if job.pid is None and not finished:
                # Its supervisor was killed while starting it: running, or never spawned.
                job.pid = find_wrapper(rc_path)
                if job.pid is None:
                    job.terminating = "unstarted"
                else:
                    meta.update(pid=job.pid, pgid=job.pid)
                    with contextlib.suppress(StorageError):
                        write_json_atomic(self.scratch(job.jid, ".json"), meta)
            if finished or not job.pid:
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
            self.ensure_keeper()
            self.watch_disk()

    def sweep_tmp(self, folder: str, names: list[str]) -> None:
        """Remove the tmp files (`tmp_name`) of writers that died mid-write (a killed
        supervisor or keeper): a live writer's are its own business."""
        for name in names:
            match = _TMP_RE.search(name)
            if match and int(match.group(1)) != os.getpid() and not pid_alive(int(match.group(1))):
                _unlink(os.path.join(folder, name))

    def poll_adopted(self) -> None:
        # Adopted jobs are not our spawner's children: no word of their end, so look.
        for job in list(self.adopted.values()):
            assert job.pid is not None
            if not job_ended(self.priv, job.jid):
                if pid_alive(job.pid):
                    continue
                # Gone (or a zombie) with no exit file yet: its spawner may be about
                # to write it; only a job still without one a moment later was lost.
                now = time.monotonic()
                if job.gone_at is None:
                    job.gone_at = now
                if now - job.gone_at < KEEPER_SETTLE:
                    continue
            del self.adopted[job.jid]
            if job.exited:
                self.forget_end(job.jid)
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
        session: dict[str, Any] = {}
        try:
            sock = writer.get_extra_info("socket")
            cred = peer_cred(sock) if sock is not None else None
            if cred is not None and cred[1] != self.uid:
                # Another user must neither start jobs as us nor read our results.
                self.log(f"refused a client of uid {cred[1]} (pid {cred[0]})")
                self.send(
                    writer, {"id": None, "error": f"refused: uid {cred[1]} is not uid {self.uid}"}
                )
                return
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
                    self.dispatch(line, writer, tasks, session)
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
        self,
        line: bytes,
        writer: asyncio.StreamWriter,
        tasks: set[asyncio.Task[None]],
        session: dict[str, Any],
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
                self.send(writer, {"id": rid, "result": sync_op(self, req, session)})
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
        task = self.loop.create_task(self.run_async(async_op, req, session, rid, writer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def run_async(
        self,
        handler: Callable[[Supervisor, dict[str, Any], dict[str, Any]], Any],
        req: dict[str, Any],
        session: dict[str, Any],
        rid: Any,
        writer: asyncio.StreamWriter,
    ) -> None:
        try:
            result = await handler(self, req, session)
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

    def op_hello(self, req: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        env = req.get("env")
        if env is not None:
            session["env"] = check_env(env, "env")
        return {
            "pid": os.getpid(),
            "version": self.version,
            "async_dir": self.root,
            "python": sys.version.split()[0],
        }

    async def op_start(self, req: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
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
        # The requester's environment, never ours: a supervisor outlives the run
        # that started it, and the next run's PATH, credentials... are its own.
        base = spec.get("env_base")
        if base is None:
            base = session.get("env")
        if base is None:
            raise RequestError(
                "start needs the caller's environment: env_base, or a hello with env first"
            )
        env = check_env(base, "env_base")
        env.update(check_env(spec.get("env") or {}, "env"))
        if argv is not None:
            if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
                raise RequestError("argv must be a non-empty list of strings")
            check_text(argv, "argv")
            cmd: Any = list(argv)
            # Resolve the program here so sh runs it as a program, never as one of
            # its builtins (argv ["exit", "3"] must not end the wrapper).
            program: str | None = argv[0]
            if "/" not in argv[0]:
                program = self.which(argv[0], env.get("PATH", os.defpath))
            args = [program or argv[0], *list(argv[1:])]
        else:
            if not isinstance(shell, str):
                raise RequestError("shell must be a string")
            check_text([shell], "the command")
            check_text([spec.get("executable") or ""], "executable")
            program = ""
            cmd = shell
            args = [spec.get("executable") or "/bin/sh", "-c", shell]
        result_mode = spec.get("result", "command")
        if result_mode not in ("command", "json"):
            raise RequestError("result must be 'command' or 'json'")
        # A relative cwd is taken from the home directory, where a login would start.
        raw_cwd = spec.get("cwd") or self.home
        if not isinstance(raw_cwd, str):
            raise RequestError("cwd must be a string")
        check_text([raw_cwd], "chdir")
        cwd = os.path.join(self.home, os.path.expanduser(raw_cwd))
        origin = {key: spec.get(key) for key in ("run_id", "host")}
        for key, value in origin.items():
            if value is not None and not isinstance(value, str):
                raise RequestError(f"{key} must be a string")
        task = spec.get("task")
        if task is not None and not (
            isinstance(task, dict) and all(isinstance(v, str) for v in task.values())
        ):
            raise RequestError("task must map strings to strings")
        existing = self.existing_job(jid, origin["run_id"])
        if existing is not None:
            return existing

        # The keeper first, so that the sidecar names it from its first write.
        self.ensure_keeper()
        start = time.time()
        meta: dict[str, Any] = {
            "jid": jid,
            "pid": None,
            "pgid": None,
            "start": start,
            "limit": limit,
            "deadline": start + limit,
            "module": str(spec.get("module") or "command"),
            "cmd": cmd,
            "result": result_mode,
            "cwd": cwd,
            "state": RUNNING,
            "terminating": None,
            "end": None,
            "rc": None,
            "supervisor_pid": os.getpid(),
            "run_id": origin["run_id"],
            "host": origin["host"],
            "task": task,
            "no_log": spec.get("no_log") is True,
            "watchdog": self.keeper_pid,
            "stdin": spec.get("stdin_b64") is not None,
        }
        sidecar = self.scratch(jid, ".json")
        # The records come before the process: if we are killed from here on, a
        # successor finds the job (and adopts it, or says it never ran), and a
        # controller that lost our answer sees it started and never starts it twice.
        try:
            write_json_atomic(sidecar, meta)
            write_json_atomic(self.status_path(jid), running_record(jid))
        except StorageError as exc:
            self.note_storage_error(exc)
            _unlink(sidecar)
            _unlink(self.status_path(jid))
            raise
        fds: list[int] = []  # ours to close once the child has its copies
        try:
            stdin_b64 = spec.get("stdin_b64")
            if stdin_b64 is None:
                stdin = self.null_fd()
            else:
                stdin = os.open(
                    self.scratch(jid, ".in"), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600
                )
                fds.append(stdin)
                _write_all(stdin, base64.b64decode(stdin_b64))
                os.lseek(stdin, 0, os.SEEK_SET)
            stdout = _create(self.scratch(jid, ".out"))
            fds.append(stdout)
            stderr = _create(self.scratch(jid, ".err"))
            fds.append(stderr)
            if not os.path.isdir(cwd):
                raise _StartFailed(f"Unable to change directory before execution: {cwd}")
            if program is None or (program and not os.path.exists(os.path.join(cwd, program))):
                # What the command module reports for a missing program (rc = errno).
                raise _StartFailed(
                    f"[Errno 2] No such file or directory: {args[0]!r}", rc=errno.ENOENT
                )
            start = time.time()
            t0 = self.loop.time()
            wrapped = not self.spawner.ensure()
            try:
                if wrapped:
                    argv_sh = ["/bin/sh", "-c", WRAPPER, self.scratch(jid, ".rc"), cwd, *args]
                    pid, proc = spawn(argv_sh, env, stdin, stdout, stderr)
                else:
                    pid, start = await self.spawner.spawn(
                        jid, args, env, cwd, [stdin, stdout, stderr]
                    )
                    t0 = self.loop.time() - max(0.0, time.time() - start)
                    proc = None
            except _SpawnerGone as exc:
                raise _StartFailed(f"Unable to start the job: the spawner failed: {exc}") from exc
            except OSError as exc:
                if wrapped:
                    raise _StartFailed(f"Unable to start the job: {exc}") from exc
                # What the command module reports when its program cannot be run.
                raise _StartFailed(str(exc), rc=exc.errno) from exc
        except _StartFailed as exc:
            # Like a module that fails at once: the job "started" and its record says why.
            now = time.time()
            meta.update(deadline=now, end=now)
            for ext in (".out", ".err", ".in"):
                _unlink(self.scratch(jid, ext))
            record = {
                "failed": True,
                "changed": False,
                "rc": exc.rc,
                "cmd": cmd,
                "msg": str(exc),
                "stdout": "",
                "stderr": "",
            }
            settle(self.root, jid, record, exc.rc, self.log)
            meta.update(state=FINISHED)
            with contextlib.suppress(StorageError):
                write_json_atomic(sidecar, meta)
            return {
                "jid": jid,
                "pid": None,
                "pgid": None,
                "start": now,
                "results_file": self.status_path(jid),
            }
        except BaseException as exc:
            # Nothing ran: no trace of the job is left.
            for ext in (".out", ".err", ".in", ".json"):
                _unlink(self.scratch(jid, ext))
            _unlink(self.status_path(jid))
            if isinstance(exc, OSError):
                # Its scratch files could not be made (ENOSPC, EDQUOT...): say which and why.
                error = StorageError(self.priv, exc)
                self.note_storage_error(error)
                raise error from exc
            raise
        finally:
            for fd in fds:
                os.close(fd)

        meta.update(pid=pid, pgid=pid, start=start, deadline=start + limit, wrapped=wrapped)
        job = Job(meta)
        job.proc = proc
        job.wrapped = wrapped
        self.jobs[jid] = job
        self.by_pid[pid] = job
        job.deadline_handle = self.loop.call_at(t0 + limit, self.on_deadline, job)
        # A spawner records the pid itself (``<jid>.pid``): the sidecar is not
        # written twice, which at thousands of jobs is most of a start's disk work.
        if wrapped:
            try:
                write_json_atomic(sidecar, meta)
            except StorageError as exc:
                # We hold its limit; only the keeper (if we die) cannot see its pid.
                self.note_storage_error(exc)
                self.log(f"could not record the pid of {jid}: {exc}")
        if self.disk_handle is None:
            self.watch_disk()
        self.touch()
        answer = self.start_answer(job)
        early = self.early_exits.pop(jid, None)
        if early is not None:
            self.spawner_exit(early)  # it ended before we had registered it
        return answer

    def null_fd(self) -> int:
        """/dev/null for the jobs' stdin, opened once (an open per job costs a syscall)."""
        if self.devnull is None:
            self.devnull = os.open(os.devnull, os.O_RDONLY)
        return self.devnull

    def which(self, name: str, path: str) -> str | None:
        """`shutil.which`, remembered for `WHICH_TTL` seconds: a fan-out starts the
        same program thousands of times, and each lookup stats every PATH entry.
        A remembered program that is gone is looked up again."""
        key = (name, path)
        now = time.monotonic()
        hit = self.programs.get(key)
        if hit is not None and now - hit[1] < WHICH_TTL and os.path.exists(hit[0]):
            return hit[0]
        found = shutil.which(name, path=path)
        if found is None or not os.path.isabs(found):
            # A relative PATH entry depends on the directory: never remembered.
            self.programs.pop(key, None)
        else:
            if len(self.programs) >= 256:
                self.programs.clear()
            self.programs[key] = (found, now)
        return found

    def start_answer(self, job: Job) -> dict[str, Any]:
        return {
            "jid": job.jid,
            "pid": job.pid,
            "pgid": job.pid,
            "start": job.meta.get("start"),
            "results_file": self.status_path(job.jid),
        }

    def existing_job(self, jid: str, run_id: Any) -> dict[str, Any] | None:
        """A second ``start`` of a jid: the job itself when the same run started it
        (a controller that lost our first answer asks again), else a refusal."""
        job = self.jobs.get(jid)
        meta = job.meta if job is not None else read_sidecar(self.priv, jid)
        if meta is None and not os.path.lexists(self.status_path(jid)):
            return None
        if isinstance(meta, dict) and run_id is not None and meta.get("run_id") == run_id:
            return {
                "jid": jid,
                "pid": meta.get("pid"),
                "pgid": meta.get("pgid"),
                "start": meta.get("start"),
                "results_file": self.status_path(jid),
                "existing": True,
            }
        raise RequestError(f"job {jid} already exists")

    def note_storage_error(self, exc: StorageError) -> None:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            self.full_seen = time.time()

    def ensure_keeper(self) -> None:
        """Start the keeper unless one holds its lock (or ours is just starting)."""
        now = self.loop.time()
        lock = os.path.join(self.priv, KEEPER_LOCK)
        if lock_held(lock):
            # Its pid (for the sidecars' ``watchdog``) is looked at again only now
            # and then: reading /proc for every start of a burst costs more than the
            # lock probe itself.
            if self.keeper_pid is None or now - self.keeper_seen >= KEEPER_RECHECK:
                if self.keeper_pid is None or not pid_alive(self.keeper_pid):
                    self.keeper_pid = lock_pid(self.priv, KEEPER_LOCK)
                self.keeper_seen = now
            return
        if (
            now - self.keeper_spawned < 1.0
            and self.keeper_pid is not None
            and pid_alive(self.keeper_pid)
        ):
            return  # started a moment ago and not locked yet
        argv = [sys.executable, "-E", "-S", os.path.abspath(__file__), "keep"]
        argv += ["--async-dir", self.root]
        try:
            with open(os.devnull, "r+b") as null:
                self.keeper_pid, _proc = spawn(argv, {"PATH": KEEPER_PATH}, null, null, null)
        except OSError as exc:
            # We still enforce the limits while we live; say that nothing else will.
            self.log(f"could not start the keeper: {exc}")
            return
        self.keeper_spawned = now

    # -- status / wait

    def read_status(self, jid: str, budget: list[int] | None = None) -> Any:
        """A status file as the protocol sends it: the record, None when absent,
        the text when damaged, ``["oversize", size, inode]`` past the ``budget``."""
        path = self.status_path(jid)
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                left = budget[0] if budget is not None else INLINE_MAX
                if st.st_size > left:
                    return ["oversize", st.st_size, st.st_ino]
                raw = f.read()
        except FileNotFoundError:
            return None
        if budget is not None:
            budget[0] -= len(raw)
        if damage_of(raw) is None:
            return json.loads(raw)
        return decode(raw)

    def op_read(self, req: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        jid = check_jid(req.get("jid"))
        offset, length = req.get("offset"), req.get("length")
        if not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (offset, length)
        ):
            raise RequestError("offset and length must be non-negative integers")
        assert isinstance(offset, int) and isinstance(length, int)
        try:
            with open(self.status_path(jid), "rb") as f:
                st = os.fstat(f.fileno())
                f.seek(offset)
                data = f.read(min(length, READ_CHUNK))
        except FileNotFoundError:
            raise RequestError(f"job {jid} has no status file") from None
        return {
            "data": base64.b64encode(data).decode(),
            "size": st.st_size,
            "inode": st.st_ino,
        }

    def jids_arg(self, req: dict[str, Any]) -> list[str]:
        jids = req.get("jids")
        if not isinstance(jids, list):
            raise RequestError("jids must be a list")
        return [check_jid(j) for j in jids]

    def op_status(self, req: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        budget = [INLINE_MAX]
        return {jid: self.read_status(jid, budget) for jid in self.jids_arg(req)}

    def is_done(self, jid: str) -> bool:
        """Finished for a waiter: absent, or a record that is not a running record."""
        if jid in self.jobs:
            return False
        rec = self.read_status(jid)
        if rec is None:
            return True
        return not (isinstance(rec, dict) and "started" in rec and not rec.get("finished"))

    async def op_wait(self, req: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        jids = self.jids_arg(req)
        timeout = req.get("timeout", 0)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
            raise RequestError("timeout must be a non-negative number")
        timeout = min(float(timeout), MAX_WAIT)
        if not jids or any(self.is_done(j) for j in jids):
            return self.op_status(req, session)
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
        return self.op_status(req, session)

    # -- kill / list / cleanup / ping / shutdown

    async def op_kill(self, req: dict[str, Any], session: dict[str, Any]) -> Any:
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

    def op_list(self, req: dict[str, Any], session: dict[str, Any]) -> list[dict[str, Any]]:
        jobs: dict[str, dict[str, Any]] = {}
        for name in os.listdir(self.priv):
            if name.endswith(".json"):
                meta = read_sidecar(self.priv, name[: -len(".json")])
                if isinstance(meta, dict) and isinstance(meta.get("jid"), str):
                    jobs[meta["jid"]] = meta
        for jid, job in self.jobs.items():
            disk = jobs.get(jid)
            if disk is not None and disk.get("state") != RUNNING:
                # Another finisher (the keeper, while we were stopped) has recorded
                # its end, which is final; our copy is behind until we finish it too.
                continue
            jobs[jid] = dict(job.meta)
        for name in os.listdir(self.root):
            if name in jobs or name.startswith(".") or name.endswith(".tmp"):
                continue
            if not _JID_RE.match(name) or not os.path.isfile(self.status_path(name)):
                continue
            rec = self.read_status(name)
            running = isinstance(rec, dict) and "started" in rec and not rec.get("finished")
            jobs[name] = {"jid": name, "state": RUNNING if running else FINISHED, "foreign": True}
        for jid, meta in jobs.items():
            damage = None if jid in self.jobs else self.damage(jid)
            if damage is not None:
                meta["damaged"] = f"the status file {self.status_path(jid)} is damaged: {damage}"
        return sorted(jobs.values(), key=lambda m: (m.get("start") or 0, m["jid"]))

    def damage(self, jid: str) -> str | None:
        """Why the job's status file is not a record (None: fine, absent, or too big to look)."""
        value = self.read_status(jid)
        if isinstance(value, str):
            return damage_of(value.encode("utf-8", "replace"))
        return None

    def op_cleanup(self, req: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        jid = check_jid(req.get("jid"))
        path = self.status_path(jid)
        erased = _unlink(path)
        if jid not in self.jobs:
            # A running job keeps its sidecar: a successor must still adopt it.
            # (Its record is written again when it ends, as with ansible-core.)
            for ext in (".json", ".out", ".err", ".rc", ".in", EXIT_EXT, PID_EXT, FINAL_EXT):
                _unlink(self.scratch(jid, ext))
        return {"erased": erased, "path": path}

    def op_ping(self, req: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        return {
            "pong": True,
            "pid": os.getpid(),
            "version": self.version,
            "async_dir": self.root,
            "python": sys.version.split()[0],
            "running": len(self.jobs),
        }

    def op_shutdown(self, req: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        # Answer first; stopping is scheduled so the reply is written.
        self.loop.call_soon(self.stop)
        return {"stopping": True, "running": len(self.jobs)}

    SYNC_OPS: ClassVar[dict[str, Callable[[Supervisor, dict[str, Any], dict[str, Any]], Any]]] = {
        "hello": op_hello,
        "read": op_read,
        "status": op_status,
        "list": op_list,
        "cleanup": op_cleanup,
        "ping": op_ping,
        "shutdown": op_shutdown,
    }
    ASYNC_OPS: ClassVar[dict[str, Callable[[Supervisor, dict[str, Any], dict[str, Any]], Any]]] = {
        # Overlapping: while the spawner starts one job, the next start is prepared.
        "start": op_start,
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


# --------------------------------------------------------------------------- keeper


class _Kept:
    """A job the keeper watches."""

    def __init__(self, meta: dict[str, Any], pid: int | None = None) -> None:
        self.meta = meta
        self.jid: str = meta["jid"]
        self.pid: int = meta["pid"] if pid is None else pid
        """0: none is known (it ended before it was found)."""
        self.term_at: float | None = None
        """When the keeper sent the group SIGTERM (it ran past its deadline)."""
        self.ended_at: float | None = None
        """When the keeper first saw it ended with no final record."""


class Keeper:
    """Holds the jobs' limits and finishes their records while no supervisor does.

    It learns the jobs from their sidecars (a job is visible to it as soon as its
    pid is recorded) and polls them: `KEEPER_TICK`, or sooner for a deadline.
    While a supervisor serves the directory (alive, not stopped) it finishes the
    jobs itself, so the keeper looks at a job only once its deadline is due: its
    cost per tick does not grow with thousands of running jobs.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self.priv = private_dir(root)
        self.kept: dict[str, _Kept] = {}
        self.done: set[str] = set()
        self.kills: dict[int, float] = {}
        """Process groups sent SIGTERM, and when their SIGKILL is due."""
        self.due: list[tuple[float, str]] = []
        """(deadline + `KEEPER_LAG`, jid) of the kept jobs: a heap."""
        self.active: set[str] = set()
        """Kept jobs it is ending (sent SIGTERM, or seen ended with no final record)."""
        self.lingering: dict[int, str] = {}
        """Jobs recorded as timed out whose process has yet to end (pid -> jid)."""
        self.full_seen = 0.0
        self.searches: dict[str, float] = {}
        """Jobs without a pid in their sidecar, and when to look for their wrapper next."""
        self.scanned: tuple[int, float] | None = None
        """The private dir's mtime at the last scan, and when that scan began."""

    def log(self, msg: str) -> None:
        with contextlib.suppress(OSError), open(os.path.join(self.priv, LOG_NAME), "a") as f:
            f.write(f"{fmt_time(time.time())} [{os.getpid()}] keeper: {msg}\n")

    def scan(self) -> None:
        # Listing a directory of thousands of jobs every tick is the keeper's main
        # cost: skip it while nothing was added or removed since the last listing
        # (a change in the same clock tick as that listing is listed again).
        began = time.time()
        try:
            mtime = os.stat(self.priv).st_mtime_ns
        except OSError:
            return
        if (
            self.scanned is not None
            and mtime == self.scanned[0]
            and mtime / 1e9 < self.scanned[1] - MTIME_SLACK
            and not self.searches
        ):
            return
        try:
            names = os.listdir(self.priv)
        except OSError:
            return
        self.scanned = (mtime, began)
        listed: set[str] = set()
        for name in names:
            if not name.endswith(".json"):
                continue
            jid = name[: -len(".json")]
            listed.add(jid)
            if jid in self.kept or jid in self.done:
                continue
            meta = read_sidecar(self.priv, name[: -len(".json")])
            if not isinstance(meta, dict) or meta.get("jid") != jid:
                continue
            if meta.get("state") != RUNNING:
                self.done.add(jid)
                self.searches.pop(jid, None)
            elif isinstance(meta.get("pid"), int):
                self.keep(jid, _Kept(meta))
                self.searches.pop(jid, None)
            else:
                self.search(jid, meta)
        for jid in [j for j in self.searches if j not in listed]:
            del self.searches[jid]  # its start was undone: nothing to keep

    def search(self, jid: str, meta: dict[str, Any]) -> None:
        """A job whose sidecar has no pid: its spawner records it (``<jid>.pid``);
        a wrapper's (older supervisors, or no spawner) is looked for by its command
        line past `KEEPER_SEARCH`, at most once a second.  One never found, whose
        deadline passes while no supervisor serves, never started: its supervisor
        was stopped or killed before it could."""
        if note_spawned(meta, self.priv, jid):
            self.keep(jid, _Kept(meta))
            self.searches.pop(jid, None)
            return
        now = time.time()
        if now < max(float(meta.get("start") or 0) + KEEPER_SEARCH, self.searches.get(jid, 0)):
            # Noted even before its search is due: the directory is listed again
            # (and the keeper stays) until its pid is recorded or it is found.
            self.searches.setdefault(jid, 0.0)
            return
        self.searches[jid] = now + 1.0
        pid = find_wrapper(os.path.join(self.priv, jid + ".rc"))
        if pid is not None:
            meta.update(pid=pid, pgid=pid)
            self.keep(jid, _Kept(meta))
            del self.searches[jid]
        elif job_ended(self.priv, jid):
            # It ran and ended while its supervisor could not see it.
            self.keep(jid, _Kept(meta, pid=0))
            del self.searches[jid]
        elif now >= float(meta.get("deadline") or math.inf) + KEEPER_LAG and not self.supervised():
            kept = _Kept(meta, pid=0)
            self.keep(jid, kept)
            del self.searches[jid]
            self.finish(kept, "unstarted")

    def keep(self, jid: str, kept: _Kept) -> None:
        self.kept[jid] = kept
        deadline = float(kept.meta.get("deadline") or math.inf)
        if math.isfinite(deadline):
            heapq.heappush(self.due, (deadline + KEEPER_LAG, jid))

    def supervised(self) -> bool:
        """Whether a supervisor serves the directory now: the pid in its lock file is
        a running (not stopped) supervisor process.  No lock probe: it must never
        take the lock from under a supervisor that is starting."""
        pid = lock_pid(self.priv)
        if pid is None:
            return False
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            return False
        state = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3]
        return state not in (b"Z", b"X", b"T", b"t") and b"\0serve\0" in cmdline

    def tick(self, supervised: bool) -> float:
        """Look at every job once (only at the due ones while a supervisor serves);
        returns when to look again."""
        now = time.time()
        if self.kept and fs_full(self.priv):
            self.full_seen = now
        next_at = now + KEEPER_TICK
        supervised = supervised and bool(self.kept)
        if supervised:
            # Only the jobs whose deadline is due (a heap: thousands of running jobs
            # cost nothing per tick) and those it is already ending.
            jids = [j for j in self.active if j in self.kept]
            while self.due and self.due[0][0] <= now:
                jids.append(heapq.heappop(self.due)[1])
            if self.due:
                next_at = min(next_at, self.due[0][0])
        else:
            jids = list(self.kept)
        for jid in dict.fromkeys(jids):
            kept = self.kept.get(jid)
            if kept is None:
                continue
            if supervised and kept.term_at is None and kept.ended_at is None:
                due = float(kept.meta.get("deadline") or math.inf) + KEEPER_LAG
                if now < due:
                    next_at = min(next_at, due)
                    continue
                # Due: finished by its supervisor by now, most likely.  Its pid may
                # have been reused since: the claim is looked at before any signal.
                if os.path.lexists(claim_path(self.root, jid)) or not os.path.lexists(
                    os.path.join(self.priv, jid + ".json")
                ):
                    del self.kept[jid]
                    self.done.add(jid)
                    continue
            finished = job_ended(self.priv, jid)
            if not finished and kept.pid > 0 and pid_alive(kept.pid):
                due = float(kept.meta.get("deadline") or math.inf) + KEEPER_LAG
                if kept.term_at is None and now >= due:
                    self.log(f"{jid} (pid {kept.pid}) ran past its limit; no supervisor stopped it")
                    killpg(kept.pid, signal.SIGTERM)
                    kept.term_at = now
                    self.kills[kept.pid] = now + TERM_GRACE
                    # Recorded now (as a supervisor would): what ignores the SIGTERM
                    # dies at the SIGKILL, and its exit file is removed then.
                    self.lingering[kept.pid] = jid
                    self.finish(kept, "timeout")
                elif kept.term_at is None:
                    next_at = min(next_at, due)
                continue
            if os.path.lexists(claim_path(self.root, jid)) or not os.path.lexists(
                os.path.join(self.priv, jid + ".json")
            ):
                del self.kept[jid]  # finished (or cleaned up) by someone
                self.done.add(jid)
                continue
            if kept.term_at is not None:
                self.finish(kept, "timeout")
            elif kept.ended_at is None:
                kept.ended_at = now
                next_at = min(next_at, now + KEEPER_SETTLE)
            elif now - kept.ended_at >= KEEPER_SETTLE:
                self.finish(kept, None)
            else:
                next_at = min(next_at, kept.ended_at + KEEPER_SETTLE)
        # Jobs it is ending are looked at on every tick, supervised or not.
        self.active = {
            j
            for j in self.active.union(jids)
            if j in self.kept and (self.kept[j].term_at or self.kept[j].ended_at)
        }
        for pid, jid in list(self.lingering.items()):
            if not pid_alive(pid):
                del self.lingering[pid]
                for ext in (EXIT_EXT, PID_EXT):
                    _unlink(os.path.join(self.priv, jid + ext))
        for pgid, due in list(self.kills.items()):
            if now >= due:
                killpg(pgid, signal.SIGKILL)
                del self.kills[pgid]
            else:
                next_at = min(next_at, due)
        return next_at

    def finish(self, kept: _Kept, terminating: str | None) -> None:
        # The sidecar as it is now: a supervisor may have marked a kill since.
        meta = read_json(os.path.join(self.priv, kept.jid + ".json"))
        if not isinstance(meta, dict) or meta.get("jid") != kept.jid:
            meta = kept.meta
        if meta.get("pid") is None and kept.pid > 0:
            meta.update(pid=kept.pid, pgid=kept.pid)  # its spawner's record (``<jid>.pid``)
        try:
            record = finish_job(
                self.root,
                meta,
                terminating or meta.get("terminating"),
                self.full_seen,
                self.log,
                ended_at=kept.ended_at,
            )
            self.log(f"finished {kept.jid}: {record_state(record)}")
        except Exception:
            self.log(f"finishing {kept.jid} failed:\n{traceback.format_exc()}")
        del self.kept[kept.jid]
        self.done.add(kept.jid)

    def run(self, lock_fd: int) -> None:
        idle_since: float | None = None
        next_scan = -math.inf
        while True:
            supervised = self.supervised()
            if not supervised or time.time() >= next_scan:
                # While a supervisor serves, new jobs matter to the keeper only at
                # their deadlines: listing thousands of files every tick is waste.
                self.scan()
                next_scan = time.time() + KEEPER_SCAN_SUPERVISED
            next_at = self.tick(supervised)
            now = time.time()
            if self.kept or self.kills or self.searches or self.lingering:
                idle_since = None
            elif idle_since is None:
                idle_since = now
            elif now - idle_since >= KEEPER_LINGER:
                # Unlock first, then look once more: a job started meanwhile either
                # found the lock free (and started a keeper) or is seen now.
                fcntl.flock(lock_fd, fcntl.LOCK_UN)
                self.scan()
                if not self.kept:
                    return
                try:
                    fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    return  # a new keeper has them
                idle_since = None
            time.sleep(min(KEEPER_TICK, max(0.01, next_at - time.time())))


def cmd_keep(async_dir: str) -> int:
    root = expand_dir(async_dir)
    try:
        priv = ensure_dirs(root)
    except OSError as exc:
        sys.stderr.write(f"playgraph keeper: {exc}\n")
        return 1
    lock_fd = os.open(os.path.join(priv, KEEPER_LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another keeper keeps this directory
    with contextlib.suppress(OSError):  # its pid, for the sidecars and for people
        os.ftruncate(lock_fd, 0)
        os.write(lock_fd, b"%d\n" % os.getpid())
    os.chdir("/")  # never pin a mount point
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    keeper = Keeper(root)
    try:
        keeper.run(lock_fd)
    except Exception:
        keeper.log(f"crashed:\n{traceback.format_exc()}")
        return 1
    return 0


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
    except UnsafePath as exc:
        sys.stderr.write(f"playgraph supervisor: {exc}\n")
        return 1
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
    with contextlib.suppress(OSError):  # a full disk: the lock works without the pid
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


def lock_pid(priv: str, name: str = LOCK_NAME) -> int | None:
    """The pid the serving (or last) supervisor (or keeper) wrote into its lock file."""
    try:
        with open(os.path.join(priv, name), "rb") as f:
            return int(f.read().strip() or b"0") or None
    except (OSError, ValueError):
        return None


def _hello(sock: socket.socket, deadline: float) -> dict[str, Any]:
    """Say hello with our environment (the base of the jobs started through us)."""
    sock.settimeout(max(0.001, deadline - time.monotonic()))
    request = {"id": 0, "op": "hello", "version": program_version(), "env": dict(os.environ)}
    sock.sendall(json.dumps(request).encode() + b"\n")
    data = b""
    while not data.endswith(b"\n"):
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the supervisor closed the connection")
        data += chunk
    answer = json.loads(data)
    if not isinstance(answer, dict) or not isinstance(answer.get("result"), dict):
        raise ConnectionError(f"the supervisor refused the hello: {answer.get('error')}")
    sock.settimeout(None)
    result: dict[str, Any] = answer["result"]
    return result


def _retire(sock: socket.socket, priv: str, deadline: float) -> None:
    """Ask a supervisor of another version to exit, and wait for its lock to be free."""
    with contextlib.suppress(OSError):
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        sock.sendall(b'{"id": 1, "op": "shutdown"}\n')
        sock.recv(65536)
    sock.close()
    lock = os.path.join(priv, LOCK_NAME)
    while lock_held(lock) and time.monotonic() < deadline:
        time.sleep(0.02)


def connect_or_start(
    root: str, idle_exit: float = DEFAULT_IDLE_EXIT, timeout: float = HELLO_TIMEOUT
) -> tuple[socket.socket, dict[str, Any]]:
    """Connect to the supervisor of ``root`` (starting it when none answers) and
    say hello; returns the socket and the hello's answer.

    Two clients racing here may both start a daemon; the flock makes all but one
    exit, and both connect to the survivor.  A supervisor of another version is
    asked to exit and replaced.  Every step has a deadline: a stopped supervisor
    is reported, not waited for.
    """
    priv = private_dir(root)
    sock_path = os.path.join(priv, SOCK_NAME)
    deadline = time.monotonic() + timeout
    spawned_at: float | None = None
    delay = 0.002
    while True:
        pid = lock_pid(priv)
        if pid is not None and process_stopped(pid) and lock_held(os.path.join(priv, LOCK_NAME)):
            # It cannot answer until resumed: say so now rather than at the deadline.
            raise OSError(
                f"the job supervisor (pid {pid}) for {root} is stopped: it does not answer"
            )
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        address, fd = socket_address(sock_path)
        try:
            check_private(sock_path, "supervisor socket", follow=False, kind="socket")
            sock.connect(address)
        except UnsafePath:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            error: BaseException = exc
        else:
            cred = peer_cred(sock)
            if cred is not None and cred[1] != os.geteuid():
                sock.close()
                raise UnsafePath(
                    f"refusing the supervisor socket {sock_path}: its peer (pid {cred[0]}) is uid"
                    f" {cred[1]}, not this user (uid {os.geteuid()})"
                )
            try:
                hello = _hello(sock, deadline)
            except socket.timeout:  # noqa: UP041 - TimeoutError only from 3.10
                sock.close()
                pid = cred[0] if cred is not None else lock_pid(priv)
                raise OSError(
                    f"the job supervisor (pid {pid}) for {root} does not answer within"
                    f" {timeout:.0f} s: it is stopped or stuck"
                ) from None
            except (OSError, ValueError) as exc:
                sock.close()
                error = exc
            else:
                if hello.get("version") == program_version():
                    return sock, hello
                _retire(sock, priv, deadline)
                error = OSError(f"replaced supervisor version {hello.get('version')}")
                spawned_at = None
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
        sock, info = connect_or_start(root, idle_exit)
    except OSError as exc:
        sys.stderr.write(f"playgraph supervisor client: {exc}\n")
        return 1
    hello = {"hello": {"version": program_version(), "async_dir": root, "pid": info.get("pid")}}
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
        "usage: supervisor.py {serve|client|keep|spawner} --async-dir DIR [--idle-exit SECONDS]"
        " [--foreground]"
    )
    if sys.version_info < (3, 8):  # noqa: UP036 - this file runs on targets' pythons
        sys.stderr.write("playgraph supervisor needs Python 3.8+\n")
        return 2
    if not args or args[0] not in ("serve", "client", "keep", "spawner"):
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
    if command == "keep":
        return cmd_keep(async_dir)
    if command == "spawner":
        return cmd_spawner(async_dir)
    return cmd_client(async_dir, idle_exit)


if __name__ == "__main__":
    sys.exit(main())
