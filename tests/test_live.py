"""The live view, in a real pseudo-terminal: drawn on a terminal, the line output
without one (a pipe, ``--no-live``, ``--json``), and a Ctrl-C in the middle that
leaves the terminal as it was and names the jobs still running on the hosts."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playgraph.compiler.ir import Graph
from playgraph.runtime.live import LiveView
from playgraph.runtime.tracing import Event, EventKind
from rich.console import Console

from tests.runtime.conftest import stop_supervisor

RUN_DEADLINE = 60.0
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")

INVENTORY = """\
[hosts]
h1 ansible_connection=local
h2 ansible_connection=local
h3 ansible_connection=local

[hosts:vars]
ansible_python_interpreter={python}
ansible_async_dir={async_dir}
"""

PLAYBOOK = """\
- name: live
  hosts: all
  gather_facts: false
  tasks:
    - name: polled job
      ansible.builtin.command:
        cmd: sleep 2.5
      async: 30
      poll: 1
    - name: fail on h2
      ansible.builtin.command:
        cmd: "false"
      when: inventory_hostname == 'h2'
"""

INTERRUPTED = """\
- name: stopped
  hosts: all
  gather_facts: false
  tasks:
    - name: background job
      ansible.builtin.command:
        cmd: sleep 8
      async: 9
      poll: 0
    - name: long wait
      ansible.builtin.command:
        cmd: sleep 8
"""


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "async").mkdir()
    (tmp_path / "hosts.ini").write_text(
        INVENTORY.format(python=sys.executable, async_dir=tmp_path / "async")
    )
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "stop.yml").write_text(INTERRUPTED)
    try:
        yield tmp_path
    finally:
        stop_supervisor(tmp_path / "async")  # and the jobs a Ctrl-C left running


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PLAYGRAPH_NO_LIVE", "NO_COLOR")}
    return {**env, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}


def in_pty(
    argv: list[str],
    cwd: Path,
    *,
    when: Callable[[bytes], bool] | None = None,
    then: Callable[[int], None] | None = None,
) -> tuple[int, bytes, list[object], list[object]]:
    """Run playgraph on a pseudo-terminal; when its output satisfies ``when``, call
    ``then(master_fd)`` once.  The exit code, the output, and the terminal's settings
    before and after."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: its stdin, stdout and stderr are the terminal
        try:
            os.chdir(cwd)
            os.execve(sys.executable, [sys.executable, "-m", "playgraph", *argv], _env())
        finally:
            os._exit(127)
    before = termios.tcgetattr(fd)
    out = b""
    fired = False
    deadline = time.monotonic() + RUN_DEADLINE
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                out += data
            if not fired and when is not None and then is not None and when(out):
                fired = True
                then(fd)
        else:
            raise AssertionError(f"playgraph still running after {RUN_DEADLINE}s: {out[-2000:]!r}")
        after = termios.tcgetattr(fd)
        _, status = os.waitpid(pid, 0)
    finally:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), out, before, after


def plain(out: bytes) -> str:
    return ANSI.sub(b"", out).decode(errors="replace").replace("\r", "")


def cursor_left_visible(out: bytes) -> bool:
    hidden = out.rfind(b"\x1b[?25l")
    return hidden < 0 or out.rfind(b"\x1b[?25h") > hidden


@pytest.mark.e2e
def test_on_a_terminal_the_run_is_a_live_area_with_problems_and_recap(folder: Path) -> None:
    code, out, before, after = in_pty(["run", "-i", "hosts.ini", "play.yml"], folder)
    text = plain(out)
    assert code == 2, text
    # The area: the task, the counts and each job against its limit.
    assert "task polled job" in text
    assert "jobs in flight 3" in text
    assert re.search(r"h[123]\s+\S*\s+\d+\.\ds / 30s", text), text
    # Not the line-per-poll output ...
    assert "ASYNC POLL" not in text and "TASK [polled job]" not in text
    # ... but the failure as ansible prints it, and the recap.
    assert "TASK [fail on h2]" in text
    assert "fatal: [h2]: FAILED!" in text
    assert re.search(r"PLAY RECAP \*+\nh1 +: ok=1 +changed=1", text), text
    assert re.search(r"h2 +: ok=1 +changed=1 +unreachable=0 +failed=1", text)
    assert cursor_left_visible(out)
    assert before == after


