"""Syntax errors of the small languages, located by a character offset."""

from __future__ import annotations

from playgraph.semantics import PlaygraphError


class GrammarError(PlaygraphError):
    """A syntax error in one of the small languages, located by a character offset.

    ``context`` is the offending line with a caret under ``offset`` (the layout of
    lark's ``UnexpectedInput.get_context``), ready for a one-line diagnostic.
    """

    too_complex: bool = False
    """The text may be valid, but is beyond what the analyses accept (`ExprTooComplex`)."""

    def __init__(self, message: str, offset: int, context: str = "") -> None:
        super().__init__(message, offset)
        self.message = message
        self.offset = offset
        self.context = context

    def __str__(self) -> str:
        return f"{self.message} (at offset {self.offset})"


class ExprSyntaxError(GrammarError):
    """An expression that the Jinja expression grammar rejects."""


class ExprTooComplex(ExprSyntaxError):
    """An expression nested deeper than `MAX_EXPR_DEPTH` (see `complexity_problem`)."""

    too_complex = True


class NotALiteral(PlaygraphError, ValueError):
    """Raised by ``literal_value`` for an expression whose value needs variables or calls."""


def caret_context(text: str, offset: int, span: int = 40) -> str:
    """The line around ``offset`` with a caret under it, laid out as lark's ``get_context``.

    Used for errors that lark did not raise (or whose offset we moved to a more
    useful character), so every ``GrammarError.context`` reads the same.
    """
    offset = max(0, min(offset, len(text)))
    before = text[max(offset - span, 0) : offset].rsplit("\n", 1)[-1]
    after = text[offset : offset + span].split("\n", 1)[0]
    return before + after + "\n" + " " * len(before.expandtabs()) + "^\n"
