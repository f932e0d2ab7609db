"""What every command writes the same way: warnings, output files, JSON, a run's end."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import stat
import sys
import tempfile
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

from . import interrupts
from .errors import CliError

if TYPE_CHECKING:
    from playgraph.runtime.scheduler import RunOutcome


def warn(message: str) -> None:
    """ansible's warning line on stderr."""
    sys.stderr.write(f"[WARNING]: {message}\n")
    sys.stderr.flush()


def write_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=4, sort_keys=True, default=str) + "\n")


SPOOL_IN_MEMORY = 8 << 20
"""Characters of a JSON document kept in memory before it spools to a temporary file."""
_BATCH = 4096
"""Encoder chunks joined per write (the encoder yields a few characters at a time)."""


def write_document(document: Mapping[str, Any], stream: IO[str] | None = None) -> None:
    """``document`` as ``json.dumps(document, indent=4, sort_keys=True, default=str)``
    and a newline, written to ``stream`` (stdout) whole or not at all, without ever
    holding the whole text: a run of 10,000 hosts makes a document of hundreds of
    megabytes as one string (and more as the encoder's list of pieces).  It is
    encoded into a spool first (memory, then a temporary file), so an encoding
    failure writes nothing, then copied out."""
    out = stream if stream is not None else sys.stdout
    encoder = json.JSONEncoder(indent=4, sort_keys=True, default=str)
    with tempfile.SpooledTemporaryFile(
        max_size=SPOOL_IN_MEMORY, mode="w+", encoding="utf-8"
    ) as spool:
        batch: list[str] = []
        for chunk in encoder.iterencode(document):
            batch.append(chunk)
            if len(batch) >= _BATCH:
                spool.write("".join(batch))
                batch.clear()
        batch.append("\n")
        spool.write("".join(batch))
        spool.seek(0)
        shutil.copyfileobj(spool, out, 1 << 20)


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all: never a half-written output file.

    A path that is not a regular file (``/dev/null``, a pipe, a terminal) is written
    in place: renaming over it would replace the device itself.
    """
    try:
        special = not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        special = False  # absent (the usual case): created by the rename below
    if special:
        try:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as error:
            raise CliError.usage(f"cannot write {path}: {error.strerror}") from None
        return
    folder = os.path.dirname(os.path.abspath(path))
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=".playgraph-", dir=folder)
    except OSError as error:
        raise CliError.usage(f"cannot write {path}: {error.strerror}") from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except OSError as error:
        os.unlink(temporary)
        raise CliError.usage(f"cannot write {path}: {error.strerror}") from None
    except BaseException:  # interrupted: no stray temporary file either
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def finish(
    outcome: RunOutcome, document: Mapping[str, Any] | None, inventory: Sequence[str]
) -> int:
    """The end of ``run`` and ``adhoc``: the JSON document (whole: signals wait until it
    is written, see `write_document`) and, after an interruption, the jobs left running;
    the run's exit code."""
    with interrupts.deferred():
        if document is not None:
            write_document(document)
            sys.stdout.flush()
        if outcome.interrupted is None:
            return int(outcome.exit_code)
        hint = [f"-i {shlex.quote(source)}" for source in inventory]
        interrupts.report(outcome.interrupted, hint)
        return interrupts.exit_code(interrupts.signal_of(outcome.interrupted))
