"""Results in Ansible's shapes: per task and host, loop aggregates, stats, and the JSON document.

A result is a plain dict with Ansible's keys (``rc``, ``stdout``, ``stderr``,
``changed``, ``failed``, ``msg``, ``ansible_job_id``, ``started``, ``finished``,
``attempts``, ``skipped``, ``unreachable``...), so tools that read Ansible's
JSON read ours.  The run document is shaped as the ``ansible.posix.json`` stdout
callback's: ``plays[].tasks[].hosts{}`` and ``stats{}``.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Result = dict[str, Any]

# Keys the display and the JSON document never show (Ansible strips them too).
_INTERNAL_PREFIX = "_playgraph"


def _check_key(result: Mapping[str, Any], key: str) -> bool:
    """ansible-core's TaskResult._check_key: the key's value, else any loop item's."""
    if key in result:
        return bool(result[key])
    items = result.get("results")
    if not isinstance(items, list):
        return False
    return any(isinstance(item, Mapping) and item.get(key) for item in items)


def is_failed(result: Mapping[str, Any]) -> bool:
    """Failed as ansible-core's TaskResult.is_failed sees it: ``failed_when_result`` (of the
    result or of any loop item) wins over ``failed``."""
    items = result.get("results")
    if not isinstance(items, list):  # no loop: the common case, asked several times per result
        if "failed_when_result" in result:
            return bool(result["failed_when_result"])
        return bool(result.get("failed"))
    overridden = "failed_when_result" in result or (
        isinstance(items, list)
        and any(isinstance(item, Mapping) and "failed_when_result" in item for item in items)
    )
    return _check_key(result, "failed_when_result" if overridden else "failed")


def is_changed(result: Mapping[str, Any]) -> bool:
    return bool(result.get("changed", False))


def is_skipped(result: Mapping[str, Any]) -> bool:
    if result.get("results") and isinstance(result["results"], list):
        items = [r for r in result["results"] if isinstance(r, Mapping)]
        return bool(items) and all(r.get("skipped") for r in items)
    return bool(result.get("skipped", False))


def is_unreachable(result: Mapping[str, Any]) -> bool:
    return bool(result.get("unreachable", False))


def normalize(result: Result) -> Result:
    """Ansible's post-run defaults: ``failed`` from ``rc`` when absent, ``changed`` false when absent."""
    if "failed" not in result:
        rc = result.get("rc")
        result["failed"] = rc not in (0, "0", None) if "rc" in result else False
    result.setdefault("changed", False)
    return result


def skipped(condition: object) -> Result:
    return {
        "changed": False,
        "skipped": True,
        "skip_reason": "Conditional result was False",
        "false_condition": condition,
    }


def loop_aggregate(items: list[Result]) -> Result:
    """The registered value of a looped task (``results`` list plus the summary keys)."""
    # As ansible-core's TaskExecutor.run: an item's own ``failed`` decides (its
    # failed_when_result is weighed later, by is_failed on the whole result).
    failed = any(item.get("failed") for item in items)
    result: Result = {
        "changed": any(is_changed(item) for item in items),
        "results": items,
        "skipped": bool(items) and all(item.get("skipped") for item in items),
    }
    if failed:
        result["failed"] = True
        result["msg"] = "One or more items failed"
    else:
        result["msg"] = "All items completed"
    if result["skipped"]:
        result["msg"] = "All items skipped"
    if not items:
        result["skipped"] = True
        result["skipped_reason"] = "No items in the list"
    return result


CENSORED = (
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result"
)
_KEPT_WHEN_CENSORED = ("attempts", "changed", "retries", "warnings", "deprecations")
_STATUS_KEYS = ("failed", "skipped", "unreachable", "failed_when_result")


def censor(result: Mapping[str, Any], *, keep_status: bool = False) -> Result:
    """A ``no_log`` result as ansible-core shows it (``censor_result``): only ``attempts``,
    ``changed``, ``retries``, warnings and ``censored``; loop items censored the same way.

    ``keep_status`` also keeps the status keys and playgraph's internal ones, for the
    callers that still decide how to report the result.
    """
    kept = _KEPT_WHEN_CENSORED + (_STATUS_KEYS if keep_status else ())
    out: Result = {k: result[k] for k in kept if k in result}
    if keep_status:
        out.update({k: v for k, v in result.items() if k.startswith(_INTERNAL_PREFIX)})
    out["censored"] = CENSORED
    items = result.get("results")
    if isinstance(items, list):
        out["results"] = [
            censor(item, keep_status=keep_status) if isinstance(item, Mapping) else item
            for item in items
        ]
    return out


def public(result: Mapping[str, Any]) -> Result:
    """The result without playgraph-internal keys."""
    return {k: v for k, v in result.items() if not k.startswith(_INTERNAL_PREFIX)}


# --------------------------------------------------------------------------- stats and document


