"""Ansible's own modules, run through ansible-core's module machinery (the generic path).

Any module playgraph has no native implementation of — from ansible-core, from
an installed collection, from ``library/`` — is resolved by ansible-core's
plugin loader (`resolve`), built into an AnsiballZ payload once and cached on
the controller (`payload`), shipped once per target and run by a small stdlib
runner there (`module`, ``runtime/target/ansible_runner.py``), synchronously
or as a job of the target's job supervisor.

ansible-core is optional (``pip install 'playgraph[ansible]'``) and imported
only when such a module is used: importing this package does not import it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from functools import cache
from typing import Any

from ..modules.base import ModuleFailure, TaskContext
from .module import GenericModule, run_module


@cache
def available() -> bool:
    """Whether ansible-core can be imported here (the ``playgraph[ansible]`` extra)."""
    try:
        return importlib.util.find_spec("ansible") is not None
    except (ImportError, ValueError):
        return False


def generic_module(name: str) -> GenericModule | None:
    """The generic module for ``name`` (resolved when it runs), or None without ansible-core."""
    return GenericModule(name) if available() else None


async def run_ansible_module(
    ctx: TaskContext, fqcn: str, args: Mapping[str, Any]
) -> dict[str, Any]:
    """Run module ``fqcn`` with ``args`` on ``ctx``'s host, synchronously; its result as
    ansible-core's action layer returns it.  No action-plugin check (for playgraph's own
    controller-side actions); a failure to resolve or build is a failed result."""
    try:
        return await run_module(ctx, fqcn, args)
    except ModuleFailure as failure:
        return dict(failure.result)


__all__ = ["available", "generic_module", "run_ansible_module"]
