"""Running the target programs (`runtime/target/modules/*.py`) on a task's host.

A target program is one self-contained, stdlib-only Python file (3.8+).  It
reads one JSON request on stdin — ``{"module", "args", "check_mode", "diff"}``
— and prints one JSON result object, like an Ansible module.

Where the program comes from:

* on the local connection it runs straight from the package directory;
* on any other connection it is shipped once per connection to
  ``~/.cache/playgraph/modules/<sha>/<name>.py`` (the content hash in the path
  makes the cache safe to share between playgraph versions);
* its source is passed with ``python -c`` instead under ``become`` (the other
  user may not be able to read a shipped copy, or a package directory that is
  not world-readable), and for a job whose program has not been shipped to that
  connection yet (`JobSpec`s are built synchronously, without I/O).

The interpreter always runs with ``-I -S``: no user site, no ``PYTHON*``
variables, and the program's own directory is not put first on ``sys.path``
(a program named ``stat.py`` must not shadow the stdlib's ``stat``).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from ..connection.base import CommandResult
from ..connection.local import LocalConnection
from ..jobspec import JobSpec
from .args import Spec
from .base import ModuleFailure, TaskContext

PROGRAM_DIR = Path(__file__).resolve().parent.parent / "target" / "modules"
CACHE_DIR = ".cache/playgraph/modules"
"""Relative to the remote user's home."""

_SHIP_PROBE = (
    'f="$HOME/$1"; if [ -f "$f" ]; then printf "present %s" "$f"; '
    'else mkdir -p "${f%/*}" && printf "missing %s" "$f"; fi'
)


@dataclass(frozen=True, slots=True)
class Program:
    """One target program: its name, where it lives here, its bytes and their hash."""

    name: str
    path: Path
    source: bytes
    sha: str


@cache
def program(name: str) -> Program:
    """The target program ``runtime/target/modules/<name>.py`` (read once per process)."""
    path = PROGRAM_DIR / f"{name}.py"
    source = path.read_bytes()
    return Program(name, path, source, hashlib.sha256(source).hexdigest()[:20])


_shipped: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()
"""Per connection: program hash -> its path on the target (known to be there)."""


def _readable_by_all(path: Path) -> bool:
    try:
        if not os.stat(path).st_mode & stat.S_IROTH:
            return False
        return all(os.stat(parent).st_mode & stat.S_IXOTH for parent in path.parents)
    except OSError:
        return False


def _argv(ctx: TaskContext, prog: Program, path: str | None) -> list[str]:
    if path is None:
        return [ctx.python, "-I", "-S", "-c", prog.source.decode()]
    return [ctx.python, "-I", "-S", path]


def _known_path(ctx: TaskContext, prog: Program) -> str | None:
    """Where the program can be run from without any I/O, if anywhere."""
    if isinstance(ctx.conn, LocalConnection):
        if ctx.become is None or _readable_by_all(prog.path):
            return str(prog.path)
        return None
    if ctx.become is not None:
        return None
    known: dict[str, str] = _shipped.get(ctx.conn) or {}
    return known.get(prog.sha)


async def _ship(ctx: TaskContext, prog: Program) -> str:
    """Make sure the program is in the target's cache; return its absolute path there."""
    rel = f"{CACHE_DIR}/{prog.sha}/{prog.name}.py"
    probe: CommandResult = await ctx.conn.run(["/bin/sh", "-c", _SHIP_PROBE, "sh", rel])
    state, _, path = probe.stdout.decode(errors="replace").partition(" ")
    if probe.rc != 0 or state not in ("present", "missing") or not path:
        raise OSError(
            f"could not prepare {CACHE_DIR} on {ctx.conn.host}: "
            f"{probe.stderr.decode(errors='replace').strip()}"
        )
    if state == "missing":
        await ctx.conn.put_file(prog.source, path, mode=0o644)
    _shipped.setdefault(ctx.conn, {})[prog.sha] = path
    return path


def request(ctx: TaskContext, module: str, params: Mapping[str, Any]) -> bytes:
    """The JSON request a target program reads on stdin."""
    return json.dumps(
        {
            "module": module,
            "args": dict(params),
            "check_mode": ctx.check_mode,
            "diff": ctx.diff,
        }
    ).encode()


def add_lines(result: dict[str, Any]) -> dict[str, Any]:
    """``stdout_lines``/``stderr_lines`` as ansible's action layer derives them."""
    for stream in ("stdout", "stderr"):
        value = result.get(stream)
        if isinstance(value, str) and f"{stream}_lines" not in result:
            result[f"{stream}_lines"] = value.splitlines()
    return result


