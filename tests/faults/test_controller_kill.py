"""Scenario 1: the controller is SIGKILLed at a random moment of a 120-host fan-out.

The jobs belong to the supervisor, not to the controller: each must still end by
its limit, leave a valid finished status file with its right result, and a
later join-only run must find every one of them.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from .conftest import Site
from .harness import (
    FaultRun,
    ProcWatch,
    Report,
    check_job_records,
    check_limits,
    check_results,
    check_status_files,
    describe_jobs,
    join_only,
    launch_and_join,
    note_long_runs,
    now,
    seeds,
    settle,
)

pytestmark = [pytest.mark.e2e, pytest.mark.faults]


@pytest.mark.parametrize("seed", seeds(1101, 1102, 1103))
def test_controller_sigkill(site: Site, seed: int) -> None:
    rng = random.Random(seed)
    report = Report("controller_sigkill", seed)
    fleet = site.fleet(rng, hosts=120, limit=2)
    moment = rng.uniform(0.0, 2.0)
    with ProcWatch(fleet.tag) as watch:
        run = FaultRun(fleet, launch_and_join(fleet), report).start()
        run.at(moment, run.kill_controller, watch)
        run.finish(run.started + 40)
        watch.wait_quiet(fleet.limit)
        report.event(describe_jobs(watch, run))
        settle(fleet)
        check_limits(fleet, watch, report)
        jids = check_status_files(fleet, watch, report)
        report.event(f"{len(jids)} of {len(fleet.hosts)} jobs had started when it was killed")
        if jids:
            playbook = join_only(fleet, jids)
            extra = ("-e", f"@{Path(fleet.folder) / 'jids.json'}")
            later = FaultRun(fleet, playbook, report, extra_args=extra).start()
            again = later.finish(now() + 30)
            if again.hung:
                report.violation("run hung", f"the join-only run did not end: {again.tail()}")
            note_long_runs(fleet, watch)
            check_results(fleet, again, report, None, launch=None, hosts=sorted(jids))
            check_job_records(fleet, again, jids, report)
    report.check()
