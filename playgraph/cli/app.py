"""The ``playgraph`` command line: the parser, and the one place that turns failures
into messages and exit codes.

Exit codes: ``check`` 0 clean (or warnings only), 2 when an error-level finding
remains; ``compile`` 2 when the playbook has errors (and then writes nothing);
5 for bad options (as ansible-playbook); 1 for unexpected internal errors,
printed as one line (set ``PLAYGRAPH_DEBUG=1`` for the traceback).  A signal
stops any command the same way (`playgraph.cli.interrupts`): 99 for SIGINT (as
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
from collections.abc import Sequence
from typing import NoReturn

from playgraph import __version__

from . import adhoc, check, interrupts, jobs, report, run
from . import compile as compile_
from .errors import EXIT_BAD_OPTIONS, EXIT_INTERNAL, EXIT_OK, CliError

COMMANDS = (check, compile_, run, adhoc, jobs, report)
"""One module per command, in the order ``--help`` lists them: each registers its
parser with ``add_parser``, whose ``handler`` default runs it."""


class _Parser(argparse.ArgumentParser):
    """Bad options exit 5, as ansible's do (argparse's own code is 2)."""

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
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    interrupts.TERMINAL.save()
    try:
        interrupts.install()
        args = build_parser().parse_args(argv)
        code: int = args.handler(args)
        return code
    except CliError as error:
        sys.stderr.write(f"playgraph: error: {error}\n")
        return error.exit_code
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
