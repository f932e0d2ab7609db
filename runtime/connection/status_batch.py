"""Status requests to one job supervisor made in the same loop iteration, sent as one.

Fifty joins on inventory hosts behind one SSH target then cost one request, one
answer, one round trip (`batched_status`).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import Any

from ..jobs import SupervisorClient


class _StatusBatch:
    """Status requests for one supervisor made in the same loop iteration: sent as one."""

    def __init__(self, client: SupervisorClient) -> None:
        self.jids: dict[str, None] = {}
        self.sent = False
        self.result: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._client = client
        # Retrieved here too, so an error nobody waits for any more is not logged as lost.
        self.result.add_done_callback(lambda f: f.cancelled() or f.exception())
        asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self.sent = True
        task = asyncio.get_running_loop().create_task(self._client.status(list(self.jids)))
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[dict[str, Any]]) -> None:
        if task.cancelled():
            self.result.cancel()
        elif task.exception() is not None:
            self.result.set_exception(task.exception())  # type: ignore[arg-type]
        else:
            self.result.set_result(task.result())


_BATCHES: weakref.WeakKeyDictionary[SupervisorClient, _StatusBatch] = weakref.WeakKeyDictionary()


async def batched_status(client: SupervisorClient, jids: Sequence[str]) -> dict[str, Any]:
    """``client.status(jids)``, coalesced with the other hosts' polls of the same target.

    Fifty joins on hosts behind one SSH target then cost one request, one
    answer, one round trip.
    """
    batch = _BATCHES.get(client)
    if batch is None or batch.sent:
        batch = _BATCHES[client] = _StatusBatch(client)
    batch.jids.update(dict.fromkeys(jids))
    raws = await asyncio.shield(batch.result)
    return {jid: raws.get(jid) for jid in jids}
