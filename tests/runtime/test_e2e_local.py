"""End-to-end: `playgraph run` against real processes on the local connection.

What issue 4 promises of a run, checked with real jobs, real clocks and real
subprocesses: limits kill (a detached job's process is gone after its limit, a
polled timeout fails with ansible-core's message and stops its job), attempt
counts are ansible-core's, waiting never holds a fork (20 hosts fan out in about
the time of one job; ``-f 1`` does not serialise polled jobs), an unknown
connection type is unreachable without stopping the others, a compiled plan runs
like its playbook, and a bad run never ends in a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playgraph.compiler import CompileOptions, compile_playbook
from playgraph.runtime import jobs
from playgraph.runtime.context import RunOptions
from playgraph.runtime.inventory import load_inventory
from playgraph.runtime.run import run_graph

pytestmark = pytest.mark.e2e


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True, slots=True)
class CliRun:
    exit_code: int
    document: dict[str, Any] | None
    stdout: str
    stderr: str
    seconds: float

    def results(self, task: str) -> dict[str, dict[str, Any]]:
        """The per-host results of the task named ``task`` (all plays, merged)."""
        assert self.document is not None, self.stderr
        merged: dict[str, dict[str, Any]] = {}
        for play in self.document["plays"]:
            for entry in play["tasks"]:
                if entry["task"]["name"] == task:
                    merged.update(entry["hosts"])
        return merged


@dataclass
class Site:
    """A scratch directory with an inventory of local hosts and their async dir."""

    root: Path
    async_dir: Path

    def inventory(
        self, hosts: int = 3, extra: dict[str, str] | None = None, *, async_dir_var: bool = True
    ) -> Path:
        lines = ["[all]"]
        for i in range(1, hosts + 1):
            name = f"h{i}"
            lines.append(f"{name} {(extra or {}).get(name, '')}".strip())
        lines += [
            "",
            "[all:vars]",
            "ansible_connection=local",
            "ansible_python_interpreter=/usr/bin/python3",
        ]
        if async_dir_var:
            lines.append(f"ansible_async_dir={self.async_dir}")
        path = self.root / f"inventory-{hosts}{'' if async_dir_var else '-no-dir'}.ini"
        path.write_text("\n".join(lines) + "\n")
        return path

    def playbook(self, text: str, name: str = "play.yml") -> Path:
        path = self.root / name
        path.write_text(text)
        return path

    def run(
        self,
        playbook: Path,
        inventory: Path,
        *args: str,
        json_output: bool = True,
        env: dict[str, str] | None = None,
    ) -> CliRun:
        argv = [sys.executable, "-m", "playgraph", "run", os.fspath(playbook)]
        argv += ["-i", os.fspath(inventory), *args]
        if json_output:
            argv.append("--json")
        start = time.monotonic()
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            cwd=self.root,
            timeout=120,
            env={**os.environ, **(env or {})},
        )
        seconds = time.monotonic() - start
        document = None
        if json_output and done.stdout.strip().startswith("{"):
            document = json.loads(done.stdout)
        return CliRun(done.returncode, document, done.stdout, done.stderr, seconds)


@pytest.fixture
def site(tmp_path: Path, async_dir: Path) -> Iterator[Site]:
    # `async_dir` (tests/runtime/conftest.py) stops the supervisor serving the dir, and
    # any job still running, when the test ends.
    yield Site(tmp_path, async_dir)


def _processes_mentioning(text: str) -> list[int]:
    """PIDs of live processes whose command line contains ``text``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat") as handle:
                state = handle.read().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry))
    return found


def _in_process(site: Site, text: str, hosts: int, *, forks: int = 5) -> tuple[float, Any]:
    """Compile ``text`` and time only the run (no interpreter start, no compile)."""
    playbook = site.playbook(text)
    compiled = compile_playbook(os.fspath(playbook), CompileOptions())
    errors = [d for d in compiled.diagnostics if d.severity.value == "error"]
    assert not errors, errors
    inventory = load_inventory([os.fspath(site.inventory(hosts))])
    options = RunOptions(forks=forks, playbook_dir=os.fspath(site.root))

    async def main() -> tuple[float, Any]:
        try:
            start = asyncio.get_running_loop().time()
            outcome = await run_graph(compiled.graph, inventory, options)
            return asyncio.get_running_loop().time() - start, outcome
        finally:
            await jobs.close_clients()

    return asyncio.run(main())


