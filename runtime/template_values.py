"""The values a rendering deals in, shared by `Templar` and its plugin libraries.

`runtime/templating.py` renders; `runtime/filters.py`, `runtime/jinja_tests.py`,
`runtime/versions.py` and `runtime/lookups.py` are the libraries it installs.  What
both sides need lives here, so that the libraries never import the renderer:

* the errors a rendering raises (`TemplateError` and its subclasses) and the one
  the libraries raise (`PluginError`, which the renderer rewords with the plugin's
  name);
* ``omit`` (`OMIT`) and the undefined values (`TemplateUndefined`, and the
  `ErrorMarker` a failed variable becomes);
* provenance: `mark_unsafe`, `DataDict` and `Trust` decide which text is data
  (`playgraph.semantics.UnsafeText`) and which may still be a template;
* `PluginHost`: what a filter, test or lookup may ask of the renderer that runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn, Protocol

from jinja2.runtime import StrictUndefined, Undefined

from playgraph.semantics import PlaygraphError, UnsafeText

if TYPE_CHECKING:
    import os
    import random

    import jinja2

__all__ = [
    "OMIT",
    "ConditionalError",
    "DataDict",
    "ErrorMarker",
    "PluginError",
    "PluginHost",
    "TemplateError",
    "TemplateUndefined",
    "Trust",
    "UndefinedVariableError",
    "Variables",
    "error_text",
    "mark_unsafe",
    "plugin_host",
    "raise_undefined",
    "to_text",
    "trip_if_error_marker",
    "type_name",
]


# --------------------------------------------------------------------------- errors


class TemplateError(PlaygraphError):
    """Rendering a template, evaluating a conditional or running a lookup failed.

    The only exception `Templar` lets out: Jinja's own errors, errors raised by
    filters, tests and lookups, and Python errors inside templates all arrive as
    this (or a subclass) with a message worded as Ansible words it.
    """


class UndefinedVariableError(TemplateError):
    """A template used an undefined variable, attribute or element."""


class ConditionalError(TemplateError):
    """A ``when``/``until``/``changed_when``/``failed_when`` condition failed to evaluate.

    The message has Ansible's shape: ``The conditional check '<cond>' failed. The
    error was: error while evaluating conditional (<cond>): <reason>``.
    """


class PluginError(PlaygraphError):
    """Raised by a filter, test or lookup; the renderer adds the plugin's name
    (``The filter plugin 'ansible.builtin.<name>' failed: <message>``)."""


# --------------------------------------------------------------------------- omit


class _Omit:
    """The value of the ``omit`` variable (Ansible's ``default(omit)`` idiom).

    A dict value that renders to it loses its key, a list element that renders to it
    disappears, and a piece of a joined string that renders to it is dropped.  A
    whole value that renders to it is returned as `OMIT` so the caller can treat the
    option as unset.
    """

    _instance: _Omit | None = None

    def __new__(cls) -> _Omit:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "OMIT"

    def __reduce__(self) -> str:
        return "OMIT"


OMIT: Final = _Omit()


# --------------------------------------------------------------------------- undefined values


class TemplateUndefined(StrictUndefined):
    """Jinja's strict undefined: printing, iterating, comparing or testing it raises.

    Only ``default``, ``is defined``/``is undefined`` and ``mandatory`` can look at
    it without failing.  Attribute and item access chain, as ansible-core's
    undefined does: ``x.attr | default('d')`` and ``a.b.c is defined`` work with
    ``x``/``a.b`` undefined, and a real use reports the first missing part.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__":
            raise AttributeError(name)
        return self

    def __getitem__(self, key: Any) -> Any:
        return self


class ErrorMarker(TemplateUndefined):
    """A variable (or part of one) whose rendering failed with something other
    than an undefined variable.

    It behaves like an undefined value whose every use re-raises the original
    failure — including ``default``, which must not hide a real error (as in
    Ansible 2.19).
    """

    __slots__ = ("_error",)

    def __init__(self, error: TemplateError) -> None:
        super().__init__(hint=str(error))
        self._error = error

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise self._error


def trip_if_error_marker(value: object) -> None:
    """Raise the stored failure if `value` is a marker for a failed rendering.

    Filters and tests that accept undefined values (``default``, ``defined``,
    ``mandatory``) call this first so that a real error is not mistaken for
    "undefined".
    """
    if isinstance(value, ErrorMarker):
        value._fail_with_undefined_error()


def raise_undefined(value: Undefined) -> NoReturn:
    """Raise the error an undefined value stands for (it is being used for real)."""
    value._fail_with_undefined_error()
    raise AssertionError("unreachable: an undefined value did not raise")  # pragma: no cover


# --------------------------------------------------------------------------- provenance


_ATOMS: Final = frozenset({int, float, bool, type(None)})
"""Types `mark_unsafe` returns as they are, tested by exact type."""


def mark_unsafe(value: Any, *, keep: Trust | None = None) -> Any:
    """Return `value` with every string inside it turned into `UnsafeText`
    (but those `keep` vouches for).

    For values that come from targets or commands (registered results, lookup
    items, facts): storing them in a variable layer must not make them templates
    that a later `LazyVars` access would render.  Dicts, lists, tuples and sets are
    copied (dict keys, never templated, are kept as they are); other values are
    returned as they are.
    """
    kind = type(value)
    # Exact types first: a run marks every registered result and fact of every host.
    if kind is UnsafeText or kind in _ATOMS:
        return value
    if kind is str:
        return value if keep is not None and keep.trusts(value) else UnsafeText(value)
    if kind is dict:
        return {k: mark_unsafe(v, keep=keep) for k, v in value.items()}
    if isinstance(value, UnsafeText):
        return value
    if isinstance(value, str):
        return value if keep is not None and keep.trusts(value) else UnsafeText(value)
    if isinstance(value, dict):
        return {k: mark_unsafe(v, keep=keep) for k, v in value.items()}
    if isinstance(value, list):
        return [mark_unsafe(v, keep=keep) for v in value]
    if isinstance(value, tuple):
        return tuple(mark_unsafe(v, keep=keep) for v in value)
    if isinstance(value, set | frozenset):
        return type(value)(mark_unsafe(v, keep=keep) for v in value)
    return value


class DataDict(dict[str, Any]):
    """A variable layer of run-time data (registered results, facts, gathered facts).

    Every value stored is passed through `mark_unsafe` on the way in, so nothing in
    it is ever rendered as a template, however it was built or wherever it came
    from; the layer needs no help from the code that fills it.
    """

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.update(*args, **kwargs)

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, mark_unsafe(value))

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def __ior__(self, other: Any) -> DataDict:  # type: ignore[override,misc]
        self.update(other)
        return self


