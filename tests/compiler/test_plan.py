"""The plan: JSON that round-trips to the same graph, deterministic bytes, and pictures."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest
from playgraph.compiler import compile_playbook, emit_dot, emit_json, emit_mermaid, load_plan
from playgraph.compiler.plan import PlanError

from tests.conftest import EXAMPLES

Write = Callable[[str, str | bytes], str]

RICH = """
- name: rich
  hosts: web:db
  serial: [1, "50%"]
  strategy: free
  vars: {a: 1}
  pre_tasks:
    - debug: msg=pre
  tasks:
    - name: launch
      apt: name=nginx
      async: 600
      poll: 0
      register: job
      when: go | bool
      become: true
      become_user: root
      delegate_to: "{{ groups.db[0] }}"
      tags: [pkg, slow]
    - block:
        - command: sleep {{ item }}
          loop: [1, 2]
          loop_control: {loop_var: n, label: "{{ n }}"}
          async: "{{ limit }}"
          poll: 2
      rescue:
        - debug: msg=oops
      always:
        - async_status: jid={{ job.ansible_job_id }}
          register: s
          until: s is finished
          retries: 60
          delay: 10.5
  handlers:
    - name: h
      listen: bounce
      service: name=x state=restarted
"""


def test_json_round_trips_to_an_equal_graph(write: Write) -> None:
    graph = compile_playbook(write("p.yml", RICH)).graph
    text = emit_json(graph)
    again = load_plan(text)
    assert again == graph
    assert emit_json(again) == text


def test_json_carries_the_promised_fields() -> None:
    data = json.loads(emit_json(compile_playbook(str(EXAMPLES / "yum_async.yml")).graph))
    assert data["version"] == 1
    (play,) = data["plays"]
    assert {"name", "hosts", "nodes", "edges"} <= set(play)
    node = play["nodes"][0]
    assert {"id", "kind", "name", "action", "async", "poll", "span"} <= set(node)
    assert node["kind"] == "detached" and node["async"] == 1000 and node["poll"] == 0
    assert node["span"]["file"].endswith("yum_async.yml") and node["span"]["line"] == 6
    assert play["nodes"][1]["kind"] == "polled" and play["nodes"][2]["kind"] == "join"
    assert {"from": play["nodes"][2]["id"], "to": node["id"], "kind": "sync"} in play["edges"]


def test_compiling_twice_gives_identical_bytes(write: Write) -> None:
    path = write("p.yml", RICH)
    for emit in (emit_json, emit_dot, emit_mermaid):
        assert emit(compile_playbook(path).graph) == emit(compile_playbook(path).graph)


def test_compile_in_separate_processes_gives_identical_bytes(write: Write) -> None:
    path = write("p.yml", RICH)
    outputs = {
        subprocess.run(
            [sys.executable, "-m", "playgraph", "compile", path],
            check=True,
            capture_output=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "expected an object"),
        ('{"version": 99, "plays": []}', "version 99"),
        ('{"version": 1, "plays": [{"nodes": [{"kind": "teleport"}]}]}', "unknown node kind"),
        (
            '{"version": 1, "plays": [{"nodes": [{"kind": "blocking", "id": 3}]}]}',
            "must be a string",
        ),
        ("{nope", "not JSON"),
    ],
)
def test_bad_plans_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        load_plan(text)


def test_dot_and_mermaid_draw_kinds_and_sync_edges_distinctly() -> None:
    graph = compile_playbook(str(EXAMPLES / "yum_async.yml")).graph
    dot = emit_dot(graph)
    assert (
        "shape=parallelogram" in dot and "shape=hexagon" in dot and 'style="rounded,filled"' in dot
    )
    assert '"play[0].tasks[2]" -> "play[0].tasks[0]" [style=dashed' in dot
    mermaid = emit_mermaid(graph)
    assert mermaid.startswith("flowchart TD\n")
    assert "play_0_tasks_2 -. sync .-> play_0_tasks_0" in mermaid
    assert (
        "play_0_tasks_0[/" in mermaid
        and "play_0_tasks_2{{" in mermaid
        and "play_0_tasks_1([" in mermaid
    )


def test_dot_is_valid_graphviz_syntax_shape() -> None:
    dot = emit_dot(compile_playbook(str(EXAMPLES / "yum_async.yml")).graph)
    assert dot.count("{") == dot.count("}")
    assert dot.strip().endswith("}")
