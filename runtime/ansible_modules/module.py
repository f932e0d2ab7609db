"""The generic module: any module ansible-core can resolve, run from its AnsiballZ payload.

Per call only the arguments travel: the payload (`payload.Payload`, built once
per module on the controller) and the runner (``runtime/target/ansible_runner.py``)
are shipped once per connection into the target's program cache
(``~/.cache/playgraph/modules/<sha>/<module>.zip`` beside the target programs),
probed once per connection.  The runner imports the zip's files from a folder it
extracts beside it once, so their bytecode is cached there too.  On the local connection both run from where they
are.  Under ``become`` they travel inline instead (the other user may not be able
to read our copies): the runner's source with ``python -c``, the zip as base64 in
the request, written by the runner to a private temporary folder.

A synchronous call without ``become`` goes to the target's warm module server
(`forkserver`: one interpreter per target that forks a child per call) when it can,
and takes the per-call path described above when it cannot.

A job (``async``) runs the same command under the job supervisor
(``result="json"``): the supervisor enforces the limit and parses the module's
JSON.  `GenericModule.prepare` does the I/O a job needs first (resolve, build,
ship), since `JobSpec`s are built synchronously.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from ..connection.base import CommandResult
from ..connection.local import LocalConnection
from ..jobspec import JobSpec
from ..modules import remote
from ..modules.base import ModuleFailure, TaskContext
from . import forkserver
from . import payload as _payload
from . import resolve as _resolve
from . import script as _script

RUNNER_PATH = Path(__file__).resolve().parent.parent / "target" / "ansible_runner.py"
TARGET_CACHE = remote.CACHE_DIR
"""Relative to the remote user's home: the target programs' cache (content-addressed)."""


@cache
def runner() -> remote.Program:
    source = RUNNER_PATH.read_bytes()
    return remote.Program(
        "ansible_runner", RUNNER_PATH, source, hashlib.sha256(source).hexdigest()[:20]
    )


@dataclass(frozen=True, slots=True)
class Prepared:
    """A module resolved and built, with ansible-core's settings its calls carry."""

    resolved: _resolve.Resolved
    payload: _payload.Payload
    settings: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PreparedScript:
    """A module resolved that is not AnsiballZ Python (`script`)."""

    resolved: _resolve.Resolved
    script: _script.Script
    settings: Mapping[str, Any]


_prepared: dict[tuple[str, str, bool, str | None], Prepared | PreparedScript] = {}
"""(name, playbook dir, action plugins checked, role dir) -> what `_prepare_sync` found
(one run's process)."""


def _settings() -> dict[str, Any]:
    """The ansible-core configuration the ``_ansible_*`` arguments carry (ansible.cfg, env)."""
    from ansible import constants as C
    from ansible.release import __version__

    return {
        "version": __version__,
        "no_target_syslog": bool(C.config.get_config_value("DEFAULT_NO_TARGET_SYSLOG")),
        "debug": bool(C.DEFAULT_DEBUG),
        "syslog_facility": C.DEFAULT_SYSLOG_FACILITY,
        "selinux_special_fs": list(C.DEFAULT_SELINUX_SPECIAL_FS),
        "keep_remote_files": bool(C.DEFAULT_KEEP_REMOTE_FILES),
        "target_log_info": C.config.get_config_value("TARGET_LOG_INFO"),
    }


def _prepare_sync(
    name: str, playbook_dir: str, args: Mapping[str, Any] | None, role_dir: str | None = None
) -> Prepared | PreparedScript:
    checked = args is not None
    key = (name, playbook_dir, checked, role_dir)
    found = _prepared.get(key)
    if found is not None and not (checked and _needs_recheck(found, args)):
        return found
    resolved = _resolve.resolve(name, playbook_dir, role_dir)
    if checked:
        plugin = _resolve.action_plugin(resolved, dict(args or {}))
        if plugin is not None:
            raise ModuleFailure(
                f"the module '{resolved.fqcn}' needs its controller-side action plugin"
                f" {plugin}, which playgraph does not implement",
                changed=False,
            )
    with _resolve.LOCK:
        settings = _settings()
    built = _payload.get(resolved)
    made: Prepared | PreparedScript
    if isinstance(built, _script.Script):
        made = PreparedScript(resolved, built, settings)
    else:
        made = Prepared(resolved=resolved, payload=built, settings=settings)
    _prepared[key] = made
    return made


