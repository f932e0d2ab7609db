"""Which connection, address, user and privileges one task on one host uses.

One pure function, `resolve`, applies ansible-core's precedence (lowest first):

1. configuration: the config file and ``ANSIBLE_*`` variables (`config.ConnectionDefaults`);
2. the command line: ``-u``, ``-c``, ``--private-key``, ``-T``, ``-b``, ``--become-user``,
   ``--become-method``, ``-k``, ``-K`` (they are the defaults of the play keywords);
3. play keywords (``connection``, ``remote_user``, ``become*``);
4. block and task keywords (blocks are already pushed down into their tasks);
5. variables: inventory, play, task and extra vars alike — ``ansible_user`` beats
   ``remote_user``, ``ansible_become_user`` beats ``become_user``, ``ansible_connection``
   beats ``connection``, and ``ansible_become`` (when defined) decides ``become``.

Several variables spell the same setting; where more than one is defined, ansible-core's
connection plugins take the *last* of their list, so ``ansible_ssh_host`` beats
``ansible_host``, ``ansible_ssh_user`` beats ``ansible_user``, ``ansible_ssh_port`` beats
``ansible_port``.  The lists below are in that order (lowest first).

With ``delegate_to`` the caller passes the delegated host's name and variables: the
connection then goes where, and as whom, that host is reached.
"""

from __future__ import annotations

import functools
import getpass
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import config as _config
from ..jobspec import Become
from ..templating import OMIT

# Variable spellings of each setting, lowest precedence first (the last defined wins).
CONNECTION_VARS = ("ansible_connection",)
HOST_VARS = ("ansible_host", "ansible_ssh_host")
PORT_VARS = ("ansible_port", "ansible_ssh_port")
USER_VARS = ("ansible_user", "ansible_ssh_user")
PASSWORD_VARS = ("ansible_password", "ansible_ssh_pass", "ansible_ssh_password")
KEY_VARS = ("ansible_private_key_file", "ansible_ssh_private_key_file")
SSH_ARGS_VARS = ("ansible_ssh_args",)
SSH_COMMON_ARGS_VARS = ("ansible_ssh_common_args",)
SSH_EXTRA_ARGS_VARS = ("ansible_ssh_extra_args",)
TIMEOUT_VARS = ("ansible_timeout", "ansible_ssh_timeout")
HOST_KEY_CHECKING_VARS = ("ansible_host_key_checking", "ansible_ssh_host_key_checking")
PYTHON_VARS = ("ansible_python_interpreter",)
BECOME_VARS = ("ansible_become",)
BECOME_METHOD_VARS = ("ansible_become_method",)
BECOME_USER_VARS = ("ansible_become_user", "ansible_sudo_user")
BECOME_PASSWORD_VARS = ("ansible_become_password", "ansible_become_pass", "ansible_sudo_pass")
BECOME_FLAGS_VARS = ("ansible_become_flags", "ansible_sudo_flags")
BECOME_EXE_VARS = ("ansible_become_exe", "ansible_sudo_exe")

_ABSENT = object()


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandLine:
    """What the command line says (None: not given)."""

    remote_user: str | None = None
    connection: str | None = None
    private_key_file: str | None = None
    timeout: float | None = None
    become: bool = False
    become_user: str | None = None
    become_method: str | None = None
    connection_password: str | None = field(default=None, repr=False)
    become_password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Keywords:
    """A play's or a task's connection keywords, as written (templates allowed)."""

    connection: str | None = None
    remote_user: str | None = None
    become: bool | str | None = None
    become_user: str | None = None
    become_method: str | None = None
    become_flags: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionSettings:
    """Where and how one task reaches one host, and whom it becomes there."""

    host: str
    """The inventory hostname (the delegate's with ``delegate_to``)."""
    connection: str
    """``local``, ``ssh`` (``smart`` and ``paramiko`` mean ssh), or another (unsupported) type."""
    address: str
    port: int | str | None = None
    """None: from ``~/.ssh/config``, else 22.  A string is not a number (the connection says so)."""
    user: str | None = None
    """None: from ``~/.ssh/config``, else the controller's user."""
    password: str | None = field(default=None, repr=False)
    private_key_file: str | None = None
    ssh_args: str = ""
    ssh_common_args: str = ""
    ssh_extra_args: str = ""
    timeout: Any = None
    """As given (the connection validates it); None: the configured timeout."""
    host_key_checking: Any = None
    """As given (the connection validates it); None: the configured setting."""
    python: str | None = None
    become: Become | None = None

    def variables(self) -> dict[str, Any]:
        """The settings as canonical connection variables (what a `ConnectionFactory` reads)."""
        found: dict[str, Any] = {
            "inventory_hostname": self.host,
            "ansible_connection": self.connection,
            "ansible_host": self.address,
            "ansible_port": self.port,
            "ansible_user": self.user,
            "ansible_password": self.password,
            "ansible_ssh_private_key_file": self.private_key_file,
            "ansible_ssh_args": self.ssh_args,
            "ansible_ssh_common_args": self.ssh_common_args,
            "ansible_ssh_extra_args": self.ssh_extra_args,
            "ansible_timeout": self.timeout,
            "ansible_host_key_checking": self.host_key_checking,
            "ansible_python_interpreter": self.python,
        }
        return {k: v for k, v in found.items() if v is not None}

    @property
    def link_key(self) -> tuple[tuple[str, str], ...]:
        """What makes two tasks share a connection object: everything but ``become``
        (which goes with each call)."""
        return link_key(self.variables())


