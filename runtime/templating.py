"""Templating: Ansible-compatible Jinja2 rendering of playbook values and conditionals.

One `Templar` per run renders task arguments, keywords and conditionals for every
host.  It is built on a **sandboxed native-types** Jinja2 environment, following
ansible-core 2.19's rules:

* A template that is a single expression keeps the expression's Python type:
  ``"{{ 5 }}"`` is ``5``, ``"{{ [1, 2] }}"`` is a list, ``"{{ '5' }}"`` stays the
  string ``'5'``.  Several pieces (``"a{{ x }}"``, ``" {{ x }} "``) are joined as a
  string.  Unlike `jinja2.nativetypes`, a string is **never** parsed back into a
  Python literal (no ``ast.literal_eval``): job ids such as ``"123.456"`` or
  ``"j123.456"`` stay strings — ansible/ansible#80167 lost their digits by turning
  them into floats.
* ``None`` pieces vanish from a joined string (``"x{{ None }}"`` is ``'x'``) and a
  template made only of ``None`` pieces is ``None``; tuples, sets, generators and
  other iterables come out as lists.
* Undefined variables are strict: any use raises `UndefinedVariableError`
  (``'foo' is undefined``, ``'dict object' has no attribute 'ansible_job_id'``)
  while ``default``/``is defined``/``mandatory`` still see them.
* Backslashes in string literals inside ``{{ }}`` are doubled before Jinja reads
  them (Ansible's ``escape_backslashes``), so ``regex_replace('(a)', '\\1')`` written
  in a double-quoted YAML string means a back-reference, not ``chr(1)``.
  Conditionals and template files are not escaped, as in Ansible.

**Lazy variables.** Variable values are themselves templates
(``vars: {a: "{{ b }}", b: 1}``).  They are rendered on access, recursively, by
`LazyVars`, the `Mapping` handed to Jinja as the template context: nothing is
pre-rendered, so an unused variable that cannot be rendered costs nothing and
breaks nothing.  A variable whose rendering fails becomes a *marker* (an undefined
value that carries the failure): ``a | default(1)`` still works when ``a`` refers to
an undefined variable, and any real use of it raises the original error.
Self-reference is detected and reported as ``recursive loop detected in template
string: …``.

**Provenance.** Only text from trusted sources is ever a template: the playbook,
its roles and vars files, ``include_vars`` files, the inventory and ``-e`` (all
but ``!unsafe`` values).  Everything a run produces is data, never rendered
again whatever it contains (a target printing ``{{ lookup('pipe', …) }}`` must not
run a command on the controller):

* the result of every rendering is data — `Templar` returns strings made by
  templates as `UnsafeText`, so a value built by filters, ``~``, ``format``,
  ``join``, dict/list construction or ``from_json`` out of target text stays data
  wherever it is stored (``set_fact``, ``add_host``, loop items, …).  Only a
  trusted string passed through unchanged (``{{ item }}`` over a playbook list)
  stays trusted, as in ansible-core (see `Trust`);
* the run's variable stores (registered results, facts, gathered facts,
  ``ansible_failed_result``) are `DataDict` layers, which keep whatever is stored
  in them as data (`mark_unsafe`), whether it was rendered or came from a target;
* the values a run adds on top of a context (`LazyVars.child`: loop items, the
  result ``until`` looks at) are never rendered;
* text that is not trusted is never evaluated as an expression either: a
  conditional that is `UnsafeText` fails with ansible-core's
  ``Encountered untrusted template or expression.``

**Layout.**  This module is the renderer (`Templar`, `LazyVars`).  The Jinja
environment and output shaping are in `jinja_env`; the plugin libraries in
`filters`, `jinja_tests`, `versions` and `lookups` (loaded on the first lookup);
the errors, ``omit``, undefined markers and provenance helpers they share with
the renderer in `template_values`.  The libraries never import this module.
"""

from __future__ import annotations

import collections
import datetime
import itertools
import os
import pwd
import random
import re
import socket
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import jinja2
from jinja2 import nodes
from jinja2.parser import Parser
from jinja2.runtime import Context, Undefined
from jinja2.utils import pass_context

