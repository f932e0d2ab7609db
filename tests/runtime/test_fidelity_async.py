"""Fidelity fixes of issue 14 (items 2-7), each against real processes on the local connection.

The differential corpus compares the same behaviours with ansible-core side by side
(``handler_failures``, ``handler_failures_forced``, ``launch_failure``, ``job_signals``,
``polled_single_poll``, ``join_skipped_items``, ``zero_delay_retries``); these tests pin
them without the oracle, and pin the pure decisions (`command_rc`, the poll schedule).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from playgraph.compiler import compile_playbook
from playgraph.compiler.lint import async_join_budget, lint
from playgraph.runtime import executor
from playgraph.runtime.target import supervisor as sv


def _run(tmp_path: Path, async_dir: Path, playbook: str, hosts: int = 1) -> tuple[int, Any]:
    inventory = tmp_path / "inventory.ini"
    lines = ["[all]", *(f"h{i}" for i in range(1, hosts + 1)), "", "[all:vars]"]
    lines += [
        "ansible_connection=local",
        "ansible_python_interpreter=/usr/bin/python3",
        f"ansible_async_dir={async_dir}",
    ]
    inventory.write_text("\n".join(lines) + "\n")
    book = tmp_path / "play.yml"
    book.write_text(playbook)
    argv = [sys.executable, "-m", "playgraph", "run", os.fspath(book)]
    done = subprocess.run(
        [*argv, "-i", os.fspath(inventory), "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def _results(document: Any, task: str) -> list[dict[str, Any]]:
    """Every result of ``task`` on h1 (a handler can run more than once)."""
    return [
        entry["hosts"]["h1"]
        for play in document["plays"]
        for entry in play["tasks"]
        if entry["task"]["name"] == task and "h1" in entry["hosts"]
    ]


def _ran(document: Any, task: str) -> set[str]:
    return {
        host
        for play in document["plays"]
        for entry in play["tasks"]
        if entry["task"]["name"] == task
        for host in entry["hosts"]
    }


# --------------------------------------------------------------------------- 2. handlers


@pytest.mark.e2e
def test_failed_handler_fails_its_host(tmp_path: Path, async_dir: Path) -> None:
    code, doc = _run(
        tmp_path,
        async_dir,
        """
- hosts: all
  gather_facts: false
  tasks:
    - name: notify
      command: echo notify
      notify: [bad handler, later handler]
    - name: flush
      meta: flush_handlers
    - name: after the flush
      command: echo after
  post_tasks:
    - name: post task
      command: echo post
  handlers:
    - name: bad handler
      shell: "exit {{ 3 if inventory_hostname == 'h2' else 0 }}"
      async: 10
      poll: 1
    - name: later handler
      command: echo later
""",
        hosts=2,
    )
    assert code == 2
    assert _ran(doc, "later handler") == {"h1"}
    assert _ran(doc, "after the flush") == {"h1"}
    assert _ran(doc, "post task") == {"h1"}
    assert doc["stats"]["h2"]["failures"] == 1


@pytest.mark.e2e
def test_forced_handlers_stop_at_a_failed_handler(tmp_path: Path, async_dir: Path) -> None:
    code, doc = _run(
        tmp_path,
        async_dir,
        """
- hosts: all
  gather_facts: false
  force_handlers: true
  tasks:
    - name: notify
      command: echo notify
      notify: [bad handler, later handler]
    - name: fail on h1
      command: "{{ 'false' if inventory_hostname == 'h1' else 'true' }}"
  handlers:
    - name: bad handler
      command: "false"
    - name: later handler
      command: echo later
""",
        hosts=2,
    )
    assert code == 2
    # force_handlers runs h1's handlers after its failed task, but no host runs a
    # handler after one of its handlers failed.
    assert _ran(doc, "bad handler") == {"h1", "h2"}
    assert _ran(doc, "later handler") == set()


# --------------------------------------------------------------------------- 3. launch failure


@pytest.mark.e2e
def test_failed_launch_reports_changed(tmp_path: Path, async_dir: Path) -> None:
    code, doc = _run(
        tmp_path,
        async_dir,
        """
- hosts: all
  gather_facts: false
  tasks:
    - name: launch
      command: echo hi
      async: 10
      poll: 0
      ignore_errors: true
      vars:
        ansible_async_dir: /proc/no/such/dir
""",
    )
    assert code == 0
    (result,) = _results(doc, "launch")
    assert result["failed"] is True and result["changed"] is True
    assert doc["stats"]["h1"]["changed"] == 1 and doc["stats"]["h1"]["ignored"] == 1


# --------------------------------------------------------------------------- 4. rc of a killed job


@pytest.mark.parametrize(
    ("cmd", "rc", "expected"),
    [
        (["sleep", "100"], 137, -9),
        ("sleep 100", 143, -15),
        ("kill -TERM $$", 143, -15),
        ("x=1 python3 -c 'import os; os.kill(os.getpid(), 9)'", 137, -9),
        (["sh", "-c", "sleep 5"], 137, -9),
        # The line's own status: a pipeline whose last command was killed, an exit.
        ("true | sh -c 'kill -9 $$'", 137, 137),
        ("sleep 1; sleep 100", 137, 137),
        ("exit 130", 130, 130),
        (["sh", "-c", "exit 130"], 130, 130),
        ("echo 'unbalanced", 137, 137),
        # Not a signal's status at all.
        ("false", 1, 1),
        (["prog"], 128, 128),
        (["prog"], 255, 255),
    ],
)
def test_command_rc(cmd: Any, rc: int, expected: int) -> None:
    assert sv.command_rc(cmd, rc) == expected


@pytest.mark.e2e
def test_killed_job_reports_minus_signal(tmp_path: Path, async_dir: Path) -> None:
    code, doc = _run(
        tmp_path,
        async_dir,
        """
