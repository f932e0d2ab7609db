"""Strings with ``{{ }}``, ``{% %}`` and ``{# #}``: splitting, validation and reads.

A template is split into parts the way Jinja's lexer splits it (strings and
brackets inside a tag are skipped when looking for its end, so ``{{ '}}' }}``
is one expression). Each ``{{ }}`` is parsed with the expression grammar and
keeps offsets into the whole string. Statements are validated by Jinja's own
parser, only when there are any, and their reads come from Jinja's AST.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

from playgraph.semantics import is_template

from .expr.analyses import variable_reads
from .expr.errors import ExprSyntaxError, GrammarError, caret_context
from .expr.fast_path import fast_parse_checked
from .expr.nodes import Expr, Node, VarRead

if TYPE_CHECKING:
    import jinja2
    import jinja2.nodes as jn

    from .expr.jinja import NameSite

# Jinja and lark are imported only when a text needs them: statements (`{% %}`), and
# expressions outside what `fast_parse` reads.  A re-check after an edit that brought
# one new `when:` then pays for neither (their imports cost more than the check).

__all__ = [
    "CommentPart",
    "ExprPart",
    "Part",
    "StatementPart",
    "Template",
    "TemplateSyntaxError",
    "TextPart",
    "analyze_condition",
    "parse_template",
    "template_reads",
]


class TemplateSyntaxError(GrammarError):
    """A template whose tags do not balance or whose expressions or statements do not parse."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TextPart(Node):
    """Literal text between tags, verbatim (whitespace control is recorded on the tags)."""

    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ExprPart(Node):
    """A ``{{ … }}`` tag: the parsed expression and its source between the markers.

    The expression's offsets are offsets into the whole template text.
    ``trim_left``/``trim_right`` record the ``{{-`` / ``-}}`` whitespace control.
    """

    expr: Expr
    source: str
    trim_left: bool = False
    trim_right: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementPart(Node):
    """A ``{% … %}`` tag; ``source`` is the text between the markers."""

    source: str
    trim_left: bool = False
    trim_right: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentPart(Node):
    """A ``{# … #}`` comment; ``source`` is the text between the markers."""

    source: str
    trim_left: bool = False
    trim_right: bool = False


Part: TypeAlias = TextPart | ExprPart | StatementPart | CommentPart


@dataclass(frozen=True, slots=True, kw_only=True)
class Template:
    """A string split into text and tag parts, in order, covering the whole text."""

    parts: tuple[Part, ...]
    source: str = field(default="", compare=False, repr=False)

    @property
    def has_statements(self) -> bool:
        """Whether any ``{% %}`` tag is present (reads then need Jinja's scoping)."""
        return any(isinstance(p, StatementPart) for p in self.parts)


# --------------------------------------------------------------------------- splitting

_TAG_START = re.compile(r"\{([{%#])([-+]?)")
# Jinja's raw block: its body is text, whatever it contains.
_RAW_BEGIN = re.compile(r"\{%([-+]?)\s*raw\s*(-?)%\}")
_RAW_END = re.compile(r"\{%([-+]?)\s*endraw\s*([-+]?)%\}")
_COMMENT_END = re.compile(r"([-+]?)#\}")
_JINJA_STRING = re.compile(r"""'[^'\\]*(?:\\.[^'\\]*)*'|"[^"\\]*(?:\\.[^"\\]*)*\"""", re.DOTALL)
_OPENERS = {"(": ")", "[": "]", "{": "}"}


def _error(message: str, offset: int, text: str) -> TemplateSyntaxError:
    return TemplateSyntaxError(message, offset, caret_context(text, offset))


def _only_trailing_newline(text: str, pos: int) -> bool:
    """Whether nothing but one line break follows ``pos``.

    Jinja's lexer drops one trailing newline and then lets an unclosed comment
    or raw block that reaches the end pass without error; we accept the same.
    """
    return text[pos:] in ("", "\n", "\r\n", "\r")


