"""Tasks and actions: which module a task runs, its arguments, loops and retries, and
the IR node it becomes (a join finds the launches its ``jid`` reads)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypedDict

from playgraph.semantics import is_template

from .. import codes, values
from ..catalog import Catalog, Keywords, ModuleInfo, ModuleKind
from ..context import FileContext, analyze_text, dotted, free_form_arguments
from ..ir import (
    JSON,
    Blocking,
    Condition,
    Detached,
    Join,
    LoopSpec,
    Node,
    Polled,
    RetrySpec,
    Section,
    Templated,
)
from ..loader import YEntry, YMap, YNode, YScalar, inner_span, to_python
from ..locks import LockTable, locks_for_task
from ..recording import Recorder
from ..resolve.resolver import Resolver
from ..resolve.settings import ResolveSettings
from ..spans import Span
from ..suggest import did_you_mean
from .keywords import common_keyword
from .scope import ASYNC_KEYWORDS, ASYNC_STATUS, LOOP_CONTROL_KEYS, Scope, inherit, unique

if TYPE_CHECKING:
    from playgraph.grammar import VarRead

# Actions whose arguments are free-form names (set_fact's facts, add_host's host
# variables): their documented options are not the whole story.
_ANY_ARGUMENTS = frozenset({"set_fact", "add_host", "set_stats", "include_vars", "group_by"})
# Documentation placeholders that are not real parameters.
_PSEUDO_OPTIONS = frozenset({"free_form", "free-form", "key_value"})


class TaskFields(TypedDict):
    """The fields every node kind shares (`TaskNode`'s), checked by name and type where a
    node is built: ``Blocking(poll=..., **fields)``."""

    id: str
    name: str | None
    action: str
    args: Mapping[str, JSON]
    section: Section
    when: tuple[Condition, ...]
    register: str | None
    loop: LoopSpec | None
    retry: RetrySpec | None
    changed_when: tuple[Condition, ...] | None
    failed_when: tuple[Condition, ...] | None
    ignore_errors: bool | str
    ignore_unreachable: bool | str
    delegate_to: str | None
    delegate_facts: bool | str
    run_once: bool | str
    become: bool | str | None
    become_user: str | None
    become_method: str | None
    become_flags: str | None
    remote_user: str | None
    connection: str | None
    environment: tuple[JSON, ...]
    vars: Mapping[str, JSON]
    defaults: Mapping[str, JSON]
    tags: tuple[str, ...]
    notify: tuple[str, ...]
    listen: tuple[str, ...]
    no_log: bool | str | None
    check_mode: bool | str | None
    diff: bool | str | None
    timeout: Templated | None
    throttle: Templated | None
    any_errors_fatal: bool | str | None
    locks: tuple[str, ...]
    reads: tuple[str, ...]
    span: Span


class TaskLowering:
    """Tasks to nodes, with the program-order facts that resolve an ``async_status`` jid to
    its launch: what was registered, ``set_fact`` aliases, nodes by id."""

    def __init__(
        self,
        catalog: Catalog,
        keywords: Keywords,
        lock_table: LockTable,
        poll_default: int,
        resolver: Resolver | None = None,
    ) -> None:
        self.catalog = catalog
        # Modules, roles and plugins as the configuration finds them (compiler.resolve).
        self.resolver = resolver or Resolver(catalog, ResolveSettings())
        self.keywords = keywords
        self.lock_table = lock_table
        self.poll_default = poll_default
        self.registered: dict[str, Node] = {}
        self.aliases: dict[str, tuple[str, ...]] = {}
        """``set_fact`` facts → the names their values read."""
        self.node_by_id: dict[str, Node] = {}
        # Set while a task file's lowering is recorded for reuse (`fragments`).
        self.recorder: Recorder | None = None

    def find_action(
        self, ctx: FileContext, node: YMap, valid: frozenset[str], scope: Scope
    ) -> tuple[ModuleInfo | None, YEntry, YNode | None, bool] | None:
        """Which key is the module (as Ansible's ModuleArgsParser decides), and its arguments.

        Returns (module info or None if unknown, the entry naming it, its argument
        node, whether it came from ``local_action``).
        """
        candidates: list[YEntry] = []
        for entry in node.entries:
            key = entry.key.value
            if isinstance(key, str) and (key in valid or key.startswith("with_")):
                continue
            candidates.append(entry)
        explicit = node.entry("action") or node.entry("local_action")
        resolved: list[tuple[YEntry, ModuleInfo | None, YNode | None]] = []
        unresolved: list[YEntry] = []
        for entry in candidates:
            name = str(entry.key.value)
            known, info = self.resolve(name, scope)
            if known:
                resolved.append((entry, info, entry.value))
                self.resolver.note(ctx, entry.key.span, name, scope.collections, scope.library)
            else:
                unresolved.append(entry)
        if explicit is not None:
            module_name, args_node = self.explicit_action(ctx, explicit)
            if module_name is not None:
                known, info = self.resolve(module_name, scope)
                if not known:
                    self.unknown_module(ctx, explicit.value.span, module_name, scope)
                else:
                    self.resolver.note(
                        ctx, explicit.value.span, module_name, scope.collections, scope.library
                    )
                resolved.insert(0, (explicit, info, args_node))
        # A misspelt keyword next to a real module: report it as a keyword.
        for entry in unresolved:
            word = str(entry.key.value)
            keyword_guess = did_you_mean(word, valid)
            if resolved or keyword_guess is not None:
                ctx.report(
                    codes.SCHEMA_UNKNOWN_KEYWORD,
                    entry.key.span,
                    f"'{word}' is not a valid keyword for a task"
                    + ("" if resolved else ", and not a module either"),
                    help=f"did you mean `{keyword_guess}`?"
                    if keyword_guess
                    else self.module_help(word),
                )
            else:
                self.unknown_module(ctx, entry.key.span, word, scope)
        if len(resolved) > 1:
            names = ", ".join(str(e.key.value) for e, _, _ in resolved)
            ctx.report(
                codes.SCHEMA_CONFLICTING_ACTION,
                resolved[1][0].key.span,
                f"conflicting action statements: {names}",
                help="one task runs one module; split it, or check for a missing '- '",
            )
        if not resolved:
            if not unresolved:
                ctx.report(
                    codes.SCHEMA_MISSING_ACTION,
                    node.span,
                    "no module/action detected in task",
                    help="add the module to run, e.g. 'ansible.builtin.command: ...'",
                )
            return None
        entry, info, args_node = resolved[0]
        if info is not None and info.removed:
            # ansible-core's own words: the task-level `include` is the common case.
            what = "action plugin" if info.short == "include" else "module"
            ctx.report(
                codes.SCHEMA_UNKNOWN_MODULE,
                entry.key.span,
                f"The '{info.fqcn}' {what} has been removed."
                + (f" {info.message}" if info.message else ""),
            )
            return None
        return info, entry, args_node, entry.key.value == "local_action"

    def explicit_action(self, ctx: FileContext, entry: YEntry) -> tuple[str | None, YNode | None]:
        """``action: command ls`` or ``action: {module: command, ...}``."""
        value = entry.value
        if isinstance(value, YScalar) and isinstance(value.value, str) and value.value.strip():
            module, _, rest = value.value.strip().partition(" ")
            rest_node = YScalar(
                value=rest.strip(),
                tag=value.tag,
                style=value.style,
                span=value.span,
                char_start=value.char_start + len(module) + 1,
            )
            return module, rest_node
        if isinstance(value, YMap):
            module_node = value.get("module")
            if isinstance(module_node, YScalar) and isinstance(module_node.value, str):
                remaining = YMap(
                    entries=tuple(e for e in value.entries if e.key.value != "module"),
                    span=value.span,
                )
                return module_node.value, remaining
        ctx.report(codes.SCHEMA_BAD_VALUE, value.span, f"'{entry.key.value}' must name a module")
        return None, None

    def resolve(self, name: str, scope: Scope) -> tuple[bool, ModuleInfo | None]:
        """(known, info): a known name may lack details (a collection we only know by name)."""
        return self.resolver.resolve(name, scope.collections, scope.library, scope.playbook_dir)

    def is_foreign(self, name: str) -> bool:
        """A local library module, or an FQCN of a collection we have no catalog for."""
        if "." not in name:
            return False
        parts = name.split(".")
        if len(parts) < 3:
            return False
        collection = ".".join(parts[:2])
        if self.catalog.is_known_collection(collection):
            return False
        return did_you_mean(collection, self.catalog.collections) is None

    def module_help(self, name: str) -> str | None:
        suggestion = self.catalog.suggest_module(name)
        return f"did you mean `{suggestion}`?" if suggestion else None

    def unknown_module(self, ctx: FileContext, span: Span, name: str, scope: Scope) -> None:
        if name in scope.library:
            return
        self.resolver.unknown_module(ctx, span, name, scope.collections)

    def node(
        self,
        ctx: FileContext,
        node: YMap,
        valid: frozenset[str],
        info: ModuleInfo | None,
        action_entry: YEntry,
        args_node: YNode | None,
        delegate_local: bool,
        task_id: str,
        scope: Scope,
    ) -> Node:
        action_name = (
            info.fqcn if info is not None else self.written_action(action_entry, args_node)
        )
        own: dict[str, Any] = {}
        when: tuple[Condition, ...] = ()
        reads: list[VarRead] = []
        entries = {str(e.key.value): e for e in node.entries}
        if info is not None and info.kind is ModuleKind.INCLUDE:
            entries = self.include_keywords(ctx, info, entries, action_entry, valid)
        for key, entry in entries.items():
            if key not in valid and not key.startswith("with_"):
                continue
            if key in ("action", "local_action", "args", "when", "loop", "loop_control", "register",
                       "async", "async_val", "poll", "until", "retries", "delay", "changed_when",
                       "failed_when") or key.startswith("with_"):  # fmt: skip
                continue
            own.update(common_keyword(ctx, key, entry.value))
            reads += ctx.template_reads(entry.value)
        if "when" in entries:
            when = values.conditions(ctx, entries["when"].value, "when")
            reads += ctx.condition_reads(entries["when"].value)
        if delegate_local:
            own.setdefault("delegate_to", "localhost")

        args, args_reads = self.arguments(ctx, info, args_node, entries.get("args"), scope)
        args_entry = entries.get("args")
        static_args = args_entry is None or isinstance(args_entry.value, YMap)
        reads += args_reads
        register = (
            values.variable_name(ctx, entries["register"].value, "register")
            if "register" in entries
            else None
        )
        loop, loop_reads = self.loop(ctx, entries)
        reads += loop_reads
        retry = self.retry(ctx, entries)
        for key in ("until",):
            if key in entries:
                reads += ctx.condition_reads(entries[key].value)
        changed_when = failed_when = None
        if "changed_when" in entries:
            changed_when = values.conditions(ctx, entries["changed_when"].value, "changed_when")
            reads += ctx.condition_reads(entries["changed_when"].value)
        if "failed_when" in entries:
            failed_when = values.conditions(ctx, entries["failed_when"].value, "failed_when")
            reads += ctx.condition_reads(entries["failed_when"].value)

        inner = inherit(scope, own, when, ())
        inherited = inner.inherited
        async_limit = self.async_value(ctx, entries)
        poll = (
            values.integer(ctx, entries["poll"].value, "poll", hint="seconds")
            if "poll" in entries
            else None
        )
        locks = locks_for_task(self.lock_table, info, args) if info is not None else frozenset()
        all_reads = unique((*scope.reads, *(dotted(r) for r in reads)))
        common = TaskFields(
            id=task_id,
            name=own.get("name"),
            action=action_name,
            args=args,
            section=scope.section,
            when=inner.when,
            register=register,
            loop=loop,
            retry=retry,
            changed_when=changed_when,
            failed_when=failed_when,
            ignore_errors=inherited.get("ignore_errors", False),
            ignore_unreachable=inherited.get("ignore_unreachable", False),
            delegate_to=inherited.get("delegate_to"),
            delegate_facts=inherited.get("delegate_facts", False),
            run_once=inherited.get("run_once", False),
            become=inherited.get("become"),
            become_user=inherited.get("become_user"),
            become_method=inherited.get("become_method"),
            become_flags=inherited.get("become_flags"),
            remote_user=inherited.get("remote_user"),
            connection=inherited.get("connection"),
            environment=tuple(inherited.get("environment", ())),
            vars=dict(inherited.get("vars", {})),
            defaults=dict(scope.defaults),
            tags=unique(inherited.get("tags", ())),
            notify=tuple(own.get("notify", ())),
            listen=tuple(own.get("listen", ())),
            no_log=inherited.get("no_log"),
            check_mode=inherited.get("check_mode"),
            diff=inherited.get("diff"),
            timeout=inherited.get("timeout"),
            throttle=inherited.get("throttle"),
            any_errors_fatal=inherited.get("any_errors_fatal"),
            locks=tuple(sorted(locks)),
            reads=all_reads,
            span=node.span,
        )
        result: Node
        if action_name == ASYNC_STATUS:
            result = replace(self.join(ctx, common, args, entries, loop), async_limit=async_limit)
        elif async_limit is None or async_limit == 0:
            result = Blocking(poll=poll, **common)
        elif isinstance(poll, int) and poll == 0:
            result = Detached(async_limit=async_limit, **common)
        else:
            result = Polled(
                async_limit=async_limit,
                poll=self.poll_default if poll is None else poll,
                **common,
            )
        if info is not None and info.short == "set_fact" and isinstance(args_node, YMap):
            for entry in args_node.entries:
                fact = str(entry.key.value)
                self.aliases[fact] = tuple(read.name for read in ctx.template_reads(entry.value))
                if self.recorder is not None:
                    self.recorder.events.append(("A", fact, self.aliases[fact]))
        if register is not None:
            self.registered[register] = result
            if self.recorder is not None:
                self.recorder.events.append(("R", register, result.id))
        self.node_by_id[result.id] = result
        if self.recorder is not None:
            self.recorder.events.append(("N", result.id))
        if static_args:
            self.check_arguments(ctx, info, args, args_node, action_entry, scope)
        return result

    def include_keywords(
        self,
        ctx: FileContext,
        info: ModuleInfo,
        entries: dict[str, YEntry],
        action_entry: YEntry,
        valid: frozenset[str],
    ) -> dict[str, YEntry]:
        """An include is not a module: it never forks, so it cannot be async (Ansible rejects it)."""
        # In a handler list an include is also a handler (ansible-core's HandlerTaskInclude),
        # so the handler's own keywords (``listen``) are valid on it.
        handler_own = valid - self.keywords.task
        kept: dict[str, YEntry] = {}
        for key, entry in entries.items():
            if key in ASYNC_KEYWORDS:
                ctx.report(
                    codes.SCHEMA_INCLUDE_ASYNC,
                    entry.key.span,
                    f"'{key}' is not a valid attribute for {info.short}: includes cannot run async",
                    help=f"put '{key}' on the tasks inside the included file",
                )
                continue
            if (
                info.short == "include_tasks"
                and entry is not action_entry
                and key not in self.keywords.include
                and key not in handler_own
                and key not in ("local_action",)
            ):
                ctx.report(
                    codes.SCHEMA_UNKNOWN_KEYWORD,
                    entry.key.span,
                    f"'{key}' is not a valid attribute for include_tasks",
                    help="wrap the include in a block to apply it, or use 'apply:'",
                )
                continue
            kept[key] = entry
        return kept

    def written_action(self, entry: YEntry, args_node: YNode | None) -> str:
        if entry.key.value in ("action", "local_action"):
            value = entry.value
            if isinstance(value, YScalar):
                return str(value.value).split(" ", 1)[0]
            if isinstance(value, YMap) and isinstance(value.get("module"), YScalar):
                module = value.get("module")
                assert isinstance(module, YScalar)
                return str(module.value)
        return str(entry.key.value)

    def async_value(self, ctx: FileContext, entries: Mapping[str, YEntry]) -> Templated | None:
        entry = entries.get("async") or entries.get("async_val")
        if entry is None:
            return None
        return values.integer(ctx, entry.value, "async", hint="seconds of time limit")

    def arguments(
        self,
        ctx: FileContext,
        info: ModuleInfo | None,
        node: YNode | None,
        args_entry: YEntry | None,
        scope: Scope,
    ) -> tuple[dict[str, JSON], list[VarRead]]:
        args: dict[str, JSON] = {}
        reads: list[VarRead] = []
        if args_entry is not None:
            extra = values.mapping(ctx, args_entry.value, "args", allow_template=True)
            reads += ctx.template_reads(args_entry.value)
            if isinstance(extra, dict):
                args.update(extra)
        if node is None or (isinstance(node, YScalar) and node.value in (None, "")):
            return args, reads
        if isinstance(node, YScalar):
            text = str(node.value)
            keep_raw = info.keeps_raw_words if info is not None else False
            parsed = free_form_arguments(text, keep_raw)
            if isinstance(parsed, tuple):
                message, offset = parsed
                offset = max(0, min(offset, len(text)))
                ctx.report(
                    codes.SYNTAX_ARGS, inner_span(ctx.source, node, offset, offset + 1), message
                )
                args["_raw_params"] = text
                return args, reads
            args.update(parsed)
            reads += ctx.template_reads(node)
            return args, reads
        if isinstance(node, YMap):
            args.update(to_python(node))
            reads += ctx.template_reads(node)
            return args, reads
        ctx.report(
            codes.SCHEMA_BAD_VALUE,
            node.span,
            f"module arguments must be a mapping or a string, got {values.describe(node)}",
        )
        return args, reads

    def check_arguments(
        self,
        ctx: FileContext,
        info: ModuleInfo | None,
        args: Mapping[str, JSON],
        args_node: YNode | None,
        action_entry: YEntry,
        scope: Scope,
    ) -> None:
        """Unknown, missing or conflicting arguments, where the module's spec is known."""
        spans: dict[str, Span] = {}
        if isinstance(args_node, YMap):
            spans = {str(e.key.value): e.key.span for e in args_node.entries}
        self.resolver.check_arguments(
            ctx,
            info,
            args,
            spans,
            action_entry.key.span,
            check_required=not scope.has_module_defaults,
        )

    def loop(
        self, ctx: FileContext, entries: Mapping[str, YEntry]
    ) -> tuple[LoopSpec | None, list[VarRead]]:
        loop_keys = [key for key in entries if key == "loop" or key.startswith("with_")]
        if not loop_keys:
            if "loop_control" in entries:
                ctx.report(
                    codes.SCHEMA_BAD_VALUE,
                    entries["loop_control"].key.span,
                    "'loop_control' without 'loop'",
                )
            return None, []
        if len(loop_keys) > 1:
            ctx.report(
                codes.SCHEMA_BAD_VALUE,
                entries[loop_keys[1]].key.span,
                f"a task can loop only once; found {', '.join(loop_keys)}",
            )
        key = loop_keys[0]
        entry = entries[key]
        reads = list(ctx.template_reads(entry.value))
        items = to_python(entry.value)
        if key == "loop" and not isinstance(items, list | str):
            ctx.report(
                codes.SCHEMA_BAD_VALUE,
                entry.value.span,
                f"'loop' must be a list or a template, got {values.describe(entry.value)}",
            )
        if key == "with_items" or key.startswith("with_"):
            # with_items: [a, b] of bare names: Ansible templates each item, so names are read as-is
            pass
        control: dict[str, Any] = {}
        if "loop_control" in entries:
            control_node = entries["loop_control"].value
            if isinstance(control_node, YMap):
                for control_entry in control_node.entries:
                    name = str(control_entry.key.value)
                    if name not in LOOP_CONTROL_KEYS:
                        suggestion = did_you_mean(name, LOOP_CONTROL_KEYS)
                        ctx.report(
                            codes.SCHEMA_UNKNOWN_KEYWORD,
                            control_entry.key.span,
                            f"'{name}' is not a valid loop_control option",
                            help=f"did you mean `{suggestion}`?" if suggestion else None,
                        )
                    elif name in ("loop_var", "index_var"):
                        value = control_entry.value
                        if isinstance(value, YScalar) and is_template(value.value):
                            # Templated by ansible-core when the loop runs.
                            ctx.template_reads(value)
                            control[name] = str(value.value)
                            continue
                        var = values.variable_name(ctx, value, f"loop_control.{name}")
                        if var is not None:
                            control[name] = var
                    elif name == "pause":
                        pause = values.number(ctx, control_entry.value, "loop_control.pause")
                        if pause is not None:
                            control[name] = pause
                    elif name == "extended":
                        extended = values.boolean(ctx, control_entry.value, "loop_control.extended")
                        if extended is not None:
                            control[name] = extended
                    elif name == "label":
                        reads += ctx.template_reads(control_entry.value)
                        control[name] = str(to_python(control_entry.value))
            else:
                ctx.report(
                    codes.SCHEMA_BAD_VALUE, control_node.span, "'loop_control' must be a mapping"
                )
        return LoopSpec(keyword=key, items=items, **control), reads

    def retry(self, ctx: FileContext, entries: Mapping[str, YEntry]) -> RetrySpec | None:
        if not any(key in entries for key in ("until", "retries", "delay")):
            return None
        until = (
            values.conditions(ctx, entries["until"].value, "until") if "until" in entries else ()
        )
        retries = (
            # ansible-core accepts a negative count and runs the task once: so do we.
            values.integer(
                ctx, entries["retries"].value, "retries", hint="attempts", minimum=-(2**31)
            )
            if "retries" in entries
            else None
        )
        delay: float | str = 5.0
        if "delay" in entries:
            parsed = values.number(ctx, entries["delay"].value, "delay")
            delay = parsed if parsed is not None else 5.0
        if not until and "retries" not in entries:
            return None  # a lone delay does nothing in ansible-core
        return RetrySpec(until=until, retries=retries, delay=delay)

    # ------------------------------------------------------------------ joins

    def join(
        self,
        ctx: FileContext,
        common: TaskFields,
        args: Mapping[str, JSON],
        entries: Mapping[str, YEntry],
        loop: LoopSpec | None,
    ) -> Join:
        jid = args.get("jid")
        mode = args.get("mode", "status")
        waits_on: list[str] = []
        if isinstance(jid, str):
            jid_reads = _reads_of(jid)
            loop_reads: tuple[VarRead, ...] = ()
            if loop is not None and isinstance(loop.items, str):
                loop_reads = _reads_of(loop.items)
            elif loop is not None and isinstance(loop.items, list):
                # with_items: ["{{ jobs.results }}"]: the templates' lists are flattened
                loop_reads = tuple(
                    read for item in loop.items if isinstance(item, str) for read in _reads_of(item)
                )
            loop_names = tuple(read.name for read in loop_reads)
            for read in jid_reads:
                for source in self.jid_sources(read.name, loop, loop_names, depth=0):
                    if source.id not in waits_on:
                        waits_on.append(source.id)
        return Join(jid=jid, mode=str(mode), waits_on=tuple(waits_on), **common)

    def jid_sources(
        self, name: str, loop: LoopSpec | None, loop_reads: tuple[str, ...], depth: int
    ) -> list[Node]:
        """The registering nodes a jid read (the variable ``name``) leads back to, through
        loops and set_fact aliases."""
        if depth > 4:
            return []
        if loop is not None and name == loop.loop_var:
            found: list[Node] = []
            for loop_read in loop_reads:
                found += self.jid_sources(loop_read, None, (), depth + 1)
            return found
        registered = self.registered.get(name)
        if self.recorder is not None:
            self.recorder.events.append(("r", name, registered.id if registered else None))
        if registered is not None:
            return [registered]
        alias = self.aliases.get(name)
        if self.recorder is not None:
            self.recorder.events.append(("a", name, alias))
        if alias is not None:
            found = []
            for alias_read in alias:
                found += self.jid_sources(alias_read, loop, loop_reads, depth + 1)
            return found
        return []


def _reads_of(text: str) -> tuple[VarRead, ...]:
    outcome = analyze_text(text, False)
    return outcome if isinstance(outcome, tuple) else ()
