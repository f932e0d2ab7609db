"""``pause`` on a real pseudo-terminal, as ansible-core's pause: Enter continues and is
recorded, Ctrl+C then C continues early, Ctrl+C then A aborts; without a terminal a
prompt does not wait (ansible-core's warning) and a timed pause sleeps."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PLAYGRAPH = [sys.executable, "-m", "playgraph"]
INVENTORY = "h1 ansible_connection=local\nh2 ansible_connection=local\n"


class Terminal:
    """playgraph running on the slave side of a pseudo-terminal we type into."""

    def __init__(self, argv: list[str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(argv[0], argv)
        self.seen = b""
        self.status: int | None = None

    def expect(self, wanted: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while wanted.encode() not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {wanted!r} in {self.seen.decode(errors='replace')}")
            if not self._read(left):
                raise AssertionError(f"ended without {wanted!r}: {self.seen!r}")

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:
            return False
        self.seen += chunk
        return bool(chunk)

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def wait(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                while self._read(0.05) and self.seen:  # what is left in the pty
                    ready, _, _ = select.select([self.fd], [], [], 0)
                    if not ready:
                        break
                self.status = os.waitstatus_to_exitcode(status)
                return self.status
            self._read(0.05)
        raise AssertionError(f"still running: {self.seen!r}")

    def text(self) -> str:
        return self.seen.decode(errors="replace").replace("\r\n", "\n")

    def close(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(self.fd)


def _run(tmp_path: Path, tasks: str, *extra: str) -> Terminal:
    (tmp_path / "inv").write_text(INVENTORY)
    book = tmp_path / "pause.yml"
    book.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n" + tasks)
    return Terminal([*PLAYGRAPH, "run", "-i", str(tmp_path / "inv"), str(book), *extra])


@pytest.fixture
def terminal_runs() -> Iterator[list[Terminal]]:
    runs: list[Terminal] = []
    yield runs
    for run in runs:
        run.close()


@pytest.mark.e2e
def test_enter_continues_and_records_what_was_typed(
    tmp_path: Path, terminal_runs: list[Terminal]
) -> None:
    run = _run(
        tmp_path,
        """\
    - name: ask
      pause:
        prompt: Type something
      register: answer
    - debug:
        msg: "input=<{{ answer.user_input }}> {{ answer.stdout }}"
""",
    )
    terminal_runs.append(run)
    run.expect("[ask]\r\nType something:")
    time.sleep(0.3)
    assert "ok: [h1]" not in run.text(), "the pause did not wait"
    run.type(b"hello\r")
    assert run.wait() == 0, run.text()
    assert re.search(r"input=<hello> Paused for \d+\.\d+ minutes", run.text()), run.text()


@pytest.mark.e2e
def test_echo_false_hides_what_is_typed(tmp_path: Path, terminal_runs: list[Terminal]) -> None:
    run = _run(
        tmp_path,
        """\
    - name: secret
      pause:
        prompt: Token
        echo: false
      register: answer
    - debug:
        msg: "got={{ answer.user_input }} echo={{ answer.echo }}"
""",
    )
    terminal_runs.append(run)
    run.expect("Token (output is hidden):")
    run.type(b"s3cr3tX")
    time.sleep(0.3)
    run.type(b"\r")
    assert run.wait() == 0, run.text()
    assert "got=s3cr3tX echo=False" in run.text()
    prompted = run.text().split("TASK [debug]")[0]
    assert "s3cr3tX" not in prompted, "the typed text was echoed"


@pytest.mark.e2e
def test_ctrl_c_then_c_ends_a_timed_pause_early(
    tmp_path: Path, terminal_runs: list[Terminal]
) -> None:
    run = _run(
        tmp_path,
        """\
    - name: wait a while
      pause:
        seconds: 30
      register: waited
    - debug:
        msg: "{{ waited.stdout }} input=<{{ waited.user_input }}>"
""",
    )
    terminal_runs.append(run)
    run.expect("Pausing for 30 seconds")
    run.expect("(ctrl+C then 'C' = continue early, ctrl+C then 'A' = abort)")
    started = time.monotonic()
    time.sleep(0.3)
    run.type(b"\r")  # Enter does not end a timed pause
    time.sleep(0.3)
    assert "ok: [h1]" not in run.text()
    run.type(b"\x03")
    run.expect("Press 'C' to continue the play or 'A' to abort")
    run.type(b"c")
    assert run.wait() == 0, run.text()
    assert time.monotonic() - started < 10
    assert re.search(r"Paused for \d\.\d+ seconds input=<>", run.text()), run.text()


@pytest.mark.e2e
def test_ctrl_c_then_a_aborts_the_play(tmp_path: Path, terminal_runs: list[Terminal]) -> None:
    run = _run(
        tmp_path,
        """\
    - name: before
      command: "true"
    - name: wait a while
      pause:
        minutes: 5
    - name: after
      command: "true"
