"""``async-run-once``: ``run_once`` and async jobs do not mix as written.

What:

* a ``run_once`` detached launch joined by an ``async_status`` that runs on
  every host (no ``run_once``) and is not delegated to where the job runs;
* ``run_once`` on an async launch or join in a play with ``strategy: free``
  (or ``host_pinned``).

Why: a ``run_once`` task starts one job, on the first host, and ansible-core
copies its registered result to every host; the other hosts' joins then look
for that job in their own ``~/.ansible_async`` and fail with "could not find
job".  Under the free strategies ``run_once`` is not honoured at all
("Using run_once with the free strategy is not currently supported. This task
will still be executed for every host"), so the job starts on every host.

Example::

    - command: /opt/app/migrate
      run_once: true
      async: 600
      poll: 0
      register: migrate
    - async_status: {jid: "{{ migrate.ansible_job_id }}"}   # async-run-once
      register: migrated
      until: migrated is finished
      retries: 120

Fix: give the join ``run_once: true`` too (or delegate both to one host); use
the linear strategy for plays that rely on ``run_once``.
"""

from __future__ import annotations

from collections.abc import Iterator

from .. import codes
from ..diagnostics import Diagnostic, Related
from ..ir import Detached, Graph, Join, Polled
from .context import LintContext


def check(graph: Graph, ctx: LintContext) -> Iterator[Diagnostic]:
    analysis = ctx.analysis
    for node in analysis.nodes.values():
        async_node = isinstance(node, Detached | Polled | Join)
        if async_node and analysis.run_once(node) and analysis.free_strategy(node):
            strategy = analysis.play(node).strategy
            yield codes.ASYNC_RUN_ONCE.at(
                node.span,
                f"run_once on '{node.display_name}' is ignored under strategy: {strategy}: "
                "it runs on every host",
                help="use the linear strategy for this play, or drop run_once",
            )
        if not isinstance(node, Join) or analysis.run_once(node):
            continue
        for launch_id in analysis.waits_on(node):
            launch = analysis.nodes.get(launch_id)
            if not isinstance(launch, Detached) or not analysis.run_once(launch):
                continue
            if analysis.free_strategy(launch):
                continue  # run_once is not honoured there: every host has its own job
            if launch.delegate_to is not None and node.delegate_to == launch.delegate_to:
                continue  # every host reads the one job where it runs
            yield codes.ASYNC_RUN_ONCE.at(
                node.span,
                f"'{launch.display_name}' (line {launch.span.line}) has run_once: one job, on the "
                f"first host; '{node.display_name}' runs on every host and fails 'could not find "
                "job' on the others",
                help="give the async_status run_once: true as well",
                related=[Related(span=launch.span, message="the run_once launch")],
            )
