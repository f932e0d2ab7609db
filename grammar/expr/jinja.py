"""Jinja's side: its parser, for what our grammar leaves opaque, and reads located in
its trees."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import jinja2
import jinja2.nodes as jn

from .errors import ExprSyntaxError
from .nodes import (
    OpaqueExpr,
    PathElement,
    VarRead,
)


@functools.cache
def jinja_environment() -> jinja2.Environment:
    """The Jinja environment used to parse (never render): Ansible's defaults, no extensions."""
    return jinja2.Environment()


def jinja_parse_expression(source: str) -> jn.Expr | None:
    """Jinja's own reading of ``source`` as the inside of ``{{ }}``, or None if it rejects it."""
    # Parsed inside a real tag: Jinja's tuple rules (`{{ a, }}`) depend on the
    # closing `}}`. The spaces keep a leading or trailing `-` from reading as
    # whitespace control; a `}}` inside `source` shows up as extra output.
    try:
        tree = jinja_environment().parse("{{ " + source + " }}")
    except (jinja2.TemplateSyntaxError, RecursionError):
        return None
    if len(tree.body) != 1:
        return None
    output = tree.body[0]
    if not isinstance(output, jn.Output) or len(output.nodes) != 1:
        return None
    node = output.nodes[0]
    return None if isinstance(node, jn.TemplateData) else node


def jinja_accepts_expression(source: str) -> bool:
    """Whether Jinja's parser accepts ``source`` as the inside of ``{{ }}``."""
    return jinja_parse_expression(source) is not None


@dataclass(frozen=True, slots=True)
class JinjaRead:
    """A read found in a Jinja AST: name, constant path and Jinja's line number."""

    name: str
    path: tuple[PathElement, ...]
    lineno: int


def _jinja_const_index(node: jn.Node) -> PathElement | None:
    if isinstance(node, jn.Const) and type(node.value) in (int, str):
        value: PathElement = node.value
        return value
    if (
        isinstance(node, jn.Neg)
        and isinstance(node.node, jn.Const)
        and type(node.node.value) is int
    ):
        return -int(node.node.value)
    return None


def jinja_expr_reads(node: jn.Node, bound: frozenset[str] = frozenset()) -> list[JinjaRead]:
    """Free variable reads of a Jinja expression node, in source order.

    Same rules as ``variable_reads``: function and method names, filter and test
    names and keyword names are not reads; names in ``bound`` are not free.
    """
    out: list[JinjaRead] = []
    _jinja_visit(node, bound, out)
    return out


def _jinja_children(node: jn.Node) -> Iterator[jn.Node]:
    if isinstance(node, jn.CondExpr):
        # fields are (test, expr1, expr2); the source reads `expr1 if test else expr2`
        yield node.expr1
        yield node.test
        if node.expr2 is not None:
            yield node.expr2
        return
    yield from node.iter_child_nodes()


def _jinja_visit(node: jn.Node, bound: frozenset[str], out: list[JinjaRead]) -> None:
    if isinstance(node, jn.Name):
        if node.ctx == "load" and node.name not in bound:
            out.append(JinjaRead(node.name, (), node.lineno))
        return
    if isinstance(node, jn.Getattr | jn.Getitem):
        accessors: list[jn.Getattr | jn.Getitem] = []
        base: jn.Node = node
        while isinstance(base, jn.Getattr | jn.Getitem):
            accessors.append(base)
            base = base.node
        accessors.reverse()
        rest = accessors
        if isinstance(base, jn.Name) and base.ctx == "load":
            path: list[PathElement] = []
            for i, acc in enumerate(accessors):
                elem = acc.attr if isinstance(acc, jn.Getattr) else _jinja_const_index(acc.arg)
                if elem is None:
                    rest = accessors[i:]
                    break
                path.append(elem)
            else:
                rest = []
            if base.name not in bound:
                out.append(JinjaRead(base.name, tuple(path), base.lineno))
        else:
            _jinja_visit(base, bound, out)
        for acc in rest:
            if isinstance(acc, jn.Getitem):
                _jinja_visit(acc.arg, bound, out)
        return
    if isinstance(node, jn.Call):
        func = node.node
        if isinstance(func, jn.Getattr):
            _jinja_visit(func.node, bound, out)  # a method call reads its receiver
        elif not isinstance(func, jn.Name):
            _jinja_visit(func, bound, out)
        arguments: list[jn.Node | None] = [*node.args, *node.kwargs, node.dyn_args, node.dyn_kwargs]
        for argument in arguments:
            if argument is not None:
                _jinja_visit(argument, bound, out)
        return
    for child in _jinja_children(node):
        _jinja_visit(child, bound, out)


