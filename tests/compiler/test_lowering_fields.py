"""Nodes are built from typed fields: `TaskFields` is exactly what every node kind shares."""

from __future__ import annotations

import dataclasses

from playgraph.compiler.ir import Blocking, Detached, Join, Polled, TaskNode
from playgraph.compiler.lower import TaskFields


def test_task_fields_are_the_shared_node_fields() -> None:
    # A field added to TaskNode must be added here too, or lowering would leave it at
    # its default silently; mypy checks the names and types where nodes are built.
    shared = {f.name for f in dataclasses.fields(TaskNode) if f.init}
    assert set(TaskFields.__annotations__) == shared
    assert TaskFields.__required_keys__ == shared
    for kind in (Blocking, Polled, Detached, Join):
        own = {f.name for f in dataclasses.fields(kind) if f.init}
        assert shared <= own
