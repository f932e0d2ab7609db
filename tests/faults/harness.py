"""The fault-injection harness: fleets of inventory aliases, a process watcher, `FaultRun`, checks.

A scenario builds a `Fleet` (N inventory hosts, each with one seeded ``sleep``
job; some shorter than the ``async`` limit, some longer so the limit must kill
them), starts ``playgraph run --json`` as a subprocess (`FaultRun`), injects a
fault at a seeded random moment, and then checks the invariants of the
acceptance line:

* no job outlives its limit by more than 1 s (`check_limits`, from `ProcWatch`,
  which samples ``/proc`` for processes carrying the run's tag in their
  environment);
* no status file is lost or invalid: every job that ran has one, it is JSON,
  it is finished and it holds the right result; no ``.tmp`` is left
  (`check_status_files`);
* every task ends (no hang) within limit + grace of the fault or of the last
  job's start (`check_ended`);
* every host has a result for every task, a correct one or a failure whose
  ``msg`` names its cause (`check_results`).

Every violation is collected in a `Report`, which fails the test with the seed
and a replay command.  Times are ``CLOCK_BOOTTIME`` seconds, the clock of the
``starttime`` in ``/proc/PID/stat``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playgraph.runtime.context import RunOptions
from playgraph.runtime.target import supervisor as sv

ROOT = Path(__file__).resolve().parents[2]
TICKS = os.sysconf("SC_CLK_TCK")
OVER_LIMIT = 1.0
"""The acceptance line: no job outlives its limit by more than this."""
GRACE = RunOptions().grace
"""Seconds past a job's limit the controller may keep waiting (RunOptions.grace)."""
END_SLACK = 1.5
"""Beyond limit + grace: the controller's own exit (printing 120 results, the join's delay)."""
HANG_MARGIN = 10.0
"""How long past its bound a run may go before the test calls it hung and kills it."""
TAG_VAR = "PGFAULT_TAG"
ENOSPC = re.compile(r"No space left on device|ENOSPC")
SUPERVISOR = re.compile(
    r"^(?=.*supervisor)(?=.*\b(lost|died|dead|killed|gone|exited|closed|stopped|not answer|"
    r"no answer|unresponsive|timed out|timeout|did not|does not)).*",
    re.IGNORECASE | re.DOTALL,
)
"""A message that names the supervisor and what went wrong with it."""
LOST = re.compile(r"\bjob lost\b", re.IGNORECASE)
TIMEOUT_MSG = "Timeout exceeded"


TMP_GRACE = 1.0
"""Seconds a live writer's ``.tmp`` file may take to be renamed before it counts as left."""


def stderr_tail(handle: Any) -> list[str]:
    handle.seek(0)
    return handle.read().decode(errors="replace").strip().splitlines()[-2:]


def now() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def seeds(*default: int) -> list[int]:
    """The seeds a scenario runs with: ``PGFAULT_SEED`` (one, to replay a failure) or ``default``."""
    chosen = os.environ.get("PGFAULT_SEED")
    return [int(chosen)] if chosen else list(default)


# --------------------------------------------------------------------------- report


class Report:
    """The violations of one scenario run; `check` fails the test naming the seed."""

    def __init__(self, scenario: str, seed: int) -> None:
        self.scenario = scenario
        self.seed = seed
        self.violations: list[tuple[str, str]] = []
        self.events: list[str] = []

    def violation(self, invariant: str, text: str) -> None:
        self.violations.append((invariant, text))

    def event(self, text: str) -> None:
        self.events.append(text)

    def render(self) -> str:
        lines = [
            f"{self.scenario} seed={self.seed}: {len(self.violations)} violation(s)",
            f"replay: PGFAULT_SEED={self.seed} .venv/bin/python -m pytest -p no:cacheprovider "
            f"tests/faults -k '{self.scenario}'",
        ]
        lines += [f"  event: {e}" for e in self.events]
        by_invariant: dict[str, list[str]] = {}
        for invariant, text in self.violations:
            by_invariant.setdefault(invariant, []).append(text)
        for invariant, texts in by_invariant.items():
            lines.append(f"  [{invariant}] x{len(texts)}")
            lines += [f"    {t}" for t in texts[:8]]
            if len(texts) > 8:
                lines.append(f"    ... and {len(texts) - 8} more")
        return "\n".join(lines)

    def check(self) -> None:
        print(self.render())  # shown with -s / -rA: the events even when all holds
        if self.violations:
            pytest.fail(self.render(), pytrace=False)


# --------------------------------------------------------------------------- fleet


@dataclass(frozen=True)
class Fleet:
    """Inventory aliases with one job each: ``sleep`` of a seeded length, then echo the host."""

    folder: Path
    async_dir: Path
    tag: str
    limit: int
    sleeps: Mapping[str, float]
    inventory: Path
    ran_long: set[str] = field(default_factory=set)
    """Hosts whose job's processes were seen alive up to the limit (`note_long_runs`)."""

    @property
    def hosts(self) -> list[str]:
        return list(self.sleeps)

    def overruns(self, host: str) -> bool:
        """Whether the host's job sleeps past its limit (so the limit must kill it)."""
        return self.sleeps[host] > self.limit

    def near_limit(self, host: str) -> bool:
        """Whether the host's job, planned to end in time, was seen alive up to its
        limit: then its real result and the limit's timeout are both right."""
        return host in self.ran_long and not self.overruns(host)

    def status_path(self, jid: str) -> Path:
        return self.async_dir / jid


def note_long_runs(fleet: Fleet, watch: ProcWatch) -> None:
    """Note the hosts whose job lived up to its limit (one sample short at most).

    A planned sleep stays clear of the limit, but the job starts a Python program
    before it sleeps: on a loaded machine or a full disk that start can take the
    rest of the margin, and then the limit may end the job for real (or the job
    may end a moment before it): either record is right for such a job.
    """
    for host, procs in watch.by_host().items():
        lived = max(p.last_seen for p in procs) - min(p.start for p in procs)
        if lived >= fleet.limit - 2 * watch.interval:
            fleet.ran_long.add(host)


def make_fleet(
    folder: Path,
    async_dir: Path,
    rng: random.Random,
    *,
    hosts: int,
    limit: int = 2,
    prefix: str = "h",
    overrun_share: float = 0.35,
    host_vars: str = "",
    group_vars: Iterable[str] = ("ansible_connection=local",),
) -> Fleet:
    """Write the inventory.  Sleeps avoid the last second before the limit and the first
    0.6 s after it, so each job's right result (rc 0, or "Timeout exceeded") is certain:
    a job starts a Python program before it sleeps, and in a burst of 120 starts on 2
    cores that start alone took over half a second (seed 1103, sleep 1.49 s, limit 2)."""
    tag = f"pgf{rng.randrange(16**8):08x}"
    width = max(2, len(str(hosts)))
    sleeps: dict[str, float] = {}
    for i in range(1, hosts + 1):
        over = rng.random() < overrun_share
        low, high = (limit + 0.6, limit + 2.0) if over else (0.5, limit - 1.0)
        sleeps[f"{prefix}{i:0{width}d}"] = round(rng.uniform(low, high), 2)
    lines = ["[all]"]
    lines += [f"{h} pg_sleep={s} {host_vars}".rstrip() for h, s in sleeps.items()]
    lines += ["", "[all:vars]", *group_vars]
    lines += ["ansible_python_interpreter=/usr/bin/python3", f"ansible_async_dir={async_dir}"]
    lines.append(f"pg_tag={tag}")
    folder.mkdir(parents=True, exist_ok=True)
    inventory = folder / "inventory.ini"
    inventory.write_text("\n".join(lines) + "\n")
    return Fleet(folder, async_dir, tag, limit, sleeps, inventory)


def launch_and_join(fleet: Fleet, *, delay: float = 0.25, name: str = "play.yml") -> Path:
    """Detached jobs (``poll: 0``), a quick task meanwhile, then a join on each."""
    retries = int((fleet.limit + GRACE + 20) / delay)
    text = f"""\
- hosts: all
  gather_facts: false
  tasks:
    - name: launch
      command: sh -c 'sleep "$1"; echo "$2"' pgfault {{{{ pg_sleep }}}} {{{{ inventory_hostname }}}}
      async: {fleet.limit}
      poll: 0
      register: job
      environment:
        {TAG_VAR}: "{{{{ pg_tag }}}}:{{{{ inventory_hostname }}}}"
    - name: meanwhile
      debug:
        msg: "{{{{ inventory_hostname }}}} runs {{{{ job.ansible_job_id }}}}"
    - name: join
      async_status:
        jid: "{{{{ job.ansible_job_id }}}}"
      register: result
      until: result is finished
      retries: {retries}
      delay: {delay}
"""
    path = fleet.folder / name
    path.write_text(text)
    return path


def join_only(fleet: Fleet, jids: Mapping[str, str], *, name: str = "join.yml") -> Path:
    """A later run that only joins ``jids`` (host -> jid), as an operator would after a crash."""
    (fleet.folder / "jids.json").write_text(json.dumps({"pg_jids": dict(jids)}))
    text = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: join
      async_status:
        jid: "{{ pg_jids[inventory_hostname] }}"
      register: result
      until: result is finished
      retries: 40
      delay: 0.25
      when: inventory_hostname in pg_jids
"""
    path = fleet.folder / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- processes


@dataclass
class Proc:
    """One process of a job, as `ProcWatch` saw it."""

    pid: int
    pgid: int
    host: str
    start: float
    last_seen: float
    alive: bool = True


class ProcWatch:
    """Samples ``/proc`` every ``interval`` s for processes whose environment carries the tag.

    A process's start is its kernel ``starttime``; its end is the last sample that
    saw it alive (a zombie counts as ended), so a lifetime is exact to one interval.
    """

    def __init__(self, tag: str, interval: float = 0.03) -> None:
        self.needle = f"{TAG_VAR}={tag}:".encode()
        self.interval = interval
        self.procs: dict[tuple[int, int], Proc] = {}
        self._untagged: dict[tuple[int, int], bytes] = {}
        self._lock = threading.Lock()
        self.first_job = threading.Event()
        """Set once the first job process is seen: faults are timed from there."""
        self.first_job_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="proc-watch", daemon=True)

    def __enter__(self) -> ProcWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.scan()
            self._stop.wait(self.interval)

    def scan(self) -> None:
        seen: set[tuple[int, int]] = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            try:
                with open(f"/proc/{pid}/stat", "rb") as handle:
                    stat = handle.read()
            except OSError:
                continue
            at = now()
            close = stat.rfind(b")")
            comm = stat[stat.find(b"(") + 1 : close]
            fields = stat[close + 2 :].split()
            state, pgid, starttime = fields[0], int(fields[2]), int(fields[19])
            key = (pid, starttime)
            dead = state in (b"Z", b"X")
            with self._lock:
                proc = self.procs.get(key)
                if proc is not None:
                    if not dead:
                        proc.last_seen = at
                        seen.add(key)
                    continue
            # comm changes at exec, and so may the environment: look again then.
            if self._untagged.get(key) == comm or dead:
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as handle:
                    environ = handle.read()
            except OSError:
                continue
            host = next(
                (v[len(self.needle) :] for v in environ.split(b"\0") if v.startswith(self.needle)),
                None,
            )
            if host is None:
                self._untagged[key] = comm
                continue
            with self._lock:
                self.procs[key] = Proc(pid, pgid, host.decode(), starttime / TICKS, at)
                seen.add(key)
            if not self.first_job.is_set():
                self.first_job_at = starttime / TICKS
                self.first_job.set()
        with self._lock:
            for key, proc in self.procs.items():
                if key not in seen:
                    proc.alive = False

    def by_host(self) -> dict[str, list[Proc]]:
        with self._lock:
            out: dict[str, list[Proc]] = {}
            for proc in self.procs.values():
                out.setdefault(proc.host, []).append(proc)
            return out

    def alive(self) -> list[Proc]:
        with self._lock:
            return [p for p in self.procs.values() if p.alive]

    def last_start(self) -> float | None:
        with self._lock:
            return max((p.start for p in self.procs.values()), default=None)

    def wait_quiet(self, limit: int) -> None:
        """Until no tagged process lives, or every job is 1.5 s past its limit."""
        while self.alive():
            oldest = min(p.start for p in self.alive())
            if now() > oldest + limit + OVER_LIMIT + 0.5:
                return
            time.sleep(0.05)


def kill_tagged(tag: str) -> int:
    """SIGKILL the process groups of every live process carrying ``tag`` (teardown)."""
    watch = ProcWatch(tag)
    watch.scan()
    groups = {p.pgid for p in watch.alive()}
    for pgid in groups:
        sv.killpg(pgid, signal.SIGKILL)
    return len(groups)


# --------------------------------------------------------------------------- supervisor


def lock_path(async_dir: Path) -> Path:
    return async_dir / sv.PRIVATE_DIR / sv.LOCK_NAME


def supervisor_pid(
    async_dir: Path, timeout: float = 5.0, exclude: Iterable[int] = ()
) -> int | None:
    """The pid of the supervisor serving ``async_dir`` (waits for one to start, and for a
    successor of the ``exclude`` ones)."""
    deadline = now() + timeout
    while True:
        lock = lock_path(async_dir)
        if sv.lock_held(str(lock)):
            with contextlib.suppress(ValueError, OSError):
                pid = int(lock.read_text().strip())
                if pid not in exclude:
                    return pid
        if now() >= deadline:
            return None
        time.sleep(0.01)


_SIGNALLING = threading.Lock()


def signal_supervisor(async_dir: Path, sig: int, done: list[int] | None = None) -> str:
    """Send ``sig`` to the supervisor serving ``async_dir`` (waiting up to 5 s for one).

    ``done``: pids signalled before, skipped (a second kill waits for the successor);
    the pid signalled now is added."""
    with _SIGNALLING:  # two faults at once must not pick the same supervisor
        pid = supervisor_pid(async_dir, exclude=done or ())
        if pid is None:
            raise RuntimeError(f"no (new) supervisor serves {async_dir}")
        os.kill(pid, sig)
        if done is not None:
            done.append(pid)
    return f"{signal.Signals(sig).name} supervisor pid {pid}"


def stop_supervisor(async_dir: Path) -> None:
    """Teardown: resume (it may be stopped) and end whatever supervisor serves the dir."""
    for _ in range(5):
        pid = supervisor_pid(async_dir, timeout=0)
        if pid is None:
            return
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
        deadline = now() + 5
        while sv.pid_alive(pid) and now() < deadline:
            time.sleep(0.01)


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class RunResult:
    exit_code: int | None
    """None when the controller was killed (by the fault or as hung)."""
    document: dict[str, Any] | None
    stdout: str
    stderr: str
    started: float
    ended: float
    hung: bool

    def results(self, task: str) -> dict[str, dict[str, Any]]:
        merged: dict[str, dict[str, Any]] = {}
        for play in (self.document or {}).get("plays", []):
            for entry in play["tasks"]:
                if entry["task"]["name"] == task:
                    merged.update(entry["hosts"])
        return merged

    def tail(self) -> str:
        """The last lines of stderr, without library warnings."""
        lines = [
            line
            for line in self.stderr.strip().splitlines()
            if line.strip() and "Warning" not in line and not line[:1].isspace()
        ]
        return " | ".join(lines[-3:])[-400:]


@dataclass
class FaultRun:
    """``playgraph run PLAYBOOK -i INVENTORY --json`` with faults injected at chosen moments."""

    fleet: Fleet
    playbook: Path
    report: Report
    forks: int = 40
    extra_args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    fired: list[float] = field(default_factory=list)
    """When each fault action ran (CLOCK_BOOTTIME)."""
    _threads: list[threading.Thread] = field(default_factory=list)
    _cancel: threading.Event = field(default_factory=threading.Event)

    def argv(self) -> list[str]:
        script = Path(sys.executable).with_name("playgraph")
        head = [str(script)] if script.exists() else [sys.executable, "-m", "playgraph"]
        return [
            *head,
            "run",
            str(self.playbook),
            "-i",
            str(self.fleet.inventory),
            "-f",
            str(self.forks),
            "--json",
            *self.extra_args,
        ]

    def start(self) -> FaultRun:
        folder = self.fleet.folder
        self._out = open(folder / f"{self.playbook.stem}.out", "w+b")  # noqa: SIM115 - closed in finish
        self._err = open(folder / f"{self.playbook.stem}.err", "w+b")  # noqa: SIM115
        self.started = now()
        self.proc = subprocess.Popen(
            self.argv(),
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._err,
            cwd=folder,
            env={**os.environ, **self.env},
        )
        return self

    def at(
        self, delay: float, action: Callable[[], str | None], watch: ProcWatch | None = None
    ) -> None:
        """Run ``action`` ``delay`` s after the start, or after the first job started when
        ``watch`` is given (the controller's own start-up time varies with the machine's
        load); what it returns is logged as an event."""

        def fire() -> None:
            base = self.started
            if watch is not None:
                while not watch.first_job.wait(0.05):
                    if self._cancel.is_set():
                        return
                base = watch.first_job_at or now()
            if self._cancel.wait(max(0.0, base + delay - now())):
                return
            try:
                text = action()
            except Exception as exc:  # noqa: BLE001 - the fault did not happen: the run proves nothing
                self.report.violation(
                    "harness",
                    f"fault at t={now() - self.started:.2f}s not injected: "
                    f"{type(exc).__name__}: {exc}",
                )
                return
            self.fired.append(now())
            at = self.fired[-1] - self.started
            after = f" (first job +{self.fired[-1] - base:.2f}s)" if watch is not None else ""
            if text:
                self.report.event(f"t={at:.2f}s{after} {text}")

        thread = threading.Thread(target=fire, name="fault", daemon=True)
        thread.start()
        self._threads.append(thread)

    def kill_controller(self, sig: int = signal.SIGKILL) -> str:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"the controller already exited ({self.proc.returncode})")
        self.proc.send_signal(sig)
        return f"{signal.Signals(sig).name} controller pid {self.proc.pid}"

    def finish(self, bound: float | Callable[[], float]) -> RunResult:
        """Wait for the controller until ``bound`` + HANG_MARGIN (absolute time); kill it then."""
        assert self.proc is not None
        hung = False
        while self.proc.poll() is None:
            limit = bound() if callable(bound) else bound
            if now() > limit + HANG_MARGIN:
                hung = True
                self.proc.kill()
                self.proc.wait()
                break
            time.sleep(0.02)
        ended = now()
        self._cancel.set()
        for thread in self._threads:
            thread.join(10)
        if len(self.fired) < len(self._threads) and not any(
            inv == "harness" for inv, _ in self.report.violations
        ):
            self.report.violation(
                "harness",
                f"{len(self._threads) - len(self.fired)} fault(s) not injected: "
                f"the run ended after {ended - self.started:.2f} s (exit {self.proc.returncode}): "
                f"{' | '.join(stderr_tail(self._err))}",
            )
        self._out.seek(0)
        self._err.seek(0)
        stdout = self._out.read().decode(errors="replace")
        stderr = self._err.read().decode(errors="replace")
        self._out.close()
        self._err.close()
        document = None
        if stdout.strip().startswith("{"):
            with contextlib.suppress(ValueError):
                document = json.loads(stdout)
        code = self.proc.returncode
        return RunResult(
            None if hung or code < 0 else code, document, stdout, stderr, self.started, ended, hung
        )


# --------------------------------------------------------------------------- checks


def check_limits(fleet: Fleet, watch: ProcWatch, report: Report) -> None:
    """No job outlives its limit by more than OVER_LIMIT (its whole process group), and no
    host's job runs twice (one process group per job)."""
    worst = 0.0
    for host, procs in sorted(watch.by_host().items()):
        groups: dict[int, list[Proc]] = {}
        for proc in procs:
            groups.setdefault(proc.pgid, []).append(proc)
        if len(groups) > 1:
            report.violation(
                "job started twice",
                f"{host}: {len(groups)} job process groups {sorted(groups)} for one launch",
            )
        for pgid, members in sorted(groups.items()):
            start = min(p.start for p in members)
            end = max(p.last_seen for p in members)
            still = any(p.alive for p in members)
            span = end - start
            if fleet.overruns(host):
                worst = max(worst, span - fleet.limit)
            if span > fleet.limit + OVER_LIMIT:
                report.violation(
                    "job outlived its limit",
                    f"{host}: ran {span:.2f} s{' (still running)' if still else ''}, limit "
                    f"{fleet.limit} s + {OVER_LIMIT:g} s allowed (sleep {fleet.sleeps[host]}; "
                    f"group {pgid}, {len(members)} processes)",
                )
    report.event(f"longest overrun of a limit: {worst:.2f} s (allowed {OVER_LIMIT:g} s)")


def describe_jobs(watch: ProcWatch, run: FaultRun) -> str:
    """When the jobs started, relative to the controller's start (to read fault moments)."""
    starts = sorted(min(p.start for p in procs) for procs in watch.by_host().values())
    if not starts:
        return "no job started"
    return (
        f"{len(starts)} jobs started between t={starts[0] - run.started:.2f}s "
        f"and t={starts[-1] - run.started:.2f}s"
    )


def _running(record: Any) -> bool:
    return isinstance(record, dict) and "started" in record and not record.get("finished")


def _writer_is_stopped(name: str) -> bool:
    """Whether the ``.tmp`` file's writer (``<file>.<pid>-<n>.tmp``) is a process stopped
    now (SIGSTOP, never resumed): frozen in the middle of its atomic write, it renames the
    file when it runs again, so the file is not left behind by anyone."""
    match = re.search(r"\.(\d+)-\d+\.tmp$", name)
    if match is None:
        return False
    try:
        with open(f"/proc/{match.group(1)}/stat", encoding="ascii") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state == "T"


def _writer_state(name: str) -> str:
    """The ``.tmp`` file's writer as /proc shows it now (for the violation's message)."""
    match = re.search(r"\.(\d+)-\d+\.tmp$", name)
    if match is None:
        return "unknown"
    try:
        with open(f"/proc/{match.group(1)}/cmdline", "rb") as handle:
            argv = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return f"pid {match.group(1)}, gone"
    return f"pid {match.group(1)}, running: {argv[-160:]}"


