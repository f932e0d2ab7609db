"""Templating: native types, undefined handling, lazy variables, conditionals,
filters, tests and lookups.

Every expected value marked "ansible-core 2.19" below was produced by running the
same template through ansible-core 2.19.14's ``Templar`` (or ``ansible-playbook``
for ``with_*`` loops) and copied here; the tests never import Ansible.  Where we
deliberately differ, the test says so and gives Ansible's result.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from playgraph.runtime.templating import (
    OMIT,
    ConditionalError,
    LazyVars,
    Templar,
    TemplateError,
    UndefinedVariableError,
    UnsafeText,
    is_template,
    mark_unsafe,
    merge_layers,
)


@pytest.fixture
def templar(tmp_path: Path) -> Templar:
    return Templar(basedir=tmp_path, rng=random.Random(7))


_SHARED = Templar()
"""For tests that do not look at warnings: compiling is the slow part, and it is cached."""


def render(template: Any, variables: dict[str, Any] | None = None) -> Any:
    return _SHARED.render(template, variables or {})


def error_of(template: Any, variables: dict[str, Any] | None = None) -> str:
    with pytest.raises(TemplateError) as info:
        render(template, variables)
    return str(info.value)


# ================================================================ native types

NATIVE_CASES = [
    # (template, variables, result) -- all ansible-core 2.19
    ("{{ 5 }}", {}, 5),
    ("{{ '5' }}", {}, "5"),
    ("{{ 'True' }}", {}, "True"),
    ("{{ 'None' }}", {}, "None"),
    ("{{ '[1,2]' }}", {}, "[1,2]"),
    ("{{ '123.456' }}", {}, "123.456"),
    ("{{ x }}", {"x": "123.456"}, "123.456"),
    ("{{ x }}", {"x": "j123.456"}, "j123.456"),
    ("{{ 3.0 }}", {}, 3.0),
    ("{{ true }}", {}, True),
    ("{{ none }}", {}, None),
    ("{{ [1,2] }}", {}, [1, 2]),
    ("{{ (1, 2) }}", {}, [1, 2]),
    ("{{ x }}", {"x": (1, 2)}, [1, 2]),
    ("{{ x }}", {"x": {"a": [1, {"b": (2,)}]}}, {"a": [1, {"b": [2]}]}),
    ("{{ {'a': 1} }}", {}, {"a": 1}),
    ("{{ [1] + [2] }}", {}, [1, 2]),
    ("{{ dict(a=1) }}", {}, {"a": 1}),
    ("{{ range(3) | list }}", {}, [0, 1, 2]),
    (" {{ x }} ", {"x": 5}, " 5 "),
    ("  {{ 5 }}", {}, "  5"),
    ("{{ 1 }} ", {}, "1 "),
    ("a{{ x }}", {"x": 1}, "a1"),
    ("a{{ [1,2] }}", {}, "a[1, 2]"),
    ("a{{ True }}", {}, "aTrue"),
    ("{{ x }}{{ y }}", {"x": 1, "y": 2}, "12"),
    ("{{ 1 }}{{ '.5' }}", {}, "1.5"),
    ("{{ 1 }}{{ 2 }}", {}, "12"),
    ("{{ 'x' }}{{ '' }}", {}, "x"),
    ("{{ 'a' ~ 1 }}", {}, "a1"),
    ("x{{ None }}", {}, "x"),
    ("{{ x }}{{ y }}", {"x": None, "y": None}, None),
    ("{% if true %}5{% endif %}", {}, "5"),
    ("{% for i in [1] %}{{ i }}{% endfor %}", {}, 1),
    ("{% for i in [1,2] %}{{ i }}{% endfor %}", {}, "12"),
    ("{% set l = [] %}{{ l }}", {}, []),
    ("{# c #}{{ 1 }}", {}, 1),
    ("{{ 5 }}\n", {}, 5),
    ("{{ 5 }}\n\n", {}, "5\n\n"),
    ("{{ x }}\n", {"x": "a"}, "a\n"),
    ("{{ x }}\n\n", {"x": "a"}, "a\n\n"),
    ("{% raw %}{{ x }}{% endraw %}", {}, "{{ x }}"),
    ("{{ '{{ x }}' }}", {"x": 1}, "{{ x }}"),
    ("{{ l.0 }}", {"l": [7]}, 7),
    ("{{ [1,2] | map('string') }}", {}, ["1", "2"]),
    ("{{ {'a':1}.keys() }}", {}, ["a"]),
    ("{{ {'a':1}.items() }}", {}, [["a", 1]]),
    ("{{ [1,2] | reverse }}", {}, [2, 1]),
    ("{{ 'a' * 3 }}", {}, "aaa"),
    ("{{ 2 ** 10 }}", {}, 1024),
]


@pytest.mark.parametrize(("template", "variables", "expected"), NATIVE_CASES)
def test_native_types_as_ansible_2_19(
    template: str, variables: dict[str, Any], expected: Any
) -> None:
    result = render(template, variables)
    assert result == expected
    # A string a template made is UnsafeText (a str: data, never a template again).
    assert type(result) is type(expected) or (type(expected) is str and isinstance(result, str))


@pytest.mark.parametrize(
    "jid", ["123.456", "j123.456", "0123", "1e5", "12345678901234567890.1", "-1"]
)
def test_jids_are_never_coerced(jid: str) -> None:
    # ansible/ansible#80167: a jid rendered through native Jinja became a float.
    variables = {"job": {"ansible_job_id": jid}, "jid": jid}
    assert render("{{ job.ansible_job_id }}", variables) == jid
    assert type(render("{{ job.ansible_job_id }}", variables)) is str
    assert render({"jid": "{{ jid }}", "mode": "status"}, variables) == {
        "jid": jid,
        "mode": "status",
    }
    assert render("{{ jid | to_json }}", variables) == f'"{jid}"'


def test_strings_without_template_markers_are_returned_unchanged() -> None:
    value = "plain {text} with } and {"
    assert render(value) is value
    # Ansible 2.19 also treats "{#" as a template start and fails on shell text
    # such as ${#PATH} ("Missing end of comment tag"); only {{ and {% count here.
    assert render("echo ${#PATH}") == "echo ${#PATH}"
    assert render("a {# c #} b") == "a {# c #} b"  # Ansible: 'a  b'
    assert render("a {# c #} {{ 1 }}") == "a  1"


def test_render_walks_containers_and_leaves_keys_alone() -> None:
    # Ansible 2.19 does not template dict keys.
    value = {
        "{{ k }}": "{{ k }}",
        "list": ["{{ k }}", {"a": ["{{ k }}"]}],
        "n": 3,
        "t": ("{{ k }}",),
    }
    assert render(value, {"k": "a"}) == {
        "{{ k }}": "a",
        "list": ["a", {"a": ["a"]}],
        "n": 3,
        "t": ["a"],
    }
    assert render(None) is None
    assert render(b"{{ x }}") == b"{{ x }}"


def test_render_copies_containers() -> None:
    data = {"a": [1, 2]}
    result = render("{{ x }}", {"x": data})
    assert result == data and result is not data and result["a"] is not data["a"]


def test_is_template() -> None:
    assert is_template("{{ x }}") and is_template("{% if a %}{% endif %}")
    assert not is_template("{# x #}") and not is_template("x") and not is_template(5)
    assert not is_template(UnsafeText("{{ x }}"))


# ================================================================ undefined

UNDEFINED_CASES = [
    ("{{ foo }}", {}, "'foo' is undefined"),  # ansible-core 2.19
    ("{{ foo.bar }}", {}, "'foo' is undefined"),  # ansible-core 2.19
    ("{{ undef('hint') }}", {}, "hint"),  # ansible-core 2.19
    ("{{ lookup('env', nope) }}", {}, "'nope' is undefined"),  # ansible-core 2.19
    ("{{ q('vars', 'nope') }}", {}, "No variable named 'nope' was found."),  # ansible-core 2.19
    # Jinja's wording, as in the brief and ansible-core <= 2.18; 2.19 says
    # "object of type 'dict' has no attribute 'ansible_job_id'".
    ("{{ d.ansible_job_id }}", {"d": {}}, "'dict object' has no attribute 'ansible_job_id'"),
    ("{{ d['k'] }}", {"d": {}}, "'dict object' has no attribute 'k'"),
    ("{{ d.a.b }}", {"d": {"a": {}}}, "'dict object' has no attribute 'b'"),
    ("{{ l[5] }}", {"l": [1]}, "list object has no element 5"),
    ("a{{ foo }}", {}, "'foo' is undefined"),
    ("{{ [foo] }}", {}, "'foo' is undefined"),
    ("{{ x }}", {"x": ["{{ foo }}"]}, "'foo' is undefined"),
    ("{% if foo %}{% endif %}", {}, "'foo' is undefined"),
]


@pytest.mark.parametrize(("template", "variables", "message"), UNDEFINED_CASES)
def test_undefined_is_strict_and_named(
    template: str, variables: dict[str, Any], message: str
) -> None:
    with pytest.raises(UndefinedVariableError) as info:
        render(template, variables)
    assert str(info.value) == message


def test_default_and_defined_see_undefined() -> None:
    # ansible-core 2.19
    assert render("{{ foo | default(3) }}") == 3
    assert render("{{ foo is defined }}") is False
    assert render("{{ nope is undefined }}") is True
    assert render("{{ 1 is undefined }}") is False
    assert render("{{ d.job | default('none') }}", {"d": {}}) == "none"
    assert render("{{ undef('hint') | default(3) }}") == 3
    assert render("{{ foo | d('x') }}") == "x"


def test_access_on_an_undefined_value_chains_until_it_is_used() -> None:
    # ansible-core 2.19: `x.attr | default(...)` and `a.b.c is defined` with `x`/`a.b`
    # undefined, everywhere in real playbooks.
    assert render("{{ x.attr | default('d') }}") == "d"
    assert render("{{ x['k'][0].v | default('i') }}") == "i"
    assert render("{{ a.b.c is defined }}") is False
    assert render("{{ a.b.c is undefined }}") is True
    assert render("{{ d.opts.mode | default('m') }}", {"d": {}}) == "m"
    assert render("{{ f.python.version.major is defined }}", {"f": {}}) is False
    # A real use still names the first missing part.
    assert error_of("{{ x.attr }}") == "'x' is undefined"
    assert error_of("{{ x.attr ~ 'y' }}") == "'x' is undefined"
    assert "has no attribute 'opts'" in error_of("{{ d.opts.mode }}", {"d": {}})


# ================================================================ lazy variables


def test_variables_are_templates_rendered_lazily() -> None:
    # ansible-core 2.19
    assert render("{{ x }}", {"x": "{{ y }}", "y": 3}) == 3
    assert render("{{ x.a }}", {"x": {"a": "{{ b }}"}, "b": 2}) == 2
    assert render("{{ x }}", {"x": ["{{ b }}"], "b": 2}) == [2]
    nested = {"d": {"a": {"b": "{{ c }}"}}, "c": "{{ e }}", "e": 9}
    assert render("{{ d }}", nested) == {"a": {"b": 9}}
    assert render("{% if x %}yes{% endif %}", {"x": "{{ y }}", "y": True}) == "yes"
    # A rendered value is not rendered again.
    assert render("{{ x }}", {"x": "{{ y }}", "y": "{{ '{{' }} z }}", "z": 1}) == "{{ z }}"


def test_unused_broken_variables_cost_nothing() -> None:
    variables = {"ok": 1, "broken": "{{ 1/0 }}", "undefined": "{{ nope }}", "cycle": "{{ cycle }}"}
    assert render("{{ ok }}", variables) == 1


def test_failed_variables_behave_like_ansible_2_19_markers() -> None:
    # ansible-core 2.19
    variables = {"a": "{{ undefined_x }}", "x": {"a": "{{ undefined_x }}", "b": 1}}
    assert render("{{ a | default(5) }}", variables) == 5
    assert render("{{ a is defined }}", variables) is False
    assert render("{{ x.b }}", variables) == 1
    assert render("{{ x.a | default(5) }}", variables) == 5
    assert error_of("{{ a }}", variables) == "'undefined_x' is undefined"
    assert error_of("{{ x }}", variables) == "'undefined_x' is undefined"
    # A real error is not "undefined": default does not hide it.
    broken = {"b": "{{ 1/0 }}"}
    assert error_of("{{ b | default(1) }}", broken) == "Error rendering template: division by zero"
    assert error_of("{{ b is defined }}", broken) == "Error rendering template: division by zero"


@pytest.mark.parametrize(
    ("variables", "template", "chain"),
    [
        ({"x": "{{ x }}"}, "{{ x }}", "x -> x"),
        ({"a": "{{ b }}", "b": "{{ a }}"}, "{{ a }}", "a -> b -> a"),
        ({"a": "{{ b }}", "b": "{{ c }}", "c": "x{{ a }}"}, "{{ b }}", "b -> c -> a -> b"),
        ({"a": "{{ b }}", "b": "{{ a }}"}, "{{ a | default(1) }}", "a -> b -> a"),
        ({"a": {"k": "{{ a.k }}"}}, "{{ a.k }}", "a -> a"),
    ],
)
def test_self_reference_is_a_clear_error(
    variables: dict[str, Any], template: str, chain: str
) -> None:
    message = error_of(template, variables)
    assert message.startswith("recursive loop detected in template string: ")
    assert f"({'variables refer to each other'}: {chain})" in message


def test_deep_but_finite_chains_render() -> None:
    variables: dict[str, Any] = {f"v{i}": f"{{{{ v{i + 1} }}}}" for i in range(40)}
    variables["v40"] = "end"
    assert render("{{ v0 }}", variables) == "end"


def test_merge_layers_later_wins_and_stays_lazy() -> None:
    base = {"a": 1, "b": "{{ a }}", "bad": "{{ 1/0 }}"}
    host = {"a": 2}
    merged = merge_layers(base, host)
    assert merged["b"] == "{{ a }}"  # raw: nothing is rendered by merging
    templar = Templar()
    assert templar.render("{{ b }}", merged) == 2
    host["a"] = 3  # a layer changed later (a register, a set_fact) is seen
    assert templar.render("{{ b }}", merged) == 3
    assert dict(merged) == {"a": 3, "b": "{{ a }}", "bad": "{{ 1/0 }}"}


def test_lazy_mapping_is_a_mapping() -> None:
    templar = Templar()
    lazy = templar.lazy({"a": "{{ b }}", "b": 1})
    assert isinstance(lazy, LazyVars)
    assert templar.lazy(lazy) is lazy
    assert lazy["a"] == 1 and "a" in lazy and "zz" not in lazy and sorted(lazy) == ["a", "b"]
    assert len(lazy) == 2 and lazy.get("zz") is None
    child = lazy.child({"c": "{{ a }}+"})  # run-time values: never rendered
    assert child["c"] == "{{ a }}+" and child["b"] == 1 and sorted(child) == ["a", "b", "c"]


def test_hostvars_render_in_their_own_host_context() -> None:
    templar = Templar()
    hostvars = {
        "h1": templar.lazy({"x": "{{ y }}", "y": 5}),
        "h2": templar.lazy({"x": "{{ y }}", "y": 6}),
    }
    variables = {"hostvars": hostvars, "y": 0}
    assert templar.render("{{ hostvars.h1.x }}", variables) == 5
    assert templar.render("{{ hostvars['h2'].x }}", variables) == 6
    assert templar.render("{{ hostvars.h1 }}", variables) == {"x": 5, "y": 5}
    assert templar.render("{{ hostvars.h1 | type_debug }}", variables) == "dict"


# ================================================================ omit


def test_omit_removes_keys_and_items() -> None:
    # ansible-core 2.19
    assert render({"a": "{{ omit }}", "b": ["{{ omit }}", 1]}) == {"b": [1]}
    assert render({"a": "{{ x | default(omit) }}", "c": "{{ y }}"}, {"y": "j1.2"}) == {"c": "j1.2"}
    assert render("{{ x }}", {"x": {"a": "{{ omit }}", "b": 1}}) == {"b": 1}
    assert render("{{ x }}", {"x": ["{{ omit }}", 1]}) == [1]
    assert render("a{{ omit }}") == "a"


def test_a_whole_value_rendering_to_omit_is_returned_as_omit() -> None:
    # Ansible 2.19's Templar raises "A template was resolved to an Omit scalar."
    # here; the scheduler wants to know, to treat the keyword as unset.
    assert render("{{ omit }}") is OMIT
    assert render("{{ x | default(omit) }}") is OMIT
    assert repr(OMIT) == "OMIT"


# ================================================================ backslashes


def test_backslashes_in_expression_strings_are_escaped_like_ansible() -> None:
    # ansible-core 2.19: templates come from YAML, so "\1" must reach the filter.
    assert render(r"{{ 'hello' | regex_replace('^(h)', '\1H') }}") == "hHello"
    assert render(r"{{ 'a1b22' | regex_findall('\d+') }}") == ["1", "22"]
    assert render(r"{{ 'a1b22' | regex_findall('\\d+') }}") == []
    assert render(r"{{ 'a\nb' }}") == "a\\nb"
    assert render(r"{% set x = 'a\nb' %}{{ x }}") == "a\nb"  # {% %} is not escaped
    assert render(r"{{ 'foo=bar' | regex_search('(\w+)=(\w+)', '\2', '\1') }}") == ["bar", "foo"]
    # Conditionals are not escaped either.
    templar = Templar()
    assert templar.evaluate(r"'a\nb' == 'a' ~ '\n' ~ 'b'", {}) is True
    assert templar.evaluate(r"'a1' is search('\d')", {}) is True


# ================================================================ sandbox


def test_sandbox_blocks_internals_and_mutation() -> None:
    # ansible-core 2.19 gives the same message.
    assert error_of("{{ x.__class__ }}", {"x": 1}) == (
        "access to attribute '__class__' of 'int' object is unsafe."
    )
    assert render("{{ x.__class__ | default(1) }}", {"x": 1}) == 1
    # Immutable sandbox: Ansible 2.19 allows x.append(1) (it returns None).
    data = [1]
    assert "unsafe" in error_of("{{ x.append(2) }}", {"x": data})
    assert data == [1]


@pytest.mark.parametrize(
    "template", ["{{ 10 ** 10000000 }}", "{{ 'ab' * 100000000 }}", "{{ range(10**9) }}"]
)
def test_runaway_expressions_are_refused(template: str) -> None:
    with pytest.raises(TemplateError):
        render(template)


# ================================================================ conditionals


def test_conditionals_true_and_false() -> None:
    templar = Templar()
    cases: list[tuple[str | bool, dict[str, Any], bool]] = [
        # all ansible-core 2.19
        ("True", {}, True),
        ("False", {}, False),
        ("x == 1", {"x": 1}, True),
        ("undefined_var is defined", {}, False),
        ("x", {"x": "{{ y }}", "y": False}, False),
        ("x is defined and x", {"x": True}, True),
        ("x.y", {"x": {"y": False}}, False),
        ("not x", {"x": []}, True),
        ("x | bool", {"x": "yes"}, True),
        ("st is finished", {"st": {"finished": 0}}, False),
        ("st is finished", {"st": {"finished": 1, "failed": True}}, True),
        ("  x  ", {"x": True}, True),
        ("x is version('2.0', '>=')", {"x": "2.10"}, True),
        ("u.rc == 0", {"u": {"rc": 0}}, True),
        ("item > 1", {"item": 2}, True),
        (True, {}, True),
        (False, {}, False),
    ]
    for condition, variables, expected in cases:
        assert templar.evaluate(condition, variables) is expected, condition


@pytest.mark.parametrize(
    ("condition", "variables", "truth", "type_name"),
    [
        # ansible-core 2.19 rejects all of these: "Conditional result (<truth>) was
        # derived from value of type '<type>' ... Conditionals must have a boolean result."
        ("'False'", {}, True, "str"),
        ("'false'", {}, True, "str"),
        ("''", {}, False, "str"),
        ("'yes'", {}, True, "str"),
        ("'abc'", {}, True, "str"),
        ("0", {}, False, "int"),
        ("1", {}, True, "int"),
        ("[]", {}, False, "list"),
        ("[1]", {}, True, "list"),
        ("{}", {}, False, "dict"),
        ("None", {}, False, "NoneType"),
        ("x", {"x": "False"}, True, "str"),
        ("x", {"x": "false"}, True, "str"),
        ("x", {"x": ""}, False, "str"),
        ("x", {"x": None}, False, "NoneType"),
        ("x", {"x": 1}, True, "int"),
    ],
)
def test_non_boolean_conditionals(
    condition: str, variables: dict[str, Any], truth: bool, type_name: str
) -> None:
    with pytest.raises(ConditionalError) as info:
        _SHARED.evaluate(condition, variables)
    assert str(info.value) == (
        f"The conditional check '{condition}' failed. The error was: error while evaluating "
        f"conditional ({condition}): Conditional result ({truth}) was derived from value of "
        f"type '{type_name}'. Conditionals must have a boolean result."
    )
    # With Ansible's ALLOW_BROKEN_CONDITIONALS the value's truthiness is used, with
    # a warning: the string "False" is then TRUE (as ansible-core 2.19 observed).
    lenient = Templar(allow_broken_conditionals=True)
    assert lenient.evaluate(condition, variables) is truth
    assert "Conditionals must have a boolean result" in lenient.warnings[0]


@pytest.mark.parametrize(
    ("condition", "variables", "reason"),
    [
        ("rc == 0", {}, "'rc' is undefined"),
        ("undefined_var", {}, "'undefined_var' is undefined"),
        ("foo.bar", {}, "'foo' is undefined"),
        ("d.k", {"d": {}}, "'dict object' has no attribute 'k'"),
        ("1/0", {}, "Error rendering expression: division by zero"),
        ("x ==", {}, "Syntax error in expression: unexpected 'end of template'"),
        ("x 1", {"x": 1}, "Syntax error in expression: chunk after expression"),
        (
            "{{ x }} == 1",
            {"x": 1},
            "Syntax error in expression. Template delimiters are not supported in "
            "expressions: expected token ':', got '}'",
        ),
        ("", {}, "Empty conditional expressions are not allowed."),
        ("x is finished", {"x": "s"}, "The 'finished' test expects a dictionary"),
    ],
)
def test_conditional_error_messages(condition: str, variables: dict[str, Any], reason: str) -> None:
    # The wrapper is Ansible's (reference §4: "The conditional check 'rc == 0'
    # failed. The error was: error while evaluating conditional (rc == 0): 'rc' is
    # undefined"); the reasons are ansible-core 2.19's.
    with pytest.raises(ConditionalError) as info:
        _SHARED.evaluate(condition, variables)
    message = str(info.value)
    assert message.startswith(
        f"The conditional check '{condition}' failed. The error was: "
        f"error while evaluating conditional ({condition}): "
    )
    assert message.endswith(reason)


def test_wrapped_conditional_is_tolerated_with_a_warning() -> None:
    templar = Templar()
    assert templar.evaluate("{{ x == 1 }}", {"x": 1}) is True  # ansible-core 2.19
    assert templar.evaluate(" {{ x }} ", {"x": False}) is False
    assert templar.warnings == [
        "Conditionals should not be surrounded by templating delimiters such as {{ }} or {% %}. "
        "Found: {{ x == 1 }}",
        "Conditionals should not be surrounded by templating delimiters such as {{ }} or {% %}. "
        "Found:  {{ x }} ",
    ]


def test_evaluate_all_is_an_and_that_stops_early() -> None:
    templar = Templar()
    assert templar.evaluate_all(None, {}) is True
    assert templar.evaluate_all([], {}) is True
    assert templar.evaluate_all("x", {"x": True}) is True
    assert templar.evaluate_all(["u.rc == 0", "u.attempts >= 2"], {"u": {"rc": 0, "attempts": 2}})
    assert not templar.evaluate_all(
        ["u.rc == 0", "u.attempts >= 2"], {"u": {"rc": 0, "attempts": 1}}
    )
    # The undefined second condition is never reached.
    assert templar.evaluate_all([False, "nope"], {}) is False
    with pytest.raises(ConditionalError):
        templar.evaluate_all([True, "nope"], {})


def test_until_sees_only_the_registered_variable() -> None:
    # reference §4: result keys are not bare names.
    templar = Templar()
    attempt = {"u": {"rc": 1, "attempts": 1}}
    assert templar.evaluate("u.rc == 0", attempt) is False
    with pytest.raises(ConditionalError, match="'rc' is undefined"):
        templar.evaluate("rc == 0", attempt)


# ================================================================ the async tests


def test_finished_and_started_read_the_flags() -> None:
    # ansible-core 2.19
    templar = Templar()
    assert templar.evaluate("st is finished", {"st": {"finished": 0, "started": 1}}) is False
    assert templar.evaluate("st is finished", {"st": {"finished": 1}}) is True
    assert templar.evaluate("st is started", {"st": {"started": 1}}) is True
    assert templar.evaluate("st is started", {"st": {"started": 0}}) is False
    assert templar.evaluate("st is not finished", {"st": {"finished": 0}}) is True
    assert templar.warnings == []


@pytest.mark.parametrize("test", ["finished", "started"])
def test_async_tests_on_a_non_async_result_warn_and_are_true(test: str) -> None:
    # reference §3.4; ansible-core 2.19 prints this warning and returns True.
    templar = Templar()
    assert templar.evaluate(f"r is {test}", {"r": {"rc": 0, "changed": False}}) is True
    assert templar.evaluate(f"r is {test}", {"r": {}}) is True  # the same warning once
    assert templar.warnings == [
        f"The '{test}' test expects an async task, but a non-async task was tested"
    ]


@pytest.mark.parametrize("test", ["finished", "started"])
@pytest.mark.parametrize("value", ["'x'", "[1]", "none", "5"])
def test_async_tests_on_a_non_dict_fail(test: str, value: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(f"{{{{ {value} is {test} }}}}")
    # ansible-core 2.19's exact message.
    assert str(info.value) == (
        f"The test plugin 'ansible.builtin.{test}' failed: The '{test}' test expects a dictionary"
    )


def test_async_tests_work_in_select_and_selectattr() -> None:
    # ansible-core 2.19
    jobs = {"r1": {"finished": 1, "failed": True}, "r2": {"finished": 0, "failed": False}}
    assert render("{{ [r1, r2] | select('finished') | list }}", jobs) == [jobs["r1"]]
    assert render("{{ [r1, r2] | selectattr('finished') | list }}", jobs) == [jobs["r1"]]
    assert render("{{ [r1, r2] | select('failed') | list }}", jobs) == [jobs["r1"]]
    assert render("{{ [r1, r2] | reject('failed') | list }}", jobs) == [jobs["r2"]]
    assert render("{{ [r1, r2] | rejectattr('finished') | list }}", jobs) == [jobs["r2"]]


# ================================================================ filters

FILTER_CASES = [
    # (template, variables, result) -- all ansible-core 2.19 unless a comment says otherwise
    ("{{ foo | default(3) }}", {}, 3),
    ("{{ 'x' | default('y', true) }}", {}, "x"),
    ("{{ '' | default('y', true) }}", {}, "y"),
    ("{{ '' | d('y') }}", {}, ""),
    ("{{ none | default('y') }}", {}, None),
    ("{{ 'yes' | bool }}", {}, True),
    ("{{ 'TRUE' | bool }}", {}, True),
    ("{{ 'off' | bool }}", {}, False),
    ("{{ 1 | bool }}", {}, True),
    ("{{ 0 | bool }}", {}, False),
    ("{{ '10' | int }}", {}, 10),
    ("{{ '0x10' | int(base=16) }}", {}, 16),
    ("{{ '3.7' | int }}", {}, 3),
    ("{{ 'x' | int }}", {}, 0),
    ("{{ '5' | int + 1 }}", {}, 6),
    ("{{ '3.7' | float }}", {}, 3.7),
    ("{{ 5 | string }}", {}, "5"),
    ("{{ [1, 2] | length }}", {}, 2),
    ("{{ 'abc' | count }}", {}, 3),
    ("{{ 'ab' | list }}", {}, ["a", "b"]),
    ("{{ [1, 2] | join(',') }}", {}, "1,2"),
    ("{{ [1,2] | map('string') | join('-') }}", {}, "1-2"),
    ("{{ [1,[2]] | select }}", {}, [1, [2]]),
    ("{{ [1, 2] | first }}", {}, 1),
    ("{{ [1,2,3] | min }}", {}, 1),
    ("{{ [1,2,3] | max }}", {}, 3),
    ("{{ [1,2,3] | sum }}", {}, 6),
    ("{{ {'a':1} | items | list }}", {}, [["a", 1]]),
    ("{{ {'a': 1, 'b': [1,2]} | to_json }}", {}, '{"a": 1, "b": [1, 2]}'),
    ("{{ {'b': 1, 'a': 2} | to_json }}", {}, '{"b": 1, "a": 2}'),
    ("{{ x | to_json(sort_keys=true) }}", {"x": {"b": 1, "a": 2}}, '{"a": 2, "b": 1}'),
    ("{{ 'é' | to_json }}", {}, '"\\u00e9"'),
    ("{{ x | to_json }}", {"x": (1, 2)}, "[1, 2]"),
    ("{{ x | to_json }}", {"x": {1: 2}}, '{"1": 2}'),
    ("{{ ('2024-01-02' | to_datetime('%Y-%m-%d')) | to_json }}", {}, '"2024-01-02T00:00:00"'),
    (
        "{{ {'b': 1, 'a': [1,2]} | to_nice_json }}",
        {},
        '{\n    "a": [\n        1,\n        2\n    ],\n    "b": 1\n}',
    ),
    ("{{ x | to_nice_json }}", {"x": {"é": 1}}, '{\n    "\\u00e9": 1\n}'),
    ("{{ x | to_nice_json(indent=2) }}", {"x": [1]}, "[\n  1\n]"),
    ("{{ '[1, 2]' | from_json }}", {}, [1, 2]),
    ("{{ {'b': 1, 'a': [1,2], 'c': {'d': 'x'}} | to_yaml }}", {}, "a: [1, 2]\nb: 1\nc: {d: x}\n"),
    (
        "{{ {'b': 1, 'a': [1,2], 'c': {'d': 'x'}} | to_nice_yaml }}",
        {},
        "a:\n- 1\n- 2\nb: 1\nc:\n    d: x\n",
    ),
    ("{{ 'abc' | to_yaml }}", {}, "abc\n"),
    ("{{ x | to_yaml }}", {"x": "j123.456"}, "j123.456\n"),
    ("{{ x | to_yaml }}", {"x": "123"}, "'123'\n"),
    ("{{ x | to_yaml }}", {"x": {"é": "ü"}}, "{é: ü}\n"),
    ("{{ {'a': none} | to_yaml }}", {}, "{a: null}\n"),
    ("{{ [1, 'two'] | to_nice_yaml }}", {}, "- 1\n- two\n"),
    ("{{ 1.5 | to_nice_yaml }}", {}, "1.5\n"),
    ("{{ [] | to_nice_yaml }}", {}, "[]\n"),
    (
        "{{ x | to_nice_yaml }}",
        {"x": {"a": "long " * 30}},
        "a: 'long long long long long long long long long long long long long long long long\n"
        "    long long long long long long long long long long long long long long '\n",
    ),
    ("{{ 'a: [1, 2]' | from_yaml }}", {}, {"a": [1, 2]}),
    ("{{ none | from_yaml }}", {}, None),
    ("{{ 'a: 1\n---\nb: 2' | from_yaml_all | list }}", {}, [{"a": 1}, {"b": 2}]),
    (r"{{ 'foo=bar' | regex_search('(?P<k>\w+)=(\w+)', '\g<k>') }}", {}, ["foo"]),
    (r"{{ 'ab' | regex_search('(a)(x)?', '\2') }}", {}, [None]),
    (r"{{ 'x' | regex_search('y', '\1') }}", {}, None),
    ("{{ 'foo' | regex_search('x') }}", {}, None),
    ("{{ 'foo' | regex_search('o+') }}", {}, "oo"),
    ("{{ 'AB' | regex_findall('a', ignorecase=true) }}", {}, ["A"]),
    ("{{ 'hello' | regex_replace('l+', 'L') }}", {}, "heLo"),
    ("{{ 'aaa' | regex_replace('a', 'b', count=2) }}", {}, "bba"),
    ("{{ 'Aaa' | regex_replace('a', 'b', ignorecase=true) }}", {}, "bbb"),
    ("{{ 5 | regex_replace('5', 'x') }}", {}, "x"),
    ("{{ 'a.b' | regex_escape }}", {}, "a\\.b"),
    ("{{ 'a.b*' | regex_escape('posix_basic') }}", {}, "a\\.b\\*"),
    ("{{ '/a/b.c' | basename }}", {}, "b.c"),
    ("{{ '/a/b.c' | dirname }}", {}, "/a"),
    ("{{ '/tmp/../tmp' | realpath }}", {}, os.path.realpath("/tmp")),
    ("{{ 'a/b.txt' | splitext }}", {}, ["a/b", ".txt"]),
    ("{{ 'a.tar.gz' | splitext }}", {}, ["a.tar", ".gz"]),
    ("{{ '/a/./b/../c' | normpath }}", {}, "/a/c"),
    ("{{ ['a', 'b'] | path_join }}", {}, "a/b"),
    ("{{ 'a' | path_join }}", {}, "a"),
    ("{{ ['/a', '/b'] | path_join }}", {}, "/b"),
    (
        "{{ {'a': {'x': 1, 'l': [1]}} | combine({'a': {'y': 2, 'l': [2]}}) }}",
        {},
        {"a": {"y": 2, "l": [2]}},
    ),
    (
        "{{ {'a': {'x': 1, 'l': [1]}} | combine({'a': {'y': 2, 'l': [2]}}, recursive=true) }}",
        {},
        {"a": {"x": 1, "l": [2], "y": 2}},
    ),
    (
        "{{ {'a': {'x': 1, 'l': [1, 2]}} | combine({'a': {'y': 2, 'l': [2, 3]}}, recursive=true, "
        "list_merge='append_rp') }}",
        {},
        {"a": {"x": 1, "l": [1, 2, 3], "y": 2}},
    ),
    (
        "{{ {'a': {'l': [1, 2]}} | combine({'a': {'l': [2, 3]}}, recursive=true, "
        "list_merge='prepend_rp') }}",
        {},
        {"a": {"l": [2, 3, 1]}},
    ),
    ("{{ {'l': [1]} | combine({'l': [2]}, list_merge='keep') }}", {}, {"l": [1]}),
    ("{{ {'l': [1]} | combine({'l': [2]}, list_merge='append') }}", {}, {"l": [1, 2]}),
    ("{{ {'a': [1]} | combine({'a': [2]}, list_merge='prepend') }}", {}, {"a": [2, 1]}),
    ("{{ [{'a': 1}, {'b': 2}] | combine }}", {}, {"a": 1, "b": 2}),
    ("{{ {'a': 1} | combine({'b': 2}, {'a': 3}) }}", {}, {"a": 3, "b": 2}),
    ("{{ {'a': 1} | combine(list_merge='nope') }}", {}, {"a": 1}),
    ("{{ {} | combine({'a': 1}) }}", {}, {"a": 1}),
    ("{{ {'a': 1, 'z': 0} | combine({'b': 2, 'a': 0}) }}", {}, {"a": 0, "z": 0, "b": 2}),
    (
        "{{ x | combine(y, z, list_merge='append_rp') }}",
        {"x": {"k": [1, 2]}, "y": {"k": [2, 3]}, "z": {"k": [1]}},
        {"k": [2, 3, 1]},
    ),
    (
        "{{ {'a': 1, 'b': 2} | dict2items }}",
        {},
        [{"key": "a", "value": 1}, {"key": "b", "value": 2}],
    ),
    ("{{ {'a': 1} | dict2items(key_name='k', value_name='v') }}", {}, [{"k": "a", "v": 1}]),
    ("{{ [{'key': 'a', 'value': 1}] | items2dict }}", {}, {"a": 1}),
    ("{{ [{'k': 'a', 'v': 2}] | items2dict(key_name='k', value_name='v') }}", {}, {"a": 2}),
    ("{{ [1,2] | zip([3,4]) }}", {}, [[1, 3], [2, 4]]),
    ("{{ [1,2] | zip([3,4]) | list }}", {}, [[1, 3], [2, 4]]),
    ("{{ [1,2] | zip(['a'], [true]) }}", {}, [[1, "a", True]]),
    ("{{ [1,2,3] | zip_longest([4], fillvalue='x') }}", {}, [[1, 4], [2, "x"], [3, "x"]]),
    ("{{ ['a','b'] | product([1]) | list }}", {}, [["a", 1], ["b", 1]]),
    (
        "{{ [1,2,3] | permutations(2) | list }}",
        {},
        [[1, 2], [1, 3], [2, 1], [2, 3], [3, 1], [3, 2]],
    ),
    ("{{ [1,2,3] | combinations(2) | list }}", {}, [[1, 2], [1, 3], [2, 3]]),
    ("{{ [1, [2, [3, None]], 'None'] | flatten }}", {}, [1, 2, 3]),
    ("{{ [1, [2, [3]]] | flatten(levels=1) }}", {}, [1, 2, [3]]),
    ("{{ [1, None] | flatten(skip_nulls=false) }}", {}, [1, None]),
    ("{{ [1, 'null', [0]] | flatten }}", {}, [1, 0]),
    ("{{ [3,1,3,2] | unique }}", {}, [3, 1, 2]),
    ("{{ [{'a':1},{'a':1}] | unique }}", {}, [{"a": 1}]),
    ("{{ ['a','A'] | unique }}", {}, ["a"]),
    ("{{ ['a','A'] | unique(case_sensitive=true) }}", {}, ["a", "A"]),
    # Differs from Ansible: union/intersect/difference/symmetric_difference keep the
    # first-seen order; Ansible returns list(set(...)) (here [1, 2, 3, 4], [2, 3],
    # [1, 3, 5], [1, 3, 4]; for strings the order changes from run to run).
    ("{{ [3,1,2] | union([4,1]) }}", {}, [3, 1, 2, 4]),
    ("{{ ['b','a','c'] | union(['d']) }}", {}, ["b", "a", "c", "d"]),
    ("{{ [3,1,2] | intersect([2,3]) }}", {}, [3, 2]),
    ("{{ [3,1,2,5] | difference([2]) }}", {}, [3, 1, 5]),
    ("{{ [3,1,2] | symmetric_difference([2,4]) }}", {}, [3, 1, 4]),
    ("{{ [[1],[2]] | union([[3], [1]]) }}", {}, [[1], [2], [3]]),
    ("{{ [[1],[2]] | intersect([[2]]) }}", {}, [[2]]),
    ("{{ true | ternary('y', 'n') }}", {}, "y"),
    ("{{ '' | ternary('y', 'n') }}", {}, "n"),
    ("{{ none | ternary('y', 'n', 'null') }}", {}, "null"),
    ("{{ none | ternary('y', 'n') }}", {}, "n"),
    ("{{ 'a b' | quote }}", {}, "'a b'"),
    ("{{ None | quote }}", {}, "''"),
    ('{{ "it\'s" | quote }}', {}, "'it'\"'\"'s'"),
    ("{{ 'hé' | b64encode }}", {}, "aMOp"),
    ("{{ 'aMOp' | b64decode }}", {}, "hé"),
    ("{{ '???' | b64encode(urlsafe=true) }}", {}, "Pz8_"),
    ("{{ 'abc' | hash('md5') }}", {}, "900150983cd24fb0d6963f7d28e17f72"),
    ("{{ 'abc' | hash }}", {}, "a9993e364706816aba3e25717850c26c9cd0d89d"),
    ("{{ 'abc' | checksum }}", {}, "a9993e364706816aba3e25717850c26c9cd0d89d"),
    ("{{ 'abc' | sha1 }}", {}, "a9993e364706816aba3e25717850c26c9cd0d89d"),
    ("{{ 'abc' | md5 }}", {}, "900150983cd24fb0d6963f7d28e17f72"),
    ("{{ 'x' | to_uuid }}", {}, "66b2f013-1baa-5313-9c8c-e6f1182e0e90"),
    ("{{ x | mandatory }}", {"x": 1}, 1),
    ("{{ x | type_debug }}", {"x": {}}, "dict"),
    ("{{ x | type_debug }}", {"x": "s"}, "str"),
    ("{{ none | type_debug }}", {}, "NoneType"),
    ("{{ 1.5 | type_debug }}", {}, "float"),
    ("{{ true | type_debug }}", {}, "bool"),
    ("{{ 'a,b,,c' | split(',') }}", {}, ["a", "b", "", "c"]),
    ("{{ 'a b  c' | split }}", {}, ["a", "b", "c"]),
    ("{{ 'a,b,c' | split(',', 1) }}", {}, ["a", "b,c"]),
    ("{{ [1,2,3] | random(seed='x') }}", {}, 3),
    ("{{ 10 | random(seed='x') }}", {}, 5),
    ("{{ 10 | random(start=5, step=2, seed='x') }}", {}, 9),
    ("{{ 'ab' | random(seed='x') }}", {}, "b"),
    ("{{ [1,2,3,4] | shuffle(seed='x') }}", {}, [1, 2, 4, 3]),
    ("{{ 'abcd' | shuffle(seed='y') }}", {}, ["c", "a", "d", "b"]),
    ("{{ 1024 | human_readable }}", {}, "1.00 KB"),
    ("{{ 1000 | human_readable }}", {}, "1000.00 Bytes"),
    ("{{ 1 | human_readable }}", {}, "1.00 Bytes"),
    ("{{ 10485760 | human_readable(unit='K') }}", {}, "10240.00 KB"),
    ("{{ 2048 | human_readable(isbits=true) }}", {}, "2.00 Kb"),
    ("{{ 1099511627776 | human_readable }}", {}, "1.00 TB"),
    ("{{ 1536 | human_readable(unit='M') }}", {}, "0.00 MB"),
    ("{{ '1K' | human_to_bytes }}", {}, 1024),
    ("{{ '1.5 MB' | human_to_bytes }}", {}, 1572864),
    ("{{ '10' | human_to_bytes('K') }}", {}, 10240),
    ("{{ '1Mb' | human_to_bytes(isbits=true) }}", {}, 1048576),
    ("{{ '1 megabyte' | human_to_bytes }}", {}, 1048576),
    ("{{ '10' | human_to_bytes }}", {}, 10),
    ("{{ '2 b' | human_to_bytes }}", {}, 2),
    ("{{ 'b' | extract({'a': 1, 'b': 2}) }}", {}, 2),
    ("{{ [0, 2] | map('extract', ['x','y','z']) | list }}", {}, ["x", "z"]),
    ("{{ 'a' | extract({'a': {'b': {'c': 3}}}, ['b', 'c']) }}", {}, 3),
    ("{{ 'a' | extract({'a': {'b': 2}}, 'b') }}", {}, 2),
    (
        "{{ users | subelements('groups') }}",
        {"users": [{"name": "u1", "groups": ["g1", "g2"]}]},
        [
            [{"name": "u1", "groups": ["g1", "g2"]}, "g1"],
            [{"name": "u1", "groups": ["g1", "g2"]}, "g2"],
        ],
    ),
    ("{{ users | subelements('nope', skip_missing=true) }}", {"users": [{"name": "u1"}]}, []),
    (
        "{{ users | subelements('a.b') }}",
        {"users": [{"name": "u1", "a": {"b": [1]}}]},
        [[{"name": "u1", "a": {"b": [1]}}, 1]],
    ),
    ("{{ '%Y-%m-%d %H:%M:%S' | strftime(86400*365, utc=true) }}", {}, "1971-01-01 00:00:00"),
    ("{{ ('2024-01-02 03:04:05' | to_datetime).year }}", {}, 2024),
    (
        "{{ (('2024-01-02 03:04:05' | to_datetime) - ('2024-01-01 03:04:05' | to_datetime)).days "
        "}}",
        {},
        1,
    ),
    (
        "{{ 'http://u:p@h.com:90/p?q=1#f' | urlsplit }}",
        {},
        {
            "fragment": "f",
            "hostname": "h.com",
            "netloc": "u:p@h.com:90",
            "password": "p",
            "path": "/p",
            "port": 90,
            "query": "q=1",
            "scheme": "http",
            "username": "u",
        },
    ),
    ("{{ 'http://u:p@h.com:90/p?q=1#f' | urlsplit('port') }}", {}, 90),
    ("{{ 8 | log(2) }}", {}, 3.0),
    ("{{ 100 | log(10) }}", {}, 2.0),
    ("{{ 2 | pow(3) }}", {}, 8.0),
    ("{{ 9 | root }}", {}, 3.0),
    ("{{ 27 | root(3) }}", {}, 3.0),
    ("{{ 'a' | ansible.builtin.default('b') }}", {}, "a"),
    ("{{ foo | ansible.builtin.d('b') }}", {}, "b"),
]


@pytest.mark.parametrize(("template", "variables", "expected"), FILTER_CASES)
def test_filters(template: str, variables: dict[str, Any], expected: Any) -> None:
    assert render(template, variables) == expected


FILTER_ERRORS = [
    # (template, variables, message) -- ansible-core 2.19's messages
    (
        "{{ 'abc' | hash('nope') }}",
        {},
        "The filter plugin 'ansible.builtin.hash' failed: unsupported hash type nope",
    ),
    (
        "{{ 'x' | regex_search('x', 'bad') }}",
        {},
        "The filter plugin 'ansible.builtin.regex_search' failed: Unknown argument",
    ),
    (
        "{{ 'a' | regex_escape('posix_extended') }}",
        {},
        "The filter plugin 'ansible.builtin.regex_escape' failed: Regex type (posix_extended) not "
        "yet implemented",
    ),
    (
        "{{ 'a' | regex_escape('x') }}",
        {},
        "The filter plugin 'ansible.builtin.regex_escape' failed: Invalid regex type (x)",
    ),
    (
        "{{ 'x' | regex_replace('y', 'z', mandatory_count=1) }}",
        {},
        "The filter plugin 'ansible.builtin.regex_replace' failed: 'y' should match 1 times, but "
        "matches 0 times in 'x'",
    ),
    (
        "{{ 'x' | human_readable }}",
        {},
        "The filter plugin 'ansible.builtin.human_readable' failed: human_readable() failed on "
        "bad input: "
        "'>=' not supported between instances of 'str' and 'int'",
    ),
    (
        "{{ '1Mb' | human_to_bytes }}",
        {},
        "The filter plugin 'ansible.builtin.human_to_bytes' failed: human_to_bytes() can't "
        "interpret the input: "
        "human_to_bytes() failed to convert 1Mb. Value is not a valid string (expect MB or M)",
    ),
    (
        "{{ 'abc' | human_to_bytes }}",
        {},
        "The filter plugin 'ansible.builtin.human_to_bytes' failed: human_to_bytes() can't "
        "interpret the input: "
        "human_to_bytes() can't interpret following string: abc",
    ),
    (
        "{{ '1 Q' | human_to_bytes }}",
        {},
        "The filter plugin 'ansible.builtin.human_to_bytes' failed: human_to_bytes() can't "
        "interpret the input: "
        "human_to_bytes() failed to convert 1 Q (unit = Q). The suffix must be one of Y, Z, E, P, "
        "T, G, M, K, B",
    ),
    (
        "{{ '2 bytes' | human_to_bytes }}",
        {},
        "The filter plugin 'ansible.builtin.human_to_bytes' failed: human_to_bytes() can't "
        "interpret the input: "
        "human_to_bytes() failed to convert 2 bytes. Value is not a valid string (expect B or "
        "byte)",
    ),
    (
        "{{ users | subelements('nope') }}",
        {"users": [{"name": "u1"}]},
        "The filter plugin 'ansible.builtin.subelements' failed: could not find 'nope' key in "
        "iterated item {'name': 'u1'}",
    ),
    (
        "{{ 5 | subelements('a') }}",
        {},
        "The filter plugin 'ansible.builtin.subelements' failed: obj must be a list of dicts or a "
        "nested dict",
    ),
    (
        "{{ '%Y' | strftime('abc') }}",
        {},
        "The filter plugin 'ansible.builtin.strftime' failed: Invalid value for epoch value (abc)",
    ),
    (
        "{{ 'http://h' | urlsplit('nope') }}",
        {},
        "The filter plugin 'ansible.builtin.urlsplit' failed: urlsplit: unknown URL component: "
        "nope",
    ),
    (
        "{{ {'l': [1]} | combine({'l': [2]}, list_merge='nope') }}",
        {},
        "The filter plugin 'ansible.builtin.combine' failed: merge_hash: 'list_merge' argument "
        "can only be equal to "
        "'replace', 'keep', 'append', 'prepend', 'append_rp' or 'prepend_rp'",
    ),
    (
        "{{ {'a': 1} | combine({'b': 2}, bogus=1) }}",
        {},
        "The filter plugin 'ansible.builtin.combine' failed: 'recursive' and 'list_merge' are the "
        "only valid keyword arguments",
    ),
    (
        "{{ {'a': 1} | combine([1]) }}",
        {},
        "The filter plugin 'ansible.builtin.combine' failed: failed to combine variables, "
        "expected dicts but got a "
        "'dict' and a 'int'.",
    ),
    (
        "{{ 'x' | dict2items }}",
        {},
        "The filter plugin 'ansible.builtin.dict2items' failed: dict2items requires a dictionary, "
        "got <class 'str'> instead.",
    ),
    (
        "{{ [{'k': 'a'}] | items2dict }}",
        {},
        "The filter plugin 'ansible.builtin.items2dict' failed: items2dict requires each "
        "dictionary in the list to "
        "contain the keys 'key' and 'value', got [{'k': 'a'}] instead.",
    ),
    (
        "{{ 'x' | items2dict }}",
        {},
        "The filter plugin 'ansible.builtin.items2dict' failed: items2dict requires a list, got "
        "<class 'str'> instead.",
    ),
    (
        "{{ 5 | path_join }}",
        {},
        "The filter plugin 'ansible.builtin.path_join' failed: |path_join expects string or "
        "sequence, got <class 'int'> instead.",
    ),
    (
        "{{ 1.5 | random }}",
        {},
        "The filter plugin 'ansible.builtin.random' failed: random can only be used on sequences "
        "and integers",
    ),
    (
        "{{ [1] | random(start=1) }}",
        {},
        "The filter plugin 'ansible.builtin.random' failed: start and step can only be used with "
        "integer values",
    ),
    (
        "{{ 'x' | from_json }}",
        {},
        "The filter plugin 'ansible.builtin.from_json' failed: Expecting value: line 1 column 1 "
        "(char 0)",
    ),
    (
        "{{ nope | mandatory('custom msg') }}",
        {},
        "The filter plugin 'ansible.builtin.mandatory' failed: custom msg",
    ),
    (
        "{{ nope | mandatory }}",
        {},
        "The filter plugin 'ansible.builtin.mandatory' failed: Mandatory variable 'nope' not "
        "defined.",
    ),
    (
        "{{ d.x | mandatory }}",
        {"d": {}},
        "The filter plugin 'ansible.builtin.mandatory' failed: Mandatory variable 'x' not defined.",
    ),
    ("{{ 1/0 }}", {}, "Error rendering template: division by zero"),
    ("{{", {}, "Syntax error in template: unexpected 'end of template'"),
    ("{{ x | nope }}", {}, "Syntax error in template: No filter named 'nope'."),
]


@pytest.mark.parametrize(("template", "variables", "message"), FILTER_ERRORS)
def test_filter_errors(template: str, variables: dict[str, Any], message: str) -> None:
    assert error_of(template, variables) == message


def test_bool_filter_warns_on_unknown_values() -> None:
    # ansible-core 2.19: these coerce to False with a deprecation warning.
    templar = Templar()
    assert templar.render("{{ 'abc' | bool }}", {}) is False
    assert templar.render("{{ 2 | bool }}", {}) is False
    assert templar.render("{{ None | bool }}", {}) is False
    assert templar.warnings == [
        "The `bool` filter coerced invalid value 'abc' (str) to False.",
        "The `bool` filter coerced invalid value 2 (int) to False.",
        "The `bool` filter coerced invalid value None (NoneType) to False.",
    ]


def test_from_yaml_passes_non_strings_with_a_warning() -> None:
    templar = Templar()
    assert templar.render("{{ 5 | from_yaml }}", {}) == 5  # ansible-core 2.19
    assert templar.warnings == ["The from_yaml filter ignored non-string input of type 'int'."]
    assert render("{{ '!unsafe \"{{ x }}\"' | from_yaml }}") == "{{ x }}"


def test_random_and_shuffle_draw_from_the_injected_generator() -> None:
    def draws(seed: int) -> list[Any]:
        templar = Templar(rng=random.Random(seed))
        return [
            templar.render("{{ 1000 | random }}", {}),
            templar.render("{{ ['a', 'b', 'c', 'd'] | random }}", {}),
            templar.render("{{ [1, 2, 3, 4, 5] | shuffle }}", {}),
            templar.run_lookup("random_choice", ["a", "b", "c"], {}),
        ]

    assert draws(1) == draws(1)
    assert draws(1) != draws(2)
    expected = random.Random(1)
    assert draws(1)[0] == expected.randrange(0, 1000, 1)


def test_to_json_and_to_yaml_handle_variable_mappings_and_unsafe_text() -> None:
    templar = Templar()
    variables = {"h": templar.lazy({"a": "{{ b }}", "b": 1}), "u": mark_unsafe({"s": "{{ x }}"})}
    assert templar.render("{{ h | to_json }}", variables) == '{"a": 1, "b": 1}'
    assert templar.render("{{ u | to_yaml }}", variables) == "{s: '{{ x }}'}\n"
    assert templar.render("{{ u | to_json }}", variables) == '{"s": "{{ x }}"}'
    with pytest.raises(UndefinedVariableError):
        templar.render("{{ [nope] | to_json }}", {})


def test_path_filters(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert render("{{ '~/x' | expanduser }}") == f"{tmp_path}/x"
    (tmp_path / "a.txt").write_text("a")
    assert render("{{ (d ~ '/*.txt') | fileglob }}", {"d": str(tmp_path)}) == [
        str(tmp_path / "a.txt")
    ]


def test_version_pep440() -> None:
    assert render("{{ '2.0rc1' is version('2.0', '<', version_type='pep440') }}") is True


# ================================================================ tests

TEST_CASES = [
    # (template, variables, result) -- all ansible-core 2.19
    ("{{ r is changed }}", {"r": {"results": [{"changed": False}, {"changed": True}]}}, True),
    ("{{ r is changed }}", {"r": {}}, False),
    ("{{ r is change }}", {"r": {"changed": True}}, True),
    ("{{ r is skipped }}", {"r": {"skipped": True}}, True),
    ("{{ r is skip }}", {"r": {}}, False),
    ("{{ r is success }}", {"r": {"rc": 1}}, True),
    ("{{ r is succeeded }}", {"r": {"failed": True}}, False),
    ("{{ r is successful }}", {"r": {}}, True),
    ("{{ r is failure }}", {"r": {"failed": 1}}, True),
    ("{{ r is failed }}", {"r": {}}, False),
    ("{{ r is unreachable }}", {"r": {}}, False),
    ("{{ r is reachable }}", {"r": {}}, True),
    ("{{ r is timedout }}", {"r": {"timedout": {"period": 5}}}, True),
    ("{{ '1.2.3' is version('1.2', '>') }}", {}, True),
    ("{{ '1.2.3' is version('1.2.3a', 'lt') }}", {}, True),
    ("{{ '1.10' is version('1.9', 'gt') }}", {}, True),
    ("{{ '1.2' is version('1.2.0', '==') }}", {}, False),
    ("{{ '1.2' is version('1.2.0', '==', strict=true) }}", {}, True),
    ("{{ '1.2b1' is version('1.2', '<', strict=true) }}", {}, True),
    ("{{ '1.2.3-rc1' is version('1.2.3', '<', version_type='semver') }}", {}, True),
    ("{{ '1.0.0-alpha' is version('1.0.0-alpha.1', '<', version_type='semver') }}", {}, True),
    ("{{ '1.0.0-alpha.beta' is version('1.0.0-beta', '<', version_type='semantic') }}", {}, True),
    ("{{ '1.0.0-rc.1' is version('1.0.0', 'lt', version_type='semver') }}", {}, True),
    ("{{ '1.0.0+b1' is version('1.0.0', '==', version_type='semver') }}", {}, True),
    ("{{ '1.0' is version_compare('1.0', operator='eq') }}", {}, True),
    ("{{ '1.0' is version('1.0', '!=') }}", {}, False),
    ("{{ '1.0' is version('1.0', '<>') }}", {}, False),
    ("{{ '1.0' is version('0.9', '>=') }}", {}, True),
    ("{{ '1.0' is version('1.0', 'le') }}", {}, True),
    ("{{ 'abc' is match('b') }}", {}, False),
    ("{{ 'abc' is search('b') }}", {}, True),
    ("{{ 'ABC' is regex('b', ignorecase=true) }}", {}, True),
    ("{{ 'abc' is regex('^b', match_type='match') }}", {}, False),
    ("{{ 'a\nb' is search('^b', multiline=true) }}", {}, True),
    ("{{ [1,2] is subset([1,2,3]) }}", {}, True),
    ("{{ [1,2,3] is superset([1]) }}", {}, True),
    ("{{ [1,2] is contains(2) }}", {}, True),
    ("{{ [true, 1] is all }}", {}, True),
    ("{{ [0, ''] is any }}", {}, False),
    ("{{ 'false' is truthy }}", {}, True),
    ("{{ 'false' is truthy(convert_bool=true) }}", {}, False),
    ("{{ 0 is falsy }}", {}, True),
    ("{{ 'yes' is falsy(convert_bool=true) }}", {}, False),
    ("{{ '/tmp' is directory }}", {}, True),
    ("{{ '/tmp' is abs }}", {}, True),
    ("{{ 'tmp' is abs }}", {}, False),
    ("{{ '/nope' is exists }}", {}, False),
    ("{{ '/tmp' is same_file('/tmp/.') }}", {}, True),
    ("{{ x is nan }}", {"x": math.nan}, True),
    ("{{ 'a' is nan }}", {}, False),
    ("{{ 1 is number }}", {}, True),
    ("{{ '1' is string }}", {}, True),
    ("{{ {} is mapping }}", {}, True),
    ("{{ 'ab' is iterable }}", {}, True),
    ("{{ [1] is sequence }}", {}, True),
    ("{{ none is none }}", {}, True),
    ("{{ {'a': 1} is ansible.builtin.mapping }}", {}, True),
]


@pytest.mark.parametrize(("template", "variables", "expected"), TEST_CASES)
def test_tests(template: str, variables: dict[str, Any], expected: bool) -> None:
    assert render(template, variables) is expected


TEST_ERRORS = [
    # ansible-core 2.19's messages
    (
        "{{ 'x' is failed }}",
        "The test plugin 'ansible.builtin.failed' failed: The 'failed' test expects a dictionary",
    ),
    (
        "{{ 'x' is changed }}",
        "The test plugin 'ansible.builtin.changed' failed: The 'changed' test expects a dictionary",
    ),
    (
        "{{ '1.2.a' is version('1.2.1', '<') }}",
        "The test plugin 'ansible.builtin.version' failed: Version comparison failed: "
        "'<' not supported between instances of 'str' and 'int'",
    ),
    (
        "{{ '' is version('1', '<') }}",
        "The test plugin 'ansible.builtin.version' failed: Input version value cannot be empty",
    ),
    (
        "{{ '1' is version('1', 'foo') }}",
        "The test plugin 'ansible.builtin.version' failed: Invalid operator type (foo). Must be "
        "one of "
        "'==', '=', 'eq', '<', 'lt', '<=', 'le', '>', 'gt', '>=', 'ge', '!=', '<>', 'ne'",
    ),
    (
        "{{ '1.2.3.4' is version('1.2', 'ge', strict=true) }}",
        "The test plugin 'ansible.builtin.version' failed: Version comparison failed: invalid "
        "version number '1.2.3.4'",
    ),
    (
        "{{ '1.0' is version('1.0.0', '==', version_type='semver') }}",
        "The test plugin 'ansible.builtin.version' failed: Version comparison failed: invalid "
        "semantic version '1.0'",
    ),
    (
        "{{ '1.0' is version('1.0.0', '==', version_type='nope') }}",
        "The test plugin 'ansible.builtin.version' failed: Invalid version type (nope). Must be "
        "one of "
        "'loose', 'strict', 'semver', 'semantic', 'pep440'",
    ),
]


@pytest.mark.parametrize(("template", "message"), TEST_ERRORS)
def test_test_errors(template: str, message: str) -> None:
    assert error_of(template) == message


def test_file_tests(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("x")
    (tmp_path / "l").symlink_to(target)
    variables = {"d": str(tmp_path)}
    assert render("{{ (d ~ '/f') is file }}", variables) is True
    assert render("{{ (d ~ '/f') is is_file }}", variables) is True
    assert render("{{ (d ~ '/l') is link }}", variables) is True
    assert render("{{ (d ~ '/f') is link }}", variables) is False
    assert render("{{ (d ~ '/l') is exists }}", variables) is True
    assert render("{{ (d ~ '/l') is same_file(d ~ '/f') }}", variables) is True
    assert render("{{ d is directory }}", variables) is True
    assert render("{{ d is mount }}", variables) is os.path.ismount(tmp_path)


# ================================================================ lookups


@pytest.fixture(scope="module")
def playdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A playbook directory with files/ and templates/ (shared: tests only read it)."""
    tmp_path = tmp_path_factory.mktemp("play")
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "f1.txt").write_text("hello\nworld\n")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "t2.j2").write_text("{{ x }}\n")
    (tmp_path / "templates" / "t3.j2").write_text(
        "v={{ x }} p={{ template_path }}\n{% if true %}\nyes\n{% endif %}\nend\n"
    )
    (tmp_path / "templates" / "t4.j2").write_text("{{ 5 }}")
    (tmp_path / "templates" / "inc.j2").write_text("[{% include 'part.j2' %}]")
    (tmp_path / "templates" / "part.j2").write_text("{{ x }}-{{ lookup('vars', 'x') }}")
    (tmp_path / "templates" / "bs.j2").write_text("{{ 'a\\tb' }}")
    return tmp_path


