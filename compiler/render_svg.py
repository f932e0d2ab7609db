"""The execution graph as an SVG picture, laid out here: no Graphviz, no Node.

A small layered layout: each play's nodes are ranked by the longest path of
``seq`` edges (program order on a host), nodes of one rank sit side by side in
program order, and ``sync`` edges (a join waiting for a detached job) are drawn
as dashed arcs beside the column so they never cross a node.  The shapes and
colours are those of the DOT and Mermaid pictures: blocking tasks boxes, polled
ones rounded, detached launches parallelograms, joins hexagons; locks are an
italic line under the task.

The layout works on `PlanPicture`, a plain description that a graph gives
(`picture_of`) and that a run's timeline keeps (`picture_to_json`), so a report
made after the run draws the same picture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from .ir import EdgeKind, Graph
from .render import _label

_FILL = {"blocking": "#f2f2f2", "polled": "#fff2cc", "detached": "#dae8fc", "join": "#d5e8d4"}
_STROKE = {"blocking": "#666666", "polled": "#d6b656", "detached": "#6c8ebf", "join": "#82b366"}
_CHAR = 6.6
"""Average advance of a 11px sans-serif character: enough to size the boxes."""
_LINE = 14
_PAD_X = 14
_PAD_Y = 8
_RANK_GAP = 34
_COLUMN_GAP = 30
_SYNC_STEP = 16
_MARGIN = 16
_TITLE = 26


@dataclass(frozen=True, slots=True)
class PictureNode:
    id: str
    kind: str
    """blocking, polled, detached or join"""
    lines: tuple[str, ...]
    locks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PictureEdge:
    source: str
    target: str
    kind: str
    """seq or sync (a join, the source, waits for a detached node, the target)"""


@dataclass(frozen=True, slots=True)
class PicturePlay:
    title: str
    nodes: tuple[PictureNode, ...]
    edges: tuple[PictureEdge, ...]


PlanPicture = tuple[PicturePlay, ...]


def picture_of(graph: Graph) -> PlanPicture:
    plays = []
    for play in graph.plays:
        nodes = []
        for node in play.nodes():
            lines = tuple(
                line for line in _label(node).split("\n") if not line.startswith("locks: ")
            )
            nodes.append(PictureNode(node.id, node.kind.value, lines, tuple(node.locks)))
        edges = tuple(PictureEdge(e.source, e.target, e.kind.value) for e in play.edges)
        plays.append(
            PicturePlay(f"{play.name or play.id} (hosts: {play.hosts})", tuple(nodes), edges)
        )
    return tuple(plays)


def picture_to_json(picture: PlanPicture) -> list[dict[str, Any]]:
    return [
        {
            "title": play.title,
            "nodes": [
                {"id": n.id, "kind": n.kind, "lines": list(n.lines), "locks": list(n.locks)}
                for n in play.nodes
            ],
            "edges": [[e.source, e.target, e.kind] for e in play.edges],
        }
        for play in picture
    ]


def picture_from_json(data: Any) -> PlanPicture:
    """The picture a timeline kept; whatever is malformed is left out, never an error."""
    plays = []
    for play in data if isinstance(data, list) else ():
        if not isinstance(play, Mapping):
            continue
        nodes = tuple(
            PictureNode(
                str(n.get("id", "")),
                str(n.get("kind", "blocking")),
                tuple(str(line) for line in n.get("lines", ()) or ()),
                tuple(str(lock) for lock in n.get("locks", ()) or ()),
            )
            for n in play.get("nodes", ()) or ()
            if isinstance(n, Mapping)
        )
        edges = tuple(
            PictureEdge(str(e[0]), str(e[1]), str(e[2]))
            for e in play.get("edges", ()) or ()
            if isinstance(e, list | tuple) and len(e) == 3
        )
        plays.append(PicturePlay(str(play.get("title", "")), nodes, edges))
    return tuple(plays)


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True, slots=True)
class _Box:
    x: float
    y: float
    width: float
    height: float

    @property
    def cx(self) -> float:
        return self.x + self.width / 2


def _ranks(play: PicturePlay) -> dict[str, int]:
    """Longest path over seq edges, in program order; a cycle (never compiled, but a
    plan file is input) is broken by ignoring the edge that closes it."""
    order = {node.id: index for index, node in enumerate(play.nodes)}
    incoming: dict[str, list[str]] = {node.id: [] for node in play.nodes}
    for edge in play.edges:
        if (
            edge.kind == EdgeKind.SEQ
            and edge.source in order
            and edge.target in order
            and order[edge.source] < order[edge.target]
        ):
            incoming[edge.target].append(edge.source)
    rank: dict[str, int] = {}
    for node in play.nodes:  # program order is a topological order of the kept edges
        rank[node.id] = max((rank[s] + 1 for s in incoming[node.id]), default=0)
    return rank


def _node_size(node: PictureNode) -> tuple[float, float]:
    lines = [*node.lines, *([_locks_line(node)] if node.locks else [])]
    width = max((len(line) for line in lines), default=4) * _CHAR + 2 * _PAD_X
    if node.kind in ("detached", "join"):
        width += 24  # the slanted and pointed sides
    return max(width, 90.0), len(lines) * _LINE + 2 * _PAD_Y


def _locks_line(node: PictureNode) -> str:
    return "locks: " + ", ".join(node.locks)


def _shape(node: PictureNode, box: _Box) -> str:
    x, y, w, h = box.x, box.y, box.width, box.height
    style = f'fill="{_FILL.get(node.kind, "#ffffff")}" stroke="{_STROKE.get(node.kind, "#666")}"'
    if node.kind == "polled":
        return f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="12" {style}/>'
    if node.kind == "detached":
        s = 12
        points = f"{x + s:.1f},{y:.1f} {x + w:.1f},{y:.1f} {x + w - s:.1f},{y + h:.1f} {x:.1f},{y + h:.1f}"
        return f'<polygon points="{points}" {style}/>'
    if node.kind == "join":
        s = 12
        points = (
            f"{x + s:.1f},{y:.1f} {x + w - s:.1f},{y:.1f} {x + w:.1f},{y + h / 2:.1f} "
            f"{x + w - s:.1f},{y + h:.1f} {x + s:.1f},{y + h:.1f} {x:.1f},{y + h / 2:.1f}"
        )
        return f'<polygon points="{points}" {style}/>'
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" {style}/>'


def _node_svg(node: PictureNode, box: _Box) -> str:
    parts = [
        f'<g class="node node-{escape(node.kind)}" data-id="{escape(node.id)}">',
        f"<title>{escape(node.id)}</title>",
        _shape(node, box),
    ]
    y = box.y + _PAD_Y + _LINE - 3
    for index, line in enumerate(node.lines):
        weight = ' font-weight="bold"' if index == 0 else ""
        parts.append(
            f'<text x="{box.cx:.1f}" y="{y:.1f}" text-anchor="middle"{weight}>{escape(line)}</text>'
        )
        y += _LINE
    if node.locks:
        parts.append(
            f'<text class="locks" x="{box.cx:.1f}" y="{y:.1f}" text-anchor="middle" '
            f'font-style="italic" fill="#8a3b12">{escape(_locks_line(node))}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _play_svg(play: PicturePlay, top: float) -> tuple[list[str], float, float]:
    """The play's elements from ``top`` down; and its width and height."""
    rank = _ranks(play)
    sizes = {node.id: _node_size(node) for node in play.nodes}
    by_rank: dict[int, list[PictureNode]] = {}
    for node in play.nodes:
        by_rank.setdefault(rank[node.id], []).append(node)
    column = max((max(sizes[n.id][0] for n in nodes) for nodes in by_rank.values()), default=90)
    widest = max((len(nodes) for nodes in by_rank.values()), default=1)
    inner = widest * column + (widest - 1) * _COLUMN_GAP
    boxes: dict[str, _Box] = {}
    y = top + _TITLE
    for level in sorted(by_rank):
        nodes = by_rank[level]
        row = len(nodes) * column + (len(nodes) - 1) * _COLUMN_GAP
        x = _MARGIN + _PAD_X + (inner - row) / 2
        height = max(sizes[n.id][1] for n in nodes)
        for node in nodes:
            width, own = sizes[node.id]
            boxes[node.id] = _Box(x + (column - width) / 2, y + (height - own) / 2, width, own)
            x += column + _COLUMN_GAP
        y += height + _RANK_GAP
    syncs = [e for e in play.edges if e.kind == EdgeKind.SYNC]
    right = _MARGIN + _PAD_X + inner + _PAD_X + (len(syncs) + 1) * _SYNC_STEP + 24
    elements: list[str] = []
    bottom = y - _RANK_GAP + _PAD_Y
    elements.append(
        f'<g class="play"><rect class="cluster" x="{_MARGIN:.1f}" y="{top:.1f}" '
        f'width="{right - _MARGIN:.1f}" height="{bottom - top + _PAD_Y:.1f}" rx="6" '
        f'fill="none" stroke="#bbbbbb" stroke-dasharray="2 2"/>'
        f'<text x="{_MARGIN + 8:.1f}" y="{top + 17:.1f}" font-weight="bold">'
        f"{escape(play.title)}</text></g>"
    )
    for edge in play.edges:
        if edge.kind != EdgeKind.SEQ or edge.source not in boxes or edge.target not in boxes:
            continue
        a, b = boxes[edge.source], boxes[edge.target]
        x1, y1, x2, y2 = a.cx, a.y + a.height, b.cx, b.y
        if y2 <= y1:  # a back edge of a malformed plan: go round the side
            path = f"M{a.x + a.width:.1f},{a.y + a.height / 2:.1f} L{b.x + b.width:.1f},{b.y + b.height / 2:.1f}"
        else:
            middle = (y1 + y2) / 2
            path = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{middle:.1f} {x2:.1f},{middle:.1f} {x2:.1f},{y2 - 2:.1f}"
        elements.append(
            f'<path class="edge edge-seq" data-from="{escape(edge.source)}" '
            f'data-to="{escape(edge.target)}" d="{path}" fill="none" stroke="#444444" '
            f'marker-end="url(#pg-arrow)"/>'
        )
    edge_x = _MARGIN + _PAD_X + inner + _PAD_X
    kinds = {node.id: node.kind for node in play.nodes}

    def slant_of(node_id: str) -> float:
        return 6.0 if kinds.get(node_id) == "detached" else 0.0

    for index, edge in enumerate(syncs):
        if edge.source not in boxes or edge.target not in boxes:
            continue
        a, b = boxes[edge.source], boxes[edge.target]
        ay, by = a.y + a.height / 2, b.y + b.height / 2
        out = edge_x + (index + 1) * _SYNC_STEP
        # A parallelogram's right side at mid height is half its slant inside the box.
        slant = slant_of(edge.target)
        path = (
            f"M{a.x + a.width - slant_of(edge.source):.1f},{ay:.1f} C{out:.1f},{ay:.1f} "
            f"{out:.1f},{by:.1f} {b.x + b.width - slant + 2:.1f},{by:.1f}"
        )
        elements.append(
            f'<path class="edge edge-sync" data-from="{escape(edge.source)}" '
            f'data-to="{escape(edge.target)}" d="{path}" fill="none" stroke="#1f5fbf" '
            f'stroke-dasharray="5 4" marker-end="url(#pg-arrow-sync)"/>'
            f'<text class="edge-label" x="{out - 4:.1f}" y="{(ay + by) / 2:.1f}" '
            f'fill="#1f5fbf" text-anchor="end">sync</text>'
        )
    elements.extend(_node_svg(node, boxes[node.id]) for node in play.nodes)
    return elements, right + _MARGIN, bottom - top + _PAD_Y


