"""Type checks of keyword values.

Literal values are checked here, at compile time; a templated value
(``"{{ n }}"``) is kept as its string and checked by the runtime once rendered,
per host, as ansible-core does.  Each checker reports `schema[bad-value]` and
returns None (or a safe fallback) for a value it rejects, so one run reports
every problem.
"""

from __future__ import annotations

import keyword
import re

from playgraph.semantics import boolean as convert_bool
from playgraph.semantics import is_template

from . import codes
from .context import FileContext
from .ir import JSON, Condition, Templated
from .loader import YMap, YNode, YScalar, YSeq, to_python

_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def describe(node: YNode) -> str:
    match node:
        case YScalar():
            return repr(node.value) if not isinstance(node.value, str) else f"'{node.value}'"
        case YSeq():
            return "a list"
        case YMap():
            return "a mapping"


def integer(
    ctx: FileContext,
    node: YNode,
    keyword_name: str,
    *,
    minimum: int = 0,
    hint: str = "",
) -> Templated | None:
    """An integer keyword (``async``, ``poll``, ``retries``, ``timeout``, ``throttle``).

    Booleans are rejected although YAML makes ``yes`` an int subclass:
    ``async: yes`` reaches ansible-core's remote watchdog as the string "True"
    and silently disables the time limit.
    """
    if isinstance(node, YScalar):
        value = node.value
        if isinstance(value, bool):
            ctx.report(
                codes.SCHEMA_BAD_VALUE,
                node.span,
                f"'{keyword_name}' must be a number of {hint or 'units'}, not the boolean {describe(node)}",
                help=f"write a number, e.g. '{keyword_name}: {1 if value else 0}'",
            )
            return None
        if isinstance(value, int):
            if value < minimum:
                ctx.report(
                    codes.SCHEMA_BAD_VALUE,
                    node.span,
                    f"'{keyword_name}' must be >= {minimum}, got {value}",
                )
                return None
            return value
        if isinstance(value, float):
            if value.is_integer() and value >= minimum:
                return int(value)
            ctx.report(
                codes.SCHEMA_BAD_VALUE,
                node.span,
                f"'{keyword_name}' must be a whole number, got {value} "
                "(ansible-core 2.18+ rejects it; older versions truncated it)",
            )
            return None
        if isinstance(value, str):
            if is_template(value):
                return value
            stripped = value.strip()
            if re.fullmatch(r"[+-]?\d+", stripped):
                number = int(stripped)
                if number >= minimum:
                    return number
                ctx.report(
                    codes.SCHEMA_BAD_VALUE,
                    node.span,
                    f"'{keyword_name}' must be >= {minimum}, got {number}",
                )
                return None
    ctx.report(
        codes.SCHEMA_BAD_VALUE,
        node.span,
        f"'{keyword_name}' must be an integer{f' ({hint})' if hint else ''}, got {describe(node)}",
    )
    return None


def number(
    ctx: FileContext, node: YNode, keyword_name: str, *, minimum: float = 0
) -> float | str | None:
    """A float keyword (``delay``: a float since ansible-core 2.18)."""
    if isinstance(node, YScalar) and not isinstance(node.value, bool):
        value = node.value
        if isinstance(value, str) and is_template(value):
            return value
        try:
            number_value = float(value) if isinstance(value, int | float | str) else None
        except ValueError:
            number_value = None
        if number_value is not None:
            if number_value < minimum:
                ctx.report(
                    codes.SCHEMA_BAD_VALUE,
                    node.span,
                    f"'{keyword_name}' must be >= {minimum:g}, got {number_value:g}",
                )
                return None
            return number_value
    ctx.report(
        codes.SCHEMA_BAD_VALUE,
        node.span,
        f"'{keyword_name}' must be a number of seconds, got {describe(node)}",
    )
    return None


def boolean(ctx: FileContext, node: YNode, keyword_name: str) -> bool | str | None:
    """A boolean keyword; a template string is kept for the runtime."""
    if isinstance(node, YScalar):
        value = node.value
        if isinstance(value, str) and is_template(value):
            return value
        converted = convert_bool(value)  # ansible-core's strict boolean(): "t" and 1.0 too
        if converted is not None:
            return converted
    ctx.report(
        codes.SCHEMA_BAD_VALUE,
        node.span,
        f"'{keyword_name}' must be a boolean (true/false), got {describe(node)}",
    )
    return None


def string(ctx: FileContext, node: YNode, keyword_name: str) -> str | None:
    if isinstance(node, YScalar) and node.value is not None and not isinstance(node.value, bool):
        return str(node.value)
    ctx.report(
        codes.SCHEMA_BAD_VALUE,
        node.span,
        f"'{keyword_name}' must be a string, got {describe(node)}",
    )
    return None


