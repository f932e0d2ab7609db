"""Which Python runs a module on a host: ``ansible_python_interpreter``, or discovery.

As ansible-core: the interpreter is ``ansible_python_interpreter`` (else
``$ANSIBLE_PYTHON_INTERPRETER``, else ``auto``).  A discovery mode (``auto``,
``auto_silent``, and the deprecated ``auto_legacy``/``auto_legacy_silent`` that now
mean the same) asks the host once, with one shell command, for the first of
`FALLBACK` (or ``ansible_interpreter_python_fallback``) that exists, caches the answer
as the host's ``discovered_interpreter_python`` fact, and warns (unless ``_silent``)
that another Python installed later could be picked instead.  Nothing found:
``/usr/bin/python3``, with a warning.

One deliberate difference: a pyenv shim (a path with ``/shims/``) is passed over.
A shim picks its Python from the directory it runs in and fails ("command not found")
for a version the user did not select, which ansible-core then reports as an
unparseable module result.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .connection.base import Connection
    from .context import RunContext

MODES = ("auto", "auto_silent", "auto_legacy", "auto_legacy_silent")
FALLBACK = (
    "python3.13",
    "python3.12",
    "python3.11",
    "python3.10",
    "python3.9",
    "python3.8",
    "/usr/bin/python3",
    "python3",
)
"""ansible-core 2.19's ``INTERPRETER_PYTHON_FALLBACK``, in its order."""
DEFAULT = "/usr/bin/python3"
FACT = "discovered_interpreter_python"
DOC = "https://docs.ansible.com/ansible-core/2.19/reference_appendices/interpreter_discovery.html"
_FOUND = re.compile(r"FOUND(.*)ENDFOUND", re.DOTALL)

_pending: weakref.WeakKeyDictionary[RunContext, dict[str, asyncio.Future[str]]] = (
    weakref.WeakKeyDictionary()
)
"""Per run, per host: the discovery under way or done (one probe per host and run)."""


def configured(variables: Mapping[str, Any]) -> str:
    """The interpreter setting: a path, or one of `MODES`."""
    value = variables.get("ansible_python_interpreter")
    if value is None or str(value).strip() == "":
        value = os.environ.get("ANSIBLE_PYTHON_INTERPRETER") or "auto"
    return str(value).strip()


def probe_command(candidates: Sequence[str]) -> str:
    """The shell command ansible-core runs: one ``command -v`` per candidate."""
    checks = "; ".join(f"command -v '{name}'" for name in candidates)
    return f"echo FOUND; {checks}; echo ENDFOUND"


def pick(stdout: str) -> str | None:
    """The first interpreter the probe found (pyenv shims passed over), None for none."""
    match = _FOUND.match(stdout)
    if match is None:
        raise ValueError("unexpected output from Python interpreter discovery")
    found = [line.strip() for line in match.group(1).splitlines() if line.startswith("/")]
    found = [path for path in found if "/shims/" not in path]
    return found[0] if found else None


def warn(text: str) -> None:
    """A run-time warning on stderr, in ansible-core's ``[WARNING]:`` form."""
    from .display import CONSOLE

    CONSOLE.write(sys.stderr, f"[WARNING]: {text}\n")


def _candidates(variables: Mapping[str, Any]) -> list[str]:
    value = variables.get("ansible_interpreter_python_fallback")
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, Sequence) and value:
        return [str(part) for part in value]
    return list(FALLBACK)


async def python(run: RunContext, host: str, variables: Mapping[str, Any], conn: Connection) -> str:
    """The interpreter modules run with on ``host`` (discovered once per run, cached)."""
    setting = configured(variables)
    if setting not in MODES:
        return setting
    known = run.state(host).gathered.get(FACT)
    if isinstance(known, str) and known:
        return known
    pending = _pending.setdefault(run, {})
    future = pending.get(host)
    if future is None:
        future = asyncio.get_running_loop().create_future()
        pending[host] = future
        try:
            future.set_result(await _discover(run, host, setting, variables, conn))
        except BaseException as error:
            del pending[host]  # the next task tries again (e.g. after a connection error)
            future.set_exception(error)
            future.exception()  # retrieved: only the waiters' copies propagate
            raise
    return await asyncio.shield(future)


async def _discover(
    run: RunContext, host: str, mode: str, variables: Mapping[str, Any], conn: Connection
) -> str:
    silent = mode.endswith("_silent")
    candidates = _candidates(variables)
    await conn.connect()
    found: str | None = DEFAULT
    try:
        # As ansible-core: never with become (the probe only looks).
        result = await conn.run(shell=probe_command(candidates))
        found = pick(result.stdout.decode("utf-8", "replace"))
        if found is None:
            if not silent:
                warn(f"No python interpreters found for host {host!r} (tried {candidates!r}).")
            found = DEFAULT
            silent = True  # ansible-core says nothing more in this case
    except ValueError as error:
        if not silent:
            warn(f"Unhandled error in Python interpreter discovery for host {host!r}: {error}")
        found = DEFAULT
    if not silent:
        warn(
            f"Host {host!r} is using the discovered Python interpreter at {found!r}, but "
            "future installation of another Python interpreter could cause a different "
            f"interpreter to be discovered. See {DOC} for more information."
        )
    state = run.state(host)
    state.gathered[FACT] = found
    state.facts[FACT] = found
    return found
