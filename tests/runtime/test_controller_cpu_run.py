"""The controller's CPU per host in a run (issue 14, scale): what each host no longer pays.

Counted on the virtual clock against the fake connection (never timed), as in
test_controller_cost.py.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import pstats
from pathlib import Path
from typing import Any

import pytest
from playgraph.compiler import compile_playbook
from playgraph.runtime.context import RunOptions
from playgraph.runtime.run import open_runtime
from playgraph.runtime.scheduler import RunOutcome, Scheduler
from playgraph.runtime.testing.fake_connection import FakeWorld
from playgraph.runtime.testing.vclock import run_virtual

from playgraph.cli import main
from playgraph.cli import run as cli_run

from .test_scale_cost import FANOUT, _inventory


class _CountingSemaphore(asyncio.Semaphore):
    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.acquired = 0

    async def acquire(self) -> bool:
        self.acquired += 1
        return await super().acquire()


def _run(
    tmp_path: Path, hosts: int, options: RunOptions, profile: cProfile.Profile | None = None
) -> tuple[RunOutcome, int]:
    """The fan-out on ``hosts`` hosts; its outcome and the forks it acquired."""
    path = tmp_path / "fanout.yml"
    path.write_text(FANOUT)
    graph = compile_playbook(str(path)).graph
    inventory = _inventory(hosts)

    async def go() -> tuple[RunOutcome, int]:
        async with open_runtime(
            inventory, options, connect=FakeWorld(latency=0.01).connection
        ) as run:
            forks = run.forks = _CountingSemaphore(options.forks)
            scheduler = Scheduler(graph, run)
            if profile is not None:
                profile.enable()
            outcome = await scheduler.execute()
            if profile is not None:
                profile.disable()
            return outcome, forks.acquired

    return run_virtual(go())


def test_a_set_interpreter_takes_no_fork(tmp_path: Path) -> None:
    hosts = 60
    outcome, acquired = _run(tmp_path, hosts, RunOptions(forks=5))
    assert outcome.exit_code == 0
    # One fork per host, for its launch.  Discovery's fork, taken also when the
    # interpreter is set (no probe), queued every host a second time behind the others.
    assert acquired == hosts


def test_a_run_whose_results_nobody_reads_keeps_only_the_stats(tmp_path: Path) -> None:
    hosts = 40
    kept, _ = _run(tmp_path, hosts, RunOptions(forks=10))
    lean_profile = cProfile.Profile()
    lean, _ = _run(tmp_path, hosts, RunOptions(forks=10, keep_results=False), lean_profile)
    assert lean.exit_code == kept.exit_code == 0
    assert lean.document["stats"] == kept.document["stats"]
    assert [len(play["tasks"]) for play in kept.document["plays"]] == [3]
    assert [len(play["tasks"]) for play in lean.document["plays"]] == [0]
    stats = pstats.Stats(lean_profile).stats  # type: ignore[attr-defined]
    # No task record is looked up or built per host.
    assert not any(name in ("current_task", "censor") for (_f, _l, name) in stats)


def _cli_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> dict[str, Any]:
    """``playgraph run`` with the run itself replaced: what it was given."""
    seen: dict[str, Any] = {}

    async def fake_run_graph(graph: Any, inventory: Any, options: RunOptions, **kwargs: Any) -> Any:
        seen["options"] = options
        seen["subscribers"] = list(kwargs["subscribers"])
        seen["gc"] = (gc.get_threshold()[0], gc.get_freeze_count())
        return RunOutcome(exit_code=0, document={"plays": [], "stats": {}})

    monkeypatch.setattr("playgraph.runtime.run.run_graph", fake_run_graph)
    monkeypatch.setenv("PLAYGRAPH_NO_LIVE", "1")
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  tasks: []\n")
    before = gc.get_threshold()
    assert main(["run", str(playbook), "--no-cache", *extra]) == 0
    assert gc.get_threshold() == before
    return seen


def test_the_line_output_records_no_results_and_no_timeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = _cli_run(tmp_path, monkeypatch)
    assert seen["options"].keep_results is False
    assert not any(type(s).__name__ == "TimelineRecorder" for s in seen["subscribers"])
    # The run has the collector mostly out of its way (restored after, see _cli_run).
    young, frozen = seen["gc"]
    assert young == cli_run.RUN_GC_YOUNG and frozen > 0
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("extra", [["--json"], ["--report", "REPORT"]])
def test_json_and_the_report_record_everything(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
) -> None:
    extra = [str(tmp_path / "r.html") if arg == "REPORT" else arg for arg in extra]
    seen = _cli_run(tmp_path, monkeypatch, *extra)
    assert seen["options"].keep_results is True
    assert any(type(s).__name__ == "TimelineRecorder" for s in seen["subscribers"])
