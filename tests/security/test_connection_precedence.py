"""Tasks run on the host, and as the user, ansible-core would pick — checked side by side.

Real users (``pgtest_alice``, ``pgtest_bob``, created here, with passwordless sudo), two
real sshd on loopback (`tests/runtime/sshd.py`; its client key logs in as any user), and
ansible-core (``$PLAYGRAPH_ORACLE``) run the same playbooks; every task prints
``<user> <server address> <server port>`` (or ``<user> local``) and both tools must print
the same for every host.  Also: ``StrictHostKeyChecking=accept-new`` records new keys and
refuses changed ones, and a server that drops connections during the handshake (sshd's
``MaxStartups``) is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playgraph.compiler import compile_playbook
from playgraph.compiler.diagnostics import has_errors
from playgraph.runtime import jobs
from playgraph.runtime.connection.base import TargetUnreachable
from playgraph.runtime.connection.ssh import SSHConnection
from playgraph.runtime.context import RunOptions
from playgraph.runtime.inventory import load_inventory
from playgraph.runtime.run import run_graph

from tests.differential.harness import ansible_playbook
from tests.runtime import sshd as fixture

pytestmark = pytest.mark.e2e

ALICE = "pgtest_alice"
BOB = "pgtest_bob"
SUDOERS = "/etc/sudoers.d/pgtest-connection"
WHO = "echo \"$(id -un) ${SSH_CONNECTION:+$(echo $SSH_CONNECTION | cut -d' ' -f3,4)}\""
"""``alice 127.0.0.1 2222`` over ssh, ``alice `` locally."""


def ensure_users() -> None:
    """``pgtest_alice`` and ``pgtest_bob`` (idempotent), each allowed to sudo to anyone."""
    if os.geteuid() != 0:
        raise fixture.FixtureError("these tests create users and need to run as root")
    for user in (ALICE, BOB):
        if subprocess.run(["id", "-u", user], capture_output=True).returncode != 0:
            subprocess.run(
                ["useradd", "-m", "-s", "/bin/sh", user], check=False, capture_output=True
            )
            subprocess.run(["id", "-u", user], check=True, capture_output=True)
        # useradd leaves the account locked ("!"), which sshd refuses without PAM; "*"
        # allows key logins and no password.
        subprocess.run(["usermod", "-p", "*", user], check=True, capture_output=True)
    rules = "".join(f"{user} ALL=(ALL) NOPASSWD: ALL\n" for user in (ALICE, BOB))
    tmp = Path(SUDOERS + ".tmp")
    tmp.write_text(rules)
    tmp.chmod(0o440)
    subprocess.run(["visudo", "-cf", str(tmp)], check=True, capture_output=True)
    tmp.replace(SUDOERS)


class Lab:
    def __init__(self) -> None:
        ensure_users()
        self.keys = fixture.temp_keys()
        self.folder = self.keys.folder
        self.a = fixture.SSHD(self.keys, name="a")
        self.b = fixture.SSHD(self.keys, name="b")
        self.known_hosts = self.folder / "known_hosts"

    def start(self) -> None:
        self.a.start()
        self.b.start()
        self.keys.known_hosts([self.a.port, self.b.port], self.known_hosts)

    def stop(self) -> None:
        self.a.stop()
        self.b.stop()
        subprocess.run(["rm", "-rf", str(self.folder)], check=False)

    def login(self) -> dict[str, Any]:
        return {
            "ansible_ssh_private_key_file": str(self.keys.client_key),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={self.known_hosts}",
        }


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    lab = Lab()
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.pop("SSH_CONNECTION", None)
    return env


def run_ansible(directory: Path, playbook: Path, inventory: Path, args: list[str]) -> Any:
    env = _clean_env()
    env.update(
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_PIPELINING="1",  # become between unprivileged users needs no temp files then
        ANSIBLE_LOCAL_TEMP=str(directory / "ansible-local"),
        ANSIBLE_SSH_CONTROL_PATH_DIR=str(directory / "cp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_DEPRECATION_WARNINGS="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
    )
    done = subprocess.run(
        [ansible_playbook(), str(playbook), "-i", str(inventory), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=directory,
        timeout=180,
    )
    start = done.stdout.find("{")
    assert start >= 0, done.stdout + done.stderr
    return json.loads(done.stdout[start:])


def run_playgraph(
    playbook: Path, inventory: Path, monkeypatch: pytest.MonkeyPatch, **options: Any
) -> Any:
    compiled = compile_playbook(str(playbook))
    assert not has_errors(compiled.diagnostics), compiled.diagnostics
    for name in [k for k in os.environ if k.startswith("ANSIBLE_")]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("SSH_CONNECTION", raising=False)

    async def main() -> Any:
        try:
            return await run_graph(
                compiled.graph,
                load_inventory([str(inventory)]),
                RunOptions(forks=10, playbook_dir=str(playbook.parent), **options),
            )
        finally:
            await jobs.close_clients()

    return asyncio.run(main()).document


def who_table(document: Any) -> dict[tuple[int, str, str], str]:
    """(play, task name, host) -> what the task printed, or why it did not run."""
    table: dict[tuple[int, str, str], str] = {}
    for index, play in enumerate(document["plays"]):
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                if result.get("unreachable"):
                    shown = "UNREACHABLE"
                elif result.get("failed"):
                    shown = "FAILED"
                else:
                    shown = str(result.get("stdout", "")).strip()
                table[(index, task["task"]["name"], host)] = shown
    return table


def write_case(lab: Lab, directory: Path, playbook: str) -> tuple[Path, Path]:
    a, b = lab.a.port, lab.b.port
    inventory = directory / "hosts.ini"
    inventory.write_text(
        f"plain ansible_host=127.0.0.1 ansible_port={a}\n"
        f"spelled ansible_ssh_host=127.0.0.1 ansible_ssh_port={b} ansible_ssh_user={BOB}\n"
        # Where both spellings are given, the ansible_ssh_* ones win (192.0.2.1 is unroutable).
        f"both ansible_host=192.0.2.1 ansible_ssh_host=127.0.0.1 ansible_port={a} "
        f"ansible_ssh_port={b} ansible_user={ALICE} ansible_ssh_user={BOB}\n"
        f"invuser ansible_host=127.0.0.1 ansible_port={a} ansible_user={ALICE}\n"
        f"invbecome ansible_host=127.0.0.1 ansible_port={a} ansible_user={ALICE} "
        f"ansible_become=true ansible_become_user={BOB}\n"
        f"localbecome ansible_connection=local ansible_become=true ansible_become_user={ALICE}\n"
        "\n[all:vars]\n"
        f"ansible_ssh_private_key_file={lab.keys.client_key}\n"
        f"ansible_ssh_common_args='-o UserKnownHostsFile={lab.known_hosts}'\n"
        "ansible_python_interpreter=/usr/bin/python3\n"
        "ansible_timeout=5\n"
    )
    path = directory / "play.yml"
    path.write_text(playbook.replace("WHO", WHO.replace("'", "''")))
    return path, inventory


KEYWORDS_PLAYBOOK = """\
- hosts: all
  gather_facts: false
  remote_user: pgtest_bob
  tasks:
    - name: play remote_user vs inventory
      shell: 'WHO'
    - name: task become_user
      shell: 'WHO'
      become: true
      become_user: pgtest_alice
    - name: delegated
      shell: 'WHO'
      delegate_to: spelled
    - block:
        - name: block remote_user
          shell: 'WHO'
      remote_user: pgtest_alice