LOOKUP_CASES = [
    # (template, variables, result) -- all ansible-core 2.19
    ("{{ lookup('items', [1,[2,[3]]]) }}", {}, [1, [2, [3]]]),
    ("{{ lookup('items', 'a', 'b') }}", {}, "a,b"),
    ("{{ lookup('items', 'a') }}", {}, "a"),
    ("{{ query('items', 'a') }}", {}, ["a"]),
    ("{{ q('items', [[1,2],[3]], 4) }}", {}, [[1, 2], [3], 4]),
    ("{{ lookup('items', [1, 2]) }}", {}, [1, 2]),
    ("{{ lookup('items', 1, 2, wantlist=true) }}", {}, [1, 2]),
    ("{{ lookup('ansible.builtin.items', 'a') }}", {}, "a"),
    ("{{ lookup('list', [1,2], [3]) }}", {}, [[1, 2], [3]]),
    ("{{ lookup('list', 'a', 'b') }}", {}, "a,b"),
    ("{{ q('list') }}", {}, []),
    ("{{ lookup('list') }}", {}, []),
    (
        "{{ lookup('dict', {'a': 1, 'b': 2}) }}",
        {},
        [{"key": "a", "value": 1}, {"key": "b", "value": 2}],
    ),
    ("{{ q('dict', {'a': 1}) }}", {}, [{"key": "a", "value": 1}]),
    ("{{ lookup('sequence', 'start=1 end=3') }}", {}, "1,2,3"),
    (
        "{{ q('sequence', 'start=1 end=10 format=host%02d') }}",
        {},
        [f"host{i:02d}" for i in range(1, 11)],
    ),
    ("{{ q('sequence', '1-10/2') }}", {}, ["1", "3", "5", "7", "9"]),
    ("{{ q('sequence', '4:host%02d') }}", {}, ["host01", "host02", "host03", "host04"]),
    ("{{ q('sequence', '5') }}", {}, ["1", "2", "3", "4", "5"]),
    ("{{ q('sequence', '5-8') }}", {}, ["5", "6", "7", "8"]),
    ("{{ q('sequence', '2-10/2') }}", {}, ["2", "4", "6", "8", "10"]),
    ("{{ q('sequence', 'start=0 count=5 stride=2') }}", {}, ["0", "2", "4", "6", "8"]),
    ("{{ q('sequence', 'start=5 end=1 stride=-2') }}", {}, ["5", "3", "1"]),
    ("{{ q('sequence', 'start=3 count=2 stride=-1') }}", {}, ["3", "2", "1", "0"]),
    ("{{ q('sequence', 'count=0') }}", {}, []),
    ("{{ q('sequence', 'start=1 end=5 stride=0') }}", {}, []),
    ("{{ q('sequence', 'start=0600 end=0602') }}", {}, ["600", "601", "602"]),
    ("{{ q('sequence', 'count=3 format=%x') }}", {}, ["1", "2", "3"]),
    ("{{ q('sequence', 'count=3 format=%s-x') }}", {}, ["1-x", "2-x", "3-x"]),
    ("{{ q('sequence', 'start=1 end=3', 'start=7 end=8') }}", {}, ["1", "2", "3", "7", "8"]),
    ("{{ q('sequence', start=1, end=3) }}", {}, ["1", "2", "3"]),
    ("{{ q('nested', [1,2], ['a','b']) }}", {}, [[1, "a"], [1, "b"], [2, "a"], [2, "b"]]),
    (
        "{{ q('nested', [1,2], ['a'], ['x', 'y']) }}",
        {},
        [[1, "a", "x"], [1, "a", "y"], [2, "a", "x"], [2, "a", "y"]],
    ),
    ("{{ q('together', [1,2], ['a']) }}", {}, [[1, "a"], [2, None]]),
    ("{{ q('together', [1], ['a', 'b'], [true]) }}", {}, [[1, "a", True], [None, "b", None]]),
    ("{{ q('indexed_items', ['a','b']) }}", {}, [[0, "a"], [1, "b"]]),
    (
        "{{ q('subelements', users, 'groups') }}",
        {"users": [{"name": "u1", "groups": ["g1", "g2"]}, {"name": "u2", "groups": []}]},
        [[{"name": "u1"}, "g1"], [{"name": "u1"}, "g2"]],
    ),
    (
        "{{ q('subelements', users, 'groups', {'skip_missing': true}) }}",
        {"users": [{"name": "u1", "groups": ["g1"]}, {"name": "u2"}]},
        [[{"name": "u1"}, "g1"]],
    ),
    (
        "{{ q('subelements', users, 'a.b') }}",
        {"users": [{"name": "u1", "a": {"b": [1], "c": 2}}]},
        [[{"name": "u1", "a": {"c": 2}}, 1]],
    ),
    (
        "{{ q('subelements', users, 'groups') }}",
        {
            "users": {
                "x": {"name": "u1", "groups": ["g1"]},
                "y": {"name": "u2", "groups": ["g2"], "skipped": True},
            }
        },
        [[{"name": "u1"}, "g1"]],
    ),
    ("{{ q('vars', 'x') }}", {"x": "{{ y }}", "y": 3}, [3]),
    ("{{ q('vars', 'x', 'y') }}", {"x": 1, "y": 2}, [1, 2]),
    ("{{ lookup('vars', 'nope', default=1) }}", {}, 1),
    ("{{ q('random_choice', 'a') }}", {}, ["a"]),
    ("{{ q('random_choice') }}", {}, []),
    ("{{ q('pipe', 'echo hi; echo there') }}", {}, ["hi\nthere"]),
    ("{{ q('lines', 'printf \"a\\nb\\n\"') }}", {}, ["a", "b"]),
    ("{{ lookup('pipe', 'exit 3', errors='ignore') }}", {}, None),
    ("{{ q('pipe', 'exit 3', errors='ignore') }}", {}, []),
    ("{{ lookup('env', nope) | default('z') }}", {}, "z"),
    ("{{ lookup('file', 'files/f1.txt') }}", {}, "hello\nworld"),
    ("{{ lookup('file', 'f1.txt') }}", {}, "hello\nworld"),
    ("{{ lookup('file', 'f1.txt', rstrip=false) }}", {}, "hello\nworld\n"),
    ("{{ q('fileglob', 'nope/*.txt') }}", {}, []),
    ("{{ q('first_found', ['nope'], skip=true) }}", {}, []),
    ("{{ lookup('template', 't2.j2') }}", {"x": 5}, 5),
    ("{{ lookup('template', 't3.j2') }}", {"x": 5}, "v=5 p=t3.j2\nyes\nend\n"),
    ("{{ lookup('template', 't4.j2') }}", {}, 5),
    ("{{ lookup('template', 't2.j2', template_vars={'x': 9}) }}", {"x": 5}, 9),
    ("{{ q('template', 't2.j2') }}", {"x": [1]}, [[1]]),
]


