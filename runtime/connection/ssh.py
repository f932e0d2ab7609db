"""The ``ssh`` connection: a target over SSH, on asyncssh.

One multiplexed SSH connection per target serves every inventory alias that
reaches the same (address, port, user, credentials) — what Ansible's
ControlPersist shares too.  Commands, file transfers and the job supervisor's
bridge are channels on it.  A connection carries at most `SESSIONS_PER_LINK`
channels at once (OpenSSH's default ``MaxSessions``); beyond that a second
connection to the same target is opened, and a server that refuses a channel
teaches the pool its real limit.

Jobs go to the target's job supervisor (`runtime/target/supervisor.py`) through
its ``client`` bridge on one long-lived channel per (target, python, become user,
async dir): ``[sudo -u X] python3 -E -S ~/.cache/playgraph/<sha>/supervisor.py
client --async-dir D``.  The same channel's first lines check that the script
is in the target's cache and, when it is not, carry it there (``head -c`` of the
channel's stdin), so opening a bridge costs one channel and no extra round trip.

The supervisor's status files are the durable truth, so a dropped connection
loses nothing: the next call opens a new connection and a new bridge, a poll or
join carries on, and a ``start`` whose answer was lost is checked before it is
repeated (the supervisor refuses a second start of the same jid anyway).

Unreachable targets — refused, timed out, unknown name, authentication or host
key failures, a connection lost mid-command — raise `ConnectionError` with
Ansible's ``Failed to connect to the host via ssh: …`` wording.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import getpass
import hashlib
import json
import math
import os
import random
import secrets
import shlex
import socket
import sys
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

import asyncssh

from .. import config as _config
from ..jobs import (
    STREAM_LIMIT,
    SUPERVISOR_PATH,
    JobError,
    SupervisorClient,
    SupervisorLost,
    cached_client,
    launch_record,
)
from . import settings as _s
from .base import Become, CommandResult, ConnectionError, JobSpec
from .supervised import SupervisedJobs

if TYPE_CHECKING:
    from .base import Connection

R = TypeVar("R")

SESSIONS_PER_LINK = 10
"""Channels per SSH connection before another is opened (OpenSSH's default MaxSessions)."""
PARALLEL_OPENS = 8
"""Connections opened at once to one target: below OpenSSH's default ``MaxStartups 10``,
beyond which a server starts dropping new connections."""
KEEPALIVE_INTERVAL = 15.0
KEEPALIVE_COUNT_MAX = 3
"""A silent server is declared gone after about a minute, which fails its pending calls."""
TERM_GRACE = 2.0
"""Seconds between SIGTERM and SIGKILL when a command's time is up (as the local connection)."""
DRAIN_AFTER_KILL = 1.0
BRIDGE_TIMEOUT = 15.0
"""Seconds for sudo, the script upload and the supervisor bridge to say hello."""
FAILED = "Failed to connect to the host via ssh: "
HANDSHAKE_RETRY_FIRST = 0.1
HANDSHAKE_RETRY_MAX = 1.0
"""Seconds between attempts when a server drops a connection during its handshake (backoff,
with jitter, until the connection timeout)."""
_HANDSHAKE_RESETS = (
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    asyncssh.ConnectionLost,
)

# Options of `ssh -o` with no meaning here: multiplexing is built in, logging is ours.
_MOOT_OPTIONS = frozenset(
    {
        "controlmaster",
        "controlpath",
        "controlpersist",
        "loglevel",
        "batchmode",
        "checkhostip",
        "hashknownhosts",
        "visualhostkey",
        "updatehostkeys",
        "requesttty",
        "numberofpasswordprompts",
        "identitiesonly",
        "compression",
    }
)
# ssh flags without a value that change nothing here (-C compression, -q/-v verbosity, tty).
_MOOT_FLAGS = frozenset("CqvTtnxaNk")

_UNSUPPORTED = "not supported by playgraph's ssh connection"

_warned: set[str] = set()


def _warn(message: str) -> None:
    """One ``[WARNING]:`` line on stderr per distinct message and process (as Ansible's display)."""
    if message not in _warned:
        _warned.add(message)
        sys.stderr.write(f"[WARNING]: {message}\n")


# --------------------------------------------------------------------------- options


@dataclass(frozen=True, slots=True, kw_only=True)
class SSHOptions:
    """Where and how to reach one inventory host, from its variables, ssh args and config."""

    address: str
    port: int | None = None
    """None: from ``~/.ssh/config``, else 22."""
    user: str | None = None
    """None: from ``~/.ssh/config``, else the local user."""
    keys: tuple[str, ...] = ()
    """Private key files; none: the agent and the default ``~/.ssh/id_*`` keys."""
    password: str | None = field(default=None, repr=False)
    host_key_checking: bool = True
    accept_new: bool = False
    """``StrictHostKeyChecking=accept-new``: an unknown host's key is recorded in the first
    known_hosts file and trusted; a known host's changed key is still refused."""
    known_hosts: tuple[str, ...] | None = None
    """Files of trusted host keys; None: the defaults (``~/.ssh/known_hosts`` …)."""
    timeout: float = _config.DEFAULT_TIMEOUT
    keepalive_interval: float = KEEPALIVE_INTERVAL
    keepalive_count_max: int = KEEPALIVE_COUNT_MAX
    config_files: tuple[str, ...] = ()
    """``-F`` files; none: ``~/.ssh/config``."""
    extra: tuple[tuple[str, Any], ...] = ()
    """Further asyncssh options from ``-o`` (algorithms, ProxyJump, …)."""
    python: str | None = None
    """``ansible_python_interpreter`` for the supervisor; None: discovered on the target."""
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def link_key(self) -> tuple[Any, ...]:
        """What makes two inventory hosts share SSH connections: everything but the python."""
        return (
            self.address,
            self.port,
            self.user,
            self.keys,
            self.password,
            self.host_key_checking,
            self.accept_new,
            self.known_hosts,
            self.timeout,
            self.keepalive_interval,
            self.keepalive_count_max,
            self.config_files,
            self.extra,
        )

    def where(self) -> str:
        return f"{self.address} port {self.port or 22}"

    def known_hosts_files(self) -> tuple[str, ...]:
        """The known_hosts files read; new keys (accept-new) go to the first, as OpenSSH's."""
        if self.known_hosts:
            return self.known_hosts
        return (os.path.expanduser("~/.ssh/known_hosts"),)

    def asyncssh_options(self) -> dict[str, Any]:
        """Keyword arguments for `asyncssh.SSHClientConnectionOptions`."""
        kwargs: dict[str, Any] = dict(self.extra)
        kwargs.update(
            connect_timeout=self.timeout,
            keepalive_interval=self.keepalive_interval,
            keepalive_count_max=self.keepalive_count_max,
        )
        if self.user is not None:
            kwargs["username"] = self.user
        if self.keys:
            kwargs["client_keys"] = list(self.keys)
        if self.password is not None:
            kwargs["password"] = self.password
        if not self.host_key_checking:
            kwargs["known_hosts"] = None
        elif self.accept_new:
            kwargs["known_hosts"] = functools.partial(_match_known, self.known_hosts_files())
        elif self.known_hosts is not None:
            kwargs["known_hosts"] = [p for p in self.known_hosts if os.path.isfile(p)]
        if self.config_files:
            kwargs["config"] = list(self.config_files)
        return kwargs


def _first(variables: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    """The setting several variables spell: the last of ``names`` given wins (as in
    ansible-core, whose lists `settings` copies: ``ansible_ssh_user`` beats ``ansible_user``)."""
    found = None
    for name in names:
        value = variables.get(name)
        if value not in (None, ""):
            found = value
    return found


def _split_option(text: str) -> tuple[str, str]:
    """``Key=Value`` or ``Key Value`` (as ``ssh -o`` accepts) -> (lowercase key, value)."""
    text = text.strip()
    cut = min((i for i in (text.find("="), text.find(" "), text.find("\t")) if i >= 0), default=-1)
    if cut < 0:
        return text.lower(), ""
    return text[:cut].strip().lower(), text[cut + 1 :].strip().lstrip("=").strip()


def _ssh_words(*texts: str) -> Iterator[tuple[str, str]]:
    """(flag, value) pairs of ssh command-line arguments; flag ``o`` for ``-o`` options."""
    words: list[str] = []
    for text in texts:
        if text:
            words += shlex.split(str(text))
    takes_value = set("oiplJFcmDLRWwEbBOQSe")  # ssh(1)'s options that take an argument
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if not word.startswith("-") or len(word) < 2:
            yield "?", word
            continue
        flag = word[1]
        if flag in takes_value:
            if len(word) > 2:
                yield flag, word[2:]
            elif i < len(words):
                yield flag, words[i]
                i += 1
            else:
                yield "?", word
            continue
        # Grouped value-less flags (-Cq).
        for letter in word[1:]:
            yield letter, ""


def parse_options(
    host: str, variables: Mapping[str, Any], defaults: _config.ConnectionDefaults | None = None
) -> SSHOptions:
    """Resolve an inventory host's SSH options the way ``ansible-playbook`` + ``ssh`` would.

    An inventory variable wins; then the ssh args, where, as in OpenSSH, the
    first value of an ``-o`` option wins (``ssh_args``, then
    ``ansible_ssh_common_args``, then ``ansible_ssh_extra_args``); then the
    configuration.  The port and user are the exception: Ansible passes the ones
    it knows (inventory, else configuration) ahead of the args, so those win.
    """
    defaults = defaults or _config.current()
    warnings: list[str] = list(defaults.warnings)
    address = str(_first(variables, _s.HOST_VARS) or host)
    seen: dict[str, str] = {}
    keys: list[str] = []
    known: list[str] = []
    extra: dict[str, Any] = {}
    config_files: list[str] = []
    for flag, value in _ssh_words(
        str(_first(variables, _s.SSH_ARGS_VARS) or defaults.ssh_args),
        str(_first(variables, _s.SSH_COMMON_ARGS_VARS) or defaults.ssh_common_args),
        str(_first(variables, _s.SSH_EXTRA_ARGS_VARS) or defaults.ssh_extra_args),
    ):
        if flag == "o":
            key, val = _split_option(value)
            if key in seen and key != "identityfile":
                continue  # ssh keeps the first value (identities add up)
            seen[key] = val
            if key == "identityfile":
                keys.append(val)
            elif key in ("userknownhostsfile", "globalknownhostsfile"):
                known += val.split()
            elif key not in _OPTION_HANDLERS and key not in _MOOT_OPTIONS:
                warnings.append(f"ignoring the ssh option '{key}' ({_UNSUPPORTED})")
        elif flag == "i":
            keys.append(value)
        elif flag == "p":
            seen.setdefault("port", value)
        elif flag == "l":
            seen.setdefault("user", value)
        elif flag == "J":
            seen.setdefault("proxyjump", value)
        elif flag == "F":
            config_files.append(os.path.expanduser(value))
        elif flag == "4":
            seen.setdefault("addressfamily", "inet")
        elif flag == "6":
            seen.setdefault("addressfamily", "inet6")
        elif flag in _MOOT_FLAGS:
            continue
        else:
            shown = f"-{flag} {value}".strip() if flag != "?" else value
            warnings.append(f"ignoring the ssh argument '{shown}' ({_UNSUPPORTED})")

    for key, val in seen.items():
        handler = _OPTION_HANDLERS.get(key)
        if handler is None:
            continue
        try:
            handler(val, extra)
        except ValueError:
            warnings.append(f"ignoring the ssh option '{key}={val}' (bad value)")

    # Ansible passes the port and user it knows (inventory, else config) as `-o`
    # options ahead of the args, so those win over the args' own.
    args_port, args_user = extra.pop("port", None), extra.pop("user", None)
    port_value = _first(variables, _s.PORT_VARS)
    if port_value is None:
        port_value = defaults.remote_port if defaults.remote_port is not None else args_port
    port: int | None = None
    if port_value is not None:
        try:
            port = int(port_value)
        except (TypeError, ValueError):
            warnings.append(f"ansible_port={port_value!r} is not a port number; using 22")
            port = 22
    user_value = _first(variables, _s.USER_VARS)
    user = str(user_value) if user_value is not None else defaults.remote_user or args_user

    key_file = _first(variables, _s.KEY_VARS)
    key_files = [str(key_file)] if key_file else []
    key_files += keys
    if not key_files and defaults.private_key_file:
        key_files.append(defaults.private_key_file)
    resolved_keys: list[str] = []
    for path in dict.fromkeys(os.path.expanduser(p) for p in key_files):
        if os.path.isfile(path):
            resolved_keys.append(path)
        else:
            # OpenSSH warns and goes on with the other identities.
            warnings.append(f"identity file {path} not accessible: No such file or directory")
    # Asked for keys that are all missing: offer none rather than the defaults, as
    # `ssh -o IdentitiesOnly` would, so a wrong key never logs in by accident.
    if key_files and not resolved_keys:
        extra["public_key_auth"] = False

    password = _first(variables, _s.PASSWORD_VARS)

    checking = defaults.host_key_checking
    var_checking = _first(variables, _s.HOST_KEY_CHECKING_VARS)
    if var_checking is not None:
        parsed = _config.parse_bool(var_checking)
        if parsed is None:
            warnings.append(
                f"host_key_checking={var_checking!r} is not a boolean; checking stays on"
            )
        else:
            checking = parsed
    strict = seen.get("stricthostkeychecking", "").lower()
    accept_new = False
    if strict in ("no", "off"):
        checking = False
    elif strict == "accept-new":
        accept_new = checking  # host_key_checking=False already accepts anything

    timeout = defaults.timeout
    timeout_value = _first(variables, ("ansible_timeout", "ansible_ssh_timeout"))
    if timeout_value is None:
        timeout_value = extra.pop("connect_timeout", None)
    extra.pop("connect_timeout", None)
    if timeout_value is not None:
        try:
            timeout = float(timeout_value)
        except (TypeError, ValueError):
            warnings.append(f"timeout={timeout_value!r} is not a number; using {timeout:g} s")
    keepalive = float(extra.pop("keepalive_interval", KEEPALIVE_INTERVAL))
    keepalive_max = int(extra.pop("keepalive_count_max", KEEPALIVE_COUNT_MAX))

    python = _first(variables, _s.PYTHON_VARS)
    python_text = str(python) if python is not None else None
    if python_text is not None and python_text.startswith("auto"):
        python_text = None  # ansible's discovery modes: ours is the same idea

    return SSHOptions(
        address=address,
        port=port,
        user=user,
        keys=tuple(resolved_keys),
        password=str(password) if password is not None else None,
        host_key_checking=checking,
        accept_new=accept_new,
        known_hosts=tuple(os.path.expanduser(p) for p in known) if known else None,
        timeout=timeout,
        keepalive_interval=keepalive,
        keepalive_count_max=keepalive_max,
        config_files=tuple(config_files),
        extra=tuple(sorted(extra.items())),
        python=python_text,
        warnings=tuple(dict.fromkeys(warnings)),
    )


def _yes(value: str) -> bool:
    text = value.strip().lower()
    if text in ("yes", "true", "on"):
        return True
    if text in ("no", "false", "off"):
        return False
    raise ValueError(value)


def _set(name: str, convert: Callable[[str], Any] = str) -> Callable[[str, dict[str, Any]], None]:
    def handler(value: str, extra: dict[str, Any]) -> None:
        extra[name] = convert(value)

    return handler


def _proxy_command(value: str, extra: dict[str, Any]) -> None:
    if value.lower() != "none":
        extra["proxy_command"] = value


def _proxy_jump(value: str, extra: dict[str, Any]) -> None:
    if value.lower() != "none":
        extra["tunnel"] = value


def _identity_agent(value: str, extra: dict[str, Any]) -> None:
    extra["agent_path"] = None if value.lower() == "none" else os.path.expanduser(value)


def _family(value: str, extra: dict[str, Any]) -> None:
    families = {"inet": socket.AF_INET, "inet6": socket.AF_INET6, "any": socket.AF_UNSPEC}
    if value.lower() not in families:
        raise ValueError(value)
    extra["family"] = families[value.lower()]


def _positive(value: str) -> float:
    number = float(value)
    if number < 0 or math.isnan(number):
        raise ValueError(value)
    return number


_OPTION_HANDLERS: dict[str, Callable[[str, dict[str, Any]], None]] = {
    "stricthostkeychecking": lambda value, extra: None,  # decided with host_key_checking
    "port": _set("port", int),
    "user": _set("user"),
    "connecttimeout": _set("connect_timeout", _positive),
    "serveraliveinterval": _set("keepalive_interval", _positive),
    "serveralivecountmax": _set("keepalive_count_max", int),
    "passwordauthentication": _set("password_auth", _yes),
    "pubkeyauthentication": _set("public_key_auth", _yes),
    "kbdinteractiveauthentication": _set("kbdint_auth", _yes),
    "challengeresponseauthentication": _set("kbdint_auth", _yes),
    "gssapiauthentication": _set("gss_auth", _yes),
    "preferredauthentications": _set("preferred_auth"),
    "proxycommand": _proxy_command,
    "proxyjump": _proxy_jump,
    "ciphers": _set("encryption_algs"),
    "kexalgorithms": _set("kex_algs"),
    "macs": _set("mac_algs"),
    "hostkeyalgorithms": _set("server_host_key_algs"),
    "hostkeyalias": _set("host_key_alias"),
    "forwardagent": _set("agent_forwarding", _yes),
    "identityagent": _identity_agent,
    "addressfamily": _family,
    "tcpkeepalive": _set("tcp_keepalive", _yes),
}


# --------------------------------------------------------------------------- known hosts


def _read_known(files: Sequence[str]) -> list[asyncssh.SSHKnownHosts]:
    found = []
    for path in files:
        if os.path.isfile(path):
            with contextlib.suppress(OSError, ValueError, asyncssh.Error):
                found.append(asyncssh.read_known_hosts(path))
    return found


def _match_known(files: Sequence[str], host: str, addr: str, port: int | None) -> Any:
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


# --------------------------------------------------------------------------- errors


def _reason(options: SSHOptions, exc: BaseException) -> str:
    """ssh's own words for why a connection could not be made (Ansible shows them)."""
    where = f"connect to host {options.where()}"
    if isinstance(exc, asyncssh.PermissionDenied):
        user = options.user or getpass.getuser()
        methods = ["publickey"] + (["password"] if options.password is not None else [])
        return f"{user}@{options.address}: Permission denied ({','.join(methods)})."
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return f"Host key verification failed for {options.where()}: {exc.reason}"
    if isinstance(exc, socket.gaierror):
        return f"Could not resolve hostname {options.address}: {exc.strerror or exc}"
    if isinstance(exc, TimeoutError):
        return f"{where}: Connection timed out"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where}: Connection refused"
    if isinstance(exc, asyncssh.Error):
        return f"{where}: {exc.reason}"
    if isinstance(exc, OSError):
        return f"{where}: {exc.strerror or exc}"
    return f"{where}: {exc}"


def _unreachable(options: SSHOptions, exc: BaseException) -> ConnectionError:
    return ConnectionError(FAILED + _reason(options, exc))


def _lost(options: SSHOptions, detail: str) -> ConnectionError:
    return ConnectionError(f"{FAILED}the connection to {options.where()} was lost ({detail})")


# --------------------------------------------------------------------------- channels


class _Session(asyncssh.SSHClientSession[bytes]):
    """One channel's ends as asyncio streams: stdout/stderr readers, flow control, closing."""

    def __init__(self) -> None:
        self.stdout = asyncio.StreamReader(limit=STREAM_LIMIT)
        self.stderr = asyncio.StreamReader(limit=STREAM_LIMIT)
        self.closed: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self._writable = asyncio.Event()
        self._writable.set()

    def data_received(self, data: bytes, datatype: int | None) -> None:
        stream = self.stderr if datatype == asyncssh.EXTENDED_DATA_STDERR else self.stdout
        stream.feed_data(data)

    def eof_received(self) -> bool:
        self.stdout.feed_eof()
        self.stderr.feed_eof()
        # Stay half open: the command may still read what we send (we end stdin ourselves).
        return True

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stdout.feed_eof()
        self.stderr.feed_eof()
        self._writable.set()
        if not self.closed.done():
            self.closed.set_result(exc)

    async def drain(self) -> None:
        await self._writable.wait()
        if self.closed.done():
            raise BrokenPipeError("the SSH channel is closed")


class _ChannelWriter:
    """The supervisor client's request stream on an SSH channel (`jobs.StreamSink`)."""

    def __init__(self, chan: asyncssh.SSHClientChannel[bytes], session: _Session) -> None:
        self._chan = chan
        self._session = session

    def write(self, data: bytes) -> None:
        try:
            self._chan.write(data)
        except (OSError, asyncssh.Error) as exc:
            raise BrokenPipeError(f"the SSH channel is closed: {exc}") from exc

    async def drain(self) -> None:
        await self._session.drain()

    def close(self) -> None:
        self._chan.close()


# --------------------------------------------------------------------------- the pool


class _Link:
    """One SSH connection of an endpoint, and how many channels it carries."""

    def __init__(self, cap: int) -> None:
        self.conn: asyncssh.SSHClientConnection | None = None
        self.sessions = 0
        self.cap = cap
        self.alive = True
        self.reason = ""


class _LinkClient(asyncssh.SSHClient):
    """Tells the pool when a connection dies (so no new channel is tried on it), and
    records new host keys under ``StrictHostKeyChecking=accept-new``."""

    def __init__(self, endpoint: _Endpoint, link: _Link) -> None:
        self._endpoint = endpoint
        self._link = link

    def validate_host_public_key(self, host: str, addr: str, port: int, key: Any) -> bool:
        # asyncssh asks only about keys its known_hosts lookup did not trust.
        options = self._endpoint.options
        if not options.accept_new:
            return False
        try:
            problem = accept_new_key(options.known_hosts_files(), host, addr, port, key)
        except OSError as exc:
            problem = (
                f"cannot record the host key of {host} in {options.known_hosts_files()[0]}: {exc}"
            )
        self._endpoint.host_key_problem = problem
        return problem is None

    def connection_lost(self, exc: Exception | None) -> None:
        self._link.alive = False
        self._link.reason = str(exc) if exc is not None else "closed"
        self._endpoint.changed()


class _Endpoint:
    """The SSH connections to one target, shared by the inventory hosts that reach it."""

    def __init__(self, options: SSHOptions) -> None:
        self.options = options
        self.links: list[_Link] = []
        self.cap = SESSIONS_PER_LINK
        self.users = 0
        self._opening = 0
        self._waiting = 0
        self._failures = 0
        self._failure: ConnectionError | None = None
        self._max_links = math.inf
        """Lowered when an extra connection fails while others are up (the server's MaxStartups
        or a per-user limit): the pool then shares the connections it has."""
        self._changed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tasks: set[asyncio.Task[None]] = set()
        self._client_options: asyncssh.SSHClientConnectionOptions | None = None
        self.connect_seconds: list[float] = []
        """Wall time of each connection opened (handshake + authentication)."""
        self.host_key_problem: str | None = None
        """Why the last handshake's host key was refused under accept-new (a changed key)."""

    def changed(self) -> None:
        fut, self._changed = self._changed, asyncio.get_running_loop().create_future()
        if not fut.done():
            fut.set_result(None)

    def live(self) -> list[_Link]:
        self.links = [link for link in self.links if link.alive]
        return self.links

    async def acquire(self) -> _Link:
        """A slot for one channel on a live connection, opening connections as needed.

        Waiters share the connections being opened; when an opening fails while
        no connection is up, every waiter of that moment gets its error (one
        timeout for all aliases of a dead target, not one each in turn).
        """
        self._waiting += 1
        failures_at_start = self._failures
        try:
            while True:
                for link in self.live():
                    if link.sessions < link.cap:
                        link.sessions += 1
                        return link
                if (
                    self._failures > failures_at_start
                    and not self.live()
                    and self._opening == 0
                    and self._failure is not None
                ):
                    raise self._failure
                changed = self._changed
                wanted = math.ceil(self._waiting / max(1, self.cap))
                room = self._max_links - len(self.links)
                if self._opening < min(wanted, PARALLEL_OPENS, room):
                    self._opening += 1
                    task = asyncio.get_running_loop().create_task(self._open())
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                await changed
        finally:
            self._waiting -= 1

    def release(self, link: _Link) -> None:
        link.sessions = max(0, link.sessions - 1)
        self.changed()

    def refused(self, link: _Link) -> bool:
        """A channel was refused: learn the server's session limit. True if worth retrying."""
        others = link.sessions - 1
        if others <= 0:
            return False
        link.cap = others
        self.cap = min(self.cap, others)
        return True

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        deadline = loop.time() + self.options.timeout
        backoff = HANDSHAKE_RETRY_FIRST
        link = _Link(self.cap)
        try:
            port: Any = self.options.port if self.options.port is not None else ()
            if self._client_options is None:
                # Built once (it reads the key files, known_hosts and ~/.ssh/config), for
                # this host: the config's `Host` blocks are matched here.
                self._client_options = asyncssh.SSHClientConnectionOptions(
                    host=self.options.address, port=port, **self.options.asyncssh_options()
                )
            while True:
                link = _Link(self.cap)  # a fresh one: a failed attempt's client marks its own dead
                self.host_key_problem = None
                try:
                    link.conn = await asyncio.wait_for(
                        asyncssh.connect(
                            self.options.address,
                            port,
                            options=self._client_options,
                            client_factory=functools.partial(_LinkClient, self, link),
                        ),
                        max(0.001, deadline - loop.time()),
                    )
                    break
                except _HANDSHAKE_RESETS:
                    # Dropped before or during the handshake (sshd's MaxStartups, a busy
                    # server): nothing ran, so try again while the connection timeout lasts.
                    pause = backoff * (0.5 + random.random())
                    if loop.time() + pause >= deadline:
                        raise
                    await asyncio.sleep(pause)
                    backoff = min(backoff * 2, HANDSHAKE_RETRY_MAX)
            self.connect_seconds.append(time.perf_counter() - start)
            self.links.append(link)
            self._failure = None
        except (OSError, asyncssh.Error, TimeoutError, ValueError) as exc:
            if isinstance(exc, ValueError):
                # asyncssh's complaints about options (a key file it cannot read, …).
                error = ConnectionError(f"{FAILED}{exc}")
            elif isinstance(exc, asyncssh.HostKeyNotVerifiable) and self.host_key_problem:
                error = ConnectionError(f"{FAILED}{self.host_key_problem}")
            else:
                error = _unreachable(self.options, exc)
            self._failure = error
            self._failures += 1
            if self.live():
                self._max_links = len(self.links)
        finally:
            self._opening -= 1
            self.changed()

    async def channel(
        self, command: str
    ) -> tuple[_Link, asyncssh.SSHClientChannel[bytes], _Session]:
        """A new session channel running ``command``; its slot is freed when it closes.

        A channel that could not be opened never ran anything, so it is retried on
        another connection: after a refusal (the server's MaxSessions) or when the
        connection turned out to be dead (it is replaced).
        """
        options = self.options
        for _attempt in range(8):
            link = await self.acquire()
            assert link.conn is not None
            try:
                chan, session = await asyncio.wait_for(
                    link.conn.create_session(_Session, command, encoding=None),
                    options.timeout,
                )
            except asyncssh.ChannelOpenError as exc:
                retry = self.refused(link)
                self.release(link)
                if retry:
                    continue
                raise ConnectionError(
                    f"{FAILED}{options.where()} refused a channel: {exc.reason}"
                ) from exc
            except (OSError, asyncssh.Error, TimeoutError) as exc:
                alive = link.alive
                self.release(link)
                if not alive:
                    continue
                if isinstance(exc, TimeoutError):
                    with contextlib.suppress(Exception):
                        link.conn.abort()
                    raise _lost(options, "no answer to a channel request") from exc
                raise _unreachable(options, exc) from exc
            except BaseException:
                self.release(link)
                raise
            assert isinstance(session, _Session)
            session.closed.add_done_callback(functools.partial(self._released, link))
            return link, chan, session
        raise ConnectionError(f"{FAILED}{options.where()} keeps refusing channels")

    def _released(self, link: _Link, _closed: asyncio.Future[Exception | None]) -> None:
        self.release(link)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        links, self.links = self.links, []
        for link in links:
            if link.conn is not None:
                link.conn.close()
        for link in links:
            if link.conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(link.conn.wait_closed(), 2.0)


_Endpoints = dict[tuple[Any, ...], "_Endpoint"]
_ENDPOINTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Endpoints] = (
    weakref.WeakKeyDictionary()
)