def _needs_recheck(found: Prepared | PreparedScript, args: Mapping[str, Any] | None) -> bool:
    # Whether an action plugin is needed can depend on the arguments (uri's ``src``).
    return found.resolved.fqcn == "ansible.builtin.uri" and bool(args and "src" in args)


async def _prepare(
    name: str, ctx: TaskContext, args: Mapping[str, Any] | None
) -> Prepared | PreparedScript:
    # ansible-core's loaders and builder block (and take a lock): off the event loop.
    try:
        return await asyncio.to_thread(_prepare_sync, name, ctx.base_dir, args, ctx.role_dir)
    except ModuleFailure:
        raise
    except Exception as error:  # noqa: BLE001 - ansible-core's failure: this host's, no traceback
        raise ModuleFailure(
            f"ansible-core could not load the module '{name}': {type(error).__name__}: {error}",
            changed=False,
        ) from None


# --------------------------------------------------------------------------- shipping


async def _ship(ctx: TaskContext, built: _payload.Payload) -> str:
    """Make sure the payload is in the target's cache; its absolute path there."""
    known = remote._shipped.get(ctx.conn) or {}
    if built.sha in known:
        return known[built.sha]
    short = built.fqcn.rsplit(".", 1)[-1]
    rel = f"{TARGET_CACHE}/{built.sha}/{short}.zip"
    probe: CommandResult = await ctx.conn.run(["/bin/sh", "-c", remote._SHIP_PROBE, "sh", rel])
    state, _, path = probe.stdout.decode(errors="replace").partition(" ")
    if probe.rc != 0 or state not in ("present", "missing") or not path:
        raise OSError(
            f"could not prepare {TARGET_CACHE} on {ctx.conn.host}: "
            f"{probe.stderr.decode(errors='replace').strip()}"
        )
    if state == "missing":
        await ctx.conn.put_file(built.data, path, mode=0o644)
    remote._shipped.setdefault(ctx.conn, {})[built.sha] = path
    return path


def _zip_where(ctx: TaskContext, built: _payload.Payload) -> str | None:
    """Where the target can read the zip without any I/O now; None: send it inline."""
    if ctx.become is not None:
        return None
    if isinstance(ctx.conn, LocalConnection):
        return built.zip_path or None
    return (remote._shipped.get(ctx.conn) or {}).get(built.sha)


async def _ship_all(ctx: TaskContext, built: _payload.Payload) -> None:
    if ctx.become is not None or isinstance(ctx.conn, LocalConnection):
        return
    try:
        await remote._ship(ctx, runner())
        await _ship(ctx, built)
    except OSError as error:
        raise ModuleFailure(str(error), changed=False) from None


def _argv(ctx: TaskContext) -> list[str]:
    prog = runner()
    path = remote._known_path(ctx, prog)
    # No -I/-S: as ansible-core's wrapper, modules see the target's site-packages,
    # user site and PYTHONPATH; the runner drops its own folder from sys.path first.
    if path is None:
        return [ctx.python, "-c", prog.source.decode()]
    return [ctx.python, path]


# --------------------------------------------------------------------------- requests


