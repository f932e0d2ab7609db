"""``async-lock-conflict``: a lock held by a detached job is needed again before a join.

What: a ``poll: 0`` task holds an exclusive lock (a package database, or a lock
declared in ``.playgraph.yml``) and a later task on an overlapping host set
needs the same lock before an ``async_status`` of that job has completed.  The
later task may be anywhere after the launch: the rest of the play, a handler
flushed later, a block's rescue, a later play.

Why: the second transaction waits up to its ``lock_timeout`` and then fails —
the "yum lockfile is held by another process" errors of ansible/ansible#57189.
The Ansible guide says so: "Do not specify a poll value of 0 with operations
that require exclusive locks (such as yum transactions) if you expect to run
other commands later in the playbook against those same resources."

Example::

    - yum: {name: docker, state: present}
      async: 1000
      poll: 0
      register: docker_job
    - yum: {name: git}            # async-lock-conflict: pkg:rpm is still held

Fix: join the job before the next package task::

    - async_status: {jid: "{{ docker_job.ansible_job_id }}"}
      register: docker_done
      until: docker_done is finished
      retries: 200
      delay: 5

A join clears the conflict on the hosts it runs on when nothing may let the play
go past it while the job still runs (see `Analysis.join_doubts`); a doubtful
join is named in the message, which is still reported.

``async-lock-conflict[self]``: one detached task starting several jobs on one
machine that hold the same lock at once — a ``loop`` over two or more literal
items, or a ``delegate_to`` one host from a play whose inventory has several
hosts (and no ``run_once``).  Fix: one transaction for all packages, or
``run_once``, or ``poll > 0``.
"""

from __future__ import annotations

from collections.abc import Iterator

from playgraph.semantics import is_template

from .. import codes
from ..diagnostics import Diagnostic, Related
from ..ir import Detached, Graph, Join, Node
from .analysis import Analysis, Doubt, Place, inside_block_body
from .context import LintContext
from .hosts import HostSet, union_all

GUIDE = (
    'the Ansible guide: "Do not specify a poll value of 0 with operations that require '
    "exclusive locks (such as yum transactions) if you expect to run other commands later "
    'in the playbook against those same resources."'
)


def check(graph: Graph, ctx: LintContext) -> Iterator[Diagnostic]:
    analysis = ctx.analysis
    for launch in analysis.places:
        node = launch.node
        if not isinstance(node, Detached) or not node.locks:
            continue
        yield from _self_conflicts(analysis, launch, node)
        yield from _later_conflicts(analysis, launch, node)


def _later_conflicts(analysis: Analysis, launch: Place, node: Detached) -> Iterator[Diagnostic]:
    drivers = analysis.drivers(node)
    targets = analysis.targets(node)
    delegated = node.delegate_to is not None
    locks = set(node.locks)
    certain: list[HostSet] = []
    doubtful: list[tuple[Place, list[Doubt]]] = []
    places = analysis.places
    for index in range(launch.order + 1, len(places)):
        later = places[index]
        other = later.node
        if isinstance(other, Join):
            if node.id in analysis.waits_on(other) and other.mode == "status":
                doubts = analysis.join_doubts(later, launch)
                if doubts:
                    doubtful.append((later, doubts))
                else:
                    certain.append(analysis.drivers(other))
                    if _covers(certain, drivers, drivers, delegated=True):
                        return  # every host's job is surely finished: nothing later conflicts
            continue
        shared = sorted(locks.intersection(other.locks))
        if not shared:
            continue
        other_targets = analysis.targets(other)
        if not targets.overlaps(other_targets):
            continue
        # Joins whose only doubts do not apply to this node count as certain for it.
        effective = list(certain)
        remaining: list[tuple[Place, list[Doubt]]] = []
        for join, doubts in doubtful:
            left = [
                d
                for d in doubts
                if d.unless_inside is None or not inside_block_body(later, d.unless_inside)
            ]
            if left:
                remaining.append((join, left))
            else:
                effective.append(analysis.drivers(join.node))
        if _covers(effective, drivers, other_targets, delegated=delegated):
            continue
        yield _finding(analysis, launch, later, shared, effective, remaining, other_targets)


