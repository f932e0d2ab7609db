"""``playgraph jobs``: the job control ansible lacks (ansible/ansible#12619).

    playgraph jobs list    [PATTERN] [-i INV] [--json]
    playgraph jobs status  JID... [PATTERN] [-i INV] [-o] [--json]
    playgraph jobs kill    JID... [PATTERN] [-i INV] [--json]
    playgraph jobs cleanup [PATTERN] [-i INV] [--older-than DURATION] [--json]

Hosts default to the implicit ``localhost``; each host's ``ansible_async_dir``
(inventory or ``-e``, default ``~/.ansible_async``) says where its jobs are.  A
positional word after the jids is the host pattern when it does not look like a
jid (``j123.456``, or ansible's older ``123.456``).

* ``list`` prints a table of every job: state (running, finished, timeout,
  killed, lost; ``foreign`` for status files of other tools), start time, time
  limit, age and command.
* ``status`` is ``playgraph adhoc PATTERN -m async_status -a jid=JID``: the same
  record, the same output.
* ``kill`` stops a running job's whole process group (SIGTERM, SIGKILL 2 s
  later) and records it as killed; an ended job is left as it is.
* ``cleanup`` removes the files of jobs that have ended (``--older-than 1h``:
  ended at least that long ago); never a running job's.

Exit codes as ``playgraph adhoc``: 0, 2 when a host failed (an unknown jid), 4
when one was unreachable; 1 for a bad inventory; 5 for bad options.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import shlex
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from .commands_adhoc import (
    EXIT_BEFORE_RUN,
    SetupError,
    add_host_options,
    add_password_options,
    ask_passwords,
    exit_code,
    forks_of,
    load_hosts,
    select_hosts,
    warn,
)

if TYPE_CHECKING:
    from playgraph.runtime.adhoc import JobTarget
    from playgraph.runtime.context import RunOptions
    from playgraph.runtime.inventory import Inventory

T = TypeVar("T")

DEFAULT_PATTERN = "localhost"
_JID = re.compile(r"^j?\d+\.\d+$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw]?)")
_DURATION_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[smhdw]?)+")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_COMMAND_WIDTH = 60


def add_parser(commands: Any) -> None:
    """Register ``jobs`` and its subcommands (with the CLI's parser class: bad options exit 5)."""
    jobs = commands.add_parser(
        "jobs",
        help="list, check, kill and clean up jobs on hosts (what ansible lacks)",
        description="Job control for async tasks: list, status, kill, cleanup.",
    )
    sub = jobs.add_subparsers(dest="jobs_command", required=True, parser_class=type(jobs))

    listing = sub.add_parser("list", help="every job on the hosts, as a table")
    listing.add_argument(
        "pattern",
        nargs="?",
        default=DEFAULT_PATTERN,
        metavar="PATTERN",
        help="host pattern (default: localhost)",
    )
    status = sub.add_parser("status", help="a job's async_status record")
    status.add_argument("words", nargs="+", metavar="JID [PATTERN]")
    status.add_argument("-o", "--one-line", action="store_true", help="condense output")
    kill = sub.add_parser("kill", help="stop running jobs and record them as killed")
    kill.add_argument("words", nargs="+", metavar="JID... [PATTERN]")
    cleanup = sub.add_parser("cleanup", help="remove the files of jobs that have ended")
    cleanup.add_argument(
        "pattern",
        nargs="?",
        default=DEFAULT_PATTERN,
        metavar="PATTERN",
        help="host pattern (default: localhost)",
    )
    cleanup.add_argument(
        "--older-than",
        metavar="DURATION",
        type=parse_duration,
        help="only jobs that ended at least this long ago (90, 30s, 5m, 2h, 1d)",
    )
    for parser in (listing, status, kill, cleanup):
        add_host_options(parser)
        add_password_options(parser)
        parser.add_argument("--json", action="store_true", help="print one JSON document")


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``30s``, ``5m``, ``2h``, ``1d``, ``1w`` or ``1h30m``."""
    compact = "".join(text.lower().split())
    if not _DURATION_WHOLE.fullmatch(compact):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90, 30s, 5m, 2h, 1d)")
    return sum(float(m.group(1)) * _UNITS[m.group(2)] for m in _DURATION.finditer(compact))


def split_words(words: Sequence[str]) -> tuple[list[str], str]:
    """The jids and the host pattern of ``JID... [PATTERN]``."""
    if len(words) > 1 and not _JID.match(words[-1]):
        return list(words[:-1]), words[-1]
    return list(words), DEFAULT_PATTERN


def cmd_jobs(args: argparse.Namespace) -> int:
    forks = forks_of(args)
    args.passwords = ask_passwords(args)
    handlers: dict[str, Callable[[argparse.Namespace, int], int]] = {
        "list": _cmd_list,
        "status": _cmd_status,
        "kill": _cmd_kill,
        "cleanup": _cmd_cleanup,
    }
    try:
        return handlers[args.jobs_command](args, forks)
    except SetupError as error:
        sys.stderr.write(f"playgraph: error: {error}\n")
        return EXIT_BEFORE_RUN


# --------------------------------------------------------------------------- running


def _hosts(args: argparse.Namespace, pattern: str) -> tuple[Inventory, dict[str, Any], list[str]]:
    inventory, extra_vars = load_hosts(args) if args.inventory else _implicit(args)
    hosts = select_hosts(inventory, pattern, args.limit)
    if not hosts:
        warn("No hosts matched, nothing to do")
    return inventory, extra_vars, hosts


def _implicit(args: argparse.Namespace) -> tuple[Inventory, dict[str, Any]]:
    # No "no inventory was parsed" warning here: localhost is what `jobs` means by default.
    from playgraph.runtime.inventory import Inventory
    from playgraph.runtime.run import parse_extra_vars

    try:
        return Inventory(), parse_extra_vars(args.extra_vars)
    except (ValueError, OSError) as error:
        raise SetupError(str(error)) from None


def _per_host(
    args: argparse.Namespace,
    inventory: Inventory,
    extra_vars: dict[str, Any],
    hosts: list[str],
    forks: int,
    work: Callable[[JobTarget], Awaitable[T]],
) -> dict[str, T]:
    """``work`` on each host's job target, ``forks`` hosts at a time, in one event loop."""
    import asyncio  # here, so `check` and `compile` do not pay for importing it

    from playgraph.runtime.adhoc import job_targets
    from playgraph.runtime.context import RunContext
    from playgraph.runtime.jobs import close_clients
    from playgraph.runtime.run import default_connect
    from playgraph.runtime.tracing import Tracer

    async def main() -> dict[str, T]:
        run = RunContext(
            inventory=inventory,
            options=_options(args, forks, extra_vars),
            connect=default_connect,
            tracer=Tracer(),
        )

        async def one(target: JobTarget) -> T:
            async with run.forks:
                return await work(target)

        try:
            targets = job_targets(run, hosts)
            values = await asyncio.gather(*(one(t) for t in targets))
            return dict(zip(hosts, values, strict=True))
        finally:
            await run.close()
            await close_clients()

    return asyncio.run(main())


def _options(args: argparse.Namespace, forks: int, extra_vars: dict[str, Any]) -> RunOptions:
    from playgraph.runtime.context import RunOptions

    connection_password, become_password = args.passwords
    return RunOptions(
        forks=forks,
        extra_vars=extra_vars,
        connection_password=connection_password,
        become_password=become_password,
    )


def _code(results: Sequence[Mapping[str, Any]]) -> int:
    from playgraph.runtime.results import is_failed, is_unreachable

    if any(is_unreachable(r) for r in results):
        return 4
    return 2 if any(is_failed(r) for r in results) else 0


def _public(result: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if not k.startswith(("_ansible_", "_playgraph"))}


def _write_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=4, sort_keys=True, default=str) + "\n")


