"""`playgraph check` after an edit: only what changed is new, and nothing stale survives.

Also the pieces that make a re-check cheap: the YAML builder (same tree, built
faster), a stale cache entry told from its first line, and compiling with the garbage
collector out of the way.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playgraph.compiler.loader import load_text, to_python
from playgraph.compiler.result import CompileOptions
from playgraph.compiler.spans import SourceText
from playgraph.grammar.loading import Codec

from playgraph import cli
from playgraph.cli import cache
from playgraph.cli import check as check_command
from playgraph.cli.cache import compile_cached
from playgraph.semantics import UnsafeText

Write = Callable[[str, str | bytes], str]

_ROLE_TASKS = "- name: ping {n}\n  ansible.builtin.ping:\n"
_UNJOINED = "- name: launch\n  ansible.builtin.command: sleep 1\n  async: 5\n  poll: 0\n"


@pytest.fixture
def checked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[[], tuple[int, str, int]]]:
    """``playgraph check site.yml`` in tmp_path: (exit code, stdout, reports built so far)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PLAYGRAPH_NO_CACHE", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.chdir(tmp_path)
    built: list[object] = []
    real = check_command.build_report

    def counting(*args: Any) -> Any:
        built.append(args)
        return real(*args)

    monkeypatch.setattr(check_command, "build_report", counting)

    def check() -> tuple[int, str, int]:
        code = cli.main(["check", "site.yml"])
        out, _ = capsys.readouterr()
        return code, out, len(built)

    yield check


def _roles_project(write: Write, roles: int = 3) -> None:
    write(
        "site.yml",
        "- hosts: all\n  gather_facts: false\n  roles:\n"
        + "".join(f"    - r{n}\n" for n in range(roles)),
    )
    for n in range(roles):
        write(f"roles/r{n}/tasks/main.yml", _ROLE_TASKS.format(n=n))


def test_editing_one_role_file_shows_its_new_finding_and_fixing_it_clears_it(
    write: Write, checked: Callable[[], tuple[int, str, int]]
) -> None:
    _roles_project(write)
    assert checked() == (0, "", 1)
    assert checked() == (0, "", 1)  # unchanged: the stored report

    edited = write("roles/r1/tasks/main.yml", _ROLE_TASKS.format(n=1) + _UNJOINED)
    code, out, built = checked()
    assert built == 2 and "async-unjoined" in out
    assert out.startswith(os.path.relpath(edited)) and ":3:" in out  # the launch's line
    assert checked() == (code, out, 2)

    write("roles/r1/tasks/main.yml", _ROLE_TASKS.format(n=1))
    assert checked() == (0, "", 3)


def test_editing_a_role_default_that_names_an_include_follows_the_new_file(
    write: Write, checked: Callable[[], tuple[int, str, int]]
) -> None:
    write("site.yml", "- hosts: all\n  gather_facts: false\n  roles:\n    - app\n")
    write("roles/app/defaults/main.yml", "extra: quiet.yml\n")
    write("roles/app/tasks/main.yml", '- ansible.builtin.include_tasks: "{{ extra }}"\n')
    write("roles/app/tasks/quiet.yml", _ROLE_TASKS.format(n=0))
    write("roles/app/tasks/loud.yml", _UNJOINED)
    assert checked() == (0, "", 1)

    write("roles/app/defaults/main.yml", "extra: loud.yml\n")
    _, out, built = checked()
    assert built == 2 and "async-unjoined" in out and "loud.yml:1:" in out

    write("roles/app/defaults/main.yml", "extra: quiet.yml\n")
    assert checked() == (0, "", 3)


