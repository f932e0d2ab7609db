"""`playgraph check` vs `ansible-playbook --syntax-check` on a generated 2,000-task playbook.

Both run side by side in one run on this machine; the figure is the ratio of
median wall times (goal: playgraph at least 10x faster).

    python bench/check_vs_syntax_check.py [--tasks 2000] [--repeat 5] [--ansible-venv .oracle/venv]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from common import DEFAULT_ORACLE, ROOT, oracle_bin, playgraph_bin, summary, timed


def generate(tasks: int) -> str:
    """A realistic mix: package launches with joins, polled commands, blocks, loops, conditionals."""
    lines = ["- hosts: all", "  gather_facts: false", "  tasks:"]
    for i in range(tasks // 5):
        lines += [
            f"    - name: install batch {i}",
            "      ansible.builtin.apt:",
            f"        name: pkg{i}",
            "        state: present",
            "      async: 600",
            "      poll: 0",
            f"      register: job{i}",
            f"    - name: wait for batch {i}",
            "      ansible.builtin.async_status:",
            f'        jid: "{{{{ job{i}.ansible_job_id }}}}"',
            f"      register: done{i}",
            f"      until: done{i} is finished",
            "      retries: 120",
            "      delay: 5",
            f"    - name: polled step {i}",
            f"      ansible.builtin.command: /bin/sleep {i % 7}",
            "      async: 45",
            "      poll: 5",
            f"      when: inventory_hostname != 'skip{i}' and (flag | default(true) | bool)",
            f"    - name: looped step {i}",
            "      ansible.builtin.debug:",
            '        msg: "{{ item.name | upper }} {{ item.size * 2 }}"',
            '      loop: "{{ things | default([]) }}"',
            f"    - name: file step {i}",
            "      ansible.builtin.file:",
            f"        path: /tmp/pg-bench-{i}",
            "        state: touch",
            "        mode: '0644'",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ansible-venv", type=Path, default=DEFAULT_ORACLE)
    args = parser.parse_args()
    ansible_playbook = oracle_bin(args.ansible_venv, "ansible-playbook")
    with tempfile.TemporaryDirectory() as folder:
        playbook = Path(folder) / "big.yml"
        playbook.write_text(generate(args.tasks))
        inventory = Path(folder) / "hosts"
        inventory.write_text("localhost ansible_connection=local\n")
        # Cold: every run compiles (--no-cache).  Warm: the compile cache holds the
        # unchanged playbook, as on a re-run in CI or an editor.  Exit 2 is fine:
        # the generated playbook has (deliberate) lint findings.
        cold = timed(
            [playgraph_bin(), "check", "--no-cache", str(playbook)], repeat=args.repeat, ok=(0, 2)
        )
        timed([playgraph_bin(), "check", str(playbook)], repeat=1, ok=(0, 2))
        warm = timed([playgraph_bin(), "check", str(playbook)], repeat=args.repeat, ok=(0, 2))
        theirs = timed(
            [ansible_playbook, "--syntax-check", "-i", str(inventory), str(playbook)],
            repeat=args.repeat,
            env={"ANSIBLE_NOCOLOR": "1"},
        )
    result = {
        "benchmark": "check vs ansible-playbook --syntax-check",
        "tasks": args.tasks,
        "repeat": args.repeat,
        "playgraph_cold_seconds": summary(cold),
        "playgraph_warm_seconds": summary(warm),
        "ansible_seconds": summary(theirs),
        "ratio_cold": summary(theirs)["median"] / summary(cold)["median"],
        "ratio_warm": summary(theirs)["median"] / summary(warm)["median"],
    }
    out = ROOT / "bench" / "results" / "check.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{args.tasks} tasks: playgraph check {result['playgraph_cold_seconds']['median']:.3f}s cold, "
        f"{result['playgraph_warm_seconds']['median']:.3f}s warm; ansible-playbook --syntax-check "
        f"{result['ansible_seconds']['median']:.3f}s -> {result['ratio_cold']:.1f}x cold, "
        f"{result['ratio_warm']:.1f}x warm"
    )


if __name__ == "__main__":
    main()
