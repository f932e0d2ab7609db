"""The per-compilation resolver: which role folder, module or plugin a name means.

Built once per compilation from the packaged catalog, the `ResolveSettings` and the
compilation's record of file-system inputs.  It answers the lowering's questions and
reports what cannot be resolved once per missing thing (not once per use), with the
command that installs it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from playgraph.semantics import is_template

from .. import codes
from ..argspec import ArgSpec, argument_problems
from ..catalog import BUILTIN, LEGACY, Catalog, ModuleInfo, ModuleKind, tombstone
from ..context import FileContext
from ..diagnostics import Severity
from ..recording import Recorder
from ..spans import Span
from ..suggest import did_you_mean
from .installed import Collection, Probe, module_names, module_spec
from .requirements import Requirements, read_requirements
from .settings import ResolveSettings

__all__ = ["NATIVE_BUILTIN_ACTIONS", "Resolver"]

# A fully qualified collection reference: ``ns.coll.name`` (name may hold dots).
_FQCR = re.compile(r"^[A-Za-z_]\w*\.[A-Za-z_]\w*\.[A-Za-z_][\w.]*$")

# Actions whose arguments are free-form names (set_fact's facts, add_host's host
# variables): their documented options are not the whole story.
_ANY_ARGUMENTS = frozenset({"set_fact", "add_host", "set_stats", "include_vars", "group_by"})

# ansible-core's parse_kv(check_raw=True): the words taken out of free-form text.
_RAW_WORDS = frozenset({
    "creates", "removes", "chdir", "executable", "warn", "stdin", "stdin_add_newline",
    "strip_empty_ends",
})  # fmt: skip

BUILTIN_ACTION_PLUGINS = frozenset({
    "add_host", "assemble", "assert", "async_status", "command", "copy", "debug", "dnf", "fail",
    "fetch", "gather_facts", "group_by", "include_vars", "package", "pause", "raw", "reboot",
    "script", "service", "set_fact", "set_stats", "shell", "template", "unarchive", "uri",
    "validate_argument_spec", "wait_for_connection", "yum",
})  # fmt: skip
"""ansible-core 2.19's own action plugins (``ansible/plugins/action``), ``normal`` aside."""

NATIVE_BUILTIN_ACTIONS = frozenset({
    "add_host", "assemble", "assert", "async_status", "command", "copy", "debug", "dnf",
    "fail", "fetch", "gather_facts", "group_by", "include_vars", "package", "pause", "raw",
    "reboot", "script", "service", "set_fact", "set_stats", "shell", "template", "unarchive",
    "uri", "validate_argument_spec", "wait_for_connection", "yum",
})  # fmt: skip
"""The builtin action plugins playgraph's runtime implements itself (its controller
actions and native modules; a test keeps this in step with the runtime)."""


@dataclass(frozen=True, slots=True)
class _Found:
    """What one action name resolved to."""

    known: bool
    info: ModuleInfo | None = None
    collection: str | None = None
    """The collection the name lives in (None for builtin and local modules)."""
    installed: bool | None = None
    """Whether that collection is installed (None: not probed, or not applicable)."""
    action_plugin: bool = False
    """Its collection ships an action plugin playgraph does not run."""
    quiet: bool = False
    """Mocked or local: no note about the catalog."""


class Resolver:
    """Roles, modules and plugins for one compilation (see the module docstring)."""

    def __init__(
        self, catalog: Catalog, settings: ResolveSettings, inputs: dict[str, str] | None = None
    ) -> None:
        self.catalog = catalog
        self.settings = settings
        self.probe = Probe(inputs if inputs is not None else {})
        self._collections: dict[str, Collection | None] = {}
        self._library: dict[str, str] | None = None
        self._actions: frozenset[str] | None = None
        self._strategies: frozenset[str] | None = None
        self._found: dict[tuple[str, tuple[str, ...]], _Found] = {}
        self.reported: set[tuple[str, str]] = set()
        """(kind, name) of findings said once per compilation, said so far."""
        self.recorder: Recorder | None = None
        """Set while a task file's lowering is recorded for reuse (`lower.fragments`)."""
        self._requirements: dict[str, Requirements] = {}
        self._foreign: dict[str, bool] = {}
        self.play_dirs: list[str] = []
        mocks = settings.mock_modules
        self._mock_modules = frozenset(mocks)

    # ------------------------------------------------------------------ collections

    def collection(self, name: str) -> Collection | None:
        """The installed collection ``ns.coll``: the first found in the search order."""
        if name in self._collections:
            return self._collections[name]
        found: Collection | None = None
        namespace, _, short = name.partition(".")
        if self.settings.collections_paths is not None and namespace and short:
            for root in self._collection_roots():
                for base in (os.path.join(root, "ansible_collections"), root):
                    if base == root and os.path.basename(root) != "ansible_collections":
                        continue
                    path = os.path.join(base, namespace, short)
                    if self.probe.is_dir(path):
                        found = Collection(name=name, path=path, probe=self.probe)
                        break
                if found is not None:
                    break
        self._collections[name] = found
        return found

    def _collection_roots(self) -> list[str]:
        # A `collections/` folder beside the playbook comes first, as in ansible-core.
        roots = [os.path.join(d, "collections") for d in self.play_dirs]
        return [*roots, *(self.settings.collections_paths or ())]

    def is_installed(self, collection: str) -> bool | None:
        if collection in (BUILTIN, LEGACY):
            return True
        if self.settings.collections_paths is None:
            return None
        return self.collection(collection) is not None

    def _mocked(self, name: str) -> bool:
        if name in self._mock_modules:
            return True
        parts = name.split(".")
        return len(parts) >= 3 and ".".join(parts[:2]) in self._mock_modules

    # ------------------------------------------------------------------ local content

    def library(self) -> Mapping[str, str]:
        """Modules of the configured library folders: name → folder (the first wins)."""
        if self._library is None:
            found: dict[str, str] = {}
            for folder in self.settings.library:
                for name in module_names(self.probe, folder):
                    found.setdefault(name, folder)
            self._library = found
        return self._library

    def action_plugins(self) -> frozenset[str]:
        if self._actions is None:
            names: set[str] = set()
            for folder in self.settings.action_plugins:
                names |= module_names(self.probe, folder)
            self._actions = frozenset(names)
        return self._actions

    def strategies(self) -> frozenset[str]:
        """Strategy plugins of the configured folders (``strategy_plugins``)."""
        if self._strategies is None:
            names: set[str] = set()
            for folder in self.settings.strategy_plugins:
                names |= module_names(self.probe, folder)
            self._strategies = frozenset(names)
        return self._strategies

    def known_strategy(self, name: str) -> bool:
        """A strategy plugin from the configured folders or an installed collection."""
        if name in self.strategies():
            return True
        if _FQCR.match(name):
            collection_name, short = _split(name)
            collection = self.collection(collection_name)
            return collection is not None and short in collection.strategies()
        return False

    # ------------------------------------------------------------------ modules

    def resolve(
        self,
        name: str,
        collections: Sequence[str] = (),
        library: frozenset[str] = frozenset(),
        play_dir: str = "",
    ) -> tuple[bool, ModuleInfo | None]:
        """(known, info), as the lowering asks: known names may lack details."""
        if play_dir:
            self.enter_play_dir(play_dir)
        found = self._resolve(name, tuple(collections), library)
        return found.known, found.info

    def enter_play_dir(self, play_dir: str) -> None:
        """A playbook's folder: its ``collections/`` is searched first from now on."""
        if play_dir in self.play_dirs:
            return
        self.play_dirs.append(play_dir)
        # What was missing may be beside this playbook.
        self._collections = {k: v for k, v in self._collections.items() if v is not None}
        self._found.clear()

    def _resolve(self, name: str, collections: tuple[str, ...], library: frozenset[str]) -> _Found:
        if name in library:
            return _Found(True, quiet=True)
        key = (name, collections)
        if key not in self._found:
            self._found[key] = self._lookup(name, collections)
        return self._found[key]

    def _lookup(self, name: str, collections: tuple[str, ...]) -> _Found:
        if self._mocked(name):
            return _Found(True, quiet=True)
        if "." not in name:
            return self._short(name, collections)
        if not _FQCR.match(name):
            return _Found(False)
        collection_name, short = _split(name)
        if collection_name in (BUILTIN, LEGACY):
            if collection_name == LEGACY and (
                short in self.library() or short in self.action_plugins()
            ):
                return self._local(short)
            return self._from_catalog(name, collections)
        collection = self.collection(collection_name)
        if collection is None:
            found = self._from_catalog(name, collections)
            installed = self.is_installed(collection_name)
            if found.known:
                return replace(found, collection=collection_name, installed=installed)
            if self._is_foreign(collection_name):
                # A collection nobody knows of and that is not a typo of one: trusted when
                # nothing was probed, else not installed.
                return _Found(True, collection=collection_name, installed=installed)
            return _Found(False)
        return self._in_collection(collection, short, name, collections, depth=0)

    def _short(self, name: str, collections: tuple[str, ...]) -> _Found:
        for collection_name in collections:
            canonical = BUILTIN if collection_name == LEGACY else collection_name
            if canonical == BUILTIN:
                break
            collection = self.collection(canonical)
            if collection is not None:
                found = self._in_collection(
                    collection, name, f"{canonical}.{name}", (), depth=0, missing_ok=True
                )
                if found.known:
                    return found
        # ansible.legacy: the configured library and action plugin folders, then builtin.
        if name in self.library() or name in self.action_plugins():
            return self._local(name)
        return self._from_catalog(name, collections)

    def _local(self, name: str) -> _Found:
        folder = self.library().get(name)
        spec = module_spec(self.probe, folder, name) if folder is not None else None
        # Named as written: the runtime finds a local module by its short name.
        return _Found(True, info=_custom(name, spec, collection=LEGACY), quiet=True)

    def _from_catalog(self, name: str, collections: Sequence[str]) -> _Found:
        resolution = self.catalog.resolve_with_redirect(name, collections=collections)
        if resolution is None:
            return _Found(False)
        collection = resolution.fqcn.rsplit(".", 1)[0] if resolution.info is None else None
        if resolution.info is not None and resolution.info.collection != BUILTIN:
            collection = resolution.info.collection
        installed = self.is_installed(collection) if collection is not None else None
        return _Found(True, info=resolution.info, collection=collection, installed=installed)

    def _in_collection(
        self,
        collection: Collection,
        short: str,
        fqcn: str,
        collections: Sequence[str],
        *,
        depth: int,
        missing_ok: bool = False,
    ) -> _Found:
        route = collection.route("modules", short) or collection.route("action", short)
        if route is not None and route.redirect is not None and depth < 10:
            target = route.redirect
            if _FQCR.match(target):
                target_collection, target_short = _split(target)
                installed = self.collection(target_collection)
                if installed is not None:
                    return self._in_collection(
                        installed, target_short, target, collections, depth=depth + 1
                    )
                return self._lookup(target, tuple(collections))
            return self._lookup(target, tuple(collections))
        if route is not None and route.removed:
            info = self.catalog.resolve(fqcn)
            return _Found(True, info=info or tombstone(fqcn, route.message), quiet=True)
        path_parts = short.split(".")
        module_folder = collection.folder("plugins", "modules", *path_parts[:-1])
        modules = module_names(self.probe, module_folder)
        has_action = short in collection.actions()
        if path_parts[-1] in modules or has_action:
            info = self.catalog.resolve(fqcn)
            if info is None:
                spec = (
                    collection.module_spec(short)
                    if path_parts[-1] in modules and len(path_parts) == 1
                    else None
                )
                info = _custom(fqcn, spec)
            return _Found(
                True,
                info=info,
                collection=collection.name,
                installed=True,
                action_plugin=has_action,
            )
        if missing_ok:
            return _Found(False)
        # Installed, but without that module: what our catalog knows is all we have.
        found = self._from_catalog(fqcn, collections)
        return replace(found, collection=collection.name, installed=True)

    def _is_foreign(self, collection: str) -> bool:
        """A collection we know nothing of, and not a typo of one we know."""
        if collection not in self._foreign:
            self._foreign[collection] = not self.catalog.is_known_collection(collection) and (
                # Edits only: `community.` shared makes any two community collections
                # look alike by ratio.
                did_you_mean(collection, self.catalog.collections, cutoff=1.0) is None
            )
        return self._foreign[collection]

    # ------------------------------------------------------------------ module findings

    def note(
        self,
        ctx: FileContext,
        span: Span,
        name: str,
        collections: Sequence[str],
        library: frozenset[str],
    ) -> None:
        """What a known action name deserves: a collection not installed, an action plugin
        playgraph does not run, or that its arguments are unchecked (each said once)."""
        found = self._resolve(name, tuple(collections), library)
        if not found.known or found.quiet:
            return
        info = found.info
        if found.collection is not None and found.installed is False:
            self._missing_collection(ctx, span, found.collection)
        elif (
            info is None
            and found.collection is not None
            and self._once("uncatalogued", found.collection)
        ):
            ctx.report(
                codes.SCHEMA_UNKNOWN_COLLECTION,
                span,
                f"'{name}' is not in playgraph's catalog; its name, arguments and async "
                "support are not checked",
            )
        unsupported = found.action_plugin or (
            info is not None
            and info.collection == BUILTIN
            and info.short in BUILTIN_ACTION_PLUGINS
            and info.short not in NATIVE_BUILTIN_ACTIONS
        )
        if unsupported and info is not None and self._once("action", info.fqcn):
            ctx.report(
                codes.RUN_UNSUPPORTED_ACTION_PLUGIN,
                span,
                f"{info.fqcn} runs through an action plugin playgraph does not implement; "
                "`playgraph run` fails this task",
                help="run this play with ansible-playbook, or leave it out of `playgraph run`",
            )

    def unknown_module(
        self, ctx: FileContext, span: Span, name: str, collections: Sequence[str]
    ) -> None:
        """An action name nothing resolves: reported once per name, with the likely fix."""
        if is_template(name) or not self._once("module", name):
            return
        declared = None
        if _FQCR.match(name):
            declared = self._declared(ctx, "collections", _split(name)[0])
        suggestion = self.catalog.suggest_module(name, collections=collections)
        if suggestion == name:
            suggestion = None  # a routed name whose target is gone (`ec2`): no echo
        help_text = f"did you mean `{suggestion}`?" if suggestion else None
        if declared is not None:
            help_text = (
                f"install what {declared} lists: ansible-galaxy collection install -r {declared}"
            )
        elif help_text is None and "." not in name:
            help_text = (
                "a custom module goes in library/ beside the playbook or the role, or in a "
                "folder named by ansible.cfg's `library`; list it in .playgraph.yml's "
                "`mock_modules` if it is installed only where the playbook runs"
            )
        diagnostic = codes.SCHEMA_UNKNOWN_MODULE.at(
            span, f"couldn't resolve module/action '{name}'", help=help_text
        )
        if declared is not None:
            diagnostic = diagnostic.with_severity(Severity.WARNING)
        ctx.diagnostics.append(diagnostic)

    def _missing_collection(self, ctx: FileContext, span: Span, collection: str) -> None:
        if not self._once("collection", collection):
            return
        declared = self._declared(ctx, "collections", collection)
        fix = f"ansible-galaxy collection install {collection}"
        if declared is not None:
            fix = f"ansible-galaxy collection install -r {declared}"
        ctx.report(
            codes.NOT_INSTALLED_COLLECTION,
            span,
            f"the collection {collection} is not installed in any collections path",
            help=f"{fix}; if it is installed elsewhere, name that folder in "
            "ANSIBLE_COLLECTIONS_PATH or ansible.cfg's `collections_path`, or list it in "
            ".playgraph.yml's `mock_modules`",
        )

    # ------------------------------------------------------------------ arguments

    def check_arguments(
        self,
        ctx: FileContext,
        info: ModuleInfo | None,
        args: Mapping[str, Any],
        spans: Mapping[str, Span],
        fallback: Span,
        *,
        check_required: bool,
    ) -> None:
        """Unknown, missing and conflicting arguments, where the module's spec is known."""
        if info is None or info.short in _ANY_ARGUMENTS or info.removed:
            return
        raw = args.get("_raw_params")
        if isinstance(raw, str) and is_template(raw) and not info.free_form:
            return  # `file: "{{ opts }}"`: the arguments are a mapping known at run time
        spec = self.catalog.argspec(info)
        if spec is None:
            return
        if info.keeps_raw_words:
            # `raw: cmd creates=x`: ansible-core lifts these words out of the free-form
            # text for every such action, and the ones an action does not use are ignored.
            args = {k: v for k, v in args.items() if k not in _RAW_WORDS}
        for problem in argument_problems(
            spec, args, may_be_omitted=_may_be_omitted, check_required=check_required
        ):
            if problem.kind == "unknown":
                suggestion = did_you_mean(problem.name, problem.suggestion_pool)
                ctx.report(
                    codes.SCHEMA_UNKNOWN_ARGUMENT,
                    spans.get(problem.name, fallback),
                    f"{info.short} has no argument '{problem.name}'",
                    help=f"did you mean `{suggestion}`?" if suggestion else None,
                )
            elif problem.kind == "exclusive":
                ctx.report(
                    codes.SCHEMA_BAD_VALUE, spans.get(problem.name, fallback), problem.message
                )
            else:
                ctx.report(codes.SCHEMA_MISSING_ARGUMENT, fallback, problem.message)

    # ------------------------------------------------------------------ roles

    def find_role(
        self,
        name: str,
        *,
        base_dir: str,
        play_dir: str | None,
        role_basedir: str | None,
        collections: Sequence[str],
        is_dir: Callable[[str], bool],
        extra_roots: Sequence[str] = (),
    ) -> str | None:
        """The folder of role ``name`` as ansible-core's role loader finds it, or None."""
        if is_template(name) or name in self.settings.mock_roles:
            return None
        if play_dir is not None:
            self.enter_play_dir(play_dir)
        if _FQCR.match(name) or collections:
            candidates = [_split(name)] if _FQCR.match(name) else [(c, name) for c in collections]
            for collection_name, short in candidates:
                if collection_name in (BUILTIN, LEGACY):
                    continue
                collection = self.collection(collection_name)
                found = collection.role(short) if collection is not None else None
                if found is not None:
                    return found
        roots = [os.path.join(base_dir, "roles")]
        if play_dir is not None and play_dir != base_dir:
            roots.append(os.path.join(play_dir, "roles"))
        roots += [os.path.expanduser(p) for p in (*extra_roots, *self.settings.roles_path)]
        if role_basedir is not None:
            roots.append(role_basedir)
        roots.append(base_dir)
        if play_dir is not None:
            roots.append(play_dir)
        for root in dict.fromkeys(roots):
            path = os.path.normpath(os.path.join(root, name))
            if is_dir(path):
                return path
        path = os.path.normpath(os.path.expanduser(name))
        if os.path.isabs(path) and is_dir(path):
            return path
        return None

    def missing_role(
        self, ctx: FileContext, name: str, span: Span, searched: Sequence[str]
    ) -> None:
        """A role `find_role` did not find: one finding per role, none for a templated
        or mocked name (ansible-core templates it with the play's variables)."""
        if is_template(name) or name in self.settings.mock_roles:
            return
        if not self._once("role", name):
            return
        if _FQCR.match(name):
            collection = _split(name)[0]
            if self.is_installed(collection) is False:
                self._missing_collection(ctx, span, collection)
                return
        declared = self._declared(ctx, "roles", name)
        where = ":".join(searched)
        if declared is not None:
            fix = f"ansible-galaxy install -r {declared}"
        else:
            fix = f"ansible-galaxy install {name}, or set roles_path in ansible.cfg"
        diagnostic = codes.NOT_INSTALLED_ROLE.at(
            span,
            f"the role '{name}' was not found in {where}",
            help=f"{fix}; list it in .playgraph.yml's `mock_roles` if it is installed only "
            "where the playbook runs",
        )
        if declared is not None:
            diagnostic = diagnostic.with_severity(Severity.WARNING)
        ctx.diagnostics.append(diagnostic)

    # ------------------------------------------------------------------ helpers

    def _once(self, kind: str, name: str) -> bool:
        key = (kind, name)
        first = key not in self.reported
        if self.recorder is not None:
            self.recorder.events.append(("o", kind, name, first))
        self.reported.add(key)
        return first

    def _declared(self, ctx: FileContext, kind: str, name: str) -> str | None:
        """The requirements file that declares ``name`` (a role or a collection), if any."""
        folders = [*self.play_dirs, os.path.dirname(ctx.path) or "."]
        for folder in dict.fromkeys(folders):
            if folder not in self._requirements:
                self._requirements[folder] = read_requirements(self.probe, folder)
            requirements = self._requirements[folder]
            table = requirements.roles if kind == "roles" else requirements.collections
            if name in table:
                return table[name]
        return None


def _split(fqcn: str) -> tuple[str, str]:
    namespace, _, rest = fqcn.partition(".")
    collection, _, short = rest.partition(".")
    return f"{namespace}.{collection}", short


def _custom(fqcn: str, spec: ArgSpec | None, *, collection: str | None = None) -> ModuleInfo:
    """A module found on disk that the catalog does not describe."""
    short = fqcn.rsplit(".", 1)[-1]
    if collection is None:
        collection = fqcn.rsplit(".", 1)[0]
    return ModuleInfo(
        fqcn=fqcn,
        short=short,
        collection=collection,
        options=frozenset(spec.names) if spec is not None else frozenset(),
        required=spec.required if spec is not None else frozenset(),
        free_form=False,
        supports_async=True,
        kind=ModuleKind.MODULE,
        redirect=None,
        removed=False,
        spec=spec,
    )


def _may_be_omitted(value: Any) -> bool:
    """A templated value may render ``omit`` (the argument then vanishes)."""
    return isinstance(value, str) and is_template(value)