@pytest.fixture(scope="module")
def play_templar(playdir: Path) -> Templar:
    return Templar(basedir=playdir)


@pytest.mark.parametrize(("template", "variables", "expected"), LOOKUP_CASES)
def test_lookups(
    play_templar: Templar, template: str, variables: dict[str, Any], expected: Any
) -> None:
    assert play_templar.render(template, variables) == expected


def test_path_lookups_return_absolute_paths(playdir: Path) -> None:
    # ansible-core 2.19 (with the probe's directory in place of playdir)
    templar = Templar(basedir=playdir)
    f1 = str(playdir / "files" / "f1.txt")
    assert templar.render("{{ q('fileglob', 'files/*.txt') }}", {}) == [f1]
    assert templar.render("{{ q('fileglob', '*.txt') }}", {}) == [f1]
    assert templar.render("{{ q('first_found', ['nope', 'files/f1.txt']) }}", {}) == [f1]
    found = "{{ q('first_found', {'files': ['nope', 'f1.txt'], 'paths': ['files']}) }}"
    assert templar.render(found, {}) == [f1]
    assert templar.render("{{ q('first_found', [f]) }}", {"f": f1}) == [f1]


def test_lookups_honour_ansible_search_path(
    playdir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    role = tmp_path_factory.mktemp("role")
    (role / "files").mkdir()
    (role / "files" / "f1.txt").write_text("from role")
    templar = Templar(basedir=playdir)
    variables = {"ansible_search_path": [str(role), str(playdir)]}
    assert templar.render("{{ lookup('file', 'f1.txt') }}", variables) == "from role"


LOOKUP_ERRORS = [
    # ansible-core 2.19's messages unless noted
    (
        "{{ lookup('nope', 'x') }}",
        "lookup plugin (nope) not found",
    ),  # 2.19: "The lookup plugin 'nope' was not found."
    ("{{ query('nope') }}", "lookup plugin (nope) not found"),
    (
        "{{ q('dict', 'x') }}",
        "The lookup plugin 'dict' failed: the 'dict' lookup plugin expects a dictionary, got 'x' "
        "of type <class 'str'>)",
    ),
    (
        "{{ q('sequence', 'start=5 end=1') }}",
        "The lookup plugin 'sequence' failed: to count backwards make stride negative",
    ),
    (
        "{{ q('sequence', 'start=1 end=3 stride=-1') }}",
        "The lookup plugin 'sequence' failed: to count forward don't make stride negative",
    ),
    (
        "{{ q('sequence', 'start=1 end=3 bogus=1') }}",
        "The lookup plugin 'sequence' failed: unrecognized arguments to with_sequence: ['bogus']",
    ),
    (
        "{{ q('sequence', 'end=3 format=%d%d') }}",
        "The lookup plugin 'sequence' failed: bad formatting string: %d%d",
    ),
    (
        "{{ q('sequence', 'start=1') }}",
        "The lookup plugin 'sequence' failed: must specify count or end in with_sequence",
    ),
    (
        "{{ q('sequence', 'start=1 end=2 count=2') }}",
        "The lookup plugin 'sequence' failed: can't specify both count and end in with_sequence",
    ),
    (
        "{{ q('subelements', users, 'groups') }}",
        "The lookup plugin 'subelements' failed: could not find 'groups' key in iterated item "
        "'{'name': 'u2'}'",
    ),
    (
        "{{ q('subelements', 5, 'x') }}",
        "The lookup plugin 'subelements' failed: subelements lookup expects a list of two or "
        "three items, "
        "first a dict or a list, second a string pointing to the subkey",
    ),
    (
        "{{ q('pipe', 'exit 3') }}",
        "The lookup plugin 'pipe' failed: lookup_plugin.pipe(exit 3) returned 3",
    ),
    (
        "{{ q('lines', 'exit 2') }}",
        "The lookup plugin 'lines' failed: lookup_plugin.lines(exit 2) returned 2",
    ),
    (
        "{{ q('first_found', ['nope']) }}",
        "The lookup plugin 'first_found' failed: No file was found when using first_found.",
    ),
    # lookup() does not search files/ for first_found; only with_first_found does.
    (
        "{{ q('first_found', ['nope', 'f1.txt']) }}",
        "The lookup plugin 'first_found' failed: No file was found when using first_found.",
    ),
    (
        "{{ lookup('template', 'nope.j2') }}",
        "The lookup plugin 'template' failed: the template file nope.j2 could not be found for "
        "the lookup",
    ),
    (
        "{{ lookup('items', 'a', errors='loud') }}",
        "Invalid value for 'errors' (loud): expected strict, warn or ignore",
    ),
    (
        "{{ q('inventory_hostnames', 'all') }}",
        "The lookup plugin 'inventory_hostnames' failed: inventory_hostnames needs an inventory "
        "(Templar(inventory=…))",
    ),
]


@pytest.mark.parametrize(("template", "message"), LOOKUP_ERRORS)
def test_lookup_errors(play_templar: Templar, template: str, message: str) -> None:
    variables = {"users": [{"name": "u1", "groups": ["g1"]}, {"name": "u2"}]}
    with pytest.raises(TemplateError) as info:
        play_templar.render(template, variables)
    assert str(info.value) == message


def test_file_lookup_not_found_names_the_paths_searched(playdir: Path) -> None:
    with pytest.raises(TemplateError) as info:
        Templar(basedir=playdir).render("{{ lookup('file', 'nope.txt') }}", {})
    # ansible-core 2.19: "...: File not found. Use -vvvvv to see paths searched."
    assert str(info.value) == (
        f"The lookup plugin 'file' failed: Unable to access the file 'nope.txt': File not found "
        f"(searched {playdir}/files/nope.txt, {playdir}/nope.txt)."
    )


def test_lookup_errors_warn(playdir: Path) -> None:
    templar = Templar(basedir=playdir)
    assert templar.render("{{ lookup('pipe', 'exit 4', errors='warn') }}", {}) is None
    assert templar.warnings == [
        "The lookup plugin 'pipe' failed: lookup_plugin.pipe(exit 4) returned 4"
    ]


def test_env_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    # ansible-core 2.19
    monkeypatch.setenv("PGTEST", "val")
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    assert render("{{ lookup('env', 'PGTEST') }}") == "val"
    assert render("{{ lookup('env', 'NOPE_NOT_SET') }}") == ""
    assert render("{{ lookup('env', 'NOPE_NOT_SET', default='d') }}") == "d"
    assert render("{{ q('env', 'PGTEST', 'NOPE_NOT_SET') }}") == ["val", ""]


def test_pipe_runs_in_the_base_directory(playdir: Path) -> None:
    assert Templar(basedir=playdir).render("{{ lookup('pipe', 'pwd') }}", {}) == str(playdir)


def test_inventory_hostnames_uses_the_callback() -> None:
    calls: list[list[str]] = []

    def inventory(patterns: list[str]) -> list[str]:
        calls.append(patterns)
        return ["h1", "h2"] if patterns == ["all"] else ["h1"]

    templar = Templar(inventory=inventory)
    assert templar.render("{{ q('inventory_hostnames', 'all') }}", {}) == ["h1", "h2"]
    assert templar.run_lookup("inventory_hostnames", "web", {}) == ["h1"]
    assert calls == [["all"], ["web"]]


def test_template_lookup_details(playdir: Path) -> None:
    templar = Templar(basedir=playdir)
    assert templar.render("{{ lookup('template', 'inc.j2') }}", {"x": 4}) == "[4-4]"
    # Template files are not backslash-escaped: '\t' in the file is a tab.
    assert templar.render("{{ lookup('template', 'bs.j2') }}", {}) == "a\tb"
    info = templar.render_template_file(
        playdir / "templates" / "t2.j2",
        {},
        template_vars={"x": "{{ template_path }}|{{ template_fullpath }}|{{ ansible_managed }}"},
    )
    # t2.j2 is "{{ x }}\n": a string result keeps the file's trailing newline.
    assert info == f"{playdir}/templates/t2.j2|{playdir}/templates/t2.j2|Ansible managed\n"
    with pytest.raises(TemplateError, match="Unable to read template file"):
        templar.render_template_file(playdir / "missing.j2", {})


def test_unknown_lookup_in_with_loop() -> None:
    with pytest.raises(TemplateError, match=r"^lookup plugin \(bogus\) not found$"):
        Templar().run_lookup("bogus", [1], {})


# ================================================================ with_* loops

WITH_VARIABLES: dict[str, Any] = {
    "nested": [[1, 2], [3, [4]]],
    "d": {"b": 1, "a": 2},
    "users": [{"name": "u1", "groups": ["g1", "g2"]}],
}

WITH_CASES = [
    # (name, loop value as written in the task, items) -- ansible-playbook 2.19
    ("items", "{{ nested }}", [1, 2, 3, [4]]),
    ("items", [1, [2, 3]], [1, 2, 3]),
    ("items", "abc", ["abc"]),
    ("items", "a,b", ["a,b"]),
    ("items", 5, [5]),
    ("items", ["{{ d.a }}", 7], [2, 7]),
    ("items", "  {{ nested }}  ", [1, 2, 3, [4]]),
    ("list", [[1, 2], ["a"]], [[1, 2], ["a"]]),
    ("dict", "{{ d }}", [{"key": "b", "value": 1}, {"key": "a", "value": 2}]),
    ("sequence", "start=1 end=2 format=h%02d", ["h01", "h02"]),
    ("sequence", "count=1", ["1"]),
    ("subelements", ["{{ users }}", "groups"], [[{"name": "u1"}, "g1"], [{"name": "u1"}, "g2"]]),
    ("indexed_items", ["a", "b"], [[0, "a"], [1, "b"]]),
    ("together", [[1, 2], ["a"]], [[1, "a"], [2, None]]),
    ("nested", [[1, 2], ["a"]], [[1, "a"], [2, "a"]]),
    # community.general's; not in ansible-core.
    ("cartesian", [[1, 2], ["a", "b"]], [[1, "a"], [1, "b"], [2, "a"], [2, "b"]]),
    ("flattened", [[1, [2, [3]]], 4], [1, 2, 3, 4]),
]


@pytest.mark.parametrize(("name", "loop", "items"), WITH_CASES)
def test_with_loops_produce_ansibles_items(name: str, loop: Any, items: list[Any]) -> None:
    assert _SHARED.run_lookup(name, loop, WITH_VARIABLES) == items


def test_with_loops_do_not_mutate_variables() -> None:
    variables = {"users": [{"name": "u1", "groups": ["g1"], "a": {"b": [1]}}]}
    templar = Templar()
    templar.run_lookup("subelements", ["{{ users }}", "groups"], variables)
    templar.run_lookup("subelements", ["{{ users }}", "a.b"], variables)
    assert variables == {"users": [{"name": "u1", "groups": ["g1"], "a": {"b": [1]}}]}


def test_with_items_are_data_not_templates(tmp_path: Path) -> None:
    (tmp_path / "lines.txt").write_text("{{ secret }}\nplain\n")
    templar = Templar(basedir=tmp_path)
    items = templar.run_lookup("lines", "cat lines.txt", {})
    assert items == ["{{ secret }}", "plain"]
    assert all(isinstance(item, UnsafeText) for item in items)
    for item in items:
        layers = merge_layers({"secret": "leaked"}, {"item": item})
        assert templar.render("{{ item }}", layers) == item
        assert templar.render("x={{ item }}", layers) == f"x={item}"


def test_with_first_found_searches_by_action(tmp_path: Path) -> None:
    # ansible-core 2.19: with_first_found looks in templates/ for template
    # actions, vars/ for include_vars and files/ otherwise.
    playdir = tmp_path
    for sub, name in (("files", "f1.txt"), ("templates", "t2.j2"), ("vars", "v.yml")):
        (playdir / sub).mkdir()
        (playdir / sub / name).write_text("x\n")
    templar = Templar(basedir=playdir)
    f1 = str(playdir / "files" / "f1.txt")
    assert templar.run_lookup("first_found", ["nope", "f1.txt"], {}) == [f1]
    t2 = str(playdir / "templates" / "t2.j2")
    assert templar.run_lookup("first_found", ["t2.j2"], {}, action="ansible.builtin.template") == [
        t2
    ]
    v = str(playdir / "vars" / "v.yml")
    assert templar.run_lookup("first_found", ["v.yml"], {}, action="include_vars") == [v]


def test_with_first_found_skips_undefined_candidates(tmp_path: Path) -> None:
    # ansible-core 2.19 drops undefined terms when first_found runs as a with_ loop.
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "default.yml").write_text("x\n")
    templar = Templar(basedir=tmp_path)
    loop = ["{{ ansible_distribution }}.yml", "default.yml"]
    assert templar.run_lookup("first_found", loop, {}) == [str(tmp_path / "files" / "default.yml")]
    spec = {"files": ["{{ nope }}.yml", "default.yml"], "paths": ["files"]}
    assert templar.run_lookup("first_found", [spec], {}) == [
        str(tmp_path / "files" / "default.yml")
    ]
    with pytest.raises(TemplateError, match="division by zero"):
        templar.run_lookup("first_found", ["{{ 1/0 }}", "default.yml"], {})


