"""``async-changed-when``: result conditions on a detached launch have no effect.

What: ``changed_when``, ``failed_when``, ``creates`` or ``removes`` on a
``poll: 0`` task.

Why: the launch returns at once with a launch record that always says
``changed: true``; ``changed_when``/``failed_when`` see only that record, never
the job's result (ansible-lint#1625, tadeboro).  ``creates``/``removes`` still
make the command skip itself inside the job, but the launch reports
``changed`` anyway and only the join's result says whether it ran.

Example::

    - command: /opt/app/migrate
      async: 600
      poll: 0
      register: migrate
      changed_when: "'No migrations' not in migrate.stdout"   # async-changed-when

Fix: move ``changed_when``/``failed_when`` to the ``async_status`` join, where
the job's result is.
"""

from __future__ import annotations

from collections.abc import Iterator

from .. import codes
from ..diagnostics import Diagnostic
from ..ir import Detached, Graph
from .context import LintContext


def check(graph: Graph, ctx: LintContext) -> Iterator[Diagnostic]:
    for node in ctx.analysis.nodes.values():
        if not isinstance(node, Detached):
            continue
        conditions = [
            name
            for name, value in (
                ("changed_when", node.changed_when),
                ("failed_when", node.failed_when),
            )
            if value is not None
        ]
        arguments = [name for name in ("creates", "removes") if name in node.args]
        parts: list[str] = []
        if conditions:
            parts.append(
                f"{' and '.join(conditions)} sees only the launch record (always changed), "
                "never the job's result"
            )
        if arguments:
            parts.append(
                f"{' and '.join(arguments)} is checked inside the job, and the launch reports "
                "changed whether or not the command runs"
            )
        if parts:
            yield codes.ASYNC_CHANGED_WHEN.at(
                node.span,
                f"on the poll: 0 task '{node.display_name}', " + "; ".join(parts),
                help="put changed_when/failed_when on the async_status that waits for the job",
            )
