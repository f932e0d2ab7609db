"""The one normaliser of the differential tests: what legitimately differs between two runs.

ansible-core (with ``ANSIBLE_STDOUT_CALLBACK=ansible.posix.json``) and ``playgraph run --json``
print documents of the same shape (``plays[].tasks[].hosts{}``, ``stats{}``).  Two runs of the
same playbook — even two runs of the same tool — differ in things that carry no meaning, so
`normalise` reduces a document to rows that must be equal:

* **task identity** — a task is ``(play index, task name, line of the task in the file)``.
  Task and play ``id``s (uuids), ``duration`` timestamps and the file's absolute path differ
  per run.  Under ``strategy: free`` the json callback writes one task entry per host (it
  keys entries by host and task), under ``linear`` one per task: entries with the same
  identity are merged by host, so the grouping does not matter.  Hosts are compared as
  dicts, so the order in which hosts finished does not matter either.
* **compared fields** (`FIELDS`) — ``failed``, ``changed``, ``rc``, ``stdout``,
  ``finished``, ``started``, ``attempts``, ``skipped``, ``unreachable``, ``msg``, and whether
  the result carries an ``ansible_job_id``.  Everything else is left out: job ids (random),
  ``results_file`` and ``erased`` (paths in each run's async dir), ``start``/``end``/``delta``
  (clock), ``invocation`` and ``_ansible_*`` (module-internal), ``stdout_lines`` and
  ``stderr_lines`` (derived from the compared ``stdout``), ``cmd``, ``stderr``.
* **booleans** — ansible-core 2.19 writes ``started``/``finished`` as booleans, older
  releases and async_status's module as 0/1; a missing ``failed``/``changed``/``skipped``/
  ``unreachable`` means false (the json callback adds ``failed``/``skipped`` only to failed
  and skipped results).
* **paths and job ids** — each run has its own work and async directories, and job ids are
  random: in every compared string (``stdout``, ``msg``, loop items) the run's own directory
  becomes ``<home>`` and a job id ``<jid>``.
* **messages** — only the first line of ``msg`` is compared, with the "The error appears to
  be in ..." context (which names each run's own temporary paths) removed.
* **loops** — each item of ``results`` is reduced the same way, plus its loop variable's
  value (itself reduced when it is a registered result, e.g. a launch record).
* **the recap** — ``stats`` is compared as a whole; ``custom_stats`` too.

A corpus file that tests modules says ``# compare: all``: every key of each result is
compared (the module's own JSON: ``diff``, ``invocation``, ``warnings``, its return values),
except `VOLATILE` — per-run values that carry no meaning — and the case's
``ignore-fields``, dotted keys whose value depends on the machine's state at the moment
of the run (each corpus file says why).  ``run_id`` (a name unique to each tool's run,
for users and groups) reads ``<run>`` in every compared string.

Two per-task relaxations, named in a corpus file's header (see `harness.read_header`), for
what depends on the clock rather than on semantics:

* ``outcome-only`` tasks compare only `OUTCOME_FIELDS` (``failed``, ``changed``,
  ``skipped``, ``unreachable``).  For polled timeouts: playgraph's limit is exact, while
  ansible-core's controller gives up after ``async`` seconds of polling and its remote
  watchdog kills the job 5-10 s later, so whether ansible-core reports "async task did not
  complete within the requested time" or the watchdog's "Timeout exceeded" record (with
  ``finished``, a jid and ``stdout``) depends on the machine's load.
* ``attempts-vary`` tasks do not compare ``attempts``: how many times a join polls a job
  that is still running depends on how fast each tool launched the job and reached the join
  (ansible-core usually arrives after a short job ended; playgraph usually before).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

FIELDS = (
    "failed",
    "changed",
    "rc",
    "stdout",
    "finished",
    "started",
    "attempts",
    "skipped",
    "unreachable",
    "msg",
)
"""The result keys compared per task and host (see the module docstring)."""

VOLATILE = frozenset(
    {
        # The job's id and its file in each run's async dir (random; kept as has_job_id).
        "ansible_job_id",
        "results_file",
        # The clock.
        "start",
        "end",
        "delta",
        # The pid of ansible-core's async wrapper, in a polled result of a job it ran.
        "child_pid",
        # The json callback's echo of the task's action: the task, not the module's result.
        "action",
    }
)
"""Keys never compared under ``compare: all`` (``_ansible_*`` keys neither: internal flags)."""

OUTCOME_FIELDS = ("failed", "changed", "skipped", "unreachable")
"""What an ``outcome-only`` task compares."""

_FALSE_WHEN_ABSENT = ("failed", "changed", "skipped", "unreachable")
_BOOLEANS = ("failed", "changed", "finished", "started", "skipped", "unreachable")
_JID = re.compile(r"\bj\d+\.\d+\b")
_CONTEXT = re.compile(r"\s*The error appears to be in .*", re.DOTALL)

Row = tuple[int, str, str, int]
"""(play index, task identity, host, occurrence) — a task can run twice on a host in a play."""


def _message(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = _CONTEXT.sub("", value).strip()
    return text.splitlines()[0] if text else text


def project(result: Mapping[str, Any], *, compare_all: bool = False) -> dict[str, Any]:
    """The compared view of one result (a task's or a loop item's)."""
    out: dict[str, Any] = {}
    keys: Collection[str] = FIELDS
    if compare_all:
        keys = [k for k in result if k not in VOLATILE and not k.startswith("_ansible_")]
        keys += [k for k in _FALSE_WHEN_ABSENT if k not in result]
    for key in keys:
        if key in result:
            value = result[key]
            if key in _BOOLEANS and isinstance(value, int | bool):
                value = bool(value)
            if key == "msg":
                value = _message(value)
            out[key] = value
        elif key in _FALSE_WHEN_ABSENT:
            out[key] = False
    out["has_job_id"] = "ansible_job_id" in result
    items = result.get("results")
    if isinstance(items, list):
        out["results"] = [_project_item(item, compare_all=compare_all) for item in items]
    return out


def _project_item(item: Any, *, compare_all: bool = False) -> Any:
    if not isinstance(item, Mapping):
        return item
    out = project(item, compare_all=compare_all)
    var = item.get("ansible_loop_var", "item")
    if var in item:
        value = item[var]
        out["item"] = project(value) if isinstance(value, Mapping) else value
    return out


def _drop(view: dict[str, Any], dotted: str) -> None:
    """Remove the (dotted) key ``dotted`` from ``view`` and from each of its loop items."""
    head, _, rest = dotted.partition(".")
    if rest:
        inner = view.get(head)
        if isinstance(inner, dict):
            _drop(inner, rest)
    else:
        view.pop(head, None)
    for item in view.get("results", []) if isinstance(view.get("results"), list) else []:
        if isinstance(item, dict):
            _drop(item, dotted)


def task_identity(entry: Mapping[str, Any]) -> str:
    """``name @line``: the task's name and the line its entry starts at."""
    task = entry.get("task", {})
    path = str(task.get("path", ""))
    line = path.rsplit(":", 1)[-1] if ":" in path else "?"
    return f"{task.get('name', '')} @{line}"