def module_args(
    ctx: TaskContext, name: str, args: Mapping[str, Any], settings: Mapping[str, Any]
) -> dict[str, Any]:
    """The module's arguments and the ``_ansible_*`` ones ansible-core's action layer adds."""
    variables = ctx.variables

    def var(key: str, default: Any) -> Any:
        try:
            value = variables.get(key)
        except Exception:  # noqa: BLE001 - an unrenderable variable: the default, as unset
            value = None
        return default if value is None else value

    internal: dict[str, Any] = {
        "_ansible_check_mode": ctx.check_mode,
        "_ansible_no_log": ctx.no_log
        or bool(var("ansible_no_target_syslog", settings["no_target_syslog"])),
        "_ansible_debug": settings["debug"],
        "_ansible_diff": ctx.diff,
        "_ansible_verbosity": ctx.verbosity,
        "_ansible_version": settings["version"],
        "_ansible_module_name": name,
        "_ansible_syslog_facility": var("ansible_syslog_facility", settings["syslog_facility"]),
        "_ansible_selinux_special_fs": settings["selinux_special_fs"],
        "_ansible_socket": None,
        "_ansible_shell_executable": var("ansible_shell_executable", "/bin/sh"),
        "_ansible_keep_remote_files": settings["keep_remote_files"],
        # No per-task remote temp dir: modules make their own under remote_tmp.
        "_ansible_tmpdir": None,
        "_ansible_remote_tmp": var("ansible_remote_tmp", "~/.ansible/tmp"),
        "_ansible_ignore_unknown_opts": False,
        "_ansible_target_log_info": var("ansible_target_log_info", settings["target_log_info"]),
        "_ansible_tracebacks_for": [],
    }
    return {**dict(args), **internal}


def _body(
    ctx: TaskContext, name: str, prepared: Prepared, args: Mapping[str, Any]
) -> dict[str, Any]:
    built = prepared.payload
    params = json.dumps({"ANSIBLE_MODULE_ARGS": module_args(ctx, name, args, prepared.settings)})
    return {
        "module": built.fqcn.rsplit(".", 1)[-1],
        "module_fqn": built.module_fqn,
        "profile": built.profile,
        "extensions": built.extensions,
        "rlimit_nofile": built.rlimit_nofile,
        "params": params,
    }


def request(ctx: TaskContext, name: str, prepared: Prepared, args: Mapping[str, Any]) -> bytes:
    """The runner's stdin: where the payload is (or the payload), and the arguments."""
    built = prepared.payload
    where = _zip_where(ctx, built)
    body = {"zip": where, **_body(ctx, name, prepared, args)}
    if where is None:
        body["zip_b64"] = base64.b64encode(built.data).decode()
    else:
        # Run from the folder extracted beside the cached zip: its bytecode is kept.
        body["sha"] = built.sha
    return json.dumps(body).encode()


# --------------------------------------------------------------------------- results


def clean(result: dict[str, Any]) -> dict[str, Any]:
    """A module's result as ansible-core's action layer leaves it (``_execute_module``)."""
    results = result.get("results")
    if "results" in result and (not isinstance(results, Sequence) or isinstance(results, str)):
        result["ansible_module_results"] = result.pop("results")
        result.setdefault("warnings", []).append(
            "Found internal 'results' key in module return, renamed to 'ansible_module_results'."
        )
    for key in [k for k in result if k.startswith("_ansible_")]:
        del result[key]
    for key in ("warnings", "deprecations"):
        if key in result and not result[key]:
            del result[key]
    facts = result.get("ansible_facts")
    if isinstance(facts, dict):
        for key in [
            k
            for k in facts
            if k.startswith(("discovered_interpreter_", "ansible_discovered_interpreter_"))
        ]:
            del facts[key]
    return result


def _server_argv(ctx: TaskContext) -> list[str]:
    """The fork server's command: the runner from where it is here, else its source."""
    if isinstance(ctx.conn, LocalConnection):
        return [ctx.python, str(RUNNER_PATH), "--serve"]
    return [ctx.python, "-c", runner().source.decode(), "--serve"]


def _server_body(
    ctx: TaskContext, name: str, prepared: Prepared, args: Mapping[str, Any]
) -> dict[str, Any]:
    """The runner's request for a fork server: the payload by its place in the cache."""
    built = prepared.payload
    body = _body(ctx, name, prepared, args)
    body["sha"] = built.sha
    if isinstance(ctx.conn, LocalConnection) and built.zip_path:
        body["zip"] = built.zip_path
    else:
        body["zip"] = None
        body["zip_rel"] = f"{TARGET_CACHE}/{built.sha}/{built.fqcn.rsplit('.', 1)[-1]}.zip"
    return body


