"""Real OpenSSH servers on loopback for the SSH tests and the SSH benchmark.

`SSHD` generates its own host key and a client key pair in a temp dir, writes an
``sshd_config`` (own ``HostKey``, ``PidFile``, a free ``Port``, ``ListenAddress
127.0.0.1``, ``UsePAM no``, ``StrictModes no``, ``AuthorizedKeysFile`` in the temp
dir — so the client key logs in as any user — ``Subsystem sftp internal-sftp`` and
fan-out limits), runs ``/usr/sbin/sshd -D -e -f CONFIG`` as a child process and
waits until the port answers with an SSH banner.  Several instances can share
one `Keys` (one client key, one host key), as several hosts of a fleet
accept the same deploy key.

`ensure_become_user` creates the local user ``playgraph-become`` (with a
random password per test session) and a sudoers drop-in, for the ``become``
tests.  Both need root and real binaries; they fail loudly — never skip —
when something is missing, saying what to install.

Stdlib only (the benchmark imports it from outside pytest).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SSHD_BIN = "/usr/sbin/sshd"
SSH_KEYGEN = "ssh-keygen"
BECOME_USER = "playgraph-become"
SUDOERS_DROPIN = "/etc/sudoers.d/playgraph-test"
PASSWORD_FILE = "/var/lib/playgraph-test/become-password"
INSTALL_HINT = "run scripts/test (it installs openssh-server)"


class FixtureError(RuntimeError):
    """The machine lacks something the SSH tests need (never a reason to skip)."""


@dataclass(frozen=True)
class Keys:
    """A host key and a client key pair, shared by the servers of one test session."""

    folder: Path
    host_key: Path
    client_key: Path

    @property
    def host_public(self) -> str:
        """``<type> <base64>`` of the host key, for known_hosts lines."""
        return " ".join(self.host_key.with_suffix(".pub").read_text().split()[:2])

    @property
    def authorized_keys(self) -> Path:
        return self.folder / "authorized_keys"

    def known_hosts(self, ports: list[int], path: Path | None = None) -> Path:
        """A known_hosts file trusting this host key on 127.0.0.1 at ``ports``."""
        target = path or self.folder / "known_hosts"
        lines = [f"[127.0.0.1]:{port} {self.host_public}\n" for port in ports]
        target.write_text("".join(lines))
        return target


def _require_binaries() -> None:
    if not os.access(SSHD_BIN, os.X_OK):
        raise FixtureError(f"{SSHD_BIN} is missing: {INSTALL_HINT}")
    if shutil.which(SSH_KEYGEN) is None:
        raise FixtureError(f"{SSH_KEYGEN} is missing: {INSTALL_HINT}")
    if os.geteuid() != 0:
        raise FixtureError("the SSH tests start sshd on loopback and need to run as root")


def make_keys(folder: Path) -> Keys:
    """Generate the host key and the client key (ed25519, no passphrase) in ``folder``."""
    _require_binaries()
    folder.mkdir(parents=True, exist_ok=True)
    host_key = folder / "host_ed25519"
    client_key = folder / "client_ed25519"
    for path, comment in ((host_key, "playgraph-test-host"), (client_key, "playgraph-test-client")):
        if not path.exists():
            subprocess.run(
                [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                check=True,
                capture_output=True,
            )
    keys = Keys(folder, host_key, client_key)
    keys.authorized_keys.write_text(client_key.with_suffix(".pub").read_text())
    keys.authorized_keys.chmod(0o644)
    # Other users (playgraph-become) must be able to read the authorized keys.
    folder.chmod(0o755)
    return keys


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class SSHD:
    """One sshd on 127.0.0.1, started with `start` and stopped with `stop` (or as a context)."""

    def __init__(
        self,
        keys: Keys,
        *,
        name: str = "sshd",
        password_auth: bool = False,
        max_sessions: int = 200,
        max_startups: str = "200:30:400",
    ) -> None:
        self.keys = keys
        self.name = name
        self.password_auth = password_auth
        self.max_sessions = max_sessions
        self.max_startups = max_startups
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.folder = keys.folder / name
        self.log_path = self.folder / "sshd.log"

    def config_text(self) -> str:
        return "\n".join(
            [
                f"HostKey {self.keys.host_key}",
                f"PidFile {self.folder / 'sshd.pid'}",
                f"Port {self.port}",
                "ListenAddress 127.0.0.1",
                "UsePAM no",
                "StrictModes no",
                f"PasswordAuthentication {'yes' if self.password_auth else 'no'}",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                f"AuthorizedKeysFile {self.keys.authorized_keys}",
                "Subsystem sftp internal-sftp",
                f"MaxSessions {self.max_sessions}",
                f"MaxStartups {self.max_startups}",
                "PermitRootLogin yes",
                "UseDNS no",
                "LogLevel ERROR",
                "",
            ]
        )

    def start(self, timeout: float = 10.0) -> SSHD:
        _require_binaries()
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privsep chroot
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = self.folder / "sshd_config"
        config.write_text(self.config_text())
        check = subprocess.run([SSHD_BIN, "-t", "-f", str(config)], capture_output=True)
        if check.returncode != 0:
            raise FixtureError(f"sshd rejects its config: {check.stderr.decode().strip()}")
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it from here
        try:
            self.proc = subprocess.Popen(
                [SSHD_BIN, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise FixtureError(f"sshd exited at once: {self.log_path.read_text()[-2000:]}")
            if self._banner():
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise FixtureError(f"sshd did not answer on port {self.port} within {timeout} s")
            time.sleep(0.02)  # the test process, not the controller's loop

    def _banner(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                return sock.recv(64).startswith(b"SSH-")
        except OSError:
            return False

    def children(self) -> list[int]:
        """Pids of this sshd's per-connection processes (killing one drops that connection)."""
        if self.proc is None:
            return []
        try:
            text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    def drop_connections(self) -> int:
        """SIGKILL every per-connection sshd process group: each client connection is cut.

        The group, not just the process: the unprivileged child that holds the TCP
        socket outlives its privsep monitor.  The sessions' commands run in their own
        sessions and only see their channel go away.
        """
        pids = self.children()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        return len(pids)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.drop_connections()
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> SSHD:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def temp_keys() -> Keys:
    """Keys in a fresh temp dir (world-traversable, for the become user's logins)."""
    return make_keys(Path(tempfile.mkdtemp(prefix="playgraph-sshd-")))