""",
    )
    terminal_runs.append(run)
    run.expect("Pausing for 300 seconds")
    run.expect("abort)")
    run.type(b"\x03")
    run.expect("Press 'C' to continue the play or 'A' to abort")
    run.type(b"a")
    assert run.wait() == 2, run.text()
    text = run.text()
    assert re.search(
        r'fatal: \[h1\]: FAILED! => \{.*"msg": "Task failed: user requested abort!"', text
    )
    assert "TASK [after]" not in text
    # The terminal is back to normal (cooked, echo, signals) after the raw prompt.
    mode = termios.tcgetattr(run.fd)
    assert mode[3] & termios.ECHO and mode[3] & termios.ICANON and mode[3] & termios.ISIG


@pytest.mark.e2e
def test_sigterm_during_a_prompt_restores_the_terminal(
    tmp_path: Path, terminal_runs: list[Terminal]
) -> None:
    run = _run(tmp_path, "    - pause:\n        prompt: Waiting\n")
    terminal_runs.append(run)
    run.expect("Waiting:")
    time.sleep(0.3)
    assert not termios.tcgetattr(run.fd)[3] & termios.ICANON  # raw while it asks
    os.kill(run.pid, signal.SIGTERM)
    assert run.wait() == 143, run.text()
    mode = termios.tcgetattr(run.fd)
    assert mode[3] & termios.ECHO and mode[3] & termios.ICANON and mode[3] & termios.ISIG
    assert "PLAY RECAP" in run.text()


@pytest.mark.e2e
def test_without_a_terminal_a_timed_pause_sleeps_and_a_prompt_fails(tmp_path: Path) -> None:
    """A deliberate difference: ansible-core skips a prompt it cannot show (a warning, and
    the play goes on); a confirmation nobody could give must not count as given."""
    (tmp_path / "inv").write_text(INVENTORY)
    book = tmp_path / "pause.yml"
    book.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: timed\n      pause:\n        seconds: 0\n"
        "    - name: ask\n      pause:\n        prompt: Wipe the cluster?\n"
        "    - name: after\n      debug: {msg: never}\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        [*PLAYGRAPH, "run", "-i", str(tmp_path / "inv"), str(book), "--json"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    took = time.monotonic() - started
    document = json.loads(done.stdout)
    tasks = document["plays"][0]["tasks"]
    assert [task["task"]["name"] for task in tasks] == ["timed", "ask"]
    asked = tasks[1]["hosts"]["h1"]
    assert asked["failed"] is True
    assert "stdin is not a terminal" in asked["msg"]
    assert document["stats"]["h1"]["failures"] == 1
    # As ansible-core: a pause of less than a second pauses for one.
    timed = tasks[0]["hosts"]["h1"]
    assert re.fullmatch(r"Paused for 1\.\d+ seconds", timed["stdout"]), timed
    assert took >= 1.0
    assert "Pausing for 1 seconds" in done.stderr  # prompts never land in the JSON


@pytest.mark.e2e
def test_pause_arguments_are_checked_as_ansible_core_does(tmp_path: Path) -> None:
    (tmp_path / "inv").write_text("h1 ansible_connection=local\n")
    book = tmp_path / "pause.yml"
    book.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - pause: seconds=abc\n      ignore_errors: true\n"
        "    - pause: {seconds: 1, minutes: 1}\n      ignore_errors: true\n"
    )
    done = subprocess.run(
        [*PLAYGRAPH, "run", "-i", str(tmp_path / "inv"), str(book), "--json"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    tasks = json.loads(done.stdout)["plays"][0]["tasks"]
    assert tasks[0]["hosts"]["h1"]["msg"] == (
        "argument 'seconds' is of type str and we were unable to convert to int: "
        "invalid literal for int() with base 10: 'abc'"
    )
    assert tasks[1]["hosts"]["h1"]["msg"] == "parameters are mutually exclusive: minutes|seconds"
