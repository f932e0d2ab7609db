"""Pure analyses over the AST: variable reads, filters and tests used, literal values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import assert_never

from .errors import NotALiteral
from .nodes import (
    BinOp,
    Call,
    Compare,
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
    PathElement,
    Slice,
    Test,
    TupleLit,
    UnaryOp,
    VarRead,
)


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
            # Jinja only here: the expressions our grammar reads need none of it.
            from .jinja import jinja_expr_reads, locate_reads, name_sites, opaque_tree

            found = jinja_expr_reads(opaque_tree(expr))
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
            import jinja2.nodes as jn

            from .jinja import jinja_names, opaque_tree

            out.extend(jinja_names(opaque_tree(e), jn.Filter if want_filters else jn.Test))
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
