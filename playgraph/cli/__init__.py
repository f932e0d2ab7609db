"""The ``playgraph`` command: one module per command (`check`, `compile`, `run`,
`adhoc`, `jobs`), the options they share (`options`), one error type for what the
user can fix (`errors.CliError`), and `app.main`, which parses, dispatches and
turns every failure into one line and an exit code.

The CLI is the top layer: it reads the command line, prints, and hands the work
to the compiler and the runtime; the runtime owns the run's lifecycle
(`playgraph.runtime.run.open_runtime`).
"""

from __future__ import annotations

from .app import build_parser, main

__all__ = ["build_parser", "main"]