def _test_password() -> str:
    """The become user's password: random once per machine, kept in a root-only file.

    Not per session, so two test runs at once (several checkouts on one machine)
    do not change it under each other's feet.
    """
    path = Path(PASSWORD_FILE)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(12) + "\n")
    for _ in range(50):
        text = path.read_text().strip()
        if text:
            return text
        time.sleep(0.01)  # another run is writing it
    raise FixtureError(f"{path} is empty")


def ensure_become_user(password: str | None = None) -> str:
    """Create ``playgraph-become`` if missing, set its password, install the sudoers drop-in.

    The drop-in lets the user become root without a password and ``nobody`` only
    with its password (so both sudo paths are exercised).  Returns the password.
    """
    if os.geteuid() != 0:
        raise FixtureError("the become tests create a local user and need to run as root")
    if not os.access("/usr/bin/sudo", os.X_OK) or shutil.which("visudo") is None:
        raise FixtureError(
            "sudo is missing: the become tests need it. Add to scripts/test, next to the "
            "openssh-server install: `apt-get install -y -qq sudo` (see the SSH report)"
        )
    password = password or _test_password()
    exists = subprocess.run(["id", "-u", BECOME_USER], capture_output=True).returncode == 0
    if not exists:
        subprocess.run(
            ["useradd", "-m", "-s", "/bin/sh", BECOME_USER], check=True, capture_output=True
        )
    subprocess.run(
        ["chpasswd"], input=f"{BECOME_USER}:{password}\n".encode(), check=True, capture_output=True
    )
    rules = (
        f"# playgraph's SSH tests (tests/runtime/sshd.py)\n"
        f"{BECOME_USER} ALL=(root) NOPASSWD: ALL\n"
        f"{BECOME_USER} ALL=(nobody) ALL\n"
    )
    tmp = Path(SUDOERS_DROPIN + ".tmp")
    tmp.write_text(rules)
    tmp.chmod(0o440)
    check = subprocess.run(["visudo", "-cf", str(tmp)], capture_output=True)
    if check.returncode != 0:
        tmp.unlink()
        raise FixtureError(f"visudo rejects the test drop-in: {check.stdout.decode()}")
    tmp.replace(SUDOERS_DROPIN)
    return password
