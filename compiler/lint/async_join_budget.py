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

A join with ``delay: 0`` is a budget problem too, whatever its retries: how long it
waits is how long its status reads take (each costs ansible-core a module run, about
0.1 s or more, depending on the target and its load; playgraph waits a minimum of
0.1 s between them), so it gives up after a time nobody chose, hammering the target
meanwhile.

Fix: make ``retries x delay`` at least the ``async`` limit, with a real ``delay``.
Values given by templates are not checked.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from .. import codes
from ..diagnostics import Diagnostic, Related
from ..ir import Detached, Graph, Join
from .analysis import literal_int, never_runs
from .context import LintContext

MIN_INTERVAL = 0.1
"""The least wait between a join's attempts at run time (the runtime's
``MIN_RETRY_INTERVAL``, kept equal by a test)."""


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
        delay_value = retry.delay
        attempts_total = retry.attempts()
        if (
            isinstance(delay_value, float | int)
            and 0 <= delay_value < MIN_INTERVAL
            and attempts_total is not None
        ):
            reads = attempts_total - 1
            yield codes.ASYNC_JOIN_BUDGET.at(
                join.span,
                f"'{join.display_name}' has delay: {delay_value:g}, so how long it waits for the "
                f"{limit} s job of '{launch.display_name}' is how long its {reads} status reads "
                f"take (about 0.1 s or more each in ansible-core, depending on the target's "
                f"load; playgraph waits {MIN_INTERVAL:g} s between them): about "
                f"{reads * MIN_INTERVAL:g} s",
                help=f"give it a delay, with retries x delay ≥ {limit} s (e.g. delay: 5, "
                f"retries: {max(1, math.ceil(limit / 5))})",
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
