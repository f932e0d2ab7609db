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
* ``cleanup`` removes the files of ended jobs that no run is waiting on (see
  `CLEANUP_RULES`); never a running job's, and never files that are not
  playgraph's job files (another tool's status files in the same folder).

Exit codes as ``playgraph adhoc``: 0, 2 when a host failed (an unknown jid), 4
when one was unreachable; 1 for a bad inventory; 5 for bad options.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shlex
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from .adhoc import HOST_FORKS_HELP, adhoc_document, exit_code
from .options import (
    Passwords,
    add_host_options,
    add_password_options,
    ask_passwords,
    forks_of,
    load_hosts,
    run_options,
    select_hosts,
)
from .output import warn, write_json

if TYPE_CHECKING:
    from playgraph.runtime.adhoc import JobTarget
    from playgraph.runtime.context import RunOptions
    from playgraph.runtime.inventory import Inventory
    from playgraph.runtime.tracing import Event

T = TypeVar("T")

DEFAULT_PATTERN = "localhost"
_JID = re.compile(r"^j?\d+\.\d+$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw]?)")
_DURATION_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[smhdw]?)+")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_COMMAND_WIDTH = 60
_FINAL_STATES = frozenset({"finished", "timeout", "killed", "lost"})
UNKNOWN_RUN_AGE = 86400.0
"""Seconds after its end a job whose run cannot be checked from here is kept, by default."""

CLEANUP_RULES = """\
Which jobs are removed: only playgraph's own jobs (status files of other tools,
such as ansible-core's async_wrapper, are never touched), only once they have
ended (finished, timeout, killed, lost), and only when no run can still be
waiting to read their result:

* a job records the run that started it (host name, process id and start time
  of the controller).  A run on this machine is still going while that process
  is alive: its jobs are kept, whatever their age;
* a run on another machine, or a job with no run recorded, cannot be checked
  from here: its jobs are kept until they ended 24 hours ago, or --older-than
  ago when that is given.

--older-than DURATION also keeps any job that ended less than DURATION ago."""


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
    cleanup = sub.add_parser(
        "cleanup",
        help="remove the files of ended jobs no run is waiting on",
        description=CLEANUP_RULES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
        help="only jobs that ended at least this long ago (90, 30s, 5m, 2h, 1d); also how "
        "long jobs of runs that cannot be checked from here are kept (default 1d)",
    )
    for parser in (listing, status, kill, cleanup):
        add_host_options(parser, forks_help=HOST_FORKS_HELP)
        add_password_options(parser)
        parser.add_argument("--json", action="store_true", help="print one JSON document")
    jobs.set_defaults(handler=execute)


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


def execute(args: argparse.Namespace) -> int:
    forks = forks_of(args)
    args.passwords = ask_passwords(args)
    handlers: dict[str, Callable[[argparse.Namespace, int], int]] = {
        "list": _cmd_list,
        "status": _cmd_status,
        "kill": _cmd_kill,
        "cleanup": _cmd_cleanup,
    }
    return handlers[args.jobs_command](args, forks)


# --------------------------------------------------------------------------- running


def _hosts(args: argparse.Namespace, pattern: str) -> tuple[Inventory, dict[str, Any], list[str]]:
    # No "no inventory was parsed" warning: localhost is what `jobs` means by default.
    inventory, extra_vars = load_hosts(args, warn_implicit=False)
    hosts = select_hosts(inventory, pattern, args.limit)
    if not hosts:
        warn("No hosts matched, nothing to do")
    return inventory, extra_vars, hosts


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
    from playgraph.runtime.run import open_runtime

    async def main() -> dict[str, T]:
        async with open_runtime(inventory, _options(args, forks, extra_vars)) as run:

            async def one(target: JobTarget) -> T:
                async with run.forks:
                    return await work(target)

            targets = job_targets(run, hosts)
            values = await asyncio.gather(*(one(t) for t in targets))
            return dict(zip(hosts, values, strict=True))

    return asyncio.run(main())


def _options(args: argparse.Namespace, forks: int, extra_vars: dict[str, Any]) -> RunOptions:
    passwords: Passwords = args.passwords
    return run_options(args, forks=forks, extra_vars=extra_vars, passwords=passwords)


def _code(results: Sequence[Mapping[str, Any]]) -> int:
    from playgraph.runtime.results import is_failed, is_unreachable

    if any(is_unreachable(r) for r in results):
        return 4
    return 2 if any(is_failed(r) for r in results) else 0


