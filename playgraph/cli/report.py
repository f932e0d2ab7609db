"""What playgraph reports: the ``report`` command, and the diagnostic output formats.

``playgraph report RUN.json [-o FILE]`` draws a saved ``--json`` document of
``run`` or ``adhoc`` as the timeline report (`html_report`), as ``run --report``
does after a run.  Exit codes: 0, 1 for a file that is not such a document, 5 for
bad options.

Diagnostic output formats follow ansible-lint's conventions so existing tooling works.

* ``pep8`` — ``path:line:col: id: message`` (the default);
* ``full`` — pep8 line plus the source line, a caret and the help;
* ``github`` — GitHub workflow annotations (``::error file=…,line=…``);
* ``sarif`` / ``json`` — SARIF 2.1.0 (ansible-lint's ``json`` is SARIF too);
* ``codeclimate`` — Code Climate issues (GitLab code quality).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from playgraph.compiler.codes import REGISTRY
from playgraph.compiler.diagnostics import Diagnostic, Severity
from playgraph.compiler.spans import SourceText

FORMATS = ("pep8", "full", "github", "sarif", "json", "codeclimate")
TOOL_URI = "https://github.com/playgraph/playgraph"


def _message(diagnostic: Diagnostic) -> str:
    if diagnostic.help:
        return f"{diagnostic.message}; {diagnostic.help}"
    return diagnostic.message


def format_pep8(diagnostics: Iterable[Diagnostic]) -> str:
    return "".join(
        f"{d.span.file}:{d.span.line}:{d.span.column}: {d.code}: {_message(d)}\n"
        for d in diagnostics
    )


def format_full(diagnostics: Iterable[Diagnostic], sources: Mapping[str, SourceText]) -> str:
    out: list[str] = []
    for d in diagnostics:
        out.append(
            f"{d.span.file}:{d.span.line}:{d.span.column}: {d.severity.value}: {d.code}: {d.message}"
        )
        source = sources.get(d.span.file)
        if source is not None and 0 < d.span.line <= len(source.lines):
            line = source.lines[d.span.line - 1].replace("\t", " ")
            out.append(f"  {d.span.line:>4} | {line}")
            out.append("       | " + " " * (d.span.column - 1) + "^")
        if d.help:
            out.append(f"  help: {d.help}")
        for related in d.related:
            out.append(
                f"  note: {related.span.file}:{related.span.line}:{related.span.column}: {related.message}"
            )
    return "\n".join(out) + ("\n" if out else "")


def _github_escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def format_github(diagnostics: Iterable[Diagnostic]) -> str:
    levels = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
    return "".join(
        f"::{levels[d.severity]} file={d.span.file},line={d.span.line},col={d.span.column},"
        f"severity={d.severity.value},title={d.code}::{_github_escape(_message(d))}\n"
        for d in diagnostics
    )


_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _uri(path: str) -> str:
    relative = os.path.relpath(path) if os.path.isabs(path) else path
    return relative.replace(os.sep, "/")


def _location(file: str, line: int, column: int) -> dict[str, Any]:
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": _uri(file), "uriBaseId": "SRCROOT"},
            "region": {"startLine": line, "startColumn": column},
        }
    }


def sarif_document(diagnostics: Sequence[Diagnostic], version: str) -> dict[str, Any]:
    rule_ids = sorted({d.code for d in diagnostics})
    rules = []
    for rule_id in rule_ids:
        code = REGISTRY.get(rule_id)
        rule: dict[str, Any] = {"id": rule_id, "name": rule_id}
        if code is not None:
            rule["shortDescription"] = {"text": code.summary}
            rule["fullDescription"] = {"text": code.doc}
            rule["defaultConfiguration"] = {"level": _SARIF_LEVEL[code.severity]}
            rule["help"] = {"text": code.doc}
        rules.append(rule)
    results = []
    for d in diagnostics:
        result: dict[str, Any] = {
            "ruleId": d.code,
            "ruleIndex": rule_ids.index(d.code),
            "level": _SARIF_LEVEL[d.severity],
            "message": {"text": _message(d)},
            "locations": [_location(d.span.file, d.span.line, d.span.column)],
        }
        if d.related:
            result["relatedLocations"] = [
                {
                    "id": i,
                    **_location(r.span.file, r.span.line, r.span.column),
                    "message": {"text": r.message},
                }
                for i, r in enumerate(d.related)
            ]
        results.append(result)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "playgraph",
                        "version": version,
                        "informationUri": TOOL_URI,
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "originalUriBaseIds": {"SRCROOT": {"uri": _cwd_uri()}},
                "results": results,
            }
        ],
    }


def _cwd_uri() -> str:
    path = os.getcwd().replace(os.sep, "/")
    return "file://" + (path if path.startswith("/") else "/" + path) + "/"


def format_sarif(diagnostics: Sequence[Diagnostic], version: str) -> str:
    return json.dumps(sarif_document(diagnostics, version), indent=2) + "\n"


def format_codeclimate(diagnostics: Sequence[Diagnostic]) -> str:
    severity = {Severity.ERROR: "major", Severity.WARNING: "minor", Severity.INFO: "info"}
    issues = []
    for d in diagnostics:
        fingerprint = hashlib.sha256(
            f"{d.code}|{d.span.file}|{d.span.line}|{d.span.column}|{d.message}".encode()
        ).hexdigest()
        issues.append(
            {
                "type": "issue",
                "check_name": d.code,
                "categories": ["Bug Risk"],
                "url": TOOL_URI,
                "severity": severity[d.severity],
                "description": _message(d),
                "fingerprint": fingerprint,
                "location": {
                    "path": _uri(d.span.file),
                    "positions": {"begin": {"line": d.span.line, "column": d.span.column}},
                },
            }
        )
    return json.dumps(issues, indent=2) + "\n"


# --------------------------------------------------------------------------- the report command


def add_parser(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="draw a saved `run --json` document as a timeline report (one HTML file)",
    )
    report.add_argument("document", metavar="RUN.json", help="a `playgraph run --json` document")
    report.add_argument(
        "-o", "--output", metavar="FILE", help="write the HTML to FILE (default: stdout)"
    )
    report.set_defaults(handler=execute)


def execute(args: argparse.Namespace) -> int:
    from .errors import EXIT_OK, CliError
    from .html_report import render_report
    from .output import write_atomically

    try:
        with open(args.document, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise CliError.setup(f"cannot read {args.document}: {reason}") from None
    # A document printed after warnings or a recap: it starts at its first brace.
    start = text.find("{")
    try:
        document = json.loads(text[start:] if start >= 0 else text)
    except ValueError as error:
        raise CliError.setup(f"{args.document}: not a JSON document: {error}") from None
    if not isinstance(document, dict):
        raise CliError.setup(f"{args.document}: not a run document (a JSON object)")
    try:
        html = render_report(document, title=f"playgraph run ({os.path.basename(args.document)})")
    except CliError as error:
        raise CliError.setup(f"{args.document}: {error}") from None
    if args.output:
        write_atomically(args.output, html)
    else:
        sys.stdout.write(html)
    return EXIT_OK
