"""The ssh connection against real OpenSSH servers on loopback (`tests/runtime/sshd.py`).

Two servers (A, and B which also accepts passwords) share one host key and one
client key; inventory aliases ``nodeN ansible_host=127.0.0.1 ansible_port=…``
spread over them, a closed port (9) is a dead host.  Most logins are the
``playgraph-become`` user (its shell is ``/bin/sh``: root's ``.bashrc`` on this
machine costs ~0.3 s per command, which would only measure that file).

These tests need root, ``/usr/sbin/sshd`` and ``sudo``; without them they fail
and say what to install — they never skip.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playgraph.compiler import compile_playbook
from playgraph.compiler.diagnostics import has_errors
from playgraph.runtime import config, jobs
from playgraph.runtime.connection.base import TargetUnreachable
from playgraph.runtime.connection.ssh import SSHConnection
from playgraph.runtime.connection.ssh_options import parse_options
from playgraph.runtime.context import RunOptions
from playgraph.runtime.inventory import load_inventory
from playgraph.runtime.jobspec import Become, JobSpec
from playgraph.runtime.run import run_graph
from playgraph.runtime.scheduler import RunOutcome
from playgraph.runtime.tracing import Event, EventKind

from . import sshd as fixture
from .conftest import stop_supervisor

pytestmark = pytest.mark.e2e

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
USER = fixture.BECOME_USER


# --------------------------------------------------------------------------- fixtures


class Lab:
    """The servers, keys and files of this module's tests."""

    def __init__(self, folder: Path, keys: fixture.Keys, password: str) -> None:
        self.folder = folder
        self.keys = keys
        self.password = password
        self.a = fixture.SSHD(keys, name="a")
        self.b = fixture.SSHD(keys, name="b", password_auth=True)
        self.known_hosts = folder / "known_hosts"

    def start(self) -> None:
        self.a.start()
        self.b.start()
        self.keys.known_hosts([self.a.port, self.b.port], self.known_hosts)

    def stop(self) -> None:
        self.a.stop()
        self.b.stop()

    def hostvars(self, port: int | None = None, **extra: Any) -> dict[str, Any]:
        variables: dict[str, Any] = {
            "ansible_host": "127.0.0.1",
            "ansible_port": port or self.a.port,
            "ansible_user": USER,
            "ansible_ssh_private_key_file": str(self.keys.client_key),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={self.known_hosts}",
        }
        variables.update(extra)
        return {k: v for k, v in variables.items() if v is not None}

    def node1(self) -> str:
        return f"node1 ansible_host=127.0.0.1 ansible_port={self.a.port}\n"

    def inventory(self, name: str, body: str) -> str:
        """An INI inventory: ``body`` plus the shared login variables."""
        path = self.folder / name
        path.write_text(
            body
            + "\n[all:vars]\n"
            + f"ansible_user={USER}\n"
            + f"ansible_ssh_private_key_file={self.keys.client_key}\n"
            + f"ansible_ssh_common_args='-o UserKnownHostsFile={self.known_hosts}'\n"
        )
        return str(path)

    def playbook(self, name: str, text: str) -> str:
        path = self.folder / name
        path.write_text(text)
        return str(path)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    password = fixture.ensure_become_user()
    keys = fixture.temp_keys()
    lab = Lab(keys.folder, keys, password)
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()
        # Supervisors started by these tests (they would idle out in 2 min anyway).
        for home in (Path("/root"), Path(pwd.getpwnam(USER).pw_dir)):
            stop_supervisor(home / ".ansible_async")
        subprocess.run(["rm", "-rf", str(keys.folder)], check=False)


def arun(coro: Coroutine[Any, Any, T]) -> T:
    async def main() -> T:
        try:
            return await coro
        finally:
            await jobs.close_clients()

    return asyncio.run(main())


async def play(
    playbook: str,
    inventory: str,
    *,
    forks: int = 20,
    subscribers: tuple[Callable[[Event], None], ...] = (),
    **options: Any,
) -> RunOutcome:
    compiled = compile_playbook(playbook)
    assert not has_errors(compiled.diagnostics), compiled.diagnostics
    return await run_graph(
        compiled.graph,
        load_inventory([inventory]),
        RunOptions(forks=forks, playbook_dir=os.path.dirname(playbook), **options),
        subscribers=subscribers,
    )


