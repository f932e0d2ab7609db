"""The connection protocol: everything the runtime asks of a target.

Modules are small classes that turn arguments into these calls; they never
touch sockets or processes themselves.  Three implementations: ``local``
(asyncio subprocesses on this machine), ``ssh`` (one multiplexed asyncssh
connection per host) and a scripted fake for the scheduler's property tests
(`playgraph.runtime.testing.fake_connection`).

Jobs (``async``) are run on the target by the job supervisor
(`runtime/target/supervisor.py`): one long-lived process per target machine,
user and async dir, which starts each job as its own process group, enforces
its time limit exactly, and writes the job's status file
``<async_dir>/<jid>`` with Ansible's fields.  The status file is the durable
truth: a job survives the supervisor's and the controller's death.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from playgraph.semantics import PlaygraphError

from ..jobspec import Become, JobSpec


class TargetUnreachable(PlaygraphError):
    """The target cannot be reached (refused, timeout, DNS, authentication).

    The scheduler reports the host as ``unreachable: true`` with this message
    and drops it from the rest of the play, as Ansible does.
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandResult:
    """A finished command on the target.  ``rc`` is negative -N when killed by signal N."""

    rc: int
    stdout: bytes
    stderr: bytes
    start: float
    """Wall-clock start (``time.time()`` on the controller) — for Ansible's start/end/delta."""
    end: float


class Stream(Protocol):
    """A long-lived command's stdin and stdout (`Connection.open_stream`)."""

    async def readexactly(self, n: int) -> bytes:
        """Exactly ``n`` bytes of stdout; `asyncio.IncompleteReadError` at its end, or
        `TargetUnreachable` when the connection to the target was lost."""

    def write(self, data: bytes) -> None:
        """Queue ``data`` for stdin; `BrokenPipeError` once the command's stdin is closed."""

    async def drain(self) -> None:
        """Until what was written has been handed on (flow control)."""

    async def close(self) -> None:
        """End stdin (the command is expected to exit); stop it if it does not (idempotent)."""


class Connection(Protocol):
    """One target host's connection.  Implementations are ordinary (stateful) classes."""

    host: str
    """The inventory hostname this connection serves."""

    async def connect(self) -> None:
        """Open the connection (idempotent).  Raises `TargetUnreachable`."""

    async def run(
        self,
        argv: Sequence[str] | None = None,
        *,
        shell: str | None = None,
        executable: str | None = None,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        become: Become | None = None,
    ) -> CommandResult:
        """Run a command to completion.  Exactly one of ``argv``/``shell``."""

    async def start_job(self, spec: JobSpec) -> dict[str, Any]:
        """Start a job through the supervisor; return Ansible's launch record.

        ``{"ansible_job_id", "started": True, "finished": False, "results_file", "changed": True, "failed": False}``
        — returned once the job's running record is on disk.
        """

    async def job_status(
        self,
        jids: Sequence[str],
        *,
        async_dir: str = "~/.ansible_async",
        become: Become | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Each job's ``async_status`` record (`jobs.status_record`); an unknown job gets
        ansible-core's ``could not find job`` record.  One round trip for all."""

    async def wait_jobs(
        self,
        jids: Sequence[str],
        *,
        timeout: float,
        async_dir: str = "~/.ansible_async",
        become: Become | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Return as soon as *any* of the jobs has finished, or after ``timeout`` seconds.

        The supervisor reports completion as it happens, so a poller learns of it
        at once instead of at its next poll.  Returns the statuses of all ``jids``.
        """

    async def kill_job(
        self, jid: str, *, async_dir: str = "~/.ansible_async", become: Become | None = None
    ) -> dict[str, Any] | None:
        """Terminate a running job's process group and record it as killed."""

    async def list_jobs(
        self, *, async_dir: str = "~/.ansible_async", become: Become | None = None
    ) -> list[dict[str, Any]]:
        """Every job record in the async dir (with state, start time, limit)."""

    async def cleanup_job(
        self, jid: str, *, async_dir: str = "~/.ansible_async", become: Become | None = None
    ) -> bool:
        """Remove a job's status file (``async_status mode=cleanup``); False when absent."""

    async def put_file(
        self, data: bytes, path: str, *, mode: int | None = None, become: Become | None = None
    ) -> None:
        """Write ``data`` to ``path`` on the target atomically."""

    async def get_file(self, path: str, *, become: Become | None = None) -> bytes:
        """Read a file from the target."""

    async def open_stream(self, argv: Sequence[str]) -> Stream:
        """Start ``argv`` as a long-lived command speaking on its stdin/stdout (no become;
        stderr is dropped).  Closed with the connection at the latest.  Raises
        `NotImplementedError` where the transport has none, `TargetUnreachable`."""

    async def close(self) -> None:
        """Release the connection (and its streams); running jobs are unaffected."""
