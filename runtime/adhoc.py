"""Ad-hoc commands: the one-task play of ``ansible PATTERN -m MODULE -a ARGS``, and its output.

The play is the one ansible-core's ``AdHocCLI._play_ds`` builds (semantics
reference §5): hosts = the pattern, no fact gathering, one task whose ``async``
and ``poll`` are set only when ``-B`` or ``-P`` is non-zero and the module is not
an include.  It is made directly as IR (no YAML, no compiler pass), so the node
kind follows from the options alone:

* ``-B 0`` (or an include) — `Blocking`: ``-P`` without ``-B`` runs synchronously;
* ``-B N -P 0`` — `Detached`: each host prints its launch record at once;
* ``-B N -P M`` — `Polled`: every host's job is launched (launches bounded by
  ``-f``) before any result is awaited, and waiting holds no fork, which is the
  "smart poll" of Ansible 1.x that 2.x lost; the target's supervisor stops the
  job at exactly ``N`` seconds;
* ``-m async_status`` — `Join`: reads the job's status file, so it works from any
  later run.

The output is ansible-core's ``minimal`` stdout callback (``oneline`` with
``-o``), line for line, so scripts that parse ``ansible``'s output parse ours.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TextIO

from playgraph.compiler.catalog import REQUIRE_ARGS, Catalog, ModuleKind, default_catalog
from playgraph.compiler.ir import Blocking, Detached, Join, Node, Play, Polled
from playgraph.compiler.spans import Span
from playgraph.grammar import ArgsSyntaxError, parse_args

from playgraph.semantics import builtin_name

from . import config as _config
from .connection.base import Connection, TargetUnreachable
from .context import RunContext
from .display import DUMP_DROPPED
from .jobs import JobError
from .results import Result, is_changed, is_failed, is_skipped, is_unreachable
from .tracing import Event, EventKind

__all__ = [
    "ADHOC_PLAY_NAME",
    "AdhocDisplay",
    "AdhocError",
    "AdhocSpec",
    "JobTarget",
    "adhoc_span",
    "build_play",
    "format_minimal",
    "format_oneline",
    "guarded",
    "job_targets",
    "kill_jobs",
    "list_jobs",
    "module_args",
    "status_play",
]

ADHOC_PLAY_NAME = "Ansible Ad-Hoc"


def adhoc_span(module: str) -> Span:
    """Where an ad-hoc task "is", named as ansible-core names its origin in errors."""
    return Span(file=f"<adhoc {module!r} task>", start=0, end=0, line=1, column=1)


# ansible-core's tables (constants.py) name modules as the user wrote them:
# the short name, its ansible.builtin/ansible.legacy FQCNs, the moved Windows ones.
_NO_JSON = frozenset({"command", "shell", "raw", "win_command", "win_shell"})
"""``MODULE_NO_JSON``: results shown as ``host | CHANGED | rc=0 >>`` plus the output."""
_WINDOWS_MOVED = frozenset({"ansible.windows.win_command", "ansible.windows.win_shell"})


class AdhocError(Exception):
    """An ad-hoc command that cannot be built (a usage problem: one line, exit 5)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AdhocSpec:
    """What ``playgraph adhoc`` was asked to do."""

    pattern: str
    module: str = "command"
    args: str = ""
    background: int = 0
    """``-B``: the job's time limit in seconds; 0 runs the task synchronously."""
    poll: int = 15
    """``-P``: seconds between polls (0: fire and forget); ignored without ``-B``."""
    become: bool = False
    become_user: str | None = None


def _table_name(name: str) -> str | None:
    """The name by which ansible-core's module tables know ``name`` (None: not listed)."""
    if name in _WINDOWS_MOVED:
        return name.rsplit(".", 1)[-1]
    return builtin_name(name)


def requires_args(module: str) -> bool:
    short = _table_name(module)
    return short is not None and short in REQUIRE_ARGS


def is_no_json(action: str) -> bool:
    """Whether ``action`` (as written or as an ansible.builtin FQCN) is shown in the rc form."""
    short = _table_name(action)
    return short is not None and short in _NO_JSON