def test_with_loop_errors_are_template_errors() -> None:
    templar = Templar()
    with pytest.raises(UndefinedVariableError, match="'missing' is undefined"):
        templar.run_lookup("items", "{{ missing }}", {})
    with pytest.raises(TemplateError, match="with_nested requires at least one element"):
        templar.run_lookup("nested", [], {})


# ================================================================ unsafe text


def test_mark_unsafe() -> None:
    value = mark_unsafe({"a": ["{{ x }}", ("{{ y }}", 1)], "b": 2})
    assert value == {"a": ["{{ x }}", ("{{ y }}", 1)], "b": 2}
    assert isinstance(value["a"][0], UnsafeText) and isinstance(value["a"][1][0], UnsafeText)
    assert render("{{ r.a[0] }}", {"r": value, "x": 1}) == "{{ x }}"
    assert render(value) == {"a": ["{{ x }}", ["{{ y }}", 1]], "b": 2}
    assert mark_unsafe(value["a"][0]) is value["a"][0]
    assert render("{{ r | type_debug }}", {"r": UnsafeText("s")}) == "str"


# ================================================================ properties

_PLAIN_TEXT = st.text().filter(lambda s: "{{" not in s and "{%" not in s)


@settings(max_examples=150, deadline=None)
@given(_PLAIN_TEXT)
def test_text_without_template_markers_is_unchanged(text: str) -> None:
    assert _SHARED.render(text, {"x": 1}) is text
    assert _SHARED.render({"k": [text]}, {}) == {"k": [text]}


