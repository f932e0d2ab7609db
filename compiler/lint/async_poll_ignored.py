"""``async-poll-ignored``: ``poll`` without ``async`` does nothing.

What: a task with ``poll`` but no ``async`` (or ``async: 0``).

Why: ansible-core runs it synchronously and ignores ``poll``; ``poll: 0`` in
particular reads as "fire and forget" but blocks the host until the task ends
(ansible/ansible#84924: "``poll: 0`` would be ignored if ``async`` is ``0``").

Example::

    - command: /opt/app/warm-cache
      poll: 0                       # async-poll-ignored: runs synchronously

Fix: add ``async: <time limit>`` or remove ``poll``.
"""

from __future__ import annotations

from collections.abc import Iterator

from .. import codes
from ..diagnostics import Diagnostic
from ..ir import Blocking, Graph
from .context import LintContext


def check(graph: Graph, ctx: LintContext) -> Iterator[Diagnostic]:
    for node in ctx.analysis.nodes.values():
        if not isinstance(node, Blocking) or node.poll is None:
            continue
        hint = (
            "poll: 0 without async does not detach: the task runs synchronously"
            if node.poll == 0
            else f"poll: {node.poll} without async is ignored: the task runs synchronously"
        )
        yield codes.ASYNC_POLL_IGNORED.at(
            node.span,
            f"'{node.display_name}': {hint}",
            help="add async: <time limit in seconds>, or remove poll",
        )
