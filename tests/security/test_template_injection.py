"""Text from targets is data: the controller never renders it as a template.

A target whose command prints ``{{ lookup("pipe", "touch MARKER") }}`` must not make
the controller run ``touch``, whatever path the text takes: registered results,
``set_fact`` built from them, ``ansible_failed_result``, async results, loop
results, ``lookup('file')``, ``hostvars``/``vars``, gathered facts, the ``template``
module, ``add_host``, ``until``.  ansible-core 2.19 prints every payload below
literally (checked with ``ansible-playbook`` 2.19.14 on the same playbooks); each
test asserts the same output AND that the marker file was not created.

Trusted templates keep working: play vars referring to each other, inventory
variables, strings from the playbook passed through a template
(``debug: var="{{ item }}"``), while ``!unsafe`` values are printed raw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.conftest import stop_supervisor

pytestmark = pytest.mark.e2e


def payload(marker: Path) -> str:
    return f'{{{{ lookup("pipe", "touch {marker}") }}}}'


@dataclass(frozen=True, slots=True)
class Outcome:
    exit_code: int
    document: dict[str, Any]
    stderr: str

    def result(self, task: str, host: str = "localhost") -> dict[str, Any]:
        for play in self.document["plays"]:
            for entry in play["tasks"]:
                if entry["task"]["name"] == task:
                    found: dict[str, Any] = entry["hosts"][host]
                    return found
        raise AssertionError(f"no task named {task!r} in the run: {self.stderr}")


@dataclass
class Site:
    root: Path

    @property
    def async_dir(self) -> Path:
        return self.root / "async"

    def marker(self, name: str) -> Path:
        return self.root / "markers" / name

    def target_file(self, name: str, text: str) -> Path:
        """A file the "target" prints (the local connection's target is this machine)."""
        path = self.root / name
        path.write_text(text)
        return path

    def run(
        self,
        playbook: str,
        *,
        inventory: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Outcome:
        (self.root / "markers").mkdir(exist_ok=True)
        play = self.root / "play.yml"
        play.write_text(playbook)
        inv = self.root / "inventory.yml"
        inv.write_text(
            inventory
            or "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
            f"      ansible_python_interpreter: {sys.executable}\n"
            f"      ansible_async_dir: {self.async_dir}\n"
        )
        done = subprocess.run(
            [sys.executable, "-m", "playgraph", "run", str(play), "-i", str(inv), "--json"],
            capture_output=True,
            text=True,
            cwd=self.root,
            timeout=60,
            env={**os.environ, "PLAYGRAPH_NO_CACHE": "1", **(env or {})},
        )
        assert done.stdout.strip().startswith("{"), done.stdout + done.stderr
        return Outcome(done.returncode, json.loads(done.stdout), done.stderr)

    def markers(self) -> list[str]:
        return sorted(p.name for p in (self.root / "markers").iterdir())


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    site = Site(tmp_path)
    yield site
    if site.async_dir.exists():
        stop_supervisor(site.async_dir)


HEADER = """
- hosts: localhost
  gather_facts: false
  tasks:
"""


def registered(site: Site, name: str) -> tuple[str, str]:
    """A task registering ``r`` whose stdout is the payload for marker ``name``."""
    text = payload(site.marker(name))
    out = site.target_file(f"{name}.out", text + "\n")
    task = f"""
    - name: target output
      command: cat {out}
      register: r
"""
    return task, text


# --------------------------------------------------------------------------- paths


def test_registered_stdout(site: Site) -> None:
    task, text = registered(site, "reg")
    run = site.run(
        HEADER
        + task
        + """
    - name: show
      debug: msg="{{ r.stdout }}"
    - name: lines
      debug: msg="{{ r.stdout_lines | first }}"
"""
    )
    assert run.exit_code == 0, run.stderr
    assert run.result("show")["msg"] == text
    assert run.result("lines")["msg"] == text
    assert site.markers() == []


def test_set_fact_concatenation_and_chains(site: Site) -> None:
    # The lead's reproduction: `~ ''` made a new str that lost its unsafe mark and
    # was rendered again when `x` was read.
    task, text = registered(site, "concat")
    run = site.run(
        HEADER
        + task
        + """
    - set_fact:
        x: "{{ r.stdout ~ '' }}"
        f: "{{ '%s' | format(r.stdout) }}"
        j: "{{ [r.stdout, 'z'] | join('') }}"
        u: "{{ r.stdout | upper | lower }}"
    - set_fact:
        y: "{{ x }}"
    - name: show
      debug: msg="{{ x }}|{{ f }}|{{ j }}|{{ u }}|{{ y }}"
    - name: var
      debug: var=y
"""
    )
    assert run.exit_code == 0, run.stderr
    assert run.result("show")["msg"] == f"{text}|{text}|{text}z|{text}|{text}"
    assert run.result("var")["y"] == text
    assert site.markers() == []


def test_set_fact_dict_list_and_json_round_trip(site: Site) -> None:
    task, text = registered(site, "dict")
    run = site.run(
        HEADER
        + task
        + """
    - set_fact:
        d: {k: "{{ r.stdout | trim }}", l: ["{{ r.stdout }}"]}
        via_json: "{{ r | to_json | from_json }}"
        built: "{{ dict(k=r.stdout) }}"
    - name: dict
      debug: msg="{{ d }}"
    - name: key
      debug: msg="{{ d.k ~ d.l[0] ~ via_json.stdout ~ built.k }}"
"""
    )
    assert run.exit_code == 0, run.stderr
    assert run.result("dict")["msg"] == {"k": text, "l": [text]}
    assert run.result("key")["msg"] == text * 4
    assert site.markers() == []


def test_ansible_failed_result_in_rescue(site: Site) -> None:
    text = payload(site.marker("failed"))
    out = site.target_file("failed.out", text + "\n")
    run = site.run(
        HEADER
        + f"""
    - block:
        - name: fails
          shell: cat {out}; exit 1
      rescue:
        - name: rescued
          debug: msg="{{{{ ansible_failed_result.stdout ~ '' }}}}"
        - set_fact:
            kept: "{{{{ ansible_failed_result }}}}"
        - name: kept
          debug: msg="{{{{ kept.stdout_lines[0] }}}}"
"""
    )
    assert run.exit_code == 0, run.stderr
    assert run.result("rescued")["msg"] == text
    assert run.result("kept")["msg"] == text
    assert site.markers() == []


def test_async_status_join_result(site: Site) -> None:
    text = payload(site.marker("async"))
    out = site.target_file("async.out", text + "\n")
    run = site.run(
        HEADER
        + f"""
    - name: launch
      command: cat {out}
      async: 20
      poll: 0
      register: job
    - name: join
      async_status:
        jid: "{{{{ job.ansible_job_id }}}}"
      register: st
      until: st.finished and st.stdout | length > 0
      retries: 20
      delay: 1
    - name: show
      debug: msg="{{{{ st.stdout ~ '' }}}}"
"""
    )
    assert run.exit_code == 0, run.stderr
    assert run.result("show")["msg"] == text
    assert site.markers() == []


def test_mapped_loop_results_and_items(site: Site) -> None:
    texts = [payload(site.marker(f"loop{i}")) for i in (1, 2)]
    for i, text in enumerate(texts, 1):
        site.target_file(f"loop{i}.out", text + "\n")
    run = site.run(
        HEADER
        + """
    - name: loop
      command: cat loop{{ item }}.out
      loop: [1, 2]
      register: lr
    - name: joined
      debug: msg="{{ lr.results | map(attribute='stdout') | join(',') }}"
    - name: items
      debug: msg="{{ item }}"
      loop: "{{ lr.results | map(attribute='stdout') | map('trim') }}"
    - name: with_items
      debug: msg="{{ item ~ '' }}"
      with_items: "{{ lr.results | map(attribute='stdout') | list }}"
"""
    )
    assert run.exit_code == 0, run.stderr
    assert run.result("joined")["msg"] == ",".join(texts)
    assert [r["msg"] for r in run.result("items")["results"]] == texts
    assert [r["msg"] for r in run.result("with_items")["results"]] == texts
    assert site.markers() == []


def test_until_and_changed_when_see_the_result_as_data(site: Site) -> None:
    task, text = registered(site, "until")
    run = site.run(
        HEADER
        + task.replace(
            "register: r",
            "register: r\n      until: r.stdout | length > 0\n      retries: 1\n      delay: 0"
            "\n      changed_when: r.stdout != ''\n      failed_when: not r.changed",
        )
        + """
    - name: show
      debug: msg="{{ r.stdout }}"
"""
    )
    assert run.exit_code == 0, run.stderr
    assert run.result("show")["msg"] == text
    assert site.markers() == []


def test_lookup_file_holding_a_template(site: Site) -> None:
    text = payload(site.marker("file"))
    path = site.target_file("payload.txt", text + "\n")
    run = site.run(
        HEADER
        + f"""
    - name: direct
      debug: msg="{{{{ lookup('file', '{path}') }}}}"
    - set_fact:
        f: "{{{{ lookup('file', '{path}') }}}}"
    - name: stored
      debug: msg="{{{{ f }}}}"
    - name: with_file
      debug: msg="{{{{ item }}}}"
      with_file: ["{path}"]
"""
    )
    assert run.exit_code == 0, run.stderr
    assert run.result("direct")["msg"] == text
    assert run.result("stored")["msg"] == text
    assert run.result("with_file")["results"][0]["msg"] == text
    assert site.markers() == []


def test_hostvars_vars_and_vars_lookup(site: Site) -> None:
    task, text = registered(site, "hostvars")
    run = site.run(
        HEADER
        + task
        + """
    - set_fact:
        h: "{{ hostvars['localhost']['r']['stdout'] ~ '-' }}"
    - name: hostvars
      debug: msg="{{ hostvars[inventory_hostname].r.stdout ~ '-' }}"
    - name: stored
      debug: msg="{{ hostvars.localhost.h }}"
    - name: vars
      debug: msg="{{ vars['r'].stdout ~ lookup('vars', 'h') }}"
"""
    )
    assert run.exit_code == 0, run.stderr
    assert run.result("hostvars")["msg"] == text + "-"
    assert run.result("stored")["msg"] == text + "-"
    assert run.result("vars")["msg"] == text + text + "-"
    assert site.markers() == []


def test_gathered_facts_and_set_fact_ansible_facts(site: Site) -> None:
    # Gathering reads the target's environment (``ansible_env``): here the local
    # connection's, so $SHELL carries the payload into the facts.
    shell = payload(site.marker("gathered"))
    task, text = registered(site, "facts")
    run = site.run(
        HEADER.replace("gather_facts: false", "gather_facts: true")
        + task
        + """
    - name: gathered
      debug: msg="{{ ansible_env.SHELL ~ '|' ~ ansible_facts.env.SHELL }}"
    - set_fact:
        ansible_facts: {myfact: "{{ r.stdout }}"}
    - name: set
      debug: msg="{{ ansible_facts.myfact ~ '' }}"
""",
        env={"SHELL": shell},
    )
    assert run.exit_code == 0, run.stderr
    assert run.result("gathered")["msg"] == f"{shell}|{shell}"
    assert run.result("set")["msg"] == text
    assert site.markers() == []


def test_template_module_and_lookup_interpolate_data_once(site: Site) -> None:
    task, text = registered(site, "template")
    (site.root / "templates").mkdir()
    (site.root / "templates" / "t.j2").write_text("value={{ r.stdout }} n={{ 1 + 1 }}\n")
    (site.root / "templates" / "v.j2").write_text("{{ x }}")
    dest = site.root / "out.txt"
    run = site.run(
        HEADER
        + task
        + f"""
    - name: module
      template: src=t.j2 dest={dest}
    - name: lookup
      debug: msg="{{{{ lookup('template', 't.j2') }}}}"
    - set_fact:
        tv: "{{{{ lookup('template', 'v.j2', template_vars={{'x': r.stdout ~ ''}}) }}}}"
    - name: template_vars
      debug: msg="{{{{ tv }}}}"
"""
    )
    assert run.exit_code == 0, run.stderr
    assert dest.read_text() == f"value={text} n=2\n"
    assert run.result("lookup")["msg"] == f"value={text} n=2\n"
    assert run.result("template_vars")["msg"] == text
    assert site.markers() == []


def test_add_host_variables(site: Site) -> None:
    task, text = registered(site, "addhost")
    run = site.run(
        HEADER
        + task
        + """
    - add_host:
        name: extra
        from_target: "{{ r.stdout | trim }}"
    - name: show
      debug: msg="{{ hostvars['extra'].from_target }}"
"""
    )
    assert run.exit_code == 0, run.stderr
    assert run.result("show")["msg"] == text
    assert site.markers() == []


def test_target_text_is_never_an_expression(site: Site) -> None:
    # ansible-core refuses to evaluate untrusted text where an expression is
    # expected: `debug: var=` and `assert: that:` given rendered data.
    expression = f'lookup("pipe", "touch {site.marker("expression")}") == ""'
    out = site.target_file("expr.out", expression + "\n")
    run = site.run(
        HEADER
        + f"""
    - name: target output
      command: cat {out}
      register: r
    - name: var
      debug: var="{{{{ r.stdout }}}}"
      ignore_errors: true
    - name: that
      assert:
        that: "{{{{ r.stdout_lines }}}}"
      ignore_errors: true
    - name: built
      debug: var="{{{{ 'r.' ~ 'stdout' }}}}"
      ignore_errors: true
"""
    )
    assert run.exit_code == 0, run.stderr
    untrusted = "Encountered untrusted template or expression."
    assert run.result("var")["msg"] == (
        f"Task failed: Error while resolving `var` expression: {untrusted}"
    )
    assert run.result("that")["msg"].startswith(f"Task failed: {untrusted}")
    assert run.result("built")["failed"] is True
    assert site.markers() == []


# --------------------------------------------------------------------------- !unsafe


def test_unsafe_in_inventory_and_play_vars_is_printed_raw(site: Site) -> None:
    inv_text = payload(site.marker("inventory"))
    play_text = payload(site.marker("play"))
    inventory = (
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      unsafe_inv: !unsafe '{inv_text}'\n"
    )
    run = site.run(
        f"""
- hosts: localhost
  gather_facts: false
  vars:
    unsafe_play: !unsafe '{play_text}'
  tasks:
    - name: inventory
      debug: msg="{{{{ unsafe_inv }}}}"
    - name: play
      debug: msg="{{{{ unsafe_play ~ '' }}}}"
""",
        inventory=inventory,
    )
    assert run.exit_code == 0, run.stderr
    assert run.result("inventory")["msg"] == inv_text
    assert run.result("play")["msg"] == play_text
    assert site.markers() == []


def test_unsafe_in_vars_files_and_include_vars_is_printed_raw(site: Site) -> None:
    text = payload(site.marker("vars_file"))
    site.target_file("unsafe_vars.yml", f"from_file: !unsafe '{text}'\n")
    run = site.run(
        """
- hosts: localhost
  gather_facts: false
  vars_files: [unsafe_vars.yml]
  tasks:
    - name: vars_files
      debug: msg="{{ from_file ~ '' }}"
    - include_vars: unsafe_vars.yml
    - name: after include_vars
      debug: msg="{{ from_file }}"
"""
    )
    assert run.exit_code == 0, run.stderr
    assert run.result("vars_files")["msg"] == text
    assert run.result("after include_vars")["msg"] == text
    assert site.markers() == []


# --------------------------------------------------------------------------- trusted text


def test_trusted_templates_still_render(site: Site) -> None:
    inventory = (
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        "      from_inventory: '{{ c + 1 }}'\n"
    )
    run = site.run(
        """
- hosts: localhost
  gather_facts: false
  vars:
    a: "{{ b }}"
    b: "{{ c }}"
    c: 42
    names: [a, c]
    nested: {k: "{{ a }}-{{ from_inventory }}"}
  tasks:
    - name: chain
      debug: msg="{{ a }} {{ nested.k }}"
    - name: items
      debug: var={{ item }}
      loop: "{{ names }}"
    - name: with_items
      debug: var={{ item }}
      with_items: [b]
    - set_fact:
        s: "{{ nested }}"
    - name: stored
      debug: msg="{{ s.k }}"
    - name: raw
      debug: msg="{% raw %}{{ a }}{% endraw %}"
""",
        inventory=inventory,
    )
    assert run.exit_code == 0, run.stderr
    assert run.result("chain")["msg"] == "42 42-43"
    assert [r["a" if i == 0 else "c"] for i, r in enumerate(run.result("items")["results"])] == [
        42,
        42,
    ]
    assert run.result("with_items")["results"][0]["b"] == 42
    assert run.result("stored")["msg"] == "42-43"
    assert run.result("raw")["msg"] == "{{ a }}"
