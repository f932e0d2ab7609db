"""State shared by the scheduler and the executor during one run."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from playgraph.compiler.ir import Node, Play

from playgraph.semantics import is_template

from . import config as _config
from .connection.base import Connection, TargetUnreachable
from .connection.settings import CommandLine, ConnectionSettings, Keywords, link_key
from .connection.settings import resolve as resolve_settings
from .inventory import Inventory
from .results import RunDocument
from .templating import OMIT, DataDict, LazyVars, Templar, TemplateError, merge_layers
from .tracing import Event, EventKind, Tracer

ConnectionFactory = Callable[[str, Mapping[str, Any]], Connection]
"""Makes the connection for an inventory host from its variables."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """What the command line (or a test) decides about a run."""

    forks: int = 5
    extra_vars: Mapping[str, Any] = field(default_factory=dict)
    limit: str | None = None
    check_mode: bool = False
    diff: bool = False
    become_password: str | None = None
    connection_password: str | None = None
    playbook_dir: str = "."
    grace: float = 5.0
    """Seconds past a job's limit the controller keeps waiting for the target's own timeout record."""
    verbosity: int = 0
    remote_user: str | None = None
    """``-u``: the default of the ``remote_user`` keyword."""
    connection: str | None = None
    """``-c``: the default of the ``connection`` keyword."""
    private_key_file: str | None = None
    """``--private-key``."""
    connection_timeout: float | None = None
    """``-T``: seconds to establish a connection."""
    become: bool = False
    """``-b``: the default of the ``become`` keyword."""
    become_user: str | None = None
    """``--become-user``: the default of the ``become_user`` keyword."""
    become_method: str | None = None
    """``--become-method``: the default of the ``become_method`` keyword."""
    keep_results: bool = True
    """Keep every host's result of every task in the run's document (``--json``, the
    report); without, only the stats (the recap): a run whose document nobody reads
    need not build and hold a record per host and task."""

    def command_line(self) -> CommandLine:
        """These options as the connection settings' command-line layer."""
        return CommandLine(
            remote_user=self.remote_user,
            connection=self.connection,
            private_key_file=self.private_key_file,
            timeout=self.connection_timeout,
            become=self.become,
            become_user=self.become_user,
            become_method=self.become_method,
            connection_password=self.connection_password,
            become_password=self.become_password,
        )


class HostState:
    """One host across the whole run: facts and registered results persist between plays.

    Setting `failed`, `unreachable` or `ended` calls `on_change` (the run's hook that
    drops its cached play views: which hosts are still in the play and batch).
    """

    __slots__ = (
        "_ended",
        "_failed",
        "_unreachable",
        "facts",
        "gathered",
        "included_vars",
        "includes",
        "name",
        "notified",
        "on_change",
        "registered",
    )

    def __init__(self, name: str, on_change: Callable[[], None] | None = None) -> None:
        self.name = name
        self.on_change = on_change
        # Run-time data: whatever is stored in these is never rendered as a template.
        self.facts: dict[str, Any] = DataDict()
        """Variables from set_fact, gathering (``ansible_*``) and ``ansible_failed_*``."""
        self.gathered: dict[str, Any] = DataDict()
        """``ansible_facts``: gathered facts without the ``ansible_`` prefix."""
        self.registered: dict[str, Any] = DataDict()
        self.included_vars: dict[str, Any] = {}
        """From include_vars: above task vars, below set_fact and register (Ansible's 18)."""
        self._failed = False
        self._unreachable = False
        self._ended = False
        self.notified: dict[str, None] = {}
        """Handler names and ``listen`` topics notified since the last flush (ordered)."""
        self.includes = 0
        """Includes this host has run, to give each one's tasks ids of their own."""

    def _set(self, slot: str, value: bool) -> None:
        if getattr(self, slot) != value:
            setattr(self, slot, value)
            if self.on_change is not None:
                self.on_change()

    @property
    def failed(self) -> bool:
        return self._failed

    @failed.setter
    def failed(self, value: bool) -> None:
        self._set("_failed", value)

    @property
    def unreachable(self) -> bool:
        return self._unreachable

    @unreachable.setter
    def unreachable(self, value: bool) -> None:
        self._set("_unreachable", value)

    @property
    def ended(self) -> bool:
        """``meta: end_host`` or ``end_play``: no more tasks this play."""
        return self._ended

    @ended.setter
    def ended(self, value: bool) -> None:
        self._set("_ended", value)

    @property
    def active(self) -> bool:
        return not (self._failed or self._unreachable or self._ended)


