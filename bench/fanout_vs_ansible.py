"""`playgraph run` vs `ansible-playbook` on the async fan-out, side by side in one run.

Every host (all local: ``ansible_connection=local``) starts a detached ``sleep 2``
(``async: 30, poll: 0``), runs a quick task while the jobs run, then joins its job
(``async_status`` with ``until: job is finished``).  The work itself takes 2 s;
everything above that is the tool's overhead.

Both tools run at 20 and at 100 hosts, each with its default forks (5) and with
forks = the number of hosts.  Reported: wall seconds (median of ``--repeat`` runs),
the ratio ansible-core / playgraph (goal >= 10x), and playgraph's overhead above the
2 s of work at 20 hosts (goal < 0.5 s) — whole command, and the run phase alone
(measured in-process, without interpreter start and compile).

    python bench/fanout_vs_ansible.py [--hosts 20 100] [--repeat 1] [--ansible-venv .oracle/venv]

Writes bench/results/fanout.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import DEFAULT_ORACLE, ROOT, oracle_bin, playgraph_bin, summary, timed

WORK_SECONDS = 2.0
"""The ``sleep`` every host's job runs: the floor of any tool's wall time."""
DEFAULT_FORKS = 5
"""Both tools' default ``forks``."""

PLAYBOOK = """\
- name: fan-out
  hosts: all
  gather_facts: false
  tasks:
    - name: start the slow job
      ansible.builtin.command: sleep 2
      async: 30
      poll: 0
      register: slow_job

    - name: a quick task while the jobs run
      ansible.builtin.debug:
        msg: "{{ inventory_hostname }} is busy with {{ slow_job.ansible_job_id }}"

    - name: wait for the slow job
      ansible.builtin.async_status:
        jid: "{{ slow_job.ansible_job_id }}"
      register: job_result
      until: job_result is finished
      retries: 30
      delay: 1
"""

# The run phase alone, in a fresh interpreter: compile first, then time run_graph only.
IN_PROCESS = """\
import asyncio, json, sys
from playgraph.compiler import CompileOptions, compile_playbook
from playgraph.runtime import jobs
from playgraph.runtime.context import RunOptions
from playgraph.runtime.inventory import load_inventory
from playgraph.runtime.run import run_graph

playbook, inventory, forks = sys.argv[1], sys.argv[2], int(sys.argv[3])
graph = compile_playbook(playbook, CompileOptions()).graph
hosts = load_inventory([inventory])

async def main():
    loop = asyncio.get_running_loop()
    start = loop.time()
    outcome = await run_graph(graph, hosts, RunOptions(forks=forks))
    seconds = loop.time() - start
    await jobs.close_clients()
    return seconds, outcome.exit_code

seconds, code = asyncio.run(main())
print(json.dumps({"seconds": seconds, "exit_code": code}))
"""


def write_inventory(folder: Path, hosts: int, async_dir: Path) -> Path:
    lines = ["[fanout]", f"h[001:{hosts:03d}]", "", "[fanout:vars]"]
    lines += [
        "ansible_connection=local",
        "ansible_python_interpreter=/usr/bin/python3",
        f"ansible_async_dir={async_dir}",
    ]
    path = folder / f"hosts-{hosts}.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


def stop_supervisor(async_dir: Path) -> None:
    """Stop the job supervisor a playgraph run left serving ``async_dir`` (it would idle out)."""
    from playgraph.runtime.target import supervisor as sv

    lock = async_dir / sv.PRIVATE_DIR / sv.LOCK_NAME
    if not sv.lock_held(os.fspath(lock)):
        return
    with contextlib.suppress(ValueError, OSError):
        os.kill(int(lock.read_text().strip()), signal.SIGTERM)


def run_playgraph(folder: Path, playbook: Path, hosts: int, forks: int, repeat: int) -> list[float]:
    times = []
    for index in range(repeat):
        async_dir = folder / f"pg-async-{hosts}-{forks}-{index}"
        inventory = write_inventory(folder, hosts, async_dir)
        argv = [playgraph_bin(), "run", os.fspath(playbook), "-i", os.fspath(inventory)]
        times += timed([*argv, "-f", str(forks)], repeat=1)
        stop_supervisor(async_dir)
    return times


