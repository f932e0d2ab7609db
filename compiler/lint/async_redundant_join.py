"""``async-redundant-join``: ``async_status`` on a polled task's result.

What: an ``async_status`` whose ``jid`` reads the result of a task with
``poll > 0`` (or ``async`` without ``poll``, which polls every 15 s).

Why: a polled task has already waited for its job, and its result holds the
module's output (ansible/ansible#20877); ansible-core then deletes the job file
(2.11+), so a later ``async_status`` finds nothing: "could not find job".

Example::

    - command: /opt/build
      async: 600
      poll: 10
      register: build
    - async_status: {jid: "{{ build.ansible_job_id }}"}   # async-redundant-join

Fix: remove the ``async_status``, or make the launch ``poll: 0`` if it should
run in the background.  A templated ``poll`` (``"{{ wait | ternary(10, 0) }}"``)
is known only at run time and is not reported.
"""

from __future__ import annotations

from collections.abc import Iterator

from .. import codes
from ..diagnostics import Diagnostic, Related
from ..ir import Graph, Join, Polled
from .context import LintContext


def check(graph: Graph, ctx: LintContext) -> Iterator[Diagnostic]:
    analysis = ctx.analysis
    for join in analysis.nodes.values():
        if not isinstance(join, Join) or not analysis.waits_on(join):
            continue
        sources = [analysis.nodes.get(i) for i in analysis.waits_on(join)]
        if not all(isinstance(s, Polled) for s in sources):
            continue
        polled = [s for s in sources if isinstance(s, Polled)]
        if any(isinstance(s.poll, str) for s in polled):
            continue  # a templated poll may be 0 (or omit it) at run time: not surely polled
        first = polled[0]
        yield codes.ASYNC_REDUNDANT_JOIN.at(
            join.span,
            f"'{first.display_name}' (line {first.span.line}) already polls its job to the end "
            f"(poll: {first.poll}); this async_status finds its job file gone",
            help="remove the async_status, or give the launch poll: 0 to run it in the background",
            related=[Related(span=s.span, message="the polled task") for s in polled],
        )
