"""A run's timeline: when each task ran on each host, and each job's launch, polls,
join attempts, end and kill, from the run's own events (specs/timeline.md).

`TimelineRecorder` is a tracer subscriber; its `to_json` is the ``playgraph_timeline``
key of the ``--json`` document, which `playgraph report` draws after the fact.
Each event costs a dict look-up and an append: nothing is formatted during the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from playgraph.compiler.ir import Graph
from playgraph.compiler.render_svg import picture_of, picture_to_json

from .results import is_changed, is_failed, is_skipped, is_unreachable, utc_stamp
from .tracing import Event, EventKind

TIMELINE_KEY = "playgraph_timeline"
TIMELINE_VERSION = 1
_TIMEOUT_PREFIX = "async task did not complete within the requested time"
_UNNAMED = {"gather_facts": "Gathering Facts"}
"""Names of the steps that are no task of the playbook, as the line output shows them."""


def outcome_of(result: Mapping[str, Any]) -> str:
    """One word for a result: ok, changed, failed, timeout, unreachable, skipped, ignored."""
    if is_unreachable(result):
        return "unreachable"
    if is_failed(result):
        if result.get("_playgraph_ignored"):
            return "ignored"
        message = str(result.get("msg", ""))
        return "timeout" if message.startswith(_TIMEOUT_PREFIX) else "failed"
    if is_skipped(result):
        return "skipped"
    return "changed" if is_changed(result) else "ok"


def _job_outcome(result: Mapping[str, Any]) -> str:
    """A job's end as its result tells it (the supervisor's ``Timeout exceeded``, or the
    polled task's timeout); ``ignore_errors`` does not change how the job ended."""
    if is_unreachable(result):
        return "unreachable"
    message = str(result.get("msg", ""))
    if message == "Timeout exceeded" or message.startswith(_TIMEOUT_PREFIX):
        return "timeout"
    if is_failed(result):
        return "failed"
    if is_skipped(result):
        return "skipped"
    return "changed" if is_changed(result) else "ok"


