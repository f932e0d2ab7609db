"""Blocks, imports and roles: task lists with their control structure; imports and
roles are expanded here, with their own file positions, and their keywords pushed
down into the tasks."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from playgraph.semantics import is_template

from .. import codes, values
from ..catalog import Keywords, ModuleInfo, ModuleKind
from ..context import FileContext, dotted
from ..ir import JSON, BlockStep, Condition, Section, Step
from ..loader import YEntry, YMap, YNode, YScalar, YSeq, to_python
from ..spans import Span
from .keywords import common_keyword, unknown_keyword
from .scope import ASYNC_KEYWORDS, MAX_NESTING, Scope, inherit, too_deep
from .sources import Sources
from .tasks import TaskLowering


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
        return [
            self.tasks.node(
                ctx, node, valid, info, action_entry, args_node, delegate_local, task_id, scope
            )
        ]

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
        inner_ctx, root = self.sources.load(path)
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
                        own.update(common_keyword(ctx, key, entry.value))
                    else:  # old style: role parameters as keys
                        role_vars[key] = to_python(entry.value)
                if role_vars:
                    own["vars"] = {**own.get("vars", {}), **role_vars}
                role_scope = inherit(scope, own, when, ())
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
            too_deep(ctx, span, what)
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
            library=scope.library | self.sources.library_modules(role_dir),
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
        if os.path.isabs(name) and self.sources.is_dir(name):
            return name
        short = name.rsplit(".", 1)[-1]
        for root in (
            os.path.join(scope.base_dir, "roles"),
            scope.base_dir,
            *self.roles_path,
        ):
            for candidate in (name, short):
                path = os.path.join(root, candidate)
                if self.sources.is_dir(os.path.join(path, "tasks")) or self.sources.is_dir(
                    os.path.join(path, "handlers")
                ):
                    return os.path.normpath(path)
        return None

    def role_file(self, role_dir: str, folder: str, name: str) -> str | None:
        for candidate in (name, f"{name}.yml", f"{name}.yaml"):
            path = os.path.join(role_dir, folder, candidate)
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