from playgraph.semantics import UnsafeText

from .jinja_env import TemplarEnvironment, concat, finalize
from .template_values import (
    OMIT,
    ConditionalError,
    DataDict,
    ErrorMarker,
    TemplateError,
    TemplateUndefined,
    Trust,
    UndefinedVariableError,
    Variables,
    error_text,
    mark_unsafe,
    raise_undefined,
    trip_if_error_marker,
    type_name,
)

if TYPE_CHECKING:
    from .lookups import Lookup

__all__ = [
    "OMIT",
    "ConditionalError",
    "DataDict",
    "LazyVars",
    "Templar",
    "TemplateError",
    "UndefinedVariableError",
    "UnsafeText",
    "is_template",
    "mark_unsafe",
    "merge_layers",
]


UNTRUSTED_EXPRESSION: Final = "Encountered untrusted template or expression."
"""ansible-core's refusal to evaluate text that is not from the playbook (or inventory …)."""


def is_template(value: object) -> bool:
    """Whether the runtime renders `value`: `playgraph.semantics.is_template` without
    comments, as a lone ``{#`` (shell's ``${#array[@]}``) renders to itself.

    Spelled out rather than delegated: every variable read of every host asks it."""
    return (
        isinstance(value, str)
        and not isinstance(value, UnsafeText)
        and ("{{" in value or "{%" in value)
    )


def _has_template(value: object) -> bool:
    """True if `value` or anything inside a dict/list/tuple in it is a template."""
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_template(v) for v in value)
    return False


# --------------------------------------------------------------------------- lazy variables


class LazyVars(Variables):
    """Variables whose values are rendered when read, for one rendering.

    `raw` maps names to values as written (templates or data).  Reading a name
    renders its value with this same mapping as context, recursively, and caches
    the result for the life of this object; a name read while it is being rendered
    is a cycle.  A value that fails to render comes back as a marker (see the
    module docstring) rather than raising, so that ``default`` and ``is defined``
    work and Jinja may enumerate the mapping.

    `parent` supplies names `raw` lacks.  With `resolved`, `raw` holds rendered
    values and is read as it is (``{% include %}`` contexts).  Children (`child`)
    add run-time values on top, never rendered.

    **Trust.**  `raw` (outside `resolved` and data children) holds trusted values:
    its plain strings come from the playbook, inventory, vars files or ``-e``, or
    are strings a rendering passed through unchanged; everything else in it is
    `UnsafeText` (``!unsafe``, and the `DataDict` layers of run-time data).  Each
    value read is noted with the rendering in progress (see `Trust`).

    A caller provides ``hostvars`` as a plain dict of host name → ``templar.lazy(
    that host's layers)``: mappings other than dicts are never entered, so each
    host's variables render in their own context, when read.
    """

    __slots__ = (
        "_cache",
        "_data",
        "_parent",
        "_raw",
        "_resolved",
        "_resolving",
        "_templar",
        "_trusted",
    )

    def __init__(
        self,
        raw: Mapping[str, Any],
        templar: Templar,
        *,
        parent: LazyVars | None = None,
        resolved: bool = False,
        trusted: bool = True,
        data: bool = False,
    ) -> None:
        self._raw = raw
        self._templar = templar
        self._parent = parent
        self._resolved = resolved
        self._trusted = trusted and not data
        self._data = data
        self._cache: dict[str, Any] = {}
        self._resolving: list[str] = []

    @property
    def templar(self) -> Templar:
        """The `Templar` that renders these variables."""
        return self._templar

    def child(self, extra: Mapping[str, Any], *, data: bool = True) -> LazyVars:
        """A mapping with the run-time values `extra` on top of this one; they are
        never rendered, whatever their strings contain.

        With `data` (a module result for ``until``/``changed_when``): all of `extra`
        reads as `UnsafeText`, copied on each read so that what ``changed_when``
        sets is seen by ``failed_when``.  Without: `extra` holds what renderings
        returned (loop items, template variables), whose untrusted strings are
        already `UnsafeText`, and it keeps the trust of the rest.
        """
        return LazyVars(extra, self._templar, parent=self, resolved=True, data=data)

    def __getitem__(self, key: str) -> Any:
        if key in self._cache:
            return self._noted(self._cache[key])
        layers = self._raw
        if type(layers) is _Layers:
            # A host's variables: a value from a data layer (registered results,
            # facts) is never a template, however large: no need to look inside.
            raw, data_layer = layers.entry(key)
        else:
            raw = layers.get(key, _ABSENT)
            data_layer = False
        if raw is not _ABSENT:
            if self._data:
                return mark_unsafe(raw)
            if self._resolved or data_layer or not _has_template(raw):
                return self._noted(raw)
            if key in self._resolving:
                chain = " -> ".join([*self._resolving[self._resolving.index(key) :], key])
                source = self._raw[self._resolving[-1]]
                return ErrorMarker(
                    TemplateError(
                        f"recursive loop detected in template string: {source} "
                        f"(variables refer to each other: {chain})"
                    )
                )
            self._resolving.append(key)
            try:
                value = self._templar._render_deferred(raw, self)
            finally:
                self._resolving.pop()
            self._cache[key] = value
            return self._noted(value)
        if self._parent is not None and key in self._parent:
            return self._parent[key]
        raise KeyError(key)

    def _noted(self, value: Any) -> Any:
        if self._trusted:
            self._templar._note_trusted(value)
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._raw or (self._parent is not None and key in self._parent)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        sources: list[Iterable[str]] = [self._raw]
        if self._parent is not None:
            sources.append(self._parent)
        for source in sources:
            for key in source:
                if key not in seen:
                    seen.add(key)
                    yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"LazyVars({sorted(self._raw)!r})"


