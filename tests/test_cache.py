"""The compile cache: reused only while nothing the compilation saw has changed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import playgraph.compiler.lower as lower
import pytest
from playgraph.compiler.result import CompileOptions

from playgraph.cache import compile_cached

Write = Callable[[str, str | bytes], str]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PLAYGRAPH_NO_CACHE", raising=False)
    calls: list[str] = []
    real = lower.compile_playbook

    def counting(path: str, options: CompileOptions | None = None) -> lower.Compiled:
        calls.append(path)
        return real(path, options)

    monkeypatch.setattr(lower, "compile_playbook", counting)
    return calls


def test_hit_while_unchanged_and_miss_after_each_kind_of_change(
    write: Write, counted: list[str], tmp_path: Path
) -> None:
    write("tasks/inner.yml", "- command: sleep 1\n  async: 5\n  poll: 0\n  register: j\n")
    path = write(
        "site.yml",
        "- hosts: all\n  tasks:\n    - import_tasks: tasks/inner.yml\n    - my_module: {}\n",
    )
    options = CompileOptions()
    first = compile_cached(path, options)
    assert [d.code for d in first.diagnostics] == ["schema[unknown-module]"]
    again = compile_cached(path, options)
    assert len(counted) == 1 and again.graph == first.graph
    assert again.diagnostics == first.diagnostics

    # An imported file's content.
    write("tasks/inner.yml", "- command: sleep 2\n  async: 5\n  poll: 0\n  register: j\n")
    changed = compile_cached(path, options)
    assert len(counted) == 2 and next(changed.graph.nodes()).args["_raw_params"] == "sleep 2"

    # A library folder appearing (the module becomes known).
    write("library/my_module.py", "#!/usr/bin/python\n")
    assert compile_cached(path, options).diagnostics == ()
    assert len(counted) == 3

    # The playbook itself, and a missing import appearing.
    write("site.yml", "- hosts: all\n  tasks:\n    - import_tasks: tasks/later.yml\n")
    assert [d.code for d in compile_cached(path, options).diagnostics] == [
        "load-failure[not-found]"
    ]
    write("tasks/later.yml", "- ping:\n")
    assert compile_cached(path, options).diagnostics == ()
    assert len(counted) == 5

    # Other options are another entry; --no-cache compiles every time.
    compile_cached(path, CompileOptions(poll_default=3))
    compile_cached(path, options, use_cache=False)
    assert len(counted) == 7


def test_a_corrupt_entry_is_recompiled(write: Write, counted: list[str], tmp_path: Path) -> None:
    path = write("site.yml", "- hosts: all\n  tasks:\n    - ping:\n")
    compile_cached(path, CompileOptions())
    for entry in (tmp_path / "cache" / "playgraph" / "compile").glob("*.pickle"):
        entry.write_bytes(b"garbage")
    assert compile_cached(path, CompileOptions()).diagnostics == ()
    assert len(counted) == 2


def test_no_cache_environment_variable(
    write: Write, counted: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAYGRAPH_NO_CACHE", "1")
    path = write("site.yml", "- hosts: all\n  tasks:\n    - ping:\n")
    compile_cached(path, CompileOptions())
    compile_cached(path, CompileOptions())
    assert len(counted) == 2
    assert not os.path.exists(os.path.join(os.environ["XDG_CACHE_HOME"], "playgraph", "compile"))
