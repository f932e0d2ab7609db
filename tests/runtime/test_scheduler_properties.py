"""Scheduling semantics as properties, on the virtual-time loop with the scripted fake.

Hypothesis generates playbooks of one to three plays: blocking tasks (some failing on
some hosts through ``failed_when``, some notifying a handler), polled tasks (some
outliving their limit), detached launches (also looped ones, several in flight per
host), joins anywhere after their launch (in later plays too, in blocks, rescues and
always sections), ``ignore_errors`` both ways, blocks with ``rescue``/``always``,
``any_errors_fatal``, ``max_fail_percentage``, ``force_handlers``, both strategies,
host counts, forks and the seed of the ready-order Random.  Every run is checked
against the properties of specs/scheduling.md ("Properties"), one test per property,
using the trace of events; each test names its property.

The per-host walk is checked against a small model of its own (`_walk`): given the
results the host got, which tasks it must run next.  It does not predict timing,
only the order the rules imply.
"""

from __future__ import annotations

import itertools
import os
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playgraph.compiler import compile_playbook
from playgraph.runtime.context import RunOptions
from playgraph.runtime.inventory import Inventory
from playgraph.runtime.run import run_graph
from playgraph.runtime.testing.fake_connection import FakeJob, FakeWorld
from playgraph.runtime.testing.vclock import run_virtual
from playgraph.runtime.tracing import Event, EventKind

EPS = 1e-6
TIMEOUT_MSG = "async task did not complete within the requested time - {}s"

# --------------------------------------------------------------------------- the generator


@dataclass(frozen=True)
class Task:
    name: str
    kind: str  # blocking | polled | detached | looped | join
    durations: tuple[int, ...] = (0,)
    limit: int = 0
    poll: int = 0
    retries: int = 0
    delay: int = 0
    fail_on: frozenset[str] = frozenset()
    ignore: bool = False
    notify: bool = False
    target: Task | None = None
    """A join's launch."""

    @property
    def launches(self) -> bool:
        return self.kind in ("detached", "looped")


@dataclass(frozen=True)
class Block:
    body: tuple[Task, ...]
    rescue: tuple[Task, ...]
    always: tuple[Task, ...]


Item = Task | Block


@dataclass(frozen=True)
class PlaySpec:
    items: tuple[Item, ...]
    strategy: str
    any_errors_fatal: bool
    max_fail_percentage: int | None
    force_handlers: bool

    def tasks(self) -> list[Task]:
        """In program order (block, rescue, always), as the names are numbered."""
        out: list[Task] = []
        for item in self.items:
            out += [item] if isinstance(item, Task) else [*item.body, *item.rescue, *item.always]
        return out

    @property
    def handler(self) -> str | None:
        notifying = any(task.notify for task in self.tasks())
        return f"{self.tasks()[0].name}-handler" if notifying else None


@dataclass(frozen=True)
class Book:
    plays: tuple[PlaySpec, ...]
    hosts: tuple[str, ...]
    forks: int
    seed: int