# --------------------------------------------------------------------------- limits


def test_detached_job_is_gone_after_its_limit(site: Site) -> None:
    marker = site.root / "MARKER-detached"
    playbook = site.playbook(
        f"""
- hosts: all
  gather_facts: false
  tasks:
    - name: launch
      shell: "sleep 3; touch {marker}"
      async: 1
      poll: 0
      register: job
    - name: wait past the job's end
      command: sleep 4
    - name: status
      async_status:
        jid: "{{{{ job.ansible_job_id }}}}"
      register: status
      ignore_errors: true
"""
    )
    run = site.run(playbook, site.inventory(1))
    assert run.exit_code == 0, run.stderr
    assert not marker.exists(), "the job outlived its 1 s limit and wrote its marker"
    assert _processes_mentioning(os.fspath(marker)) == []
    status = run.results("status")["h1"]
    assert status["failed"] is True
    assert status["finished"] is True
    assert status["msg"] == "Timeout exceeded"
    assert "child_pid" in status


def test_polled_timeout_fails_with_ansible_message_and_stops_the_job(site: Site) -> None:
    marker = site.root / "MARKER-polled"
    playbook = site.playbook(
        f"""
- hosts: all
  gather_facts: false
  tasks:
    - name: polled
      shell: "sleep 3; touch {marker}"
      async: 1
      poll: 1
"""
    )
    start = time.monotonic()
    run = site.run(playbook, site.inventory(1))
    assert run.exit_code == 2, run.stderr
    result = run.results("polled")["h1"]
    assert result["failed"] is True
    assert result["msg"] == "async task did not complete within the requested time - 1s"
    assert _processes_mentioning(os.fspath(marker)) == []
    # Past the moment the job would have written its marker, it still has not.
    time.sleep(max(0.0, start + 4.0 - time.monotonic()))
    assert not marker.exists()


# --------------------------------------------------------------------------- attempts


@pytest.mark.parametrize(
    ("keywords", "runs", "attempts", "failed"),
    [
        pytest.param("until: false", 4, 3, True, id="until-default-retries"),
        pytest.param("until: false\n      retries: 5", 6, 5, True, id="until-retries-5"),
        pytest.param("until: false\n      retries: 0", 1, None, False, id="retries-0"),
        pytest.param("retries: 3\n      failed_when: true", 4, 3, True, id="retries-no-until"),
    ],
)
def test_until_retries_counts(
    site: Site, keywords: str, runs: int, attempts: int | None, failed: bool
) -> None:
    counter = site.root / "count"
    playbook = site.playbook(
        f"""
- hosts: all
  gather_facts: false
  tasks:
    - name: counted
      shell: "echo x >> {counter}"
      {keywords}
      delay: 0.01
      ignore_errors: true
"""
    )
    run = site.run(playbook, site.inventory(1))
    assert run.exit_code == 0, run.stderr
    assert len(counter.read_text().splitlines()) == runs
    result = run.results("counted")["h1"]
    assert result.get("attempts") == attempts
    assert bool(result.get("failed")) is failed


# --------------------------------------------------------------------------- waiting holds no fork


def test_twenty_hosts_fan_out_in_about_one_job(site: Site) -> None:
    seconds, outcome = _in_process(
        site,
        """
- hosts: all
  gather_facts: false
  tasks:
    - name: launch
      command: sleep 2
      async: 30
      poll: 0
      register: job
    - name: quick
      command: "true"
    - name: join
      async_status:
        jid: "{{ job.ansible_job_id }}"
      register: done
      until: done is finished
      retries: 60
      delay: 1
""",
        hosts=20,
    )
    assert outcome.exit_code == 0, outcome.document["stats"]
    stats = outcome.document["stats"]
    assert len(stats) == 20 and all(s["failures"] == 0 for s in stats.values())
    assert 2.0 <= seconds < 5.0, f"20 hosts x (sleep 2 detached + join) took {seconds:.2f}s"


