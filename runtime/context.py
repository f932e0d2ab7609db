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

from .connection.base import Become, Connection, ConnectionError
from .inventory import Inventory
from .results import RunDocument
from .templating import OMIT, LazyVars, Templar, TemplateError, merge_layers
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


class HostState:
    """One host across the whole run: facts and registered results persist between plays."""

    __slots__ = (
        "ended",
        "facts",
        "failed",
        "gathered",
        "included_vars",
        "includes",
        "name",
        "notified",
        "registered",
        "unreachable",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.facts: dict[str, Any] = {}
        """Variables from set_fact, include_vars and gathering (``ansible_*``)."""
        self.gathered: dict[str, Any] = {}
        """``ansible_facts``: gathered facts without the ``ansible_`` prefix."""
        self.registered: dict[str, Any] = {}
        self.included_vars: dict[str, Any] = {}
        """From include_vars: above task vars, below set_fact and register (Ansible's 18)."""
        self.failed = False
        self.unreachable = False
        self.ended = False
        """``meta: end_host`` or ``end_play``: no more tasks this play."""
        self.notified: dict[str, None] = {}
        """Handler names and ``listen`` topics notified since the last flush (ordered)."""
        self.includes = 0
        """Includes this host has run, to give each one's tasks ids of their own."""

    @property
    def active(self) -> bool:
        return not (self.failed or self.unreachable or self.ended)


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
        self.play_hosts: list[str] = []
        self.batch: list[str] = []
        self.vars_files: dict[str, Any] = {}
        self._connect = connect
        self._connections: dict[str, Connection] = {}
        self.hostvars = HostVars(self)

    # ------------------------------------------------------------------ hosts

    def state(self, host: str) -> HostState:
        if host not in self.states:
            self.states[host] = HostState(host)
        return self.states[host]

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
        play = self.play
        # As ansible-core: failed and unreachable hosts leave the batch too.
        batch = [h for h in self.batch if self.state(h).active]
        return {
            **self.inventory.magic_vars(host),
            "groups": self.inventory.groups_mapping(),
            "hostvars": self.hostvars,
            "play_hosts": batch,
            "ansible_play_batch": list(batch),
            "ansible_play_hosts": [h for h in self.play_hosts if self.state(h).active],
            "ansible_play_hosts_all": list(self.play_hosts),
            "ansible_play_name": play.name if play is not None else None,
            "playbook_dir": os.path.abspath(self.options.playbook_dir),
            "ansible_check_mode": self.options.check_mode,
            "ansible_diff_mode": self.options.diff,
            "ansible_facts": self.state(host).gathered,
            "omit": OMIT,
        }

    def host_layers(self, host: str, node: Node | None) -> Mapping[str, Any]:
        """A host's variables by Ansible's precedence (lowest first), raw (rendered on read)."""
        state = self.state(host)
        play = self.play
        layers: list[Mapping[str, Any]] = []
        if node is not None:
            layers.append(node.defaults)
        layers.append(self.inventory.host_vars(host, playbook_dirs=(self.options.playbook_dir,)))
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
            if node.name and ("{{" in name or "{%" in name):
                try:
                    name = str(
                        self.templar.render(name, self.templar.lazy(self.host_layers(host, node)))
                    )
                except TemplateError:  # an undefined part: the name stays as written
                    name = node.display_name
            self._task_names[node.id] = name
        return name

    # ------------------------------------------------------------------ connections

    def connection(self, host: str) -> Connection:
        """The (cached) connection to an inventory host, or to a delegate named by ``delegate_to``."""
        conn = self._connections.get(host)
        if conn is None:
            variables = self.templar.lazy(self.host_layers(host, None)) if self._known(host) else {}
            found = _connection_vars(variables, host)
            password = self.options.connection_password
            if password is not None and not any(k in found for k in _PASSWORD_VARS):
                found["ansible_password"] = password  # -k: what no inventory variable gave
            conn = self._connect(host, found)
            self._connections[host] = conn
        return conn

    def _known(self, host: str) -> bool:
        return self.inventory.get_host(host) is not None

    def become(self, host: str, node: Node, variables: Mapping[str, Any]) -> Become | None:
        play = self.play
        enabled = node.become if node.become is not None else (play.become if play else False)
        if isinstance(enabled, str):
            enabled = self.templar.evaluate(enabled, variables)
        if not enabled:
            return None
        user = (
            node.become_user
            or (play.become_user if play else None)
            or variables.get("ansible_become_user")
            or "root"
        )
        method = node.become_method or (play.become_method if play else None) or "sudo"
        password = variables.get("ansible_become_password") or variables.get("ansible_become_pass")
        return Become(
            user=str(self.templar.render(user, variables)),
            method=str(method),
            flags=node.become_flags,
            password=str(password) if password else self.options.become_password,
        )

    async def close(self) -> None:
        for conn in self._connections.values():
            with contextlib.suppress(OSError, ConnectionError):
                await conn.close()
        self._connections.clear()


_CONNECTION_VARS = (
    "ansible_connection",
    "ansible_host",
    "ansible_port",
    "ansible_user",
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
    "ansible_ssh_private_key_file",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
    "ansible_python_interpreter",
    "ansible_become_password",
    "ansible_ssh_host_key_checking",
    "ansible_host_key_checking",
    "ansible_timeout",
)


_PASSWORD_VARS = ("ansible_password", "ansible_ssh_pass", "ansible_ssh_password")


def _connection_vars(variables: Mapping[str, Any], host: str) -> dict[str, Any]:
    found: dict[str, Any] = {"inventory_hostname": host}
    for key in _CONNECTION_VARS:
        if key in variables:
            try:
                found[key] = variables[key]
            except KeyError:
                continue
    return found
