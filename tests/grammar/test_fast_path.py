"""The fast path for common expression shapes gives exactly what the grammar gives."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lark.exceptions import UnexpectedInput
from playgraph.grammar import parse_expression
from playgraph.grammar.expr import fast_path
from playgraph.grammar.expr import parser as expr_parser


def shape(node: Any) -> Any:
    """Every field including the spans that equality ignores."""
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return (
            type(node).__name__,
            *(shape(getattr(node, f.name)) for f in dataclasses.fields(node)),
        )
    if isinstance(node, tuple):
        return tuple(shape(item) for item in node)
    return node


def slow(text: str) -> Any:
    tree = expr_parser._parser().parse(text)
    return expr_parser._ToAst(text, 0, text).transform(tree)


identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
spaces = st.sampled_from(["", " ", "  ", "\t"])


@st.composite
def common_shapes(draw: st.DrawFn) -> str:
    path = ".".join(draw(st.lists(identifiers, min_size=1, max_size=4)))
    text = draw(spaces) + path
    for name in draw(st.lists(identifiers, max_size=3)):
        text += draw(spaces) + "|" + draw(spaces) + name
    if draw(st.booleans()):
        text += " is " + ("not " if draw(st.booleans()) else "") + draw(identifiers)
    return text + draw(spaces)


@settings(max_examples=500, deadline=None)
@given(common_shapes())
def test_fast_path_matches_the_grammar_spans_included(text: str) -> None:
    fast = fast_path.fast_parse(text, 0)
    try:
        expected = slow(text)
    except UnexpectedInput:
        assert fast is None  # the grammar rejects it (a reserved word), so must the fast path
        return
    if fast is not None:
        assert shape(fast) == shape(expected)


def test_fast_path_takes_the_common_forms_and_leaves_the_rest() -> None:
    for text in ("x", "a.b.c", "r is finished", "r is not defined", " x | bool ", "j.k|int|string"):
        assert fast_path.fast_parse(text, 0) is not None, text
    # The rest of the well-formed shapes go to the recursive descent, which agrees too
    # (tests/grammar/test_incremental_template_descent.py) ...
    for text in ("true", "x.true", "a and b", "x[0]", "x(1)", "x | default(1)", "not x"):
        assert shape(fast_path.fast_parse(text, 0)) == shape(slow(text)), text
    # ... and what neither is sure of (here, errors) is the grammar's.
    for text in ("x is not", "", "x is defined if y", "a b"):
        assert fast_path.fast_parse(text, 0) is None, text
    assert shape(fast_path.fast_parse("a.b", 10)) == shape(parse_expression("          a.b"))


# --------------------------------------------------------------------------- free-form arguments


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab=-/. \n\t\\\"'{}%#")), max_size=30))
def test_plain_words_match_the_args_grammar(text: str) -> None:
    from playgraph.grammar import args as args_module

    try:
        expected = args_module._ToWords().transform(args_module._parser().parse(text))
    except UnexpectedInput:
        return  # unbalanced: only the grammar's path can say where
    assert args_module._words(text) == expected
    # And the fast path itself, wherever it applies.
    if args_module._NEEDS_GRAMMAR.search(text) is None:
        plain = [
            args_module._Word(m.start(), m.end()) for m in args_module._PLAIN_WORD.finditer(text)
        ]
        assert plain == expected