@st.composite
def books(draw: st.DrawFn) -> Book:
    hosts = tuple(f"h{i}" for i in range(draw(st.integers(1, 5))))
    numbers = itertools.count()
    launches: list[Task] = []
    """Top-level launches so far: a host that reaches a join has passed its launch."""

    def task(top: bool) -> Task:
        kinds = ["blocking", "blocking", "polled"]
        kinds += ["detached", "looped"] if top else []
        kinds += ["join", "join"] if launches else []
        kind = draw(st.sampled_from(kinds))
        name = f"t{next(numbers)}"
        if kind == "blocking":
            fail_on = draw(st.one_of(st.just(frozenset()), st.frozensets(st.sampled_from(hosts))))
            return Task(
                name,
                kind,
                (draw(st.integers(0, 4)),),
                fail_on=fail_on,
                ignore=draw(st.booleans()),
                notify=draw(st.booleans()),
            )
        if kind == "polled":
            return Task(
                name,
                kind,
                (draw(st.integers(0, 10)),),
                limit=draw(st.integers(1, 8)),
                poll=draw(st.integers(1, 5)),
                ignore=draw(st.booleans()),
            )
        if kind in ("detached", "looped"):
            size = 1 if kind == "detached" else draw(st.integers(1, 3))
            durations = tuple(draw(st.lists(st.integers(0, 14), min_size=size, max_size=size)))
            launch = Task(name, kind, durations, limit=draw(st.integers(1, 12)))
            launches.append(launch)
            return launch
        return Task(
            name,
            kind,
            retries=draw(st.integers(0, 5)),
            delay=draw(st.integers(0, 4)),
            ignore=draw(st.booleans()),
            target=draw(st.sampled_from(launches)),
        )

    def tasks(top: bool, low: int, high: int) -> tuple[Task, ...]:
        return tuple(task(top) for _ in range(draw(st.integers(low, high))))

    plays = []
    for _ in range(draw(st.integers(1, 3))):
        items: list[Item] = []
        for _ in range(draw(st.integers(1, 5))):
            if draw(st.integers(0, 3)) == 0:
                body = tasks(False, 1, 3)
                rescue = tasks(False, 0, 2)
                always = tasks(False, 0, 2)
                items.append(Block(body, rescue, always))
            else:
                items.append(task(True))
        plays.append(
            PlaySpec(
                tuple(items),
                strategy=draw(st.sampled_from(["linear", "free"])),
                any_errors_fatal=draw(st.integers(0, 3)) == 0,
                max_fail_percentage=draw(st.one_of(st.none(), st.none(), st.integers(0, 100))),
                force_handlers=draw(st.booleans()),
            )
        )
    return Book(tuple(plays), hosts, draw(st.integers(1, 4)), draw(st.integers(0, 2**32)))


def _task_yaml(task: Task, handler: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": task.name}
    if task.kind == "join":
        assert task.target is not None
        register = f"st_{task.name}"
        if task.target.kind == "looped":
            out["async_status"] = {"jid": "{{ item.ansible_job_id }}"}
            out["loop"] = f"{{{{ job_{task.target.name}.results }}}}"
        else:
            out["async_status"] = {"jid": f"{{{{ job_{task.target.name}.ansible_job_id }}}}"}
        out.update(register=register, until=f"{register} is finished")
        out.update(retries=task.retries, delay=task.delay)
    elif task.kind == "looped":
        out.update(command="sleep {{ item }}", loop=list(task.durations))
    else:
        out["command"] = f"sleep {task.durations[0]}"
    if task.kind == "polled":
        out.update({"async": task.limit, "poll": task.poll})
    elif task.launches:
        out.update({"async": task.limit, "poll": 0, "register": f"job_{task.name}"})
    if task.fail_on:
        out["failed_when"] = f"inventory_hostname in {sorted(task.fail_on)!r}"
    if task.ignore:
        out["ignore_errors"] = True
    if task.notify and handler:
        out["notify"] = handler
    return out


def playbook(book: Book) -> str:
    plays = []
    for spec in book.plays:
        handler = spec.handler
        items: list[dict[str, Any]] = []
        for item in spec.items:
            if isinstance(item, Task):
                items.append(_task_yaml(item, handler))
                continue
            block: dict[str, Any] = {"block": [_task_yaml(t, handler) for t in item.body]}
            if item.rescue:
                block["rescue"] = [_task_yaml(t, handler) for t in item.rescue]
            if item.always:
                block["always"] = [_task_yaml(t, handler) for t in item.always]
            items.append(block)
        play: dict[str, Any] = {
            "hosts": "all",
            "gather_facts": False,
            "strategy": spec.strategy,
            "tasks": items,
        }
        if spec.any_errors_fatal:
            play["any_errors_fatal"] = True
        if spec.max_fail_percentage is not None:
            play["max_fail_percentage"] = spec.max_fail_percentage
        if spec.force_handlers:
            play["force_handlers"] = True
        if handler:
            play["handlers"] = [{"name": handler, "command": "sleep 1"}]
        plays.append(play)
    return yaml.safe_dump(plays, sort_keys=False)


# --------------------------------------------------------------------------- a run and its trace


@dataclass(frozen=True)
class Span:
    name: str
    host: str
    start: float
    finish: float
    result: dict[str, Any]
    started_at: int
    """Index of its NODE_STARTED event in the run's trace."""
    finished_at: int


@dataclass
class PlayRun:
    spec: PlaySpec
    hosts: list[str]
    spans: list[Span] = field(default_factory=list)
    """In the order they started."""

    def of(self, host: str, *, handlers: bool = False) -> list[Span]:
        return [
            s for s in self.spans if s.host == host and (s.name == self.spec.handler) == handlers
        ]


@dataclass
class Run:
    book: Book
    events: list[Event]
    world: FakeWorld
    plays: list[PlayRun]
    exit_code: int
    jobs: dict[tuple[str, str], list[FakeJob]]
    """(task name, host) -> its jobs, in launch order."""

    def job(self, name: str, host: str) -> FakeJob:
        (job,) = self.jobs[(name, host)]
        return job


def execute(book: Book) -> Run:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "p.yml")
        with open(path, "w") as handle:
            handle.write(playbook(book))
        compiled = compile_playbook(path)
    errors = [d for d in compiled.diagnostics if d.severity.value == "error"]
    assert not errors, errors
    inventory = Inventory()
    for name in book.hosts:
        inventory.add_host(name)
    world = FakeWorld(latency=0.01)
    events: list[Event] = []
    outcome = run_virtual(
        run_graph(
            compiled.graph,
            inventory,
            RunOptions(forks=book.forks, grace=1.0),
            connect=world.connection,
            subscribers=[events.append],
            rng=random.Random(book.seed),
        )
    )
    names = {node.id: node.name for node in compiled.graph.node_index().values()}
    plays: list[PlayRun] = []
    starts: dict[tuple[str, str], tuple[float, int]] = {}
    jobs: dict[tuple[str, str], list[FakeJob]] = {}
    for index, event in enumerate(events):
        if event.kind is EventKind.PLAY_STARTED:
            plays.append(PlayRun(book.plays[len(plays)], list(event.data["hosts"])))
        if event.node is None or event.host is None:
            continue
        name = names.get(event.node, event.node)
        key = (name, event.host)
        if event.kind is EventKind.NODE_STARTED:
            starts[key] = (event.time, index)
        elif event.kind is EventKind.LAUNCHED:
            jobs.setdefault(key, []).append(world.jobs[event.data["jid"]])
        elif event.kind is EventKind.NODE_FINISHED:
            start, started_at = starts.pop(key)
            span = Span(
                name, event.host, start, event.time, event.data["result"], started_at, index
            )
            plays[-1].spans.append(span)
    for play in plays:
        play.spans.sort(key=lambda span: span.started_at)
    return Run(book, events, world, plays, outcome.exit_code, jobs)


