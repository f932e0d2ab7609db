"""The YAML loader: positions for every node, and bad input as diagnostics, never exceptions."""

from __future__ import annotations

import os
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from playgraph.compiler import compile_playbook
from playgraph.compiler.diagnostics import has_errors
from playgraph.compiler.loader import YMap, YScalar, YSeq, inner_span, load_bytes, to_python


def codes(data: bytes) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.column) for d in load_bytes("f.yml", data).diagnostics]


def test_positions_of_keys_and_values() -> None:
    doc = load_bytes("f.yml", b"- hosts: all\n  tasks:\n    - command: ls -l\n      async: 5\n")
    assert isinstance(doc.root, YSeq)
    play = doc.root.items[0]
    assert isinstance(play, YMap)
    hosts = play.entry("hosts")
    assert hosts is not None and hosts.key.span.line == 1 and hosts.key.span.column == 3
    tasks = play.get("tasks")
    assert isinstance(tasks, YSeq)
    task = tasks.items[0]
    assert isinstance(task, YMap)
    async_entry = task.entry("async")
    assert async_entry is not None
    assert (async_entry.value.span.line, async_entry.value.span.column) == (4, 14)
    assert isinstance(async_entry.value, YScalar) and async_entry.value.value == 5


def test_yaml_11_booleans_and_numbers() -> None:
    doc = load_bytes("f.yml", b"a: yes\nb: 'yes'\nc: 0x1F\nd: 2.5\ne: ~\nf: 010\n")
    assert doc.root is not None
    assert to_python(doc.root) == {"a": True, "b": "yes", "c": 31, "d": 2.5, "e": None, "f": 8}


def test_spans_are_byte_offsets_but_columns_are_characters() -> None:
    data = "- name: é\n  x: 1\n".encode()
    doc = load_bytes("f.yml", data)
    assert isinstance(doc.root, YSeq)
    item = doc.root.items[0]
    assert isinstance(item, YMap)
    x = item.entry("x")
    assert x is not None
    assert x.key.span.start == data.index(b"x")
    value = item.get("name")
    assert value is not None and value.span.column == 9


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", []),
        (b"- a: 1\n  a: 2\n", [("syntax[duplicate-key]", 2, 3)]),
        (b"- a:\n\t- b\n", [("syntax[yaml]", 2, 1)]),
        (b"\xff\xfe junk", [("load-failure[not-utf8]", 1, 1)]),
        (b"- a: 1\x00\n", [("load-failure[not-utf8]", 1, 7)]),
        (b"- a: 'unclosed\n", [("syntax[yaml]", 2, 1)]),
        (b"- a: 1\n---\n- b: 2\n", [("syntax[yaml]", 2, 1)]),
        (b"- *nope\n", [("syntax[yaml]", 1, 3)]),
    ],
)
def test_bad_input_is_a_diagnostic(data: bytes, expected: list[tuple[str, int, int]]) -> None:
    assert codes(data) == expected


def test_tab_message_says_tab() -> None:
    doc = load_bytes("f.yml", b"- hosts: all\n  tasks:\n\t- ping:\n")
    assert [d.message for d in doc.diagnostics] == [
        "tab character in indentation; YAML allows only spaces"
    ]


@pytest.mark.parametrize("depth", [300, 3000])
def test_deep_nesting_is_a_diagnostic_not_a_crash(depth: int) -> None:
    block = "".join("  " * i + "- \n" for i in range(depth)).encode()
    flow = b"[" * depth + b"]" * depth
    for data in (block, flow):
        doc = load_bytes("f.yml", data)
        assert doc.root is None
        assert doc.diagnostics and doc.diagnostics[0].code in ("syntax[too-deep]", "syntax[yaml]")


def test_merge_keys_explicit_wins() -> None:
    doc = load_bytes("f.yml", b"base: &b {x: 1, y: 2}\nmine:\n  <<: *b\n  y: 3\n")
    assert doc.root is not None
    assert to_python(doc.root)["mine"] == {"y": 3, "x": 1}


def test_inner_span_points_inside_quoted_and_block_scalars() -> None:
    text = b'a: "xx {{ oops"\nb: |\n  line one\n  two {{ bad\n'
    doc = load_bytes("f.yml", text)
    assert isinstance(doc.root, YMap)
    a = doc.root.get("a")
    b = doc.root.get("b")
    assert isinstance(a, YScalar) and isinstance(b, YScalar)
    span = inner_span(doc.source, a, 3, 4)
    assert (span.line, span.column) == (1, 8)
    assert isinstance(b.value, str)
    offset = b.value.index("{{")
    span = inner_span(doc.source, b, offset, offset + 2)
    assert (span.line, span.column) == (4, 7)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_and_never_pass_silently(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "f.yml")
        with open(path, "wb") as handle:
            handle.write(data)
        compiled = compile_playbook(path)
    assert compiled.graph.plays or has_errors(compiled.diagnostics)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("-:[]{}'\"#&*!|> \n\tab1")), max_size=80))
def test_yaml_like_text_never_raises(text: str) -> None:
    load_bytes("f.yml", text.encode())
