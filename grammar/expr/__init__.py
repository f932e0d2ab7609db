"""The Jinja2 expression subset: parser, AST and the static analyses built on it.

``parse_expression`` reads what Ansible puts in ``when:`` or between ``{{ }}`` into
small frozen nodes whose shape matches what Jinja's own parser builds; the
analyses (``variable_reads``, ``filters_used``, ``tests_used``, ``literal_value``)
are pure functions over those nodes. Jinja constructs outside the subset are
carried as ``OpaqueExpr`` and analysed through Jinja's parser instead.

By section: `errors`, `limits` (the nesting bound, checked before anything recursive),
`nodes` (the AST), `parser` (grammar, transformer, messages, entry points), `fast_path`
(common shapes without the grammar), `jinja` (Jinja's own parser), `analyses` and
`unparse`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

# Light, and bound here: the submodule of the same name would shadow it on first use.
from .unparse import unparse

# Names load their module on first use (PEP 562): the AST nodes and errors (`nodes`,
# `errors`) are read without the parsers, which import lark and Jinja.
_EXPORTS: dict[str, str] = {
    "BinOp": "nodes",
    "Call": "nodes",
    "Compare": "nodes",
    "Concat": "nodes",
    "CondExpr": "nodes",
    "Const": "nodes",
    "DictItem": "nodes",
    "DictLit": "nodes",
    "Expr": "nodes",
    "ExprSyntaxError": "errors",
    "ExprTooComplex": "errors",
    "Filter": "nodes",
    "Getattr": "nodes",
    "Getitem": "nodes",
    "GrammarError": "errors",
    "JinjaRead": "jinja",
    "Keyword": "nodes",
    "ListLit": "nodes",
    "MAX_EXPR_DEPTH": "limits",
    "Name": "nodes",
    "NameSite": "jinja",
    "Node": "nodes",
    "NotALiteral": "errors",
    "OpaqueExpr": "nodes",
    "Operand": "nodes",
    "Slice": "nodes",
    "Test": "nodes",
    "TupleLit": "nodes",
    "UnaryOp": "nodes",
    "VarRead": "nodes",
    "build_expr_parser": "parser",
    "caret_context": "errors",
    "complexity_problem": "limits",
    "filters_used": "analyses",
    "jinja_accepts_expression": "jinja",
    "jinja_environment": "jinja",
    "jinja_expr_reads": "jinja",
    "jinja_parse_expression": "jinja",
    "literal_value": "analyses",
    "locate_reads": "jinja",
    "name_sites": "jinja",
    "parse_expression": "parser",
    "parse_expression_lenient": "parser",
    "tests_used": "analyses",
    "variable_reads": "analyses",
}

if TYPE_CHECKING:
    from .analyses import filters_used, literal_value, tests_used, variable_reads
    from .errors import ExprSyntaxError, ExprTooComplex, GrammarError, NotALiteral, caret_context
    from .jinja import (
        JinjaRead,
        NameSite,
        jinja_accepts_expression,
        jinja_environment,
        jinja_expr_reads,
        jinja_parse_expression,
        locate_reads,
        name_sites,
    )
    from .limits import MAX_EXPR_DEPTH, complexity_problem
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
        Node,
        OpaqueExpr,
        Operand,
        Slice,
        Test,
        TupleLit,
        UnaryOp,
        VarRead,
    )
    from .parser import build_expr_parser, parse_expression, parse_expression_lenient


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())


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