# --------------------------------------------------------------------------- the model of a walk


def _walk(items: tuple[Item, ...], bad: Callable[[str], bool]) -> tuple[list[str], bool]:
    """The tasks a host runs through ``items`` and whether it ends failed, given which of
    its tasks failed (not ignored): a failure ends the walk, except that inside a block it
    goes to ``rescue`` (which clears it when it succeeds) and ``always`` runs either way."""
    names: list[str] = []
    for item in items:
        if isinstance(item, Task):
            names.append(item.name)
            if bad(item.name):
                return names, True
            continue
        inner, failed = _walk(item.body, bad)
        names += inner
        if failed and item.rescue:
            inner, failed = _walk(item.rescue, bad)
            names += inner
        if item.always:
            inner, always_failed = _walk(item.always, bad)
            names += inner
            failed = failed or always_failed
        if failed:
            return names, True
    return names, False


@dataclass(frozen=True)
class Expected:
    walks: dict[str, tuple[list[str], bool]]
    """host -> (the tasks it must run, whether its walk ends failed), from its results."""
    abort: Span | None
    """The result after which any_errors_fatal or max_fail_percentage stops the batch."""


def expected(play: PlayRun) -> Expected:
    tasks = {task.name: task for task in play.spec.tasks()}
    walks: dict[str, tuple[list[str], bool]] = {}
    for host in play.hosts:
        results = {s.name: s.result for s in play.of(host)}

        def bad(name: str, results: dict[str, dict[str, Any]] = results) -> bool:
            result = results.get(name)
            return bool(result and result.get("failed") is True and not tasks[name].ignore)

        walks[host] = _walk(play.spec.items, bad)
    # A host's failure counts once its walk ended (after its always sections).
    failing = {
        (walk[0][-1], host)
        for host, walk in walks.items()
        if walk[1] and [s.name for s in play.of(host)] == walk[0]
    }
    failed: set[str] = set()
    for span in sorted(play.spans, key=lambda s: s.finished_at):
        if (span.name, span.host) not in failing:
            continue
        failed.add(span.host)
        limit = play.spec.max_fail_percentage
        if play.spec.any_errors_fatal or (
            limit is not None and len(failed) * 100.0 / len(play.hosts) > limit
        ):
            return Expected(walks, span)
    return Expected(walks, None)