class TimelineRecorder:
    """Keeps the times of a run's events, relative to its first one, in milliseconds' precision."""

    def __init__(self, graph: Graph | None = None) -> None:
        self._graph = graph
        self._origin: float | None = None
        self._started = ""
        self._end = 0.0
        self._interrupted = False
        self._kinds = {n.id: n.kind.value for n in graph.nodes()} if graph is not None else {}
        self._actions = {n.id: n.action for n in graph.nodes()} if graph is not None else {}
        self._task_index: dict[str, int] = {}
        self.tasks: list[dict[str, Any]] = []
        self._host_index: dict[str, int] = {}
        self.hosts: list[str] = []
        self.plays: list[dict[str, Any]] = []
        self.spans: list[dict[str, Any]] = []
        self.jobs: list[dict[str, Any]] = []
        self._open: dict[tuple[str, str], dict[str, Any]] = {}
        self._by_jid: dict[str, dict[str, Any]] = {}
        self._polled: dict[tuple[str, str], list[dict[str, Any]]] = {}
        """(node, host) -> its polled jobs not yet seen to end (a loop launches one per item)."""

    # ------------------------------------------------------------------ events

    def __call__(self, event: Event) -> None:
        if self._origin is None:
            self._origin = event.time
            self._started = utc_stamp()
        handler = _HANDLERS.get(event.kind)
        if handler is not None:
            handler(self, event)

    def _t(self, event: Event) -> float:
        return round(event.time - (self._origin or 0.0), 3)

    def _task(self, node: str, name: Any = None) -> int:
        index = self._task_index.get(node)
        if index is None:
            index = len(self.tasks)
            self._task_index[node] = index
            self.tasks.append(
                {
                    "id": node,
                    "name": name if isinstance(name, str) else _UNNAMED.get(node, node),
                    "kind": self._kinds.get(node, "blocking"),
                    "action": self._actions.get(node, "gather_facts"),
                    "play": max(0, len(self.plays) - 1),
                }
            )
        return index

    def _host(self, host: str) -> int:
        index = self._host_index.get(host)
        if index is None:
            index = len(self.hosts)
            self._host_index[host] = index
            self.hosts.append(host)
        return index

    def _on_play_started(self, event: Event) -> None:
        name = event.data.get("data_name")
        self.plays.append({"name": str(name or ""), "start": self._t(event), "end": None})
        for host in event.data.get("hosts") or ():  # lanes in the play's host order
            self._host(str(host))

    def _on_play_finished(self, event: Event) -> None:
        if self.plays:
            self.plays[-1]["end"] = self._t(event)

    def _on_node_started(self, event: Event) -> None:
        if event.node is None or event.host is None:
            return
        span: dict[str, Any] = {
            "task": self._task(event.node, event.data.get("name")),
            "host": self._host(event.host),
            "start": self._t(event),
            "end": None,
            "status": "running",
        }
        self.spans.append(span)
        self._open[(event.node, event.host)] = span

    def _on_launched(self, event: Event) -> None:
        if event.node is None or event.host is None:
            return
        key = (event.node, event.host)
        now = self._t(event)
        # Loop items run one after another: a new launch means the previous item's
        # polled job has ended (its own result comes with the task's).
        for earlier in self._polled.pop(key, ()):
            earlier["end"] = now
            earlier["status"] = "ended"
        poll = int(event.data.get("poll", 0) or 0)
        job: dict[str, Any] = {
            "task": self._task(event.node),
            "host": self._host(event.host),
            "jid": str(event.data.get("jid", "")),
            "launch": now,
            "limit": event.data.get("limit"),
            "poll": poll,
            "end": None,
            "status": "running",
            "killed": None,
            "polls": [],
            "joins": [],
        }
        self.jobs.append(job)
        self._by_jid[job["jid"]] = job
        if poll > 0:
            self._polled.setdefault(key, []).append(job)

    def _on_node_polled(self, event: Event) -> None:
        job = self._by_jid.get(str(event.data.get("jid", "")))
        if job is None:
            return
        own = event.node is not None and self._task_index.get(event.node) == job["task"]
        job["polls" if own else "joins"].append(self._t(event))

    def _on_retry(self, event: Event) -> None:
        span = self._open.get((event.node or "", event.host or ""))
        if span is not None:
            span.setdefault("retries", []).append(self._t(event))

    def _on_node_finished(self, event: Event) -> None:
        if event.node is None or event.host is None:
            return
        key = (event.node, event.host)
        now = self._t(event)
        given = event.data.get("result")
        result: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        status = outcome_of(result)
        span = self._open.pop(key, None)
        if span is None:  # a node that did not announce itself: a point in time
            span = {
                "task": self._task(event.node),
                "host": self._host(event.host),
                "start": now,
                "status": "running",
            }
            self.spans.append(span)
        span["end"] = now
        span["status"] = status
        items = result.get("results")
        records = (
            [result, *(i for i in items if isinstance(i, Mapping))]
            if isinstance(items, list)
            else [result]
        )
        by_jid = {str(r["ansible_job_id"]): r for r in records if "ansible_job_id" in r}
        for job in self._polled.pop(key, ()):
            record = by_jid.get(job["jid"])
            job["end"] = now
            job["status"] = _job_outcome(record if record is not None else result)
            self._mark_kill(job)
        # A join that saw its job finished: that attempt is the job's seen end.
        for jid, record in by_jid.items():
            joined = self._by_jid.get(jid)
            if joined is None or joined["end"] is not None or not record.get("finished"):
                continue
            if joined["task"] == span["task"]:
                continue
            joined["joins"].append(now)
            joined["end"] = now
            joined["status"] = _job_outcome(record)
            self._mark_kill(joined)

    @staticmethod
    def _mark_kill(job: dict[str, Any]) -> None:
        limit = job.get("limit")
        if job["status"] == "timeout" and isinstance(limit, int | float):
            # The target's supervisor stops a job at exactly its limit.
            job["killed"] = round(job["launch"] + float(limit), 3)

    def _on_run_finished(self, event: Event) -> None:
        self._end = self._t(event)
        self._interrupted = event.data.get("interrupted") is not None
        for span in self._open.values():
            span["end"] = self._end
            span["status"] = "stopped" if self._interrupted else span["status"]
        self._open.clear()

    # ------------------------------------------------------------------ output

    def to_json(self) -> dict[str, Any]:
        end = self._end or max(
            [0.0, *(s["end"] or 0.0 for s in self.spans), *(j["end"] or 0.0 for j in self.jobs)]
        )
        return {
            "version": TIMELINE_VERSION,
            "started": self._started,
            "duration": end,
            "interrupted": self._interrupted,
            "plays": self.plays,
            "tasks": self.tasks,
            "hosts": self.hosts,
            "spans": self.spans,
            "jobs": self.jobs,
            "plan": picture_to_json(picture_of(self._graph)) if self._graph is not None else [],
        }


_HANDLERS = {
    EventKind.PLAY_STARTED: TimelineRecorder._on_play_started,
    EventKind.PLAY_FINISHED: TimelineRecorder._on_play_finished,
    EventKind.NODE_STARTED: TimelineRecorder._on_node_started,
    EventKind.LAUNCHED: TimelineRecorder._on_launched,
    EventKind.NODE_POLLED: TimelineRecorder._on_node_polled,
    EventKind.RETRY: TimelineRecorder._on_retry,
    EventKind.NODE_FINISHED: TimelineRecorder._on_node_finished,
    EventKind.RUN_FINISHED: TimelineRecorder._on_run_finished,
}


__all__ = ["TIMELINE_KEY", "TIMELINE_VERSION", "TimelineRecorder", "outcome_of"]
