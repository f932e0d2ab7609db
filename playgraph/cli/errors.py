"""The exit codes of every command, and the one error type for an expected failure.

A command raises `CliError` for anything the user can fix (bad options, a
missing file, an unreadable inventory); `playgraph.cli.app.main` prints it as one
line, ``playgraph: error: MESSAGE``, and exits with its code.  Anything else that
reaches ``main`` is a bug, reported as an internal error (exit 1).
"""

from __future__ import annotations

from typing import Final

from playgraph.semantics import PlaygraphError

EXIT_OK: Final = 0
EXIT_INTERNAL: Final = 1
EXIT_BEFORE_RUN: Final = 1
"""A playbook with errors, a bad inventory, plan or extra vars: nothing ran (as ansible)."""
EXIT_FINDINGS: Final = 2
EXIT_BAD_OPTIONS: Final = 5
"""ansible's ``ExitCode.INVALID_CLI_OPTION``."""


class CliError(PlaygraphError):
    """An expected failure of a command: one line on stderr, then exit ``exit_code``."""

    def __init__(self, message: str, *, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    @classmethod
    def usage(cls, message: str) -> CliError:
        """How playgraph was called is wrong: exit 5."""
        return cls(message, exit_code=EXIT_BAD_OPTIONS)

    @classmethod
    def setup(cls, message: str) -> CliError:
        """Something is wrong before any host ran (inventory, plan, extra vars): exit 1."""
        return cls(message, exit_code=EXIT_BEFORE_RUN)
