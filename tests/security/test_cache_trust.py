"""The on-disk caches hold data, never code, and are read only when no other user could write them.

A planted pickle must not run; a well-formed entry owned by another user, or in a
folder others can write, is ignored (and not written into); none of it crashes.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from playgraph.compiler.result import CompileOptions

from playgraph.cli import cache
from playgraph.cli.cache import compile_cached

Write = Callable[[str, str | bytes], str]
FOREIGN_USER = "pgtest_cache"
PLAYBOOK = "- hosts: all\n  tasks:\n    - ping:\n"


def foreign_uid() -> int:
    """A real other user (created once; CI runs the tests as root)."""
    found = subprocess.run(["id", "-u", FOREIGN_USER], capture_output=True, text=True)
    if found.returncode != 0:
        subprocess.run(
            ["useradd", "--no-create-home", "-s", "/usr/sbin/nologin", FOREIGN_USER],
            check=True,
            capture_output=True,
        )
        found = subprocess.run(["id", "-u", FOREIGN_USER], capture_output=True, text=True)
    return int(found.stdout)


class _Planted:
    """A pickle that, if ever loaded, creates ``marker`` (what an attacker's would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


def planted_pickle(marker: Path) -> bytes:
    return pickle.dumps(_Planted(marker))


def test_a_planted_pickle_in_the_compile_cache_never_runs(
    write: Write, counted: list[str], tmp_path: Path
) -> None:
    path = write("site.yml", PLAYBOOK)
    marker = tmp_path / "pwned"
    key = cache._key(path, CompileOptions())
    folder = tmp_path / "cache" / "playgraph" / "compile"
    folder.mkdir(parents=True, mode=0o700)
    for name in (f"{key}.pickle", f"{key}.json"):  # the old name and the new one
        (folder / name).write_bytes(planted_pickle(marker))
        (folder / name).chmod(0o600)
    assert compile_cached(path, CompileOptions()).diagnostics == ()
    assert not marker.exists() and len(counted) == 1
    # The miss was replaced by a good entry, which is used.
    compile_cached(path, CompileOptions())
    assert len(counted) == 1


@pytest.mark.parametrize("how", ["foreign file", "group-writable file", "world-writable folder"])
def test_an_entry_another_user_could_have_written_is_ignored(
    write: Write, counted: list[str], tmp_path: Path, how: str
) -> None:
    path = write("site.yml", PLAYBOOK)
    compile_cached(path, CompileOptions())
    (entry,) = (tmp_path / "cache" / "playgraph" / "compile").glob("*.json")
    if how == "foreign file":
        os.chown(entry, foreign_uid(), -1)
    elif how == "group-writable file":
        entry.chmod(0o620)
    else:
        entry.parent.chmod(0o777)
    before = entry.stat()
    compile_cached(path, CompileOptions())
    assert len(counted) == 2  # not read: compiled again
    if how == "world-writable folder":
        # Nothing is written into a folder others can change; every run compiles.
        compile_cached(path, CompileOptions())
        assert len(counted) == 3
        after = entry.stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    else:
        # Our own folder: the entry is replaced by one of ours, which is then used.
        assert entry.stat().st_uid == os.geteuid() and entry.stat().st_mode & 0o077 == 0
        compile_cached(path, CompileOptions())
        assert len(counted) == 2


def test_a_forged_check_report_owned_by_another_user_is_not_shown(
    write: Write,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from playgraph import cli

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PLAYGRAPH_NO_CACHE", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.chdir(tmp_path)
    write(
        "site.yml",
        "- hosts: all\n  tasks:\n    - command: sleep 1\n      async: 5\n      poll: 0\n",
    )
    assert cli.main(["check", "site.yml"]) == 0
    first = capsys.readouterr()
    assert "async-unjoined" in first.out
    (report,) = (tmp_path / "cache" / "playgraph" / "check").glob("*.json")
    forged = report.read_bytes().replace(b"async-unjoined", b"all-is-well!!!")
    report.write_bytes(forged)
    os.chown(report, foreign_uid(), -1)
    assert cli.main(["check", "site.yml"]) == 0
    assert capsys.readouterr().out == first.out


def _parse_in_child(cache_home: Path) -> subprocess.CompletedProcess[str]:
    # As with a lark whose tables the package does not ship: the user cache is used.
    # (A slice and a quoted value: shapes the hand-written fast paths leave to lark.)
    code = (
        "from playgraph.grammar import loading\n"
        "loading._shipped = lambda grammar, key: None\n"
        "from playgraph.grammar.expr import parse_expression\n"
        "from playgraph.grammar.args import parse_args\n"
        "print(parse_expression('x[1:2] | default(1)').end,"
        " len(parse_args('x=\"1 2\" y=2', raw_params=False).params))\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home), "PLAYGRAPH_DEBUG": "1"}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_parse_table_cache_is_data_and_must_be_ours(tmp_path: Path) -> None:
    home = tmp_path / "cache"
    first = _parse_in_child(home)
    assert first.returncode == 0 and first.stdout == "19 2\n", first.stderr
    tables = sorted((home / "playgraph").glob("*.lark-*"))
    assert {p.suffix for p in tables} == {".json"} and tables
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in tables)

    # Warm: read back from the cache, no rebuild, nothing said.
    again = _parse_in_child(home)
    assert again.stdout == "19 2\n" and again.stderr == ""

    # A planted pickle, under the name lark's own format had and under ours: never run.
    marker = tmp_path / "pwned"
    for table in tables:
        for target in (table, table.with_suffix(".lark")):
            target.write_bytes(planted_pickle(marker))
            target.chmod(0o600)
    planted = _parse_in_child(home)
    assert planted.returncode == 0 and planted.stdout == "19 2\n", planted.stderr
    assert not marker.exists()

    # Good tables owned by another user, or in a folder others may write: ignored, with a
    # debug note, and the parser is built instead.
    for table in tables:
        table.unlink()
    _parse_in_child(home)
    for table in tables:
        os.chown(table, foreign_uid(), -1)
    foreign = _parse_in_child(home)
    assert foreign.stdout == "19 2\n" and "owned by uid" in foreign.stderr
    for table in tables:
        os.chown(table, os.geteuid(), -1)
    (home / "playgraph").chmod(0o777)
    shared = _parse_in_child(home)
    assert shared.stdout == "19 2\n" and "writable by group or others" in shared.stderr


def test_unusable_cache_places_never_crash(tmp_path: Path) -> None:
    home = tmp_path / "cache"
    (home / "playgraph").mkdir(parents=True)
    # Folders where the cache files should be, and a fifo: a miss, never a hang or a crash.
    result = _parse_in_child(home)
    for table in (home / "playgraph").glob("*.json"):
        table.unlink()
        os.mkfifo(table)
    result = _parse_in_child(home)
    assert result.returncode == 0 and result.stdout == "19 2\n", result.stderr
    assert "not a regular file" in result.stderr
