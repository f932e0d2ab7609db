"""The timeline report: one self-contained HTML file from a run's ``--json`` document.

Everything is inline (CSS, a small script, the plan's SVG): the file opens from
a disk, a mail or a CI artifact without a network.  The run's timeline
(``playgraph_timeline``, specs/timeline.md) is embedded as compact JSON and the
script draws the Gantt from it, a lane per host, only for the lanes on screen:
a 1,000-host run stays a few hundred kilobytes instead of an element per tick.
The totals, the tables and the plan picture are written here, so they read
without the script too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from playgraph.compiler.render_svg import picture_from_json, svg_of

from .errors import CliError

TIMELINE_KEY = "playgraph_timeline"
STATUSES = (
    "ok",
    "changed",
    "skipped",
    "failed",
    "timeout",
    "unreachable",
    "ignored",
    "running",
    "stopped",
    "ended",
)
_TOP = 20
"""Rows of the slowest-jobs and hosts tables."""


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _status(value: Any) -> int:
    return STATUSES.index(value) if value in STATUSES else STATUSES.index("running")


def _seconds(value: float) -> str:
    if value >= 100:
        return f"{value:.0f} s"
    if value >= 10:
        return f"{value:.1f} s"
    return f"{value:.2f} s"


def compact(timeline: Mapping[str, Any], stats: Mapping[str, Any]) -> dict[str, Any]:
    """The timeline as arrays the page's script reads: small at 1,000 hosts."""
    tasks = [t for t in timeline.get("tasks", []) if isinstance(t, Mapping)]
    hosts = [str(h) for h in timeline.get("hosts", [])]
    spans = []
    for s in timeline.get("spans", []):
        if not isinstance(s, Mapping):
            continue
        start = _number(s.get("start")) or 0.0
        end = _number(s.get("end"))
        row: list[Any] = [s.get("task", 0), s.get("host", 0), start, end, _status(s.get("status"))]
        if s.get("retries"):
            row.append(s["retries"])
        spans.append(row)
    jobs = []
    for j in timeline.get("jobs", []):
        if not isinstance(j, Mapping):
            continue
        jobs.append(
            [
                j.get("task", 0),
                j.get("host", 0),
                str(j.get("jid", "")),
                _number(j.get("launch")) or 0.0,
                _number(j.get("limit")),
                j.get("poll", 0),
                _number(j.get("end")),
                _status(j.get("status")),
                _number(j.get("killed")),
                list(j.get("polls", []) or []),
                list(j.get("joins", []) or []),
            ]
        )
    return {
        "duration": _number(timeline.get("duration")) or 0.0,
        "interrupted": bool(timeline.get("interrupted")),
        "statuses": list(STATUSES),
        "tasks": [[str(t.get("name", "")), str(t.get("kind", "blocking"))] for t in tasks],
        "hosts": hosts,
        "spans": spans,
        "jobs": jobs,
        "unreachable": sorted(
            h for h, s in stats.items() if isinstance(s, Mapping) and s.get("unreachable")
        ),
    }


# --------------------------------------------------------------------------- tables


def _slowest_jobs(data: Mapping[str, Any]) -> list[list[str]]:
    duration = data["duration"]
    rows = []
    for task, host, jid, launch, limit, _poll, end, status, _killed, polls, joins in data["jobs"]:
        took = (end if end is not None else duration) - launch
        rows.append(
            (
                took,
                [
                    data["hosts"][host] if 0 <= host < len(data["hosts"]) else str(host),
                    data["tasks"][task][0] if 0 <= task < len(data["tasks"]) else str(task),
                    jid,
                    _seconds(took) + ("" if end is not None else " +"),
                    "" if limit is None else _seconds(limit),
                    STATUSES[status],
                    str(len(polls)),
                    str(len(joins)),
                ],
            )
        )
    rows.sort(key=lambda row: -row[0])
    return [row for _, row in rows[:_TOP]]


