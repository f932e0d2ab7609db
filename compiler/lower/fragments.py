"""Reusing a task file's lowering from an earlier compilation (``check`` after an edit).

A task file's steps and findings are a function of its text, the scope it is read in
(keywords, vars and conditions pushed down, its id prefix), the compile options, and a
little state that files share: which task registered a variable (a join looks it up),
``set_fact`` aliases, and findings the resolver says once per compilation.  The key
(`fragment_key`) holds the first three; the shared state is recorded as events while
the file is lowered (`Recorder`), checked against the new compilation before a stored
fragment is reused, and replayed into it (`replay`).

Only a file whose lowering reads no other file is recorded: an import, include or role
inside it (``Recorder.impure``) means it is lowered every time.  What the compilation
saw of the file system besides its sources is the store's business (`FragmentStore.env`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from enum import Enum
from typing import TYPE_CHECKING

from ..ir import Node, Step, iter_nodes
from ..recording import Event
from ..result import Fragment

if TYPE_CHECKING:
    from ..resolve.resolver import Resolver
    from .tasks import TaskLowering


def canonical(value: object) -> str:
    """A text for ``value`` that is the same in every process (sets sorted, dataclasses by
    field, spans included): the part of a key that a scope or options contribute."""
    out: list[str] = []
    _canonical(value, out, 0)
    return "".join(out)


def _canonical(value: object, out: list[str], depth: int) -> None:
    if depth > 200:
        raise ValueError("too deep to key")  # never reused: lowered every time
    if isinstance(value, str | int | float | bool | type(None)):
        out.append(f"{type(value).__name__}:{value!r},")
    elif isinstance(value, Enum):
        out.append(f"{type(value).__name__}.{value.name},")
    elif isinstance(value, list | tuple):
        out.append(f"{type(value).__name__}[")
        for item in value:
            _canonical(item, out, depth + 1)
        out.append("]")
    elif isinstance(value, Mapping):
        out.append("{")
        for key, item in value.items():
            _canonical(key, out, depth + 1)
            out.append(":")
            _canonical(item, out, depth + 1)
        out.append("}")
    elif isinstance(value, set | frozenset):
        out.append(f"{type(value).__name__}(")
        out.extend(sorted(canonical(item) for item in value))
        out.append(")")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        out.append(f"{type(value).__qualname__}(")
        for field in dataclasses.fields(value):
            out.append(f"{field.name}=")
            _canonical(getattr(value, field.name), out, depth + 1)
        out.append(")")
    else:
        raise ValueError(f"cannot key a {type(value).__name__}")


def fragment_key(base: str, path: str, digest: str, prefix: str, scope: object) -> str:
    """The key of lowering ``path`` (of sha256 ``digest``) as ``prefix`` in ``scope``;
    ``base`` is the compilation's part (options, play folders)."""
    material = canonical((base, path, digest, prefix, scope))
    return hashlib.sha256(material.encode()).hexdigest()[:40]


_ABSENT = "\0absent"


def replay(fragment: Fragment, tasks: TaskLowering, resolver: Resolver) -> tuple[Step, ...] | None:
    """Apply ``fragment``'s writes to the shared state, if every read it recorded sees
    the same now; else None and nothing changed."""
    registered = {name: node.id for name, node in tasks.registered.items()}
    aliases: dict[str, tuple[str, ...]] = dict(tasks.aliases)
    reported = set(resolver.reported)
    for event in fragment.events:
        kind = event[0]
        if kind == "r":  # a join looked up a registered variable
            if registered.get(str(event[1]), _ABSENT) != (event[2] or _ABSENT):
                return None
        elif kind == "a":  # ... or a set_fact alias
            if aliases.get(str(event[1])) != event[2]:
                return None
        elif kind == "o":  # a finding said once per compilation
            first = (str(event[1]), str(event[2])) not in reported
            if first != event[3]:
                return None
            reported.add((str(event[1]), str(event[2])))
        elif kind == "R":
            registered[str(event[1])] = str(event[2])
        elif kind == "A":
            value = event[2]
            if not isinstance(value, tuple):
                return None
            aliases[str(event[1])] = value
        elif kind != "N":
            return None  # written by another version: lower the file again
    nodes = {node.id: node for node in iter_nodes(fragment.steps)}
    if not all(
        str(event[2 if event[0] == "R" else 1]) in nodes
        for event in fragment.events
        if event[0] in ("R", "N")
    ):
        return None
    for event in fragment.events:
        _apply(event, nodes, tasks, resolver)
    return fragment.steps


def _apply(
    event: Event, nodes: Mapping[str, Node], tasks: TaskLowering, resolver: Resolver
) -> None:
    kind = event[0]
    if kind == "R":
        tasks.registered[str(event[1])] = nodes[str(event[2])]
    elif kind == "A" and isinstance(event[2], tuple):
        tasks.aliases[str(event[1])] = event[2]
    elif kind == "N":
        tasks.node_by_id[str(event[1])] = nodes[str(event[1])]
    elif kind == "o":
        resolver.reported.add((str(event[1]), str(event[2])))
