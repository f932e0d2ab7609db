"""Includes and imports as real repositories write them: names built from the
playbook's own variables, names known only at run time, the includes the compiler
follows for the linter, and what the runtime still compiles on its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playgraph.compiler import compile_playbook
from playgraph.compiler.ir import Section, iter_nodes
from playgraph.compiler.lower import Scope, compile_task_file
from playgraph.compiler.lower.names import scope_variables, static_string

Write = Callable[[str, str], str]


@pytest.mark.parametrize(
    ("text", "variables", "expected"),
    [
        ("plain.yml", {}, "plain.yml"),
        ("{{ name }}.yml", {"name": "setup"}, "setup.yml"),
        ("{{ os_map['Debian'] }}/x.yml", {"os_map": {"Debian": "deb"}}, "deb/x.yml"),
        ("{{ a ~ '-' ~ b }}", {"a": "x", "b": 1}, "x-1"),
        ("{{ chained }}", {"chained": "{{ base }}.yml", "base": "main"}, "main.yml"),
        ("{{ missing | default('main') }}.yml", {}, "main.yml"),
        ("{{ ansible_os_family }}.yml", {}, None),  # a fact: known only at run time
        ("{{ name | lower }}.yml", {"name": "X"}, None),  # other filters: not evaluated
        ("{{ loop_a }}", {"loop_a": "{{ loop_b }}", "loop_b": "{{ loop_a }}"}, None),
    ],
)
def test_static_string(text: str, variables: dict[str, object], expected: str | None) -> None:
    assert static_string(text, variables) == expected


def test_scope_variables_precedence_and_magic(tmp_path: Path) -> None:
    scope = Scope(
        section=Section.TASKS,
        base_dir=str(tmp_path / "roles" / "r"),
        file_dir=str(tmp_path),
        defaults={"x": "default", "d": 1},
        play_vars={"x": "play"},
        inherited={"vars": {"x": "block"}},
        role="r",
        playbook_dir=str(tmp_path),
    )
    variables = scope_variables(scope)
    assert variables["x"] == "block" and variables["d"] == 1
    assert variables["role_path"] == str(tmp_path / "roles" / "r")
    assert variables["playbook_dir"] == str(tmp_path)


def test_templated_role_and_import_names(write: Write) -> None:
    write("roles/web/tasks/main.yml", "- ansible.builtin.debug: msg=web\n")
    write("setup.yml", "- ansible.builtin.debug: msg=setup\n")
    path = write(
        "site.yml",
        """
- hosts: all
  vars:
    web_role: web
    step: setup
  roles:
    - role: "{{ web_role }}"
  tasks:
    - ansible.builtin.import_tasks: "{{ step }}.yml"
    - ansible.builtin.import_role:
        name: "{{ web_role }}"
    - ansible.builtin.import_tasks: "{{ step_from_elsewhere }}.yml"
""",
    )
    compiled = compile_playbook(path)
    # ansible-core expands imports before the run: a name it cannot build is an error.
    assert [(d.code, d.span.line) for d in compiled.diagnostics] == [("schema[bad-value]", 12)]
    messages = [n.args.get("msg") for n in compiled.graph.nodes()]
    assert messages == ["web", "setup", "web"]


def test_the_playbook_dir_as_a_role(write: Write) -> None:
    write("tasks/main.yml", "- ansible.builtin.debug: msg=itself\n")
    path = write("site.yml", '- hosts: all\n  roles:\n    - role: "{{ playbook_dir }}"\n')
    compiled = compile_playbook(path)
    assert compiled.diagnostics == ()
    assert [n.args.get("msg") for n in compiled.graph.nodes()] == ["itself"]


def test_followed_includes_are_for_the_linter_only(write: Write) -> None:
    write("inner.yml", "- ansible.builtin.include_tasks: inner.yml\n  when: false\n")
    write("empty.yml", "---\n# nothing\n")
    path = write(
        "site.yml",
        """
- hosts: all
  tasks:
    - ansible.builtin.include_tasks: inner.yml
    - ansible.builtin.include_tasks: empty.yml
    - ansible.builtin.include_tasks: "{{ ansible_distribution }}.yml"
""",
    )
    compiled = compile_playbook(path)
    assert compiled.diagnostics == ()  # a guarded recursion is no cycle; empty is valid
    (play,) = compiled.graph.plays
    first, second, third = play.tasks
    assert set(compiled.graph.included) == {first.id, second.id} | {
        n.id for steps in compiled.graph.included.values() for n in iter_nodes(steps)
    }
    assert third.id not in compiled.graph.included
    # The plan and the runtime's own compilation of an include do not follow includes.
    assert [n.id for n in play.nodes()] == [first.id, second.id, third.id]
    steps, diagnostics = compile_task_file(str(Path(path).parent / "inner.yml"), id_prefix="x")
    assert diagnostics == ()
    assert len(steps) == 1


def test_include_role_options_and_apply_are_read(write: Write) -> None:
    write("roles/r/tasks/other.yml", "- ansible.builtin.command: /bin/true\n")
    write("roles/r/vars/more.yml", "v: 1\n")
    write("roles/r/defaults/more.yml", "d: 1\n")
    write("roles/r/handlers/more.yml", "- name: h\n  ansible.builtin.debug: msg=h\n")
    path = write(
        "site.yml",
        """
- hosts: all
  tasks:
    - ansible.builtin.include_role:
        name: r
        tasks_from: other
        vars_from: more
        defaults_from: more
        handlers_from: more
        public: true
        allow_duplicates: false
        rolespec_validate: false
        apply:
          become: true
          tags: [t]
    - ansible.builtin.include_tasks:
        file: roles/r/tasks/other.yml
        apply:
          bogus: 1
""",
    )
    compiled = compile_playbook(path)
    codes = [(d.code, d.span.line) for d in compiled.diagnostics]
    assert codes == [("schema[unknown-keyword]", 19)]  # only `bogus`, inside apply
    included = [n for steps in compiled.graph.included.values() for n in iter_nodes(steps)]
    assert [n.become for n in included] == [True, None]
