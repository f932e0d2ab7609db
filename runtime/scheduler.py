"""The scheduler: plays, batches, strategies, blocks, handlers, includes — on asyncio.

It sleeps and reads time only through the event loop, so the property tests run
it on the virtual-time loop (`vclock`) against a scripted fake connection.

Each host walks the play's steps through its own generator (`_walk`), which
yields the next node and receives that node's result: a failure inside a block
jumps to its ``rescue``, ``always`` runs regardless, an include splices in the
steps compiled for that host.  The strategies only decide *when* each host
advances:

* ``linear`` — lock-step: among the active hosts' next nodes, the earliest in
  program order runs on every host waiting at it, and all of them finish before
  anything later starts (Ansible's "every host finishes task N before any starts
  N+1");
* ``free`` — every host advances on its own.

``forks`` bounds how many hosts launch or run an action at once (a semaphore in
the executor); waiting for a job does not hold a fork.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Awaitable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from playgraph.compiler.ir import BlockStep, Graph, Node, Play, Section, Step, iter_nodes

from playgraph.semantics import PlaygraphError, boolean, builtin_name

from .context import RunContext
from .executor import Executor
from .facts import gather_facts
from .results import (
    Interruption,
    Result,
    RunningJob,
    censor,
    count,
    is_changed,
    is_failed,
    is_skipped,
    is_unreachable,
)
from .templating import TemplateError
from .tracing import Event, EventKind

OrderKey = tuple[int, ...]
T = TypeVar("T")

CLEANUP_DEADLINE = 15.0
"""How long a cancelled run waits for its hosts to stop their commands (each stop has
deadlines of its own: SIGTERM, SIGKILL 2 s later, over ssh a channel to send them)."""


async def _together(*work: Awaitable[T]) -> list[T]:
    """``asyncio.gather``, except when cancelled: then it returns only once every child
    has finished its own cleanup.  gather cancels its children but returns at the first
    one that ends, and the run would close the ssh connections the others still need
    to stop their commands.  (The children are not cancelled a second time: that
    would cut short the cleanup they are awaiting.)"""
    tasks = [asyncio.ensure_future(item) for item in work]
    try:
        return await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        if tasks:
            await asyncio.wait(tasks, timeout=CLEANUP_DEADLINE)
        raise


class _HostFailed(PlaygraphError):
    """Raised into a host's walk when one of its nodes failed (not ignored)."""

    def __init__(self, node: Node, result: Result) -> None:
        super().__init__(node.id)
        self.node = node
        self.result = result


