"""Properties of the compiler over generated playbooks (hypothesis)."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playgraph.compiler import Detached, EdgeKind, Join, compile_playbook, emit_json, load_plan
from playgraph.compiler.diagnostics import Severity

REGISTERS = ["job", "pkg", "other", "r1"]
MODULES = [
    {"command": "sleep 1"},
    {"shell": "apt-get install -y nginx"},
    {"ansible.builtin.dnf": {"name": "git", "state": "present"}},
    {"apt": "name=curl"},
    {"debug": {"msg": "hi"}},
    {"ping": None},
]


@st.composite
def tasks(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    if depth < 2 and draw(st.integers(0, 6)) == 0:
        body = draw(st.lists(tasks(depth + 1), min_size=1, max_size=3))
        block: dict[str, Any] = {"block": body}
        if draw(st.booleans()):
            block["rescue"] = draw(st.lists(tasks(depth + 1), min_size=1, max_size=2))
        if draw(st.booleans()):
            block["when"] = "go"
        return block
    if draw(st.integers(0, 3)) == 0:
        task: dict[str, Any] = {
            "async_status": {"jid": f"{{{{ {draw(st.sampled_from(REGISTERS))}.ansible_job_id }}}}"},
            "register": "status",
            "until": "status is finished",
        }
        if draw(st.booleans()):
            task["retries"] = draw(st.integers(0, 100))
            task["delay"] = draw(st.sampled_from([0, 1, 5, 2.5]))
        return task
    task = dict(draw(st.sampled_from(MODULES)))
    if draw(st.booleans()):
        task["async"] = draw(st.one_of(st.integers(0, 3600), st.just("{{ limit }}")))
        task["poll"] = draw(st.integers(0, 30))
    if draw(st.booleans()):
        task["register"] = draw(st.sampled_from(REGISTERS))
    if draw(st.booleans()):
        task["when"] = draw(st.sampled_from(["x is defined", "a and not b", "y | bool", True]))
    if draw(st.booleans()):
        task["loop"] = draw(st.sampled_from([[1, 2], "{{ items }}", "{{ job.results }}"]))
    return task


playbooks = st.lists(
    st.fixed_dictionaries(
        {
            "hosts": st.sampled_from(["all", "web", "db", "web:db"]),
            "tasks": st.lists(tasks(), max_size=8),
        }
    ),
    min_size=1,
    max_size=3,
)


def compile_text(text: str) -> Any:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "p.yml")
        with open(path, "w") as handle:
            handle.write(text)
        return compile_playbook(path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(playbooks)
def test_valid_playbooks_compile_clean_and_round_trip(data: list[dict[str, Any]]) -> None:
    compiled = compile_text(yaml.safe_dump(data, sort_keys=False))
    assert not [d for d in compiled.diagnostics if d.severity is Severity.ERROR]
    graph = compiled.graph
    assert load_plan(emit_json(graph)) == graph
    index = graph.node_index()
    for play in graph.plays:
        for edge in play.edges:
            if edge.kind is EdgeKind.SYNC:
                assert isinstance(index[edge.source], Join)
                assert isinstance(index[edge.target], Detached)
        for node in play.nodes():
            if isinstance(node, Join):
                assert all(target in index for target in node.waits_on)


@settings(max_examples=60, deadline=None)
@given(playbooks)
def test_compiling_twice_gives_identical_bytes(data: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "p.yml")
        with open(path, "w") as handle:
            handle.write(yaml.safe_dump(data, sort_keys=False))
        assert emit_json(compile_playbook(path).graph) == emit_json(compile_playbook(path).graph)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12)),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(
                st.sampled_from(
                    [
                        "hosts",
                        "tasks",
                        "block",
                        "async",
                        "poll",
                        "command",
                        "when",
                        "register",
                        "loop",
                        "rescue",
                        "vars",
                        "name",
                        "until",
                        "x",
                    ]
                ),
                children,
                max_size=4,
            ),
        ),
        max_leaves=20,
    )
)
def test_arbitrary_yaml_structures_never_crash(data: Any) -> None:
    compiled = compile_text(yaml.safe_dump(data))
    assert compiled.graph.plays or compiled.diagnostics
