"""Templates: splitting into parts, offsets, statements through Jinja, reads."""

from __future__ import annotations

import pytest
from playgraph.grammar import (
    BinOp,
    CommentPart,
    Const,
    ExprPart,
    ExprSyntaxError,
    Filter,
    GrammarError,
    Name,
    OpaqueExpr,
    StatementPart,
    Template,
    TemplateSyntaxError,
    TextPart,
    analyze_condition,
    parse_template,
    template_reads,
    variable_reads,
)

from playgraph.semantics import is_template


def _spans(text: str) -> list[tuple[str, str]]:
    return [(type(p).__name__, text[p.start : p.end]) for p in parse_template(text).parts]


def test_plain_text_is_one_part() -> None:
    assert parse_template("just text") == Template(parts=(TextPart(text="just text"),))
    assert parse_template("") == Template(parts=())


def test_parts_cover_the_text_in_order() -> None:
    text = "a {{ x }} b {% if y %}c{% endif %}{# note #} d"
    assert _spans(text) == [
        ("TextPart", "a "),
        ("ExprPart", "{{ x }}"),
        ("TextPart", " b "),
        ("StatementPart", "{% if y %}"),
        ("TextPart", "c"),
        ("StatementPart", "{% endif %}"),
        ("CommentPart", "{# note #}"),
        ("TextPart", " d"),
    ]


def test_expression_part_keeps_its_source_and_parsed_expression() -> None:
    (part,) = parse_template("{{ x | default('a') }}").parts
    assert part == ExprPart(
        expr=Filter(operand=Name(name="x"), name="default", args=(Const(value="a"),)),
        source=" x | default('a') ",
    )


def test_closing_braces_inside_a_string_do_not_end_the_expression() -> None:
    text = "a {{ '}}' ~ \"}}\" }} b"
    template = parse_template(text)
    assert _spans(text) == [
        ("TextPart", "a "),
        ("ExprPart", "{{ '}}' ~ \"}}\" }}"),
        ("TextPart", " b"),
    ]
    part = template.parts[1]
    assert isinstance(part, ExprPart)
    assert part.source == " '}}' ~ \"}}\" "


def test_closing_braces_of_a_nested_dict_do_not_end_the_expression() -> None:
    (part,) = parse_template("{{ {'a': {'b': 1}} }}").parts
    assert isinstance(part, ExprPart)
    assert part.source == " {'a': {'b': 1}} "


def test_whitespace_control_markers() -> None:
    text = "x {{- y -}} z {%- if a -%}b{%+ endif +%}"
    parts = parse_template(text).parts
    assert _spans(text) == [
        ("TextPart", "x "),
        ("ExprPart", "{{- y -}}"),
        ("TextPart", " z "),
        ("StatementPart", "{%- if a -%}"),
        ("TextPart", "b"),
        ("StatementPart", "{%+ endif +%}"),
    ]
    expr_part, statement = parts[1], parts[3]
    assert isinstance(expr_part, ExprPart) and isinstance(statement, StatementPart)
    assert (expr_part.trim_left, expr_part.trim_right) == (True, True)
    assert expr_part.source == " y "
    assert (statement.trim_left, statement.trim_right, statement.source) == (True, True, " if a ")


def test_a_minus_right_after_the_braces_is_whitespace_control_as_in_jinja() -> None:
    (part,) = parse_template("{{-1}}").parts
    assert isinstance(part, ExprPart)
    assert part.expr == Const(value=1)


def test_comment_and_raw_blocks_are_not_parsed() -> None:
    text = "{# {{ not an expression #}{% raw %}{{ neither( }}{% endraw %}"
    assert _spans(text) == [
        ("CommentPart", "{# {{ not an expression #}"),
        ("StatementPart", "{% raw %}"),
        ("TextPart", "{{ neither( }}"),
        ("StatementPart", "{% endraw %}"),
    ]
    comment = parse_template(text).parts[0]
    assert comment == CommentPart(source=" {{ not an expression ")


def test_unclosed_comment_or_raw_block_at_the_very_end_passes_as_in_jinja() -> None:
    # Jinja's lexer lets these through (after dropping one trailing newline).
    assert _spans("a {#") == [("TextPart", "a "), ("CommentPart", "{#")]
    assert _spans("{#\n") == [("CommentPart", "{#\n")]
    assert _spans("{% raw %}\n") == [("StatementPart", "{% raw %}"), ("TextPart", "\n")]
    with pytest.raises(TemplateSyntaxError):
        parse_template("{# a")


def test_expression_offsets_are_into_the_whole_text() -> None:
    text = "prefix {{ a + b.c }} suffix"
    (part,) = (p for p in parse_template(text).parts if isinstance(p, ExprPart))
    assert isinstance(part.expr, BinOp)
    assert text[part.expr.start : part.expr.end] == "a + b.c"
    assert text[part.expr.right.start : part.expr.right.end] == "b.c"


TEMPLATE_ERRORS = [
    # text, message fragment, text at the offset
    ("ok {{ a", "unclosed '{{' (missing '}}')", "{{ a"),
    ("{{ x }} {{ (a }}", "unclosed '('", "(a"),
    ("{{ a + }}", "expected an expression after '+'", "+ }}"),
    ("text {{ a b }}", "unexpected name 'b'", "b }}"),
    ("{{ 'abc }}", "unterminated string", "'abc"),
    ("{# note", "unclosed '{#'", "{# note"),
    ("{% if a %}", "Unexpected end of template", "{% if a %}"),
    ("{% for x in y %}\n{% if a %}\n{% endfor %}", "unknown tag 'endfor'", "{% endfor %}"),
    ("line\n{% bogus %}", "unknown tag 'bogus'", "{% bogus %}"),
    ("{% if %}", "Expected an expression", "{% if %}"),
    ("x {% if a ", "unclosed '{%'", "{% if a "),
    ("{% raw %}x", "unclosed '{% raw %}'", "{% raw %}x"),
    ("{{ }}", "empty expression", "}}"),
]


