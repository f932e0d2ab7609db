"""Lowering: positioned YAML to the execution graph.

One walk over the playbook in program order does the checking and the
lowering together: each play, block and task is validated (keywords, values,
module names, Jinja) and turned into IR nodes on the spot, so the walk also
knows, at every ``async_status``, which earlier task registered the variable
its ``jid`` reads — that is how sync edges are found without a second pass.

Imports (``import_tasks``, ``import_role``, ``roles:``, ``import_playbook``) are
expanded here, with their own file positions; includes stay nodes that the
runtime expands.  Block and import keywords are pushed down into the tasks.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from playgraph.grammar import ArgsSyntaxError, GrammarError, VarRead, is_template, parse_args

from . import codes, values
from .catalog import Catalog, Keywords, ModuleInfo, ModuleKind, default_catalog, keywords
from .context import FileContext, analyze_text, dotted
from .diagnostics import Diagnostic, sorted_unique
from .ir import (
    JSON,
    Blocking,
    BlockStep,
    Condition,
    Detached,
    Edge,
    EdgeKind,
    Graph,
    Join,
    LoopSpec,
    Node,
    Play,
    Polled,
    RetrySpec,
    Section,
    Step,
    Templated,
    iter_nodes,
)
from .loader import Document, YEntry, YMap, YNode, YScalar, YSeq, inner_span, load_file, to_python
from .locks import LockTable, default_lock_table, locks_for_task
from .result import Compiled, CompileOptions
from .spans import SourceText, Span
from .suggest import did_you_mean

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
# Actions whose arguments are free-form names (set_fact's facts, add_host's host
# variables): their documented options are not the whole story.
_ANY_ARGUMENTS = frozenset({"set_fact", "add_host", "set_stats", "include_vars", "group_by"})
# Documentation placeholders that are not real parameters.
_PSEUDO_OPTIONS = frozenset({"free_form", "free-form", "key_value"})
# Play keys that hold tasks or are handled on their own, not plain keyword values.
_PLAY_STRUCTURE = frozenset({"hosts", "tasks", "pre_tasks", "post_tasks", "handlers", "roles"})


MAX_NESTING = 64
"""How deep blocks, imported task files, imported playbooks and roles (with their
dependencies) may nest, counted together along one path.  Lowering recurses once
per level; real playbooks nest a handful of levels, and a bound turns a runaway
chain (generated or hostile) into one located error instead of a crash."""


def _too_deep(ctx: FileContext, span: Span, what: str) -> None:
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


def _inherit(
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
        reads=_unique((*scope.reads, *reads)),
        collections=collections,
        has_module_defaults=scope.has_module_defaults or "module_defaults" in own,
    )


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


# --------------------------------------------------------------------------- the compiler


class _Compiler:
    """State of one compilation: files read, registrations seen so far, findings."""

    def __init__(self, options: CompileOptions) -> None:
        self.options = options
        self.catalog: Catalog = default_catalog()
        self.keywords: Keywords = keywords()
        self.lock_table: LockTable = default_lock_table().extend(options.extra_locks)
        self.contexts: dict[str, FileContext] = {}
        self.documents: dict[str, Document] = {}
        # Program-order facts used to resolve an async_status jid to its launch.
        self.registered: dict[str, Node] = {}
        self.aliases: dict[str, tuple[VarRead, ...]] = {}
        self.node_by_id: dict[str, Node] = {}
        self.inputs: dict[str, str] = {}
        self.pending_handlers: list[Step] = []
        self.play_count = 0

    # ------------------------------------------------------------------ files
    # Every look at the file system goes through these, which record what was
    # seen (`inputs`), so a cached compilation can tell whether it is still valid.

    def is_file(self, path: str) -> bool:
        found = os.path.isfile(path)
        self.inputs.setdefault(path, "file" if found else "absent")
        return found

    def is_dir(self, path: str) -> bool:
        found = os.path.isdir(path)
        self.inputs.setdefault(path + os.sep, "dir" if found else "absent")
        return found

    def listdir(self, path: str) -> list[str]:
        try:
            names = sorted(os.listdir(path))
        except OSError:
            self.inputs[path + os.sep] = "absent"
            raise
        self.inputs[path + os.sep] = "list:" + "\0".join(names)
        return names

    def load(self, path: str) -> tuple[FileContext, YNode | None]:
        if path not in self.documents:
            document = load_file(path)
            self.inputs[path] = "sha256:" + document.source.digest
            self.documents[path] = document
            ctx = FileContext(document.source)
            ctx.diagnostics.extend(document.diagnostics)
            self.contexts[path] = ctx
        document = self.documents[path]
        return self.contexts[path], document.root

    def diagnostics(self) -> list[Diagnostic]:
        return [d for ctx in self.contexts.values() for d in ctx.diagnostics]

    # ------------------------------------------------------------------ playbook

    def playbook(
        self, path: str, chain: tuple[str, ...] = (), origin: tuple[FileContext, Span] | None = None
    ) -> list[Play]:
        if origin is not None and not self.is_file(path):
            ctx, span = origin
            ctx.report(codes.LOAD_NOT_FOUND, span, f"imported playbook '{path}' not found")
            return []
        ctx, root = self.load(path)
        if isinstance(root, YScalar) and root.value is None:
            root = None  # a document of only comments or '---'
        if root is None:
            if not ctx.diagnostics:
                ctx.report(
                    codes.SYNTAX_EMPTY,
                    ctx.source.span(0, 0),
                    "the playbook is empty; expected a list of plays",
                )
            return []
        if not isinstance(root, YSeq):
            ctx.report(
                codes.SCHEMA_NOT_A_PLAYBOOK,
                root.span,
                f"a playbook must be a list of plays, got {values.describe(root)}",
                help="start each play with '- hosts: ...'; include a task file with import_tasks",
            )
            return []
        if not root.items:
            ctx.report(
                codes.SYNTAX_EMPTY, root.span, "the playbook is an empty list; expected plays"
            )
        plays: list[Play] = []
        # Relative paths stay relative, so spans name files as the user does.
        base_dir = os.path.dirname(path) or "."
        for item in root.items:
            if not isinstance(item, YMap):
                ctx.report(
                    codes.SCHEMA_NOT_A_PLAYBOOK,
                    item.span,
                    f"each play must be a mapping, got {values.describe(item)}",
                )
                continue
            imported = item.entry("import_playbook") or item.entry(
                "ansible.builtin.import_playbook"
            )
            if imported is not None:
                plays += self.import_playbook(ctx, item, imported, base_dir, (*chain, path))
                continue
            play = self.play(ctx, item, base_dir)
            if play is not None:
                plays.append(play)
        return plays

    def import_playbook(
        self, ctx: FileContext, item: YMap, entry: YEntry, base_dir: str, chain: tuple[str, ...]
    ) -> list[Play]:
        for key in item.keys():  # noqa: SIM118 - a YMap, not a dict
            if key not in (
                "import_playbook",
                "ansible.builtin.import_playbook",
                "name",
                "vars",
                "when",
                "tags",
            ):
                node = item.entry(key)
                assert node is not None
                self.unknown_keyword(
                    ctx,
                    node.key,
                    ("import_playbook", "name", "vars", "when", "tags"),
                    "import_playbook",
                )
        target = values.string(ctx, entry.value, "import_playbook")
        if target is None:
            return []
        if is_template(target):
            ctx.report(
                codes.SCHEMA_BAD_VALUE,
                entry.value.span,
                "import_playbook needs a literal path; templated imports cannot be expanded statically",
            )
            return []
        path = os.path.normpath(os.path.join(base_dir, target))
        if len(chain) >= MAX_NESTING:
            _too_deep(ctx, entry.value.span, f"'{target}'")
            return []
        if path in chain:
            ctx.report(
                codes.SCHEMA_INCLUDE_LOOP,
                entry.value.span,
                f"'{target}' imports itself (cycle: {' -> '.join(chain)})",
            )
            return []
        return self.playbook(path, chain, origin=(ctx, entry.value.span))

    def play(self, ctx: FileContext, node: YMap, base_dir: str) -> Play | None:
        play_id = f"play[{self.play_count}]"
        self.play_count += 1
        valid = self.keywords.play
        kw: dict[str, Any] = {}
        for entry in node.entries:
            key = entry.key.value
            if not isinstance(key, str) or key not in valid:
                self.unknown_keyword(ctx, entry.key, valid, "play")
                continue
            if key in ASYNC_KEYWORDS:
                ctx.report(
                    codes.SCHEMA_UNKNOWN_KEYWORD,
                    entry.key.span,
                    f"'{key}' is not a valid attribute for a Play; put it on the tasks",
                )
                continue
            if key in _PLAY_STRUCTURE:
                continue
            kw.update(self.common_keyword(ctx, key, entry.value, entry))
        hosts_node = node.get("hosts")
        hosts = ""
        if hosts_node is None:
            ctx.report(
                codes.SCHEMA_BAD_VALUE,
                node.span,
                "the play has no 'hosts'",
                help="add 'hosts: all' or a group name",
            )
        elif isinstance(hosts_node, YSeq):
            hosts = ",".join(values.string_list(ctx, hosts_node, "hosts"))
        else:
            hosts = values.string(ctx, hosts_node, "hosts") or ""
            ctx.template_reads(hosts_node)
        if hosts_node is not None and not hosts.strip():
            ctx.report(codes.SCHEMA_BAD_VALUE, hosts_node.span, "'hosts' is empty")
        library = self.library_modules(base_dir)
        # The play's own keywords stay on the Play; tasks carry only what blocks add.
        scope = Scope(
            section=Section.TASKS,
            base_dir=base_dir,
            file_dir=os.path.dirname(ctx.path) or ".",
            library=library,
            collections=tuple(kw.get("collections", ())),
            has_module_defaults="module_defaults" in kw,
        )
        self.pending_handlers = []

        sections: dict[str, tuple[Step, ...]] = {}
        handlers: list[Step] = []
        for name, section in (
            ("pre_tasks", Section.PRE_TASKS),
            ("tasks", Section.TASKS),
            ("post_tasks", Section.POST_TASKS),
        ):
            steps: list[Step] = []
            if name == "tasks" and node.get("roles") is not None:
                roles_node = node.get("roles")
                assert roles_node is not None
                role_steps, role_handlers = self.roles(
                    ctx, roles_node, f"{play_id}.roles", replace(scope, section=section)
                )
                steps += role_steps
                handlers += role_handlers
            section_node = node.get(name)
            if section_node is not None:
                steps += self.steps(
                    ctx, section_node, f"{play_id}.{name}", replace(scope, section=section)
                )
            sections[name] = tuple(steps)
        handlers_node = node.get("handlers")
        if handlers_node is not None:
            handlers = [
                *self.steps(
                    ctx,
                    handlers_node,
                    f"{play_id}.handlers",
                    replace(scope, section=Section.HANDLERS),
                ),
                *handlers,
            ]
        play = Play(
            id=play_id,
            name=kw.get("name"),
            hosts=hosts,
            strategy=kw.get("strategy"),
            serial=kw.get("serial", ()),
            gather_facts=kw.get("gather_facts", True),
            vars=kw.get("vars", {}),
            vars_files=kw.get("vars_files", ()),
            become=kw.get("become"),
            become_user=kw.get("become_user"),
            become_method=kw.get("become_method"),
            remote_user=kw.get("remote_user"),
            connection=kw.get("connection"),
            environment=kw.get("environment", ()),
            any_errors_fatal=kw.get("any_errors_fatal", False),
            max_fail_percentage=kw.get("max_fail_percentage"),
            force_handlers=kw.get("force_handlers", False),
            ignore_errors=kw.get("ignore_errors", False),
            ignore_unreachable=kw.get("ignore_unreachable", False),
            throttle=kw.get("throttle"),
            order=kw.get("order"),
            run_once=kw.get("run_once", False),
            check_mode=kw.get("check_mode"),
            no_log=kw.get("no_log"),
            tags=kw.get("tags", ()),
            collections=kw.get("collections", ()),
            module_defaults=kw.get("module_defaults", {}),
            pre_tasks=sections["pre_tasks"],
            tasks=sections["tasks"],
            post_tasks=sections["post_tasks"],
            handlers=(*handlers, *self.pending_handlers),
            span=node.span,
        )
        self.check_notify(ctx, play)
        return replace(play, edges=self.edges(play))

    def library_modules(self, base_dir: str) -> frozenset[str]:
        folder = os.path.join(base_dir, "library")
        try:
            names = self.listdir(folder)
        except OSError:
            return frozenset()
        return frozenset(os.path.splitext(name)[0] for name in names if not name.startswith("."))

    # ------------------------------------------------------------------ keywords

    def unknown_keyword(
        self, ctx: FileContext, key: YScalar, valid: Iterable[str], level: str
    ) -> None:
        word = str(key.value)
        suggestion = did_you_mean(word, valid)
        ctx.report(
            codes.SCHEMA_UNKNOWN_KEYWORD,
            key.span,
            f"'{word}' is not a valid keyword for a {level}",
            help=f"did you mean `{suggestion}`?" if suggestion else None,
        )

    def common_keyword(
        self, ctx: FileContext, key: str, node: YNode, entry: YEntry
    ) -> dict[str, Any]:
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
            parsed = values.choice(ctx, node, key, STRATEGIES)
        elif key in ("timeout", "throttle"):
            parsed = values.integer(ctx, node, key, hint="seconds" if key == "timeout" else "hosts")
        elif key == "max_fail_percentage":
            parsed = values.number(ctx, node, key)
        elif key == "serial":
            parsed = values.serial(ctx, node)
        elif key in ("tags", "notify", "listen", "collections", "vars_files"):
            parsed = values.string_list(ctx, node, key)
        elif key in ("vars", "module_defaults"):
            ctx.template_reads(node)
            parsed = values.mapping(ctx, node, key)
        elif key == "environment":
            ctx.template_reads(node)
            parsed = self.environment(ctx, node)
        else:
            # Keywords without a compile-time check (vars_prompt, hosts, ...) keep their data.
            ctx.template_reads(node)
            return {key: to_python(node)}
        return {} if parsed is None else {key: parsed}

    def environment(self, ctx: FileContext, node: YNode) -> tuple[JSON, ...] | None:
        items = node.items if isinstance(node, YSeq) else (node,)
        result: list[JSON] = []
        for item in items:
            value = values.mapping(ctx, item, "environment", allow_template=True)
            if value is not None:
                result.append(value)
        return tuple(result)

    # ------------------------------------------------------------------ steps

    def steps(self, ctx: FileContext, node: YNode, prefix: str, scope: Scope) -> list[Step]:
        if isinstance(node, YScalar) and node.value is None:
            return []
        if not isinstance(node, YSeq):
            ctx.report(
                codes.SCHEMA_BAD_VALUE,
                node.span,
                f"a task list must be a list, got {values.describe(node)}",
            )
            return []
        result: list[Step] = []
        for index, item in enumerate(node.items):
            step_id = f"{prefix}[{index}]"
            if not isinstance(item, YMap):
                ctx.report(
                    codes.SCHEMA_BAD_VALUE,
                    item.span,
                    f"a task must be a mapping, got {values.describe(item)}",
                    help="write '- name: ...' followed by the module on the next line",
                )
                continue
            if item.entry("block") is not None:
                if scope.depth >= MAX_NESTING:
                    _too_deep(ctx, item.span, "this block")
                    continue
                block = self.block(ctx, item, step_id, replace(scope, depth=scope.depth + 1))
                if block is not None:
                    result.append(block)
                continue
            result += self.task(ctx, item, step_id, scope)
        return result

    def block(self, ctx: FileContext, node: YMap, block_id: str, scope: Scope) -> BlockStep | None:
        valid = self.keywords.block
        own: dict[str, Any] = {}
        when: tuple[Condition, ...] = ()
        reads: list[str] = []
        for entry in node.entries:
            key = entry.key.value
            if key in ("block", "rescue", "always"):
                continue
            if not isinstance(key, str) or key not in valid:
                if isinstance(key, str) and key in ASYNC_KEYWORDS:
                    ctx.report(
                        codes.SCHEMA_INCLUDE_ASYNC,
                        entry.key.span,
                        f"'{key}' is not a valid attribute for a Block",
                        help="put async/poll/retries on the tasks inside the block",
                    )
                else:
                    self.unknown_keyword(ctx, entry.key, valid, "block")
                continue
            if key == "when":
                when = values.conditions(ctx, entry.value, key)
                reads += (dotted(r) for r in ctx.condition_reads(entry.value))
                continue
            own.update(self.common_keyword(ctx, key, entry.value, entry))
        inner = _inherit(scope, own, when, reads)
        body = node.get("block")
        if body is None or (isinstance(body, YScalar) and body.value is None):
            ctx.report(codes.SCHEMA_BAD_VALUE, node.span, "'block' is empty")
        parts = {}
        for section in ("block", "rescue", "always"):
            part = node.get(section)
            parts[section] = (
                tuple(self.steps(ctx, part, f"{block_id}.{section}", inner))
                if part is not None
                else ()
            )
        return BlockStep(
            id=block_id,
            name=own.get("name"),
            block=parts["block"],
            rescue=parts["rescue"],
            always=parts["always"],
            span=node.span,
        )

    # ------------------------------------------------------------------ tasks

    def task(self, ctx: FileContext, node: YMap, task_id: str, scope: Scope) -> list[Step]:
        """One task mapping: usually one node, several for an import, none when unusable."""
        valid = self.keywords.handler if scope.section is Section.HANDLERS else self.keywords.task
        action = self.find_action(ctx, node, valid, scope)
        if action is None:
            return []
        info, action_entry, args_node, delegate_local = action
        if info is not None and info.kind is ModuleKind.IMPORT:
            return self.import_step(ctx, node, info, action_entry, args_node, task_id, scope)
        return [
            self.task_node(
                ctx, node, valid, info, action_entry, args_node, delegate_local, task_id, scope
            )
        ]

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
                if info is None and name not in scope.library:
                    ctx.report(
                        codes.SCHEMA_UNKNOWN_COLLECTION,
                        entry.key.span,
                        f"'{name}' is not in playgraph's catalog; its name, arguments and async "
                        "support are not checked",
                    )
            else:
                unresolved.append(entry)
        if explicit is not None:
            module_name, args_node = self.explicit_action(ctx, explicit)
            if module_name is not None:
                known, info = self.resolve(module_name, scope)
                if not known:
                    self.unknown_module(ctx, explicit.value.span, module_name, scope)
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
        resolution = self.catalog.resolve_with_redirect(name, collections=scope.collections)
        if resolution is not None:
            return True, resolution.info
        return (name in scope.library or self.is_foreign(name)), None

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
        ctx.report(
            codes.SCHEMA_UNKNOWN_MODULE,
            span,
            f"couldn't resolve module/action '{name}'",
            help=self.module_help(name),
        )

    def task_node(
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
            entries = self.include_keywords(ctx, info, entries, action_entry)
        for key, entry in entries.items():
            if key not in valid and not key.startswith("with_"):
                continue
            if key in ("action", "local_action", "args", "when", "loop", "loop_control", "register",
                       "async", "async_val", "poll", "until", "retries", "delay", "changed_when",
                       "failed_when") or key.startswith("with_"):  # fmt: skip
                continue
            own.update(self.common_keyword(ctx, key, entry.value, entry))
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

        inner = _inherit(scope, own, when, ())
        inherited = inner.inherited
        async_limit = self.async_value(ctx, entries)
        poll = (
            values.integer(ctx, entries["poll"].value, "poll", hint="seconds")
            if "poll" in entries
            else None
        )
        locks = locks_for_task(self.lock_table, info, args) if info is not None else frozenset()
        all_reads = _unique((*scope.reads, *(dotted(r) for r in reads)))
        common: dict[str, Any] = dict(
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
            tags=_unique(inherited.get("tags", ())),
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
                poll=self.options.poll_default if poll is None else poll,
                **common,
            )
        if info is not None and info.short == "set_fact" and isinstance(args_node, YMap):
            for entry in args_node.entries:
                self.aliases[str(entry.key.value)] = ctx.template_reads(entry.value)
        if register is not None:
            self.registered[register] = result
        self.node_by_id[result.id] = result
        if static_args:
            self.check_arguments(ctx, info, args, args_node, action_entry, scope)
        return result

    def include_keywords(
        self, ctx: FileContext, info: ModuleInfo, entries: dict[str, YEntry], action_entry: YEntry
    ) -> dict[str, YEntry]:
        """An include is not a module: it never forks, so it cannot be async (Ansible rejects it)."""
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
            try:
                parsed = parse_args(text, raw_params=keep_raw)
            except ArgsSyntaxError as error:
                offset = max(0, min(error.offset, len(text)))
                ctx.report(
                    codes.SYNTAX_ARGS,
                    inner_span(ctx.source, node, offset, offset + 1),
                    error.message,
                )
                args["_raw_params"] = text
                return args, reads
            args.update(parsed.as_dict())
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
        """Unknown or missing arguments, for modules whose options the catalog knows."""
        if info is None or not info.options or info.short in _ANY_ARGUMENTS:
            return
        spans: dict[str, Span] = {}
        if isinstance(args_node, YMap):
            spans = {str(e.key.value): e.key.span for e in args_node.entries}
        for name in args:
            if name.startswith("_") or name in info.options:
                continue
            suggestion = did_you_mean(name, info.options)
            ctx.report(
                codes.SCHEMA_UNKNOWN_ARGUMENT,
                spans.get(name, action_entry.key.span),
                f"{info.short} has no argument '{name}'",
                help=f"did you mean `{suggestion}`?" if suggestion else None,
            )
        if scope.has_module_defaults:
            return
        for name in sorted(info.required):
            if name not in args and name not in _PSEUDO_OPTIONS:
                ctx.report(
                    codes.SCHEMA_MISSING_ARGUMENT,
                    action_entry.key.span,
                    f"missing required arguments: {name}",
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
                        var = values.variable_name(ctx, control_entry.value, f"loop_control.{name}")
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
        common: dict[str, Any],
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
            for read in jid_reads:
                for source in self.jid_sources(read, loop, loop_reads, depth=0):
                    if source.id not in waits_on:
                        waits_on.append(source.id)
        return Join(jid=jid, mode=str(mode), waits_on=tuple(waits_on), **common)

    def jid_sources(
        self, read: VarRead, loop: LoopSpec | None, loop_reads: tuple[VarRead, ...], depth: int
    ) -> list[Node]:
        """The registering nodes a jid read leads back to (through loops and set_fact aliases)."""
        if depth > 4:
            return []
        if loop is not None and read.name == loop.loop_var:
            found: list[Node] = []
            for loop_read in loop_reads:
                found += self.jid_sources(loop_read, None, (), depth + 1)
            return found
        if read.name in self.registered:
            return [self.registered[read.name]]
        if read.name in self.aliases:
            found = []
            for alias_read in self.aliases[read.name]:
                found += self.jid_sources(alias_read, loop, loop_reads, depth + 1)
            return found
        return []

    # ------------------------------------------------------------------ imports and roles

    def import_step(
        self,
        ctx: FileContext,
        node: YMap,
        info: ModuleInfo,
        action_entry: YEntry,
        args_node: YNode | None,
        step_id: str,
        scope: Scope,
    ) -> list[Step]:
        """``import_tasks``/``import_role``: expanded here, keywords pushed into the imported tasks."""
        valid = self.keywords.task
        own: dict[str, Any] = {}
        when: tuple[Condition, ...] = ()
        reads: list[str] = []
        for entry in node.entries:
            key = str(entry.key.value)
            if entry is action_entry:
                continue
            if key in ASYNC_KEYWORDS:
                ctx.report(
                    codes.ASYNC_UNSUPPORTED_IMPORT,
                    entry.key.span,
                    f"'{key}' on {info.short} is silently ignored by Ansible; the imported tasks run synchronously",
                    help=f"put '{key}' on the tasks inside the imported file",
                )
                continue
            if key == "when":
                when = values.conditions(ctx, entry.value, key)
                reads += (dotted(r) for r in ctx.condition_reads(entry.value))
            elif key in valid:
                own.update(self.common_keyword(ctx, key, entry.value, entry))
        args, _ = self.arguments(ctx, info, args_node, node.entry("args"), scope)
        inner = _inherit(scope, own, when, reads)
        if info.short == "import_role":
            name = args.get("name")
            if not isinstance(name, str):
                ctx.report(
                    codes.SCHEMA_MISSING_ARGUMENT,
                    action_entry.key.span,
                    "missing required arguments: name",
                )
                return []
            steps, handlers = self.role(
                ctx,
                name,
                action_entry.value.span,
                step_id,
                inner,
                tasks_from=str(args.get("tasks_from", "main")),
            )
            self.pending_handlers += handlers
            return steps
        target = args.get("file", args.get("_raw_params"))
        if not isinstance(target, str) or not target.strip():
            ctx.report(
                codes.SCHEMA_MISSING_ARGUMENT,
                action_entry.key.span,
                f"{info.short} needs a file name",
            )
            return []
        if is_template(target):
            ctx.report(
                codes.SCHEMA_BAD_VALUE,
                action_entry.value.span if args_node is not None else action_entry.key.span,
                f"{info.short} needs a literal path to expand at compile time; use include_tasks for a templated one",
            )
            return []
        path = self.find_task_file(target.strip(), scope)
        if path is None:
            ctx.report(
                codes.LOAD_NOT_FOUND,
                action_entry.value.span,
                f"imported task file '{target}' not found",
            )
            return []
        return self.task_file(ctx, path, action_entry.value.span, f"{step_id}.import", inner)

    def find_task_file(self, target: str, scope: Scope) -> str | None:
        candidates = (
            [target]
            if os.path.isabs(target)
            else [
                os.path.join(scope.file_dir, target),
                os.path.join(scope.base_dir, target),
                os.path.join(scope.base_dir, "tasks", target),
            ]
        )
        for candidate in candidates:
            if self.is_file(candidate):
                return os.path.normpath(candidate)
        return None

    def task_file(
        self, ctx: FileContext, path: str, span: Span, prefix: str, scope: Scope
    ) -> list[Step]:
        if path in scope.import_chain:
            ctx.report(codes.SCHEMA_INCLUDE_LOOP, span, f"'{path}' imports itself")
            return []
        if scope.depth >= MAX_NESTING:
            _too_deep(ctx, span, f"'{path}'")
            return []
        inner_ctx, root = self.load(path)
        if root is None:
            return []
        if not isinstance(root, YSeq):
            inner_ctx.report(
                codes.SCHEMA_NOT_A_PLAYBOOK,
                root.span,
                f"a task file must be a list of tasks, got {values.describe(root)}",
            )
            return []
        inner = replace(
            scope,
            file_dir=os.path.dirname(path),
            import_chain=(*scope.import_chain, path),
            depth=scope.depth + 1,
        )
        return self.steps(inner_ctx, root, prefix, inner)

    def roles(
        self, ctx: FileContext, node: YNode, prefix: str, scope: Scope
    ) -> tuple[list[Step], list[Step]]:
        if not isinstance(node, YSeq):
            ctx.report(codes.SCHEMA_BAD_VALUE, node.span, "'roles' must be a list")
            return [], []
        steps: list[Step] = []
        handlers: list[Step] = []
        for index, item in enumerate(node.items):
            role_scope = scope
            name: str | None = None
            span = item.span
            if isinstance(item, YScalar) and isinstance(item.value, str):
                name = item.value
            elif isinstance(item, YMap):
                own: dict[str, Any] = {}
                when: tuple[Condition, ...] = ()
                role_vars: dict[str, Any] = {}
                for entry in item.entries:
                    key = str(entry.key.value)
                    if key in ("role", "name"):
                        name = values.string(ctx, entry.value, key)
                        span = entry.value.span
                    elif key == "when":
                        when = values.conditions(ctx, entry.value, key)
                    elif key in self.keywords.role:
                        own.update(self.common_keyword(ctx, key, entry.value, entry))
                    else:  # old style: role parameters as keys
                        role_vars[key] = to_python(entry.value)
                if role_vars:
                    own["vars"] = {**own.get("vars", {}), **role_vars}
                role_scope = _inherit(scope, own, when, ())
            if name is None:
                ctx.report(codes.SCHEMA_BAD_VALUE, item.span, "a role entry needs a 'role' name")
                continue
            role_steps, role_handlers = self.role(ctx, name, span, f"{prefix}[{index}]", role_scope)
            steps += role_steps
            handlers += role_handlers
        return steps, handlers

    def role(
        self,
        ctx: FileContext,
        name: str,
        span: Span,
        prefix: str,
        scope: Scope,
        *,
        tasks_from: str = "main",
    ) -> tuple[list[Step], list[Step]]:
        role_dir = self.find_role(name, scope)
        if role_dir is None:
            ctx.report(
                codes.LOAD_NOT_FOUND,
                span,
                f"the role '{name}' was not found in {os.path.join(scope.base_dir, 'roles')}",
            )
            return [], []
        if role_dir in scope.import_chain:
            ctx.report(codes.SCHEMA_INCLUDE_LOOP, span, f"role '{name}' depends on itself")
            return [], []
        if scope.depth >= MAX_NESTING:
            parent = scope.import_chain[-1] if scope.import_chain else ""
            what = f"role '{name}'"
            if parent and not parent.endswith((".yml", ".yaml")):  # a role's folder
                what += f" (a dependency of '{os.path.basename(parent)}')"
            _too_deep(ctx, span, what)
            return [], []
        defaults = self.role_vars(role_dir, "defaults")
        role_vars = self.role_vars(role_dir, "vars")
        inner = replace(
            scope,
            defaults={**scope.defaults, **defaults},
            inherited={**scope.inherited, "vars": {**role_vars, **scope.inherited.get("vars", {})}},
            role=name,
            base_dir=role_dir,
            import_chain=(*scope.import_chain, role_dir),
            library=scope.library | self.library_modules(role_dir),
            depth=scope.depth + 1,
        )
        steps: list[Step] = []
        for index, dependency in enumerate(self.role_dependencies(role_dir)):
            dep_steps, _ = self.role(
                ctx,
                dependency,
                span,
                f"{prefix}.deps[{index}]",
                replace(scope, import_chain=inner.import_chain, depth=inner.depth),
            )
            steps += dep_steps
        tasks = self.role_file(role_dir, "tasks", tasks_from)
        if tasks is not None:
            steps += self.task_file(
                ctx,
                tasks,
                span,
                f"{prefix}.tasks",
                # The role and its own task file are one level.
                replace(inner, import_chain=scope.import_chain, depth=scope.depth),
            )
        handlers: list[Step] = []
        handler_file = self.role_file(role_dir, "handlers", "main")
        if handler_file is not None:
            handlers = self.task_file(
                ctx,
                handler_file,
                span,
                f"{prefix}.handlers",
                replace(
                    inner,
                    section=Section.HANDLERS,
                    import_chain=scope.import_chain,
                    depth=scope.depth,
                ),
            )
        return steps, handlers

    def find_role(self, name: str, scope: Scope) -> str | None:
        if os.path.isabs(name) and self.is_dir(name):
            return name
        short = name.rsplit(".", 1)[-1]
        for root in (
            os.path.join(scope.base_dir, "roles"),
            scope.base_dir,
            *self.options.roles_path,
        ):
            for candidate in (name, short):
                path = os.path.join(root, candidate)
                if self.is_dir(os.path.join(path, "tasks")) or self.is_dir(
                    os.path.join(path, "handlers")
                ):
                    return os.path.normpath(path)
        return None

    def role_file(self, role_dir: str, folder: str, name: str) -> str | None:
        for candidate in (name, f"{name}.yml", f"{name}.yaml"):
            path = os.path.join(role_dir, folder, candidate)
            if self.is_file(path):
                return path
        return None

    def role_vars(self, role_dir: str, folder: str) -> dict[str, JSON]:
        path = self.role_file(role_dir, folder, "main")
        if path is None:
            return {}
        _, root = self.load(path)
        data = to_python(root) if root is not None else None
        return data if isinstance(data, dict) else {}

    def role_dependencies(self, role_dir: str) -> list[str]:
        path = self.role_file(role_dir, "meta", "main")
        if path is None:
            return []
        _, root = self.load(path)
        data = to_python(root) if root is not None else None
        deps = data.get("dependencies", []) if isinstance(data, dict) else []
        names: list[str] = []
        for dep in deps if isinstance(deps, list) else []:
            if isinstance(dep, str):
                names.append(dep)
            elif isinstance(dep, dict):
                name = dep.get("role", dep.get("name"))
                if isinstance(name, str):
                    names.append(name)
        return names

    # ------------------------------------------------------------------ play-level checks

    def check_notify(self, ctx: FileContext, play: Play) -> None:
        names: set[str] = set()
        for handler in iter_nodes(play.handlers):
            if handler.name:
                names.add(handler.name)
            names.update(handler.listen)
        for node in play.nodes():
            for target in node.notify:
                if target not in names and not is_template(target):
                    suggestion = did_you_mean(target, names)
                    self.contexts.get(node.span.file, ctx).report(
                        codes.SCHEMA_UNDEFINED_HANDLER,
                        node.span,
                        f"'{target}' is notified but no handler of the play has that name or 'listen'",
                        help=f"did you mean `{suggestion}`?" if suggestion else None,
                    )

    def edges(self, play: Play) -> tuple[Edge, ...]:
        edges: list[Edge] = []
        previous: Node | None = None
        for section, steps in play.sections():
            if section is Section.HANDLERS:
                continue
            for node in iter_nodes(steps):
                if previous is not None:
                    edges.append(Edge(source=previous.id, target=node.id, kind=EdgeKind.SEQ))
                previous = node
        index = {node.id: node for node in play.nodes()}
        for node in play.nodes():
            if isinstance(node, Join):
                for target in node.waits_on:
                    target_node = index.get(target) or self.node_by_id.get(target)
                    if isinstance(target_node, Detached):
                        edges.append(Edge(source=node.id, target=target, kind=EdgeKind.SYNC))
        return tuple(edges)


def _reads_of(text: str) -> tuple[VarRead, ...]:
    outcome = analyze_text(text, False)
    return () if isinstance(outcome, GrammarError) else outcome


def compile_playbook(path: str, options: CompileOptions | None = None) -> Compiled:
    """Load, check and lower one playbook.  Pure: reads files, returns values."""
    compiler = _Compiler(options or CompileOptions())
    plays = compiler.playbook(path)
    graph = Graph(plays=tuple(plays))
    sources = {p: doc.source for p, doc in compiler.documents.items()}
    return Compiled(
        graph=graph,
        diagnostics=tuple(sorted_unique(compiler.diagnostics())),
        sources=sources,
        inputs=dict(compiler.inputs),
    )


__all__ = [
    "CompileOptions",
    "Compiled",
    "Scope",
    "compile_playbook",
    "compile_role",
    "compile_task_file",
]


def compile_task_file(
    path: str,
    *,
    id_prefix: str,
    section: Section = Section.TASKS,
    base_dir: str | None = None,
    collections: tuple[str, ...] = (),
    options: CompileOptions | None = None,
) -> tuple[tuple[Step, ...], tuple[Diagnostic, ...]]:
    """Compile a task file on its own (``include_tasks`` at run time): its steps and findings."""
    compiler = _Compiler(options or CompileOptions())
    folder = base_dir if base_dir is not None else (os.path.dirname(path) or ".")
    scope = Scope(
        section=section,
        base_dir=folder,
        file_dir=os.path.dirname(path) or ".",
        library=compiler.library_modules(folder),
        collections=collections,
        import_chain=(path,),
    )
    ctx, root = compiler.load(path)
    steps: list[Step] = []
    if isinstance(root, YSeq):
        steps = compiler.steps(ctx, root, id_prefix, scope)
    elif root is not None and not (isinstance(root, YScalar) and root.value is None):
        ctx.report(
            codes.SCHEMA_NOT_A_PLAYBOOK,
            root.span,
            f"a task file must be a list of tasks, got {values.describe(root)}",
        )
    return tuple(steps), tuple(sorted_unique(compiler.diagnostics()))


def compile_role(
    name: str,
    *,
    id_prefix: str,
    base_dir: str,
    tasks_from: str = "main",
    options: CompileOptions | None = None,
) -> tuple[tuple[Step, ...], tuple[Step, ...], tuple[Diagnostic, ...]]:
    """Compile a role on its own (``include_role`` at run time): tasks, handlers and findings."""
    compiler = _Compiler(options or CompileOptions())
    scope = Scope(section=Section.TASKS, base_dir=base_dir, file_dir=base_dir)
    ctx = FileContext(SourceText(f"<role {name}>", ""))
    compiler.contexts[ctx.path] = ctx
    span = ctx.source.span(0, 0)
    steps, handlers = compiler.role(ctx, name, span, id_prefix, scope, tasks_from=tasks_from)
    return tuple(steps), tuple(handlers), tuple(sorted_unique(compiler.diagnostics()))