def run_playgraph_in_process(folder: Path, playbook: Path, hosts: int, forks: int) -> float:
    async_dir = folder / f"pg-async-inproc-{hosts}-{forks}"
    inventory = write_inventory(folder, hosts, async_dir)
    done = subprocess.run(
        [sys.executable, "-c", IN_PROCESS, os.fspath(playbook), os.fspath(inventory), str(forks)],
        capture_output=True,
        text=True,
        check=False,
    )
    stop_supervisor(async_dir)
    if done.returncode != 0:
        sys.exit(f"in-process run failed:\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if report["exit_code"] != 0:
        sys.exit(f"in-process run exited {report['exit_code']}")
    return float(report["seconds"])


def run_ansible(
    ansible_playbook: str, folder: Path, playbook: Path, hosts: int, forks: int, repeat: int
) -> list[float]:
    times = []
    for index in range(repeat):
        async_dir = folder / f"ansible-async-{hosts}-{forks}-{index}"
        inventory = write_inventory(folder, hosts, async_dir)
        argv = [ansible_playbook, os.fspath(playbook), "-i", os.fspath(inventory), "-f", str(forks)]
        times += timed(
            argv,
            repeat=1,
            env={
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_HOST_KEY_CHECKING": "0",
                "ANSIBLE_LOCAL_TEMP": os.fspath(folder / "ansible-local"),
                "ANSIBLE_REMOTE_TMP": os.fspath(folder / "ansible-remote"),
            },
        )
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--hosts", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool and setting (median)")
    parser.add_argument("--ansible-venv", type=Path, default=DEFAULT_ORACLE)
    args = parser.parse_args()
    ansible_playbook = oracle_bin(args.ansible_venv, "ansible-playbook")

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="pg-fanout-") as name:
        folder = Path(name)
        playbook = folder / "fanout.yml"
        playbook.write_text(PLAYBOOK)
        for hosts in args.hosts:
            for forks in sorted({DEFAULT_FORKS, hosts}):
                ours = summary(run_playgraph(folder, playbook, hosts, forks, args.repeat))
                run_phase = run_playgraph_in_process(folder, playbook, hosts, forks)
                theirs = summary(
                    run_ansible(ansible_playbook, folder, playbook, hosts, forks, args.repeat)
                )
                row = {
                    "hosts": hosts,
                    "forks": forks,
                    "playgraph_seconds": ours,
                    "playgraph_run_phase_seconds": run_phase,
                    "ansible_seconds": theirs,
                    "ratio": theirs["median"] / ours["median"],
                    "playgraph_overhead_seconds": ours["median"] - WORK_SECONDS,
                    "playgraph_run_phase_overhead_seconds": run_phase - WORK_SECONDS,
                }
                rows.append(row)
                print(
                    f"{hosts:>4} hosts, forks {forks:>3}: playgraph {ours['median']:6.2f}s "
                    f"(run phase {run_phase:5.2f}s), ansible-playbook {theirs['median']:7.2f}s "
                    f"-> {row['ratio']:5.1f}x; playgraph overhead above {WORK_SECONDS:g}s of work "
                    f"{row['playgraph_overhead_seconds']:+.2f}s "
                    f"(run phase {row['playgraph_run_phase_overhead_seconds']:+.2f}s)",
                    flush=True,
                )

    at_20 = [r for r in rows if r["hosts"] == 20]
    result = {
        "benchmark": "async fan-out: detached sleep 2 + a quick task + join, local hosts",
        "work_seconds": WORK_SECONDS,
        "repeat": args.repeat,
        "machine": {"cpus": os.cpu_count(), "load_average_1m": os.getloadavg()[0]},
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "runs": rows,
        "goals": {
            "ratio_at_least": 10.0,
            "overhead_at_20_hosts_below_seconds": 0.5,
            "min_ratio": min(r["ratio"] for r in rows),
            "max_overhead_at_20_hosts": max(
                (r["playgraph_overhead_seconds"] for r in at_20), default=None
            ),
            "max_run_phase_overhead_at_20_hosts": max(
                (r["playgraph_run_phase_overhead_seconds"] for r in at_20), default=None
            ),
        },
    }
    out = ROOT / "bench" / "results" / "fanout.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
