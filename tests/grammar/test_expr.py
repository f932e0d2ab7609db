"""The Jinja expression grammar: shapes against Jinja's parser, analyses, errors."""

from __future__ import annotations

import dataclasses

import playgraph.grammar as g
import pytest
from playgraph.grammar import (
    BinOp,
    Call,
    Const,
    Expr,
    ExprSyntaxError,
    Filter,
    GrammarError,
    Name,
    NotALiteral,
    OpaqueExpr,
    UnaryOp,
    VarRead,
    build_expr_parser,
    filters_used,
    literal_value,
    parse_expression,
    parse_expression_lenient,
    unparse,
    variable_reads,
)

from tests.grammar.test_jinja_shape import jinja_shape_of, our_shape

# Each expression must parse to the same tree as Jinja's own parser builds.
SAME_AS_JINJA = [
    # precedence chain
    "-x|abs",
    "- -x|abs",
    "-x.y(1)|f",
    "-x is defined",
    "-x ** 2",
    "x ** -y",
    "2 ** 3 ** 2",
    "a ~ b + c",
    "a + b ~ c",
    "a * b ~ c * d",
    "a ~ b ~ c",
    "(a ~ b) ~ c",
    "not a in b",
    "not not x",
    "not a == b and c",
    "a or b and c",
    "a and b or c and d",
    "a if b else c | d",
    "a if b",
    "a if b if c else d",
    "a if b else c if d else e",
    "(a if b else c) if d",
    "x is not defined and y",
    "x is defined or x is none",
    "a < b < c",
    "a == b != c",
    "a not in b",
    "a in b in c",
    "1 + 2 * 3 - 4 / 5 // 6 % 7",
    "a - b - c",
    "a / b / c",
    "-+x",
    "+x|f",
    "a + -b",
    # postfix, filters, tests
    "yum_sleeper.ansible_job_id",
    "x['a'][0].b",
    "a.0",
    "a.0.1",
    "a[1:2]",
    "a[:2]",
    "a[1:]",
    "a[::2]",
    "a[:]",
    "a[x:y:z]",
    "a[-1]",
    "lookup('env', 'HOME')",
    "range(3)",
    "x.split(',')",
    "f(a, b, c=1, d=2)",
    "f(a,)",
    "f(c=1,)",
    "f()",
    "x | default('a') | int",
    "x | default(omit=true)",
    "x|f(1)(2)",
    "x|f(1)|g",
    "x | ansible.builtin.to_json",
    "x is version('2.0', '>=')",
    "x is divisibleby 3",
    "x is divisibleby 3 + 1",
    "x is sameas false",
    "x is t a.b[1]",
    "x is t -1",
    "x is not t(1)",
    "x is t(1)(2)",
    "x is not none",
    "x|f is t|g",
    "x is t(1) is u",
    "x is t y is u",
    "x is in [1, 2]",
    "x is not in [1]",
    "x is ansible.builtin.truthy",
    "x is t and y",
    "x is t or y",
    "a if x is t else b",
    "(x is t) if y",
    "x is t 'a'",
    "x is t {'a': 1}",
    "result.stdout_lines | map('trim') | list",
    "item.0 is defined",
    # literals
    "'a' 'b'",
    "'it\\'s'",
    '"tab\\there"',
    "'\\x41\\u00e9'",
    "'\\d'",
    "1_000",
    "0x1F",
    "0o17",
    "0b101",
    "00",
    "1.5",
    "1e5",
    "1.5e-3",
    "1_0.5",
    "true",
    "True",
    "false",
    "none",
    "None",
    "[1, 'a', [2]]",
    "[1,]",
    "[]",
    "(1,)",
    "(1, 2)",
    "(1, 2,)",
    "()",
    "{'a': 1, 'b': [2]}",
    "{'a': 1,}",
    "{}",
    "{a: b}",
    "1, 2",
    "a,",
    # names that are keywords only where Jinja would read a keyword
    "x.and",
    "x.if",
    "f(if=1)",
    "x.true",
    "if",
    "in",
    "x and and",
    "x | default('a b') ~ 'c'",
    "x\n and\n y",
]


@pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")
@pytest.mark.parametrize("text", SAME_AS_JINJA)
def test_shape_matches_jinja(text: str) -> None:
    expected = jinja_shape_of(text)
    assert expected is not None, "Jinja itself rejects the example"
    assert our_shape(parse_expression(text)) == expected


def test_unary_minus_binds_looser_than_filters_as_in_jinja_3() -> None:
    # Jinja 3 applies filters to the whole unary expression: `-x|abs` is `(-x)|abs`.
    expr = parse_expression("-x|abs")
    assert expr == Filter(operand=UnaryOp(op="-", operand=Name(name="x")), name="abs")


