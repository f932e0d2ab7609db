"""What lowering one task file reads and writes of the compilation's shared state.

Its own module, importing nothing of the compiler: the resolver records into it
and the lowering's reuse (`playgraph.compiler.lower.fragments`) reads it, and
neither may import the other.
"""

from __future__ import annotations

from typing import TypeAlias

__all__ = ["Event", "Recorder"]

Event: TypeAlias = tuple[str | bool | tuple[str, ...] | None, ...]
"""What lowering one task file read or wrote of the compilation's shared state, in order
(see `playgraph.compiler.lower.fragments`)."""


class Recorder:
    """Shared state read and written while one task file is lowered, in program order."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.impure = False
        """The lowering read another file (an import, include or role): not reusable alone."""
