"""The local fan-out at scale: how `playgraph run` grows from 100 to 10,000 hosts.

Every host (all local: ``ansible_connection=local``, one async dir, so one job
supervisor) starts a detached ``sleep 2``, runs a quick task while the jobs run,
then joins its job (the playbook of `fanout_vs_ansible.py`).  Per size N:

* wall: the whole ``playgraph run`` command;
* floor: 2 s of work + N / this machine's burst spawn rate, measured just before the
  run (N/2 at most 2,000 ``sh -c true`` started at once, then reaped): no tool
  that starts a process per host can beat it;
* the same floor with the fan-out's real job: ``sleep 2`` in this environment,
  all alive at once (a live process costs more to start and end than one that
  exits at once), and that job's own CPU;
* controller CPU (user + system of the command and what it waited for, from
  ``wait4``), also per host, and per host above the fixed cost of a 1-host run;
* supervisor CPU (the daemon), its spawner's (the jobs' parent) and the jobs'
  own (what the spawner reaped), from ``/proc``, also per job, and the keeper's;
* the controller's peak RSS (``wait4``) and peak open fds (sampled every 0.1 s);
* the CPU budget: all the CPU the run spent, against what a run at 1.5x the floor
  could spend (every core busy for all but the last 2 s), and how much of that is
  left once the jobs themselves are paid for (their own CPU, and starting them as
  a bare ``posix_spawn`` loop would), against what everything else took.

The 1-host fixed cost and sizes below 1,000 run ``--repeat`` times and the run
with the median controller CPU counts: at 100 hosts the CPU above the fixed cost
is tens of milliseconds, less than one run's noise.

ansible-core runs the same playbook side by side for the sizes in
``--ansible-hosts`` (it needs minutes where playgraph needs seconds).

Goals (issue 14): wall within 1.5x the floor at 1,000 / 5,000 / 10,000 hosts;
controller CPU per host constant (±30%) from 100 to 10,000; RSS under 200 MB at
10,000.  The machine's load is recorded: other work on it moves every figure.

    python bench/scale_fanout.py [--hosts 100 1000 5000 10000] [--forks 50]
                                 [--ansible-hosts 100] [--ansible-venv .oracle/venv]
                                 [--repeat 5]
                                 [--out FILE]

Writes bench/results/scale-<date>.json (or FILE).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import DEFAULT_ORACLE, ROOT, oracle_bin, playgraph_bin
from fanout_vs_ansible import PLAYBOOK, WORK_SECONDS

SMALL = 1000
"""Sizes below this run `--repeat` times (the median run counts): there the
controller's CPU above the fixed cost is tens of ms, within one run's noise."""
SPAWN_SAMPLE_MAX = 2000
"""Processes in the spawn-rate burst (N/2 below that, at least 100)."""
SETTLE = 3.0
"""Seconds of quiet after the sync before each size."""
TIMEOUT = 1800.0
"""Seconds any one run may take before the bench gives up on it."""


def raise_fd_limit(needed: int) -> int:
    """Raise this process's open-file limit (inherited by the tools) to ``needed``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, needed)
    if hard != resource.RLIM_INFINITY and want > hard:
        with contextlib.suppress(ValueError, OSError):  # root may raise the hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def spawn_rate(count: int) -> float:
    """Processes per second this machine starts in a burst: ``sh -c true`` x count,
    all started, then all reaped."""
    start = time.perf_counter()
    pids = [
        os.posix_spawn("/bin/sh", ["/bin/sh", "-c", "true"], {"PATH": "/usr/bin:/bin"})
        for _ in range(count)
    ]
    for pid in pids:
        os.waitpid(pid, 0)
    return count / (time.perf_counter() - start)


