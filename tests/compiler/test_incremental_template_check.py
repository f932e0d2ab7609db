"""A re-check after an edit that changes template texts: the new texts are read without
importing lark or Jinja (when the expression parser's descent reads them), and the report
is the one a check without any cache prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_RUN = """
import atexit, json, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
from playgraph.cli import main
sys.exit(main())
"""

_TASKS = """---
- name: install {r}
  ansible.builtin.apt:
    name: pkg{r}
  async: 600
  poll: 0
  register: job{r}
- name: wait {r}
  ansible.builtin.async_status:
    jid: "{{{{ job{r}.ansible_job_id }}}}"
  register: done{r}
  until: done{r} is finished
  retries: 10
  delay: 1
- name: polled {r}
  ansible.builtin.command: /bin/sleep {r}
  async: 45
  poll: 5
  when: inventory_hostname != 'skip{r}' and (flag | default(true) | bool)
- name: looped {r}
  ansible.builtin.debug:
    msg: "{{{{ item.name | upper }}}} {{{{ item.size * 2 }}}}"
  loop: "{{{{ things | default([]) }}}}"
- name: launched and never joined {r}
  ansible.builtin.command: sleep 1
  async: 5
  poll: 0
"""


def _project(root: Path, roles: int = 3) -> None:
    lines = ["- hosts: all", "  gather_facts: false", "  roles:"]
    for r in range(roles):
        lines.append(f"    - role{r}")
        tasks = root / "roles" / f"role{r}" / "tasks"
        tasks.mkdir(parents=True)
        (tasks / "main.yml").write_text(_TASKS.format(r=r))
    (root / "site.yml").write_text("\n".join(lines) + "\n")


def _check(root: Path, *extra: str) -> tuple[int, str, str, set[str]]:
    """``playgraph check [extra] site.yml`` in a fresh interpreter: exit code, stdout,
    stderr and the modules it imported."""
    modules = root / "modules.json"
    env = {**os.environ, "XDG_CACHE_HOME": str(root / "cache"), "NO_COLOR": "1"}
    env.pop("PLAYGRAPH_NO_CACHE", None)
    env.pop("GITHUB_ACTIONS", None)
    done = subprocess.run(
        [sys.executable, "-c", _RUN, str(modules), "check", *extra, "site.yml"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 2), done.stderr
    return done.returncode, done.stdout, done.stderr, set(json.loads(modules.read_text()))


def _parsers(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in ("lark", "jinja2", "interegular")}


def _edit(root: Path, old: str, new: str) -> None:
    path = root / "roles" / "role1" / "tasks" / "main.yml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # A new condition, never seen before.
        (
            "when: inventory_hostname != 'skip1' and (flag | default(true) | bool)",
            "when: inventory_hostname not in ['edited', 'again'] or (n | int) > 3 ** 2",
        ),
        # A new message template, and a new `until:`.
        (
            'msg: "{{ item.name | upper }} {{ item.size * 2 }}"',
            "msg: \"{{ item.name | lower }} {{ (item.size * 7) | string ~ 'x' }} again\"",
        ),
        ("until: done1 is finished", "until: done1 is finished or done1.rc | default(0) != 0"),
        # A new command line (free-form arguments without quotes).
        ("ansible.builtin.command: /bin/sleep 1", "ansible.builtin.command: /bin/sleep 11"),
    ],
)
def test_a_new_template_text_needs_neither_lark_nor_jinja(
    tmp_path: Path, old: str, new: str
) -> None:
    _project(tmp_path)
    _check(tmp_path)  # fills the caches
    _edit(tmp_path, old, new)
    code, out, err, modules = _check(tmp_path)
    assert "async-unjoined" in out  # the report is a real one
    assert _parsers(modules) == set(), "a cached re-check imported a parser it did not need"
    assert (code, out, err) == _check(tmp_path, "--no-cache")[:3]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        # Statements: Jinja's own parser reads them.
        (
            'msg: "{{ item.name | upper }} {{ item.size * 2 }}"',
            'msg: "{% for i in item %}{{ i }}{% endfor %}"',
            None,
        ),
        # A syntax error: the grammar's parser says where.
        ("until: done1 is finished", "until: done1 is finished and (", "JINJA"),
        # A test with a bare argument, outside the descent.
        ("until: done1 is finished", "until: done1.attempts is divisibleby 3", None),
        # Quotes in a command line: the arguments grammar.
        ("ansible.builtin.command: /bin/sleep 1", "ansible.builtin.command: echo 'a b'", None),
    ],
)
def test_texts_the_fast_readers_leave_to_the_parsers_check_the_same(
    tmp_path: Path, old: str, new: str, message: str | None
) -> None:
    _project(tmp_path)
    _check(tmp_path)
    _edit(tmp_path, old, new)
    code, out, err, modules = _check(tmp_path)
    assert _parsers(modules), "this edit does need a parser: the test above is not vacuous"
    if message is not None:
        assert message in out.upper()
    assert (code, out, err) == _check(tmp_path, "--no-cache")[:3]
