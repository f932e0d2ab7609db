"""One way to stop: SIGINT, SIGTERM and SIGHUP end a command the same way.

Outside a run (compiling, the ``-k``/``-K`` password prompts, writing the final
output) a signal raises `Interrupted` where the program is, so ``finally`` blocks
run: ``getpass`` puts the terminal's echo back, a half-written file is removed.
During a run the signal cancels the run's task instead (`run_interruptibly`):
the scheduler stops the blocking commands in flight (their process groups,
locally and over ssh), leaves ``async`` jobs running, closes the connections and
prints the recap (`playgraph.runtime.scheduler.RunInterrupted`).  A second signal
while that cleanup runs ends the process at once (the terminal restored first).

Exit codes: 99 for SIGINT (``ansible-playbook``'s and ``ansible``'s code for a user
interrupt, with the same ``[ERROR]: User interrupted execution`` line); 128+N for
the others, as a shell reports a process the signal killed: 143 for SIGTERM, 129
for SIGHUP.  (ansible-core lets SIGTERM and SIGHUP kill it outright.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import termios
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from playgraph.runtime.results import Interruption
    from playgraph.runtime.scheduler import RunOutcome

T = TypeVar("T")

SIGINT = int(signal.SIGINT)
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_USER_INTERRUPT = 99
"""ansible's ``ExitCode.KEYBOARD_INTERRUPT``."""


class Interrupted(BaseException):
    """A signal stopped the command (a `BaseException`, as `KeyboardInterrupt`, so that
    ``except Exception`` clauses on the way do not swallow it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code(signum: int) -> int:
    return EXIT_USER_INTERRUPT if signum == signal.SIGINT else 128 + signum


def message(signum: int) -> str:
    """The one line printed on stderr when a signal stopped the command."""
    if signum == signal.SIGINT:
        return "[ERROR]: User interrupted execution"
    return f"[ERROR]: Stopped by {signal.Signals(signum).name}"


def _raise(signum: int, _frame: object) -> None:
    raise Interrupted(signum)


def install() -> None:
    """Make SIGINT, SIGTERM and SIGHUP raise `Interrupted` (outside a run's event loop)."""
    for signum in SIGNALS:
        with contextlib.suppress(ValueError, OSError):  # not the main thread: leave them
            signal.signal(signum, _raise)


# ----------------------------------------------------------------- the terminal


class _Terminal:
    """The settings of the controlling terminal when the command started, to put back."""

    def __init__(self) -> None:
        self.fd: int | None = None
        self.settings: list[Any] | None = None

    def save(self) -> None:
        with contextlib.suppress(AttributeError, ValueError, OSError, termios.error):
            fd = sys.stdin.fileno()
            if os.isatty(fd):
                self.settings = termios.tcgetattr(fd)
                self.fd = fd

    def restore(self) -> None:
        if self.fd is not None and self.settings is not None:
            with contextlib.suppress(OSError, termios.error):
                termios.tcsetattr(self.fd, termios.TCSANOW, self.settings)


TERMINAL = _Terminal()


def ask(prompt: Callable[[], T]) -> T:
    """Run a password prompt; a signal during it leaves the terminal as it was, echo on,
    and the cursor on a new line."""
    try:
        return prompt()
    except (Interrupted, KeyboardInterrupt, EOFError):
        TERMINAL.restore()
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write("\n")
            sys.stderr.flush()
        raise


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold the signals back while the final output is written, so that a document is
    written whole or not at all; a signal that came meanwhile is handled after."""
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    except (AttributeError, ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# ----------------------------------------------------------------- a run


async def run_interruptibly(work: Awaitable[RunOutcome]) -> RunOutcome:
    """Await a run; the first signal cancels it (the run stops cleanly and its outcome,
    marked ``interrupted``, is returned), a second one ends the process at once."""
    import asyncio  # here: `check` and `compile` never start an event loop

    from playgraph.runtime.scheduler import RunInterrupted

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        if len(received) == 1:
            task.cancel(signal.Signals(signum).name)
            return
        # The cleanup has deadlines of its own; a second signal says not to wait for them.
        TERMINAL.restore()
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.write(message(received[0]) + " (cleanup cut short)\n")
            sys.stderr.flush()
        os._exit(exit_code(received[0]))

    for signum in SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        return await work
    except RunInterrupted as stop:
        return stop.outcome
    finally:
        for signum in SIGNALS:
            loop.remove_signal_handler(signum)
        install()  # removing a loop's handler resets the signal to its default: ours again


def signal_of(interruption: Interruption) -> int:
    try:
        return int(signal.Signals[interruption.reason])
    except KeyError:
        return int(signal.SIGINT)


def report(interruption: Interruption, hosts_hint: Sequence[str] = ()) -> None:
    """The interruption on stderr: ansible's error line, then the jobs left running."""
    lines = [message(signal_of(interruption))]
    stopped: dict[str, list[str]] = {}
    for host, task in interruption.unfinished:
        stopped.setdefault(task, []).append(host)
    for task, hosts in stopped.items():
        lines.append(f"Stopped before it finished: {task} on {', '.join(hosts)}")
    if interruption.running_jobs:
        lines.append("These jobs were started by this run and may still be running:")
        for job in interruption.running_jobs:
            lines.append(f"  {job.host}  {job.jid}  ({job.task})")
        hint = " ".join(hosts_hint)
        lines.append(
            f"  see them with `playgraph jobs status JID HOST{(' ' + hint) if hint else ''}`,"
            " stop them with `playgraph jobs kill JID HOST`"
        )
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write("".join(line + "\n" for line in lines))
        sys.stderr.flush()


__all__ = [
    "EXIT_USER_INTERRUPT",
    "SIGINT",
    "SIGNALS",
    "TERMINAL",
    "Interrupted",
    "ask",
    "deferred",
    "exit_code",
    "install",
    "message",
    "report",
    "run_interruptibly",
    "signal_of",
]
