"""``playgraph adhoc``: one module on the hosts of a pattern, as the ``ansible`` command runs it.

    playgraph adhoc PATTERN [-i INVENTORY] [-m MODULE] [-a ARGS] [-B SECONDS] [-P POLL]
                            [-f FORKS] [-e VARS] [-l SUBSET] [-o] [--json]

Ansible's meanings and defaults: module ``command``; ``-P`` 15 (or
``$ANSIBLE_POLL_INTERVAL``) and used only with ``-B``; ``-B N -P 0`` prints each
host's launch record and leaves the jobs running (check them later with ``-m
async_status -a jid=...`` or ``playgraph jobs``); ``-f`` 5 (or ``$ANSIBLE_FORKS``).
Unlike ansible-core 2.x, ``-f`` bounds only how many hosts *launch* at once: every
host's job starts before any is waited for, and the waiting is shared.

Output is the ``minimal`` callback's (``oneline`` with ``-o``); ``--json`` prints
one document shaped as the ``ansible.posix.json`` callback's.

Exit codes as ``ansible``: 0 ok, 2 a host failed, 4 a host was unreachable (4
wins over 2, as ansible-core's strategy returns it); 1 for a bad inventory or
extra vars; 5 for bad options (an unknown module, ``-f 0``, a missing ``-a`` for
``command``/``shell``/``raw``/``script``).  Stopped by a signal: 99 for SIGINT
(as ``ansible``), 143 for SIGTERM, 129 for SIGHUP, as ``playgraph run``.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .connection_options import add_become_options, add_connection_options, connection_options

if TYPE_CHECKING:
    from playgraph.compiler.ir import Graph
    from playgraph.runtime.context import RunOptions
    from playgraph.runtime.inventory import Inventory
    from playgraph.runtime.scheduler import RunOutcome
    from playgraph.runtime.tracing import Event

EXIT_BEFORE_RUN = 1
DEFAULT_POLL = 15


def add_parser(commands: Any) -> None:
    """Register ``adhoc`` on the CLI's subparsers (their parser class makes bad options exit 5)."""
    adhoc = commands.add_parser(
        "adhoc",
        help="run one module on the hosts of a pattern (ansible's ad-hoc command)",
        description="Run one module on the hosts matching PATTERN, as `ansible PATTERN` does.",
    )
    adhoc.add_argument("pattern", metavar="PATTERN", help="host pattern (e.g. all, web:!db, h1)")
    adhoc.add_argument(
        "-m",
        "--module-name",
        default="command",
        metavar="MODULE",
        help="module to run (default: command)",
    )
    adhoc.add_argument(
        "-a",
        "--args",
        dest="module_args",
        default="",
        metavar="ARGS",
        help='module arguments: "k=v k2=v2", free-form text for command/shell/raw, '
        "or a JSON object",
    )
    adhoc.add_argument(
        "-B",
        "--background",
        type=int,
        default=0,
        metavar="SECONDS",
        help="run as a job, failing after SECONDS (default: synchronously)",
    )
    adhoc.add_argument(
        "-P",
        "--poll",
        type=int,
        default=None,
        metavar="POLL",
        help="poll interval with -B; 0 leaves the jobs running and prints their "
        "jids (default: $ANSIBLE_POLL_INTERVAL or 15)",
    )
    adhoc.add_argument("-o", "--one-line", action="store_true", help="condense output (oneline)")
    add_host_options(adhoc)
    adhoc.add_argument("-C", "--check", action="store_true", help="don't make changes")
    adhoc.add_argument("-b", "--become", action="store_true", help="run with become (sudo)")
    adhoc.add_argument("--become-user", metavar="USER", help="with -b: become this user (root)")
    add_password_options(adhoc)
    add_connection_options(adhoc)
    add_become_options(adhoc, become=False)  # -b and --become-user are above
    adhoc.add_argument("-v", "--verbose", action="count", default=0)
    adhoc.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document shaped as Ansible's json callback",
    )


def add_password_options(parser: argparse.ArgumentParser) -> None:
    """``-k``/``-K``: shared with ``playgraph run``."""
    parser.add_argument(
        "-k", "--ask-pass", action="store_true", help="ask for the connection (SSH) password"
    )
    parser.add_argument(
        "-K", "--ask-become-pass", action="store_true", help="ask for the become password"
    )


