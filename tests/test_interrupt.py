"""SIGINT, SIGTERM and SIGHUP stop `playgraph run`/`adhoc` cleanly: blocking commands are
stopped, detached jobs run on and are listed, the recap (or the whole ``--json``
document, marked ``interrupted``) is printed, and the exit code says which signal."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import random
import select
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_adhoc import async_dir, inventory  # noqa: F401 - async_dir is a fixture

PLAYGRAPH = [sys.executable, "-m", "playgraph"]
EXIT = {signal.SIGINT: 99, signal.SIGTERM: 143, signal.SIGHUP: 129}


def pids_with(token: str) -> list[int]:
    """Processes with ``token`` as one of their arguments (a unique number of seconds)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        state = _state(entry)
        if token.encode() in argv and state not in ("Z", None):
            found.append(int(entry))
    return found


def _state(pid: str) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def wait_for(
    predicate: object, timeout: float, what: str, proc: subprocess.Popen[str] | None = None
) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"exited {proc.returncode} before {what}: {out}\n{err}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def seconds() -> Iterator[tuple[str, str]]:
    """Unique durations for the blocking command and the detached job (their markers)."""
    blocking = f"30.{random.randrange(100000, 999999)}"
    detached = f"40.{random.randrange(100000, 999999)}"
    yield blocking, detached
    for token in (blocking, detached):  # whatever a failed test left, by pid
        for pid in pids_with(token):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _playbook(tmp_path: Path, blocking: str, detached: str) -> str:
    path = tmp_path / "play.yml"
    path.write_text(
        f"""\
- hosts: all
  gather_facts: false
  tasks:
    - name: background work
      command: sleep {detached}
      async: 120
      poll: 0
      register: bg
    - name: quick
      command: "true"
    - name: blocking
      command: sleep {blocking}
    - name: never reached
      command: "true"
"""
    )
    return str(path)


def _start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*PLAYGRAPH, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("sig", "as_json"),
    [(signal.SIGTERM, False), (signal.SIGHUP, True), (signal.SIGINT, True)],
)
def test_a_signal_stops_the_run_cleanly(
    tmp_path: Path,
    async_dir: str,  # noqa: F811
    seconds: tuple[str, str],
    sig: signal.Signals,
    as_json: bool,
) -> None:
    blocking, detached = seconds
    inv = inventory(tmp_path, async_dir, ["h[1:3] ansible_connection=local"])
    book = _playbook(tmp_path, blocking, detached)
    proc = _start(["run", "-i", inv, book, *(["--json"] if as_json else [])])
    try:
        wait_for(lambda: len(pids_with(blocking)) == 3, 30, "the blocking commands", proc)
        assert len(pids_with(detached)) >= 3
        proc.send_signal(sig)
        sent = time.monotonic()
        stdout, stderr = proc.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == EXIT[sig], stderr
    assert took < 2.0, f"took {took:.2f} s to stop"
    assert pids_with(blocking) == [], "the blocking commands were orphaned"
    assert len(pids_with(detached)) >= 3, "the detached jobs must run on"
    expected = "User interrupted execution" if sig == signal.SIGINT else f"Stopped by {sig.name}"
    assert f"[ERROR]: {expected}" in stderr
    assert "may still be running" in stderr
    listed = [line.split() for line in stderr.splitlines() if line.startswith("  h")]
    assert sorted(words[0] for words in listed) == ["h1", "h2", "h3"]
    if as_json:
        document = json.loads(stdout)  # whole, valid JSON
        marker = document["interrupted"]
        assert marker["reason"] == sig.name
        jobs = {job["host"]: job for job in marker["running_jobs"]}
        assert sorted(jobs) == ["h1", "h2", "h3"]
        assert {job["task"] for job in jobs.values()} == {"background work"}
        assert sorted(u["host"] for u in marker["unfinished"]) == ["h1", "h2", "h3"]
        tasks = [t["task"]["name"] for t in document["plays"][0]["tasks"]]
        assert tasks == ["background work", "quick"]
        for host, job in jobs.items():
            launched = document["plays"][0]["tasks"][0]["hosts"][host]
            assert launched["ansible_job_id"] == job["jid"]
            assert [job["jid"]] == [w[1] for w in listed if w[0] == host]
        assert document["stats"]["h1"]["ok"] == 2
    else:
        assert "PLAY RECAP" in stdout
        assert "TASK [never reached]" not in stdout
        assert all(len(words) >= 2 and words[1].startswith("j") for words in listed)


