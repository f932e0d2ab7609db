"""What the async rules share: the order nodes run in, their hosts and contexts, and joins.

The linter reasons over the execution graph as ansible-core runs it:

* **The timeline.**  Plays run one after another; within a play, ``pre_tasks``,
  ``tasks`` (roles first) and ``post_tasks``, each followed by a flush of the
  handlers notified during it (``meta: flush_handlers`` flushes early).  A
  handler appears in the timeline at every flush that follows a task notifying
  it (by ``name`` or ``listen``, and handlers notifying handlers), marked as
  conditional: it runs only when the notifying task changed something.  Nodes
  whose ``when`` holds a literal ``false`` (their own, or a block's or import's
  pushed down) never run and are left out.  A detached job keeps running across
  tasks, sections and plays until something waits for it.

* **Hosts.**  A node's *drivers* are the inventory hosts whose task list it is
  on: its play's host pattern.  Its *targets* are the machines its module runs
  on, whose locks it takes: the ``delegate_to`` host when delegated, else the
  drivers.  See `hosts` for how patterns are compared.

* **Includes.**  An ``include_tasks``/``include_role`` whose file the compiler
  could name before the run (`Graph.included`) is followed by what it includes,
  in place; one whose file is known only at run time is opaque: it may launch,
  join or register anything (`Analysis.opaque_includes`).

* **Joins.**  An ``async_status`` whose ``jid`` reads a launch's registered
  result (``Join.waits_on``, found by the compiler) waits for that launch's job
  on the join's own drivers.  A join *surely completes* the job before a later
  node unless something may let the play go past it while the job still runs
  (`Analysis.join_doubts`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import assert_never

from playgraph.semantics import is_template

from ..context import analyze_text
from ..ir import (
    JSON,
    Blocking,
    BlockStep,
    Condition,
    Detached,
    Graph,
    Join,
    Node,
    Play,
    Polled,
    Section,
    Step,
    Templated,
)
from .hosts import HostResolver, HostSet

__all__ = ["Analysis", "Doubt", "Place", "Region", "guards_on_launch", "never_runs", "truthy"]

_FLUSH = "flush_handlers"
_INCLUDES = frozenset({"include_tasks", "include_role"})
_FREE_STRATEGIES = frozenset({"free", "host_pinned"})
_FINISHED = re.compile(r"\bfinished\b")


@dataclass(frozen=True, slots=True, kw_only=True)
class Region:
    """One part (``block``, ``rescue`` or ``always``) of an enclosing block."""

    block: str
    part: str
    has_rescue: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Place:
    """One run of a node in the timeline."""

    node: Node
    play: Play
    order: int
    """Position in the timeline: a smaller order runs earlier on every host."""
    regions: tuple[Region, ...]
    """The enclosing block parts, outermost first."""
    handler: bool
    """A handler flushed here: it runs only if a notifying task changed something."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Doubt:
    """Why a join may let the play go on while the job still runs."""

    reason: str
    unless_inside: str | None = None
    """A block id: the doubt does not apply to a later node inside that block's body
    (a failure that skips the join skips that node too)."""


def truthy(value: bool | str | None) -> bool:
    """Whether a boolean keyword may be on: literal true, or a template that might be."""
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "no", "0", "")
    return bool(value)


def never_runs(conditions: tuple[Condition, ...]) -> bool:
    """A literal false among the (AND-ed) conditions: the node is always skipped."""
    for condition in conditions:
        if condition is False:
            return True
        if isinstance(condition, str) and condition.strip() in ("false", "False"):
            return True
    return False


def condition_names(condition: Condition) -> frozenset[str] | None:
    """The variable names a condition reads, or None when it does not parse."""
    if isinstance(condition, bool):
        return frozenset()
    outcome = analyze_text(condition, True)
    if isinstance(outcome, tuple):
        return frozenset(read.name for read in outcome)
    return None


