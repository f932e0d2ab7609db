"""Roles found where ansible-core finds them, and one finding per role that is not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playgraph.compiler.lower import compile_playbook
from playgraph.compiler.resolve.settings import ResolveSettings
from playgraph.compiler.result import CompileOptions

from .resolution_helpers import check, codes, messages, syntax_check, tree

PLAY = "- hosts: localhost\n  gather_facts: false\n"


def test_role_from_roles_path_and_without_tasks(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "team_roles/web/tasks/main.yml": "- ansible.builtin.debug: {msg: web}\n",
            # Only defaults and meta: a valid role for ansible-core.
            "roles/settings_only/defaults/main.yml": "port: 80\n",
            "roles/settings_only/meta/main.yml": "galaxy_info: {author: me}\n",
            "ansible.cfg": "[defaults]\nroles_path = ./team_roles\n",
            "site.yml": PLAY + "  roles: [web, settings_only]\n",
        },
    )
    without = check(tmp_path / "site.yml")
    assert codes(without) == [("not-installed[role]", 3)]
    assert "the role 'web' was not found in" in without[0].message
    settings = ResolveSettings(roles_path=(os.fspath(tmp_path / "team_roles"),))
    compiled = compile_playbook(os.fspath(tmp_path / "site.yml"), CompileOptions(resolve=settings))
    assert compiled.diagnostics == ()
    assert messages(compiled) == ["web"]
    assert syntax_check(tmp_path / "site.yml").returncode == 0


def test_a_missing_role_is_reported_once_with_the_fix(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "site.yml": PLAY
            + "  roles: [geerlingguy.docker]\n  tasks:\n"
            + "    - ansible.builtin.import_role: {name: geerlingguy.docker}\n"
            + PLAY
            + "  roles: [geerlingguy.docker]\n",
        },
    )
    found = check(tmp_path / "site.yml")
    assert codes(found) == [("not-installed[role]", 3)]
    assert found[0].severity.value == "error"
    assert "ansible-galaxy install geerlingguy.docker" in (found[0].help or "")
    assert syntax_check(tmp_path / "site.yml").returncode != 0  # ansible-core agrees


@pytest.mark.parametrize(
    "requirements",
    [
        "roles/requirements.yml",
        "requirements.yml",
    ],
)
def test_a_declared_role_is_a_warning(tmp_path: Path, requirements: str) -> None:
    tree(
        tmp_path,
        {
            requirements: "roles:\n  - name: geerlingguy.docker\n  - src: https://github.com/x/ansible-role-y.git\n    name: y\n",
            "site.yml": PLAY + "  roles: [geerlingguy.docker, y]\n",
        },
    )
    found = check(tmp_path / "site.yml")
    assert codes(found) == [("not-installed[role]", 3)] * 2
    assert {d.severity.value for d in found} == {"warning"}
    assert f"ansible-galaxy install -r {tmp_path / requirements}" in (found[0].help or "")


def test_mock_roles_are_accepted(tmp_path: Path) -> None:
    tree(tmp_path, {"site.yml": PLAY + "  roles:\n    - internal.base\n"})
    assert codes(check(tmp_path / "site.yml")) == [("not-installed[role]", 4)]
    assert check(tmp_path / "site.yml", ResolveSettings(mock_roles=("internal.base",))) == []


def test_roles_of_installed_collections(tmp_path: Path) -> None:
    collections = tmp_path / "colls"
    tree(
        tmp_path,
        {
            "colls/ansible_collections/acme/infra/roles/base/tasks/main.yml": (
                "- ansible.builtin.debug: {msg: base}\n"
            ),
            "site.yml": PLAY
            + "  roles: [acme.infra.base]\n"
            + PLAY
            + "  collections: [acme.infra]\n  roles: [base]\n"
            + PLAY
            + "  roles: [acme.other.base]\n",
        },
    )
    settings = ResolveSettings(collections_paths=(os.fspath(collections),))
    found = check(tmp_path / "site.yml", settings)
    # The first two resolve; the third names a collection that is not installed.
    assert codes(found) == [("not-installed[collection]", 10)]
    assert "ansible-galaxy collection install acme.other" in (found[0].help or "")
    compiled = compile_playbook(os.fspath(tmp_path / "site.yml"), CompileOptions(resolve=settings))
    assert messages(compiled) == ["base", "base"]
    # A playbook-adjacent collections/ folder is searched too, as ansible-core does.
    os.rename(collections, tmp_path / "collections")
    assert codes(check(tmp_path / "site.yml", ResolveSettings(collections_paths=()))) == [
        ("not-installed[collection]", 10)
    ]


def test_a_dependency_is_found_beside_its_role(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "vendor/app/meta/main.yml": "dependencies: [common]\n",
            "vendor/app/tasks/main.yml": "- ansible.builtin.debug: {msg: app}\n",
            "vendor/common/tasks/main.yml": "- ansible.builtin.debug: {msg: common}\n",
            "site.yml": PLAY + "  roles: [vendor/app]\n",
        },
    )
    compiled = compile_playbook(os.fspath(tmp_path / "site.yml"))
    assert compiled.diagnostics == ()
    assert messages(compiled) == ["common", "app"]
    assert syntax_check(tmp_path / "site.yml").returncode == 0
