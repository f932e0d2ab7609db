"""Compiling playbooks: checks, node kinds, sync edges, imports, blocks, and their diagnostics."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from playgraph.compiler import (
    Blocking,
    BlockStep,
    Detached,
    EdgeKind,
    Join,
    Polled,
    compile_playbook,
)
from playgraph.compiler.diagnostics import has_errors

from tests.conftest import EXAMPLES

Write = Callable[[str, str | bytes], str]


def findings(path: str) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.column) for d in compile_playbook(path).diagnostics]


def test_seed_playbook_reports_both_typos_with_suggestions() -> None:
    compiled = compile_playbook(str(EXAMPLES / "seed.yml"))
    by_code = {d.code: d for d in compiled.diagnostics}
    assert set(by_code) == {"schema[unknown-keyword]", "schema[unknown-module]"}
    keyword = by_code["schema[unknown-keyword]"]
    module = by_code["schema[unknown-module]"]
    assert (keyword.span.line, keyword.span.column) == (4, 3)
    assert (module.span.line, module.span.column) == (9, 5)
    assert keyword.help == "did you mean `remote_user`?"
    assert module.help == "did you mean `ansible.builtin.command`?"
    assert has_errors(compiled.diagnostics)


@pytest.mark.parametrize("name", ["async_guide.yml", "yum_async.yml"])
def test_corrected_examples_check_clean(name: str) -> None:
    assert compile_playbook(str(EXAMPLES / name)).diagnostics == ()


def test_yum_example_graph() -> None:
    graph = compile_playbook(str(EXAMPLES / "yum_async.yml")).graph
    (play,) = graph.plays
    launch, polled, join = play.tasks
    assert isinstance(launch, Detached) and launch.async_limit == 1000
    assert launch.locks and all(lock.startswith("pkg:") for lock in launch.locks)
    assert isinstance(polled, Polled) and (polled.async_limit, polled.poll) == (45, 5)
    assert isinstance(join, Join) and join.waits_on == (launch.id,)
    assert join.retry is not None and join.retry.attempts() == 101
    sync = [e for e in play.edges if e.kind is EdgeKind.SYNC]
    assert [(e.source, e.target) for e in sync] == [(join.id, launch.id)]
    seq = [(e.source, e.target) for e in play.edges if e.kind is EdgeKind.SEQ]
    assert seq == [(launch.id, polled.id), (polled.id, join.id)]


def kinds(path: str) -> list[str]:
    return [node.kind.value for node in compile_playbook(path).graph.nodes()]


def test_kinds_by_async_and_poll(write: Write) -> None:
    path = write(
        "p.yml",
        """
- hosts: all
  tasks:
    - command: a
    - command: b
      async: 0
      poll: 0
    - command: c
      async: 10
    - command: d
      async: 10
      poll: 2
    - command: e
      async: 10
      poll: 0
    - command: f
      async: "{{ limit }}"
      poll: 0
    - command: g
      async: "{{ limit }}"
