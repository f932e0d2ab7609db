"""The pure compiler: playbook files in, execution graph and diagnostics out.

Nothing in this package starts processes, reads the clock, touches the network
or prints; it reads files and returns values (ARCHITECTURE.md, "The compiler is pure").

Names load their module on first use (PEP 562), so a user of the IR or of a
cached result does not pay for the parsers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from playgraph.grammar.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "BlockStep": "ir",
    "Blocking": "ir",
    "Detached": "ir",
    "Edge": "ir",
    "EdgeKind": "ir",
    "Graph": "ir",
    "Join": "ir",
    "LoopSpec": "ir",
    "Node": "ir",
    "NodeKind": "ir",
    "Play": "ir",
    "Polled": "ir",
    "RetrySpec": "ir",
    "Section": "ir",
    "Step": "ir",
    "Diagnostic": "diagnostics",
    "Related": "diagnostics",
    "Severity": "diagnostics",
    "Span": "spans",
    "CompileOptions": "result",
    "Compiled": "result",
    "compile_playbook": "lower",
    "PLAN_VERSION": "plan",
    "PlanError": "plan",
    "emit_json": "plan",
    "load_plan": "plan",
    "emit_dot": "render",
    "emit_mermaid": "render",
}

if TYPE_CHECKING:
    from .diagnostics import Diagnostic, Related, Severity
    from .ir import (
        Blocking,
        BlockStep,
        Detached,
        Edge,
        EdgeKind,
        Graph,
        Join,
        LoopSpec,
        Node,
        NodeKind,
        Play,
        Polled,
        RetrySpec,
        Section,
        Step,
    )
    from .lower import compile_playbook
    from .plan import PLAN_VERSION, PlanError, emit_json, load_plan
    from .render import emit_dot, emit_mermaid
    from .result import Compiled, CompileOptions
    from .spans import Span


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())


__all__ = [
    "PLAN_VERSION",
    "BlockStep",
    "Blocking",
    "CompileOptions",
    "Compiled",
    "Detached",
    "Diagnostic",
    "Edge",
    "EdgeKind",
    "Graph",
    "Join",
    "LoopSpec",
    "Node",
    "NodeKind",
    "PlanError",
    "Play",
    "Polled",
    "Related",
    "RetrySpec",
    "Section",
    "Severity",
    "Span",
    "Step",
    "compile_playbook",
    "emit_dot",
    "emit_json",
    "emit_mermaid",
    "load_plan",
]