# --------------------------------------------------------------------------- the properties

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(books())
def test_property_linear_lockstep(book: Book) -> None:
    """linear: no host starts task N+1 before every active host finished task N."""
    run = execute(book)
    for play in run.plays:
        if play.spec.strategy != "linear":
            continue
        tasks = [s for s in play.spans if s.name != play.spec.handler]
        waves = [list(group) for _, group in itertools.groupby(tasks, key=lambda s: s.name)]
        for earlier, later in itertools.pairwise(waves):
            # Program order (names are numbered in it), and no overlap in time.
            assert int(earlier[0].name[1:]) < int(later[0].name[1:]), (earlier, later)
            assert min(s.start for s in later) >= max(s.finish for s in earlier) - EPS


@SETTINGS
@given(books())
def test_property_free_hosts_never_wait(book: Book) -> None:
    """free: a host starts its next task as soon as its previous one returned."""
    run = execute(book)
    for play in run.plays:
        if play.spec.strategy != "free":
            continue
        for host in play.hosts:
            for earlier, later in itertools.pairwise(play.of(host)):
                assert later.start - earlier.finish <= EPS, (earlier, later)


@SETTINGS
@given(books())
def test_property_forks_bound_launches(book: Book) -> None:
    """forks bound how many hosts launch a job or run a command at once."""
    run = execute(book)
    assert run.world.max_in_flight <= book.forks


@SETTINGS
@given(books())
def test_property_failed_host_runs_only_rescue_always_and_forced_handlers(book: Book) -> None:
    """A failed host runs nothing more except rescue/always, and handlers with force."""
    run = execute(book)
    for play in run.plays:
        model = expected(play)
        for host in play.hosts:
            ran = [s.name for s in play.of(host)]
            walk, failed = model.walks[host]
            if model.abort is None:
                assert ran == walk, (host, ran, walk)
            else:
                assert ran == walk[: len(ran)], (host, ran, walk)
            # A handler runs where it was notified by a changed, not failed, result, unless
            # the host failed (or its batch was stopped) and the play does not force them.
            notified = any(
                s.result.get("changed") and not s.result.get("failed")
                for s in play.of(host)
                if any(t.name == s.name and t.notify for t in play.spec.tasks())
            )
            alive = not failed and model.abort is None
            handled = [s.name for s in play.of(host, handlers=True)]
            should = notified and (alive or play.spec.force_handlers)
            assert handled == ([play.spec.handler] if should else []), (host, handled)
            if handled:
                assert (
                    play.of(host, handlers=True)[0].start
                    >= max(s.finish for s in play.spans if s.name != play.spec.handler) - EPS
                )


@SETTINGS
@given(books())
def test_property_blocking_failures_are_the_scripted_ones(book: Book) -> None:
    """A blocking task fails exactly where ``failed_when`` says (the injected failures)."""
    run = execute(book)
    for play in run.plays:
        tasks = {task.name: task for task in play.spec.tasks()}
        for span in play.spans:
            task = tasks.get(span.name)
            if task is not None and task.kind == "blocking":
                assert bool(span.result.get("failed")) == (span.host in task.fail_on)


@SETTINGS
@given(books())
def test_property_any_errors_fatal_and_max_fail_percentage_stop_the_batch(book: Book) -> None:
    """any_errors_fatal (a host failed) and max_fail_percentage (more than that share of
    the batch failed) stop the batch: nothing new starts but forced handlers, no later
    play runs, and the run fails."""
    run = execute(book)
    for number, play in enumerate(run.plays):
        model = expected(play)
        abort = model.abort
        if abort is None:
            continue
        for span in play.spans:
            if span.name == play.spec.handler:
                assert play.spec.force_handlers
            elif play.spec.strategy == "linear":
                assert span.started_at < abort.finished_at or span.name == abort.name, span
            else:
                assert span.start <= abort.finish + EPS, span
        assert number == len(run.plays) - 1, "a play ran after the batch was stopped"
        assert run.exit_code == 2


