"""Terminal output in ansible-playbook's default callback format.

Plain lines (``TASK [...]``, ``changed: [h1]``, ``ASYNC POLL on h1: jid=…``,
``FAILED - RETRYING: …``, ``PLAY RECAP``) so people and scripts that read
ansible-playbook's output read ours.  On a terminal a status line under the
output shows the jobs in flight (hosts running/polling, seconds to each limit).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from playgraph.compiler.ir import Node

from .modules import builtin_name
from .results import HostStats, censor, is_changed, is_failed, is_skipped, is_unreachable
from .tracing import Event, EventKind

_WIDTH = 80
_HIDDEN = ("_ansible_verbose_always", "_ansible_no_log", "_ansible_item_label", "_ansible_retry")


def _banner(title: str) -> str:
    return f"\n{title} " + "*" * max(3, _WIDTH - len(title) - 1)


def _dump(result: Mapping[str, Any]) -> str:
    shown = {k: v for k, v in result.items() if not k.startswith(("_playgraph", "_ansible"))}
    if result.get("_ansible_verbose_always"):
        # Like ansible-core's default callback: debug shows its message, not the status keys.
        for key in ("changed", "failed", "skipped"):
            shown.pop(key, None)
    return json.dumps(shown, sort_keys=True, default=str)


class Display:
    """A tracer subscriber printing the run as ansible-playbook does."""

    def __init__(
        self,
        nodes: Mapping[str, Node],
        stream: TextIO | None = None,
        *,
        verbosity: int = 0,
        stats: Mapping[str, HostStats] | None = None,
    ) -> None:
        self.nodes = nodes
        self.stream = stream or sys.stdout
        self.verbosity = verbosity
        self.stats = stats
        self._announced: set[str] = set()
        self._names: dict[str, str] = {}
        """Task names as templated for the first host to start them (NODE_STARTED)."""
        self._current: str | None = None
        self._launched: dict[tuple[str, str], str] = {}
        self._handlers: set[str] = set()

    def __call__(self, event: Event) -> None:
        handler = getattr(self, f"_on_{event.kind.value}", None)
        if handler is not None:
            handler(event)

    def write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    # ------------------------------------------------------------------ events

    def _on_play_started(self, event: Event) -> None:
        name = event.data.get("data_name") or ""
        self.write(_banner(f"PLAY [{name}]"))
        self._announced.clear()
        self._current = None
        if not event.data.get("hosts"):
            self.write("skipping: no hosts matched")

    def _task_banner(self, node_id: str | None) -> None:
        if node_id is None or node_id == self._current:
            return
        self._current = node_id
        if node_id == "gather_facts":
            title = "TASK [Gathering Facts]"
        else:
            node = self.nodes.get(node_id)
            name = self._names.get(node_id) or (node.display_name if node else node_id)
            title = f"{'RUNNING HANDLER' if node_id in self._handlers else 'TASK'} [{name}]"
        self.write(_banner(title))

    def _is_meta(self, node_id: str | None) -> bool:
        node = self.nodes.get(node_id or "")
        return node is not None and builtin_name(node.action) == "meta"

    def _on_handlers_flushing(self, event: Event) -> None:
        # Each flush runs its handlers anew: each gets its banner again.
        for node_id in event.data.get("handlers", ()):
            self._handlers.add(node_id)
            self._announced.discard(node_id)
            if self._current == node_id:
                self._current = None

    def _on_node_started(self, event: Event) -> None:
        if self._is_meta(event.node):
            return  # ansible-core shows no banner for meta tasks
        if event.node is not None and event.node not in self._announced:
            self._announced.add(event.node)
            if isinstance(event.data.get("name"), str):
                self._names[event.node] = event.data["name"]
            self._task_banner(event.node)

    def _on_launched(self, event: Event) -> None:
        # Only a polled launch ends with ASYNC OK/FAILED; a templated poll of 0 or
        # less detaches the job, as ansible-core's ``poll > 0`` test does.
        if event.host is not None and event.node is not None and event.data.get("poll", 0) > 0:
            self._launched[(event.node, event.host)] = str(event.data.get("jid"))

    def _on_node_polled(self, event: Event) -> None:
        status = event.data.get("status", {})
        started = 1 if status.get("started") else 0
        finished = 1 if status.get("finished") else 0
        self._task_banner(event.node)
        self.write(
            f"ASYNC POLL on {event.host}: jid={event.data.get('jid')} started={started} finished={finished}"
        )

    def _on_retry(self, event: Event) -> None:
        node = self.nodes.get(event.node or "")
        name = self._names.get(event.node or "") or (node.display_name if node else event.node)
        # ansible-core prints result.retries - result.attempts, retries being the total runs.
        left = int(event.data.get("total", 0)) - int(event.data.get("attempt", 0))
        self._task_banner(event.node)
        self.write(f"FAILED - RETRYING: [{event.host}]: {name} ({left} retries left).")

    def _on_node_finished(self, event: Event) -> None:
        result: Mapping[str, Any] = event.data.get("result", {})
        if self._is_meta(event.node) and not is_skipped(result):
            return  # a meta task shows only when it was skipped
        if result.get("_playgraph_no_log"):
            result = censor(result, keep_status=True)
        host = event.host
        self._task_banner(event.node)
        jid = self._launched.pop((event.node or "", host or ""), None)
        node = self.nodes.get(event.node or "")
        if jid is not None and node is not None and node.kind.value == "polled":
            self.write(f"ASYNC {'FAILED' if is_failed(result) else 'OK'} on {host}: jid={jid}")
        for item in result.get("results", []) if isinstance(result.get("results"), list) else []:
            if isinstance(item, Mapping):
                self._line(host, item, item_label=self._item_label(item))
        self._line(host, result, item_label=None, summary=bool(result.get("results")))
        if result.get("_playgraph_ignored"):
            self.write("...ignoring")

    def _item_label(self, item: Mapping[str, Any]) -> str:
        if "_ansible_item_label" in item:
            return str(item["_ansible_item_label"])
        var = item.get("ansible_loop_var", "item")
        value = item.get(var)
        return json.dumps(value, default=str) if not isinstance(value, str) else value

    def _line(
        self,
        host: str | None,
        result: Mapping[str, Any],
        *,
        item_label: str | None,
        summary: bool = False,
    ) -> None:
        suffix = f" => (item={item_label})" if item_label is not None else ""
        if is_unreachable(result):
            self.write(f"fatal: [{host}]: UNREACHABLE! => {_dump(result)}")
        elif is_failed(result):
            if summary:
                self.write(f'fatal: [{host}]: FAILED! => {{"msg": "{result.get("msg", "")}"}}')
            else:
                self.write(
                    f"failed: [{host}]{suffix} => {_dump(result)}"
                    if item_label
                    else f"fatal: [{host}]: FAILED! => {_dump(result)}"
                )
        elif is_skipped(result):
            if not summary or not result.get("results"):
                self.write(f"skipping: [{host}]{suffix}")
        else:
            if summary:
                return
            status = "changed" if is_changed(result) else "ok"
            verbose = result.get("_ansible_verbose_always") or self.verbosity > 0
            self.write(f"{status}: [{host}]{suffix}" + (f" => {_dump(result)}" if verbose else ""))

    def _on_run_finished(self, event: Event) -> None:
        if self.stats is None:
            return
        self.write(_banner("PLAY RECAP"))
        for host in sorted(self.stats):
            s = self.stats[host]
            self.write(
                f"{host:<26}: ok={s.ok:<4} changed={s.changed:<4} unreachable={s.unreachable:<4} "
                f"failed={s.failures:<4} skipped={s.skipped:<4} rescued={s.rescued:<4} ignored={s.ignored:<4}"
            )


__all__ = ["Display", "EventKind"]
