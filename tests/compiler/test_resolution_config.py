"""One configuration model for check and run: ansible.cfg, ANSIBLE_* and .playgraph.yml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from playgraph.compiler.lint.config import load_config
from playgraph.runtime.config import resolve_settings

from .resolution_helpers import tree

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_ansible_cores(tmp_path: Path) -> None:
    settings = resolve_settings({}, cwd=os.fspath(tmp_path), home="/h", sys_path=[])
    assert settings.roles_path == (
        "/h/.ansible/roles",
        "/usr/share/ansible/roles",
        "/etc/ansible/roles",
    )
    assert settings.library == ("/h/.ansible/plugins/modules", "/usr/share/ansible/plugins/modules")
    assert settings.collections_paths == (
        "/h/.ansible/collections",
        "/usr/share/ansible/collections",
    )
    homed = resolve_settings(
        {"ANSIBLE_HOME": "/opt/a"}, cwd=os.fspath(tmp_path), home="/h", sys_path=[]
    )
    assert homed.strategy_plugins[0] == "/opt/a/plugins/strategy"


def test_environment_beats_the_file_and_file_paths_are_relative_to_it(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "conf/ansible.cfg": "[defaults]\nroles_path = ../roles:~/more\nlibrary = lib\n"
            "collections_path = colls\naction_plugins = /abs/action\n",
            "work/": "",
        },
    )
    env = {"ANSIBLE_CONFIG": os.fspath(tmp_path / "conf/ansible.cfg"), "ANSIBLE_LIBRARY": "mine"}
    settings = resolve_settings(env, cwd=os.fspath(tmp_path / "work"), home="/h", sys_path=[])
    assert settings.roles_path == (os.fspath(tmp_path / "roles"), "/h/more")
    assert settings.library == (os.fspath(tmp_path / "work/mine"),)  # the environment: cwd
    assert settings.collections_paths == (os.fspath(tmp_path / "conf/colls"),)
    assert settings.action_plugins == ("/abs/action",)
    assert settings.config_file == os.fspath(tmp_path / "conf/ansible.cfg")


def test_collections_of_installed_packages_unless_switched_off(tmp_path: Path) -> None:
    tree(tmp_path, {"site/ansible_collections/": ""})
    site = os.fspath(tmp_path / "site")
    scanned = resolve_settings({"PATH": ""}, cwd=os.fspath(tmp_path), home="/h", sys_path=[site])
    assert scanned.collections_paths is not None
    assert scanned.collections_paths[-1] == os.path.join(site, "ansible_collections")
    off = resolve_settings(
        {"PATH": "", "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false"},
        cwd=os.fspath(tmp_path),
        home="/h",
        sys_path=[site],
    )
    assert off.collections_paths == ("/h/.ansible/collections", "/usr/share/ansible/collections")


def test_playgraph_yml_mock_lists(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {".playgraph.yml": "mock_roles: [acme.base]\nmock_modules:\n  - my_module\n  - 3\n"},
    )
    config = load_config(None, [os.fspath(tmp_path)])
    assert config.mock_roles == ("acme.base",)
    assert config.mock_modules == ("my_module",)
    assert [d.code for d in config.diagnostics] == ["config[bad-value]"]


@pytest.mark.e2e
def test_check_and_compile_use_ansible_cfg_and_playgraph_yml(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "ansible.cfg": "[defaults]\nroles_path = team_roles\nlibrary = modules\n",
            "team_roles/web/tasks/main.yml": "- custom: {a: 1}\n",
            "modules/custom.py": "",
            ".playgraph.yml": "mock_roles: [internal.base]\n",
            "site.yml": "- hosts: localhost\n  gather_facts: false\n  roles: [web, internal.base]\n",
        },
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ANSIBLE_", "PLAYGRAPH_"))
    }
    for command in ("check", "compile"):
        done = subprocess.run(
            [sys.executable, "-m", "playgraph", command, "--no-cache", "site.yml"],
            cwd=tmp_path,
            env={**env, "HOME": os.fspath(tmp_path)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if command == "compile":
            # compile has no .playgraph.yml: the mocked role is missing there.
            assert "internal.base" in done.stdout + done.stderr
            assert "'web'" not in done.stdout + done.stderr
        else:
            assert done.returncode == 0, done.stdout + done.stderr
