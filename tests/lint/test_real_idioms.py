"""The async analysis on code shaped as real repositories write it: includes, roles,
task files and role folders checked on their own, and the idioms of their joins.

The fixtures under ``fixtures/real/`` carry inline ``# expect: id`` comments, read as in
`test_fixtures`: every finding of every file a fixture reaches must be expected, and every
expectation found.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from playgraph.compiler import compile_playbook
from playgraph.compiler.diagnostics import Diagnostic
from playgraph.compiler.ir import Join, iter_nodes
from playgraph.compiler.lint import apply_suppressions, lint, load_config
from playgraph.compiler.lower import compile_check_target

from .test_fixtures import expectations

REAL = Path(__file__).parent / "fixtures" / "real"
ROOT = Path(__file__).resolve().parents[2]


def check(target: Path) -> tuple[list[Diagnostic], dict[str, list[str]]]:
    """What ``playgraph check TARGET`` finds (a playbook, a task file or a role folder)."""
    config = load_config(None, ())
    compiled = compile_check_target(str(target)) or compile_playbook(str(target))
    findings = [*compiled.diagnostics, *lint(compiled.graph, config=config)]
    lines = {file: source.lines for file, source in compiled.sources.items()}
    return apply_suppressions(findings, dict(compiled.sources), config), lines


def assert_as_expected(target: Path, *, only: set[str] | None = None) -> None:
    findings, lines = check(target)
    actual = Counter((d.span.file, d.span.line, d.code) for d in findings)
    expected = expectations(lines)
    if only is not None:  # a file checked alone: its own lines' expectations
        expected = Counter({k: v for k, v in expected.items() if k[0] in only})
    shown = {(d.span.file, d.span.line, d.code): d.message for d in findings}
    unexpected = [f"{k[0]}:{k[1]}: {k[2]}: {shown[k]}" for k in actual - expected]
    missing = [f"{k[0]}:{k[1]}: {k[2]}" for k in expected - actual]
    assert not unexpected and not missing, f"unexpected: {unexpected}\nmissing: {missing}"


@pytest.mark.parametrize("name", ["includes.yml", "includes_opaque.yml", "idioms.yml"])
def test_playbook_fixture(name: str) -> None:
    assert_as_expected(REAL / name)


def test_a_job_launched_in_an_included_file_is_joined_in_the_includer() -> None:
    """The launch is in a role's task file reached by include_role; without following the
    include the join read an unknown variable (an error) and the launch went unseen."""
    compiled = compile_playbook(str(REAL / "includes.yml"))
    included = [n for steps in compiled.graph.included.values() for n in iter_nodes(steps)]
    (launch,) = [n.id for n in included if n.name == "start the build"]
    (join,) = [
        n
        for n in compiled.graph.nodes()
        if isinstance(n, Join) and n.name == "wait for the role's job"
    ]
    assert join.waits_on == (launch,)
    # The plan keeps only the playbook's own nodes: no edge to an included one.
    plan_ids = {n.id for n in compiled.graph.nodes()}
    assert all(e.target in plan_ids for play in compiled.graph.plays for e in play.edges)


def test_a_list_wrapped_with_items_join_gets_its_sync_edge() -> None:
    compiled = compile_playbook(str(REAL / "idioms.yml"))
    (play,) = compiled.graph.plays
    (join,) = [n for n in play.nodes() if n.name == "join guarded on each item's job id"]
    (launch,) = [n for n in play.nodes() if n.name == "a conditional looped launch"]
    assert join.waits_on == (launch.id,)
    assert any(e.source == join.id and e.target == launch.id for e in play.edges)


def test_a_role_task_file_is_checked_as_tasks_with_the_role_defaults() -> None:
    task_file = REAL / "roles" / "builder" / "tasks" / "main.yml"
    assert_as_expected(task_file, only={str(task_file)})
    findings, _ = check(task_file)
    assert not any("valid keyword for a play" in d.message for d in findings)


def test_a_role_folder_is_checked_as_its_tasks() -> None:
    role = REAL / "roles" / "builder"
    findings, _ = check(role)
    assert [(Path(d.span.file).name, d.span.line, d.code) for d in findings] == [
        ("main.yml", 20, "async-unjoined")
    ]


def test_a_lone_task_file_trusts_what_its_includer_registered() -> None:
    task_file = REAL / "tasks" / "join_main.yml"
    findings, _ = check(task_file)
    # main_job and nowhere_job may come from whoever includes it: only the unjoined launch.
    assert [(d.span.line, d.code) for d in findings] == [(10, "async-unjoined")]


def test_empty_task_files_are_valid_everywhere() -> None:
    for target in (REAL / "tasks" / "empty.yml", REAL / "roles" / "quiet" / "tasks" / "main.yml"):
        findings, _ = check(target)
        assert findings == [], target
    findings, _ = check(REAL / "roles" / "quiet")
    assert findings == []


@pytest.mark.e2e
def test_check_and_compile_from_the_command_line(tmp_path: Path) -> None:
    playgraph = [str(ROOT / ".venv" / "bin" / "playgraph")]
    env_free = {"PLAYGRAPH_NO_CACHE": "1", "PATH": "/usr/bin:/bin"}
    role = subprocess.run(
        [*playgraph, "check", str(REAL / "roles" / "builder")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env_free,
    )
    assert role.returncode == 0, role.stdout + role.stderr  # a warning only
    assert "async-unjoined" in role.stdout and "valid keyword" not in role.stdout
    playbook = tmp_path / "site.yml"
    shutil.copytree(REAL, tmp_path, dirs_exist_ok=True)
    text = (tmp_path / "includes.yml").read_text()
    # Without the removed `include:` the playbook compiles (check's async findings do
    # not block it); with it, compile refuses, as ansible-core does.
    cut = text.index("    - name: the removed task-level include")
    playbook.write_text(text[:cut])
    ok = subprocess.run(
        [*playgraph, "compile", str(playbook)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env_free,
    )
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [*playgraph, "compile", str(tmp_path / "includes.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env_free,
    )
    assert bad.returncode != 0
    assert (
        "The 'ansible.builtin.include' action plugin has been removed." in bad.stderr + bad.stdout
    )
