"""The job half of the Connection protocol, shared by connections whose target runs the supervisor.

Local and SSH connections differ in how they reach a target's job supervisor
(a unix socket, or a ``client`` bridge on an SSH channel) and in how they
recover a lost one; what they ask it is the same, and lives here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from ..jobs import SupervisorClient, SupervisorLost, status_record
from ..jobspec import Become
from .status_batch import batched_status

R = TypeVar("R")


class SupervisedJobs:
    """``job_status``, ``wait_jobs``, ``kill_job``, ``list_jobs``, ``cleanup_job`` over a supervisor."""

    async def _supervisor(self, async_dir: str, become: Become | None) -> SupervisorClient:
        raise NotImplementedError

    async def _call(
        self,
        async_dir: str,
        become: Become | None,
        op: Callable[[SupervisorClient], Awaitable[R]],
    ) -> R:
        """Run ``op`` on the supervisor's client; once more on a fresh one if it was lost.

        A supervisor that dies is replaced by the next one, which adopts its jobs,
        so a caller need not see the restart.  These ops are safe to repeat.
        """
        client = await self._supervisor(async_dir, become)
        try:
            return await op(client)
        except SupervisorLost:
            client = await self._supervisor(async_dir, become)
            return await op(client)

    async def _status_request(
        self, client: SupervisorClient, jids: Sequence[str]
    ) -> Mapping[str, Any]:
        # The joins of many hosts behind one supervisor in the same loop iteration
        # share one request (see batched_status).
        return await batched_status(client, jids)

    @staticmethod
    def _shaped(client: SupervisorClient, raws: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        # A missing job is ansible-core's "could not find job" record, not None,
        # so every caller gets the same shape async_status returns.
        return {jid: status_record(jid, raw, client.results_file(jid)) for jid, raw in raws.items()}

    async def job_status(
        self,
        jids: Sequence[str],
        *,
        async_dir: str = "~/.ansible_async",
        become: Become | None = None,
    ) -> dict[str, dict[str, Any]]:
        """``async_status``-shaped records (`jobs.status_record`); "could not find job" for an unknown jid."""

        async def status(client: SupervisorClient) -> dict[str, dict[str, Any]]:
            return self._shaped(client, await self._status_request(client, jids))

        return await self._call(async_dir, become, status)

    async def wait_jobs(
        self,
        jids: Sequence[str],
        *,
        timeout: float,
        async_dir: str = "~/.ansible_async",
        become: Become | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Like `job_status`, answered as soon as any of the jobs ends (or after ``timeout``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout

        async def wait(client: SupervisorClient) -> dict[str, dict[str, Any]]:
            left = max(0.0, deadline - loop.time())
            return self._shaped(client, await client.wait(jids, left))

        return await self._call(async_dir, become, wait)

    async def kill_job(
        self, jid: str, *, async_dir: str = "~/.ansible_async", become: Become | None = None
    ) -> dict[str, Any] | None:
        """Stop a job's process group; its final record, shaped (None for an unknown jid)."""

        async def kill(client: SupervisorClient) -> dict[str, Any] | None:
            raw = await client.kill(jid)
            return None if raw is None else self._shaped(client, {jid: raw})[jid]

        return await self._call(async_dir, become, kill)

    async def list_jobs(
        self, *, async_dir: str = "~/.ansible_async", become: Become | None = None
    ) -> list[dict[str, Any]]:
        """Every job of the async dir: sidecar metadata with ``state``."""
        return await self._call(async_dir, become, lambda client: client.list_jobs())

    async def cleanup_job(
        self, jid: str, *, async_dir: str = "~/.ansible_async", become: Become | None = None
    ) -> bool:
        """Remove a job's status file (``async_status mode=cleanup``); False when absent."""
        return await self._call(async_dir, become, lambda client: client.cleanup(jid))
