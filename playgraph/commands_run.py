"""``playgraph run``: execute a playbook or a compiled plan against an inventory.

Exit codes as ansible-playbook: 0 ok, 2 a host failed, 4 a host unreachable
(bit flags, so 6 is both), 1 for errors before the run (a playbook with errors,
a bad inventory or plan), 5 for bad options.  Stopped by a signal: 99 for SIGINT
(as ansible-playbook), 143 for SIGTERM, 129 for SIGHUP, after the blocking
commands in flight were stopped, the recap printed and the ``async`` jobs still
running listed (``--json``: the document's ``interrupted`` key).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import TYPE_CHECKING, Any

from playgraph.compiler.diagnostics import has_errors, sorted_unique
from playgraph.compiler.ir import Graph
from playgraph.compiler.plan import PlanError, load_plan, looks_like_plan
from playgraph.compiler.result import CompileOptions

from . import interrupts
from .cache import compile_cached
from .commands_adhoc import add_password_options, ask_passwords
from .connection_options import add_become_options, add_connection_options, connection_options

if TYPE_CHECKING:
    from playgraph.runtime.scheduler import RunOutcome

EXIT_BEFORE_RUN = 1


class RunSetupError(Exception):
    """Something wrong before any host ran: one line, exit 1."""


def add_parser(commands: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    run = commands.add_parser("run", help="run a playbook (or a plan JSON) against an inventory")
    run.add_argument("playbook", metavar="PLAYBOOK|PLAN")
    add_run_options(run)


def add_run_options(parser: argparse.ArgumentParser) -> None:
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
        help="hosts launching or running an action at once (default 5, $ANSIBLE_FORKS)",
    )
    parser.add_argument(
        "-e",
        "--extra-vars",
        action="append",
        default=[],
        metavar="VARS",
        help="key=value, YAML/JSON, or @file (repeatable)",
    )
    parser.add_argument("-C", "--check", action="store_true", help="don't make changes")
    parser.add_argument("-D", "--diff", action="store_true", help="show differences")
    add_password_options(parser)
    add_connection_options(parser)
    add_become_options(parser)
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document shaped as Ansible's json callback instead of text",
    )


def forks_from(args: argparse.Namespace) -> int:
    if args.forks is not None:
        return int(args.forks)
    try:
        return int(os.environ.get("ANSIBLE_FORKS", "5"))
    except ValueError:
        return 5


def load_graph(
    path: str, compile_options: CompileOptions, *, use_cache: bool = True
) -> tuple[Graph, str]:
    """A graph from a playbook (compiled, must be error-free) or a plan JSON; and its folder."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = handle.read(8192)
    except OSError as error:
        raise RunSetupError(f"cannot read {path}: {error.strerror}") from None
    folder = os.path.dirname(path) or "."
    if looks_like_plan(head):
        try:
            with open(path, encoding="utf-8") as handle:
                graph = load_plan(handle.read())
        except (PlanError, OSError, UnicodeDecodeError) as error:
            raise RunSetupError(f"{path}: not a usable plan: {error}") from None
        first = next(graph.nodes(), None)
        if first is not None and first.span.file:
            folder = os.path.dirname(first.span.file) or "."
        return graph, folder
    compiled = compile_cached(path, compile_options, use_cache=use_cache)
    findings = sorted_unique(compiled.diagnostics)
    if has_errors(findings):
        from . import report

        sys.stderr.write(report.format_pep8(findings))
        raise RunSetupError(f"{path} has errors; fix them before running (see `playgraph check`)")
    return compiled.graph, folder


def cmd_run(args: argparse.Namespace, compile_options: CompileOptions) -> int:
    from playgraph.runtime.context import RunOptions
    from playgraph.runtime.inventory import Inventory, InventoryError, load_inventory
    from playgraph.runtime.run import dump_document, parse_extra_vars, run_graph

    forks = forks_from(args)
    if forks < 1:
        from .cli import UsageError

        raise UsageError("The number of processes (--forks) must be >= 1")
    try:
        graph, folder = load_graph(args.playbook, compile_options, use_cache=not args.no_cache)
        inventory = load_inventory(args.inventory) if args.inventory else Inventory()
        extra_vars = parse_extra_vars(args.extra_vars)
    except RunSetupError as error:
        sys.stderr.write(f"playgraph: error: {error}\n")
        return EXIT_BEFORE_RUN
    except InventoryError as error:
        sys.stderr.write(f"playgraph: error: inventory: {error}\n")
        return EXIT_BEFORE_RUN
    except (ValueError, OSError) as error:
        sys.stderr.write(f"playgraph: error: {error}\n")
        return EXIT_BEFORE_RUN
    for warning in getattr(inventory, "warnings", []):
        sys.stderr.write(f"[WARNING]: {warning}\n")
    connection_password, become_password = ask_passwords(args)
    options = RunOptions(
        forks=forks,
        extra_vars=extra_vars,
        limit=args.limit,
        check_mode=args.check,
        diff=args.diff,
        become_password=become_password,
        connection_password=connection_password,
        playbook_dir=folder,
        verbosity=args.verbose,
        **connection_options(args),
    )
    import asyncio  # here, so `check` and `compile` do not pay for importing it

    run = run_graph(graph, inventory, options, display_stream=None if args.json else sys.stdout)
    outcome = asyncio.run(interrupts.run_interruptibly(run))
    return finish(outcome, args, dump_document(outcome.document) if args.json else None)


def finish(outcome: RunOutcome, args: argparse.Namespace, document: str | None) -> int:
    """Print the document (whole: signals wait until it is written) and, after an
    interruption, the jobs left running; the exit code."""
    with interrupts.deferred():
        if document is not None:
            sys.stdout.write(document)
            sys.stdout.flush()
        if outcome.interrupted is None:
            return int(outcome.exit_code)
        hint = [f"-i {shlex.quote(source)}" for source in args.inventory]
        interrupts.report(outcome.interrupted, hint)
        return interrupts.exit_code(interrupts.signal_of(outcome.interrupted))
