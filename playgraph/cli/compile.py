"""``playgraph compile``: a playbook's execution plan as JSON, DOT, Mermaid, or a picture
(SVG, or an HTML page holding it) drawn without external tools.

Exit codes: 0, 2 when the playbook has errors (and then nothing is written), 5
for bad options.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from playgraph.compiler.diagnostics import has_errors, sorted_unique

from . import report
from .cache import compile_cached
from .errors import EXIT_FINDINGS, EXIT_OK
from .options import add_compile_options, compile_options
from .output import write_atomically


def add_parser(commands: Any) -> None:
    compile_ = commands.add_parser("compile", help="compile a playbook to an execution plan")
    compile_.add_argument("playbook", metavar="PLAYBOOK")
    compile_.add_argument(
        "-o", "--output", metavar="FILE", help="write the plan to FILE (default: stdout)"
    )
    compile_.add_argument(
        "--format", choices=("json", "dot", "mermaid", "svg", "html"), default="json"
    )
    add_compile_options(compile_)
    compile_.set_defaults(handler=execute)


def execute(args: argparse.Namespace) -> int:
    compiled = compile_cached(args.playbook, compile_options(args), use_cache=not args.no_cache)
    findings = sorted_unique(compiled.diagnostics)
    if has_errors(findings):
        sys.stderr.write(report.format_pep8(findings))
        sys.stderr.write("playgraph: not writing a plan for a playbook with errors\n")
        return EXIT_FINDINGS
    if findings:
        sys.stderr.write(report.format_pep8(findings))
    from playgraph.compiler.plan import emit_json
    from playgraph.compiler.render import emit_dot, emit_mermaid
    from playgraph.compiler.render_svg import emit_html, emit_svg

    emitters = {
        "json": emit_json,
        "dot": emit_dot,
        "mermaid": emit_mermaid,
        "svg": emit_svg,
        "html": emit_html,
    }
    text = emitters[args.format](compiled.graph)
    if args.output:
        write_atomically(args.output, text)
    else:
        sys.stdout.write(text)
    return EXIT_OK
