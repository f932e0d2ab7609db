"""Blocks, imports and roles: task lists with their control structure; imports and
roles are expanded here, with their own file positions, and their keywords pushed
down into the tasks."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from typing import Any

from playgraph.semantics import is_template

from .. import codes, values
from ..catalog import Keywords, ModuleInfo, ModuleKind
from ..context import FileContext, dotted
from ..diagnostics import Severity
from ..ir import JSON, BlockStep, Condition, Node, Section, Step
from ..loader import YEntry, YMap, YNode, YScalar, YSeq, source_text, to_python
from ..recording import Recorder
from ..result import Fragment, FragmentStore
from ..spans import Span
from .fragments import fragment_key, replay
from .keywords import common_keyword, unknown_keyword
from .names import scope_variables, static_string
from .scope import ASYNC_KEYWORDS, MAX_NESTING, Scope, inherit, too_deep, unique
from .sources import Sources
from .tasks import TaskLowering

_INCLUDE_BUDGET = 2000
"""How many includes one compilation follows for the linter (see `follow_include`)."""
# A role include's keywords that its tasks inherit (ansible-core makes the include
# their parent); an ``include_tasks`` passes on only ``apply:``.
_ROLE_INCLUDE_KEYWORDS = (
    "become", "become_user", "become_method", "become_flags", "remote_user", "connection",
    "delegate_to", "run_once", "ignore_errors", "no_log", "check_mode", "diff",
)  # fmt: skip


def _unresolved_import(ctx: FileContext, span: Span, what: str, name: str) -> None:
    """An import is expanded before the run, with the play's variables (and extra vars):
    ansible-core too rejects a name built from others."""
    ctx.report(
        codes.SCHEMA_BAD_VALUE,
        span,
        f"{what} names '{name}', built from variables the playbook does not set; imports are "
        "expanded before the run",
        help="set them in the play's vars, or use include_tasks/include_role",
    )


def _node_keywords(node: Node) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key in _ROLE_INCLUDE_KEYWORDS:
        value = getattr(node, key)
        if value is not None and value is not False:
            found[key] = value
    return found


class BlockLowering:
    """Task lists, blocks, imports and roles; each task goes to `TaskLowering`."""

    def __init__(
        self, sources: Sources, tasks: TaskLowering, keywords: Keywords, roles_path: tuple[str, ...]
    ) -> None:
        self.sources = sources
        self.tasks = tasks
        self.keywords = keywords
        self.roles_path = roles_path
        # Handlers of roles imported by tasks, added to the play's handlers.
        self.pending_handlers: list[Step] = []
        # What each followed include expands to, for the linter (`Graph.included`).
        self.included: dict[str, tuple[Step, ...]] = {}
        # Includes followed so far, bounded: a file included from many places is lowered
        # once per place, and includes of includes multiply.
        self.include_budget = _INCLUDE_BUDGET
        self.follow_includes = True
        # Task files lowered by an earlier compilation, reused when nothing they read
        # changed (`fragments`); ``fragment_base`` is this compilation's part of their keys.
        self.fragments: FragmentStore | None = None
        self.fragment_base = ""
        self.recorder: Recorder | None = None

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
                    too_deep(ctx, item.span, "this block")
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
                    unknown_keyword(ctx, entry.key, valid, "block")
                continue
            if key == "when":
                when = values.conditions(ctx, entry.value, key)
                reads += (dotted(r) for r in ctx.condition_reads(entry.value))
                continue
            own.update(common_keyword(ctx, key, entry.value))
        inner = inherit(scope, own, when, reads)
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

    # ------------------------------------------------------------------ a task: an import or a node

    def task(self, ctx: FileContext, node: YMap, task_id: str, scope: Scope) -> list[Step]:
        """One task mapping: usually one node, several for an import, none when unusable."""
        valid = self.keywords.handler if scope.section is Section.HANDLERS else self.keywords.task
        action = self.tasks.find_action(ctx, node, valid, scope)
        if action is None:
            return []
        info, action_entry, args_node, delegate_local = action
        if info is not None and info.kind is ModuleKind.IMPORT:
            return self.import_step(ctx, node, info, action_entry, args_node, task_id, scope)
        lowered = self.tasks.node(
            ctx, node, valid, info, action_entry, args_node, delegate_local, task_id, scope
        )
        if info is not None and info.kind is ModuleKind.INCLUDE:
            self.follow_include(ctx, lowered, info, action_entry, args_node, scope)
        return [lowered]

    # ------------------------------------------------------------------ includes, for the linter

    def follow_include(
        self,
        ctx: FileContext,
        include: Node,
        info: ModuleInfo,
        action_entry: YEntry,
        args_node: YNode | None,
        scope: Scope,
    ) -> None:
        """`lower_include`, whose problems are warnings: ansible-core loads an included
        file only when a host reaches the include, and many never run (a guard, a
        ``fail`` before it), so ``--syntax-check`` accepts a playbook whatever they hold."""
        if self.recorder is not None:
            self.recorder.impure = True  # it changes other files' findings and the budget
        seen = {path: len(c.diagnostics) for path, c in self.sources.contexts.items()}
        try:
            self.lower_include(ctx, include, info, action_entry, args_node, scope)
        finally:
            for path, inner_ctx in self.sources.contexts.items():
                if inner_ctx is ctx:
                    continue  # the include task's own problems stay what they are
                new = inner_ctx.diagnostics[seen.get(path, 0) :]
                del inner_ctx.diagnostics[seen.get(path, 0) :]
                inner_ctx.diagnostics.extend(
                    d.with_severity(Severity.WARNING) if d.severity is Severity.ERROR else d
                    for d in new
                )

    def lower_include(
        self,
        ctx: FileContext,
        include: Node,
        info: ModuleInfo,
        action_entry: YEntry,
        args_node: YNode | None,
        scope: Scope,
    ) -> None:
        """Lower what ``include`` will include, when its target is known before the run.

        The steps go to `included` for the linter only (the runtime compiles an include
        when a host reaches it): launched jobs, joins and locks in included files are
        then seen in program order.  An unknown target is no finding: the analysis
        treats the include as opaque.
        """
        if not self.follow_includes or self.include_budget <= 0 or scope.depth >= MAX_NESTING:
            return
        self.include_budget -= 1
        variables = {**scope_variables(scope), **include.vars}
        apply = self.apply_keywords(ctx, args_node)
        own: dict[str, Any] = {"vars": dict(include.vars), **apply}
        # The included tasks run only where the include ran: its conditions (and a
        # role include's keywords) hold for each of them.
        if info.short == "include_role":
            own = {**_node_keywords(include), **own}
        inner = replace(
            scope,
            when=include.when,
            reads=unique((*scope.reads, *include.reads)),
            inherited={**scope.inherited, **{k: v for k, v in own.items() if k != "vars"}},
        )
        inner = inherit(inner, {"vars": own["vars"]}, (), ())
        prefix = f"{include.id}.included"
        steps: list[Step]
        if info.short == "include_role":
            written = include.args.get("name")
            name = static_string(written, variables) if isinstance(written, str) else None
            if name is None or (is_template(written) and self.find_role(name, scope) is None):
                return  # known only at run time, or a guess that names no role
            tasks_from = include.args.get("tasks_from", "main")
            tasks_from = (
                static_string(tasks_from, variables) if isinstance(tasks_from, str) else None
            )
            if tasks_from is None:
                return
            role_dir = self.find_role(name, scope)
            tasks = self.role_file(role_dir, "tasks", tasks_from) if role_dir else None
            if tasks is not None and tasks in scope.import_chain:
                # A recursive include (it must have a guard): its tasks are those being read.
                self.included[include.id] = ()
                return
            steps, _ = self.role(
                ctx, name, action_entry.value.span, prefix, inner, tasks_from=tasks_from
            )
        else:
            written = include.args.get("file", include.args.get("_raw_params"))
            target = static_string(written, variables) if isinstance(written, str) else None
            if target is None or not target.strip():
                return
            path = self.find_task_file(target.strip(), scope)
            if path is None:
                return  # the runtime reports a missing file when a host reaches it
            if path in scope.import_chain:
                # A recursive include (it must have a guard): its tasks are those being read.
                self.included[include.id] = ()
                return
            steps = self.task_file(ctx, path, action_entry.value.span, prefix, inner)
        self.included[include.id] = tuple(steps)

    def apply_keywords(self, ctx: FileContext, args_node: YNode | None) -> dict[str, Any]:
        """``apply:`` of an include: block keywords given to each included task."""
        apply = args_node.get("apply") if isinstance(args_node, YMap) else None
        if apply is None:
            return {}
        if not isinstance(apply, YMap):
            ctx.report(codes.SCHEMA_BAD_VALUE, apply.span, "'apply' must be a mapping of keywords")
            return {}
        own: dict[str, Any] = {}
        for entry in apply.entries:
            key = entry.key.value
            if not isinstance(key, str) or key not in self.keywords.block or key == "block":
                unknown_keyword(ctx, entry.key, self.keywords.block, "block ('apply')")
                continue
            if key in ("when", "rescue", "always"):
                continue
            own.update(common_keyword(ctx, key, entry.value))
        return own

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
                own.update(common_keyword(ctx, key, entry.value))
        args, _ = self.tasks.arguments(ctx, info, args_node, node.entry("args"), scope)
        inner = inherit(scope, own, when, reads)
        if info.short == "import_role":
            name = args.get("name")
            if not isinstance(name, str):
                ctx.report(
                    codes.SCHEMA_MISSING_ARGUMENT,
                    action_entry.key.span,
                    "missing required arguments: name",
                )
                return []
            if is_template(name):
                resolved = static_string(name, scope_variables(scope))
                if resolved is None:
                    _unresolved_import(ctx, action_entry.value.span, info.short, name)
                    return []
                name = resolved
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
            # ansible-core templates it with the play's variables and extra vars: known here
            # only when the playbook itself sets them.
            resolved = static_string(target, scope_variables(scope))
            if resolved is None:
                _unresolved_import(ctx, action_entry.value.span, info.short, target)
                return []
            target = resolved
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
                # ansible-core's search stack ends with the playbook's folder, where a
                # handler file is also looked for under handlers/.
                *(
                    os.path.join(scope.playbook_dir, folder, target)
                    for folder in ("handlers", "tasks", "")
                    if scope.playbook_dir
                    and (folder != "handlers" or scope.section is Section.HANDLERS)
                ),
            ]
        )
        for candidate in candidates:
            if self.sources.is_file(candidate):
                return os.path.normpath(candidate)
        return None

    def task_file(
        self, ctx: FileContext, path: str, span: Span, prefix: str, scope: Scope
    ) -> list[Step]:
        if path in scope.import_chain:
            ctx.report(codes.SCHEMA_INCLUDE_LOOP, span, f"'{path}' imports itself")
            return []
        if scope.depth >= MAX_NESTING:
            too_deep(ctx, span, f"'{path}'")
            return []
        if self.recorder is not None:
            self.recorder.impure = True  # the importing file's steps depend on this one
        elif self.fragments is not None and not self.sources.seen(path):
            return self.task_file_reused(path, prefix, scope)
        return self.task_file_steps(path, prefix, scope)

    def task_file_reused(self, path: str, prefix: str, scope: Scope) -> list[Step]:
        """`task_file_steps`, from an earlier compilation when nothing it read changed,
        else recorded for the next one."""
        assert self.fragments is not None
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            digest = hashlib.sha256(data).hexdigest()
            # Where modules and collections are looked up is this compilation's so far.
            where = (tuple(self.tasks.resolver.play_dirs), self.roles_path, self.follow_includes)
            key = fragment_key(self.fragment_base, path, digest, prefix, (scope, where))
        except (OSError, ValueError):
            return self.task_file_steps(path, prefix, scope)  # reported by loading it
        resolver = self.tasks.resolver
        stored = self.fragments.get(key)
        if stored is not None:
            reused = replay(stored, self.tasks, resolver)
            if reused is not None:
                self.sources.replayed(source_text(path, data), stored.diagnostics)
                return list(reused)
        recorder = Recorder()
        play_dirs = len(resolver.play_dirs)
        elsewhere = sum(len(c.diagnostics) for c in self.sources.contexts.values())
        self.recorder = self.tasks.recorder = resolver.recorder = recorder
        try:
            steps = self.task_file_steps(path, prefix, scope, data)
        finally:
            self.recorder = self.tasks.recorder = resolver.recorder = None
        ctx = self.sources.contexts[path]
        elsewhere -= sum(len(c.diagnostics) for p, c in self.sources.contexts.items() if p != path)
        if not recorder.impure and play_dirs == len(resolver.play_dirs) and elsewhere == 0:
            self.fragments.put(
                key, Fragment(tuple(steps), tuple(ctx.diagnostics), tuple(recorder.events))
            )
        return steps

    def task_file_steps(
        self, path: str, prefix: str, scope: Scope, data: bytes | None = None
    ) -> list[Step]:
        inner_ctx, root = self.sources.load(path, data)
        if root is None or (isinstance(root, YScalar) and root.value is None):
            return []  # an empty task file (only comments or '---') is valid
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
                        own.update(common_keyword(ctx, key, entry.value))
                    else:  # old style: role parameters as keys
                        role_vars[key] = to_python(entry.value)
                if role_vars:
                    own["vars"] = {**own.get("vars", {}), **role_vars}
                role_scope = inherit(scope, own, when, ())
            if name is None:
                ctx.report(codes.SCHEMA_BAD_VALUE, item.span, "a role entry needs a 'role' name")
                continue
            if is_template(name):
                # ansible-core templates role names with the play's variables (and magic
                # ones such as playbook_dir); names known only to the run are not followed.
                resolved = static_string(name, scope_variables(role_scope))
                if resolved is None:
                    _unresolved_import(ctx, span, "roles", name)
                    continue
                name = resolved
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
            self.missing_role(ctx, name, span, scope)
            return [], []
        return self.role_at(ctx, name, role_dir, span, prefix, scope, tasks_from=tasks_from)

    def role_at(
        self,
        ctx: FileContext,
        name: str,
        role_dir: str,
        span: Span,
        prefix: str,
        scope: Scope,
        *,
        tasks_from: str = "main",
    ) -> tuple[list[Step], list[Step]]:
        """The role found in ``role_dir``: its dependencies' and its own tasks, and handlers."""
        if self.recorder is not None:
            self.recorder.impure = True
        if role_dir in scope.import_chain:
            ctx.report(codes.SCHEMA_INCLUDE_LOOP, span, f"role '{name}' depends on itself")
            return [], []
        if scope.depth >= MAX_NESTING:
            parent = scope.import_chain[-1] if scope.import_chain else ""
            what = f"role '{name}'"
            if parent and not parent.endswith((".yml", ".yaml")):  # a role's folder
                what += f" (a dependency of '{os.path.basename(parent)}')"
            too_deep(ctx, span, what)
            return [], []
        inner = replace(
            self.role_scope(name, role_dir, scope),
            import_chain=(*scope.import_chain, role_dir),
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
        if tasks is None and tasks_from != "main":
            folder = os.path.join(role_dir, "tasks")
            wanted = os.path.join(folder, tasks_from)
            ctx.report(
                codes.LOAD_NOT_FOUND,
                span,
                f"Failed loading '{wanted}' for role ({name}) as it is not inside the expected"
                f" role path: '{folder}'"
                if not os.path.normpath(wanted).startswith(os.path.normpath(folder) + os.sep)
                else f"Could not find specified file in role: tasks/{tasks_from}",
            )
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

    def role_scope(self, name: str, role_dir: str, scope: Scope) -> Scope:
        """``scope`` inside the role: its defaults and vars, folder and library."""
        defaults = self.role_vars(role_dir, "defaults")
        role_vars = self.role_vars(role_dir, "vars")
        return replace(
            scope,
            defaults={**scope.defaults, **defaults},
            inherited={**scope.inherited, "vars": {**role_vars, **scope.inherited.get("vars", {})}},
            role=name,
            base_dir=role_dir,
            library=scope.library | self.sources.library_modules(role_dir),
        )

    def find_role(self, name: str, scope: Scope) -> str | None:
        """The role's folder as ansible-core's role loader finds it: an installed
        collection's role (``ns.coll.role``, or a short name under ``collections:``), then
        ``roles/`` beside the playbook, ``roles_path``, the enclosing role's siblings (for
        a dependency) and the playbook's folder itself.  None for a templated or mocked
        name too (`missing_role` stays silent for those)."""
        if is_template(name):
            # ansible-core templates the name with the play's variables first.
            name = static_string(name, scope_variables(scope)) or name
        return self.tasks.resolver.find_role(
            name,
            base_dir=scope.base_dir,
            play_dir=scope.playbook_dir or None,
            role_basedir=self.enclosing_role_parent(scope),
            collections=scope.collections,
            is_dir=self.sources.is_dir,
            extra_roots=self.roles_path,
        )

    def enclosing_role_parent(self, scope: Scope) -> str | None:
        """The folder holding the role whose dependency or import is being looked up."""
        chain = scope.import_chain
        if chain and not chain[-1].endswith((".yml", ".yaml")):
            return os.path.dirname(chain[-1])  # a dependency: the parent role's siblings
        if scope.role is not None:
            return os.path.dirname(scope.base_dir)
        return None

    def missing_role(self, ctx: FileContext, name: str, span: Span, scope: Scope) -> None:
        """One finding per role not found (none for templated or mocked names)."""
        play_dir = scope.playbook_dir or scope.base_dir
        searched = [
            os.path.join(play_dir, "roles"),
            *self.roles_path,
            *self.tasks.resolver.settings.roles_path,
            play_dir,
        ]
        self.tasks.resolver.missing_role(ctx, name, span, list(dict.fromkeys(searched)))

    def role_file(self, role_dir: str, folder: str, name: str) -> str | None:
        base = os.path.normpath(os.path.join(role_dir, folder))
        for candidate in (name, f"{name}.yml", f"{name}.yaml"):
            path = os.path.join(role_dir, folder, candidate)
            if not os.path.normpath(path).startswith(base + os.sep):
                return None  # ansible-core refuses files outside the role's folder
            if self.sources.is_file(path):
                return path
        return None

    def role_vars(self, role_dir: str, folder: str) -> dict[str, JSON]:
        path = self.role_file(role_dir, folder, "main")
        if path is None:
            return {}
        _, root = self.sources.load(path)
        data = to_python(root) if root is not None else None
        return data if isinstance(data, dict) else {}

    def role_dependencies(self, role_dir: str) -> list[str]:
        path = self.role_file(role_dir, "meta", "main")
        if path is None:
            return []
        _, root = self.sources.load(path)
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
