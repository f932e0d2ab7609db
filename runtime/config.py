"""Connection defaults from ``playgraph.cfg``/``ansible.cfg`` and ``ANSIBLE_*`` variables.

Only what the SSH connection and the job directory need, read the way ansible-core reads it: the
first configuration file found wins (``$PLAYGRAPH_CONFIG``, ``$ANSIBLE_CONFIG``,
``./playgraph.cfg``, ``./ansible.cfg``, ``~/.playgraph.cfg``, ``~/.ansible.cfg``,
``/etc/ansible/ansible.cfg``); an environment variable beats the file; an
inventory variable (handled by the connection) beats both.

`load` is pure apart from reading that one file: the environment, the working
directory and the home directory are parameters, so tests pass their own.
"""

from __future__ import annotations

import configparser
import glob
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from playgraph.compiler.resolve.settings import ResolveSettings

from playgraph.semantics import boolean

DEFAULT_TIMEOUT = 10.0
"""Seconds to establish a connection (ansible-core's ``[defaults] timeout``)."""

DEFAULT_ASYNC_DIR = "~/.ansible_async"
"""Where job files live on the target (``~`` expanded there), as ansible-core's."""


def parse_bool(value: Any) -> bool | None:
    """A configuration switch: ansible-core's ``boolean()``, an empty setting being
    false; None for anything else (the caller warns and keeps its default)."""
    return boolean(value, empty_is_false=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionDefaults:
    """The configured defaults for SSH connections (before inventory variables)."""

    host_key_checking: bool = True
    timeout: float = DEFAULT_TIMEOUT
    remote_user: str | None = None
    remote_port: int | None = None
    private_key_file: str | None = None
    ssh_args: str = ""
    """``[ssh_connection] ssh_args`` (ansible's default adds ControlMaster options, which
    playgraph's own multiplexing makes moot)."""
    ssh_common_args: str = ""
    ssh_extra_args: str = ""
    async_dir: str = DEFAULT_ASYNC_DIR
    """The shell option ``async_dir`` (``ANSIBLE_ASYNC_DIR``, ``[defaults] async_dir``);
    the variable ``ansible_async_dir`` beats it."""
    transport: str = "ssh"
    """The connection type when nothing names one (``ANSIBLE_TRANSPORT``, ``[defaults] transport``)."""
    become: bool = False
    """``ANSIBLE_BECOME``, ``[privilege_escalation] become``: the default of ``-b``."""
    become_method: str | None = None
    become_user: str | None = None
    become_flags: str | None = None
    become_exe: str | None = None
    become_password: str | None = field(default=None, repr=False)
    """``ANSIBLE_BECOME_PASS`` (the lowest source of the become password)."""
    become_allow_same_user: bool = False
    """``ANSIBLE_BECOME_ALLOW_SAME_USER``: become even when the connection user is the
    become user (by default that redundant step is skipped)."""
    source: str | None = None
    """The configuration file read, if any."""
    warnings: tuple[str, ...] = field(default=())


def config_candidates(env: Mapping[str, str], cwd: str, home: str) -> list[str]:
    """Where a configuration file is looked for, in order (the first existing one is used)."""
    found = [env[name] for name in ("PLAYGRAPH_CONFIG", "ANSIBLE_CONFIG") if env.get(name)]
    found += [
        os.path.join(cwd, "playgraph.cfg"),
        os.path.join(cwd, "ansible.cfg"),
        os.path.join(home, ".playgraph.cfg"),
        os.path.join(home, ".ansible.cfg"),
        "/etc/ansible/ansible.cfg",
    ]
    return [os.path.expanduser(path) for path in found]


def _read(
    env: Mapping[str, str], cwd: str, home: str
) -> tuple[configparser.ConfigParser, str | None, list[str]]:
    """The first configuration file found, parsed (empty when there is none)."""
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";", "#"))
    warnings: list[str] = []
    candidates = config_candidates(env, cwd, home)
    source = next((path for path in candidates if os.path.isfile(path)), None)
    if source is not None:
        try:
            with open(source, encoding="utf-8") as handle:
                parser.read_file(handle, source)
        except (OSError, UnicodeDecodeError, configparser.Error) as error:
            warnings.append(f"could not read the configuration file {source}: {error}")
    return parser, source, warnings


