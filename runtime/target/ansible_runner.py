"""Run one Ansible module from its AnsiballZ payload (a zip), as ansible-core's wrapper does.

Stdlib only, Python 3.8+.  Reads one JSON request on stdin::

    {"zip": PATH | null, "zip_b64": BASE64 | absent, "module": NAME, "module_fqn": FQN,
     "profile": PROFILE, "extensions": {...}, "rlimit_nofile": N, "params": JSON-TEXT}

``params`` is the ``{"ANSIBLE_MODULE_ARGS": {...}}`` document the module reads.
The zip is the cached payload (``zip``), or comes inline (``zip_b64``: under
become, or before it was shipped) and is written to a private temporary folder
removed afterwards.  The module prints its own JSON result and exits; anything
that stops it from starting becomes a failed JSON result here.

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
        if not zip_path or not os.path.isfile(zip_path):
            _fail(f"the module's payload is missing on the target: {zip_path}")
        if folder is None and request.get("sha"):
            zip_path = _extracted(zip_path, str(request["sha"]))
        sys.path.insert(0, zip_path)
        try:
            loader: Any = importlib.import_module(
                "ansible.module_utils._internal._ansiballz._loader"
            )
        except Exception as exc:
            _fail(
                f"could not load ansible-core's module support with {sys.executable} (Python {sys.version.split()[0]}): {exc}"
            )
        loader.run_module(
            json_params=request["params"].encode("utf-8"),
            profile=request["profile"],
            module_fqn=request["module_fqn"],
            modlib_path=zip_path,
            extensions=request.get("extensions") or {},
        )
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