def test_one_fork_does_not_serialise_polled_jobs(site: Site) -> None:
    seconds, outcome = _in_process(
        site,
        """
- hosts: all
  gather_facts: false
  tasks:
    - name: polled
      command: sleep 1
      async: 10
      poll: 1
""",
        hosts=10,
        forks=1,
    )
    assert outcome.exit_code == 0, outcome.document["stats"]
    assert 1.0 <= seconds < 4.0, f"10 polled `sleep 1` with -f 1 took {seconds:.2f}s"


# --------------------------------------------------------------------------- reachability, plans


def test_unknown_connection_is_unreachable_and_the_others_carry_on(site: Site) -> None:
    playbook = site.playbook(
        """
- hosts: all
  gather_facts: false
  tasks:
    - name: polled
      command: echo hello
      async: 10
      poll: 1
    - name: after
      command: echo after
"""
    )
    run = site.run(playbook, site.inventory(3, {"h2": "ansible_connection=nosuch"}))
    assert run.exit_code == 4, run.stderr
    assert run.results("polled")["h2"]["unreachable"] is True
    assert "nosuch" in run.results("polled")["h2"]["msg"]
    assert set(run.results("after")) == {"h1", "h3"}
    assert run.results("after")["h1"]["stdout"] == "after"
    assert run.document is not None
    assert run.document["stats"]["h2"]["unreachable"] == 1
    assert run.document["stats"]["h1"]["ok"] == 2


def test_a_compiled_plan_runs_like_its_playbook(site: Site) -> None:
    playbook = site.playbook(
        """
- hosts: all
  gather_facts: false
  tasks:
    - name: launch
      shell: "echo plan-{{ inventory_hostname }}"
      async: 20
      poll: 0
      register: job
    - name: join
      async_status:
        jid: "{{ job.ansible_job_id }}"
      register: done
      until: done is finished
      retries: 50
      delay: 0.2
    - name: polled failure
      shell: "exit {{ 3 if inventory_hostname == 'h2' else 0 }}"
      async: 10
      poll: 1
      ignore_errors: true
    - name: looped
      command: "echo {{ item }}"
      loop: [a, b]
"""
    )
    plan = site.root / "plan.json"
    compiled = subprocess.run(
        [sys.executable, "-m", "playgraph", "compile", os.fspath(playbook), "-o", os.fspath(plan)],
        capture_output=True,
        text=True,
        cwd=site.root,
    )
    assert compiled.returncode == 0, compiled.stderr
    inventory = site.inventory(3)
    from_playbook = site.run(playbook, inventory)
    from_plan = site.run(plan, inventory)
    assert from_playbook.exit_code == from_plan.exit_code == 0, from_plan.stderr

    def shape(run: CliRun) -> dict[str, Any]:
        assert run.document is not None, run.stderr
        keys = ("failed", "changed", "rc", "stdout", "finished", "skipped", "unreachable")
        return {
            "stats": run.document["stats"],
            "tasks": [
                {
                    "name": entry["task"]["name"],
                    "hosts": {
                        host: {k: result.get(k) for k in keys}
                        | {"items": [item.get("stdout") for item in result.get("results", [])]}
                        for host, result in entry["hosts"].items()
                    },
                }
                for play in run.document["plays"]
                for entry in play["tasks"]
            ],
        }

    assert shape(from_plan) == shape(from_playbook)


def test_the_async_dir_comes_from_ansible_async_dir_in_the_environment(site: Site) -> None:
    # As ansible-core's shell option: ANSIBLE_ASYNC_DIR (or [defaults] async_dir) sets the
    # job directory when no host sets ``ansible_async_dir``; launch and join agree on it.
    playbook = site.playbook(
        """
- hosts: all
  gather_facts: false
  tasks:
    - name: launch
      command: echo from-env-dir
      async: 20
      poll: 0
      register: job
    - name: join
      async_status:
        jid: "{{ job.ansible_job_id }}"
      register: done
      until: done is finished
      retries: 50
      delay: 0.2
"""
    )
    inventory = site.inventory(2, async_dir_var=False)
    run = site.run(playbook, inventory, env={"ANSIBLE_ASYNC_DIR": os.fspath(site.async_dir)})
    assert run.exit_code == 0, run.stderr
    for host, launch in run.results("launch").items():
        assert launch["results_file"] == os.fspath(site.async_dir / launch["ansible_job_id"])
        assert (site.async_dir / launch["ansible_job_id"]).is_file(), host
        assert run.results("join")[host]["stdout"] == "from-env-dir"