def module_args(module: str, text: str) -> dict[str, Any]:
    """``-a`` as ansible-core reads it: a JSON object, else ``key=value`` words (``parse_kv``).

    Free-form modules (``command``, ``shell``, ``raw``, ``script``) keep every word
    but their own few options in ``_raw_params``, as written.
    """
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed:
            return parsed
    if not stripped:
        return {}
    try:
        return dict(parse_args(text, raw_params=requires_args(module)).as_dict())
    except ArgsSyntaxError as error:
        raise AdhocError(
            "failed at splitting arguments, either an unbalanced jinja2 block or quotes: "
            f"{text} ({error.message})"
        ) from None


def build_play(spec: AdhocSpec, catalog: Catalog | None = None) -> Play:
    """The one-task play for ``spec``; raises `AdhocError` for what ansible rejects up front."""
    catalog = catalog or default_catalog()
    name = spec.module.strip()
    if not name:
        raise AdhocError("a module name is required (-m)")
    resolution = catalog.resolve_with_redirect(name)
    if resolution is None:
        suggestion = catalog.suggest_module(name)
        hint = f"; did you mean '{suggestion}'?" if suggestion else ""
        raise AdhocError(f"couldn't resolve module/action '{name}'{hint}")
    info = resolution.info
    if info is not None and info.removed:
        reason = info.message or "it is no longer available"
        raise AdhocError(f"module '{name}' has been removed: {reason}")
    short = resolution.fqcn.rsplit(".", 1)[-1]
    if short == "import_playbook" and resolution.fqcn.startswith("ansible.builtin."):
        raise AdhocError(f"'{name}' is not a valid action for ad-hoc commands")
    if requires_args(name) and not spec.args.strip():
        raise AdhocError(f"No argument passed to {name} module")
    if spec.background < 0:
        raise AdhocError("the background time limit (-B) must be >= 0")
    args = module_args(name, spec.args)
    include = info is not None and info.kind is ModuleKind.INCLUDE
    # ansible-core: `async_val`/`poll` go on the task only when one of them is set,
    # never on an include; -P without -B is async 0, i.e. synchronous.
    background = 0 if include else spec.background
    common: dict[str, Any] = dict(
        id="play[0].tasks[0]",
        name=name,
        action=resolution.fqcn,
        args=args,
        span=adhoc_span(name),
    )
    node: Node
    if background == 0 and resolution.fqcn == "ansible.builtin.async_status":
        node = Join(jid=args.get("jid"), mode=str(args.get("mode", "status")), **common)
    elif background == 0:
        node = Blocking(poll=None if include else spec.poll, **common)
    elif spec.poll <= 0:
        # A negative poll launches and never polls, as in ansible-core (`poll > 0` check).
        node = Detached(async_limit=background, **common)
    else:
        node = Polled(async_limit=background, poll=spec.poll, **common)
    return Play(
        id="play[0]",
        name=ADHOC_PLAY_NAME,
        hosts=spec.pattern,
        gather_facts=False,
        become=spec.become,
        become_user=spec.become_user,
        tasks=(node,),
        span=adhoc_span(name),
    )


def status_play(pattern: str, jids: Sequence[str]) -> Play:
    """``-m async_status -a jid=JID`` for each jid, one task each (``playgraph jobs status``)."""
    play: Play | None = None
    tasks: list[Node] = []
    for index, jid in enumerate(jids):
        # As a JSON object: a jid is taken as it is, never split into words.
        spec = AdhocSpec(pattern=pattern, module="async_status", args=json.dumps({"jid": jid}))
        play = build_play(spec)
        task = play.tasks[0]
        assert isinstance(task, Join)  # build_play makes an async_status task a join
        tasks.append(replace(task, id=f"play[0].tasks[{index}]"))
    if play is None:
        raise AdhocError("no job id given")
    return replace(play, tasks=tuple(tasks))


# --------------------------------------------------------------------------- output

_STATUS_KEYS = frozenset({"failed", "skipped"})
"""Stripped by ``TaskResult.as_callback_task_result``: the event type says it."""
_DEBUG_KEPT = frozenset({"msg", "exception", "warnings", "deprecations"})
_DEBUG_HIDDEN = frozenset(
    {"changed", "failed", "skipped", "invocation", "skip_reason", "ansible_loop_var",
     "ansible_index_var", "ansible_loop"}
)  # fmt: skip


