"""Hostile or runaway input ends fast, in bounded memory, with a located error — never a crash.

Each case runs the real CLI in a child process limited to 1 GiB of address space
and 30 s of CPU; the wall-clock bound is what a user would call "at once".
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

MEMORY = 1024 * 1024 * 1024
WALL = 15.0
"""Seconds: generous for a loaded CI machine; each case takes about one second here."""


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (30, 30))


def playgraph(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PLAYGRAPH_NO_CACHE": "1"}
    env.pop("PLAYGRAPH_DEBUG", None)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "playgraph", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limits,
    )
    elapsed = time.monotonic() - started
    assert elapsed < WALL, f"took {elapsed:.1f}s"
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    return result


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def check(root: Path, expected: str) -> str:
    """`check` exits 2 with ``expected`` (``file:line:col: id: message``) in its report;
    `run` refuses the same playbook before running it (exit 1)."""
    checked = playgraph(root, "check", "site.yml")
    assert checked.returncode == 2, checked.stdout + checked.stderr
    assert expected in checked.stdout, checked.stdout
    (root / "hosts").write_text("localhost ansible_connection=local\n")
    ran = playgraph(root, "run", "-i", "hosts", "site.yml")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert expected in ran.stderr and "fix them before running" in ran.stderr
    return checked.stdout


def test_a_yaml_alias_bomb(tmp_path: Path) -> None:
    lines = [
        "- hosts: all",
        "  vars:",
        '    l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ]
    for i in range(1, 10):
        lines.append(f"    l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    lines += ["  tasks:", "    - debug: msg=hi"]
    write(tmp_path, {"site.yml": "\n".join(lines) + "\n"})
    out = check(
        tmp_path, "site.yml:8:14: syntax[yaml-aliases]: aliases expand to more than 100,000"
    )
    assert "*l4" in out


def test_shared_blocks_through_aliases_are_fine(tmp_path: Path) -> None:
    # A real use of aliases: a few copies of one small mapping.
    write(
        tmp_path,
        {
            "site.yml": "- hosts: all\n  vars:\n    base: &base {a: 1, b: [1, 2, 3]}\n"
            "    one: *base\n    two: *base\n    three: {<<: *base, c: 3}\n"
            "  tasks:\n    - debug: msg=hi\n"
        },
    )
    assert playgraph(tmp_path, "check", "site.yml").returncode == 0


@pytest.mark.parametrize(
    ("where", "text", "column"),
    [
        ("when", " or ".join(["x == 1"] * 1000), 1015),
        ("when", "x" + " | default(1)" * 1000, 2611),
        ("msg", "{{ " + "(" * 1000 + "1" + ")" * 1000 + " }}", 216),
        ("msg", "{{ " + " + ".join(["1"] * 3000) + " }}", 818),
        ("msg", "{% if " + " and ".join(["x"] * 1000) + " %}y{% endif %}", 1215),
    ],
)
def test_an_expression_too_deep_to_walk(tmp_path: Path, where: str, text: str, column: int) -> None:
    task = f"      when: {text}\n" if where == "when" else f'      vars:\n        m: "{text}"\n'
    write(tmp_path, {"site.yml": f"- hosts: all\n  tasks:\n    - debug: msg=hi\n{task}"})
    line = 4 if where == "when" else 5
    check(tmp_path, f"site.yml:{line}:{column}: syntax[jinja-too-complex]: expression too complex")


def test_an_expression_as_deep_as_allowed_is_fine(tmp_path: Path) -> None:
    condition = " or ".join(["x"] * 200)
    write(
        tmp_path,
        {"site.yml": f"- hosts: all\n  tasks:\n    - debug: msg=hi\n      when: {condition}\n"},
    )
    assert playgraph(tmp_path, "check", "site.yml").returncode == 0


def test_a_long_chain_of_imports(tmp_path: Path) -> None:
    files = {f"t{i}.yml": f"- import_tasks: t{i + 1}.yml\n" for i in range(300)}
    files["t300.yml"] = "- debug: msg=end\n"
    files["site.yml"] = "- hosts: all\n  tasks:\n    - import_tasks: t0.yml\n"
    check(write(tmp_path, files), "t63.yml:1:17: schema[too-deep]: 't64.yml' nests more than 64")


def test_blocks_and_imports_count_together(tmp_path: Path) -> None:
    # 21 files, each nesting its import two blocks deep: 63 levels pass, one more does not.
    def nested(body: str) -> str:
        return "- block:\n  - block:\n" + "".join(f"    {line}\n" for line in body.splitlines())

    files = {f"t{i}.yml": nested(f"- import_tasks: t{i + 1}.yml") for i in range(20)}
    files["t20.yml"] = nested("- debug: msg=end\n  when: " + " or ".join(["x"] * 200))
    files["site.yml"] = "- hosts: all\n  tasks:\n    - import_tasks: t0.yml\n"
    assert playgraph(write(tmp_path, files), "check", "site.yml").returncode == 0
    (tmp_path / "t20.yml").write_text(nested(nested("- debug: msg=end")))
    check(tmp_path, "t20.yml:4:9: schema[too-deep]: this block nests more than 64")


def test_deep_role_dependencies(tmp_path: Path) -> None:
    files = {"site.yml": "- hosts: all\n  roles: [r0]\n"}
    for i in range(200):
        files[f"roles/r{i}/meta/main.yml"] = f"dependencies: [r{i + 1}]\n" if i < 199 else "{}\n"
        files[f"roles/r{i}/tasks/main.yml"] = "- debug: msg=hi\n"
    check(
        write(tmp_path, files),
        "site.yml:2:11: schema[too-deep]: role 'r64' (a dependency of 'r63') nests more than 64",
    )


def test_a_playbook_importing_playbooks_in_a_chain(tmp_path: Path) -> None:
    files = {f"p{i}.yml": f"- import_playbook: p{i + 1}.yml\n" for i in range(200)}
    files["p200.yml"] = "- hosts: all\n  tasks:\n    - debug: msg=end\n"
    files["site.yml"] = "- import_playbook: p0.yml\n"
    # site.yml is the first level.
    check(write(tmp_path, files), "p62.yml:1:20: schema[too-deep]: 'p63.yml' nests more than 64")


@pytest.mark.e2e
def test_a_task_file_including_itself_fails_its_task(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "site.yml": "- hosts: all\n  gather_facts: false\n  tasks:\n    - include_tasks: me.yml\n",
            "me.yml": "- include_tasks: me.yml\n",
            "hosts": "localhost ansible_connection=local\n",
        },
    )
    assert playgraph(tmp_path, "check", "site.yml").returncode == 0  # dynamic: run time
    ran = playgraph(tmp_path, "run", "-i", "hosts", "site.yml")
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "./me.yml:1:3: include_tasks nests more than 64 levels deep" in ran.stdout
    assert "failed=1" in ran.stdout


@pytest.mark.parametrize(
    ("inventory", "message"),
    [
        ("h[0:99999999]\n", "hosts:1: host range in 'h[0:99999999]' expands to more than 100,000"),
        ("h[0:9][0:9][0:9][0:9][0:9][0:9]\n", "expands to more than 100,000 hosts"),
        ("all:\n  hosts:\n    h[0:99999999]:\n", "host range in 'h[0:99999999]' expands"),
        ("/dev/zero", "inventory: /dev/zero: not a regular file"),
        ("fifo", "fifo: not a regular file"),
        ("big", "larger than 64 MiB"),
    ],
)
def test_an_inventory_too_big_to_hold(tmp_path: Path, inventory: str, message: str) -> None:
    write(tmp_path, {"site.yml": "- hosts: all\n  gather_facts: false\n  tasks:\n    - ping:\n"})
    if inventory == "/dev/zero":
        source = inventory
    elif inventory == "fifo":
        os.mkfifo(tmp_path / "fifo")  # nobody ever writes: reading it would wait forever
        source = "fifo"
    elif inventory == "big":
        with open(tmp_path / "big", "wb") as handle:
            handle.truncate(65 * 1024 * 1024)  # sparse: no disk, and no memory if refused
        source = "big"
    else:
        name = "hosts.yml" if inventory.startswith("all:") else "hosts"
        (tmp_path / name).write_text(inventory)
        source = name
    ran = playgraph(tmp_path, "run", "-i", source, "site.yml")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert message in ran.stderr, ran.stderr