def link_key(variables: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """`ConnectionSettings.link_key` of settings whose `variables()` are ``variables``."""
    return tuple(sorted((k, repr(v)) for k, v in variables.items()))


def lookup(variables: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    """The value of the last of ``names`` that is defined (not None, not omitted), else None.

    A variable that failed to render raises its error when turned into text.
    """
    found: Any = None
    for name in names:
        value = _get(variables, name)
        if value is not _ABSENT and value is not None:
            found = value
    return found


def _get(variables: Mapping[str, Any], name: str) -> Any:
    if name not in variables:
        return _ABSENT
    try:
        value = variables[name]
    except KeyError:
        return _ABSENT
    # `omit` (a template's way to leave a setting out) counts as not given.
    return _ABSENT if value is OMIT else value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)  # raises a marker's template error
    return text if text != "" else None


def _keyword(task: Keywords | None, play: Keywords | None, name: str) -> Any:
    for source in (task, play):
        if source is not None:
            value = getattr(source, name)
            if value is not None:
                return value
    return None


def resolve(
    host: str,
    variables: Mapping[str, Any],
    *,
    task: Keywords | None = None,
    play: Keywords | None = None,
    cli: CommandLine | None = None,
    config: _config.ConnectionDefaults | None = None,
    render: Callable[[Any], Any] = lambda value: value,
    evaluate: Callable[[str], Any] | None = None,
    controller_user: str | None = None,
) -> ConnectionSettings:
    """The settings for ``host`` by ansible-core's precedence (see the module docstring).

    ``render`` templates a keyword's value; ``evaluate`` a ``become`` keyword written as
    an expression (``{{ … }}`` or a bare condition).  ``controller_user`` is who runs
    this (the local connection's user; default: `getpass.getuser`).
    """
    cli = cli or CommandLine()
    config = config or _config.current()

    def keyword(name: str) -> Any:
        value = _keyword(task, play, name)
        return render(value) if isinstance(value, str) else value

    # The connection type: a variable, else the keyword, else -c, else the configuration.
    kind = _text(lookup(variables, CONNECTION_VARS))
    if kind is None:
        kind = _text(keyword("connection")) or cli.connection or config.transport
    if kind in ("smart", "paramiko", "paramiko_ssh"):
        kind = "ssh"

    address = _text(lookup(variables, HOST_VARS)) or host

    port: int | str | None
    port_value = lookup(variables, PORT_VARS)
    if port_value is None:
        port_value = config.remote_port
    try:
        port = int(port_value) if port_value is not None else None
    except (TypeError, ValueError):
        port = str(port_value)

    user = _text(lookup(variables, USER_VARS))
    if user is None:
        user = _text(keyword("remote_user")) or cli.remote_user or config.remote_user

    password = _text(lookup(variables, PASSWORD_VARS))
    if password is None:
        password = cli.connection_password  # -k: what no variable gave

    key = _text(lookup(variables, KEY_VARS)) or cli.private_key_file or config.private_key_file

    timeout = lookup(variables, ("ansible_ssh_timeout",))
    if timeout is None:
        timeout = lookup(variables, ("ansible_timeout",))
    if timeout is None and cli.timeout is not None:
        timeout = cli.timeout

    python = _text(lookup(variables, PYTHON_VARS))

    become = _become(variables, task, play, cli, config, keyword, evaluate)
    if become is not None and not config.become_allow_same_user:
        # As ansible-core: becoming the user one already is, is skipped (sudo would
        # only reset the environment).
        connected_as = user
        if kind == "local":
            connected_as = controller_user or _controller_user()
        if become.user == connected_as:
            become = None

    return ConnectionSettings(
        host=host,
        connection=kind,
        address=address,
        port=port,
        user=user,
        password=password,
        private_key_file=key,
        ssh_args=_text(lookup(variables, SSH_ARGS_VARS)) or config.ssh_args,
        ssh_common_args=_text(lookup(variables, SSH_COMMON_ARGS_VARS)) or config.ssh_common_args,
        ssh_extra_args=_text(lookup(variables, SSH_EXTRA_ARGS_VARS)) or config.ssh_extra_args,
        timeout=timeout,
        host_key_checking=lookup(variables, HOST_KEY_CHECKING_VARS),
        python=python,
        become=become,
    )


@functools.cache
def _controller_user() -> str:
    """Who runs this controller (read once: it does not change during a run)."""
    return getpass.getuser()


def _become(
    variables: Mapping[str, Any],
    task: Keywords | None,
    play: Keywords | None,
    cli: CommandLine,
    config: _config.ConnectionDefaults,
    keyword: Callable[[str], Any],
    evaluate: Callable[[str], Any] | None,
) -> Become | None:
    # `ansible_become`, when defined, decides alone (it can also turn a task's become off).
    enabled: Any = lookup(variables, BECOME_VARS)
    if enabled is None:
        enabled = _keyword(task, play, "become")
        if isinstance(enabled, str):
            enabled = evaluate(enabled) if evaluate is not None else enabled
        if enabled is None:
            enabled = cli.become or config.become
    parsed = _config.parse_bool(enabled) if not isinstance(enabled, bool) else enabled
    if not parsed:
        return None
    method = (
        _text(lookup(variables, BECOME_METHOD_VARS))
        or _text(keyword("become_method"))
        or cli.become_method
        or config.become_method
        or "sudo"
    )
    user = (
        _text(lookup(variables, BECOME_USER_VARS))
        or _text(keyword("become_user"))
        or cli.become_user
        or config.become_user
        or "root"
    )
    password = (
        _text(lookup(variables, BECOME_PASSWORD_VARS))
        or cli.become_password
        or config.become_password
    )
    flags = (
        _text(lookup(variables, BECOME_FLAGS_VARS))
        or _text(keyword("become_flags"))
        or config.become_flags
    )
    exe = _text(lookup(variables, BECOME_EXE_VARS)) or config.become_exe
    return Become(user=user, method=method, flags=flags, password=password, exe=exe)
