"""The timeline report and the plan picture, opened in a real headless Chromium.

A known run (blocking, polled, timed-out, detached and joined jobs, a failure) is
made with ``playgraph run --json --report``; the page must render without a
console message and hold a bar per task run and per job, a tick per poll and
join attempt, a limit mark per job, a kill mark for the job stopped at its limit,
and the plan's seq and sync edges.  Chromium is Debian's ``chromium`` (CI
installs it); it is driven with ``--dump-dom`` (the DOM after the page's script
ran) and ``--enable-logging=stderr``, where every console message is a
``CONSOLE`` line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from playgraph.cli.html_report import render_report
from tests.runtime.conftest import stop_supervisor

ROOT = Path(__file__).resolve().parent.parent
BROWSER_DEADLINE = 90.0


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Debian's chromium is needed (apt-get install chromium; scripts/test installs it)"
    return found


def open_in_browser(
    page: Path, tmp_path: Path, *, width: int = 1200, height: int = 900
) -> tuple[str, list[str]]:
    """The DOM of ``page`` after its scripts ran, and the console messages it logged."""
    profile = tmp_path / f"chromium-profile-{page.stem}"
    done = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=2000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=BROWSER_DEADLINE,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


class _Classes(HTMLParser):
    """Counts elements by tag and class (``rect.bar``, ``line.tick``...)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        self.counts[tag] += 1
        for name in classes:
            self.counts[f"{tag}.{name}"] += 1
        if len(classes) > 1:
            self.counts[f"{tag}." + ".".join(classes)] += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def classes_in(dom: str) -> tuple[Counter[str], str]:
    parser = _Classes()
    parser.feed(dom)
    return parser.counts, " ".join(parser.text)


INVENTORY = """\
[hosts]
h1 ansible_connection=local
h2 ansible_connection=local
h3 ansible_connection=local

[hosts:vars]
ansible_python_interpreter={python}
"""

PLAYBOOK = """\
- name: report run
  hosts: all
  gather_facts: false
  tasks:
    - name: quick
      ansible.builtin.command:
        cmd: "true"

    - name: polled job
      ansible.builtin.command:
        cmd: sleep 1.3
      async: 20
      poll: 1

    - name: polled past its limit
      ansible.builtin.command:
        cmd: sleep 10
      async: 1
      poll: 1
      when: inventory_hostname == 'h1'
      ignore_errors: true

    - name: detached job
      ansible.builtin.command:
        cmd: sleep 1
      async: 20
      poll: 0
      register: slow

    - name: join it
      ansible.builtin.async_status:
        jid: "{{ slow.ansible_job_id }}"
      register: seen
      until: seen is finished
      retries: 20
      delay: 0.4

    - name: fail on h2
      ansible.builtin.command:
        cmd: "false"
      when: inventory_hostname == 'h2'
"""


