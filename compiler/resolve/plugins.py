"""Plugin names checked where the configuration cannot be consulted: ``strategy``.

ansible-core accepts any strategy name when it parses a play (``--syntax-check``
passes ``strategy: mitogen_linear``) and loads the plugin only when the play runs,
from the configured ``strategy_plugins`` folders or a collection.  So a name is
reported only when it is a near miss of a builtin strategy (``linaer``) — a typo,
not a plugin of the user's.
"""

from __future__ import annotations

from playgraph.semantics import is_template

from .. import codes, values
from ..context import FileContext
from ..loader import YNode
from ..suggest import did_you_mean

BUILTIN_STRATEGIES = ("linear", "free", "host_pinned", "debug")


def strategy(ctx: FileContext, node: YNode) -> str | None:
    """A play's ``strategy``: a builtin name, a plugin's name, or a template."""
    value = values.string(ctx, node, "strategy")
    if value is None or is_template(value) or value in BUILTIN_STRATEGIES:
        return value
    near = did_you_mean(value, BUILTIN_STRATEGIES)
    if near is None or "." in value:
        return value  # a strategy plugin (mitogen_linear, ns.coll.name): found at run time
    ctx.report(
        codes.SCHEMA_BAD_VALUE,
        node.span,
        f"'strategy' must be one of {', '.join(BUILTIN_STRATEGIES)} or a strategy plugin; "
        f"got '{value}'",
        help=f"did you mean `{near}`?",
    )
    return None
