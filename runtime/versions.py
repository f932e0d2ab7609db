"""Version comparison for the ``version``/``version_compare`` test, as ansible-core does it.

Four orders: distutils' ``LooseVersion`` (the default) and ``StrictVersion``,
SemVer 2.0 (``semver``/``semantic``) and PEP 440 (``pep440``, by the ``packaging``
library, as in ansible-core).
"""

from __future__ import annotations

import operator as _operator
import re
from collections.abc import Callable
from typing import Any, Final

from .template_values import PluginError, to_text

__all__ = ["version_compare"]


def _loose_key(text: str) -> list[int | str]:
    parts: list[int | str] = []
    for part in re.split(r"(\d+|[a-z]+|\.)", text):
        if not part or part == ".":
            continue
        parts.append(int(part) if part.isdigit() else part)
    return parts


_STRICT: Final = re.compile(r"^(\d+)\.(\d+)(\.(\d+))?([ab](\d+))?$", re.ASCII)


def _strict_key(text: str) -> tuple[tuple[int, int, int], tuple[int, str, int]]:
    found = _STRICT.match(text)
    if found is None:
        raise ValueError(f"invalid version number '{text}'")
    major, minor, _, patch, pre, pre_number = found.groups()
    release = (int(major), int(minor), int(patch or 0))
    # A release sorts after its pre-releases: (1,) beats (0, 'a'|'b', n).
    prerelease = (0, pre[0], int(pre_number)) if pre else (1, "", 0)
    return release, prerelease


_SEMVER: Final = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


class _SemanticKey:
    """SemVer 2.0 precedence: build metadata ignored, a pre-release below its release."""

    def __init__(self, text: str) -> None:
        found = _SEMVER.match(text)
        if found is None:
            raise ValueError(f"invalid semantic version '{text}'")
        self.core = tuple(int(part) for part in found.group(1, 2, 3))
        self.prerelease: tuple[tuple[int, int | str], ...] = tuple(
            (0, int(part)) if part.isdigit() else (1, part)
            for part in (found.group(4).split(".") if found.group(4) else ())
        )

    def _key(self) -> tuple[Any, ...]:
        # No pre-release sorts above any pre-release of the same core version.
        return (self.core, 1, ()) if not self.prerelease else (self.core, 0, self.prerelease)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _SemanticKey) and self._key() == other._key()

    def __lt__(self, other: _SemanticKey) -> bool:
        return self._key() < other._key()

    def __le__(self, other: _SemanticKey) -> bool:
        return self._key() <= other._key()

    def __gt__(self, other: _SemanticKey) -> bool:
        return self._key() > other._key()

    def __ge__(self, other: _SemanticKey) -> bool:
        return self._key() >= other._key()

    __hash__ = None  # type: ignore[assignment]


def _pep440_key(text: str) -> Any:
    # Imported on use: only this version type needs it (a declared dependency).
    from packaging.version import Version

    return Version(text)


_VERSION_TYPES: Final[dict[str, Callable[[str], Any]]] = {
    "loose": _loose_key,
    "strict": _strict_key,
    "semver": _SemanticKey,
    "semantic": _SemanticKey,
    "pep440": _pep440_key,
}
_VERSION_OPERATORS: Final = {
    "==": "eq",
    "=": "eq",
    "eq": "eq",
    "<": "lt",
    "lt": "lt",
    "<=": "le",
    "le": "le",
    ">": "gt",
    "gt": "gt",
    ">=": "ge",
    "ge": "ge",
    "!=": "ne",
    "<>": "ne",
    "ne": "ne",
}


def version_compare(
    value: Any,
    version: Any,
    operator: str = "eq",
    strict: Any = None,
    version_type: str | None = None,
) -> bool:
    """``version``/``version_compare``: compare two version strings.

    `version_type` is ``loose`` (default), ``strict``, ``semver``/``semantic`` or
    ``pep440``; ``strict=true`` means ``strict``.
    """
    if strict is not None and version_type is not None:
        raise PluginError("Cannot specify both 'strict' and 'version_type'")
    if not value:
        raise PluginError("Input version value cannot be empty")
    if not version:
        raise PluginError("Version parameter to compare against cannot be empty")
    kind = "strict" if strict else version_type or "loose"
    if kind not in _VERSION_TYPES:
        raise PluginError(
            f"Invalid version type ({version_type}). Must be one of "
            f"{', '.join(map(repr, _VERSION_TYPES))}"
        )
    if operator not in _VERSION_OPERATORS:
        raise PluginError(
            f"Invalid operator type ({operator}). Must be one of "
            f"{', '.join(map(repr, _VERSION_OPERATORS))}"
        )
    key = _VERSION_TYPES[kind]
    compare = getattr(_operator, _VERSION_OPERATORS[operator])
    try:
        return bool(compare(key(to_text(value)), key(to_text(version))))
    except Exception as error:
        raise PluginError(f"Version comparison failed: {error}") from error