""",
    )
    assert kinds(path) == [
        "blocking",
        "blocking",
        "polled",
        "polled",
        "detached",
        "detached",
        "polled",
    ]
    nodes = list(compile_playbook(path).graph.nodes())
    assert isinstance(nodes[2], Polled) and nodes[2].poll == 15  # ansible's DEFAULT_POLL_INTERVAL


@pytest.mark.parametrize(
    ("line", "message_part"),
    [
        ("async: soon", "'async' must be an integer"),
        ("async: yes", "not the boolean"),
        ("async: 2.5", "whole number"),
        ("async: -1", "must be >= 0"),
        ("poll: -3", "must be >= 0"),
        ("retries: many", "'retries' must be an integer"),
        ("delay: x", "'delay' must be a number"),
        ("register: 'my var'", "Invalid variable name"),
        ("register: '{{ x }}'", "Invalid variable name"),
        ("timeout: soon", "'timeout' must be an integer"),
    ],
)
def test_bad_literal_values(write: Write, line: str, message_part: str) -> None:
    path = write("p.yml", f"- hosts: all\n  tasks:\n    - command: x\n      {line}\n")
    (diagnostic,) = compile_playbook(path).diagnostics
    assert diagnostic.code == "schema[bad-value]"
    assert message_part in diagnostic.message
    assert (diagnostic.span.line, diagnostic.span.column) == (4, 7 + line.index(":") + 2)


@pytest.mark.parametrize(
    "line", ['async: "{{ n }}"', 'retries: "{{ n + 1 }}"', 'delay: "{{ d }}"', "async: '5'"]
)
def test_templated_or_string_numbers_are_accepted(write: Write, line: str) -> None:
    path = write("p.yml", f"- hosts: all\n  tasks:\n    - command: x\n      {line}\n")
    assert compile_playbook(path).diagnostics == ()


def test_every_problem_reported_in_one_run(write: Write) -> None:
    path = write(
        "p.yml",
        """
- hosts: all
  remove_user: root
  tasks:
    - comand: ls
    - command: ls
      regster: out
    - name: no module
      when: x
    - command: echo
      shell: echo
    - debug: msg="{{ unbalanced"
    - command: ls
      when: a and
""",
    )
    assert findings(path) == [
        ("schema[unknown-keyword]", 3, 3),
        ("schema[unknown-module]", 5, 7),
        ("schema[unknown-keyword]", 7, 7),
        ("schema[missing-action]", 8, 7),
        ("schema[conflicting-action]", 11, 7),
        ("syntax[args]", 12, 32),
        ("syntax[jinja]", 14, 15),
    ]


def test_suggestions(write: Write) -> None:
    path = write(
        "p.yml",
        "- hosts: all\n  tasks:\n    - comand: ls\n    - command: ls\n      regster: out\n"
        "    - ansible.builtin.comand: ls\n",
    )
    helps = [d.help for d in compile_playbook(path).diagnostics]
    assert helps == [
        "did you mean `command`?",
        "did you mean `register`?",
        "did you mean `ansible.builtin.command`?",
    ]


@pytest.mark.parametrize(
    "task",
    [
        "include_tasks: other.yml\n      async: 10\n      poll: 0",
        "include_role:\n        name: r\n      async: 10",
        "include_tasks: other.yml\n      retries: 3",
    ],
)
def test_async_on_include_is_an_error(write: Write, task: str) -> None:
    write("other.yml", "- debug: msg=hi\n")
    path = write("p.yml", f"- hosts: all\n  tasks:\n    - {task}\n")
    assert "schema[include-async]" in [d.code for d in compile_playbook(path).diagnostics]


def test_async_on_block_is_an_error(write: Write) -> None:
    path = write(
        "p.yml", "- hosts: all\n  tasks:\n    - block:\n        - command: ls\n      async: 10\n"
    )
    assert [d.code for d in compile_playbook(path).diagnostics] == ["schema[include-async]"]


def test_async_on_import_is_ignored_with_a_warning(write: Write) -> None:
    write("other.yml", "- command: sleep 1\n")
    path = write(
        "p.yml",
        "- hosts: all\n  tasks:\n    - import_tasks: other.yml\n      async: 10\n      poll: 0\n",
    )
    compiled = compile_playbook(path)
    assert [d.code for d in compiled.diagnostics] == ["async-unsupported[import]"] * 2
    assert kinds(path) == ["blocking"]


def test_imports_are_inlined_with_their_own_positions_and_keywords(write: Write) -> None:
    other = write(
        "tasks/other.yml",
        "- name: inner\n  command: sleep 1\n  async: 5\n  poll: 0\n  register: j\n",
    )
    path = write(
        "p.yml",
        "- hosts: all\n  tasks:\n    - import_tasks: tasks/other.yml\n      when: go\n      become: true\n"
        "    - async_status: jid={{ j.ansible_job_id }}\n",
    )
    compiled = compile_playbook(path)
    assert compiled.diagnostics == ()
    launch, join = compiled.graph.nodes()
    assert isinstance(launch, Detached)
    assert launch.id == "play[0].tasks[0].import[0]"
    assert launch.span.file == other and launch.span.line == 1
    assert launch.when == ("go",) and launch.become is True
    assert isinstance(join, Join) and join.waits_on == (launch.id,)


def test_import_problems(write: Write) -> None:
    write("loop.yml", "- import_tasks: loop.yml\n")
    path = write(
        "p.yml",
        "- hosts: all\n  tasks:\n    - import_tasks: missing.yml\n    - import_tasks: loop.yml\n"
        "    - import_tasks: '{{ x }}.yml'\n",
    )
    found = [(os.path.basename(d.span.file), d.code) for d in compile_playbook(path).diagnostics]
    assert found == [
        ("loop.yml", "schema[import-cycle]"),
        ("p.yml", "load-failure[not-found]"),
        ("p.yml", "schema[bad-value]"),
    ]


def test_blocks_push_keywords_down_and_keep_structure(write: Write) -> None:
    path = write(
        "p.yml",
        """