def results(outcome: RunOutcome, task: int, play_index: int = 0) -> dict[str, Any]:
    hosts: dict[str, Any] = outcome.document["plays"][play_index]["tasks"][task]["hosts"]
    return hosts


# --------------------------------------------------------------------------- options (pure)


def test_options_from_variables_and_ssh_args(tmp_path: Path) -> None:
    key = tmp_path / "id"
    key.write_text("not really a key")
    defaults = config.ConnectionDefaults()
    opts = parse_options(
        "web1",
        {
            "ansible_host": "10.0.0.5",
            "ansible_ssh_common_args": f"-o StrictHostKeyChecking=no -o UserKnownHostsFile=/x "
            f"-i {key} -p 2222 -o ServerAliveInterval=5 -o ConnectTimeout=3",
            "ansible_ssh_extra_args": "-o Port=3333 -o ControlPersist=60s -C",
        },
        defaults,
    )
    assert (opts.address, opts.port, opts.keys) == ("10.0.0.5", 2222, (str(key),))
    assert opts.host_key_checking is False and opts.known_hosts == ("/x",)
    assert (opts.keepalive_interval, opts.timeout) == (5.0, 3.0)
    assert opts.warnings == ()  # ControlPersist and -C are moot, not unknown

    # The inventory's port, user and timeout beat the args; unknown options warn.
    opts = parse_options(
        "web1",
        {
            "ansible_port": "22022",
            "ansible_user": "deploy",
            "ansible_timeout": 7,
            "ansible_ssh_common_args": "-p 2222 -l other -o Frobnicate=yes -X",
        },
        defaults,
    )
    assert (opts.address, opts.port, opts.user, opts.timeout) == ("web1", 22022, "deploy", 7.0)
    assert opts.host_key_checking is True
    assert any("frobnicate" in w for w in opts.warnings)
    assert any("'-X'" in w for w in opts.warnings)