def test_a_stale_compile_entry_is_a_miss_without_decoding_its_value(
    write: Write, counted: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write("tasks/inner.yml", _ROLE_TASKS.format(n=0) * 50)
    path = write("site.yml", "- hosts: all\n  tasks:\n    - import_tasks: tasks/inner.yml\n")
    compile_cached(path, CompileOptions())
    (entry,) = (tmp_path / "cache" / "playgraph" / "compile").glob("*.json")
    decoded: list[int] = []
    real = Codec.loads

    def sizing(self: Codec, data: bytes) -> Any:
        decoded.append(len(data))
        return real(self, data)

    monkeypatch.setattr(Codec, "loads", sizing)
    write("tasks/inner.yml", _ROLE_TASKS.format(n=1) * 50)
    compile_cached(path, CompileOptions())
    assert len(counted) == 2
    # Only the first line (what the entry was compiled from) was read back.
    assert decoded and max(decoded) < entry.stat().st_size // 4, (decoded, entry.stat())
    # And the fresh entry is used as a whole.
    decoded.clear()
    compile_cached(path, CompileOptions())
    assert len(counted) == 2 and sum(decoded) > entry.stat().st_size // 2


def test_check_compiles_without_full_collections_and_restores_the_thresholds(
    write: Write, checked: Callable[[], tuple[int, str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Large enough that Python's default thresholds collect the oldest generation.
    write("site.yml", "- hosts: all\n  gather_facts: false\n  roles:\n    - big\n")
    write("roles/big/tasks/main.yml", "".join(_ROLE_TASKS.format(n=n) for n in range(3000)))
    collections: list[int] = []
    real = check_command.build_report

    def watched(*args: Any) -> Any:
        def callback(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                collections.append(info["generation"])

        gc.callbacks.append(callback)
        try:
            return real(*args)
        finally:
            gc.callbacks.remove(callback)

    monkeypatch.setattr(check_command, "build_report", watched)
    before = gc.get_threshold()
    gc.collect()
    assert checked()[0] == 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    assert 2 not in collections and len(collections) < 50, collections


_SCALARS = """\
plain: [yes, No, on, OFF, ~, null, '', 12, 012, 0x1f, 1_000, 1.5e3, .inf, -.nan, 1:30, 2024-01-02]
quoted: ["yes", '12', "~"]
tagged: [!!str 12, !!int "12", !!float "1", !!bool "yes", !!null "", !!int "zz", !!str yes]
keys: {1: a, "1": b, true: c, 1.0: d}
"""


def test_the_builder_resolves_scalars_as_pyyamls_safe_loader_does() -> None:
    ours = to_python(_load(_SCALARS).root)
    theirs = yaml.safe_load(_SCALARS.replace(', !!int "zz"', ""))
    assert _typed(ours["plain"][:-1]) == _typed(theirs["plain"][:-1])
    assert ours["plain"][-1] == "2024-01-02"  # timestamps stay text
    assert _typed(ours["quoted"]) == _typed(theirs["quoted"])
    # Text its tag cannot build stays text (`!!int "zz"` once raised a traceback).
    assert _typed(ours["tagged"]) == _typed(["12", 12, 1.0, True, None, "zz", "yes"])
    assert _typed(theirs["tagged"]) == _typed(["12", 12, 1.0, True, None, "yes"])
    # 1, "1", true and 1.0 are four different keys, as in ansible
    assert not _load(_SCALARS).diagnostics


def test_the_same_text_is_data_only_where_it_is_unsafe() -> None:
    text = (
        "a: '{{ x }}'\nb: !unsafe '{{ x }}'\nc: '{{ x }}'\n"
        "d: !unsafe {k: plain, n: 3, m: [yes, '{{ x }}']}\ne: plain\n"
    )
    data = to_python(_load(text).root)
    assert type(data["a"]) is str and type(data["c"]) is str and type(data["e"]) is str
    assert type(data["b"]) is UnsafeText
    assert type(data["d"]["k"]) is UnsafeText and data["d"]["n"] == 3
    assert data["d"]["m"][0] is True and type(data["d"]["m"][1]) is UnsafeText


def test_non_ascii_sources_keep_byte_offsets() -> None:
    document = _load("- name: é\n  debug: {msg: ok}\n")
    root = document.root
    assert root is not None and not document.diagnostics
    (task,) = to_python(root)
    assert task == {"name": "é", "debug": {"msg": "ok"}}
    debug = root.items[0].entries[1]  # type: ignore[union-attr]
    assert (debug.key.span.start, debug.key.span.line, debug.key.span.column) == (13, 2, 3)


def _load(text: str) -> Any:
    return load_text(SourceText("t.yml", text))


def _typed(values: list[Any]) -> list[tuple[str, Any]]:
    # nan != nan: compared by its text
    return [(type(v).__name__, repr(v)) for v in values]


def test_the_bench_project_shape_compiles_cleanly(write: Write, tmp_path: Path) -> None:
    """The generated project the incremental bench times is a valid one (no load errors)."""
    import importlib.util
    import sys

    bench = Path(__file__).resolve().parent.parent / "bench"
    sys.path.insert(0, str(bench))
    try:
        spec = importlib.util.spec_from_file_location(
            "check_incremental", bench / "check_incremental.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        site = module.project(tmp_path / "p", 2, 10)
    finally:
        sys.path.remove(str(bench))
    compiled = cache.compile_cached(str(site), CompileOptions(), use_cache=False)
    assert not [d for d in compiled.diagnostics if d.severity.value == "error"]
    assert sum(1 for _ in compiled.graph.nodes()) == 20
