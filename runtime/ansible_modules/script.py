"""Modules that are not AnsiballZ Python: old-style, ``WANT_JSON`` and binary modules.

ansible-core still runs these (a ``library/`` script in bash or perl, a compiled
binary): it copies the module and an arguments file to the target and runs
``<interpreter> <module> <args file>`` (a binary module without an interpreter).
The arguments file holds ``key=value`` pairs, each value shell-quoted, for an
old-style module, and the arguments as JSON for the other two.  The interpreter is
the module's shebang, overridden by ``ansible_<name>_interpreter`` (``python``:
the host's Python).  The module prints its JSON result, as any module does.

Here one ``sh`` command does it all: the module and its arguments arrive on stdin,
go into a private temporary folder under ``~/.ansible/tmp`` (as ansible-core's
remote temp; ``/tmp`` when that cannot be made), and are removed afterwards.  The
same command runs a job under the supervisor.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..modules.base import ModuleFailure

STYLES = ("old", "non_native_want_json", "binary")

# $1: the module's size in bytes; the rest: the interpreter and its arguments (none for
# a binary module).  The exit status is the module's (the EXIT trap keeps it).
RUNNER = (
    'n=$1; shift; umask 077; d=$(mkdir -p "$HOME/.ansible/tmp" 2>/dev/null'
    ' && mktemp -d "$HOME/.ansible/tmp/ansible-tmp-XXXXXXXX" 2>/dev/null) || d=$(mktemp -d)'
    " || exit 1; trap 'rm -rf \"$d\"' EXIT;"
    ' head -c "$n" >"$d/module" && cat >"$d/args" && chmod 700 "$d/module" || exit 1;'
    ' "$@" "$d/module" "$d/args"'
)


@dataclass(frozen=True, slots=True)
class Script:
    """A module ansible-core runs with an arguments file (see the module docstring)."""

    fqcn: str
    style: str
    """``old``, ``non_native_want_json`` or ``binary`` (ansible-core's names)."""
    data: bytes


def interpreter(script: Script, variables: Mapping[str, Any], python: str) -> list[str]:
    """The command before the module's path: its shebang, as ansible-core overrides it."""
    if script.style == "binary":
        return []
    first = script.data.split(b"\n", 1)[0]
    if not first.startswith(b"#!"):
        raise ModuleFailure(
            f"module ({script.fqcn.rsplit('.', 1)[-1]}) is missing interpreter line",
            changed=False,
        )
    try:
        words = shlex.split(first[2:].decode("utf-8", "surrogateescape"))
    except ValueError as error:
        raise ModuleFailure(
            f"module ({script.fqcn}) has an unreadable interpreter line: {error}", changed=False
        ) from None
    if not words:
        raise ModuleFailure(
            f"module ({script.fqcn.rsplit('.', 1)[-1]}) is missing interpreter line",
            changed=False,
        )
    program, args = words[0], words[1:]
    name = os.path.basename(program).strip()
    chosen: Any = None
    if name == "python":
        chosen = python
    else:
        try:
            chosen = variables.get(f"ansible_{name}_interpreter")
        except Exception:  # noqa: BLE001 - an unrenderable variable counts as unset
            chosen = None
    return [str(chosen) if chosen else program, *args]


def arguments_file(script: Script, module_args: Mapping[str, Any]) -> bytes:
    """The arguments file's content, as ansible-core writes it for the module's style."""
    if script.style == "old":
        return "".join(
            f"{key}={shlex.quote(str(value))} " for key, value in module_args.items()
        ).encode()
    return json.dumps(dict(module_args)).encode()


def command(script: Script, variables: Mapping[str, Any], python: str) -> list[str]:
    """The argv that runs the module with the stdin of `stdin`."""
    return [
        "/bin/sh",
        "-c",
        RUNNER,
        "sh",
        str(len(script.data)),
        *interpreter(script, variables, python),
    ]


def stdin(script: Script, module_args: Mapping[str, Any]) -> bytes:
    return script.data + arguments_file(script, module_args)