def _cut_json(text: str) -> tuple[str, list[str]]:
    """The JSON object in a program's stdout: leading noise dropped, trailing junk warned about."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.lstrip().startswith("{")), None)
    if first is None:
        raise ValueError("No start of json char found")
    lines = lines[first:]
    last = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].rstrip().endswith("}")), None)
    if last is None:
        raise ValueError("No end of json char found")
    junk = lines[last + 1 :]
    warnings = []
    if junk:
        warnings.append("Module invocation had junk after the JSON data: " + "\n".join(junk))
    return "\n".join(lines[: last + 1]), warnings


def parse_output(res: CommandResult) -> dict[str, Any]:
    """A program's result; a crash becomes ansible-core 2.19's deserialization failure.

    ``{"failed": true, "msg": "Module result deserialization failed: <why>",
    "module_stdout", "module_stderr", "rc"}`` — older ansible-core said
    ``MODULE FAILURE\\nSee stdout/stderr for the exact error`` with the same keys.
    """
    out = res.stdout.decode("utf-8", "replace")
    err = res.stderr.decode("utf-8", "replace")
    try:
        body, warnings = _cut_json(out)
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("module output is not a JSON object")
    except ValueError as exc:
        return {
            "changed": False,
            "failed": True,
            "msg": f"Module result deserialization failed: {exc}",
            "module_stdout": out,
            "module_stderr": err,
            "rc": res.rc,
        }
    if warnings:
        data["warnings"] = [*data.get("warnings", []), *warnings]
    return add_lines(data)


async def run_program(
    ctx: TaskContext, name: str, module: str, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Run target program ``name`` for ``module`` with validated ``params``; its result."""
    prog = program(name)
    path = _known_path(ctx, prog)
    if path is None and ctx.become is None:
        path = await _ship(ctx, prog)
    res = await ctx.conn.run(
        _argv(ctx, prog, path),
        stdin=request(ctx, module, params),
        env=ctx.environment or None,
        become=ctx.become,
    )
    return parse_output(res)


def program_job(
    ctx: TaskContext,
    name: str,
    module: str,
    params: Mapping[str, Any],
    jid: str,
    limit: float,
) -> JobSpec:
    """A job running target program ``name``; the supervisor parses its JSON (``result="json"``)."""
    prog = program(name)
    return JobSpec(
        jid=jid,
        limit=limit,
        argv=_argv(ctx, prog, _known_path(ctx, prog)),
        env=dict(ctx.environment),
        stdin=request(ctx, module, params),
        result="json",
        module=module,
        async_dir=ctx.async_dir,
        become=ctx.become,
    )


# --------------------------------------------------------------------------- module bases


def short_name(ctx: TaskContext) -> str:
    """The action's short name (``ansible.builtin.copy`` -> ``copy``) for messages."""
    return ctx.action.rsplit(".", 1)[-1]


def async_unsupported(ctx: TaskContext) -> ModuleFailure:
    """ansible-core 2.17+'s refusal of ``async`` on an action that does not support it."""
    return ModuleFailure(f"This action ({short_name(ctx)}) does not support async.", changed=False)


class ProgramModule:
    """A module that validates its arguments and runs one target program — sync or as a job.

    Subclasses set ``names``, ``spec`` and ``program`` and may refine `params`.
    """

    names: ClassVar[tuple[str, ...]]
    supports_async: ClassVar[bool] = True
    spec: ClassVar[Spec]
    program: ClassVar[str]
    check_mode: ClassVar[bool] = True
    """False: ansible-core skips the module in check mode (``supports_check_mode=False``)."""

    def params(self, ctx: TaskContext) -> dict[str, Any]:
        """The validated parameters sent to the program; `ModuleFailure` on bad arguments."""
        return self.spec.validate(ctx.args)

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        """Validate, then run the program once; its result (check mode skips if unsupported)."""
        params = self.params(ctx)
        if ctx.check_mode and not self.check_mode:
            return check_mode_skip(self.names[0])
        return await run_program(ctx, self.program, self.names[0], params)

    def job(self, ctx: TaskContext, jid: str, limit: float) -> JobSpec:
        """The same program as a job; `ModuleFailure` for bad arguments (or no async)."""
        if not self.supports_async:
            raise async_unsupported(ctx)
        # Check mode is decided inside the program too, so a job needs no special case.
        return program_job(ctx, self.program, self.names[0], self.params(ctx), jid, limit)


def check_mode_skip(module: str) -> dict[str, Any]:
    """What ansible-core returns for a module without check-mode support, in check mode."""
    return {
        "changed": False,
        "skipped": True,
        "msg": f"remote module ({module}) does not support check mode",
    }