def test_a_valid_module_without_native_version_runs_through_ansible_core(site: Site) -> None:
    # Without ansible-core the same task fails saying so: test_generic_modules.py.
    playbook = site.playbook(
        """
- hosts: all
  gather_facts: false
  tasks:
    - name: schedule
      ansible.builtin.cron:
        name: nightly
        job: /bin/true
      check_mode: true
    - name: after
      command: echo after
"""
    )
    run = site.run(playbook, site.inventory(1))
    assert run.exit_code == 0, run.stderr
    result = run.results("schedule")["h1"]
    assert not result.get("failed") and result["jobs"] == ["nightly"], result
    assert run.results("after")["h1"]["stdout"] == "after"


def test_includes_loop_pass_vars_and_fail_visibly_when_missing(site: Site) -> None:
    (site.root / "inner.yml").write_text(
        "- name: inner\n  command: echo inner-{{ item }}-{{ extra | default('none') }}\n"
    )
    playbook = site.playbook(
        """
- hosts: all
  gather_facts: false
  tasks:
    - name: plain include
      include_tasks: inner.yml
      vars:
        item: solo
        extra: given
    - name: looped include
      include_tasks: inner.yml
      loop: [a, b]
    - name: missing include
      include_tasks: "{{ 'missing-' + inventory_hostname + '.yml' }}"
      when: inventory_hostname == 'h2'
    - name: after
      command: echo after
"""
    )
    run = site.run(playbook, site.inventory(2))
    assert run.exit_code == 2, run.stderr
    assert run.document is not None
    inner = [
        {host: result["stdout"] for host, result in entry["hosts"].items()}
        for play in run.document["plays"]
        for entry in play["tasks"]
        if entry["task"]["name"] == "inner"
    ]
    expected = ["inner-solo-given", "inner-a-none", "inner-b-none"]
    assert inner == [{"h1": line, "h2": line} for line in expected]
    missing = run.results("missing include")["h2"]
    assert missing["failed"] is True and "msg" not in missing
    assert missing["reason"] == (
        f"Could not find or access '{site.root / 'missing-h2.yml'}' on the Ansible Controller."
    )
    # The failure is counted, shown, and ends that host's play; the other carries on.
    assert run.document["stats"]["h2"]["failures"] == 1
    assert "fatal: [h2]" in site.run(playbook, site.inventory(2), json_output=False).stdout
    assert list(run.results("after")) == ["h1"]


def test_task_names_are_templated_with_the_first_hosts_variables(site: Site) -> None:
    playbook = site.playbook(
        """
- hosts: all
  gather_facts: false
  vars:
    service: nginx
  tasks:
    - name: restart {{ service }} (first {{ inventory_hostname }})
      command: echo hi
    - name: uses {{ nowhere_defined }}
      command: echo hi
"""
    )
    run = site.run(playbook, site.inventory(2))
    assert run.document is not None, run.stderr
    names = [entry["task"]["name"] for entry in run.document["plays"][0]["tasks"]]
    assert names[1] == "uses {{ nowhere_defined }}"  # undefined: as written
    assert names[0] in ("restart nginx (first h1)", "restart nginx (first h2)")
    shown = site.run(playbook, site.inventory(2), json_output=False).stdout
    assert "TASK [restart nginx (first h" in shown and "TASK [uses {{ nowhere_defined }}]" in shown