def test_host_key_checking_precedence(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    assert config.load({}, cwd=str(tmp_path), home=home).host_key_checking is True
    (tmp_path / "ansible.cfg").write_text("[defaults]\nhost_key_checking = False\ntimeout = 4\n")
    from_file = config.load({}, cwd=str(tmp_path), home=home)
    assert (from_file.host_key_checking, from_file.timeout) == (False, 4.0)
    assert from_file.source == str(tmp_path / "ansible.cfg")
    # playgraph.cfg is looked at first; the environment beats the file.
    (tmp_path / "playgraph.cfg").write_text("[defaults]\nhost_key_checking = yes\n")
    assert config.load({}, cwd=str(tmp_path), home=home).host_key_checking is True
    env = {"ANSIBLE_HOST_KEY_CHECKING": "False"}
    from_env = config.load(env, cwd=str(tmp_path), home=home)
    assert from_env.host_key_checking is False
    # The inventory variable beats both.
    variables = {"ansible_host_key_checking": "true"}
    assert parse_options("h", variables, from_env).host_key_checking is True
    variables = {"ansible_ssh_host_key_checking": False}
    assert parse_options("h", variables, from_file).host_key_checking is False


def test_async_dir_precedence(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    assert config.load({}, cwd=str(tmp_path), home=home).async_dir == "~/.ansible_async"
    (tmp_path / "ansible.cfg").write_text("[defaults]\nasync_dir = /srv/jobs\n")
    from_file = config.load({}, cwd=str(tmp_path), home=home)
    assert from_file.async_dir == "/srv/jobs"
    from_env = config.load({"ANSIBLE_ASYNC_DIR": "~/elsewhere"}, cwd=str(tmp_path), home=home)
    assert from_env.async_dir == "~/elsewhere"
    # The host variable beats both.
    assert config.async_dir({"ansible_async_dir": "/tmp/j"}, from_env) == "/tmp/j"
    assert config.async_dir({}, from_env) == "~/elsewhere"


# --------------------------------------------------------------------------- commands and files


def test_commands_files_timeouts_and_costs(lab: Lab) -> None:
    async def scenario() -> dict[str, float]:
        conn = SSHConnection("node1", lab.hostvars())
        try:
            start = time.perf_counter()
            await conn.connect()
            connect = time.perf_counter() - start

            res = await conn.run(
                ["sh", "-c", 'echo "$FOO" "$(pwd)"; echo oops >&2; exit 3'],
                env={"FOO": "a b'c"},
                cwd="/tmp",
            )
            assert (res.rc, res.stdout, res.stderr) == (3, b"a b'c /tmp\n", b"oops\n")
            res = await conn.run(shell="cat; echo; echo $0", stdin=b"in", executable="/bin/bash")
            assert res.stdout == b"in\n/bin/bash\n"
            res = await conn.run(["pwd"], cwd="~")
            assert res.stdout.decode().strip() == pwd.getpwnam(USER).pw_dir
            res = await conn.run(["true"], cwd="/no/such/dir")
            assert res.rc == 1 and b"Unable to change directory" in res.stderr
            res = await conn.run(["no-such-program-pg"])
            assert res.rc == 127

            # A timeout stops the command's whole process group on the target.
            start = time.perf_counter()
            res = await conn.run(shell="sleep 31 & sleep 32; echo never", timeout=1)
            assert res.rc == -15 and res.stdout == b""
            assert time.perf_counter() - start < 3
            await asyncio.sleep(0.2)
            left = await conn.run(["sh", "-c", "pgrep -fx 'sleep 3[12]' || true"])
            assert left.stdout == b""

            await conn.put_file(b"one\n", "~/pg-ssh-test.txt", mode=0o640)
            await conn.put_file(b"two\n", "~/pg-ssh-test.txt")  # keeps the mode
            assert await conn.get_file("~/pg-ssh-test.txt") == b"two\n"
            res = await conn.run(["stat", "-c", "%a", "pg-ssh-test.txt"])
            assert res.stdout == b"640\n"
            with pytest.raises(OSError, match="could not read"):
                await conn.get_file("/no/such/file")

            start = time.perf_counter()
            for _ in range(10):
                await conn.run(["true"])
            per_command = (time.perf_counter() - start) / 10

            # The connection cut while a command runs: unreachable (it may have run, so it
            # is not repeated); the next command reconnects.
            loop = asyncio.get_running_loop()
            loop.call_later(0.5, lab.a.drop_connections)
            with pytest.raises(TargetUnreachable, match=r"to 127\.0\.0\.1 port \d+ was lost"):
                await conn.run(["sleep", "5"])
            assert (await conn.run(["echo", "back"])).stdout == b"back\n"
            return {"connect": connect, "per_command": per_command}
        finally:
            await conn.close()

    costs = arun(scenario())
    print(
        f"\nssh connect {costs['connect'] * 1000:.0f} ms, "
        f"per command {costs['per_command'] * 1000:.0f} ms"
    )
    assert costs["connect"] < 2 and costs["per_command"] < 0.5


def test_channel_limit_learnt_and_shared_by_aliases(lab: Lab) -> None:
    """A server allowing 3 sessions: 12 aliases' concurrent commands all run, on a few links."""
    small = fixture.SSHD(lab.keys, name="small", max_sessions=3).start()
    try:
        lab.keys.known_hosts([lab.a.port, lab.b.port, small.port], lab.known_hosts)

        async def scenario() -> tuple[list[int], int]:
            conns = [SSHConnection(f"n{i}", lab.hostvars(small.port)) for i in range(12)]
            try:
                done = await asyncio.gather(*(c.run(["sleep", "0.3"]) for c in conns))
                return [r.rc for r in done], len(conns[0].connect_seconds)
            finally:
                for conn in conns:
                    await conn.close()

        rcs, opened = arun(scenario())
        assert rcs == [0] * 12
        # One pool for the twelve aliases: more than one connection (3 channels each),
        # far fewer than one per alias.
        assert 2 <= opened <= 8, opened
    finally:
        small.stop()
        lab.keys.known_hosts([lab.a.port, lab.b.port], lab.known_hosts)


# --------------------------------------------------------------------------- unreachable


def test_unreachable_reasons(lab: Lab) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts TCP, never says a word: only the timeout ends it
    wrong_key = lab.folder / "wrong_ed25519"
    if not wrong_key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong_key)], check=True
        )
    cases = {
        "refused": (lab.hostvars(9), "connect to host 127.0.0.1 port 9: Connection refused"),
        "wrong key": (
            lab.hostvars(ansible_ssh_private_key_file=str(wrong_key)),
            f"{USER}@127.0.0.1: Permission denied",
        ),
        "unknown host key": (
            lab.hostvars(ansible_ssh_common_args="-o UserKnownHostsFile=/dev/null"),
            "Host key verification failed",
        ),
        "no such name": (
            lab.hostvars(ansible_host="no-such-host.invalid"),
            "Could not resolve hostname no-such-host.invalid",
        ),
        "timeout": (
            lab.hostvars(silent.getsockname()[1], ansible_timeout=1),
            "Connection timed out",
        ),
        "wrong password": (
            lab.hostvars(lab.b.port, ansible_ssh_private_key_file=None, ansible_password="not-it"),
            f"{USER}@127.0.0.1: Permission denied (publickey,password)",
        ),
    }

    async def attempt(
        variables: dict[str, Any], defaults: config.ConnectionDefaults | None = None
    ) -> tuple[str, float]:
        conn = SSHConnection("h", variables, defaults=defaults)
        start = time.perf_counter()
        try:
            await conn.connect()
        except TargetUnreachable as error:
            return str(error), time.perf_counter() - start
        finally:
            await conn.close()
        return "connected", time.perf_counter() - start

    try:
        for name, (variables, expected) in cases.items():
            message, seconds = arun(attempt(variables))
            assert message.startswith("Failed to connect to the host via ssh: "), (name, message)
            assert expected in message, (name, message)
            assert seconds < 4, (name, seconds)
    finally:
        silent.close()

    # The same host with checking turned off (inventory, ssh args, environment), with a
    # password, or named through an ssh config file (-F; ~/.ssh/config by default), connects.
    no_known = "-o UserKnownHostsFile=/dev/null"
    ssh_config = lab.folder / "ssh_config"
    ssh_config.write_text(
        f"Host web-alias\n  HostName 127.0.0.1\n  Port {lab.a.port}\n  User {USER}\n"
        f"  IdentityFile {lab.keys.client_key}\n  UserKnownHostsFile {lab.known_hosts}\n"
    )
    env_off = config.load({"ANSIBLE_HOST_KEY_CHECKING": "False"}, cwd=str(lab.folder))
    for variables, defaults in (
        (lab.hostvars(ansible_ssh_common_args=no_known, ansible_host_key_checking=False), None),
        (lab.hostvars(ansible_ssh_common_args="-o StrictHostKeyChecking=no"), None),
        (lab.hostvars(ansible_ssh_common_args=no_known), env_off),
        (
            lab.hostvars(
                lab.b.port, ansible_ssh_private_key_file=None, ansible_password=lab.password
            ),
            None,
        ),
        ({"ansible_ssh_common_args": f"-F {ssh_config}"}, None),
    ):
        if variables.get("ansible_ssh_common_args", "").startswith("-F"):
            variables["ansible_host"] = "web-alias"
        assert arun(attempt(variables, defaults))[0] == "connected", variables


