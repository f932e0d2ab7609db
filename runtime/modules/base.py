"""Modules: small classes that turn a task's arguments into connection calls.

A module never touches sockets or processes itself (the connection is the one
effects boundary toward targets, see ARCHITECTURE.md): it asks the
task's `Connection` to run commands, move files, or run one of the stdlib-only
target programs under `runtime/target/modules/` (shipped to the target and run
with the target's python, like Ansible's modules).

Each module that supports ``async`` also describes how to run as a *job*: a
`JobSpec` the target's job supervisor runs detached, in its own process group,
under an exact time limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from playgraph.runtime.connection.base import Connection
from playgraph.runtime.jobspec import Become, JobSpec

from playgraph.semantics import PlaygraphError


class ModuleFailure(PlaygraphError):
    """The module rejects its arguments: becomes ``{"failed": True, "msg": ...}`` for this host."""

    def __init__(self, msg: str, **result: Any) -> None:
        super().__init__(msg)
        self.result = {"failed": True, "msg": msg, **result}


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskContext:
    """Everything a module may use for one run on one host (arguments already templated)."""

    host: str
    action: str
    """The resolved FQCN, e.g. ``ansible.builtin.command``."""
    args: Mapping[str, Any]
    conn: Connection
    """The connection to the host the task runs on (the delegate, with ``delegate_to``)."""
    python: str = "/usr/bin/python3"
    """The target's interpreter (``ansible_python_interpreter``), resolved once, never a shim."""
    become: Become | None = None
    check_mode: bool = False
    diff: bool = False
    environment: Mapping[str, str] = field(default_factory=dict)
    base_dir: str = "."
    """The playbook's folder: where ``src:`` of copy/template/script is looked up."""
    variables: Mapping[str, Any] = field(default_factory=dict)
    """The host's variables (the template module renders with them)."""
    render: Any = None
    """``render(text, variables) -> str``: the runtime's templar, for the template module."""
    async_dir: str = "~/.ansible_async"
    no_log: bool = False
    """The task is ``no_log`` (modules run through ansible-core mask their invocation)."""
    verbosity: int = 0
    """``-v`` count (ansible-core passes it to modules as ``_ansible_verbosity``)."""
    role_dir: str | None = None
    """The folder of the role the task comes from: its ``library/`` and ``files/``."""


class Module(Protocol):
    """One module, known by its short names (``command``) and their FQCNs."""

    names: ClassVar[tuple[str, ...]]
    supports_async: ClassVar[bool]

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        """Run synchronously; return the result dict in Ansible's shape."""

    def job(self, ctx: TaskContext, jid: str, limit: float) -> JobSpec:
        """The job the supervisor runs for ``async`` (only when ``supports_async``)."""
