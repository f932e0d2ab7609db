"""A job runs with its own run's environment, never with the one of the run that
started the (long-lived, shared) job supervisor.

Two `playgraph run` processes, one after the other within the supervisor's idle
window, each with its own `PATH` addition and `AWS_PROFILE`/`KUBECONFIG`: the second
run's detached, polled and joined jobs must see the second run's values. Before the
fix they saw the first run's (the supervisor copied its own environment).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from playgraph.runtime.target import supervisor as sv

from tests.runtime.conftest import stop_supervisor

pytestmark = pytest.mark.e2e

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: detached
      shell: echo "$AWS_PROFILE $KUBECONFIG $(command -v pgtest-tool)"
      async: 30
      poll: 0
      register: job
    - name: polled
      shell: echo "$AWS_PROFILE $KUBECONFIG $(command -v pgtest-tool)"
      async: 30
      poll: 1
    - name: joined
      async_status:
        jid: "{{ job.ansible_job_id }}"
      register: joined
      until: joined is finished
      retries: 30
      delay: 1
"""


def run(tmp_path: Path, name: str, async_dir: Path) -> dict[str, str]:
    """One run with its own environment; the stdout of each job task."""
    tools = tmp_path / f"bin-{name}"
    tools.mkdir()
    tool = tools / "pgtest-tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{tools}:{os.environ['PATH']}",
        "AWS_PROFILE": f"profile-{name}",
        "KUBECONFIG": f"/etc/kube/{name}",
        "PLAYGRAPH_NO_CACHE": "1",
    }
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(
        f"localhost ansible_connection=local ansible_python_interpreter={sys.executable} "
        f"ansible_async_dir={async_dir}\n"
    )
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    done = subprocess.run(
        [sys.executable, "-m", "playgraph", "run", "-i", str(inventory), str(playbook), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(done.stdout)
    results = {
        task["task"]["name"]: task["hosts"]["localhost"] for task in document["plays"][0]["tasks"]
    }
    return {name: str(results[name].get("stdout", "")) for name in ("polled", "joined")}


def test_each_run_gives_its_jobs_its_own_environment(tmp_path: Path) -> None:
    async_dir = tmp_path / "async"
    try:
        first = run(tmp_path, "first", async_dir)
        serving = sv.lock_pid(str(async_dir / sv.PRIVATE_DIR))
        second = run(tmp_path, "second", async_dir)
        # The case that went wrong: the first run's supervisor served the second run.
        assert serving is not None
        assert sv.lock_pid(str(async_dir / sv.PRIVATE_DIR)) == serving
    finally:
        stop_supervisor(async_dir)
    for name, outputs in (("first", first), ("second", second)):
        expected = f"profile-{name} /etc/kube/{name} {tmp_path}/bin-{name}/pgtest-tool"
        assert outputs == {"polled": expected, "joined": expected}, (name, outputs)
