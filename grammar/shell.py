"""Shell words of a command line, as Ansible's command module splits them.

Kept apart from ``args`` (and lark): running a command needs only this.
"""

from __future__ import annotations

import shlex

__all__ = ["split_command"]


def split_command(raw: str) -> tuple[str, ...]:
    """POSIX shell words of a command line, as the command module splits it (shlex).

    Never raises: an unbalanced quote or a trailing backslash (already reported
    by ``parse_args``) is closed for a best-effort answer.
    """
    for candidate in (raw, raw + "\\", raw + '"', raw + "'", raw + '\\"', raw + "\\'"):
        try:
            return tuple(shlex.split(candidate))
        except ValueError:
            continue
    return tuple(raw.split())
