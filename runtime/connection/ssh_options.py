"""An inventory host's SSH options: its variables, the ssh args and the configuration.

`parse_options` resolves them the way ``ansible-playbook`` + ``ssh`` would and
says what it ignored (as warnings); `SSHOptions` is the result, and knows the
asyncssh keyword arguments it stands for.  Pure apart from checking that key
files exist.
"""

from __future__ import annotations

import functools
import math
import os
import shlex
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import config as _config
from . import settings as _s
from .ssh_known_hosts import match_known

KEEPALIVE_INTERVAL = 15.0
KEEPALIVE_COUNT_MAX = 3
"""A silent server is declared gone after about a minute, which fails its pending calls."""

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
            kwargs["known_hosts"] = functools.partial(match_known, self.known_hosts_files())
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
