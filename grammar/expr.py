"""The Jinja2 expression subset: parser, AST and the static analyses built on it.

``parse_expression`` reads what Ansible puts in ``when:`` or between ``{{ }}`` into
small frozen nodes whose shape matches what Jinja's own parser builds; the
analyses (``variable_reads``, ``filters_used``, ``tests_used``, ``literal_value``)
are pure functions over those nodes. Jinja constructs outside the subset are
carried as ``OpaqueExpr`` and analysed through Jinja's parser instead.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, TypedDict, assert_never

import jinja2
import jinja2.nodes as jn
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)
from lark.tree import Meta

from .loading import load_parser

__all__ = [
    "MAX_EXPR_DEPTH",
    "BinOp",
    "Call",
    "Compare",
    "Concat",
    "CondExpr",
    "Const",
    "DictItem",
    "DictLit",
    "Expr",
    "ExprSyntaxError",
    "ExprTooComplex",
    "Filter",
    "Getattr",
    "Getitem",
    "GrammarError",
    "JinjaRead",
    "Keyword",
    "ListLit",
    "Name",
    "NameSite",
    "Node",
    "NotALiteral",
    "OpaqueExpr",
    "Operand",
    "Slice",
    "Test",
    "TupleLit",
    "UnaryOp",
    "VarRead",
    "build_expr_parser",
    "caret_context",
    "complexity_problem",
    "filters_used",
    "jinja_accepts_expression",
    "jinja_environment",
    "jinja_expr_reads",
    "jinja_parse_expression",
    "literal_value",
    "locate_reads",
    "name_sites",
    "parse_expression",
    "parse_expression_lenient",
    "tests_used",
    "unparse",
    "variable_reads",
]


# --------------------------------------------------------------------------- errors


class GrammarError(Exception):
    """A syntax error in one of the small languages, located by a character offset.

    ``context`` is the offending line with a caret under ``offset`` (the layout of
    lark's ``UnexpectedInput.get_context``), ready for a one-line diagnostic.
    """

    too_complex: bool = False
    """The text may be valid, but is beyond what the analyses accept (`ExprTooComplex`)."""

    def __init__(self, message: str, offset: int, context: str = "") -> None:
        super().__init__(message, offset)
        self.message = message
        self.offset = offset
        self.context = context

    def __str__(self) -> str:
        return f"{self.message} (at offset {self.offset})"


class ExprSyntaxError(GrammarError):
    """An expression that the Jinja expression grammar rejects."""


class ExprTooComplex(ExprSyntaxError):
    """An expression nested deeper than `MAX_EXPR_DEPTH` (see `complexity_problem`)."""

    too_complex = True


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


def _depth_problem(text: str, base: int, full: str) -> ExprTooComplex | None:
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
        return _depth_problem(text, 0, text)
    for tag in _TAGS.finditer(text):
        group = 1 if tag.group(1) is not None else 2
        problem = _depth_problem(tag.group(group), tag.start(group), text)
        if problem is not None:
            return problem
    return None


class NotALiteral(ValueError):
    """Raised by ``literal_value`` for an expression whose value needs variables or calls."""


def caret_context(text: str, offset: int, span: int = 40) -> str:
    """The line around ``offset`` with a caret under it, laid out as lark's ``get_context``.

    Used for errors that lark did not raise (or whose offset we moved to a more
    useful character), so every ``GrammarError.context`` reads the same.
    """
    offset = max(0, min(offset, len(text)))
    before = text[max(offset - span, 0) : offset].rsplit("\n", 1)[-1]
    after = text[offset : offset + span].split("\n", 1)[0]
    return before + after + "\n" + " " * len(before.expandtabs()) + "^\n"


# --------------------------------------------------------------------------- AST


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """Base of every AST node: the half-open character span it was parsed from.

    Spans are excluded from equality so that structural comparisons (tests,
    round-trip properties) compare shapes only.
    """

    start: int = field(default=0, compare=False)
    end: int = field(default=0, compare=False)


ConstValue: TypeAlias = str | int | float | bool | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Name(Node):
    """A variable (or global) looked up by name: ``x``."""

    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Const(Node):
    """A literal string, number, ``true``/``false`` or ``none``.

    Adjacent string literals are joined, as Jinja does (``'a' 'b'`` is ``'ab'``).
    """

    value: ConstValue


@dataclass(frozen=True, slots=True, kw_only=True)
class ListLit(Node):
    """A list display: ``[a, b]``."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TupleLit(Node):
    """A tuple: ``(a, b)``, ``(a,)``, ``()``, or a bare ``a, b`` at the top."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DictItem(Node):
    """One ``key: value`` entry of a dict display."""

    key: Expr
    value: Expr


@dataclass(frozen=True, slots=True, kw_only=True)
class DictLit(Node):
    """A dict display: ``{'a': 1}``."""

    items: tuple[DictItem, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Slice(Node):
    """A slice inside a subscript: ``a[1:2]``, ``a[::2]``; missing bounds are None."""

    lower: Expr | None
    upper: Expr | None
    step: Expr | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Getattr(Node):
    """Attribute access ``obj.attr`` (Jinja falls back to item access at run time)."""

    obj: Expr
    attr: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Getitem(Node):
    """Item access ``obj[index]``; ``obj.0`` is also an item access, as in Jinja."""

    obj: Expr
    index: Expr | Slice


@dataclass(frozen=True, slots=True, kw_only=True)
class Keyword(Node):
    """A keyword argument ``name=value`` in a call, filter or test."""

    name: str
    value: Expr


@dataclass(frozen=True, slots=True, kw_only=True)
class Call(Node):
    """A call ``func(args, name=value)``."""

    func: Expr
    args: tuple[Expr, ...] = ()
    kwargs: tuple[Keyword, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Filter(Node):
    """A filter application ``operand | name(args)``; ``name`` may be dotted (FQCN)."""

    operand: Expr
    name: str
    args: tuple[Expr, ...] = ()
    kwargs: tuple[Keyword, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Test(Node):
    """A test ``operand is name(args)``; ``is not`` is a ``not`` around it, as in Jinja."""

    operand: Expr
    name: str
    args: tuple[Expr, ...] = ()
    kwargs: tuple[Keyword, ...] = ()


UnaryOperator: TypeAlias = Literal["-", "+", "not"]
BinaryOperator: TypeAlias = Literal["+", "-", "*", "/", "//", "%", "**", "and", "or"]
CompareOperator: TypeAlias = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not in"]


@dataclass(frozen=True, slots=True, kw_only=True)
class UnaryOp(Node):
    """``-x``, ``+x`` or ``not x``."""

    op: UnaryOperator
    operand: Expr


@dataclass(frozen=True, slots=True, kw_only=True)
class BinOp(Node):
    """An arithmetic or boolean operator; all are left-associative, ``**`` too."""

    op: BinaryOperator
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True, kw_only=True)
class Concat(Node):
    """String concatenation ``a ~ b ~ c``, flat as in Jinja."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Operand(Node):
    """One ``op right`` step of a (possibly chained) comparison."""

    op: CompareOperator
    right: Expr


@dataclass(frozen=True, slots=True, kw_only=True)
class Compare(Node):
    """A comparison chain ``a < b <= c`` (also ``in`` / ``not in``)."""

    left: Expr
    ops: tuple[Operand, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CondExpr(Node):
    """``body if test else orelse``; Jinja allows leaving out the else branch."""

    body: Expr
    test: Expr
    orelse: Expr | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OpaqueExpr(Node):
    """An expression Jinja accepts but our grammar does not cover (e.g. ``f(*args)``).

    Only its source is kept; the analyses re-read it with Jinja's parser.
    """

    source: str


Expr: TypeAlias = (
    Name
    | Const
    | ListLit
    | TupleLit
    | DictLit
    | Getattr
    | Getitem
    | Call
    | Filter
    | Test
    | UnaryOp
    | BinOp
    | Concat
    | Compare
    | CondExpr
    | OpaqueExpr
)

PathElement: TypeAlias = str | int


@dataclass(frozen=True, slots=True, kw_only=True)
class VarRead(Node):
    """A free variable read with the constant attribute/item path that follows it.

    ``x['a'][0].b`` reads ``x`` with path ``("a", 0, "b")``; a non-constant
    subscript ends the path. The span covers the name and the path. For reads
    found through Jinja's parser (statements, ``OpaqueExpr``) the span covers the
    name only.
    """

    name: str
    path: tuple[PathElement, ...] = ()


# --------------------------------------------------------------------------- parser


def build_expr_parser(*, strict: bool = False) -> Lark:
    """Build the LALR parser for ``expr.lark`` (``strict`` turns conflicts into errors)."""
    return Lark.open_from_package(
        "playgraph.grammar",
        "expr.lark",
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        strict=strict,
    )


@functools.cache
def _parser() -> Lark:
    # The same parser as build_expr_parser(), its tables cached on disk between runs.
    return load_parser(
        "expr.lark",
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
    )


class _Span(TypedDict):
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _CallArgs:
    """The parenthesised argument list of a call, filter or test (internal)."""

    args: tuple[Expr, ...]
    kwargs: tuple[Keyword, ...]


_DOUBLED_BACKSLASH_ESCAPE = re.compile(
    r"\\(?:(\n)|([\\'\"abfnrtv])|([0-7]{1,3})|x(.{0,2})|u(.{0,4})|U(.{0,8})|N(\{[^}]*\})?|(.))",
    re.DOTALL,
)
_SIMPLE_ESCAPES = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}
_HEX = re.compile(r"[0-9a-fA-F]+")


def _decode_string_body(body: str) -> str:
    """Decode a string literal's body the way Jinja's lexer does.

    Jinja runs ``body.encode("ascii", "backslashreplace").decode("unicode-escape")``.
    The codec is re-implemented here because it warns (and will later fail) on
    unknown escapes such as ``\\d``, which Jinja keeps verbatim; ValueError
    signals the escapes the codec rejects.
    """
    if "\\" not in body:
        return body
    ascii_body = body.encode("ascii", "backslashreplace").decode("ascii")

    def one(match: re.Match[str]) -> str:
        newline, simple, octal, x, u, big_u, named, other = match.groups()
        if newline is not None:
            return ""
        if simple is not None:
            return _SIMPLE_ESCAPES[simple]
        if octal is not None:
            return chr(int(octal, 8))
        for digits, width in ((x, 2), (u, 4), (big_u, 8)):
            if digits is not None:
                if len(digits) != width or not _HEX.fullmatch(digits):
                    raise ValueError("truncated escape")
                return chr(int(digits, 16))  # ValueError above 0x10FFFF
        if match.group(0).startswith("\\N"):
            if named is None:
                raise ValueError("malformed \\N escape")
            return unicodedata.lookup(named[1:-1])  # KeyError is a LookupError
        return "\\" + (other or "")

    try:
        return _DOUBLED_BACKSLASH_ESCAPE.sub(one, ascii_body)
    except (LookupError, OverflowError) as error:
        raise ValueError(str(error)) from error


_CMP_BY_RULE: dict[str, CompareOperator] = {
    "op_eq": "==",
    "op_ne": "!=",
    "op_lt": "<",
    "op_le": "<=",
    "op_gt": ">",
    "op_ge": ">=",
    "op_in": "in",
    "op_notin": "not in",
}

# After a test name without arguments Jinja reads the next word, keywords
# included, as the test's one argument: `x is defined if y` is
# `(x is defined(if)) y`, a syntax error, and `x is t in ()` calls a variable
# named `in`. Our grammar would read these as an operator instead, so we reject
# them (the lenient parser then defers to Jinja) rather than read them another way.
_KEYWORD_AFTER_BARE_TEST = re.compile(r"\s*(if|in|not|is)(?!\w)")


@v_args(inline=True, meta=True)
class _ToAst(Transformer[Token, Expr]):
    """Turns the lark tree into AST nodes; offsets are shifted by ``base``."""

    def __init__(self, text: str, base: int, full_text: str) -> None:
        super().__init__()
        self._text = text
        self._base = base
        self._full = full_text

    def _span(self, meta: Meta) -> _Span:
        return {"start": meta.start_pos + self._base, "end": meta.end_pos + self._base}

    def _tok_span(self, token: Token) -> _Span:
        start = (token.start_pos or 0) + self._base
        return {"start": start, "end": start + len(token)}

    # -- structure -----------------------------------------------------------

    def tuple_lit(self, meta: Meta, *items: Expr) -> TupleLit:
        return TupleLit(items=items, **self._span(meta))

    def empty_tuple(self, meta: Meta) -> TupleLit:
        return TupleLit(items=(), **self._span(meta))

    def cond(self, meta: Meta, body: Expr, test: Expr, orelse: Expr) -> CondExpr:
        return CondExpr(body=body, test=test, orelse=orelse, **self._span(meta))

    def cond_noelse(self, meta: Meta, body: Expr, test: Expr) -> CondExpr:
        return CondExpr(body=body, test=test, orelse=None, **self._span(meta))

    def or_(self, meta: Meta, left: Expr, right: Expr) -> BinOp:
        return BinOp(op="or", left=left, right=right, **self._span(meta))

    def and_(self, meta: Meta, left: Expr, right: Expr) -> BinOp:
        return BinOp(op="and", left=left, right=right, **self._span(meta))

    def not_(self, meta: Meta, operand: Expr) -> UnaryOp:
        return UnaryOp(op="not", operand=operand, **self._span(meta))

    def compare(self, meta: Meta, left: Expr, *ops: Operand) -> Compare:
        return Compare(left=left, ops=ops, **self._span(meta))

    def _operand(self, rule: str, meta: Meta, right: Expr) -> Operand:
        return Operand(op=_CMP_BY_RULE[rule], right=right, **self._span(meta))

    def op_eq(self, meta: Meta, right: Expr) -> Operand:
        return self._operand("op_eq", meta, right)

    def op_ne(self, meta: Meta, right: Expr) -> Operand:
        return self._operand("op_ne", meta, right)

    def op_lt(self, meta: Meta, right: Expr) -> Operand:
        return self._operand("op_lt", meta, right)

    def op_le(self, meta: Meta, right: Expr) -> Operand:
        return self._operand("op_le", meta, right)

    def op_gt(self, meta: Meta, right: Expr) -> Operand:
        return self._operand("op_gt", meta, right)

    def op_ge(self, meta: Meta, right: Expr) -> Operand:
        return self._operand("op_ge", meta, right)

    def op_in(self, meta: Meta, right: Expr) -> Operand:
        return self._operand("op_in", meta, right)

    def op_notin(self, meta: Meta, right: Expr) -> Operand:
        return self._operand("op_notin", meta, right)

    def _bin(self, op: BinaryOperator, meta: Meta, left: Expr, right: Expr) -> BinOp:
        return BinOp(op=op, left=left, right=right, **self._span(meta))

    def add(self, meta: Meta, left: Expr, right: Expr) -> BinOp:
        return self._bin("+", meta, left, right)

    def sub(self, meta: Meta, left: Expr, right: Expr) -> BinOp:
        return self._bin("-", meta, left, right)

    def mul(self, meta: Meta, left: Expr, right: Expr) -> BinOp:
        return self._bin("*", meta, left, right)

    def div(self, meta: Meta, left: Expr, right: Expr) -> BinOp:
        return self._bin("/", meta, left, right)

    def floordiv(self, meta: Meta, left: Expr, right: Expr) -> BinOp:
        return self._bin("//", meta, left, right)

    def mod(self, meta: Meta, left: Expr, right: Expr) -> BinOp:
        return self._bin("%", meta, left, right)

    def pow_(self, meta: Meta, left: Expr, right: Expr) -> BinOp:
        return self._bin("**", meta, left, right)

    def concat(self, meta: Meta, *items: Expr) -> Concat:
        return Concat(items=items, **self._span(meta))

    def neg(self, meta: Meta, operand: Expr) -> UnaryOp:
        return UnaryOp(op="-", operand=operand, **self._span(meta))

    def pos(self, meta: Meta, operand: Expr) -> UnaryOp:
        return UnaryOp(op="+", operand=operand, **self._span(meta))

    # -- filters and tests ---------------------------------------------------

    def dotted_name(self, meta: Meta, *parts: Token) -> str:
        return ".".join(str(p) for p in parts)

    def filter_na(self, meta: Meta, operand: Expr, name: str) -> Filter:
        return Filter(operand=operand, name=name, **self._span(meta))

    def filter_a(self, meta: Meta, operand: Expr, name: str, call: _CallArgs) -> Filter:
        return Filter(
            operand=operand, name=name, args=call.args, kwargs=call.kwargs, **self._span(meta)
        )

    def _test(
        self, meta: Meta, operand: Expr, name: str, call: _CallArgs | None, negated: bool
    ) -> Expr:
        args, kwargs = (call.args, call.kwargs) if call is not None else ((), ())
        node = Test(operand=operand, name=name, args=args, kwargs=kwargs, **self._span(meta))
        return UnaryOp(op="not", operand=node, **self._span(meta)) if negated else node

    def _check_bare_test(self, meta: Meta) -> None:
        following = _KEYWORD_AFTER_BARE_TEST.match(self._text, meta.end_pos)
        if following is None:
            return
        word = following.group(1)
        offset = following.start(1) + self._base
        if word == "is":
            message = "cannot chain tests with 'is' after a test without arguments"
        else:
            message = (
                f"'{word}' right after a test name is read by Jinja as the test's argument;"
                " put the test in parentheses or write it with '()'"
            )
        raise ExprSyntaxError(message, offset, caret_context(self._full, offset))

    def test_na(self, meta: Meta, operand: Expr, name: str) -> Expr:
        self._check_bare_test(meta)
        return self._test(meta, operand, name, None, negated=False)

    def ntest_na(self, meta: Meta, operand: Expr, name: str) -> Expr:
        self._check_bare_test(meta)
        return self._test(meta, operand, name, None, negated=True)

    def test_a(self, meta: Meta, operand: Expr, name: str, call: _CallArgs) -> Expr:
        return self._test(meta, operand, name, call, negated=False)

    def ntest_a(self, meta: Meta, operand: Expr, name: str, call: _CallArgs) -> Expr:
        return self._test(meta, operand, name, call, negated=True)

    def test_bare(self, meta: Meta, operand: Expr, name: str, arg: Expr) -> Expr:
        return self._test(meta, operand, name, _CallArgs((arg,), ()), negated=False)

    def ntest_bare(self, meta: Meta, operand: Expr, name: str, arg: Expr) -> Expr:
        return self._test(meta, operand, name, _CallArgs((arg,), ()), negated=True)

    def fcall(self, meta: Meta, func: Expr, call: _CallArgs) -> Call:
        return Call(func=func, args=call.args, kwargs=call.kwargs, **self._span(meta))

    # -- postfix -------------------------------------------------------------

    def attr(self, meta: Meta, obj: Expr, attr: Token) -> Getattr:
        return Getattr(obj=obj, attr=str(attr), **self._span(meta))

    def getitem_dot(self, meta: Meta, obj: Expr, index: Token) -> Getitem:
        const = Const(value=int(str(index).replace("_", ""), 0), **self._tok_span(index))
        return Getitem(obj=obj, index=const, **self._span(meta))

    def getitem(self, meta: Meta, obj: Expr, index: Expr | Slice) -> Getitem:
        return Getitem(obj=obj, index=index, **self._span(meta))

    def slice_lit(
        self, meta: Meta, lower: Expr | None, upper: Expr | None, step: Expr | None
    ) -> Slice:
        return Slice(lower=lower, upper=upper, step=step, **self._span(meta))

    def call(self, meta: Meta, func: Expr, call: _CallArgs) -> Call:
        return Call(func=func, args=call.args, kwargs=call.kwargs, **self._span(meta))

    def call_args(self, meta: Meta, *items: Expr | Keyword) -> _CallArgs:
        args = tuple(i for i in items if not isinstance(i, Keyword))
        kwargs = tuple(i for i in items if isinstance(i, Keyword))
        return _CallArgs(args, kwargs)

    def kwarg(self, meta: Meta, name: Token, value: Expr) -> Keyword:
        return Keyword(name=str(name), value=value, **self._span(meta))

    # -- atoms ---------------------------------------------------------------

    def name(self, meta: Meta, token: Token) -> Expr:
        text = str(token)
        span = self._span(meta)
        # Jinja makes these constants in the parser, not the lexer, so they stay
        # ordinary names after a dot or before '=' (`x.true`, `f(none=1)`).
        if text in ("true", "True"):
            return Const(value=True, **span)
        if text in ("false", "False"):
            return Const(value=False, **span)
        if text in ("none", "None"):
            return Const(value=None, **span)
        return Name(name=text, **span)

    def string(self, meta: Meta, *tokens: Token) -> Const:
        parts = []
        for token in tokens:
            try:
                parts.append(_decode_string_body(str(token)[1:-1]))
            except ValueError:
                offset = (token.start_pos or 0) + self._base
                raise ExprSyntaxError(
                    "invalid escape sequence in string", offset, caret_context(self._full, offset)
                ) from None
        return Const(value="".join(parts), **self._span(meta))

    def integer(self, meta: Meta, token: Token) -> Const:
        return Const(value=int(str(token).replace("_", ""), 0), **self._span(meta))

    def floating(self, meta: Meta, token: Token) -> Const:
        return Const(value=float(str(token).replace("_", "")), **self._span(meta))

    def list_lit(self, meta: Meta, *items: Expr) -> ListLit:
        return ListLit(items=items, **self._span(meta))

    def dict_lit(self, meta: Meta, *items: DictItem) -> DictLit:
        return DictLit(items=items, **self._span(meta))

    def pair(self, meta: Meta, key: Expr, value: Expr) -> DictItem:
        return DictItem(key=key, value=value, **self._span(meta))


# -- error reporting ---------------------------------------------------------------

# Labels for UnexpectedInput.match_examples: each example fails in the parser
# state (and on the token) that the label describes.
_EXAMPLES: dict[str, list[str]] = {
    "expected an expression": ["* a", "== a", "| a", ". a", ", a", "] a"],
    "expected an expression after the operator": [
        "a +",
        "a -",
        "a *",
        "a /",
        "a //",
        "a %",
        "a **",
        "a ~",
        "a ==",
        "a !=",
        "a <",
        "a <=",
        "a >",
        "a >=",
        "a in",
        "a not in",
        "a and",
        "a or",
        "not",
        "-",
        "+",
        "a if",
        "a if b else",
        "a ~ b ~",
        "a + )",
        "a and )",
        "a == )",
        "not )",
        "- )",
        "a if )",
    ],
    "expected 'in' after 'not'": ["a not", "a not b"],
    "expected a name after '.'": ["a.", "a.+", "a.(", "a.'x'", "a.[", "a .)"],
    "expected a filter name after '|'": ["a |", "a | 1", "a | (", "a | )"],
    "expected a test name after 'is'": ["a is", "a is 1", "a is (", "a is not", "a is not 1"],
    "expected ':' after a dictionary key": ["{a", "{a}", "{a, b}", "{a: 1, b}"],
    "expected an expression after ','": ["[a,,]", "(a,,)", "f(a,,)"],
    "keyword arguments must follow positional arguments": ["f(a=1, b)", "f(a=1, 2)"],
    "expected a value after '='": ["f(a=)", "f(a=", "f(a=,)"],
}

_CLOSERS = {")": "(", "]": "[", "}": "{"}
_BRACKET_NAMES = {"(": "parenthesis", "[": "bracket", "{": "brace"}
_STRING_OR_BRACKET = re.compile(
    r"""'[^'\\]*(?:\\.[^'\\]*)*'|"[^"\\]*(?:\\.[^"\\]*)*"|['"]|[()\[\]{}]""", re.DOTALL
)
_TRAILING_OPERATOR = re.compile(
    r"(\*\*|//|==|!=|<=|>=|[-+*/%~<>|.,=:]|(?<!\w)(?:and|or|not|in|is|if|else))\s*$"
)


def _bracket_problem(text: str) -> tuple[str, int] | None:
    """The first unmatched closer, or else the innermost unclosed opener, in ``text``."""
    stack: list[tuple[str, int]] = []
    for match in _STRING_OR_BRACKET.finditer(text):
        char = match.group(0)
        if char in ("'", '"'):
            return None  # an unterminated string swallows the rest
        if char in _CLOSERS:
            if stack and stack[-1][0] == _CLOSERS[char]:
                stack.pop()
                continue
            if stack:
                opener, opened_at = stack[-1]
                closer = {v: k for k, v in _CLOSERS.items()}[opener]
                return (
                    f"unbalanced {_BRACKET_NAMES[opener]}: expected '{closer}' to close the"
                    f" '{opener}' at offset {opened_at}, found '{char}'",
                    match.start(),
                )
            return f"unbalanced {_BRACKET_NAMES[_CLOSERS[char]]}: unmatched '{char}'", match.start()
        if len(char) == 1:
            stack.append((char, match.start()))
    if stack:
        opener, opened_at = stack[-1]
        return f"unbalanced {_BRACKET_NAMES[opener]}: '{opener}' is never closed", opened_at
    return None


def _describe(token: Token) -> str:
    if token.type == "$END":
        return "end of expression"
    if token.type == "NAME":
        return f"name '{token}'"
    if token.type in ("INT", "FLOAT"):
        return f"number {token}"
    if token.type == "STRING":
        return f"string {token}"
    return f"'{token}'"


def _error_from_lark(err: UnexpectedInput, text: str, base: int, full: str) -> ExprSyntaxError:
    """Turn a lark error into one specific message with the most useful offset."""

    def make(message: str, local: int) -> ExprSyntaxError:
        return ExprSyntaxError(message, local + base, caret_context(full, local + base))

    if isinstance(err, UnexpectedCharacters):
        pos = err.pos_in_stream or 0
        char = text[pos]
        if char in "'\"":
            return make("unterminated string", pos)
        return make(f"unexpected character {char!r}", pos)

    assert isinstance(err, UnexpectedToken | UnexpectedEOF)
    if not text.strip():
        return make("empty expression", len(text))
    token = err.token
    at_end = token.type == "$END"
    pos = len(text) if at_end else (token.start_pos or 0)

    label = err.match_examples(
        _parser().parse, _EXAMPLES, token_type_match_fallback=True, use_accepts=True
    )
    if label == "expected an expression after the operator":
        operator = _TRAILING_OPERATOR.search(text[:pos])
        if operator is not None:
            return make(f"expected an expression after '{operator.group(1)}'", operator.start(1))
        return make(label, pos)
    if not at_end and str(token) in _CLOSERS:
        problem = _bracket_problem(text)
        if problem is not None:
            return make(*problem)
    if label is not None:
        return make(label, pos)
    if at_end:
        problem = _bracket_problem(text)
        if problem is not None:
            return make(*problem)
        return make("unexpected end of expression", pos)
    return make(f"unexpected {_describe(token)}", pos)


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


def _fast_parse(text: str, base: int) -> Expr | None:
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


def _parse(text: str, base: int, full: str) -> Expr:
    problem = _depth_problem(text, base, full)
    if problem is not None:
        raise problem
    fast = _fast_parse(text, base)
    if fast is not None:
        return fast
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as err:
        raise _error_from_lark(err, text, base, full) from None
    try:
        return _ToAst(text, base, full).transform(tree)
    except VisitError as err:
        if isinstance(err.orig_exc, ExprSyntaxError):
            raise err.orig_exc from None
        if isinstance(err.orig_exc, RecursionError):
            raise ExprSyntaxError(
                "expression nested too deeply", base, caret_context(full, base)
            ) from None
        raise
    except RecursionError:
        raise ExprSyntaxError(
            "expression nested too deeply", base, caret_context(full, base)
        ) from None


def parse_expression(text: str) -> Expr:
    """Parse a Jinja expression (the inside of ``{{ }}``, or a ``when:`` condition).

    Raises ExprSyntaxError with a specific message and the offset of the
    offending character. Constructs outside our subset are errors here; see
    ``parse_expression_lenient`` for the variant that defers to Jinja.
    """
    return _parse(text, 0, text)


def parse_expression_lenient(text: str, *, base: int = 0, full_text: str | None = None) -> Expr:
    """Like ``parse_expression``, but an expression Jinja accepts never fails.

    When our grammar rejects text that Jinja's parser accepts, the result is an
    ``OpaqueExpr``. When both reject it, our error (with its more precise offset)
    is raised. ``base`` shifts every offset, for text cut out of a larger string
    (``full_text``, used for the caret context).
    """
    full = text if full_text is None else full_text
    try:
        return _parse(text, base, full)
    except ExprTooComplex:
        raise  # Jinja's tree would be as deep: nothing may walk it
    except ExprSyntaxError:
        if jinja_accepts_expression(text):
            return OpaqueExpr(source=text, start=base, end=base + len(text))
        raise


# --------------------------------------------------------------------------- Jinja's side


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


def _jinja_names(node: jn.Node, kind: type[jn.Filter] | type[jn.Test]) -> list[str]:
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


def _opaque_tree(expr: OpaqueExpr) -> jn.Expr:
    node = jinja_parse_expression(expr.source)
    if node is None:  # only built from text Jinja accepted; keep the analyses total anyway
        raise ExprSyntaxError("Jinja rejects this expression", expr.start)
    return node


# --------------------------------------------------------------------------- analyses


def _children(expr: Expr | Slice | Keyword | DictItem | Operand) -> Iterator[Expr]:
    """Direct sub-expressions in source order."""
    match expr:
        case Name() | Const() | OpaqueExpr():
            return
        case ListLit(items=items) | TupleLit(items=items) | Concat(items=items):
            yield from items
        case DictLit(items=items):
            for item in items:
                yield item.key
                yield item.value
        case DictItem(key=key, value=value):
            yield key
            yield value
        case Slice(lower=lower, upper=upper, step=step):
            yield from (e for e in (lower, upper, step) if e is not None)
        case Getattr(obj=obj):
            yield obj
        case Getitem(obj=obj, index=index):
            yield obj
            if isinstance(index, Slice):
                yield from _children(index)
            else:
                yield index
        case Keyword(value=value):
            yield value
        case Call(func=func, args=args, kwargs=kwargs):
            yield func
            yield from args
            yield from (k.value for k in kwargs)
        case (
            Filter(operand=operand, args=args, kwargs=kwargs)
            | Test(operand=operand, args=args, kwargs=kwargs)
        ):
            yield operand
            yield from args
            yield from (k.value for k in kwargs)
        case UnaryOp(operand=operand):
            yield operand
        case BinOp(left=left, right=right):
            yield left
            yield right
        case Compare(left=left, ops=ops):
            yield left
            yield from (o.right for o in ops)
        case Operand(right=right):
            yield right
        case CondExpr(body=body, test=test, orelse=orelse):
            yield body
            yield test
            if orelse is not None:
                yield orelse
        case _:
            assert_never(expr)


def _const_index(index: Expr | Slice) -> PathElement | None:
    if isinstance(index, Slice):
        return None
    try:
        value = literal_value(index)
    except NotALiteral:
        return None
    return value if type(value) in (int, str) else None  # type: ignore[return-value]


def _reads(expr: Expr, out: list[VarRead]) -> None:
    match expr:
        case Name(name=name):
            out.append(VarRead(name=name, start=expr.start, end=expr.end))
        case Getattr() | Getitem():
            accessors: list[Getattr | Getitem] = []
            base: Expr = expr
            while isinstance(base, Getattr | Getitem):
                accessors.append(base)
                base = base.obj
            accessors.reverse()
            rest: list[Getattr | Getitem] = accessors
            if isinstance(base, Name):
                path: list[PathElement] = []
                end = base.end
                for i, acc in enumerate(accessors):
                    elem = acc.attr if isinstance(acc, Getattr) else _const_index(acc.index)
                    if elem is None:
                        rest = accessors[i:]
                        break
                    path.append(elem)
                    end = acc.end
                else:
                    rest = []
                out.append(VarRead(name=base.name, path=tuple(path), start=base.start, end=end))
            else:
                _reads(base, out)
            for acc in rest:
                if isinstance(acc, Getitem):
                    index = acc.index
                    for child in _children(index) if isinstance(index, Slice) else (index,):
                        _reads(child, out)
        case Call(func=func, args=args, kwargs=kwargs):
            if isinstance(func, Getattr):
                _reads(func.obj, out)  # `x.split(',')` reads x; `split` is a method
            elif not isinstance(func, Name):
                _reads(func, out)  # a bare name called is a function: `lookup(...)`
            for arg in (*args, *(k.value for k in kwargs)):
                _reads(arg, out)
        case OpaqueExpr():
            found = jinja_expr_reads(_opaque_tree(expr))
            out.extend(locate_reads(found, name_sites(expr.source, expr.start)))
        case _:
            for child in _children(expr):
                _reads(child, out)


def variable_reads(expr: Expr) -> tuple[VarRead, ...]:
    """Every free variable read in ``expr``, in source order, with its longest constant path.

    Not reads: filter, test and keyword-argument names, the name of a called
    function (``lookup(...)``, ``range(3)``) and a called method's name (for
    ``x.split(',')`` the read is ``x`` with an empty path).
    """
    out: list[VarRead] = []
    _reads(expr, out)
    return tuple(out)


def _names_used(expr: Expr, want_filters: bool) -> list[str]:
    out: list[str] = []

    def visit(e: Expr) -> None:
        if isinstance(e, OpaqueExpr):
            out.extend(_jinja_names(_opaque_tree(e), jn.Filter if want_filters else jn.Test))
            return
        if isinstance(e, Filter | Test):
            visit(e.operand)
            if isinstance(e, Filter) == want_filters:
                out.append(e.name)
            for arg in (*e.args, *(k.value for k in e.kwargs)):
                visit(arg)
            return
        for child in _children(e):
            visit(child)

    visit(expr)
    return out


def filters_used(expr: Expr) -> tuple[str, ...]:
    """Names of the filters applied in ``expr``, in source order (dotted names kept)."""
    return tuple(_names_used(expr, want_filters=True))


def tests_used(expr: Expr) -> tuple[str, ...]:
    """Names of the tests (``is name``) used in ``expr``, in source order."""
    return tuple(_names_used(expr, want_filters=False))


def literal_value(expr: Expr) -> object:
    """The Python value of a pure literal (numbers, strings, booleans, None, lists,
    tuples and dicts of literals, a sign on a number); NotALiteral otherwise."""
    match expr:
        case Const(value=value):
            return value
        case ListLit(items=items):
            return [literal_value(i) for i in items]
        case TupleLit(items=items):
            return tuple(literal_value(i) for i in items)
        case DictLit(items=items):
            result: dict[object, object] = {}
            for item in items:
                key = literal_value(item.key)
                try:
                    result[key] = literal_value(item.value)
                except TypeError:
                    raise NotALiteral("unhashable dictionary key") from None
            return result
        case UnaryOp(op="-" | "+" as op, operand=operand):
            number = literal_value(operand)
            if type(number) is int or type(number) is float:
                assert isinstance(number, int | float)
                return -number if op == "-" else number
            raise NotALiteral(f"'{op}' applied to a non-number")
        case _:
            raise NotALiteral(f"{type(expr).__name__} is not a literal")


# --------------------------------------------------------------------------- unparse


def _unparse_string(value: str) -> str:
    # Python's repr only uses escapes that Jinja's decoding (unicode-escape) undoes.
    return repr(value)


def _unparse_const(value: ConstValue) -> str:
    if value is None:
        return "none"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _unparse_string(value)
    if isinstance(value, float):
        if value != value:  # NaN has no literal; keep it printable for messages
            return "(0.0 * 1e999)"
        if value in (float("inf"), float("-inf")):
            return "1e999" if value > 0 else "(-1e999)"
        text = repr(value)
        return text if ("." in text or "e" in text) else text + ".0"
    return repr(value)


def _args(args: Iterable[Expr], kwargs: Iterable[Keyword]) -> str:
    parts = [unparse(a) for a in args] + [f"{k.name}={unparse(k.value)}" for k in kwargs]
    return ", ".join(parts)


def _unparse_index(index: Expr | Slice) -> str:
    if isinstance(index, Slice):
        parts = ["" if p is None else unparse(p) for p in (index.lower, index.upper, index.step)]
        return ":".join(parts)
    return unparse(index)


def unparse(expr: Expr) -> str:
    """Source text for ``expr``, fully parenthesised: re-parsing it gives an equal AST."""
    match expr:
        case Name(name=name):
            return name
        case Const(value=value):
            return _unparse_const(value)
        case ListLit(items=items):
            return "[" + ", ".join(unparse(i) for i in items) + "]"
        case TupleLit(items=items):
            if len(items) == 1:
                return "(" + unparse(items[0]) + ",)"
            return "(" + ", ".join(unparse(i) for i in items) + ")"
        case DictLit(items=items):
            return "{" + ", ".join(f"{unparse(i.key)}: {unparse(i.value)}" for i in items) + "}"
        case Getattr(obj=obj, attr=attr):
            return f"{_postfix_base(obj)}.{attr}"
        case Getitem(obj=obj, index=index):
            return f"{_postfix_base(obj)}[{_unparse_index(index)}]"
        case Call(func=func, args=args, kwargs=kwargs):
            return f"{_postfix_base(func)}({_args(args, kwargs)})"
        case Filter(operand=operand, name=name, args=args, kwargs=kwargs):
            call = f"({_args(args, kwargs)})" if args or kwargs else ""
            return f"({unparse(operand)} | {name}{call})"
        case Test(operand=operand, name=name, args=args, kwargs=kwargs):
            call = f"({_args(args, kwargs)})" if args or kwargs else ""
            return f"({unparse(operand)} is {name}{call})"
        case UnaryOp(op=op, operand=operand):
            space = " " if op == "not" else ""
            return f"({op}{space}{unparse(operand)})"
        case BinOp(op=op, left=left, right=right):
            return f"({unparse(left)} {op} {unparse(right)})"
        case Concat(items=items):
            return "(" + " ~ ".join(unparse(i) for i in items) + ")"
        case Compare(left=left, ops=ops):
            steps = "".join(f" {o.op} {unparse(o.right)}" for o in ops)
            return f"({unparse(left)}{steps})"
        case CondExpr(body=body, test=test, orelse=orelse):
            tail = "" if orelse is None else f" else {unparse(orelse)}"
            return f"({unparse(body)} if {unparse(test)}{tail})"
        case OpaqueExpr(source=source):
            return f"({source})"
        case _:
            assert_never(expr)


def _postfix_base(expr: Expr) -> str:
    text = unparse(expr)
    # `1.x` would lex as a float and a name; any other unparse result is an atom
    # or already parenthesised.
    if isinstance(expr, Const) and not isinstance(expr.value, str) and expr.value is not None:
        return f"({text})"
    return text