@SETTINGS
@given(books())
def test_property_failed_hosts_leave_later_plays(book: Book) -> None:
    """A host that failed (not ignored, not rescued) is left out of the later plays, and a
    batch whose hosts all failed ends the run."""
    run = execute(book)
    out: set[str] = set()
    for number, play in enumerate(run.plays):
        assert sorted(play.hosts) == sorted(h for h in book.hosts if h not in out)
        model = expected(play)
        failed = {h for h, (_, f) in model.walks.items() if f}
        if model.abort is not None or failed == set(play.hosts):
            assert number == len(run.plays) - 1
        out |= failed
    if out:
        assert run.exit_code == 2
    elif len(run.plays) == len(book.plays):
        assert run.exit_code == 0


@SETTINGS
@given(books())
def test_property_join_never_completes_before_its_job(book: Book) -> None:
    """A join reports a job finished only after the job ended; with retries it gives up
    only after its whole budget, with ansible-core's attempt count."""
    run = execute(book)
    for play in run.plays:
        tasks = {task.name: task for task in play.spec.tasks()}
        for span in play.spans:
            task = tasks.get(span.name)
            if task is None or task.kind != "join":
                continue
            assert task.target is not None
            jobs = {j.jid: j for j in run.jobs[(task.target.name, span.host)]}
            items = span.result["results"] if task.target.kind == "looped" else [span.result]
            assert len(items) == len(jobs)
            for item in items:
                if item.get("finished"):
                    assert span.finish >= jobs[item["ansible_job_id"]].end - EPS
            if task.target.kind == "looped":
                continue
            result = span.result
            if task.retries == 0:
                # retries: 0 runs once and never evaluates `until` (ansible-core's quirk):
                # a running job is no failure.
                assert "attempts" not in result
                assert result.get("finished") or not result.get("failed")
            elif not result.get("finished"):
                assert result["failed"] is True and result["attempts"] == task.retries
                assert span.finish >= span.start + task.retries * task.delay - EPS


