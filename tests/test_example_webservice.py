"""examples/webservice/site.yml end to end, as its header says to run it: a service user,
directories, templated config, a detached package install joined later, a restart
handler; the service then answers over HTTP, and a second run changes nothing."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
USER = "pgtest_webex"

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def web_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "web"
    yield root
    pid_file = root / "run" / "web.pid"
    if pid_file.exists():
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
    subprocess.run(["userdel", "-f", USER], capture_output=True, timeout=30, check=False)


def _run(root: Path, port: int) -> dict[str, Any]:
    argv = [
        sys.executable,
        "-m",
        "playgraph",
        "run",
        "-i",
        "examples/local.ini",
        "examples/webservice/site.yml",
        "-e",
        f"web_user={USER}",
        "-e",
        f"web_root={root}",
        "-e",
        f"web_port={port}",
        "--json",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    document: dict[str, Any] = json.loads(done.stdout[done.stdout.index("{") :])
    return document


def test_webservice_example_runs_and_is_idempotent(web_root: Path) -> None:
    subprocess.run(["userdel", "-f", USER], capture_output=True, timeout=30, check=False)
    port = _free_port()
    first = _run(web_root, port)
    assert first["stats"]["localhost"]["changed"] >= 8, first["stats"]
    names = [task["task"]["name"] for task in first["plays"][0]["tasks"]]
    assert "restart web" in names  # the handler ran: config and package were new
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        assert b"playgraph example service" in response.read()
    assert (web_root / "conf" / "web.conf").read_text().count(f"port = {port}") == 1
    assert (web_root / "venv").is_dir()
    second = _run(web_root, port)
    assert second["stats"]["localhost"]["changed"] == 0, second["stats"]
    assert second["stats"]["localhost"]["failures"] == 0
    names = [task["task"]["name"] for task in second["plays"][0]["tasks"]]
    assert "restart web" not in names
