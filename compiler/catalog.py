"""What playgraph knows about Ansible modules and playbook keywords.

The facts come from two generated files, ``data/modules.json`` and
``data/keywords.json``, written by ``scripts/gen_catalog.py`` from an installed
ansible-core and collection bundle (the product never imports ansible).  They
are loaded once, lazily, through :mod:`importlib.resources`.

Module resolution follows ansible's loader:

* a short name (``command``) is looked up in the task's ``collections:`` list
  in order, then in ``ansible.builtin`` — ansible appends ``ansible.legacy`` to
  a non-empty list that names neither ``ansible.builtin`` nor
  ``ansible.legacy`` (``playbook/collectionsearch.py``), and uses it alone when
  the list is empty.  Nothing else is searched: a short name that only exists
  in a collection not listed is not found, as in ansible;
* ``ansible.legacy.X`` is ``ansible.builtin.X`` here (local ``library/`` folders
  and installed collections are the resolver's business: `compiler.resolve`);
* a fully qualified name is looked up directly;
* plugin routing (``redirect``) is followed, as ansible does before looking
  for a file: ``yum`` → ``ansible.builtin.dnf``, ``ufw`` →
  ``community.general.ufw``.  Tombstones resolve to an entry with
  ``removed=True`` and the removal message.

Only the modules of the collections marked *catalogued* are described in full.
A name in another known collection resolves to a :class:`Resolution` whose
``info`` is ``None``: it may well exist, we just cannot check its arguments.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, TypeVar

from .argspec import PASS_THROUGH, ArgSpec, spec_from_options
from .suggest import SuggestionIndex, did_you_mean

__all__ = [
    "BUILTIN",
    "Catalog",
    "Keywords",
    "ModuleInfo",
    "ModuleKind",
    "Resolution",
    "default_catalog",
    "keywords",
    "suggest_keyword",
]

BUILTIN = "ansible.builtin"
LEGACY = "ansible.legacy"

# Redirect chains in the routing tables are one or two links long; the bound
# only protects against a cycle in hand-edited data.
_MAX_REDIRECTS = 10


class ModuleKind(StrEnum):
    """How ansible handles a task action."""

    MODULE = "module"
    """Runs code on the target: a module, or an action plugin that runs modules,
    commands or file transfers there (``copy``, ``template``, ``raw``, ``reboot``)."""
    ACTION = "action"
    """An action plugin that runs on the controller only (``debug``, ``set_fact``,
    ``assert``, ``fail``, ``pause``, ``add_host``, ``group_by``, ``include_vars``…)."""
    INCLUDE = "include"
    """A dynamic include (``include_tasks``, ``include_role``): ``async`` on it is a
    parse error."""
    IMPORT = "import"
    """A static import (``import_tasks``, ``import_role``, ``import_playbook``):
    ``async`` on it is ignored."""
    META = "meta"
    """``meta``: handled by the strategy; ``async`` is ignored."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleInfo:
    """One module or action as described by its documentation and action plugin."""

    fqcn: str
    short: str
    collection: str
    options: frozenset[str]
    """Option names, aliases included; free-form text arrives as ``_raw_params``
    and is not listed (see ``free_form``)."""
    required: frozenset[str]
    free_form: bool
    """Accepts free-form text (``command: ls -l``, ``include_tasks: x.yml``)."""
    supports_async: bool
    """ansible runs it as an async job when ``async`` is set; otherwise the task
    fails (most action plugins), fails to parse (includes) or ignores it
    (imports, meta)."""
    kind: ModuleKind
    redirect: str | None
    """The routing target when this name is redirected; ``None`` for a final entry."""
    removed: bool
    """A tombstone: the name existed once and was removed."""
    deprecated: bool = False
    message: str | None = None
    """The deprecation or removal text from the routing table or documentation."""
    spec: ArgSpec | None = field(default=None, compare=False)
    """The argument spec of a module read from disk (catalogued modules get theirs
    from `Catalog.argspec`)."""

    @property
    def keeps_raw_words(self) -> bool:
        """Its free-form words stay text except a few options (``parse_kv(check_raw=True)``):
        ansible-core's ``MODULE_REQUIRE_ARGS``.  Other free-form actions (``set_fact``,
        ``include_tasks``, ``add_host``, ...) read every ``key=value`` word as an option."""
        return self.free_form and self.short in REQUIRE_ARGS


