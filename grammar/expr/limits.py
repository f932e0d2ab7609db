"""How deep an expression may nest: a linear check that runs before anything recursive."""

from __future__ import annotations

import re

from .errors import ExprTooComplex, caret_context

MAX_EXPR_DEPTH = 200
"""How deep an expression may nest: operators chained in one operand plus enclosing brackets.

Every analysis of an expression (ours, and Jinja's own parser and compiler, which
ansible-core renders with) walks its tree recursively, one level per chained
operator (``a or b or c`` is ``(a or b) or c``) or bracket; a few hundred levels
exhaust Python's stack.  Real conditions chain a few dozen terms at most.
"""

_COMPLEXITY_TOKEN = re.compile(
    r"""'[^'\\]*(?:\\.[^'\\]*)*'?|"[^"\\]*(?:\\.[^"\\]*)*"?"""
    r"""|(?<![\w.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"""
    r"""|[A-Za-z_]\w*|\*\*|//|[=!<>]=|[-+*/%~|.<>]|[(\[{]|[)\]}]|[,:]"""
)
_NESTING_WORDS = frozenset({"and", "or", "not", "in", "is", "if", "else"})
_TAGS = re.compile(r"\{\{(.*?)(?:\}\}|$)|\{%(.*?)(?:%\}|$)", re.DOTALL)


def depth_problem(text: str, base: int, full: str) -> ExprTooComplex | None:
    """An error at the first token that takes ``text`` past `MAX_EXPR_DEPTH`, if one does.

    An over-estimate of the tree's depth, by one linear scan: each bracket level
    counts the operators chained since its last ``,`` or ``:`` (list items and
    dict entries are siblings, not nested).
    """
    chained = [0]
    total = 0  # sum(chained) + brackets open: the depth estimate
    for match in _COMPLEXITY_TOKEN.finditer(text):
        token = match.group(0)
        first = token[0]
        if first in "'\"" or first.isdigit():
            continue
        if first.isalpha() or first == "_":
            if token not in _NESTING_WORDS:
                continue
            chained[-1] += 1
            total += 1
        elif first in "([{":
            chained.append(0)
            total += 1
        elif first in ")]}":
            if len(chained) > 1:
                total -= chained.pop() + 1
            continue
        elif first in ",:":
            total -= chained[-1]
            chained[-1] = 0
            continue
        else:
            chained[-1] += 1
            total += 1
        if total > MAX_EXPR_DEPTH:
            offset = base + match.start()
            return ExprTooComplex(
                f"expression too complex: nested more than {MAX_EXPR_DEPTH} levels deep "
                "(chained operators and brackets); split it into variables",
                offset,
                caret_context(full, offset),
            )
    return None


def complexity_problem(text: str, *, template: bool) -> ExprTooComplex | None:
    """`ExprTooComplex` for an expression (or, with ``template``, any ``{{ }}``/``{% %}`` tag of
    a template) nested deeper than `MAX_EXPR_DEPTH`; None when every part is within it.

    Linear in the text, so callers check before anything recursive sees it.
    """
    if not template:
        return depth_problem(text, 0, text)
    for tag in _TAGS.finditer(text):
        group = 1 if tag.group(1) is not None else 2
        problem = depth_problem(tag.group(group), tag.start(group), text)
        if problem is not None:
            return problem
    return None
