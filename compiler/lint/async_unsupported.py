"""``async-unsupported``: ``async`` on an action that cannot run asynchronously.

What: ``async`` (with any ``poll``) on an action whose plugin does not support
async jobs: the controller-side actions (``debug``, ``set_fact``, ``assert``,
``fail``, ``pause``, ``include_vars``, ...) and the file-transfer actions
(``copy``, ``template``, ``script``, ``fetch``, ``assemble``, ``raw``, ...), and
``async_status`` itself.  The catalog's ``supports_async`` (taken from the
action plugins of ansible-core) decides.

Why: ansible-core fails the task on every host: "This action (copy) does not
support async."

Example::

    - copy: {src: big.tar, dest: /srv/big.tar}
      async: 600                    # async-unsupported
      poll: 0

Fix: drop ``async``; for slow transfers use ``synchronize`` or ``get_url``.

``async-unsupported[meta]`` (warning): ``async`` on ``meta``, which ansible-core
silently ignores.  (``async-unsupported[import]`` is reported by the compiler
itself, for imports.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import assert_never

from .. import codes
from ..catalog import ModuleKind
from ..diagnostics import Diagnostic
from ..ir import Blocking, Detached, Graph, Join, Polled
from .context import LintContext


def check(graph: Graph, ctx: LintContext) -> Iterator[Diagnostic]:
    for node in ctx.analysis.nodes.values():
        match node:
            case Blocking():
                continue
            case Join():
                if node.async_limit is not None and node.async_limit != 0:
                    yield codes.ASYNC_UNSUPPORTED.at(
                        node.span,
                        "This action (async_status) does not support async: the join itself "
                        "cannot run as a job",
                        help="remove async/poll from the async_status task; until/retries/delay "
                        "make it wait",
                    )
            case Polled() | Detached():
                info = ctx.catalog.resolve(node.action)
                if info is None or info.supports_async:
                    continue
                short = info.short
                if info.kind is ModuleKind.META:
                    raw = node.args.get("_raw_params")
                    what = f"meta: {raw}" if raw else "meta"
                    yield codes.ASYNC_UNSUPPORTED_META.at(
                        node.span,
                        f"'async' on {what} is silently ignored; meta tasks never run as jobs",
                        help="remove async and poll",
                    )
                    continue
                yield codes.ASYNC_UNSUPPORTED.at(
                    node.span,
                    f"This action ({short}) does not support async: ansible-core fails "
                    f"'{node.display_name}' on every host",
                    help="remove async/poll; for slow transfers use synchronize or get_url"
                    if short in ("copy", "template", "fetch", "assemble", "script")
                    else "remove async/poll",
                )
            case _ as unreachable:
                assert_never(unreachable)