def _host_totals(data: Mapping[str, Any]) -> list[tuple[str, float, float, int, str]]:
    """(host, first start to last end, busy time, tasks, worst status), longest first."""
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    busy: dict[int, float] = {}
    count: dict[int, int] = {}
    worst: dict[int, int] = {}
    for span in data["spans"]:
        host, start, end, status = span[1:5]
        end = end if end is not None else data["duration"]
        first[host] = min(first.get(host, start), start)
        last[host] = max(last.get(host, end), end)
        busy[host] = busy.get(host, 0.0) + (end - start)
        count[host] = count.get(host, 0) + 1
        worst[host] = max(worst.get(host, 0), _SEVERITY[STATUSES[status]])
    for job in data["jobs"]:
        host, launch, end = job[1], job[3], job[6]
        end = end if end is not None else data["duration"]
        last[host] = max(last.get(host, end), end)
        first.setdefault(host, launch)
    rows = [
        (
            data["hosts"][host] if 0 <= host < len(data["hosts"]) else str(host),
            last[host] - first[host],
            busy.get(host, 0.0),
            count.get(host, 0),
            _WORST[worst.get(host, 0)],
        )
        for host in first
    ]
    rows.sort(key=lambda row: -row[1])
    return rows


_SEVERITY = {
    "skipped": 0,
    "ok": 1,
    "ended": 1,
    "changed": 2,
    "ignored": 3,
    "running": 4,
    "stopped": 5,
    "timeout": 6,
    "failed": 7,
    "unreachable": 8,
}
_WORST = {value: key for key, value in _SEVERITY.items() if key not in ("ended",)}


def _peak_jobs(data: Mapping[str, Any]) -> int:
    moments: list[tuple[float, int]] = []
    for job in data["jobs"]:
        moments.append((job[3], 1))
        moments.append((job[6] if job[6] is not None else data["duration"], -1))
    peak = running = 0
    for _, step in sorted(moments):
        running += step
        peak = max(peak, running)
    return peak


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], css: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


# --------------------------------------------------------------------------- the page


def render_report(document: Mapping[str, Any], *, title: str = "playgraph run") -> str:
    """The page; a document without a timeline is a `CliError` (exit 1)."""
    timeline = document.get(TIMELINE_KEY)
    if not isinstance(timeline, Mapping):
        raise CliError.setup(
            f"the document has no {TIMELINE_KEY} key: make it with `playgraph run --json` "
            "or `playgraph adhoc --json`"
        )
    stats = document.get("stats")
    stats = stats if isinstance(stats, Mapping) else {}
    data = compact(timeline, stats)
    hosts = _host_totals(data)
    statuses = [STATUSES[s[4]] for s in data["spans"]]
    job_statuses = [STATUSES[j[7]] for j in data["jobs"]]
    totals = [
        ("wall time", _seconds(data["duration"])),
        ("hosts", str(len(data["hosts"]))),
        ("tasks", str(len(data["tasks"]))),
        ("task runs", str(len(data["spans"]))),
        ("jobs", str(len(data["jobs"]))),
        ("peak jobs at once", str(_peak_jobs(data))),
        ("polls", str(sum(len(j[9]) for j in data["jobs"]))),
        ("join attempts", str(sum(len(j[10]) for j in data["jobs"]))),
        ("failed", str(statuses.count("failed"))),
        ("timed out", str(statuses.count("timeout") + job_statuses.count("timeout"))),
        ("unreachable", str(statuses.count("unreachable"))),
        ("jobs still running at the end", str(job_statuses.count("running"))),
    ]
    if data["interrupted"]:
        totals.append(("interrupted", "yes"))
    plan = picture_from_json(timeline.get("plan"))
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    started = escape(str(timeline.get("started", "")))
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{escape(title)}</h1><p>started {started} (UTC)</p></header>",
        '<section id="totals"><h2>Totals</h2><dl class="totals">',
        "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in totals),
        "</dl></section>",
        '<section id="gantt"><h2>Timeline</h2>',
        '<div class="controls"><label>hosts <input id="pg-search" type="search" '
        'placeholder="filter hosts (text or /regex/)"></label> '
        '<label>group by <select id="pg-group"><option value="status">outcome</option>'
        '<option value="task">slowest task</option><option value="none">nothing</option>'
        '</select></label> <span id="pg-shown"></span></div>',
        _LEGEND,
        '<svg width="0" height="0" style="position:absolute"><defs>'
        '<pattern id="pg-running" width="6" height="6" patternUnits="userSpaceOnUse">'
        '<rect width="6" height="6" fill="#3d6fb4" fill-opacity="0.25"/>'
        '<path d="M0,6 L6,0" stroke="#3d6fb4"/></pattern></defs></svg>'
        '<div id="pg-lanes"></div></section>',
        '<section id="tables"><div><h2>Slowest jobs</h2>',
        _table(
            ("host", "task", "jid", "took", "limit", "status", "polls", "joins"),
            _slowest_jobs(data),
            "slowest-jobs",
        ),
        "</div><div><h2>Hosts by total time</h2>",
        _table(
            ("host", "first start to last end", "busy", "tasks", "worst"),
            [(h, _seconds(total), _seconds(b), str(n), w) for h, total, b, n, w in hosts[:_TOP]],
            "host-times",
        ),
        "</div></section>",
        '<section id="plan"><h2>Plan</h2>',
        svg_of(plan) if plan else "<p>(the document has no plan)</p>",
        "</section>",
        f'<script type="application/json" id="pg-data">{payload}</script>',
        f"<script>{_SCRIPT}</script></body></html>\n",
    ]
    return "".join(parts)


