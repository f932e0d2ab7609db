"""Running one node on one host: templating, loops, retries, async launch and polling, results.

The order of operations per attempt follows ansible-core's TaskExecutor
(specs/scheduling.md, "One task on one host"): run the action; for ``async > 0, poll > 0`` wait for
the job; normalise ``failed``/``changed``; record ``attempts``; register; apply
``changed_when`` then ``failed_when``; then decide ``until``.

Two deliberate improvements (specs/scheduling.md):

* waiting never holds a fork — ``forks`` bounds how many hosts *launch or run*
  at once, not how many wait for their jobs, so every host's job starts before
  anyone polls;
* a poll or a join learns of a job's end when it happens (the supervisor's
  ``wait``), not at the next interval, and a polled task that times out stops
  its job.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import math
import os
from collections.abc import Mapping
from typing import Any

from playgraph.compiler.ir import Detached, Join, Node, Polled
from playgraph.compiler.spans import Span

from playgraph.semantics import builtin_name

from . import actions, facts, interpreters
from . import config as _config
from .ansible_modules import available as ansible_available
from .ansible_modules import generic_module
from .connection.base import Connection, TargetUnreachable
from .context import RunContext
from .controller_modules import controller_module
from .jobs import RUN_ID, JobError, SupervisorTimeout, new_jid, running_record, status_record
from .jobspec import Become
from .modules import ModuleFailure, TaskContext, get_module, module_names
from .results import Result, is_failed, is_skipped, loop_aggregate, normalize, skipped
from .templating import OMIT, TemplateError
from .tracing import EventKind

_TIMEOUT_MESSAGE = "async task did not complete within the requested time - {limit}s"
_WAIT_ANSWER_MARGIN = 0.25
"""Seconds a join's between-attempt wait may take past its delay for the answer to
arrive; past that the next attempt reads the job's status itself."""
MIN_RETRY_INTERVAL = 0.1
"""Seconds a retry of a task that runs on a target (a module, a join) waits at least,
``delay: 0`` included: about what one attempt costs ansible-core."""
_UNKNOWN_ERROR = "Task failed: Action failed: Unknown error."


class _Final(Exception):
    """The action failed before running (bad arguments, async on an action that cannot):
    no retries, as ansible-core's AnsibleActionFail."""

    def __init__(self, result: Result) -> None:
        super().__init__(result.get("msg", ""))
        self.result = result


def _where(span: Span) -> str:
    return f"The error appears to be in '{span.file}': line {span.line}, column {span.column}"


def _failure(message: str, span: Span | None = None) -> Result:
    return {
        "failed": True,
        "changed": False,
        "msg": message + (f"\n\n{_where(span)}" if span else ""),
    }


def _coerce_int(value: Any, field: str) -> int:
    """ansible-core's integer keyword coercion, with its messages (ansible-core's FieldAttribute ``int``)."""
    if isinstance(value, bool):
        raise _Final(
            _failure(
                f"the field '{field}' has an invalid value ({value!r}), and could not be converted to int."
            )
        )
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise _Final(
            _failure(
                f"the field '{field}' has an invalid value ({value}), and could not be converted to int."
            )
        )
    try:
        return int(str(value).strip())
    except ValueError:
        raise _Final(
            _failure(
                f"the field '{field}' has an invalid value ({value!r}), and could not be converted to int."
            )
        ) from None


