"""The pure compiler: playbook files in, execution graph and diagnostics out.

Nothing in this package starts processes, reads the clock, touches the network
or prints; it reads files and returns values (DESIGN.md §1).
"""

from .diagnostics import Diagnostic, Related, Severity
from .ir import (
    BlockStep,
    Blocking,
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
from .lower import CompileOptions, Compiled, compile_playbook
from .plan import PLAN_VERSION, PlanError, emit_json, load_plan
from .render import emit_dot, emit_mermaid
from .spans import Span

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
    "Play",
    "PlanError",
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