@dataclass(slots=True)
class _Cursor:
    """A host's position in a section: its walk generator and the node it waits at."""

    host: str
    walk: Generator[tuple[Node, OrderKey], Result, None]
    current: tuple[Node, OrderKey] | None = None

    def start(self) -> None:
        self.current = next(self.walk, None)

    def advance(self, result: Result) -> None:
        try:
            self.current = self.walk.send(result)
        except StopIteration:
            self.current = None


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How a run ended: the exit code as ansible-playbook's (bit flags) and the document.

    ``interrupted`` is set when the run was cancelled before its end (see `RunInterrupted`).
    """

    exit_code: int
    document: dict[str, Any]
    interrupted: Interruption | None = None


class RunInterrupted(asyncio.CancelledError):
    """The run's task was cancelled (the CLI cancels it on SIGINT/SIGTERM/SIGHUP).

    By the time it is raised the blocking commands in flight were stopped (their
    process groups, locally and over ssh), the connections closed, the document
    marked ``interrupted`` and ``RUN_FINISHED`` emitted (so the recap is printed).
    Jobs started with ``async`` run on: they are the user's background work and
    ``outcome.interrupted.running_jobs`` names them.  Still a `CancelledError`, so
    whoever cancels the run sees the cancellation they asked for.
    """

    def __init__(self, outcome: RunOutcome) -> None:
        reason = outcome.interrupted.reason if outcome.interrupted else "cancelled"
        super().__init__(reason)
        self.outcome = outcome


class _Progress:
    """What is in flight, from the run's own events: the tasks started and not finished,
    and the jobs launched and not seen to end (a polled task's end, or a join's
    ``finished``); an interruption reports both."""

    def __init__(self) -> None:
        self.names: dict[tuple[str, str], str] = {}
        self.in_flight: dict[tuple[str, str], str] = {}
        self.jobs: dict[str, tuple[str, str]] = {}
        """jid -> (host, node id)"""
        self.polled: dict[tuple[str, str], list[str]] = {}
        """(node id, host) -> its polled jobs' jids (they end when the task does)."""

    def __call__(self, event: Event) -> None:
        if event.node is None or event.host is None:
            return
        key = (event.node, event.host)
        if event.kind is EventKind.NODE_STARTED:
            name = event.data.get("name")
            self.names[key] = name if isinstance(name, str) else event.node
            self.in_flight[key] = self.names[key]
        elif event.kind is EventKind.LAUNCHED:
            jid = event.data.get("jid")
            if isinstance(jid, str):
                self.jobs[jid] = (event.host, event.node)
                if int(event.data.get("poll", 0) or 0) > 0:
                    self.polled.setdefault(key, []).append(jid)
        elif event.kind is EventKind.NODE_FINISHED:
            self.in_flight.pop(key, None)
            # A polled task's end is its jobs' end (finished, failed or stopped at the limit).
            for jid in self.polled.pop(key, ()):
                self.jobs.pop(jid, None)
            result = event.data.get("result")
            items = result.get("results") if isinstance(result, dict) else None
            for one in [result, *(items if isinstance(items, list) else [])]:
                if isinstance(one, dict) and one.get("finished") and "ansible_job_id" in one:
                    self.jobs.pop(str(one["ansible_job_id"]), None)

    def interruption(self, reason: str) -> Interruption:
        running = tuple(
            sorted(
                (
                    RunningJob(host=host, jid=jid, task=self.names.get((node, host), node))
                    for jid, (host, node) in self.jobs.items()
                ),
                key=lambda job: (job.host, job.jid),
            )
        )
        unfinished = tuple(sorted((host, name) for (_node, host), name in self.in_flight.items()))
        return Interruption(reason=reason, unfinished=unfinished, running_jobs=running)


