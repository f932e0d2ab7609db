"""`playgraph check` after an edit reuses the task files that did not change, and says
exactly what a check from scratch says (findings, their order and their spans)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playgraph.compiler import context
from playgraph.compiler.lower import sources as sources_module

from playgraph import cli
from playgraph.cli import cache

Check = Callable[..., str]

_LAUNCH = (
    "- name: launch {n}\n  ansible.builtin.command: sleep 1\n  async: 30\n  poll: 0\n"
    "  register: {var}\n"
)
_JOIN = (
    '- name: wait {n}\n  ansible.builtin.async_status:\n    jid: "{{{{ {var}.ansible_job_id }}}}"\n'
    "  register: done{n}\n  until: done{n}.finished\n  retries: 30\n  delay: 1\n"
)
_PING = "- name: ping {n}\n  ansible.builtin.ping:\n"
_UNKNOWN = "- name: foreign {n}\n  community.nothere.thing:\n    x: 1\n"
_TYPO = "- name: typo {n}\n  ansible.builtin.ping:\n  ignore_erors: true\n"
_WHEN = "- name: cond {n}\n  ansible.builtin.debug:\n    msg: hi\n  when: x ==\n"


@pytest.fixture
def project(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[tuple[Path, Check, list[str]]]:
    """(folder, check, files parsed): ``check(*flags)`` runs ``playgraph check site.yml``
    in the folder and returns what it printed (stdout, then stderr)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PLAYGRAPH_NO_CACHE", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    folder = tmp_path / "p"
    folder.mkdir()
    monkeypatch.chdir(folder)
    parsed: list[str] = []
    real_file, real_bytes = sources_module.load_file, sources_module.load_bytes

    def load_file(path: str) -> object:
        parsed.append(path)
        return real_file(path)

    def load_bytes(path: str, data: bytes) -> object:
        parsed.append(path)
        return real_bytes(path, data)

    monkeypatch.setattr(sources_module, "load_file", load_file)
    monkeypatch.setattr(sources_module, "load_bytes", load_bytes)

    def check(*flags: str) -> str:
        code = cli.main(["check", *flags, "site.yml"])
        out, err = capsys.readouterr()
        return f"{out}{err}exit {code}\n"

    yield folder, check, parsed


