"""Properties of the lock analysis over random playbooks (Hypothesis).

Random playbooks mix detached lock-holding launches (some looped, delegated,
conditional or ``run_once``), other lock users (modules and shell lines), joins
with random budgets, conditions and ``ignore_errors``, blocks with rescue and
always sections, handlers, and plays on different host groups.  They are
written as YAML text to files and compiled with ``compile_playbook``, exactly
as ``playgraph check`` does.

Findings are identified by (rule id, task name) — every task is named ``tN`` —
so inserting or removing a task, which moves lines, still compares them.
"""

from __future__ import annotations

import copy
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playgraph.compiler import compile_playbook
from playgraph.compiler.diagnostics import Diagnostic
from playgraph.compiler.lint import LintConfig, lint

Item = dict[str, Any]

HOSTS = ("all", "web", "db", "all:!db")
LOCK_USERS = (
    ("ansible.builtin.apt", "name: pkg"),
    ("ansible.builtin.dnf", "name: pkg"),
    ("ansible.builtin.shell", None),
    ("ansible.builtin.command", None),
)


@dataclass
class Model:
    plays: list[dict[str, Any]] = field(default_factory=list)


class _Ids:
    def __init__(self) -> None:
        self.next = 0
        self.launches: list[Item] = []

    def new(self) -> int:
        self.next += 1
        return self.next


@st.composite
def playbooks(draw: st.DrawFn) -> Model:
    ids = _Ids()
    model = Model()
    for _ in range(draw(st.integers(1, 3))):
        handlers = [
            {"kind": "user", "id": ids.new(), "module": draw(st.integers(0, 2)), "handler": True}
            for _ in range(draw(st.integers(0, 2)))
        ]
        tasks = _items(draw, ids, depth=0, handlers=handlers)
        model.plays.append(
            {"hosts": draw(st.sampled_from(HOSTS)), "tasks": tasks, "handlers": handlers}
        )
    return model


def _items(draw: st.DrawFn, ids: _Ids, depth: int, handlers: list[Item]) -> list[Item]:
    items: list[Item] = []
    for _ in range(draw(st.integers(1 if depth else 2, 6 if depth == 0 else 3))):
        kind = draw(
            st.sampled_from(
                ("launch", "launch", "user", "user", "join", "join")
                + (("block",) if depth < 2 else ())
            )
        )
        if kind == "launch":
            item = {
                "kind": "launch",
                "id": ids.new(),
                "module": draw(st.integers(0, 2)),
                "async": draw(st.sampled_from((30, 300))),
                "when": draw(st.booleans()) and draw(st.integers(0, 2)) == 0,
                "loop": draw(st.integers(0, 4)) == 0,
                "delegate": draw(st.integers(0, 4)) == 0,
                "run_once": draw(st.integers(0, 5)) == 0,
            }
            ids.launches.append(item)
            items.append(item)
        elif kind == "user":
            notify = None
            if handlers and draw(st.booleans()):
                notify = draw(st.sampled_from(handlers))["id"]
            items.append(
                {
                    "kind": "user",
                    "id": ids.new(),
                    "module": draw(st.integers(0, len(LOCK_USERS) - 1)),
                    "delegate": draw(st.integers(0, 5)) == 0,
                    "notify": notify,
                }
            )
        elif kind == "join" and ids.launches:
            target = draw(st.sampled_from(ids.launches))
            items.append(
                {
                    "kind": "join",
                    "id": ids.new(),
                    "ref": target["id"],
                    "looped": target["loop"] and draw(st.booleans()),
                    "until": draw(st.integers(0, 5)) > 0,
                    "retries": draw(st.sampled_from((None, 2, 100))),
                    "delay": draw(st.sampled_from((None, 1, 5))),
                    "when": draw(st.integers(0, 4)) == 0,
                    "ignore_errors": draw(st.integers(0, 5)) == 0,
                    "delegate": target["delegate"] and draw(st.booleans()),
                    "run_once": target["run_once"],
                }
            )
        elif kind == "block":
            items.append(
                {
                    "kind": "block",
                    "id": ids.new(),
                    "when": draw(st.integers(0, 4)) == 0,
                    "block": _items(draw, ids, depth + 1, handlers),
                    "rescue": _items(draw, ids, depth + 1, handlers) if draw(st.booleans()) else [],
                    "always": _items(draw, ids, depth + 1, handlers)
                    if draw(st.integers(0, 2)) == 0
                    else [],
                }
            )
    return items


