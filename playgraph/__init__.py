"""playgraph: compile Ansible-style playbooks into an async-aware execution graph; lint, plan, run.

The public API re-exports the compiler's entry points; the runtime lives in
`playgraph.runtime`.
"""

__version__ = "0.1.0"

from playgraph.compiler import (  # noqa: E402 - the version must exist before submodules import it
    CompileOptions,
    Compiled,
    Graph,
    compile_playbook,
    emit_dot,
    emit_json,
    emit_mermaid,
    load_plan,
)

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
