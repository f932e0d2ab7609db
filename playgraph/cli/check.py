"""``playgraph check``: every problem in the playbooks, with ``file:line:col``.

Exit codes: 0 clean (or warnings only), 2 when an error-level finding remains, 5
for bad options.  The whole report is cached when it depends on files alone
(`playgraph.cli.cache`).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from playgraph import __version__
from playgraph.compiler.diagnostics import Diagnostic, has_errors
from playgraph.compiler.result import CompileOptions
from playgraph.compiler.spans import SourceText
from playgraph.semantics import is_template

from . import cache, report
from .errors import EXIT_FINDINGS, EXIT_OK, CliError
from .options import add_compile_options, compile_options
from .output import write_atomically

if TYPE_CHECKING:
    from playgraph.compiler.lint import HostResolver


def add_parser(commands: Any) -> None:
    check = commands.add_parser(
        "check", help="report every problem in the playbooks, with file:line:col"
    )
    check.add_argument(
        "playbooks",
        nargs="+",
        metavar="PLAYBOOK",
        help="a playbook, a task file (a list of tasks) or a role's folder",
    )
    check.add_argument(
        "-f",
        "--format",
        choices=report.FORMATS,
        default=None,
        help="output format (default pep8; 'github' when GITHUB_ACTIONS=true adds annotations)",
    )
    check.add_argument("--sarif-file", metavar="FILE", help="also write SARIF 2.1.0 to FILE")
    check.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        help="lint configuration (default: .playgraph.yml in the current directory, "
        "then in the playbook's directory)",
    )
    check.add_argument(
        "-i",
        "--inventory",
        action="append",
        metavar="SOURCE",
        help="inventory (file, directory or 'h1,h2,' list; repeatable): host patterns are "
        "evaluated against it instead of being compared by name",
    )
    add_compile_options(check)
    check.set_defaults(handler=execute)


def execute(args: argparse.Namespace) -> int:
    if args.config is not None and not os.path.isfile(args.config):
        raise CliError.usage(f"the configuration file {args.config} does not exist")
    fmt = args.format or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "pep8")
    options = compile_options(args)
    # The whole report is cached when it depends on files alone (no inventory to read,
    # no SARIF file to write): a re-run of an unchanged check skips even the linter.
    cacheable = not args.no_cache and cache.enabled() and not args.inventory
    cacheable = cacheable and not args.sarif_file
    key = ""
    if cacheable:
        material = (args.playbooks, fmt, args.format, args.config, cache.vars_of(options))
        key = cache.report_key(material)
        hit = cache.load_report(key)
        if hit is not None:
            sys.stdout.write(hit.stdout)
            sys.stderr.write(hit.stderr)
            return hit.exit_code
    with cache.few_collections():
        report_ = build_report(args, fmt, options)
    if cacheable:
        cache.store_report(key, report_)
    sys.stdout.write(report_.stdout)
    sys.stderr.write(report_.stderr)
    return report_.exit_code


def build_report(args: argparse.Namespace, fmt: str, options: CompileOptions) -> cache.Report:
    """Compile and lint every playbook: what ``check`` prints, and what that depended on."""
    # Imported here so the other commands (and a cached check) do not pay for the linter.
    from dataclasses import replace

    from playgraph.compiler.lint import apply_suppressions, lint, load_config
    from playgraph.compiler.lint.config import config_candidates
    from playgraph.compiler.lower import compile_check_target

    # The current directory first, then each playbook's; paths stay as the user wrote them.
    search = list(dict.fromkeys([".", *(os.path.dirname(p) or "." for p in args.playbooks)]))
    config = load_config(args.config, search)
    inputs: dict[str, str] = {}
    if args.config is not None:
        inputs[args.config] = cache.file_state(args.config)
    else:
        # Where the configuration was looked for, up to where it was found.
        for candidate in config_candidates(search):
            inputs[candidate] = cache.file_state(candidate)
            if candidate == config.path:
                break
    # The configuration's locks are compiled into the graph (CompileOptions.extra_locks).
    options = replace(
        options,
        extra_locks=dict(config.locks),
        resolve=replace(
            options.resolve, mock_roles=config.mock_roles, mock_modules=config.mock_modules
        ),
    )
    resolver: HostResolver | None = None
    if args.inventory:
        resolver = _host_resolver(args.inventory)
    diagnostics: list[Diagnostic] = list(config.diagnostics)
    sources: dict[str, SourceText] = {}
    if config.path is not None and config.source is not None:
        sources[config.path] = config.source
    for path in args.playbooks:
        # A role's folder or a task file is read as ansible-lint reads it; a playbook
        # (the usual case) goes through the compile cache.
        compiled = compile_check_target(path, options) or cache.compile_cached(
            path, options, use_cache=not args.no_cache
        )
        diagnostics += compiled.diagnostics
        diagnostics += lint(compiled.graph, hosts=resolver, config=config)
        sources.update(compiled.sources)
        inputs.update(compiled.inputs)
    findings = apply_suppressions(diagnostics, sources, config)
    if not args.no_cache and cache.enabled():
        cache.save_texts()  # what the linter parsed too
    out: list[str] = []
    if fmt == "github" and args.format is None:
        out.append(report.format_pep8(findings))
    if fmt == "pep8":
        out.append(report.format_pep8(findings))
    elif fmt == "full":
        out.append(report.format_full(findings, sources))
    elif fmt == "github":
        out.append(report.format_github(findings))
    elif fmt in ("sarif", "json"):
        out.append(report.format_sarif(findings, __version__))
    elif fmt == "codeclimate":
        out.append(report.format_codeclimate(findings))
    if args.sarif_file:
        write_atomically(args.sarif_file, report.format_sarif(findings, __version__))
    counts = {
        level: sum(1 for d in findings if d.severity.value == level)
        for level in ("error", "warning", "info")
    }
    summary = ""
    if findings:
        summary = (
            f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info in "
            f"{len(args.playbooks)} playbook(s)\n"
        )
    code = EXIT_FINDINGS if has_errors(findings) else EXIT_OK
    return cache.Report(stdout="".join(out), stderr=summary, exit_code=code, inputs=inputs)


def _host_resolver(sources: list[str]) -> HostResolver:
    """Host patterns evaluated against the inventory: the compiler stays pure, so the
    inventory is read here and reaches it as a function."""
    from playgraph.runtime.inventory import InventoryError, load_inventory

    try:
        inventory = load_inventory(sources)
    except InventoryError as error:
        raise CliError.usage(f"bad inventory: {error}") from None

    def resolver(pattern: str) -> frozenset[str] | None:
        if is_template(pattern, comments=False):
            return None  # known only at run time
        try:
            return frozenset(inventory.select(pattern))
        except InventoryError:
            return None

    return resolver
