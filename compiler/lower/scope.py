"""What lowering passes down: the scope of enclosing plays, blocks, roles and imports,
the keywords they push into their tasks, and the nesting bound."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .. import codes
from ..context import FileContext
from ..ir import JSON, Condition, Section
from ..spans import Span

ASYNC_KEYWORDS = ("async", "async_val", "poll", "until", "retries", "delay")
LOOP_CONTROL_KEYS = (
    "loop_var",
    "index_var",
    "label",
    "pause",
    "extended",
    "extended_allitems",
    "break_when",
)
STRATEGIES = ("linear", "free", "host_pinned", "debug")
ASYNC_STATUS = "ansible.builtin.async_status"


MAX_NESTING = 64
"""How deep blocks, imported task files, imported playbooks and roles (with their
dependencies) may nest, counted together along one path.  Lowering recurses once
per level; real playbooks nest a handful of levels, and a bound turns a runaway
chain (generated or hostile) into one located error instead of a crash."""


def too_deep(ctx: FileContext, span: Span, what: str) -> None:
    ctx.report(
        codes.SCHEMA_TOO_DEEP,
        span,
        f"{what} nests more than {MAX_NESTING} levels deep "
        "(blocks, imports and roles counted together)",
    )


# --------------------------------------------------------------------------- scope


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """What enclosing plays, blocks, roles and imports pass down to a task."""

    section: Section
    base_dir: str
    """Where relative task files and roles are looked up (the playbook's folder)."""
    file_dir: str
    """The folder of the file being read (imports are relative to it first)."""
    collections: tuple[str, ...] = ()
    library: frozenset[str] = frozenset()
    when: tuple[Condition, ...] = ()
    inherited: Mapping[str, Any] = field(default_factory=dict)
    """Block/import keywords (``become``, ``delegate_to``, ``vars``, ...) already parsed."""
    defaults: Mapping[str, JSON] = field(default_factory=dict)
    reads: tuple[str, ...] = ()
    has_module_defaults: bool = False
    import_chain: tuple[str, ...] = ()
    role: str | None = None
    play_vars: Mapping[str, JSON] = field(default_factory=dict)
    """The play's ``vars``: with block, role and include vars and role defaults, what a
    templated include name is resolved with."""
    playbook_dir: str = ""
    depth: int = 0
    """Blocks, imported files and roles this scope is inside (bounded by `MAX_NESTING`)."""


# Keywords a block, import or role passes to its tasks, and how they combine.
_MERGED_MAPPINGS = ("vars", "module_defaults")
_APPENDED = ("environment", "tags")
_OVERRIDDEN = (
    "become", "become_user", "become_method", "become_flags", "remote_user", "connection",
    "delegate_to", "delegate_facts", "run_once", "ignore_errors", "ignore_unreachable", "no_log",
    "check_mode", "diff", "any_errors_fatal", "throttle", "timeout",
)  # fmt: skip


def inherit(
    scope: Scope, own: Mapping[str, Any], when: tuple[Condition, ...], reads: Iterable[str]
) -> Scope:
    merged = dict(scope.inherited)
    for key in _OVERRIDDEN:
        if key in own:
            merged[key] = own[key]
    for key in _MERGED_MAPPINGS:
        if key in own and isinstance(own[key], dict):
            merged[key] = {**merged.get(key, {}), **own[key]}
    for key in _APPENDED:
        if key in own:
            merged[key] = (*merged.get(key, ()), *own[key])
    collections = scope.collections
    if "collections" in own:
        collections = (*own["collections"], *collections)
    return replace(
        scope,
        inherited=merged,
        when=(*scope.when, *when),
        reads=unique((*scope.reads, *reads)),
        collections=collections,
        has_module_defaults=scope.has_module_defaults or "module_defaults" in own,
    )


def unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