def _endpoint_for(options: SSHOptions) -> _Endpoint:
    endpoints = _ENDPOINTS.setdefault(asyncio.get_running_loop(), {})
    endpoint = endpoints.get(options.link_key)
    if endpoint is None:
        endpoint = endpoints[options.link_key] = _Endpoint(options)
    return endpoint


def _forget(endpoint: _Endpoint) -> None:
    endpoints = _ENDPOINTS.get(asyncio.get_running_loop(), {})
    if endpoints.get(endpoint.options.link_key) is endpoint:
        del endpoints[endpoint.options.link_key]


# --------------------------------------------------------------------------- remote shell text


def _sudo_argv(become: Become, *, prompt: str | None) -> list[str]:
    """``sudo [flags] -u USER --`` as the local connection builds it (`local.sudo_argv`)."""
    if become.method != "sudo":
        raise JobError(f"become method {become.method!r} is not supported by the ssh connection")
    flags = shlex.split(become.flags) if become.flags else ["-H"]
    if prompt is None:
        if "-n" not in flags and "--non-interactive" not in flags:
            flags = ["-n", *flags]
    else:
        flags = [f for f in flags if f not in ("-n", "--non-interactive", "-S", "--stdin")]
        flags += ["-S", "-p", prompt]
    return [become.exe or "sudo", *flags, "-u", become.user, "--"]


