"""The async linter: rules over the execution graph, not one task at a time.

Each rule is one module with one pure function ``check(graph, ctx)`` that
yields `Diagnostic` values and never raises or prints; its docstring says what
it finds, why it matters, an example and the fix.  The ids live in the one
registry, `compiler/codes.py`.  What the rules share (the order nodes run in,
host sets, which join completes which job) is computed once per run in
`analysis.Analysis`.

The compiler stays pure: host patterns are evaluated against an inventory only
through a `HostResolver` the caller passes (the CLI builds it from the
runtime's inventory loader); without one, patterns are compared by their text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..catalog import default_catalog
from ..diagnostics import Diagnostic, sorted_unique
from ..ir import Graph
from . import (
    async_changed_when,
    async_join_budget,
    async_join_context,
    async_join_unknown,
    async_lock_conflict,
    async_poll_ignored,
    async_redundant_join,
    async_run_once,
    async_unjoined,
    async_unsupported,
)
from .analysis import Analysis
from .config import LintConfig, apply_suppressions, load_config
from .context import LintContext
from .hosts import HostResolver, HostSet

__all__ = [
    "RULES",
    "HostResolver",
    "HostSet",
    "LintConfig",
    "LintContext",
    "apply_suppressions",
    "lint",
    "load_config",
]


Rule = Callable[[Graph, LintContext], Iterator[Diagnostic]]

# rule name -> check; the name is the rule part of the ids it reports.
RULES: dict[str, Rule] = {
    "async-lock-conflict": async_lock_conflict.check,
    "async-unjoined": async_unjoined.check,
    "async-join-budget": async_join_budget.check,
    "async-unsupported": async_unsupported.check,
    "async-join-unknown": async_join_unknown.check,
    "async-join-context": async_join_context.check,
    "async-poll-ignored": async_poll_ignored.check,
    "async-redundant-join": async_redundant_join.check,
    "async-run-once": async_run_once.check,
    "async-changed-when": async_changed_when.check,
}


def lint(
    graph: Graph, *, hosts: HostResolver | None = None, config: LintConfig | None = None
) -> list[Diagnostic]:
    """Every finding of every rule over ``graph``, sorted and each once.

    ``hosts`` evaluates a play's host pattern (None: compare patterns by text).
    Rules the configuration skips entirely are not run; finer suppression
    (sub-ids, ``# noqa``, ``warn_list``) is `apply_suppressions`' job.
    """
    config = config if config is not None else LintConfig()
    catalog = default_catalog()
    ctx = LintContext(analysis=Analysis(graph, hosts), config=config, catalog=catalog)
    found: list[Diagnostic] = []
    for name, check in RULES.items():
        if config.skips_rule(name):
            continue
        found.extend(check(graph, ctx))
    return sorted_unique(found)
