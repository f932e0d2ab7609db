"""The recursive-descent reading of expr.lark (`fast_path.descend`) gives exactly what the
grammar gives, spans included, or declines: it never accepts what the grammar rejects."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lark.exceptions import UnexpectedInput, VisitError
from playgraph.grammar.expr import ExprSyntaxError, fast_path
from playgraph.grammar.expr import parser as expr_parser

from tests.grammar.test_fast_path import shape


def slow(text: str) -> Any:
    """The grammar's reading, or the error class when it rejects the text."""
    try:
        tree = expr_parser._parser().parse(text)
        return shape(expr_parser._ToAst(text, 0, text).transform(tree))
    except (UnexpectedInput, VisitError, ExprSyntaxError) as error:
        return type(error).__name__


def check(text: str) -> bool:
    """Whether ``descend`` took ``text`` (asserting it agrees with the grammar if so)."""
    fast = fast_path.descend(text, 0)
    if fast is None:
        return False
    assert shape(fast) == slow(text), text
    shifted = fast_path.descend(text, 7)
    assert shifted is not None and shifted.start == fast.start + 7 and shifted.end == fast.end + 7
    return True


_SPACE = st.sampled_from(["", " ", "  ", "\n"])
_LEAVES = st.sampled_from(
    [
        "a",
        "b",
        "item",
        "x_1",
        "true",
        "None",
        "0",
        "7",
        "42",
        "2.5",
        "'s'",
        '"t"',
        "''",
        "'é'",
        "'\\d'",
        "'a\\nb'",
        '"\\""',
        "'\\x41'",
        "'\\x4'",
    ]
)
_NAMES = st.sampled_from(["default", "bool", "d.e", "upper", "defined", "f"])
_BINARY = st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "~", "and", "or", "==", "!=",
                           "<", "<=", ">", ">=", "in", "not in"])  # fmt: skip


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pad = _SPACE
    args = st.lists(children, max_size=3).map(", ".join)
    kwargs = st.lists(st.tuples(st.sampled_from(["k", "true", "x"]), children), max_size=2).map(
        lambda pairs: ", ".join(f"{k}={v}" for k, v in pairs)
    )

    def call(a: str, k: str) -> str:
        return "(" + ", ".join(p for p in (a, k) if p) + ")"

    return st.one_of(
        st.tuples(children, pad, _BINARY, pad, children).map(
            lambda t: f"{t[0]}{t[1]} {t[2]} {t[3]}{t[4]}"
        ),
        st.tuples(st.sampled_from(["not ", "-", "+", "- "]), children).map("".join),
        st.tuples(
            children,
            pad,
            st.sampled_from(["|", "is", "is not"]),
            _NAMES,
            st.booleans(),
            args,
            kwargs,
        ).map(
            lambda t: (
                f"{t[0]}{t[1]}{' ' if t[2] != '|' else ''}{t[2]} {t[3]}"
                + (call(t[5], t[6]) if t[4] else "")
            )
        ),
        st.tuples(children, children, st.one_of(st.none(), children)).map(
            lambda t: f"{t[0]} if {t[1]}" + ("" if t[2] is None else f" else {t[2]}")
        ),
        children.map(lambda c: f"({c})"),
        st.tuples(children, st.sampled_from(["a", "b"])).map(lambda t: f"({t[0]}).{t[1]}"),
        st.tuples(children, children).map(lambda t: f"x[{t[1]}]" if t[0] else f"({t[0]})[{t[1]}]"),
        st.tuples(args, kwargs).map(lambda t: "f" + call(*t)),
        st.lists(children, max_size=3).map(lambda items: "[" + ", ".join(items) + "]"),
        st.lists(st.tuples(children, children), max_size=2).map(
            lambda pairs: "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
        ),
    )


_WELL_FORMED = st.recursive(_LEAVES, _combine, max_leaves=12)


@settings(max_examples=1500, deadline=None)
@given(_WELL_FORMED)
def test_generated_expressions_read_as_the_grammar_reads_them(text: str) -> None:
    check(text)


def test_generated_expressions_are_mostly_taken() -> None:
    """The generator above does reach the accepting paths (it is not all declined)."""
    taken: list[bool] = []

    @settings(max_examples=300, deadline=None, database=None)
    @given(_WELL_FORMED)
    def count(text: str) -> None:
        taken.append(check(text))

    count()
    assert sum(taken) > len(taken) // 2, f"{sum(taken)} of {len(taken)} taken"


_PIECES = [
    *("a", "b", "x", "item", "true", "None", "defined", "f", "default", "e5", "_1"),
    *("and", "or", "not", "in", "is", "if", "else"),
    *("1", "0", "42", "00", "2.5", "1.", "1e3", "1_0", "0x1", "'s'", '"t"', "'\\n'", "'a\"'"),
    *("'\\d'", "'\\x4'", "'\\N{BULLET}'", "'\\'", '"\\"'),
    *("+", "-", "*", "/", "//", "%", "**", "~", "|", ".", ",", ":", "=", "==", "!=", "!"),
    *("<", "<=", ">", ">=", "(", ")", "[", "]", "{", "}", " ", "  ", "\t", "\n", "é"),
]


@pytest.mark.parametrize("seed", range(4))
def test_token_soup_is_read_as_the_grammar_reads_it_or_declined(seed: int) -> None:
    rng = random.Random(seed)
    taken = 0
    for _ in range(6000):
        pieces = rng.randint(1, 10)
        text = "".join(rng.choice(_PIECES) + rng.choice(("", " ")) for _ in range(pieces))
        taken += check(text)
    assert taken > 300  # the soup does reach the parser's accepting paths


@pytest.mark.parametrize(
    "text",
    [
        "a + b * c - d / e // f % g ** h",
        "x | default(1) | int > 3",
        "inventory_hostname != 'skip1' and (flag | default(true) | bool)",
        "item.name | upper ~ ' ' ~ (item.size * 2) | string",
        "-x | abs",
        "- (a) ** 2",
        "a if b if c else d",
        "a if b else c if d else e",
        "(a if b)",
        "[1, 2.5, 's' \"t\", [], {},]",
        "{a: 1, 'b': [c], }",
        "f(a, b, c=2, d=e | f,)",
        "x.y(1)(2)[z].w",
        "x is divisibleby(3)",
        "x is not sameas(y) and y is defined",
        "r is not defined or r.rc != 0",
        "not not a in b not in c",
        "a ~ b ~ c + 1",
        "((a)) + ((b))",
        "q | d.e.f(1, k=2) is t.u",
        "x[0][-1] <= 3 >= y < z > w == v != u",
        "true and True or none is None and false == False",
        "  padded  ",
        "x.true | false",
        "x | regex_replace('\\\\d+', '\\n') ~ \"it\\\"s\"",
    ],
)
def test_the_shapes_playbooks_use_are_taken_and_agree(text: str) -> None:
    assert check(text), f"declined {text!r}"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a b",
        "x is defined if y",  # Jinja reads `if` as the test's argument
        "x is divisibleby 3",  # a bare test argument
        "x | f(1)(2)",
        "a, b",
        "()",
        "(a,)",
        "x[1:2]",
        "x.0",
        "'\\x4'",  # an invalid escape: the grammar says where
        "1e3",
        "0x1f",
        "1_000",
        "f(a=1, b)",
        "x.if",
        "and",
        "a +",
        "(a",
    ],
)
def test_what_it_is_not_sure_of_is_left_to_the_grammar(text: str) -> None:
    assert fast_path.descend(text, 0) is None
