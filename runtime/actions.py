"""Actions that run on the controller: debug, set_fact, assert, fail, pause, meta, includes, ...

Each returns a result dict in Ansible's shape.  ``meta`` and the includes only
describe what the scheduler must do (``_playgraph_meta``, ``_playgraph_include``);
the scheduler acts on them, because they change the host's path through the play.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import yaml
from playgraph.compiler.ir import BlockStep, Node, Step

from .ansible_modules import available
from .context import RunContext
from .facts import setup
from .modules.base import ModuleFailure
from .templating import UNTRUSTED_EXPRESSION, TemplateError, UnsafeText, mark_unsafe
from .validate_spec import validate_argument_spec

Result = dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionCall:
    run: RunContext
    node: Node
    host: str
    args: dict[str, Any]
    variables: Any


Action = Callable[[ActionCall], Awaitable[Result]]


async def debug(call: ActionCall) -> Result:
    verbosity = int(call.args.get("verbosity", 0) or 0)
    if verbosity > call.run.options.verbosity:
        return {"changed": False, "skipped": True, "skipped_reason": "Verbosity threshold not met."}
    if "var" in call.args:
        if isinstance(call.args["var"], UnsafeText):  # made by a template: data, not an expression
            return {
                "failed": True,
                "changed": False,
                "msg": f"Task failed: Error while resolving `var` expression: {UNTRUSTED_EXPRESSION}",
            }
        name = str(call.args["var"])
        try:
            value = call.run.templar.render("{{ " + name + " }}", call.variables)
        except TemplateError:
            value = "VARIABLE IS NOT DEFINED!"
        return {name: value, "changed": False, "_ansible_verbose_always": True}
    return {
        "msg": call.args.get("msg", "Hello world!"),
        "changed": False,
        "_ansible_verbose_always": True,
    }


async def set_fact(call: ActionCall) -> Result:
    facts = {k: v for k, v in call.args.items() if k != "cacheable"}
    state = call.run.state(call.host)
    state.facts.update(facts)
    return {"ansible_facts": facts, "changed": False}


async def assert_(call: ActionCall) -> Result:
    that = call.args.get("that")
    if that is None:
        return {"failed": True, "changed": False, "msg": "missing required arguments: that"}
    conditions = that if isinstance(that, list) else [that]
    for condition in conditions:
        if not call.run.templar.evaluate(condition, call.variables):
            msg = call.args.get("fail_msg", call.args.get("msg", "Assertion failed"))
            return {
                "failed": True,
                "changed": False,
                "assertion": condition,
                "evaluated_to": False,
                "msg": msg,
            }
    result: Result = {
        "changed": False,
        "msg": call.args.get("success_msg", "All assertions passed"),
    }
    if not call.args.get("quiet"):
        result["_ansible_verbose_always"] = True
    return result


async def fail(call: ActionCall) -> Result:
    return {
        "failed": True,
        "changed": False,
        "msg": call.args.get("msg", "Failed as requested from task"),
    }


_CONTINUE_OR_ABORT = "(ctrl+C then 'C' = continue early, ctrl+C then 'A' = abort)\r"


def _pause_args(args: Mapping[str, Any]) -> tuple[bool, int | None, int | None, str | None]:
    """``echo``, ``minutes``, ``seconds``, ``prompt`` checked as ansible-core's pause plugin
    (``int`` as a callable, so ``1.5`` is 1; ``minutes`` and ``seconds`` exclusive)."""
    from .modules.args import to_bool

    def number(name: str) -> int | None:
        value = args.get(name)
        if value is None:
            return None
        try:
            return int(value)
        except (TypeError, ValueError) as error:
            raise ModuleFailure(
                f"argument '{name}' is of type {type(value).__name__} and we were unable to "
                f"convert to int: {error}",
                changed=False,
            ) from None

    if args.get("minutes") is not None and args.get("seconds") is not None:
        raise ModuleFailure("parameters are mutually exclusive: minutes|seconds", changed=False)
    echo = to_bool("echo", args["echo"]) if args.get("echo") is not None else True
    prompt = args.get("prompt")
    return echo, number("minutes"), number("seconds"), None if prompt is None else str(prompt)


NO_TERMINAL = (
    "pause waits for input, but stdin is not a terminal: run it on a terminal,"
    " or give the pause `seconds` or `minutes`"
)
"""Why a pause that waits for Enter fails without a terminal."""


async def pause(call: ActionCall) -> Result:
    """Wait for a time, or for the user to press Enter, as ansible-core's pause.

    On a terminal: a prompt (or no time) waits for Enter and records what was typed
    (``user_input``); a timed pause can be cut short by Ctrl+C then ``C``, and Ctrl+C
    then ``A`` fails the task with "user requested abort!".  Without a terminal (stdin
    not a TTY, or the run in the background): a timed pause sleeps; a pause that waits
    for input fails the task (`NO_TERMINAL`).  ansible-core goes on there with a warning,
    which turns a confirmation prompt ("press Enter to wipe the cluster") into no
    confirmation at all: a deliberate difference.
    """
    from .display import CONSOLE, PromptInterrupt, PromptNoninteractive, interactive, prompt_until

    try:
        echo, minutes, seconds_arg, prompt_arg = _pause_args(call.args)
    except ModuleFailure as error:
        return error.result
    name = call.run.task_name(call.node, call.host).strip()
    hidden = "" if echo else " (output is hidden)"
    prompt = f"[{name}]\n{prompt_arg or 'Press enter to continue, Ctrl+C to interrupt'}{hidden}:"
    unit = "minutes"
    seconds: int | None = None
    if minutes is not None:
        seconds = minutes * 60
    elif seconds_arg is not None:
        seconds = seconds_arg
        unit = "seconds"
    result: Result = {
        "changed": False,
        "rc": 0,
        "stderr": "",
        "stdout": "",
        "start": str(datetime.datetime.now()),
        "stop": None,
        "delta": None,
        "echo": echo,
    }
    began = time.monotonic()
    complete: tuple[bytes, ...] | None = None
    if seconds is not None:
        seconds = max(seconds, 1)
    typed_echo = seconds is None and echo  # typed keys show only when Enter ends the pause
    user_input: bytes | None = b""
    # Only an interactive pause holds the terminal (and the other hosts' output with it).
    holding = CONSOLE.prompting() if interactive() else contextlib.nullcontext()
    async with holding:
        if seconds is not None:
            CONSOLE.say(f"Pausing for {seconds} seconds{hidden}")
            if prompt_arg:
                CONSOLE.say(_CONTINUE_OR_ABORT)
            else:
                prompt = _CONTINUE_OR_ABORT  # only the time (or Ctrl+C) ends this pause
            complete = ()  # Enter does not end a timed pause
        try:
            typed = await prompt_until(
                prompt, private=not typed_echo, seconds=seconds, complete_input=complete
            )
        except PromptInterrupt:
            user_input = None
        except PromptNoninteractive:
            if seconds is None:
                return {"failed": True, "changed": False, "msg": NO_TERMINAL}
            await asyncio.sleep(seconds)
        else:
            if seconds is None:
                user_input = typed
        if user_input is None:
            try:
                user_input = await prompt_until(
                    "Press 'C' to continue the play or 'A' to abort \r",
                    private=not typed_echo,
                    interrupt_input=(b"a",),
                    complete_input=(b"c",),
                )
            except PromptInterrupt:
                return {
                    "failed": True,
                    "changed": False,
                    "msg": "Task failed: user requested abort!",
                }
    duration = time.monotonic() - began
    result["stop"] = str(datetime.datetime.now())
    result["delta"] = int(duration)
    # As ansible-core: the time actually paused, rounded to hundredths, in the unit asked.
    shown = round(duration / 60.0, 2) if unit == "minutes" else round(duration, 2)
    result["stdout"] = f"Paused for {shown} {unit}"
    result["user_input"] = user_input.decode(errors="surrogateescape")
    return result


META_ACTIONS = (
    "flush_handlers",
    "end_play",
    "end_host",
    "end_batch",
    "clear_host_errors",
    "clear_facts",
    "noop",
    "refresh_inventory",
    "reset_connection",
    "role_complete",
)


async def meta(call: ActionCall) -> Result:
    what = str(call.args.get("_raw_params", call.args.get("free_form", ""))).strip()
    if what not in META_ACTIONS:
        return {"failed": True, "changed": False, "msg": f"invalid meta action requested: {what}"}
    if what == "clear_facts":
        call.run.state(call.host).facts.clear()
    return {"changed": False, "skipped": False, "_playgraph_meta": what}


async def include(call: ActionCall) -> Result:
    """``include_tasks``/``include_role``: compiled here, for this host (the file may differ
    per host); the scheduler splices the steps (``_playgraph_include``) into its path."""
    # The compiler's parsers are imported only when a run reaches an include.
    from playgraph.compiler.lower import MAX_NESTING, compile_role, compile_task_file
    from playgraph.compiler.result import CompileOptions

    from .config import current_resolve_settings

    short = call.node.action.rsplit(".", 1)[-1]
    # Included nodes' ids carry one ".include" per level: a file that includes itself
    # fails here, located, instead of recursing until the stack runs out.
    if call.node.id.count(".include") >= MAX_NESTING:
        span = call.node.span
        return {
            "failed": True,
            "changed": False,
            "msg": f"{span.file}:{span.line}:{span.column}: {short} nests more than "
            f"{MAX_NESTING} levels deep; does a file include itself?",
        }
    # Each include (each loop item's too) gets node ids of its own.
    state = call.run.state(call.host)
    state.includes += 1
    prefix = f"{call.node.id}.include{state.includes}"
    base = call.run.options.playbook_dir
    if short == "include_role":
        name = call.args.get("name")
        if not isinstance(name, str):
            return {
                "failed": True,
                "changed": False,
                "msg": "'name' is a required field for include_role.",
            }
        steps, _handlers, diagnostics = compile_role(
            name,
            id_prefix=prefix,
            base_dir=base,
            tasks_from=str(call.args.get("tasks_from", "main")),
            # Roles and modules found as `check` finds them (ansible.cfg, ANSIBLE_*).
            options=CompileOptions(resolve=current_resolve_settings()),
        )
        shown: Result = {"changed": False, "include_role": name}
    else:
        target = call.args.get("file", call.args.get("_raw_params"))
        if not isinstance(target, str) or not target.strip():
            return {"failed": True, "changed": False, "msg": "No file specified for include_tasks"}
        target = target.strip()
        shown = {"changed": False, "include": target}
        path = target
        if not os.path.isabs(target):
            # Next to the including file first, then the playbook's directory (as Ansible).
            path = os.path.join(os.path.dirname(call.node.span.file) or ".", target)
            if not os.path.exists(path):
                path = os.path.join(base, target)
        if not os.path.isfile(path):
            where = os.path.abspath(path)
            return shown | {
                "failed": True,
                "reason": f"Could not find or access '{where}' on the Ansible Controller.",
            }
        steps, diagnostics = compile_task_file(
            path,
            id_prefix=f"{prefix}[{os.path.basename(target)}]",
            options=CompileOptions(resolve=current_resolve_settings()),
        )
    errors = [d for d in diagnostics if d.severity.value == "error"]
    if errors:
        first = errors[0]
        place = f"{first.span.file}:{first.span.line}:{first.span.column}"
        return shown | {"failed": True, "reason": f"{place}: {first.code}: {first.message}"}
    return shown | {"_playgraph_include": _with_vars(steps, _include_params(call))}


def _include_params(call: ActionCall) -> dict[str, Any]:
    """What the included tasks see beyond their own vars: the include's ``vars`` and,
    in a loop, the loop variables of this item (values, never re-rendered)."""
    params: dict[str, Any] = dict(call.node.vars)
    variables = call.variables
    loop_var = variables.get("ansible_loop_var") if isinstance(variables, Mapping) else None
    if isinstance(loop_var, str):
        names = [loop_var, "ansible_loop_var", "ansible_loop"]
        index_var = variables.get("ansible_index_var")
        if isinstance(index_var, str):
            names += [index_var, "ansible_index_var"]
        params |= {name: mark_unsafe(variables[name]) for name in names if name in variables}
    return params


def _with_vars(steps: tuple[Step, ...], params: Mapping[str, Any]) -> tuple[Step, ...]:
    """``steps`` with ``params`` over each task's vars (include params beat task vars)."""
    if not params:
        return steps
    out: list[Step] = []
    for step in steps:
        if isinstance(step, BlockStep):
            out.append(
                replace(
                    step,
                    block=_with_vars(step.block, params),
                    rescue=_with_vars(step.rescue, params),
                    always=_with_vars(step.always, params),
                )
            )
        else:
            out.append(replace(step, vars={**step.vars, **params}))
    return tuple(out)


