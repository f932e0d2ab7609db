"""What local and SSH connections share (`connection.posix`): sudo's conversation, command lines."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from playgraph.runtime.connection.posix import BecomeTalk, converse, wrap_become
from playgraph.runtime.jobspec import Become


class _Pipes:
    """Scripted streams: chunks to read, what was written."""

    def __init__(self, stdout: list[bytes], stderr: list[bytes]) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.written: list[bytes] = []
        self.ended = False
        self.gave_up = False

    async def read_stdout(self) -> bytes:
        while not self.written:  # as sudo: the command's output comes after the password
            await asyncio.sleep(0)
        return self.stdout.pop(0) if self.stdout else b""

    async def read_stderr(self) -> bytes:
        return self.stderr.pop(0) if self.stderr else b""

    async def write_stdin(self, data: bytes) -> None:
        await asyncio.sleep(0)
        self.written.append(data)

    def end_stdin(self) -> None:
        self.ended = True

    def give_up(self) -> None:
        self.gave_up = True

    async def wait_closed(self) -> None:
        return None


def test_wrap_become_moves_env_inside_sudo_and_marks_the_start() -> None:
    line = wrap_become(
        ["id"], {"A": "1"}, Become(user="app", password="pw"), nonce="n", connection="ssh"
    )
    assert line.env is None and line.marker == b"PLAYGRAPH-BECOME-n"
    assert line.argv[:7] == ["sudo", "-H", "-S", "-p", "[playgraph sudo n] password:", "-u", "app"]
    assert line.argv[-3:] == ["env", "A=1", "id"]
    plain = wrap_become(["id"], {"A": "1"}, None, nonce="n", connection="ssh")
    assert (plain.argv, plain.env, plain.marker) == (["id"], {"A": "1"}, None)


def test_password_is_answered_once_and_the_marker_is_cut() -> None:
    line = wrap_become(["cat"], None, Become(password="pw"), nonce="n", connection="local")
    prompt = b"[playgraph sudo n] password:"
    pipes = _Pipes(
        stdout=[b"PLAYGRAPH-BEC", b"OME-n\nda", b"ta"],
        stderr=[b"PLAYGRAPH-PID-x 42\n" + prompt[:5], prompt[5:], b"warn\n"],
    )
    talk = line.talk(tag="PLAYGRAPH-PID-x")
    out = bytearray()
    asyncio.run(converse(pipes, talk, out, b"in"))
    assert bytes(out) == b"data" and talk.pid == 42
    assert pipes.written == [b"pw\n", b"in"] and pipes.ended and not pipes.gave_up
    assert talk.final_stderr() == b"warn\n"


def test_a_second_prompt_means_a_wrong_password() -> None:
    talk = BecomeTalk(password="pw", prompt="P:")
    assert talk.on_stderr(b"P:") == "answer"
    assert talk.on_stderr(b"Sorry.\nP:") == "give up"
    assert talk.final_stderr() == b"Sorry.\n\nincorrect sudo password"


def test_importing_the_ssh_connection_is_quiet() -> None:
    # asyncssh's import-time DSA deprecation warnings would land in every run's stderr.
    probe = subprocess.run(
        [sys.executable, "-c", "import playgraph.runtime.connection.ssh"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0 and probe.stderr == ""