def check_status_files(
    fleet: Fleet,
    watch: ProcWatch,
    report: Report,
    *,
    excused: Callable[[str, Any], bool] = lambda host, record: False,
) -> dict[str, str]:
    """Every job that ran has a valid, finished status file with its right result; no ``.tmp``.

    ``excused(host, record)`` lets a scenario accept a record it explains (a full disk);
    ``record`` is None for a job without a status file.
    Returns host -> jid of the jobs that ran.
    """
    root = fleet.async_dir
    names = sorted(os.listdir(root)) if root.is_dir() else []
    priv = root / sv.PRIVATE_DIR
    pending = [
        folder / name
        for folder, entries in ((root, names), (priv, os.listdir(priv) if priv.is_dir() else []))
        for name in entries
        if name.endswith(".tmp") and not _writer_is_stopped(name)
    ]
    if pending:
        # A live writer may be in the middle of an atomic write (its rename a moment
        # away): left behind is a tmp file that is still there a while later.
        time.sleep(TMP_GRACE)
    for path in pending:
        if path.exists() and not _writer_is_stopped(path.name):
            report.violation("leftover .tmp", f"{path} (writer: {_writer_state(path.name)})")
    records: dict[str, Any] = {}
    for name in names:
        path = root / name
        if name.startswith(".") or name.endswith(".tmp") or not path.is_file():
            continue
        raw = path.read_bytes()
        try:
            record = json.loads(raw)
        except ValueError:
            report.violation("invalid status file", f"{name}: {raw[:120]!r}")
            continue
        if not isinstance(record, dict):
            report.violation("invalid status file", f"{name}: not a JSON object: {raw[:120]!r}")
            continue
        records[name] = record
    # A job's sidecar records the host it was started for: host -> jid.
    sidecars: dict[str, str] = {}
    for name in os.listdir(priv) if priv.is_dir() else []:
        if name.endswith(".json"):
            with contextlib.suppress(OSError, ValueError):
                meta = json.loads((priv / name).read_bytes())
                if isinstance(meta, dict) and isinstance(meta.get("host"), str):
                    sidecars[meta["host"]] = str(meta.get("jid"))
    jids: dict[str, str] = {}
    for host in sorted(watch.by_host()):
        jid = sidecars.get(host)
        if jid is None:
            report.violation("harness", f"{host}: no sidecar names its job")
            continue
        jids[host] = jid
        if jid not in records:
            if not (root / jid).exists() and not excused(host, None):
                report.violation("status file lost", f"{host}: {jid} ran but has no status file")
            continue
        record = records[jid]
        if excused(host, record):
            continue
        if _running(record):
            report.violation(
                "status file never finished",
                f"{host}: {jid} still holds a running record after its job ended: {record}",
            )
        elif fleet.near_limit(host) and record.get("msg") == TIMEOUT_MSG and record.get("failed"):
            pass  # it ran into its limit: the limit's record is right too
        elif fleet.overruns(host):
            if record.get("msg") != TIMEOUT_MSG or not record.get("failed"):
                report.violation(
                    "wrong record",
                    f"{host}: {jid} slept {fleet.sleeps[host]} s past its {fleet.limit} s "
                    f"limit, record is not '{TIMEOUT_MSG}': {_short(record)}",
                )
        elif record.get("rc") != 0 or record.get("stdout") != host:
            report.violation(
                "wrong record",
                f"{host}: {jid} (sleep {fleet.sleeps[host]} s) should be rc 0 and "
                f"stdout {host!r}: {_short(record)}",
            )
    for name, record in records.items():
        if _running(record) and name not in jids.values():
            report.violation(
                "status file never finished", f"{name} (no job process seen): {record}"
            )
    return jids