class _ContextVars(Mapping[str, Any]):
    """What Jinja sees as a template's variables: `lazy`, then ``vars``, then the globals.

    Jinja reads a single mapping when given a shared context, so the globals
    (``lookup``, ``omit``, ``range`` …) must be reachable through it; keeping them
    out of `LazyVars` keeps them out of ``hostvars`` and ``vars`` dumps.  ``vars``
    (unless a variable of that name exists) is `lazy` itself, as in Ansible:
    ``vars[name]`` reads a variable by a computed name, by the same rules.
    """

    __slots__ = ("globals", "lazy")

    def __init__(self, lazy: LazyVars, globals: Mapping[str, Any]) -> None:
        self.lazy = lazy
        self.globals = globals

    def __getitem__(self, key: str) -> Any:
        # Jinja has just asked `in`: one more search of the layers, not two.
        try:
            return self.lazy[key]
        except KeyError:
            pass
        if key == "vars":
            return self.lazy
        return self.globals[key]

    def __contains__(self, key: object) -> bool:
        return key in self.lazy or key == "vars" or key in self.globals

    def __iter__(self) -> Iterator[str]:
        yield from self.lazy
        if "vars" not in self.lazy:
            yield "vars"
        yield from (key for key in self.globals if key not in self.lazy and key != "vars")

    def __len__(self) -> int:
        return sum(1 for _ in self)


_ABSENT: Final = object()
"""`_Layers.entry`'s answer for a name in no layer."""


class _Layers(collections.ChainMap[str, Any]):
    """A `collections.ChainMap` whose reads test membership instead of catching
    `KeyError`: most names a host's variables are asked for (the connection
    settings' alternatives) are in none of a dozen layers or only in a low one,
    and an exception per layer passed dominated the cost of a run's variable reads."""

    def __getitem__(self, key: str) -> Any:
        for mapping in self.maps:
            if key in mapping:
                return mapping[key]
        return self.__missing__(key)

    def __contains__(self, key: object) -> bool:
        for mapping in self.maps:  # noqa: SIM110 - a loop, not any(): no generator per call
            if key in mapping:
                return True
        return False

    def get(self, key: str, default: Any = None) -> Any:
        for mapping in self.maps:
            if key in mapping:
                return mapping[key]
        return default

    def entry(self, key: str) -> tuple[Any, bool]:
        """``key``'s value (`_ABSENT` if in no layer) and whether it is from a `DataDict`."""
        for mapping in self.maps:
            if key in mapping:
                return mapping[key], type(mapping) is DataDict
        return _ABSENT, False