def test_negated_test_is_a_not_around_the_test() -> None:
    assert parse_expression("x is not defined") == UnaryOp(
        op="not", operand=g.Test(operand=Name(name="x"), name="defined")
    )


def test_offsets_are_excluded_from_equality() -> None:
    assert parse_expression("  a + b") == parse_expression("a+b")
    assert parse_expression("a+b") == BinOp(op="+", left=Name(name="a"), right=Name(name="b"))


def _walk(node: object) -> list[object]:
    out = [node]
    if dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            for child in value if isinstance(value, tuple) else (value,):
                if dataclasses.is_dataclass(child):
                    out.extend(_walk(child))
    return out


@pytest.mark.parametrize("text", ["x | default('a') | int", "a[1:2] + f(b=c) ~ {'k': [1]}"])
def test_every_node_has_a_span_inside_the_text(text: str) -> None:
    for node in _walk(parse_expression(text)):
        start, end = node.start, node.end  # type: ignore[attr-defined]
        assert 0 <= start < end <= len(text), node


def test_spans_point_at_the_source() -> None:
    text = "x | default(y.z)"
    expr = parse_expression(text)
    assert isinstance(expr, Filter)
    assert text[expr.start : expr.end] == text
    (arg,) = expr.args
    assert text[arg.start : arg.end] == "y.z"


# -- reads ---------------------------------------------------------------------------

READS = [
    ("yum_sleeper.ansible_job_id", [("yum_sleeper", ("ansible_job_id",))]),
    ("x['a'][0].b", [("x", ("a", 0, "b"))]),
    ("x.0.name", [("x", (0, "name"))]),
    ("x[-1]", [("x", (-1,))]),
    ("x[y].z", [("x", ()), ("y", ())]),
    ("x[y.a]['b']", [("x", ()), ("y", ("a",))]),
    ("x[1:2]", [("x", ())]),
    ("x[a:b]", [("x", ()), ("a", ()), ("b", ())]),
    ("x[true]", [("x", ())]),
    ("lookup('env', 'HOME')", []),
    ("range(n)", [("n", ())]),
    ("x.split(',')", [("x", ())]),
    ("r.stdout.split(sep)[0]", [("r", ("stdout",)), ("sep", ())]),
    ("x | default(y) | int", [("x", ()), ("y", ())]),
    ("x | default(omit=z)", [("x", ()), ("z", ())]),
    ("x is version(v, '>=')", [("x", ()), ("v", ())]),
    ("x is divisibleby n", [("x", ()), ("n", ())]),
    ("a if b else c", [("a", ()), ("b", ()), ("c", ())]),
    ("true and none or false", []),
    ("{k: v}", [("k", ()), ("v", ())]),
    ("f(x)(y)", [("x", ()), ("y", ())]),
    ("(a ~ b).c", [("a", ()), ("b", ())]),
    ("x | map(attribute='name') | list", [("x", ())]),
    ("job.results[0].ansible_job_id", [("job", ("results", 0, "ansible_job_id"))]),
]


@pytest.mark.parametrize(("text", "expected"), READS)
def test_variable_reads(text: str, expected: list[tuple[str, tuple[object, ...]]]) -> None:
    reads = variable_reads(parse_expression(text))
    assert [(r.name, r.path) for r in reads] == expected


def test_read_spans_cover_name_and_constant_path() -> None:
    text = "1 + x['a'][0].b[y]"
    reads = variable_reads(parse_expression(text))
    assert [text[r.start : r.end] for r in reads] == ["x['a'][0].b", "y"]


def test_read_equality_ignores_spans() -> None:
    assert VarRead(name="x", path=("a",), start=3, end=7) == VarRead(name="x", path=("a",))


def test_filters_and_tests_used_in_source_order() -> None:
    expr = parse_expression("(a | f) is t(b | g) and c | h is not u | ansible.builtin.k")
    assert filters_used(expr) == ("f", "g", "h", "ansible.builtin.k")
    assert g.tests_used(expr) == ("t", "u")


# -- literal_value ---------------------------------------------------------------------

LITERALS = [
    ("5", 5),
    ("-5", -5),
    ("+5", 5),
    ("- -2.5", 2.5),
    ("'a' 'b'", "ab"),
    ("true", True),
    ("None", None),
    ("[1, 'x', [none]]", [1, "x", [None]]),
    ("(1, 2)", (1, 2)),
    ("{'a': [1], 2: false}", {"a": [1], 2: False}),
    ("0x10", 16),
]


@pytest.mark.parametrize(("text", "value"), LITERALS)
def test_literal_value(text: str, value: object) -> None:
    assert literal_value(parse_expression(text)) == value


@pytest.mark.parametrize("text", ["x", "-x", "-'a'", "-true", "1 + 2", "[x]", "{[1]: 2}", "f()"])
def test_not_a_literal(text: str) -> None:
    with pytest.raises(NotALiteral):
        literal_value(parse_expression(text))


