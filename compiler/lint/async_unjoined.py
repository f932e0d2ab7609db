"""``async-unjoined``: a detached job that no ``async_status`` ever waits for.

What: a ``poll: 0`` task whose result is not registered, or whose registered
result no ``async_status`` (``mode: status``) reads anywhere later in the
playbook.

Why: "the playbook run ends without checking back on async tasks": a failed
or timed-out job goes unseen, later tasks cannot rely on its work, and its job
file under ``~/.ansible_async`` is never cleaned up.

Example::

    - command: /opt/app/reindex
      async: 3600
      poll: 0                       # async-unjoined: nothing reads its result

Fix: ``register`` the launch and wait for it with ``async_status`` and
``until: <result> is finished``; or use ``poll > 0``.  An intentional
fire-and-forget (a helper server killed by its time limit) can say so with
``# noqa: async-unjoined``.
"""

from __future__ import annotations

from collections.abc import Iterator

from .. import codes
from ..diagnostics import Diagnostic, Related
from ..ir import Detached, Graph
from .analysis import never_runs
from .context import LintContext


def check(graph: Graph, ctx: LintContext) -> Iterator[Diagnostic]:
    analysis = ctx.analysis
    for node in analysis.nodes.values():
        if not isinstance(node, Detached) or never_runs(node.when):
            continue
        if node.register is None:
            yield codes.ASYNC_UNJOINED.at(
                node.span,
                f"'{node.display_name}' starts a detached job but registers no result, so nothing "
                "can wait for it",
                help="add register: and an async_status with until: <result> is finished",
            )
            continue
        joins = analysis.joins_of.get(node.id, [])
        if any(join.mode == "status" for join in joins):
            continue
        if analysis.opaque_include_after(node):
            continue  # an include whose file is known only at run time may wait for it
        if joins:
            yield codes.ASYNC_UNJOINED.at(
                node.span,
                f"the detached job of '{node.display_name}' is only cleaned up (mode: cleanup), "
                "never waited for",
                help=f"wait with async_status: jid={{{{ {node.register}.ansible_job_id }}}} "
                "and until: <result> is finished before the cleanup",
                related=[Related(span=j.span, message="the cleanup") for j in joins],
            )
            continue
        yield codes.ASYNC_UNJOINED.at(
            node.span,
            f"no async_status reads '{node.register}': the detached job of "
            f"'{node.display_name}' is never checked",
            help=f"add async_status: jid={{{{ {node.register}.ansible_job_id }}}} with "
            "until: <result> is finished",
        )
