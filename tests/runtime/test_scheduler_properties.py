"""Scheduling semantics as properties, on the virtual-time loop with the scripted fake.

Hypothesis generates plays (blocking, polled and detached tasks with joins),
durations, limits, polls, retry budgets, host counts, forks, strategies and the
seed of the ready-order Random; every run is checked against the rules of
specs/scheduling.md using the trace of events.
"""

from __future__ import annotations

import itertools
import os
import random
import tempfile
from dataclasses import dataclass
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playgraph.compiler import Detached, Join, Polled, compile_playbook
from playgraph.runtime.connection.fake import FakeWorld
from playgraph.runtime.context import RunOptions
from playgraph.runtime.inventory import Inventory
from playgraph.runtime.run import run_graph
from playgraph.runtime.tracing import Event, EventKind
from playgraph.runtime.vclock import run_virtual

EPS = 1e-6


@dataclass(frozen=True)
class Spec:
    kind: str  # blocking | polled | detached
    duration: int
    limit: int = 0
    poll: int = 0
    retries: int = 0
    delay: int = 0


specs = st.one_of(
    st.builds(Spec, kind=st.just("blocking"), duration=st.integers(0, 5)),
    st.builds(
        Spec,
        kind=st.just("polled"),
        duration=st.integers(0, 12),
        limit=st.integers(1, 10),
        poll=st.integers(1, 6),
    ),
    st.builds(
        Spec,
        kind=st.just("detached"),
        duration=st.integers(0, 12),
        limit=st.integers(1, 10),
        retries=st.integers(0, 6),
        delay=st.integers(0, 4),
    ),
)


def playbook(tasks: list[Spec], strategy: str) -> str:
    body: list[dict[str, Any]] = []
    for index, spec in enumerate(tasks):
        task: dict[str, Any] = {"name": f"t{index}", "command": f"sleep {spec.duration}"}
        if spec.kind == "polled":
            # A timed-out poll fails; ignoring it keeps the host going so later rules are checked.
            task.update({"async": spec.limit, "poll": spec.poll, "ignore_errors": True})
        elif spec.kind == "detached":
            task.update({"async": spec.limit, "poll": 0, "register": f"job{index}"})
        body.append(task)
        if spec.kind == "detached":
            body.append(
                {
                    "name": f"join{index}",
                    "async_status": {"jid": f"{{{{ job{index}.ansible_job_id }}}}"},
                    "register": f"st{index}",
                    "until": f"st{index} is finished",
                    "retries": spec.retries,
                    "delay": spec.delay,
                    "ignore_errors": True,
                }
            )
    play = {"hosts": "all", "gather_facts": False, "strategy": strategy, "tasks": body}
    return yaml.safe_dump([play], sort_keys=False)


@dataclass
class Run:
    events: list[Event]
    world: FakeWorld
    graph: Any
    hosts: list[str]
    document: dict[str, Any]


def execute(tasks: list[Spec], hosts: int, forks: int, strategy: str, seed: int) -> Run:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "p.yml")
        with open(path, "w") as handle:
            handle.write(playbook(tasks, strategy))
        compiled = compile_playbook(path)
    assert not [d for d in compiled.diagnostics if d.severity.value == "error"]
    inventory = Inventory()
    names = [f"h{i}" for i in range(hosts)]
    for name in names:
        inventory.add_host(name)
    world = FakeWorld(latency=0.01)
    events: list[Event] = []
    outcome = run_virtual(
        run_graph(
            compiled.graph,
            inventory,
            RunOptions(forks=forks, grace=1.0),
            connect=world.connection,
            subscribers=[events.append],
            rng=random.Random(seed),
        )
    )
    return Run(events, world, compiled.graph, names, outcome.document)


def spans(run: Run) -> dict[tuple[str, str], tuple[float, float, dict[str, Any]]]:
    """(node, host) -> (start, finish, result) from the trace."""
    starts: dict[tuple[str, str], float] = {}
    out: dict[tuple[str, str], tuple[float, float, dict[str, Any]]] = {}
    for event in run.events:
        if event.node is None or event.host is None:
            continue
        key = (event.node, event.host)
        if event.kind is EventKind.NODE_STARTED:
            starts[key] = event.time
        elif event.kind is EventKind.NODE_FINISHED:
            out[key] = (starts.get(key, event.time), event.time, event.data["result"])
    return out


