"""Pictures of the execution graph: Graphviz DOT and Mermaid.

Each kind has its own shape so the concurrency reads at a glance: blocking
tasks are boxes, polled ones rounded, detached launches parallelograms and
joins hexagons; ``seq`` edges are solid, ``sync`` edges dashed and labelled.
Locks are shown under the task name.
"""

from __future__ import annotations

import re
from typing import assert_never

from .ir import Blocking, Detached, EdgeKind, Graph, Join, Node, Polled

_DOT_STYLE = {
    "blocking": 'shape=box, style="filled", fillcolor="#f2f2f2"',
    "polled": 'shape=box, style="rounded,filled", fillcolor="#fff2cc"',
    "detached": 'shape=parallelogram, style="filled", fillcolor="#dae8fc"',
    "join": 'shape=hexagon, style="filled", fillcolor="#d5e8d4"',
}


def _label(node: Node) -> str:
    match node:
        case Blocking():
            timing = ""
        case Polled():
            timing = f"async {node.async_limit}s, poll {node.poll}s"
        case Detached():
            timing = f"async {node.async_limit}s, poll 0"
        case Join():
            timing = "join" + (f" ({node.mode})" if node.mode != "status" else "")
            if node.retry is not None:
                attempts = node.retry.attempts()
                timing += (
                    f", {attempts if attempts is not None else '?'} tries x {node.retry.delay}s"
                )
        case _:
            assert_never(node)
    parts = [node.display_name, node.action.removeprefix("ansible.builtin.")]
    if timing:
        parts.append(timing)
    if node.locks:
        parts.append("locks: " + ", ".join(node.locks))
    return "\n".join(parts)


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def emit_dot(graph: Graph) -> str:
    lines = ["digraph playbook {", "  rankdir=TB;", '  node [fontname="Helvetica", fontsize=10];']
    for index, play in enumerate(graph.plays):
        lines.append(f"  subgraph cluster_{index} {{")
        lines.append(
            f'    label="{_dot_text(play.name or play.id)} (hosts: {_dot_text(play.hosts)})";'
        )
        for node in play.nodes():
            lines.append(
                f'    "{node.id}" [label="{_dot_text(_label(node))}", {_DOT_STYLE[node.kind.value]}];'
            )
        lines.append("  }")
        for edge in play.edges:
            if edge.kind is EdgeKind.SYNC:
                lines.append(
                    f'  "{edge.source}" -> "{edge.target}" '
                    '[style=dashed, color="#1f5fbf", label="sync", constraint=false];'
                )
            else:
                lines.append(f'  "{edge.source}" -> "{edge.target}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_id(node_id: str, taken: dict[str, str]) -> str:
    if node_id in taken:
        return taken[node_id]
    base = re.sub(r"[^A-Za-z0-9]+", "_", node_id).strip("_") or "n"
    candidate = base
    suffix = 1
    while candidate in taken.values():
        suffix += 1
        candidate = f"{base}_{suffix}"
    taken[node_id] = candidate
    return candidate


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("\n", "<br/>")


def emit_mermaid(graph: Graph) -> str:
    taken: dict[str, str] = {}
    lines = ["flowchart TD"]
    for index, play in enumerate(graph.plays):
        lines.append(
            f'  subgraph play{index}["{_mermaid_text(play.name or play.id)} (hosts: {_mermaid_text(play.hosts)})"]'
        )
        for node in play.nodes():
            ident = _mermaid_id(node.id, taken)
            label = _mermaid_text(_label(node))
            match node:
                case Blocking():
                    shape = f'["{label}"]'
                case Polled():
                    shape = f'(["{label}"])'
                case Detached():
                    shape = f'[/"{label}"/]'
                case Join():
                    shape = f'{{{{"{label}"}}}}'
                case _:
                    assert_never(node)
            lines.append(f"    {ident}{shape}")
        lines.append("  end")
        for edge in play.edges:
            source, target = _mermaid_id(edge.source, taken), _mermaid_id(edge.target, taken)
            arrow = "-. sync .->" if edge.kind is EdgeKind.SYNC else "-->"
            lines.append(f"  {source} {arrow} {target}")
    lines += [
        "  classDef detached fill:#dae8fc,stroke:#6c8ebf;",
        "  classDef polled fill:#fff2cc,stroke:#d6b656;",
        "  classDef join fill:#d5e8d4,stroke:#82b366;",
    ]
    for play in graph.plays:
        for node in play.nodes():
            if node.kind.value != "blocking":
                lines.append(f"  class {taken[node.id]} {node.kind.value};")
    return "\n".join(lines) + "\n"