# --------------------------------------------------------------------------- playbooks


def test_ask_pass_logs_in_with_the_password_typed(lab: Lab) -> None:
    """``-k`` asks once ("SSH password: ") and every host without a password of its own uses it."""
    inventory = lab.folder / "password.ini"
    inventory.write_text(
        f"pw[1:2] ansible_host=127.0.0.1 ansible_port={lab.b.port} ansible_user={USER}\n"
        f"[all:vars]\nansible_ssh_common_args='-o UserKnownHostsFile={lab.known_hosts}'\n"
    )

    def adhoc(*extra: str, typed: str = "") -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "playgraph", "adhoc", "all", "-i", str(inventory)]
        # No controlling terminal: getpass reads the answer from stdin, as under a pipe.
        return subprocess.run(
            [*argv, "-a", "whoami", *extra],
            input=typed,
            capture_output=True,
            text=True,
            timeout=60,
            start_new_session=True,
        )

    without = adhoc()
    assert without.returncode == 4, without.stderr
    assert without.stdout.count("UNREACHABLE!") == 2
    typed = adhoc("-k", typed=lab.password + "\n")
    assert typed.returncode == 0, typed.stdout + typed.stderr
    assert "SSH password: " in typed.stderr
    assert sorted(line for line in typed.stdout.splitlines() if "CHANGED" in line) == [
        "pw1 | CHANGED | rc=0 >>",
        "pw2 | CHANGED | rc=0 >>",
    ]
    assert typed.stdout.count(USER) == 2
    wrong = adhoc("-k", typed="not-the-password\n")
    assert wrong.returncode == 4
    assert "Permission denied" in wrong.stdout


