"""Entry points of the runtime: connections by inventory variables, a run's lifecycle
(`open_runtime`), and running a graph."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, TextIO

import yaml
from playgraph.compiler.ir import Graph

from . import config as _config
from .connection.base import Connection, TargetUnreachable
from .connection.local import LocalConnection
from .context import ConnectionFactory, RunContext, RunOptions
from .display import Display
from .inventory import Inventory
from .jobs import close_clients
from .scheduler import RunOutcome, Scheduler
from .tracing import Event, Tracer


class UnsupportedConnection:
    """A placeholder for a connection type this build cannot open: every use is unreachable."""

    def __init__(self, host: str, reason: str) -> None:
        self.host = host
        self.reason = reason

    def __getattr__(self, name: str) -> Callable[..., Any]:
        async def fail(*args: Any, **kwargs: Any) -> Any:
            raise TargetUnreachable(self.reason)

        return fail


def default_connect(host: str, variables: Mapping[str, Any]) -> Connection:
    """The connection the settings name (`connection.settings.ConnectionSettings.variables`).

    ``ansible_connection`` is already resolved there (variable, keyword, ``-c``, config);
    when a caller gives none, the configured transport (ssh) applies — as in ansible-core,
    an inventory host named ``localhost`` without ``ansible_connection=local`` is reached
    over ssh; only the implicit localhost is local.
    """
    kind = variables.get("ansible_connection")
    if kind in (None, "", "smart"):
        kind = _config.current().transport
    if kind == "local":
        return LocalConnection(host)
    if kind in ("ssh", "paramiko", "paramiko_ssh", "smart"):
        try:
            from .connection.ssh import SSHConnection
        except ImportError:
            return UnsupportedConnection(host, "the ssh connection is not available in this build")
        return SSHConnection(host, variables)
    return UnsupportedConnection(host, f"connection type '{kind}' is not supported by playgraph")


def parse_extra_vars(values: Sequence[str], *, base_dir: str = ".") -> dict[str, Any]:
    """``-e``: ``key=value`` pairs, ``@file`` (YAML/JSON), or inline YAML/JSON; later wins."""
    merged: dict[str, Any] = {}
    for value in values:
        text = value.strip()
        if text.startswith("@"):
            path = os.path.join(base_dir, text[1:]) if not os.path.isabs(text[1:]) else text[1:]
            try:
                with open(path, encoding="utf-8") as handle:
                    data = _load_yaml(handle.read(), path) or {}
            except (OSError, UnicodeDecodeError) as error:
                reason = error.strerror if isinstance(error, OSError) else str(error)
                raise ValueError(f"-e {value}: cannot read {path}: {reason}") from None
        elif text.startswith(("{", "[")):
            data = _load_yaml(text, f"-e {value!r}")
        else:
            # lark and the grammars: imported only for key=value extra vars.
            from playgraph.grammar import ArgsSyntaxError, parse_args

            try:
                data = parse_args(text, raw_params=False).as_dict()
            except ArgsSyntaxError as error:
                raise ValueError(f"invalid extra vars {value!r}: {error.message}") from None
            data.pop("_raw_params", None)
        if not isinstance(data, dict):
            raise ValueError(f"extra vars must be a mapping: {value!r}")
        merged.update(data)
    return merged


def _load_yaml(text: str, where: str) -> Any:
    """YAML or JSON extra vars; a syntax error names the place (``file:line:col``)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        place = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark is not None else where
        problem = getattr(error, "problem", None) or str(error)
        raise ValueError(f"{place}: invalid YAML/JSON in extra vars: {problem}") from None


_OPEN: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()
"""Runtimes open in each event loop: the supervisor clients are shared by the loop, so
only the last one to close closes them."""


@contextlib.asynccontextmanager
async def open_runtime(
    inventory: Inventory,
    options: RunOptions,
    *,
    connect: ConnectionFactory = default_connect,
    subscribers: Sequence[Callable[[Event], None]] = (),
    rng: random.Random | None = None,
) -> AsyncIterator[RunContext]:
    """A run's context, and on the way out (even cancelled) everything it opened closed:
    every connection, and this event loop's supervisor clients.  The supervisors and
    their jobs keep running; only playgraph's own ends of the streams close.

    Everything that reaches targets goes through one: `run_graph`, and the CLI's job
    commands.  Without it a run leaves its client streams to the garbage collector
    (``ResourceWarning: unclosed transport`` under ``python -X dev``).
    """
    loop = asyncio.get_running_loop()
    run = RunContext(
        inventory=inventory, options=options, connect=connect, tracer=Tracer(subscribers), rng=rng
    )
    _OPEN[loop] = _OPEN.get(loop, 0) + 1
    try:
        yield run
    finally:
        _OPEN[loop] -= 1
        try:
            await run.close()
        finally:
            if not _OPEN[loop]:
                del _OPEN[loop]
                await close_clients()


async def run_graph(
    graph: Graph,
    inventory: Inventory,
    options: RunOptions,
    *,
    connect: ConnectionFactory = default_connect,
    subscribers: Sequence[Callable[[Event], None]] = (),
    display_stream: TextIO | None = None,
    rng: random.Random | None = None,
) -> RunOutcome:
    """Run ``graph`` in its own `open_runtime`: nothing it opened is left open after it."""
    async with open_runtime(
        inventory, options, connect=connect, subscribers=subscribers, rng=rng
    ) as run:
        scheduler = Scheduler(graph, run)
        if display_stream is not None:
            run.tracer.subscribe(
                Display(
                    run.node_index,
                    display_stream,
                    verbosity=options.verbosity,
                    stats=run.document.stats,
                )
            )
        return await scheduler.execute()


def run_graph_sync(
    graph: Graph, inventory: Inventory, options: RunOptions, **kwargs: Any
) -> RunOutcome:
    return asyncio.run(run_graph(graph, inventory, options, **kwargs))


def dump_document(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=4, sort_keys=True, default=str) + "\n"