def _covers(
    joined: list[HostSet], drivers: HostSet, other_targets: HostSet, *, delegated: bool
) -> bool:
    """Whether the joins surely waited for the launch's jobs that can collide with the node.

    Jobs are per driver host.  A delegated launch runs every driver's job on the
    delegate, so all of them must be joined; otherwise only the jobs of the
    driver hosts the later node targets.
    """
    if not joined:
        return False
    union = union_all(joined)
    candidates = [union] if union is not None else joined
    for cover in candidates:
        if drivers.within(cover):
            return True
        if delegated:
            continue
        if other_targets.within(cover):
            return True
        if (
            drivers.hosts is not None
            and other_targets.hosts is not None
            and cover.hosts is not None
            and (drivers.hosts & other_targets.hosts) <= cover.hosts
        ):
            return True
    return False


def _lock_text(shared: list[str]) -> str:
    """The shared locks, shortened: a generic `package` task holds every backend's (20 of them)."""
    if len(shared) <= 3:
        return ", ".join(shared)
    return f"{', '.join(shared[:3])} and {len(shared) - 3} more"


def _finding(
    analysis: Analysis,
    launch: Place,
    later: Place,
    shared: list[str],
    joined: list[HostSet],
    doubtful: list[tuple[Place, list[Doubt]]],
    other_targets: HostSet,
) -> Diagnostic:
    node, other = launch.node, later.node
    lock_text = _lock_text(shared)
    noun = "lock" if len(shared) == 1 else "locks"
    where = _hosts_text(analysis, node, other)
    message = (
        f"'{other.display_name}' needs the {noun} {lock_text} held by the detached job of "
        f"'{node.display_name}' (line {node.span.line}) {where}"
    )
    related = [Related(span=node.span, message=f"the poll: 0 launch holding {lock_text}")]
    if doubtful:
        reasons = []
        for join, doubts in doubtful:
            reasons.append(
                f"the async_status at line {join.node.span.line} may not clear it: "
                + "; ".join(d.reason for d in doubts)
            )
            related.append(
                Related(span=join.node.span, message="this join may not complete the job first")
            )
        message += ", and " + "; ".join(reasons)
    elif joined:
        covered = ", ".join(j.describe() for j in joined)
        message += f", and the joins before it wait only on {covered}"
    else:
        message += ", before any async_status has waited for that job"
    if later.handler:
        message += " (when the handler is notified)"
    register = node.register or "the_job"
    help_text = (
        f"{GUIDE} Join the job first (async_status: jid={{{{ {register}.ansible_job_id }}}} "
        f"with until: <result> is finished and enough retries x delay), or give the launch poll > 0"
    )
    return codes.ASYNC_LOCK_CONFLICT.at(other.span, message, help=help_text, related=related)


def _hosts_text(analysis: Analysis, node: Node, other: Node) -> str:
    mine = analysis.targets(node).describe()
    theirs = analysis.targets(other).describe()
    if mine == theirs:
        return f"on the same hosts ({mine})"
    return f"on overlapping hosts ({mine} / {theirs})"


def _self_conflicts(analysis: Analysis, launch: Place, node: Detached) -> Iterator[Diagnostic]:
    lock_text = ", ".join(node.locks)
    loop = node.loop
    items = loop.items if loop is not None and isinstance(loop.items, list) else []
    # A loop that delegates each item to its own host starts one job per host, not per item.
    per_item_host = (
        loop is not None and node.delegate_to is not None and (loop.loop_var in node.delegate_to)
    )
    if len(items) > 1 and not per_item_host:
        yield codes.ASYNC_LOCK_CONFLICT_SELF.at(
            node.span,
            f"each of the {len(items)} loop items starts its own detached job, and "
            f"they all hold {lock_text} at once on the same host",
            help="pass the whole list to the module in one task (one transaction), or use poll > 0",
        )
        return
    if node.delegate_to is None or analysis.run_once(node) or is_template(node.delegate_to):
        return
    size = analysis.drivers(node).size()
    if size is not None and size > 1:
        yield codes.ASYNC_LOCK_CONFLICT_SELF.at(
            node.span,
            f"delegated to '{node.delegate_to}', the task starts one detached job for each of "
            f"the {size} hosts of the play, all on '{node.delegate_to}' holding {lock_text} "
            "at once",
            help="add run_once: true, or use poll > 0",
        )
