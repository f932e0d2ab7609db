"""``playgraph adhoc``: the play ansible's ad-hoc command builds, its output, and smart polling.

The expected output shapes were observed from ansible-core 2.19 (``ansible``
with the ``minimal`` and ``oneline`` callbacks) on the same commands and are
hard-coded here; the end-to-end tests run ``python -m playgraph`` against real
local processes, each with its own async dir (and supervisor, stopped after).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playgraph.compiler.ir import Blocking, Detached, Graph, Join, Polled
from playgraph.runtime import jobs
from playgraph.runtime.adhoc import (
    AdhocError,
    AdhocSpec,
    build_play,
    format_minimal,
    format_oneline,
    module_args,
)
from playgraph.runtime.connection.local import LocalConnection
from playgraph.runtime.context import RunOptions
from playgraph.runtime.inventory import load_inventory
from playgraph.runtime.run import run_graph
from playgraph.runtime.tracing import Event, EventKind

JID = re.compile(r"j\d+\.\d+")


def playgraph(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "playgraph", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "ANSIBLE_FORKS": "5"},
    )


def timed(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    result = playgraph(*args)
    return result, time.monotonic() - start


async def stop_supervisor(async_dir: str) -> None:
    """Kill what a test left running in ``async_dir`` and stop its supervisor (never start one)."""
    sock = os.path.join(async_dir, ".playgraph", "supervisor.sock")
    if not os.path.exists(sock):
        return
    try:
        reader, writer = await jobs.open_unix(sock)
    except OSError:
        return
    client = jobs.SupervisorClient(reader, writer, async_dir=async_dir)
    try:
        for meta in await client.list_jobs():
            if meta.get("state") == "running" and not meta.get("foreign"):
                await client.kill(str(meta["jid"]))
        await client.shutdown()
    except jobs.JobError:
        pass
    finally:
        await client.close()


@pytest.fixture
def async_dir(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "async")
    yield path
    asyncio.run(stop_supervisor(path))


def inventory(tmp_path: Path, async_dir: str, lines: list[str]) -> str:
    path = tmp_path / "inventory"
    path.write_text("".join(f"{line} ansible_async_dir={async_dir}\n" for line in lines))
    return str(path)


def local_hosts(tmp_path: Path, async_dir: str, count: int) -> str:
    return inventory(tmp_path, async_dir, [f"h[01:{count:02d}] ansible_connection=local"])


def blocks(stdout: str) -> dict[str, str]:
    """The minimal callback's output split per host (a result may span lines)."""
    found: dict[str, str] = {}
    current: str | None = None
    for line in stdout.splitlines():
        match = re.match(r"^(\S+) \| ", line)
        if match:
            current = match.group(1)
            found[current] = line
        elif current is not None:
            found[current] += "\n" + line
    return found


# --------------------------------------------------------------------------- the play


def test_default_module_is_command_with_raw_params() -> None:
    play = build_play(AdhocSpec(pattern="all", args="/usr/bin/op --do-stuff"))
    assert play.name == "Ansible Ad-Hoc" and play.hosts == "all" and play.gather_facts is False
    (node,) = play.tasks
    assert isinstance(node, Blocking)
    assert node.action == "ansible.builtin.command"
    assert dict(node.args) == {"_raw_params": "/usr/bin/op --do-stuff"}


def test_async_status_arguments_are_key_value() -> None:
    assert module_args("async_status", "jid=j123.456 mode=cleanup") == {
        "jid": "j123.456",
        "mode": "cleanup",
    }
    (node,) = build_play(
        AdhocSpec(pattern="h1", module="async_status", args="jid=j123.456 mode=cleanup")
    ).tasks
    assert isinstance(node, Join) and node.jid == "j123.456" and node.mode == "cleanup"


def test_free_form_keeps_its_own_options_apart() -> None:
    assert module_args("shell", "chdir=/tmp echo a=b") == {
        "chdir": "/tmp",
        "_raw_params": "echo a=b",
    }
    assert module_args("ping", "data=x y=z") == {"data": "x", "y": "z"}
    assert module_args("copy", '{"src": "a", "dest": "b"}') == {"src": "a", "dest": "b"}


