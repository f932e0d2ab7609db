"""The expression AST: small frozen nodes shaped as Jinja's own parser builds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias


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
