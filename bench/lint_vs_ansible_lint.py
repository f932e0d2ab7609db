"""`playgraph check` (compile + async lint) vs `ansible-lint` on a generated 2,000-task playbook.

Both run side by side in one run on this machine, several repetitions each;
the figure is the ratio of median wall times (goal: playgraph at least 100x
faster).  playgraph is measured cold (``--no-cache``: every run compiles the
playbook) and warm (its compile cache holds the unchanged file, as on a re-run
in CI or an editor); ansible-lint keeps no such cache of its findings.  The playbook has a realistic async mix: package transactions left
running with ``poll: 0`` and joined later (some too late: real lock
conflicts), looped fan-out/fan-in, polled commands, blocks with rescue,
handlers, conditionals and a second play.

    python bench/lint_vs_ansible_lint.py [--tasks 2000] [--repeat 3] [--ansible-venv .oracle/venv]

Writes ``bench/results/lint.json``.  ansible-lint runs offline with its
default profile; exit code 2 (violations found) counts as a normal run for
both tools.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from common import DEFAULT_ORACLE, ROOT, oracle_bin, playgraph_bin, summary

# One unit is 10 tasks; a 2,000-task playbook is 200 units.
UNIT_TASKS = 10


def unit(i: int) -> list[str]:
    """Ten tasks: a launch and its (sometimes late) join, a fan-out/fan-in, a block, others."""
    late = i % 7 == 0  # every seventh unit joins after the next package task: a real conflict
    module = ("ansible.builtin.apt", "ansible.builtin.dnf", "ansible.builtin.package")[i % 3]
    launch = [
        f"    - name: install batch {i}",
        f"      {module}:",
        f"        name: [pkg{i}a, pkg{i}b]",
        "        state: present",
        "      async: 900",
        "      poll: 0",
        f"      register: batch{i}",
    ]
    join = [
        f"    - name: wait for batch {i}",
        "      ansible.builtin.async_status:",
        f'        jid: "{{{{ batch{i}.ansible_job_id }}}}"',
        f"      register: batch{i}_done",
        f"      until: batch{i}_done is finished",
        "      retries: 180",
        "      delay: 5",
    ]
    other_package = [
        f"    - name: install tool {i}",
        f"      {module}:",
        f"        name: tool{i}",
        "        state: present",
    ]
    fan_out = [
        f"    - name: build shards {i}",
        "      ansible.builtin.command: /opt/build/shard {{ item }}",
        "      loop: \"{{ shards | default(['a', 'b']) }}\"",
        "      async: 600",
        "      poll: 0",
        f"      register: shards{i}",
        "      changed_when: false" if i % 11 == 0 else "      no_log: false",
        f"    - name: wait for shards {i}",
        "      ansible.builtin.async_status:",
        '        jid: "{{ shard.ansible_job_id }}"',
        f'      loop: "{{{{ shards{i}.results }}}}"',
        "      loop_control:",
        "        loop_var: shard",
        f"      register: shards{i}_done",
        f"      until: shards{i}_done is finished",
        "      retries: 120",
        "      delay: 5",
    ]
    block = [
        f"    - name: configure service {i}",
        f"      when: inventory_hostname != 'skip{i}'",
        "      block:",
        f"        - name: render config {i}",
        "          ansible.builtin.template:",
        f"            src: svc{i % 5}.conf.j2",
        f"            dest: /etc/svc{i}.conf",
        "            mode: '0644'",
        "          notify: restart services",
        f"        - name: polled check {i}",
        f"          ansible.builtin.command: /usr/local/bin/check {i}",
        "          async: 45",
        "          poll: 5",
        "          changed_when: false",
        "      rescue:",
        f"        - name: report failure {i}",
        "          ansible.builtin.debug:",
        f"            msg: configuration {i} failed",
    ]
    plain = [
        f"    - name: clean up batch {i}",
        "      ansible.builtin.async_status:",
        f'        jid: "{{{{ batch{i}.ansible_job_id }}}}"',
        "        mode: cleanup",
        f"    - name: touch marker {i}",
        "      ansible.builtin.file:",
        f"        path: /var/tmp/marker-{i}",
        "        state: touch",
        "        mode: '0644'",
    ]
    if late:
        return launch + other_package + join + fan_out + block + plain
    return launch + join + other_package + fan_out + block + plain


def timed(
    argv: Sequence[str], *, repeat: int, cwd: Path | None = None, env: dict[str, str] | None = None
) -> tuple[list[float], list[float]]:
    """Wall seconds and CPU seconds (user + system, of the process and its children) per run.

    CPU time is reported beside wall time because on a shared, loaded machine
    wall time measures the neighbours as much as the tool.
    """
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run(
            argv, capture_output=True, cwd=cwd, env={**os.environ, **(env or {})}
        )
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
        if result.returncode not in (0, 2):  # 2: violations found, a normal run for both
            sys.exit(f"{argv[0]} exited {result.returncode}:\n{result.stderr.decode()[-2000:]}")
    return walls, cpus


def generate(tasks: int) -> str:
    units = max(1, tasks // UNIT_TASKS)
    half = units // 2
    lines = ["---"]
    for number, (start, stop, hosts) in enumerate(((0, half, "web"), (half, units, "all"))):
        lines += [
            f"- name: play {number + 1}",
            f"  hosts: {hosts}",
            "  gather_facts: false",
            "  become: true",
            "  tasks:",
        ]
        for i in range(start, stop):
            lines += unit(i)
        lines += [
            "  handlers:",
            "    - name: restart services",
            "      ansible.builtin.service:",
            "        name: svc",
            "        state: restarted",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ansible-venv", type=Path, default=DEFAULT_ORACLE)
    args = parser.parse_args()
    ansible_lint = oracle_bin(args.ansible_venv, "ansible-lint")
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        playbook = project / "site.yml"
        playbook.write_text(generate(args.tasks))
        (project / "templates").mkdir()
        for n in range(5):
            (project / "templates" / f"svc{n}.conf.j2").write_text("x={{ 1 }}\n")
        env = {"ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1"}
        # Alternate the tools so that both see the same load on a shared machine.
        ours: tuple[list[float], list[float]] = ([], [])
        warm: tuple[list[float], list[float]] = ([], [])
        theirs: tuple[list[float], list[float]] = ([], [])
        timed([playgraph_bin(), "check", "site.yml"], repeat=1, cwd=project)  # fills the cache
        for _ in range(args.repeat):
            wall, cpu = timed(
                [playgraph_bin(), "check", "--no-cache", "site.yml"], repeat=1, cwd=project
            )
            ours[0].extend(wall)
            ours[1].extend(cpu)
            wall, cpu = timed([playgraph_bin(), "check", "site.yml"], repeat=1, cwd=project)
            warm[0].extend(wall)
            warm[1].extend(cpu)
            # ansible-lint finds its project root from the working directory: run it there.
            wall, cpu = timed(
                [ansible_lint, "--offline", "--nocolor", "-q", "site.yml"],
                repeat=1,
                cwd=project,
                env=env,
            )
            theirs[0].extend(wall)
            theirs[1].extend(cpu)
    ratio = statistics.median(theirs[0]) / statistics.median(ours[0])
    cpu_ratio = statistics.median(theirs[1]) / statistics.median(ours[1])
    warm_ratio = statistics.median(theirs[0]) / statistics.median(warm[0])
    load = os.getloadavg()[0]
    result = {
        "benchmark": "playgraph check vs ansible-lint",
        "tasks": args.tasks,
        "repeat": args.repeat,
        "playgraph_seconds": summary(ours[0]),
        "playgraph_warm_seconds": summary(warm[0]),
        "ansible_lint_seconds": summary(theirs[0]),
        "ratio": ratio,
        "playgraph_cpu_seconds": summary(ours[1]),
        "ansible_lint_cpu_seconds": summary(theirs[1]),
        "cpu_ratio": cpu_ratio,
        "warm_ratio": warm_ratio,
        "goal": 100,
        "load_average_1min": load,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    out = ROOT / "bench" / "results" / "lint.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{args.tasks} tasks, {args.repeat} runs each (medians; load average {load:.1f}):\n"
        f"                      wall        cpu\n"
        f"  playgraph check  {summary(ours[0])['median']:8.3f} s "
        f"{summary(ours[1])['median']:8.3f} s   (cold)\n"
        f"  playgraph check  {summary(warm[0])['median']:8.3f} s "
        f"{summary(warm[1])['median']:8.3f} s   (warm)\n"
        f"  ansible-lint     {summary(theirs[0])['median']:8.3f} s "
        f"{summary(theirs[1])['median']:8.3f} s\n"
        f"  ratio            {ratio:8.1f}x  {cpu_ratio:8.1f}x   (cold; goal >= 100x)\n"
        f"  ratio            {warm_ratio:8.1f}x              (warm)"
    )


if __name__ == "__main__":
    main()
