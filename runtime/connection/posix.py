"""What every connection to a POSIX target does alike, whatever carries the bytes.

The local connection talks to subprocesses, the SSH connection to channels;
both run the same command lines and read the same answers.  Here, once:

* the command line: `command_argv` (argv or a shell line) and `wrap_become`
  (``sudo … --`` in front, the environment moved inside it, a marker that
  tells where sudo's conversation ends and the command's output begins);
* sudo's conversation: `BecomeTalk` reads the command's stderr, answers sudo's
  password prompt (only when it appears), notices a wrong password, and cuts the
  marker off the command's stdout; `converse` drives it over any `Pipes`;
* the end of a command: `finish` waits with a timeout and stops it when it is up;
* files as another user: `put_file_argv`, `get_file_argv` (temp file + rename,
  ``~`` as the target user's home).

`PosixCommands` puts these together as the connection's ``run``, ``put_file``
and ``get_file``; a transport only starts a command line (`Process`).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shlex
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..jobs import JobError
from ..jobspec import Become
from .base import CommandResult

TERM_GRACE = 2.0
"""Seconds between SIGTERM and SIGKILL when a command's time is up."""
DRAIN_AFTER_KILL = 1.0
"""How long to keep reading a killed command's output (an escaped child may hold it)."""
BRIDGE_TIMEOUT = 15.0
"""Seconds for sudo (and, over SSH, the script upload) and the supervisor bridge to say hello."""
WRONG_PASSWORD = "incorrect sudo password"


def text(data: bytes) -> str:
    """A command's output as one line of an error message."""
    return data.decode(errors="replace").strip()


# --------------------------------------------------------------------------- command lines


def command_argv(
    argv: Sequence[str] | None, shell: str | None, executable: str | None
) -> list[str]:
    """The argv to run: ``argv`` itself, or ``[executable or /bin/sh, -c, shell]``."""
    if (argv is None) == (shell is None):
        raise ValueError("exactly one of argv and shell")
    if shell is not None:
        return [executable or "/bin/sh", "-c", shell]
    assert argv is not None
    if not argv:
        raise ValueError("argv must not be empty")
    return list(argv)


def sudo_argv(become: Become, *, prompt: str | None = None, connection: str = "local") -> list[str]:
    """``sudo [flags] -u USER --``: ``-n -H`` by default; ``-S -p PROMPT`` with a password.

    ``-n`` would make sudo refuse to read a password, so it is dropped then.
    """
    if become.method != "sudo":
        raise JobError(
            f"become method {become.method!r} is not supported by the {connection} connection"
        )
    flags = shlex.split(become.flags) if become.flags else ["-H"]
    if prompt is None:
        if "-n" not in flags and "--non-interactive" not in flags:
            flags = ["-n", *flags]
    else:
        flags = [f for f in flags if f not in ("-n", "--non-interactive", "-S", "--stdin")]
        flags += ["-S", "-p", prompt]
    return [become.exe or "sudo", *flags, "-u", become.user, "--"]


def sudo_prompt(password: str | None, nonce: str) -> str | None:
    """A prompt unique to one call (None without a password: sudo must not ask)."""
    return f"[playgraph sudo {nonce}] password:" if password is not None else None


@dataclass(frozen=True, slots=True)
class CommandLine:
    """A command ready to start: its argv and environment, and how to read its output."""

    argv: list[str]
    env: Mapping[str, str] | None
    """Variables the transport sets (None: inherited); under become they are inside ``argv``."""
    password: str | None = field(default=None, repr=False)
    prompt: str | None = None
    marker: bytes | None = None
    """The line printed once sudo has started the command (only with a password)."""

    def talk(self, *, tag: str | None = None) -> BecomeTalk:
        return BecomeTalk(password=self.password, prompt=self.prompt, marker=self.marker, tag=tag)


def wrap_become(
    cmd: list[str],
    env: Mapping[str, str] | None,
    become: Become | None,
    *,
    nonce: str,
    connection: str,
) -> CommandLine:
    """``cmd`` as ``become`` runs it: under sudo, with ``env`` set inside (sudo resets it)."""
    if become is None:
        return CommandLine(cmd, env)
    if env:
        cmd = ["env", *(f"{k}={v}" for k, v in env.items()), *cmd]
    password = become.password
    prompt = sudo_prompt(password, nonce)
    marker = None
    if password is not None:
        # The marker tells where sudo's conversation ends and the command begins.
        marker = f"PLAYGRAPH-BECOME-{nonce}".encode()
        cmd = ["/bin/sh", "-c", f'echo {marker.decode()}; exec "$@"', "sh", *cmd]
    cmd = [*sudo_argv(become, prompt=prompt, connection=connection), *cmd]
    return CommandLine(cmd, None, password, prompt, marker)


def new_nonce() -> str:
    return secrets.token_hex(8)


# --------------------------------------------------------------------------- sudo's conversation


