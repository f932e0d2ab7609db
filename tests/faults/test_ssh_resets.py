"""Scenario 5: SSH connections reset by a TCP proxy, in the handshake and at random moments.

Twenty-four inventory aliases reach one loopback sshd through `ResetProxy`: the
first connections are reset mid-handshake, later ones at seeded moments while
jobs are launched, polled and joined.  The run must end with every job's right
result — no host unreachable, no job lost or started twice — within limit + grace
of the last reset, and the jobs must end by their limits.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..runtime import sshd as fixture
from .conftest import Site
from .harness import (
    FaultRun,
    ProcWatch,
    Report,
    check_ended,
    check_limits,
    check_results,
    check_status_files,
    describe_jobs,
    end_bound,
    launch_and_join,
    note_long_runs,
    seeds,
    settle,
    summarize,
)
from .proxy import ResetProxy

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

USER = "pgtest_faults"


def ensure_user(name: str) -> None:
    """Create the login user once (idempotent; its shell is /bin/sh: no rc files to pay for).

    useradd leaves the account locked ("!"), and sshd without PAM refuses a key login
    to a locked account: "*" is no password, but not locked.
    """
    if subprocess.run(["id", "-u", name], capture_output=True).returncode != 0:
        made = subprocess.run(["useradd", "-m", "-s", "/bin/sh", name], capture_output=True)
        if made.returncode != 0 and subprocess.run(["id", "-u", name]).returncode != 0:
            raise fixture.FixtureError(f"useradd {name}: {made.stderr.decode().strip()}")
    subprocess.run(["usermod", "-p", "*", name], check=True, capture_output=True)


@dataclass(frozen=True)
class Server:
    sshd: fixture.SSHD
    keys: fixture.Keys


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    ensure_user(USER)
    keys = fixture.temp_keys()
    sshd = fixture.SSHD(keys, name="faults").start()
    try:
        yield Server(sshd, keys)
    finally:
        sshd.stop()
        shutil.rmtree(keys.folder, ignore_errors=True)


@pytest.mark.parametrize("seed", seeds(5501, 5502))
def test_ssh_resets(site: Site, server: Server, seed: int) -> None:
    rng = random.Random(seed)
    report = Report("ssh_resets", seed)
    proxy = ResetProxy(
        server.sshd.port,
        random.Random(rng.random()),
        handshake_resets=rng.randint(1, 3),
        resets=rng.randint(2, 4),
        chance=0.8,
        window=(0.2, 3.0),
    )
    port = proxy.start()
    try:
        known_hosts = server.keys.known_hosts([port], site.folder / "known_hosts")
        # The user's async dir: outside pytest's root-only tmp_path.
        home = Path(tempfile.mkdtemp(prefix="pgfault-ssh-"))
        site.scratch.append(home)
        shutil.chown(home, USER, USER)
        async_dir = home / "async"
        site.watch_dir(async_dir)
        fleet = site.fleet(
            rng,
            async_dir=async_dir,
            hosts=24,
            limit=2,
            prefix="s",
            group_vars=(
                "ansible_connection=ssh",
                "ansible_host=127.0.0.1",
                f"ansible_port={port}",
                f"ansible_user={USER}",
                f"ansible_ssh_private_key_file={server.keys.client_key}",
                f"ansible_ssh_common_args='-o UserKnownHostsFile={known_hosts}'",
                "ansible_timeout=5",
            ),
        )
        with ProcWatch(fleet.tag) as watch:
            run = FaultRun(fleet, launch_and_join(fleet), report).start()
            since = lambda: max([*proxy.reset_times, run.started])  # noqa: E731
            result = run.finish(lambda: end_bound(fleet, watch, since()))
            report.event(
                f"{proxy.connections} connection(s), {proxy.done_resets} reset: "
                + "; ".join(proxy.log)
            )
            if proxy.done_resets == 0:
                report.violation("harness", "the proxy reset no connection")
            check_ended(fleet, result, watch, report, since())
            note_long_runs(fleet, watch)
            outcome = check_results(fleet, result, report, None)
            report.event(f"hosts: {summarize(outcome)}")
            watch.wait_quiet(fleet.limit)
            report.event(describe_jobs(watch, run))
            settle(fleet)
            check_limits(fleet, watch, report)
            check_status_files(fleet, watch, report)
    finally:
        proxy.stop()
    report.check()