def _write(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _roles(folder: Path, bodies: list[str]) -> None:
    lines = ["- hosts: all", "  gather_facts: false", "  roles:"]
    lines += [f"    - r{n}" for n in range(len(bodies))]
    _write(folder, "site.yml", "\n".join(lines) + "\n")
    for n, body in enumerate(bodies):
        _write(folder, f"roles/r{n}/tasks/main.yml", body)


def _same_as_cold(check: Check) -> str:
    """The incremental check's report, after asserting it equals a cold one (both formats)."""
    incremental = check()
    assert incremental == check("--no-cache")
    assert check("-f", "json") == check("--no-cache", "-f", "json")
    return incremental


def test_editing_one_task_file_parses_only_it_and_reports_as_a_cold_check(
    project: tuple[Path, Check, list[str]],
) -> None:
    folder, check, parsed = project
    _roles(
        folder,
        [
            _LAUNCH.format(n=0, var="job0") + _TYPO.format(n=0),
            _PING.format(n=1) + _WHEN.format(n=1),
            _JOIN.format(n=2, var="job0") + _UNKNOWN.format(n=2),
        ],
    )
    first = check()
    assert "ignore_erors" in first and "exit 2" in first
    parsed.clear()
    with open(folder / "roles/r1/tasks/main.yml", "a") as handle:
        handle.write(_PING.format(n=9))
    report = check()
    # site.yml (the play is lowered every time) and the edited file; not r0 nor r2.
    assert sorted(parsed) == ["roles/r1/tasks/main.yml", "site.yml"]
    assert report == first  # the new task has no finding
    assert report == check("--no-cache")


def test_a_join_in_an_unchanged_file_sees_the_launch_it_waits_on_change(
    project: tuple[Path, Check, list[str]],
) -> None:
    folder, check, _ = project
    _roles(folder, [_LAUNCH.format(n=0, var="job0"), _JOIN.format(n=1, var="job0")])
    clean = _same_as_cold(check)
    # The launch now registers another name: the join in r1 (unchanged) waits on nothing.
    _write(folder, "roles/r0/tasks/main.yml", _LAUNCH.format(n=0, var="other"))
    changed = _same_as_cold(check)
    assert changed != clean
    _write(folder, "roles/r0/tasks/main.yml", _LAUNCH.format(n=0, var="job0"))
    assert _same_as_cold(check) == clean


def test_a_finding_said_once_moves_to_the_next_file_when_the_first_loses_it(
    project: tuple[Path, Check, list[str]],
) -> None:
    folder, check, _ = project
    _roles(folder, [_UNKNOWN.format(n=0), _UNKNOWN.format(n=1)])
    before = _same_as_cold(check)
    assert "roles/r0/tasks/main.yml" in before and "roles/r1/tasks/main.yml" not in before
    _write(folder, "roles/r0/tasks/main.yml", _PING.format(n=0))
    after = _same_as_cold(check)
    assert "roles/r1/tasks/main.yml" in after


def test_renamed_deleted_and_newly_imported_files(
    project: tuple[Path, Check, list[str]],
) -> None:
    folder, check, _ = project
    _roles(folder, [_PING.format(n=0), _TYPO.format(n=1), _PING.format(n=2)])
    _same_as_cold(check)
    # A role folder renamed: the play's role is missing now.
    shutil.move(folder / "roles/r1", folder / "roles/moved")
    assert "r1" in _same_as_cold(check)
    shutil.move(folder / "roles/moved", folder / "roles/r1")
    _same_as_cold(check)
    # A task file deleted.
    os.remove(folder / "roles/r2/tasks/main.yml")
    _same_as_cold(check)
    # A file imported from one that was reused so far.
    _write(folder, "roles/r2/tasks/main.yml", _PING.format(n=2))
    _write(folder, "roles/r0/tasks/extra.yml", _WHEN.format(n=7))
    _same_as_cold(check)
    _write(
        folder,
        "roles/r0/tasks/main.yml",
        _PING.format(n=0) + "- ansible.builtin.import_tasks: extra.yml\n",
    )
    assert "extra.yml" in _same_as_cold(check)
    _write(folder, "roles/r0/tasks/extra.yml", _PING.format(n=7))
    assert "extra.yml" not in _same_as_cold(check)


def test_a_settings_change_is_seen(
    project: tuple[Path, Check, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # ansible.cfg and ANSIBLE_* reach the compiler as one value (ResolveSettings); the
    # variable stands for both here (the settings are read once per process).
    folder, check, _ = project
    _roles(folder, ["- name: mine\n  my_module:\n    a: 1\n", _PING.format(n=1)])
    assert "my_module" in _same_as_cold(check)
    _write(folder, "mods/my_module.py", "print('hi')\n")
    monkeypatch.setenv("ANSIBLE_LIBRARY", str(folder / "nowhere"))
    assert "my_module" in _same_as_cold(check)
    monkeypatch.setenv("ANSIBLE_LIBRARY", str(folder / "mods"))
    assert "my_module" not in _same_as_cold(check)
    monkeypatch.delenv("ANSIBLE_LIBRARY")
    assert "my_module" in _same_as_cold(check)


def test_a_damaged_cache_is_ignored(project: tuple[Path, Check, list[str]]) -> None:
    folder, check, _ = project
    _roles(folder, [_TYPO.format(n=0), _JOIN.format(n=1, var="nothing"), _PING.format(n=2)])
    cold = _same_as_cold(check)
    stored = list(Path(cache.cache_dir("fragments")).glob("*.json"))
    assert len(stored) >= 3
    for n, path in enumerate(stored):
        data = path.read_bytes()
        # Truncated, not JSON, and a stranger value of the right format.
        path.write_bytes([data[: len(data) // 2], b"\x00garbage", b'{}\n["t",1,2]'][n % 3])
    with open(folder / "roles/r2/tasks/main.yml", "a") as handle:
        handle.write("# edited\n")
    assert _same_as_cold(check) == cold


_EDITS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2),
        st.sampled_from(["launch", "launch2", "join", "join2", "ping", "unknown", "typo", "when"]),
        st.booleans(),
    ),
    min_size=1,
    max_size=5,
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edits=_EDITS)
def test_any_sequence_of_edits_reports_as_a_cold_check(
    project: tuple[Path, Check, list[str]], edits: list[tuple[int, str, bool]]
) -> None:
    folder, check, _ = project
    shutil.rmtree(folder / "roles", ignore_errors=True)
    bodies = [_LAUNCH.format(n=0, var="job0"), _JOIN.format(n=1, var="job0"), _PING.format(n=2)]
    _roles(folder, bodies)
    check()
    snippets = {
        "launch": _LAUNCH.format(n=5, var="job0"),
        "launch2": _LAUNCH.format(n=6, var="job1"),
        "join": _JOIN.format(n=7, var="job0"),
        "join2": _JOIN.format(n=8, var="job1"),
        "ping": _PING.format(n=9),
        "unknown": _UNKNOWN.format(n=10),
        "typo": _TYPO.format(n=11),
        "when": _WHEN.format(n=12),
    }
    for role, what, replace in edits:
        bodies[role] = snippets[what] if replace else bodies[role] + snippets[what]
        _write(folder, f"roles/r{role}/tasks/main.yml", bodies[role])
        _same_as_cold(check)


def test_a_re_check_whose_texts_are_known_imports_no_parser(
    project: tuple[Path, Check, list[str]],
) -> None:
    folder, check, _ = project
    _roles(
        folder, [_LAUNCH.format(n=0, var="job0"), _JOIN.format(n=1, var="job0") + _TYPO.format(n=1)]
    )
    check()
    with open(folder / "roles/r1/tasks/main.yml", "a") as handle:
        handle.write("# edited\n")
    # A new process, as a user's next check is: lark and Jinja stay unimported (a text
    # with a syntax error would need them, for its message).
    script = (
        "import sys\nfrom playgraph import cli\ncode = cli.main(['check', 'site.yml'])\n"
        "print(code, sorted({m.split('.')[0] for m in sys.modules} & {'lark', 'jinja2'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.stdout.splitlines()[-1] == "2 []", result.stdout + result.stderr
    assert check() == check("--no-cache")


def test_damaged_or_foreign_known_texts_are_ignored(
    project: tuple[Path, Check, list[str]],
) -> None:
    folder, check, _ = project
    _roles(folder, [_JOIN.format(n=0, var="job9") + _WHEN.format(n=0), _PING.format(n=1)])
    cold = check("--no-cache")
    assert check() == cold
    (entry,) = Path(cache.cache_dir("texts")).glob("*.json")
    entry.write_bytes(b'{}\n["l",["t","t","{{ job9.ansible_job_id }}",false,["t",["t",1]]]]')
    cache.load_texts.cache_clear()
    context.analyze_text.cache_clear()
    with open(folder / "roles/r0/tasks/main.yml", "a") as handle:
        handle.write("# edited\n")
    assert check() == check("--no-cache")
    entry.write_bytes(b"\x00 not json")
    cache.load_texts.cache_clear()
    with open(folder / "roles/r0/tasks/main.yml", "a") as handle:
        handle.write("# edited again\n")
    assert check() == check("--no-cache")