@dataclass(frozen=True, slots=True)
class _PlayViews:
    """The play's host lists as the magic variables show them, computed once per change.

    Every host's variables share these lists (as ansible-core shares its ``groups``):
    templates cannot change them (the Jinja sandbox is immutable) and the variable
    stores copy what they keep, so building a host's variables stays O(1) in hosts.
    """

    batch: list[str]
    batch_copy: list[str]
    hosts: list[str]
    hosts_all: list[str]


class HostVars(Mapping[str, Any]):
    """``hostvars``: each host's variables, rendered in that host's own context when read."""

    def __init__(self, run: RunContext) -> None:
        self._run = run
        self._cache: dict[str, LazyVars] = {}

    def __getitem__(self, host: str) -> LazyVars:
        if host not in self._cache:
            if self._run.inventory.get_host(host) is None and host not in self._run.states:
                raise KeyError(host)
            self._cache[host] = self._run.templar.lazy(self._run.host_layers(host, None))
        return self._cache[host]

    def __iter__(self) -> Iterator[str]:
        return iter(self._run.inventory.hosts)

    def __len__(self) -> int:
        return len(self._run.inventory.hosts)


class RunContext:
    """Everything one run shares: inventory, templar, connections, host states, tracer."""

    def __init__(
        self,
        *,
        inventory: Inventory,
        options: RunOptions,
        connect: ConnectionFactory,
        tracer: Tracer,
        rng: random.Random | None = None,
        node_index: Mapping[str, Node] | None = None,
    ) -> None:
        self.inventory = inventory
        self.options = options
        self.tracer = tracer
        self.rng = rng or random.Random()
        self.templar = Templar(
            basedir=options.playbook_dir, rng=self.rng, inventory=self._pattern_hosts
        )
        self.forks = asyncio.Semaphore(max(1, options.forks))
        self.states: dict[str, HostState] = {}
        self.document = RunDocument()
        self.node_index: dict[str, Node] = dict(node_index or {})
        self._task_names: dict[str, str] = {}
        self.play: Play | None = None
        self._play_hosts: list[str] = []
        self._batch: list[str] = []
        self._views: _PlayViews | None = None
        self._playbook_dir = os.path.abspath(options.playbook_dir)
        self._playbook_dirs = (options.playbook_dir,)
        self.config = _config.current()
        """The configuration (ansible.cfg, ``ANSIBLE_*``), read once per run: reading
        it scans the environment, too slow to repeat for every host and task."""
        self.vars_files: dict[str, Any] = {}
        self._connect = connect
        self._connections: dict[tuple[str, Any], Connection] = {}
        self.hostvars = HostVars(self)

    # ------------------------------------------------------------------ hosts

    def state(self, host: str) -> HostState:
        state = self.states.get(host)
        if state is None:
            state = self.states[host] = HostState(host, self._drop_views)
        return state

    @property
    def play_hosts(self) -> list[str]:
        """The play's hosts (those not failed or unreachable in an earlier play)."""
        return self._play_hosts

    @play_hosts.setter
    def play_hosts(self, hosts: list[str]) -> None:
        self._play_hosts = hosts
        self._views = None

    @property
    def batch(self) -> list[str]:
        """The hosts of the batch (``serial``) running now."""
        return self._batch

    @batch.setter
    def batch(self, hosts: list[str]) -> None:
        self._batch = hosts
        self._views = None

    def _drop_views(self) -> None:
        self._views = None

    def _play_views(self) -> _PlayViews:
        views = self._views
        if views is None:
            states = self.states
            # A host never seen has no state yet: it is active.
            batch = [h for h in self._batch if h not in states or states[h].active]
            views = self._views = _PlayViews(
                batch=batch,
                batch_copy=list(batch),
                hosts=[h for h in self._play_hosts if h not in states or states[h].active],
                hosts_all=list(self._play_hosts),
            )
        return views

    def _pattern_hosts(self, patterns: list[str]) -> list[str]:
        return self.inventory.select(patterns)

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def emit(
        self, kind: EventKind, node: str | None = None, host: str | None = None, **data: Any
    ) -> None:
        self.tracer.emit(Event(kind=kind, time=self.now(), node=node, host=host, data=data))

    # ------------------------------------------------------------------ variables

    def magic(self, host: str) -> dict[str, Any]:
        """The magic variables of ``host``: O(1) in the number of hosts, as the lists
        are computed once per play, batch or host status change (see `_PlayViews`)."""
        play = self.play
        # As ansible-core: failed and unreachable hosts leave the batch too.
        views = self._play_views()
        return {
            **self.inventory.magic_vars(host),
            "groups": self.inventory.groups_view(),
            "hostvars": self.hostvars,
            "play_hosts": views.batch,
            "ansible_play_batch": views.batch_copy,
            "ansible_play_hosts": views.hosts,
            "ansible_play_hosts_all": views.hosts_all,
            "ansible_play_name": play.name if play is not None else None,
            "playbook_dir": self._playbook_dir,
            "ansible_check_mode": self.options.check_mode,
            "ansible_diff_mode": self.options.diff,
            "omit": OMIT,
        }

    def host_layers(self, host: str, node: Node | None) -> Mapping[str, Any]:
        """A host's variables by Ansible's precedence (lowest first), raw (rendered on read).

        Templates come only from the trusted layers (defaults, inventory, play vars,
        vars files, task vars, include_vars, extra vars); the host's state layers
        are `DataDict`s, never rendered.
        """
        state = self.state(host)
        play = self.play
        layers: list[Mapping[str, Any]] = []
        if node is not None:
            layers.append(node.defaults)
        layers.append(self.inventory.shared_host_vars(host, playbook_dirs=self._playbook_dirs))
        # Gathered facts sit just above the inventory, as in ansible-core: play vars
        # and set_fact (even of ``ansible_facts`` itself) override them.
        layers.append({"ansible_facts": state.gathered})
        if play is not None:
            layers += [play.vars, self.vars_files]
        if node is not None:
            layers.append(node.vars)
        layers += [
            state.included_vars,
            state.facts,
            state.registered,
            self.magic(host),
            self.options.extra_vars,
        ]
        return merge_layers(*layers)

    def task_name(self, node: Node, host: str) -> str:
        """The task's name as shown, templated (as ansible-core's TASK banner) with the
        variables of the first host to reach it; left as written where that fails."""
        name = self._task_names.get(node.id)
        if name is None:
            name = node.display_name
            if node.name and is_template(name, comments=False):  # as the templar renders
                try:
                    name = str(
                        self.templar.render(name, self.templar.lazy(self.host_layers(host, node)))
                    )
                except TemplateError:  # an undefined part: the name stays as written
                    name = node.display_name
            self._task_names[node.id] = name
        return name

    # ------------------------------------------------------------------ connections

    def settings(
        self, host: str, node: Node | None = None, variables: Mapping[str, Any] | None = None
    ) -> ConnectionSettings:
        """How ``node`` reaches ``host`` (the delegate, with ``delegate_to``) and whom it
        becomes there: configuration < command line < play < block/task < variables.

        ``variables`` are ``host``'s own (for a delegate: the delegate's); None reads them.
        """
        lazy = self.templar.lazy(
            variables if variables is not None else self.connection_layers(host, node)
        )
        play = self.play

        def render(value: Any) -> Any:
            return self.templar.render(value, lazy)

        def evaluate(text: str) -> Any:
            return self.templar.evaluate(text, lazy)

        return resolve_settings(
            host,
            lazy,
            task=_keywords(node) if node is not None else None,
            play=_play_keywords(play) if play is not None else None,
            cli=self.options.command_line(),
            config=self.config,
            render=render,
            evaluate=evaluate,
        )

    def connection_layers(self, host: str, node: Node | None) -> Mapping[str, Any]:
        """``host``'s variables for ``node``, also for a delegate outside the inventory."""
        if self._known(host):
            return self.host_layers(host, node)
        # A delegate outside the inventory: the play's, the task's and the extra vars.
        play = self.play
        layers: list[Mapping[str, Any]] = []
        if play is not None:
            layers += [play.vars, self.vars_files]
        if node is not None:
            layers.append(node.vars)
        layers.append(self.options.extra_vars)
        return merge_layers(*layers)

    def connection(
        self, host: str, node: Node | None = None, variables: Mapping[str, Any] | None = None
    ) -> Connection:
        """The (cached) connection ``node`` uses to reach ``host`` (or a ``delegate_to`` host).

        Cached by its settings, not by host alone: a play with ``connection: local`` or a
        task with another ``remote_user`` gets a connection of its own.
        """
        return self.connect_with(self.settings(host, node, variables))

    def connect_with(self, settings: ConnectionSettings) -> Connection:
        variables = settings.variables()
        key = (settings.host, link_key(variables))
        conn = self._connections.get(key)
        if conn is None:
            conn = self._connect(settings.host, variables)
            self._connections[key] = conn
        return conn

    def _known(self, host: str) -> bool:
        return self.inventory.get_host(host) is not None

    async def close(self) -> None:
        for conn in self._connections.values():
            with contextlib.suppress(OSError, TargetUnreachable):
                await conn.close()
        self._connections.clear()


def _keywords(node: Node) -> Keywords:
    return Keywords(
        connection=node.connection,
        remote_user=node.remote_user,
        become=node.become,
        become_user=node.become_user,
        become_method=node.become_method,
        become_flags=node.become_flags,
    )


def _play_keywords(play: Play) -> Keywords:
    return Keywords(
        connection=play.connection,
        remote_user=play.remote_user,
        become=play.become,
        become_user=play.become_user,
        become_method=play.become_method,
    )
