"""Expressions built without the LALR parser (and so without importing lark).

Two tiers: a regular expression for the commonest shapes (``a.b``, ``x | bool``,
``r is finished``), then a recursive-descent reading of ``expr.lark``'s rules for the
well-formed rest.  Both give the same nodes and spans as the grammar (property tests
compare them) and return None for anything they are not sure of: errors (their
messages come from the grammar's parser), keywords read as names, numbers other than
plain decimals, tuples, slices, tests with a bare argument.  A re-check that brings
one new condition then costs a few microseconds, not lark's import and tables.
"""

from __future__ import annotations

import re
from typing import Literal, NoReturn

from .limits import depth_problem
from .nodes import (
    BinaryOperator,
    BinOp,
    Call,
    Compare,
    CompareOperator,
    Concat,
    CondExpr,
    Const,
    DictItem,
    DictLit,
    Expr,
    Filter,
    Getattr,
    Getitem,
    Keyword,
    ListLit,
    Name,
    Operand,
    Test,
    UnaryOp,
)
from .strings import STRING, decode_string_body

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


def fast_parse_checked(text: str, base: int, full: str) -> Expr | None:
    """`fast_parse` after the nesting limit every parse path applies first
    (`ExprTooComplex` beyond it); None: the full parser decides."""
    problem = depth_problem(text, base, full)
    if problem is not None:
        raise problem
    return fast_parse(text, base)


def fast_parse(text: str, base: int) -> Expr | None:
    """``text`` as the grammar reads it, without the grammar: the common shapes
    (``a.b.c``, ``x | bool``, ``r is finished``, ``r is not defined``) by one regular
    expression, the rest of the well-formed text by `descend`.  Property tests check
    the nodes and spans against the grammar's.  None: the full parser decides."""
    common = _common_form(text, base)
    return common if common is not None else descend(text, base)


def _common_form(text: str, base: int) -> Expr | None:
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


# --------------------------------------------------------------------------- descent

# The terminals of expr.lark, restricted: numbers followed by a word character or a
# dot (``1e5``, ``1_0``, ``0x1``, ``1.5.x``) do not match here, so they reach the grammar.
_TOKEN = re.compile(
    r"""(?P<ws>\s+)"""
    r"""|(?P<FLOAT>[0-9]+\.[0-9]+)(?![\w.])"""
    r"""|(?P<INT>[1-9][0-9]*|0)(?![\w.])"""
    r"""|(?P<NAME>[^\W\d]\w*)"""
    rf"""|(?P<STRING>(?s:{STRING}))"""
    r"""|(?P<op>\*\*|//|==|!=|<=|>=|[-+*/%~<>|.,:()\[\]{}=])"""
)
_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "if", "else"})
_CONSTANTS: dict[str, bool | None] = {
    "true": True,
    "True": True,
    "false": False,
    "False": False,
    "none": None,
    "None": None,
}
_COMPARE: frozenset[str] = frozenset({"==", "!=", "<", "<=", ">", ">="})
_MATH2: frozenset[str] = frozenset({"*", "/", "//", "%"})
# What may follow a test name as its one bare argument (`x is divisibleby 3`), or
# that Jinja would read as one (`x is defined if y`): left to the grammar.
_AFTER_TEST: frozenset[str] = frozenset(
    {"NAME", "INT", "FLOAT", "STRING", "[", "{", "if", "in", "not", "is"}
)
_MAX_DEPTH = 60
"""Nesting this parser takes (each level is a dozen Python frames); deeper text is the
grammar's, which bounds it (`limits`)."""

_Token = tuple[str, str, int, int]
"""(kind, text, start, end): kind is NAME, INT, FLOAT, STRING, $END, or the operator or
keyword itself."""
_Parsed = tuple[Expr, int, int]
"""A node and its container: the span with any parentheses around it (what lark's
position propagation gives the enclosing rule)."""


class _Unsure(Exception):
    """Not a shape this parser is sure of: the grammar decides."""


def _unsure() -> NoReturn:
    raise _Unsure


def _string_body(literal: str) -> str:
    try:
        return decode_string_body(literal[1:-1])
    except ValueError:
        _unsure()  # an invalid escape: the grammar's parser says where