def _home_path(path: str) -> str:
    """A path as sh text: ``~`` and ``~/…`` become ``"$HOME"…`` (the target user's home)."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def _remote_line(
    argv: Sequence[str], *, env: Mapping[str, str] | None, cwd: str | None, tag: str
) -> str:
    """The command line for the target's login shell: ``exec /bin/sh -c SCRIPT``.

    Only ``exec`` and one quoted word reach the login shell (whatever it is, as
    Ansible wraps its commands in ``/bin/sh -c`` too).  The script first writes
    ``<tag> <pid>`` on stderr: the pid is the session's process group (sshd makes
    each session a group leader, and ``exec`` keeps the pid), so a timed-out or
    cancelled command can be stopped with ``kill -- -PGID`` over another channel
    — sshd refuses its own ``signal`` request for root logins.  The caller removes
    the line from the stderr it returns.
    """
    parts = [f"printf '%s %s\\n' {tag} \"$$\" >&2"]
    if cwd:
        where = _home_path(cwd)
        parts.append(
            f"cd -- {where} 2>/dev/null || {{ printf '%s\\n' "
            f"{shlex.quote('Unable to change directory before execution: ' + cwd)} >&2; exit 1; }}"
        )
    for key, value in (env or {}).items():
        if key.isidentifier() and key.isascii():
            parts.append(f"{key}={shlex.quote(value)}; export {key}")
        else:
            argv = ["env", f"{key}={value}", *argv]
    parts.append("exec " + shlex.join(argv))
    return "exec /bin/sh -c " + shlex.quote("; ".join(parts))


# A file written as the target user: temp file + rename, the existing file's mode
# kept (else a new file's), as `local.LocalConnection.put_file` does under become.
_PUT_SCRIPT = (
    'set -e; case $1 in "~") p=$HOME;; "~/"*) p=$HOME/${1#"~/"};; *) p=$1;; esac; '
    't="$p.playgraph-$$.tmp"; trap \'rm -f "$t"\' EXIT; '
    '(umask 077; cat > "$t"); '
    'if [ -n "$2" ]; then chmod "$2" "$t"; '
    'elif ! chmod --reference="$p" "$t" 2>/dev/null; then '
    'chmod "$(printf %o $((0666 & ~0$(umask))))" "$t"; fi; '
    'mv -f "$t" "$p"; trap - EXIT'
)
_GET_SCRIPT = (
    'case $1 in "~") p=$HOME;; "~/"*) p=$HOME/${1#"~/"};; *) p=$1;; esac; exec cat -- "$p"'
)

# The bridge's first lines: find the python (ansible_python_interpreter, else the
# system's, never a shim on PATH), make sure the supervisor script is in this
# user's cache — receiving it on stdin when it is not — and become its `client`.
# "<nonce> present|missing|nopython <python>" tells the controller what happened
# (and, under sudo, that sudo is done).
_BOOT_SCRIPT = r"""n=$1 sha=$2 size=$3 py=$4; shift 4
if [ -z "$py" ]; then
  for c in /usr/bin/python3 /usr/local/bin/python3 /usr/libexec/platform-python; do
    if [ -x "$c" ]; then py=$c; break; fi
  done