@pytest.mark.parametrize(("text", "fragment", "at"), TEMPLATE_ERRORS)
def test_template_errors(text: str, fragment: str, at: str) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        parse_template(text)
    assert isinstance(info.value, GrammarError)
    assert fragment in info.value.message
    assert text[info.value.offset :].startswith(at)


def test_jinja_fallback_for_expressions_outside_our_grammar() -> None:
    # Our grammar leaves out `*args`; Jinja accepts it, so this is no error.
    text = "run {{ lookup('pipe', *cmd) | default(fallback.value) }}"
    template = parse_template(text)
    part = template.parts[1]
    assert isinstance(part, ExprPart)
    assert part.expr == OpaqueExpr(source=" lookup('pipe', *cmd) | default(fallback.value) ")
    reads = template_reads(template)
    assert [(r.name, r.path) for r in reads] == [("cmd", ()), ("fallback", ("value",))]
    assert [text[r.start : r.end] for r in reads] == ["cmd", "fallback"]


def test_jinja_fallback_is_not_used_when_jinja_rejects_too() -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        parse_template("{{ f(*) }}")
    # our error, at the character, rather than Jinja's line number
    assert (info.value.message, info.value.offset) == ("unexpected '*'", 5)


# -- reads -----------------------------------------------------------------------------


def _reads(text: str) -> list[tuple[str, tuple[object, ...], str]]:
    return [(r.name, r.path, text[r.start : r.end]) for r in template_reads(parse_template(text))]


def test_reads_of_expression_parts_have_exact_spans() -> None:
    text = "{{ job.ansible_job_id }} and {{ other['k'] | d(x) }}"
    assert _reads(text) == [
        ("job", ("ansible_job_id",), "job.ansible_job_id"),
        ("other", ("k",), "other['k']"),
        ("x", (), "x"),
    ]


def test_names_bound_by_for_and_set_are_not_free() -> None:
    text = (
        "{% for x in items if x.ok %}{{ x.name }}{{ loop.index }}{{ y }}{% endfor %}"
        "{{ x }}{% set v = w.q %}{{ v }}"
    )
    assert _reads(text) == [
        ("items", (), "items"),
        ("y", (), "y"),
        ("x", (), "x"),
        ("w", ("q",), "w"),
    ]


def test_names_bound_by_macros_and_with_are_not_free() -> None:
    text = (
        "{% macro m(p) %}{{ p }}{{ q }}{% endmacro %}{{ m(r) }}"
        "{% with a = b %}{{ a }}{{ c }}{% endwith %}{{ a }}"
    )
    assert [name for name, _, _ in _reads(text)] == ["q", "r", "b", "c", "a"]


def test_sets_bind_only_on_every_path_as_jinja_renders_them() -> None:
    # Jinja renders `{% if false %}{% set s = 1 %}{% endif %}{{ s }}` with the
    # outside `s`, and a read before a `set` also sees the outside value.
    text = (
        "{% if c %}{% set s = 1 %}{% endif %}{{ s }}"
        "{% if c %}{% set t = 1 %}{% else %}{% set t = 2 %}{% endif %}{{ t }}"
        "{% for i in l %}{{ u }}{% set u = i %}{{ u }}{% endfor %}{{ u }}"
    )
    assert [name for name, _, _ in _reads(text)] == ["c", "s", "c", "l", "u", "u"]


def test_statement_reads_point_at_the_name() -> None:
    text = "{% if a.b %}\n  {{ a.c }}\n{% elif d['e'] %}{% endif %}"
    assert _reads(text) == [
        ("a", ("b",), "a"),
        ("a", ("c",), "a.c"),
        ("d", ("e",), "d"),
    ]


def test_is_template() -> None:
    assert is_template("a {{ b }}")
    assert is_template("{% if a %}{% endif %}")
    assert is_template("{# c #}")
    assert not is_template("a { b } % c # d")


def test_analyze_condition_reads_a_bare_expression() -> None:
    text = "result.rc != 0 and 'failed' not in result.stdout"
    reads = analyze_condition(text)
    assert [(r.name, r.path, text[r.start : r.end]) for r in reads] == [
        ("result", ("rc",), "result.rc"),
        ("result", ("stdout",), "result.stdout"),
    ]


def test_analyze_condition_accepts_embedded_templates() -> None:
    reads = analyze_condition("{{ job.finished }} == 1")
    assert [(r.name, r.path, r.start) for r in reads] == [("job", ("finished",), 3)]


def test_analyze_condition_falls_back_to_jinja() -> None:
    reads = analyze_condition("f(*xs) | length > n")
    assert [r.name for r in reads] == ["xs", "n"]


def test_analyze_condition_errors_point_into_the_text() -> None:
    with pytest.raises(ExprSyntaxError) as info:
        analyze_condition("job.finished ==")
    assert info.value.offset == 13
    with pytest.raises(TemplateSyntaxError) as template_info:
        analyze_condition("{{ job.finished == }}")
    assert template_info.value.offset == 16


def test_expression_parts_and_plain_reads_agree() -> None:
    text = "{{ a.b[c] }}"
    (part,) = parse_template(text).parts
    assert isinstance(part, ExprPart)
    assert template_reads(parse_template(text)) == variable_reads(part.expr)
