"""Host sets: which machines a node runs on, as far as the compiler can tell.

Two kinds of knowledge, one value type:

* **concrete** — an inventory was given (``playgraph check -i``): the CLI passes a
  resolver that evaluates a play's host pattern to host names, so sets are exact;
* **symbolic** — no inventory: a pattern is read by its parts.  Distinct names
  are taken to be disjoint (``db`` and ``web`` share no host), ``all`` (or
  ``*``) is every inventory host, ``!x`` removes ``x``, and ``&x`` narrows the
  set by an unknown amount.  Parts whose hosts cannot be known from the text —
  wildcards, regexes (``~web\\d+``), subscripts (``web[0]``), templates — are
  *opaque*: they may overlap anything, and nothing is known to contain them.

Every answer is conservative in the direction the lint needs: `HostSet.overlaps`
says True unless the sets are surely disjoint (a conflict is reported when it
*may* happen), `HostSet.within` says True only when the containment is sure (a
join clears a conflict only when it surely covers the hosts).

``localhost`` is not part of ``all`` symbolically: Ansible's implicit localhost
is outside every group (with ``-i`` the inventory decides).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from playgraph.semantics import is_template

__all__ = ["ALL", "HostResolver", "HostSet", "split_pattern"]

HostResolver = Callable[[str], frozenset[str] | None]
"""Given a play's host pattern, the concrete host names, or None when unknown."""

ALL = "all"
_LOCALHOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# Parts that are words, not patterns: anything else is opaque.
_PLAIN = re.compile(r"^[A-Za-z0-9_.@-]+$")
_COLON_PARTS = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")


def split_pattern(pattern: str) -> list[str]:
    """Split a host pattern into parts as Ansible does: on commas if there are any,
    else on colons and whitespace outside brackets (``web[1:3]`` stays whole)."""
    if is_template(pattern):
        return [pattern.strip()] if pattern.strip() else []
    parts = pattern.split(",") if "," in pattern else _COLON_PARTS.findall(pattern)
    return [p.strip() for p in parts if p.strip()]


def _opaque(atom: str) -> bool:
    return atom != "*" and not _PLAIN.match(atom)


@dataclass(frozen=True, slots=True, kw_only=True)
class HostSet:
    """A set of hosts, exact (``hosts``) or read from a pattern (``include`` ...).

    Symbolic meaning: the union of ``include``, narrowed by every ``filters``
    atom, minus the union of ``exclude``; the atoms are group or host names
    (``all`` is everything but localhost).
    """

    hosts: frozenset[str] | None = None
    include: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()
    filters: frozenset[str] = frozenset()
    text: str = ""
    """The pattern as written, for messages."""

    # ------------------------------------------------------------------ building

    @staticmethod
    def of_pattern(pattern: str, resolver: HostResolver | None = None) -> HostSet:
        """The hosts a play's ``hosts:`` pattern names."""
        if resolver is not None:
            try:
                found = resolver(pattern)
            except Exception:  # noqa: BLE001 - a resolver is foreign code: unknown, not a crash
                found = None
            if found is not None:
                return HostSet(hosts=frozenset(found), text=pattern)
        include: set[str] = set()
        exclude: set[str] = set()
        filters: set[str] = set()
        for part in split_pattern(pattern):
            if part.startswith("!"):
                exclude.add(_atom(part[1:]))
            elif part.startswith("&"):
                filters.add(_atom(part[1:]))
            else:
                include.add(_atom(part))
        if not include and (exclude or filters):
            include.add(ALL)  # only modifiers means "all" (Ansible's rule)
        return HostSet(
            include=frozenset(include),
            exclude=frozenset(exclude),
            filters=frozenset(filters),
            text=pattern,
        )

    @staticmethod
    def of_host(name: str, *, concrete: bool) -> HostSet:
        """One machine named by ``delegate_to`` (opaque when templated)."""
        if is_template(name):
            return HostSet(include=frozenset({name}), text=name)
        if concrete:
            return HostSet(hosts=frozenset({name}), text=name)
        return HostSet(include=frozenset({name}), text=name)

    # ------------------------------------------------------------------ questions

    @property
    def concrete(self) -> bool:
        return self.hosts is not None

    def is_empty(self) -> bool:
        return self.hosts is not None and not self.hosts

    def size(self) -> int | None:
        """The number of hosts when known exactly."""
        return None if self.hosts is None else len(self.hosts)

    def describe(self) -> str:
        if self.hosts is not None and self.text == "":
            return ", ".join(sorted(self.hosts)) or "no hosts"
        return self.text or "no hosts"

    def overlaps(self, other: HostSet) -> bool:
        """False only when the two sets surely share no host."""
        if self.hosts is not None and other.hosts is not None:
            return not self.hosts.isdisjoint(other.hosts)
        if self.is_empty() or other.is_empty():
            return False
        if self.hosts is not None or other.hosts is not None:
            # A known set against an unknown one (a templated pattern): may overlap.
            return True
        return any(_atoms_overlap(a, b, self, other) for a in self.include for b in other.include)

    def within(self, other: HostSet) -> bool:
        """True only when every host of ``self`` is surely in ``other``."""
        if self.is_empty():
            return True
        if self.hosts is not None and other.hosts is not None:
            return self.hosts <= other.hosts
        if self.hosts is not None or other.hosts is not None:
            return False
        if self == other or (self.include, self.exclude, self.filters) == (
            other.include,
            other.exclude,
            other.filters,
        ):
            return True
        # Every filter of ``other`` must narrow ``self`` too.
        if not other.filters <= self.filters:
            return False
        for atom in self.include:
            if atom in other.include and not _opaque(atom):
                continue
            if ALL in other.include and not _opaque(atom) and atom not in _LOCALHOSTS:
                continue
            if atom == ALL and ALL in other.include:
                continue
            if _opaque(atom) and atom in other.include:
                continue
            return False
        # What ``other`` removes must be outside ``self``: removed by ``self`` too,
        # or a different name than every (plain) atom ``self`` is made of.
        for removed in other.exclude:
            if removed in self.exclude:
                continue
            if _opaque(removed) or any(
                atom in (removed, ALL) or _opaque(atom) for atom in self.include
            ):
                return False
        return True

    def union(self, other: HostSet) -> HostSet | None:
        """The union when it can be written down, else None."""
        if self.hosts is not None and other.hosts is not None:
            return HostSet(hosts=self.hosts | other.hosts)
        if self.hosts is not None or other.hosts is not None:
            return None
        if self.exclude or other.exclude or self.filters or other.filters:
            return None
        return HostSet(
            include=self.include | other.include, text=f"{self.text}:{other.text}".strip(":")
        )


def _atom(text: str) -> str:
    text = text.strip()
    return ALL if text in ("all", "*") else text


def _atoms_overlap(a: str, b: str, left: HostSet, right: HostSet) -> bool:
    if _opaque(a) or _opaque(b):
        return True
    if a == b:
        return a not in left.exclude and a not in right.exclude
    if a == ALL:
        return b not in _LOCALHOSTS and b not in left.exclude
    if b == ALL:
        return a not in _LOCALHOSTS and a not in right.exclude
    return False  # distinct names: taken as disjoint without an inventory


def union_all(sets: Iterable[HostSet]) -> HostSet | None:
    """The union of several sets when it can be written down."""
    result: HostSet | None = None
    for item in sets:
        if result is None:
            result = item
            continue
        result = result.union(item)
        if result is None:
            return None
    return result