# -- errors ----------------------------------------------------------------------------

ERRORS = [
    # text, message fragment, the text at the offset
    ("a +", "expected an expression after '+'", "+"),
    ("a and", "expected an expression after 'and'", "and"),
    ("x == )", "expected an expression after '=='", "=="),
    ("not", "expected an expression after 'not'", "not"),
    ("(a + b", "unbalanced parenthesis", "(a"),
    ("f(a, (b)", "unbalanced parenthesis", "(a"),
    ("a + b)", "unbalanced parenthesis", ")"),
    ("[1, 2", "unbalanced bracket", "[1"),
    ("(a]", "unbalanced parenthesis", "]"),
    ("{'a': 1", "unbalanced brace", "{'"),
    ("x == 'abc", "unterminated string", "'abc"),
    ('"abc', "unterminated string", '"abc'),
    ("a.", "expected a name after '.'", ""),
    ("a.+b", "expected a name after '.'", "+b"),
    ("x |", "expected a filter name after '|'", ""),
    ("x is", "expected a test name after 'is'", ""),
    ("{a}", "expected ':' after a dictionary key", "}"),
    ("f(a=1, b)", "keyword arguments must follow positional arguments", ")"),
    ("a b", "unexpected name 'b'", "b"),
    ("a @ b", "unexpected character '@'", "@"),
    ("", "empty expression", ""),
    ("x is defined if y else z", "read by Jinja as the test's argument", "if"),
    ("x is defined in y", "read by Jinja as the test's argument", "in"),
    ("x is defined is true", "cannot chain tests", "is true"),
    ("'\\x4'", "invalid escape sequence", "'\\x4'"),
]


@pytest.mark.parametrize(("text", "fragment", "at"), ERRORS)
def test_syntax_errors_are_specific_and_located(text: str, fragment: str, at: str) -> None:
    with pytest.raises(ExprSyntaxError) as info:
        parse_expression(text)
    error = info.value
    assert isinstance(error, GrammarError)
    assert fragment in error.message
    assert text[error.offset :].startswith(at)
    assert error.context.endswith("^\n")


def test_errors_rejected_by_jinja_too() -> None:
    # our grammar must not be stricter than Jinja on these, and Jinja rejects them all
    for text, _, _ in ERRORS:
        assert jinja_shape_of(text) is None, text


def test_error_context_has_a_caret_under_the_offset() -> None:
    with pytest.raises(ExprSyntaxError) as info:
        parse_expression("ok and (x + ")
    line, caret, _ = info.value.context.split("\n")
    assert line == "ok and (x + "
    assert caret.index("^") == info.value.offset


# -- leniency and unparse ------------------------------------------------------------


@pytest.mark.parametrize("text", ["f(*args)", "f(**kw)", "a[1, 2]", "x is t if"])
def test_lenient_parse_defers_to_jinja_beyond_the_subset(text: str) -> None:
    with pytest.raises(ExprSyntaxError):
        parse_expression(text)
    assert parse_expression_lenient(text) == OpaqueExpr(source=text)


def test_lenient_parse_raises_our_error_when_jinja_rejects_too() -> None:
    with pytest.raises(ExprSyntaxError) as info:
        parse_expression_lenient("a + (b")
    assert info.value.offset == 4


def test_opaque_expression_analyses_go_through_jinja() -> None:
    expr = parse_expression_lenient("f(*args) | default(y.z) if x is t(q) else w[k]")
    assert isinstance(expr, OpaqueExpr)
    reads = variable_reads(expr)
    assert [(r.name, r.path) for r in reads] == [
        ("args", ()),
        ("y", ("z",)),
        ("x", ()),
        ("q", ()),
        ("w", ()),
        ("k", ()),
    ]
    assert [expr.source[r.start : r.end] for r in reads] == ["args", "y", "x", "q", "w", "k"]
    assert filters_used(expr) == ("default",)
    assert g.tests_used(expr) == ("t",)
    with pytest.raises(NotALiteral):
        literal_value(expr)


@pytest.mark.parametrize("text", SAME_AS_JINJA)
def test_unparse_round_trips(text: str) -> None:
    expr = parse_expression(text)
    assert parse_expression(unparse(expr)) == expr


def test_unparse_parenthesises_fully() -> None:
    assert unparse(parse_expression("a + b * -c | f(1, k=2)")) == "(a + (b * ((-c) | f(1, k=2))))"


def test_unparse_of_hand_built_nodes() -> None:
    node: Expr = Call(func=Name(name="f"), args=(Const(value=1e999), Const(value="it's")))
    assert parse_expression(unparse(node)) == node


def test_grammar_builds_in_strict_mode() -> None:
    # strict: any shift/reduce conflict or terminal collision is an error
    build_expr_parser(strict=True)
