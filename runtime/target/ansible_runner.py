"""Run one Ansible module from its AnsiballZ payload (a zip), as ansible-core's wrapper does.

Stdlib only, Python 3.8+.  Reads one JSON request on stdin::

    {"zip": PATH | null, "zip_b64": BASE64 | absent, "module": NAME, "module_fqn": FQN,
     "profile": PROFILE, "extensions": {...}, "rlimit_nofile": N, "params": JSON-TEXT}

``params`` is the ``{"ANSIBLE_MODULE_ARGS": {...}}`` document the module reads.
The zip is the cached payload (``zip``), or comes inline (``zip_b64``: under
become, or before it was shipped) and is written to a private temporary folder
removed afterwards.  The module prints its own JSON result and exits; anything
that stops it from starting becomes a failed JSON result here.

With ``--serve`` it is a fork server instead (see "fork server" below): one
long-lived process that imports ansible's module support once and forks a child
per call, which runs the module as ``main()`` would.

Run without ``-I``/``-S``, as ansible-core runs its wrapper: modules need the
target's site-packages (python3-apt, python3-dnf, libraries installed with
``pip --user``) and honour ``PYTHONPATH`` from the task's ``environment``.  Like
the wrapper, the script's folder and the working directory are dropped from
``sys.path`` so nothing there can shadow a module's imports.
"""

from __future__ import annotations

import os
import sys

# Before any other import (os and sys are loaded at startup, they cannot be
# shadowed): sys.path[0] is this file's folder, or the working directory with -c,
# where nothing may shadow what the runner or the module imports.
_HERE = globals().get("__file__")
if sys.path and (
    sys.path[0] in ("", ".")
    or (_HERE and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(_HERE)))
):
    del sys.path[0]

import base64  # noqa: E402
import contextlib  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import zipfile  # noqa: E402
from typing import Any, NoReturn  # noqa: E402


def _fail(msg: str) -> NoReturn:
    print(json.dumps({"failed": True, "changed": False, "msg": msg}))
    sys.exit(1)