_TOKENS = [
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    " ",
    "x",
    "y",
    "d",
    "l",
    "nope",
    ".",
    "[",
    "]",
    "(",
    ")",
    "'",
    '"',
    "|",
    ",",
    ":",
    "=",
    "==",
    "~",
    "+",
    "-",
    "/",
    "%",
    "0",
    "1",
    "2.5",
    "true",
    "none",
    "if",
    "else",
    "endif",
    "for",
    "in",
    "endfor",
    "set",
    "is",
    "not",
    "and",
    "or",
    "default",
    "defined",
    "int",
    "string",
    "length",
    "bool",
    "to_json",
    "from_json",
    "to_yaml",
    "from_yaml",
    "regex_replace",
    "combine",
    "flatten",
    "finished",
    "failed",
    "version",
    "items",
    "select",
    "map",
    "ternary",
    "b64decode",
    "mandatory",
    "omit",
    "\\",
    "\n",
    "é",
]
_TEMPLATE_TEXT = st.lists(st.sampled_from(_TOKENS), max_size=14).map("".join)
_VARIABLES = {"x": 1, "y": "{{ x }}", "d": {"k": ["{{ y }}"]}, "l": [1, "a", None], "z": "{{ z }}"}


@settings(max_examples=300, deadline=None)
@given(_TEMPLATE_TEXT)
def test_random_template_text_raises_only_template_errors(text: str) -> None:
    # Anything other than TemplateError escaping would fail the test.
    with contextlib.suppress(TemplateError):
        _SHARED.render(text, _VARIABLES)
    with contextlib.suppress(TemplateError):
        _SHARED.evaluate(text, _VARIABLES)
    with contextlib.suppress(TemplateError):
        _SHARED.render({"k": [text]}, _VARIABLES)


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=string.ascii_letters + string.digits + ".-", min_size=1))
def test_any_jid_string_round_trips(jid: str) -> None:
    assert render("{{ job.ansible_job_id }}", {"job": {"ansible_job_id": jid}}) == jid


# ================================================================ misc


def test_templar_caches_compiled_templates() -> None:
    templar = Templar()
    for i in range(3):
        assert templar.render("{{ x + 1 }}", {"x": i}) == i + 1
    assert len(templar._compiled) == 1


def test_now_global() -> None:
    assert render("{{ now().year > 2000 }}") is True
    assert render("{{ now(utc=true, fmt='%Y') | int > 2000 }}") is True


def test_warnings_are_kept_once_in_order() -> None:
    templar = Templar()
    templar.warn("b")
    templar.warn("a")
    templar.warn("b")
    assert templar.warnings == ["b", "a"]