def _strip_internal(value: Any) -> Any:
    """Without ``_ansible_*`` (ansible's ``strip_internal_keys``) and our ``_playgraph*`` keys."""
    if isinstance(value, Mapping):
        return {
            k: _strip_internal(v)
            for k, v in value.items()
            if not (isinstance(k, str) and k.startswith(("_ansible_", "_playgraph")))
        }
    if isinstance(value, list):
        return [_strip_internal(v) for v in value]
    return value


def _shown(result: Mapping[str, Any]) -> dict[str, Any]:
    shown = _strip_internal({k: v for k, v in result.items() if k not in _STATUS_KEYS})
    assert isinstance(shown, dict)
    for key in DUMP_DROPPED:
        shown.pop(key, None)
    return shown


def _dump(result: Mapping[str, Any], indent: int) -> str:
    # ansible indents results that ask for it (debug) even where the callback asks
    # for none: `indent=0` is falsy there.
    if not indent and result.get("_ansible_verbose_always"):
        indent = 4
    shown = _shown(result)
    return json.dumps(shown, indent=indent, sort_keys=True, ensure_ascii=False, default=str)


def _clean_debug(action: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """``CallbackBase._clean_results``: debug shows its message (or variable) alone."""
    if _table_name(action) != "debug":
        return dict(result)
    if "msg" in result:
        return {k: v for k, v in result.items() if k in _DEBUG_KEPT or k.startswith("_")}
    return {k: v for k, v in result.items() if k not in _DEBUG_HIDDEN}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _rc(result: Mapping[str, Any]) -> Any:
    return result.get("rc", -1)


def format_minimal(host: str, action: str, result: Mapping[str, Any]) -> str:
    """One host's result as the ``minimal`` callback prints it (ends without a newline)."""
    if is_unreachable(result):
        return f"{host} | UNREACHABLE! => {_dump(result, 4)}"
    if is_failed(result):
        if is_no_json(action) and "module_stderr" not in result:
            return _generic_minimal(host, result, "FAILED")
        return f"{host} | FAILED! => {_dump(result, 4)}"
    if is_skipped(result):
        return f"{host} | SKIPPED"
    cleaned = _clean_debug(action, result)
    state = "CHANGED" if is_changed(result) else "SUCCESS"
    if is_no_json(action) and "ansible_job_id" not in result:
        return _generic_minimal(host, cleaned, state)
    return f"{host} | {state} => {_dump(cleaned, 4)}"


def _generic_minimal(host: str, result: Mapping[str, Any], caption: str) -> str:
    body = _text(result.get("stdout", "")) + _text(result.get("stderr", ""))
    body += _text(result.get("msg", ""))
    return f"{host} | {caption} | rc={_rc(result)} >>\n{body}"


def _escaped(value: Any) -> str:
    return _text(value).replace("\n", "\\n").replace("\r", "\\r")


def _generic_oneline(host: str, result: Mapping[str, Any], caption: str) -> str:
    stdout = _escaped(result.get("stdout", ""))
    if result.get("stderr"):
        stderr = _escaped(result["stderr"])
        return f"{host} | {caption} | rc={_rc(result)} | (stdout) {stdout} (stderr) {stderr}"
    return f"{host} | {caption} | rc={_rc(result)} | (stdout) {stdout}"


def format_oneline(host: str, action: str, result: Mapping[str, Any]) -> str:
    """One host's result as the ``oneline`` callback (``-o``) prints it.

    A failed command is two lines, the rc form then the JSON, as ansible-core 2.19
    prints it (its failed results always carry an exception, which adds the first).
    """
    if is_unreachable(result):
        return f"{host} | UNREACHABLE!: {_text(result.get('msg', ''))}"
    if is_failed(result):
        line = f"{host} | FAILED! => {_dump(result, 0).replace(chr(10), '')}"
        if is_no_json(action) and "module_stderr" not in result:
            return _generic_oneline(host, result, "FAILED") + "\n" + line
        return line
    if is_skipped(result):
        return f"{host} | SKIPPED"
    state = "CHANGED" if is_changed(result) else "SUCCESS"
    if is_no_json(action) and "ansible_job_id" not in result:
        return _generic_oneline(host, result, state)
    return f"{host} | {state} => {_dump(result, 0).replace(chr(10), '')}"


class AdhocDisplay:
    """A tracer subscriber printing each host's result as it arrives, as ``ansible`` does.

    Warnings go to ``errors`` as ``[WARNING]: ...`` lines; results to ``stream``.
    """

    def __init__(
        self,
        nodes: Mapping[str, Node],
        stream: TextIO | None = None,
        errors: TextIO | None = None,
        *,
        one_line: bool = False,
    ) -> None:
        self.nodes = nodes
        self.stream = stream or sys.stdout
        self.errors = errors or sys.stderr
        self.one_line = one_line

    def __call__(self, event: Event) -> None:
        if event.kind is not EventKind.NODE_FINISHED or event.host is None:
            return
        node = self.nodes.get(event.node or "")
        # The name as typed (-m) decides the rc form, as in ansible's tables.
        action = (node.name or node.action) if node is not None else ""
        result: Mapping[str, Any] = event.data.get("result", {})
        for warning in _as_list(result.get("warnings")):
            self.errors.write(f"[WARNING]: {warning}\n")
        for deprecation in _as_list(result.get("deprecations")):
            text = deprecation.get("msg") if isinstance(deprecation, Mapping) else deprecation
            self.errors.write(f"[DEPRECATION WARNING]: {text}\n")
        self.errors.flush()
        fmt = format_oneline if self.one_line else format_minimal
        self.stream.write(fmt(event.host, action, result) + "\n")
        self.stream.flush()


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


# --------------------------------------------------------------------------- job control
#
# What `ansible` lacks (ansible/ansible#12619): list, kill and clean up the jobs on
# a host.  Everything goes through the connection to the target's supervisor, so
# these work on any job whose status file is in the host's async dir, whichever
# run started it.

"""Sidecar states of jobs whose process is gone: their files may be removed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobTarget:
    """A host's jobs: the connection to its supervisor and its async dir."""

    host: str
    conn: Connection
    async_dir: str


def job_targets(run: RunContext, hosts: Sequence[str]) -> list[JobTarget]:
    """Each host's connection and ``ansible_async_dir`` (from inventory and ``-e``)."""
    targets = []
    for host in hosts:
        variables = run.templar.lazy(run.host_layers(host, None))
        async_dir = _config.async_dir(variables, _config.current())
        conn = run.connection(host, None, variables)
        targets.append(JobTarget(host=host, conn=conn, async_dir=async_dir))
    return targets


async def guarded(call: Awaitable[Result]) -> Result:
    """A host's result; an unreachable target or a refusing supervisor become results too."""
    try:
        return await call
    except TargetUnreachable as error:
        return {"unreachable": True, "changed": False, "msg": str(error)}
    except (JobError, OSError) as error:
        return {"failed": True, "changed": False, "msg": str(error)}


async def list_jobs(target: JobTarget, *, now: float) -> Result:
    """``{"jobs": [...]}``: every job record of the host's async dir, with its ``age``."""

    async def run() -> Result:
        await target.conn.connect()
        jobs = await target.conn.list_jobs(async_dir=target.async_dir)
        shown = []
        for meta in jobs:
            entry = {k: v for k, v in meta.items() if k not in ("supervisor_pid", "terminating")}
            start = meta.get("start")
            if isinstance(start, int | float) and start > 0:
                entry["age"] = max(0.0, now - float(start))
            shown.append(entry)
        return {"changed": False, "async_dir": target.async_dir, "jobs": shown}

    return await guarded(run())


async def kill_jobs(target: JobTarget, jids: Sequence[str]) -> list[Result]:
    """Stop each running job's process group (recorded as killed); one result per jid.

    A job that has already ended is left alone (``changed: false``); an unknown
    jid fails with async_status's ``could not find job``.
    """

    async def kill(jid: str) -> Result:
        conn, async_dir = target.conn, target.async_dir
        await conn.connect()
        status = (await conn.job_status([jid], async_dir=async_dir))[jid]
        if status.get("msg") == "could not find job":
            return {**status, "changed": False, "failed": True}
        if not status.get("finished"):
            record = await conn.kill_job(jid, async_dir=async_dir)
            if record is None:
                return {**status, "changed": False, "failed": True, "msg": "could not find job"}
            if record.get("killed"):
                return {**record, "changed": True, "failed": False}
            status = record
        return {
            "ansible_job_id": jid,
            "changed": False,
            "failed": False,
            "finished": True,
            "results_file": status.get("results_file"),
            "msg": "the job had already ended",
            "job_failed": bool(status.get("failed")),
        }

    return [await guarded(kill(jid)) for jid in jids]
