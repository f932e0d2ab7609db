"""Argument specs: ansible-core's argument validation, on the controller.

Validation is pure (no target access), so a task with bad arguments fails
before anything is sent to the host, with ansible-core's messages:
``Unsupported parameters for (file) module: bogus. Supported parameters
include: ...``, ``missing required arguments: path``, ``value of state must be
one of: ...``, ``parameters are mutually exclusive: a|b`` and the type
conversion errors.  Values of type ``path`` are *not* expanded here: ``~`` and
``$VARS`` belong to the target (the target programs expand them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from playgraph.semantics import boolean

from .base import ModuleFailure

_VALID_BOOLS = "0, 'on', 1, 't', 'n', '0', 'false', 'no', 'off', 'y', 'f', 'true', '1', 'yes'"
"""ansible-core prints a set here (its order varies run to run); this is one of its orders."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    """One parameter: its type (``str bool int float path list dict raw``) and constraints."""

    type: str = "str"
    default: Any = None
    required: bool = False
    choices: tuple[Any, ...] | None = None
    aliases: tuple[str, ...] = ()
    elements: str | None = None
    """Element type of a ``list``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec:
    """A module's argument spec; `validate` turns raw task args into checked params."""

    module: str
    """The name shown in messages (``file``, ``ansible.legacy.command``)."""
    params: Mapping[str, Param]
    mutually_exclusive: tuple[tuple[str, ...], ...] = ()
    required_one_of: tuple[tuple[str, ...], ...] = ()

    def validate(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """Aliases, unknown names, exclusivity, required, types, choices — in ansible's order.

        Raises `ModuleFailure` with ansible-core's message for the first problem.
        """
        alias_of = {alias: name for name, p in self.params.items() for alias in p.aliases}
        values: dict[str, Any] = {}
        unknown: list[str] = []
        for key, value in args.items():
            name = alias_of.get(key, key)
            if name in self.params:
                values[name] = value
            elif key.startswith("_ansible_"):
                continue
            else:
                unknown.append(key)
        if unknown:
            listed = sorted(self.params)
            aliases = sorted(alias_of)
            tail = f" ({', '.join(aliases)})" if aliases else ""
            raise failure(
                f"Unsupported parameters for ({self.module}) module: {', '.join(sorted(unknown))}."
                f" Supported parameters include: {', '.join(listed)}{tail}."
            )
        for group in self.mutually_exclusive:
            present = [n for n in group if values.get(n) is not None]
            if len(present) > 1:
                raise failure(f"parameters are mutually exclusive: {'|'.join(group)}")
        missing = [n for n, p in self.params.items() if p.required and values.get(n) is None]
        if missing:
            raise failure(f"missing required arguments: {', '.join(sorted(missing))}")
        out: dict[str, Any] = {}
        for name, p in self.params.items():
            value = values.get(name)
            if value is None:
                out[name] = p.default
                continue
            value = convert(name, value, p.type, p.elements)
            if p.choices is not None:
                items = value if isinstance(value, list) else [value]
                bad = [v for v in items if v not in p.choices]
                if bad:
                    shown = ", ".join(str(c) for c in p.choices)
                    got = ", ".join(str(v) for v in bad)
                    raise failure(f"value of {name} must be one of: {shown}, got: {got}")
            out[name] = value
        for group in self.required_one_of:
            # ansible counts the parameters given, not their defaults
            if all(values.get(n) is None for n in group):
                raise failure(f"one of the following is required: {', '.join(group)}")
        return out


def failure(msg: str, **result: Any) -> ModuleFailure:
    """A `ModuleFailure` shaped like ansible's argument errors (``changed: false`` included)."""
    return ModuleFailure(msg, **{"changed": False, **result})


def _type_name(value: Any) -> str:
    return type(value).__name__


def to_bool(name: str, value: Any) -> bool:
    """ansible's boolean conversion (``yes``/``no``/``on``/``1``...)."""
    converted = boolean(value)
    if converted is not None:
        return converted
    raise failure(
        f"argument '{name}' is of type {_type_name(value)} and we were unable to convert to bool:"
        f" The value {value!r} is not a valid boolean. Valid booleans include: {_VALID_BOOLS}"
    )


def convert(name: str, value: Any, kind: str, elements: str | None = None) -> Any:
    """Convert one value as ansible-core's type checkers do; `ModuleFailure` when impossible."""
    if kind == "raw":
        return value
    if kind == "bool":
        return to_bool(name, value)
    if kind in ("str", "path"):
        if isinstance(value, str):
            return value
        if isinstance(value, bool | int | float):
            # ansible converts scalars to text (with a warning we do not repeat).
            return str(value)
        raise failure(
            f"argument '{name}' is of type {_type_name(value)} and we were unable to convert"
            f" to str: '{_type_name(value)}' object cannot be converted to a string"
        )
    if kind == "int":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise failure(
            f"argument '{name}' is of type {_type_name(value)} and we were unable to convert"
            f' to int: "{value!r}" cannot be converted to an int'
        )
    if kind == "float":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise failure(
                f"argument '{name}' is of type {_type_name(value)} and we were unable to convert"
                f' to float: "{value!r}" cannot be converted to a float'
            ) from None
    if kind == "list":
        if isinstance(value, str):
            items: list[Any] = [v.strip() for v in value.split(",")] if value else []
        elif isinstance(value, Sequence):
            items = list(value)
        elif isinstance(value, int | float):
            items = [str(value)]
        else:
            raise failure(
                f"argument '{name}' is of type {_type_name(value)} and we were unable to convert"
                f" to list: {_type_name(value)} cannot be converted to a list"
            )
        if elements is not None:
            items = [convert(name, item, elements) for item in items]
        return items
    if kind == "dict":
        if isinstance(value, Mapping):
            return dict(value)
        raise failure(
            f"argument '{name}' is of type {_type_name(value)} and we were unable to convert"
            f" to dict: dictionary requested, could not parse JSON or key=value"
        )
    raise ValueError(f"unknown parameter type {kind!r}")  # a bug in a spec, not user input


FILE_COMMON: Mapping[str, Param] = {
    "mode": Param(type="raw"),
    "owner": Param(),
    "group": Param(),
    "seuser": Param(),
    "serole": Param(),
    "selevel": Param(),
    "setype": Param(),
    "attributes": Param(aliases=("attr",)),
    "unsafe_writes": Param(type="bool", default=False),
}
"""ansible's ``add_file_common_args`` (SELinux and attributes accepted, not applied)."""
