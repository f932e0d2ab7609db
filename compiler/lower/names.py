"""Templated names known before the run: an include's file or role name built from
variables whose values are written in the playbook (play, block, role and include
``vars``, role defaults, ``role_path``, ``playbook_dir``).

Only plain variable reads, attribute/item access into literal mappings, string
literals, ``~``/``+`` concatenation and the ``default`` filter are evaluated; anything
else (facts, registered results, lookups, other filters) is unknown until the run,
and the caller treats the name as unresolvable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from playgraph.semantics import is_template

from .scope import Scope

_MAX_DEPTH = 8
"""How many templated values may lead to one another (``a: "{{ b }}"``)."""


class _Unknown(Exception):
    """The value is known only at run time."""


def scope_variables(scope: Scope) -> dict[str, Any]:
    """What a task sees of the written variables, lowest precedence first."""
    variables: dict[str, Any] = {**scope.defaults, **scope.play_vars}
    variables.update(scope.inherited.get("vars", {}))
    # Absolute, as ansible-core sets them (a role named "{{ playbook_dir }}" is a path).
    if scope.playbook_dir:
        variables.setdefault("playbook_dir", os.path.abspath(scope.playbook_dir))
    if scope.role is not None:
        variables.setdefault("role_path", os.path.abspath(scope.base_dir))
        variables.setdefault("role_name", scope.role)
    return variables


def static_string(text: str, variables: Mapping[str, Any]) -> str | None:
    """``text`` with its templates evaluated, or None when any part is known only at run time."""
    try:
        value = _render(text, variables, 0)
    except _Unknown:
        return None
    return value if isinstance(value, str) else None


def _render(text: str, variables: Mapping[str, Any], depth: int) -> Any:
    if not is_template(text):
        return text
    if depth > _MAX_DEPTH:
        raise _Unknown
    # Here, not at the top: lowering needs the parsers only for templated names.
    from playgraph.grammar import ExprPart, GrammarError, TextPart, parse_template

    try:
        template = parse_template(text)
    except GrammarError:
        raise _Unknown from None
    exprs = [p for p in template.parts if isinstance(p, ExprPart)]
    if len(template.parts) == 1 and len(exprs) == 1:
        return _eval(exprs[0].expr, variables, depth)  # a whole value keeps its type
    out: list[str] = []
    for part in template.parts:
        if isinstance(part, TextPart):
            out.append(part.text)
        elif isinstance(part, ExprPart):
            value = _eval(part.expr, variables, depth)
            if isinstance(value, dict | list):
                raise _Unknown
            out.append(str(value))
        else:  # statements or comments: leave them to Jinja at run time
            raise _Unknown
    return "".join(out)


def _eval(expr: object, variables: Mapping[str, Any], depth: int) -> Any:
    from playgraph.grammar import BinOp, Concat, Const, Filter, Getattr, Getitem, Name

    match expr:
        case Const(value=value):
            return value
        case Name(name=name):
            if name not in variables:
                raise _Unknown
            value = variables[name]
            return _render(value, variables, depth + 1) if isinstance(value, str) else value
        case Getattr(obj=obj, attr=attr):
            return _member(_eval(obj, variables, depth), attr, variables, depth)
        case Getitem(obj=obj, index=index):
            return _member(
                _eval(obj, variables, depth), _eval(index, variables, depth), variables, depth
            )
        case Concat(items=items):
            return "".join(str(_eval(item, variables, depth)) for item in items)
        case BinOp(op="+", left=left, right=right):
            first, second = _eval(left, variables, depth), _eval(right, variables, depth)
            if isinstance(first, str) and isinstance(second, str):
                return first + second
            raise _Unknown
        case Filter(name="default" | "d", operand=operand, args=args):
            try:
                return _eval(operand, variables, depth)
            except _Unknown:
                if not args or not isinstance(operand, Name) or operand.name in variables:
                    raise
                return _eval(args[0], variables, depth)
        case _:
            raise _Unknown


def _member(container: Any, key: Any, variables: Mapping[str, Any], depth: int) -> Any:
    if isinstance(container, dict) and isinstance(key, str) and key in container:
        value: Any = container[key]
    elif isinstance(container, list) and isinstance(key, int) and abs(key) < len(container):
        value = container[key]
    else:
        raise _Unknown
    return _render(value, variables, depth + 1) if isinstance(value, str) else value
