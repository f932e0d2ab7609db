"""Diagnostics as values.

Every problem the compiler or a lint rule finds is a `Diagnostic`: a stable code
from the registry (`codes.py`), a severity, a message, a primary span, related
spans and an optional "did you mean" help.  Nothing here prints or raises; the
CLI decides how to show them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from .spans import Span


class Severity(StrEnum):
    """How bad a finding is.  Only ``error`` makes `playgraph check` exit 2."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True, slots=True, kw_only=True)
class Code:
    """One registered diagnostic id: ``rule`` or ``rule[sub]``.

    ``doc`` says what the finding means, why it matters, an example and the fix;
    `specs/diagnostics.md` is generated from these.
    """

    rule: str
    sub: str | None
    severity: Severity
    summary: str
    doc: str
    tags: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.rule}[{self.sub}]" if self.sub else self.rule

    def at(
        self,
        span: Span,
        message: str,
        *,
        help: str | None = None,
        related: Iterable[Related] = (),
    ) -> Diagnostic:
        """A finding of this code at ``span``."""
        return Diagnostic(
            code=self.id,
            severity=self.severity,
            message=message,
            span=span,
            help=help,
            related=tuple(related),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Related:
    """A secondary location that explains a finding (the launch of a conflicting job, say)."""

    span: Span
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnostic:
    """One finding.  ``code`` is the full id, e.g. ``schema[unknown-keyword]``."""

    code: str
    severity: Severity
    message: str
    span: Span = field(compare=False)
    help: str | None = None
    related: tuple[Related, ...] = field(default=(), compare=False)

    @property
    def rule(self) -> str:
        return self.code.split("[", 1)[0]

    def with_severity(self, severity: Severity) -> Diagnostic:
        return replace(self, severity=severity)

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.span.file, self.span.line, self.span.column, self.code, self.message)


def sorted_unique(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Findings sorted by file and position, each (code, place, message) once."""
    seen: set[tuple[str, int, int, str, str]] = set()
    result: list[Diagnostic] = []
    for diagnostic in sorted(diagnostics, key=Diagnostic.sort_key):
        key = diagnostic.sort_key()
        if key not in seen:
            seen.add(key)
            result.append(diagnostic)
    return result


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)