class Trust:
    """What one rendering read from trusted variables: the strings it may pass on as trusted.

    A string a template hands back unchanged (``{{ item }}``, ``{{ names[0] }}``)
    keeps its provenance, as in ansible-core: one from the playbook stays usable as
    an expression (``debug: var="{{ item }}"``).  Any other string a rendering
    produces — built by filters, ``~``, ``format``, a lookup, or read from a data
    layer — is `UnsafeText`.  Strings are matched by identity with those inside
    the values read (`note`), which are kept alive for the rendering.
    """

    __slots__ = ("_ids", "_roots")

    def __init__(self) -> None:
        self._roots: list[Any] = []
        self._ids: set[int] | None = None

    def note(self, value: Any) -> None:
        """`value` was read from a trusted place: its plain strings are trusted."""
        if isinstance(value, str | dict | list | tuple) and not isinstance(value, UnsafeText):
            self._roots.append(value)
            self._ids = None

    def trusts(self, text: str) -> bool:
        """Whether `text` is one of the trusted strings noted (by identity)."""
        if self._ids is None:
            ids: set[int] = set()
            _collect_strings(self._roots, ids, 0)
            self._ids = ids
        return id(text) in self._ids


_MAX_TRUST_DEPTH: Final = 64


def _collect_strings(value: Any, ids: set[int], depth: int) -> None:
    if isinstance(value, UnsafeText) or depth > _MAX_TRUST_DEPTH:
        return
    if isinstance(value, str):
        ids.add(id(value))
    elif isinstance(value, dict):
        # Keys are not trusted: one that comes out of a rendering (``keys()``,
        # ``dict2items``) may be a target's text.
        for item in value.values():
            _collect_strings(item, ids, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect_strings(item, ids, depth + 1)


# --------------------------------------------------------------------------- for plugins


def type_name(value: object) -> str:
    """The Python type name of `value` for messages; `UnsafeText` is a ``str``."""
    return "str" if isinstance(value, UnsafeText) else type(value).__name__


def error_text(error: BaseException) -> str:
    """An exception's message, or its type's name when it has none."""
    text = str(error)
    return text if text else type(error).__name__


def to_text(value: Any) -> str:
    """Ansible's ``to_text(..., nonstring='simplerepr')``: bytes decoded, the rest ``str()``."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


class Variables(Mapping[str, Any]):
    """A template's variables as a mapping (the renderer's lazy view of them).

    A base class only so that plugins can recognise it without importing the
    renderer: ``type_debug`` says ``dict`` for it.
    """

    __slots__ = ()


class PluginHost(Protocol):
    """What a filter, test or lookup may use of the renderer that runs it."""

    basedir: Path
    """Where file lookups search (then under ``ansible_search_path``)."""
    rng: random.Random
    """The run's random generator (``random``, ``shuffle``, ``random_choice``)."""
    inventory: Callable[[list[str]], list[str]] | None
    """Host names matching inventory patterns (``inventory_hostnames``)."""

    def warn(self, message: str) -> None:
        """Record a warning for the run's display."""

    def render_template_file(
        self,
        path: str | os.PathLike[str],
        variables: Mapping[str, Any],
        *,
        template_vars: Mapping[str, Any] | None = None,
        searchpath: Sequence[str | os.PathLike[str]] = (),
        display_path: str | None = None,
    ) -> Any:
        """Render a Jinja file (the ``template`` lookup)."""


def plugin_host(env: jinja2.Environment) -> PluginHost:
    """The renderer that owns `env`, for filters and tests that warn or draw random numbers."""
    host: PluginHost = env.templar  # type: ignore[attr-defined]
    return host
