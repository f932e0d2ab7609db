"""The LALR parser of ``expr.lark``, its transformer to the AST, error messages and the
parse entry points."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TypedDict

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)
from lark.tree import Meta

from ..loading import load_parser
from .errors import ExprSyntaxError, ExprTooComplex, caret_context
from .fast_path import fast_parse_checked
from .jinja import jinja_accepts_expression
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
    OpaqueExpr,
    Operand,
    Slice,
    Test,
    TupleLit,
    UnaryOp,
)
from .strings import decode_string_body as _decode_string_body


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


def _parse(text: str, base: int, full: str) -> Expr:
    fast = fast_parse_checked(text, base, full)
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
