"""Playbooks and plays, and the entry points: one compilation from a file to the graph."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from typing import Any

from playgraph.semantics import is_template

from .. import codes, values
from ..catalog import default_catalog, keywords
from ..context import FileContext
from ..diagnostics import Diagnostic, sorted_unique
from ..ir import (
    Blocking,
    Detached,
    Edge,
    EdgeKind,
    Graph,
    Join,
    Node,
    Play,
    Section,
    Step,
    iter_nodes,
)
from ..loader import YEntry, YMap, YScalar, YSeq
from ..locks import default_lock_table
from ..resolve.resolver import Resolver
from ..result import Compiled, CompileOptions, FragmentStore
from ..spans import SourceText, Span
from ..suggest import did_you_mean
from .blocks import BlockLowering
from .fragments import canonical
from .keywords import common_keyword, unknown_keyword
from .scope import ASYNC_KEYWORDS, MAX_NESTING, Scope, too_deep
from .sources import Sources
from .tasks import TaskLowering

# A key that only a play (or a playbook import) has, at the start of a line: a file
# without one is not a playbook ansible-playbook accepts, and `check` reads it as tasks.
_PLAY_MARKER = re.compile(
    r"^[ \t]*(?:-[ \t]+)?['\"]?(?:hosts|(?:ansible\.builtin\.)?import_playbook)['\"]?[ \t]*:",
    re.MULTILINE,
)
# Play keys that hold tasks or are handled on their own, not plain keyword values.
_PLAY_STRUCTURE = frozenset({"hosts", "tasks", "pre_tasks", "post_tasks", "handlers", "roles"})


class Compiler:
    """One compilation: the files it reads, the task and block lowering, and plays."""

    def __init__(self, options: CompileOptions) -> None:
        self.options = options
        self.keywords = keywords()
        self.sources = Sources()
        self.tasks = TaskLowering(
            default_catalog(),
            self.keywords,
            default_lock_table().extend(options.extra_locks),
            options.poll_default,
            Resolver(default_catalog(), options.resolve, self.sources.inputs),
        )
        self.blocks = BlockLowering(self.sources, self.tasks, self.keywords, options.roles_path)
        self.play_count = 0

    def playbook(
        self, path: str, chain: tuple[str, ...] = (), origin: tuple[FileContext, Span] | None = None
    ) -> list[Play]:
        if origin is not None and not self.sources.is_file(path):
            ctx, span = origin
            ctx.report(codes.LOAD_NOT_FOUND, span, f"imported playbook '{path}' not found")
            return []
        ctx, root = self.sources.load(path)
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
                unknown_keyword(
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
            too_deep(ctx, entry.value.span, f"'{target}'")
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
                unknown_keyword(ctx, entry.key, valid, "play")
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
            kw.update(common_keyword(ctx, key, entry.value))
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
        library = self.sources.library_modules(base_dir)
        # The play's own keywords stay on the Play; tasks carry only what blocks add.
        scope = Scope(
            section=Section.TASKS,
            base_dir=base_dir,
            file_dir=os.path.dirname(ctx.path) or ".",
            library=library,
            collections=tuple(kw.get("collections", ())),
            has_module_defaults="module_defaults" in kw,
            play_vars=dict(kw.get("vars", {})),
            playbook_dir=base_dir,
        )
        self.blocks.pending_handlers = []

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
                role_steps, role_handlers = self.blocks.roles(
                    ctx, roles_node, f"{play_id}.roles", replace(scope, section=section)
                )
                steps += role_steps
                handlers += role_handlers
            section_node = node.get(name)
            if section_node is not None:
                steps += self.blocks.steps(
                    ctx, section_node, f"{play_id}.{name}", replace(scope, section=section)
                )
            sections[name] = tuple(steps)
        handlers_node = node.get("handlers")
        if handlers_node is not None:
            handlers = [
                *self.blocks.steps(
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
            gather_subset=kw.get("gather_subset"),
            gather_timeout=kw.get("gather_timeout"),
            fact_path=kw.get("fact_path"),
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
            handlers=(*handlers, *self.blocks.pending_handlers),
            span=node.span,
        )
        self.check_notify(ctx, play)
        return replace(play, edges=self.edges(play))

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
                    self.sources.contexts.get(node.span.file, ctx).report(
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
                    target_node = index.get(target) or self.tasks.node_by_id.get(target)
                    # A launch inside a followed include is not in the plan: the runtime
                    # gives included tasks their own ids when a host reaches the include.
                    if isinstance(target_node, Detached) and ".included" not in target:
                        edges.append(Edge(source=node.id, target=target, kind=EdgeKind.SYNC))
        return tuple(edges)


def compile_playbook(
    path: str, options: CompileOptions | None = None, *, fragments: FragmentStore | None = None
) -> Compiled:
    """Load, check and lower one playbook.  Pure: reads files, returns values.

    ``fragments``: task files lowered by an earlier compilation, reused where nothing
    they read changed, and where this one leaves its own (`fragments.Recorder`)."""
    compiler = Compiler(options or CompileOptions())
    if fragments is not None:
        try:
            compiler.blocks.fragment_base = canonical(compiler.options)
            compiler.blocks.fragments = fragments
        except ValueError:
            fragments = None  # options no key can hold: every file is lowered
    plays = compiler.playbook(path)
    graph = Graph(plays=tuple(plays), included=dict(compiler.blocks.included))
    sources = dict(compiler.sources.texts)
    inputs = dict(compiler.sources.inputs)
    if fragments is not None:
        # A reused file's steps depend on what the compilation that lowered it saw.
        for seen, kind in fragments.env.items():
            inputs.setdefault(seen, kind)
        read = compiler.tasks.resolver.probe.read_paths
        fragments.close({p: k for p, k in inputs.items() if p not in sources or p in read})
    return Compiled(
        graph=graph,
        diagnostics=tuple(sorted_unique(compiler.sources.diagnostics())),
        sources=sources,
        inputs=inputs,
    )


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
    compiler = Compiler(options or CompileOptions())
    compiler.blocks.follow_includes = False  # the run compiles each include as it is reached
    folder = base_dir if base_dir is not None else (os.path.dirname(path) or ".")
    scope = Scope(
        section=section,
        base_dir=folder,
        file_dir=os.path.dirname(path) or ".",
        library=compiler.sources.library_modules(folder),
        collections=collections,
        import_chain=(path,),
    )
    ctx, root = compiler.sources.load(path)
    steps: list[Step] = []
    if isinstance(root, YSeq):
        steps = compiler.blocks.steps(ctx, root, id_prefix, scope)
    elif root is not None and not (isinstance(root, YScalar) and root.value is None):
        ctx.report(
            codes.SCHEMA_NOT_A_PLAYBOOK,
            root.span,
            f"a task file must be a list of tasks, got {values.describe(root)}",
        )
    return tuple(steps), tuple(sorted_unique(compiler.sources.diagnostics()))


def compile_role(
    name: str,
    *,
    id_prefix: str,
    base_dir: str,
    tasks_from: str = "main",
    options: CompileOptions | None = None,
) -> tuple[tuple[Step, ...], tuple[Step, ...], tuple[Diagnostic, ...]]:
    """Compile a role on its own (``include_role`` at run time): tasks, handlers and findings."""
    compiler = Compiler(options or CompileOptions())
    compiler.blocks.follow_includes = False  # the run compiles each include as it is reached
    scope = Scope(section=Section.TASKS, base_dir=base_dir, file_dir=base_dir)
    ctx = FileContext(SourceText(f"<role {name}>", ""))
    compiler.sources.contexts[ctx.path] = ctx
    span = ctx.source.span(0, 0)
    steps, handlers = compiler.blocks.role(ctx, name, span, id_prefix, scope, tasks_from=tasks_from)
    return tuple(steps), tuple(handlers), tuple(sorted_unique(compiler.sources.diagnostics()))


def compile_check_target(path: str, options: CompileOptions | None = None) -> Compiled | None:
    """What ``check`` reads besides playbooks, as ansible-lint does: a role's folder, or a
    task file (a YAML list of tasks), each linted as one play on all hosts with the role's
    defaults and vars in scope.  None for a playbook (`compile_playbook` is its entry)."""
    if os.path.isdir(path):
        return _compile_role_folder(path, options)
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None  # compile_playbook reports it
    if _PLAY_MARKER.search(text):
        return None
    compiler = Compiler(options or CompileOptions())
    ctx, root = compiler.sources.load(path)
    folder = os.path.dirname(path) or "."
    empty = root is None or (isinstance(root, YScalar) and root.value is None)
    if empty and os.path.basename(folder) in ("tasks", "handlers") and not ctx.diagnostics:
        return _lone_play(compiler, ctx.source.span(0, 0), [], [])  # a role's empty task file
    if not isinstance(root, YSeq) or not all(isinstance(i, YMap) for i in root.items):
        return None  # not a task list either: reported as a bad playbook
    section = Section.HANDLERS if os.path.basename(folder) == "handlers" else Section.TASKS
    role_dir = (
        os.path.dirname(folder) if os.path.basename(folder) in ("tasks", "handlers") else None
    )
    if role_dir is not None and not any(
        os.path.isdir(os.path.join(role_dir, part)) for part in ("defaults", "vars", "meta")
    ):
        role_dir = None
    scope = _lone_scope(compiler, role_dir or folder, folder, section)
    if role_dir is not None:
        scope = compiler.blocks.role_scope(
            os.path.basename(os.path.abspath(role_dir)), role_dir, scope
        )
    steps = compiler.blocks.task_file(
        ctx, os.path.normpath(path), root.span, "play[0].tasks", scope
    )
    handlers, tasks = (steps, []) if section is Section.HANDLERS else ([], steps)
    return _lone_play(compiler, root.span, tasks, handlers)


def _compile_role_folder(path: str, options: CompileOptions | None) -> Compiled:
    compiler = Compiler(options or CompileOptions())
    role_dir = os.path.normpath(path)
    ctx = FileContext(SourceText(role_dir, ""))
    compiler.sources.contexts[role_dir] = ctx
    span = ctx.source.span(0, 0)
    name = os.path.basename(os.path.abspath(role_dir))
    parent = os.path.dirname(role_dir) or "."
    scope = _lone_scope(compiler, parent, parent, Section.TASKS)
    steps, handlers = compiler.blocks.role_at(ctx, name, role_dir, span, "play[0].roles[0]", scope)
    return _lone_play(compiler, span, steps, handlers)


def _lone_scope(compiler: Compiler, base_dir: str, file_dir: str, section: Section) -> Scope:
    return Scope(
        section=section,
        base_dir=base_dir,
        file_dir=file_dir,
        library=compiler.sources.library_modules(base_dir),
        playbook_dir=base_dir,
    )


def _lone_play(compiler: Compiler, span: Span, tasks: list[Step], handlers: list[Step]) -> Compiled:
    """Tasks read outside any playbook, as the one play of a graph, on all hosts.

    Whoever includes them is unknown: the play starts with an include of unknown target
    standing for it, so that the linter trusts what they read but do not register."""
    caller = Blocking(
        id="play[0].caller",
        name="the unknown includer",
        action="ansible.builtin.include_tasks",
        args={},
        span=span,
    )
    play = Play(
        id="play[0]",
        name=None,
        hosts="all",
        tasks=(caller, *tasks),
        handlers=(*handlers, *compiler.blocks.pending_handlers),
        span=span,
    )
    play = replace(play, edges=compiler.edges(play))
    sources = dict(compiler.sources.texts)
    return Compiled(
        graph=Graph(plays=(play,), included=dict(compiler.blocks.included)),
        diagnostics=tuple(sorted_unique(compiler.sources.diagnostics())),
        sources=sources,
        inputs=dict(compiler.sources.inputs),
    )