_DEFS = (
    "<defs>"
    '<marker id="pg-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
    'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#444444"/></marker>'
    '<marker id="pg-arrow-sync" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
    'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#1f5fbf"/></marker>'
    "</defs>"
)


def svg_of(picture: Sequence[PicturePlay]) -> str:
    """The picture as one ``<svg>`` element (no XML declaration: it also goes inline in HTML)."""
    elements: list[str] = []
    top = float(_MARGIN)
    width = 200.0
    for play in picture:
        drawn, play_width, height = _play_svg(play, top)
        elements.extend(drawn)
        width = max(width, play_width)
        top += height + _MARGIN
    height = max(top, 60.0)
    if not picture:
        elements.append(f'<text x="{_MARGIN}" y="{_MARGIN + 14}">(no plays)</text>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plan" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        'font-family="Helvetica, Arial, sans-serif" font-size="11">'
        f"{_DEFS}{''.join(elements)}</svg>"
    )


def emit_svg(graph: Graph) -> str:
    """``playgraph compile --format svg``: a standalone SVG file."""
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + svg_of(picture_of(graph)) + "\n"


def emit_html(graph: Graph) -> str:
    """``playgraph compile --format html``: the SVG in a page of its own (no external files)."""
    title = escape(", ".join(play.name or play.id for play in graph.plays) or "plan")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>playgraph plan: {title}</title>"
        "<style>body{font-family:Helvetica,Arial,sans-serif;margin:16px;color:#222}"
        ".legend span{display:inline-block;margin-right:14px;padding:2px 8px;border:1px solid #999}"
        "</style></head><body>"
        f"<h1>Plan: {title}</h1>"
        '<p class="legend">'
        + "".join(
            f'<span style="background:{_FILL[kind]};border-color:{_STROKE[kind]}">{kind}</span>'
            for kind in _FILL
        )
        + '<span style="border-style:dashed;border-color:#1f5fbf">sync: a join waits for a job</span></p>'
        + svg_of(picture_of(graph))
        + "</body></html>\n"
    )


__all__ = [
    "PictureEdge",
    "PictureNode",
    "PicturePlay",
    "PlanPicture",
    "emit_html",
    "emit_svg",
    "picture_from_json",
    "picture_of",
    "picture_to_json",
    "svg_of",
]
