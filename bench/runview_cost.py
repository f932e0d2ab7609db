"""What seeing a run costs: the timeline, the live view and the report on a 1,000-host
local fan-out (the fan-out example: a detached ``sleep 2``, a quick task, a join).

Two measures, each run in a fresh interpreter:

* A/B: the run phase (``run_graph``) plain, and with the timeline recorder and the
  live view (rich drawing to a terminal-like sink at its refresh rate) subscribed, then the
  report rendered — alternating, median of ``--repeat`` each.  On a shared 2-core
  machine the run-to-run noise of a real fan-out is itself a few per cent, so:
* direct: the run's events are recorded once, then replayed through the recorder
  and the live view and timed (what the subscribers add to the event loop), plus
  the live view's redraws over the run (its frame time x its refresh rate x the run's length,
  at the run's peak state) and the report's rendering.  This is the figure held to
  the < 5 % goal; the report's size at 1,000 hosts is written too.

    python bench/runview_cost.py [--hosts 1000] [--forks 50] [--repeat 3]

Writes bench/results/runview.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import ROOT

sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))
from fanout_vs_ansible import PLAYBOOK, WORK_SECONDS, stop_supervisor

GOAL = 0.05

IN_PROCESS = r"""
import asyncio, io, json, os, sys, time
from playgraph.compiler import CompileOptions, compile_playbook
from playgraph.runtime import jobs
from playgraph.runtime.context import RunOptions
from playgraph.runtime.inventory import load_inventory
from playgraph.runtime.live import REFRESH_PER_SECOND, LiveView
from playgraph.runtime.run import run_graph
from playgraph.runtime.timeline import TIMELINE_KEY, TimelineRecorder
from playgraph.cli.html_report import render_report
from rich.console import Console

playbook, inventory, forks, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
graph = compile_playbook(playbook, CompileOptions()).graph
hosts = load_inventory([inventory])

def sink():
    # A terminal-like sink: rich renders every frame in full, as on a TTY.
    return Console(file=open(os.devnull, "w"), force_terminal=True, width=120, height=40)