async def include_vars(call: ActionCall) -> Result:
    target = call.args.get("file", call.args.get("_raw_params"))
    if not isinstance(target, str):
        return {"failed": True, "changed": False, "msg": "include_vars needs a file"}
    path = (
        target
        if os.path.isabs(target)
        else os.path.join(call.run.options.playbook_dir, "vars", target)
    )
    if not os.path.exists(path):
        path = os.path.join(call.run.options.playbook_dir, target)
    try:
        with open(path, encoding="utf-8") as handle:
            from .filters import load_vars_yaml

            data = load_vars_yaml(handle) or {}
    except (OSError, yaml.YAMLError) as error:
        return {
            "failed": True,
            "changed": False,
            "msg": f"Could not find or access '{target}': {error}",
        }
    if not isinstance(data, dict):
        return {
            "failed": True,
            "changed": False,
            "msg": f"{target} must be stored as a dictionary/hash",
        }
    name = call.args.get("name")
    facts = {str(name): data} if name else data
    call.run.state(call.host).included_vars.update(facts)
    return {
        "ansible_facts": facts,
        "ansible_included_var_files": [os.path.abspath(path)],
        "changed": False,
    }


async def add_host(call: ActionCall) -> Result:
    name = call.args.get("name", call.args.get("hostname", call.args.get("host")))
    if not isinstance(name, str):
        return {"failed": True, "changed": False, "msg": "add_host needs a name"}
    groups = call.args.get("groups", call.args.get("group", call.args.get("groupname", [])))
    if isinstance(groups, str):
        groups = [g.strip() for g in groups.split(",") if g.strip()]
    host_vars = {
        k: v
        for k, v in call.args.items()
        if k not in ("name", "hostname", "host", "groups", "group", "groupname")
    }
    changed = call.run.inventory.add_host(name, groups, host_vars)
    return {
        "add_host": {"host_name": name, "groups": list(groups), "host_vars": host_vars},
        "changed": changed,
    }