def _public(result: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if not k.startswith(("_ansible_", "_playgraph"))}


# --------------------------------------------------------------------------- list


def _cmd_list(args: argparse.Namespace, forks: int) -> int:
    from playgraph.runtime.adhoc import list_jobs

    inventory, extra_vars, hosts = _hosts(args, args.pattern)
    now = time.time()
    results = _per_host(args, inventory, extra_vars, hosts, forks, lambda t: list_jobs(t, now=now))
    for result in results.values():
        if isinstance(result.get("jobs"), list):
            result["jobs"] = [_masked_entry(job) for job in result["jobs"]]
    if args.json:
        write_json({"hosts": {h: _public(r) for h, r in results.items()}})
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


# --------------------------------------------------------------------------- no_log

_MASKED = "(no_log)"
"""The command shown for a ``no_log`` job."""
_MASKED_FIELDS = ("cmd", "cwd")


def _is_no_log(job: Mapping[str, Any]) -> bool:
    return job.get("no_log") is True


def _masked_entry(job: Mapping[str, Any]) -> dict[str, Any]:
    """A ``jobs list`` entry: a ``no_log`` job's command (where secrets are) hidden,
    as the run's own output hides its result."""
    if not _is_no_log(job):
        return dict(job)
    return {**{k: v for k, v in job.items() if k not in _MASKED_FIELDS}, "cmd": _MASKED}


def _no_log_jids(
    args: argparse.Namespace,
    inventory: Inventory,
    extra_vars: dict[str, Any],
    hosts: list[str],
    forks: int,
) -> set[str]:
    """The jids of ``no_log`` jobs on any of the hosts (their sidecars say so)."""
    from playgraph.runtime.adhoc import list_jobs

    listed = _per_host(args, inventory, extra_vars, hosts, forks, lambda t: list_jobs(t, now=0))
    return {
        str(job.get("jid"))
        for result in listed.values()
        for job in result.get("jobs", ())
        if isinstance(job, Mapping) and _is_no_log(job)
    }


def _censoring(subscriber: Callable[[Event], None]) -> Callable[[Event], None]:
    """``subscriber`` seeing a ``no_log`` task's result as the run's display shows it."""
    from playgraph.runtime.results import censor

    def forward(event: Event) -> None:
        result = event.data.get("result")
        if isinstance(result, Mapping) and result.get("_playgraph_no_log"):
            event = replace(event, data={**event.data, "result": censor(result, keep_status=True)})
        subscriber(event)

    return forward


# --------------------------------------------------------------------------- status


def _cmd_status(args: argparse.Namespace, forks: int) -> int:
    """The async_status play for each jid, run and shown exactly as ``adhoc`` would."""
    from playgraph.compiler.ir import Graph, Join
    from playgraph.runtime.adhoc import AdhocDisplay, status_play
    from playgraph.runtime.run import dump_document, run_graph

    jids, pattern = split_words(args.words)
    inventory, extra_vars, hosts = _hosts(args, pattern)
    play = status_play(pattern, jids)
    secret = _no_log_jids(args, inventory, extra_vars, hosts, forks) if hosts else set()
    if secret:
        # A no_log job's record is shown as its task's own result was: censored.
        tasks = tuple(
            replace(task, no_log=True) if isinstance(task, Join) and jid in secret else task
            for task, jid in zip(play.tasks, jids, strict=True)
        )
        play = replace(play, tasks=tasks)
    graph = Graph(plays=(play,))
    subscribers = []
    if not args.json:
        display = AdhocDisplay(graph.node_index(), one_line=args.one_line)
        subscribers.append(_censoring(display))
    options = _options(args, forks, extra_vars)
    import asyncio  # here, so `check` and `compile` do not pay for importing it

    outcome = asyncio.run(run_graph(graph, inventory, options, subscribers=subscribers))
    if args.json:
        sys.stdout.write(dump_document(adhoc_document(outcome.document)))
    return exit_code(outcome) if hosts else 0


# --------------------------------------------------------------------------- kill / cleanup