- hosts: all
  tasks:
    - name: b
      when: outer
      become: true
      vars: {a: 1}
      block:
        - command: one
          when: inner
          vars: {b: 2}
      rescue:
        - debug: msg=rescued
      always:
        - debug: msg=always
""",
    )
    compiled = compile_playbook(path)
    assert compiled.diagnostics == ()
    (block,) = compiled.graph.plays[0].tasks
    assert isinstance(block, BlockStep)
    (one,) = block.block
    assert isinstance(one, Blocking)
    assert (
        one.when == ("outer", "inner") and one.become is True and dict(one.vars) == {"a": 1, "b": 2}
    )
    assert [n.id for n in compiled.graph.nodes()] == [
        "play[0].tasks[0].block[0]",
        "play[0].tasks[0].rescue[0]",
        "play[0].tasks[0].always[0]",
    ]


def test_looped_launch_joined_by_looped_async_status(write: Write) -> None:
    path = write(
        "p.yml",
        """
- hosts: all
  tasks:
    - command: "sleep {{ item }}"
      loop: [1, 2, 3]
      async: 30
      poll: 0
      register: sleepers
    - async_status:
        jid: "{{ job.ansible_job_id }}"
      loop: "{{ sleepers.results }}"
      loop_control:
        loop_var: job
      register: done
      until: done.finished
      retries: 30
""",
    )
    graph = compile_playbook(path).graph
    launch, join = graph.nodes()
    assert isinstance(join, Join) and join.waits_on == (launch.id,)
    assert [(e.source, e.target) for e in graph.plays[0].edges if e.kind is EdgeKind.SYNC] == [
        (join.id, launch.id)
    ]


def test_join_through_set_fact_alias(write: Write) -> None:
    path = write(
        "p.yml",
        "- hosts: all\n  tasks:\n    - command: sleep 3\n      async: 30\n      poll: 0\n      register: launch\n"
        "    - set_fact:\n        my_jid: '{{ launch.ansible_job_id }}'\n"
        "    - async_status: jid={{ my_jid }}\n",
    )
    nodes = list(compile_playbook(path).graph.nodes())
    assert isinstance(nodes[2], Join) and nodes[2].waits_on == (nodes[0].id,)


def test_join_of_a_blocking_result_has_no_sync_edge(write: Write) -> None:
    path = write(
        "p.yml",
        "- hosts: all\n  tasks:\n    - command: ls\n      register: r\n    - async_status: jid={{ r.ansible_job_id }}\n",
    )
    graph = compile_playbook(path).graph
    join = list(graph.nodes())[1]
    assert isinstance(join, Join) and join.waits_on == ("play[0].tasks[0]",)
    assert [e for e in graph.plays[0].edges if e.kind is EdgeKind.SYNC] == []


def test_join_in_a_later_play(write: Write) -> None:
    path = write(
        "p.yml",
        "- hosts: all\n  tasks:\n    - command: sleep 3\n      async: 30\n      poll: 0\n      register: j\n"
        "- hosts: all\n  tasks:\n    - async_status: jid={{ j.ansible_job_id }}\n",
    )
    graph = compile_playbook(path).graph
    assert [(e.source, e.target, e.kind) for e in graph.plays[1].edges] == [
        ("play[1].tasks[0]", "play[0].tasks[0]", EdgeKind.SYNC)
    ]


def test_locks_from_modules_and_command_lines(write: Write) -> None:
    path = write(
        "p.yml",
        """