async def group_by(call: ActionCall) -> Result:
    key = call.args.get("key")
    if not isinstance(key, str):
        return {
            "failed": True,
            "changed": False,
            "msg": "the 'key' param is required when using group_by",
        }
    parents = call.args.get("parents", ["all"])
    if isinstance(parents, str):
        parents = [parents]
    group = key.replace(" ", "-")
    changed = call.run.inventory.add_group(group, host=call.host, parents=parents)
    return {"add_group": group, "parent_groups": list(parents), "changed": changed}


async def set_stats(call: ActionCall) -> Result:
    data = call.args.get("data", {})
    if isinstance(data, Mapping):
        stats = call.run.document.custom_stats
        per_host = bool(call.args.get("per_host", False))
        target = stats.setdefault(call.host, {}) if per_host else stats.setdefault("_run", {})
        for key, value in data.items():
            if (
                call.args.get("aggregate", True)
                and key in target
                and isinstance(value, int | float)
            ):
                target[key] += value
            else:
                target[key] = value
    return {"ansible_stats": {"data": data}, "changed": False}


async def gather(call: ActionCall) -> Result:
    """``setup`` (the module's own result) and ``gather_facts`` (ansible-core's action:
    the facts, warnings and deprecations of ``setup``; a failure names the module)."""
    if call.node.action.rsplit(".", 1)[-1] == "setup":
        return await setup(call.run, call.host, call.node, call.variables, call.args)
    args = {k: v for k, v in call.args.items() if k != "parallel" and v is not None}
    result = await setup(call.run, call.host, call.node, call.variables, args)
    if result.get("failed"):
        return {
            "failed": True,
            "changed": False,
            "msg": "The following modules failed to execute: ansible.legacy.setup.",
            "failed_modules": {"ansible.legacy.setup": result},
        }
    gathered: Result = {"ansible_facts": result.get("ansible_facts", {}), "changed": False}
    for key in ("warnings", "deprecations"):
        if result.get(key):
            gathered[key] = result[key]
    return gathered


async def wait_for_connection(call: ActionCall) -> Result:
    conn = call.run.connection(call.host, call.node, call.variables)
    start = time.time()
    await conn.connect()
    return {"changed": False, "elapsed": int(time.time() - start)}


CONTROLLER_ACTIONS: dict[str, Action] = {
    "debug": debug,
    "set_fact": set_fact,
    "assert": assert_,
    "fail": fail,
    "pause": pause,
    "meta": meta,
    "include_tasks": include,
    "include_role": include,
    "include_vars": include_vars,
    "add_host": add_host,
    "group_by": group_by,
    "set_stats": set_stats,
    "gather_facts": gather,
    "setup": gather,
    "wait_for_connection": wait_for_connection,
    "validate_argument_spec": lambda call: validate_argument_spec(call.args, call.variables),
}

if available():
    # ansible-core has no action plugin for ``setup``: it is a module like any other
    # (polled and detached too), so the generic path runs it and the executor keeps
    # its facts.  Without ansible-core the fallback facts answer it here.
    del CONTROLLER_ACTIONS["setup"]
