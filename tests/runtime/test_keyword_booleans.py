"""A templated boolean play keyword is read as ansible-core reads it: rendered, then
``boolean()``, so ``"f"`` from ``-e`` is false (it is not a conditional, which would
have to be a real boolean).  Checked with ansible-playbook 2.19: ``gather_facts:
"{{ gf }}"`` with ``gf=f`` gathers nothing, with ``gf=maybe`` fails with "Error
processing keyword 'gather_facts': The value 'maybe' could not be converted to 'bool'"."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from playgraph.compiler import compile_playbook
from playgraph.runtime.context import RunOptions
from playgraph.runtime.inventory import load_inventory
from playgraph.runtime.run import run_graph_sync
from playgraph.runtime.templating import TemplateError
from playgraph.runtime.tracing import Event, EventKind

Write = Callable[[str, str | bytes], str]

PLAY = """\
- hosts: all
  gather_facts: "{{ gf }}"
  tasks:
    - debug: msg=hi
"""


def _gathered(write: Write, gf: str) -> bool:
    playbook = write("p.yml", PLAY)
    compiled = compile_playbook(playbook)
    assert compiled.diagnostics == ()
    inventory = load_inventory([write("inv.ini", "h1 ansible_connection=local\n")])
    events: list[Event] = []
    options = RunOptions(extra_vars={"gf": gf}, playbook_dir=os.path.dirname(playbook))
    outcome = run_graph_sync(compiled.graph, inventory, options, subscribers=[events.append])
    assert outcome.exit_code == 0
    return any(e.kind is EventKind.NODE_STARTED and e.node == "gather_facts" for e in events)


@pytest.mark.parametrize(
    ("gf", "expected"), [("f", False), (" N ", False), ("0", False), ("t", True)]
)
def test_templated_gather_facts_is_a_keyword_boolean(write: Write, gf: str, expected: bool) -> None:
    assert _gathered(write, gf) is expected


def test_templated_gather_facts_non_boolean_fails_as_ansible_core(write: Write) -> None:
    with pytest.raises(TemplateError, match="keyword 'gather_facts': The value 'maybe' could not"):
        _gathered(write, "maybe")