- hosts: all
  gather_facts: false
  connection: local
  become_user: pgtest_bob
  tasks:
    - name: play connection local
      shell: 'WHO'
    - name: task become over local
      shell: 'WHO'
      become: true
"""

CLI_PLAYBOOK = """\
- hosts: plain:spelled:localbecome
  gather_facts: false
  tasks:
    - name: cli user and become
      shell: 'WHO'
    - name: task become false
      shell: 'WHO'
      become: false
    - name: task remote_user and become_user
      shell: 'WHO'
      remote_user: pgtest_bob
      become_user: root
"""


def test_keywords_and_inventory_variables_match_ansible(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    playbook, inventory = write_case(lab, tmp_path, KEYWORDS_PLAYBOOK)
    oracle = who_table(run_ansible(tmp_path, playbook, inventory, []))
    ours = who_table(run_playgraph(playbook, inventory, monkeypatch))
    assert ours == oracle
    a, b = lab.a.port, lab.b.port
    # What ansible-core does, spelled out (so a change on either side is visible).
    assert oracle[(0, "play remote_user vs inventory", "plain")] == f"{BOB} 127.0.0.1 {a}"
    assert oracle[(0, "play remote_user vs inventory", "both")] == f"{BOB} 127.0.0.1 {b}"
    assert oracle[(0, "play remote_user vs inventory", "invuser")] == f"{ALICE} 127.0.0.1 {a}"
    # (sudo drops SSH_CONNECTION: a become shows the user only)
    assert oracle[(0, "play remote_user vs inventory", "invbecome")] == BOB
    assert oracle[(0, "play remote_user vs inventory", "localbecome")] == ALICE
    assert oracle[(0, "task become_user", "plain")] == ALICE
    assert oracle[(0, "task become_user", "invbecome")] == BOB
    # Becoming the user one is already is skipped (the environment stays).
    assert oracle[(0, "task become_user", "invuser")] == f"{ALICE} 127.0.0.1 {a}"
    assert oracle[(0, "delegated", "plain")] == f"{BOB} 127.0.0.1 {b}"
    assert oracle[(1, "play connection local", "spelled")] == "root"
    assert oracle[(1, "task become over local", "plain")] == BOB


def test_command_line_user_and_become_match_ansible(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    playbook, inventory = write_case(lab, tmp_path, CLI_PLAYBOOK)
    args = ["-u", ALICE, "-b", "--become-user", BOB]
    oracle = who_table(run_ansible(tmp_path, playbook, inventory, args))
    ours = who_table(
        run_playgraph(
            playbook, inventory, monkeypatch, remote_user=ALICE, become=True, become_user=BOB
        )
    )
    assert ours == oracle
    # The same through `playgraph run`'s own options.
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "playgraph",
            "run",
            str(playbook),
            "-i",
            str(inventory),
            *args,
            "--json",
        ],
        capture_output=True,
        text=True,
        env=_clean_env(),
        cwd=tmp_path,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert who_table(json.loads(cli.stdout[cli.stdout.find("{") :])) == oracle, cli.stderr
    a = lab.a.port
    assert oracle[(0, "cli user and become", "plain")] == BOB
    assert oracle[(0, "cli user and become", "localbecome")] == ALICE
    assert oracle[(0, "task become false", "plain")] == f"{ALICE} 127.0.0.1 {a}"
    assert oracle[(0, "task remote_user and become_user", "plain")] == "root"


# --------------------------------------------------------------------------- host keys


def _connect(lab: Lab, port: int, known_hosts: Path, strict: str) -> tuple[bool, str]:
    variables = {
        "ansible_host": "127.0.0.1",
        "ansible_port": port,
        "ansible_user": ALICE,
        "ansible_ssh_private_key_file": str(lab.keys.client_key),
        "ansible_ssh_common_args": (
            f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking={strict}"
        ),
        "ansible_timeout": 5,
    }

    async def main() -> tuple[bool, str]:
        conn = SSHConnection("target", variables)
        try:
            result = await conn.run(["id", "-un"])
            return True, result.stdout.decode().strip()
        except TargetUnreachable as error:
            return False, str(error)
        finally:
            await conn.close()

    return asyncio.run(main())


def test_accept_new_records_new_keys_and_refuses_changed_ones(lab: Lab, tmp_path: Path) -> None:
    known = tmp_path / "ssh" / "known_hosts"  # neither the file nor its directory exist yet
    port = lab.a.port
    assert _connect(lab, port, known, "accept-new") == (True, ALICE)
    recorded = known.read_text().split()
    assert recorded == [f"[127.0.0.1]:{port}", *lab.keys.host_public.split()]
    # Known now: accepted again, recorded once.
    assert _connect(lab, port, known, "accept-new") == (True, ALICE)
    assert len(known.read_text().splitlines()) == 1
    # The host's key "changed" (the file holds another key for it): refused.
    other = lab.keys.client_key.with_suffix(".pub").read_text().split()[:2]
    known.write_text(f"[127.0.0.1]:{port} {' '.join(other)}\n")
    ok, message = _connect(lab, port, known, "accept-new")
    assert not ok
    assert f"[127.0.0.1]:{port}" in message and str(known) in message, message
    assert "changed" in message
    assert known.read_text().split()[2] == other[1]  # not replaced
    # `no` accepts anything; `yes` refuses an unknown host.
    assert _connect(lab, port, known, "no") == (True, ALICE)
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    ok, message = _connect(lab, port, empty, "yes")
    assert not ok and "Host key" in message, message
    assert empty.read_text() == ""


# --------------------------------------------------------------------------- handshake retry


class FlakyProxy:
    """A TCP forwarder to ``target`` that drops its first ``drops`` connections at once
    (alternately with a reset and with a plain close, as a busy sshd does)."""

    def __init__(self, target: int, drops: int) -> None:
        self.target = target
        self.drops = drops
        self.accepted = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self.stopping = False

    def __enter__(self) -> FlakyProxy:
        thread = threading.Thread(target=self._serve, daemon=True)
        thread.start()
        self.threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping = True
        self.server.close()

    def _serve(self) -> None:
        while not self.stopping:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            if self.accepted <= self.drops:
                if self.accepted % 2:
                    # Linger on, zero seconds: close() sends a reset.
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for one, other in ((client, upstream), (upstream, client)):
                pipe = threading.Thread(target=_pipe, args=(one, other), daemon=True)
                pipe.start()
                self.threads.append(pipe)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def test_handshake_drops_are_retried_within_the_timeout(lab: Lab, tmp_path: Path) -> None:
    with FlakyProxy(lab.a.port, drops=3) as proxy:
        known = tmp_path / "known_hosts"
        lab.keys.known_hosts([proxy.port], known)
        assert _connect(lab, proxy.port, known, "yes") == (True, ALICE)
        assert proxy.accepted == 4
