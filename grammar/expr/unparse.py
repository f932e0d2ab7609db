"""The AST back to Jinja text."""

from __future__ import annotations

from collections.abc import Iterable
from typing import assert_never

from .nodes import (
    BinOp,
    Call,
    Compare,
    Concat,
    CondExpr,
    Const,
    ConstValue,
    DictLit,
    Expr,
    Filter,
    Getattr,
    Getitem,
    Keyword,
    ListLit,
    Name,
    OpaqueExpr,
    Slice,
    Test,
    TupleLit,
    UnaryOp,
)


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
