"""Command lines: the command proper behind wrappers (``sudo``, ``env``...), the
scripts of shells (``sh -c``), and options and operands."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "yash"})
_SHELL_RESERVED = frozenset({"if", "then", "else", "elif", "do", "while", "until", "!", "{"})
_SHELL_NOT_A_COMMAND = frozenset({"fi", "done", "esac", "}", "for", "case", "select", "in"})


@dataclass(frozen=True, slots=True)
class Option:
    """How a program's options look: which take an argument."""

    short_with_arg: str = ""
    long_with_arg: frozenset[str] = frozenset()


# Wrappers: name → (options, number of positional words before the command).
_WRAPPERS: Mapping[str, tuple[Option, int]] = MappingProxyType(
    {
        "sudo": (
            Option(
                "ugCDhprtTUR",
                frozenset(
                    {
                        "--user",
                        "--group",
                        "--close-from",
                        "--chdir",
                        "--host",
                        "--prompt",
                        "--role",
                        "--type",
                        "--command-timeout",
                        "--other-user",
                        "--chroot",
                    }
                ),
            ),
            0,
        ),
        "doas": (Option("uC"), 0),
        "env": (
            Option("uCS", frozenset({"--unset", "--chdir", "--split-string"})),
            0,
        ),
        "nohup": (Option(), 0),
        "exec": (Option("a"), 0),
        "time": (Option("fo", frozenset({"--format", "--output"})), 0),
        "builtin": (Option(), 0),
        "nice": (Option("n", frozenset({"--adjustment"})), 0),
        "ionice": (Option("cnp", frozenset({"--class", "--classdata", "--pid"})), 0),
        "timeout": (Option("sk", frozenset({"--signal", "--kill-after"})), 1),
        "stdbuf": (Option("ioe", frozenset({"--input", "--output", "--error"})), 0),
        "xargs": (
            Option(
                "adEILnPs",
                frozenset(
                    {
                        "--arg-file",
                        "--delimiter",
                        "--max-args",
                        "--max-procs",
                        "--max-chars",
                        "--max-lines",
                        "--process-slot-var",
                    }
                ),
            ),
            0,
        ),
        "taskset": (Option(), 1),
        "chrt": (Option("TPD", frozenset({"--sched-runtime", "--sched-period"})), 1),
        "setsid": (Option(), 0),
        "eatmydata": (Option(), 0),
        "unbuffer": (Option(), 0),
        "chronic": (Option(), 0),
        "busybox": (Option(), 0),
    }
)


@dataclass(frozen=True, slots=True)
class Unwrapped:
    words: list[str]
    """The command proper: program first (empty when nothing runs)."""
    scripts: list[str]
    """Nested shell scripts (``sh -c '…'``) to analyse on their own."""


def program_name(word: str) -> str:
    base = word.replace("\\", "/").rsplit("/", 1)[-1].lower()
    return base[:-4] if base.endswith(".exe") else base


def skip_options(words: Sequence[str], i: int, option: Option) -> int:
    """Index of the first operand at or after ``i``."""
    while i < len(words):
        word = words[i]
        if word == "--":
            return i + 1
        if word.startswith("--"):
            i += 1
            if "=" not in word and word in option.long_with_arg:
                i += 1
            continue
        if word.startswith("-") and len(word) > 1:
            i += 1
            for k, ch in enumerate(word[1:], start=1):
                if ch in option.short_with_arg:
                    if k == len(word) - 1:
                        i += 1  # the argument is the next word
                    break  # otherwise the rest of the cluster is the argument
            continue
        return i
    return i


def unwrap(words: Sequence[str]) -> Unwrapped:
    scripts: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if _ASSIGNMENT.match(word):
            i += 1
            continue
        if word in _SHELL_RESERVED:
            i += 1
            continue
        if word in _SHELL_NOT_A_COMMAND:
            return Unwrapped([], scripts)
        program = program_name(word)
        wrapper = _WRAPPERS.get(program)
        if wrapper is not None:
            option, positional = wrapper
            i = skip_options(words, i + 1, option) + positional
            continue
        if program == "command":
            rest = words[i + 1 :]
            if any(w in ("-v", "-V") for w in rest[:2]):
                return Unwrapped([], scripts)  # a lookup, runs nothing
            i = skip_options(words, i + 1, Option())
            continue
        if program == "flock":
            j = skip_options(
                words,
                i + 1,
                Option("wE", frozenset({"--wait", "--timeout", "--conflict-exit-code"})),
            )
            j += 1  # the lock file (or descriptor)
            if j < len(words) and words[j] in ("-c", "--command"):
                scripts.extend(words[j + 1 : j + 2])
                return Unwrapped([], scripts)
            i = j
            continue
        if program in ("su", "runuser"):
            script = _option_value(words[i + 1 :], ("-c",), ("--command",))
            if script is not None:
                scripts.append(script)
                return Unwrapped([], scripts)
            if program == "runuser" and "-u" in words[i + 1 :]:
                i = skip_options(words, i + 1, Option("ugG", frozenset({"--user", "--group"})))
                continue
            return Unwrapped([], scripts)  # an interactive shell
        if program in _SHELLS:
            script = _shell_script(words[i + 1 :])
            if script is not None:
                scripts.append(script)
            return Unwrapped([], scripts)
        if program in ("powershell", "pwsh"):
            script = _powershell_script(words[i + 1 :])
            if script is not None:
                scripts.append(script)
            return Unwrapped([], scripts)
        if program == "cmd":
            rest = words[i + 1 :]
            for k, w in enumerate(rest):
                if w.lower() in ("/c", "/k"):
                    scripts.append(" ".join(rest[k + 1 :]))
                    break
            return Unwrapped([], scripts)
        return Unwrapped(list(words[i:]), scripts)
    return Unwrapped([], scripts)


def _option_value(words: Sequence[str], short: Sequence[str], long: Sequence[str]) -> str | None:
    for k, word in enumerate(words):
        if word in short and k + 1 < len(words):
            return words[k + 1]
        for name in long:
            if word == name and k + 1 < len(words):
                return words[k + 1]
            if word.startswith(name + "="):
                return word.split("=", 1)[1]
    return None


def _shell_script(words: Sequence[str]) -> str | None:
    """The ``-c`` script of ``sh``/``bash`` arguments (``-c``, ``-ec``, ``-lc``…)."""
    takes_script = False
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("-o", "+o", "--rcfile", "--init-file"):
            i += 2
            continue
        if word.startswith("--"):
            i += 1
            continue
        if word.startswith(("-", "+")) and len(word) > 1:
            takes_script = takes_script or "c" in word[1:]
            i += 1
            continue
        return word if takes_script else None
    return None


def _powershell_script(words: Sequence[str]) -> str | None:
    for k, word in enumerate(words):
        if word.lower() in ("-command", "-c", "/command", "/c"):
            return " ".join(words[k + 1 :])
    return None


# ============================================================================ managers


def first_operand(words: Sequence[str], option: Option) -> str | None:
    i = skip_options(words, 0, option)
    return words[i] if i < len(words) else None


def operands_of(words: Sequence[str], option: Option) -> list[str]:
    """Every non-option word (options and their arguments removed)."""
    out: list[str] = []
    i = 0
    while i < len(words):
        j = skip_options(words, i, option)
        if j >= len(words):
            break
        if j > i and words[j - 1] == "--":
            out.extend(words[j:])
            break
        out.append(words[j])
        i = j + 1
    return out
