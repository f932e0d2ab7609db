"""Free-form module arguments, read as Ansible's parse_kv reads them.

The expected values follow Ansible's documented behaviour of
ansible.parsing.splitter (split_args / parse_kv); they were cross-checked
against ansible-core 2.19 outside the test suite.
"""

from __future__ import annotations

import pytest
from playgraph.grammar import (
    ArgParam,
    ArgsSyntaxError,
    FreeFormArgs,
    GrammarError,
    build_args_parser,
    parse_args,
    split_command,
)

# text, raw_params, the dict Ansible builds
AS_DICT = [
    (
        'chdir=/tmp creates=/x /usr/bin/cmd --flag "a b"',
        True,
        {"chdir": "/tmp", "creates": "/x", "_raw_params": '/usr/bin/cmd --flag "a b"'},
    ),
    (
        "jid=j488359678239.2844 mode=cleanup",
        False,
        {"jid": "j488359678239.2844", "mode": "cleanup"},
    ),
    (
        'src=a dest="/tmp/x y" mode=0644',
        False,
        {"src": "a", "dest": "/tmp/x y", "mode": "0644"},
    ),
    (
        "echo \"{{ x | default('a b') }}\" > /tmp/f",
        True,
        {"_raw_params": "echo \"{{ x | default('a b') }}\" > /tmp/f"},
    ),
    ('key="{{ a }}"', False, {"key": "{{ a }}"}),
    ("msg={{ a | default('x y') }} b=1", False, {"msg": "{{ a | default('x y') }}", "b": "1"}),
    ('x="{{ y | default("a b") }}"', False, {"x": '{{ y | default("a b") }}'}),
    ("x='{{ \"a b\" }}'", False, {"x": '{{ "a b" }}'}),
    ('msg="a=b c"', False, {"msg": "a=b c"}),
    # command-like modules keep other key=value words in the command line
    ("echo a=b chdir=/tmp", True, {"chdir": "/tmp", "_raw_params": "echo a=b"}),
    ("echo a=b chdir=/tmp", False, {"a": "b", "chdir": "/tmp", "_raw_params": "echo"}),
    (
        "removes=/r stdin=abc warn=no ls",
        True,
        {"removes": "/r", "stdin": "abc", "warn": "no", "_raw_params": "ls"},
    ),
    # escapes are decoded in key=value words; quotes are stripped from values
    ('msg="say \\"hi\\""', False, {"msg": 'say "hi"'}),
    ("msg=a\\nb", False, {"msg": "a\nb"}),
    ("msg=\\x41\\u00e9", False, {"msg": "A\u00e9"}),
    ("a=b=c", False, {"a": "b=c"}),
    ("a=", False, {"a": ""}),
    ("a=''", False, {"a": ""}),
    # an escaped '=' is not a separator; a word with no other '=' is free-form
    ("a\\=b", False, {"_raw_params": "a=b"}),
    ("a\\=b=c", False, {"a\\=b": "c"}),
    ("=foo", False, {"_raw_params": "=foo"}),
    # free-form text keeps Ansible's whitespace, quotes and escapes as written
    ("ls  -l", True, {"_raw_params": "ls  -l"}),
    ("ls\n-l", True, {"_raw_params": "ls\n-l"}),
    ("ls \\\n-l", True, {"_raw_params": "ls -l"}),
    ('echo "a  b" \\n', True, {"_raw_params": 'echo "a  b" \\n'}),
    ("a\tb=c", False, {"a\tb": "c"}),
    ("{% if x %}a b{% endif %} c=d", False, {"_raw_params": "{% if x %}a b{% endif %}", "c": "d"}),
    ("", False, {}),
    ("   ", False, {"_raw_params": "   "}),
    ("a=1 a=2", False, {"a": "2"}),
]


@pytest.mark.parametrize(("text", "raw_params", "expected"), AS_DICT)
def test_as_dict_matches_ansible(text: str, raw_params: bool, expected: dict[str, str]) -> None:
    assert parse_args(text, raw_params=raw_params).as_dict() == expected


def test_params_carry_offsets() -> None:
    text = 'src=a dest="/tmp/x y" mode=0644'
    args = parse_args(text, raw_params=False)
    assert args == FreeFormArgs(
        params=(
            ArgParam(key="src", value="a"),
            ArgParam(key="dest", value="/tmp/x y"),
            ArgParam(key="mode", value="0644"),
        ),
        raw=None,
    )
    dest = args.params[1]
    assert text[dest.start : dest.end] == 'dest="/tmp/x y"'
    assert text[dest.value_start :].startswith("/tmp/x y")
    mode = args.params[2]
    assert text[mode.value_start :] == "0644"


def test_value_start_accounts_for_escapes_before_the_value() -> None:
    text = 'x=1 k\\x41="v"'
    (_, param) = parse_args(text, raw_params=False).params
    assert param.key == "kA"
    assert text[param.value_start] == "v"


def test_raw_start_points_at_the_first_free_form_word() -> None:
    text = "chdir=/tmp  ls -l"
    args = parse_args(text, raw_params=True)
    assert args.raw == "ls -l"
    assert args.raw_start == text.index("ls")


def test_duplicate_keys_stay_in_params() -> None:
    args = parse_args("a=1 a=2", raw_params=False)
    assert [(p.key, p.value) for p in args.params] == [("a", "1"), ("a", "2")]


ARGS_ERRORS = [
    # text, message fragment, text at the offset
    ('msg="unclosed', "unbalanced quotes", '"unclosed'),
    ("echo 'a b", "unbalanced quotes", "'a b"),
    ("x={{ a", "unclosed '{{'", "{{ a"),
    ("x={% if a", "unclosed '{%'", "{% if a"),
    ("x={# a", "unclosed '{#'", "{# a"),
    ('x={{ "a }}', "unbalanced quotes", '"a }}'),
    ("x={# it's #}", "unbalanced quotes", "'s #}"),
    ('a="b\\"', "unbalanced quotes", '"b\\"'),
    ("msg=\\N{NOSUCHNAME}", "invalid escape", "\\N{"),
    ("msg=\\U00110000", "invalid escape", "\\U"),
]


@pytest.mark.parametrize(("text", "fragment", "at"), ARGS_ERRORS)
def test_args_errors_point_at_the_opening_character(text: str, fragment: str, at: str) -> None:
    with pytest.raises(ArgsSyntaxError) as info:
        parse_args(text, raw_params=False)
    assert isinstance(info.value, GrammarError)
    assert fragment in info.value.message
    assert text[info.value.offset :].startswith(at)
    assert info.value.context.endswith("^\n")


SPLIT = [
    ('/usr/bin/cmd --flag "a b"', ("/usr/bin/cmd", "--flag", "a b")),
    ("echo 'it''s' x\\ y", ("echo", "its", "x y")),
    ("", ()),
    ("echo 'unbalanced", ("echo", "unbalanced")),
    ('echo "unbalanced', ("echo", "unbalanced")),
    ("trailing\\", ("trailing\\",)),
]


@pytest.mark.parametrize(("raw", "words"), SPLIT)
def test_split_command(raw: str, words: tuple[str, ...]) -> None:
    assert split_command(raw) == words


def test_grammar_builds_in_strict_mode() -> None:
    build_args_parser(strict=True)