def _scan_tag(text: str, pos: int, tag_start: int, closer: str) -> tuple[int, int, bool]:
    """Find the end of the tag whose inside starts at ``pos``.

    Like Jinja's lexer: the closer only counts outside strings and when the
    brackets opened inside the tag are balanced. Returns (end of the inside,
    end of the tag, whether ``-`` trims on the right).
    """
    stack: list[tuple[str, int]] = []
    i = pos
    n = len(text)
    while i < n:
        char = text[i]
        if not stack:
            if text.startswith("-" + closer, i):
                return i, i + 1 + len(closer), True
            if closer == "%}" and text.startswith("+%}", i):
                return i, i + 3, False
            if text.startswith(closer, i):
                return i, i + len(closer), False
        if char in "'\"":
            match = _JINJA_STRING.match(text, i)
            if match is None:
                raise _error("unterminated string", i, text)
            i = match.end()
            continue
        if char in _OPENERS:
            stack.append((_OPENERS[char], i))
        elif stack and char == stack[-1][0]:
            stack.pop()
        # Unmatched closers are left for the expression parser to report.
        i += 1
    marker = "{{" if closer == "}}" else "{%"
    if stack:
        opener_at = stack[-1][1]
        raise _error(f"unclosed '{text[opener_at]}' inside '{marker} … {closer}'", opener_at, text)
    raise _error(f"unclosed '{marker}' (missing '{closer}')", tag_start, text)


@dataclass(frozen=True, slots=True)
class _PendingExpr:
    """A ``{{ }}`` tag found by the splitter, not parsed yet (internal)."""

    source: str
    start: int
    inner: int
    end: int
    trim_left: bool
    trim_right: bool


def _split(text: str) -> list[Part | _PendingExpr]:
    """Split into parts; ``{{ }}`` tags come back unparsed."""
    parts: list[Part | _PendingExpr] = []
    pos = 0
    n = len(text)

    def add_text(upto: int) -> None:
        if upto > pos:
            parts.append(TextPart(text=text[pos:upto], start=pos, end=upto))

    while pos < n:
        match = _TAG_START.search(text, pos)
        if match is None:
            break
        add_text(match.start())
        start = match.start()
        kind = match.group(1)
        trim_left = match.group(2) == "-"
        inner = match.end()
        if kind == "#":
            end = _COMMENT_END.search(text, inner)
            if end is None and _only_trailing_newline(text, inner):
                parts.append(
                    CommentPart(source=text[inner:], trim_left=trim_left, start=start, end=n)
                )
                pos = n
                continue
            if end is None:
                raise _error("unclosed '{#' (missing '#}')", start, text)
            parts.append(
                CommentPart(
                    source=text[inner : end.start()],
                    trim_left=trim_left,
                    trim_right=end.group(1) == "-",
                    start=start,
                    end=end.end(),
                )
            )
            pos = end.end()
            continue
        if kind == "%":
            raw = _RAW_BEGIN.match(text, start)
            if raw is not None:
                raw_end = _RAW_END.search(text, raw.end())
                # `-%}` also swallows the whitespace after it, as in Jinja.
                after_raw = raw.end() + (
                    len(text) - raw.end() - len(text[raw.end() :].lstrip())
                    if raw.group(2) == "-"
                    else 0
                )
                if raw_end is None and _only_trailing_newline(text, after_raw):
                    parts.append(
                        StatementPart(
                            source=text[inner : raw.end() - 2 - len(raw.group(2))],
                            trim_left=trim_left,
                            trim_right=raw.group(2) == "-",
                            start=start,
                            end=raw.end(),
                        )
                    )
                    pos = raw.end()
                    continue
                if raw_end is None:
                    raise _error("unclosed '{% raw %}' (missing '{% endraw %}')", start, text)
                parts.append(
                    StatementPart(
                        source=text[inner : raw.end() - 2 - len(raw.group(2))],
                        trim_left=trim_left,
                        trim_right=raw.group(2) == "-",
                        start=start,
                        end=raw.end(),
                    )
                )
                if raw_end.start() > raw.end():
                    parts.append(
                        TextPart(
                            text=text[raw.end() : raw_end.start()],
                            start=raw.end(),
                            end=raw_end.start(),
                        )
                    )
                end_inner = raw_end.start() + 2 + len(raw_end.group(1))
                end_close = raw_end.end() - 2 - len(raw_end.group(2))
                parts.append(
                    StatementPart(
                        source=text[end_inner:end_close],
                        trim_left=raw_end.group(1) == "-",
                        trim_right=raw_end.group(2) == "-",
                        start=raw_end.start(),
                        end=raw_end.end(),
                    )
                )
                pos = raw_end.end()
                continue
            inner_end, tag_end, trim_right = _scan_tag(text, inner, start, "%}")
            parts.append(
                StatementPart(
                    source=text[inner:inner_end],
                    trim_left=trim_left,
                    trim_right=trim_right,
                    start=start,
                    end=tag_end,
                )
            )
            pos = tag_end
            continue
        inner_end, tag_end, trim_right = _scan_tag(text, inner, start, "}}")
        parts.append(
            _PendingExpr(text[inner:inner_end], start, inner, tag_end, trim_left, trim_right)
        )
        pos = tag_end
    add_text(n)
    return parts


