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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import interrupts, view
from .errors import CliError
from .options import (
    add_become_options,
    add_connection_options,
    add_host_options,
    add_password_options,
    add_view_options,
    ask_passwords,
    forks_of,
    load_hosts,
    poll_interval,
    run_options,
    select_hosts,
)
from .output import finish, warn

if TYPE_CHECKING:
    from playgraph.runtime.scheduler import RunOutcome
    from playgraph.runtime.tracing import Event

HOST_FORKS_HELP = "hosts launching (or queried) at once (default: $ANSIBLE_FORKS or 5)"


def add_parser(commands: Any) -> None:
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
    add_host_options(adhoc, forks_help=HOST_FORKS_HELP)
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
    add_view_options(adhoc)
    adhoc.set_defaults(handler=execute)


def exit_code(outcome: RunOutcome) -> int:
    """ansible's exit code: unreachable (4) wins over failed (2); they are not or-ed."""
    code = int(outcome.exit_code)
    if code & 4:
        return 4
    return 2 if code & 2 else 0


def adhoc_document(document: dict[str, Any]) -> dict[str, Any]:
    """The run document with ad-hoc paths as ansible's json callback shows them (``""``)."""
    for play in document.get("plays", []):
        play.get("play", {})["path"] = ""
        for task in play.get("tasks", []):
            task.get("task", {})["path"] = ""
    return document


def execute(args: argparse.Namespace) -> int:
    from playgraph.compiler.ir import Graph
    from playgraph.runtime.adhoc import AdhocDisplay, AdhocError, AdhocSpec, build_play

    forks = forks_of(args)
    spec = AdhocSpec(
        pattern=args.pattern,
        module=args.module_name,
        args=args.module_args,
        background=args.background,
        poll=poll_interval(args.poll),
        become=args.become,  # as ansible: --become-user alone does not escalate
        become_user=args.become_user,
    )
    try:
        play = build_play(spec)
    except AdhocError as error:
        raise CliError.usage(str(error)) from None
    inventory, extra_vars = load_hosts(args, warn_implicit=True)
    hosts = select_hosts(inventory, args.pattern, args.limit)
    if not hosts:
        warn("No hosts matched, nothing to do")
        if not args.json:
            return 0
    graph = Graph(plays=(play,))
    passwords = ask_passwords(args)
    options = run_options(args, forks=forks, extra_vars=extra_vars, passwords=passwords)
    seen = view.prepare(args, graph, title=f"{args.pattern} -m {args.module_name}")
    subscribers: list[Callable[[Event], None]] = list(seen.subscribers)
    if not args.json:
        # Each host's result is the ad-hoc command's output: with the live view it is
        # printed above the status area.
        stream = seen.live.above if seen.live is not None else None
        subscribers.append(AdhocDisplay(graph.node_index(), stream=stream, one_line=args.one_line))
    import asyncio  # here, so `check` and `compile` do not pay for importing it

    from playgraph.runtime.run import run_graph

    work = run_graph(graph, inventory, options, subscribers=subscribers)
    try:
        outcome = asyncio.run(interrupts.run_interruptibly(work))
    finally:
        if seen.live is not None:
            seen.live.close()
    document = view.conclude(seen, outcome, args)
    code = finish(outcome, adhoc_document(document) if args.json else None, args.inventory)
    return code if outcome.interrupted is not None else exit_code(outcome)