class Pipes(Protocol):
    """A running command's three streams, as the local and SSH transports provide them."""

    async def read_stdout(self) -> bytes:
        """The next chunk of stdout; b"" at its end."""

    async def read_stderr(self) -> bytes:
        """The next chunk of stderr; b"" at its end."""

    async def write_stdin(self, data: bytes) -> None:
        """Write to stdin; a closed stdin is not an error (the command stopped reading)."""

    def end_stdin(self) -> None:
        """Close stdin (EOF for the command)."""

    def give_up(self) -> None:
        """The sudo password was wrong: make sudo (or the command) stop."""

    async def wait_closed(self) -> None:
        """Until the command has ended and its streams are closed."""


class BecomeTalk:
    """sudo's conversation on a command's streams, and the command's own output.

    sudo (``-S -p PROMPT``) asks on stderr and reads the password from stdin; the
    password is written only when the prompt unique to this call appears, so it
    never reaches the command's own stdin when sudo does not ask (NOPASSWD).  A
    second prompt means the password was wrong.  With a ``tag``, the first
    ``<tag> <pid>`` line on stderr is taken out and its pid kept (see
    `remote_scripts.remote_line`).
    """

    def __init__(
        self,
        *,
        password: str | None,
        prompt: str | None,
        marker: bytes | None = None,
        tag: str | None = None,
    ) -> None:
        self.password = password
        self.prompt = prompt.encode() if prompt else b""
        self.marker = marker
        self.tag = f"{tag} ".encode() if tag else b""
        self.stderr = bytearray()
        self.pid: int | None = None
        self.failure: str | None = None
        self._prompts = 0
        self.ready = asyncio.Event()
        """Set once sudo is done (or there is none): what follows belongs to the command."""

    def on_stderr(self, chunk: bytes) -> str | None:
        """Take a chunk of stderr; what to do about it: ``"answer"`` (write the password),
        ``"give up"`` (a second prompt: the password was wrong), or None."""
        self.stderr += chunk
        if self.pid is None and self.tag:
            self._take_pid()
        if self.password is None or self.ready.is_set():
            return None
        seen = bytes(self.stderr).count(self.prompt)
        if seen <= self._prompts:
            return None
        self._prompts = seen
        if seen > 1:
            self.failure = WRONG_PASSWORD
            return "give up"
        return "answer"

    def _take_pid(self) -> None:
        at = self.stderr.find(self.tag)
        if at < 0:
            return
        end = self.stderr.find(b"\n", at)
        if end < 0:
            return
        with contextlib.suppress(ValueError):
            self.pid = int(self.stderr[at + len(self.tag) : end])
        del self.stderr[at : end + 1]

    def clean_stderr(self) -> bytes:
        """stderr without sudo's prompts."""
        data = bytes(self.stderr)
        return data.replace(self.prompt, b"") if self.prompt else data

    def final_stderr(self) -> bytes:
        """What the command's result reports: stderr, and the wrong password if it was."""
        err = self.clean_stderr()
        if self.failure is not None:
            err = (err + b"\n" + self.failure.encode()).strip()
        return err

    async def pump(self, pipes: Pipes) -> None:
        """Read stderr to its end, answering sudo on the way."""
        while True:
            chunk = await pipes.read_stderr()
            if not chunk:
                break
            action = self.on_stderr(chunk)
            if action == "answer":
                assert self.password is not None
                await pipes.write_stdin(self.password.encode() + b"\n")
            elif action == "give up":
                pipes.give_up()

    async def read_output(self, pipes: Pipes, out: bytearray) -> None:
        """Read stdout to its end into ``out``, without sudo's part (up to the marker)."""
        if self.marker is None:
            self.ready.set()
        started = (self.marker or b"") + b"\n"
        head = b""
        while True:
            chunk = await pipes.read_stdout()
            if not chunk:
                break
            if self.ready.is_set():
                out.extend(chunk)
                continue
            head += chunk
            at = head.find(started)
            if at >= 0:
                out.extend(head[at + len(started) :])
                self.ready.set()
        if not self.ready.is_set():
            out.extend(head)  # sudo never started the command
            self.ready.set()


async def converse(pipes: Pipes, talk: BecomeTalk, out: bytearray, stdin: bytes | None) -> None:
    """A command's whole I/O: its stdout into ``out``, sudo answered, ``stdin`` fed once
    sudo is done, until the command has ended."""

    async def feed_stdin() -> None:
        await talk.ready.wait()
        if stdin:
            await pipes.write_stdin(stdin)
        pipes.end_stdin()

    await asyncio.gather(talk.read_output(pipes, out), talk.pump(pipes), feed_stdin())
    await pipes.wait_closed()


class Process(Pipes, Protocol):
    """A command a transport has started: its streams, and how to stop it and read its end."""

    tag: str | None
    """The tag of its ``<tag> <pid>`` stderr line, if the transport asked for one."""

    async def stop(self, talk: BecomeTalk) -> None:
        """SIGTERM the command's process group, SIGKILL it after `TERM_GRACE`."""

    async def exit_status(self, *, timed_out: bool, talk: BecomeTalk) -> int:
        """Its ``rc`` (-N: killed by signal N) once `converse` is done or it was stopped;
        raises `TargetUnreachable` when that cannot be known."""


