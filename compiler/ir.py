"""The execution graph: what a playbook *does*, per play.

Node kinds are decided by ``async``/``poll`` (specs/graph.md):

* `Blocking` — no ``async`` (or ``async: 0``): runs to completion, the host's next node waits.
* `Polled`   — ``async > 0`` and ``poll > 0``: starts a job and checks it every ``poll`` seconds;
  still blocks the host, fails at the ``async`` limit.
* `Detached` — ``async > 0`` and ``poll: 0``: starts a job and returns its ``ansible_job_id`` at
  once; the job runs on.
* `Join`     — an ``async_status`` task: waits (with ``until``/``retries``/``delay``) for the
  detached job(s) whose registered result its ``jid`` reads.

A *templated* ``async``/``poll`` cannot be decided before run time; the static
kind assumes the template yields a positive limit (and, for ``poll``, a positive
interval), and the runtime re-decides per host from the rendered values, as
ansible-core does.

Every node is a frozen, slotted, keyword-only dataclass with a stable id derived
from its source path (``play[0].tasks[3]``) and a span excluded from equality,
so structural tests and round-trip properties compare shapes only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

from .spans import Span

JSON: TypeAlias = Any
"""Plain data as YAML/JSON gives it: dicts, lists, str, int, float, bool, None."""

Condition: TypeAlias = str | bool
"""A bare Jinja conditional (``result.rc == 0``) or a literal boolean."""

Templated: TypeAlias = int | str
"""An integer keyword, or the template string that yields it at run time."""


class NodeKind(StrEnum):
    BLOCKING = "blocking"
    POLLED = "polled"
    DETACHED = "detached"
    JOIN = "join"


class EdgeKind(StrEnum):
    SEQ = "seq"
    """Program order on one host: the target runs after the source."""
    SYNC = "sync"
    """A join (source) waits for the job its ``jid`` names (target, a detached node)."""


class Section(StrEnum):
    PRE_TASKS = "pre_tasks"
    TASKS = "tasks"
    POST_TASKS = "post_tasks"
    HANDLERS = "handlers"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopSpec:
    """``loop``/``with_<lookup>`` plus ``loop_control``."""

    keyword: str
    """``loop`` or ``with_items``, ``with_dict``, ... (the lookup decides how items are made)."""
    items: JSON
    """A template string (``"{{ jobs.results }}"``), or literal data."""
    loop_var: str = "item"
    index_var: str | None = None
    label: str | None = None
    pause: float | str = 0.0
    extended: bool | str = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrySpec:
    """``until``/``retries``/``delay``, as ansible-core 2.16+ reads them (specs/scheduling.md).

    ``until`` empty means ``retries`` without ``until``: retry until the task does not fail.
    ``retries`` None means the default: 3 when ``until`` is set.
    """

    until: tuple[Condition, ...] = ()
    retries: Templated | None = None
    delay: float | str = 5.0

    def attempts(self) -> int | None:
        """Total runs at most (``retries + 1``, at least 1), when the count is literal."""
        if isinstance(self.retries, str):
            return None
        retries = 3 if self.retries is None else self.retries
        if self.retries is None and not self.until:
            retries = 0
        return 1 + max(0, retries)

    def budget_seconds(self) -> float | None:
        """Seconds of ``delay`` a join sleeps before giving up, when literal."""
        attempts = self.attempts()
        if attempts is None or isinstance(self.delay, str):
            return None
        return (attempts - 1) * (1.0 if self.delay < 0 else self.delay)


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskNode:
    """What every node kind shares: the task as written, with block inheritance applied.

    ``when`` holds the task's conditions after those of its enclosing blocks and
    imports (all must hold).  ``reads`` lists the variables the task's templates
    read, as dotted paths (``yum_sleeper.ansible_job_id``).  ``locks`` are the
    exclusive resources the task holds while it runs (package databases, ...).
    """

    id: str
    name: str | None
    action: str
    args: Mapping[str, JSON]
    section: Section = Section.TASKS
    when: tuple[Condition, ...] = ()
    register: str | None = None
    loop: LoopSpec | None = None
    retry: RetrySpec | None = None
    changed_when: tuple[Condition, ...] | None = None
    failed_when: tuple[Condition, ...] | None = None
    ignore_errors: bool | str = False
    ignore_unreachable: bool | str = False
    delegate_to: str | None = None
    delegate_facts: bool | str = False
    run_once: bool | str = False
    become: bool | str | None = None
    become_user: str | None = None
    become_method: str | None = None
    become_flags: str | None = None
    remote_user: str | None = None
    connection: str | None = None
    environment: tuple[JSON, ...] = ()
    vars: Mapping[str, JSON] = field(default_factory=dict)
    defaults: Mapping[str, JSON] = field(default_factory=dict)
    """Role defaults: the lowest-precedence variables (inventory and play vars override them)."""
    tags: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()
    listen: tuple[str, ...] = ()
    no_log: bool | str | None = None
    check_mode: bool | str | None = None
    diff: bool | str | None = None
    timeout: Templated | None = None
    throttle: Templated | None = None
    any_errors_fatal: bool | str | None = None
    locks: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    span: Span = field(compare=False)

    @property
    def display_name(self) -> str:
        return self.name if self.name else self.action.rsplit(".", 1)[-1]

    @property
    def async_dir(self) -> JSON:
        """The task's own ``ansible_async_dir`` variable, if it sets one."""
        return self.vars.get("ansible_async_dir")


@dataclass(frozen=True, slots=True, kw_only=True)
class Blocking(TaskNode):
    """Runs to completion; the host's next node waits for it."""

    poll: Templated | None = None
    """``poll`` as written although the task has no ``async``: ansible-core ignores it
    (kept so the lint can say so)."""
    kind: NodeKind = field(default=NodeKind.BLOCKING, init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Polled(TaskNode):
    """Starts a job and checks it every ``poll`` seconds until it ends or ``async_limit`` passes.

    The host's next node waits, but the time limit is enforced on the target.
    """

    async_limit: Templated
    poll: Templated
    kind: NodeKind = field(default=NodeKind.POLLED, init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Detached(TaskNode):
    """Starts a job, registers its launch record (``ansible_job_id``) and moves on at once."""

    async_limit: Templated
    kind: NodeKind = field(default=NodeKind.DETACHED, init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Join(TaskNode):
    """An ``async_status`` task: the synchronisation point of detached jobs.

    ``jid`` is its ``jid`` argument as written.  ``waits_on`` are the nodes whose
    registered result the ``jid`` reads, whatever their kind (the lint explains a
    join that reads a blocking or polled result); sync edges go only to the
    detached ones.  ``mode`` is ``status`` or ``cleanup``.
    """

    jid: JSON
    mode: str = "status"
    waits_on: tuple[str, ...] = ()
    async_limit: Templated | None = None
    """``async`` set on the ``async_status`` task itself, which ansible-core rejects
    (kept so the lint can say so)."""
    kind: NodeKind = field(default=NodeKind.JOIN, init=False)


Node: TypeAlias = Blocking | Polled | Detached | Join


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockStep:
    """A ``block`` with its ``rescue`` and ``always`` sections.

    Block keywords (``when``, ``become``, ``vars``, ...) are already pushed down
    into the tasks; the block survives only as control structure.
    """

    id: str
    name: str | None
    block: tuple[Step, ...]
    rescue: tuple[Step, ...] = ()
    always: tuple[Step, ...] = ()
    span: Span = field(compare=False)


Step: TypeAlias = Node | BlockStep


@dataclass(frozen=True, slots=True, kw_only=True)
class Edge:
    """A dependency between two nodes; JSON names the ends ``from`` and ``to``."""

    source: str
    target: str
    kind: EdgeKind


@dataclass(frozen=True, slots=True, kw_only=True)
class Play:
    """One play: its host pattern, play keywords, sections of steps and edges.

    Sections run in the order pre_tasks, tasks (roles first), post_tasks, with
    notified handlers flushed after each.
    """

    id: str
    name: str | None
    hosts: str
    strategy: str | None = None
    serial: tuple[Templated, ...] = ()
    gather_facts: bool | str = False
    gather_subset: JSON | None = None
    """The play's ``gather_subset``, ``gather_timeout`` and ``fact_path``: arguments of
    its implicit gathering's ``setup`` (templated per host), None when not given."""
    gather_timeout: JSON | None = None
    fact_path: JSON | None = None
    vars: Mapping[str, JSON] = field(default_factory=dict)
    vars_files: tuple[str | tuple[str, ...], ...] = ()
    """File names; a tuple item is alternatives: the first of them that exists is read."""
    become: bool | str | None = None
    """None when the play does not say, so ``-b`` and the configuration apply."""
    become_user: str | None = None
    become_method: str | None = None
    remote_user: str | None = None
    connection: str | None = None
    environment: tuple[JSON, ...] = ()
    any_errors_fatal: bool | str = False
    max_fail_percentage: float | str | None = None
    force_handlers: bool | str = False
    ignore_errors: bool | str = False
    ignore_unreachable: bool | str = False
    throttle: Templated | None = None
    order: str | None = None
    run_once: bool | str = False
    check_mode: bool | str | None = None
    no_log: bool | str | None = None
    tags: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()
    module_defaults: Mapping[str, JSON] = field(default_factory=dict)
    pre_tasks: tuple[Step, ...] = ()
    tasks: tuple[Step, ...] = ()
    post_tasks: tuple[Step, ...] = ()
    handlers: tuple[Step, ...] = ()
    edges: tuple[Edge, ...] = ()
    span: Span = field(compare=False)

    def sections(self) -> Iterator[tuple[Section, tuple[Step, ...]]]:
        yield Section.PRE_TASKS, self.pre_tasks
        yield Section.TASKS, self.tasks
        yield Section.POST_TASKS, self.post_tasks
        yield Section.HANDLERS, self.handlers

    def nodes(self) -> Iterator[Node]:
        """Every node in program order (handlers last)."""
        for _, steps in self.sections():
            yield from iter_nodes(steps)

    def node(self, node_id: str) -> Node | None:
        for node in self.nodes():
            if node.id == node_id:
                return node
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Graph:
    """The compiled playbook: its plays, in order."""

    plays: tuple[Play, ...]
    included: Mapping[str, tuple[Step, ...]] = field(default_factory=dict, compare=False)
    """What each ``include_tasks``/``include_role`` whose target the compiler resolved
    expands to, by the include node's id, for the linter only: the runtime compiles an
    include when a host reaches it, so these are not part of the plan."""

    def nodes(self) -> Iterator[Node]:
        for play in self.plays:
            yield from play.nodes()

    def node_index(self) -> dict[str, Node]:
        return {node.id: node for node in self.nodes()}


def iter_nodes(steps: tuple[Step, ...]) -> Iterator[Node]:
    """Nodes of ``steps`` in program order: block, then rescue, then always."""
    for step in steps:
        if isinstance(step, BlockStep):
            yield from iter_nodes(step.block)
            yield from iter_nodes(step.rescue)
            yield from iter_nodes(step.always)
        else:
            yield step


def iter_blocks(steps: tuple[Step, ...]) -> Iterator[BlockStep]:
    for step in steps:
        if isinstance(step, BlockStep):
            yield step
            yield from iter_blocks(step.block)
            yield from iter_blocks(step.rescue)
            yield from iter_blocks(step.always)
