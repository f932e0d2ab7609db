"""The lint configuration (``.playgraph.yml``) and suppressions (``# noqa``, skip/warn lists).

The file follows ansible-lint's conventions where they exist::

    skip_list:            # findings of these ids are dropped
      - async-unjoined
      - async-unsupported[import]
    warn_list:            # errors of these ids become warnings (exit 0)
      - async-lock-conflict[self]
    locks:                # extra exclusive resources: lock name -> holders
      db-migrations:
        - community.mysql.mysql_db            # a module (FQCN or short name)
        - "command:^/opt/app/bin/migrate"     # command lines matching a regex
    mock_roles:           # roles accepted without being found (installed elsewhere)
      - geerlingguy.docker
    mock_modules:         # modules (or whole collections) accepted as existing
      - my_custom_module
      - acme.widgets

A rule name (``async-unsupported``) matches every sub-id of the rule
(``async-unsupported[import]``).  The file is read with the compiler's
positioned YAML loader, so every problem in it is a diagnostic with
file:line:col, like a problem in a playbook; nothing here raises.

``# noqa`` works as in ansible-lint: a YAML comment ``# noqa: id other-id``
(commas allowed, ``noqa id`` without the colon too) suppresses those findings
on any line the finding's span covers (for a task finding: any line of the
task); a bare ``# noqa`` suppresses every finding there.  ``syntax``,
``load-failure`` and ``config`` findings can be neither skipped nor noqa'd:
nothing after them can be trusted.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from .. import codes
from ..catalog import Catalog, default_catalog
from ..diagnostics import Code, Diagnostic, Severity, sorted_unique
from ..loader import YMap, YNode, YScalar, YSeq, load_file
from ..locks import LockConfigError, default_lock_table
from ..spans import SourceText, Span
from ..suggest import did_you_mean

__all__ = [
    "CONFIG_NAME",
    "UNSKIPPABLE",
    "LintConfig",
    "apply_suppressions",
    "find_config",
    "load_config",
    "matches",
]

CONFIG_NAME = ".playgraph.yml"
UNSKIPPABLE = frozenset({"syntax", "load-failure", "config"})
_KEYS = ("skip_list", "warn_list", "locks", "mock_roles", "mock_modules")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*(\[[a-z0-9][a-z0-9-]*\])?$")
_NOQA = re.compile(r"(?:^|\s)#\s*noqa\b(?P<rest>[^#\n]*)", re.IGNORECASE)
_NOQA_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\[[A-Za-z0-9_-]+\])?")


@dataclass(frozen=True, slots=True, kw_only=True)
class LintConfig:
    """What the user configured; the default is an empty configuration."""

    path: str | None = None
    """The file read, or None when none was found."""
    skip_list: tuple[str, ...] = ()
    warn_list: tuple[str, ...] = ()
    locks: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    """Lock name → module names and ``command:<regex>`` patterns (`CompileOptions.extra_locks`)."""
    mock_roles: tuple[str, ...] = ()
    """Role names to accept without finding them (`ResolveSettings.mock_roles`)."""
    mock_modules: tuple[str, ...] = ()
    """Module names or ``ns.coll`` collections to accept (`ResolveSettings.mock_modules`)."""
    diagnostics: tuple[Diagnostic, ...] = ()
    """Problems found in the file itself."""
    source: SourceText | None = field(default=None, compare=False)

    def skips(self, code: str) -> bool:
        return any(matches(code, entry) for entry in self.skip_list)

    def warns(self, code: str) -> bool:
        return any(matches(code, entry) for entry in self.warn_list)

    def skips_rule(self, rule: str) -> bool:
        """The whole rule (every sub-id) is skipped: the linter need not run it."""
        return rule in self.skip_list


def matches(code: str, entry: str) -> bool:
    """Whether the skip/warn/noqa ``entry`` names ``code`` (a rule matches all its sub-ids)."""
    return entry == code or ("[" not in entry and code.split("[", 1)[0] == entry)


# --------------------------------------------------------------------------- loading


def config_candidates(search_dirs: Iterable[str]) -> list[str]:
    """Where a ``.playgraph.yml`` is looked for, in order."""
    return [os.path.normpath(os.path.join(folder, CONFIG_NAME)) for folder in search_dirs]


def find_config(search_dirs: Iterable[str]) -> str | None:
    """The first ``.playgraph.yml`` in ``search_dirs``, in order."""
    return next((c for c in config_candidates(search_dirs) if os.path.isfile(c)), None)


def load_config(
    path: str | None, search_dirs: Sequence[str] = (), *, catalog: Catalog | None = None
) -> LintConfig:
    """Read the configuration named by ``path``, else the first found in ``search_dirs``.

    A missing named file, bad YAML or bad values give a configuration with
    ``diagnostics``; what could be read is still used.
    """
    if path is None:
        path = find_config(search_dirs)
        if path is None:
            return LintConfig()
    document = load_file(path)
    reader = _Reader(document.source, catalog or default_catalog())
    reader.diagnostics.extend(document.diagnostics)
    root = document.root
    if root is not None and not (isinstance(root, YScalar) and root.value is None):
        reader.read(root)
    return LintConfig(
        path=path,
        skip_list=tuple(reader.skip_list),
        warn_list=tuple(reader.warn_list),
        locks=MappingProxyType(dict(reader.locks)),
        mock_roles=tuple(reader.mock_roles),
        mock_modules=tuple(reader.mock_modules),
        diagnostics=tuple(reader.diagnostics),
        source=document.source,
    )


class _Reader:
    """Reads one configuration document, collecting findings as it goes."""

    def __init__(self, source: SourceText, catalog: Catalog) -> None:
        self.source = source
        self.catalog = catalog
        self.diagnostics: list[Diagnostic] = []
        self.skip_list: list[str] = []
        self.warn_list: list[str] = []
        self.locks: dict[str, tuple[str, ...]] = {}
        self.mock_roles: list[str] = []
        self.mock_modules: list[str] = []

    def report(self, code: Code, span: Span, message: str, help: str | None = None) -> None:
        self.diagnostics.append(code.at(span, message, help=help))

    def read(self, root: YNode) -> None:
        if not isinstance(root, YMap):
            self.report(
                codes.CONFIG_BAD_VALUE,
                root.span,
                f"the configuration must be a mapping ({', '.join(_KEYS)})",
            )
            return
        for entry in root.entries:
            key = entry.key.value
            if key == "skip_list":
                self.skip_list = self.rule_ids(entry.value, "skip_list")
            elif key == "warn_list":
                self.warn_list = self.rule_ids(entry.value, "warn_list")
            elif key == "locks":
                self.read_locks(entry.value)
            elif key == "mock_roles":
                self.mock_roles = [value for value, _ in self.strings(entry.value, key)]
            elif key == "mock_modules":
                self.mock_modules = [value for value, _ in self.strings(entry.value, key)]
            else:
                suggestion = did_you_mean(str(key), _KEYS)
                self.report(
                    codes.CONFIG_UNKNOWN_KEY,
                    entry.key.span,
                    f"'{key}' is not a configuration key ({', '.join(_KEYS)})",
                    help=f"did you mean `{suggestion}`?" if suggestion else None,
                )

    def strings(self, node: YNode, what: str) -> list[tuple[str, Span]]:
        if isinstance(node, YScalar) and node.value is None:
            return []
        if not isinstance(node, YSeq):
            self.report(codes.CONFIG_BAD_VALUE, node.span, f"'{what}' must be a list of strings")
            return []
        result: list[tuple[str, Span]] = []
        for item in node.items:
            if isinstance(item, YScalar) and isinstance(item.value, str) and item.value.strip():
                result.append((item.value.strip(), item.span))
            else:
                self.report(
                    codes.CONFIG_BAD_VALUE, item.span, f"each '{what}' entry must be a string"
                )
        return result

    def rule_ids(self, node: YNode, what: str) -> list[str]:
        known = set(codes.REGISTRY) | {code.rule for code in codes.REGISTRY.values()}
        result: list[str] = []
        for value, span in self.strings(node, what):
            rule = value.split("[", 1)[0]
            if rule in UNSKIPPABLE:
                self.report(
                    codes.CONFIG_UNKNOWN_RULE,
                    span,
                    f"'{value}' cannot be listed in {what}: {rule} findings are never suppressed",
                )
            elif value not in known:
                suggestion = did_you_mean(value, known - {r for r in known if r in UNSKIPPABLE})
                self.report(
                    codes.CONFIG_UNKNOWN_RULE,
                    span,
                    f"'{value}' in {what} is not a diagnostic id",
                    help=f"did you mean `{suggestion}`?" if suggestion else None,
                )
            else:
                result.append(value)
        return result

    def read_locks(self, node: YNode) -> None:
        if isinstance(node, YScalar) and node.value is None:
            return
        if not isinstance(node, YMap):
            self.report(
                codes.CONFIG_BAD_VALUE,
                node.span,
                "'locks' must map lock names to lists of modules and command:<regex> patterns",
            )
            return
        for entry in node.entries:
            name = entry.key.value
            if not isinstance(name, str) or not name.strip():
                self.report(
                    codes.CONFIG_BAD_VALUE, entry.key.span, "a lock name must be a non-empty string"
                )
                continue
            holders: list[str] = []
            for value, span in self.strings(entry.value, f"locks.{name}"):
                if value.startswith("command:"):
                    pattern = value.removeprefix("command:")
                    try:
                        re.compile(pattern)
                    except re.error as error:
                        self.report(
                            codes.CONFIG_BAD_VALUE,
                            span,
                            f"lock '{name}': the pattern {pattern!r} does not compile: {error}",
                        )
                        continue
                    if not pattern.strip():
                        self.report(
                            codes.CONFIG_BAD_VALUE, span, f"lock '{name}': empty command pattern"
                        )
                        continue
                else:
                    self.check_module(value, span)
                holders.append(value)
            if holders:
                self.locks[name.strip()] = tuple(holders)
        try:  # the table's own checks, so the compiler never sees a table it rejects
            default_lock_table().extend(self.locks)
        except LockConfigError as error:
            self.report(codes.CONFIG_BAD_VALUE, node.span, str(error))
            self.locks.clear()

    def check_module(self, name: str, span: Span) -> None:
        if self.catalog.resolve(name) is not None:
            return
        parts = name.split(".")
        if len(parts) >= 3 and not self.catalog.is_known_collection(".".join(parts[:2])):
            return  # a collection we have no catalog for: trusted
        suggestion = self.catalog.suggest_module(name)
        self.report(
            codes.CONFIG_UNKNOWN_MODULE,
            span,
            f"no module '{name}' is known; the lock would never be taken",
            help=f"did you mean `{suggestion}`?" if suggestion else None,
        )


# --------------------------------------------------------------------------- suppressions


def apply_suppressions(
    diagnostics: Iterable[Diagnostic], sources: Mapping[str, SourceText], config: LintConfig
) -> list[Diagnostic]:
    """Drop skipped and ``# noqa``'d findings, turn warn-listed errors into warnings.

    The result is sorted by file and position, each finding once.
    """
    noqa = _NoqaIndex(sources)
    kept: list[Diagnostic] = []
    for diagnostic in diagnostics:
        if diagnostic.rule in UNSKIPPABLE:
            kept.append(diagnostic)
            continue
        if config.skips(diagnostic.code) or noqa.suppresses(diagnostic):
            continue
        if diagnostic.severity is Severity.ERROR and config.warns(diagnostic.code):
            diagnostic = diagnostic.with_severity(Severity.WARNING)
        kept.append(diagnostic)
    return sorted_unique(kept)


class _NoqaIndex:
    """The ``# noqa`` comments of each source, by line, parsed on first use."""

    def __init__(self, sources: Mapping[str, SourceText]) -> None:
        self.sources = sources
        self.by_file: dict[str, tuple[dict[int, frozenset[str] | None], list[int]]] = {}

    def _index(self, file: str) -> tuple[dict[int, frozenset[str] | None], list[int]] | None:
        if file not in self.by_file:
            source = self.sources.get(file)
            if source is None:
                return None
            comments: dict[int, frozenset[str] | None] = {}
            starts: list[int] = []
            offset = 0
            for number, line in enumerate(source.lines, start=1):
                starts.append(offset)
                offset += len(line.encode("utf-8", "surrogateescape")) + 1
                if "noqa" not in line.lower():
                    continue
                match = _NOQA.search(line)
                if match is None:
                    continue
                ids = frozenset(_NOQA_ID.findall(match.group("rest")))
                comments[number] = ids or None  # None stands for a bare noqa comment
            self.by_file[file] = (comments, starts)
        return self.by_file[file]

    def suppresses(self, diagnostic: Diagnostic) -> bool:
        index = self._index(diagnostic.span.file)
        if index is None:
            return False
        comments, starts = index
        if not comments:
            return False
        span = diagnostic.span
        last = span.line
        if span.end > span.start:
            # The line of the span's last byte (a task's span ends before the next task).
            last = max(span.line, bisect.bisect_right(starts, span.end - 1))
        for line in range(span.line, last + 1):
            if line not in comments:
                continue
            ids = comments[line]
            if ids is None or any(matches(diagnostic.code, entry) for entry in ids):
                return True
        return False