REQUIRE_ARGS = frozenset({"command", "raw", "script", "shell", "win_command", "win_shell"})
"""ansible-core's ``MODULE_REQUIRE_ARGS``, by short name: free-form actions that need
arguments and keep their words raw."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolution:
    """The result of resolving a task's action name."""

    fqcn: str
    """The final fully qualified name, after redirects."""
    info: ModuleInfo | None
    """``None`` when ``fqcn`` lies in a known collection we do not catalogue."""
    via: str | None
    """The first redirected FQCN (``ansible.builtin.yum``) when a redirect was
    followed, else ``None``."""
    deprecation: str | None = None
    """The routing table's deprecation text for a redirected name on the way
    (``community.general.proxmox`` → ``community.proxmox.proxmox``); a
    deprecated final entry says so in ``info.deprecated`` instead."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Route:
    redirect: str | None
    removed: bool
    deprecated: bool
    message: str | None


class Catalog:
    """Module lookup over the generated data.  Immutable once built."""

    __slots__ = (
        "_argspecs",
        "_backends",
        "_builtin_shorts",
        "_by_collection_cache",
        "_cataloged",
        "_collections",
        "_entries",
        "_indexes",
        "_routes",
        "_specs",
    )

    def __init__(self, data: Mapping[str, Any]) -> None:
        # Entries are built on first use: `playgraph check` touches a few dozen
        # of the thousand modules, and building them all would cost more than
        # checking a 2,000-task playbook.
        self._entries: Mapping[str, ModuleInfo] = _Lazy(
            {raw["fqcn"]: raw for raw in data["modules"]}, _module_info
        )
        self._routes: Mapping[str, _Route] = _Lazy(dict(data["routing"]), _route)
        collections: Mapping[str, Mapping[str, Any]] = data["collections"]
        self._collections = frozenset(collections)
        self._cataloged = frozenset(n for n, c in collections.items() if c.get("cataloged"))
        self._by_collection_cache: Mapping[str, tuple[str, ...]] | None = None
        self._backends: tuple[str, ...] = tuple(data.get("package_backends", ()))
        self._argspecs: Mapping[str, Mapping[str, Any]] | None = data.get("argspecs")
        self._specs: dict[str, ArgSpec | None] = {}
        self._builtin_shorts: tuple[str, ...] | None = None
        self._indexes: dict[tuple[str, ...], SuggestionIndex] = {}

    @property
    def _by_collection(self) -> Mapping[str, tuple[str, ...]]:
        """Short names per collection, for suggestions only (built when first needed)."""
        if self._by_collection_cache is None:
            by_collection: dict[str, list[str]] = {}
            for fqcn in (*self._entries, *self._routes):
                collection, name = _split(fqcn)
                by_collection.setdefault(collection, []).append(name)
            self._by_collection_cache = MappingProxyType(
                {c: tuple(sorted(set(names))) for c, names in by_collection.items()}
            )
        return self._by_collection_cache

    # ------------------------------------------------------------------ queries

    @property
    def modules(self) -> Mapping[str, ModuleInfo]:
        """Every catalogued entry by FQCN (redirect-only names excluded)."""
        return self._entries

    @property
    def collections(self) -> frozenset[str]:
        """Every known collection name (installed, catalogued or a routing target)."""
        return self._collections

    @property
    def package_backends(self) -> tuple[str, ...]:
        """Short names of the modules the generic ``package`` action may run
        (ansible's ``PKG_MGRS`` fact table), sorted."""
        return self._backends

    def argspec(self, info: ModuleInfo) -> ArgSpec | None:
        """The argument spec of ``info``: options with their aliases, requirements and
        constraints; None when its options are not known (no argument findings then)."""
        if info.spec is not None:
            return info.spec
        if info.fqcn in self._specs:
            return self._specs[info.fqcn]
        spec: ArgSpec | None = None
        if info.options and info.fqcn in self._entries:
            extra = self._argspec_data().get(info.fqcn, {})
            aliases: Mapping[str, str] = extra.get("aliases", {})
            options: dict[str, dict[str, Any]] = {}
            for name in info.options:
                canonical = aliases.get(name, name)
                entry = options.setdefault(canonical, {"aliases": []})
                if canonical != name:
                    entry["aliases"].append(name)
            for name in info.required:
                options.setdefault(name, {"aliases": []})["required"] = True
            for name in extra.get("defaults", ()):
                options.setdefault(name, {"aliases": []})["default"] = True
            spec = spec_from_options(
                options,
                complete=True,
                constraints={
                    key: tuple(tuple(group) for group in extra.get(key, ()))
                    for key in ("mutually_exclusive", "required_one_of", "required_together")
                },
                pass_through=info.fqcn in PASS_THROUGH,
            )
        self._specs[info.fqcn] = spec
        return spec

    def _argspec_data(self) -> Mapping[str, Mapping[str, Any]]:
        if self._argspecs is None:
            self._argspecs = _load_json("argspecs.json")
        return self._argspecs

    def is_known_collection(self, name: str) -> bool:
        """Whether ``namespace.collection`` names a collection we know of."""
        return name == LEGACY or name in self._collections

    def is_cataloged_collection(self, name: str) -> bool:
        """Whether the modules of ``name`` are described in full."""
        return _canonical_collection(name) in self._cataloged

    def resolve(self, name: str, *, collections: Sequence[str] = ()) -> ModuleInfo | None:
        """The entry a task action name runs, after redirects; ``None`` if unknown
        or outside the catalogued collections."""
        resolution = self.resolve_with_redirect(name, collections=collections)
        return resolution.info if resolution is not None else None

    def resolve_with_redirect(
        self, name: str, *, collections: Sequence[str] = ()
    ) -> Resolution | None:
        """Resolve ``name`` as ansible would, reporting any redirect followed.

        Returns ``None`` when the name is not found anywhere we know.  A fully
        qualified name in a known but uncatalogued collection gives a
        resolution with ``info=None``.
        """
        unchecked: str | None = None
        for fqcn in self._candidates(name, collections):
            found = self._follow(fqcn)
            if found is not None:
                return found
            collection, _ = _split(fqcn)
            if unchecked is None and self._is_uncataloged(collection):
                unchecked = fqcn
        # The name may exist in a known collection whose modules we do not
        # list (an FQCN in it, or a short name with that collection in
        # ``collections:``).  A catalogued hit later in the search order wins
        # over this guess: ``collections: [cisco.ios]`` with ``debug`` is the
        # common case, a cisco.ios module shadowing a builtin one is not.
        if unchecked is not None:
            return Resolution(fqcn=unchecked, info=None, via=None)
        return None

    def suggest_module(self, name: str, *, collections: Sequence[str] = ()) -> str | None:
        """The closest known action name, spelt in the style of ``name``.

        A short name gets a short name (``comand`` → ``command``) from those a
        short name can reach (ansible.builtin, its routing, the ``collections``
        given); a fully qualified name gets a fully qualified name, fixing the
        collection part first (``community.genral.zypper`` →
        ``community.general.zypper``, ``ansible.buildin.command`` →
        ``ansible.builtin.command``) and then the module part.
        """
        if "." not in name:
            return self._suggest_short(name, collections)
        if name.count(".") < 2:
            return None
        collection, module = _split(name)
        prefix = collection
        if not self.is_known_collection(collection):
            fixed = did_you_mean(collection, sorted(self._collections | {LEGACY}))
            if fixed is None:
                return None
            prefix = fixed
        if not self.is_cataloged_collection(prefix):
            # We cannot check the module part; fixing the collection is all
            # we can offer.
            return None if prefix == collection else f"{prefix}.{module}"
        names = self._by_collection.get(_canonical_collection(prefix), ())
        if module in names:
            return None if prefix == collection else f"{prefix}.{module}"
        best = did_you_mean(module, names)
        return None if best is None else f"{prefix}.{best}"

    # ------------------------------------------------------------------ internals

    def _candidates(self, name: str, collections: Sequence[str]) -> Iterable[str]:
        if "." in name:
            yield _canonical(name)
            return
        searched_builtin = False
        for collection in collections:
            canonical = _canonical_collection(collection)
            searched_builtin = searched_builtin or canonical == BUILTIN
            yield f"{canonical}.{name}"
        if not searched_builtin:
            yield f"{BUILTIN}.{name}"

    def _follow(self, fqcn: str) -> Resolution | None:
        via: str | None = None
        deprecation: str | None = None
        seen: set[str] = set()
        current = fqcn
        for _ in range(_MAX_REDIRECTS):
            if current in seen:
                return None
            seen.add(current)
            info = self._entries.get(current)
            route = self._routes.get(current)
            target = info.redirect if info is not None else None
            if target is None and route is not None:
                target = route.redirect
            if target is not None:
                via = via or current
                if deprecation is None and route is not None and route.deprecated:
                    deprecation = route.message or f"{current} is deprecated"
                current = _canonical(target)
                continue
            if info is not None:
                return Resolution(fqcn=current, info=info, via=via, deprecation=deprecation)
            if route is not None and route.removed:
                gone = tombstone(current, route.message, deprecated=route.deprecated)
                return Resolution(fqcn=current, info=gone, via=via, deprecation=deprecation)
            if via is not None and self._is_uncataloged(_split(current)[0]):
                # A redirect into a collection we do not describe: the name is
                # valid for ansible, we just have no details.
                return Resolution(fqcn=current, info=None, via=via, deprecation=deprecation)
            return None
        return None

    def _is_uncataloged(self, collection: str) -> bool:
        return collection in self._collections and collection not in self._cataloged

    def _suggest_short(self, name: str, collections: Sequence[str]) -> str | None:
        # Real builtin modules first, so that a routing entry for some old
        # network module never beats the builtin everybody meant.
        if self._builtin_shorts is None:
            # From the keys: building every entry to read its collection costs more
            # than the rest of a check.
            prefix = BUILTIN + "."
            self._builtin_shorts = tuple(
                sorted(f[len(prefix) :] for f in self._entries if f.startswith(prefix))
            )
        best = did_you_mean(name, self._builtin_shorts)
        if best is not None:
            return best
        keys = tuple(dict.fromkeys((BUILTIN, *(_canonical_collection(c) for c in collections))))
        index = self._indexes.get(keys)
        if index is None:
            reachable: set[str] = set()
            for collection in keys:
                reachable.update(self._by_collection.get(collection, ()))
            index = SuggestionIndex(n for n in reachable if "." not in n)
            self._indexes[keys] = index
        return index.closest(name)


_V = TypeVar("_V")


class _Lazy(Mapping[str, _V]):
    """A read-only mapping that builds each value from its raw JSON on first access."""

    __slots__ = ("_build", "_built", "_raw")

    def __init__(self, raw: dict[str, Any], build: Callable[[Any], _V]) -> None:
        self._raw = raw
        self._build = build
        self._built: dict[str, _V] = {}

    def __getitem__(self, key: str) -> _V:
        value = self._built.get(key)
        if value is None:
            value = self._build(self._raw[key])
            self._built[key] = value
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


def _module_info(raw: Mapping[str, Any]) -> ModuleInfo:
    return ModuleInfo(
        fqcn=raw["fqcn"],
        short=raw["short"],
        collection=raw["collection"],
        options=frozenset(raw["options"]),
        required=frozenset(raw["required"]),
        free_form=bool(raw["free_form"]),
        supports_async=bool(raw["supports_async"]),
        kind=ModuleKind(raw["kind"]),
        redirect=raw.get("redirect"),
        removed=bool(raw.get("removed", False)),
        deprecated=bool(raw.get("deprecated", False)),
        message=raw.get("message"),
    )


def _route(spec: Mapping[str, Any]) -> _Route:
    return _Route(
        redirect=spec.get("redirect"),
        removed=bool(spec.get("removed", False)),
        deprecated=bool(spec.get("deprecated", False)),
        message=spec.get("message"),
    )


def tombstone(fqcn: str, message: str | None, *, deprecated: bool = False) -> ModuleInfo:
    """A module that is gone (a ``meta/runtime.yml`` tombstone): known, never runnable."""
    collection, short = _split(fqcn)
    return ModuleInfo(
        fqcn=fqcn,
        short=short,
        collection=collection,
        options=frozenset(),
        required=frozenset(),
        free_form=False,
        supports_async=False,
        kind=ModuleKind.MODULE,
        redirect=None,
        removed=True,
        deprecated=deprecated,
        message=message,
    )


def _split(fqcn: str) -> tuple[str, str]:
    """``ns.coll.rest`` → (``ns.coll``, ``rest``); ``rest`` may contain dots."""
    namespace, _, rest = fqcn.partition(".")
    name, _, module = rest.partition(".")
    return f"{namespace}.{name}", module


def _canonical_collection(collection: str) -> str:
    return BUILTIN if collection == LEGACY else collection


def _canonical(fqcn: str) -> str:
    if fqcn.startswith(LEGACY + "."):
        return BUILTIN + fqcn[len(LEGACY) :]
    return fqcn


def _load_json(name: str) -> Any:
    text = resources.files(__package__).joinpath("data", name).read_text(encoding="utf-8")
    return json.loads(text)


@cache
def default_catalog() -> Catalog:
    """The catalog built from the packaged data (loaded on first use, then shared)."""
    return Catalog(_load_json("modules.json"))


# ---------------------------------------------------------------------- keywords


@dataclass(frozen=True, slots=True, kw_only=True)
class Keywords:
    """Valid keys per playbook context, from ansible-core's playbook classes.

    Every set includes aliases (``async`` next to ``async_val``) and, for tasks,
    handlers and includes, ``with_<lookup>`` for each lookup a short name
    reaches.  ``role`` lists the keywords of a ``roles:`` entry; any other key
    there is a role parameter, not an error.  ``include`` is
    ``TaskInclude.VALID_INCLUDE_KEYWORDS`` (no ``async``, ``poll``, ``until``,
    ``retries``, ``delay``…), which ansible checks for ``include_tasks`` and
    ``include_role``; an include among handlers also accepts ``listen``.
    """

    play: frozenset[str]
    block: frozenset[str]
    task: frozenset[str]
    handler: frozenset[str]
    role: frozenset[str]
    include: frozenset[str]
    playbook_import: frozenset[str]
    """Keys of a top-level ``- import_playbook: x.yml`` entry."""
    loop_lookups: Mapping[str, str]
    """``with_<name>`` → the lookup plugin it runs."""
    deprecated: Mapping[str, Mapping[str, str]]
    """Context → deprecated keyword → what to use instead (``play``: ``user``)."""


@cache
def keywords() -> Keywords:
    """The packaged keyword sets (loaded on first use, then shared)."""
    data = _load_json("keywords.json")
    return Keywords(
        play=frozenset(data["play"]),
        block=frozenset(data["block"]),
        task=frozenset(data["task"]),
        handler=frozenset(data["handler"]),
        role=frozenset(data["role"]),
        include=frozenset(data["include"]),
        playbook_import=frozenset(data["playbook_import"]),
        loop_lookups=MappingProxyType(dict(data["loop_lookups"])),
        deprecated=MappingProxyType(
            {ctx: MappingProxyType(dict(words)) for ctx, words in data["deprecated"].items()}
        ),
    )


def suggest_keyword(word: str, valid: Iterable[str]) -> str | None:
    """The valid keyword closest to ``word``, if any is close enough.

    ``with_*`` loop keywords are offered only for words that start with
    ``with``: otherwise the dozens of lookups (``with_env``, ``with_vars``…)
    crowd out the keyword that was meant.
    """
    candidates = sorted(valid)
    if not word.lower().startswith("with"):
        candidates = [c for c in candidates if not c.startswith("with_")]
    return did_you_mean(word, candidates)
