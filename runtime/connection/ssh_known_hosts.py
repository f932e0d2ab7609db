"""Which host keys to trust: the known_hosts files, and ``StrictHostKeyChecking=accept-new``.

asyncssh reads known_hosts itself, but only the files it is given, and it treats
a missing file as "use the defaults"; `match_known` reads exactly the files a
host's options name (missing ones count as empty), and `accept_new_key` records
an unknown host's key in the first of them, as OpenSSH does.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import Any

import asyncssh


def _read_known(files: Sequence[str]) -> list[asyncssh.SSHKnownHosts]:
    found = []
    for path in files:
        if os.path.isfile(path):
            with contextlib.suppress(OSError, ValueError, asyncssh.Error):
                found.append(asyncssh.read_known_hosts(path))
    return found


def match_known(files: Sequence[str], host: str, addr: str, port: int | None) -> Any:
    """asyncssh's ``known_hosts`` callable: the trusted, CA and revoked keys of ``files``
    (files that do not exist yet count as empty, never as "use the defaults")."""
    merged: list[list[Any]] = [[] for _ in range(7)]
    for known in _read_known(files):
        for i, part in enumerate(known.match(host, addr, port)):
            merged[i] += list(part)
    return tuple(merged)


def _host_pattern(host: str, port: int | None) -> str:
    """How OpenSSH names a host in known_hosts: ``host``, or ``[host]:port`` off port 22."""
    return host if port in (None, 22) else f"[{host}]:{port}"


def accept_new_key(
    files: Sequence[str], host: str, addr: str, port: int | None, key: Any
) -> str | None:
    """``StrictHostKeyChecking=accept-new``: record an unknown host's key in the first file
    and return None; return why not when the host is known with another key."""
    port = None if port in (None, 22) else port
    known_keys: list[Any] = []
    for known in _read_known(files):
        known_keys += list(known.match(host, addr, port)[0])
    if known_keys:
        if key in known_keys:
            return None
        return (
            f"the host key for {_host_pattern(host, port)} has changed and you have requested "
            f"strict checking (StrictHostKeyChecking=accept-new only adds new hosts): "
            f"{', '.join(files)} has another key for it. Host key verification failed."
        )
    target = files[0]
    line = " ".join(key.export_public_key("openssh").decode().split()[:2])
    os.makedirs(os.path.dirname(target) or ".", mode=0o700, exist_ok=True)
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(f"{_host_pattern(host, port)} {line}\n")
    return None