scenario = st.tuples(
    st.lists(specs, min_size=1, max_size=5),
    st.integers(1, 6),
    st.integers(1, 4),
    st.sampled_from(["linear", "free"]),
    st.integers(0, 2**32),
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenario)
def test_scheduling_rules_hold(case: tuple[list[Spec], int, int, str, int]) -> None:
    tasks, host_count, forks, strategy, seed = case
    run = execute(tasks, host_count, forks, strategy, seed)
    timing = spans(run)
    nodes = list(run.graph.nodes())
    jobs_by_host_node: dict[tuple[str, str], str] = {}
    for event in run.events:
        if event.kind is EventKind.LAUNCHED and event.node and event.host:
            jobs_by_host_node[(event.node, event.host)] = event.data["jid"]

    for host in run.hosts:
        previous_finish = 0.0
        for node in nodes:
            start, finish, result = timing[(node.id, host)]
            # A host's next node never starts before its previous node returned.
            assert start >= previous_finish - EPS
            previous_finish = finish
            if isinstance(node, Detached):
                job = run.world.jobs[jobs_by_host_node[(node.id, host)]]
                # A detached node returns as soon as its job is launched; the job runs on.
                assert finish - job.start <= EPS
                assert result["ansible_job_id"] == job.jid and result["finished"] is False
            if isinstance(node, Polled):
                job = run.world.jobs[jobs_by_host_node[(node.id, host)]]
                poll = float(node.poll)
                if job.duration <= job.limit:
                    # No earlier than the job's end, no later than one poll after it.
                    assert finish >= job.end - EPS
                    assert finish <= job.end + poll + EPS
                    assert result["finished"] is True and not result.get("failed")
                else:
                    # Fails at its limit (the target's exact kill), with Ansible's message.
                    assert result["failed"] is True
                    assert (
                        result["msg"]
                        == f"async task did not complete within the requested time - {int(job.limit)}s"
                    )
                    assert job.end <= job.start + job.limit + EPS
                    assert finish <= job.start + job.limit + poll + EPS
            if isinstance(node, Join):
                launch = run.graph.node_index()[node.waits_on[0]]
                job = run.world.jobs[jobs_by_host_node[(launch.id, host)]]
                retry = node.retry
                assert retry is not None
                runs = 1 + int(retry.retries or 0)
                if result.get("finished"):
                    # Completes only after its job finished ...
                    assert finish >= job.end - EPS
                elif runs == 1:
                    # retries: 0 runs once and never evaluates `until` (ansible-core's quirk).
                    assert not result.get("failed") and "attempts" not in result
                else:
                    # ... or after its whole retry budget, with Ansible's attempt count.
                    assert result["failed"] is True
                    if runs > 1:
                        assert result["attempts"] == runs - 1
                    assert finish >= start + (runs - 1) * float(retry.delay) - EPS

    # Never more than `forks` hosts launching or running at once.
    assert run.world.max_in_flight <= forks

    # No job outlives its limit.
    for job in run.world.jobs.values():
        assert job.end <= job.start + job.limit + EPS

    if strategy == "linear":
        # No host starts node N+1 before every host finished node N.
        for earlier, later in itertools.pairwise(nodes):
            last_finish = max(timing[(earlier.id, h)][1] for h in run.hosts)
            first_start = min(timing[(later.id, h)][0] for h in run.hosts)
            assert first_start >= last_finish - EPS


@SETTINGS
@given(
    st.integers(2, 8),
    st.integers(1, 3),
    st.integers(1, 8),
    st.integers(0, 2**32),
)
def test_every_polled_job_starts_before_any_host_waits_long(
    hosts: int, forks: int, duration: int, seed: int
) -> None:
    """The "smart poll": launches are bounded by forks, waiting is not, so all jobs start
    within (hosts / forks) launch latencies and the task takes about one job's duration."""
    run = execute(
        [Spec("polled", duration, limit=duration + 5, poll=1)], hosts, forks, "linear", seed
    )
    launches = sorted(job.start for job in run.world.jobs.values())
    assert len(launches) == hosts
    waves = -(-hosts // forks)
    assert launches[-1] - launches[0] <= waves * run.world.latency + EPS
    finished = max(f for (_, _), (_, f, _) in spans(run).items())
    assert finished <= launches[-1] + duration + EPS + run.world.latency


def test_a_detached_job_overlaps_the_nodes_after_it(tmp_path: Any) -> None:
    path = tmp_path / "p.yml"
    path.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - command: sleep 10\n      async: 20\n      poll: 0\n      register: j\n"
        "    - command: sleep 3\n"
        "    - async_status: jid={{ j.ansible_job_id }}\n      register: s\n"
        "      until: s is finished\n      retries: 30\n      delay: 1\n"
    )
    graph = compile_playbook(str(path)).graph
    inventory = Inventory()
    for name in ("h0", "h1", "h2"):
        inventory.add_host(name)
    world = FakeWorld(latency=0.01)
    events: list[Event] = []
    run_virtual(
        run_graph(
            graph,
            inventory,
            RunOptions(forks=5),
            connect=world.connection,
            subscribers=[events.append],
            rng=random.Random(3),
        )
    )
    timing = spans(Run(events, world, graph, ["h0", "h1", "h2"], {}))
    launch, blocking, join = graph.nodes()
    for host in ("h0", "h1", "h2"):
        job = next(j for j in world.jobs.values() if j.host == host)
        start, finish, _ = timing[(blocking.id, host)]
        assert job.start <= start and job.end > finish  # the job ran while the host moved on
        assert timing[(launch.id, host)][1] - job.start < 1e-6
        assert timing[(join.id, host)][1] >= job.end - EPS
        assert timing[(join.id, host)][1] - job.end < 0.1  # the join wakes when the job ends


def test_join_attempts_match_ansible_counts() -> None:
    # until never true within budget: retries+1 runs, attempts == retries, failed.
    run = execute([Spec("detached", 100, limit=200, retries=3, delay=2)], 1, 1, "linear", 1)
    result = spans(run)[(list(run.graph.nodes())[1].id, "h0")][2]
    assert result["failed"] is True and result["attempts"] == 3
    run = execute([Spec("detached", 4, limit=200, retries=10, delay=2)], 1, 1, "linear", 1)
    result = spans(run)[(list(run.graph.nodes())[1].id, "h0")][2]
    # checks at t=0, 2 and 4 (the last woken by the job's end): attempts == 3, ok.
    assert result["finished"] is True and not result.get("failed") and result["attempts"] == 3
