"""What a job is, as the controller describes it to a target: `JobSpec` and its `Become`.

Values shared by the connections (which start jobs) and `playgraph.runtime.jobs` (the
supervisor client, which the connections use): kept apart from both so neither
imports the other's package for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Become", "JobSpec"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Become:
    """Privilege escalation for one call (sudo)."""

    user: str = "root"
    method: str = "sudo"
    flags: str | None = None
    """None: the connection's defaults (``-H``, and ``-n`` or ``-S`` by the password)."""
    password: str | None = field(default=None, repr=False)
    exe: str | None = None
    """The become program (``ansible_become_exe``); None: ``sudo`` on the target's PATH."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    """A job for the supervisor: what to run, its limit, and how to read its output.

    Exactly one of ``argv`` / ``shell`` is set.  ``result`` says how the job's
    status record is made when it ends: ``command`` builds the command module's
    result (``cmd, rc, stdout, stderr, start, end, delta, changed, msg``);
    ``json`` parses the program's stdout as a module's JSON result (leading and
    trailing junk dropped with a warning, as ansible-core's wrapper does).
    """

    jid: str
    limit: float
    """Seconds; the job's process group gets SIGTERM at exactly this age, SIGKILL shortly after."""
    argv: Sequence[str] | None = None
    shell: str | None = None
    executable: str | None = None
    """Shell for ``shell`` jobs (default /bin/sh)."""
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    stdin: bytes | None = None
    result: Literal["command", "json"] = "command"
    module: str = "command"
    """Shown by ``playgraph jobs list``."""
    async_dir: str = "~/.ansible_async"
    become: Become | None = None
    run_id: str | None = None
    """The run that started the job (`jobs.RUN_ID`), recorded in its sidecar for ``jobs list``."""
    host: str | None = None
    """The inventory host the job was started for."""
    task: Mapping[str, str] | None = None
    """The task that started it: ``{"name": <task name>, "id": <node id>}``."""
    no_log: bool = False
    """The task is ``no_log``: ``playgraph jobs list/status`` mask its command and result."""