@SETTINGS
@given(books())
def test_property_job_end_observed_within_one_interval(book: Book) -> None:
    """Every job's end is observed at most one poll interval after it: a polled task
    returns no earlier than its job's end and no later than one ``poll`` after it, and a
    join whose budget reaches past its job's end returns within one ``delay`` of it."""
    run = execute(book)
    for play in run.plays:
        tasks = {task.name: task for task in play.spec.tasks()}
        for span in play.spans:
            task = tasks.get(span.name)
            if task is not None and task.kind == "polled":
                job = run.job(task.name, span.host)
                if job.duration <= job.limit:
                    assert job.end - EPS <= span.finish <= job.end + task.poll + EPS
                    assert span.result["finished"] is True and not span.result.get("failed")
                else:
                    assert span.result["failed"] is True
                    # ansible-core's last poll reads the job's own timeout record when
                    # it comes after its watchdog's kill (e.g. async 1, poll 3).
                    killed_at = task.limit if task.limit <= 5 else 5 * -(-task.limit // 5)
                    late = -(-task.limit // task.poll) * task.poll > killed_at
                    expected = "Timeout exceeded" if late else TIMEOUT_MSG.format(task.limit)
                    assert span.result["msg"] == expected
                    assert span.finish <= job.start + job.limit + task.poll + EPS
            elif task is not None and task.kind == "join" and task.target is not None:
                if task.target.kind == "looped" or task.retries == 0:
                    continue
                job = run.job(task.target.name, span.host)
                if span.start + task.retries * task.delay > job.end + 0.5:
                    assert span.result.get("finished") is True
                    assert span.finish <= max(span.start, job.end) + task.delay + EPS


@SETTINGS
@given(books())
def test_property_detached_launch_returns_at_launch_and_no_job_outlives_its_limit(
    book: Book,
) -> None:
    """A detached task returns as soon as its job(s) started; the jobs run on, and no job
    outlives its limit."""
    run = execute(book)
    for play in run.plays:
        tasks = {task.name: task for task in play.spec.tasks()}
        for span in play.spans:
            task = tasks.get(span.name)
            if task is None or not task.launches:
                continue
            jobs = run.jobs[(task.name, span.host)]
            assert len(jobs) == len(task.durations)
            assert span.finish - jobs[-1].start <= EPS
            records = span.result["results"] if task.kind == "looped" else [span.result]
            assert [r["ansible_job_id"] for r in records] == [j.jid for j in jobs]
            assert all(r["finished"] is False for r in records)
    for job in run.world.jobs.values():
        assert job.end <= job.start + job.limit + EPS


# --------------------------------------------------------------------------- examples


@dataclass(frozen=True)
class Spec:
    kind: str  # polled | detached
    duration: int
    limit: int = 0
    poll: int = 0
    retries: int = 0
    delay: int = 0


def _single(spec: Spec, hosts: int, forks: int, seed: int) -> Run:
    """One polled task, or one launch and its join, in a linear play."""
    if spec.kind == "polled":
        tasks: tuple[Item, ...] = (
            Task("t0", "polled", (spec.duration,), limit=spec.limit, poll=spec.poll),
        )
    else:
        launch = Task("t0", "detached", (spec.duration,), limit=spec.limit)
        join = Task("t1", "join", retries=spec.retries, delay=spec.delay, target=launch)
        tasks = (launch, join)
    play = PlaySpec(tasks, "linear", False, None, False)
    return execute(Book((play,), tuple(f"h{i}" for i in range(hosts)), forks, seed))


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
    run = _single(Spec("polled", duration, limit=duration + 5, poll=1), hosts, forks, seed)
    launches = sorted(job.start for job in run.world.jobs.values())
    assert len(launches) == hosts
    waves = -(-hosts // forks)
    assert launches[-1] - launches[0] <= waves * run.world.latency + EPS
    finished = max(span.finish for span in run.plays[0].spans)
    assert finished <= launches[-1] + duration + EPS + run.world.latency


def test_a_detached_job_overlaps_the_nodes_after_it() -> None:
    launch = Task("t0", "detached", (10,), limit=20)
    middle = Task("t1", "blocking", (3,))
    join = Task("t2", "join", retries=30, delay=1, target=launch)
    play = PlaySpec((launch, middle, join), "linear", False, None, False)
    run = execute(Book((play,), ("h0", "h1", "h2"), 5, 3))
    spans = {(s.name, s.host): s for s in run.plays[0].spans}
    for host in ("h0", "h1", "h2"):
        job = run.job("t0", host)
        blocking = spans[("t1", host)]
        assert job.start <= blocking.start and job.end > blocking.finish  # the job ran on
        assert spans[("t0", host)].finish - job.start < 1e-6
        assert spans[("t2", host)].finish >= job.end - EPS
        assert spans[("t2", host)].finish - job.end < 0.1  # the join wakes when the job ends


def test_join_attempts_match_ansible_counts() -> None:
    # until never true within budget: retries+1 runs, attempts == retries, failed.
    run = _single(Spec("detached", 100, limit=200, retries=3, delay=2), 1, 1, 1)
    result = run.plays[0].spans[1].result
    assert result["failed"] is True and result["attempts"] == 3
    run = _single(Spec("detached", 4, limit=200, retries=10, delay=2), 1, 1, 1)
    result = run.plays[0].spans[1].result
    # checks at t=0, 2 and 4 (the last woken by the job's end): attempts == 3, ok.
    assert result["finished"] is True and not result.get("failed") and result["attempts"] == 3


def test_the_model_walks_blocks_as_ansible() -> None:
    a, b, c, d, e = (Task(n, "blocking") for n in "abcde")
    items: tuple[Item, ...] = (a, Block((b,), (c,), (d,)), e)
    assert _walk(items, lambda n: False) == (["a", "b", "d", "e"], False)
    assert _walk(items, lambda n: n == "b") == (["a", "b", "c", "d", "e"], False)
    assert _walk(items, lambda n: n in "bc") == (["a", "b", "c", "d"], True)
    assert _walk(items, lambda n: n == "d") == (["a", "b", "d"], True)
    assert _walk(items, lambda n: n == "a") == (["a"], True)
