"""The command line as users meet it: real processes, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES

Write = Callable[[str, str | bytes], str]
LOCATION = re.compile(r"^\S+:\d+:\d+: \S+: ", re.MULTILINE)


def playgraph(
    *args: str, cwd: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "playgraph", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


BAD_INPUTS: dict[str, bytes] = {
    "binary.yml": bytes(range(256)),
    "empty.yml": b"",
    "scalar.yml": b"just a string\n",
    "tabs.yml": b"- hosts: all\n  tasks:\n\t- ping:\n",
    "unbalanced.yml": b"- hosts: all\n  tasks:\n    - debug:\n        msg: '{{ oops'\n",
    "deep.yml": b"- hosts: all\n  vars:\n    x: " + b"[" * 3000 + b"]" * 3000 + b"\n",
    "deep_block.yml": "".join("  " * i + "- \n" for i in range(3000)).encode(),
    "duplicate.yml": b"- hosts: all\n  tasks: []\n  tasks: []\n",
    "latin1.yml": "- hosts: all\n  name: caf\xe9\n".encode("latin-1"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_exits_nonzero_with_a_location_and_no_traceback(write: Write, name: str) -> None:
    path = write(name, BAD_INPUTS[name])
    for command in (["check", path], ["compile", path]):
        result = playgraph(*command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        output = result.stdout + result.stderr
        assert "Traceback" not in output
        assert LOCATION.search(output), output


def test_missing_file(tmp_path: Path) -> None:
    result = playgraph("check", str(tmp_path / "nope.yml"))
    assert result.returncode == 2
    assert "load-failure[not-found]" in result.stdout and "Traceback" not in result.stderr


def test_check_reports_every_file_in_one_run(write: Write) -> None:
    a = write("a.yml", "- hosts: all\n  remove_user: x\n")
    b = write("b.yml", "- hosts: all\n  tasks:\n    - comand: ls\n")
    result = playgraph("check", a, b)
    assert result.returncode == 2
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == [a, b]


def test_seed_acceptance() -> None:
    result = playgraph("check", "examples/seed.yml", cwd=str(EXAMPLES.parent))
    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        "examples/seed.yml:4:3: schema[unknown-keyword]: 'remove_user' is not a valid keyword "
        "for a play; did you mean `remote_user`?",
        "examples/seed.yml:9:5: schema[unknown-module]: couldn't resolve module/action "
        "'ansible.buildin.command'; did you mean `ansible.builtin.command`?",
    ]
    for name in ("async_guide.yml", "yum_async.yml"):
        clean = playgraph("check", f"examples/{name}", cwd=str(EXAMPLES.parent))
        assert (clean.returncode, clean.stdout) == (0, "")


def test_compile_writes_the_plan_atomically_and_only_when_clean(
    write: Write, tmp_path: Path
) -> None:
    out = tmp_path / "plan.json"
    good = playgraph("compile", str(EXAMPLES / "yum_async.yml"), "-o", str(out))
    assert good.returncode == 0 and json.loads(out.read_text())["version"] == 1
    before = out.read_text()
    bad = playgraph("compile", str(EXAMPLES / "seed.yml"), "-o", str(out))
    assert bad.returncode == 2 and "not writing a plan" in bad.stderr
    assert out.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # no temporary left behind


def test_output_to_a_device_or_pipe_is_written_in_place(tmp_path: Path) -> None:
    """`-o /dev/null` once renamed a regular file over /dev/null (as root): a path that is
    not a regular file is written through, and stays what it was."""
    import os
    import stat
    import threading

    fifo = tmp_path / "plan.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = playgraph("compile", str(EXAMPLES / "yum_async.yml"), "-o", str(fifo))
    reader.join(timeout=60)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert json.loads(received[0])["version"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.fifo"]


@pytest.mark.parametrize("fmt", ["dot", "mermaid"])
def test_compile_pictures(fmt: str) -> None:
    result = playgraph("compile", str(EXAMPLES / "yum_async.yml"), "--format", fmt)
    assert result.returncode == 0 and "sync" in result.stdout


def test_bad_options_exit_5() -> None:
    assert playgraph("compile").returncode == 5
    assert playgraph("check", "x.yml", "--format", "nope").returncode == 5
    assert playgraph("compile", "x.yml", "--poll-default", "-1").returncode == 5


def test_unwritable_output_is_one_line(tmp_path: Path) -> None:
    result = playgraph(
        "compile", str(EXAMPLES / "yum_async.yml"), "-o", str(tmp_path / "no" / "dir" / "p.json")
    )
    assert (
        result.returncode == 5
        and "cannot write" in result.stderr
        and "Traceback" not in result.stderr
    )


@pytest.mark.parametrize("command", ["run", "adhoc", "jobs"])
def test_bad_extra_vars_name_their_place_and_exit_1(write: Write, command: str) -> None:
    playbook = write("play.yml", "- hosts: localhost\n  gather_facts: false\n  tasks: []\n")
    write("bad.yml", "a: 1\nb: [\n")
    head = {"run": ["run", playbook], "adhoc": ["adhoc", "localhost", "-a", "true"]}
    argv = head.get(command, ["jobs", "list"])
    folder = os.path.dirname(playbook)
    inline = playgraph(*argv, "-e", "{a: [", cwd=folder)
    assert inline.returncode == 1, inline.stderr
    assert "playgraph: error: -e '{a: [':1:6: invalid YAML/JSON in extra vars" in inline.stderr
    from_file = playgraph(*argv, "-e", "@bad.yml", cwd=folder)
    assert from_file.returncode == 1
    assert "./bad.yml:3:1: invalid YAML/JSON in extra vars" in from_file.stderr
    missing = playgraph(*argv, "-e", "@nowhere.yml", cwd=folder)
    assert missing.returncode == 1
    assert "cannot read ./nowhere.yml: No such file or directory" in missing.stderr
    for result in (inline, from_file, missing):
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr


# --------------------------------------------------------------------------- the package


def test_the_cli_has_one_error_type_for_expected_failures() -> None:
    """Every failure the user can fix is a `CliError` (a `PlaygraphError`) that carries its
    exit code; no command defines its own (there once were UsageError, RunSetupError and
    SetupError, each caught in its own place)."""
    import ast

    from playgraph.cli.errors import CliError
    from playgraph.semantics import PlaygraphError

    assert issubclass(CliError, PlaygraphError)
    package = Path(__file__).resolve().parents[1] / "playgraph" / "cli"
    defined = {
        f"{path.stem}.{node.name}"
        for path in sorted(package.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
        and any(
            isinstance(base, ast.Name) and base.id.endswith(("Error", "Exception"))
            for base in node.bases
        )
    }
    # `Interrupted` is a signal (a BaseException, as KeyboardInterrupt), not an error.
    assert defined == {"errors.CliError", "interrupts.Interrupted"}, defined
    assert CliError.usage("x").exit_code == 5 and CliError.setup("x").exit_code == 1


def test_importing_the_cli_starts_no_event_loop_machinery() -> None:
    """``check`` and ``compile`` stay fast to start: the CLI imports asyncio, asyncssh and
    the parsers only where a command needs them."""
    probe = (
        "import sys, playgraph.cli\n"
        "playgraph.cli.build_parser()\n"
        "print(sorted(m for m in ('asyncio', 'asyncssh', 'lark', 'jinja2') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout
