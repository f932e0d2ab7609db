"""A module name to the file ansible-core would run, with ansible-core's own plugin loader.

Everything here imports ``ansible`` and so is only imported when a task uses a
module playgraph has no native implementation of.  Calls are synchronous and
serialized by `LOCK` (ansible-core's loaders are process-global, not
thread-safe); callers run them in a worker thread.

Where modules are looked for is where ``ansible-playbook`` looks: the
collection paths of ansible-core's configuration (``ANSIBLE_COLLECTIONS_PATH``,
``collections_path`` in ``ansible.cfg``, ``~/.ansible/collections``, then the
``ansible_collections`` of ``sys.path``, the ``ansible`` package's included),
``collections/`` next to the playbook, ``library`` (``ANSIBLE_LIBRARY``,
``ansible.cfg``) and ``library/`` next to the playbook.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from typing import Any

from ..modules.base import ModuleFailure

LOCK = threading.RLock()
"""Held around every use of ansible-core's loaders and builder."""

_ACTION_PLUGINS_OK: dict[str, str] = {
    # Builtin action plugins whose controller side adds nothing to running the
    # module for the arguments given (value: the argument that would need it).
    "ansible.builtin.command": "",
    "ansible.builtin.normal": "",
    "ansible.builtin.uri": "src",
}

_NOT_FOUND = (
    "couldn't resolve module/action '{name}'. This often indicates a misspelling, "
    "missing collection, or incorrect module path."
)

_state: dict[str, Any] = {}
_playbook_dirs: set[str] = set()
_role_dirs: set[str] = set()


@dataclass(frozen=True, slots=True)
class Resolved:
    """A module as ansible-core resolved it."""

    name: str
    """The name the task used."""
    fqcn: str
    """The resolved FQCN (``community.general.ini_file`` for ``ini_file``)."""
    path: str
    """The module's file on the controller."""


def _silence_display() -> None:
    """ansible-core's Display would print loader warnings on playgraph's terminal: the
    failures that matter here become host results instead."""
    from ansible.utils.display import Display

    display = Display()

    def _quiet(msg: str, *args: Any, **kwargs: Any) -> None:
        _state.setdefault("messages", []).append(msg)

    display.display = _quiet


def init(playbook_dir: str, role_dir: str | None = None) -> None:
    """Initialize ansible-core's plugin loader once, and add ``playbook_dir``'s plugin folders
    (and ``role_dir``'s: ansible-core adds a role's ``library/`` when it loads the role)."""
    with LOCK:
        if not _state.get("ready"):
            from ansible.plugins.loader import init_plugin_loader

            _silence_display()
            init_plugin_loader([])
            _state["ready"] = True
        where = os.path.abspath(playbook_dir)
        if where not in _playbook_dirs:
            from ansible.plugins.loader import add_all_plugin_dirs
            from ansible.utils.collection_loader import AnsibleCollectionConfig

            _playbook_dirs.add(where)
            AnsibleCollectionConfig.playbook_paths = sorted(_playbook_dirs)
            add_all_plugin_dirs(where)
        if role_dir is not None and os.path.abspath(role_dir) not in _role_dirs:
            from ansible.plugins.loader import add_all_plugin_dirs

            _role_dirs.add(os.path.abspath(role_dir))
            add_all_plugin_dirs(os.path.abspath(role_dir))


def _collection_installed(collection: str) -> bool:
    try:
        return importlib.util.find_spec(f"ansible_collections.{collection}") is not None
    except (ImportError, ValueError):
        return False


def not_found(name: str) -> ModuleFailure:
    """ansible-core's message for an unknown module, and how to install its collection."""
    message = _NOT_FOUND.format(name=name)
    parts = name.split(".")
    if len(parts) >= 3 and parts[0] != "ansible":
        collection = ".".join(parts[:2])
        if not _collection_installed(collection):
            message += (
                f" The collection '{collection}' is not installed where ansible-core looks"
                f" for collections: install it with `ansible-galaxy collection install"
                f" {collection}`."
            )
    return ModuleFailure(message, changed=False)


def resolve(name: str, playbook_dir: str, role_dir: str | None = None) -> Resolved:
    """The module ``name`` stands for; `ModuleFailure` when there is none."""
    init(playbook_dir, role_dir)
    with LOCK:
        from ansible.errors import AnsibleError
        from ansible.plugins.loader import module_loader

        try:
            found = module_loader.find_plugin_with_context(name, collection_list=None)
        except AnsibleError as error:  # a removed (tombstoned) module, a bad redirect
            raise ModuleFailure(str(error).splitlines()[0], changed=False) from None
        if not found.resolved or not found.plugin_resolved_path:
            raise not_found(name)
        fqcn = found.resolved_fqcn or name
        path = found.plugin_resolved_path
        if path.endswith((".ps1", ".psm1", ".cs")):
            raise ModuleFailure(
                f"the module '{fqcn}' ({path}) is a PowerShell module, for Windows targets:"
                " playgraph runs modules on POSIX targets only",
                changed=False,
            )
        return Resolved(name=name, fqcn=fqcn, path=path)


def action_plugin(resolved: Resolved, args: dict[str, Any] | None = None) -> str | None:
    """The controller-side action plugin ansible-core would use for this module and
    playgraph does not implement, as ``name (path)``; None when running the module suffices."""
    with LOCK:
        from ansible.plugins.loader import action_loader, module_loader

        module = module_loader.find_plugin_with_context(resolved.name, collection_list=None)
        handler = getattr(module, "action_plugin", None) or resolved.fqcn
        found = action_loader.find_plugin_with_context(handler, collection_list=None)
        if not found.resolved and handler != resolved.name:
            found = action_loader.find_plugin_with_context(resolved.name, collection_list=None)
        if not found.resolved:
            return None
        plugin = found.resolved_fqcn or handler
        if plugin.startswith("ansible.legacy."):
            plugin = "ansible.builtin." + plugin.removeprefix("ansible.legacy.")
        needs = _ACTION_PLUGINS_OK.get(plugin)
        if needs is not None and not (needs and args and args.get(needs) is not None):
            return None
        return f"{plugin} ({found.plugin_resolved_path})"