def live_job_start(count: int) -> tuple[float, float, float]:
    """The same burst with the fan-out's own job, ``sleep 2`` in this environment
    (what a job inherits), all alive at once: (starts per second, the job's own CPU
    ms, the starting parent's CPU ms per job).  The issue's floor starts processes
    that end at once; live ones cost more."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    own_before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    pids = [
        os.posix_spawn("/usr/bin/sleep", ["sleep", f"{WORK_SECONDS:g}"], dict(os.environ))
        for _ in range(count)
    ]
    rate = count / (time.perf_counter() - start)
    for pid in pids:
        os.waitpid(pid, 0)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    own = (own_after.ru_utime + own_after.ru_stime) - (own_before.ru_utime + own_before.ru_stime)
    return rate, cpu / count * 1000, own / count * 1000


def write_inventory(folder: Path, hosts: int, async_dir: Path, name: str) -> Path:
    width = max(3, len(str(hosts)))
    lines = ["[fanout]", f"h[{1:0{width}d}:{hosts:0{width}d}]", "", "[fanout:vars]"]
    lines += [
        "ansible_connection=local",
        "ansible_python_interpreter=/usr/bin/python3",
        f"ansible_async_dir={async_dir}",
    ]
    path = folder / f"{name}-{hosts}.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


def proc_cpu(pid: int) -> tuple[float, float]:
    """(own, waited-for children) CPU seconds of a live process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def spawner_pids(async_dir: Path) -> list[int]:
    """The supervisor's spawner(s) for ``async_dir`` (the jobs' parent), by command line."""
    found = []
    needle = b"\0spawner\0--async-dir\0" + os.fsencode(async_dir) + b"\0"
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if needle in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
    return found


def lock_pid(async_dir: Path, name: str) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int((async_dir / ".playgraph" / name).read_text().strip() or "0") or None
    return None