def _cmd_kill(args: argparse.Namespace, forks: int) -> int:
    from playgraph.runtime.adhoc import kill_jobs
    from playgraph.runtime.results import censor

    jids, pattern = split_words(args.words)
    inventory, extra_vars, hosts = _hosts(args, pattern)
    secret = _no_log_jids(args, inventory, extra_vars, hosts, forks) if hosts else set()
    results = _per_host(args, inventory, extra_vars, hosts, forks, lambda t: kill_jobs(t, jids))
    for per_jid in results.values():
        for index, jid in enumerate(jids):
            if jid in secret:
                per_jid[index] = censor(per_jid[index], keep_status=True)
    if args.json:
        write_json(
            {"hosts": {h: {j: _public(r) for j, r in zip(jids, rs, strict=True)}
                       for h, rs in results.items()}}
        )  # fmt: skip
    else:
        for host, per_jid in results.items():
            for result in per_jid:
                _show(host, result)
    return _code([r for rs in results.values() for r in rs])


def _cmd_cleanup(args: argparse.Namespace, forks: int) -> int:
    inventory, extra_vars, hosts = _hosts(args, args.pattern)
    now = time.time()
    results = _per_host(
        args,
        inventory,
        extra_vars,
        hosts,
        forks,
        lambda t: _cleanup(t, older_than=args.older_than, now=now),
    )
    if args.json:
        write_json({"hosts": {h: _public(r) for h, r in results.items()}})
    else:
        for host, result in results.items():
            _show(host, result)
    return _code(list(results.values()))


async def _cleanup(target: JobTarget, *, older_than: float | None, now: float) -> dict[str, Any]:
    """Remove the files of the host's jobs that `why_kept` lets go; say why the others stay."""
    from playgraph.runtime.adhoc import guarded

    async def run() -> dict[str, Any]:
        conn, async_dir = target.conn, target.async_dir
        await conn.connect()
        erased: list[str] = []
        kept: dict[str, str] = {}
        for meta in await conn.list_jobs(async_dir=async_dir):
            jid = str(meta.get("jid"))
            reason = why_kept(meta, older_than=older_than, now=now)
            if reason is not None:
                kept[jid] = reason
                continue
            await conn.cleanup_job(jid, async_dir=async_dir)
            erased.append(jid)
        return {
            "changed": bool(erased),
            "async_dir": async_dir,
            "erased": erased,
            "kept": list(kept),
            "kept_because": kept,
        }

    return await guarded(run())


def why_kept(
    meta: Mapping[str, Any],
    *,
    older_than: float | None,
    now: float,
    run_alive: Callable[[object], bool | None] | None = None,
) -> str | None:
    """Why ``jobs cleanup`` keeps a listed job (`CLEANUP_RULES`); None when it may go."""
    if meta.get("foreign"):
        return "not a playgraph job"
    state = meta.get("state")
    if state not in _FINAL_STATES:
        return f"{state}" if isinstance(state, str) else "not ended"
    ended = meta.get("end") or meta.get("start")
    age = now - ended if isinstance(ended, int | float) and not isinstance(ended, bool) else None
    if older_than is not None and (age is None or age < older_than):
        return f"ended less than {_seconds(older_than)} ago"
    alive = (run_alive or run_is_alive)(meta.get("run_id"))
    if alive:
        return f"its run {meta.get('run_id')} is still going"
    if alive is None and older_than is None and (age is None or age < UNKNOWN_RUN_AGE):
        return (
            f"its run cannot be checked from here; kept until {_seconds(UNKNOWN_RUN_AGE)} after "
            "it ended (or use --older-than)"
        )
    return None


def run_is_alive(run_id: object) -> bool | None:
    """Whether the run ``<hostname>:<pid>:<start ms>`` is still going: its controller
    process is alive on this machine and is the same process (not a reused pid).
    None when it cannot be told from here (another machine, no or a malformed id)."""
    import socket

    if not isinstance(run_id, str):
        return None
    parts = run_id.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    hostname, pid, start_ms = parts[0], int(parts[1]), int(parts[2])
    if hostname != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's live process
    except OSError:
        return None
    started = _process_start(pid)
    # A process that started after the run recorded its id is another one on a reused pid.
    return started is None or started <= start_ms / 1000 + 1.0


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), from /proc; None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        with open("/proc/stat", "rb") as handle:
            boot = next(float(line.split()[1]) for line in handle if line.startswith(b"btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, StopIteration):
        return None


def _show(host: str, result: Mapping[str, Any]) -> None:
    from playgraph.runtime.adhoc import format_minimal

    sys.stdout.write(format_minimal(host, "jobs", result) + "\n")
    sys.stdout.flush()
