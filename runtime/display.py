"""Terminal output in ansible-playbook's default callback format.

Plain lines (``TASK [...]``, ``changed: [h1]``, ``ASYNC POLL on h1: jid=…``,
``FAILED - RETRYING: …``, ``PLAY RECAP``) so people and scripts that read
ansible-playbook's output read ours.

`prompt_until` asks the user at the terminal (``pause``): one prompt at a time,
the rest of the output held back until it is answered so nothing garbles it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import termios
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, TextIO

from playgraph.compiler.ir import Node

from playgraph.semantics import PlaygraphError, builtin_name

from .results import HostStats, censor, is_changed, is_failed, is_skipped, is_unreachable
from .tracing import Event, EventKind

_WIDTH = 80
_HIDDEN = ("_ansible_verbose_always", "_ansible_no_log", "_ansible_item_label", "_ansible_retry")


def _banner(title: str) -> str:
    return f"\n{title} " + "*" * max(3, _WIDTH - len(title) - 1)


DUMP_DROPPED = frozenset({"invocation", "diff", "exception", "warnings", "deprecations"})
"""What ``CallbackBase._dump_results`` leaves out below -vvv (warnings and the
exception are shown on lines of their own)."""


def _dump(result: Mapping[str, Any], verbosity: int = 0) -> str:
    dropped = DUMP_DROPPED if verbosity < 3 else DUMP_DROPPED - {"invocation", "diff"}
    shown = {
        k: v
        for k, v in result.items()
        if not k.startswith(("_playgraph", "_ansible")) and k not in dropped
    }
    if result.get("_ansible_verbose_always"):
        # Like ansible-core's default callback: debug shows its message, not the status keys.
        for key in ("changed", "failed", "skipped"):
            shown.pop(key, None)
    return json.dumps(shown, sort_keys=True, default=str)


class Display:
    """A tracer subscriber printing the run as ansible-playbook does."""

    def __init__(
        self,
        nodes: Mapping[str, Node],
        stream: TextIO | None = None,
        *,
        verbosity: int = 0,
        stats: Mapping[str, HostStats] | None = None,
        problems_only: bool = False,
    ) -> None:
        self.nodes = nodes
        self.problems_only = problems_only
        """Only failed and unreachable results, each under its task's banner (the live
        view prints these above its status area; it draws the rest itself)."""
        self.stream = stream or sys.stdout
        self.verbosity = verbosity
        self.stats = stats
        self._announced: set[str] = set()
        self._names: dict[str, str] = {}
        """Task names as templated for the first host to start them (NODE_STARTED)."""
        self._current: str | None = None
        self._launched: dict[tuple[str, str], str] = {}
        self._handlers: set[str] = set()
        self._meta: dict[str, bool] = {}
        """Node id -> whether it is a ``meta`` task (asked for every host's every event)."""

    def __call__(self, event: Event) -> None:
        handler = getattr(self, _HANDLER_NAMES[event.kind], None)
        if handler is not None:
            handler(event)

    def write(self, text: str) -> None:
        CONSOLE.write(self.stream, text + "\n")

    # ------------------------------------------------------------------ events

    def _on_play_started(self, event: Event) -> None:
        if self.problems_only:
            self._announced.clear()
            self._current = None
            return
        name = event.data.get("data_name") or ""
        self.write(_banner(f"PLAY [{name}]"))
        self._announced.clear()
        self._current = None
        if not event.data.get("hosts"):
            self.write("skipping: no hosts matched")

    def _task_banner(self, node_id: str | None) -> None:
        if node_id is None or node_id == self._current:
            return
        self._current = node_id
        if node_id == "gather_facts":
            title = "TASK [Gathering Facts]"
        else:
            node = self.nodes.get(node_id)
            name = self._names.get(node_id) or (node.display_name if node else node_id)
            title = f"{'RUNNING HANDLER' if node_id in self._handlers else 'TASK'} [{name}]"
        self.write(_banner(title))

    def _is_meta(self, node_id: str | None) -> bool:
        key = node_id or ""
        meta = self._meta.get(key)
        if meta is None:
            node = self.nodes.get(key)
            meta = node is not None and builtin_name(node.action) == "meta"
            if node is not None:  # an include's nodes are indexed as they run
                self._meta[key] = meta
        return meta

    def _on_handlers_flushing(self, event: Event) -> None:
        # Each flush runs its handlers anew: each gets its banner again.
        for node_id in event.data.get("handlers", ()):
            self._handlers.add(node_id)
            self._announced.discard(node_id)
            if self._current == node_id:
                self._current = None

    def _on_node_started(self, event: Event) -> None:
        if self._is_meta(event.node):
            return  # ansible-core shows no banner for meta tasks
        if event.node is not None and event.node not in self._announced:
            self._announced.add(event.node)
            if isinstance(event.data.get("name"), str):
                self._names[event.node] = event.data["name"]
            if not self.problems_only:
                self._task_banner(event.node)

    def _on_launched(self, event: Event) -> None:
        # Only a polled launch ends with ASYNC OK/FAILED; a templated poll of 0 or
        # less detaches the job, as ansible-core's ``poll > 0`` test does.
        if event.host is not None and event.node is not None and event.data.get("poll", 0) > 0:
            self._launched[(event.node, event.host)] = str(event.data.get("jid"))

    def _on_node_polled(self, event: Event) -> None:
        if self.problems_only:
            return
        status = event.data.get("status", {})
        started = 1 if status.get("started") else 0
        finished = 1 if status.get("finished") else 0
        self._task_banner(event.node)
        self.write(
            f"ASYNC POLL on {event.host}: jid={event.data.get('jid')} started={started} finished={finished}"
        )

    def _on_retry(self, event: Event) -> None:
        if self.problems_only:
            return
        node = self.nodes.get(event.node or "")
        name = self._names.get(event.node or "") or (node.display_name if node else event.node)
        # ansible-core prints result.retries - result.attempts, retries being the total runs.
        left = int(event.data.get("total", 0)) - int(event.data.get("attempt", 0))
        self._task_banner(event.node)
        self.write(f"FAILED - RETRYING: [{event.host}]: {name} ({left} retries left).")

    def _on_node_finished(self, event: Event) -> None:
        result: Mapping[str, Any] = event.data.get("result", {})
        if self._is_meta(event.node) and not is_skipped(result):
            return  # a meta task shows only when it was skipped
        if self.problems_only and not _is_problem(result):
            self._launched.pop((event.node or "", event.host or ""), None)
            warnings = result.get("warnings")
            for warning in warnings if isinstance(warnings, list) else ():
                CONSOLE.write(self.stream, f"[WARNING]: {warning}\n")
            return
        if result.get("_playgraph_no_log"):
            result = censor(result, keep_status=True)
        host = event.host
        self._task_banner(event.node)
        jid = self._launched.pop((event.node or "", host or ""), None)
        node = self.nodes.get(event.node or "")
        if jid is not None and node is not None and node.kind.value == "polled":
            self.write(f"ASYNC {'FAILED' if is_failed(result) else 'OK'} on {host}: jid={jid}")
        for item in result.get("results", []) if isinstance(result.get("results"), list) else []:
            if isinstance(item, Mapping):
                self._line(host, item, item_label=self._item_label(item))
        self._line(host, result, item_label=None, summary=bool(result.get("results")))
        if result.get("_playgraph_ignored"):
            self.write("...ignoring")
        # As ansible-core's default callback: a result's warnings, on stderr.
        warnings = result.get("warnings")
        for warning in warnings if isinstance(warnings, list) else ():
            # Under the live view stderr would tear its area: warnings print above it.
            out = self.stream if self.problems_only else sys.stderr
            CONSOLE.write(out, f"[WARNING]: {warning}\n")

    def _item_label(self, item: Mapping[str, Any]) -> str:
        if "_ansible_item_label" in item:
            return str(item["_ansible_item_label"])
        var = item.get("ansible_loop_var", "item")
        value = item.get(var)
        return json.dumps(value, default=str) if not isinstance(value, str) else value

    def _line(
        self,
        host: str | None,
        result: Mapping[str, Any],
        *,
        item_label: str | None,
        summary: bool = False,
    ) -> None:
        suffix = f" => (item={item_label})" if item_label is not None else ""
        if is_unreachable(result):
            self.write(f"fatal: [{host}]: UNREACHABLE! => {_dump(result, self.verbosity)}")
        elif is_failed(result):
            if summary:
                self.write(f'fatal: [{host}]: FAILED! => {{"msg": "{result.get("msg", "")}"}}')
            else:
                self.write(
                    f"failed: [{host}]{suffix} => {_dump(result, self.verbosity)}"
                    if item_label
                    else f"fatal: [{host}]: FAILED! => {_dump(result, self.verbosity)}"
                )
        elif is_skipped(result):
            if not summary or not result.get("results"):
                self.write(f"skipping: [{host}]{suffix}")
        else:
            if summary:
                return
            status = "changed" if is_changed(result) else "ok"
            verbose = result.get("_ansible_verbose_always") or self.verbosity > 0
            self.write(
                f"{status}: [{host}]{suffix}"
                + (f" => {_dump(result, self.verbosity)}" if verbose else "")
            )

    def _on_run_finished(self, event: Event) -> None:
        if self.stats is None or self.problems_only:
            return
        self.write(_banner("PLAY RECAP"))
        for host in sorted(self.stats):
            s = self.stats[host]
            self.write(
                f"{host:<26}: ok={s.ok:<4} changed={s.changed:<4} unreachable={s.unreachable:<4} "
                f"failed={s.failures:<4} skipped={s.skipped:<4} rescued={s.rescued:<4} ignored={s.ignored:<4}"
            )


_HANDLER_NAMES: dict[EventKind, str] = {kind: f"_on_{kind.value}" for kind in EventKind}
"""`Display`'s method for each kind of event (named once, not per event)."""


def _is_problem(result: Mapping[str, Any]) -> bool:
    return is_unreachable(result) or (is_failed(result) and not result.get("_playgraph_ignored"))


# --------------------------------------------------------------------------- the terminal


class PromptInterrupt(PlaygraphError):
    """The user pressed the interrupt key (Ctrl+C) at a prompt, or an ``interrupt_input`` key."""


class PromptNoninteractive(PlaygraphError):
    """No terminal to ask: stdin is not a TTY, or the run is in the background of one."""


class Console:
    """The terminal the whole process shares.

    A prompt takes it for itself: other prompts wait their turn (a ``free`` play
    can reach several pauses at once) and the run's output is held back and
    written when the answer is in, so a host's result never lands in the middle
    of what the user is typing.
    """

    def __init__(self) -> None:
        self._held: list[tuple[TextIO, str]] | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    def write(self, stream: TextIO, text: str) -> None:
        if self._held is not None:
            self._held.append((stream, text))
            return
        stream.write(text)
        stream.flush()

    def _prompt_lock(self) -> asyncio.Lock:
        # One lock per event loop: tests run many loops in one process.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock = asyncio.Lock()
            self._lock_loop = loop
        return self._lock

    @contextlib.asynccontextmanager
    async def prompting(self) -> AsyncIterator[None]:
        """Hold the terminal for one prompt; held output is written afterwards."""
        async with self._prompt_lock():
            self._held = []
            try:
                yield
            finally:
                held, self._held = self._held, None
                for stream, text in held:
                    with contextlib.suppress(OSError, ValueError):
                        self.write(stream, text)

    def say(self, text: str) -> None:
        """A line of a prompt's own (``Pausing for 5 seconds``): shown at once, never held."""
        out = prompt_stream()
        out.write(text + "\n")
        out.flush()


CONSOLE = Console()


def prompt_stream() -> TextIO:
    """Where prompts go: stdout on a terminal, else stderr (a ``--json`` document or
    a log file on stdout stays clean)."""
    try:
        if sys.stdout.isatty():
            return sys.stdout
    except (AttributeError, ValueError):
        pass
    return sys.stderr


def _terminal_fd() -> int:
    """stdin's descriptor when it is a terminal this process may read (the foreground)."""
    try:
        fd = sys.stdin.fileno()
        interactive = os.isatty(fd) and os.getpgrp() == os.tcgetpgrp(fd)
    except (AttributeError, ValueError, OSError):
        raise PromptNoninteractive("stdin is not interactive") from None
    if not interactive:
        raise PromptNoninteractive("stdin is not interactive")
    return fd


def _raw(fd: int) -> None:
    """Raw input (keys one by one, Ctrl+C a key rather than a signal, no echo); output
    processing stays on so ``\\n`` still starts a new line."""
    mode = termios.tcgetattr(fd)
    mode[0] &= ~(termios.BRKINT | termios.ICRNL | termios.INPCK | termios.ISTRIP | termios.IXON)
    mode[2] &= ~(termios.CSIZE | termios.PARENB)
    mode[2] |= termios.CS8
    mode[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN | termios.ISIG)
    mode[6][termios.VMIN] = 1
    mode[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSAFLUSH, mode)


_CLEAR_LINE = "\r\x1b[K"


def interactive() -> bool:
    """Whether `prompt_until` can ask the user (stdin is a terminal we are in the foreground of)."""
    try:
        _terminal_fd()
    except PromptNoninteractive:
        return False
    return True


def _echo(out: TextIO, data: bytes) -> None:
    # Keys arrive byte by byte: written as bytes, a multi-byte character shows whole.
    out.flush()
    buffer = getattr(out, "buffer", None)
    if buffer is not None:
        buffer.write(data)
        buffer.flush()
    else:
        out.write(data.decode(errors="replace"))
        out.flush()


async def prompt_until(
    msg: str,
    *,
    private: bool = False,
    seconds: float | None = None,
    interrupt_input: Iterable[bytes] | None = None,
    complete_input: Iterable[bytes] | None = None,
) -> bytes:
    """Show ``msg`` and read keys from the terminal, as ansible-core's ``prompt_until``.

    Ends on Enter (or a ``complete_input`` key), returning what was typed before it;
    at ``seconds`` returns what was typed so far.  The interrupt key (the terminal's
    VINTR, Ctrl+C), or an ``interrupt_input`` key, raises `PromptInterrupt`.  Without
    a terminal raises `PromptNoninteractive` before showing anything.  A prompt with
    no ``seconds`` waits as long as the user takes (a person is its deadline; a
    signal still ends the run).  The terminal's settings are restored however it
    ends, also when the run is cancelled.  Callers hold `CONSOLE.prompting()`.
    """
    fd = _terminal_fd()
    interrupts = tuple(interrupt_input) if interrupt_input is not None else None
    completes = tuple(complete_input) if complete_input is not None else None
    loop = asyncio.get_running_loop()
    deadline = None if seconds is None else loop.time() + seconds
    out = prompt_stream()
    original = termios.tcgetattr(fd)
    intr = original[6][termios.VINTR]
    erase = original[6][termios.VERASE]
    backspaces = {b"\x7f", b"\x08"} | ({erase} if isinstance(erase, bytes) else set())
    keys: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        try:
            data = os.read(fd, 1024)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)  # the terminal is gone: no more keys will come
            keys.put_nowait(b"")
        for index in range(len(data)):
            keys.put_nowait(data[index : index + 1])

    typed = b""
    try:
        # Raw before the prompt shows: a key pressed once it is visible is read by us,
        # never echoed or turned into a signal by the terminal.
        _raw(fd)
        termios.tcflush(fd, termios.TCIFLUSH)  # keys pressed before the prompt do not count
        loop.add_reader(fd, readable)
        out.write(msg + "\n")
        out.flush()
        while True:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                break
            try:
                key = await asyncio.wait_for(keys.get(), remaining)
            except TimeoutError:
                break
            if not key:
                break  # end of input
            if (interrupts is None and key == intr) or (
                interrupts is not None and key.lower() in interrupts
            ):
                out.write(_CLEAR_LINE)
                out.flush()
                raise PromptInterrupt("user interrupt")
            if (completes is None and key in (b"\r", b"\n")) or (
                completes is not None and key.lower() in completes
            ):
                out.write(_CLEAR_LINE)
                out.flush()
                break
            if key in backspaces:
                typed = typed[:-1]
                out.write(_CLEAR_LINE)
                if not private:
                    _echo(out, typed)
                out.flush()
                continue
            typed += key
            if not private:
                _echo(out, key)
    finally:
        loop.remove_reader(fd)
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSADRAIN, original)
    return typed


__all__ = [
    "CONSOLE",
    "Console",
    "Display",
    "EventKind",
    "PromptInterrupt",
    "PromptNoninteractive",
    "interactive",
    "prompt_stream",
    "prompt_until",
]