@pytest.mark.e2e
def test_without_a_terminal_or_with_no_live_or_json_the_lines_stay(folder: Path) -> None:
    piped = subprocess.run(
        [sys.executable, "-m", "playgraph", "run", "-i", "hosts.ini", "play.yml"],
        cwd=folder,
        capture_output=True,
        env=_env(),
        timeout=RUN_DEADLINE,
        check=False,
    )
    assert piped.returncode == 2
    assert b"\x1b" not in piped.stdout
    assert b"TASK [polled job]" in piped.stdout and b"ASYNC OK on h1" in piped.stdout
    code, out, _, _ = in_pty(["run", "-i", "hosts.ini", "play.yml", "--no-live"], folder)
    assert code == 2
    assert b"\x1b[" not in out
    assert b"TASK [polled job]" in out and b"ASYNC OK on h1" in out
    code, out, _, _ = in_pty(["run", "-i", "hosts.ini", "play.yml", "--json"], folder)
    assert code == 2
    assert b"\x1b[" not in out and b"jobs in flight" not in out
    assert b'"playgraph_timeline"' in out


@pytest.mark.e2e
def test_ctrl_c_in_the_live_view_leaves_the_terminal_sane_and_names_the_jobs(
    folder: Path,
) -> None:
    def running(out: bytes) -> bool:
        return b"task long wait" in ANSI.sub(b"", out)

    def ctrl_c(fd: int) -> None:
        time.sleep(0.3)
        os.write(fd, b"\x03")  # the terminal turns it into SIGINT, as a person's key

    code, out, before, after = in_pty(
        ["run", "-i", "hosts.ini", "stop.yml", "--report", "stopped.html"],
        folder,
        when=running,
        then=ctrl_c,
    )
    text = plain(out)
    assert code == 99, text
    assert "[ERROR]: User interrupted execution" in text
    assert "These jobs were started by this run and may still be running:" in text
    for host in ("h1", "h2", "h3"):
        assert re.search(rf"  {host}  j\d+\.\d+  \(background job\)", text), text
    assert "Traceback" not in text
    assert cursor_left_visible(out)
    assert before == after  # echo, canonical mode: as before the run
    # The report is still written: the jobs hatched as running, the wait stopped.
    page = (folder / "stopped.html").read_text()
    assert '"interrupted":true' in page
    assert page.count('"j') >= 3 and "jobs still running at the end</dt><dd>3<" in page


ADHOC = ["adhoc", "all", "-i", "hosts.ini", "-a", "sleep 1.2", "-B", "20", "-P", "1"]


@pytest.mark.e2e
def test_adhoc_prints_each_host_above_the_live_area(folder: Path) -> None:
    code, out, before, after = in_pty(
        [*ADHOC, "--report", "adhoc.html"],
        folder,
    )
    text = plain(out)
    assert code == 0, text
    for host in ("h1", "h2", "h3"):
        assert re.search(rf"{host} \| CHANGED =>", text), text
    assert "jobs in flight 3" in text
    assert cursor_left_visible(out) and before == after
    assert "<dt>jobs</dt><dd>3</dd>" in (folder / "adhoc.html").read_text()


def _event(kind: EventKind, t: float, node: str = "", host: str = "", **data: object) -> Event:
    return Event(kind=kind, time=t, node=node or None, host=host or None, data=dict(data))


def test_the_stragglers_come_first() -> None:
    view = LiveView(Graph(plays=()).node_index(), title="t", stream=open(os.devnull, "w"))  # noqa: SIM115
    view.console = Console(record=True, width=100, height=30, file=open(os.devnull, "w"))  # noqa: SIM115
    view._update(_event(EventKind.PLAY_STARTED, 0, data_name="p", hosts=["a", "b", "c"]))
    for host, limit in (("a", 100), ("b", 10), ("c", 20)):
        view._update(_event(EventKind.NODE_STARTED, 0, "n1", host, name="job"))
        view._update(
            _event(EventKind.LAUNCHED, 0, "n1", host, jid=f"j-{host}", limit=limit, poll=1)
        )
    view.console.print(view.snapshot(5.0))
    screen = view.console.export_text()
    lines = [line.strip() for line in screen.splitlines()]
    order = [line.split()[0] for line in lines if re.match(r"^[abc]\s", line)]
    assert order == ["b", "c", "a"]  # 50 %, 25 %, 5 % of their limits
    assert "jobs in flight 3" in screen
