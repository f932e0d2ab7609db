"""Installed content on the controller: collections, library folders, plugin folders.

Each folder is looked at only when a name needs it, and every look goes through
`Probe`, which records it (the CLI's cache tells from those records whether a
compiled result still holds after something was installed or removed).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..argspec import ArgSpec, fragment_options, read_code_spec, read_module_spec

__all__ = ["Collection", "Probe", "Route"]

# Files in a module folder that are not modules (ansible-core takes any other file,
# whatever its extension: `.pl`, `.sh`, `.ps1`, none).
_NOT_MODULES = (".pyc", ".pyo", ".md", ".txt", ".rst", ".orig", ".swp")


class Probe:
    """File-system looks, recorded into ``inputs`` (same encoding as the compiler's sources)."""

    def __init__(self, inputs: dict[str, str]) -> None:
        self.inputs = inputs
        self._lists: dict[str, tuple[str, ...] | None] = {}
        self._texts: dict[str, str | None] = {}
        self.read_paths: set[str] = set()
        """Files read (not only probed): their content is an input of what they resolve."""

    def is_dir(self, path: str) -> bool:
        found = os.path.isdir(path)
        self.inputs.setdefault(path + os.sep, "dir" if found else "absent")
        return found

    def is_file(self, path: str) -> bool:
        found = os.path.isfile(path)
        self.inputs.setdefault(path, "file" if found else "absent")
        return found

    def listdir(self, path: str) -> tuple[str, ...]:
        """Names in ``path`` (empty when it is absent), listed once."""
        if path not in self._lists:
            try:
                names: tuple[str, ...] | None = tuple(sorted(os.listdir(path)))
            except OSError:
                names = None
            self._lists[path] = names
            self.inputs[path + os.sep] = "absent" if names is None else "list:" + "\0".join(names)
        return self._lists[path] or ()

    def read(self, path: str) -> str | None:
        self.read_paths.add(path)
        if path not in self._texts:
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
            except OSError:
                self._texts[path] = None
                self.inputs[path] = "absent"
                return None
            self.inputs[path] = "sha256:" + hashlib.sha256(data).hexdigest()
            self._texts[path] = data.decode("utf-8", "replace")
        return self._texts[path]

    def yaml(self, path: str) -> Any:
        text = self.read(path)
        if text is None:
            return None
        try:
            return yaml.load(text, Loader=_Loader)
        except yaml.YAMLError:
            return None


try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


def module_names(probe: Probe, folder: str) -> frozenset[str]:
    """Module names in a library folder (``foo.py`` → ``foo``; hidden and ``__init__`` skipped)."""
    names = set()
    for entry in probe.listdir(folder):
        stem, suffix = os.path.splitext(entry)
        if entry.startswith((".", "_")) or suffix in _NOT_MODULES:
            continue
        names.add(stem)
    return frozenset(names)


def module_spec(probe: Probe, folder: str, name: str, fragments: Any = None) -> ArgSpec | None:
    """The spec of ``folder/name.py``: its ``AnsibleModule`` call's when written out, else
    (for a collection's module, whose docs its sanity tests keep true, ``fragments``
    given) its documentation's."""
    text = probe.read(os.path.join(folder, name + ".py"))
    if text is None:
        return None
    spec = read_code_spec(text)
    if spec is None and fragments is not None:
        spec = read_module_spec(text, fragments)
    return spec


@dataclass(frozen=True, slots=True)
class Route:
    """One ``plugin_routing`` entry of a collection's ``meta/runtime.yml``."""

    redirect: str | None
    removed: bool
    deprecated: bool
    message: str | None


@dataclass(slots=True)
class Collection:
    """One installed collection, read as needed."""

    name: str
    path: str
    probe: Probe
    _routing: Mapping[str, Mapping[str, Route]] | None = field(default=None, repr=False)

    def folder(self, *parts: str) -> str:
        return os.path.join(self.path, *parts)

    def modules(self) -> frozenset[str]:
        return module_names(self.probe, self.folder("plugins", "modules"))

    def actions(self) -> frozenset[str]:
        return module_names(self.probe, self.folder("plugins", "action"))

    def strategies(self) -> frozenset[str]:
        return module_names(self.probe, self.folder("plugins", "strategy"))

    def role(self, name: str) -> str | None:
        path = self.folder("roles", name)
        return path if self.probe.is_dir(path) else None

    def route(self, kind: str, name: str) -> Route | None:
        return self.routing().get(kind, {}).get(name)

    def routing(self) -> Mapping[str, Mapping[str, Route]]:
        if self._routing is None:
            data = self.probe.yaml(self.folder("meta", "runtime.yml"))
            table: dict[str, dict[str, Route]] = {}
            plugins = data.get("plugin_routing") if isinstance(data, Mapping) else None
            for kind, entries in (plugins or {}).items() if isinstance(plugins, Mapping) else ():
                if not isinstance(entries, Mapping):
                    continue
                for name, spec in entries.items():
                    if not isinstance(spec, Mapping):
                        continue
                    tombstone = spec.get("tombstone")
                    deprecation = spec.get("deprecation")
                    message = None
                    for part in (tombstone, deprecation):
                        if isinstance(part, Mapping) and part.get("warning_text"):
                            message = str(part["warning_text"])
                    redirect = spec.get("redirect")
                    table.setdefault(str(kind), {})[str(name)] = Route(
                        redirect=str(redirect) if isinstance(redirect, str) else None,
                        removed=tombstone is not None,
                        deprecated=deprecation is not None,
                        message=message,
                    )
            self._routing = table
        return self._routing

    def module_spec(self, name: str) -> ArgSpec | None:
        return module_spec(self.probe, self.folder("plugins", "modules"), name, self.fragment)

    def fragment(self, name: str) -> Mapping[str, Any] | None:
        parts = name.split(".")
        if len(parts) >= 3:
            if ".".join(parts[:2]) != self.name:
                return None  # another collection's fragment: not looked up
            parts = parts[2:]
        elif len(parts) == 2 and parts[1].islower():
            return None
        text = self.probe.read(self.folder("plugins", "doc_fragments", parts[0] + ".py"))
        if text is None:
            return None
        variable = parts[1].upper() if len(parts) > 1 else "DOCUMENTATION"
        return fragment_options(text, variable)