def test_fanout_acceptance_through_the_cli(lab: Lab) -> None:
    """The issue's acceptance: the fan-out playbook on 5 hosts, one dead — a few seconds, exit 4."""
    inventory = lab.inventory(
        "fanout.ini",
        f"[live]\nnode[1:2] ansible_host=127.0.0.1 ansible_port={lab.a.port}\n"
        f"node[3:4] ansible_host=127.0.0.1 ansible_port={lab.b.port}\n"
        "[gone]\ndead ansible_host=127.0.0.1 ansible_port=9\n",
    )
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "playgraph",
            "run",
            "--json",
            "-i",
            inventory,
            str(ROOT / "examples" / "fanout.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=lab.folder,
    )
    seconds = time.perf_counter() - start
    print(f"\nfan-out over ssh, 4 live + 1 dead host: {seconds:.2f} s, exit {proc.returncode}")
    assert proc.returncode & 4 and not proc.returncode & 2, proc.stderr
    document = json.loads(proc.stdout)
    stats = document["stats"]
    assert stats["dead"]["unreachable"] == 1
    assert "Connection refused" in document["plays"][0]["tasks"][0]["hosts"]["dead"]["msg"]
    for host in ("node1", "node2", "node3", "node4"):
        assert stats[host]["unreachable"] == 0 and stats[host]["failures"] == 0, stats
        assert stats[host]["ok"] == 3
    joins = document["plays"][0]["tasks"][2]["hosts"]
    assert all(joins[h]["finished"] and joins[h]["rc"] == 0 for h in ("node1", "node4"))
    assert seconds < 10


def test_yum_async_pattern_over_ssh(lab: Lab) -> None:
    """examples/yum_async.yml with `command: sleep` for the package transaction, facts gathered."""
    text = (ROOT / "examples" / "yum_async.yml").read_text()
    text = text.replace(
        "ansible.builtin.yum:\n        name: docker-io\n        state: present",
        "ansible.builtin.command: sleep 3",
    )
    text = text.replace("/bin/sleep 15", "/bin/sleep 1").replace("poll: 5", "poll: 1")
    text = text.replace("delay: 10", "delay: 1")
    assert "sleep 3" in text and "yum:" not in text
    playbook = lab.playbook("yum_async.yml", text)
    inventory = lab.inventory(
        "yum.ini",
        f"node1 ansible_host=127.0.0.1 ansible_port={lab.a.port}\n"
        f"node2 ansible_host=127.0.0.1 ansible_port={lab.b.port}\n",
    )
    start = time.perf_counter()
    outcome = arun(play(playbook, inventory))
    seconds = time.perf_counter() - start
    assert outcome.exit_code == 0, outcome.document["stats"]
    for host in ("node1", "node2"):
        assert results(outcome, 0)[host]["ansible_facts"]["ansible_system"] == "Linux"
        assert results(outcome, 3)[host]["finished"] is True
        assert results(outcome, 3)[host]["cmd"] == ["sleep", "3"]
    # The polled step ran while the launched one did: 3 s in all, not 4.
    assert seconds < 6, seconds


