"""``requirements.yml``: the roles and collections a project declares it needs.

ansible-galaxy reads ``requirements.yml`` (``roles:`` and ``collections:``, or a bare
list of roles), and by convention ``roles/requirements.yml`` and
``collections/requirements.yml``.  A missing thing that is declared there is a step the
user has not run yet (a warning), not a mistake in the playbook (an error).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .installed import Probe

FILES = (
    "requirements.yml",
    "requirements.yaml",
    os.path.join("roles", "requirements.yml"),
    os.path.join("roles", "requirements.yaml"),
    os.path.join("collections", "requirements.yml"),
    os.path.join("collections", "requirements.yaml"),
)

# How far above the playbook's folder a requirements file is still the project's.
_MAX_LEVELS = 3


@dataclass(frozen=True, slots=True)
class Requirements:
    """Names declared, with the file that declares them."""

    roles: Mapping[str, str]
    collections: Mapping[str, str]


def read_requirements(probe: Probe, folder: str) -> Requirements:
    """The requirements files in ``folder`` and up to three folders above it."""
    roles: dict[str, str] = {}
    collections: dict[str, str] = {}
    current = os.path.abspath(folder)
    for _ in range(_MAX_LEVELS + 1):
        for name in FILES:
            path = os.path.join(current, name)
            if not probe.is_file(path):
                continue
            shown = os.path.relpath(path) if not os.path.isabs(folder) else path
            data = probe.yaml(path)
            role_items: Iterable[Any] = ()
            collection_items: Iterable[Any] = ()
            if isinstance(data, list):
                role_items = data
            elif isinstance(data, Mapping):
                role_items = data.get("roles") or ()
                collection_items = data.get("collections") or ()
            for item in role_items if isinstance(role_items, list) else ():
                for role in _role_names(item):
                    roles.setdefault(role, shown)
            for item in collection_items if isinstance(collection_items, list) else ():
                name_value = item.get("name") if isinstance(item, Mapping) else item
                if isinstance(name_value, str):
                    collections.setdefault(name_value.strip(), shown)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return Requirements(roles=roles, collections=collections)


def _role_names(item: Any) -> list[str]:
    """The names a role requirement may be used under (``name``, else from ``src``)."""
    if isinstance(item, str):
        return [item.strip()]
    if not isinstance(item, Mapping):
        return []
    names: list[str] = []
    for key in ("name", "src", "role"):
        value = item.get(key)
        if isinstance(value, str) and value.strip():
            value = value.strip().rstrip("/")
            if key == "src" and ("/" in value or value.endswith(".git")):
                value = value.rsplit("/", 1)[-1].removesuffix(".git").split(",", 1)[0]
            names.append(value)
    return names