def _short(record: Any) -> str:
    if isinstance(record, dict):
        keep = ("failed", "msg", "rc", "stdout", "stderr", "finished", "unreachable")
        record = {k: record[k] for k in keep if k in record}
    return json.dumps(record, default=str)[:300]


def _failed(result: Mapping[str, Any]) -> bool:
    return bool(result.get("failed") or result.get("unreachable"))


def check_results(
    fleet: Fleet,
    run: RunResult,
    report: Report,
    cause: re.Pattern[str] | None,
    *,
    join: str = "join",
    hosts: Iterable[str] | None = None,
    launch: str | None = "launch",
) -> dict[str, str]:
    """Every host has a result for every task: its job's right result, or a failure whose
    ``msg`` names ``cause`` (None: no failure is acceptable but a job's own timeout).
    Returns how each host ended: "ok", "timeout" or the failure's task and msg."""
    outcome: dict[str, str] = {}
    if run.document is None:
        report.violation(
            "no result",
            f"the controller printed no JSON document (exit {run.exit_code}): {run.tail()}",
        )
        return outcome
    launches = run.results(launch) if launch else {}
    joins = run.results(join)
    for host in hosts if hosts is not None else fleet.hosts:
        if launch:
            started = launches.get(host)
            if started is None:
                report.violation("no result", f"{host}: no result for task '{launch}'")
                continue
            if _failed(started):
                msg = str(started.get("msg") or "")
                outcome[host] = f"{launch}: {msg}"
                if not (cause and cause.search(msg)):
                    report.violation(
                        "failure does not name its cause", f"{host} {launch}: {_short(started)}"
                    )
                continue
        result = joins.get(host)
        if result is None:
            report.violation("no result", f"{host}: no result for task '{join}'")
            continue
        msg = str(result.get("msg") or "")
        if _failed(result):
            if LOST.search(msg):
                # Nothing but the runtime ends a job here: "lost" is never the true cause.
                report.violation(
                    "wrong result",
                    f"{host} {join}: a {fleet.sleeps[host]} s job (limit {fleet.limit} s) "
                    f"reported lost: {_short(result)}",
                )
            elif (fleet.overruns(host) or fleet.near_limit(host)) and msg == TIMEOUT_MSG:
                outcome[host] = "timeout"
            elif cause and cause.search(msg):
                outcome[host] = f"{join}: {msg}"
            elif fleet.overruns(host):
                report.violation(
                    "failure does not name its cause", f"{host} {join}: {_short(result)}"
                )
            else:
                report.violation(
                    "wrong result",
                    f"{host} {join}: a {fleet.sleeps[host]} s job within its {fleet.limit} s "
                    f"limit failed: {_short(result)}",
                )
        elif fleet.overruns(host):
            report.violation(
                "wrong result",
                f"{host} {join}: a {fleet.sleeps[host]} s job past its {fleet.limit} s limit "
                f"did not fail: {_short(result)}",
            )
        elif result.get("rc") != 0 or result.get("stdout") != host or not result.get("finished"):
            report.violation("wrong result", f"{host} {join}: {_short(result)}")
        else:
            outcome[host] = "ok"
    return outcome