# --------------------------------------------------------------------------- parsing

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_INNERMOST_BLOCK = re.compile(r"innermost block that needs to be closed is '(\w+)'")
_BLOCK_TAGS = frozenset(
    {"for", "if", "macro", "call", "filter", "with", "block", "autoescape", "set"}
)


def _line_starts(text: str) -> list[int]:
    return [0, *(m.end() for m in _LINE_BREAK.finditer(text))]


def _jinja_error_offset(
    text: str, parts: tuple[Part, ...], error: jinja2.TemplateSyntaxError
) -> int:
    """Best character offset for a Jinja error, which only knows its line."""
    statements = [p for p in parts if isinstance(p, StatementPart)]
    message = error.message or ""
    unclosed = _INNERMOST_BLOCK.search(message)
    if unclosed is not None and message.startswith("Unexpected end of template"):
        # Point at the opening tag of the innermost block left open.
        stack: list[StatementPart] = []
        for part in statements:
            words = part.source.split()
            if not words:
                continue
            word = words[0]
            if word in _BLOCK_TAGS and not (word == "set" and "=" in part.source):
                stack.append(part)
            elif word.startswith("end") and stack:
                stack.pop()
        for opening in reversed(stack):
            if opening.source.split()[0] == unclosed.group(1):
                return opening.start
    starts = _line_starts(text)
    lineno = max(1, min(error.lineno, len(starts)))
    line_start = starts[lineno - 1]
    line_end = starts[lineno] if lineno < len(starts) else len(text)
    for part in statements:
        if line_start <= part.start < line_end:
            return part.start
    for any_part in parts:
        on_line = (
            any_part.start <= line_start < any_part.end or line_start <= any_part.start < line_end
        )
        if on_line and not isinstance(any_part, TextPart):
            return any_part.start
    return line_start


def _jinja_parse(text: str) -> jn.Template:
    from .expr.jinja import jinja_environment

    return jinja_environment().parse(text)


def _parse_lenient(text: str, *, base: int = 0, full_text: str | None = None) -> Expr:
    """`parse_expression_lenient`, without importing it (and lark) for what
    `fast_parse` reads."""
    full = text if full_text is None else full_text
    fast = fast_parse_checked(text, base, full)
    if fast is not None:
        return fast
    from .expr.parser import parse_expression_lenient

    return parse_expression_lenient(text, base=base, full_text=full)