def literal_int(value: Templated | None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Analysis:
    """Facts about one graph computed once and shared by every rule (a cache, not a value)."""

    def __init__(self, graph: Graph, resolver: HostResolver | None = None) -> None:
        self.graph = graph
        self.resolver = resolver
        self.places: list[Place] = []
        """The timeline: every run of a node, in the order they happen."""
        self.play_of: dict[str, Play] = {}
        self.nodes: dict[str, Node] = {}
        """Every node by id, in program order, including those that never run."""
        self._play_hosts: dict[str, HostSet] = {}
        self._late_sources: dict[str, tuple[str, ...]] = {}
        self.included = graph.included
        for play in graph.plays:
            for node, _ in _walk_all(play, self.included):
                self.play_of[node.id] = play
                self.nodes[node.id] = node
            self._timeline(play)

    # ------------------------------------------------------------------ timeline

    def _timeline(self, play: Play) -> None:
        handlers = list(_walk(play.handlers, (), self.included))
        pending: set[str] = set()
        for section, steps in play.sections():
            if section is Section.HANDLERS:
                continue
            for node, regions in _walk(steps, (), self.included):
                if never_runs(node.when):
                    continue
                self._add(node, play, regions, handler=False)
                pending.update(node.notify)
                if _is_flush(node):
                    self._flush(play, handlers, pending)
            self._flush(play, handlers, pending)

    def _flush(
        self, play: Play, handlers: list[tuple[Node, tuple[Region, ...]]], pending: set[str]
    ) -> None:
        if not pending:
            return
        notified = set(pending)
        chosen: set[str] = set()
        changed = True
        while changed:  # handlers notify handlers: run every one reachable in this flush
            changed = False
            for node, _ in handlers:
                if node.id in chosen or never_runs(node.when):
                    continue
                names = {node.name, *node.listen} - {None}
                if names & notified:
                    chosen.add(node.id)
                    notified.update(node.notify)
                    changed = True
        for node, regions in handlers:
            if node.id in chosen:
                self._add(node, play, regions, handler=True)
        pending.clear()

    def _add(self, node: Node, play: Play, regions: tuple[Region, ...], *, handler: bool) -> None:
        self.places.append(
            Place(node=node, play=play, order=len(self.places), regions=regions, handler=handler)
        )

    @cached_property
    def joins_of(self) -> dict[str, list[Join]]:
        """Launch id → the joins whose ``jid`` reads its result (any mode)."""
        result: dict[str, list[Join]] = {}
        for node in self.nodes.values():
            if isinstance(node, Join):
                for launch in self.waits_on(node):
                    result.setdefault(launch, []).append(node)
        return result

    def waits_on(self, join: Join) -> tuple[str, ...]:
        """The nodes whose result the join's ``jid`` reads.

        The compiler's resolution (``Join.waits_on``) is used when it found
        something.  Otherwise the ``jid``'s variables are looked up here among
        the registers of the earlier tasks and of the play's handlers: the
        compiler reads a play's handlers last, but a handler flushed before the
        join (``meta: flush_handlers``) ran first; and it does not follow a loop
        over a literal list of templates (``loop: ["{{ a }}", "{{ b }}"]``).
        """
        if join.waits_on:
            return join.waits_on
        found = self._late_sources.get(join.id)
        if found is None:
            found = self._resolve(join)
            self._late_sources[join.id] = found
        return found

    def _resolve(self, join: Join) -> tuple[str, ...]:
        names = set(jid_names(join))
        if not names:
            return ()
        latest: dict[str, str] = {}
        for node_id, node in self.nodes.items():
            if node_id == join.id:
                break
            if node.register in names:
                latest[node.register] = node_id
        play = self.play_of[join.id]
        for node, _ in _walk(play.handlers, (), self.included):
            if node.register in names:
                latest[node.register] = node.id
        return tuple(dict.fromkeys(latest.values()))

    @cached_property
    def opaque_includes(self) -> tuple[str, ...]:
        """Includes whose target is known only at run time, in program order: what they
        launch, join or register is unknown here."""
        return tuple(
            node.id
            for node in self.nodes.values()
            if node.action.rsplit(".", 1)[-1] in _INCLUDES and node.id not in self.included
        )

    def opaque_include_after(self, node: Node) -> bool:
        """Whether an include with an unknown target runs after ``node`` (or is a handler,
        which may run after anything)."""
        if not self.opaque_includes:
            return False
        position = self.position[node.id]
        return any(
            self.position[include] > position or self.nodes[include].section is Section.HANDLERS
            for include in self.opaque_includes
        )

    @cached_property
    def position(self) -> dict[str, int]:
        """Program order of every node (included ones where their include is)."""
        return {node_id: index for index, node_id in enumerate(self.nodes)}

    def between(self, first: Place, last: Place) -> Iterator[Place]:
        return iter(self.places[first.order + 1 : last.order])

    # ------------------------------------------------------------------ hosts

    def play_hosts(self, play: Play) -> HostSet:
        hosts = self._play_hosts.get(play.id)
        if hosts is None:
            hosts = HostSet.of_pattern(play.hosts, self.resolver)
            self._play_hosts[play.id] = hosts
        return hosts

    def drivers(self, node: Node) -> HostSet:
        """The inventory hosts on whose task list ``node`` is (its play's hosts)."""
        return self.play_hosts(self.play_of[node.id])

    def targets(self, node: Node) -> HostSet:
        """The machines ``node``'s module runs on: the delegate, else its drivers."""
        if node.delegate_to is not None:
            return HostSet.of_host(node.delegate_to, concrete=self.resolver is not None)
        return self.drivers(node)

    # ------------------------------------------------------------------ context

    def play(self, node: Node) -> Play:
        return self.play_of[node.id]

    def run_once(self, node: Node) -> bool:
        return truthy(node.run_once) or truthy(self.play(node).run_once)

    def free_strategy(self, node: Node) -> bool:
        return self.play(node).strategy in _FREE_STRATEGIES

    def become(self, node: Node) -> bool | str:
        play = self.play(node)
        if node.become is not None:
            return node.become
        return play.become if play.become is not None else False

    def become_user(self, node: Node) -> str | None:
        """The user a becoming node runs as (None: the become plugin's default, root)."""
        if not truthy(self.become(node)):
            return None
        user = node.become_user if node.become_user is not None else self.play(node).become_user
        return user if user is not None else "root"

    def remote_user(self, node: Node) -> str | None:
        return node.remote_user if node.remote_user is not None else self.play(node).remote_user

    def async_dir(self, node: Node) -> JSON:
        """``ansible_async_dir`` as the node sees it (task/block vars, play vars, role defaults)."""
        play = self.play(node)
        for scope in (node.vars, play.vars, node.defaults):
            if "ansible_async_dir" in scope:
                return scope["ansible_async_dir"]
        return None

    # ------------------------------------------------------------------ joins

    def status_joins(self, launch: Node) -> list[Join]:
        return [j for j in self.joins_of.get(launch.id, []) if j.mode == "status"]

    def join_doubts(self, join: Place, launch: Place) -> list[Doubt]:
        """Why ``join`` may not complete ``launch``'s job before the nodes that follow it.

        An empty list means the join surely waits until the job has finished, on
        the join's drivers, whenever the launch started one.
        """
        node, start = join.node, launch.node
        assert isinstance(node, Join)
        doubts: list[Doubt] = []
        for condition in node.when:
            if condition is True or condition in start.when:
                continue
            if guards_on_launch(condition, node, start):
                continue  # a guard on the launch's own result (``job is not skipped``)
            doubts.append(Doubt(reason=f"its `when: {condition}` may skip it"))
        retry = node.retry
        if retry is None or not retry.until:
            doubts.append(
                Doubt(reason="it has no `until`, so it reads the status once and does not wait")
            )
        elif not any(isinstance(c, str) and _FINISHED.search(c) for c in retry.until):
            doubts.append(Doubt(reason="its `until` does not test whether the job is `finished`"))
        else:
            budget = retry.budget_seconds()
            limit = literal_int(start.async_limit) if isinstance(start, Detached) else None
            if budget is not None and limit is not None and budget < limit:
                doubts.append(
                    Doubt(
                        reason=f"its retries x delay ({budget:g} s) is shorter than the job's "
                        f"async limit ({limit} s)"
                    )
                )
        if truthy(node.ignore_errors):
            doubts.append(Doubt(reason="`ignore_errors` lets the play go on when it gives up"))
        elif node.failed_when is not None and never_runs(node.failed_when):
            doubts.append(Doubt(reason="`failed_when: false` lets the play go on when it gives up"))
        for region in join.regions:
            if region.part == "rescue" and region not in launch.regions:
                doubts.append(
                    Doubt(reason="it is in a rescue section, which runs only when its block fails")
                )
            elif (
                region.part == "block"
                and region.has_rescue
                and any(region in p.regions for p in self.between(launch, join))
            ):
                # A failure between the launch and the join runs the rescue instead of the
                # join, and the play goes on after the block while the job still runs.
                doubts.append(
                    Doubt(
                        reason="it is in a block whose rescue skips it when an earlier task "
                        "of the block fails",
                        unless_inside=region.block,
                    )
                )
        if join.handler and not launch.handler:
            doubts.append(Doubt(reason="it is a handler, which runs only when notified"))
        if self.run_once(node) and not self.run_once(start):
            doubts.append(Doubt(reason="it has `run_once`, so it waits for one host's job only"))
        if start.loop is not None and node.loop is None:
            doubts.append(Doubt(reason="it waits for one item's job of the looped launch only"))
        return doubts


def guards_on_launch(condition: Condition, join: Join, launch: Node) -> bool:
    """Whether ``condition`` reads only the launch's registered result (directly, or as
    the join's loop variable over it): ``job is defined``, ``job is not skipped``,
    ``item.ansible_job_id is defined``.  Such a guard skips the join exactly where the
    launch started no job, so it neither hides a running job nor loses a job id."""
    if launch.register is None or isinstance(condition, bool):
        return False
    names = condition_names(condition)
    if not names:
        return False
    own = {launch.register}
    if join.loop is not None and launch.register in jid_names(join):
        own.add(join.loop.loop_var)
    return names <= own


def jid_names(join: Join) -> list[str]:
    """The root variables a join's ``jid`` reads (through its loop variable to the items).

    Empty for a literal job id, and for a loop over literal job ids.
    """
    jid = join.jid
    if not isinstance(jid, str) or not is_template(jid):
        return []
    names: list[str] = []
    for name in _template_names(jid):
        if join.loop is not None and name == join.loop.loop_var:
            items = join.loop.items
            if isinstance(items, str):
                names += _template_names(items)
            elif isinstance(items, list):
                names += [
                    n for item in items if isinstance(item, str) for n in _template_names(item)
                ]
        else:
            names.append(name)
    return list(dict.fromkeys(names))


def _template_names(text: str) -> list[str]:
    outcome = analyze_text(text, False)
    return [read.name for read in outcome] if isinstance(outcome, tuple) else []


def inside_block_body(place: Place, block: str) -> bool:
    return any(r.block == block and r.part == "block" for r in place.regions)


def _is_flush(node: Node) -> bool:
    if node.action.rsplit(".", 1)[-1] != "meta":
        return False
    raw = node.args.get("_raw_params", node.args.get("free_form"))
    return isinstance(raw, str) and raw.strip() == _FLUSH


def _walk(
    steps: tuple[Step, ...],
    regions: tuple[Region, ...],
    included: Mapping[str, tuple[Step, ...]],
) -> Iterator[tuple[Node, tuple[Region, ...]]]:
    """Nodes in the order they run; a followed include is followed by what it includes."""
    for step in steps:
        match step:
            case BlockStep():
                has_rescue = bool(step.rescue)
                for part, inner in (
                    ("block", step.block),
                    ("rescue", step.rescue),
                    ("always", step.always),
                ):
                    region = Region(block=step.id, part=part, has_rescue=has_rescue)
                    yield from _walk(inner, (*regions, region), included)
            case Blocking() | Polled() | Detached() | Join():
                yield step, regions
                if step.id in included:
                    yield from _walk(included[step.id], regions, included)
            case _ as unreachable:
                assert_never(unreachable)


def _walk_all(
    play: Play, included: Mapping[str, tuple[Step, ...]]
) -> Iterator[tuple[Node, tuple[Region, ...]]]:
    for _, steps in play.sections():
        yield from _walk(steps, (), included)