- hosts: all
  gather_facts: false
  tasks:
    - name: launch
      shell: "{{ item }}"
      async: 20
      poll: 0
      loop:
        - kill -TERM $$
        - true | sh -c 'kill -9 $$'
      register: jobs
    - name: join
      async_status:
        jid: "{{ item.ansible_job_id }}"
      loop: "{{ jobs.results }}"
      register: joined
      until: joined is finished
      retries: 50
      delay: 0.2
      ignore_errors: true
    - name: polled
      command: python3 -c "import os; os.kill(os.getpid(), 9)"
      async: 20
      poll: 1
      ignore_errors: true
""",
    )
    assert code == 0
    (joined,) = _results(doc, "join")
    assert [item["rc"] for item in joined["results"]] == [-15, 137]
    (polled,) = _results(doc, "polled")
    assert polled["rc"] == -9


# --------------------------------------------------------------------------- 5. limit before poll


def test_last_poll_schedule() -> None:
    reads = executor._last_poll_reads_timeout_record
    assert reads(1, 3)  # one poll at 3 s; ansible-core's watchdog killed it at 1 s
    assert reads(3, 2)  # polls at 2, 4 s; killed at 3 s
    assert reads(10, 3)  # last poll at 12 s; killed at 10 s
    assert not reads(1, 1)  # the last poll is at the kill
    assert not reads(10, 1)
    assert not reads(7, 2)  # last poll at 8 s; killed at 10 s
    assert not reads(21, 21)  # killed at 25 s


@pytest.mark.e2e
def test_poll_after_the_limit_returns_the_timeout_record(tmp_path: Path, async_dir: Path) -> None:
    code, doc = _run(
        tmp_path,
        async_dir,
        """
- hosts: all
  gather_facts: false
  tasks:
    - name: one poll after the limit
      shell: sleep 20
      async: 1
      poll: 3
      ignore_errors: true
    - name: last poll at the limit
      shell: sleep 20
      async: 1
      poll: 1
      ignore_errors: true
""",
    )
    assert code == 0
    (record,) = _results(doc, "one poll after the limit")
    assert record["failed"] is True and record["msg"] == "Timeout exceeded"
    assert record["finished"] is True and record["stdout"] == ""
    assert "async_result" not in record
    (gave_up,) = _results(doc, "last poll at the limit")
    assert gave_up["msg"] == "async task did not complete within the requested time - 1s"
    assert gave_up["async_result"]["finished"] is False
    assert gave_up["async_result"]["started"] is True


# --------------------------------------------------------------------------- 6. skipped items


@pytest.mark.e2e
def test_looped_join_of_a_skipped_item_fails_that_item(tmp_path: Path, async_dir: Path) -> None:
    code, doc = _run(
        tmp_path,
        async_dir,
        """
- hosts: all
  gather_facts: false
  tasks:
    - name: launch
      command: "echo {{ item }}"
      async: 20
      poll: 0
      loop: [1, 2, 3]
      when: item != 2
      register: launches
    - name: join
      async_status:
        jid: "{{ item.ansible_job_id }}"
      loop: "{{ launches.results }}"
      register: joined
      until: joined is finished
      retries: 30
      delay: 0.2
      ignore_errors: true
""",
    )
    assert code == 0
    (joined,) = _results(doc, "join")
    assert joined["failed"] is True
    assert [bool(item.get("failed")) for item in joined["results"]] == [False, True, False]
    assert [item.get("stdout") for item in joined["results"]] == ["1", None, "3"]
    assert doc["stats"]["h1"]["ignored"] == 1


# --------------------------------------------------------------------------- 7. delay: 0


@pytest.mark.e2e
def test_zero_delay_retries_wait_a_minimum(tmp_path: Path, async_dir: Path) -> None:
    code, doc = _run(
        tmp_path,
        async_dir,
        f"""
- hosts: all
  gather_facts: false
  tasks:
    - name: launch
      shell: sleep 1; touch {tmp_path}/made
      async: 20
      poll: 0
      register: job
    - name: until a file exists
      command: test -e {tmp_path}/made
      register: made
      until: made.rc == 0
      retries: 20
      delay: 0
    - name: join
      async_status:
        jid: "{{{{ job.ansible_job_id }}}}"
      register: done
      until: done is finished
      retries: 20
      delay: 0
""",
    )
    assert code == 0, doc
    (made,) = _results(doc, "until a file exists")
    assert made["rc"] == 0 and made["attempts"] >= 2


def test_lint_minimum_matches_the_runtime() -> None:
    assert async_join_budget.MIN_INTERVAL == executor.MIN_RETRY_INTERVAL


def test_lint_zero_delay_join_names_its_real_budget(tmp_path: Path) -> None:
    book = tmp_path / "play.yml"
    book.write_text(
        """
- hosts: all
  gather_facts: false
  tasks:
    - name: launch
      command: /opt/job
      async: 600
      poll: 0
      register: job
    - name: join
      async_status:
        jid: "{{ job.ansible_job_id }}"
      register: done
      until: done is finished
      retries: 10000
      delay: 0
"""
    )
    found = [d for d in lint(compile_playbook(str(book)).graph) if d.code == "async-join-budget"]
    assert len(found) == 1
    assert "delay: 0" in found[0].message and "about 1000 s" in found[0].message