def _tokens(text: str, base: int) -> list[_Token] | None:
    out: list[_Token] = []
    pos, n = 0, len(text)
    while pos < n:
        match = _TOKEN.match(text, pos)
        if match is None:
            return None
        kind = match.lastgroup
        value = match.group()
        if kind == "op" or (kind == "NAME" and value in _KEYWORDS):
            kind = value
        if kind != "ws":
            out.append((str(kind), value, base + pos, base + match.end()))
        pos = match.end()
    out.append(("$END", "", base + n, base + n))
    return out


def descend(text: str, base: int) -> Expr | None:
    """``text`` read by the rules of expr.lark, offsets shifted by ``base``; None when
    the text is outside what this parser is sure of (see the module's docstring)."""
    tokens = _tokens(text, base)
    if tokens is None:
        return None
    parser = _Descent(tokens)
    try:
        expr, _, _ = parser.expr()
        if parser.kind() != "$END":
            return None
    except (_Unsure, RecursionError):
        return None
    return expr


class _Descent:
    """One method per level of expr.lark's rule chain; each returns `_Parsed`."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.at = 0
        self.depth = 0

    def kind(self, ahead: int = 0) -> str:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)][0]

    def take(self, kind: str | None = None) -> _Token:
        token = self.tokens[self.at]
        if token[0] == "$END" or (kind is not None and token[0] != kind):
            _unsure()
        self.at += 1
        return token

    def deeper(self) -> None:
        """One nesting level down (the caller steps back up): past `_MAX_DEPTH` the
        grammar's parser decides, with its own limit and message."""
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            _unsure()

    def expr(self) -> _Parsed:
        self.deeper()
        body, start, end = self.or_test()
        while self.kind() == "if":
            self.take()
            test, _, test_end = self.or_test()
            if self.kind() == "else":
                self.take()
                orelse, _, end = self.expr()  # takes any further `if` itself
                self.depth -= 1
                node = CondExpr(body=body, test=test, orelse=orelse, start=start, end=end)
                return node, start, end
            body = CondExpr(body=body, test=test, orelse=None, start=start, end=test_end)
            end = test_end
        self.depth -= 1
        return body, start, end

    def _binary(self, operand: str, operators: frozenset[str]) -> _Parsed:
        level = getattr(self, operand)
        left, start, end = level()
        while self.kind() in operators:
            op: BinaryOperator = self.take()[0]  # type: ignore[assignment]
            right, _, end = level()
            left = BinOp(op=op, left=left, right=right, start=start, end=end)
        return left, start, end

    def or_test(self) -> _Parsed:
        return self._binary("and_test", frozenset({"or"}))

    def and_test(self) -> _Parsed:
        return self._binary("not_test", frozenset({"and"}))

    def not_test(self) -> _Parsed:
        if self.kind() != "not":
            return self.comparison()
        start = self.take()[2]
        self.deeper()
        operand, _, end = self.not_test()
        self.depth -= 1
        return UnaryOp(op="not", operand=operand, start=start, end=end), start, end

    def comparison(self) -> _Parsed:
        left, start, end = self.math1()
        ops: list[Operand] = []
        while True:
            kind = self.kind()
            if kind in _COMPARE or kind == "in":
                op_start = self.take()[2]
                op: CompareOperator = kind  # type: ignore[assignment]
            elif kind == "not":
                op_start = self.take()[2]
                self.take("in")
                op = "not in"
            else:
                break
            right, _, end = self.math1()
            ops.append(Operand(op=op, right=right, start=op_start, end=end))
        if not ops:
            return left, start, end
        return Compare(left=left, ops=tuple(ops), start=start, end=end), start, end

    def math1(self) -> _Parsed:
        return self._binary("concat", frozenset({"+", "-"}))

    def concat(self) -> _Parsed:
        first, start, end = self.math2()
        if self.kind() != "~":
            return first, start, end
        items = [first]
        while self.kind() == "~":
            self.take()
            item, _, end = self.math2()
            items.append(item)
        return Concat(items=tuple(items), start=start, end=end), start, end

    def math2(self) -> _Parsed:
        return self._binary("power", _MATH2)

    def power(self) -> _Parsed:
        return self._binary("filtered", frozenset({"**"}))

    def filtered(self) -> _Parsed:
        node, start, end = self.unary()
        while True:
            kind = self.kind()
            if kind == "|":
                self.take()
                name, end = self.dotted_name()
                if self.kind() == "(":
                    args, kwargs, end = self.call_args()
                    node = Filter(
                        operand=node, name=name, args=args, kwargs=kwargs, start=start, end=end
                    )
                    if self.kind() == "(":
                        _unsure()  # a call of the filter's result (`fcall`)
                else:
                    node = Filter(operand=node, name=name, start=start, end=end)
            elif kind == "is":
                self.take()
                negated = self.kind() == "not"
                if negated:
                    self.take()
                name, end = self.dotted_name()
                if self.kind() == "(":
                    args, kwargs, end = self.call_args()
                    if self.kind() == "(":
                        _unsure()
                elif self.kind() in _AFTER_TEST:
                    _unsure()
                else:
                    args, kwargs = (), ()
                node = Test(operand=node, name=name, args=args, kwargs=kwargs, start=start, end=end)
                if negated:
                    node = UnaryOp(op="not", operand=node, start=start, end=end)
            else:
                return node, start, end

    def dotted_name(self) -> tuple[str, int]:
        token = self.take("NAME")
        name, end = token[1], token[3]
        while self.kind() == ".":
            self.take()
            token = self.take("NAME")
            name, end = f"{name}.{token[1]}", token[3]
        return name, end

    def unary(self) -> _Parsed:
        kind = self.kind()
        if kind not in ("-", "+"):
            return self.postfix()
        start = self.take()[2]
        self.deeper()
        operand, _, end = self.unary()
        self.depth -= 1
        op: Literal["-", "+"] = "-" if kind == "-" else "+"
        return UnaryOp(op=op, operand=operand, start=start, end=end), start, end

    def postfix(self) -> _Parsed:
        node, start, end = self.primary()
        while True:
            kind = self.kind()
            if kind == ".":
                self.take()
                token = self.take("NAME")
                end = token[3]
                node = Getattr(obj=node, attr=token[1], start=start, end=end)
            elif kind == "[":
                self.take()
                index, _, _ = self.expr()
                end = self.take("]")[3]  # a slice (`:`) or a tuple: the grammar's
                node = Getitem(obj=node, index=index, start=start, end=end)
            elif kind == "(":
                args, kwargs, end = self.call_args()
                node = Call(func=node, args=args, kwargs=kwargs, start=start, end=end)
            else:
                return node, start, end

    def call_args(self) -> tuple[tuple[Expr, ...], tuple[Keyword, ...], int]:
        self.take("(")
        args: list[Expr] = []
        kwargs: list[Keyword] = []
        while self.kind() != ")":
            if self.kind() == "NAME" and self.kind(1) == "=":
                name = self.take()
                self.take()
                value, _, end = self.expr()
                kwargs.append(Keyword(name=name[1], value=value, start=name[2], end=end))
            elif kwargs:
                _unsure()  # a positional argument after a keyword: an error
            else:
                args.append(self.expr()[0])
            if self.kind() != ",":
                break
            self.take()
        end = self.take(")")[3]
        return tuple(args), tuple(kwargs), end

    def primary(self) -> _Parsed:
        token = self.take()
        kind, value, start, end = token
        if kind == "NAME":
            if value in _CONSTANTS:
                return Const(value=_CONSTANTS[value], start=start, end=end), start, end
            return Name(name=value, start=start, end=end), start, end
        if kind == "STRING":
            parts = [_string_body(value)]
            while self.kind() == "STRING":
                token = self.take()
                parts.append(_string_body(token[1]))
                end = token[3]
            return Const(value="".join(parts), start=start, end=end), start, end
        if kind == "INT":
            return Const(value=int(value), start=start, end=end), start, end
        if kind == "FLOAT":
            return Const(value=float(value), start=start, end=end), start, end
        if kind == "(":
            if self.kind() == ")":
                _unsure()  # the empty tuple
            inner, _, _ = self.expr()
            end = self.take(")")[3]  # a tuple (`,`): the grammar's
            return inner, start, end
        if kind == "[":
            items: list[Expr] = []
            while self.kind() != "]":
                items.append(self.expr()[0])
                if self.kind() != ",":
                    break
                self.take()
            end = self.take("]")[3]
            return ListLit(items=tuple(items), start=start, end=end), start, end
        if kind == "{":
            pairs: list[DictItem] = []
            while self.kind() != "}":
                key, key_start, _ = self.expr()
                self.take(":")
                item, _, item_end = self.expr()
                pairs.append(DictItem(key=key, value=item, start=key_start, end=item_end))
                if self.kind() != ",":
                    break
                self.take()
            end = self.take("}")[3]
            return DictLit(items=tuple(pairs), start=start, end=end), start, end
        _unsure()