def ask_passwords(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """The connection and become passwords ``-k``/``-K`` ask for, as ansible asks: the
    become password defaults to the SSH one when both are asked for."""
    from .interrupts import ask

    # `ask`: a signal during a prompt leaves the terminal's echo on.
    connection = ask(lambda: getpass.getpass("SSH password: ")) if args.ask_pass else None
    become = None
    if args.ask_become_pass:
        prompt = (
            "BECOME password[defaults to SSH password]: " if args.ask_pass else "BECOME password: "
        )
        become = ask(lambda: getpass.getpass(prompt)) or connection
    return connection, become


def add_host_options(parser: argparse.ArgumentParser) -> None:
    """``-i``, ``-l``, ``-f``, ``-e``: shared with ``playgraph jobs``."""
    parser.add_argument(
        "-i",
        "--inventory",
        action="append",
        default=[],
        metavar="INVENTORY",
        help="inventory file, directory or host list (repeatable; default: implicit localhost)",
    )
    parser.add_argument("-l", "--limit", metavar="SUBSET", help="further limit hosts to a pattern")
    parser.add_argument(
        "-f",
        "--forks",
        type=int,
        default=None,
        metavar="FORKS",
        help="hosts launching (or queried) at once (default: $ANSIBLE_FORKS or 5)",
    )
    parser.add_argument(
        "-e",
        "--extra-vars",
        action="append",
        default=[],
        metavar="VARS",
        help="key=value, YAML/JSON, or @file (repeatable)",
    )


def _usage_error(message: str) -> Exception:
    from .cli import UsageError

    return UsageError(message)


def forks_of(args: argparse.Namespace) -> int:
    from .commands_run import forks_from

    forks = forks_from(args)
    if forks < 1:
        raise _usage_error("The number of processes (--forks) must be >= 1")
    return forks


def poll_of(args: argparse.Namespace) -> int:
    if args.poll is not None:
        return int(args.poll)
    text = os.environ.get("ANSIBLE_POLL_INTERVAL", str(DEFAULT_POLL))
    try:
        return int(text)
    except ValueError:
        raise _usage_error(f"ANSIBLE_POLL_INTERVAL must be an integer, got {text!r}") from None


class SetupError(Exception):
    """A bad inventory or extra vars: one line, exit 1 (as ``playgraph run``)."""


def load_hosts(args: argparse.Namespace) -> tuple[Inventory, dict[str, Any]]:
    """The inventory (implicit localhost without ``-i``, with ansible's warning) and ``-e``."""
    from playgraph.runtime.inventory import Inventory, InventoryError, load_inventory
    from playgraph.runtime.run import parse_extra_vars

    try:
        if args.inventory:
            inventory = load_inventory(args.inventory)
        else:
            inventory = Inventory()
            warn("No inventory was parsed, only implicit localhost is available")
        extra_vars = parse_extra_vars(args.extra_vars)
    except InventoryError as error:
        raise SetupError(f"inventory: {error}") from None
    except (ValueError, OSError) as error:
        raise SetupError(str(error)) from None
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
        raise SetupError(f"inventory: {error}") from None
    for part in unmatched:
        warn(f"Could not match supplied host pattern, ignoring: {part}")
    return hosts


def warn(message: str) -> None:
    sys.stderr.write(f"[WARNING]: {message}\n")
    sys.stderr.flush()


def exit_code(outcome: RunOutcome) -> int:
    """ansible's exit code: unreachable (4) wins over failed (2); they are not or-ed."""
    code = int(outcome.exit_code)
    if code & 4:
        return 4
    return 2 if code & 2 else 0


async def run_and_close(
    graph: Graph,
    inventory: Inventory,
    options: RunOptions,
    subscribers: Sequence[Callable[[Event], None]],
) -> RunOutcome:
    """`run_graph`, then close this loop's supervisor streams (the jobs run on)."""
    from playgraph.runtime.jobs import close_clients
    from playgraph.runtime.run import run_graph

    try:
        return await run_graph(graph, inventory, options, subscribers=subscribers)
    finally:
        await close_clients()


def adhoc_document(document: dict[str, Any]) -> dict[str, Any]:
    """The run document with ad-hoc paths as ansible's json callback shows them (``""``)."""
    for play in document.get("plays", []):
        play.get("play", {})["path"] = ""
        for task in play.get("tasks", []):
            task.get("task", {})["path"] = ""
    return document


def cmd_adhoc(args: argparse.Namespace) -> int:
    from playgraph.compiler.ir import Graph
    from playgraph.runtime.adhoc import AdhocDisplay, AdhocError, AdhocSpec, build_play
    from playgraph.runtime.context import RunOptions
    from playgraph.runtime.run import dump_document

    forks = forks_of(args)
    spec = AdhocSpec(
        pattern=args.pattern,
        module=args.module_name,
        args=args.module_args,
        background=args.background,
        poll=poll_of(args),
        become=args.become,  # as ansible: --become-user alone does not escalate
        become_user=args.become_user,
    )
    try:
        play = build_play(spec)
        inventory, extra_vars = load_hosts(args)
        hosts = select_hosts(inventory, args.pattern, args.limit)
    except AdhocError as error:
        raise _usage_error(str(error)) from None
    except SetupError as error:
        sys.stderr.write(f"playgraph: error: {error}\n")
        return EXIT_BEFORE_RUN
    if not hosts:
        warn("No hosts matched, nothing to do")
        if not args.json:
            return 0
    graph = Graph(plays=(play,))
    connection_password, become_password = ask_passwords(args)
    options = RunOptions(
        forks=forks,
        extra_vars=extra_vars,
        limit=args.limit,
        check_mode=args.check,
        become_password=become_password,
        connection_password=connection_password,
        playbook_dir=".",
        verbosity=args.verbose,
        **connection_options(args),
    )
    subscribers = []
    if not args.json:
        subscribers.append(AdhocDisplay(graph.node_index(), one_line=args.one_line))
    import asyncio  # here, so `check` and `compile` do not pay for importing it

    from .commands_run import finish
    from .interrupts import run_interruptibly

    outcome = asyncio.run(run_interruptibly(run_and_close(graph, inventory, options, subscribers)))
    document = dump_document(adhoc_document(outcome.document)) if args.json else None
    code = finish(outcome, args, document)
    return code if outcome.interrupted is not None else exit_code(outcome)