def _prepare_process(rlimit_nofile: int) -> None:
    # As the wrapper: Python needs a working directory (become may leave us in one
    # we cannot read), and modules may need more open files than the default.
    try:
        os.getcwd()
    except OSError:
        try:
            os.chdir(os.path.expanduser("~"))
        except OSError:
            os.chdir("/")
    if rlimit_nofile:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = min(hard, rlimit_nofile)
        if wanted != soft:
            with contextlib.suppress(ValueError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _clean_sys_path() -> None:
    # As the wrapper: neither the working directory nor the script's folder.
    excludes = {"", ".", os.path.dirname(os.path.realpath(_HERE)) if _HERE else None}
    sys.path[:] = [p for p in sys.path if p not in excludes]


def _extracted(zip_path: str, sha: str) -> str:
    """The zip's files in a folder beside it (made once, atomically): imported from a
    folder, modules and module_utils get their bytecode cached, so later calls skip
    compiling them.  The zip itself when the folder cannot be made."""
    folder = f"{zip_path}.{sha}.d"
    if os.path.isdir(folder):
        return folder
    try:
        scratch = tempfile.mkdtemp(prefix=".extract-", dir=os.path.dirname(zip_path))
    except OSError:
        return zip_path
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for name in archive.namelist():
                if name.startswith("/") or ".." in name.split("/"):
                    raise OSError(f"unsafe member {name!r}")
            archive.extractall(scratch)
        os.rename(scratch, folder)
    except (OSError, zipfile.BadZipFile):
        shutil.rmtree(scratch, ignore_errors=True)
        # Another call made it first (rename onto a full folder fails), or we cannot.
        return folder if os.path.isdir(folder) else zip_path
    return folder


def _payload_path(request: dict[str, Any]) -> str:
    """The payload to import from: the cached zip's extracted folder (or the zip)."""
    zip_path = request.get("zip")
    if not zip_path or not os.path.isfile(zip_path):
        _fail(f"the module's payload is missing on the target: {zip_path}")
    if request.get("sha"):
        return _extracted(zip_path, str(request["sha"]))
    return str(zip_path)


def _run_loaded(request: dict[str, Any], modlib: str) -> None:
    try:
        loader: Any = importlib.import_module("ansible.module_utils._internal._ansiballz._loader")
    except Exception as exc:
        _fail(
            f"could not load ansible-core's module support with {sys.executable} (Python {sys.version.split()[0]}): {exc}"
        )
    loader.run_module(
        json_params=request["params"].encode("utf-8"),
        profile=request["profile"],
        module_fqn=request["module_fqn"],
        modlib_path=modlib,
        extensions=request.get("extensions") or {},
    )


def main() -> None:
    try:
        request: dict[str, Any] = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    except ValueError as exc:
        _fail(f"playgraph's module runner got an unreadable request: {exc}")
    _prepare_process(int(request.get("rlimit_nofile") or 0))
    _clean_sys_path()
    folder = None
    zip_path = request.get("zip")
    try:
        if request.get("zip_b64"):
            folder = os.path.realpath(
                tempfile.mkdtemp(
                    prefix="ansible_{}_payload_".format(request.get("module", "module"))
                )
            )
            zip_path = os.path.join(folder, "payload.zip")
            with open(zip_path, "wb") as handle:
                handle.write(base64.b64decode(request["zip_b64"]))
        if folder is not None:
            request = {**request, "zip": zip_path, "sha": None}
        modlib = _payload_path(request)
        sys.path.insert(0, modlib)
        _run_loaded(request, modlib)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- fork server
#
# ``--serve``: one long-lived process answers many calls.  Frames both ways are a
# 4-byte big-endian length, a JSON header, then ``size`` raw bytes (requests) or
# ``out`` + ``err`` raw bytes (answers).  Requests:
#
#   {"id", "run": REQUEST, "env": {...}}   run a module (REQUEST as main() reads it,
#                                          with "zip_rel": relative to $HOME instead of "zip")
#   {"id", "kill": true}                   SIGTERM the call's process group, SIGKILL later
#   {"id", "put": PATH, "size": N} + N     write a payload into the cache (atomically)
#
# Answers: {"id", "rc", "out", "err"} + bytes; {"id", "missing": PATH} when the
# payload is not in the cache; {"id", "ok"} / {"id", "error"} for a put.
# The parent imports ansible's loader once and never runs a module: each call is a
# forked child, in its own session, whose output goes to private temporary files.

KILL_GRACE = 2.0
"""Seconds between SIGTERM and SIGKILL of a killed call (as the per-call path's)."""
WARM_WAIT = 1.0
"""At most this long, calls of a payload new to the server wait for its first call (which
compiles its bytecode) before they start anyway."""


def _frame(header: dict[str, Any], data: bytes = b"") -> bytes:
    import struct

    body = json.dumps(header).encode("utf-8")
    return struct.pack(">I", len(body)) + body + data


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _home_path(rel: str) -> str:
    home = os.environ.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, rel)


def _put(path: str, data: bytes) -> None:
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".put-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class _PayloadFirst:
    """Finds ``ansible*`` modules in this call's payload first (a meta path finder).

    The server imported ansible's packages from the first payload it saw; a package
    first imported now (``ansible.modules``) must come from this call's payload,
    which holds everything its module needs."""

    def __init__(self, modlib: str) -> None:
        self.modlib = modlib

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if not fullname.startswith("ansible"):
            return None
        import importlib.machinery

        folder = os.path.join(self.modlib, *fullname.split(".")[:-1])
        return importlib.machinery.PathFinder.find_spec(fullname, [folder])


def _extend_packages(modlib: str) -> None:
    # Packages already imported by the server: this payload's folders join theirs.
    sys.meta_path.insert(0, _PayloadFirst(modlib))
    for name, mod in list(sys.modules.items()):
        path = getattr(mod, "__path__", None)
        if not name.startswith("ansible") or path is None:
            continue
        folder = os.path.join(modlib, *name.split("."))
        if folder not in path and (modlib.endswith(".zip") or os.path.isdir(folder)):
            with contextlib.suppress(AttributeError, TypeError):
                path.append(folder)


def _exit_code(exc: SystemExit) -> int:
    # As the interpreter turns a SystemExit into the process's status.
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(Exception):
        sys.stderr.write(f"{code}\n")
    return 1