def end_bound(fleet: Fleet, watch: ProcWatch, since: float) -> float:
    """When the run must have ended: limit + grace after the later of ``since`` (the fault)
    and the last job's start, plus END_SLACK."""
    last = max(watch.last_start() or since, since)
    return last + fleet.limit + GRACE + END_SLACK


def check_ended(
    fleet: Fleet, run: RunResult, watch: ProcWatch, report: Report, since: float
) -> None:
    bound = end_bound(fleet, watch, since)
    late = run.ended - bound
    if run.hung:
        report.violation(
            "run hung",
            f"the controller was still running {run.ended - run.started:.1f} s after its start, "
            f"{late:.1f} s past limit {fleet.limit} s + grace {GRACE:g} s (+{END_SLACK:g} s) "
            f"after the fault / last job start; killed. stderr: {run.tail()}",
        )
    elif late > 0:
        report.violation(
            "run ended late",
            f"the controller ended {late:.2f} s after limit {fleet.limit} s + grace {GRACE:g} s "
            f"(+{END_SLACK:g} s) past the fault / last job start "
            f"(run took {run.ended - run.started:.2f} s)",
        )


def summarize(outcome: Mapping[str, str]) -> str:
    counts: dict[str, int] = {}
    for value in outcome.values():
        key = value if value in ("ok", "timeout") else value.splitlines()[0][:100]
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n}x {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def settle(fleet: Fleet, seconds: float = 2.0) -> None:
    """Give the supervisor ``seconds`` to turn running records into final ones."""
    deadline = now() + seconds
    while now() < deadline:
        running = False
        for path in fleet.async_dir.glob("*"):
            with contextlib.suppress(OSError, ValueError):
                if path.is_file() and _running(json.loads(path.read_bytes())):
                    running = True
                    break
        if not running:
            return
        time.sleep(0.05)


def check_job_records(
    fleet: Fleet, run: RunResult, jids: Mapping[str, str], report: Report, task: str = "join"
) -> None:
    """async_status's fields on each joined job: started, finished, its jid and results file."""
    for host, result in sorted(run.results(task).items()):
        if host not in jids or result.get("skipped"):
            continue
        want = {
            "started": True,
            "finished": True,
            "ansible_job_id": jids[host],
            "results_file": str(fleet.status_path(jids[host])),
        }
        wrong = {k: result.get(k) for k, v in want.items() if result.get(k) != v}
        if wrong:
            report.violation("async_status record", f"{host}: {wrong} (expected {want})")


def fill_disk(folder: Path) -> str:
    """Take every free byte of ``folder``'s filesystem (a dot file: not a status file)."""
    written = 0
    chunk = b"\0" * 65536
    fd = os.open(folder / ".pgfault-filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while True:
            written += os.write(fd, chunk)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
    finally:
        os.close(fd)
    free = os.statvfs(folder).f_bavail
    return f"filled {folder.name}: {written} more bytes, {free} blocks left"