@dataclass(slots=True)
class HostStats:
    """The recap counters of one host (Ansible's ``stats`` entry)."""

    ok: int = 0
    changed: int = 0
    failures: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "changed": self.changed,
            "failures": self.failures,
            "ignored": self.ignored,
            "ok": self.ok,
            "rescued": self.rescued,
            "skipped": self.skipped,
            "unreachable": self.unreachable,
        }


def count(stats: HostStats, result: Mapping[str, Any], *, ignore_errors: bool) -> None:
    """Add one task result to a host's recap the way Ansible's callbacks count it."""
    if is_unreachable(result):
        if ignore_errors:
            stats.ignored += 1
        else:
            stats.unreachable += 1
        return
    if is_failed(result):
        if ignore_errors:
            stats.ignored += 1
            stats.ok += 1
            if is_changed(result):
                stats.changed += 1
        else:
            stats.failures += 1
        return
    if is_skipped(result):
        stats.skipped += 1
        return
    stats.ok += 1
    if is_changed(result):
        stats.changed += 1


def utc_stamp(moment: datetime.datetime | None = None) -> str:
    moment = moment or datetime.datetime.now(datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(slots=True)
class TaskRecord:
    id: str
    name: str
    path: str
    start: str
    end: str = ""
    hosts: dict[str, Result] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "hosts": self.hosts,
            "task": {
                "duration": {"end": self.end or self.start, "start": self.start},
                "id": self.id,
                "name": self.name,
                "path": self.path,
            },
        }


@dataclass(slots=True)
class PlayRecord:
    id: str
    name: str
    path: str
    start: str
    end: str = ""
    tasks: list[TaskRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "play": {
                "duration": {"end": self.end or self.start, "start": self.start},
                "id": self.id,
                "name": self.name,
                "path": self.path,
            },
            "tasks": [task.to_json() for task in self.tasks],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RunningJob:
    """A job this run started and did not see end: it runs on after an interruption."""

    host: str
    jid: str
    task: str

    def to_json(self) -> dict[str, str]:
        return {"host": self.host, "jid": self.jid, "task": self.task}


@dataclass(frozen=True, slots=True, kw_only=True)
class Interruption:
    """Why and where a run stopped early: the document's top-level ``interrupted`` key."""

    reason: str
    """The signal's name (``SIGINT``, ``SIGTERM``, ``SIGHUP``), or ``cancelled``."""
    unfinished: tuple[tuple[str, str], ...] = ()
    """(host, task name) of the tasks that were stopped before their result."""
    running_jobs: tuple[RunningJob, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "running_jobs": [job.to_json() for job in self.running_jobs],
            "unfinished": [{"host": host, "task": task} for host, task in self.unfinished],
        }


class RunDocument:
    """Builds the ``ansible.posix.json``-shaped document of a run.

    A run stopped by a signal adds one top-level key, ``interrupted`` (`Interruption`),
    which a complete run never has.
    """

    def __init__(self) -> None:
        self.plays: list[PlayRecord] = []
        self.stats: dict[str, HostStats] = {}
        self.custom_stats: dict[str, Any] = {}
        self.interrupted: Interruption | None = None
        self._tasks: dict[str, TaskRecord] = {}

    @staticmethod
    def new_id() -> str:
        return str(uuid.uuid4())

    def start_play(self, name: str, path: str) -> PlayRecord:
        record = PlayRecord(id=self.new_id(), name=name, path=path, start=utc_stamp())
        self.plays.append(record)
        self._tasks = {}
        return record

    def end_play(self) -> None:
        if self.plays:
            self.plays[-1].end = utc_stamp()
        for record in self._tasks.values():
            record.end = record.end or utc_stamp()

    def current_task(self, key: str) -> TaskRecord | None:
        """The record of ``key`` in the current play, if it has one yet (see `task`)."""
        return self._tasks.get(key)

    def task(self, key: str, name: str, path: str) -> TaskRecord:
        """The record of a task in the current play (one per node; loops share it)."""
        record = self._tasks.get(key)
        if record is None:
            record = TaskRecord(id=self.new_id(), name=name, path=path, start=utc_stamp())
            self._tasks[key] = record
            self.plays[-1].tasks.append(record)
        return record

    def again(self, key: str) -> None:
        """The next result for ``key`` starts a new task record (a handler run at a
        later flush is a task of its own in ansible-core's json callback)."""
        record = self._tasks.pop(key, None)
        if record is not None:
            record.end = record.end or utc_stamp()

    def host_stats(self, host: str) -> HostStats:
        if host not in self.stats:
            self.stats[host] = HostStats()
        return self.stats[host]

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "custom_stats": self.custom_stats,
            "global_custom_stats": {},
            "plays": [play.to_json() for play in self.plays],
            "stats": {host: stats.to_json() for host, stats in sorted(self.stats.items())},
        }
        if self.interrupted is not None:
            document["interrupted"] = self.interrupted.to_json()
        return document