def _script_run(
    ctx: TaskContext, name: str, prepared: PreparedScript, args: Mapping[str, Any]
) -> tuple[list[str], bytes]:
    """The command and stdin that run a `script` module with ``args``."""
    given = module_args(ctx, name, args, prepared.settings)
    script = prepared.script
    return _script.command(script, ctx.variables, ctx.python), _script.stdin(script, given)


async def call(
    ctx: TaskContext, name: str, prepared: Prepared | PreparedScript, args: Mapping[str, Any]
) -> dict[str, Any]:
    """Run the module once, synchronously; its cleaned result.

    On the target's fork server when it can (`forkserver`), else in a process of its own.
    """
    if isinstance(prepared, PreparedScript):
        argv, data = _script_run(ctx, name, prepared, args)
        done = await ctx.conn.run(argv, stdin=data, env=ctx.environment or None, become=ctx.become)
        return clean(remote.parse_output(done))
    if forkserver.usable(ctx):
        served = await forkserver.call(
            ctx, _server_argv(ctx), _server_body(ctx, name, prepared, args), prepared.payload.data
        )
        if isinstance(served, CommandResult):
            return clean(remote.parse_output(served))
        if served is not None:
            return served
    await _ship_all(ctx, prepared.payload)
    res = await ctx.conn.run(
        _argv(ctx),
        stdin=request(ctx, name, prepared, args),
        env=ctx.environment or None,
        become=ctx.become,
    )
    return clean(remote.parse_output(res))


class GenericModule:
    """A module run through ansible-core's module machinery (see the package docstring)."""

    names: ClassVar[tuple[str, ...]] = ()
    supports_async: ClassVar[bool] = True

    def __init__(self, name: str, *, check_action_plugin: bool = True) -> None:
        self.name = name
        self._check = check_action_plugin
        """False: run the module even if it has an action plugin (playgraph's controller
        sides run the module this way, after their own controller work)."""
        self._ready: dict[str, Prepared | PreparedScript] = {}
        """Playbook dir -> the prepared module, for `job` (which cannot do I/O)."""

    async def prepare(self, ctx: TaskContext) -> None:
        """Resolve and build the module, and ship it to ``ctx``'s target (before `job`)."""
        prepared = await _prepare(self.name, ctx, ctx.args if self._check else None)
        if isinstance(prepared, Prepared):
            await _ship_all(ctx, prepared.payload)
        self._ready[ctx.base_dir] = prepared

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        prepared = await _prepare(self.name, ctx, ctx.args if self._check else None)
        return await call(ctx, ctx.action, prepared, ctx.args)

    def job(self, ctx: TaskContext, jid: str, limit: float) -> JobSpec:
        prepared = self._ready.get(ctx.base_dir)
        if prepared is None:
            raise ModuleFailure(
                f"the module '{self.name}' was not prepared for a job", changed=False
            )
        if isinstance(prepared, PreparedScript):
            argv, data = _script_run(ctx, ctx.action, prepared, ctx.args)
        else:
            argv, data = _argv(ctx), request(ctx, ctx.action, prepared, ctx.args)
        return JobSpec(
            jid=jid,
            limit=limit,
            argv=argv,
            env=dict(ctx.environment),
            stdin=data,
            result="json",
            module=prepared.resolved.fqcn.rsplit(".", 1)[-1],
            async_dir=ctx.async_dir,
            become=ctx.become,
        )


async def run_module(ctx: TaskContext, fqcn: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Run ``fqcn`` with ``args`` (no action-plugin check: for playgraph's own actions)."""
    prepared = await _prepare(fqcn, ctx, None)
    return await call(ctx, fqcn, prepared, args)
