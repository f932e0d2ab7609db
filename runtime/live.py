"""The live view: on a terminal, a small status area that updates in place instead
of a line per host per poll.

It shows the current task, how many hosts finished it, failed or were
unreachable, and the jobs in flight with their elapsed time against their limit,
the stragglers (closest to their limit) first.  Problems (failed and unreachable
results) are still printed as ansible prints them, above the area, and the recap
at the end, so nothing a user must read is only ever on a redrawn screen.

The area is redrawn by rich's refresh thread twice a second from a snapshot
taken under a lock; the run only updates a few counters per event, so the view
costs the run nothing it would notice (bench/runview_cost.py).  The cursor stays
visible, so however the process ends the terminal is left as it was.
"""

from __future__ import annotations

import heapq
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TextIO, cast

from playgraph.compiler.ir import Node
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from .display import Display
from .results import is_failed, is_unreachable
from .tracing import Event, EventKind

REFRESH_PER_SECOND = 2
RERANK_SECONDS = 1.0
MAX_JOB_ROWS = 8


@dataclass(slots=True)
class _Job:
    host: str
    task: str
    jid: str
    launched: float
    limit: float | None


class _Live(Live):
    """Prints the lines waiting for the area's top on each refresh: one redraw for
    many lines, so a thousand hosts' results do not cost a thousand redraws."""

    def __init__(self, view: LiveView, **options: Any) -> None:
        self._view = view
        super().__init__(**options)

    def refresh(self) -> None:
        self._view.flush_above()
        super().refresh()


