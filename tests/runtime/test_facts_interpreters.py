"""Real facts (ansible-core's ``setup`` module) and interpreter discovery, end to end.

``playgraph run`` in a real process on local hosts: the play's gathering, ``setup`` and
``gather_facts`` tasks, facts a module returns (getent), the fallback facts when
ansible-core cannot be imported, and ``ansible_python_interpreter: auto`` discovery.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from playgraph.runtime import interpreters

pytestmark = pytest.mark.e2e

DISCOVERY_WARNING = (
    "[WARNING]: Host 'h1' is using the discovered Python interpreter at '/usr/bin/python3', "
    "but future installation of another Python interpreter could cause a different "
    "interpreter to be discovered. See "
    "https://docs.ansible.com/ansible-core/2.19/reference_appendices/interpreter_discovery.html"
    " for more information."
)


def _run(tmp_path: Path, playbook: str, inventory: str, *, prelude: str = "") -> tuple[Any, str]:
    (tmp_path / "pb.yml").write_text(textwrap.dedent(playbook))
    (tmp_path / "inventory.yml").write_text(textwrap.dedent(inventory))
    argv = ["run", str(tmp_path / "pb.yml"), "-i", str(tmp_path / "inventory.yml"), "--json"]
    code = f"import sys\n{prelude}\nfrom playgraph.cli import main\nsys.exit(main({argv!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout[done.stdout.index("{") :]), done.stderr


def _results(document: Any, index: int) -> dict[str, Any]:
    hosts: dict[str, Any] = document["plays"][0]["tasks"][index]["hosts"]
    return hosts


def test_pick_takes_the_first_found_and_passes_over_pyenv_shims() -> None:
    found = (
        "FOUND\n/root/.pyenv/shims/python3.13\n/usr/bin/python3.11\n/usr/bin/python3\nENDFOUND\n"
    )
    assert interpreters.pick(found) == "/usr/bin/python3.11"
    assert interpreters.pick("FOUND\nENDFOUND\n") is None
    with pytest.raises(ValueError, match="unexpected output"):
        interpreters.pick("Welcome to the host!\nFOUND\nENDFOUND")
    assert interpreters.probe_command(["python3.12", "/usr/bin/python3"]) == (
        "echo FOUND; command -v 'python3.12'; command -v '/usr/bin/python3'; echo ENDFOUND"
    )


def test_interpreter_discovery_once_per_host_as_ansible_core(tmp_path: Path) -> None:
    document, stderr = _run(
        tmp_path,
        """\
        - hosts: all
          gather_facts: false
          tasks:
            - ping:
            - ping:
            - debug:
                msg: "{{ discovered_interpreter_python | default('none') }} {{ ansible_facts.discovered_interpreter_python | default('none') }}"
        """,
        """\
        all:
          vars:
            ansible_connection: local
          hosts:
            h1:
              ansible_interpreter_python_fallback: [/nonexistent/python3.99, /usr/bin/python3]
            h2:
              ansible_python_interpreter: auto_silent
              ansible_interpreter_python_fallback: [/usr/bin/python3]
            h3:
              ansible_python_interpreter: /usr/bin/python3
        """,
    )
    shown = {host: r["msg"] for host, r in _results(document, 2).items()}
    assert shown == {
        "h1": "/usr/bin/python3 /usr/bin/python3",
        "h2": "/usr/bin/python3 /usr/bin/python3",
        "h3": "none none",  # a configured interpreter is used as is, never probed
    }
    # Warned once for h1 (two tasks, one probe); auto_silent says nothing.
    assert stderr.count(DISCOVERY_WARNING) == 1, stderr
    assert "'h2'" not in stderr and "'h3'" not in stderr, stderr


def test_facts_come_from_the_setup_module(tmp_path: Path) -> None:
    os_release = dict(
        line.split("=", 1)
        for line in Path("/etc/os-release").read_text().splitlines()
        if "=" in line
    )
    major = os_release["VERSION_ID"].strip('"').split(".")[0]
    document, _ = _run(
        tmp_path,
        """\
        - hosts: all
          gather_facts: true
          tasks:
            - debug:
                msg: >-
                  {{ ansible_facts.module_setup }} {{ ansible_distribution_major_version }}
                  {{ ansible_facts.distribution == ansible_distribution }}
                  {{ 'all' in ansible_facts.gather_subset }} {{ ansible_local }}
                  {{ ansible_facts.keys() | select('match', 'ansible_') | list | length }}
            - setup:
                gather_subset: ['!all']
                filter: [ansible_system]
              register: filtered
            - gather_facts:
                gather_subset: ['!all', '!min', 'platform']
            - getent:
                database: passwd
                key: root
            - debug:
                msg: "{{ getent_passwd.root[1] }} {{ ansible_facts.getent_passwd.root[1] }} {{ ansible_system }}"
        """,
        """\
        all:
          hosts:
            h1:
              ansible_connection: local
              ansible_python_interpreter: /usr/bin/python3
        """,
    )
    # Task 0 is the play's gathering.
    assert _results(document, 0)["h1"]["ansible_facts"]["ansible_system"] == "Linux"
    assert _results(document, 1)["h1"]["msg"] == f"True {major} True True {{}} 1"
    filtered = _results(document, 2)["h1"]
    assert filtered["ansible_facts"] == {"ansible_system": "Linux"}
    assert filtered["invocation"]["module_args"]["filter"] == ["ansible_system"]
    gathered = _results(document, 3)["h1"]
    assert gathered["ansible_facts"]["ansible_system"] == "Linux"
    assert "invocation" not in gathered  # the gather_facts action returns the facts only
    assert _results(document, 5)["h1"]["msg"] == "0 0 Linux"


def test_without_ansible_core_the_minimal_facts_and_one_warning(tmp_path: Path) -> None:
    document, stderr = _run(
        tmp_path,
        """\
        - hosts: all
          gather_facts: true
          tasks:
            - setup:
            - debug:
                msg: "{{ ansible_system }} {{ ansible_facts.system }} {{ ansible_facts.module_setup | default('no') }}"
        """,
        """\
        all:
          hosts:
            h1:
              ansible_connection: local
              ansible_python_interpreter: /usr/bin/python3
        """,
        # ansible-core cannot be imported in this process.
        prelude="sys.modules['ansible'] = None",
    )
    assert _results(document, 2)["h1"]["msg"] == "Linux Linux no"
    assert stderr.count("[WARNING]: ansible-core is not installed: facts are") == 1, stderr


def test_the_plays_gathering_keywords_are_its_setup_arguments(tmp_path: Path) -> None:
    # gather_subset (templated per host), gather_timeout and fact_path reach the play's
    # implicit setup, as ansible-core's gather_facts task carries them.
    facts_d = tmp_path / "facts.d"
    facts_d.mkdir()
    (facts_d / "site.fact").write_text('{"tier": "web"}\n')
    document, _ = _run(
        tmp_path,
        f"""\
        - hosts: all
          gather_subset: "{{{{ subsets }}}}"
          gather_timeout: 7
          fact_path: {facts_d}
          tasks:
            - debug:
                msg: "{{{{ ansible_memtotal_mb is defined }}}} {{{{ ansible_local.site.tier }}}} {{{{ ansible_facts.gather_subset }}}}"
        """,
        """\
        all:
          vars:
            ansible_connection: local
            ansible_python_interpreter: /usr/bin/python3
          hosts:
            h1: {subsets: ["!all"]}
            h2: {subsets: ["hardware"]}
        """,
    )
    said = {host: result["msg"] for host, result in _results(document, 1).items()}
    assert said == {"h1": "False web ['!all']", "h2": "True web ['hardware']"}
