"""Scenario 2: the job supervisor is SIGKILLed (once or twice) at random moments of a run.

Its jobs run on (they are not its children's children in any way that dies with
it); the next supervisor adopts them.  The run must still end within limit +
grace, every host must have a result for every task, a failure must say it was
the supervisor, and no job may outlive its limit by more than 1 s.
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


@pytest.mark.parametrize("seed", seeds(2201, 2202, 2203))
def test_supervisor_sigkill(site: Site, seed: int) -> None:
    rng = random.Random(seed)
    report = Report("supervisor_sigkill", seed)
    fleet = site.fleet(rng, hosts=120, limit=2)
    moments = sorted(rng.uniform(0.0, 2.5) for _ in range(rng.choice((1, 2))))
    with ProcWatch(fleet.tag) as watch:
        run = FaultRun(fleet, launch_and_join(fleet), report).start()
        killed: list[int] = []
        for moment in moments:
            run.at(
                moment, lambda: signal_supervisor(fleet.async_dir, signal.SIGKILL, killed), watch
            )
        result = run.finish(lambda: end_bound(fleet, watch, max(run.fired, default=run.started)))
        check_ended(fleet, result, watch, report, max(run.fired, default=run.started))
        note_long_runs(fleet, watch)
        outcome = check_results(fleet, result, report, SUPERVISOR)
        report.event(f"hosts: {summarize(outcome)}")
        watch.wait_quiet(fleet.limit)
        report.event(describe_jobs(watch, run))
        settle(fleet)
        check_limits(fleet, watch, report)
        check_status_files(fleet, watch, report)
    report.check()