def test_host_lost_mid_play_is_dropped(lab: Lab) -> None:
    """A server that goes away between tasks: its host is unreachable from then on, others go on."""
    doomed = fixture.SSHD(lab.keys, name="doomed").start()
    lab.keys.known_hosts([lab.a.port, lab.b.port, doomed.port], lab.known_hosts)
    playbook = lab.playbook(
        "midplay.yml",
        """- hosts: all
  gather_facts: false
  tasks:
    - name: first
      command: "true"
    - name: second
      command: "true"
    - name: third
      command: "true"
""",
    )
    inventory = lab.inventory(
        "midplay.ini",
        f"{lab.node1()}node2 ansible_host=127.0.0.1 ansible_port={doomed.port}\n",
    )
    finished: set[str] = set()

    def on_event(event: Event) -> None:
        if event.kind is EventKind.NODE_FINISHED and event.host is not None:
            finished.add(event.host)
            if finished == {"node1", "node2"} and doomed.proc is not None:
                doomed.stop()  # after the first task: connections cut, port closed

    try:
        outcome = arun(play(playbook, inventory, subscribers=(on_event,)))
    finally:
        doomed.stop()
        lab.keys.known_hosts([lab.a.port, lab.b.port], lab.known_hosts)
    assert outcome.exit_code & 4
    lost = results(outcome, 1)["node2"]
    assert lost["unreachable"] and lost["msg"].startswith("Failed to connect to the host via ssh")
    assert "node2" not in results(outcome, 2)
    assert all(results(outcome, i)["node1"]["rc"] == 0 for i in range(3))
    stats = outcome.document["stats"]
    assert stats["node2"]["unreachable"] == 1 and stats["node1"]["ok"] == 3


def test_job_outlives_dropped_ssh_connections(lab: Lab) -> None:
    """sshd's connection processes are killed mid-poll and mid-join: jobs finish, started once."""
    counter = lab.folder / "started.log"
    counter.unlink(missing_ok=True)
    counter.touch()
    counter.chmod(0o666)
    playbook = lab.playbook(
        "drop.yml",
        f"""- hosts: all
  gather_facts: false
  tasks:
    - name: polled
      shell: echo polled >> {counter}; sleep 3; echo polled-done
      async: 30
      poll: 1
    - name: launch
      shell: echo detached >> {counter}; sleep 3; echo detached-done
      async: 30
      poll: 0
      register: launched
    - name: join
      async_status:
        jid: "{{{{ launched.ansible_job_id }}}}"
      register: joined
      until: joined.finished
      retries: 30
      delay: 1
""",
    )
    inventory = lab.inventory(
        "drop.ini", f"node[1:2] ansible_host=127.0.0.1 ansible_port={lab.a.port}\n"
    )
    drops: list[int] = []

    def on_event(event: Event) -> None:
        # 1 s after each launch, cut every SSH connection sshd A serves.
        if event.kind is EventKind.LAUNCHED and event.host == "node1":
            loop = asyncio.get_running_loop()
            loop.call_later(1.0, lambda: drops.append(lab.a.drop_connections()))

    outcome = arun(play(playbook, inventory, subscribers=(on_event,)))
    assert drops and all(drops), drops  # connections were really cut, twice
    assert outcome.exit_code == 0, json.dumps(outcome.document["stats"])
    for host in ("node1", "node2"):
        assert results(outcome, 0)[host]["stdout"] == "polled-done"
        assert results(outcome, 2)[host]["stdout"] == "detached-done"
    lines = counter.read_text().split()
    assert sorted(lines) == ["detached"] * 2 + ["polled"] * 2  # each job started once