def _scrub(value: Any, home: str | None, names: Mapping[str, str] | None = None) -> Any:
    """Job ids become ``<jid>``, the run's own directory ``<home>`` and each of ``names``
    what it maps to, in every string (dict keys included)."""
    if isinstance(value, str):
        value = _JID.sub("<jid>", value)
        value = value.replace(home, "<home>") if home else value
        for name, shown in (names or {}).items():
            value = value.replace(name, shown)
        return value
    if isinstance(value, list):
        return [_scrub(v, home, names) for v in value]
    if isinstance(value, dict):
        return {_scrub(k, home, names): _scrub(v, home, names) for k, v in value.items()}
    return value


def _relax(view: dict[str, Any], *, outcome_only: bool, attempts_vary: bool) -> dict[str, Any]:
    if outcome_only:
        view = {k: v for k, v in view.items() if k in OUTCOME_FIELDS}
    if attempts_vary:
        view.pop("attempts", None)
        for item in view.get("results", []):
            if isinstance(item, dict):
                item.pop("attempts", None)
    return view


def normalise(
    document: Mapping[str, Any],
    *,
    outcome_only: Collection[str] = (),
    attempts_vary: Collection[str] = (),
    home: str | None = None,
    compare_all: bool = False,
    ignore_fields: Collection[str] = (),
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``{"rows": {row: projection}, "stats": ..., "custom_stats": ...}``.

    ``outcome_only`` and ``attempts_vary`` name tasks (by name) relaxed as the module
    docstring says; ``home`` is the run's own directory (replaced by ``<home>``);
    ``compare_all`` and ``ignore_fields`` are the case's header (see the module docstring);
    ``names`` maps run-specific strings to what they read (``run_id`` to ``<run>``).
    """
    rows: dict[str, dict[str, Any]] = {}
    for play_index, play in enumerate(document.get("plays", [])):
        seen: dict[tuple[str, str], int] = {}
        for entry in play.get("tasks", []):
            identity = task_identity(entry)
            for host, result in sorted(entry.get("hosts", {}).items()):
                # An entry holds a host at most once (free: one entry per host and task;
                # linear: one per task), so a second entry for the same task and host
                # means the task really ran twice there (an include, a handler).
                key = (identity, host)
                occurrence = seen.get(key, 0)
                seen[key] = occurrence + 1
                name = str(entry.get("task", {}).get("name", ""))
                view = _scrub(project(result, compare_all=compare_all), home, names)
                for dotted in ignore_fields:
                    _drop(view, dotted)
                rows[f"play {play_index} | {identity} | {host} | #{occurrence}"] = _relax(
                    view,
                    outcome_only=name in outcome_only,
                    attempts_vary=name in attempts_vary,
                )
    return {
        "rows": rows,
        "stats": document.get("stats", {}),
        "custom_stats": document.get("custom_stats", {}),
    }


Difference = tuple[str, str, Any, Any]


def differences(oracle: Mapping[str, Any], ours: Mapping[str, Any]) -> list[Difference]:
    """``(row, field, oracle value, playgraph value)`` for every difference of two normalised runs.

    A row present on one side only is reported with field ``<row>``; a differing recap as
    ``stats``/``<host>``.
    """
    found: list[Difference] = []
    rows_a, rows_b = oracle["rows"], ours["rows"]
    for row in sorted(set(rows_a) | set(rows_b)):
        if row not in rows_b:
            found.append((row, "<row>", "present", "missing"))
            continue
        if row not in rows_a:
            found.append((row, "<row>", "missing", "present"))
            continue
        a, b = rows_a[row], rows_b[row]
        for field in sorted(set(a) | set(b)):
            if a.get(field, "<absent>") != b.get(field, "<absent>"):
                found.append((row, field, a.get(field, "<absent>"), b.get(field, "<absent>")))
    for host in sorted(set(oracle["stats"]) | set(ours["stats"])):
        if oracle["stats"].get(host) != ours["stats"].get(host):
            found.append(("stats", host, oracle["stats"].get(host), ours["stats"].get(host)))
    if oracle["custom_stats"] != ours["custom_stats"]:
        found.append(("custom_stats", "", oracle["custom_stats"], ours["custom_stats"]))
    return found
