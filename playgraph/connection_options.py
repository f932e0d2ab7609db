"""The command line's connection and privilege options, as ansible-playbook spells them.

They are the lowest layer above the configuration: play and task keywords, and then
variables (``ansible_user``, ``ansible_become_user`` …), override them.
"""

from __future__ import annotations

import argparse
from typing import Any


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


def connection_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options above as `RunOptions` fields."""
    return {
        "remote_user": getattr(args, "remote_user", None),
        "connection": getattr(args, "connection", None),
        "private_key_file": getattr(args, "private_key_file", None),
        "connection_timeout": getattr(args, "connection_timeout", None),
        "become": bool(getattr(args, "become", False)),
        "become_user": getattr(args, "become_user", None),
        "become_method": getattr(args, "become_method", None),
    }
