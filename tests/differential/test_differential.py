"""Differential tests: every corpus playbook run by ansible-core (the oracle) and by playgraph.

Each playbook in ``corpus/`` runs on the same three local hosts with both tools
(`harness.run_tool`); both JSON documents are reduced by the one normaliser
(`normalise.normalise`, which documents what legitimately differs) and must then be equal
per task and host in ``failed``, ``changed``, ``rc``, ``stdout``, ``finished``,
``started``, ``attempts``, ``skipped``, ``unreachable`` and ``msg``, in the recap
``stats``, and in the exit code.  Every remaining difference is either a bug or one of the
deliberate differences listed in `DELIBERATE` below, each with its reason (they are the
improvements of specs/scheduling.md as they show in a run).  An entry of `DELIBERATE` that
no longer matches any difference fails the test too, so the list stays true.

The oracle is ``ansible-playbook`` from ``$PLAYGRAPH_ORACLE`` (default ``.oracle/venv``,
which ``scripts/test`` creates); without it these tests fail, they are never skipped.

Runs are slow (ansible-core forks a worker and starts a Python module per task and host),
so the first test starts every selected case at once on a thread pool —
``$PLAYGRAPH_DIFF_JOBS`` cases at a time (default: the number of CPUs, at least 2), each
case running both tools side by side — and each test waits for its own case.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .harness import (
    CORPUS,
    OracleMissing,
    RunResult,
    ansible_playbook,
    cleanup_run,
    read_header,
    run_tool,
    stop_ansible_jobs,
    stop_playgraph_jobs,
)
from .normalise import Difference, differences, normalise

CASES = sorted(path.stem for path in CORPUS.glob("*.yml"))


@dataclass(frozen=True, slots=True)
class Deliberate:
    """A difference from ansible-core that playgraph makes on purpose.

    ``row`` is a regex searched in the difference's row (``play 0 | task @line | host | #0``,
    ``stats`` or ``exit_code``); ``fields`` the compared fields (for ``stats`` the host
    names) it covers, None for all.
    """

    case: str
    row: str
    fields: frozenset[str] | None
    reason: str

    def covers(self, case: str, row: str, field: str) -> bool:
        if case != self.case or not re.search(self.row, row):
            return False
        return self.fields is None or field in self.fields


_JOIN_CONTEXT = (
    "A join inherits its launch's context (specs/scheduling.md, 'A join inherits its "
    "launch's context'): playgraph reads the job in the launch's ansible_async_dir and "
    "finds it; ansible-core looks in the join's own (default) dir and fails with 'could "
    "not find job' (ansible/ansible#77257, #81805)."
)
_SKIPPED_LAUNCH = (
    "A join whose launch was skipped on a host is skipped there (specs/scheduling.md): "
    "ansible-core renders the jid of a skipped result and fails on the missing "
    "ansible_job_id."
)
_UNKNOWN_CONNECTION = (
    "An unknown connection type makes the host unreachable (issue 4: 'a host whose "
    "connection type is unknown is unreachable while others carry on, exit code 4'); "
    "ansible-core fails the task instead ('the connection plugin ... was not found', "
    "counted as a failure, exit 2)."
)

DELIBERATE: tuple[Deliberate, ...] = (
    Deliberate("join_context", r"join without the launch's dir", None, _JOIN_CONTEXT),
    Deliberate("join_context", r"join a launch skipped on h3 .*\| h3 \|", None, _SKIPPED_LAUNCH),
    # The recap follows: the joins succeed (changed) instead of failing (ignored), and
    # h3's skipped join counts as skipped.
    Deliberate("join_context", r"^stats$", frozenset({"h1", "h2", "h3"}), _JOIN_CONTEXT),
    Deliberate(
        "unreachable",
        r"polled on every host .*\| h2 \|",
        frozenset({"failed", "unreachable", "msg"}),
        _UNKNOWN_CONNECTION,
    ),
    Deliberate("unreachable", r"^stats$", frozenset({"h2"}), _UNKNOWN_CONNECTION),
    Deliberate("unreachable", r"^exit_code$", None, _UNKNOWN_CONNECTION),
)

KNOWN_BUGS: dict[str, str] = {}
"""Cases that fail because of a known, reported bug; strict xfail, so a fix shows."""


# --------------------------------------------------------------------------- running


@dataclass(frozen=True, slots=True)
class CaseRun:
    oracle: RunResult
    ours: RunResult


class CaseRunner:
    """Starts the selected cases on a pool the first time one is asked for."""

    def __init__(self, cases: list[str], base: Path) -> None:
        self.cases = cases
        self.base = base
        self.futures: dict[str, concurrent.futures.Future[CaseRun]] = {}
        jobs = int(os.environ.get("PLAYGRAPH_DIFF_JOBS") or max(2, os.cpu_count() or 2))
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
        # Both tools of one case run side by side, on a pool of their own (a case's
        # thread must not wait for a slot its own pool would need).
        self.tools = concurrent.futures.ThreadPoolExecutor(max_workers=2 * jobs)

    def start(self) -> None:
        for case in self.cases:
            if case not in self.futures:
                self.futures[case] = self.pool.submit(self._run, case)

    def _run(self, case: str) -> CaseRun:
        playbook = CORPUS / f"{case}.yml"
        base = self.base / case
        base.mkdir(parents=True, exist_ok=True)
        oracle = self.tools.submit(run_tool, "ansible", playbook, base)
        ours = self.tools.submit(run_tool, "playgraph", playbook, base)
        try:
            run = CaseRun(oracle.result(), ours.result())
        finally:
            stop_playgraph_jobs(base)
            stop_ansible_jobs(base)
        cleanup_run(run.oracle)
        cleanup_run(run.ours)
        return run

    def get(self, case: str) -> CaseRun:
        if case not in self.futures:
            self.cases.append(case)
            self.start()
        return self.futures[case].result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.tools.shutdown(wait=True)


@pytest.fixture(scope="session")
def case_runner(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CaseRunner]:
    missing = None
    try:
        ansible_playbook()
    except OracleMissing as error:
        missing = str(error)
    if missing is not None:
        pytest.fail(missing, pytrace=False)  # never a skip: the oracle is part of the suite
    selected = [
        item.callspec.params["case"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_differential" and hasattr(item, "callspec")
    ]
    runner = CaseRunner(selected, tmp_path_factory.mktemp("differential"))
    runner.start()
    yield runner
    runner.close()


# --------------------------------------------------------------------------- the test


def _params() -> list[Any]:
    params = []
    for case in CASES:
        bug = KNOWN_BUGS.get(case)
        marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
        params.append(pytest.param(case, id=case, marks=marks))
    return params


def _job_ids(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "ansible_job_id":
                yield inner
            else:
                yield from _job_ids(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _job_ids(inner)


def _format(found: list[Difference]) -> str:
    return "\n".join(
        f"  {row} :: {field}: ansible-core={a!r} playgraph={b!r}" for row, field, a, b in found
    )


@pytest.mark.e2e
@pytest.mark.parametrize("case", _params())
def test_differential(case: str, case_runner: CaseRunner) -> None:
    run = case_runner.get(case)
    oracle, ours = run.oracle, run.ours
    assert oracle.document is not None, f"ansible-core gave no JSON document\n{oracle.explain()}"
    assert ours.document is not None, f"playgraph gave no JSON document\n{ours.explain()}"
    assert "Traceback" not in ours.stderr, ours.explain()

    # jids are strings in ansible-core's shape, never numbers.
    for jid in _job_ids(ours.document):
        assert isinstance(jid, str) and re.fullmatch(r"j\d+\.\d+", jid), jid

    header = read_header(CORPUS / f"{case}.yml")
    relax = {
        "outcome_only": header.outcome_only,
        "attempts_vary": header.attempts_vary,
        "compare_all": header.compare_all,
        "ignore_fields": header.ignore_fields,
    }
    found = differences(
        normalise(oracle.document, home=str(oracle.home), names=oracle.scrub, **relax),
        normalise(ours.document, home=str(ours.home), names=ours.scrub, **relax),
    )
    if oracle.exit_code != ours.exit_code:
        found.append(("exit_code", "", oracle.exit_code, ours.exit_code))

    entries = [d for d in DELIBERATE if d.case == case]
    unexplained = [d for d in found if not any(e.covers(case, d[0], d[1]) for e in entries)]
    stale = [e for e in entries if not any(e.covers(case, d[0], d[1]) for d in found)]
    message = []
    if unexplained:
        message.append(
            f"{len(unexplained)} difference(s) from ansible-core:\n{_format(unexplained)}"
        )
    if stale:
        message.append(
            "deliberate difference(s) listed for this case no longer show: "
            + "; ".join(f"{e.row!r} {sorted(e.fields) if e.fields else 'all'}" for e in stale)
        )
    timing = f"(oracle {oracle.seconds:.1f}s, playgraph {ours.seconds:.1f}s)"
    assert not message, "\n".join([*message, timing])