def string_list(ctx: FileContext, node: YNode, keyword_name: str) -> tuple[str, ...]:
    """A string or a list of strings (``tags``, ``notify``, ``listen``, ``collections``)."""
    if isinstance(node, YScalar) and node.value is not None:
        text = str(node.value)
        if keyword_name == "tags":  # Ansible splits comma-separated tags
            return tuple(part.strip() for part in text.split(",") if part.strip())
        return (text,)
    if isinstance(node, YSeq):
        items: list[str] = []
        for item in node.items:
            if (
                isinstance(item, YScalar)
                and item.value is not None
                and not isinstance(item.value, bool)
            ):
                items.append(str(item.value))
            else:
                ctx.report(
                    codes.SCHEMA_BAD_VALUE,
                    item.span,
                    f"'{keyword_name}' items must be strings, got {describe(item)}",
                )
        return tuple(items)
    ctx.report(
        codes.SCHEMA_BAD_VALUE,
        node.span,
        f"'{keyword_name}' must be a string or a list of strings, got {describe(node)}",
    )
    return ()


def mapping(
    ctx: FileContext, node: YNode, keyword_name: str, *, allow_template: bool = False
) -> JSON:
    if isinstance(node, YMap):
        return to_python(node)
    if (
        allow_template
        and isinstance(node, YScalar)
        and isinstance(node.value, str)
        and is_template(node.value)
    ):
        return node.value
    if isinstance(node, YScalar) and node.value is None:
        return {}
    ctx.report(
        codes.SCHEMA_BAD_VALUE,
        node.span,
        f"'{keyword_name}' must be a mapping, got {describe(node)}",
    )
    return None


def conditions(ctx: FileContext, node: YNode, keyword_name: str) -> tuple[Condition, ...]:
    """``when``/``until``/``changed_when``/``failed_when``: a conditional or a list (all must hold)."""
    items = node.items if isinstance(node, YSeq) else (node,)
    result: list[Condition] = []
    for item in items:
        if isinstance(item, YScalar):
            value = item.value
            if isinstance(value, bool):
                result.append(value)
                continue
            if isinstance(value, str):
                result.append(value)
                continue
            if isinstance(value, int | float):
                result.append(str(value))
                continue
        ctx.report(
            codes.SCHEMA_BAD_VALUE,
            item.span,
            f"'{keyword_name}' must be a conditional expression or a list of them, got {describe(item)}",
        )
    return tuple(result)


def variable_name(ctx: FileContext, node: YNode, keyword_name: str) -> str | None:
    """``register``/``loop_var``: a plain identifier, never templated (checked at parse time by Ansible)."""
    if isinstance(node, YScalar) and isinstance(node.value, str):
        name = node.value.strip()
        if _VARIABLE_NAME.match(name) and not keyword.iskeyword(name):
            return name
        ctx.report(
            codes.SCHEMA_BAD_VALUE,
            node.span,
            f"Invalid variable name in '{keyword_name}' specified: '{node.value}'",
            help="use letters, digits and underscores, not starting with a digit; templates are not allowed",
        )
        return None
    ctx.report(
        codes.SCHEMA_BAD_VALUE,
        node.span,
        f"'{keyword_name}' must be a variable name, got {describe(node)}",
    )
    return None


def choice(
    ctx: FileContext, node: YNode, keyword_name: str, choices: tuple[str, ...]
) -> str | None:
    value = string(ctx, node, keyword_name)
    if value is None or is_template(value) or value in choices:
        return value
    ctx.report(
        codes.SCHEMA_BAD_VALUE,
        node.span,
        f"'{keyword_name}' must be one of {', '.join(choices)}; got '{value}'",
    )
    return None


def serial(ctx: FileContext, node: YNode) -> tuple[Templated, ...]:
    """``serial``: a batch size, a percentage, or a list of them."""
    items = node.items if isinstance(node, YSeq) else (node,)
    result: list[Templated] = []
    for item in items:
        if isinstance(item, YScalar) and not isinstance(item.value, bool):
            value = item.value
            if isinstance(value, int) and value >= 0:
                result.append(value)
                continue
            if isinstance(value, str) and (
                is_template(value)
                or re.fullmatch(r"\s*\d+(\.\d+)?\s*%\s*", value)
                or value.strip().isdigit()
            ):
                result.append(int(value) if value.strip().isdigit() else value.strip())
                continue
        ctx.report(
            codes.SCHEMA_BAD_VALUE,
            item.span,
            f"'serial' must be a number of hosts or a percentage like '30%', got {describe(item)}",
        )
    return tuple(result)
