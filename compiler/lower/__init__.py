"""Lowering: positioned YAML to the execution graph.

One walk over the playbook in program order does the checking and the
lowering together: each play, block and task is validated (keywords, values,
module names, Jinja) and turned into IR nodes on the spot, so the walk also
knows, at every ``async_status``, which earlier task registered the variable
its ``jid`` reads — that is how sync edges are found without a second pass.

Imports (``import_tasks``, ``import_role``, ``roles:``, ``import_playbook``) are
expanded here, with their own file positions; includes stay nodes that the
runtime expands.  Block and import keywords are pushed down into the tasks.

By seam: `scope` (what enclosing structure passes down), `keywords` (play, block and
task keywords), `sources` (the files read), `tasks` (a task to its node), `blocks`
(task lists, blocks, imports, roles) and `plays` (playbooks, plays, the entry points).
"""

from __future__ import annotations

from ..result import Compiled, CompileOptions
from .plays import compile_check_target, compile_playbook, compile_role, compile_task_file
from .scope import ASYNC_KEYWORDS, ASYNC_STATUS, LOOP_CONTROL_KEYS, MAX_NESTING, STRATEGIES, Scope
from .tasks import TaskFields

__all__ = [
    "ASYNC_KEYWORDS",
    "ASYNC_STATUS",
    "LOOP_CONTROL_KEYS",
    "MAX_NESTING",
    "STRATEGIES",
    "CompileOptions",
    "Compiled",
    "Scope",
    "TaskFields",
    "compile_check_target",
    "compile_playbook",
    "compile_role",
    "compile_task_file",
]
