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
import contextlib
import dataclasses
import gc
import os
import sys
from collections.abc import Iterator
from typing import Any

from playgraph.compiler.diagnostics import has_errors, sorted_unique
from playgraph.compiler.ir import Graph
from playgraph.compiler.plan import PlanError, load_plan, looks_like_plan
from playgraph.compiler.result import CompileOptions

from . import interrupts, report, view
from .cache import compile_cached
from .errors import CliError
from .options import (
    add_become_options,
    add_compile_options,
    add_connection_options,
    add_host_options,
    add_password_options,
    add_view_options,
    ask_passwords,
    compile_options,
    forks_of,
    load_hosts,
    run_options,
)
from .output import finish

RUN_GC_YOUNG = 50_000
"""Allocations between young garbage collections during a run (Python's default: 700).

A run keeps most of what it allocates per host (results, the document, the
timeline) and frees the rest by reference counting; with the default thresholds
the collector walked that growing heap again and again, a cost per host that grew
with the hosts.  What was loaded before the run (modules, the graph, the
inventory) is frozen out of the collections."""


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    """The run with `RUN_GC_YOUNG` and what exists before it frozen; restored after."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(RUN_GC_YOUNG, thresholds[1], thresholds[2])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def add_parser(commands: Any) -> None:
    run = commands.add_parser("run", help="run a playbook (or a plan JSON) against an inventory")
    run.add_argument("playbook", metavar="PLAYBOOK|PLAN")
    add_host_options(
        run, forks_help="hosts launching or running an action at once (default 5, $ANSIBLE_FORKS)"
    )
    run.add_argument("-C", "--check", action="store_true", help="don't make changes")
    run.add_argument("-D", "--diff", action="store_true", help="show differences")
    add_password_options(run)
    add_connection_options(run)
    add_become_options(run)
    run.add_argument("-v", "--verbose", action="count", default=0)
    run.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document shaped as Ansible's json callback instead of text",
    )
    add_view_options(run)
    add_compile_options(run)
    run.set_defaults(handler=execute)


def load_graph(path: str, options: CompileOptions, *, use_cache: bool = True) -> tuple[Graph, str]:
    """A graph from a playbook (compiled, must be error-free) or a plan JSON; and its folder."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = handle.read(8192)
    except OSError as error:
        raise CliError.setup(f"cannot read {path}: {error.strerror}") from None
    folder = os.path.dirname(path) or "."
    if looks_like_plan(head):
        try:
            with open(path, encoding="utf-8") as handle:
                graph = load_plan(handle.read())
        except (PlanError, OSError, UnicodeDecodeError) as error:
            raise CliError.setup(f"{path}: not a usable plan: {error}") from None
        first = next(graph.nodes(), None)
        if first is not None and first.span.file:
            folder = os.path.dirname(first.span.file) or "."
        return graph, folder
    compiled = compile_cached(path, options, use_cache=use_cache)
    findings = sorted_unique(compiled.diagnostics)
    if has_errors(findings):
        sys.stderr.write(report.format_pep8(findings))
        raise CliError.setup(f"{path} has errors; fix them before running (see `playgraph check`)")
    return compiled.graph, folder


def execute(args: argparse.Namespace) -> int:
    options = compile_options(args)
    forks = forks_of(args)
    try:
        graph, folder = load_graph(args.playbook, options, use_cache=not args.no_cache)
    except (ValueError, OSError) as error:
        raise CliError.setup(str(error)) from None
    inventory, extra_vars = load_hosts(args, warn_implicit=False)
    passwords = ask_passwords(args)
    run = run_options(
        args, forks=forks, extra_vars=extra_vars, passwords=passwords, playbook_dir=folder
    )
    import asyncio  # here, so `check` and `compile` do not pay for importing it

    from playgraph.runtime.run import run_graph

    seen = view.prepare(args, graph, title=args.playbook)
    if not args.json and not getattr(args, "report", None):
        # Nobody reads the document's results or its timeline: neither is recorded
        # (a record per host and task, and an event handler more per event).
        run = dataclasses.replace(run, keep_results=False)
        seen.subscribers.remove(seen.recorder)
    lines = not args.json and seen.live is None
    work = run_graph(
        graph,
        inventory,
        run,
        subscribers=seen.subscribers,
        display_stream=sys.stdout if lines else None,
    )
    try:
        with _few_collections():
            outcome = asyncio.run(interrupts.run_interruptibly(work))
    finally:
        if seen.live is not None:
            seen.live.close()
    document = view.conclude(seen, outcome, args)
    return finish(outcome, document if args.json else None, args.inventory)
