"""Names a template's statements bind and read, from Jinja's own tree (`template_reads`
with ``{% %}``): its own module so that templates without statements never import Jinja
(`playgraph.grammar.template` imports it when it meets one)."""

from __future__ import annotations

import jinja2.nodes as jn

from .expr.jinja import JinjaRead, jinja_expr_reads

__all__ = ["ScopeWalk", "target_names"]


def target_names(node: jn.Node) -> set[str]:
    if isinstance(node, jn.Name):
        return {node.name}
    if isinstance(node, jn.Tuple | jn.List):
        names: set[str] = set()
        for item in node.items:
            names |= target_names(item)
        return names
    return set()


class ScopeWalk:
    """Walks a Jinja template in document order, tracking which names are bound.

    Collects the reads of statement expressions and, for every ``{{ }}`` in
    order, the names bound there (``for`` targets and ``loop``, ``set``,
    macro arguments, ``with``, imports), so the lark-parsed expressions can drop
    reads that are not free.
    """

    def __init__(self) -> None:
        self.output_scopes: list[frozenset[str]] = []
        self.reads: list[JinjaRead] = []

    def expr(self, node: jn.Node | None, bound: set[str]) -> None:
        if node is not None:
            self.reads.extend(jinja_expr_reads(node, frozenset(bound)))

    def body(self, nodes: list[jn.Node], bound: set[str]) -> None:
        for node in nodes:
            self.stmt(node, bound)

    def stmt(self, node: jn.Node, bound: set[str]) -> None:
        if isinstance(node, jn.Output):
            for item in node.nodes:
                if not isinstance(item, jn.TemplateData):
                    self.output_scopes.append(frozenset(bound))
        elif isinstance(node, jn.For):
            self.expr(node.iter, bound)
            inner = bound | target_names(node.target) | {"loop"}
            self.expr(node.test, inner)
            self.body(node.body, set(inner))
            self.body(node.else_, set(bound))
        elif isinstance(node, jn.If):
            # Like Jinja, a name `set` in only some branches may still come from
            # outside after the `if`; only one set on every path is bound there.
            self.expr(node.test, bound)
            branches: list[set[str]] = []
            elif_bodies: list[list[jn.Node]] = [[branch] for branch in node.elif_]
            bodies: list[list[jn.Node]] = [node.body, *elif_bodies, node.else_]
            for body in bodies:
                scope = set(bound)
                self.body(body, scope)
                branches.append(scope)
            if node.else_:  # without one, the path through no branch binds nothing
                bound |= set.intersection(*branches)
        elif isinstance(node, jn.Assign):
            self.expr(node.node, bound)
            if isinstance(node.target, jn.NSRef):
                self.expr(jn.Name(node.target.name, "load", lineno=node.lineno), bound)
            bound |= target_names(node.target)
        elif isinstance(node, jn.AssignBlock):
            self.body(node.body, set(bound))
            self.expr(node.filter, bound)
            bound |= target_names(node.target)
        elif isinstance(node, jn.Macro):
            bound.add(node.name)
            for default in node.defaults:
                self.expr(default, bound)
            args = {a.name for a in node.args}
            self.body(node.body, bound | args | {"varargs", "kwargs", "caller"})
        elif isinstance(node, jn.CallBlock):
            self.expr(node.call, bound)
            for default in node.defaults:
                self.expr(default, bound)
            args = {a.name for a in node.args}
            self.body(node.body, bound | args | {"varargs", "kwargs"})
        elif isinstance(node, jn.With):
            for value in node.values:
                self.expr(value, bound)
            targets: set[str] = set()
            for target in node.targets:
                targets |= target_names(target)
            self.body(node.body, bound | targets)
        elif isinstance(node, jn.FilterBlock):
            self.expr(node.filter, bound)
            self.body(node.body, set(bound))
        elif isinstance(node, jn.Import):
            self.expr(node.template, bound)
            bound.add(node.target)
        elif isinstance(node, jn.FromImport):
            self.expr(node.template, bound)
            for name in node.names:
                bound.add(name[1] if isinstance(name, tuple) else name)
        else:
            # Blocks and other scoped statements: bindings inside stay inside.
            inner_scope = set(bound)
            for child in node.iter_child_nodes():
                if isinstance(child, jn.Stmt):
                    self.stmt(child, inner_scope)
                else:  # an expression or a helper (Keyword, Pair, ...)
                    self.expr(child, bound)
