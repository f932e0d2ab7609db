"""The common expression shapes, built without the LALR parser."""

from __future__ import annotations

import re

from .nodes import (
    Expr,
    Filter,
    Getattr,
    Name,
    Test,
    UnaryOp,
)

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_FAST_FORM = re.compile(
    rf"(?P<lead>\s*)(?P<path>{_IDENT}(?:\.{_IDENT})*)"
    rf"(?P<filters>(?:\s*\|\s*{_IDENT})*)"
    rf"(?:\s+is\s+(?P<negated>not\s+)?(?P<test>{_IDENT}))?\s*"
)
_FAST_FILTER = re.compile(rf"\|\s*({_IDENT})")
# Words that are operators or literals in Jinja: text using them takes the full parser.
_RESERVED = frozenset({"true", "false", "none", "True", "False", "None", "and", "or", "not",
                       "in", "is", "if", "else"})  # fmt: skip


def fast_parse(text: str, base: int) -> Expr | None:
    """The common shapes — ``a.b.c``, ``x | bool``, ``r is finished``, ``r is not defined`` —
    built directly, with the same nodes and spans the grammar gives (a property test
    checks it).  Conditions and templates are mostly these, and the LALR parse of a
    short expression costs ~20x more.  Anything else returns None (the full parser)."""
    match = _FAST_FORM.fullmatch(text)
    if match is None:
        return None
    names = match["path"].split(".")
    if any(name in _RESERVED for name in names):
        return None
    position = base + len(match["lead"])
    start = position
    expr: Expr = Name(name=names[0], start=start, end=start + len(names[0]))
    position = expr.end
    for attr in names[1:]:
        position += 1 + len(attr)
        expr = Getattr(obj=expr, attr=attr, start=start, end=position)
    filters = match["filters"]
    if filters:
        offset = base + match.start("filters")
        for found in _FAST_FILTER.finditer(filters):
            if found[1] in _RESERVED:
                return None
            expr = Filter(operand=expr, name=found[1], start=start, end=offset + found.end(1))
    if match["test"] is not None:
        if match["test"] in _RESERVED:
            return None
        end = base + match.end("test")
        expr = Test(operand=expr, name=match["test"], start=start, end=end)
        if match["negated"]:
            expr = UnaryOp(op="not", operand=expr, start=start, end=end)
    return expr
