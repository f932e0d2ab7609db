"""The JSON plan: a versioned, self-contained dump of the execution graph.

``emit_json(graph)`` and ``load_plan(text)`` round-trip: loading a plan gives a
graph equal to the one emitted (spans are kept, and ignored by equality anyway).
Each play lists its nodes flat, in program order, with ``kind``, ``name``,
``action``, ``async``, ``poll`` and ``span``; ``sections`` and ``blocks`` keep
the block structure; ``edges`` holds ``seq`` and ``sync`` edges.

The codec is driven by the dataclasses' own type hints, so a new IR field is
serialised without touching this module.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from enum import Enum
from typing import Any, Union, get_args, get_origin

from playgraph.semantics import PlaygraphError, UnsafeText

from .ir import (
    Blocking,
    BlockStep,
    Detached,
    Edge,
    EdgeKind,
    Graph,
    Join,
    LoopSpec,
    Node,
    NodeKind,
    Play,
    Polled,
    RetrySpec,
    Step,
    iter_blocks,
    iter_nodes,
)
from .spans import Span

PLAN_VERSION = 1

_NODE_CLASSES: dict[str, type[Node]] = {
    NodeKind.BLOCKING: Blocking,
    NodeKind.POLLED: Polled,
    NodeKind.DETACHED: Detached,
    NodeKind.JOIN: Join,
}

# JSON names that differ from the Python field names.
_RENAMED = {"async_limit": "async"}
_UNSAFE = "__ansible_unsafe"
"""`UnsafeText` (``!unsafe``) in a plan: ``{"__ansible_unsafe": text}``, as Ansible's own
JSON writes it, so a plan run later still never templates it."""
_STEP_SECTIONS = ("pre_tasks", "tasks", "post_tasks", "handlers")


class PlanError(PlaygraphError, ValueError):
    """A plan file that is not a playgraph plan of a version this build reads."""


# --------------------------------------------------------------------------- emit


def graph_to_json(graph: Graph) -> dict[str, Any]:
    return {"version": PLAN_VERSION, "plays": [_play_to_json(play) for play in graph.plays]}


def emit_json(graph: Graph) -> str:
    """The plan as text: stable key order and formatting, so equal graphs give equal bytes."""
    return json.dumps(graph_to_json(graph), indent=1, ensure_ascii=False) + "\n"


def _play_to_json(play: Play) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(play):
        if f.name in _STEP_SECTIONS or f.name == "edges":
            continue
        out[f.name] = _encode(getattr(play, f.name))
    out["sections"] = {name: [step.id for step in getattr(play, name)] for name in _STEP_SECTIONS}
    blocks = []
    for name in _STEP_SECTIONS:
        for block in iter_blocks(getattr(play, name)):
            blocks.append(
                {
                    "id": block.id,
                    "name": block.name,
                    "block": [s.id for s in block.block],
                    "rescue": [s.id for s in block.rescue],
                    "always": [s.id for s in block.always],
                    "span": block.span.to_json(),
                }
            )
    out["blocks"] = blocks
    out["nodes"] = [
        _node_to_json(node) for name in _STEP_SECTIONS for node in iter_nodes(getattr(play, name))
    ]
    out["edges"] = [{"from": e.source, "to": e.target, "kind": e.kind.value} for e in play.edges]
    return out


def _node_to_json(node: Node) -> dict[str, Any]:
    # The fields the issue promises come first, so the plan reads well.
    out: dict[str, Any] = {
        "id": node.id,
        "kind": node.kind.value,
        "name": node.name,
        "action": node.action,
        "async": getattr(node, "async_limit", None),
        "poll": getattr(node, "poll", 0 if isinstance(node, Detached) else None),
        "span": node.span.to_json(),
    }
    for f in dataclasses.fields(node):
        key = _RENAMED.get(f.name, f.name)
        if key not in out:
            out[key] = _encode(getattr(node, f.name))
    return out


def _encode(value: Any) -> Any:
    if isinstance(value, UnsafeText):
        return {_UNSAFE: str(value)}
    if isinstance(value, Span):
        return value.to_json()
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_encode(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- load


def load_plan(text: str) -> Graph:
    """Parse a plan emitted by `emit_json`.  Raises `PlanError` with a clear reason."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise PlanError(
            f"not JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise PlanError("not a plan: nested too deeply") from None
    try:
        return graph_from_json(data)
    except RecursionError:  # the data's depth, when decoding it
        raise PlanError("not a plan: nested too deeply") from None


def looks_like_plan(text: str) -> bool:
    stripped = text.lstrip()
    return stripped.startswith("{") and '"plays"' in stripped[:4096]


def graph_from_json(data: Any) -> Graph:
    if not isinstance(data, dict) or "plays" not in data:
        raise PlanError("not a playgraph plan: expected an object with 'version' and 'plays'")
    version = data.get("version")
    if version != PLAN_VERSION:
        raise PlanError(
            f"plan version {version!r} is not supported (this build reads {PLAN_VERSION})"
        )
    plays = data["plays"]
    if not isinstance(plays, list):
        raise PlanError("'plays' must be a list")
    return Graph(plays=tuple(_play_from_json(play, i) for i, play in enumerate(plays)))