async def finish(
    work: asyncio.Future[None], timeout: float | None, stop: Callable[[], Awaitable[None]]
) -> bool:
    """Wait for a command's I/O ``work``; when ``timeout`` is up, ``stop`` the command and
    drain what it still says.  True when it timed out.  Cancelled, the command is stopped."""
    try:
        await asyncio.wait_for(asyncio.shield(work), timeout)
        return False
    except TimeoutError:
        await stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(work, DRAIN_AFTER_KILL)
        return True
    except asyncio.CancelledError:
        work.cancel()
        await asyncio.shield(stop())
        raise
    finally:
        if not work.done():
            work.cancel()


class PosixCommands:
    """``run``, ``put_file`` and ``get_file`` for a POSIX target, over any transport.

    A connection supplies `_start` (start a command line, as `Process`), its name
    for messages (`kind`) and where it is (`_where`, for file errors).
    """

    kind: str = "local"

    async def _start(
        self, cmd: CommandLine, *, cwd: str | None, stdin: bool, nonce: str
    ) -> Process | CommandResult:
        """Start ``cmd``; a `CommandResult` when it could not start (as a shell reports it)."""
        raise NotImplementedError

    def _where(self) -> str:
        return ""

    async def run(
        self,
        argv: Sequence[str] | None = None,
        *,
        shell: str | None = None,
        executable: str | None = None,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        become: Become | None = None,
    ) -> CommandResult:
        """Run a command to completion; on ``timeout`` its process group is stopped.

        ``rc`` is -N when the command was killed by signal N (also after a timeout).
        """
        nonce = new_nonce()
        cmd = wrap_become(
            command_argv(argv, shell, executable), env, become, nonce=nonce, connection=self.kind
        )
        start = time.time()
        proc = await self._start(cmd, cwd=cwd, stdin=stdin is not None, nonce=nonce)
        if isinstance(proc, CommandResult):
            return proc
        talk = cmd.talk(tag=proc.tag)
        out = bytearray()
        work = asyncio.ensure_future(converse(proc, talk, out, stdin))
        timed_out = await finish(work, timeout, lambda: proc.stop(talk))
        rc = await proc.exit_status(timed_out=timed_out, talk=talk)
        return CommandResult(
            rc=rc, stdout=bytes(out), stderr=talk.final_stderr(), start=start, end=time.time()
        )

    async def put_file(
        self, data: bytes, path: str, *, mode: int | None = None, become: Become | None = None
    ) -> None:
        """Write ``data`` to ``path`` atomically (temp file in the same dir + rename).

        A small ``sh`` on the target (``cat`` into the temp file), so it works alike
        with and without ``become`` and needs no file-transfer protocol.
        """
        result = await self.run(put_file_argv(path, mode), stdin=data, become=become)
        if result.rc != 0:
            raise _file_error("write", path, become, self._where(), result.stderr)

    async def get_file(self, path: str, *, become: Become | None = None) -> bytes:
        """Read a file from the target; OSError when it cannot be read."""
        result = await self.run(get_file_argv(path), become=become)
        if result.rc != 0:
            raise _file_error("read", path, become, self._where(), result.stderr)
        return result.stdout


# --------------------------------------------------------------------------- files


# Expands a leading ``~`` as the target user's home, as the shell of that user would.
_TARGET_PATH = 'case $1 in "~") p=$HOME;; "~/"*) p=$HOME/${1#"~/"};; *) p=$1;; esac; '

# A file written as the target user: temp file in the same directory + rename, the
# existing file's mode kept (else a new file's, by the umask).
_PUT_SCRIPT = (
    "set -e; " + _TARGET_PATH + 't="$p.playgraph-$$.tmp"; trap \'rm -f "$t"\' EXIT; '
    '(umask 077; cat > "$t"); '
    'if [ -n "$2" ]; then chmod "$2" "$t"; '
    'elif ! chmod --reference="$p" "$t" 2>/dev/null; then '
    'chmod "$(printf %o $((0666 & ~0$(umask))))" "$t"; fi; '
    'mv -f "$t" "$p"; trap - EXIT'
)
_GET_SCRIPT = _TARGET_PATH + 'exec cat -- "$p"'


def put_file_argv(path: str, mode: int | None) -> list[str]:
    """The command that writes its stdin to ``path`` atomically (``mode``: octal, or kept)."""
    mode_arg = format(mode, "o") if mode is not None else ""
    return ["/bin/sh", "-c", _PUT_SCRIPT, "sh", path, mode_arg]


def get_file_argv(path: str) -> list[str]:
    """The command that prints ``path``."""
    return ["/bin/sh", "-c", _GET_SCRIPT, "sh", path]


def _file_error(verb: str, path: str, become: Become | None, where: str, stderr: bytes) -> OSError:
    """``could not write PATH [as USER][ on HOST]: why``."""
    who = f" as {become.user}" if become is not None else ""
    return OSError(f"could not {verb} {path}{who}{where}: {text(stderr)}")
