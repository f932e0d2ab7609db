"""``async-join-budget``: a join gives up before the job's time limit.

What: an ``async_status`` whose ``retries x delay`` (the defaults: 3 retries
when only ``until`` is set, delay 5 s) is shorter than the ``async`` limit of
the detached job it waits for; or a join without ``until``, which reads the
status once and does not wait at all (``retries`` without ``until`` retries
only while the status read itself fails, and a running job's status does not).

Why: the join fails ("FAILED - RETRYING" runs out) while the job is still
allowed to run; its result is lost and later tasks start while it still holds
its resources.

Example::

    - command: /opt/build
      async: 600
      poll: 0
      register: build
    - async_status: {jid: "{{ build.ansible_job_id }}"}
      register: built
      until: built is finished
      retries: 10                   # async-join-budget: 10 x 5 s = 50 s < 600 s

Fix: make ``retries x delay`` at least the ``async`` limit.  Values given by
templates are not checked.
"""

from __future__ import annotations

from collections.abc import Iterator

from .. import codes
from ..diagnostics import Diagnostic, Related
from ..ir import Detached, Graph, Join
from .analysis import literal_int, never_runs
from .context import LintContext


def check(graph: Graph, ctx: LintContext) -> Iterator[Diagnostic]:
    analysis = ctx.analysis
    for join in analysis.nodes.values():
        if not isinstance(join, Join) or join.mode != "status" or never_runs(join.when):
            continue
        launches = [
            (limit, node)
            for node in (analysis.nodes.get(i) for i in analysis.waits_on(join))
            if isinstance(node, Detached)
            and (limit := literal_int(node.async_limit)) is not None
            and limit > 0
        ]
        if not launches:
            continue
        limit, launch = max(launches, key=lambda pair: pair[0])
        related = [Related(span=launch.span, message=f"the launch, async: {limit}")]
        retry = join.retry
        if retry is None or not retry.until:
            yield codes.ASYNC_JOIN_BUDGET.at(
                join.span,
                f"'{join.display_name}' has no until, so it reads the job's status once and does "
                f"not wait for the {limit} s job of '{launch.display_name}'",
                help=f"add until: <result> is finished with retries x delay ≥ {limit} s",
                related=related,
            )
            continue
        budget = retry.budget_seconds()
        if budget is None or budget >= limit:
            continue
        attempts = retry.attempts()
        retries = "3 (the default)" if retry.retries is None else str(retry.retries)
        assert attempts is not None  # a literal budget implies a literal count
        delay = retry.delay if isinstance(retry.delay, float | int) else 5.0
        yield codes.ASYNC_JOIN_BUDGET.at(
            join.span,
            f"'{join.display_name}' gives up after retries x delay = {retries} x {delay:g} s = "
            f"{budget:g} s, but the job of '{launch.display_name}' may run {limit} s",
            help=f"raise retries or delay so that retries x delay ≥ {limit} s",
            related=related,
        )