def jinja_names(node: jn.Node, kind: type[jn.Filter] | type[jn.Test]) -> list[str]:
    out: list[str] = []

    def visit(n: jn.Node) -> None:
        # A filter's name comes after its operand in the source; args after the name.
        if isinstance(n, kind):
            if n.node is not None:
                visit(n.node)
            out.append(n.name)
            arguments: list[jn.Node | None] = [*n.args, *n.kwargs, n.dyn_args, n.dyn_kwargs]
            for argument in arguments:
                if argument is not None:
                    visit(argument)
            return
        for child in _jinja_children(n):
            visit(child)

    visit(node)
    return out


# Identifier occurrences that can be variable reads: not inside strings, not
# after '.', '|' or 'is [not]' and not a keyword argument's name.
_SITE_SCAN = re.compile(
    r"""(?P<str>'[^'\\]*(?:\\.[^'\\]*)*'|"[^"\\]*(?:\\.[^"\\]*)*")"""
    r"""|(?P<name>[^\W\d]\w*)|(?P<other>\S)""",
    re.DOTALL,
)
_KWARG_AFTER = re.compile(r"\s*=(?!=)")


@dataclass(frozen=True, slots=True)
class NameSite:
    """Where an identifier that may be a variable read occurs (offset, line)."""

    name: str
    offset: int
    lineno: int


def name_sites(source: str, base: int = 0, first_lineno: int = 1) -> list[NameSite]:
    """Identifier occurrences in ``source`` that could be variable reads."""
    sites: list[NameSite] = []
    previous = ""
    before_previous = ""
    for match in _SITE_SCAN.finditer(source):
        kind = match.lastgroup
        word = match.group(0)
        if kind == "name":
            after_test = previous == "is" or (previous == "not" and before_previous == "is")
            if (
                previous not in (".", "|")
                and not after_test
                and not _KWARG_AFTER.match(source, match.end())
            ):
                lineno = first_lineno + _count_newlines(source, 0, match.start())
                sites.append(NameSite(word, base + match.start(), lineno))
        before_previous, previous = previous, word
    return sites


_NEWLINE = re.compile(r"\r\n|\r|\n")


def _count_newlines(text: str, start: int, end: int) -> int:
    return len(_NEWLINE.findall(text, start, end))


def _pick_site(candidates: Sequence[NameSite], lineno: int, cursor: int) -> NameSite | None:
    same_line = [s for s in candidates if s.lineno == lineno]
    for pool in (
        [s for s in same_line if s.offset > cursor],
        same_line,
        [s for s in candidates if s.offset > cursor],
        list(candidates),
    ):
        if pool:
            return pool[0]
    return None


def locate_reads(reads: Sequence[JinjaRead], sites: Sequence[NameSite]) -> list[VarRead]:
    """Give Jinja-found reads offsets by claiming matching identifier sites in order.

    Jinja's AST only has line numbers, so each read takes the first unclaimed
    site with its name, preferring its own line and positions after the read
    before it; a read with no site at all is placed on the first site (or 0).
    """
    claimed: set[int] = set()  # offsets of sites already taken
    cursor = -1
    out: list[VarRead] = []
    by_name: dict[str, list[int]] = {}
    for index, site in enumerate(sites):
        by_name.setdefault(site.name, []).append(index)
    for read in reads:
        candidates = [sites[i] for i in by_name.get(read.name, []) if i not in claimed]
        chosen = _pick_site(candidates, read.lineno, cursor)
        if chosen is None:
            offset = sites[0].offset if sites else 0
            out.append(VarRead(name=read.name, path=read.path, start=offset, end=offset))
            continue
        claimed.add(chosen.offset)
        cursor = chosen.offset
        out.append(
            VarRead(
                name=read.name,
                path=read.path,
                start=chosen.offset,
                end=chosen.offset + len(chosen.name),
            )
        )
    return out


def opaque_tree(expr: OpaqueExpr) -> jn.Expr:
    node = jinja_parse_expression(expr.source)
    if node is None:  # only built from text Jinja accepted; keep the analyses total anyway
        raise ExprSyntaxError("Jinja rejects this expression", expr.start)
    return node