# --------------------------------------------------------------------------- rendering


def render(model: Model) -> str:
    out = ["---"]
    for play in model.plays:
        out += [f"- hosts: {play['hosts']}", "  gather_facts: false", "  tasks:"]
        out += _render_items(play["tasks"], 4)
        if play["handlers"]:
            out.append("  handlers:")
            out += _render_items(play["handlers"], 4)
    return "\n".join(out) + "\n"


def _render_items(items: list[Item], indent: int) -> list[str]:
    lines: list[str] = []
    for item in items:
        lines += [" " * indent + line for line in _render(item)]
    return lines


def _render(item: Item) -> list[str]:
    name = f"h{item['id']}" if item.get("handler") else f"t{item['id']}"
    lines = [f"- name: {name}"]
    kind = item["kind"]
    if kind == "launch":
        module = ("ansible.builtin.apt", "ansible.builtin.dnf", "ansible.builtin.command")[
            item["module"]
        ]
        if item["module"] == 2:
            lines.append(f"  {module}: /opt/job{item['id']}")
        else:
            lines += [f"  {module}:", "    name: '{{ item }}'" if item["loop"] else "    name: pkg"]
        if item["loop"]:
            lines.append('  loop: "{{ packages }}"')
        if item["when"]:
            lines.append(f"  when: flag{item['id']} | bool")
        if item["delegate"]:
            lines.append("  delegate_to: mirror")
        if item["run_once"]:
            lines.append("  run_once: true")
        lines += [f"  async: {item['async']}", "  poll: 0", f"  register: j{item['id']}"]
    elif kind == "user":
        module, args = LOCK_USERS[item["module"]]
        if module.endswith("shell"):
            lines.append(f"  {module}: apt-get install -y pkg{item['id']}")
        elif module.endswith("command"):
            lines.append(f"  {module}: /bin/true")
        else:
            lines += [f"  {module}:", f"    {args}"]
        if item.get("delegate"):
            lines.append("  delegate_to: mirror")
        if item.get("notify") is not None:
            lines.append(f"  notify: h{item['notify']}")
    elif kind == "join":
        lines.append("  ansible.builtin.async_status:")
        if item["looped"]:
            lines += [
                '    jid: "{{ item.ansible_job_id }}"',
                f'  loop: "{{{{ j{item["ref"]}.results }}}}"',
            ]
        else:
            lines.append(f'    jid: "{{{{ j{item["ref"]}.ansible_job_id }}}}"')
        lines.append(f"  register: s{item['id']}")
        if item["until"]:
            lines.append(f"  until: s{item['id']} is finished")
        if item["retries"] is not None:
            lines.append(f"  retries: {item['retries']}")
        if item["delay"] is not None:
            lines.append(f"  delay: {item['delay']}")
        if item["when"]:
            lines.append(f"  when: wait{item['id']} | bool")
        if item["ignore_errors"]:
            lines.append("  ignore_errors: true")
        if item["delegate"]:
            lines.append("  delegate_to: mirror")
        if item["run_once"]:
            lines.append("  run_once: true")
        if item.get("extra_when"):
            lines.append(f"  when: {item['extra_when']}")
    elif kind == "block":
        if item["when"]:
            lines.append(f"  when: block{item['id']} | bool")
        lines.append("  block:")
        lines += _render_items(item["block"], 4)
        for part in ("rescue", "always"):
            if item[part]:
                lines.append(f"  {part}:")
                lines += _render_items(item[part], 4)
    return lines