fi
if [ -z "$py" ]; then
  py=$(command -v python3 2>/dev/null) || py=
  case $py in */shims/*) py=;; esac
fi
if [ -z "$py" ]; then echo "$n nopython"; exit 127; fi
d=$HOME/.cache/playgraph/$sha
if ! { mkdir -p "$d" 2>/dev/null && [ -w "$d" ]; }; then
  d=${TMPDIR:-/tmp}/playgraph-$(id -u)/$sha
  (umask 077; mkdir -p "$d") && [ -O "${d%/*}" ] || exit 1
fi
f=$d/supervisor.py
if [ -f "$f" ]; then echo "$n present $py"; else
  echo "$n missing $py"
  t=$f.$$.tmp
  if head -c "$size" >"$t" && [ "$(wc -c <"$t")" -eq "$size" ]; then mv -f "$t" "$f"
  else rm -f "$t"; exit 1; fi
fi
exec "$py" -E -S "$f" client "$@"
"""


@cache
def _supervisor_source() -> tuple[bytes, str]:
    source = SUPERVISOR_PATH.read_bytes()
    return source, hashlib.sha256(source).hexdigest()[:20]


class _Conversation:
    """Reads a channel's stderr; answers sudo's password prompt until the command has started.

    sudo (``-S -p PROMPT``) asks on stderr and reads the password from stdin; the
    password is written only when the prompt unique to this call appears, so it
    never reaches the command's own stdin.  A second prompt means a wrong password.
    """

    def __init__(
        self,
        chan: asyncssh.SSHClientChannel[bytes],
        session: _Session,
        *,
        password: str | None,
        prompt: str | None,
        tag: str | None,
    ) -> None:
        self.chan = chan
        self.session = session
        self.password = password
        self.prompt = prompt.encode() if prompt else b""
        self.tag = f"{tag} ".encode() if tag else b""
        self.stderr = bytearray()
        self.pid: int | None = None
        self.failure: str | None = None
        self.ready = asyncio.Event()
        """Set once sudo is done (or there is none): what follows belongs to the command."""

    async def pump(self) -> None:
        prompts = 0
        while True:
            chunk = await self.session.stderr.read(65536)
            if not chunk:
                break
            self.stderr += chunk
            if self.pid is None and self.tag:
                self._take_pid()
            if self.password is None or self.ready.is_set():
                continue
            seen = bytes(self.stderr).count(self.prompt)
            if seen > prompts:
                prompts = seen
                if prompts > 1:
                    # Wrong: end sudo's stdin, so it gives up and exits (status 1).
                    self.failure = "incorrect sudo password"
                    with contextlib.suppress(OSError, asyncssh.Error):
                        self.chan.write_eof()
                    continue
                with contextlib.suppress(OSError, asyncssh.Error):
                    self.chan.write(self.password.encode() + b"\n")

    def _take_pid(self) -> None:
        at = self.stderr.find(self.tag)
        if at < 0:
            return
        end = self.stderr.find(b"\n", at)
        if end < 0:
            return
        with contextlib.suppress(ValueError):
            self.pid = int(self.stderr[at + len(self.tag) : end])
        del self.stderr[at : end + 1]

    def clean_stderr(self) -> bytes:
        text = bytes(self.stderr)
        return text.replace(self.prompt, b"") if self.prompt else text


# --------------------------------------------------------------------------- connection


class SSHConnection(SupervisedJobs):
    """An inventory host reached over SSH (``ansible_connection=ssh``, the default).

    Cheap to make: nothing happens until `connect` or the first call, and the
    SSH connections themselves belong to a per-event-loop pool shared by every
    inventory host with the same address, port, user and credentials.
    """

    def __init__(
        self,
        host: str,
        variables: Mapping[str, Any] | None = None,
        *,
        defaults: _config.ConnectionDefaults | None = None,
        idle_exit: float | None = None,
    ) -> None:
        self.host = host
        self.options = parse_options(host, variables or {}, defaults)
        self.idle_exit = idle_exit
        """``--idle-exit`` for a supervisor this connection starts (None: its default)."""
        self._endpoint: _Endpoint | None = None
        for message in self.options.warnings:
            _warn(f"{host}: {message}")

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.options.warnings

    def _pool(self) -> _Endpoint:
        if self._endpoint is None:
            self._endpoint = _endpoint_for(self.options)
            self._endpoint.users += 1
        return self._endpoint

    async def connect(self) -> None:
        """Make sure an SSH connection to the target is up (shared, idempotent)."""
        endpoint = self._pool()
        if endpoint.live():
            return
        link = await endpoint.acquire()
        endpoint.release(link)

    @property
    def connect_seconds(self) -> list[float]:
        """How long each SSH connection to this target took to open (for benchmarks)."""
        return list(self._endpoint.connect_seconds) if self._endpoint is not None else []

    async def close(self) -> None:
        """Let go of the pool; the last user of a target closes its connections.

        Jobs and the supervisor run on: they never depended on the connection.
        """
        endpoint, self._endpoint = self._endpoint, None
        if endpoint is None:
            return
        endpoint.users -= 1
        if endpoint.users <= 0:
            _forget(endpoint)
            await endpoint.close()

    # ----------------------------------------------------------------- commands

    async def run(
        self,
        argv: Sequence[str] | None = None,
        *,
        shell: str | None = None,
        executable: str | None = None,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        become: Become | None = None,
    ) -> CommandResult:
        """Run a command on the target to completion; on ``timeout`` its process group is stopped.

        ``rc`` is -N when the command was killed by signal N (also after a timeout).
        A connection lost while the command runs raises `ConnectionError`: whether
        it ran cannot be known, so it is not repeated.
        """
        cmd = _command(argv, shell, executable)
        nonce = secrets.token_hex(8)
        tag = f"PLAYGRAPH-PID-{nonce}"
        password = become.password if become is not None else None
        prompt = f"[playgraph sudo {nonce}] password:" if password is not None else None
        marker = f"PLAYGRAPH-BECOME-{nonce}".encode()
        if become is not None:
            if env:
                cmd = ["env", *(f"{k}={v}" for k, v in env.items()), *cmd]
                env = None
            if password is not None:
                # The marker tells where sudo's conversation ends and the command begins.
                cmd = ["/bin/sh", "-c", f'echo {marker.decode()}; exec "$@"', "sh", *cmd]
            cmd = [*_sudo_argv(become, prompt=prompt), *cmd]
        line = _remote_line(cmd, env=env, cwd=cwd, tag=tag)
        endpoint = self._pool()
        start = time.time()
        _link, chan, session = await endpoint.channel(line)
        talk = _Conversation(chan, session, password=password, prompt=prompt, tag=tag)
        out = bytearray()
        work = asyncio.ensure_future(
            self._communicate(chan, session, talk, out, stdin, marker if password else None)
        )
        timed_out = False
        try:
            await asyncio.wait_for(asyncio.shield(work), timeout)
        except TimeoutError:
            timed_out = True
            await self._stop(chan, session, talk)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(work, DRAIN_AFTER_KILL)
        except asyncio.CancelledError:
            work.cancel()
            await asyncio.shield(self._stop(chan, session, talk))
            raise
        finally:
            if not work.done():
                work.cancel()
        rc = chan.get_returncode()
        lost = session.closed.result() if session.closed.done() else None
        if not session.closed.done():
            chan.close()
        if rc is None:
            if timed_out:
                rc = -9
            elif talk.failure is not None:
                rc = 1  # sudo's own status for a failed authentication
            else:
                detail = str(lost) if lost is not None else "the command's channel closed early"
                raise _lost(self.options, detail)
        err = talk.clean_stderr()
        if talk.failure is not None:
            err = (err + b"\n" + talk.failure.encode()).strip()
        return CommandResult(rc=rc, stdout=bytes(out), stderr=err, start=start, end=time.time())

    @staticmethod
    async def _communicate(
        chan: asyncssh.SSHClientChannel[bytes],
        session: _Session,
        talk: _Conversation,
        out: bytearray,
        stdin: bytes | None,
        marker: bytes | None,
    ) -> None:
        if marker is None:
            talk.ready.set()
        started = (marker or b"") + b"\n"

        async def read_stdout() -> None:
            head = b""
            while True:
                chunk = await session.stdout.read(65536)
                if not chunk:
                    break
                if talk.ready.is_set():
                    out.extend(chunk)
                    continue
                head += chunk
                at = head.find(started)
                if at >= 0:
                    out.extend(head[at + len(started) :])
                    talk.ready.set()
            if not talk.ready.is_set():
                out.extend(head)  # sudo never started the command
                talk.ready.set()

        async def feed_stdin() -> None:
            await talk.ready.wait()
            with contextlib.suppress(OSError, asyncssh.Error):
                if stdin:
                    chan.write(stdin)
                    await session.drain()
                chan.write_eof()

        await asyncio.gather(read_stdout(), talk.pump(), feed_stdin())
        await session.closed

    async def _stop(
        self, chan: asyncssh.SSHClientChannel[bytes], session: _Session, talk: _Conversation
    ) -> None:
        """SIGTERM the command's process group, SIGKILL it after TERM_GRACE, close the channel."""
        for sig in ("TERM", "KILL"):
            if session.closed.done():
                break
            if talk.pid is not None:
                with contextlib.suppress(ConnectionError, OSError, asyncssh.Error):
                    await self.run(["kill", "-s", sig, "--", f"-{talk.pid}"], timeout=TERM_GRACE)
            else:
                with contextlib.suppress(OSError, asyncssh.Error):
                    chan.send_signal(sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(session.closed), TERM_GRACE)
        chan.close()

    # ----------------------------------------------------------------- files

    async def put_file(
        self, data: bytes, path: str, *, mode: int | None = None, become: Become | None = None
    ) -> None:
        """Write ``data`` to ``path`` atomically (temp file in the same dir + rename).

        One channel running a small ``sh`` (``cat`` into the temp file), so it works
        alike with and without ``become`` and needs no SFTP round trips.
        """
        mode_arg = format(mode, "o") if mode is not None else ""
        result = await self.run(
            ["/bin/sh", "-c", _PUT_SCRIPT, "sh", path, mode_arg], stdin=data, become=become
        )
        if result.rc != 0:
            who = f" as {become.user}" if become is not None else ""
            raise OSError(f"could not write {path}{who} on {self.host}: {_text(result.stderr)}")

    async def get_file(self, path: str, *, become: Become | None = None) -> bytes:
        """Read a file from the target; OSError when it cannot be read."""
        result = await self.run(["/bin/sh", "-c", _GET_SCRIPT, "sh", path], become=become)
        if result.rc != 0:
            who = f" as {become.user}" if become is not None else ""
            raise OSError(f"could not read {path}{who} on {self.host}: {_text(result.stderr)}")
        return result.stdout

    # ----------------------------------------------------------------- jobs

    async def _supervisor(self, async_dir: str, become: Become | None) -> SupervisorClient:
        endpoint = self._pool()
        who = (become.exe, become.method, become.user, become.flags) if become is not None else None
        key = ("ssh", endpoint.options.link_key, self.options.python, who, async_dir)
        return await cached_client(key, lambda: self._open_bridge(endpoint, async_dir, become))

    async def _open_bridge(
        self, endpoint: _Endpoint, async_dir: str, become: Become | None
    ) -> SupervisorClient:
        """The supervisor's ``client`` bridge on a long-lived channel (under sudo with become)."""
        source, sha = _supervisor_source()
        nonce = secrets.token_hex(8)
        password = become.password if become is not None else None
        prompt = f"[playgraph sudo {nonce}] password:" if password is not None else None
        args = ["--async-dir", async_dir]
        if self.idle_exit is not None:
            args += ["--idle-exit", repr(float(self.idle_exit))]
        boot = ["/bin/sh", "-c", _BOOT_SCRIPT, "sh", nonce, sha, str(len(source))]
        boot += [self.options.python or "", *args]
        if become is not None:
            boot = [*_sudo_argv(become, prompt=prompt), *boot]
        line = "exec " + shlex.join(boot)
        _link, chan, session = await endpoint.channel(line)
        talk = _Conversation(chan, session, password=password, prompt=prompt, tag=None)
        pump = asyncio.ensure_future(talk.pump())
        who = f" as {become.user}" if become is not None else ""
        try:
            hello = await asyncio.wait_for(
                self._bridge_hello(chan, session, talk, nonce, source), BRIDGE_TIMEOUT
            )
        except (TimeoutError, JobError, OSError, asyncssh.Error) as exc:
            chan.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(session.closed), DRAIN_AFTER_KILL)
            await asyncio.wait([pump], timeout=DRAIN_AFTER_KILL)
            lost = session.closed.result() if session.closed.done() else None
            if lost is not None and not _link.alive:
                raise _lost(self.options, str(lost)) from exc
            detail = talk.failure or _text(talk.clean_stderr())
            if isinstance(exc, JobError) and str(exc):
                detail = f"{exc}: {detail}" if detail else str(exc)
            detail = detail or f"exit status {chan.get_returncode()}"
            raise JobError(
                f"could not reach the job supervisor on {self.host}{who}: {detail}"
            ) from exc
        except BaseException:
            chan.close()
            pump.cancel()
            raise
        # From here on the channel's stdin/stdout carry the protocol (`talk` is done
        # with sudo) and its stderr is only kept for diagnostics.

        async def on_close() -> None:
            chan.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(session.closed), DRAIN_AFTER_KILL)
            pump.cancel()
            await asyncio.wait([pump])

        return SupervisorClient(
            session.stdout,
            _ChannelWriter(chan, session),
            hello=hello,
            on_close=on_close,
        )

    @staticmethod
    async def _bridge_hello(
        chan: asyncssh.SSHClientChannel[bytes],
        session: _Session,
        talk: _Conversation,
        nonce: str,
        source: bytes,
    ) -> dict[str, Any]:
        """Read the boot script's report (uploading the supervisor if missing), then the hello."""
        prefix = f"{nonce} ".encode()
        while True:
            line = await session.stdout.readline()
            if not line:
                raise JobError("the bridge ended before it started")
            if line.startswith(prefix):
                break
        talk.ready.set()  # sudo (if any) is done
        state = line[len(prefix) :].split()
        if state[:1] == [b"nopython"]:
            raise JobError("no python3 on the target (set ansible_python_interpreter)")
        if state[:1] == [b"missing"]:
            chan.write(source)
            await session.drain()
        while True:
            line = await session.stdout.readline()
            if not line:
                raise JobError("the supervisor bridge ended before its hello")
            try:
                message = json.loads(line)
            except ValueError:
                continue
            hello = message.get("hello") if isinstance(message, dict) else None
            if isinstance(hello, dict):
                return hello

    async def _call(
        self,
        async_dir: str,
        become: Become | None,
        op: Callable[[SupervisorClient], Awaitable[R]],
    ) -> R:
        """Run ``op`` on the supervisor's client; once more on a fresh one if it was lost.

        A lost client means a lost channel or connection: the next one is opened
        (or the target is unreachable).  These ops are safe to repeat.
        """
        client = await self._supervisor(async_dir, become)
        try:
            return await op(client)
        except SupervisorLost:
            client = await self._replace(client, async_dir, become)
            try:
                return await op(client)
            except SupervisorLost as lost:
                await client.close()
                raise _lost(self.options, str(lost)) from lost

    async def _replace(
        self, client: SupervisorClient, async_dir: str, become: Become | None
    ) -> SupervisorClient:
        """A fresh client for a lost one (closed first, so the shared cache drops it at once:
        a write to a dead channel fails before its reader has seen the end)."""
        await client.close()
        return await self._supervisor(async_dir, become)

    async def start_job(self, spec: JobSpec) -> dict[str, Any]:
        """Start a job through the supervisor; Ansible's launch record once it is on disk.

        If the connection drops before the answer, the job may or may not have
        started: the new supervisor client looks for its status file first and
        starts it only when absent — and the supervisor refuses a second start of
        a jid anyway ("already exists"), which then means it runs.
        """
        client = await self._supervisor(spec.async_dir, spec.become)
        try:
            started = await client.start(spec)
        except SupervisorLost:
            client = await self._replace(client, spec.async_dir, spec.become)
            try:
                if (await client.status([spec.jid])).get(spec.jid) is None:
                    try:
                        started = await client.start(spec)
                    except JobError as error:
                        if isinstance(error, SupervisorLost) or "already exists" not in str(error):
                            raise
                        started = {}
                else:
                    started = {}
            except SupervisorLost as lost:
                await client.close()
                raise _lost(self.options, str(lost)) from lost
        rf = started.get("results_file") or client.results_file(spec.jid)
        return launch_record(spec.jid, str(rf))

    async def _status_request(
        self, client: SupervisorClient, jids: Sequence[str]
    ) -> Mapping[str, Any]:
        # Polls of many hosts behind one target share one request (see _batched_status).
        return await _batched_status(client, jids)


# --------------------------------------------------------------------------- batching


class _StatusBatch:
    """Status requests for one supervisor made in the same loop iteration: sent as one."""

    def __init__(self, client: SupervisorClient) -> None:
        self.jids: dict[str, None] = {}
        self.sent = False
        self.result: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._client = client
        # Retrieved here too, so an error nobody waits for any more is not logged as lost.
        self.result.add_done_callback(lambda f: f.cancelled() or f.exception())
        asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self.sent = True
        task = asyncio.get_running_loop().create_task(self._client.status(list(self.jids)))
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[dict[str, Any]]) -> None:
        if task.cancelled():
            self.result.cancel()
        elif task.exception() is not None:
            self.result.set_exception(task.exception())  # type: ignore[arg-type]
        else:
            self.result.set_result(task.result())


_BATCHES: weakref.WeakKeyDictionary[SupervisorClient, _StatusBatch] = weakref.WeakKeyDictionary()


async def _batched_status(client: SupervisorClient, jids: Sequence[str]) -> dict[str, Any]:
    """``client.status(jids)``, coalesced with the other hosts' polls of the same target.

    Fifty joins on hosts behind one SSH target then cost one request, one
    answer, one round trip.
    """
    batch = _BATCHES.get(client)
    if batch is None or batch.sent:
        batch = _BATCHES[client] = _StatusBatch(client)
    batch.jids.update(dict.fromkeys(jids))
    raws = await asyncio.shield(batch.result)
    return {jid: raws.get(jid) for jid in jids}


# --------------------------------------------------------------------------- helpers


def _command(argv: Sequence[str] | None, shell: str | None, executable: str | None) -> list[str]:
    if (argv is None) == (shell is None):
        raise ValueError("exactly one of argv and shell")
    if shell is not None:
        return [executable or "/bin/sh", "-c", shell]
    assert argv is not None
    if not argv:
        raise ValueError("argv must not be empty")
    return list(argv)


def _text(data: bytes) -> str:
    return data.decode(errors="replace").strip()


if TYPE_CHECKING:

    def _implements_protocol(conn: SSHConnection) -> Connection:
        return conn  # mypy checks SSHConnection against the Connection protocol here