def parse_template(text: str) -> Template:
    """Split ``text`` into text, ``{{ }}``, ``{% %}`` and ``{# #}`` parts and check them.

    Raises TemplateSyntaxError for an unclosed tag (at its opening marker), for
    an expression neither our grammar nor Jinja accepts (at the offending
    character) and, when statements are present, for anything Jinja's parser
    rejects (at the best offset its line number allows).
    """
    raw_parts = _split(text)
    parts: list[Part] = []
    for item in raw_parts:
        if not isinstance(item, _PendingExpr):
            parts.append(item)
            continue
        try:
            expr = _parse_lenient(item.source, base=item.inner, full_text=text)
        except ExprSyntaxError as error:
            raise TemplateSyntaxError(error.message, error.offset, error.context) from None
        parts.append(
            ExprPart(
                expr=expr,
                source=item.source,
                trim_left=item.trim_left,
                trim_right=item.trim_right,
                start=item.start,
                end=item.end,
            )
        )
    template = Template(parts=tuple(parts), source=text)
    if template.has_statements:
        import jinja2

        try:
            _jinja_parse(text)
        except jinja2.TemplateSyntaxError as error:
            offset = _jinja_error_offset(text, template.parts, error)
            raise _error(error.message or "invalid template", offset, text) from None
        except RecursionError:
            raise _error("template nested too deeply", 0, text) from None
    return template


# --------------------------------------------------------------------------- reads


def _statement_sites(text: str, parts: tuple[Part, ...]) -> list[NameSite]:
    from .expr.jinja import name_sites

    starts = _line_starts(text)
    sites: list[NameSite] = []
    for part in parts:
        if isinstance(part, StatementPart):
            inner = (
                part.start + 2 + (1 if text[part.start + 2 : part.start + 3] in ("-", "+") else 0)
            )
            lineno = _lineno(starts, inner)
            sites.extend(name_sites(part.source, inner, lineno))
    return sites


def _lineno(starts: list[int], offset: int) -> int:
    low, high = 0, len(starts)
    while low + 1 < high:
        mid = (low + high) // 2
        if starts[mid] <= offset:
            low = mid
        else:
            high = mid
    return low + 1


def template_reads(template: Template) -> tuple[VarRead, ...]:
    """Free variable reads of every part, ordered by offset into the template text.

    Without statements these are exactly the expressions' reads. With
    statements, names bound inside the template (``for``, ``set``, macro
    arguments, ...) are not free, and the reads inside statements come from
    Jinja's AST (their spans cover the name only).
    """
    expr_parts = [p for p in template.parts if isinstance(p, ExprPart)]
    if not template.has_statements:
        return tuple(r for p in expr_parts for r in variable_reads(p.expr))
    from .expr.jinja import locate_reads
    from .template_scopes import ScopeWalk

    ast = _jinja_parse(template.source)
    walk = ScopeWalk()
    walk.body(ast.body, set())
    reads: list[VarRead] = []
    scopes: list[frozenset[str]] = walk.output_scopes
    if len(scopes) != len(expr_parts):  # cannot happen with Jinja's parser; stay total
        scopes = [frozenset()] * len(expr_parts)
    for part, bound in zip(expr_parts, scopes, strict=True):
        reads.extend(r for r in variable_reads(part.expr) if r.name not in bound)
    reads.extend(locate_reads(walk.reads, _statement_sites(template.source, template.parts)))
    reads.sort(key=lambda r: r.start)
    return tuple(reads)


def analyze_condition(text: str) -> tuple[VarRead, ...]:
    """Free variable reads of a bare conditional (``when:``, ``until:``, ...).

    Ansible evaluates the text as ``{{ text }}``. Text that itself contains
    ``{{ }}`` (Ansible warns but accepts it) is analysed as a template. Offsets
    are into ``text``; errors are ExprSyntaxError or TemplateSyntaxError.
    """
    if is_template(str(text)):  # the markers decide, whatever the class (`UnsafeText`)
        return template_reads(parse_template(text))
    return variable_reads(_parse_lenient(text))