def merge_layers(*layers: Mapping[str, Any]) -> Mapping[str, Any]:
    """Combine variable layers, later layers winning, without reading any value.

    The result is a view (a `collections.ChainMap`): layers changed later are seen,
    and values stay raw until a `LazyVars` reads them during a rendering.
    """
    return _Layers(*reversed(layers))


# --------------------------------------------------------------------------- lookups


def _lookup_plugins() -> Mapping[str, Lookup]:
    """The lookup plugins, loaded on the first lookup: they read files and run
    commands, which a run that uses none should not pay for at startup."""
    from . import lookups

    return lookups.LOOKUPS


def _first_undefined(terms: Iterable[Any], kwargs: Mapping[str, Any]) -> Undefined | None:
    for value in itertools.chain(terms, kwargs.values()):
        if isinstance(value, Undefined):
            return value
    return None


def _context_variables(context: Context) -> LazyVars:
    templar: Templar = context.environment.templar  # type: ignore[attr-defined]
    parent = context.parent
    if isinstance(parent, _ContextVars):
        return parent.lazy
    # Inside an {% include %}, Jinja hands over a plain dict of already-rendered values
    # (and the includer's locals, which may hold strings built from data: not trusted).
    return LazyVars(parent, templar, resolved=True, trusted=False)


@pass_context
def _lookup(context: Context, name: str, *terms: Any, **kwargs: Any) -> Any:
    """``lookup(name, *terms, wantlist=False, errors='strict', **options)``."""
    marker = _first_undefined(terms, kwargs)
    if marker is not None:
        return marker
    templar: Templar = context.environment.templar  # type: ignore[attr-defined]
    return templar.call_lookup(name, list(terms), _context_variables(context), **kwargs)


@pass_context
def _query(context: Context, name: str, *terms: Any, **kwargs: Any) -> Any:
    """``query``/``q``: ``lookup`` that always returns the plugin's list."""
    kwargs["wantlist"] = True
    return _lookup(context, name, *terms, **kwargs)


# --------------------------------------------------------------------------- the templar

_WRAPPED_CONDITION: Final = re.compile(r"\s*\{\{(?P<expr>.*)\}\}\s*", re.DOTALL)
_COMPILE_CACHE_SIZE: Final = 4096

InventoryCallback = Callable[[list[str]], list[str]]
"""Host names matching a list of inventory patterns (for ``inventory_hostnames``)."""


