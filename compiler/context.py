"""Per-file state shared by the compiler passes: the source and the findings so far."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from playgraph.semantics import is_template

from . import codes
from .diagnostics import Code, Diagnostic, Related
from .loader import YMap, YNode, YScalar, YSeq, inner_span
from .spans import SourceText, Span

if TYPE_CHECKING:
    from playgraph.grammar import GrammarError, VarRead


@dataclass(slots=True)
class FileContext:
    """One source file being compiled, and where its findings go."""

    source: SourceText
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.source.path

    def report(
        self,
        code: Code,
        span: Span,
        message: str,
        *,
        help: str | None = None,
        related: Iterable[Related] = (),
    ) -> None:
        self.diagnostics.append(code.at(span, message, help=help, related=related))

    # ------------------------------------------------------------------ Jinja

    def condition_reads(self, node: YNode) -> tuple[VarRead, ...]:
        """Check a ``when``-style conditional (a scalar or a list of them) and return its reads."""
        reads: list[VarRead] = []
        for scalar in _scalars(node):
            if isinstance(scalar.value, str):
                reads += self._analyze(scalar, scalar.value, condition=True)
        return tuple(reads)

    def template_reads(self, node: YNode) -> tuple[VarRead, ...]:
        """Check every templated string inside ``node`` and return what they read."""
        reads: list[VarRead] = []
        for scalar in _scalars(node, keys=True):
            # `!unsafe` text (`UnsafeText`) is data: never parsed.
            if isinstance(scalar.value, str) and is_template(scalar.value):
                reads += self._analyze(scalar, scalar.value, condition=False)
        return tuple(reads)

    def _analyze(self, scalar: YScalar, text: str, *, condition: bool) -> list[VarRead]:
        outcome = analyze_text(text, condition)
        if not isinstance(outcome, tuple):
            offset = max(0, min(outcome.offset, len(text)))
            self.report(
                codes.SYNTAX_JINJA_TOO_COMPLEX if outcome.too_complex else codes.SYNTAX_JINJA,
                inner_span(self.source, scalar, offset, offset + 1),
                outcome.message,
            )
            return []
        return list(outcome)


@functools.lru_cache(maxsize=8192)
def analyze_text(text: str, condition: bool) -> tuple[VarRead, ...] | GrammarError:
    """Reads of a template or condition, or its syntax error (pure, so cached by text:
    playbooks repeat the same conditions and templates across many tasks)."""
    from playgraph.grammar import GrammarError, analyze_condition, parse_template, template_reads
    from playgraph.grammar.expr import complexity_problem

    # Before anything recursive (our analyses, Jinja's parser) walks the text.
    # The text's markers, whatever its class: the cache mixes `UnsafeText` and str.
    problem = complexity_problem(text, template=is_template(str(text)))
    if problem is not None:
        return problem
    try:
        if condition:
            return tuple(analyze_condition(text))
        return tuple(template_reads(parse_template(text)))
    except GrammarError as error:
        return error


def _scalars(node: YNode, *, keys: bool = False) -> Iterable[YScalar]:
    stack: list[YNode] = [node]
    while stack:  # iterative: values may nest deeply
        current = stack.pop()
        match current:
            case YScalar():
                yield current
            case YSeq():
                stack.extend(reversed(current.items))
            case YMap():
                for entry in reversed(current.entries):
                    stack.append(entry.value)
                    if keys:
                        stack.append(entry.key)


def dotted(read: VarRead) -> str:
    """``yum_sleeper.ansible_job_id``, ``jobs.results[0]``: a read as one string."""
    out = read.name
    for part in read.path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out