async def main():
    events = []
    subscribers = []
    recorder = view = None
    if mode == "seen":
        recorder = TimelineRecorder(graph)
        view = LiveView(graph.node_index(), title="bench")
        view.console = sink()
        view._live.console = view.console
        subscribers = [recorder, view]
    elif mode == "record":
        subscribers = [events.append]
    loop = asyncio.get_running_loop()
    start = loop.time()
    outcome = await run_graph(graph, hosts, RunOptions(forks=forks), subscribers=subscribers)
    seconds = loop.time() - start
    report_seconds = report_bytes = 0
    if view is not None:
        view.close()
        began = time.perf_counter()
        outcome.document[TIMELINE_KEY] = recorder.to_json()
        report_bytes = len(render_report(outcome.document).encode())
        report_seconds = time.perf_counter() - began
    await jobs.close_clients()
    out = {"seconds": seconds, "exit_code": outcome.exit_code, "report_seconds": report_seconds,
           "report_bytes": report_bytes}
    for play in outcome.document["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                if result.get("failed") or result.get("unreachable"):
                    out.setdefault("problem", f"{host}: {result.get('msg')}")
    if mode == "record":
        out.update(replay(events, seconds))
    return out

def replay(events, seconds):
    # The subscribers' own cost: the same events through a fresh recorder and view.
    costs = []
    for _ in range(5):
        recorder = TimelineRecorder(graph)
        view = LiveView(graph.node_index(), title="bench")
        view.console = sink()
        began = time.perf_counter()
        for event in events:
            recorder(event)
            with view._lock:
                view._update(event)
            view._problems(event)
        costs.append(time.perf_counter() - began)
    # A frame at the run's busiest: every host's job in flight.
    busy = LiveView(graph.node_index(), title="bench")
    busy.console = sink()
    for event in events:
        if event.kind.value in ("play_started", "node_started", "launched"):
            busy._update(event)
    began = time.perf_counter()
    frames = 20
    for index in range(frames):  # frames half a second apart: every other one re-ranks
        busy.console.print(busy.snapshot(events[-1].time + index / REFRESH_PER_SECOND))
    frame = (time.perf_counter() - began) / frames  # the first ranks the jobs, as once a second
    began = time.perf_counter()
    document = {"stats": {}, TIMELINE_KEY: recorder.to_json()}
    size = len(render_report(document).encode())
    report = time.perf_counter() - began
    return {"events": len(events), "subscriber_seconds": min(costs), "frame_seconds": frame,
            "redraw_seconds": frame * REFRESH_PER_SECOND * seconds, "report_render_seconds": report,
            "report_bytes": size}

print(json.dumps(asyncio.run(main())))
"""


def write_inventory(folder: Path, hosts: int, async_dir: Path) -> Path:
    width = len(str(hosts))
    lines = ["[fanout]", f"h[{1:0{width}d}:{hosts}]", "", "[fanout:vars]"]
    lines += [
        "ansible_connection=local",
        "ansible_python_interpreter=/usr/bin/python3",
        f"ansible_async_dir={async_dir}",
    ]
    path = folder / f"hosts-{hosts}.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


def in_process(
    folder: Path, playbook: Path, hosts: int, forks: int, mode: str, n: int
) -> dict[str, Any]:
    async_dir = folder / f"async-{mode}-{n}"
    # Made beforehand: a thousand hosts creating a fresh async dir at once can race
    # (an ENOENT on its private folder), which is not what this measures.
    async_dir.mkdir(parents=True, exist_ok=True)
    inventory = write_inventory(folder, hosts, async_dir)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            IN_PROCESS,
            os.fspath(playbook),
            os.fspath(inventory),
            str(forks),
            mode,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    stop_supervisor(async_dir)
    if done.returncode != 0:
        sys.exit(f"{mode} run failed:\n{done.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if report["exit_code"] != 0:
        sys.exit(f"{mode} run exited {report['exit_code']}: {report.get('problem')}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--forks", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pg-runview-") as name:
        folder = Path(name)
        playbook = folder / "fanout.yml"
        playbook.write_text(PLAYBOOK)
        plain: list[float] = []
        seen: list[float] = []
        extra: list[float] = []
        for n in range(args.repeat):
            plain.append(
                in_process(folder, playbook, args.hosts, args.forks, "plain", n)["seconds"]
            )
            with_view = in_process(folder, playbook, args.hosts, args.forks, "seen", n)
            seen.append(with_view["seconds"])
            extra.append(with_view["report_seconds"])
        direct = in_process(folder, playbook, args.hosts, args.forks, "record", 0)
    base = statistics.median(plain)
    ab = (statistics.median(seen) + statistics.median(extra) - base) / base
    added = (
        direct["subscriber_seconds"] + direct["redraw_seconds"] + direct["report_render_seconds"]
    )
    cost = added / direct["seconds"]
    result = {
        "hosts": args.hosts,
        "forks": args.forks,
        "work_seconds": WORK_SECONDS,
        "plain_run_seconds": plain,
        "seen_run_seconds": seen,
        "report_seconds": extra,
        "ab_cost": ab,
        "direct": direct,
        "direct_cost": cost,
        "goal": GOAL,
    }
    print(
        f"{args.hosts} hosts, forks {args.forks}: run {base:.2f}s plain, "
        f"{statistics.median(seen):.2f}s seen (+ report {statistics.median(extra):.2f}s): A/B {ab:+.1%}\n"
        f"direct: {direct['events']} events through the recorder and live view "
        f"{direct['subscriber_seconds'] * 1000:.0f} ms, redraws {direct['redraw_seconds'] * 1000:.0f} ms "
        f"({direct['frame_seconds'] * 1000:.1f} ms a frame), report {direct['report_render_seconds'] * 1000:.0f} ms "
        f"({direct['report_bytes'] / 1e6:.2f} MB) = {cost:.1%} of a {direct['seconds']:.2f}s run "
        f"(goal < {GOAL:.0%})"
    )
    out = ROOT / "bench" / "results" / "runview.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    if cost >= GOAL:
        sys.exit(f"seeing the run costs {cost:.1%}, over the {GOAL:.0%} goal")


if __name__ == "__main__":
    main()