class Templar:
    """Renders values and evaluates conditionals for the runtime.

    Stateful: it owns the Jinja environments and their compiled-template caches,
    the warnings that filters and tests emit (`warnings`, each message once, in
    order, like Ansible's display), the base directory that file lookups search
    (`basedir`), the random generator behind ``random``/``shuffle``/
    ``random_choice`` (`rng`, injected so runs are reproducible) and the inventory
    callback behind ``inventory_hostnames``.  Variables are passed to every call;
    the same Templar serves all hosts.
    """

    def __init__(
        self,
        *,
        basedir: str | os.PathLike[str] = ".",
        rng: random.Random | None = None,
        inventory: InventoryCallback | None = None,
        allow_broken_conditionals: bool = False,
    ) -> None:
        self.basedir = Path(basedir).resolve()
        self.rng = rng if rng is not None else random.Random()
        self.inventory = inventory
        self.allow_broken_conditionals = allow_broken_conditionals
        """Ansible's ``ALLOW_BROKEN_CONDITIONALS``: accept non-boolean results (by truthiness)."""
        self.warnings: list[str] = []
        self._env = TemplarEnvironment(self, escape_backslashes=True)
        self._raw_env = TemplarEnvironment(self, escape_backslashes=False)
        for env in (self._env, self._raw_env):
            env.globals.update(lookup=_lookup, query=_query, q=_query)
        self._compiled: collections.OrderedDict[tuple[str, str], jinja2.Template] = (
            collections.OrderedDict()
        )
        self._trust: list[Trust] = []
        """One entry per rendering in progress (they nest: variables render on read)."""

    # ----------------------------------------------------------------- public API

    def warn(self, message: str) -> None:
        """Record a warning for the run's display (once per distinct message)."""
        if message not in self.warnings:
            self.warnings.append(message)

    def lazy(self, variables: Mapping[str, Any]) -> LazyVars:
        """`variables` as a `LazyVars` (returned as is if it already is one).

        A `LazyVars` caches what it renders: keep one only while the variables
        under it do not change (e.g. build ``hostvars`` entries per task), and let
        `render`/`evaluate` wrap plain mappings afresh on every call.
        """
        if isinstance(variables, LazyVars):
            return variables
        return LazyVars(variables, self)

    def render(self, value: Any, variables: Mapping[str, Any]) -> Any:
        """Render `value` (recursively through dicts, lists and tuples) against `variables`.

        Strings that are not templates come back unchanged (same object), as do
        other scalars; containers are copied, with keys that render to ``omit``
        removed (dict keys themselves are not templated, as in Ansible).  A value
        that renders entirely to ``omit`` is returned as `OMIT`.  Raises
        `TemplateError`.
        """
        lazy = self.lazy(variables)
        return self._render_value(value, lazy)

    def evaluate(self, condition: str | bool, variables: Mapping[str, Any]) -> bool:
        """Evaluate one ``when``/``until``/``changed_when``/``failed_when`` condition.

        A bare expression is evaluated as if written ``{{ condition }}``; one already
        wrapped in ``{{ }}`` is tolerated (with a warning).  The result must be a
        boolean, as in Ansible 2.19; with `allow_broken_conditionals` another value
        is taken by its truthiness (``"False"`` is then true!) with a warning.
        Raises `ConditionalError`.
        """
        if isinstance(condition, bool):
            return condition
        if not isinstance(condition, str):
            return self._check_boolean(condition, condition)
        if isinstance(condition, UnsafeText):
            # Made by a template or read from a target: data, never an expression.
            raise ConditionalError(f"Task failed: {UNTRUSTED_EXPRESSION}")
        expression = condition.strip()
        try:
            if not expression:
                raise TemplateError("Empty conditional expressions are not allowed.")
            wrapped = _WRAPPED_CONDITION.fullmatch(expression)
            if wrapped and not any(m in wrapped["expr"] for m in ("{{", "}}", "{%", "%}")):
                self.warn(
                    "Conditionals should not be surrounded by templating delimiters such as "
                    f"{{{{ }}}} or {{% %}}. Found: {condition}"
                )
                expression = wrapped["expr"].strip()
            value = self._evaluate_expression(expression, self.lazy(variables))
        except TemplateError as error:
            raise ConditionalError(_conditional_message(condition, str(error))) from error
        return self._check_boolean(value, condition)

    def evaluate_all(
        self,
        conditions: str | bool | Iterable[str | bool] | None,
        variables: Mapping[str, Any],
    ) -> bool:
        """AND of `evaluate` over a condition list (a single condition is a list of one).

        Stops at the first false condition, as Ansible does; ``None`` or an empty
        list is true.
        """
        if conditions is None:
            return True
        if isinstance(conditions, str | bool):
            conditions = [conditions]
        lazy = self.lazy(variables)
        return all(self.evaluate(condition, lazy) for condition in conditions)

    def run_lookup(
        self,
        name: str,
        terms: Any,
        variables: Mapping[str, Any],
        *,
        action: str | None = None,
        **kwargs: Any,
    ) -> list[Any]:
        """Items for a ``with_<name>`` loop.

        `terms` is the raw loop value from the task: it is rendered here (a string
        is stripped first) and wrapped in a list when it is not one, as Ansible's
        task executor does.  The items are `mark_unsafe`-d: an item that contains
        ``{{`` is data, and stays data when the scheduler puts it in ``item``.
        `action` is the task's module name: ``with_first_found`` searches the
        ``templates/``, ``vars/`` or ``files/`` directory according to it, as
        Ansible does.
        """
        lazy = self.lazy(variables)
        if isinstance(terms, str) and not isinstance(terms, UnsafeText):
            terms = terms.strip()
        if name.removeprefix("ansible.builtin.") == "first_found":
            kwargs["_subdir"] = next(
                (f"{kind}s" for kind in ("template", "var") if kind in (action or "")), "files"
            )
            # As in Ansible, candidates naming undefined variables are skipped, so
            # that "{{ ansible_distribution }}.yml" can fall through to a default.
            rendered = _drop_undefined(self._render_deferred(terms, lazy))
        else:
            rendered = self._render_value(terms, lazy)
        if not isinstance(rendered, list):
            rendered = [rendered]
        result = self.call_lookup(name, rendered, lazy, wantlist=True, **kwargs)
        # Items the plugin passed through from the terms keep their trust (with_items
        # over playbook strings); what it made or read (a file, a command) is data.
        trust = Trust()
        trust.note(rendered)
        return list(mark_unsafe(result, keep=trust))

    def call_lookup(
        self,
        name: str,
        terms: Sequence[Any],
        variables: Mapping[str, Any],
        *,
        wantlist: bool = False,
        errors: str = "strict",
        **kwargs: Any,
    ) -> Any:
        """Run lookup plugin `name` on rendered `terms`, shaping the result like Ansible.

        This is ``lookup()``/``query()`` in templates.  With `wantlist` the plugin's
        list is returned; otherwise an empty list stays ``[]``, one item is returned
        alone, several strings are joined with commas and anything else is the list.
        `errors` is ``strict`` (raise), ``warn`` or ``ignore`` (``None``/``[]``).
        """
        short = name.removeprefix("ansible.builtin.")
        plugin = _lookup_plugins().get(short)
        if plugin is None:
            raise TemplateError(f"lookup plugin ({name}) not found")
        if errors not in ("strict", "warn", "ignore"):
            raise TemplateError(
                f"Invalid value for 'errors' ({errors}): expected strict, warn or ignore"
            )
        lazy = self.lazy(variables)
        try:
            result = plugin(self, list(terms), lazy, kwargs)
        except UndefinedVariableError:
            raise
        except Exception as error:
            message = f"The lookup plugin '{short}' failed: {error_text(error)}"
            if errors == "strict":
                raise TemplateError(message) from error
            if errors == "warn":
                self.warn(message)
            return [] if wantlist else None
        if not wantlist and result:
            if len(result) == 1:
                return result[0]
            if all(isinstance(item, str) for item in result):
                return ",".join(result)
        return result

    def render_template_file(
        self,
        path: str | os.PathLike[str],
        variables: Mapping[str, Any],
        *,
        template_vars: Mapping[str, Any] | None = None,
        searchpath: Sequence[str | os.PathLike[str]] = (),
        display_path: str | None = None,
    ) -> Any:
        """Render the Jinja file at `path` (the ``template`` lookup, and the template module).

        As Ansible does for files: no backslash escaping, trailing newlines kept,
        ``{% include %}`` searched in the file's directory then `searchpath`, and
        the variables ``template_path``, ``template_fullpath``, ``template_host``,
        ``template_uid``, ``template_mtime``, ``template_run_date`` and
        ``ansible_managed`` added under `template_vars` (``template_path`` is
        `display_path` if given: the name the playbook used).
        """
        fullpath = Path(path).resolve()
        shown = str(path) if display_path is None else display_path
        try:
            source = fullpath.read_text(encoding="utf-8")
        except OSError as error:
            raise TemplateError(f"Unable to read template file {str(path)!r}: {error}") from error
        stat = fullpath.stat()
        lazy = self.lazy(variables)
        extra: dict[str, Any] = {
            "template_path": shown,
            "template_fullpath": str(fullpath),
            "template_host": socket.gethostname(),
            "template_uid": _user_name(stat.st_uid),
            "template_mtime": datetime.datetime.fromtimestamp(stat.st_mtime),
            "template_run_date": datetime.datetime.now(),
        }
        if "ansible_managed" not in lazy:
            extra["ansible_managed"] = "Ansible managed"
        extra = mark_unsafe(extra)
        if template_vars:
            # From the ``template`` lookup's option, inside a rendering: only strings it
            # read from trusted variables stay templates; the rest (constants, values
            # built from data) is data.  Called from Python, the caller vouches for them.
            extra.update(
                mark_unsafe(template_vars, keep=self._trust[-1]) if self._trust else template_vars
            )
        loader = jinja2.FileSystemLoader([str(fullpath.parent), *map(str, searchpath)])
        env = self._raw_env.overlay(loader=loader)
        return self._render_string(source, LazyVars(extra, self, parent=lazy), env=env, cache=False)

    # ----------------------------------------------------------------- internals

    def undefined(self, hint: str) -> Undefined:
        """An undefined value that raises `hint` when used (for plugins)."""
        return TemplateUndefined(hint=hint)

    def _note_trusted(self, value: Any) -> None:
        """`value` was read from trusted variables by the rendering in progress."""
        if self._trust:
            self._trust[-1].note(value)

    def _render_value(self, value: Any, lazy: LazyVars) -> Any:
        """Render a playbook value; errors raise (top level of `render`)."""
        if isinstance(value, str):
            return self._render_string(value, lazy) if is_template(value) else value
        if isinstance(value, dict):
            result: dict[Any, Any] = {}
            for key, item in value.items():
                item = self._render_value(item, lazy)
                if item is not OMIT:
                    result[key] = item
            return result
        if isinstance(value, list | tuple):
            rendered = (self._render_value(item, lazy) for item in value)
            return [item for item in rendered if item is not OMIT]
        if isinstance(value, Undefined):
            raise_undefined(value)
        return value

    def _render_deferred(self, value: Any, lazy: LazyVars) -> Any:
        """Render a variable's value; failures become markers in place (see `LazyVars`)."""
        if isinstance(value, str):
            if not is_template(value):
                return value
            try:
                return self._render_string(value, lazy)
            except UndefinedVariableError as error:
                return TemplateUndefined(hint=str(error))
            except TemplateError as error:
                return ErrorMarker(error)
        if isinstance(value, dict):
            result: dict[Any, Any] = {}
            for key, item in value.items():
                item = self._render_deferred(item, lazy)
                if item is not OMIT:
                    result[key] = item
            return result
        if isinstance(value, list | tuple):
            rendered = (self._render_deferred(item, lazy) for item in value)
            return [item for item in rendered if item is not OMIT]
        return value

    def _compile(self, source: str | nodes.Template, env: TemplarEnvironment) -> jinja2.Template:
        try:
            with warnings.catch_warnings():
                # Jinja unescapes string literals with Python's codec, which warns
                # about "\d"-style sequences; they are kept as written, as in Ansible.
                warnings.simplefilter("ignore", DeprecationWarning)
                return env.from_string(source)
        except jinja2.TemplateSyntaxError as error:
            raise TemplateError(f"Syntax error in template: {error.message}") from None
        except TemplateError:
            raise
        except Exception as error:  # noqa: BLE001 - e.g. RecursionError on absurd nesting
            raise TemplateError(f"Syntax error in template: {error_text(error)}") from None

    def _cached(
        self, key: tuple[str, str], build: Callable[[], jinja2.Template]
    ) -> jinja2.Template:
        """The compiled template under `key`, compiling it on a miss (LRU cache)."""
        template = self._compiled.get(key)
        if template is None:
            template = build()
            self._compiled[key] = template
            if len(self._compiled) > _COMPILE_CACHE_SIZE:
                self._compiled.popitem(last=False)
        else:
            self._compiled.move_to_end(key)
        return template

    def _render_string(
        self,
        source: str,
        lazy: LazyVars,
        *,
        env: TemplarEnvironment | None = None,
        cache: bool = True,
    ) -> Any:
        env = env or self._env
        if cache:
            kind = "escaped" if env is self._env else "raw"
            template = self._cached((kind, source), lambda: self._compile(source, env))
        else:
            template = self._compile(source, env)
        trust = Trust()
        self._trust.append(trust)
        try:
            view = _ContextVars(lazy, env.globals)
            context = template.new_context(view, shared=True)  # type: ignore[arg-type]
            result = finalize(concat(template.root_render_func(context)), trust)
        except Exception as error:  # noqa: BLE001 - a plugin's error is the template's
            raise _as_template_error(error, "Error rendering template") from None
        finally:
            self._trust.pop()
        if isinstance(result, str):
            # Jinja drops one trailing newline; Ansible puts back as many as the source had.
            missing = _trailing_newlines(source) - _trailing_newlines(result)
            if missing > 0:
                result = UnsafeText(result + "\n" * missing)
        return result

    def _evaluate_expression(self, expression: str, lazy: LazyVars) -> Any:
        """Value of a bare Jinja expression (no delimiters), as ``compile_expression`` would."""
        template = self._cached(
            ("expression", expression), lambda: self._compile_expression(expression)
        )
        trust = Trust()
        self._trust.append(trust)
        try:
            view = _ContextVars(lazy, self._raw_env.globals)
            context = template.new_context(view, shared=True)  # type: ignore[arg-type]
            for _ in template.root_render_func(context):
                pass
            return finalize(context.vars["result"], trust)
        except Exception as error:  # noqa: BLE001 - a plugin's error is the expression's
            raise _as_template_error(error, "Error rendering expression") from None
        finally:
            self._trust.pop()

    def _compile_expression(self, expression: str) -> jinja2.Template:
        """A template whose only statement stores `expression`'s value in ``result``."""
        try:
            parser = Parser(self._raw_env, expression, state="variable")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # see _compile
                body = parser.parse_expression()
            if not parser.stream.eos:
                raise jinja2.TemplateSyntaxError(
                    "chunk after expression", parser.stream.current.lineno
                )
        except jinja2.TemplateSyntaxError as error:
            hint = ""
            if is_template(expression):
                hint = ". Template delimiters are not supported in expressions"
            raise TemplateError(f"Syntax error in expression{hint}: {error.message}") from None
        except Exception as error:  # noqa: BLE001 - e.g. RecursionError on absurd nesting
            raise TemplateError(f"Syntax error in expression: {error_text(error)}") from None
        tree = nodes.Template([nodes.Assign(nodes.Name("result", "store"), body)])
        return self._compile(tree, self._raw_env)

    def _check_boolean(self, value: Any, condition: object) -> bool:
        """Ansible 2.19's rule: a conditional's value must be a bool (see `evaluate`)."""
        if isinstance(value, bool):
            return value
        truth = bool(value)
        reason = (
            f"Conditional result ({truth}) was derived from value of type "
            f"{type_name(value)!r}. Conditionals must have a boolean result."
        )
        if self.allow_broken_conditionals:
            self.warn(f"{reason} Found: {condition}")
            return truth
        raise ConditionalError(_conditional_message(condition, reason))


