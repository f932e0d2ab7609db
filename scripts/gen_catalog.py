#!/usr/bin/env python3
"""Generate ``compiler/data/modules.json`` and ``compiler/data/keywords.json``.

Run with the Python of a virtualenv that has ansible-core and the ``ansible``
collection bundle installed (the project's dev setup keeps one at
``/tmp/ansvenv``)::

    /tmp/ansvenv/bin/python scripts/gen_catalog.py

ansible is used here only as a *data source*: the product (``playgraph``) never
imports it.  The generator:

* lists the modules of ``ansible.builtin`` and of the collections in
  ``CATALOGED`` with ``ansible-doc -l -j`` and reads their documentation with
  ``ansible-doc -j`` (many names per call: one call per module would take
  minutes);
* decides async support, free-form arguments and the entry kind from ansible's
  action plugins, read as *text* (never imported or executed: collection action
  plugins import optional third-party libraries);
* reads the plugin routing tables (``ansible_builtin_runtime.yml`` and each
  collection's ``meta/runtime.yml``) for redirects, deprecations and tombstones;
* takes the playbook keywords from ansible-core's playbook classes
  (``FieldAttribute``\\ s), which requires importing ``ansible.playbook``.

Output is deterministic: sorted keys, sorted lists, ``indent=1``, a trailing
newline, no timestamps, so regenerating on the same installation gives the same
bytes.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# The collections whose modules are catalogued in full (options, async support,
# kind).  ``community.general`` and ``ansible.posix`` because they are the most
# used after ``ansible.builtin``; the others because they hold the package
# managers and system modules the lock analysis cares about (Windows packages,
# Chocolatey, containers) or are very common in playbooks.  Every other
# installed collection is still *known* (its name is recorded) so that an FQCN
# in it is not reported as a typo.
CATALOGED: tuple[str, ...] = (
    "ansible.builtin",
    "ansible.posix",
    "ansible.windows",
    "amazon.aws",
    "chocolatey.chocolatey",
    "community.crypto",
    "community.docker",
    "community.general",
    "community.mysql",
    "community.postgresql",
    "community.windows",
    "containers.podman",
    "kubernetes.core",
)

# Routing entries that point into ansible-core's own test fixtures.
_TEST_NAMESPACE = "testns."

# Documentation pseudo-options: ansible's docs describe free-form arguments
# under these names, but no parameter of that name exists (the value arrives as
# ``_raw_params``), so they are not real option names.
_PSEUDO_OPTIONS = frozenset({"free_form", "free-form"})

# Signs that an action plugin reaches the target host (runs a module or a
# command, moves files, talks to the connection) or hands the task to another
# action plugin.  An action plugin without any of them runs on the controller
# only, which is what the ``action`` kind means.
_TARGET_MARKERS = (
    "_execute_module(",
    "_low_level_execute_command(",
    "_execute_remote_stat(",
    "_transfer_file(",
    "_transfer_data(",
    "_connection.",
    "action_loader.get(",
)

_SUPPORTS_ASYNC_RE = re.compile(r"\b_supports_async\s*=\s*(True|False)\b")
_SUPPORTS_RAW_RE = re.compile(r"\bsupports_raw_params\s*=\s*(True|False)\b")
_SUPER_RUN_RE = re.compile(r"super\([^)]*\)\.run\(")
_DELEGATE_RE = re.compile(r"action_loader\.get\(\s*['\"]([\w.]+)['\"]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "compiler" / "data",
        help="output directory (default: compiler/data next to this script)",
    )
    parser.add_argument(
        "--ansible-doc",
        default=str(Path(sys.executable).with_name("ansible-doc")),
        help="ansible-doc executable of the same installation",
    )
    args = parser.parse_args(argv)

    import ansible
    import ansible_collections

    env = _Env(
        core=Path(ansible.__file__).parent,
        collections_root=Path(next(iter(ansible_collections.__path__))),
        ansible_doc=args.ansible_doc,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    _write_json(args.out / "modules.json", build_modules(env))
    _write_json(args.out / "keywords.json", build_keywords(env))
    return 0


def _write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Env:
    core: Path  # .../site-packages/ansible
    collections_root: Path  # .../site-packages/ansible_collections
    ansible_doc: str

    def collection_dir(self, collection: str) -> Path:
        namespace, name = collection.split(".")
        return self.collections_root / namespace / name

    def action_dir(self, collection: str) -> Path:
        if collection == "ansible.builtin":
            return self.core / "plugins" / "action"
        return self.collection_dir(collection) / "plugins" / "action"


# --------------------------------------------------------------------------- modules


def build_modules(env: _Env) -> dict[str, Any]:
    from ansible import constants as C
    from ansible.module_utils.facts.system.pkg_mgr import PKG_MGRS
    from ansible.parsing.mod_args import RAW_PARAM_MODULES
    from ansible.release import __version__ as core_version

    installed = _installed_collections(env)
    routing = _routing(env, installed)
    actions = _ActionPlugins(env, routing)

    include_names = set(C._ACTION_ALL_INCLUDES)
    import_names = (
        set(C._ACTION_IMPORT_TASKS) | set(C._ACTION_IMPORT_ROLE) | set(C._ACTION_IMPORT_PLAYBOOK)
    )
    meta_names = set(C._ACTION_META)

    entries: list[dict[str, Any]] = []
    for collection in CATALOGED:
        names = _list_modules(env, collection)
        docs = _read_docs(env, names)
        for fqcn in names:
            doc = docs.get(fqcn)
            if doc is None:
                raise SystemExit(f"ansible-doc returned no documentation for {fqcn}")
            entries.append(
                _entry(
                    fqcn=fqcn,
                    doc=doc,
                    routing=routing,
                    actions=actions,
                    raw_param_modules=RAW_PARAM_MODULES,
                    include_names=include_names,
                    import_names=import_names,
                    meta_names=meta_names,
                )
            )
    entries.sort(key=lambda e: e["fqcn"])
    documented = {e["fqcn"] for e in entries}

    # Routing entries for names that have no documentation of their own (the
    # documented ones carry their routing in the entry).  Action routing of
    # ansible.builtin is kept only where it names a task action: a tombstone
    # (``include``) or a redirect to a catalogued entry (``yum`` → ``dnf``);
    # the rest are network platform action plugins, not task names.
    route_table: dict[str, dict[str, Any]] = {}
    for fqcn, route in sorted(routing.modules.items()):
        if fqcn not in documented:
            route_table[fqcn] = route
    for fqcn, route in sorted(routing.actions.items()):
        if fqcn in documented or fqcn in route_table:
            continue
        target = route.get("redirect")
        if route.get("removed") or (target is not None and target in documented):
            route_table[fqcn] = route

    known = set(installed) | {"ansible.builtin"}
    for route in route_table.values():
        target = route.get("redirect")
        if target and not target.startswith(_TEST_NAMESPACE):
            known.add(".".join(target.split(".")[:2]))
    collections = {
        name: {
            "cataloged": name in CATALOGED,
            "installed": name in installed or name == "ansible.builtin",
            "version": core_version if name == "ansible.builtin" else installed.get(name),
        }
        for name in sorted(known)
    }

    # The backends the generic ``package`` action may pick, as short names
    # (ansible's package action runs ``ansible.legacy.<name>``).  The list is
    # the fact collector's PKG_MGRS plus OpenBSD's, which has its own collector.
    backends = sorted({str(m["name"]) for m in PKG_MGRS} | {"openbsd_pkg"})

    return {
        "ansible_core_version": core_version,
        "collections": collections,
        "modules": entries,
        "package_backends": backends,
        "routing": route_table,
    }


def _installed_collections(env: _Env) -> dict[str, str]:
    found: dict[str, str] = {}
    for manifest in sorted(env.collections_root.glob("*/*/MANIFEST.json")):
        info = json.loads(manifest.read_text(encoding="utf-8"))["collection_info"]
        found[f"{info['namespace']}.{info['name']}"] = str(info["version"])
    return found


def _list_modules(env: _Env, collection: str) -> list[str]:
    out = _run([env.ansible_doc, "-t", "module", "-l", "-j", collection])
    names = sorted(json.loads(out))
    if not names:
        raise SystemExit(f"ansible-doc lists no modules for {collection}")
    return names


def _read_docs(env: _Env, names: list[str]) -> dict[str, dict[str, Any]]:
    chunks = [names[i : i + 120] for i in range(0, len(names), 120)]

    def one(chunk: list[str]) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(_run([env.ansible_doc, "-t", "module", "-j", *chunk]))
        return result

    docs: dict[str, dict[str, Any]] = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        for part in pool.map(one, chunks):
            for name, value in part.items():
                docs[name] = value["doc"]
    return docs


def _run(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:6])} … failed:\n{proc.stderr}")
    return proc.stdout


def _entry(
    *,
    fqcn: str,
    doc: Mapping[str, Any],
    routing: _Routing,
    actions: _ActionPlugins,
    raw_param_modules: Iterable[str],
    include_names: set[str],
    import_names: set[str],
    meta_names: set[str],
) -> dict[str, Any]:
    collection, short = _split(fqcn)
    options: set[str] = set()
    required: set[str] = set()
    for name, spec in (doc.get("options") or {}).items():
        if name in _PSEUDO_OPTIONS:
            continue
        options.add(name)
        spec = spec or {}
        options.update(spec.get("aliases") or ())
        if spec.get("required"):
            required.add(name)

    plugin = actions.plugin_for(fqcn)
    if fqcn in include_names:
        kind = "include"
    elif fqcn in import_names:
        kind = "import"
    elif fqcn in meta_names:
        kind = "meta"
    elif plugin is not None and actions.controller_only(plugin):
        kind = "action"
    else:
        kind = "module"

    # No action plugin of its own means ansible runs the module through the
    # ``normal`` action, which supports async.  Includes, imports and meta are
    # handled by the strategy, not by an action plugin: async on an include is
    # a parse error, on an import or meta it is ignored; none runs as a job.
    if kind in ("include", "import", "meta"):
        supports_async = False
    else:
        supports_async = actions.supports_async(plugin) if plugin is not None else True
    free_form = fqcn in set(raw_param_modules) or (
        plugin is not None and actions.supports_raw_params(plugin)
    )

    route = routing.modules.get(fqcn, {})
    deprecated = bool(doc.get("deprecated")) or bool(route.get("deprecated"))
    message = route.get("message")
    if message is None and isinstance(doc.get("deprecated"), Mapping):
        why = doc["deprecated"].get("why")
        alternative = doc["deprecated"].get("alternative")
        message = " ".join(str(p).strip() for p in (why, alternative) if p) or None
    return {
        "collection": collection,
        "deprecated": deprecated,
        "free_form": free_form,
        "fqcn": fqcn,
        "kind": kind,
        "message": message,
        "options": sorted(options),
        "redirect": route.get("redirect"),
        "removed": bool(route.get("removed")),
        "required": sorted(required),
        "short": short,
        "supports_async": supports_async,
    }


def _split(fqcn: str) -> tuple[str, str]:
    parts = fqcn.split(".")
    return ".".join(parts[:2]), ".".join(parts[2:])


# --------------------------------------------------------------------------- routing


@dataclass(frozen=True, slots=True, kw_only=True)
class _Routing:
    """Plugin routing of modules and actions, keyed by FQCN."""

    modules: dict[str, dict[str, Any]]
    actions: dict[str, dict[str, Any]]
    action_plugin: dict[str, str]  # module FQCN -> action plugin FQCN (``action_plugin:``)


def _routing(env: _Env, installed: Mapping[str, str]) -> _Routing:
    modules: dict[str, dict[str, Any]] = {}
    actions: dict[str, dict[str, Any]] = {}
    action_plugin: dict[str, str] = {}
    sources: list[tuple[str, Path]] = [
        ("ansible.builtin", env.core / "config" / "ansible_builtin_runtime.yml")
    ]
    # Only catalogued collections: a redirect inside a collection whose
    # modules we do not describe could not be resolved to anything useful, and
    # the name of such a collection is recorded as known anyway.
    sources += [
        (name, env.collection_dir(name) / "meta" / "runtime.yml")
        for name in CATALOGED
        if name in installed
    ]
    for collection, path in sources:
        if not path.is_file():
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        plugin_routing = data.get("plugin_routing") or {}
        for section, table in (("modules", modules), ("action", actions)):
            for name, spec in sorted((plugin_routing.get(section) or {}).items()):
                fqcn = f"{collection}.{name}"
                route = _route(spec or {}, collection)
                if route is None:
                    continue
                table[fqcn] = route
                if section == "modules" and (spec or {}).get("action_plugin"):
                    action_plugin[fqcn] = _qualify(str(spec["action_plugin"]), collection)
    return _Routing(modules=modules, actions=actions, action_plugin=action_plugin)


def _route(spec: Mapping[str, Any], collection: str) -> dict[str, Any] | None:
    route: dict[str, Any] = {}
    if "redirect" in spec:
        target = _qualify(str(spec["redirect"]), collection)
        if target.startswith(_TEST_NAMESPACE):
            return None
        route["redirect"] = target
    for key, flag in (("tombstone", "removed"), ("deprecation", "deprecated")):
        if key in spec:
            route[flag] = True
            text = (spec[key] or {}).get("warning_text")
            if text:
                route["message"] = str(text).strip()
    return route or None


def _qualify(name: str, collection: str) -> str:
    """Routing targets may be short (relative to the routing collection)."""
    name = name.replace("ansible.legacy.", "ansible.builtin.")
    return name if name.count(".") >= 2 else f"{collection}.{name}"


# --------------------------------------------------------------------------- actions


class _ActionPlugins:
    """Facts about action plugins, read from their source text.

    ansible decides async support in ``ActionBase.run``: it fails the task when
    ``async`` is set and the plugin's ``_supports_async`` is false.  The flag is
    set either as a class attribute or in ``__init__``; a plugin may also inherit
    it (``class ActionModule(OtherActionModule)``) or hand the whole task to
    another plugin (``shell`` runs the ``command`` action).
    """

    def __init__(self, env: _Env, routing: _Routing) -> None:
        self._env = env
        self._routing = routing
        self._text_cache: dict[Path, str] = {}

    # -- lookup

    def plugin_for(self, module_fqcn: str) -> Path | None:
        """The action plugin file ansible would use for the module, if any.

        Mirrors ``TaskExecutor._get_action_handler_with_module_context``: an
        ``action_plugin`` named in the module's routing, else an action plugin
        of the same name (following action routing), else none (``normal``).
        Network "platform" actions (``eos``, ``ios``…) are not modelled: no
        catalogued collection is a network platform collection.
        """
        named = self._routing.action_plugin.get(module_fqcn)
        if named is not None:
            return self._file(named)
        return self._file(module_fqcn)

    def _file(self, fqcn: str, depth: int = 0) -> Path | None:
        fqcn = fqcn.replace("ansible.legacy.", "ansible.builtin.", 1)
        route = self._routing.actions.get(fqcn)
        if route and route.get("redirect") and depth < 10:
            return self._file(route["redirect"], depth + 1)
        collection, name = _split(fqcn)
        if collection.count(".") != 1 or not name:
            return None
        path = self._env.action_dir(collection) / f"{name.replace('.', '/')}.py"
        return path if path.is_file() else None

    def _text(self, path: Path) -> str:
        if path not in self._text_cache:
            self._text_cache[path] = path.read_text(encoding="utf-8")
        return self._text_cache[path]

    # -- facts

    def supports_async(self, path: Path, depth: int = 0) -> bool:
        text = self._text(path)
        flags = _SUPPORTS_ASYNC_RE.findall(text)
        if flags:
            # A plugin that sets the flag anywhere (class body or __init__)
            # decides for itself; ``True`` wins when both appear.
            return "True" in flags
        if depth < 5:
            delegate = _DELEGATE_RE.search(text)
            if delegate and not _SUPER_RUN_RE.search(text):
                target = self._file(delegate.group(1))
                if target is not None:
                    return self.supports_async(target, depth + 1)
            for base in self._bases(path):
                return self.supports_async(base, depth + 1)
        return False

    def supports_raw_params(self, path: Path, depth: int = 0) -> bool:
        flags = _SUPPORTS_RAW_RE.findall(self._text(path))
        if flags:
            return "True" in flags
        if depth < 5:
            for base in self._bases(path):
                return self.supports_raw_params(base, depth + 1)
        return False

    def controller_only(self, path: Path) -> bool:
        text = self._text(path)
        return not any(marker in text for marker in _TARGET_MARKERS) and all(
            self.controller_only(base) for base in self._bases(path)
        )

    def _bases(self, path: Path) -> Iterator[Path]:
        """Source files of the ``ActionModule`` base classes that are plugins or helpers.

        ``ActionBase`` itself (``ansible/plugins/action/__init__.py``) is not
        yielded: its ``_supports_async = False`` is the default already.
        """
        tree = ast.parse(self._text(path))
        imported: dict[str, str] = {}
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    imported[alias.asname or alias.name] = node.module
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name == "ActionModule":
                for base in node.bases:
                    if isinstance(base, ast.Name) and base.id in imported:
                        source = self._module_file(imported[base.id])
                        if source is not None:
                            yield source

    def _module_file(self, dotted: str) -> Path | None:
        if dotted == "ansible.plugins.action":
            return None
        parts = dotted.split(".")
        if parts[0] == "ansible":
            root = self._env.core.parent
        elif parts[0] == "ansible_collections":
            root = self._env.collections_root.parent
        else:
            return None
        candidate = root.joinpath(*parts).with_suffix(".py")
        if candidate.is_file():
            return candidate
        package = root.joinpath(*parts) / "__init__.py"
        return package if package.is_file() else None


# --------------------------------------------------------------------------- keywords


def build_keywords(env: _Env) -> dict[str, Any]:
    import inspect

    from ansible.playbook.block import Block
    from ansible.playbook.handler import Handler
    from ansible.playbook.play import Play
    from ansible.playbook.playbook_include import PlaybookInclude
    from ansible.playbook.role.include import RoleInclude
    from ansible.playbook.task import Task
    from ansible.playbook.task_include import TaskInclude
    from ansible.release import __version__ as core_version

    def public(cls: type) -> set[str]:
        # ``fattributes`` maps every accepted key, aliases included (``async``
        # next to ``async_val``); private attributes (``loop_with``) are set
        # by ansible itself from other keys and never written by users.
        fattributes: Mapping[str, Any] = cls.fattributes  # type: ignore[attr-defined]
        return {name for name, attr in fattributes.items() if not attr.private}

    lookups = _lookup_keywords(env)
    with_keys = set(lookups)

    # Task.preprocess_data consumes these before attribute validation:
    # ``local_action`` (action + delegate_to: localhost) and ``with_<lookup>``.
    source = inspect.getsource(Task.preprocess_data)
    if "'local_action'" not in source or "startswith('with_')" not in source:
        raise SystemExit("Task.preprocess_data changed: re-check local_action/with_* handling")
    task = public(Task) | {"local_action"} | with_keys
    handler = public(Handler) | {"local_action"} | with_keys

    # ``include_tasks``/``include_role`` accept only VALID_INCLUDE_KEYWORDS
    # (checked after with_* became loop_with and local_action became
    # action + delegate_to, so local_action fails there).
    include = (set(TaskInclude.VALID_INCLUDE_KEYWORDS) - {"loop_with"}) | with_keys

    # Play.preprocess_data still renames the deprecated ``user`` to ``remote_user``.
    play_source = inspect.getsource(Play.preprocess_data)
    if "'user' in ds" not in play_source:
        raise SystemExit("Play.preprocess_data changed: re-check the 'user' alias")
    play = public(Play) | {"user"}

    return {
        "ansible_core_version": core_version,
        "aliases": {"async": "async_val", "user": "remote_user"},
        "block": sorted(public(Block)),
        "deprecated": {"play": {"user": "use remote_user"}},
        "handler": sorted(handler),
        "include": sorted(include),
        "loop_lookups": lookups,
        "play": sorted(play),
        "playbook_import": sorted(public(PlaybookInclude)),
        "role": sorted(public(RoleInclude)),
        "task": sorted(task),
    }


def _lookup_keywords(env: _Env) -> dict[str, str]:
    """``with_<name>`` → lookup FQCN.

    ansible accepts ``with_X`` when ``X`` resolves as a lookup plugin through
    the builtin/legacy search: every lookup of ansible.builtin plus the short
    names ansible_builtin_runtime.yml redirects to collections (``cartesian``,
    ``flattened``…, which work when their collection is installed).
    """
    lookups = {
        f"with_{path.stem}": f"ansible.builtin.{path.stem}"
        for path in (env.core / "plugins" / "lookup").glob("*.py")
        if path.stem != "__init__"
    }
    runtime = yaml.safe_load(
        (env.core / "config" / "ansible_builtin_runtime.yml").read_text(encoding="utf-8")
    )
    for name, spec in (runtime["plugin_routing"].get("lookup") or {}).items():
        target = (spec or {}).get("redirect")
        if target and not str(target).startswith(_TEST_NAMESPACE):
            lookups.setdefault(f"with_{name}", str(target))
    return dict(sorted(lookups.items()))


if __name__ == "__main__":
    sys.exit(main())