class FdSampler:
    """The most fds a process held, sampled every 0.1 s until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, len(os.listdir(f"/proc/{self.pid}/fd")))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def failures(output: Path) -> tuple[int, list[str]]:
    """Hosts the recap counts failed or unreachable, and the first ``fatal:`` lines.

    Read from the display, not ``--json``: the document of 10,000 hosts, dumped
    at the end, would raise the peak RSS being measured."""
    bad = 0
    fatal: list[str] = []
    try:
        with open(output, errors="replace") as f:
            for line in f:
                if line.startswith("fatal:") and len(fatal) < 5:
                    fatal.append(line.strip()[:300])
                elif " : ok=" in line and (
                    " failed=0 " not in line + " " or " unreachable=0 " not in line
                ):
                    bad += 1
    except OSError:
        pass
    return bad, fatal


def run_tool(
    argv: list[str], env: dict[str, str] | None = None, stdout: Path | None = None
) -> dict[str, Any]:
    """Run a command to its end: wall, CPU and max RSS (wait4), peak fds, exit code."""
    start = time.perf_counter()
    sink = open(stdout, "wb") if stdout is not None else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=sink,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    sampler = FdSampler(proc.pid)
    pipe = proc.stderr
    assert pipe is not None
    chunks: list[bytes] = []
    # A thread drains stderr so a chatty tool never blocks on a full pipe.
    reader = threading.Thread(target=lambda: chunks.append(pipe.read()))
    reader.start()
    timer = threading.Timer(TIMEOUT, proc.kill)
    timer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    timer.cancel()
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    if stdout is not None and not isinstance(sink, int):
        sink.close()
    stderr = b"".join(chunks)
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "max_rss_mb": usage.ru_maxrss / 1024,
        "peak_fds": sampler.stop(),
        "exit_code": proc.returncode,
        "stderr_tail": stderr.decode(errors="replace")[-600:],
    }


def run_playgraph(folder: Path, playbook: Path, hosts: int, forks: int) -> dict[str, Any]:
    async_dir = folder / f"pg-async-{hosts}-{forks}"
    inventory = write_inventory(folder, hosts, async_dir, "pg")
    argv = [playgraph_bin(), "run", os.fspath(playbook), "-i", os.fspath(inventory)]
    output = folder / f"pg-{hosts}.out"
    result = run_tool([*argv, "-f", str(forks)], stdout=output)
    # Every host's job joined: a failure at scale is a finding, not noise.
    result["failed_hosts"], result["failures_sample"] = failures(output)
    # The supervisor (a daemon, not our child) and its keeper: read before stopping.
    supervisor = lock_pid(async_dir, "supervisor.lock")
    keeper = lock_pid(async_dir, "keeper.lock")
    own, waited = proc_cpu(supervisor) if supervisor else (0.0, 0.0)
    spawners = [proc_cpu(pid) for pid in spawner_pids(async_dir)]
    result["supervisor_cpu"] = own
    result["spawner_cpu"] = sum(cpu[0] for cpu in spawners)
    # The jobs themselves (and sh wrappers, where a supervisor runs jobs under them).
    result["jobs_cpu"] = waited + sum(cpu[1] for cpu in spawners)
    result["keeper_cpu"] = sum(proc_cpu(keeper)) if keeper else 0.0
    if supervisor:
        with contextlib.suppress(OSError):
            os.kill(supervisor, signal.SIGTERM)
        # Gone before its dir is removed (it writes its log on the way out).
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{supervisor}") and time.monotonic() < deadline:
            time.sleep(0.05)
    return result


def cpu_budget(ours: dict[str, Any], floor: float, bare_spawning: float) -> dict[str, float]:
    """What the run's CPU is against what a run at 1.5x the floor could spend: all
    cores busy for the whole wall except the last job's 2 s of sleep.  The jobs' own
    CPU and ``bare_spawning`` (what a bare ``posix_spawn`` loop spends starting
    them) are the work itself; what is left must pay for everything else."""
    spent = sum(
        ours[key] for key in ("cpu", "supervisor_cpu", "spawner_cpu", "jobs_cpu", "keeper_cpu")
    )
    budget = (os.cpu_count() or 1) * (1.5 * floor - WORK_SECONDS)
    work = ours["jobs_cpu"] + bare_spawning
    return {
        "cpu_spent_seconds": spent,
        "cpu_budget_at_goal_seconds": budget,
        "jobs_own_cpu_seconds": work,
        "budget_left_after_the_jobs_seconds": budget - work,
        "cpu_of_everything_else_seconds": spent - work,
    }


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose controller CPU is the median, with every run's CPU and wall."""
    chosen = dict(sorted(runs, key=lambda run: run["cpu"])[len(runs) // 2])
    chosen["cpu_runs"] = [run["cpu"] for run in runs]
    chosen["wall_runs"] = [run["wall"] for run in runs]
    return chosen


def repeated(folder: Path, playbook: Path, hosts: int, forks: int, repeat: int) -> dict[str, Any]:
    runs = [run_playgraph(folder, playbook, hosts, forks) for _ in range(repeat)]
    return median_run(runs)


def run_ansible(venv: Path, folder: Path, playbook: Path, hosts: int, forks: int) -> dict[str, Any]:
    async_dir = folder / f"ansible-async-{hosts}-{forks}"
    inventory = write_inventory(folder, hosts, async_dir, "ansible")
    argv = [oracle_bin(venv, "ansible-playbook"), os.fspath(playbook), "-i", os.fspath(inventory)]
    return run_tool(
        [*argv, "-f", str(forks)],
        env={
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCAL_TEMP": os.fspath(folder / "ansible-local"),
            "ANSIBLE_REMOTE_TMP": os.fspath(folder / "ansible-remote"),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--hosts", type=int, nargs="+", default=[100, 1000, 5000, 10000])
    parser.add_argument("--forks", type=int, default=50)
    parser.add_argument(
        "--ansible-hosts",
        type=int,
        nargs="*",
        default=[100],
        help="sizes ansible-core runs too (none: skip it)",
    )
    parser.add_argument("--ansible-venv", type=Path, default=DEFAULT_ORACLE)
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help=f"runs of the 1-host fixed cost and of sizes below {SMALL} (median counts)",
    )
    parser.add_argument(
        "--out", type=Path, help="result file (default bench/results/scale-<date>.json)"
    )
    args = parser.parse_args()
    fd_limit = raise_fd_limit(max(args.hosts) * 4 + 1024)

    rows: list[dict[str, Any]] = []
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="pg-scale-", ignore_cleanup_errors=True) as name:
        folder = Path(name)
        playbook = folder / "fanout.yml"
        playbook.write_text(PLAYBOOK)
        fixed = repeated(folder, playbook, 1, args.forks, args.repeat)
        spread = ", ".join(f"{cpu:.2f}" for cpu in sorted(fixed["cpu_runs"]))
        print(f"fixed cost (1 host): {fixed['cpu']:.2f} s controller CPU ({spread})", flush=True)
        for hosts in args.hosts:
            # The previous size's files (tens of thousands, created and removed) are
            # written back first: each size pays for its own file work only.
            os.sync()
            time.sleep(SETTLE)
            rate = spawn_rate(min(SPAWN_SAMPLE_MAX, max(100, hosts // 2)))
            floor = WORK_SECONDS + hosts / rate
            live_rate, live_cpu_ms, parent_ms = live_job_start(
                min(SPAWN_SAMPLE_MAX, max(100, hosts // 2))
            )
            live_floor = WORK_SECONDS + hosts / live_rate
            os.sync()
            ours = repeated(
                folder, playbook, hosts, args.forks, args.repeat if hosts < SMALL else 1
            )
            row: dict[str, Any] = {
                "hosts": hosts,
                "forks": args.forks,
                "load_average_1m": os.getloadavg()[0],
                "spawn_rate_per_s": rate,
                "floor_seconds": floor,
                "playgraph": ours,
                "wall_over_floor": ours["wall"] / floor,
                "live_job_start_rate_per_s": live_rate,
                "live_job_cpu_ms": live_cpu_ms,
                "live_job_floor_seconds": live_floor,
                "wall_over_live_job_floor": ours["wall"] / live_floor,
                "controller_cpu_ms_per_host": ours["cpu"] / hosts * 1000,
                "controller_marginal_cpu_ms_per_host": (ours["cpu"] - fixed["cpu"]) / hosts * 1000,
                "supervisor_cpu_ms_per_job": ours["supervisor_cpu"] / hosts * 1000,
                "spawner_cpu_ms_per_job": ours["spawner_cpu"] / hosts * 1000,
                "jobs_cpu_ms_per_job": ours["jobs_cpu"] / hosts * 1000,
                "live_job_parent_cpu_ms": parent_ms,
                **cpu_budget(ours, floor, hosts * parent_ms / 1000),
            }
            if ours["exit_code"] != 0:
                print(f"  playgraph exited {ours['exit_code']}: {ours['stderr_tail']}", flush=True)
                for failure in ours["failures_sample"]:
                    print(f"    {failure}", flush=True)
            line = (
                f"{hosts:>6} hosts: wall {ours['wall']:7.2f}s  floor {floor:6.2f}s "
                f"({rate:4.0f} spawns/s) x{row['wall_over_floor']:4.2f}  "
                f"controller {ours['cpu']:6.2f}s ({row['controller_cpu_ms_per_host']:5.2f} ms/host, "
                f"{row['controller_marginal_cpu_ms_per_host']:5.2f} above fixed)  "
                f"supervisor {ours['supervisor_cpu']:6.2f}s  spawner {ours['spawner_cpu']:5.2f}s  "
                f"jobs {ours['jobs_cpu']:6.2f}s  keeper {ours['keeper_cpu']:5.2f}s  "
                f"rss {ours['max_rss_mb']:5.0f} MB  fds {ours['peak_fds']}\n{'':>13}"
                f"floor with live sleep-2 jobs {live_floor:6.2f}s ({live_cpu_ms:.2f} ms CPU/job) "
                f"x{row['wall_over_live_job_floor']:4.2f}; "
                f"CPU spent {row['cpu_spent_seconds']:6.2f}s; a run at 1.5x the floor has "
                f"{row['cpu_budget_at_goal_seconds']:6.2f}s, "
                f"{row['budget_left_after_the_jobs_seconds']:6.2f}s of it left after the "
                f"jobs themselves, for what took {row['cpu_of_everything_else_seconds']:6.2f}s"
            )
            if hosts in (args.ansible_hosts or []):
                theirs = run_ansible(args.ansible_venv, folder, playbook, hosts, args.forks)
                row["ansible"] = theirs
                line += (
                    f"\n{'':>13}ansible-playbook: wall {theirs['wall']:7.2f}s  "
                    f"cpu {theirs['cpu']:7.2f}s  rss {theirs['max_rss_mb']:5.0f} MB "
                    f"(exit {theirs['exit_code']})"
                )
            print(line, flush=True)
            rows.append(row)
            loads.append(os.getloadavg()[0])

    by_size = {r["hosts"]: r for r in rows}
    per_host = [r["controller_marginal_cpu_ms_per_host"] for r in rows]
    result = {
        "benchmark": "async fan-out at scale: detached sleep 2 + a quick task + join, local hosts",
        "machine": {"cpus": os.cpu_count(), "load_average_1m": loads, "fd_limit": fd_limit},
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "fixed_cost_run": fixed,
        "runs": rows,
        "goals": {
            "wall_over_floor_at_most": 1.5,
            "wall_over_floor": {
                n: by_size[n]["wall_over_floor"] for n in (1000, 5000, 10000) if n in by_size
            },
            "cpu_per_host_spread_at_most": 0.3,
            "cpu_per_host_spread": (max(per_host) / min(per_host) - 1) if per_host else None,
            "rss_mb_at_10000_below": 200,
            "rss_mb_at_10000": by_size[10000]["playgraph"]["max_rss_mb"]
            if 10000 in by_size
            else None,
        },
    }
    out = args.out or ROOT / "bench" / "results" / f"scale-{time.strftime('%Y-%m-%d')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