@pytest.mark.parametrize(
    ("background", "poll", "kind"),
    [(0, 15, Blocking), (0, 5, Blocking), (10, 0, Detached), (10, -1, Detached), (10, 2, Polled)],
)
def test_node_kind_follows_b_and_p(background: int, poll: int, kind: type) -> None:
    (node,) = build_play(
        AdhocSpec(pattern="all", args="true", background=background, poll=poll)
    ).tasks
    assert isinstance(node, kind)
    if isinstance(node, Polled):
        assert (node.async_limit, node.poll) == (background, poll)


def test_include_never_gets_async() -> None:
    spec = AdhocSpec(pattern="all", module="include_tasks", args="x.yml", background=10, poll=0)
    (node,) = build_play(spec).tasks
    assert isinstance(node, Blocking) and node.poll is None


def test_async_on_async_status_is_left_for_the_runtime_to_refuse() -> None:
    spec = AdhocSpec(pattern="h1", module="async_status", args="jid=j1.2", background=10, poll=1)
    (node,) = build_play(spec).tasks
    assert isinstance(node, Polled)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (AdhocSpec(pattern="all", module="comand", args="ls"), "did you mean 'command'"),
        (AdhocSpec(pattern="all", module="nosuchthingxyz"), "couldn't resolve module/action"),
        (AdhocSpec(pattern="all"), "No argument passed to command module"),
        (AdhocSpec(pattern="all", module="shell", args="  "), "No argument passed to shell module"),
        (AdhocSpec(pattern="all", args='echo "open'), "unbalanced"),
        (AdhocSpec(pattern="all", args="true", background=-1), "-B"),
    ],
)
def test_what_ansible_rejects_up_front(spec: AdhocSpec, message: str) -> None:
    with pytest.raises(AdhocError, match=re.escape(message)):
        build_play(spec)


# --------------------------------------------------------------------------- output shapes

# Observed from ansible-core 2.19.14 (`ansible h1 -a 'echo hi'`, `-m ping`, ...).
COMMAND_OK = {
    "changed": True,
    "rc": 0,
    "stdout": "hi",
    "stderr": "",
    "msg": "",
    "cmd": ["echo", "hi"],
}
SHELL_FAILED = {
    "changed": True, "failed": True, "rc": 3, "stdout": "out", "stderr": "err",
    "msg": "non-zero return code", "cmd": "echo out; echo err >&2; exit 3",
    "stdout_lines": ["out"], "stderr_lines": ["err"],
}  # fmt: skip
PING = {"changed": False, "ping": "pong", "invocation": {"module_args": {"data": "pong"}}}
LAUNCH = {
    "ansible_job_id": "j829802787635.30653", "changed": True, "failed": False,
    "finished": False, "results_file": "/tmp/a/j829802787635.30653", "started": True,
}  # fmt: skip
TIMED_OUT = {
    "failed": True, "changed": False,
    "msg": "async task did not complete within the requested time - 2s",
    "async_result": {"ansible_job_id": "j1.2", "finished": True},
}  # fmt: skip
UNREACHABLE = {"unreachable": True, "changed": False, "msg": "Connection refused"}


def test_minimal_callback_shapes() -> None:
    assert format_minimal("h1", "command", COMMAND_OK) == "h1 | CHANGED | rc=0 >>\nhi"
    assert (
        format_minimal("bad_rc", "shell", SHELL_FAILED)
        == "bad_rc | FAILED | rc=3 >>\nouterrnon-zero return code"
    )
    assert format_minimal("h1", "ping", PING) == (
        'h1 | SUCCESS => {\n    "changed": false,\n    "ping": "pong"\n}'
    )
    # A command with a jid is shown as JSON; `failed` is never shown (the state says it).
    assert format_minimal("h1", "command", LAUNCH) == (
        "h1 | CHANGED => {\n"
        '    "ansible_job_id": "j829802787635.30653",\n'
        '    "changed": true,\n'
        '    "finished": false,\n'
        '    "results_file": "/tmp/a/j829802787635.30653",\n'
        '    "started": true\n'
        "}"
    )
    assert format_minimal("h1", "command", TIMED_OUT) == (
        "h1 | FAILED | rc=-1 >>\nasync task did not complete within the requested time - 2s"
    )
    assert format_minimal("down", "ping", UNREACHABLE) == (
        'down | UNREACHABLE! => {\n    "changed": false,\n    "msg": "Connection refused",\n'
        '    "unreachable": true\n}'
    )
    assert format_minimal("h1", "copy", {"skipped": True, "changed": False}) == "h1 | SKIPPED"
    assert (
        format_minimal(
            "h1", "debug", {"msg": "5", "changed": False, "_ansible_verbose_always": True}
        )
        == 'h1 | SUCCESS => {\n    "msg": "5"\n}'
    )


