"""playgraph: compile Ansible-style playbooks into an async-aware execution graph; lint, plan, run.

The public API re-exports the compiler's entry points (loaded on first use); the
runtime lives in `playgraph.runtime`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = (
    "CompileOptions",
    "Compiled",
    "Graph",
    "compile_playbook",
    "emit_dot",
    "emit_json",
    "emit_mermaid",
    "load_plan",
)

if TYPE_CHECKING:
    from playgraph.compiler import (
        Compiled,
        CompileOptions,
        Graph,
        compile_playbook,
        emit_dot,
        emit_json,
        emit_mermaid,
        load_plan,
    )


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import playgraph.compiler

    return getattr(playgraph.compiler, name)


__all__ = [
    "CompileOptions",
    "Compiled",
    "Graph",
    "__version__",
    "compile_playbook",
    "emit_dot",
    "emit_json",
    "emit_mermaid",
    "load_plan",
]