# --------------------------------------------------------------------------- list


def _cmd_list(args: argparse.Namespace, forks: int) -> int:
    from playgraph.runtime.adhoc import list_jobs

    inventory, extra_vars, hosts = _hosts(args, args.pattern)
    now = time.time()
    results = _per_host(args, inventory, extra_vars, hosts, forks, lambda t: list_jobs(t, now=now))
    if args.json:
        _write_json({"hosts": {h: _public(r) for h, r in results.items()}})
    else:
        _print_table(results)
    return _code(list(results.values()))


def _print_table(results: Mapping[str, Mapping[str, Any]]) -> None:
    from playgraph.runtime.adhoc import format_minimal

    header = ("HOST", "JID", "STATE", "STARTED", "LIMIT", "AGE", "COMMAND")
    rows: list[tuple[str, ...]] = []
    for host, result in results.items():
        if "jobs" not in result:
            # An unreachable host or a refusing supervisor: say so as ansible would.
            sys.stderr.write(format_minimal(host, "jobs", result) + "\n")
            continue
        for job in result["jobs"]:
            rows.append(_row(host, job))
    if not rows:
        if any("jobs" in r for r in results.values()):
            sys.stdout.write("no jobs\n")
        return
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        sys.stdout.write("  ".join([*cells, row[-1]]).rstrip() + "\n")


