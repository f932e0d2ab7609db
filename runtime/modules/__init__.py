"""The module registry: short names, ``ansible.builtin.*`` and ``ansible.legacy.*``.

``get_module("copy")``, ``get_module("ansible.builtin.copy")`` and
``get_module("ansible.legacy.copy")`` give the same module; anything else
(another collection, an unknown name) gives None.
"""

from __future__ import annotations

from functools import cache

from playgraph.semantics import builtin_name

from .base import Module, ModuleFailure, TaskContext
from .command import CommandModule, RawModule, ScriptModule, ShellModule
from .files import FileModule, LineinfileModule, StatModule
from .packages import AptModule, DnfModule, PackageModule, YumModule
from .ping import PingModule
from .transfer import CopyModule, TemplateModule
from .waiting import WaitForModule

_MODULES: tuple[Module, ...] = (
    CommandModule(),
    ShellModule(),
    RawModule(),
    ScriptModule(),
    PingModule(),
    StatModule(),
    FileModule(),
    LineinfileModule(),
    CopyModule(),
    TemplateModule(),
    WaitForModule(),
    AptModule(),
    DnfModule(),
    YumModule(),
    PackageModule(),
)


@cache
def _by_name() -> dict[str, Module]:
    table: dict[str, Module] = {}
    for module in _MODULES:
        for name in module.names:
            table[name] = module
    return table


def get_module(name: str) -> Module | None:
    """The module for a short name or its ``ansible.builtin``/``ansible.legacy`` FQCN."""
    short = builtin_name(name)
    return None if short is None else _by_name().get(short)


def module_names() -> tuple[str, ...]:
    """Every short name the registry knows, sorted."""
    return tuple(sorted(_by_name()))


__all__ = ["Module", "ModuleFailure", "TaskContext", "get_module", "module_names"]