class Scheduler:
    """Runs a compiled graph against an inventory."""

    def __init__(self, graph: Graph, run: RunContext) -> None:
        self.graph = graph
        self.run = run
        self.executor = Executor(run)
        self.run.node_index.update(graph.node_index())
        self._order: dict[str, OrderKey] = {}
        self._play_aborted = False
        self._break_run = False
        self._progress = _Progress()
        run.tracer.subscribe(self._progress)

    # ------------------------------------------------------------------ the run

    async def execute(self) -> RunOutcome:
        """Run every play; a cancellation stops the run and raises `RunInterrupted`."""
        run = self.run
        interruption: Interruption | None = None
        try:
            for play in self.graph.plays:
                if not await self._play(play):
                    break
        except asyncio.CancelledError as cancel:
            # By now every task the cancellation reached has run its own cleanup:
            # gather() returns only once its children are done, and a command that is
            # cancelled stops its process group (locally and over ssh) before it returns.
            reason = str(cancel.args[0]) if cancel.args and cancel.args[0] else "cancelled"
            interruption = self._progress.interruption(reason)
            run.document.end_play()
            run.document.interrupted = interruption
        finally:
            await run.close()
        run.emit(EventKind.RUN_FINISHED, interrupted=interruption)
        failed = any(state.failed for state in run.states.values())
        unreachable = any(state.unreachable for state in run.states.values())
        # As ansible-playbook: an unreachable host wins over a failed one (its strategy
        # returns RUN_UNREACHABLE_HOSTS first), so the codes are 0, 2 or 4, never 6.
        code = 4 if unreachable else 2 if failed else 0
        outcome = RunOutcome(
            exit_code=code, document=run.document.to_json(), interrupted=interruption
        )
        if interruption is not None:
            raise RunInterrupted(outcome)
        return outcome

    async def _play(self, play: Play) -> bool:
        """Run one play; False when the run must stop (ansible-core's "break_play")."""
        run = self.run
        run.play = play
        run.vars_files = self._vars_files(play)
        self._order = {}
        for position, node in enumerate(
            node for section, steps in play.sections() for node in iter_nodes(steps)
        ):
            self._order[node.id] = (position,)
        pattern = run.templar.render(play.hosts, run.options.extra_vars)
        selected = run.inventory.select(
            str(pattern), limit=run.options.limit, order=play.order or "inventory", rng=run.rng
        )
        hosts = [h for h in selected if not (run.state(h).failed or run.state(h).unreachable)]
        run.play_hosts = hosts
        playing = set(hosts)
        if not selected:
            self._start_play(play, hosts)
            self._end_play(play)
            return True
        # ansible-core cuts the batches from every matched host, also those that failed in
        # an earlier play (they just run nothing in their batch), and runs the play afresh
        # per batch: its callbacks get a play start per batch, so the json document has
        # one play entry per batch.
        for whole in self._batches(play, selected):
            batch = [h for h in whole if h in playing]
            self._start_play(play, batch)
            run.batch = batch
            for host in batch:
                run.state(host).ended = False
            if batch:
                await self._batch(play, batch)
            self._end_play(play)
            # A batch whose hosts all failed ends the whole run, as any_errors_fatal and
            # max_fail_percentage do (ansible-core's PlaybookExecutor "break_play").
            lost = [h for h in batch if run.state(h).failed or run.state(h).unreachable]
            if (batch and len(lost) == len(batch)) or self._break_run:
                return False
            if self._play_aborted:
                break
        return True

    def _start_play(self, play: Play, hosts: list[str]) -> None:
        run = self.run
        name = play.name or play.hosts
        run.document.start_play(name, f"{play.span.file}:{play.span.line}")
        run.emit(EventKind.PLAY_STARTED, data_name=name, play=play.id, hosts=list(hosts))

    def _end_play(self, play: Play) -> None:
        self.run.document.end_play()
        self.run.emit(EventKind.PLAY_FINISHED, play=play.id)

    def _vars_files(self, play: Play) -> dict[str, Any]:
        import yaml

        merged: dict[str, Any] = {}
        base = self.run.options.playbook_dir
        for item in play.vars_files:
            names = (item,) if isinstance(item, str) else item
            paths = [name if os.path.isabs(name) else os.path.join(base, name) for name in names]
            # A list item is alternatives: the first that exists (ansible-core's rule).
            path = next((p for p in paths if os.path.isfile(p)), paths[0] if paths else "")
            try:
                with open(path, encoding="utf-8") as handle:
                    from .filters import load_vars_yaml

                    data = load_vars_yaml(handle) or {}
            except (OSError, yaml.YAMLError):
                continue
            if isinstance(data, dict):
                merged.update(data)
        return merged

    def _batches(self, play: Play, hosts: list[str]) -> Iterable[list[str]]:
        """``serial``: batch sizes (counts or percentages; the last one repeats)."""
        if not play.serial:
            yield hosts
            return
        sizes: list[int] = []
        for value in play.serial:
            rendered = self.run.templar.render(value, self.run.options.extra_vars)
            text = str(rendered).strip()
            if text.endswith("%"):
                size = math.floor(float(text[:-1]) / 100 * len(hosts))
            else:
                size = int(text)
            sizes.append(max(1, size) if size != 0 else len(hosts))
        start = 0
        index = 0
        while start < len(hosts):
            size = sizes[min(index, len(sizes) - 1)]
            yield hosts[start : start + size]
            start += size
            index += 1

    def _keyword_boolean(self, keyword: str, template: str) -> bool:
        """A templated boolean play keyword, as ansible-core's post-validation reads it:
        rendered, then ``boolean()`` (``"f"`` is false; it is no conditional)."""
        rendered = self.run.templar.render(template, self.run.options.extra_vars)
        value = boolean(rendered)
        if value is None:
            raise TemplateError(
                f"Error processing keyword '{keyword}': "
                f"The value {rendered!r} could not be converted to 'bool'."
            )
        return value

    async def _batch(self, play: Play, batch: list[str]) -> None:
        self._play_aborted = False
        gather = play.gather_facts
        if isinstance(gather, str):
            gather = self._keyword_boolean("gather_facts", gather)
        if gather:
            await self._gather(play, batch)
        for section in (Section.PRE_TASKS, Section.TASKS, Section.POST_TASKS):
            steps = {
                Section.PRE_TASKS: play.pre_tasks,
                Section.TASKS: play.tasks,
                Section.POST_TASKS: play.post_tasks,
            }[section]
            if steps:
                await self._section(play, steps, batch)
            await self._flush_handlers(play, batch)
            if self._play_aborted:
                return

    async def _gather(self, play: Play, batch: list[str]) -> None:
        run = self.run
        # The play's gathering keywords are its setup's arguments, as ansible-core's
        # implicit gather_facts task carries them.
        keywords = {
            key: value
            for key, value in (
                ("gather_subset", play.gather_subset),
                ("gather_timeout", play.gather_timeout),
                ("fact_path", play.fact_path),
            )
            if value is not None
        }

        async def one(host: str) -> None:
            run.emit(EventKind.NODE_STARTED, "gather_facts", host)
            try:
                args = run.templar.render(keywords, run.host_layers(host, None))
                async with run.forks:
                    facts = await gather_facts(run, host, args=args)
                result: Result = {"ansible_facts": facts, "changed": False}
            except Exception as error:  # noqa: BLE001 - as ansible-core: a failed gather is the host's
                result = {"unreachable": True, "changed": False, "msg": str(error) or repr(error)}
            self._account(host, _GATHER, result)
            run.emit(EventKind.NODE_FINISHED, "gather_facts", host, result=result)

        await _together(*(one(h) for h in batch if run.state(h).active))

    # ------------------------------------------------------------------ a section

    async def _section(self, play: Play, steps: tuple[Step, ...], batch: list[str]) -> None:
        cursors = {h: _Cursor(h, self._walk(steps, h)) for h in batch if self.run.state(h).active}
        for cursor in cursors.values():
            cursor.start()
        strategy = play.strategy or "linear"
        if strategy == "free":
            ready = self.run.rng.sample(list(cursors.values()), len(cursors))
            await _together(*(self._free(play, cursor) for cursor in ready))
        else:
            await self._linear(play, cursors)

    async def _linear(self, play: Play, cursors: dict[str, _Cursor]) -> None:
        run = self.run
        while True:
            waiting = {
                h: c.current
                for h, c in cursors.items()
                if c.current is not None and run.state(h).active
            }
            if not waiting:
                return
            # The earliest node in program order runs next, on every host waiting
            # at that very node (hosts that included different files may share
            # an order key but not a node).
            node, _ = min(waiting.values(), key=lambda entry: (entry[1], entry[0].id))
            group = [h for h, (other, _) in waiting.items() if other.id == node.id]
            results = await self._run_on(play, node, group)
            if any(r.get("_playgraph_meta") == "flush_handlers" for r in results.values()):
                await self._flush_handlers(play, group)
            for host in group:
                cursors[host].advance(results[host])
            if self._check_failures(play, node, group, results):
                return

    async def _free(self, play: Play, cursor: _Cursor) -> None:
        run = self.run
        while cursor.current is not None and run.state(cursor.host).active:
            node, _ = cursor.current
            results = await self._run_on(play, node, [cursor.host])
            if results[cursor.host].get("_playgraph_meta") == "flush_handlers":
                await self._flush_handlers(play, [cursor.host])
            cursor.advance(results[cursor.host])
            if self._check_failures(play, node, [cursor.host], results):
                return

    def _check_failures(
        self, play: Play, node: Node, group: list[str], results: dict[str, Result]
    ) -> bool:
        """``any_errors_fatal`` and ``max_fail_percentage``: True when the play must stop."""
        run = self.run
        failed_now = [h for h in group if run.state(h).failed]
        fatal = (
            node.any_errors_fatal if node.any_errors_fatal is not None else play.any_errors_fatal
        )
        if failed_now and fatal is True:
            self._abort_batch()
            return True
        if play.max_fail_percentage is not None and isinstance(play.max_fail_percentage, float):
            batch = run.batch
            failed = sum(1 for h in batch if run.state(h).failed or run.state(h).unreachable)
            if batch and failed * 100.0 / len(batch) > play.max_fail_percentage:
                self._abort_batch()
                return True
        return False

    def _abort_batch(self) -> None:
        for host in self.run.batch:
            state = self.run.state(host)
            if state.active:
                state.failed = True
        self._play_aborted = True
        self._break_run = True

    # ------------------------------------------------------------------ running a node on hosts

    async def _run_on(self, play: Play, node: Node, hosts: list[str]) -> dict[str, Result]:
        run = self.run
        run_once = node.run_once if node.run_once is not None else play.run_once
        if isinstance(run_once, str):
            run_once = run.templar.evaluate(
                run_once, run.templar.lazy(run.host_layers(hosts[0], node))
            )
        # Actions whose plugin sets BYPASS_HOST_LOOP (pause, add_host) run once, as run_once.
        run_once = run_once or builtin_name(node.action) in _BYPASS_HOST_LOOP
        if run_once and (play.strategy or "linear") != "free":
            first = hosts[0]
            result = await self.executor.run_node(node, first)
            self._after(play, node, first, result)
            results = {first: result}
            for other in hosts[1:]:
                # ansible-core registers the one result on every host of the batch and
                # fails them all when it failed (the copy keeps `_after`'s failure mark),
                # but reports it (callbacks, recap, handler notification) for the first
                # host only.
                copy = dict(result)
                results[other] = copy
                if node.register:
                    registered = run.state(first).registered.get(node.register)
                    run.state(other).registered[node.register] = registered
            return results
        throttle = node.throttle if node.throttle is not None else play.throttle
        limit = int(run.templar.render(throttle, run.options.extra_vars)) if throttle else 0
        # The order in which ready hosts start comes from the injected Random,
        # so property tests can explore (and shrink) interleavings.
        ready = run.rng.sample(hosts, len(hosts))
        if limit and limit < len(hosts):
            semaphore = asyncio.Semaphore(limit)

            async def bounded(host: str) -> Result:
                async with semaphore:
                    return await self.executor.run_node(node, host)

            values = await _together(*(bounded(h) for h in ready))
        else:
            values = await _together(*(self.executor.run_node(node, h) for h in ready))
        by_host = dict(zip(ready, values, strict=True))
        results = {host: by_host[host] for host in hosts}
        for host, result in results.items():
            self._after(play, node, host, result)
        return results

    def _after(self, play: Play, node: Node, host: str, result: Result) -> None:
        """Account the result, mark failures, notify handlers, act on meta."""
        run = self.run
        state = run.state(host)
        ignore_unreachable = node.ignore_unreachable is True or play.ignore_unreachable is True
        if is_unreachable(result) and not ignore_unreachable:
            state.unreachable = True
        elif is_failed(result) and not self._ignored(result):
            result["_playgraph_failed"] = True
        if is_changed(result) and not is_failed(result) and node.notify:
            for name in node.notify:
                state.notified[name] = None
        meta = result.get("_playgraph_meta")
        if meta == "end_host":
            state.ended = True
        elif meta in ("end_play", "end_batch"):
            for other in run.batch:
                run.state(other).ended = True
            if meta == "end_play":
                self._play_aborted = True
        elif meta == "clear_host_errors":
            for other in run.play_hosts:
                run.state(other).failed = False
        self._account(host, node, result)

    @staticmethod
    def _ignored(result: Result) -> bool:
        return bool(result.get("_playgraph_ignored"))

    def _account(self, host: str, node: Node | _Gather, result: Result) -> None:
        run = self.run
        ignore = self._ignored(result)
        short = builtin_name(node.action) if isinstance(node, Node) else None
        if short == "meta":
            # ansible-core sends no result callback for a meta task (unless skipped,
            # and then only to the display) and counts none in the recap.
            return
        stats = run.document.host_stats(host)
        count(stats, result, ignore_errors=ignore)
        items = result.get("results")
        if short in _INCLUDES and isinstance(items, list):
            # ansible-core counts a looped include once per item it included.
            included = sum(1 for item in items if "_playgraph_include" in item)
            stats.ok += max(0, included - 1)
        if not run.options.keep_results:
            return
        if isinstance(node, Node):
            # Looked up first: the name and place are needed by the first host only.
            record = run.document.current_task(node.id) or run.document.task(
                node.id, run.task_name(node, host), f"{node.span.file}:{node.span.line}"
            )
        else:
            # ansible-core locates its implicit gather task at the play.
            play = run.play
            where = f"{play.span.file}:{play.span.line}" if play is not None else ""
            record = run.document.task("gather_facts", "Gathering Facts", where)
        # As ansible-core's callback results: the status keys are stripped and the json
        # callback re-adds ``failed``/``skipped`` from the status the task was reported with
        # (so an ok task whose failed_when overrode an exhausted until shows no ``failed``).
        no_log = bool(result.get("_playgraph_no_log"))
        shown = {
            k: v
            for k, v in (censor(result) if no_log else result).items()
            if not k.startswith("_playgraph") and k not in ("failed", "skipped")
        }
        if is_failed(result):
            shown["failed"] = True
        elif not is_unreachable(result) and is_skipped(result):
            shown["skipped"] = True
        record.hosts[host] = {
            "_ansible_no_log": no_log,
            "action": node.action.rsplit(".", 1)[-1] if isinstance(node, Node) else "gather_facts",
            **shown,
        }

    # ------------------------------------------------------------------ a host's walk

    def _walk(
        self, steps: tuple[Step, ...], host: str
    ) -> Generator[tuple[Node, OrderKey], Result, None]:
        """The host's path through ``steps``; raises nothing out (failures end the walk)."""
        state = self.run.state(host)
        try:
            yield from self._steps(steps, host)
        except _HostFailed:
            state.failed = True

    def _steps(
        self, steps: Sequence[Step], host: str
    ) -> Generator[tuple[Node, OrderKey], Result, None]:
        for step in steps:
            if isinstance(step, BlockStep):
                yield from self._block(step, host)
                continue
            result = yield step, self._order.get(step.id, (0,))
            if result.get("_playgraph_failed"):
                raise _HostFailed(step, result)
            # An include splices its steps in; a looped one, each item's in turn.
            items = result.get("results") if step.loop is not None else [result]
            for item in items if isinstance(items, list) else ():
                included = item.get("_playgraph_include") if isinstance(item, dict) else None
                if included:
                    yield from self._steps(self._include(step, included), host)

    def _block(self, block: BlockStep, host: str) -> Generator[tuple[Node, OrderKey], Result, None]:
        run = self.run
        state = run.state(host)
        failure: _HostFailed | None = None
        try:
            yield from self._steps(block.block, host)
        except _HostFailed as error:
            failure = error
        if failure is not None and block.rescue:
            state.facts["ansible_failed_task"] = {
                "name": failure.node.display_name,
                "action": failure.node.action,
            }
            state.facts["ansible_failed_result"] = failure.result
            # ansible-core counts a failure caught by a rescue as "rescued", not as a
            # failure (StrategyBase._process_pending_results); it was counted as one when
            # its result came in, before the walk knew a rescue would catch it.
            stats = run.document.host_stats(host)
            stats.rescued += 1
            stats.failures = max(0, stats.failures - 1)
            try:
                yield from self._steps(block.rescue, host)
                failure = None
            except _HostFailed as error:
                failure = error
        if block.always and not state.unreachable:
            yield from self._steps(block.always, host)
        if failure is not None:
            raise failure

    def _include(self, node: Node, steps: tuple[Step, ...]) -> tuple[Step, ...]:
        """Register the steps an include compiled (its action did) so they run in order."""
        parent = self._order.get(node.id, (0,))
        for position, inner in enumerate(iter_nodes(steps)):
            self.run.node_index[inner.id] = inner
            self._order[inner.id] = (*parent, position)
        return steps

    # ------------------------------------------------------------------ handlers

    async def _flush_handlers(self, play: Play, batch: list[str]) -> None:
        run = self.run
        handlers = list(iter_nodes(play.handlers))
        if not handlers:
            return
        run.emit(EventKind.HANDLERS_FLUSHING, handlers=[h.id for h in handlers])
        # A host whose handler failed runs no further handler, even with force_handlers
        # (which only lets a host that failed in a task run its handlers), as ansible-core.
        handler_failed: set[str] = set()
        for handler in handlers:
            names = {handler.name, *handler.listen} - {None}
            hosts = [
                h
                for h in batch
                if (run.state(h).active or play.force_handlers is True)
                and not run.state(h).unreachable
                and h not in handler_failed
                and any(name in run.state(h).notified for name in names)
            ]
            if hosts:
                run.document.again(handler.id)
                results = await self._run_on(play, handler, hosts)
                for host, result in results.items():
                    # A failed handler fails its host as a failed task does: nothing
                    # more of the play runs there, and the run exits 2.
                    if result.get("_playgraph_failed"):
                        run.state(host).failed = True
                        handler_failed.add(host)
        for host in batch:
            run.state(host).notified.clear()


_BYPASS_HOST_LOOP = frozenset({"pause", "add_host"})
"""Actions whose plugin sets BYPASS_HOST_LOOP: they run once, as run_once."""
_INCLUDES = frozenset({"include_tasks", "include_role"})


class _Gather:
    """The implicit fact-gathering task, for accounting."""

    action = "gather_facts"


_GATHER = _Gather()


__all__ = ["RunInterrupted", "RunOutcome", "Scheduler"]
