"""What a compilation takes and gives: options, the result, and its file-system inputs.

Kept apart from `lower` so that users of a compiled result (the CLI's cache, the
runtime) do not import the compiler's parsers.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .diagnostics import Diagnostic
from .ir import Graph, Step
from .recording import Event
from .resolve.settings import ResolveSettings
from .spans import SourceText


@dataclass(frozen=True, slots=True, kw_only=True)
class CompileOptions:
    """Settings that change what the compiler accepts or computes (never the environment)."""

    poll_default: int = 15
    """``poll`` when a task gives ``async`` but no ``poll`` (ansible-core's DEFAULT_POLL_INTERVAL)."""
    extra_locks: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """User-declared locks: lock name -> module names or ``command:<regex>`` patterns."""
    roles_path: tuple[str, ...] = ()
    """Extra role folders, searched with ``resolve.roles_path``."""
    resolve: ResolveSettings = field(default_factory=ResolveSettings)
    """Where roles, modules, plugins and collections are found (``ansible.cfg``,
    ``ANSIBLE_*``, ``.playgraph.yml``'s mocks); the default finds only what lies beside
    the playbook and in the packaged catalog."""


@dataclass(frozen=True, slots=True)
class Compiled:
    """What `compile_playbook` returns: the graph, every finding, and the sources read."""

    graph: Graph
    diagnostics: tuple[Diagnostic, ...]
    sources: Mapping[str, SourceText]
    inputs: Mapping[str, str] = field(default_factory=dict)
    """What the compilation saw of the file system: each file read (its sha256), each
    path probed (present or absent), each folder listed — enough to tell whether a
    cached result still holds (see `fingerprint`)."""


@dataclass(frozen=True, slots=True)
class Fragment:
    """One task file's lowering, reusable by a later compilation (``check`` after an edit).

    Keyed by everything the lowering took as input (`lower.fragments.fragment_key`);
    ``events`` are its reads of state other files share (registered variables, findings
    said once), checked before reuse, and its writes to it, replayed."""

    steps: tuple[Step, ...]
    diagnostics: tuple[Diagnostic, ...]
    """Every finding of the file: loading it, then lowering it."""
    events: tuple[Event, ...]


class FragmentStore(Protocol):
    """Where a compilation finds and leaves `Fragment` values (the CLI keeps them on disk;
    the compiler only asks and offers, so it stays pure)."""

    env: Mapping[str, str]
    """What the compilation that made the stored fragments saw of the file system,
    outside the files it read as sources (`Compiled.inputs` encoding): still true when
    the store was opened, and part of what a reused fragment depends on."""

    def get(self, key: str) -> Fragment | None: ...

    def put(self, key: str, fragment: Fragment) -> None: ...

    def close(self, env: Mapping[str, str]) -> None:
        """The compilation is done; ``env`` is what it saw (as `env`)."""


def fingerprint(path: str, kind: str) -> str:
    """What the file system shows now for an entry of `Compiled.inputs` (same encoding)."""
    if path.endswith(os.sep):
        folder = path[: -len(os.sep)]
        if kind.startswith("list:"):
            try:
                return "list:" + "\0".join(sorted(os.listdir(folder)))
            except OSError:
                return "absent"
        return "dir" if os.path.isdir(folder) else "absent"
    if kind.startswith("sha256:"):
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            return "absent"
        return "sha256:" + hashlib.sha256(data).hexdigest()
    return "file" if os.path.isfile(path) else "absent"
