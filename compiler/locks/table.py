"""The lock model: built-in knowledge plus the user's declarations, and the locks a
task holds."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType

from playgraph.grammar.shell import simple_commands

from playgraph.semantics import PlaygraphError, is_template

from ..catalog import BUILTIN, Catalog, ModuleInfo, default_catalog
from .commands import analyse_commands
from .modules import COMMAND_MODULES, DEFAULT_MODULE_LOCKS, PACKAGE, READ_ONLY_FORMS
from .wrappers import unwrap


class LockConfigError(PlaygraphError, ValueError):
    """A user lock declaration that cannot be used (empty name, bad pattern)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandRule:
    """A user rule: command lines matching ``pattern`` hold ``lock``.

    The pattern is searched (``re.search``) in the task's whole command line and
    in each simple command of it with wrappers removed, so
    ``^/opt/app/bin/migrate`` matches ``sudo -u app /opt/app/bin/migrate up``
    and ``cd /opt/app && /opt/app/bin/migrate``.
    """

    lock: str
    pattern: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LockTable:
    """Which locks modules and command lines hold.  Build with
    :func:`default_lock_table` and add site rules with :meth:`extend`."""

    modules: Mapping[str, frozenset[str]]
    """Built-in knowledge: module FQCN → locks (before argument refinement)."""
    package_backends: Mapping[str, frozenset[str]]
    """Short names ``package`` may run (``use:``) → their locks."""
    user_modules: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    """User declarations: module FQCN or short name → locks."""
    command_rules: tuple[CommandRule, ...] = ()

    @property
    def package_locks(self) -> frozenset[str]:
        """What ``package`` holds when the backend is not fixed by ``use``."""
        return frozenset().union(*self.package_backends.values())

    def extend(self, user_locks: Mapping[str, Sequence[str]]) -> LockTable:
        """A table that also knows the user's locks.

        ``user_locks`` maps a lock name to module names (FQCN or short) and
        ``command:<regex>`` patterns, for example
        ``{"db-migrations": ["community.mysql.mysql_db", "command:^/opt/app/bin/migrate"]}``.
        Raises :class:`LockConfigError` for an empty lock name or entry, or a
        pattern that does not compile.
        """
        user_modules = {name: set(locks) for name, locks in self.user_modules.items()}
        rules = list(self.command_rules)
        for lock, entries in sorted(user_locks.items()):
            if not isinstance(lock, str) or not lock.strip():
                raise LockConfigError(f"lock name must be a non-empty string, got {lock!r}")
            if isinstance(entries, str):
                raise LockConfigError(f"lock {lock!r}: expected a list of entries, got a string")
            for entry in entries:
                if not isinstance(entry, str) or not entry.strip():
                    raise LockConfigError(f"lock {lock!r}: empty or non-string entry {entry!r}")
                if entry.startswith("command:"):
                    pattern = entry.removeprefix("command:")
                    try:
                        re.compile(pattern)
                    except re.error as error:
                        raise LockConfigError(
                            f"lock {lock!r}: bad pattern {pattern!r}: {error}"
                        ) from None
                    rules.append(CommandRule(lock=lock, pattern=pattern))
                else:
                    name = entry.strip()
                    if name.startswith("ansible.legacy."):
                        name = BUILTIN + name.removeprefix("ansible.legacy")
                    user_modules.setdefault(name, set()).add(lock)
        return LockTable(
            modules=self.modules,
            package_backends=self.package_backends,
            user_modules=MappingProxyType(
                {name: frozenset(locks) for name, locks in sorted(user_modules.items())}
            ),
            command_rules=tuple(rules),
        )


def build_lock_table(catalog: Catalog) -> LockTable:
    """The built-in table, with ``package`` backends resolved through ``catalog``."""
    backends: dict[str, frozenset[str]] = {}
    for short in catalog.package_backends:
        info = catalog.resolve(short)
        if info is not None:
            backends[short] = DEFAULT_MODULE_LOCKS.get(info.fqcn, frozenset())
    return LockTable(
        modules=DEFAULT_MODULE_LOCKS,
        package_backends=MappingProxyType(backends),
    )


@cache
def default_lock_table() -> LockTable:
    """The built-in table over the packaged catalog (built once)."""
    return build_lock_table(default_catalog())


def locks_for_task(
    table: LockTable, module: ModuleInfo, args: Mapping[str, object]
) -> frozenset[str]:
    """The locks a task running ``module`` with ``args`` holds.

    ``args`` are the task's module arguments as written (``_raw_params`` for
    free-form text); values still containing ``{{ }}`` are treated as opaque.
    """
    locks: set[str] = set()
    if module.fqcn == PACKAGE:
        locks |= _package_locks(table, args)
    else:
        read_only = READ_ONLY_FORMS.get(module.fqcn)
        if read_only is None or not read_only(args):
            locks |= table.modules.get(module.fqcn, frozenset())
    locks |= table.user_modules.get(module.fqcn, frozenset())
    locks |= table.user_modules.get(module.short, frozenset())

    command = COMMAND_MODULES.get(module.fqcn)
    if command is not None:
        for key in command.keys:
            value = args.get(key)
            if isinstance(value, str) and value.strip():
                locks |= _command_line_locks(
                    table, value, shell=command.shell, windows=command.windows
                )
                break
            if isinstance(value, list | tuple) and value:
                words = [str(v) for v in value]
                locks |= analyse_commands([words], depth=0)
                locks |= _rule_locks(table, " ".join(words), [words])
                break
    return frozenset(locks)


def _package_locks(table: LockTable, args: Mapping[str, object]) -> frozenset[str]:
    use = args.get("use")
    if isinstance(use, str) and use != "auto" and not is_template(use, comments=False):
        short = use.rsplit(".", 1)[-1]
        if short in table.package_backends:
            return table.package_backends[short]
    return table.package_locks


def _command_line_locks(table: LockTable, cmdline: str, *, shell: bool, windows: bool) -> set[str]:
    commands = simple_commands(cmdline, shell=shell, windows=windows)
    return analyse_commands(commands, depth=0, windows=windows) | _rule_locks(
        table, cmdline, commands
    )


def _rule_locks(table: LockTable, cmdline: str, commands: list[list[str]]) -> set[str]:
    if not table.command_rules:
        return set()
    texts = [cmdline]
    for words in commands:
        unwrapped = unwrap(words)
        if unwrapped.words:
            texts.append(" ".join(unwrapped.words))
        for nested in unwrapped.scripts:
            texts.append(nested)
            texts.extend(" ".join(unwrap(w).words) for w in simple_commands(nested, shell=True))
    return {
        rule.lock
        for rule in table.command_rules
        if any(re.search(rule.pattern, text) for text in texts)
    }
