"""Play, block and task keywords: each checked and parsed into its value."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import codes, values
from ..context import FileContext
from ..ir import JSON
from ..loader import YNode, YScalar, YSeq, to_python
from ..resolve.plugins import strategy
from ..suggest import did_you_mean


def unknown_keyword(ctx: FileContext, key: YScalar, valid: Iterable[str], level: str) -> None:
    word = str(key.value)
    suggestion = did_you_mean(word, valid)
    ctx.report(
        codes.SCHEMA_UNKNOWN_KEYWORD,
        key.span,
        f"'{word}' is not a valid keyword for a {level}",
        help=f"did you mean `{suggestion}`?" if suggestion else None,
    )


def common_keyword(ctx: FileContext, key: str, node: YNode) -> dict[str, Any]:
    """Parse one play/block/task keyword into ``{name: value}`` (empty when rejected)."""
    parsed: Any
    if key in ("name",):
        ctx.template_reads(node)
        parsed = (
            values.string(ctx, node, key)
            if not (isinstance(node, YScalar) and node.value is None)
            else None
        )
    elif key in ("ignore_errors", "ignore_unreachable", "run_once", "become", "no_log", "check_mode",
                 "diff", "any_errors_fatal", "delegate_facts", "gather_facts", "force_handlers"):  # fmt: skip
        ctx.template_reads(node)
        parsed = values.boolean(ctx, node, key)
    elif key in ("delegate_to", "become_user", "become_method", "become_flags", "remote_user",
                 "connection", "order", "debugger", "port"):  # fmt: skip
        ctx.template_reads(node)
        parsed = values.string(ctx, node, key)
    elif key == "strategy":
        parsed = strategy(ctx, node)  # plugins too: compiler.resolve.plugins
    elif key in ("timeout", "throttle"):
        parsed = values.integer(ctx, node, key, hint="seconds" if key == "timeout" else "hosts")
    elif key == "max_fail_percentage":
        parsed = values.number(ctx, node, key)
    elif key == "serial":
        parsed = values.serial(ctx, node)
    elif key in ("tags", "notify", "listen", "collections"):
        parsed = values.string_list(ctx, node, key)
    elif key == "vars_files":
        parsed = vars_files(ctx, node)
    elif key in ("vars", "module_defaults"):
        ctx.template_reads(node)
        parsed = values.mapping(ctx, node, key)
    elif key == "environment":
        ctx.template_reads(node)
        parsed = environment(ctx, node)
    else:
        # Keywords without a compile-time check (vars_prompt, hosts, ...) keep their data.
        ctx.template_reads(node)
        return {key: to_python(node)}
    return {} if parsed is None else {key: parsed}


def vars_files(ctx: FileContext, node: YNode) -> tuple[str | tuple[str, ...], ...]:
    """File names; an item that is itself a list means "the first of these that exists"."""
    if not isinstance(node, YSeq):
        return values.string_list(ctx, node, "vars_files")
    result: list[str | tuple[str, ...]] = []
    for item in node.items:
        if isinstance(item, YSeq):
            result.append(values.string_list(ctx, item, "vars_files"))
        else:
            result.extend(values.string_list(ctx, item, "vars_files"))
    return tuple(result)


def environment(ctx: FileContext, node: YNode) -> tuple[JSON, ...] | None:
    items = node.items if isinstance(node, YSeq) else (node,)
    result: list[JSON] = []
    for item in items:
        value = values.mapping(ctx, item, "environment", allow_template=True)
        if value is not None:
            result.append(value)
    return tuple(result)
