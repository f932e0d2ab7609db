"""What resolution is given: the configured search paths and the names declared present.

A frozen value built outside the compiler (the CLI reads ``ansible.cfg`` and the
``ANSIBLE_*`` variables through the runtime's configuration model) so that the
compiler itself never reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolveSettings:
    """Where roles, modules and plugins are looked for, as ansible-core's configuration says.

    Every path is absolute or relative to the working directory (the configuration
    model resolves a file's relative paths against the file's folder, as ansible-core).
    """

    roles_path: tuple[str, ...] = ()
    """``roles_path`` / ``ANSIBLE_ROLES_PATH`` (after the playbook's own ``roles/``)."""
    library: tuple[str, ...] = ()
    """``library`` / ``ANSIBLE_LIBRARY``: folders of modules reachable by short name."""
    module_utils: tuple[str, ...] = ()
    action_plugins: tuple[str, ...] = ()
    """``action_plugins`` / ``ANSIBLE_ACTION_PLUGINS``: an action plugin there is an action."""
    strategy_plugins: tuple[str, ...] = ()
    collections_paths: tuple[str, ...] | None = None
    """Roots holding ``ansible_collections/<ns>/<name>`` (or ``ansible_collections``
    folders themselves), in search order.  ``None``: nothing was probed, so a
    collection's presence is not judged (only the packaged catalog is used)."""
    mock_roles: tuple[str, ...] = ()
    """Role names accepted without being found (``.playgraph.yml``'s ``mock_roles``)."""
    mock_modules: tuple[str, ...] = ()
    """Module names (short or FQCN, or ``ns.coll`` for a whole collection) accepted as
    existing, arguments unchecked (``.playgraph.yml``'s ``mock_modules``)."""
    config_file: str | None = None
    """The configuration file the paths came from, for messages."""