def test_oneline_callback_shapes() -> None:
    assert format_oneline("h1", "command", COMMAND_OK) == "h1 | CHANGED | rc=0 | (stdout) hi"
    assert format_oneline("h1", "ping", PING) == 'h1 | SUCCESS => {"changed": false,"ping": "pong"}'
    failed = format_oneline("bad_rc", "shell", SHELL_FAILED).split("\n")
    assert failed[0] == "bad_rc | FAILED | rc=3 | (stdout) out (stderr) err"
    assert failed[1].startswith('bad_rc | FAILED! => {"changed": true,"cmd": "echo out; ')
    assert failed[1].endswith('"stdout": "out","stdout_lines": ["out"]}')
    assert format_oneline("down", "ping", UNREACHABLE) == "down | UNREACHABLE!: Connection refused"
    assert format_oneline("h1", "command", LAUNCH).startswith(
        'h1 | CHANGED => {"ansible_job_id": "j829802787635.30653","changed": true,'
        '"finished": false,'
    )
    assert (
        format_oneline(
            "h1", "debug", {"msg": "hi", "changed": False, "_ansible_verbose_always": True}
        )
        == 'h1 | SUCCESS => {    "changed": false,    "msg": "hi"}'
    )


# --------------------------------------------------------------------------- in process


class CountingConnection:
    """A local connection that counts how many job launches overlap."""

    active = 0
    peak = 0

    def __init__(self, host: str) -> None:
        self.inner = LocalConnection(host)
        self.host = host

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def start_job(self, spec: Any) -> dict[str, Any]:
        cls = type(self)
        cls.active += 1
        cls.peak = max(cls.peak, cls.active)
        try:
            # A launch that takes a while (as over SSH), so overlapping ones are seen.
            await asyncio.sleep(0.05)
            return await self.inner.start_job(spec)
        finally:
            cls.active -= 1


def test_smart_poll_launches_bounded_by_forks_waiting_shared(
    tmp_path: Path, async_dir: str
) -> None:
    """Every job starts before any poll, at most -f launches at a time, and the waits overlap."""
    inv = load_inventory([local_hosts(tmp_path, async_dir, 6)])
    spec = AdhocSpec(pattern="all", args="sleep 2", background=30, poll=1)
    graph = Graph(plays=(build_play(spec),))
    events: list[Event] = []

    async def main() -> tuple[int, float]:
        start = asyncio.get_running_loop().time()
        try:
            outcome = await run_graph(
                graph,
                inv,
                RunOptions(forks=2),
                connect=lambda host, _vars: CountingConnection(host),  # type: ignore[arg-type,return-value]
                subscribers=[events.append],
            )
        finally:
            await jobs.close_clients()
        return outcome.exit_code, asyncio.get_running_loop().time() - start

    code, elapsed = asyncio.run(main())
    assert code == 0
    assert CountingConnection.peak == 2
    launched = [e.time for e in events if e.kind is EventKind.LAUNCHED]
    polled = [e.time for e in events if e.kind is EventKind.NODE_POLLED]
    finished = [e for e in events if e.kind is EventKind.NODE_FINISHED]
    assert len(launched) == 6 and len(finished) == 6
    assert all(e.data["result"]["finished"] for e in finished)
    assert not polled or max(launched) < min(polled)
    # ansible-core 2.x holds a fork while polling: 3 rounds of 2 s here.
    assert elapsed < 4.0, elapsed


