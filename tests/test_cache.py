"""The compile cache: reused only while nothing the compilation saw has changed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from playgraph.compiler.result import CompileOptions

from playgraph.cli.cache import compile_cached

Write = Callable[[str, str | bytes], str]


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
    for entry in (tmp_path / "cache" / "playgraph" / "compile").glob("*.json"):
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


# --------------------------------------------------------------------------- check reports


def test_check_report_is_reused_until_the_playbook_or_configuration_changes(
    write: Write,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from playgraph import cli
    from playgraph.cli import check as check_command

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PLAYGRAPH_NO_CACHE", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.chdir(tmp_path)
    checks: list[object] = []
    real = check_command.build_report

    def counting(*args: object) -> object:
        checks.append(args)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(check_command, "build_report", counting)
    launch = "- hosts: all\n  tasks:\n    - command: sleep 1\n      async: 5\n      poll: 0\n"
    write("play/site.yml", launch)

    def check(*extra: str) -> tuple[int, str, str]:
        code = cli.main(["check", "play/site.yml", *extra])
        out, err = capsys.readouterr()
        return code, out, err

    first = check()
    assert first[0] == 0 and "async-unjoined" in first[1] and "1 warning(s)" in first[2]
    assert check() == first and len(checks) == 1

    # A configuration appearing where check looks (the playbook's folder) is seen.
    write("play/.playgraph.yml", "skip_list: [async-unjoined]\n")
    assert check() == (0, "", "") and len(checks) == 2
    assert check() == (0, "", "") and len(checks) == 2
    write("play/.playgraph.yml", "skip_list: []\n")
    assert check() == first and len(checks) == 3

    # The playbook changing; another output format; --no-cache; an inventory.
    write("play/site.yml", launch.replace("poll: 0", "poll: 0\n      register: job"))
    assert "no async_status reads 'job'" in check()[1] and len(checks) == 4
    assert check("-f", "codeclimate")[1].startswith("[") and len(checks) == 5
    check("--no-cache")
    assert len(checks) == 6
    write("hosts.ini", "localhost\n")
    check("-i", "hosts.ini")
    check("-i", "hosts.ini")
    assert len(checks) == 8


def test_a_change_to_the_shared_semantics_invalidates_compiled_entries() -> None:
    """The compiler reads booleans and templates through `playgraph.semantics`: a cached
    result compiled under an older copy of it must not be reused."""
    import playgraph.semantics
    from playgraph.cli import cache

    path = Path(str(playgraph.semantics.__file__))
    before = path.stat()
    cache._code_fingerprint.cache_clear()
    try:
        first = cache._code_fingerprint()
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        cache._code_fingerprint.cache_clear()
        assert cache._code_fingerprint() != first
    finally:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        cache._code_fingerprint.cache_clear()