def _play_from_json(data: Any, index: int) -> Play:
    where = f"plays[{index}]"
    _require(isinstance(data, dict), f"{where} must be an object")
    nodes: dict[str, Node] = {}
    for position, raw in enumerate(data.get("nodes", [])):
        node = _node_from_json(raw, f"{where}.nodes[{position}]")
        nodes[node.id] = node
    raw_blocks = {b["id"]: b for b in data.get("blocks", []) if isinstance(b, dict) and "id" in b}

    def step(step_id: Any) -> Step:
        if step_id in nodes:
            return nodes[step_id]
        if step_id in raw_blocks:
            raw = raw_blocks[step_id]
            return BlockStep(
                id=step_id,
                name=raw.get("name"),
                block=tuple(step(s) for s in raw.get("block", [])),
                rescue=tuple(step(s) for s in raw.get("rescue", [])),
                always=tuple(step(s) for s in raw.get("always", [])),
                span=Span.from_json(raw.get("span") or {}),
            )
        raise PlanError(f"{where}: section refers to unknown step {step_id!r}")

    sections = data.get("sections", {})
    _require(isinstance(sections, dict), f"{where}.sections must be an object")
    kwargs: dict[str, Any] = {}
    hints = _hints(Play)
    for f in dataclasses.fields(Play):
        if f.name in _STEP_SECTIONS:
            kwargs[f.name] = tuple(step(s) for s in sections.get(f.name, []))
        elif f.name == "edges":
            kwargs["edges"] = tuple(_edge_from_json(e, where) for e in data.get("edges", []))
        elif f.name in data:
            kwargs[f.name] = _decode(hints[f.name], data[f.name], f"{where}.{f.name}")
    play: Play = _construct(Play, kwargs, where)
    return play


def _edge_from_json(raw: Any, where: str) -> Edge:
    _require(isinstance(raw, dict), f"{where}: an edge must be an object")
    try:
        kind = EdgeKind(raw.get("kind"))
    except ValueError:
        raise PlanError(f"{where}: unknown edge kind {raw.get('kind')!r}") from None
    return Edge(source=str(raw.get("from")), target=str(raw.get("to")), kind=kind)


def _node_from_json(raw: Any, where: str) -> Node:
    _require(isinstance(raw, dict), f"{where} must be an object")
    cls = _NODE_CLASSES.get(raw.get("kind", ""))
    if cls is None:
        raise PlanError(f"{where}: unknown node kind {raw.get('kind')!r}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        key = _RENAMED.get(f.name, f.name)
        if key in raw:
            kwargs[f.name] = _decode(hints[f.name], raw[key], f"{where}.{key}")
    node: Node = _construct(cls, kwargs, where)
    return node


def _construct(cls: type[Any], kwargs: dict[str, Any], where: str) -> Any:
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise PlanError(f"{where}: {error}") from None


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _decode(hint: Any, value: Any, where: str) -> Any:
    """Turn JSON into the value the type hint describes, or raise PlanError."""
    if hint is Any:
        return _data(value)
    if hint is Span:
        _require(isinstance(value, dict), f"{where} must be a span object")
        return Span.from_json(value)
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        members = get_args(hint)
        if value is None and type(None) in members:
            return None
        for member in members:
            if member is type(None):
                continue
            try:
                return _decode(member, value, where)
            except PlanError:
                continue
        raise PlanError(f"{where}: value {value!r} does not fit {hint}")
    if origin is tuple:
        _require(isinstance(value, list), f"{where} must be a list")
        (item_hint, _ellipsis) = get_args(hint)
        return tuple(_decode(item_hint, item, f"{where}[{i}]") for i, item in enumerate(value))
    if origin is Mapping or origin is dict:
        _require(isinstance(value, dict) and not _is_unsafe(value), f"{where} must be an object")
        return {key: _data(item) for key, item in value.items()}
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            raise PlanError(f"{where}: {value!r} is not one of {[m.value for m in hint]}") from None
    if hint in (LoopSpec, RetrySpec):
        _require(isinstance(value, dict), f"{where} must be an object")
        hints = _hints(hint)
        return _construct(
            hint,
            {k: _decode(hints[k], v, f"{where}.{k}") for k, v in value.items() if k in hints},
            where,
        )
    if hint is bool:
        _require(isinstance(value, bool), f"{where} must be a boolean")
        return value
    if hint is int:
        _require(
            isinstance(value, int) and not isinstance(value, bool), f"{where} must be an integer"
        )
        return value
    if hint is float:
        _require(
            isinstance(value, int | float) and not isinstance(value, bool),
            f"{where} must be a number",
        )
        return float(value) if isinstance(value, int) else value
    if hint is str:
        if _is_unsafe(value):
            return UnsafeText(value[_UNSAFE])
        _require(isinstance(value, str), f"{where} must be a string")
        return value
    raise PlanError(f"{where}: cannot decode {hint}")  # pragma: no cover - a new IR type


def _is_unsafe(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(_UNSAFE), str)


def _data(value: Any) -> Any:
    """Plain JSON data with its `UnsafeText` markers turned back into `UnsafeText`."""
    if _is_unsafe(value):
        return UnsafeText(value[_UNSAFE])
    if isinstance(value, dict):
        return {key: _data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_data(item) for item in value]
    return value


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise PlanError(message)


__all__ = [
    "PLAN_VERSION",
    "PlanError",
    "emit_json",
    "graph_from_json",
    "graph_to_json",
    "load_plan",
]
