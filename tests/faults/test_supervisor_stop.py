"""Scenario 3: the job supervisor is SIGSTOPped at a random moment, and resumed later or never.

A stopped supervisor still accepts connections (the kernel queues them) but
answers nothing: every wait of the controller must have a deadline.  The run
must end within limit + grace of the stop, each failure naming the supervisor,
and the jobs must still end by their limits.
"""

from __future__ import annotations

import random
import signal

import pytest

from .conftest import Site
from .harness import (
    SUPERVISOR,
    FaultRun,
    ProcWatch,
    Report,
    check_ended,
    check_limits,
    check_results,
    check_status_files,
    describe_jobs,
    end_bound,
    launch_and_join,
    note_long_runs,
    seeds,
    settle,
    signal_supervisor,
    summarize,
)

pytestmark = [pytest.mark.e2e, pytest.mark.faults]


@pytest.mark.parametrize("resume", ["never", "later"])
@pytest.mark.parametrize("seed", seeds(3301))
def test_supervisor_sigstop(site: Site, seed: int, resume: str) -> None:
    rng = random.Random(seed)
    report = Report(f"supervisor_sigstop and {resume}", seed)
    fleet = site.fleet(rng, hosts=100, limit=2)
    moment = rng.uniform(0.0, 2.0)
    with ProcWatch(fleet.tag) as watch:
        run = FaultRun(fleet, launch_and_join(fleet), report).start()
        run.at(moment, lambda: signal_supervisor(fleet.async_dir, signal.SIGSTOP), watch)
        if resume == "later":
            after = moment + rng.uniform(2.0, 5.0)
            run.at(after, lambda: signal_supervisor(fleet.async_dir, signal.SIGCONT), watch)
        stopped_at = lambda: run.fired[0] if run.fired else run.started  # noqa: E731
        result = run.finish(lambda: end_bound(fleet, watch, stopped_at()))
        check_ended(fleet, result, watch, report, stopped_at())
        note_long_runs(fleet, watch)
        outcome = check_results(fleet, result, report, SUPERVISOR)
        report.event(f"hosts: {summarize(outcome)}")
        watch.wait_quiet(fleet.limit)
        report.event(describe_jobs(watch, run))
        settle(fleet)
        check_limits(fleet, watch, report)
        check_status_files(fleet, watch, report)
    report.check()