def test_detached_launch_is_immediate(tmp_path: Path, async_dir: str) -> None:
    inv = load_inventory([local_hosts(tmp_path, async_dir, 10)])
    graph = Graph(
        plays=(build_play(AdhocSpec(pattern="all", args="sleep 5", background=3600, poll=0)),)
    )
    events: list[Event] = []

    async def main() -> float:
        start = asyncio.get_running_loop().time()
        try:
            await run_graph(graph, inv, RunOptions(forks=5), subscribers=[events.append])
        finally:
            await jobs.close_clients()
        return asyncio.get_running_loop().time() - start

    elapsed = asyncio.run(main())
    results = [e.data["result"] for e in events if e.kind is EventKind.NODE_FINISHED]
    assert len(results) == 10 and all(JID.fullmatch(r["ansible_job_id"]) for r in results)
    assert all(r["finished"] is False for r in results)
    # Includes starting the supervisor for a fresh async dir: ~0.25 s on an idle
    # 2-CPU box; the bound leaves room for a busy CI machine.
    print(f"10 detached launches in process: {elapsed:.3f} s")
    assert elapsed < 1.5, elapsed


# --------------------------------------------------------------------------- end to end


def test_fire_and_forget_then_async_status(tmp_path: Path, async_dir: str) -> None:
    # Per-host durations: h01's job outlives every check (any machine load), h02's ends soon.
    inv = inventory(
        tmp_path,
        async_dir,
        ["h01 ansible_connection=local nap=60", "h02 ansible_connection=local nap=1"],
    )
    launch, elapsed = timed(
        "adhoc", "all", "-i", inv, "-B", "3600", "-P", "0", "-a", "sleep {{ nap }}"
    )
    assert launch.returncode == 0, launch.stderr
    found = blocks(launch.stdout)
    assert sorted(found) == ["h01", "h02"]
    jids = {}
    for host, text in found.items():
        assert text.startswith(f"{host} | CHANGED => {{\n"), text
        record = json.loads(text.split(" => ", 1)[1])
        assert sorted(record) == [
            "ansible_job_id",
            "changed",
            "finished",
            "results_file",
            "started",
        ]
        assert record["finished"] is False and record["started"] is True
        assert record["results_file"] == os.path.join(async_dir, record["ansible_job_id"])
        jids[host] = record["ansible_job_id"]
    print(f"-B 3600 -P 0 on 2 hosts: {elapsed:.2f} s")

    running = playgraph("adhoc", "h01", "-i", inv, "-m", "async_status", "-a", f"jid={jids['h01']}")
    assert running.returncode == 0, running.stderr
    assert running.stdout.startswith("h01 | SUCCESS => {\n")
    record = json.loads(running.stdout.split(" => ", 1)[1])
    assert record["finished"] is False and record["started"] is True
    assert record["ansible_job_id"] == jids["h01"]

    status_file = Path(async_dir) / jids["h02"]
    deadline = time.monotonic() + 20
    while '"started"' in status_file.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)  # test code: wait for the job's own end
    done = playgraph(
        "adhoc", "h02", "-i", inv, "-m", "async_status", "-a", f"jid={jids['h02']}", "-o"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith('h02 | CHANGED => {"ansible_job_id": "' + jids["h02"])
    record = json.loads(done.stdout.split(" => ", 1)[1])
    assert record["finished"] is True and record["rc"] == 0 and record["cmd"] == ["sleep", "1"]


def test_smart_poll_ten_hosts(tmp_path: Path, async_dir: str) -> None:
    """10 hosts x `sleep 2`: the waiting is shared whatever -f, so ~2 s plus start-up."""
    inv = local_hosts(tmp_path, async_dir, 10)
    baseline, base_time = timed("adhoc", "all", "-i", inv, "-f", "10", "-a", "true")
    assert baseline.returncode == 0, baseline.stderr
    timings = {}
    for forks in ("10", "2"):
        result, elapsed = timed(
            "adhoc", "all", "-i", inv, "-B", "30", "-P", "1", "-f", forks, "-a", "sleep 2"
        )
        assert result.returncode == 0, result.stderr
        records = [json.loads(t.split(" => ", 1)[1]) for t in blocks(result.stdout).values()]
        assert len(records) == 10 and all(r["finished"] and r["rc"] == 0 for r in records)
        # The jobs' own clocks: all started together (ansible-core 2.x with -f 2
        # starts them in 5 waves, 2 s apart).
        starts = sorted(r["start"] for r in records)
        spread = _seconds_between(starts[0], starts[-1])
        assert spread < 1.0, (forks, starts)
        timings[forks] = elapsed
        print(f"-f {forks}: {elapsed:.2f} s (a synchronous `true` took {base_time:.2f} s)")
        # About 2 s of job plus what any invocation costs here (the machine may be busy).
        assert elapsed < max(4.5, base_time + 3.5), (forks, elapsed, base_time)


def _seconds_between(first: str, last: str) -> float:
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    from datetime import datetime

    return (datetime.strptime(last, fmt) - datetime.strptime(first, fmt)).total_seconds()


def processes_with_argv(argv: list[str]) -> list[int]:
    wanted = ("\0".join(argv) + "\0").encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if Path(f"/proc/{entry}/cmdline").read_bytes() == wanted:
                found.append(int(entry))
        except OSError:
            continue
    return found


def test_timeout_fails_and_stops_the_process(tmp_path: Path, async_dir: str) -> None:
    inv = local_hosts(tmp_path, async_dir, 1)
    duration = f"31.{random.randrange(100, 1000)}"
    result, elapsed = timed(
        "adhoc", "h01", "-i", inv, "-B", "2", "-P", "1", "-a", f"sleep {duration}"
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == (
        "h01 | FAILED | rc=-1 >>\nasync task did not complete within the requested time - 2s\n"
    )
    deadline = time.monotonic() + 3
    while processes_with_argv(["sleep", duration]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with_argv(["sleep", duration]) == []
    assert elapsed < 30


def test_output_and_exit_codes_per_host_state(tmp_path: Path, async_dir: str) -> None:
    inv = inventory(
        tmp_path,
        async_dir,
        [
            "ok ansible_connection=local code=0",
            "bad_rc ansible_connection=local code=3",
            "down ansible_host=127.0.0.1 ansible_port=9 ansible_connection=ssh code=0",
        ],
    )
    command = [
        "adhoc",
        "all",
        "-i",
        inv,
        "-m",
        "shell",
        "-a",
        "echo out; echo err >&2; exit {{ code }}",
    ]
    minimal = playgraph(*command)
    # ansible-core: unreachable (4) wins over failed (2).
    assert minimal.returncode == 4, minimal.stderr
    found = blocks(minimal.stdout)
    assert found["ok"] == "ok | CHANGED | rc=0 >>\nouterr"
    assert found["bad_rc"] == "bad_rc | FAILED | rc=3 >>\nouterrnon-zero return code"
    assert re.fullmatch(
        r'down \| UNREACHABLE! => \{\n    "changed": false,\n    "msg": ".+",\n'
        r'    "unreachable": true\n\}',
        found["down"],
    )
    oneline = playgraph(*command, "-o")
    assert oneline.returncode == 4
    lines = sorted(oneline.stdout.splitlines())
    assert lines[0] == "bad_rc | FAILED | rc=3 | (stdout) out (stderr) err"
    assert lines[1].startswith('bad_rc | FAILED! => {"changed": true,"cmd": "echo out; ')
    assert re.fullmatch(r"down \| UNREACHABLE!: .+", lines[2])
    assert lines[3] == "ok | CHANGED | rc=0 | (stdout) out (stderr) err"

    document = playgraph("adhoc", "ok", "-i", inv, "-m", "ping", "--json")
    assert document.returncode == 0, document.stderr
    data = json.loads(document.stdout)
    assert data["plays"][0]["play"]["name"] == "Ansible Ad-Hoc"
    (task,) = data["plays"][0]["tasks"]
    assert task["task"]["name"] == "ping" and task["task"]["path"] == ""
    assert task["hosts"]["ok"]["ping"] == "pong" and task["hosts"]["ok"]["action"] == "ping"
    assert data["stats"]["ok"]["ok"] == 1


def test_bad_options_exit_5(tmp_path: Path, async_dir: str) -> None:
    inv = local_hosts(tmp_path, async_dir, 1)
    forks = playgraph("adhoc", "all", "-i", inv, "-f", "0", "-a", "true")
    assert forks.returncode == 5
    assert "The number of processes (--forks) must be >= 1" in forks.stderr
    unknown = playgraph("adhoc", "all", "-i", inv, "-m", "comand", "-a", "true")
    assert unknown.returncode == 5
    assert "couldn't resolve module/action 'comand'; did you mean 'command'?" in unknown.stderr
    assert "Traceback" not in forks.stderr + unknown.stderr
    nothing = playgraph("adhoc", "nomatch", "-i", inv, "-a", "true")
    assert nothing.returncode == 0 and nothing.stdout == ""
    assert "[WARNING]: No hosts matched, nothing to do" in nothing.stderr
