"""``async-join-unknown``: an ``async_status`` that waits for no detached job.

What: the ``jid`` of an ``async_status`` reads a variable that no task
registers before it (none at all, or only a later one), or one registered by a
*blocking* task, which has no job.  (A polled task's result is
``async-redundant-join``.)  Variables defined elsewhere — play, block or task
``vars``, role defaults, ``set_fact``, and plays with ``vars_files`` or
``include_vars`` — are trusted, as are magic variables such as ``hostvars``.
Files reached by ``include_tasks``/``include_role`` are read when their name is
known before the run; when some include's file is known only at run time (or a task
file is checked on its own), an unknown variable may come from it and is trusted.

Why: at run time the join fails with "'dict object' has no attribute
'ansible_job_id'" (or "could not find job"), usually because of a typo in the
variable name or a launch that lost its ``poll: 0``.

Example::

    - command: /opt/build
      async: 600
      poll: 0
      register: build_job
    - async_status: {jid: "{{ bulid_job.ansible_job_id }}"}   # async-join-unknown

Fix: point ``jid`` at the ``register`` of a ``poll: 0`` task (the message
suggests the closest name).

``async-join-unknown[looped]``: the launch is looped, so its result holds one
job per item under ``.results``, but the join reads ``<register>.ansible_job_id``
(or loops over ``<register>`` itself)::

    - command: "sleep {{ item }}"
      loop: [1, 2]
      async: 30
      poll: 0
      register: sleepers
    - async_status: {jid: "{{ sleepers.ansible_job_id }}"}   # async-join-unknown[looped]

Fix: ``loop: "{{ sleepers.results }}"``, ``loop_control: {loop_var: job}`` and
``jid: "{{ job.ansible_job_id }}"``.
"""

from __future__ import annotations

from collections.abc import Iterator

from .. import codes
from ..context import analyze_text
from ..diagnostics import Diagnostic, Related
from ..ir import Blocking, Detached, Graph, Join, Node, Polled
from ..suggest import did_you_mean
from .analysis import Analysis, jid_names
from .context import LintContext

# Variables Ansible provides itself: a jid read through them cannot be checked.
_MAGIC = frozenset({
    "hostvars", "vars", "groups", "group_names", "inventory_hostname", "play_hosts",
    "ansible_play_hosts", "ansible_play_batch", "ansible_facts", "omit", "lookup", "query",
    "q", "environment", "playbook_dir", "role_path",
})  # fmt: skip


def check(graph: Graph, ctx: LintContext) -> Iterator[Diagnostic]:
    analysis = ctx.analysis
    order = {node_id: index for index, node_id in enumerate(analysis.nodes)}
    registered: dict[str, list[Node]] = {}
    defined: set[str] = set()
    for node in analysis.nodes.values():
        if node.register is not None:
            registered.setdefault(node.register, []).append(node)
        if node.action.rsplit(".", 1)[-1] == "set_fact":
            defined.update(str(key) for key in node.args)
        if node.loop is not None:
            defined.add(node.loop.loop_var)
    for join in analysis.nodes.values():
        if isinstance(join, Join):
            finding = _check_join(analysis, join, order, registered, defined)
            if finding is not None:
                yield finding


def _check_join(
    analysis: Analysis,
    join: Join,
    order: dict[str, int],
    registered: dict[str, list[Node]],
    defined: set[str],
) -> Diagnostic | None:
    sources = [analysis.nodes[i] for i in analysis.waits_on(join) if i in analysis.nodes]
    if sources:
        looped = _looped_without_results(join, sources)
        if looped is not None:
            return looped
        if any(isinstance(s, Detached | Join) for s in sources):
            return None  # a job (a join's result carries its launch's jid)
        if all(isinstance(s, Polled) for s in sources):
            return None  # async-redundant-join says it
        blocking = next(s for s in sources if isinstance(s, Blocking))
        return codes.ASYNC_JOIN_UNKNOWN.at(
            join.span,
            f"'{join.display_name}' reads the result of '{blocking.display_name}' "
            f"(line {blocking.span.line}), which runs synchronously and has no job to wait for",
            help="give that task async: <limit> and poll: 0, or drop the async_status",
            related=[Related(span=blocking.span, message="registered here, without poll: 0")],
        )
    names = jid_names(join)
    if not names:
        return None
    play = analysis.play(join)
    if play.vars_files or any(
        n.action.rsplit(".", 1)[-1] == "include_vars" for n in analysis.nodes.values()
    ):
        return None  # the variable may come from a file we do not read
    if analysis.opaque_includes:
        return None  # or be registered by an include whose file is known only at run time
    known = defined | set(join.vars) | set(join.defaults) | set(play.vars) | _MAGIC
    missing = [name for name in names if name not in known]
    if len(missing) < len(names):
        return None  # part of the jid comes from elsewhere: trust it
    name = missing[0]
    later = [n for n in registered.get(name, ()) if order[n.id] > order[join.id]]
    if later:
        return codes.ASYNC_JOIN_UNKNOWN.at(
            join.span,
            f"'{join.display_name}' reads '{name}', which only a later task registers "
            f"('{later[0].display_name}', line {later[0].span.line})",
            help="move the async_status after the launch",
            related=[Related(span=later[0].span, message=f"registers '{name}'")],
        )
    launches = sorted(
        {n.register for n in analysis.nodes.values() if isinstance(n, Detached) and n.register}
    )
    suggestion = did_you_mean(name, launches)
    return codes.ASYNC_JOIN_UNKNOWN.at(
        join.span,
        f"'{join.display_name}' reads '{name}', which no earlier task registers",
        help=f"did you mean `{suggestion}`?"
        if suggestion
        else "point jid at the register of a poll: 0 task",
    )


def _looped_without_results(join: Join, sources: list[Node]) -> Diagnostic | None:
    """A looped launch read as if it held one job: no ``.results`` on the way to its jid."""
    launches = {s.register: s for s in sources if isinstance(s, Detached) and s.loop is not None}
    if not launches:
        return None
    if join.loop is None:
        text, what = join.jid, "jid"
    else:
        text, what = join.loop.items, "loop"
        if isinstance(text, list):  # with_items: ["{{ jobs }}"] flattens its one template
            text = " ".join(item for item in text if isinstance(item, str))
    if not isinstance(text, str):
        return None
    outcome = analyze_text(text, False)
    reads = outcome if isinstance(outcome, tuple) else ()
    # `(job.results is defined) | ternary(job['results'], [])`: a test of the whole
    # result next to a read of its `.results` is not a read of one job.
    through_results = {r.name for r in reads if r.path and r.path[0] == "results"}
    for read in reads:
        launch = launches.get(read.name)
        if launch is None or read.name in through_results:
            continue
        return codes.ASYNC_JOIN_UNKNOWN_LOOPED.at(
            join.span,
            f"'{join.display_name}' reads '{read.name}' as one job, but '{launch.display_name}' "
            f"(line {launch.span.line}) is looped: its result holds one job per item "
            f"under '{read.name}.results'",
            help=f'loop over "{{{{ {read.name}.results }}}}" with loop_control: {{loop_var: job}} '
            'and jid: "{{ job.ansible_job_id }}"'
            if what == "jid"
            else f'loop over "{{{{ {read.name}.results }}}}", not "{{{{ {read.name} }}}}"',
            related=[Related(span=launch.span, message="a looped launch")],
        )
    return None
