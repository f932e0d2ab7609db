"""The words of free-form arguments that have quotes, escapes or Jinja tags: ``args.lark``'s
LALR parser (`playgraph.grammar.args` splits plain text itself, without importing lark)."""

from __future__ import annotations

import functools

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedInput
from lark.tree import Meta

from .loading import load_parser

__all__ = ["Unclosed", "build_args_parser", "grammar_words"]

_Word = tuple[int, int]
"""A word's span, start and end."""


class Unclosed(Exception):
    """A quote or tag still open at the end of the text (`playgraph.grammar.args` turns
    it into an ArgsSyntaxError)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


def build_args_parser(*, strict: bool = False) -> Lark:
    """Build the LALR parser for ``args.lark`` (``strict`` turns conflicts into errors)."""
    return Lark.open_from_package(
        "playgraph.grammar",
        "args.lark",
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        strict=strict,
    )


@functools.cache
def _parser() -> Lark:
    # The same parser as build_args_parser(), its tables cached on disk between runs.
    return load_parser("args.lark", parser="lalr", lexer="contextual", propagate_positions=True)


@v_args(inline=True, meta=True)
class _ToWords(Transformer[Token, list[_Word]]):
    """Keeps only the span of each word; the regions inside only mattered for splitting."""

    def word(self, meta: Meta, *_: object) -> _Word:
        return (meta.start_pos, meta.end_pos)

    def start(self, meta: Meta, *words: _Word) -> list[_Word]:
        return list(words)


_OPENER_TYPES = {
    "DQ": "DQ",
    "SQ": "SQ",
    "JVAR_OPEN": "JVAR_CLOSE",
    "JBLOCK_OPEN": "JBLOCK_CLOSE",
    "JCOMMENT_OPEN": "JCOMMENT_CLOSE",
}
_OPENER_MESSAGES = {
    "DQ": "unbalanced quotes: no closing '\"'",
    "SQ": 'unbalanced quotes: no closing "\'"',
    "JVAR_OPEN": "unclosed '{{' (missing '}}')",
    "JBLOCK_OPEN": "unclosed '{%' (missing '%}')",
    "JCOMMENT_OPEN": "unclosed '{#' (missing '#}')",
}


def _syntax_error(err: UnexpectedInput, text: str) -> Unclosed:
    """Point at the innermost quote or tag still open when the input ran out.

    Every character lexes in every region, so running out of input inside a
    region is the only way to fail; the parser's stack still holds the tokens
    of the regions it has not closed.
    """
    open_stack: list[Token] = []
    interactive = getattr(err, "interactive_parser", None)
    if interactive is not None:
        for value in interactive.parser_state.value_stack:
            if not isinstance(value, Token):
                continue  # a completed region, already reduced
            if open_stack and _OPENER_TYPES[open_stack[-1].type] == value.type:
                open_stack.pop()
            elif value.type in _OPENER_TYPES:
                open_stack.append(value)
    if open_stack:
        token = open_stack[-1]
        offset = token.start_pos or 0
        return Unclosed(_OPENER_MESSAGES[token.type], offset)
    offset = getattr(err, "pos_in_stream", None) or len(text)
    message = "unbalanced quotes or Jinja tags"
    return Unclosed(message, offset)


def grammar_words(text: str) -> list[_Word]:
    """The words of ``text`` by the grammar; Unclosed at a region left open."""
    try:
        tree: Tree[Token] = _parser().parse(text)
    except UnexpectedInput as err:
        raise _syntax_error(err, text) from None
    return _ToWords().transform(tree)
