"""The options several commands share, as ansible spells them, and what they mean.

* hosts: ``-i``, ``-l``, ``-f``, ``-e`` (``run``, ``adhoc``, ``jobs``);
* passwords: ``-k``, ``-K`` (``run``, ``adhoc``, ``jobs``);
* connection and privilege: ``-u``, ``-c``, ``--private-key``, ``-T``, ``-b``,
  ``--become-user``, ``--become-method`` (``run``, ``adhoc``).  They are the lowest
  layer above the configuration: play and task keywords, and then variables
  (``ansible_user``, ``ansible_become_user`` …), override them;
* compiling: ``--poll-default``, ``--no-cache`` (``check``, ``compile``, ``run``);
* seeing the run: ``--report``, ``--no-live`` (``run``, ``adhoc``).

The runtime is imported only inside the functions that need it, so that ``check``
and ``compile`` never pay for it.
"""

from __future__ import annotations

import argparse
import getpass
import os
from typing import TYPE_CHECKING, Any

from playgraph.compiler.result import CompileOptions

from .errors import CliError
from .interrupts import ask
from .output import warn

if TYPE_CHECKING:
    from playgraph.runtime.context import RunOptions
    from playgraph.runtime.inventory import Inventory

Passwords = tuple[str | None, str | None]
"""The connection and the become password (None: not asked for)."""

DEFAULT_FORKS = 5
DEFAULT_POLL = 15


# --------------------------------------------------------------------------- hosts


def add_host_options(parser: argparse.ArgumentParser, *, forks_help: str) -> None:
    """``-i``, ``-l``, ``-f``, ``-e``."""
    parser.add_argument(
        "-i",
        "--inventory",
        action="append",
        default=[],
        metavar="INVENTORY",
        help="inventory file, directory or host list (repeatable; default: implicit localhost)",
    )
    parser.add_argument("-l", "--limit", metavar="SUBSET", help="further limit hosts to a pattern")
    parser.add_argument("-f", "--forks", type=int, default=None, metavar="FORKS", help=forks_help)
    parser.add_argument(
        "-e",
        "--extra-vars",
        action="append",
        default=[],
        metavar="VARS",
        help="key=value, YAML/JSON, or @file (repeatable)",
    )


def forks_of(args: argparse.Namespace) -> int:
    """``-f``, else ``$ANSIBLE_FORKS``, else 5; at least 1."""
    forks = args.forks
    if forks is None:
        try:
            forks = int(os.environ.get("ANSIBLE_FORKS", str(DEFAULT_FORKS)))
        except ValueError:
            forks = DEFAULT_FORKS
    if forks < 1:
        raise CliError.usage("The number of processes (--forks) must be >= 1")
    return int(forks)


def load_hosts(
    args: argparse.Namespace, *, warn_implicit: bool
) -> tuple[Inventory, dict[str, Any]]:
    """The inventory of ``-i`` (the implicit localhost without it, with ansible's warning
    when ``warn_implicit``) and the extra vars of ``-e``."""
    from playgraph.runtime.inventory import Inventory, InventoryError, load_inventory
    from playgraph.runtime.run import parse_extra_vars

    try:
        if args.inventory:
            inventory = load_inventory(args.inventory)
        else:
            inventory = Inventory()
            if warn_implicit:
                warn("No inventory was parsed, only implicit localhost is available")
        extra_vars = parse_extra_vars(args.extra_vars)
    except InventoryError as error:
        raise CliError.setup(f"inventory: {error}") from None
    except (ValueError, OSError) as error:
        raise CliError.setup(str(error)) from None
    for warning in inventory.warnings:
        warn(warning)
    return inventory, extra_vars


def select_hosts(inventory: Inventory, pattern: str, limit: str | None) -> list[str]:
    """The pattern's hosts, warning (as ansible does) about parts that match nothing."""
    from playgraph.runtime.inventory import InventoryError

    try:
        hosts = inventory.select(pattern, limit=limit)
        unmatched = inventory.unmatched(pattern, limit=limit)
    except InventoryError as error:
        raise CliError.setup(f"inventory: {error}") from None
    for part in unmatched:
        warn(f"Could not match supplied host pattern, ignoring: {part}")
    return hosts


# --------------------------------------------------------------------------- passwords


def add_password_options(parser: argparse.ArgumentParser) -> None:
    """``-k``, ``-K``."""
    parser.add_argument(
        "-k", "--ask-pass", action="store_true", help="ask for the connection (SSH) password"
    )
    parser.add_argument(
        "-K", "--ask-become-pass", action="store_true", help="ask for the become password"
    )


