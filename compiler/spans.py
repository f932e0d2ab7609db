"""Source positions.

A `Span` names a stretch of one source file by byte offsets. It also carries the
1-based line and column of its start: a plan travels without its sources (a
plan JSON run on another machine, a diagnostic printed long after loading), so
the display position is computed once, when the span is made, from the source
text, and kept.  Nodes that hold spans declare them ``compare=False`` so that
structural equality ignores positions.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from itertools import accumulate


@dataclass(frozen=True, slots=True, kw_only=True)
class Span:
    """A stretch of a source file: byte offsets ``[start, end)`` plus the display position."""

    file: str
    start: int
    end: int
    line: int
    column: int

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "start": self.start,
            "end": self.end,
        }

    @staticmethod
    def from_json(data: dict[str, object]) -> Span:
        def integer(key: str, default: int) -> int:
            value = data.get(key, default)
            return value if isinstance(value, int) and not isinstance(value, bool) else default

        return Span(
            file=str(data.get("file", "")),
            start=integer("start", 0),
            end=integer("end", 0),
            line=integer("line", 1),
            column=integer("column", 1),
        )


def unknown_span(file: str) -> Span:
    """The span of a whole file whose contents could not be read."""
    return Span(file=file, start=0, end=0, line=1, column=1)


class SourceText:
    """One decoded source file with a line table, turning character positions into spans.

    pyyaml reports character indexes and (line, column) pairs; a span stores byte
    offsets, so each line's byte offset is kept and the column's UTF-8 length added.
    """

    __slots__ = (
        "_line_byte_starts",
        "_line_char_starts",
        "ascii",
        "digest",
        "lines",
        "path",
        "text",
    )

    def __init__(self, path: str, text: str, digest: str = "") -> None:
        self.path = path
        self.text = text
        self.digest = digest
        """sha256 of the file's bytes (empty for text that did not come from a file)."""
        self.ascii = text.isascii()
        """Character and byte offsets coincide: spans need no conversion (the common case)."""
        self.lines = text.split("\n")
        # Every source is read (and every cached one rebuilt) with its table: built
        # by accumulate, and shared when bytes and characters coincide.
        self._line_char_starts: list[int] = list(
            accumulate((len(line) + 1 for line in self.lines[:-1]), initial=0)
        )
        self._line_byte_starts: list[int] = (
            self._line_char_starts
            if self.ascii
            else list(
                accumulate(
                    (len(line.encode("utf-8", "surrogateescape")) + 1 for line in self.lines[:-1]),
                    initial=0,
                )
            )
        )

    def line_col(self, char_index: int) -> tuple[int, int]:
        """0-based (line, column) of a character index, clamped into the text."""
        char_index = max(0, min(char_index, len(self.text)))
        line = bisect.bisect_right(self._line_char_starts, char_index) - 1
        return line, char_index - self._line_char_starts[line]

    def char_index(self, line: int, column: int) -> int:
        line = max(0, min(line, len(self.lines) - 1))
        return self._line_char_starts[line] + max(0, column)

    def byte_offset(self, line: int, column: int) -> int:
        line = max(0, min(line, len(self.lines) - 1))
        prefix = self.lines[line][: max(0, column)]
        return self._line_byte_starts[line] + len(prefix.encode("utf-8", "surrogateescape"))

    def span(self, start_char: int, end_char: int) -> Span:
        """The span of characters ``[start_char, end_char)``."""
        start_line, start_col = self.line_col(start_char)
        end_line, end_col = self.line_col(max(start_char, end_char))
        return Span(
            file=self.path,
            start=self.byte_offset(start_line, start_col),
            end=self.byte_offset(end_line, end_col),
            line=start_line + 1,
            column=start_col + 1,
        )

    def span_of_marks(self, start: int, line: int, column: int, end: int) -> Span:
        """A span from a YAML parser's marks (character index, 0-based line and column)."""
        if self.ascii:
            return Span(
                file=self.path, start=start, end=max(start, end), line=line + 1, column=column + 1
            )
        end_line, end_col = self.line_col(max(start, end))
        return Span(
            file=self.path,
            start=self.byte_offset(line, column),
            end=self.byte_offset(end_line, end_col),
            line=line + 1,
            column=column + 1,
        )

    def span_at(self, line: int, column: int, length: int = 1) -> Span:
        """The span starting at 0-based (line, column)."""
        start = self.char_index(line, column)
        return self.span(start, start + length)
