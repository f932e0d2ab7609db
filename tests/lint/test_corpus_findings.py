"""False positives found by running `check` over public repositories (bench/corpus.py),
each reduced to a fixture of our own, both ways: accepted where ansible-core accepts it,
still reported where ansible-core rejects it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from playgraph.compiler import compile_playbook


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "site.yml"


def _codes(playbook: Path) -> list[str]:
    return [f"{d.code}: {d.message}" for d in compile_playbook(str(playbook)).diagnostics]


_HANDLER_INCLUDE = {
    "site.yml": "- hosts: all\n  roles: [r]\n",
    "roles/r/tasks/main.yml": '- command: "true"\n  notify: restart things\n',
    "roles/r/handlers/restart.yml": "- debug: msg=hi\n",
}


def test_listen_on_an_include_in_a_handler_list(tmp_path: Path) -> None:
    """ceph-ansible's roles/ceph-handler: in handlers an include_tasks is also a handler."""
    playbook = _tree(
        tmp_path,
        {
            **_HANDLER_INCLUDE,
            "roles/r/handlers/main.yml": (
                "- name: restart all\n  ansible.builtin.include_tasks: restart.yml\n"
                '  listen: "restart things"\n'
            ),
        },
    )
    assert _codes(playbook) == []


def test_listen_on_an_include_in_a_task_list_is_still_rejected(tmp_path: Path) -> None:
    playbook = _tree(
        tmp_path,
        {
            **_HANDLER_INCLUDE,
            "roles/r/handlers/main.yml": "- name: restart things\n  debug: msg=hi\n",
            "roles/r/tasks/main.yml": (
                "- ansible.builtin.include_tasks: other.yml\n  listen: x\n"
            ),
            "roles/r/tasks/other.yml": "- debug: msg=hi\n",
        },
    )
    assert any("'listen' is not a valid attribute" in c for c in _codes(playbook))


def test_a_role_handler_imports_a_file_from_the_playbooks_handlers_folder(tmp_path: Path) -> None:
    """ansible-core's integration target `handlers`: the search ends in the playbook's folder."""
    playbook = _tree(
        tmp_path,
        {
            "site.yml": "- hosts: all\n  roles: [r]\n",
            "roles/r/tasks/main.yml": '- command: "true"\n  notify: hh\n',
            "roles/r/handlers/main.yml": "- import_tasks: h.yml\n",
            "handlers/h.yml": "- name: hh\n  debug: msg=hi\n",
        },
    )
    assert _codes(playbook) == []


def test_a_handler_file_found_nowhere_is_still_reported(tmp_path: Path) -> None:
    playbook = _tree(
        tmp_path,
        {
            "site.yml": "- hosts: all\n  roles: [r]\n",
            "roles/r/tasks/main.yml": '- command: "true"\n',
            "roles/r/handlers/main.yml": "- import_tasks: h.yml\n",
            "elsewhere/h.yml": "- name: hh\n  debug: msg=hi\n",
        },
    )
    assert any("imported task file 'h.yml' not found" in c for c in _codes(playbook))


def test_a_list_in_vars_files_is_first_found(tmp_path: Path) -> None:
    """ansible-examples' conditionals_part1.yml: a list item is "the first of these that exists"."""
    playbook = _tree(
        tmp_path,
        {
            "site.yml": (
                "- hosts: all\n  vars_files:\n"
                '    - [ "vars/{{ ansible_os_family }}.yml", "vars/defaults.yml" ]\n'
                "  tasks: []\n"
            ),
            "vars/defaults.yml": "x: 1\n",
        },
    )
    assert _codes(playbook) == []
    (play,) = compile_playbook(str(playbook)).graph.plays
    assert play.vars_files == (("vars/{{ ansible_os_family }}.yml", "vars/defaults.yml"),)


def test_a_mapping_in_vars_files_is_still_rejected(tmp_path: Path) -> None:
    playbook = _tree(
        tmp_path, {"site.yml": "- hosts: all\n  vars_files:\n    - {a: 1}\n  tasks: []\n"}
    )
    assert any("bad-value" in c and "'vars_files'" in c for c in _codes(playbook))


@pytest.mark.e2e
def test_run_reads_the_first_vars_file_that_exists(tmp_path: Path) -> None:
    playbook = _tree(
        tmp_path,
        {
            "site.yml": (
                "- hosts: all\n  gather_facts: false\n  vars_files:\n"
                '    - [ "vars/missing.yml", "vars/defaults.yml" ]\n'
                "  tasks:\n    - debug: var=x\n"
            ),
            "vars/defaults.yml": "x: from_defaults\n",
        },
    )
    done = subprocess.run(
        [sys.executable, "-m", "playgraph", "run", "-i", "localhost,", "-c", "local", "--json",
         str(playbook)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert results["x"] == "from_defaults"


def _levels(playbook: Path) -> list[tuple[str, str]]:
    return [(d.severity.value, d.code) for d in compile_playbook(str(playbook)).diagnostics]


def test_a_broken_file_behind_a_dynamic_include_is_a_warning(tmp_path: Path) -> None:
    """ansible-core's include_when_parent_is_dynamic: the file is loaded only when a host
    reaches the include (here never), so --syntax-check accepts the playbook."""
    playbook = _tree(
        tmp_path,
        {
            "site.yml": (
                "- hosts: all\n  tasks:\n    - fail: msg=stop\n"
                "    - include_tasks: broken.yml\n"
            ),
            "broken.yml": "intentional syntax error\n",
        },
    )
    assert _levels(playbook) == [("warning", "schema[playbook]")]


def test_the_same_broken_file_imported_is_an_error(tmp_path: Path) -> None:
    playbook = _tree(
        tmp_path,
        {
            "site.yml": "- hosts: all\n  tasks:\n    - import_tasks: broken.yml\n",
            "broken.yml": "intentional syntax error\n",
        },
    )
    assert _levels(playbook) == [("error", "schema[playbook]")]


def test_tasks_from_outside_the_role_is_refused_as_ansible_core_does(tmp_path: Path) -> None:
    """ansible-core's roles target: no_outside_import.yml fails to load."""
    playbook = _tree(
        tmp_path,
        {
            "site.yml": (
                "- hosts: all\n  tasks:\n    - import_role:\n        name: a\n"
                "        tasks_from: subdir/../../../../other.yml\n"
            ),
            "roles/a/tasks/main.yml": "- debug: msg=hi\n",
            "other.yml": "- hosts: all\n  tasks: []\n",
        },
    )
    (message,) = _codes(playbook)
    assert "as it is not inside the expected role path" in message
    assert "'hosts' is not a valid keyword" not in message


@pytest.mark.e2e
def test_a_templated_loop_var_compiles(tmp_path: Path) -> None:
    """ansible-core's loops target: loop_control.loop_var is templated when the loop runs."""
    playbook = _tree(
        tmp_path,
        {
            "site.yml": (
                "- hosts: all\n  gather_facts: false\n  tasks:\n"
                "    - debug: var=templated_name\n      loop: [value]\n"
                '      loop_control:\n        loop_var: "{{ loop_var_name }}"\n'
                "      vars:\n        loop_var_name: templated_name\n"
            ),
        },
    )
    assert _codes(playbook) == []
    done = subprocess.run(
        [sys.executable, "-m", "playgraph", "run", "-i", "localhost,", "-c", "local", "--json",
         str(playbook)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (item,) = json.loads(done.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["results"]
    assert item["templated_name"] == "value" and item["ansible_loop_var"] == "templated_name"