def load(
    env: Mapping[str, str] | None = None, *, cwd: str | None = None, home: str | None = None
) -> ConnectionDefaults:
    """The defaults here: the first configuration file found, ``ANSIBLE_*`` variables over it."""
    env = os.environ if env is None else env
    cwd = os.getcwd() if cwd is None else cwd
    home = os.path.expanduser("~") if home is None else home
    parser, source, warnings = _read(env, cwd, home)

    def setting(env_names: tuple[str, ...], *places: tuple[str, str]) -> str | None:
        for name in env_names:
            if name in env:
                return env[name]
        for section, key in places:
            if parser.has_option(section, key):
                return parser.get(section, key)
        return None

    checking_text = setting(
        ("ANSIBLE_HOST_KEY_CHECKING", "ANSIBLE_SSH_HOST_KEY_CHECKING"),
        ("defaults", "host_key_checking"),
        ("ssh_connection", "host_key_checking"),
    )
    checking = parse_bool(checking_text) if checking_text is not None else True
    if checking is None:
        warnings.append(f"host_key_checking={checking_text!r} is not a boolean; checking stays on")
        checking = True

    timeout = DEFAULT_TIMEOUT
    timeout_text = setting(
        ("ANSIBLE_SSH_TIMEOUT", "ANSIBLE_TIMEOUT"),
        ("ssh_connection", "timeout"),
        ("defaults", "timeout"),
    )
    if timeout_text is not None:
        try:
            timeout = float(timeout_text)
        except ValueError:
            warnings.append(f"timeout={timeout_text!r} is not a number; using {DEFAULT_TIMEOUT:g}")

    port: int | None = None
    port_text = setting(("ANSIBLE_REMOTE_PORT",), ("defaults", "remote_port"))
    if port_text:
        try:
            port = int(port_text)
        except ValueError:
            warnings.append(f"remote_port={port_text!r} is not a port number; ignored")

    become_text = setting(("ANSIBLE_BECOME",), ("privilege_escalation", "become"))
    become = parse_bool(become_text) if become_text is not None else False
    if become is None:
        warnings.append(f"become={become_text!r} is not a boolean; become stays off")
        become = False

    same_text = setting(
        ("ANSIBLE_BECOME_ALLOW_SAME_USER",), ("privilege_escalation", "become_allow_same_user")
    )
    same = bool(parse_bool(same_text)) if same_text is not None else False

    return ConnectionDefaults(
        become_allow_same_user=same,
        transport=setting(("ANSIBLE_TRANSPORT",), ("defaults", "transport")) or "ssh",
        become=become,
        become_method=setting(("ANSIBLE_BECOME_METHOD",), ("privilege_escalation", "become_method"))
        or None,
        become_user=setting(
            ("ANSIBLE_BECOME_USER", "ANSIBLE_SUDO_USER"),
            ("privilege_escalation", "become_user"),
            ("sudo_become_plugin", "user"),
        )
        or None,
        become_flags=setting(
            ("ANSIBLE_BECOME_FLAGS", "ANSIBLE_SUDO_FLAGS"),
            ("privilege_escalation", "become_flags"),
            ("sudo_become_plugin", "flags"),
        )
        or None,
        become_exe=setting(
            ("ANSIBLE_BECOME_EXE", "ANSIBLE_SUDO_EXE"),
            ("privilege_escalation", "become_exe"),
            ("sudo_become_plugin", "executable"),
        )
        or None,
        become_password=setting(
            ("ANSIBLE_BECOME_PASS", "ANSIBLE_SUDO_PASS"), ("sudo_become_plugin", "password")
        )
        or None,
        host_key_checking=checking,
        timeout=timeout,
        remote_user=setting(("ANSIBLE_REMOTE_USER",), ("defaults", "remote_user")) or None,
        remote_port=port,
        private_key_file=setting(("ANSIBLE_PRIVATE_KEY_FILE",), ("defaults", "private_key_file"))
        or None,
        ssh_args=setting(("ANSIBLE_SSH_ARGS",), ("ssh_connection", "ssh_args")) or "",
        ssh_common_args=setting(("ANSIBLE_SSH_COMMON_ARGS",), ("ssh_connection", "ssh_common_args"))
        or "",
        ssh_extra_args=setting(("ANSIBLE_SSH_EXTRA_ARGS",), ("ssh_connection", "ssh_extra_args"))
        or "",
        async_dir=setting(("ANSIBLE_ASYNC_DIR",), ("defaults", "async_dir")) or DEFAULT_ASYNC_DIR,
        source=source,
        warnings=tuple(warnings),
    )


@cache
def _cached(cwd: str, items: tuple[tuple[str, str], ...]) -> ConnectionDefaults:
    return load(dict(items), cwd=cwd)


def async_dir(variables: Mapping[str, Any] | None, defaults: ConnectionDefaults) -> str:
    """A host's job directory: ``ansible_async_dir``, else the configured one."""
    value = variables.get("ansible_async_dir") if isinstance(variables, Mapping) else None
    return str(value) if value else defaults.async_dir


def current() -> ConnectionDefaults:
    """`load` for this process, computed once per working directory and environment."""
    relevant = tuple(
        sorted((k, v) for k, v in os.environ.items() if k.startswith(("ANSIBLE_", "PLAYGRAPH_")))
    )
    return _cached(os.getcwd(), (*relevant, ("HOME", os.environ.get("HOME", ""))))


# --------------------------------------------------------------------------- resolution