def ask_passwords(args: argparse.Namespace) -> Passwords:
    """The connection and become passwords ``-k``/``-K`` ask for, as ansible asks: the
    become password defaults to the SSH one when both are asked for."""
    # `ask`: a signal during a prompt leaves the terminal's echo on.
    connection = ask(lambda: getpass.getpass("SSH password: ")) if args.ask_pass else None
    become = None
    if args.ask_become_pass:
        prompt = (
            "BECOME password[defaults to SSH password]: " if args.ask_pass else "BECOME password: "
        )
        become = ask(lambda: getpass.getpass(prompt)) or connection
    return connection, become


# --------------------------------------------------------------------------- connection


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """``-u``, ``-c``, ``--private-key``, ``-T``."""
    parser.add_argument(
        "-u",
        "--user",
        dest="remote_user",
        metavar="REMOTE_USER",
        help="connect as this user (default: the remote_user setting, else ssh's)",
    )
    parser.add_argument(
        "-c",
        "--connection",
        metavar="CONNECTION",
        help="connection type when nothing else names one (default: ssh)",
    )
    parser.add_argument(
        "--private-key",
        "--key-file",
        dest="private_key_file",
        metavar="PRIVATE_KEY_FILE",
        help="use this file to authenticate the connection",
    )
    parser.add_argument(
        "-T",
        "--timeout",
        dest="connection_timeout",
        type=float,
        metavar="TIMEOUT",
        help="seconds to establish a connection (default 10)",
    )


def add_become_options(parser: argparse.ArgumentParser, *, become: bool = True) -> None:
    """``-b``, ``--become-user`` (unless the parser has them), ``--become-method``."""
    if become:
        parser.add_argument(
            "-b", "--become", action="store_true", help="run operations with become (sudo)"
        )
        parser.add_argument(
            "--become-user", metavar="BECOME_USER", help="run operations as this user (root)"
        )
    parser.add_argument(
        "--become-method", metavar="BECOME_METHOD", help="privilege escalation method (sudo)"
    )


def run_options(
    args: argparse.Namespace,
    *,
    forks: int,
    extra_vars: dict[str, Any],
    passwords: Passwords,
    playbook_dir: str = ".",
) -> RunOptions:
    """The run's options from the command line; what a command lacks keeps its default."""
    from playgraph.runtime.context import RunOptions

    connection_password, become_password = passwords
    return RunOptions(
        forks=forks,
        extra_vars=extra_vars,
        limit=getattr(args, "limit", None),
        check_mode=bool(getattr(args, "check", False)),
        diff=bool(getattr(args, "diff", False)),
        become_password=become_password,
        connection_password=connection_password,
        playbook_dir=playbook_dir,
        verbosity=int(getattr(args, "verbose", 0)),
        remote_user=getattr(args, "remote_user", None),
        connection=getattr(args, "connection", None),
        private_key_file=getattr(args, "private_key_file", None),
        connection_timeout=getattr(args, "connection_timeout", None),
        become=bool(getattr(args, "become", False)),
        become_user=getattr(args, "become_user", None),
        become_method=getattr(args, "become_method", None),
    )


# --------------------------------------------------------------------------- seeing the run


def add_view_options(parser: argparse.ArgumentParser) -> None:
    """``--report``, ``--no-live``."""
    parser.add_argument(
        "--report",
        metavar="FILE",
        help="also write the run's timeline report: one self-contained HTML file",
    )
    parser.add_argument(
        "--no-live",
        action="store_true",
        help="print ansible's line output even on a terminal (the default without one)",
    )


# --------------------------------------------------------------------------- compiling


def add_compile_options(parser: argparse.ArgumentParser) -> None:
    """``--poll-default``, ``--no-cache``."""
    parser.add_argument(
        "--poll-default",
        type=int,
        default=None,
        metavar="SECONDS",
        help="poll interval when a task sets async without poll "
        "(default: $ANSIBLE_POLL_INTERVAL or 15)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="compile afresh instead of reusing the result for unchanged files "
        "(also PLAYGRAPH_NO_CACHE=1)",
    )


def poll_interval(given: int | None) -> int:
    """The poll option's value, else ``$ANSIBLE_POLL_INTERVAL``, else 15."""
    if given is not None:
        return given
    text = os.environ.get("ANSIBLE_POLL_INTERVAL", str(DEFAULT_POLL))
    try:
        return int(text)
    except ValueError:
        raise CliError.usage(f"ANSIBLE_POLL_INTERVAL must be an integer, got {text!r}") from None


def compile_options(args: argparse.Namespace) -> CompileOptions:
    poll = poll_interval(args.poll_default)
    if poll < 0:
        raise CliError.usage("--poll-default must be >= 0")
    from playgraph.runtime.config import current_resolve_settings

    # One configuration model for check, compile and run: ansible.cfg and ANSIBLE_*.
    return CompileOptions(poll_default=poll, resolve=current_resolve_settings())
