"""Ansible's shared semantics: the few rules every layer must read the same way.

This module is the bottom layer: it imports nothing of playgraph's and only the
standard library, so the grammar, the compiler, the runtime and the CLI can all
use it. Each rule is here once; a second copy elsewhere is a bug waiting to drift
(two ``UnsafeText`` classes once let ``!unsafe`` text be templated; five boolean
tables once disagreed on ``"t"``).
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "BOOLEANS_FALSE",
    "BOOLEANS_TRUE",
    "PlaygraphError",
    "UnsafeText",
    "as_unsafe",
    "boolean",
    "builtin_name",
    "is_template",
]


class PlaygraphError(Exception):
    """The root of every exception playgraph raises on purpose.

    The CLI turns any `PlaygraphError` into one line and an exit code; anything else
    reaching it is a bug (reported as an internal error).
    """


class UnsafeText(str):
    """Text that is data, never a template: YAML's ``!unsafe``, and at run time
    everything a target sent back or a render produced.  Nothing renders it again,
    whatever it contains."""

    __slots__ = ()


def as_unsafe(value: Any) -> Any:
    """``value`` with every string in it (keys included) as `UnsafeText`, as ansible-core's
    ``!unsafe`` on a list or mapping marks the whole value."""
    if isinstance(value, str):
        return value if isinstance(value, UnsafeText) else UnsafeText(value)
    if isinstance(value, dict):
        return {as_unsafe(key): as_unsafe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [as_unsafe(item) for item in value]
    return value


BOOLEANS_TRUE: Final = frozenset(("y", "yes", "on", "1", "true", "t", 1, 1.0, True))
"""ansible-core's ``boolean()`` truths (``module_utils.parsing.convert_bool``): what
keywords (``gather_facts``, ``become``, ``ignore_errors``...), module ``bool``
arguments and configuration switches accept.  Strings are compared lower-cased and
stripped."""

BOOLEANS_FALSE: Final = frozenset(("n", "no", "off", "0", "false", "f", 0, 0.0, False))
"""ansible-core's ``boolean()`` falsehoods; ``""`` is not one of them (it is for
configuration files, see `boolean`'s ``empty_is_false``)."""


def boolean(value: Any, *, empty_is_false: bool = False) -> bool | None:
    """ansible-core's ``boolean(value, strict=True)``: True, False, or None when
    ``value`` is not a boolean at all (the caller reports that in its own words).

    ``empty_is_false``: an empty setting means false (``ansible.cfg`` and
    ``ANSIBLE_*`` variables, as ansible-core's config manager reads them).
    """
    probe = value.strip().lower() if isinstance(value, str) else value
    if empty_is_false and probe == "":
        return False
    try:
        if probe in BOOLEANS_TRUE:
            return True
        if probe in BOOLEANS_FALSE:
            return False
    except TypeError:  # unhashable: a list or a mapping is no boolean
        return None
    return None


_TEMPLATE_STARTS: Final = ("{{", "{%")
_COMMENT_START: Final = "{#"


def is_template(value: object, *, comments: bool = True) -> bool:
    """Whether ``value`` is text Jinja would have to look at: it holds ``{{`` or
    ``{%`` (or ``{#`` unless ``comments`` is false).  `UnsafeText` never is.

    ``comments=False`` is for deciding whether to *render*: a lone ``{#`` in shell
    text such as ``${#array[@]}`` produces nothing to render, and the runtime leaves
    it as written.  The compiler's checks pass the default (ansible-core parses such
    text as a template and reports an unclosed comment).
    """
    if not isinstance(value, str) or isinstance(value, UnsafeText):
        return False
    if any(start in value for start in _TEMPLATE_STARTS):
        return True
    return comments and _COMMENT_START in value


_BUILTIN_PREFIXES: Final = ("ansible.builtin.", "ansible.legacy.")


def builtin_name(action: str) -> str | None:
    """The short name of an ``ansible.builtin``/``ansible.legacy`` action or of a bare
    name (``ansible.builtin.meta`` -> ``meta``); None for another collection's."""
    for prefix in _BUILTIN_PREFIXES:
        if action.startswith(prefix):
            return action[len(prefix) :]
    return None if "." in action else action