def test_start_answer_lost_is_not_started_twice(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = lab.folder / "once.log"
    counter.write_text("")
    counter.chmod(0o666)  # written by the job, as playgraph-become
    original = jobs.SupervisorClient.start
    lost_once: list[str] = []

    async def start_then_lose(self: jobs.SupervisorClient, spec: JobSpec) -> dict[str, Any]:
        result = await original(self, spec)
        if not lost_once:
            lost_once.append(spec.jid)
            raise jobs.SupervisorLost("answer lost")  # it did start: the answer went missing
        return result

    monkeypatch.setattr(jobs.SupervisorClient, "start", start_then_lose)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        conn = SSHConnection("node1", lab.hostvars())
        try:
            spec = JobSpec(jid=jobs.new_jid(), limit=10, shell=f"echo run >> {counter}")
            launch = await conn.start_job(spec)
            status = (await conn.wait_jobs([spec.jid], timeout=5))[spec.jid]
            # A second start of the same jid is refused by the supervisor itself.
            with pytest.raises(jobs.JobError, match="already exists"):
                await (await conn._supervisor(spec.async_dir, None)).start(spec)
            return launch, status
        finally:
            await conn.close()

    launch, status = arun(scenario())
    assert lost_once and launch["ansible_job_id"] == lost_once[0]
    assert status["finished"] and status["rc"] == 0
    assert counter.read_text() == "run\n"


def test_polls_of_many_hosts_share_one_request(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    original = jobs.SupervisorClient.status

    async def counted(self: jobs.SupervisorClient, jids: Any) -> dict[str, Any]:
        calls.append(list(jids))
        return await original(self, jids)

    monkeypatch.setattr(jobs.SupervisorClient, "status", counted)

    async def scenario() -> list[dict[str, Any]]:
        conns = [SSHConnection(f"node{i}", lab.hostvars()) for i in range(10)]
        try:
            jids = [jobs.new_jid() for _ in conns]
            await asyncio.gather(
                *(
                    c.start_job(JobSpec(jid=j, limit=10, argv=["sleep", "1"]))
                    for c, j in zip(conns, jids, strict=True)
                )
            )
            calls.clear()
            found = await asyncio.gather(
                *(c.job_status([j]) for c, j in zip(conns, jids, strict=True))
            )
            return [f[j] for f, j in zip(found, jids, strict=True)]
        finally:
            for conn in conns:
                await conn.close()

    statuses = arun(scenario())
    assert all(s["started"] and not s["finished"] for s in statuses)
    assert len(calls) == 1 and len(calls[0]) == 10  # ten hosts' polls: one round trip


def test_remote_time_limit_kills_the_job(lab: Lab) -> None:
    """`sleep 30` with `async: 2`: the target's supervisor ends it at 2 s (pgrep on loopback)."""
    playbook = lab.playbook(
        "limit.yml",
        """- hosts: all
  gather_facts: false
  tasks:
    - command: sleep 30
      async: 2
      poll: 1
""",
    )
    inventory = lab.inventory("limit.ini", lab.node1())
    alive: list[tuple[float, float]] = []
    """(before, after) each pgrep that found the job's processes."""
    launched: list[float] = []

    def on_event(event: Event) -> None:
        if event.kind is EventKind.LAUNCHED:
            launched.append(time.perf_counter())

    async def scenario() -> tuple[RunOutcome, float]:
        start = time.perf_counter()
        stop = asyncio.Event()

        async def watch() -> None:
            while not stop.is_set():
                before = time.perf_counter()
                proc = await asyncio.create_subprocess_exec(
                    "pgrep", "-u", USER, "-f", "sleep 30$", stdout=asyncio.subprocess.DEVNULL
                )
                if await proc.wait() == 0:
                    alive.append((before, time.perf_counter()))
                await asyncio.sleep(0.05)

        watcher = asyncio.ensure_future(watch())
        try:
            outcome = await play(playbook, inventory, subscribers=(on_event,))
        finally:
            stop.set()
            await watcher
        return outcome, time.perf_counter() - start

    outcome, seconds = arun(scenario())
    result = results(outcome, 0)["node1"]
    assert result["failed"] and "did not complete within the requested time - 2s" in result["msg"]
    assert launched and alive, "the job never ran"
    first = alive[0][0] - launched[0]
    last = alive[-1][1] - launched[0]
    print(f"\nsleep 30, async 2: alive from {first:.2f} s to {last:.2f} s after its launch")
    # Alive until close to its limit, and never seen after it (plus pgrep's own latency).
    assert last > 1.5
    assert all(before - launched[0] < 2.0 + 0.3 for before, _ in alive), alive
    assert seconds < 8.0
    assert subprocess.run(["pgrep", "-u", USER, "-f", "sleep 30$"]).returncode == 1


# --------------------------------------------------------------------------- become


def test_become_sudo_paths_and_jobs(lab: Lab) -> None:
    """Logged in as playgraph-become: root without a password, nobody with one, jobs as root."""
    playbook = lab.playbook(
        "become.yml",
        """- hosts: all
  gather_facts: false
  tasks:
    - command: id -un
      become: true
    - command: id -un
      become: true
      become_user: nobody
      vars:
        ansible_become_password: "{{ good_password }}"
    - command: id -un
      become: true
      become_user: nobody
      vars:
        ansible_become_password: not-the-password
      ignore_errors: true
    - command: sleep 1
      become: true
      async: 20
      poll: 0
      register: rootjob
    - async_status:
        jid: "{{ rootjob.ansible_job_id }}"
      register: rootjoin
      until: rootjoin.finished
      retries: 10
      delay: 1
    - copy:
        content: "as root\n"
        dest: /root/playgraph-ssh-test.txt
      become: true
    - file:
        path: /root/playgraph-ssh-test.txt
        state: absent
      become: true
    - copy:
        content: "as the login user\n"
        dest: ~/playgraph-ssh-test.txt
""",
    )
    inventory = lab.inventory("become.ini", lab.node1())
    outcome = arun(play(playbook, inventory, extra_vars={"good_password": lab.password}))
    assert results(outcome, 0)["node1"]["stdout"] == "root"
    assert results(outcome, 1)["node1"]["stdout"] == "nobody"
    wrong = results(outcome, 2)["node1"]
    assert wrong["failed"] and "incorrect sudo password" in wrong["stderr"] + wrong.get("msg", "")
    launch = results(outcome, 3)["node1"]
    assert launch["results_file"].startswith("/root/.ansible_async/")
    join = results(outcome, 4)["node1"]  # inherits the launch's become: finds root's job file
    assert join["finished"] and join["rc"] == 0, join
    # Target programs (copy, file) under become: run from their source, no shipped copy.
    copied = results(outcome, 5)["node1"]
    assert copied["changed"] and copied["owner"] == "root", copied
    assert results(outcome, 6)["node1"]["state"] == "absent"
    # Without become the program is shipped to the login user's cache once, then run from it.
    assert results(outcome, 7)["node1"]["owner"] == USER
    assert outcome.exit_code == 0


def test_job_as_a_user_who_needs_a_sudo_password(lab: Lab) -> None:
    """The supervisor bridge under ``sudo -S``: the password answers sudo, never the job.

    ``nobody`` has no home: the supervisor script goes to /tmp/playgraph-65534/.
    """
    async_dir = Path("/tmp/playgraph-test-nobody-async")
    become = Become(user="nobody", password=lab.password)

    async def scenario() -> dict[str, Any]:
        conn = SSHConnection("node1", lab.hostvars())
        try:
            spec = JobSpec(
                jid=jobs.new_jid(),
                limit=10,
                shell="id -un; cat",
                stdin=b"job input",
                cwd="/tmp",  # not its home, which does not exist
                become=become,
                async_dir=str(async_dir),
            )
            await conn.start_job(spec)
            waited = await conn.wait_jobs(
                [spec.jid], timeout=5, async_dir=str(async_dir), become=become
            )
            return waited[spec.jid]
        finally:
            await conn.close()

    try:
        status = arun(scenario())
    finally:
        stop_supervisor(async_dir)
        subprocess.run(["rm", "-rf", str(async_dir)], check=False)
    assert status["stdout"] == "nobody\njob input", status
    assert status["results_file"].startswith(str(async_dir))


def test_root_login_becomes_another_user(lab: Lab) -> None:
    async def scenario() -> tuple[str, dict[str, Any]]:
        conn = SSHConnection("node1", lab.hostvars(ansible_user="root"))
        become = Become(user=USER)
        try:
            who = await conn.run(["id", "-un"], become=become)
            spec = JobSpec(jid=jobs.new_jid(), limit=10, argv=["id", "-un"], become=become)
            await conn.start_job(spec)
            status = (await conn.wait_jobs([spec.jid], timeout=5, become=become))[spec.jid]
            # Without become, root's own supervisor does not know the job.
            other = (await conn.job_status([spec.jid]))[spec.jid]
            assert other["msg"] == "could not find job"
            return who.stdout.decode().strip(), status
        finally:
            await conn.close()

    who, status = arun(scenario())
    home = pwd.getpwnam(USER).pw_dir
    assert who == USER
    assert status["stdout"] == USER and status["results_file"].startswith(home)


def test_unknown_ssh_option_warns(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    async def scenario() -> int:
        conn = SSHConnection(
            "node-warn",
            lab.hostvars(ansible_ssh_extra_args="-o Tunnel=point-to-point -o ControlPersist=60s"),
        )
        try:
            return (await conn.run(["true"])).rc
        finally:
            await conn.close()

    assert arun(scenario()) == 0
    err = capsys.readouterr().err
    assert "[WARNING]: node-warn: ignoring the ssh option 'tunnel'" in err
    assert "controlpersist" not in err
