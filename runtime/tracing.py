"""What the scheduler reports while it runs.

The scheduler emits one event per step of every node on every host; the
terminal display, the JSON results and the tests subscribe.
Times are the event loop's clock (``loop.time()``), so on the virtual-time loop
of the property tests they are exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    PLAY_STARTED = "play_started"
    NODE_STARTED = "node_started"
    """A host begins a node (after it got its fork, before templating)."""
    LAUNCHED = "launched"
    """A job was started on the target (async > 0); ``data`` has the jid and limit."""
    NODE_POLLED = "node_polled"
    """A poll or join attempt saw the job still running."""
    RETRY = "retry"
    """An ``until``/``retries`` attempt failed and will be retried after ``delay``."""
    NODE_FINISHED = "node_finished"
    """The host's result for the node is final; ``data`` is the result dict."""
    HANDLERS_FLUSHING = "handlers_flushing"
    """A flush of notified handlers begins; ``data["handlers"]`` lists the handler node
    ids (each run of a handler is a task of its own in the output)."""
    PLAY_FINISHED = "play_finished"
    RUN_FINISHED = "run_finished"


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    kind: EventKind
    time: float
    node: str | None = None
    host: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Event], None]


class Tracer:
    """Fans events out to subscribers; keeps them all when ``record`` is set (tests)."""

    def __init__(self, subscribers: Sequence[Subscriber] = (), *, record: bool = False) -> None:
        self._subscribers = list(subscribers)
        self.events: list[Event] = []
        self._record = record

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def emit(self, event: Event) -> None:
        if self._record:
            self.events.append(event)
        for subscriber in self._subscribers:
            subscriber(event)