def test_text_output_has_ansibles_async_lines_for_polled_tasks_only(site: Site) -> None:
    playbook = site.playbook(
        """
- hosts: all
  gather_facts: false
  tasks:
    - name: polled ok
      command: sleep 1.5
      async: 10
      poll: 1
    - name: polled failure
      shell: sleep 0.2; exit 3
      async: 10
      poll: 1
      ignore_errors: true
    - name: detached by a templated poll
      command: sleep 0.1
      async: 10
      poll: "{{ -1 }}"
"""
    )
    run = site.run(playbook, site.inventory(1), json_output=False)
    assert run.exit_code == 0, run.stderr
    sections = {block.split("]", 1)[0]: block for block in run.stdout.split("TASK [")[1:]}
    assert re.search(r"^ASYNC POLL on h1: jid=j\d+\.\d+ started=1 finished=0$",
                     sections["polled ok"], re.M)  # fmt: skip
    assert re.search(r"^ASYNC OK on h1: jid=j\d+\.\d+$", sections["polled ok"], re.M)
    assert re.search(r"^ASYNC FAILED on h1: jid=j\d+\.\d+$", sections["polled failure"], re.M)
    assert "ASYNC" not in sections["detached by a templated poll"]


def test_handlers_show_as_running_handler_each_flush_and_meta_tasks_stay_silent(
    site: Site,
) -> None:
    playbook = site.playbook(
        """
- hosts: all
  gather_facts: false
  tasks:
    - name: first change
      command: echo one
      notify: bounce
    - name: flush now
      meta: flush_handlers
    - name: second change
      command: echo two
      notify: bounce
  handlers:
    - name: bounce
      command: echo bounced
"""
    )
    shown = site.run(playbook, site.inventory(1), json_output=False)
    assert shown.exit_code == 0, shown.stderr
    banners = [line.split(" *")[0] for line in shown.stdout.splitlines() if line.endswith("**")]
    assert banners == [
        "PLAY [all]",
        "TASK [first change]",
        "RUNNING HANDLER [bounce]",
        "TASK [second change]",
        "RUNNING HANDLER [bounce]",
        "PLAY RECAP",
    ]
    run = site.run(playbook, site.inventory(1))
    assert run.document is not None
    names = [entry["task"]["name"] for entry in run.document["plays"][0]["tasks"]]
    assert names == ["first change", "bounce", "second change", "bounce"]
    assert run.document["stats"]["h1"]["ok"] == 4


def test_pause_runs_once_and_reports_the_time_it_paused(site: Site) -> None:
    # ansible-core: BYPASS_HOST_LOOP (first host only), and the measured time rounded to
    # hundredths in the unit asked for ("Paused for 1.0 seconds").
    playbook = site.playbook(
        """
- hosts: all
  gather_facts: false
  tasks:
    - name: pause briefly
      pause: seconds=1
"""
    )
    run = site.run(playbook, site.inventory(3))
    assert run.exit_code == 0, run.stderr
    paused = run.results("pause briefly")
    assert list(paused) == ["h1"]
    assert re.fullmatch(r"Paused for 1\.\d{1,2} seconds", paused["h1"]["stdout"])
    assert 1.0 <= run.seconds < 10


def test_an_undefined_variable_fails_the_host_with_its_name_and_place(site: Site) -> None:
    playbook = site.playbook(
        """
- hosts: all
  gather_facts: false
  tasks:
    - name: fine
      command: echo fine
    - name: broken on h2
      command: "echo {{ nowhere_defined if inventory_hostname == 'h2' else 'ok' }}"
      async: 10
      poll: 1
    - name: broken join
      async_status:
        jid: "{{ missing_job.ansible_job_id }}"
      when: inventory_hostname == 'h3'
    - name: after
      command: echo after
""",
        name="broken.yml",
    )
    run = site.run(playbook, site.inventory(3))
    assert run.exit_code == 2, run.stderr
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout
    broken = run.results("broken on h2")["h2"]
    assert broken["failed"] is True
    assert "nowhere_defined" in broken["msg"]
    # The task's place: the file and the line its entry starts at.
    assert f"'{playbook}': line 7" in broken["msg"], broken["msg"]
    join = run.results("broken join")["h3"]
    assert join["failed"] is True and "missing_job" in join["msg"], join["msg"]
    assert set(run.results("after")) == {"h1"}

    # The text output says the same, without a traceback either.
    text = site.run(playbook, site.inventory(3), json_output=False)
    assert text.exit_code == 2
    assert "Traceback" not in text.stdout + text.stderr
    assert "nowhere_defined" in text.stdout