- hosts: all
  tasks:
    - apt: name=nginx
    - shell: sudo DEBIAN_FRONTEND=noninteractive apt-get -y install nginx && echo ok
    - command: rpm -qa
    - package: name=git
    - debug: msg=hi
""",
    )
    nodes = list(compile_playbook(path).graph.nodes())
    assert nodes[0].locks == ("pkg:dpkg",)
    assert nodes[1].locks == ("pkg:dpkg",)
    assert nodes[2].locks == ()
    assert "pkg:dpkg" in nodes[3].locks and "pkg:rpm" in nodes[3].locks
    assert nodes[4].locks == ()


def test_free_form_arguments(write: Write) -> None:
    path = write(
        "p.yml",
        '- hosts: all\n  tasks:\n    - command: chdir=/tmp creates=/x /usr/bin/cmd --flag "a b"\n'
        '    - async_status: jid=j488359678239.2844 mode=cleanup\n    - command: echo "hello\n',
    )
    compiled = compile_playbook(path)
    command, status = list(compiled.graph.nodes())[:2]
    assert dict(command.args) == {
        "chdir": "/tmp",
        "creates": "/x",
        "_raw_params": '/usr/bin/cmd --flag "a b"',
    }
    assert (
        isinstance(status, Join) and status.jid == "j488359678239.2844" and status.mode == "cleanup"
    )
    assert [d.code for d in compiled.diagnostics] == ["syntax[args]"]


def test_key_value_words_are_options_except_for_command_like_actions(write: Write) -> None:
    # parse_kv(check_raw=...) is true only for MODULE_REQUIRE_ARGS (command, shell, raw,
    # script, ...): set_fact, include_tasks, add_host and the like take every key=value
    # word as an option, and a word with '=' inside a template becomes a bogus option.
    path = write(
        "p.yml",
        "- hosts: all\n  tasks:\n"
        "    - set_fact: greeting=hello target='{{ inventory_hostname }}'\n"
        "    - include_tasks: file=inner.yml\n"
        "    - shell: x=1 echo $x chdir=/tmp\n"
        "    - include_tasks: \"a/{{ 'b' if x != 1 else 'c' }}.yml\"\n",
    )
    compiled = compile_playbook(path)
    set_fact, include, shell, bogus = list(compiled.graph.nodes())
    assert dict(set_fact.args) == {"greeting": "hello", "target": "{{ inventory_hostname }}"}
    assert dict(include.args) == {"file": "inner.yml"}
    assert dict(shell.args) == {"chdir": "/tmp", "_raw_params": "x=1 echo $x"}
    assert dict(bogus.args) == {"a/{{ 'b' if x !": "1 else 'c' }}.yml"}  # as ansible-core
    assert [(d.code, d.span.line) for d in compiled.diagnostics] == [
        ("schema[unknown-argument]", 6)
    ]
    assert "include_tasks has no argument 'a/{{ 'b' if x !'" in compiled.diagnostics[0].message


def test_play_level_checks(write: Write) -> None:
    path = write(
        "p.yml", "- name: no hosts\n  tasks: []\n- hosts: all\n  strategy: linaer\n  serial: lots\n"
    )
    assert [d.code for d in compile_playbook(path).diagnostics] == ["schema[bad-value]"] * 3


def test_top_level_shapes(write: Write) -> None:
    assert findings(write("a.yml", "hosts: all\n")) == [("schema[playbook]", 1, 1)]
    assert findings(write("b.yml", "just text\n")) == [("schema[playbook]", 1, 1)]
    assert findings(write("c.yml", "- 1\n")) == [("schema[playbook]", 1, 3)]
    assert findings(write("d.yml", "")) == [("syntax[empty]", 1, 1)]
    assert findings(write("e.yml", "# nothing\n---\n")) == [("syntax[empty]", 1, 1)]
    assert findings(write("f.yml", "[]\n")) == [("syntax[empty]", 1, 1)]


def test_missing_file(tmp_path: object) -> None:
    compiled = compile_playbook("/nonexistent/site.yml")
    assert [d.code for d in compiled.diagnostics] == ["load-failure[not-found]"]


def test_handlers_notify_and_listen(write: Write) -> None:
    path = write(
        "p.yml",
        "- hosts: all\n  tasks:\n    - command: ls\n      notify: [restart web, reload]\n"
        "  handlers:\n    - name: restart web\n      debug: msg=r\n    - debug: msg=l\n      listen: reload\n"
        "    - debug: msg=x\n      listen: relaod\n",
    )
    assert compile_playbook(path).diagnostics == ()
    path = write(
        "q.yml",
        "- hosts: all\n  tasks:\n    - command: ls\n      notify: restrat web\n"
        "  handlers:\n    - name: restart web\n      debug: msg=r\n",
    )
    (d,) = compile_playbook(path).diagnostics
    assert d.code == "schema[unknown-handler]" and d.help == "did you mean `restart web`?"


def test_roles_are_inlined(write: Write) -> None:
    write("roles/web/tasks/main.yml", "- command: sleep 1\n  async: 5\n  poll: 0\n  register: j\n")
    write("roles/web/defaults/main.yml", "port: 80\n")
    write("roles/web/handlers/main.yml", "- name: restart\n  debug: msg=r\n")
    path = write(
        "site.yml",
        "- hosts: all\n  roles:\n    - web\n  tasks:\n    - async_status: jid={{ j.ansible_job_id }}\n",
    )
    compiled = compile_playbook(path)
    assert compiled.diagnostics == ()
    play = compiled.graph.plays[0]
    launch, join = play.tasks
    assert launch.id == "play[0].roles[0].tasks[0]" and dict(launch.defaults) == {"port": 80}
    assert isinstance(join, Join) and join.waits_on == (launch.id,)
    assert [h.name for h in play.handlers if not isinstance(h, BlockStep)] == ["restart"]


def test_local_library_modules_are_accepted(write: Write) -> None:
    write("library/my_module.py", "#!/usr/bin/python\n")
    path = write(
        "p.yml",
        "- hosts: all\n  tasks:\n    - my_module: a=1\n    - community.mysql.mysql_db: name=x\n"
        "    - acme.widgets.frob: {}\n",
    )
    assert [(d.code, d.span.line) for d in compile_playbook(path).diagnostics] == [
        ("schema[unknown-collection]", 5)
    ]


def test_misspelt_collection_is_an_error(write: Write) -> None:
    path = write("p.yml", "- hosts: all\n  tasks:\n    - community.genral.zypper: name=x\n")
    (d,) = compile_playbook(path).diagnostics
    assert (
        d.code == "schema[unknown-module]" and d.help == "did you mean `community.general.zypper`?"
    )


def test_unknown_argument_warns_and_missing_argument_errors(write: Write) -> None:
    path = write("p.yml", "- hosts: all\n  tasks:\n    - async_status:\n        jdi: x\n")
    assert [(d.code, d.help) for d in compile_playbook(path).diagnostics] == [
        ("schema[missing-argument]", None),
        ("schema[unknown-argument]", "did you mean `jid`?"),
    ]