# ansible-core's defaults (config/base.yml), under ANSIBLE_HOME (default ~/.ansible).
_PATH_SETTINGS: dict[str, tuple[tuple[str, ...], str, str]] = {
    # field: (environment variables, ini key in [defaults], default under ANSIBLE_HOME)
    "roles_path": (("ANSIBLE_ROLES_PATH",), "roles_path",
                   "{home}/roles:/usr/share/ansible/roles:/etc/ansible/roles"),
    "library": (("ANSIBLE_LIBRARY",), "library",
                "{home}/plugins/modules:/usr/share/ansible/plugins/modules"),
    "module_utils": (("ANSIBLE_MODULE_UTILS",), "module_utils",
                     "{home}/plugins/module_utils:/usr/share/ansible/plugins/module_utils"),
    "action_plugins": (("ANSIBLE_ACTION_PLUGINS",), "action_plugins",
                       "{home}/plugins/action:/usr/share/ansible/plugins/action"),
    "strategy_plugins": (("ANSIBLE_STRATEGY_PLUGINS",), "strategy_plugins",
                         "{home}/plugins/strategy:/usr/share/ansible/plugins/strategy"),
}  # fmt: skip


def resolve_settings(
    env: Mapping[str, str] | None = None,
    *,
    cwd: str | None = None,
    home: str | None = None,
    sys_path: Sequence[str] | None = None,
) -> ResolveSettings:
    """Where roles, modules, plugins and collections are found, read as ansible-core reads
    it: an ``ANSIBLE_*`` variable beats the configuration file, which beats the default;
    a relative path in the file is relative to the file's folder, elsewhere to ``cwd``."""
    env = os.environ if env is None else env
    cwd = os.getcwd() if cwd is None else cwd
    home = os.path.expanduser("~") if home is None else home
    parser, source, _ = _read(env, cwd, home)
    file_dir = os.path.dirname(os.path.abspath(source)) if source is not None else cwd

    def raw(env_names: tuple[str, ...], *keys: str) -> tuple[str, str] | None:
        for name in env_names:
            if env.get(name):
                return env[name], cwd
        for key in keys:
            if parser.has_option("defaults", key):
                return parser.get("defaults", key), file_dir
        return None

    ansible_home = raw(("ANSIBLE_HOME",), "home")
    home_dir = _paths(*ansible_home, home)[0] if ansible_home else os.path.join(home, ".ansible")

    def paths(env_names: tuple[str, ...], keys: tuple[str, ...], default: str) -> tuple[str, ...]:
        found = raw(env_names, *keys)
        if found is None:
            return _paths(default.format(home=home_dir), cwd, home)
        return _paths(*found, home)

    values: dict[str, tuple[str, ...]] = {
        field: paths(names, (key,), default)
        for field, (names, key, default) in _PATH_SETTINGS.items()
    }
    collections = list(
        paths(
            ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS"),
            ("collections_path", "collections_paths"),
            "{home}/collections:/usr/share/ansible/collections",
        )
    )
    scan = raw(("ANSIBLE_COLLECTIONS_SCAN_SYS_PATH",), "collections_scan_sys_path")
    if scan is None or parse_bool(scan[0]) is not False:
        collections += _installed_collection_roots(env, sys_path)
    return ResolveSettings(
        **values,
        collections_paths=tuple(dict.fromkeys(collections)),
        config_file=source,
    )


def _paths(text: str, base: str, home: str) -> tuple[str, ...]:
    """A ``pathspec`` value: ``:``-separated, ``~`` and ``$VAR`` expanded, made absolute."""
    out: list[str] = []
    for part in text.split(os.pathsep):
        part = part.strip()
        if not part:
            continue
        if part == "~" or part.startswith("~/"):
            part = home + part[1:]
        part = os.path.expandvars(part)
        out.append(os.path.normpath(os.path.join(base, part)))
    return tuple(out)


def _installed_collection_roots(
    env: Mapping[str, str], sys_path: Sequence[str] | None
) -> list[str]:
    """``ansible_collections`` folders of installed Python packages (the ``ansible``
    package's bundle): on this interpreter's path, and beside the ansible-core that
    ``ansible-playbook`` on ``PATH`` runs with."""
    roots: list[str] = []
    for entry in sys.path if sys_path is None else sys_path:
        candidate = os.path.join(entry or ".", "ansible_collections")
        if os.path.isdir(candidate):
            roots.append(candidate)
    executable = shutil.which("ansible-playbook", path=env.get("PATH"))
    if executable is not None:
        prefix = os.path.dirname(os.path.dirname(os.path.realpath(executable)))
        for site in sorted(glob.glob(os.path.join(prefix, "lib", "python3*", "site-packages"))):
            candidate = os.path.join(site, "ansible_collections")
            if os.path.isdir(candidate):
                roots.append(candidate)
    return roots


@cache
def _cached_settings(cwd: str, items: tuple[tuple[str, str], ...]) -> ResolveSettings:
    return resolve_settings(dict(items), cwd=cwd)


def current_resolve_settings() -> ResolveSettings:
    """`resolve_settings` for this process (once per working directory and environment)."""
    relevant = tuple(
        sorted(
            (k, v)
            for k, v in os.environ.items()
            if k.startswith(("ANSIBLE_", "PLAYGRAPH_")) or k in ("HOME", "PATH")
        )
    )
    return _cached_settings(os.getcwd(), relevant)