# --------------------------------------------------------------------------- helpers


def _conditional_message(condition: object, reason: str) -> str:
    return (
        f"The conditional check '{condition}' failed. The error was: "
        f"error while evaluating conditional ({condition}): {reason}"
    )


def _as_template_error(error: Exception, prefix: str) -> TemplateError:
    """Translate any exception raised while running a template into ours."""
    if isinstance(error, TemplateError):
        return error
    if isinstance(error, jinja2.UndefinedError):
        return UndefinedVariableError(error.message or "undefined variable")
    if isinstance(error, jinja2.exceptions.SecurityError):
        # Ansible reports a blocked attribute like an undefined one, without a prefix.
        return TemplateError(error.message or "unsafe access")
    if isinstance(error, RecursionError):
        return TemplateError(f"recursive loop detected in template string: {error}")
    return TemplateError(f"{prefix}: {error_text(error)}")


def _drop_undefined(value: Any) -> Any:
    """`value` without undefined parts (lists lose the item, dicts the key); a
    failed rendering still raises."""

    def undefined(item: object) -> bool:
        return isinstance(item, TemplateUndefined) and not isinstance(item, ErrorMarker)

    trip_if_error_marker(value)
    if isinstance(value, dict):
        return {k: _drop_undefined(v) for k, v in value.items() if not undefined(v)}
    if isinstance(value, list):
        return [_drop_undefined(v) for v in value if not undefined(v)]
    return [] if undefined(value) else value


def _trailing_newlines(text: str) -> int:
    return len(text) - len(text.rstrip("\n"))


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
