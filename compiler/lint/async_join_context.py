"""``async-join-context``: a join runs in a different context than its launch.

What: an ``async_status`` whose context differs from the detached launch it
waits for in any of:

* ``delegate_to`` (the job ran on the delegate, the status is read elsewhere);
* the user the task runs as — ``become``/``become_user``, or ``remote_user``
  when neither becomes (the job file is under *that* user's home);
* ``ansible_async_dir``;
* the hosts: a join in another play whose host set is not the launch's, or a
  ``run_once`` join of a launch that ran on every host;
* ``when``: the launch has a condition the join lacks (and the join has no
  guard on the launch's own result, such as ``when: job is not skipped``), so
  where the launch was skipped the join reads a result without a job id.

Why: ansible-core looks for ``<async_dir>/<jid>`` on the join's host, as the
join's user, and reports "could not find job" or "'dict object' has no
attribute 'ansible_job_id'" (ansible/ansible#77257, #81805, #86479, #22157).

Example::

    - apt: {name: nginx}
      become: true
      async: 600
      poll: 0
      register: nginx_job
    - async_status: {jid: "{{ nginx_job.ansible_job_id }}"}    # async-join-context:
      register: done                                           # not become, so it looks in
      until: done is finished                                  # the login user's home
      retries: 120

Fix: give the join the launch's ``delegate_to``, ``become``/``become_user``,
``ansible_async_dir``, hosts and ``when`` (a block around both does it).
"""

from __future__ import annotations

from collections.abc import Iterator

from .. import codes
from ..diagnostics import Diagnostic, Related
from ..ir import Detached, Graph, Join, Node
from .analysis import Analysis, guards_on_launch
from .context import LintContext


def check(graph: Graph, ctx: LintContext) -> Iterator[Diagnostic]:
    analysis = ctx.analysis
    for join in analysis.nodes.values():
        if not isinstance(join, Join):
            continue
        for launch_id in analysis.waits_on(join):
            launch = analysis.nodes.get(launch_id)
            if not isinstance(launch, Detached):
                continue
            differences = _differences(analysis, join, launch)
            if differences:
                yield codes.ASYNC_JOIN_CONTEXT.at(
                    join.span,
                    f"'{join.display_name}' does not run where '{launch.display_name}' "
                    f"(line {launch.span.line}) started its job: " + "; ".join(differences),
                    help="give the join the launch's delegate_to, become/become_user, "
                    "ansible_async_dir, hosts and when",
                    related=[Related(span=launch.span, message="the launch")],
                )


def _differences(analysis: Analysis, join: Join, launch: Detached) -> list[str]:
    found: list[str] = []
    if join.delegate_to != launch.delegate_to:
        found.append(
            f"delegate_to is {_show(join.delegate_to)} but the launch's is "
            f"{_show(launch.delegate_to)}"
        )
    join_user, launch_user = _user(analysis, join), _user(analysis, launch)
    if join_user != launch_user:
        found.append(f"it runs as {join_user} but the launch as {launch_user}")
    join_dir, launch_dir = analysis.async_dir(join), analysis.async_dir(launch)
    if join_dir != launch_dir:
        found.append(
            f"ansible_async_dir is {_show(join_dir)} but the launch's is {_show(launch_dir)}"
        )
    join_play, launch_play = analysis.play(join), analysis.play(launch)
    if join_play.id != launch_play.id:
        mine, theirs = analysis.drivers(join), analysis.drivers(launch)
        if not (mine.within(theirs) and theirs.within(mine)):
            found.append(
                f"it runs on hosts '{mine.describe()}' but the launch ran on '{theirs.describe()}'"
            )
    if analysis.run_once(join) and not analysis.run_once(launch):
        found.append("it has run_once, so it waits for one host's job while every host started one")
    missing = _missing_conditions(join, launch)
    if missing:
        found.append(
            f"the launch has when: {missing[0]} but the join does not, so where the launch "
            "was skipped the join has no job id to read"
        )
    return found


def _user(analysis: Analysis, node: Node) -> str:
    become_user = analysis.become_user(node)
    if become_user is not None:
        return f"become_user '{become_user}'"
    remote = analysis.remote_user(node)
    return f"remote_user '{remote}'" if remote is not None else "the connection user"


def _missing_conditions(join: Join, launch: Detached) -> list[str]:
    missing = [c for c in launch.when if c is not True and c not in join.when]
    if not missing:
        return []
    if any(guards_on_launch(condition, join, launch) for condition in join.when):
        return []  # the join guards on the launch's own result
    return [str(c) for c in missing]


def _show(value: object) -> str:
    return "unset" if value is None else f"'{value}'"