_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:0 18px 30px;color:#222;font-size:13px}
h1{font-size:20px;margin:14px 0 2px}h2{font-size:15px;margin:18px 0 6px}
header p{margin:0;color:#666}
dl.totals{display:flex;flex-wrap:wrap;gap:6px;margin:0}
dl.totals div{border:1px solid #ddd;border-radius:4px;padding:4px 10px;background:#fafafa}
dt{font-size:11px;color:#666}dd{margin:0;font-weight:bold;font-size:15px}
.controls{margin-bottom:6px}.controls input{width:260px}
.legend span{display:inline-block;margin-right:10px;font-size:11px}
.legend i{display:inline-block;width:14px;height:9px;margin-right:3px;vertical-align:middle}
details.group{margin:4px 0;border-top:1px solid #eee}
details.group summary{cursor:pointer;font-weight:bold;padding:3px 0}
svg.lanes text{font-size:11px;fill:#333}
.bar{stroke:#00000040;stroke-width:.5}
.kind-blocking{fill:#b9c4cf}.kind-polled{fill:#f3c969}.kind-detached{fill:#8fb5e6}.kind-join{fill:#9fd39f}
.bar.st-changed{fill-opacity:.95}.bar.st-skipped{fill:#e4e4e4}
.bar.st-failed,.job.st-failed{fill:#d9534f}.bar.st-timeout,.job.st-timeout{fill:#e67e22}
.bar.st-unreachable{fill:#8e44ad}.bar.st-ignored{fill:#f5b7b1}.bar.st-stopped{fill:#999}
.job{fill:#3d6fb4;fill-opacity:.55}.job.st-running{fill:url(#pg-running)}
.limit{stroke:#c0392b;stroke-width:1.5}.limit.beyond{fill:#c0392b;stroke:none}
.tick.poll{stroke:#6b4f00;stroke-width:1}.tick.join{stroke:#1e7b1e;stroke-width:1.5}
.tick.retry{stroke:#555;stroke-width:1}
.kill{fill:#c0392b}
.axis line{stroke:#ccc}.axis text{fill:#777;font-size:10px}
.lane-bg{fill:#f7f7f7}
button.more{margin:4px 0 4px 170px}
#tables{display:flex;flex-wrap:wrap;gap:30px}
table{border-collapse:collapse;font-size:12px}
th,td{border-bottom:1px solid #e5e5e5;padding:3px 8px;text-align:left}
th{background:#f2f2f2}
#plan svg{max-width:100%;height:auto}
"""

_LEGEND = (
    '<p class="legend">'
    '<span><i class="kind-blocking" style="background:#b9c4cf"></i>blocking task</span>'
    '<span><i style="background:#f3c969"></i>polled task</span>'
    '<span><i style="background:#8fb5e6"></i>detached launch</span>'
    '<span><i style="background:#9fd39f"></i>join</span>'
    '<span><i style="background:#3d6fb4;opacity:.55"></i>job (launch to end)</span>'
    '<span><i style="background:#d9534f"></i>failed</span>'
    '<span><i style="background:#e67e22"></i>timed out</span>'
    '<span><i style="background:#8e44ad"></i>unreachable</span>'
    '<span><i style="background:#c0392b;width:2px"></i>job limit</span>'
    '<span><i style="background:#6b4f00;width:1px"></i>poll</span>'
    '<span><i style="background:#1e7b1e;width:2px"></i>join attempt</span>'
    '<span><i style="background:#c0392b;width:8px;height:8px;border-radius:4px"></i>killed</span>'
    "</p>"
)

# The Gantt: lanes are drawn per group, PAGE at a time, so a 1,000-host run opens fast.
_SCRIPT = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("pg-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var S = D.statuses, LABEL = 170, LANE = 20, PAGE = 100, AXIS = 22;
  var SEVERITY = {skipped: 0, ok: 1, ended: 1, changed: 2, ignored: 3, running: 4,
                  stopped: 5, timeout: 6, failed: 7, unreachable: 8};
  var byHost = D.hosts.map(function () { return {spans: [], jobs: [], worst: "skipped", slow: -1, slowTime: -1}; });
  var end = D.duration;
  D.spans.forEach(function (s) {
    var h = byHost[s[1]]; if (!h) { return; }
    h.spans.push(s);
    var st = S[s[4]];
    if (SEVERITY[st] > SEVERITY[h.worst]) { h.worst = st; }
    var took = (s[3] === null ? D.duration : s[3]) - s[2];
    if (took > h.slowTime) { h.slowTime = took; h.slow = s[0]; }
    if (s[3] !== null && s[3] > end) { end = s[3]; }
  });
  D.jobs.forEach(function (j) {
    var h = byHost[j[1]]; if (!h) { return; }
    h.jobs.push(j);
    var st = S[j[7]];
    if ((st === "timeout" || st === "failed") && SEVERITY[st] > SEVERITY[h.worst]) { h.worst = st; }
    if (j[6] !== null && j[6] > end) { end = j[6]; }
  });
  D.unreachable.forEach(function (name) {
    var i = D.hosts.indexOf(name); if (i >= 0) { byHost[i].worst = "unreachable"; }
  });
  if (!(end > 0)) { end = 1; }
  var root = document.getElementById("pg-lanes");
  var search = document.getElementById("pg-search");
  var groupBy = document.getElementById("pg-group");
  var shown = document.getElementById("pg-shown");

  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) { if (Object.prototype.hasOwnProperty.call(attrs, k)) { e.setAttribute(k, attrs[k]); } }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function title(e, text) { el("title", {}, e).textContent = text; }
  function fmt(t) { return t >= 100 ? t.toFixed(0) + "s" : t >= 10 ? t.toFixed(1) + "s" : t.toFixed(2) + "s"; }
  function width() { return Math.max(300, root.clientWidth - LABEL - 20); }
  function step(span) {
    var nice = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600];
    for (var i = 0; i < nice.length; i++) { if (span / nice[i] <= 10) { return nice[i]; } }
    return Math.ceil(span / 10);
  }
  function axis(svg, x) {
    var g = el("g", {"class": "axis"}, svg), dt = step(end);
    for (var t = 0; t <= end + 1e-9; t += dt) {
      el("line", {x1: x(t), x2: x(t), y1: AXIS - 6, y2: "100%"}, g);
      el("text", {x: x(t) + 2, y: AXIS - 9}, g).textContent = fmt(t);
    }
  }
  function tick(parent, cls, x, y, h, text) {
    var t = el("line", {"class": "tick " + cls, x1: x, x2: x, y1: y, y2: y + h}, parent);
    title(t, text);
  }
  function lane(svg, index, y, x) {
    var h = byHost[index], name = D.hosts[index];
    el("rect", {"class": "lane-bg", x: LABEL, y: y + 1, width: width(), height: LANE - 2}, svg);
    var label = el("text", {"class": "host", x: 4, y: y + 14}, svg);
    label.textContent = name.length > 26 ? name.slice(0, 25) + "\u2026" : name;
    title(label, name + " (" + h.worst + ")");
    h.spans.forEach(function (s) {
      var task = D.tasks[s[0]] || ["?", "blocking"], stop = s[3] === null ? end : s[3];
      var r = el("rect", {"class": "bar kind-" + task[1] + " st-" + S[s[4]], x: x(s[2]), y: y + 2,
        width: Math.max(1.5, x(stop) - x(s[2])), height: 10}, svg);
      title(r, name + " \u2014 " + task[0] + " [" + task[1] + "] " + S[s[4]] + ": " + fmt(s[2]) + " \u2192 " + fmt(stop) + " (" + fmt(stop - s[2]) + ")");
      (s[5] || []).forEach(function (t) { tick(svg, "retry", x(t), y + 1, 12, "retry at " + fmt(t)); });
    });
    h.jobs.forEach(function (j) {
      var task = D.tasks[j[0]] || ["?", "blocking"], stop = j[6] === null ? end : j[6], st = S[j[7]];
      var r = el("rect", {"class": "job st-" + st, x: x(j[3]), y: y + 13, width: Math.max(1.5, x(stop) - x(j[3])), height: 5}, svg);
      title(r, "job " + j[2] + " of " + task[0] + " on " + name + ": " + st + ", " + fmt(j[3]) + " \u2192 " +
        (j[6] === null ? "still running" : fmt(stop)) + (j[4] === null ? "" : ", limit " + fmt(j[4])));
      if (j[4] !== null && j[3] + j[4] <= end) {
        var l = el("line", {"class": "limit", x1: x(j[3] + j[4]), x2: x(j[3] + j[4]), y1: y + 1, y2: y + LANE - 1}, svg);
        title(l, "limit of job " + j[2] + ": " + fmt(j[3] + j[4]));
      } else if (j[4] !== null) {
        // Past the run's end: an arrow at the lane's end says where the limit is.
        var e = x(end) + 1;
        var a = el("path", {"class": "limit beyond", d: "M" + e + "," + (y + 12) + " l6,3 l-6,3 z"}, svg);
        title(a, "limit of job " + j[2] + ": " + fmt(j[3] + j[4]) + ", after the run's end");
      }
      j[9].forEach(function (t) { tick(svg, "poll", x(t), y + 12, 7, "poll at " + fmt(t)); });
      j[10].forEach(function (t) { tick(svg, "join", x(t), y + 1, 18, "join attempt at " + fmt(t)); });
      if (j[8] !== null) {
        var k = el("circle", {"class": "kill", cx: x(Math.min(j[8], end)), cy: y + 15, r: 3.5}, svg);
        title(k, "killed at its limit: " + fmt(j[8]));
      }
    });
  }
  function drawGroup(body, members) {
    var done = 0, W = width();
    function x(t) { return LABEL + (t / end) * W; }
    function more() {
      var count = Math.min(PAGE, members.length - done);
      var svg = el("svg", {"class": "lanes", width: LABEL + W + 10, height: AXIS + count * LANE});
      axis(svg, x);
      for (var i = 0; i < count; i++) { lane(svg, members[done + i], AXIS + i * LANE, x); }
      body.insertBefore(svg, button);
      done += count;
      if (done >= members.length) { button.remove(); } else { button.textContent = "show " + Math.min(PAGE, members.length - done) + " more of " + (members.length - done); }
    }
    var button = document.createElement("button");
    button.className = "more";
    button.addEventListener("click", more);
    body.appendChild(button);
    more();
  }
  function matcher() {
    var text = search.value.trim();
    if (!text) { return function () { return true; }; }
    if (text.length > 2 && text[0] === "/" && text[text.length - 1] === "/") {
      try { var re = new RegExp(text.slice(1, -1)); return function (n) { return re.test(n); }; } catch (e) { /* as text */ }
    }
    return function (n) { return n.indexOf(text) >= 0; };
  }
  function render() {
    root.textContent = "";
    var keep = matcher(), groups = {}, order = [], how = groupBy.value, count = 0;
    D.hosts.forEach(function (name, i) {
      if (!keep(name)) { return; }
      count++;
      var h = byHost[i], key = how === "status" ? h.worst : how === "task" ? (D.tasks[h.slow] || ["(none)"])[0] : "all hosts";
      if (!groups[key]) { groups[key] = []; order.push(key); }
      groups[key].push(i);
    });
    if (how === "status") { order.sort(function (a, b) { return SEVERITY[b] - SEVERITY[a]; }); }
    order.forEach(function (key) {
      var members = groups[key];
      members.sort(function (a, b) { return byHost[b].slowTime - byHost[a].slowTime; });
      var d = document.createElement("details");
      d.className = "group"; d.open = true; d.setAttribute("data-group", key);
      var s = document.createElement("summary");
      s.textContent = key + " \u2014 " + members.length + (members.length === 1 ? " host" : " hosts");
      d.appendChild(s);
      root.appendChild(d);
      drawGroup(d, members);
    });
    shown.textContent = count + " of " + D.hosts.length + " hosts";
  }
  var pending = null;
  search.addEventListener("input", function () { clearTimeout(pending); pending = setTimeout(render, 150); });
  groupBy.addEventListener("change", render);
  render();
}());
"""


__all__ = ["STATUSES", "TIMELINE_KEY", "compact", "render_report"]
