"""Modules, plugins and collections resolved as ansible-core does, and argument specs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playgraph.compiler import catalog as catalog_module
from playgraph.compiler.resolve.resolver import BUILTIN_ACTION_PLUGINS, NATIVE_BUILTIN_ACTIONS
from playgraph.compiler.resolve.settings import ResolveSettings

from tests.differential.harness import oracle_collections

from .resolution_helpers import check, codes, syntax_check, tree

PLAY = "- hosts: localhost\n  gather_facts: false\n  tasks:\n"

FROB = '''DOCUMENTATION = r"""
module: frob
options:
  name: {required: true, aliases: [n]}
  first: {type: str}
  second: {type: str}
"""
from ansible.module_utils.basic import AnsibleModule
def main():
    AnsibleModule(
        argument_spec=dict(name=dict(required=True, aliases=["n"]), first=dict(), second=dict()),
        mutually_exclusive=[["first", "second"]],
    )
'''


def test_argument_aliases_and_constraints_of_builtin_modules(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "site.yml": PLAY
            + "    - ansible.builtin.lineinfile: {dest: /tmp/x, line: a}\n"  # 4
            + "    - ansible.builtin.blockinfile: {dest: /tmp/x, block: a}\n"
            + "    - ansible.builtin.find: {path: /etc}\n"
            + "    - ansible.builtin.file: {name: /tmp/x, state: touch}\n"
            + "    - lineinfile: dest=/tmp/x regexp=a line=b\n"
            + "    - ansible.builtin.package: {name: vim, state: present, enablerepo: epel}\n"
            + "    - ansible.builtin.lineinfile: {path: /tmp/x, line: a, insertafter: EOF, insertbefore: BOF}\n"  # 10
            + "    - ansible.builtin.lineinfile: {path: /tmp/x, line: a, insertafter: EOF, insertbefore: '{{ omit }}'}\n"
            + "    - ansible.builtin.apt: {name: vim}\n"
            + "    - ansible.builtin.file: {state: touch}\n",  # 13
        },
    )
    found = check(tmp_path / "site.yml")
    assert codes(found) == [("schema[bad-value]", 10), ("schema[missing-argument]", 13)]
    assert found[0].message == "parameters are mutually exclusive: insertbefore|insertafter"


def test_library_modules_from_the_configuration(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "plugins/modules/frob.py": FROB,
            "plugins/action/controller_only.py": "",
            "library/beside.py": "",
            "site.yml": PLAY
            + "    - frob: {n: x}\n"
            + "    - frob: {name: x, first: a, second: b}\n"  # 5: exclusive
            + "    - frob: {name: x, third: c}\n"  # 6: unknown argument
            + "    - controller_only: {anything: 1}\n"
            + "    - beside: {anything: 1}\n"
            + "    - ansible.legacy.frob: {n: x}\n",
        },
    )
    before = check(tmp_path / "site.yml")
    assert [c for c, _ in codes(before)].count("schema[unknown-module]") == 3  # frob once, ...
    settings = ResolveSettings(
        library=(os.fspath(tmp_path / "plugins/modules"),),
        action_plugins=(os.fspath(tmp_path / "plugins/action"),),
    )
    found = check(tmp_path / "site.yml", settings)
    assert codes(found) == [("schema[bad-value]", 5), ("schema[unknown-argument]", 6)]
    assert (
        syntax_check(
            tmp_path / "site.yml",
            {
                "ANSIBLE_LIBRARY": settings.library[0],
                "ANSIBLE_ACTION_PLUGINS": settings.action_plugins[0],
            },
        ).returncode
        == 0
    )


def test_an_unknown_module_is_reported_once(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {"site.yml": PLAY + "    - my_module: {a: 1}\n" * 3 + "    - comand: ls\n    - ec2: {}\n"},
    )
    found = check(tmp_path / "site.yml")
    assert codes(found) == [
        ("schema[unknown-module]", 4),
        ("schema[unknown-module]", 7),
        ("schema[unknown-module]", 8),
    ]
    assert "did you mean `ec2`" not in (found[2].help or "")
    assert "library/" in (found[0].help or "")
    assert found[1].help == "did you mean `command`?"
    mocked = check(tmp_path / "site.yml", ResolveSettings(mock_modules=("my_module",)))
    assert codes(mocked) == [("schema[unknown-module]", 7), ("schema[unknown-module]", 8)]


def test_installed_collections_redirects_specs_and_action_plugins(tmp_path: Path) -> None:
    base = "colls/ansible_collections/acme/tools/"
    tree(
        tmp_path,
        {
            base + "plugins/modules/frob.py": FROB,
            base + "plugins/action/frob.py": "",
            base + "plugins/modules/plain.py": "",
            base + "meta/runtime.yml": (
                "plugin_routing:\n  modules:\n    old_frob:\n      redirect: acme.tools.plain\n"
            ),
            "site.yml": PLAY
            + "    - acme.tools.frob: {n: x}\n"  # 4: the action plugin, once
            + "    - acme.tools.frob: {name: x, first: a, second: b}\n"  # 5
            + "    - acme.tools.old_frob: {whatever: 1}\n"
            + "    - acme.tools.nothere: {}\n"  # 7: installed, but no such module
            + "    - community.nosuch.thing: {}\n"  # 8: a collection not installed
            + "    - community.nosuch.other: {}\n",
        },
    )
    settings = ResolveSettings(collections_paths=(os.fspath(tmp_path / "colls"),))
    found = check(tmp_path / "site.yml", settings)
    assert codes(found) == [
        ("run-unsupported[action-plugin]", 4),
        ("schema[bad-value]", 5),
        ("schema[unknown-module]", 7),
        ("not-installed[collection]", 8),
    ]
    assert found[3].severity.value == "warning"
    assert "ansible-galaxy collection install community.nosuch" in (found[3].help or "")
    # Nothing probed (no settings): trusted as before, one note per collection.
    assert [c for c, _ in codes(check(tmp_path / "site.yml"))] == ["schema[unknown-collection]"] * 2
    # Declared in requirements.yml: the fix names the file.
    tree(tmp_path, {"collections/requirements.yml": "collections:\n  - name: community.nosuch\n"})
    declared = check(tmp_path / "site.yml", settings)[-1]
    assert "collections/requirements.yml" in (declared.help or "")
    assert (
        check(
            tmp_path / "site.yml",
            ResolveSettings(
                collections_paths=settings.collections_paths, mock_modules=("community.nosuch",)
            ),
        )[-1].code
        != "not-installed[collection]"
    )


def test_catalogued_modules_of_a_collection_that_is_not_installed(tmp_path: Path) -> None:
    tree(tmp_path, {"site.yml": PLAY + "    - community.general.ufw: {rule: allow}\n" * 2})
    empty = ResolveSettings(collections_paths=())
    assert codes(check(tmp_path / "site.yml", empty)) == [("not-installed[collection]", 4)]
    installed = ResolveSettings(collections_paths=(os.fspath(oracle_collections()),))
    assert check(tmp_path / "site.yml", installed) == []


def test_strategy_plugins_are_accepted(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "site.yml": "- hosts: localhost\n  strategy: mitogen_linear\n  tasks: []\n"
            "- hosts: localhost\n  strategy: linaer\n  tasks: []\n",
        },
    )
    found = check(tmp_path / "site.yml")
    assert codes(found) == [("schema[bad-value]", 5)]
    assert found[0].help == "did you mean `linear`?"


def test_suggestions_are_computed_once_per_unknown_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = "".join(f"    - custom_{i % 50}: {{a: 1}}\n" for i in range(500))
    tree(tmp_path, {"site.yml": PLAY + tasks})
    calls: list[str] = []
    original = catalog_module.Catalog.suggest_module

    def counting(self: catalog_module.Catalog, name: str, **kw: object) -> str | None:
        calls.append(name)
        return original(self, name, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(catalog_module.Catalog, "suggest_module", counting)
    found = check(tmp_path / "site.yml")
    assert len(found) == 50 and len(calls) == 50


def test_native_builtin_actions_match_the_runtime() -> None:
    from playgraph.runtime.actions import CONTROLLER_ACTIONS
    from playgraph.runtime.controller_modules import controller_module_names
    from playgraph.runtime.modules import module_names

    native = (
        set(CONTROLLER_ACTIONS)
        | set(module_names())
        | set(controller_module_names())
        | {"async_status"}
    ) & BUILTIN_ACTION_PLUGINS
    assert native == set(NATIVE_BUILTIN_ACTIONS), (
        "update NATIVE_BUILTIN_ACTIONS in compiler/resolve/resolver.py to the runtime's "
        f"native actions: {sorted(native)}"
    )


def test_corpus_argument_classes(tmp_path: Path) -> None:
    """Found on public repositories: each passes ansible-core, so none is a finding."""
    tree(
        tmp_path,
        {
            "modules/hello.pl": "#!/usr/bin/perl\n",  # any extension is a module
            # Stale documentation: ansible-core validates against the code's spec.
            "modules/stale.py": 'DOCUMENTATION = """\noptions:\n  data: {required: true}\n"""\n'
            "from ansible.module_utils.basic import AnsibleModule\n"
            "def main():\n"
            "    spec = dict(cluster=dict(type='str', default='ceph'), data=dict(type='str'),\n"
            "                action=dict(type='str', choices=['a', 'b']))\n"
            "    AnsibleModule(argument_spec=spec)\n",
            "site.yml": PLAY
            + "    - hello: {a: 1}\n"
            + "    - ansible.builtin.package: {name: git}\n"  # the backend defaults state
            + "    - ansible.builtin.apt: {autoclean: true}\n"  # defaults satisfy required_one_of
            + "    - ansible.builtin.file: '{{ opts }}'\n"  # a mapping known at run time
            + "    - stale: {action: a}\n"
            + "    - stale: {action: a, journal: '{{ j | default(omit) }}'}\n"
            + "    - raw: yum -y install python3 creates=/usr/bin/python3\n"
            + "    - stale: {bogus: 1}\n"  # 11: the code's spec is complete
            + "  vars: {opts: {path: /tmp/x, state: touch}}\n",
        },
    )
    settings = ResolveSettings(library=(os.fspath(tmp_path / "modules"),))
    assert codes(check(tmp_path / "site.yml", settings)) == [("schema[unknown-argument]", 11)]
    assert (
        syntax_check(tmp_path / "site.yml", {"ANSIBLE_LIBRARY": settings.library[0]}).returncode
        == 0
    )
