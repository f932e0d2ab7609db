"""The ``playgraph`` command line: the one place that turns failures into messages and exit codes.

Exit codes: ``check`` 0 clean (or warnings only), 2 when an error-level finding
remains; ``compile`` 2 when the playbook has errors (and then writes nothing);
5 for bad options (as ansible-playbook); 1 for unexpected internal errors,
printed as one line (set ``PLAYGRAPH_DEBUG=1`` for the traceback).  A signal
stops any command the same way (`playgraph.interrupts`): 99 for SIGINT (as
ansible-playbook), 143 for SIGTERM, 129 for SIGHUP; ``run`` and ``adhoc`` first
stop their blocking commands, leave ``async`` jobs running and list them, print
the recap, and with ``--json`` still print the whole document, marked
``interrupted``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Sequence
from typing import NoReturn

from playgraph import __version__
from playgraph.compiler.diagnostics import Diagnostic, has_errors, sorted_unique
from playgraph.compiler.result import CompileOptions
from playgraph.compiler.spans import SourceText

from . import cache, interrupts, report
from .cache import compile_cached

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_FINDINGS = 2
EXIT_BAD_OPTIONS = 5


class UsageError(Exception):
    """A problem with how playgraph was called: one line, exit 5."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_BAD_OPTIONS)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="playgraph", description="Compile, lint, plan and run Ansible-style playbooks."
    )
    parser.add_argument("--version", action="version", version=f"playgraph {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    check = commands.add_parser(
        "check", help="report every problem in the playbooks, with file:line:col"
    )
    check.add_argument("playbooks", nargs="+", metavar="PLAYBOOK")
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
    _add_compile_options(check)

    compile_ = commands.add_parser("compile", help="compile a playbook to an execution plan")
    compile_.add_argument("playbook", metavar="PLAYBOOK")
    compile_.add_argument(
        "-o", "--output", metavar="FILE", help="write the plan to FILE (default: stdout)"
    )
    compile_.add_argument("--format", choices=("json", "dot", "mermaid"), default="json")
    _add_compile_options(compile_)

    from . import commands_run

    commands_run.add_parser(commands, _Parser)
    _add_compile_options(commands.choices["run"])
    from . import commands_adhoc, commands_jobs

    commands_adhoc.add_parser(commands)
    commands_jobs.add_parser(commands)
    return parser


def _add_compile_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--poll-default",
        type=int,
        default=None,
        metavar="SECONDS",
        help="poll interval when a task sets async without poll "
        "(default: $ANSIBLE_POLL_INTERVAL or 15)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="compile afresh instead of reusing the result for unchanged files "
        "(also PLAYGRAPH_NO_CACHE=1)",
    )


def compile_options(args: argparse.Namespace) -> CompileOptions:
    poll = args.poll_default
    if poll is None:
        env = os.environ.get("ANSIBLE_POLL_INTERVAL", "15")
        try:
            poll = int(env)
        except ValueError:
            raise UsageError(f"ANSIBLE_POLL_INTERVAL must be an integer, got {env!r}") from None
    if poll < 0:
        raise UsageError("--poll-default must be >= 0")
    return CompileOptions(poll_default=poll)


# --------------------------------------------------------------------------- commands


def cmd_check(args: argparse.Namespace) -> int:
    if args.config is not None and not os.path.isfile(args.config):
        raise UsageError(f"the configuration file {args.config} does not exist")
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
    report_ = _check(args, fmt, options)
    if cacheable:
        cache.store_report(key, report_)
    sys.stdout.write(report_.stdout)
    sys.stderr.write(report_.stderr)
    return report_.exit_code


def _check(args: argparse.Namespace, fmt: str, options: CompileOptions) -> cache.Report:
    # Imported here so the other commands (and a cached check) do not pay for the linter.
    from dataclasses import replace

    from playgraph.compiler.lint import HostResolver, apply_suppressions, lint, load_config
    from playgraph.compiler.lint.config import config_candidates

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
    options = replace(options, extra_locks=dict(config.locks))
    resolver: HostResolver | None = None
    if args.inventory:
        # The compiler stays pure: the inventory is read here and reaches it as a function.
        from playgraph.runtime.inventory import InventoryError, load_inventory

        try:
            inventory = load_inventory(args.inventory)
        except InventoryError as error:
            raise UsageError(f"bad inventory: {error}") from None

        def resolver(pattern: str) -> frozenset[str] | None:
            if "{{" in pattern or "{%" in pattern:
                return None  # known only at run time
            try:
                return frozenset(inventory.select(pattern))
            except InventoryError:
                return None

    diagnostics: list[Diagnostic] = list(config.diagnostics)
    sources: dict[str, SourceText] = {}
    if config.path is not None and config.source is not None:
        sources[config.path] = config.source
    for path in args.playbooks:
        compiled = compile_cached(path, options, use_cache=not args.no_cache)
        diagnostics += compiled.diagnostics
        diagnostics += lint(compiled.graph, hosts=resolver, config=config)
        sources.update(compiled.sources)
        inputs.update(compiled.inputs)
    findings = apply_suppressions(diagnostics, sources, config)
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


def cmd_compile(args: argparse.Namespace) -> int:
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

    emitters = {"json": emit_json, "dot": emit_dot, "mermaid": emit_mermaid}
    text = emitters[args.format](compiled.graph)
    if args.output:
        write_atomically(args.output, text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all: never a half-written output file."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=".playgraph-", dir=folder)
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror}") from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except OSError as error:
        os.unlink(temporary)
        raise UsageError(f"cannot write {path}: {error.strerror}") from None
    except BaseException:  # interrupted: no stray temporary file either
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def cmd_run(args: argparse.Namespace) -> int:
    from . import commands_run

    return commands_run.cmd_run(args, compile_options(args))


def cmd_adhoc(args: argparse.Namespace) -> int:
    from . import commands_adhoc

    return commands_adhoc.cmd_adhoc(args)


def cmd_jobs(args: argparse.Namespace) -> int:
    from . import commands_jobs

    return commands_jobs.cmd_jobs(args)


COMMANDS = {
    "check": cmd_check,
    "compile": cmd_compile,
    "run": cmd_run,
    "adhoc": cmd_adhoc,
    "jobs": cmd_jobs,
}


def main(argv: Sequence[str] | None = None) -> int:
    interrupts.TERMINAL.save()
    try:
        interrupts.install()
        parser = build_parser()
        args = parser.parse_args(argv)
        return COMMANDS[args.command](args)
    except UsageError as error:
        sys.stderr.write(f"playgraph: error: {error}\n")
        return EXIT_BAD_OPTIONS
    except (interrupts.Interrupted, KeyboardInterrupt) as stop:
        signum = stop.signum if isinstance(stop, interrupts.Interrupted) else interrupts.SIGINT
        interrupts.TERMINAL.restore()
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(interrupts.message(signum) + "\n")
        return interrupts.exit_code(signum)
    except BrokenPipeError:
        return EXIT_OK
    except Exception as error:  # the CLI boundary: one line, not a traceback
        if os.environ.get("PLAYGRAPH_DEBUG"):
            raise
        sys.stderr.write(
            f"playgraph: internal error: {type(error).__name__}: {error} "
            "(set PLAYGRAPH_DEBUG=1 for the traceback; please report it)\n"
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