class _Above:
    """A text stream whose lines are printed above the live area (`Display` writes here)."""

    def __init__(self, view: LiveView) -> None:
        self._view = view
        self._partial = ""

    def write(self, text: str) -> int:
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            self._view.print_above(line)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class LiveView:
    """A tracer subscriber drawing the run's state on the terminal."""

    def __init__(
        self,
        nodes: Mapping[str, Node],
        *,
        title: str = "",
        stream: TextIO | None = None,
        refresh_per_second: float = REFRESH_PER_SECOND,
    ) -> None:
        self.console = Console(file=stream or sys.stdout, highlight=False, soft_wrap=True)
        self.title = title
        self.above: TextIO = cast(TextIO, _Above(self))
        """Where lines go to be printed above the area (a text stream in all but name)."""
        self._lock = threading.Lock()
        self._nodes = nodes
        self._started = False
        self._closed = False
        self._play = ""
        self._play_hosts = 0
        self._task: str | None = None
        self._task_name = ""
        self._task_started: set[str] = set()
        self._task_finished: set[str] = set()
        self._failed: set[str] = set()
        self._unreachable: set[str] = set()
        self._jobs: dict[str, _Job] = {}
        self._polled: dict[tuple[str, str], list[str]] = {}
        self._names: dict[str, str] = {}
        self._run_started = time.monotonic()
        self._pending: list[str] = []
        self._ranked: list[_Job] = []
        self._ranked_at = float("-inf")
        # Problems as the line output prints them, with their task's banner.
        self._problems = Display(nodes, self.above, problems_only=True)
        # Last: rich draws a first frame from the state above as it is made.
        self._live = _Live(
            self,
            console=self.console,
            get_renderable=self._render,
            refresh_per_second=refresh_per_second,
            auto_refresh=True,
            redirect_stdout=False,
            redirect_stderr=False,
            transient=True,
        )

    # ------------------------------------------------------------------ events

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._update(event)
        if event.kind is EventKind.RUN_FINISHED:
            self.close()
            return
        self._problems(event)
        if not self._started and not self._closed:
            self._started = True
            self._run_started = time.monotonic()
            self._live.start()
            self.console.show_cursor(True)

    def _update(self, event: Event) -> None:
        kind, node, host = event.kind, event.node or "", event.host or ""
        if kind is EventKind.PLAY_STARTED:
            self._play = str(event.data.get("data_name") or "")
            self._play_hosts = len(event.data.get("hosts") or ())
            self._task = None
        elif kind is EventKind.NODE_STARTED:
            name = event.data.get("name")
            if node not in self._names:
                self._names[node] = name if isinstance(name, str) else self._name(node)
            if node != self._task:
                self._task = node
                self._task_name = self._names[node]
                self._task_started = set()
                self._task_finished = set()
            self._task_started.add(host)
        elif kind is EventKind.LAUNCHED:
            jid = str(event.data.get("jid", ""))
            limit = event.data.get("limit")
            self._jobs[jid] = _Job(
                host=host,
                task=self._names.get(node, self._name(node)),
                jid=jid,
                launched=event.time,
                limit=float(limit) if isinstance(limit, int | float) and limit > 0 else None,
            )
            if int(event.data.get("poll", 0) or 0) > 0:
                self._polled.setdefault((node, host), []).append(jid)
        elif kind is EventKind.NODE_FINISHED:
            if node == self._task:
                self._task_finished.add(host)
            for jid in self._polled.pop((node, host), ()):
                self._jobs.pop(jid, None)
            result = event.data.get("result")
            if not isinstance(result, Mapping):
                return
            if is_unreachable(result):
                self._unreachable.add(host)
            elif is_failed(result) and not result.get("_playgraph_ignored"):
                self._failed.add(host)
            items = result.get("results")
            for one in [result, *(items if isinstance(items, list) else [])]:
                if isinstance(one, Mapping) and one.get("finished") and "ansible_job_id" in one:
                    self._jobs.pop(str(one["ansible_job_id"]), None)

    def _name(self, node_id: str) -> str:
        node = self._nodes.get(node_id)
        return node.display_name if node is not None else node_id

    # ------------------------------------------------------------------ drawing

    def _render(self) -> RenderableType:
        with self._lock:
            return self.snapshot(time.monotonic())

    def snapshot(self, now: float) -> RenderableType:
        """The status area at monotonic time ``now`` (callers hold the lock)."""
        width = max(40, self.console.width)
        head = Text()
        head.append("playgraph ", style="bold")
        head.append(self.title or self._play, style="bold cyan")
        head.append(f"  {_clock(now - self._run_started)}", style="dim")
        task = Text("task ", style="dim")
        task.append(self._task_name or "-", style="bold")
        counts = Text()
        counts.append(f"hosts {self._play_hosts}", style="bold")
        counts.append(
            f"  done {len(self._task_finished)}/{max(len(self._task_started), 1)}", style="green"
        )
        counts.append(f"  failed {len(self._failed)}", style="red" if self._failed else "dim")
        counts.append(
            f"  unreachable {len(self._unreachable)}",
            style="magenta" if self._unreachable else "dim",
        )
        counts.append(
            f"  jobs in flight {len(self._jobs)}", style="yellow" if self._jobs else "dim"
        )
        lines: list[RenderableType] = [head, task, counts]
        rows = max(1, min(MAX_JOB_ROWS, self.console.height - 5))
        jobs = self._stragglers(rows, now)
        host_width = min(24, max((len(job.host) for job in jobs[:rows]), default=4))
        for job in jobs[:rows]:
            lines.append(_job_line(job, now, host_width, width))
        if len(self._jobs) > rows:
            lines.append(Text(f"  … and {len(self._jobs) - rows} more jobs", style="dim"))
        for line in lines:
            if isinstance(line, Text):  # one row each, cut at the edge: no wrapping to measure
                line.no_wrap = True
                line.overflow = "crop"
        return Group(*lines)

    def _stragglers(self, rows: int, now: float) -> list[_Job]:
        """The ``rows`` jobs closest to their limit.  Ranking a thousand jobs every frame
        would be most of the view's cost: the ranking is kept for a second, minus the
        jobs that ended meanwhile."""
        kept = [job for job in self._ranked if job.jid in self._jobs]
        if now - self._ranked_at >= RERANK_SECONDS or len(kept) < min(rows, len(self._jobs)):
            kept = heapq.nlargest(rows, self._jobs.values(), key=lambda job: _urgency(job, now))
            self._ranked_at = now
        self._ranked = kept
        return kept[:rows]

    # ------------------------------------------------------------------ output

    def print_above(self, line: str) -> None:
        """Queue a line for the top of the area (printed at the next refresh)."""
        with self._lock:
            self._pending.append(line)

    def flush_above(self) -> None:
        with self._lock:
            lines, self._pending = self._pending, []
        if lines:
            self.console.print(Text("\n".join(lines)), soft_wrap=True)

    def close(self) -> None:
        """Stop drawing (idempotent): the area is cleared and the cursor shown."""
        if self._closed:
            return
        self._closed = True
        if self._started:
            self._live.stop()
            self.console.show_cursor(True)
        self.flush_above()

    def in_flight(self) -> list[tuple[str, str, str]]:
        """(host, jid, task) of the jobs in flight."""
        with self._lock:
            return sorted((j.host, j.jid, j.task) for j in self._jobs.values())


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _urgency(job: _Job, now: float) -> float:
    """How close the job is to its limit (0..1+); jobs without a limit by elapsed time."""
    elapsed = now - job.launched
    return elapsed / job.limit if job.limit else elapsed / 1e9


def _job_line(job: _Job, now: float, host_width: int, width: int) -> Text:
    elapsed = max(0.0, now - job.launched)
    line = Text("  ")
    line.append(job.host[:host_width].ljust(host_width), style="bold")
    line.append("  ")
    if job.limit:
        share = elapsed / job.limit
        cells = 12
        filled = min(cells, int(share * cells))
        style = "red" if share >= 0.9 else "yellow" if share >= 0.6 else "green"
        line.append("█" * filled, style=style)
        line.append("░" * (cells - filled), style="dim")
        line.append(f" {elapsed:6.1f}s / {job.limit:.0f}s", style=style)
    else:
        line.append(f"{elapsed:6.1f}s", style="green")
    rest = width - len(line.plain) - 4
    if rest > 8:
        line.append("  " + job.task[: rest - 2], style="dim")
    return line


__all__ = ["LiveView"]
