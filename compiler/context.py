"""Per-file state shared by the compiler passes: the source and the findings so far."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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


# --------------------------------------------------------------------------- known texts

# What the parsers said of texts in earlier compilations, as plain data (see
# `remember`): a re-check after an edit then needs no parser (importing lark and
# Jinja costs more than the rest of it) unless the edit brought a new text.
_known: dict[tuple[str, str, bool], Any] = {}
_used: dict[tuple[str, str, bool], Any] = {}
_new: dict[tuple[str, str, bool], Any] = {}
_SCALARS = (str, int, float, bool, type(None))


def remember(entries: object) -> None:
    """Take what `learned` gave an earlier process (anything malformed is ignored)."""
    if not isinstance(entries, list):
        return
    for entry in entries:
        if (
            isinstance(entry, tuple)
            and len(entry) == 4
            and entry[0] in ("t", "a")
            and isinstance(entry[1], str)
            and isinstance(entry[2], bool)
        ):
            _known[(entry[0], entry[1], entry[2])] = entry[3]


def learned() -> list[tuple[str, str, bool, Any]] | None:
    """What this process used or learned of texts, for `remember`; None when nothing is
    new since the last call."""
    if not _new:
        return None
    _used.update(_new)
    _new.clear()
    return [(*key, value) for key, value in _used.items()]


def _remembered_reads(key: tuple[str, str, bool]) -> tuple[VarRead, ...] | None:
    stored = _known.get(key)
    if not isinstance(stored, tuple):
        return None
    from playgraph.grammar.expr.nodes import VarRead

    reads: list[VarRead] = []
    for item in stored:
        if not (isinstance(item, tuple) and len(item) == 4 and isinstance(item[0], str)):
            return None
        name, path, start, end = item
        if not isinstance(path, tuple) or not all(type(p) in (str, int) for p in path):
            return None
        if type(start) is not int or type(end) is not int:
            return None
        reads.append(VarRead(name=name, path=path, start=start, end=end))
    _used[key] = stored
    return tuple(reads)


def _plain_reads(
    reads: tuple[VarRead, ...],
) -> tuple[tuple[str, tuple[str | int, ...], int, int], ...] | None:
    from playgraph.grammar.expr.nodes import VarRead

    plain = []
    for read in reads:
        if type(read) is not VarRead or type(read.name) is not str:
            return None
        if not all(type(p) in (str, int) for p in read.path):
            return None
        plain.append((read.name, tuple(read.path), read.start, read.end))
    return tuple(plain)


def free_form_arguments(text: str, keep_raw: bool) -> dict[str, Any] | tuple[str, int]:
    """``k=v`` module arguments as a mapping, or (message, offset) of their syntax error."""
    key = ("a", str(text), keep_raw)
    stored = _known.get(key)
    if isinstance(stored, dict) and all(
        type(k) is str and type(v) in _SCALARS for k, v in stored.items()
    ):
        _used[key] = stored
        return dict(stored)
    from playgraph.grammar import ArgsSyntaxError, parse_args

    try:
        parsed = parse_args(text, raw_params=keep_raw).as_dict()
    except ArgsSyntaxError as error:
        return error.message, error.offset
    if all(type(k) is str and type(v) in _SCALARS for k, v in parsed.items()):
        _new[key] = dict(parsed)
    return parsed


@functools.lru_cache(maxsize=8192)
def analyze_text(text: str, condition: bool) -> tuple[VarRead, ...] | GrammarError:
    """Reads of a template or condition, or its syntax error (pure, so cached by text:
    playbooks repeat the same conditions and templates across many tasks)."""
    # The text's markers, whatever its class: the cache mixes `UnsafeText` and str.
    key = ("t", str(text), condition)
    remembered = _remembered_reads(key)
    if remembered is not None:
        return remembered
    outcome = _analyze_text(text, condition)
    if isinstance(outcome, tuple):
        plain = _plain_reads(outcome)
        if plain is not None:
            _new[key] = plain
    return outcome


def _analyze_text(text: str, condition: bool) -> tuple[VarRead, ...] | GrammarError:
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