def _row(host: str, job: Mapping[str, Any]) -> tuple[str, ...]:
    state = str(job.get("state", "?"))
    if job.get("foreign"):
        state += " (foreign)"
    start = job.get("start")
    started = (
        datetime.datetime.fromtimestamp(start).strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(start, int | float) and start > 0
        else "-"
    )
    limit = job.get("limit")
    age = job.get("age")
    return (
        host,
        str(job.get("jid", "?")),
        state,
        started,
        _seconds(limit) if isinstance(limit, int | float) else "-",
        _seconds(age) if isinstance(age, int | float) else "-",
        _command(job.get("cmd")),
    )


def _seconds(value: float) -> str:
    """``42s``, ``5m03s``, ``2h00m``, ``3d04h``: short enough for a table."""
    whole = int(value)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def _command(cmd: Any) -> str:
    if isinstance(cmd, list):
        text = shlex.join(str(part) for part in cmd)
    elif cmd is None:
        text = "-"
    else:
        text = str(cmd)
    text = " ".join(text.split())
    return text if len(text) <= _COMMAND_WIDTH else text[: _COMMAND_WIDTH - 3] + "..."


# --------------------------------------------------------------------------- status


def _cmd_status(args: argparse.Namespace, forks: int) -> int:
    """The async_status play for each jid, run and shown exactly as ``adhoc`` would."""
    from playgraph.compiler.ir import Graph
    from playgraph.runtime.adhoc import AdhocDisplay, status_play
    from playgraph.runtime.run import dump_document

    from .commands_adhoc import adhoc_document, run_and_close

    jids, pattern = split_words(args.words)
    inventory, extra_vars, hosts = _hosts(args, pattern)
    graph = Graph(plays=(status_play(pattern, jids),))
    subscribers = []
    if not args.json:
        subscribers.append(AdhocDisplay(graph.node_index(), one_line=args.one_line))
    options = replace(_options(args, forks, extra_vars), limit=args.limit)
    import asyncio  # here, so `check` and `compile` do not pay for importing it

    outcome = asyncio.run(run_and_close(graph, inventory, options, subscribers))
    if args.json:
        sys.stdout.write(dump_document(adhoc_document(outcome.document)))
    return exit_code(outcome) if hosts else 0


# --------------------------------------------------------------------------- kill / cleanup


def _cmd_kill(args: argparse.Namespace, forks: int) -> int:
    from playgraph.runtime.adhoc import kill_jobs

    jids, pattern = split_words(args.words)
    inventory, extra_vars, hosts = _hosts(args, pattern)
    results = _per_host(args, inventory, extra_vars, hosts, forks, lambda t: kill_jobs(t, jids))
    if args.json:
        _write_json(
            {"hosts": {h: {j: _public(r) for j, r in zip(jids, rs, strict=True)}
                       for h, rs in results.items()}}
        )  # fmt: skip
    else:
        for host, per_jid in results.items():
            for result in per_jid:
                _show(host, result)
    return _code([r for rs in results.values() for r in rs])


def _cmd_cleanup(args: argparse.Namespace, forks: int) -> int:
    from playgraph.runtime.adhoc import cleanup_jobs

    inventory, extra_vars, hosts = _hosts(args, args.pattern)
    now = time.time()
    results = _per_host(
        args,
        inventory,
        extra_vars,
        hosts,
        forks,
        lambda t: cleanup_jobs(t, older_than=args.older_than, now=now),
    )
    if args.json:
        _write_json({"hosts": {h: _public(r) for h, r in results.items()}})
    else:
        for host, result in results.items():
            _show(host, result)
    return _code(list(results.values()))


def _show(host: str, result: Mapping[str, Any]) -> None:
    from playgraph.runtime.adhoc import format_minimal

    sys.stdout.write(format_minimal(host, "jobs", result) + "\n")
    sys.stdout.flush()
