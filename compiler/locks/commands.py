"""The locks the simple commands of a command line hold."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from playgraph.grammar.shell import MAX_SCRIPT_DEPTH, simple_commands

from playgraph.semantics import is_template

from .managers import PROGRAMS
from .wrappers import program_name, unwrap


def analyse_commands(
    commands: Iterable[Sequence[str]], *, depth: int, windows: bool = False
) -> set[str]:
    locks: set[str] = set()
    for words in commands:
        unwrapped = unwrap(words)
        for script in unwrapped.scripts:
            if depth < MAX_SCRIPT_DEPTH:
                nested = simple_commands(script, shell=True, windows=windows, depth=depth + 1)
                locks |= analyse_commands(nested, depth=depth + 1, windows=windows)
        if not unwrapped.words:
            continue
        program_word = unwrapped.words[0]
        if is_template(program_word, comments=False):
            continue  # runs something we cannot know
        handler = PROGRAMS.get(program_name(program_word))
        if handler is not None:
            locks |= handler(unwrapped.words[1:])
    return locks


def command_locks(cmdline: str, *, shell: bool, windows: bool = False) -> frozenset[str]:
    """The built-in locks a command line holds.

    ``shell=True`` analyses ``cmdline`` as a shell script (``shell``, ``raw``);
    ``shell=False`` splits it into words as the ``command`` module does.
    ``windows=True`` keeps backslashes (path separators there, not escapes).
    """
    commands = simple_commands(cmdline, shell=shell, windows=windows)
    return frozenset(analyse_commands(commands, depth=0, windows=windows))
