"""Scenario 4: the async dir is a small tmpfs (1 MiB: room for the 40 jobs), filled up at a
random moment.

A job whose status cannot be written must fail with a message naming the full
disk (ENOSPC), never hang its join or leave a ``.tmp`` behind; the run ends
within limit + grace and the jobs end by their limits.  A status file that
exists is valid JSON; one left holding the running record is excused only for
a host whose failure names the full disk (the final record had no room).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from .conftest import Site
from .harness import (
    ENOSPC,
    FaultRun,
    ProcWatch,
    Report,
    check_ended,
    check_limits,
    check_results,
    check_status_files,
    describe_jobs,
    end_bound,
    fill_disk,
    launch_and_join,
    note_long_runs,
    seeds,
    settle,
    summarize,
)

pytestmark = [pytest.mark.e2e, pytest.mark.faults]


@pytest.mark.parametrize("seed", seeds(4401, 4402))
def test_disk_full(site: Site, seed: int) -> None:
    rng = random.Random(seed)
    report = Report("disk_full", seed)
    site.mount_tmpfs(site.async_dir, "1m")
    fleet = site.fleet(rng, hosts=40, limit=2)
    moment = rng.uniform(0.0, 2.0)
    with ProcWatch(fleet.tag) as watch:
        run = FaultRun(fleet, launch_and_join(fleet), report).start()
        run.at(moment, lambda: fill_disk(fleet.async_dir), watch)
        filled_at = lambda: run.fired[0] if run.fired else run.started  # noqa: E731
        result = run.finish(lambda: end_bound(fleet, watch, filled_at()))
        check_ended(fleet, result, watch, report, filled_at())
        note_long_runs(fleet, watch)
        outcome = check_results(fleet, result, report, ENOSPC)
        report.event(f"hosts: {summarize(outcome)}")
        watch.wait_quiet(fleet.limit)
        report.event(describe_jobs(watch, run))
        settle(fleet)
        check_limits(fleet, watch, report)

        def excused(host: str, record: Any) -> bool:
            return bool(ENOSPC.search(outcome.get(host, "")))

        check_status_files(fleet, watch, report, excused=excused)
    report.check()
