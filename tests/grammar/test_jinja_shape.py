"""Comparable tuple forms of our AST and of Jinja's (used by the other grammar tests)."""

from __future__ import annotations

from typing import Any

import jinja2.nodes as jn
import playgraph.grammar as g
from playgraph.grammar import (
    BinOp,
    Call,
    Compare,
    Concat,
    CondExpr,
    Const,
    DictLit,
    Expr,
    Filter,
    Getattr,
    Getitem,
    ListLit,
    Name,
    OpaqueExpr,
    Slice,
    TupleLit,
    UnaryOp,
)
from playgraph.grammar.expr import jinja_parse_expression

_JINJA_BINOPS = {
    jn.Add: "+",
    jn.Sub: "-",
    jn.Mul: "*",
    jn.Div: "/",
    jn.FloorDiv: "//",
    jn.Mod: "%",
    jn.Pow: "**",
    jn.And: "and",
    jn.Or: "or",
}
_JINJA_COMPARE = {
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "lteq": "<=",
    "gt": ">",
    "gteq": ">=",
    "in": "in",
    "notin": "not in",
}


def _const(value: object) -> tuple[Any, ...]:
    # The type is part of the shape so that 1, 1.0 and True stay distinct.
    return ("const", type(value).__name__, value)


def jinja_shape(node: jn.Node | None) -> Any:
    """The tuple form of a Jinja expression node."""
    if node is None:
        return None
    if isinstance(node, jn.Name):
        return ("name", node.name)
    if isinstance(node, jn.Const):
        return _const(node.value)
    if isinstance(node, jn.List):
        return ("list", *map(jinja_shape, node.items))
    if isinstance(node, jn.Tuple):
        return ("tuple", *map(jinja_shape, node.items))
    if isinstance(node, jn.Dict):
        return ("dict", *((jinja_shape(p.key), jinja_shape(p.value)) for p in node.items))
    if isinstance(node, jn.Getattr):
        return ("getattr", jinja_shape(node.node), node.attr)
    if isinstance(node, jn.Getitem):
        return ("getitem", jinja_shape(node.node), jinja_shape(node.arg))
    if isinstance(node, jn.Slice):
        return ("slice", jinja_shape(node.start), jinja_shape(node.stop), jinja_shape(node.step))
    if isinstance(node, jn.Call):
        assert node.dyn_args is None and node.dyn_kwargs is None
        return (
            "call",
            jinja_shape(node.node),
            tuple(map(jinja_shape, node.args)),
            tuple((k.key, jinja_shape(k.value)) for k in node.kwargs),
        )
    if isinstance(node, jn.Filter | jn.Test):
        return (
            "filter" if isinstance(node, jn.Filter) else "test",
            jinja_shape(node.node),
            node.name,
            tuple(map(jinja_shape, node.args)),
            tuple((k.key, jinja_shape(k.value)) for k in node.kwargs),
        )
    if isinstance(node, jn.Neg):
        return ("unary", "-", jinja_shape(node.node))
    if isinstance(node, jn.Pos):
        return ("unary", "+", jinja_shape(node.node))
    if isinstance(node, jn.Not):
        return ("unary", "not", jinja_shape(node.node))
    if type(node) in _JINJA_BINOPS:
        assert isinstance(node, jn.BinExpr)
        return ("binop", _JINJA_BINOPS[type(node)], jinja_shape(node.left), jinja_shape(node.right))
    if isinstance(node, jn.Concat):
        return ("concat", *map(jinja_shape, node.nodes))
    if isinstance(node, jn.Compare):
        return (
            "compare",
            jinja_shape(node.expr),
            tuple((_JINJA_COMPARE[o.op], jinja_shape(o.expr)) for o in node.ops),
        )
    if isinstance(node, jn.CondExpr):
        return ("cond", jinja_shape(node.expr1), jinja_shape(node.test), jinja_shape(node.expr2))
    raise AssertionError(f"no shape for {node!r}")


def our_shape(node: Expr | Slice | None) -> Any:
    """The tuple form of one of our nodes, in the same vocabulary as ``jinja_shape``."""
    match node:
        case None:
            return None
        case Name(name=name):
            return ("name", name)
        case Const(value=value):
            return _const(value)
        case ListLit(items=items):
            return ("list", *map(our_shape, items))
        case TupleLit(items=items):
            return ("tuple", *map(our_shape, items))
        case DictLit(items=items):
            return ("dict", *((our_shape(i.key), our_shape(i.value)) for i in items))
        case Getattr(obj=obj, attr=attr):
            return ("getattr", our_shape(obj), attr)
        case Getitem(obj=obj, index=index):
            return ("getitem", our_shape(obj), our_shape(index))
        case Slice(lower=lower, upper=upper, step=step):
            return ("slice", our_shape(lower), our_shape(upper), our_shape(step))
        case Call(func=func, args=args, kwargs=kwargs):
            return (
                "call",
                our_shape(func),
                tuple(map(our_shape, args)),
                tuple((k.name, our_shape(k.value)) for k in kwargs),
            )
        case Filter(operand=operand, name=name, args=args, kwargs=kwargs):
            return (
                "filter",
                our_shape(operand),
                name,
                tuple(map(our_shape, args)),
                tuple((k.name, our_shape(k.value)) for k in kwargs),
            )
        case g.Test(operand=operand, name=name, args=args, kwargs=kwargs):
            return (
                "test",
                our_shape(operand),
                name,
                tuple(map(our_shape, args)),
                tuple((k.name, our_shape(k.value)) for k in kwargs),
            )
        case UnaryOp(op=op, operand=operand):
            return ("unary", op, our_shape(operand))
        case BinOp(op=op, left=left, right=right):
            return ("binop", op, our_shape(left), our_shape(right))
        case Concat(items=items):
            return ("concat", *map(our_shape, items))
        case Compare(left=left, ops=ops):
            return ("compare", our_shape(left), tuple((o.op, our_shape(o.right)) for o in ops))
        case CondExpr(body=body, test=test, orelse=orelse):
            return ("cond", our_shape(body), our_shape(test), our_shape(orelse))
        case OpaqueExpr():
            raise AssertionError("an opaque expression has no shape")
    raise AssertionError(f"no shape for {node!r}")


def jinja_shape_of(text: str) -> Any:
    """Jinja's parse of ``text`` (as the inside of ``{{ }}``) in tuple form; None if rejected."""
    node = jinja_parse_expression(text)
    return None if node is None else jinja_shape(node)


def test_shapes_distinguish_constant_types() -> None:
    assert jinja_shape_of("1") != jinja_shape_of("1.0")
    assert jinja_shape_of("1") != jinja_shape_of("true")


def test_shape_of_a_rejected_expression_is_none() -> None:
    assert jinja_shape_of("a +") is None
    assert jinja_shape_of("a }} b") is None