@pytest.mark.e2e
def test_adhoc_stops_on_sigterm_and_json_parses(
    tmp_path: Path,
    async_dir: str,  # noqa: F811
    seconds: tuple[str, str],
) -> None:
    blocking, _ = seconds
    inv = inventory(tmp_path, async_dir, ["h[1:2] ansible_connection=local"])
    proc = _start(["adhoc", "all", "-i", inv, "-a", f"sleep {blocking}", "--json"])
    try:
        wait_for(lambda: len(pids_with(blocking)) == 2, 30, "the commands", proc)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, stderr
    assert pids_with(blocking) == []
    document = json.loads(stdout)
    assert document["interrupted"]["reason"] == "SIGTERM"
    assert document["interrupted"]["running_jobs"] == []


@pytest.mark.e2e
def test_a_complete_run_has_no_interrupted_key(
    tmp_path: Path,
    async_dir: str,  # noqa: F811
) -> None:
    inv = inventory(tmp_path, async_dir, ["h1 ansible_connection=local"])
    book = tmp_path / "ok.yml"
    book.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n    - command: 'true'\n")
    done = subprocess.run(
        [*PLAYGRAPH, "run", "-i", inv, str(book), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert "interrupted" not in json.loads(done.stdout)


# --------------------------------------------------------------------------- the -k prompt


def _read_until(fd: int, wanted: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {wanted!r} in {seen!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


@pytest.mark.e2e
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_at_the_password_prompt_restores_echo(
    tmp_path: Path,
    async_dir: str,  # noqa: F811
    sig: signal.Signals,
) -> None:
    inv = inventory(tmp_path, async_dir, ["h1 ansible_connection=local"])
    book = tmp_path / "ok.yml"
    book.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n    - command: 'true'\n")
    pid, fd = pty.fork()
    if pid == 0:  # the child: playgraph on the pseudo-terminal
        os.execv(sys.executable, [*PLAYGRAPH, "run", "-k", "-i", inv, str(book)])
    try:
        _read_until(fd, b"SSH password:", 30)
        # getpass turned echo off on the terminal (pty master and slave share the settings).
        wait_for(lambda: not termios.tcgetattr(fd)[3] & termios.ECHO, 5, "echo off")
        os.kill(pid, sig)
        _, status = os.waitpid(pid, 0)
        assert termios.tcgetattr(fd)[3] & termios.ECHO, "the terminal was left without echo"
        assert os.waitstatus_to_exitcode(status) == EXIT[sig]
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


# --------------------------------------------------------------------------- over ssh


@pytest.mark.e2e
def test_sigterm_stops_blocking_commands_over_ssh(
    tmp_path: Path,
    seconds: tuple[str, str],
) -> None:
    from tests.runtime import sshd

    blocking, detached = seconds
    keys = sshd.make_keys(tmp_path / "keys")
    with sshd.SSHD(keys, name="interrupt") as server:
        known = keys.known_hosts([server.port], tmp_path / "known_hosts")
        async_dir = tmp_path / "ssh-async"
        inv = tmp_path / "inventory"
        inv.write_text(
            f"s[1:2] ansible_host=127.0.0.1 ansible_port={server.port} ansible_user=root "
            f"ansible_ssh_private_key_file={keys.client_key} ansible_async_dir={async_dir} "
            f"ansible_ssh_common_args='-o UserKnownHostsFile={known}'\n"
        )
        book = _playbook(tmp_path, blocking, detached)
        proc = _start(["run", "-i", str(inv), book, "--json"])
        try:
            wait_for(lambda: len(pids_with(blocking)) == 2, 30, "the remote commands", proc)
            proc.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            stdout, stderr = proc.communicate(timeout=10)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 143, stderr
        # Over ssh stopping costs round trips (a channel for the kill, the close).
        assert took < 5.0, f"took {took:.2f} s to stop"
        wait_for(lambda: pids_with(blocking) == [], 2, "the remote commands to be stopped")
        assert len(pids_with(detached)) >= 2, "the detached jobs must run on"
        marker = json.loads(stdout)["interrupted"]
        assert sorted(job["host"] for job in marker["running_jobs"]) == ["s1", "s2"]