def _child(request: dict[str, Any], env: dict[str, str]) -> int:
    """The forked call (fds and signals already set): run the module, the exit status."""
    import atexit
    import traceback

    code = 0
    try:
        os.environ.update(env)
        _prepare_process(int(request.get("rlimit_nofile") or 0))
        modlib = _payload_path(request)
        sys.path.insert(0, modlib)
        _extend_packages(modlib)
        _run_loaded(request, modlib)
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException:  # as the interpreter: the traceback on stderr, status 1
        with contextlib.suppress(Exception):
            traceback.print_exc()
        code = 1
    # What a normal interpreter exit does: atexit handlers (a module's temporary
    # folders), non-daemon threads joined, the streams flushed.
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    with contextlib.suppress(BaseException):
        import threading

        threading._shutdown()  # type: ignore[attr-defined]
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    return code


class _Server:
    def __init__(self) -> None:
        import selectors
        import signal

        self.signal = signal
        # Our protocol's own descriptors; 0 and 1 become /dev/null, so nothing an
        # import prints can corrupt a frame.
        self.inp = os.dup(0)
        self.out = os.dup(1)
        self.devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(self.devnull, 0)
        os.dup2(self.devnull, 1)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.inp, selectors.EVENT_READ)
        self.selector.register(self.wake_r, selectors.EVENT_READ)
        self.buffer = bytearray()
        self.calls: dict[int, tuple[Any, Any, Any, str]] = {}
        """child pid -> (request id, stdout file, stderr file, payload sha)"""
        self.pids: dict[Any, int] = {}
        """request id -> child pid"""
        self.kill_at: dict[int, float] = {}
        self.loaded = False
        self.extracted: set[str] = set()
        self.warming: dict[str, tuple[float, list[tuple[Any, dict[str, Any], dict[str, str]]]]] = {}
        """payload sha -> (until when, calls waiting for its first call to end)"""
        self.prctl: Any = None
        if sys.platform.startswith("linux"):
            # A call must not outlive a server that was killed: PR_SET_PDEATHSIG.
            with contextlib.suppress(Exception):
                import ctypes

                self.prctl = ctypes.CDLL(None).prctl

    def send(self, header: dict[str, Any], data: bytes = b"") -> None:
        # The controller may be gone (its end closed): nobody is left to tell.
        with contextlib.suppress(OSError):
            _write_all(self.out, _frame(header, data))

    def serve(self) -> None:
        import time

        self.send({"hello": {"pid": os.getpid(), "python": sys.version.split()[0]}})
        open_input = True
        while open_input or self.calls:
            timeout = 1.0
            deadlines = [*self.kill_at.values(), *(w[0] for w in self.warming.values())]
            if deadlines:
                timeout = max(0.0, min(deadlines) - time.monotonic())
            for key, _ in self.selector.select(min(timeout, 1.0)):
                if key.fd == self.wake_r:
                    with contextlib.suppress(OSError):
                        while os.read(self.wake_r, 4096):
                            pass
                elif open_input:
                    chunk = os.read(self.inp, 1 << 16)
                    if not chunk:
                        # The controller is gone: stop what runs, then exit.
                        open_input = False
                        self.selector.unregister(self.inp)
                        self.warming.clear()
                        for pid in list(self.calls):
                            self.kill(pid, self.signal.SIGKILL)
                        continue
                    self.buffer += chunk
                    self.handle_frames()
            self.reap()
            now = time.monotonic()
            for sha, (until, _) in list(self.warming.items()):
                if until <= now:
                    self.release(sha)
            for pid, when in list(self.kill_at.items()):
                if when <= now:
                    del self.kill_at[pid]
                    self.kill(pid, self.signal.SIGKILL)

    def handle_frames(self) -> None:
        import struct

        while len(self.buffer) >= 4:
            (size,) = struct.unpack(">I", self.buffer[:4])
            if len(self.buffer) < 4 + size:
                return
            header = json.loads(bytes(self.buffer[4 : 4 + size]).decode("utf-8"))
            extra = int(header.get("size") or 0)
            if len(self.buffer) < 4 + size + extra:
                return
            data = bytes(self.buffer[4 + size : 4 + size + extra])
            del self.buffer[: 4 + size + extra]
            self.handle(header, data)

    def handle(self, header: dict[str, Any], data: bytes) -> None:
        import time

        ident = header.get("id")
        if "put" in header:
            try:
                _put(str(header["put"]), data)
                self.send({"id": ident, "ok": True})
            except OSError as exc:
                self.send({"id": ident, "error": f"could not write {header['put']}: {exc}"})
        elif "kill" in header:
            for _until, waiting in self.warming.values():
                for queued in [w for w in waiting if w[0] == ident]:
                    # Not started yet: it never will be.
                    waiting.remove(queued)
                    self.send({"id": ident, "rc": -int(self.signal.SIGTERM), "out": 0, "err": 0})
            pid = self.pids.get(ident)
            if pid is not None and pid not in self.kill_at:
                self.kill(pid, self.signal.SIGTERM)
                self.kill_at[pid] = time.monotonic() + KILL_GRACE
        elif "run" in header:
            request = dict(header["run"])
            if request.get("zip_rel"):
                request["zip"] = _home_path(str(request["zip_rel"]))
            if not request.get("zip") or not os.path.isfile(str(request["zip"])):
                self.send({"id": ident, "missing": request.get("zip")})
                return
            env = dict(header.get("env") or {})
            sha = str(request.get("sha") or "")
            if sha in self.warming:
                self.warming[sha][1].append((ident, request, env))
                return
            if sha and sha not in self.extracted:
                # A payload's first call: extracted here, once, and run alone, so the
                # calls that arrive meanwhile find its bytecode compiled rather than
                # each compiling the same files.
                self.extracted.add(sha)
                _extracted(str(request["zip"]), sha)
                self.warming[sha] = (time.monotonic() + WARM_WAIT, [])
            self.load(request)
            self.start(ident, request, env, sha)

    def load(self, request: dict[str, Any]) -> None:
        # Once: ansible's module support, imported here so every call starts warm.
        if self.loaded:
            return
        self.loaded = True
        try:
            modlib = _extracted(str(request["zip"]), str(request.get("sha") or ""))
            sys.path.insert(0, modlib)
            importlib.import_module("ansible.module_utils._internal._ansiballz._loader")
        except BaseException:  # each call then reports it itself
            pass

    def start(self, ident: Any, request: dict[str, Any], env: dict[str, str], sha: str) -> None:
        out = tempfile.TemporaryFile()  # noqa: SIM115 - closed once the call is reaped
        err = tempfile.TemporaryFile()  # noqa: SIM115 - closed once the call is reaped
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError as exc:
            out.close()
            err.close()
            failure = json.dumps(
                {"failed": True, "changed": False, "msg": f"could not start the module: {exc}"}
            )
            self.send({"id": ident, "rc": 1, "out": len(failure), "err": 0}, failure.encode())
            return
        if pid == 0:
            code = 1
            try:
                signal = self.signal
                if self.prctl is not None:
                    self.prctl(1, int(signal.SIGKILL), 0, 0, 0)
                if os.getppid() != parent:
                    os._exit(1)  # the server died already
                os.setsid()
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                self.selector.close()
                for fd in (self.inp, self.out, self.wake_r, self.wake_w):
                    os.close(fd)
                os.dup2(self.devnull, 0)
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                code = _child(request, env)
            finally:
                os._exit(code)
        self.calls[pid] = (ident, out, err, sha)
        self.pids[ident] = pid

    def release(self, sha: str) -> None:
        _until, waiting = self.warming.pop(sha, (0.0, []))
        for ident, request, env in waiting:
            self.start(ident, request, env, sha)

    def kill(self, pid: int, sig: int) -> None:
        with contextlib.suppress(OSError):
            os.killpg(pid, sig)

    def reap(self) -> None:
        while self.calls:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            call = self.calls.pop(pid, None)
            self.kill_at.pop(pid, None)
            if call is None:
                continue
            ident, out, err, sha = call
            self.pids.pop(ident, None)
            self.release(sha)
            rc = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            streams = []
            for handle in (out, err):
                handle.seek(0)
                streams.append(handle.read())
                handle.close()
            self.send(
                {"id": ident, "rc": rc, "out": len(streams[0]), "err": len(streams[1])},
                streams[0] + streams[1],
            )


def serve() -> None:
    _clean_sys_path()
    _Server().serve()


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        main()