def _coerce_float(value: Any, field: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _Final(
            _failure(
                f"the field '{field}' has an invalid value ({value!r}), and could not be converted to float."
            )
        ) from None


class Executor:
    """Runs nodes on hosts for one run (stateless between calls apart from the shared context)."""

    def __init__(self, run: RunContext) -> None:
        self.run = run
        # A join's job record the supervisor answered the wait between attempts
        # with (node id, host, jid): the next attempt needs no request of its own.
        self._pushed: dict[tuple[str, str, str], dict[str, Any]] = {}
        # Where each job of this run was launched (jid -> launch node id, host, and the
        # connection, async dir and become it used): its join reads it there without
        # resolving the launch's variables and connection settings again.
        self._launched: dict[str, tuple[str, str, Connection, str, Become | None]] = {}

    # ------------------------------------------------------------------ entry point

    async def run_node(self, node: Node, host: str) -> Result:
        """The host's final result for ``node`` (also registered, facts applied, events emitted)."""
        run = self.run
        state = run.state(host)
        run.emit(EventKind.NODE_STARTED, node.id, host, name=run.task_name(node, host))
        try:
            variables = run.templar.lazy(run.host_layers(host, node))
            result = await self._run_loop_or_item(node, host, variables)
        except TargetUnreachable as error:
            result = {"unreachable": True, "changed": False, "msg": str(error)}
        except _Final as final:
            result = final.result
        except TemplateError as error:
            result = _failure(str(error), node.span)
        except JobError as error:
            # The target's job supervisor refused or could not be reached (e.g. it did
            # not start in time): this host's task fails, the run goes on — as
            # ansible-core's failing async_wrapper fails only its task.
            result = _failure(f"async job: {error}", node.span)
        if node.register and not result.get("unreachable"):
            # A DataDict: it marks the value unsafe (copying it) as it stores it.
            state.registered[node.register] = _registered(result)
        facts.store_result(run, host, node.action, result)
        if is_failed(result) and self._ignore_errors(node, host):
            result["_playgraph_ignored"] = True
        if self._no_log(node, host):
            # The output (display, JSON document) shows it censored; the registered
            # value above keeps everything, as ansible-core's does.
            result["_playgraph_no_log"] = True
        run.emit(EventKind.NODE_FINISHED, node.id, host, result=result)
        return result

    def _no_log(self, node: Node, host: str) -> bool:
        play = self.run.play
        value = node.no_log if node.no_log is not None else (play.no_log if play else None)
        if isinstance(value, str):
            templar = self.run.templar
            try:
                return bool(templar.evaluate(value, templar.lazy(self.run.host_layers(host, node))))
            except TemplateError:
                return True  # ansible-core masks the output when no_log cannot be decided
        return bool(value)

    def _ignore_errors(self, node: Node, host: str) -> bool:
        value: bool | str = node.ignore_errors
        play = self.run.play
        if value is False and play is not None and play.ignore_errors is not False:
            value = play.ignore_errors
        if isinstance(value, str):
            try:
                return self.run.templar.evaluate(
                    value, self.run.templar.lazy(self.run.host_layers(host, node))
                )
            except TemplateError:
                return False
        return bool(value)

    async def _run_loop_or_item(self, node: Node, host: str, variables: Any) -> Result:
        if node.loop is None:
            return await self._run_item(node, host, variables)
        run = self.run
        loop = node.loop
        if loop.keyword == "loop":
            items = run.templar.render(loop.items, variables)
            if isinstance(items, str):
                raise _Final(
                    _failure(
                        f"Invalid data passed to 'loop', it requires a list, got this instead: {items}.",
                        node.span,
                    )
                )
            if not isinstance(items, list):
                items = list(items) if isinstance(items, tuple) else [items]
        else:
            lookup = loop.keyword.removeprefix("with_")
            items = run.templar.run_lookup(lookup, loop.items, variables, action=node.action)
        if not items:
            return {
                "changed": False,
                "skipped": True,
                "skipped_reason": "No items in the list",
                "results": [],
            }
        results: list[Result] = []
        pause = (
            _coerce_float(run.templar.render(loop.pause, variables), "pause") if loop.pause else 0.0
        )
        # ansible-core templates the loop's variable names (``loop_var: "{{ name }}"``).
        loop_var = str(run.templar.render(loop.loop_var, variables))
        index_var = str(run.templar.render(loop.index_var, variables)) if loop.index_var else None
        for index, item in enumerate(items):
            extra: dict[str, Any] = {loop_var: item, "ansible_loop_var": loop_var}
            if index_var:
                extra[index_var] = index
                extra["ansible_index_var"] = index_var
            if loop.extended:
                extra["ansible_loop"] = _loop_info(items, index)
            item_vars = variables.child(extra, data=False)  # rendered items keep their trust
            try:
                result = await self._run_item(node, host, item_vars)
            except TemplateError as error:
                # As ansible-core: an item whose arguments or conditions cannot be
                # rendered fails alone (e.g. a join of an item whose launch was
                # skipped: it has no job id); the loop goes on.
                result = _failure(str(error))
            result[loop_var] = item
            result["ansible_loop_var"] = loop_var
            if index_var:
                result[index_var] = index
                result["ansible_index_var"] = index_var
            if loop.label is not None:
                with contextlib.suppress(TemplateError):
                    result["_ansible_item_label"] = run.templar.render(loop.label, item_vars)
            results.append(result)
            if result.get("unreachable"):
                break
            if pause and index < len(items) - 1:
                await asyncio.sleep(pause)
        return loop_aggregate(results)

    # ------------------------------------------------------------------ one item: when, retries

    async def _run_item(self, node: Node, host: str, variables: Any) -> Result:
        result = await self._run_attempts(node, host, variables)
        if result.get("failed") and "msg" not in result and "reason" not in result:
            # ansible-core 2.19 turns a failed result into an error and back
            # (AnsibleActionCapturedError); one without a message gets this one.  An
            # include that could not be loaded fails with a "reason" and no message.
            result["msg"] = _UNKNOWN_ERROR
        return result

    async def _run_attempts(self, node: Node, host: str, variables: Any) -> Result:
        run = self.run
        templar = run.templar
        for condition in node.when:
            if not templar.evaluate(condition, variables):
                return skipped(condition)
        if isinstance(node, Join):
            launch_skip = self._launch_skipped(node, host, variables)
            if launch_skip is not None:
                return launch_skip
        retry = node.retry
        total = 1
        delay = 5.0
        if retry is not None:
            if retry.retries is not None:
                total = 1 + max(0, _coerce_int(templar.render(retry.retries, variables), "retries"))
            elif retry.until:
                total = 4
            delay = _coerce_float(templar.render(retry.delay, variables), "delay")
            delay = 1.0 if delay < 0 else delay
            if not _on_controller(node):
                # Each of ansible-core's attempts on a target costs it ~0.1 s or more,
                # so `retries: 500, delay: 0` waits a while there; instant attempts
                # would run out long before a short job ends (specs/scheduling.md).
                delay = max(delay, MIN_RETRY_INTERVAL)
        result: Result = {}
        for attempt in range(1, total + 1):
            try:
                result = await self._attempt(node, host, variables)
            except _Final as final:
                return final.result
            except SupervisorTimeout:
                # A join asks a supervisor that is busy (or stopped) and has attempts
                # left: its job is not known to be finished yet; ask again next time.
                unanswered = self._unanswered(node, attempt, total, host, variables)
                if unanswered is None:
                    raise
                result = unanswered
            if result.get("unreachable"):
                return result
            normalize(result)
            if total > 1:
                result["attempts"] = attempt
            attempt_vars = variables.child({node.register: result}) if node.register else variables
            if result.pop("_playgraph_unanswered", False):
                done = False
            else:
                self._apply_conditions(node, result, attempt_vars)
                if total == 1:
                    return result
                if retry is not None and retry.until:
                    done = templar.evaluate_all(retry.until, attempt_vars)
                else:
                    done = not is_failed(result)
            if done:
                return result
            if attempt < total:
                result["_ansible_retry"] = True
                result["retries"] = total
                run.emit(
                    EventKind.RETRY,
                    node.id,
                    host,
                    result=dict(result),
                    attempt=attempt,
                    total=total,
                )
                result.pop("_ansible_retry")
                result.pop("retries")
                await self._delay(node, host, result, delay)
        result["attempts"] = total - 1
        result["failed"] = True
        return result

    def _unanswered(
        self, node: Node, attempt: int, total: int, host: str, variables: Any
    ) -> Result | None:
        """A still-running record for a join attempt whose status request went
        unanswered, when attempts are left (None: the error stands)."""
        if attempt >= total or not (
            isinstance(node, Join) or node.action.rsplit(".", 1)[-1] == "async_status"
        ):
            return None
        args = self.run.templar.render(dict(node.args), variables)
        jid = str(args.get("jid", "")) if isinstance(args, Mapping) else ""
        if not jid or (isinstance(args, Mapping) and args.get("mode", "status") != "status"):
            return None
        _, async_dir, _ = self._join_target(node, host, variables, jid)
        record = status_record(
            jid, {"started": True, "finished": False}, os.path.join(async_dir, jid)
        )
        record["_playgraph_unanswered"] = True
        return record

    def _apply_conditions(self, node: Node, result: Result, variables: Any) -> None:
        templar = self.run.templar
        if result.get("skipped"):
            return
        if node.changed_when is not None:
            try:
                result["changed"] = templar.evaluate_all(node.changed_when, variables)
            except TemplateError as error:
                result["failed"] = True
                result["changed_when_result"] = str(error)
        if node.failed_when is not None:
            try:
                outcome = templar.evaluate_all(node.failed_when, variables)
                result["failed_when_result"] = outcome
                result["failed"] = outcome
            except TemplateError as error:
                result["failed"] = True
                result["failed_when_result"] = str(error)

    async def _delay(self, node: Node, host: str, result: Result, delay: float) -> None:
        """Sleep between attempts; a join wakes early when its job ends."""
        jid = result.get("ansible_job_id")
        if (
            isinstance(node, Join)
            and isinstance(jid, str)
            and not result.get("finished")
            and delay > 0
        ):
            conn, async_dir, become = self._join_target(node, host, None, jid)
            loop = asyncio.get_running_loop()
            until = loop.time() + delay
            # The wait is only an early wake-up: bounded by the delay, whatever the
            # supervisor's state, and its answer spares the next attempt a request.
            with contextlib.suppress(TargetUnreachable, JobError, TimeoutError):
                records = await asyncio.wait_for(
                    conn.wait_jobs([jid], timeout=delay, async_dir=async_dir, become=become),
                    delay + _WAIT_ANSWER_MARGIN,
                )
                # As fresh as a request made now would be: the next attempt uses it.
                self._pushed[(node.id, host, jid)] = records[jid]
                return
            await asyncio.sleep(max(0.0, until - loop.time()))
            return
        await asyncio.sleep(delay)

    # ------------------------------------------------------------------ one attempt

    async def _attempt(self, node: Node, host: str, variables: Any) -> Result:
        run = self.run
        args = run.templar.render(dict(node.args), variables)
        if not isinstance(args, dict):
            raise _Final(_failure("module arguments must render to a mapping", node.span))
        async_limit, poll = self._async_values(node, variables)
        short = node.action.rsplit(".", 1)[-1]
        if isinstance(node, Join) or short == "async_status":
            if async_limit:
                raise _Final(
                    {
                        "failed": True,
                        "changed": False,
                        "msg": "This action (async_status) does not support async.",
                    }
                )
            return await self._async_status(node, host, args, variables)
        builtin = builtin_name(node.action)
        action = actions.CONTROLLER_ACTIONS.get(builtin) if builtin is not None else None
        if action is not None:
            if async_limit:
                raise _Final(
                    {
                        "failed": True,
                        "changed": False,
                        "msg": f"This action ({short}) does not support async.",
                    }
                )
            return await action(
                actions.ActionCall(run=run, node=node, host=host, args=args, variables=variables)
            )
        # Native modules first; anything else through ansible-core's machinery.
        native = get_module(node.action)
        if native is not None and getattr(native, "fallback_only", False) and ansible_available():
            native = None  # ansible-core's own module gives its exact result
        module = native or controller_module(node.action) or generic_module(node.action)
        if module is None:
            raise _Final(_failure(_unrunnable(node.action), node.span))
        delegate = self._delegate(node, variables) or host
        # A delegated task connects, and becomes, as its delegate's variables say.
        delegate_vars = (
            variables
            if delegate == host
            else run.templar.lazy(run.connection_layers(delegate, node))
        )
        settings = run.settings(delegate, node, delegate_vars)
        conn = run.connect_with(settings)
        # Discovery's probe is a command on the host: forks bound it.  A set interpreter
        # needs no probe, so no fork: queueing for one anyway cost every host of a
        # fan-out a second wait behind all the others.
        probing = interpreters.configured(delegate_vars) in interpreters.MODES
        async with run.forks if probing else contextlib.nullcontext():
            python = await interpreters.python(run, delegate, delegate_vars, conn)
        ctx = TaskContext(
            host=host,
            action=node.action,
            args=args,
            conn=conn,
            python=python,
            become=settings.become,
            check_mode=self._check_mode(node, variables),
            diff=bool(node.diff) if node.diff is not None else run.options.diff,
            environment=self._environment(node, variables),
            base_dir=run.options.playbook_dir,
            variables=variables,
            render=run.templar.render,
            async_dir=self._async_dir(variables),
            no_log=self._no_log(node, host),
            verbosity=run.options.verbosity,
            role_dir=_role_dir(node),
        )
        try:
            # ansible-core 2.17+ runs async tasks in check mode as jobs too (the module
            # decides inside the job what check mode means), so the result carries a jid,
            # ``started``/``finished``, and a detached launch can be joined later.  A
            # module without check-mode support is still skipped by its synchronous run:
            # its job program would not skip (and could act).
            skip_check = ctx.check_mode and getattr(module, "check_mode", True) is False
            if async_limit and not skip_check:
                if not module.supports_async:
                    raise _Final(
                        {
                            "failed": True,
                            "changed": False,
                            "msg": f"This action ({short}) does not support async.",
                        }
                    )
                prepare = getattr(module, "prepare", None)
                if prepare is not None:  # I/O a job needs first (JobSpecs are built without)
                    async with run.forks:
                        await conn.connect()
                        await prepare(ctx)
                return await self._launch(node, host, module, ctx, async_limit, poll)
            async with run.forks:
                await conn.connect()
                return _module_result(await module.run(ctx))
        except ModuleFailure as failure:
            return _module_result(dict(failure.result))

    def _async_values(self, node: Node, variables: Any) -> tuple[int, int]:
        """``async`` and ``poll`` for this host: templated values are decided here, per host."""
        templar = self.run.templar
        if isinstance(node, Polled | Detached):
            limit = _coerce_int(templar.render(node.async_limit, variables), "async_val")
            poll = (
                0
                if isinstance(node, Detached)
                else _coerce_int(templar.render(node.poll, variables), "poll")
            )
            return limit, poll
        if isinstance(node, Join) and node.async_limit is not None:
            # ``async`` on async_status itself: ansible-core refuses it ("does not support
            # async"), so the value must reach the check in `_attempt`.
            return _coerce_int(templar.render(node.async_limit, variables), "async_val"), 0
        return 0, 0

    def _delegate(self, node: Node, variables: Any) -> str | None:
        if node.delegate_to is None:
            return None
        value = self.run.templar.render(node.delegate_to, variables)
        return None if value in (None, OMIT, "") else str(value)

    def _check_mode(self, node: Node, variables: Any) -> bool:
        if node.check_mode is None:
            return self.run.options.check_mode
        if isinstance(node.check_mode, str):
            return self.run.templar.evaluate(node.check_mode, variables)
        return node.check_mode

    def _environment(self, node: Node, variables: Any) -> dict[str, str]:
        environment: dict[str, str] = {}
        play = self.run.play
        for layer in (*(play.environment if play else ()), *node.environment):
            rendered = self.run.templar.render(layer, variables)
            if isinstance(rendered, Mapping):
                environment.update({str(k): str(v) for k, v in rendered.items() if v is not OMIT})
        return environment

    def _async_dir(self, variables: Any) -> str:
        return _config.async_dir(variables, self.run.config)

    # ------------------------------------------------------------------ jobs

    async def _launch(
        self, node: Node, host: str, module: Any, ctx: TaskContext, limit: int, poll: int
    ) -> Result:
        run = self.run
        jid = new_jid()
        spec = dataclasses.replace(
            module.job(ctx, jid, float(limit)),
            run_id=RUN_ID,
            host=host,
            task={"name": run.task_name(node, host), "id": node.id},
            no_log=self._no_log(node, host),
        )
        # Launching holds a fork; waiting does not (the deliberate "smart poll").
        async with run.forks:
            await ctx.conn.connect()
            try:
                launch = await ctx.conn.start_job(spec)
            except JobError as error:
                # ansible-core forces ``changed`` on every async launch response, also one
                # that failed (the wrapper could not create its dir...), polled or not.
                return {"failed": True, "changed": True, "msg": f"async job: {error}"}
        if poll <= 0:
            self._launched[jid] = (node.id, host, ctx.conn, ctx.async_dir, ctx.become)
        run.emit(EventKind.LAUNCHED, node.id, host, jid=jid, limit=limit, poll=poll)
        if poll <= 0:
            return dict(launch)
        return await self._poll(node, host, ctx.conn, jid, limit, poll, ctx.become, ctx.async_dir)

    async def _poll(
        self,
        node: Node,
        host: str,
        conn: Connection,
        jid: str,
        limit: int,
        poll: int,
        become: Become | None,
        async_dir: str,
    ) -> Result:
        run = self.run
        loop = asyncio.get_running_loop()
        # The supervisor kills the job at exactly `limit`; the controller waits a
        # little longer for that record before giving up on the target itself.
        deadline = loop.time() + limit + run.options.grace
        status: Result = {}
        running: Result | None = None
        while True:
            timeout = max(0.0, min(float(poll), deadline - loop.time()))
            try:
                status = (
                    await conn.wait_jobs([jid], timeout=timeout, async_dir=async_dir, become=become)
                )[jid]
            except (TargetUnreachable, JobError) as error:
                # A bounce during polling is not fatal until the time runs out (as ansible-core).
                if loop.time() >= deadline:
                    return _failure(str(error))
                await asyncio.sleep(min(float(poll), max(0.0, deadline - loop.time())))
                continue
            if status.get("finished"):
                break
            running = status
            run.emit(EventKind.NODE_POLLED, node.id, host, jid=jid, status=dict(status))
            if loop.time() >= deadline:
                with contextlib.suppress(TargetUnreachable, JobError):
                    await conn.kill_job(jid, async_dir=async_dir, become=become)
                return {
                    "failed": True,
                    "changed": False,
                    "msg": _TIMEOUT_MESSAGE.format(limit=limit),
                    "async_result": status,
                }
        if (
            status.get("msg") == "Timeout exceeded"
            and "child_pid" in status
            and not _last_poll_reads_timeout_record(limit, poll)
        ):
            # ansible-core gives up before its watchdog's record is there, with the
            # job's last status: still running.
            return {
                "failed": True,
                "changed": False,
                "msg": _TIMEOUT_MESSAGE.format(limit=limit),
                "async_result": running if running is not None else _still_running(status),
            }
        # Otherwise ansible-core's last poll reads the job's own timeout record and
        # returns it like any finished job's.
        # ansible-core 2.11+ removes the job file of a job it polled to the end.
        with contextlib.suppress(TargetUnreachable, JobError):
            await conn.cleanup_job(jid, async_dir=async_dir, become=become)
        return _module_result(dict(status))

    def _join_target(
        self, node: Node, host: str, variables: Any | None, jid: str
    ) -> tuple[Connection, str, Become | None]:
        """Where a join reads its job: the launch's host, user and async dir (it inherits them).

        ``variables`` None: the node's own, read only if needed."""
        launch = self._launch_node(node)
        known = self._launched.get(jid)
        if known is not None and launch is not None and known[:2] == (launch.id, host):
            return known[2:]
        if variables is None:
            variables = self.run.templar.lazy(self.run.host_layers(host, node))
        context_node = launch if launch is not None else node
        launch_vars = variables
        if launch is not None:
            launch_vars = self.run.templar.lazy(self.run.host_layers(host, launch))
        delegate = self._delegate(context_node, launch_vars) or host
        delegate_vars = (
            launch_vars
            if delegate == host
            else self.run.templar.lazy(self.run.connection_layers(delegate, context_node))
        )
        settings = self.run.settings(delegate, context_node, delegate_vars)
        return (self.run.connect_with(settings), self._async_dir(launch_vars), settings.become)

    def _launch_node(self, node: Node) -> Node | None:
        if not isinstance(node, Join):
            return None
        for target in node.waits_on:
            candidate = self.run.node_index.get(target)
            if isinstance(candidate, Detached):
                return candidate
        return None

    def _launch_skipped(self, node: Join, host: str, variables: Any) -> Result | None:
        """A join whose launch was skipped on this host is skipped too (it has no job).

        Not per loop item: a looped join's item whose launch item was skipped fails
        on its missing job id as in ansible-core, so the task's failed or ignored
        count stays ansible-core's (``playgraph check`` warns of such a join)."""
        launch = self._launch_node(node)
        if launch is None or launch.register is None or node.loop is not None:
            return None
        registered = self.run.state(host).registered.get(launch.register)
        if (
            isinstance(registered, Mapping)
            and is_skipped(registered)
            and "ansible_job_id" not in registered
        ):
            return {
                "changed": False,
                "skipped": True,
                "skip_reason": "its job's launch was skipped",
            }
        return None

    async def _async_status(
        self, node: Node, host: str, args: Mapping[str, Any], variables: Any
    ) -> Result:
        jid = args.get("jid")
        if jid in (None, ""):
            raise _Final(
                {"failed": True, "changed": False, "msg": "missing required arguments: jid"}
            )
        jid = str(jid)
        mode = args.get("mode", "status")
        if mode not in ("status", "cleanup"):
            raise _Final(
                {
                    "failed": True,
                    "changed": False,
                    "msg": f"value of mode must be one of: status, cleanup, got: {mode}",
                }
            )
        conn, async_dir, become = self._join_target(node, host, variables, jid)
        await conn.connect()
        pushed = self._pushed.pop((node.id, host, jid), None)
        if pushed is not None:
            status = pushed
        else:
            status = (await conn.job_status([jid], async_dir=async_dir, become=become))[jid]
        if mode == "cleanup":
            if status.get("msg") == "could not find job":
                return _module_result(dict(status))
            await conn.cleanup_job(jid, async_dir=async_dir, become=become)
            return {
                "ansible_job_id": jid,
                "erased": status.get("results_file"),
                "changed": False,
                "started": False,
                "finished": False,
                "stdout": "",
                "stderr": "",
                "stdout_lines": [],
                "stderr_lines": [],
            }
        if not status.get("finished"):
            self.run.emit(EventKind.NODE_POLLED, node.id, host, jid=jid, status=dict(status))
        else:
            self._launched.pop(jid, None)  # a later join of it finds it the long way
        # The job's record comes back through async_status, a module: its failure too
        # carries ``exception`` (from the job's module, or the action layer's).
        return _module_result(dict(status))


TRACEBACK_UNAVAILABLE = "(traceback unavailable)"


def _module_result(result: Result) -> Result:
    """A module's result as ansible-core's action layer leaves it: a failure always
    carries ``exception``, shown as ``(traceback unavailable)`` unless tracebacks were
    captured (``normalize_result_exception`` in 2.19)."""
    if result.get("failed") and not result.get("exception"):
        result["exception"] = TRACEBACK_UNAVAILABLE
    return result


def _on_controller(node: Node) -> bool:
    """Whether ``node`` is a controller-side action (debug, set_fact, assert...): its
    attempts cost ansible-core next to nothing too."""
    if isinstance(node, Join):
        return False
    builtin = builtin_name(node.action)
    return builtin is not None and builtin in actions.CONTROLLER_ACTIONS


def _last_poll_reads_timeout_record(limit: int, poll: int) -> bool:
    """Whether ansible-core's last poll of a job that outlives its limit comes after its
    watchdog wrote the job's timeout record.

    The controller polls ⌈limit/poll⌉ times, ``poll`` seconds apart; the watchdog kills
    the job at ``limit`` seconds when ``limit`` ≤ 5, else at 5·⌈limit/5⌉.  When the last
    poll comes later (``async: 1, poll: 3``: one poll, at 3 s), ansible-core returns the
    record; else it fails with "did not complete".  playgraph's limit is exact, so it
    decides by that schedule, not by the clock."""
    killed_at = limit if limit <= 5 else 5 * math.ceil(limit / 5)
    return math.ceil(limit / poll) * poll > killed_at


def _still_running(record: Result) -> Result:
    """The status of a running job (as a poll before its end read it)."""
    return running_record(record.get("ansible_job_id"), record.get("results_file"))


def _registered(result: Result) -> Result:
    return {k: v for k, v in result.items() if not k.startswith("_playgraph")}


def _loop_info(items: list[Any], index: int) -> dict[str, Any]:
    length = len(items)
    return {
        "allitems": items,
        "index": index + 1,
        "index0": index,
        "revindex": length - index,
        "revindex0": length - index - 1,
        "first": index == 0,
        "last": index == length - 1,
        "length": length,
        "previtem": items[index - 1] if index > 0 else None,
        "nextitem": items[index + 1] if index < length - 1 else None,
    }


def _role_dir(node: Node) -> str | None:
    """The role a task comes from (``<role>/tasks/*.yml``, ``<role>/handlers/*.yml``)."""
    return _role_dir_of(node.span.file)


@functools.lru_cache(maxsize=1024)
def _role_dir_of(file: str) -> str | None:
    # Cached: every task's every attempt on every host asks it.
    folder = os.path.dirname(os.path.abspath(file))
    if os.path.basename(folder) in ("tasks", "handlers"):
        return os.path.dirname(folder)
    return None


def _unrunnable(action: str) -> str:
    """Why ``action`` cannot run: unknown to Ansible, or known but not implemented here."""
    from playgraph.compiler.catalog import default_catalog  # only on this failure path

    if default_catalog().resolve_with_redirect(action) is None:
        return f"couldn't resolve module/action '{action}'"
    return (
        f"the module '{action}' is valid Ansible but playgraph's runtime does not implement it; "
        f"it runs {', '.join(module_names())} natively, and any other module through"
        " ansible-core, which is not installed: pip install 'playgraph[ansible]'"
    )


__all__ = ["Executor"]
