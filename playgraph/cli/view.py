"""How ``run`` and ``adhoc`` show a run: the timeline every run records (the
``--json`` document's ``playgraph_timeline``, the ``--report`` file), and the live
view on a terminal (`playgraph.runtime.live`), else ansible's line output.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .output import warn, write_atomically

if TYPE_CHECKING:
    from playgraph.compiler.ir import Graph
    from playgraph.runtime.live import LiveView
    from playgraph.runtime.scheduler import RunOutcome
    from playgraph.runtime.timeline import TimelineRecorder
    from playgraph.runtime.tracing import Event


@dataclass(slots=True)
class RunView:
    """The subscribers a run gets for being seen, and what to do with them after it."""

    recorder: TimelineRecorder
    live: LiveView | None = None
    subscribers: list[Callable[[Event], None]] = field(default_factory=list)


def live_wanted(args: argparse.Namespace, graph: Graph) -> bool:
    """The live view needs a terminal on stdout and no machine-read output; a playbook
    that prompts (``pause``) keeps the line output, where prompts and lines interleave."""
    if args.json or getattr(args, "no_live", False) or os.environ.get("PLAYGRAPH_NO_LIVE"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        if not sys.stdout.isatty():
            return False
    except (AttributeError, ValueError):
        return False
    from playgraph.semantics import builtin_name

    return not any(builtin_name(node.action) == "pause" for node in graph.nodes())


def prepare(args: argparse.Namespace, graph: Graph, *, title: str) -> RunView:
    from playgraph.runtime.timeline import TimelineRecorder

    view = RunView(recorder=TimelineRecorder(graph))
    view.subscribers.append(view.recorder)
    if live_wanted(args, graph):
        from playgraph.runtime.live import LiveView

        view.live = LiveView(graph.node_index(), title=title)
        view.subscribers.append(view.live)
    return view


def conclude(view: RunView, outcome: RunOutcome, args: argparse.Namespace) -> dict[str, Any]:
    """The document with its timeline; the ``--report`` file written (a failure to write
    it is a warning: the run's own exit code stands)."""
    from playgraph.runtime.timeline import TIMELINE_KEY

    document = outcome.document
    if view.live is not None:
        view.live.close()
        if args.command == "run" and not args.json:
            print_recap(document.get("stats"))
    document[TIMELINE_KEY] = view.recorder.to_json()
    if getattr(args, "report", None):
        from .errors import CliError
        from .html_report import render_report

        title = f"playgraph {args.command} {getattr(args, 'playbook', '') or getattr(args, 'pattern', '')}"
        try:
            write_atomically(args.report, render_report(document, title=title.strip()))
        except CliError as error:
            warn(f"no report written: {error}")
    return document


def print_recap(stats: Any) -> None:
    """The line output's PLAY RECAP, from the document's stats (the live view drew the
    rest), printed by the line output's own code so the two never differ."""
    import dataclasses

    from playgraph.runtime.display import Display
    from playgraph.runtime.results import HostStats
    from playgraph.runtime.tracing import Event, EventKind

    names = {f.name for f in dataclasses.fields(HostStats)}
    recap = {
        str(host): HostStats(**{k: int(v) for k, v in counts.items() if k in names})
        for host, counts in (stats.items() if isinstance(stats, dict) else ())
        if isinstance(counts, dict)
    }
    Display({}, sys.stdout, stats=recap)(Event(kind=EventKind.RUN_FINISHED, time=0.0))
