"""``playgraph jobs cleanup`` removes only what no run waits on, and only playgraph's job files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from playgraph.cli.jobs import UNKNOWN_RUN_AGE, run_is_alive, why_kept
from tests.test_adhoc import async_dir, inventory, playgraph  # noqa: F401 - a fixture

NOW = 1_000_000.0


def _ended(age: float, **extra: object) -> dict[str, object]:
    return {"jid": "j1.2", "state": "finished", "start": NOW - age - 1, "end": NOW - age, **extra}


def test_the_rules() -> None:
    here = socket.gethostname()
    alive = lambda run_id: {"live": True, "dead": False}.get(str(run_id))  # noqa: E731

    def kept(meta: dict[str, object], older_than: float | None = None) -> str | None:
        return why_kept(meta, older_than=older_than, now=NOW, run_alive=alive)

    # Another tool's status file, a running job: never.
    assert kept({"jid": "123.4", "state": "finished", "foreign": True}, 0) == "not a playgraph job"
    assert kept({"jid": "j1.2", "state": "running", "run_id": "dead"}, 0) == "running"
    # A run still going keeps its ended jobs, however old; a finished run's go at once.
    assert kept(_ended(10 * UNKNOWN_RUN_AGE, run_id="live"), 0) == "its run live is still going"
    assert kept(_ended(1, run_id="dead")) is None
    assert kept(_ended(1, run_id="dead"), 3600) == "ended less than 1h00m ago"
    assert kept(_ended(7200, run_id="dead"), 3600) is None
    # A run that cannot be checked (another controller, none recorded): a day, or --older-than.
    for meta in (_ended(3600, run_id=f"elsewhere:{os.getpid()}:1"), _ended(3600)):
        assert "cannot be checked from here" in str(kept(meta))
        assert kept(meta, 60) is None
    assert kept(_ended(UNKNOWN_RUN_AGE + 1)) is None

    # The real check: this process is a live run; a pid reused since, or an exited one, is not.
    started_ms = int(time.time() * 1000)
    assert run_is_alive(f"{here}:{os.getpid()}:{started_ms}") is True
    assert run_is_alive(f"{here}:{os.getpid()}:1000") is False  # the pid's process is newer
    child = subprocess.Popen(["true"])
    child.wait()
    assert run_is_alive(f"{here}:{child.pid}:{started_ms}") is False
    assert run_is_alive(f"another-host:{os.getpid()}:{started_ms}") is None
    assert run_is_alive(None) is None and run_is_alive("garbage") is None


@pytest.mark.e2e
def test_cleanup_during_a_run_leaves_its_unjoined_result(
    tmp_path: Path,
    async_dir: str,  # noqa: F811
) -> None:
    # The run launches a quick job, works on for a while, then joins it.
    go = tmp_path / "go"
    (tmp_path / "site.yml").write_text(
        "- hosts: all\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - command: 'true'\n"
        "      async: 60\n"
        "      poll: 0\n"
        "      register: quick\n"
        f"    - command: sh -c 'while [ ! -e {go} ]; do sleep 0.05; done'\n"
        "    - async_status:\n"
        "        jid: '{{ quick.ansible_job_id }}'\n"
        "      register: done\n"
        "      until: done is finished\n"
        "      retries: 20\n"
        "      delay: 0.2\n"
    )
    inv = inventory(tmp_path, async_dir, ["localhost ansible_connection=local"])
    # Another tool's files in the same folder: an ansible-core status file, and a stray file.
    os.makedirs(async_dir, mode=0o700, exist_ok=True)
    theirs = Path(async_dir) / "445522110033.4411"
    theirs.write_text(json.dumps({"finished": 1, "rc": 0, "ansible_job_id": theirs.name}))
    notes = Path(async_dir) / "notes.txt"
    notes.write_text("mine\n")
    run = subprocess.Popen(
        [sys.executable, "-m", "playgraph", "run", "-i", inv, str(tmp_path / "site.yml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        finished: list[Path] = []
        while not finished and time.monotonic() < deadline:
            time.sleep(0.05)  # test code: until the launched job has ended
            finished = [
                p
                for p in Path(async_dir).glob("j*")
                if p.suffix != ".tmp" and '"started"' not in p.read_text()
            ]
        assert finished, "the quick job never finished"
        (job,) = finished

        cleanup = playgraph("jobs", "cleanup", "-i", inv, "--json")
        assert cleanup.returncode == 0, cleanup.stderr
        result = json.loads(cleanup.stdout)["hosts"]["localhost"]
        assert result["erased"] == []
        assert result["kept_because"][job.name].endswith("is still going")
        assert result["kept_because"][theirs.name] == "not a playgraph job"
        assert job.exists()
    finally:
        go.touch()
        out, err = run.communicate(timeout=60)
    # The run's join still read the result.
    assert run.returncode == 0, out + err
    assert "ok=3" in out

    # The run is over: now its job goes; the other tool's files stay.
    after = playgraph("jobs", "cleanup", "-i", inv, "--json")
    assert json.loads(after.stdout)["hosts"]["localhost"]["erased"] == [job.name]
    assert not job.exists() and theirs.exists() and notes.read_text() == "mine\n"


@pytest.mark.e2e
def test_list_status_and_kill_hide_a_no_log_jobs_secrets(
    tmp_path: Path,
    async_dir: str,  # noqa: F811
) -> None:
    secret = "hunter2-s3cr3t"
    (tmp_path / "site.yml").write_text(
        "- hosts: all\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        f"    - command: echo {secret}\n"
        "      async: 60\n"
        "      poll: 0\n"
        "      no_log: true\n"
        "    - command: sleep 30\n"
        "      async: 60\n"
        "      poll: 0\n"
        "      no_log: true\n"
        f"    - command: echo visible-{secret[:4]}\n"
        "      async: 60\n"
        "      poll: 0\n"
    )
    inv = inventory(tmp_path, async_dir, ["localhost ansible_connection=local"])
    run = playgraph("run", "-i", inv, str(tmp_path / "site.yml"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert secret not in run.stdout

    listing = playgraph("jobs", "list", "-i", inv, "--json")
    assert listing.returncode == 0, listing.stderr
    jobs = json.loads(listing.stdout)["hosts"]["localhost"]["jobs"]
    assert secret not in listing.stdout
    assert [j["cmd"] for j in jobs] == ["(no_log)", "(no_log)", ["echo", "visible-hunt"]]
    assert [j["no_log"] for j in jobs] == [True, True, False]
    table = playgraph("jobs", "list", "-i", inv)
    assert secret not in table.stdout and "(no_log)" in table.stdout
    assert "visible-hunt" in table.stdout  # the other job is shown as it is

    echo, sleeper, visible = (str(j["jid"]) for j in jobs)
    deadline = time.monotonic() + 20
    while '"started"' in (Path(async_dir) / echo).read_text() and time.monotonic() < deadline:
        time.sleep(0.05)  # test code: until the echo job has ended
    for extra in ((), ("--json",), ("-o",)):
        status = playgraph("jobs", "status", echo, "-i", inv, *extra)
        assert status.returncode == 0, status.stderr
        assert secret not in status.stdout and "no_log: true" in status.stdout
    shown = playgraph("jobs", "status", visible, "-i", inv)
    assert "visible-hunt" in shown.stdout  # not a no_log job: its record as it is

    kill = playgraph("jobs", "kill", sleeper, "-i", inv)
    assert kill.returncode == 0, kill.stderr
    assert "sleep 30" not in kill.stdout and "no_log: true" in kill.stdout
