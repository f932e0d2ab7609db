"""A scripted fake connection for the scheduler's property tests (virtual time).

Targets are simulated: ``sleep N`` (as argv or a shell line) takes N seconds of
the event loop's clock, anything else takes no time; jobs end at
``start + min(duration, limit)`` and a job cut by its limit gets the timeout
record.  Everything the scheduler asks is recorded so tests can check partial
orders, and each start or run call takes ``latency`` seconds so concurrency
bounds (``forks``) are observable.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..connection.base import CommandResult, Stream, TargetUnreachable
from ..jobs import launch_record, status_record
from ..jobspec import Become, JobSpec

_SLEEP = re.compile(r"(?:^|[;&|]\s*|\s)sleep\s+(\d+(?:\.\d+)?)")


def duration_of(argv: Sequence[str] | None, shell: str | None) -> float:
    """Seconds a simulated command takes: the sum of its ``sleep N`` parts."""
    text = shell if shell is not None else " ".join(argv or ())
    return sum(float(match) for match in _SLEEP.findall(text))


@dataclass(slots=True)
class FakeJob:
    jid: str
    host: str
    start: float
    duration: float
    limit: float
    command: str
    killed_at: float | None = None
    cleaned: bool = False

    @property
    def end(self) -> float:
        """When the job's processes are gone: its own end, its limit, or a kill."""
        ends = [self.start + self.duration, self.start + self.limit]
        if self.killed_at is not None:
            ends.append(self.killed_at)
        return min(ends)

    @property
    def timed_out(self) -> bool:
        return self.duration > self.limit and (
            self.killed_at is None or self.killed_at >= self.start + self.limit
        )

    def record(self, now: float) -> dict[str, Any]:
        # A tolerance: the loop's clock reaches `end` through float sums.
        if now < self.end - 1e-9:
            return {"started": True, "finished": False, "ansible_job_id": self.jid}
        if self.killed_at is not None and self.killed_at < self.start + min(
            self.duration, self.limit
        ):
            return {
                "failed": True,
                "killed": True,
                "msg": "killed by playgraph jobs kill",
                "child_pid": 0,
            }
        if self.timed_out:
            return {"msg": "Timeout exceeded", "failed": True, "child_pid": 0}
        return {
            "changed": True,
            "rc": 0,
            "stdout": "",
            "stderr": "",
            "cmd": self.command,
            "msg": "",
        }


@dataclass(slots=True)
class FakeWorld:
    """The simulated machines shared by every fake connection of a run."""

    latency: float = 0.01
    unreachable: frozenset[str] = frozenset()
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    calls: list[tuple[float, str, str, str]] = field(default_factory=list)
    """(time, host, call, detail) for every protocol call."""

    def connection(self, host: str, variables: Mapping[str, Any] | None = None) -> FakeConnection:
        return FakeConnection(host, self)


class FakeConnection:
    """One simulated host."""

    def __init__(self, host: str, world: FakeWorld) -> None:
        self.host = host
        self.world = world

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _check(self) -> None:
        if self.host in self.world.unreachable:
            raise TargetUnreachable(f"Failed to connect to the host via fake: {self.host} is down")

    async def _busy(self, call: str, detail: str) -> None:
        world = self.world
        world.calls.append((self._now(), self.host, call, detail))
        world.in_flight += 1
        world.max_in_flight = max(world.max_in_flight, world.in_flight)
        try:
            await asyncio.sleep(world.latency)
        finally:
            world.in_flight -= 1

    async def connect(self) -> None:
        self._check()

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
        self._check()
        start = self._now()
        await self._busy("run", shell if shell is not None else " ".join(argv or ()))
        seconds = duration_of(argv, shell)
        self.world.in_flight += 1
        try:
            await asyncio.sleep(seconds)
        finally:
            self.world.in_flight -= 1
        return CommandResult(rc=0, stdout=b"", stderr=b"", start=start, end=self._now())

    async def start_job(self, spec: JobSpec) -> dict[str, Any]:
        self._check()
        await self._busy("start_job", spec.jid)
        command = spec.shell if spec.shell is not None else " ".join(spec.argv or ())
        self.world.jobs[spec.jid] = FakeJob(
            jid=spec.jid,
            host=self.host,
            start=self._now(),
            duration=duration_of(spec.argv, spec.shell),
            limit=spec.limit,
            command=command,
        )
        return launch_record(spec.jid, f"{spec.async_dir}/{spec.jid}")

    def _status(self, jid: str, async_dir: str) -> dict[str, Any]:
        job = self.world.jobs.get(jid)
        raw = None if job is None or job.cleaned else job.record(self._now())
        return status_record(jid, raw, f"{async_dir}/{jid}")

    async def job_status(
        self,
        jids: Sequence[str],
        *,
        async_dir: str = "~/.ansible_async",
        become: Become | None = None,
    ) -> dict[str, dict[str, Any]]:
        self._check()
        self.world.calls.append((self._now(), self.host, "job_status", ",".join(jids)))
        return {jid: self._status(jid, async_dir) for jid in jids}

    async def wait_jobs(
        self,
        jids: Sequence[str],
        *,
        timeout: float,
        async_dir: str = "~/.ansible_async",
        become: Become | None = None,
    ) -> dict[str, dict[str, Any]]:
        self._check()
        now = self._now()
        self.world.calls.append((now, self.host, "wait_jobs", ",".join(jids)))
        ends = [job.end for jid in jids if (job := self.world.jobs.get(jid)) is not None]
        wake = min([now + timeout, *(end for end in ends if end >= now)], default=now + timeout)
        if any(end <= now for end in ends) or len(ends) < len(jids):
            wake = now
        await asyncio.sleep(max(0.0, wake - now))
        return {jid: self._status(jid, async_dir) for jid in jids}

    async def kill_job(
        self, jid: str, *, async_dir: str = "~/.ansible_async", become: Become | None = None
    ) -> dict[str, Any] | None:
        job = self.world.jobs.get(jid)
        if job is None:
            return None
        if self._now() < job.end - 1e-9:
            job.killed_at = self._now()
        return self._status(jid, async_dir)

    async def list_jobs(
        self, *, async_dir: str = "~/.ansible_async", become: Become | None = None
    ) -> list[dict[str, Any]]:
        return [
            self._status(job.jid, async_dir)
            for job in self.world.jobs.values()
            if job.host == self.host
        ]

    async def cleanup_job(
        self, jid: str, *, async_dir: str = "~/.ansible_async", become: Become | None = None
    ) -> bool:
        job = self.world.jobs.get(jid)
        if job is None or job.cleaned:
            return False
        job.cleaned = True
        return True

    async def put_file(
        self, data: bytes, path: str, *, mode: int | None = None, become: Become | None = None
    ) -> None:
        self._check()

    async def get_file(self, path: str, *, become: Become | None = None) -> bytes:
        self._check()
        return b""

    async def open_stream(self, argv: Sequence[str]) -> Stream:
        # Scripted commands only: callers fall back to `run`.
        raise NotImplementedError("the fake connection has no streams")

    async def close(self) -> None:
        return None