def run_cli(*argv: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PLAYGRAPH_NO_CACHE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "playgraph", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def known_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The known run's folder (``run.json``, ``run.html``) and its document."""
    folder = tmp_path_factory.mktemp("report-run")
    (folder / "hosts.ini").write_text(INVENTORY.format(python=sys.executable))
    (folder / "play.yml").write_text(PLAYBOOK)
    (folder / "async").mkdir()
    done = run_cli(
        "run",
        "-i",
        "hosts.ini",
        "play.yml",
        "-e",
        f"ansible_async_dir={folder / 'async'}",
        "--json",
        "--report",
        "run.html",
        cwd=folder,
    )
    stop_supervisor(folder / "async")
    assert done.returncode == 2, done.stderr  # h2 failed
    (folder / "run.json").write_text(done.stdout)
    return folder, json.loads(done.stdout)


@pytest.mark.e2e
def test_the_document_records_every_launch_poll_join_end_and_kill(
    known_run: tuple[Path, dict[str, Any]],
) -> None:
    _, document = known_run
    timeline = document["playgraph_timeline"]
    assert timeline["version"] == 1
    assert timeline["hosts"] == ["h1", "h2", "h3"]
    names = [task["name"] for task in timeline["tasks"]]
    assert names == [
        "quick",
        "polled job",
        "polled past its limit",
        "detached job",
        "join it",
        "fail on h2",
    ]
    assert [t["kind"] for t in timeline["tasks"]] == [
        "blocking",
        "polled",
        "polled",
        "detached",
        "join",
        "blocking",
    ]
    # Every task ran (or was skipped) on every host: 6 x 3.
    assert len(timeline["spans"]) == 18
    for span in timeline["spans"]:
        assert 0 <= span["start"] <= span["end"] <= timeline["duration"]
    by = {(names[s["task"]], timeline["hosts"][s["host"]]): s for s in timeline["spans"]}
    assert by[("fail on h2", "h2")]["status"] == "failed"
    assert by[("fail on h2", "h1")]["status"] == "skipped"
    assert by[("polled past its limit", "h1")]["status"] == "ignored"
    jobs = {(names[j["task"]], timeline["hosts"][j["host"]]): j for j in timeline["jobs"]}
    assert len(timeline["jobs"]) == 7  # 3 polled, 1 past its limit, 3 detached
    timed_out = jobs[("polled past its limit", "h1")]
    assert timed_out["status"] == "timeout"
    assert timed_out["killed"] == pytest.approx(timed_out["launch"] + 1, abs=0.01)
    for host in ("h1", "h2", "h3"):
        polled = jobs[("polled job", host)]
        assert polled["limit"] == 20 and polled["poll"] == 1
        assert len(polled["polls"]) >= 1  # a 1.3 s job outlives the first 1 s wait
        assert polled["launch"] < polled["polls"][0] < polled["end"]
        detached = jobs[("detached job", host)]
        assert detached["status"] == "changed" and detached["end"] is not None
        assert detached["joins"], detached  # at least the attempt that saw it finished
        assert detached["joins"][-1] == detached["end"]
        assert detached["launch"] < detached["end"]


@pytest.mark.e2e
def test_the_report_renders_bars_ticks_and_edges_in_chromium(
    known_run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    folder, document = known_run
    timeline = document["playgraph_timeline"]
    page = folder / "run.html"
    text = page.read_text()
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in text
    dom, console = open_in_browser(page, tmp_path)
    assert console == [], console
    counts, words = classes_in(dom)
    jobs = timeline["jobs"]
    assert counts["rect.bar"] == len(timeline["spans"]) == 18
    assert counts["rect.job"] == len(jobs) == 7
    assert counts["line.tick.poll"] == sum(len(j["polls"]) for j in jobs) >= 3
    assert counts["line.tick.join"] == sum(len(j["joins"]) for j in jobs) >= 3
    # Every job's limit is marked: inside the run, or an arrow past its end.
    assert counts["line.limit"] + counts["path.limit"] == 7
    assert counts["line.limit"] >= 1  # the 1 s limit is inside the run
    assert counts["circle.kill"] == 1
    assert counts["rect.bar.kind-polled.st-ignored"] == 1
    assert counts["rect.bar.kind-blocking.st-failed"] == 1
    # Lanes grouped by outcome, the worst first.
    groups = re.findall(r'data-group="([^"]+)"', dom)
    assert groups[0] == "failed", groups
    assert "3 of 3 hosts" in words
    # The plan: a node per task, five seq edges and the join's sync edge.
    assert counts["g.node"] == 6
    assert counts["path.edge-seq"] == 5
    assert counts["path.edge-sync"] == 1
    # The tables: the slowest jobs (all 7) and the hosts.
    assert dom.count("<tr>") >= 7 + 3


@pytest.mark.e2e
def test_playgraph_report_draws_a_saved_document(
    known_run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    folder, _ = known_run
    done = run_cli(
        "report", str(folder / "run.json"), "-o", str(tmp_path / "again.html"), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    dom, console = open_in_browser(tmp_path / "again.html", tmp_path)
    assert console == []
    counts, _ = classes_in(dom)
    assert counts["rect.bar"] == 18 and counts["rect.job"] == 7


def test_a_document_without_a_timeline_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "old.json").write_text(json.dumps({"plays": [], "stats": {}}))
    done = run_cli("report", "old.json", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "playgraph: error: old.json: the document has no playgraph_timeline key: make it "
        "with `playgraph run --json` or `playgraph adhoc --json`"
    ]
    (tmp_path / "bad.json").write_text("not json")
    done = run_cli("report", "bad.json", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("playgraph: error: bad.json: not a JSON document")


def _thousand_hosts() -> dict[str, Any]:
    """A 1,000-host fan-out's document as the recorder writes it (detached job, a quick
    task, a join that tries a few times), a few hosts failing."""
    hosts = [f"web{n:04d}.example.internal" for n in range(1000)]
    spans, jobs = [], []
    for index in range(len(hosts)):
        start = index * 0.004
        spans.append(
            {"task": 0, "host": index, "start": start, "end": start + 0.05, "status": "changed"}
        )
        spans.append(
            {"task": 1, "host": index, "start": start + 0.05, "end": start + 0.06, "status": "ok"}
        )
        end = start + 2.0 + (index % 7) * 0.3
        failed = index % 97 == 0
        spans.append(
            {
                "task": 2,
                "host": index,
                "start": start + 0.06,
                "end": end,
                "status": "failed" if failed else "changed",
                "retries": [start + 0.5 + k for k in range(int(end - start))],
            }
        )
        jobs.append(
            {
                "task": 0,
                "host": index,
                "jid": f"j{index:012d}.4242",
                "launch": start + 0.05,
                "limit": 30,
                "poll": 0,
                "end": end,
                "status": "failed" if failed else "changed",
                "killed": None,
                "polls": [],
                "joins": [start + 0.5 + k for k in range(int(end - start) + 1)],
            }
        )
    return {
        "plays": [],
        "stats": {h: {"ok": 3, "changed": 2, "failures": 0, "unreachable": 0} for h in hosts},
        "playgraph_timeline": {
            "version": 1,
            "started": "2026-01-01T00:00:00.000000Z",
            "duration": 8.0,
            "interrupted": False,
            "plays": [{"name": "fan-out", "start": 0, "end": 8.0}],
            "tasks": [
                {"id": "play[0].tasks[0]", "name": "start the slow job", "kind": "detached"},
                {"id": "play[0].tasks[1]", "name": "a quick task", "kind": "blocking"},
                {"id": "play[0].tasks[2]", "name": "wait for the slow job", "kind": "join"},
            ],
            "hosts": hosts,
            "spans": spans,
            "jobs": jobs,
            "plan": [],
        },
    }


@pytest.mark.e2e
def test_a_thousand_hosts_stay_small_grouped_and_paged(tmp_path: Path) -> None:
    html = render_report(_thousand_hosts())
    size = len(html.encode())
    assert size < 2_000_000, size  # specs/timeline.md states the measured size
    page = tmp_path / "thousand.html"
    page.write_text(html)
    dom, console = open_in_browser(page, tmp_path)
    assert console == []
    counts, words = classes_in(dom)
    groups = re.findall(r'data-group="([^"]+)"', dom)
    assert groups == ["failed", "changed"]
    assert "1000 of 1000 hosts" in words
    # 11 failed hosts, all drawn; of the 989 others the first page of 100.
    assert counts["text.host"] == 11 + 100
    assert counts["rect.bar"] == 3 * (11 + 100)
    assert counts["button.more"] == 1
    assert "show 100 more of 889" in words


def test_the_plan_svg_has_nodes_by_kind_edges_and_locks(tmp_path: Path) -> None:
    (tmp_path / "play.yml").write_text(
        """\
- name: pictured
  hosts: all
  tasks:
    - name: install
      ansible.builtin.apt:
        update_cache: true
      async: 600
      poll: 0
      register: install
    - name: build
      ansible.builtin.command:
        cmd: make
      async: 60
      poll: 5
    - name: wait for install
      ansible.builtin.async_status:
        jid: "{{ install.ansible_job_id }}"
      register: done
      until: done is finished
      retries: 10
    - name: done
      ansible.builtin.debug:
        msg: ok
"""
    )
    done = run_cli("compile", "play.yml", "--format", "svg", "-o", "plan.svg", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    svg = (tmp_path / "plan.svg").read_text()
    tree = ET.fromstring(svg.split("\n", 1)[1])  # well-formed XML
    ns = "{http://www.w3.org/2000/svg}"
    nodes = [g for g in tree.iter(f"{ns}g") if "node" in (g.get("class") or "").split()]
    assert sorted(g.get("class") for g in nodes) == [
        "node node-blocking",
        "node node-detached",
        "node node-join",
        "node node-polled",
    ]
    dom, console = open_in_browser(tmp_path / "plan.svg", tmp_path, width=600, height=500)
    assert console == []
    counts, words = classes_in(dom)
    assert counts["g.node"] == 4
    assert counts["path.edge-seq"] == 3
    assert counts["path.edge-sync"] == 1
    assert counts["text.locks"] == 1 and "locks: pkg:dpkg" in words
    done = run_cli("compile", "play.yml", "--format", "html", "-o", "plan.html", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    dom, console = open_in_browser(tmp_path / "plan.html", tmp_path, width=600, height=500)
    assert console == []
    assert classes_in(dom)[0]["g.node"] == 4