# --------------------------------------------------------------------------- running


_NAME = re.compile(r"^\s*- name: (\S+)\s*$")


def findings(model: Model) -> set[tuple[str, str]]:
    """Lint the rendered playbook; findings as (rule id, name of the task they are on)."""
    text = render(model)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "site.yml")
        with open(path, "w") as handle:
            handle.write(text)
        compiled = compile_playbook(path)
    found: list[Diagnostic] = lint(compiled.graph, config=LintConfig())
    names = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _NAME.match(line)
        if match:
            names[number] = match.group(1)
    result = set()
    for diagnostic in found:
        assert diagnostic.span.line in names, (diagnostic, text)
        result.add((diagnostic.code, names[diagnostic.span.line]))
    return result


def _lists(model: Model) -> list[list[Item]]:
    """Every task list of the model (play task lists and block parts), outer first."""
    result: list[list[Item]] = []

    def visit(items: list[Item]) -> None:
        result.append(items)
        for item in items:
            if item["kind"] == "block":
                for part in ("block", "rescue", "always"):
                    visit(item[part])

    for play in model.plays:
        visit(play["tasks"])
    return result


def _matching_join(launch: Item, new_id: int) -> Item:
    """A join with the launch's context and a budget covering its limit."""
    return {
        "kind": "join",
        "id": new_id,
        "ref": launch["id"],
        "looped": launch["loop"],
        "until": True,
        "retries": math.ceil(launch["async"] / 5) + 1,
        "delay": 5,
        "when": False,
        "extra_when": f"flag{launch['id']} | bool" if launch["when"] else None,
        "ignore_errors": False,
        "delegate": launch["delegate"],
        "run_once": launch["run_once"],
    }


SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(playbooks(), st.data())
def test_a_matching_join_right_after_a_launch_never_adds_a_finding(
    model: Model, data: st.DataObject
) -> None:
    places = [
        (lists_index, index)
        for lists_index, items in enumerate(_lists(model))
        for index, item in enumerate(items)
        if item["kind"] == "launch"
    ]
    if not places:
        return
    lists_index, index = data.draw(st.sampled_from(places))
    before = findings(model)
    changed = copy.deepcopy(model)
    items = _lists(changed)[lists_index]
    items.insert(index + 1, _matching_join(items[index], 10_000))
    after = findings(changed)
    assert after <= before, (sorted(after - before), render(changed))


@SETTINGS
@given(playbooks(), st.data())
def test_removing_a_join_never_removes_a_lock_conflict(model: Model, data: st.DataObject) -> None:
    places = [
        (lists_index, index)
        for lists_index, items in enumerate(_lists(model))
        for index, item in enumerate(items)
        if item["kind"] == "join"
    ]
    if not places:
        return
    lists_index, index = data.draw(st.sampled_from(places))
    before = {f for f in findings(model) if f[0].startswith("async-lock-conflict")}
    changed = copy.deepcopy(model)
    del _lists(changed)[lists_index][index]
    after = {f for f in findings(changed) if f[0].startswith("async-lock-conflict")}
    assert before <= after, (sorted(before - after), render(changed))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(playbooks(), st.randoms(use_true_random=False))
def test_lint_never_raises(model: Model, rng: Any) -> None:
    text = render(model)
    lines = text.splitlines()
    # Also a damaged copy: a few lines dropped, so keys land at odd places.
    for _ in range(rng.randint(0, 3)):
        if len(lines) > 4:
            del lines[rng.randrange(4, len(lines))]
    for variant in (text, "\n".join(lines) + "\n"):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "site.yml")
            with open(path, "w") as handle:
                handle.write(variant)
            compiled = compile_playbook(path)
            lint(compiled.graph, config=LintConfig())
            lint(compiled.graph, hosts=lambda p: frozenset({"a", "b"}), config=LintConfig())
