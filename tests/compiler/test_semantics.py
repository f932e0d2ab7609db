"""Every layer reads Ansible's shared rules the same way (`playgraph.semantics`).

Booleans are ansible-core 2.19's ``boolean()``: keywords (``gather_facts``,
``become``, ``ignore_errors``...) accept ``"t"``, ``"f"``, ``"y"``, ``"n"``, ``1.0``
and ``" YES "`` and reject ``2``, ``"maybe"`` and ``""`` (checked with
ansible-playbook 2.19: "The value 2 could not be converted to 'bool'").
Module ``bool`` arguments use the same table; configuration files add only that
an empty setting is false.  ``!unsafe`` text is `UnsafeText` from the loader on,
so no check or render takes it for a template.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

import pytest
from playgraph.compiler import compile_playbook
from playgraph.compiler.lint.hosts import split_pattern
from playgraph.runtime import config
from playgraph.runtime.modules import ModuleFailure
from playgraph.runtime.modules.args import to_bool

from playgraph import semantics
from playgraph.semantics import PlaygraphError, UnsafeText, boolean

Write = Callable[[str, str | bytes], str]

ACCEPTED = {
    '"t"': True,
    "t": True,
    '"y"': True,
    "1.0": True,
    '" YES "': True,
    "on": True,
    '"f"': False,
    '"F"': False,
    "n": False,
    "0.0": False,
    '"off"': False,
}
REJECTED = ["2", '"maybe"', '""', "[yes]"]


def _play(value: str) -> str:
    return f"""\
- hosts: localhost
  gather_facts: {value}
  become: {value}
  tasks:
    - command: /bin/false
      ignore_errors: {value}
      become: {value}
"""


@pytest.mark.parametrize(("text", "expected"), ACCEPTED.items())
def test_keyword_booleans_are_ansible_cores(write: Write, text: str, expected: bool) -> None:
    compiled = compile_playbook(write("p.yml", _play(text)))
    assert compiled.diagnostics == ()
    (play,) = compiled.graph.plays
    (task,) = play.tasks
    assert play.gather_facts is expected and play.become is expected
    assert task.ignore_errors is expected and task.become is expected


def test_gather_facts_t_compiles(write: Write) -> None:
    path = write("p.yml", '- hosts: all\n  gather_facts: "t"\n  tasks:\n    - ping:\n')
    compiled = compile_playbook(path)
    assert compiled.diagnostics == ()
    assert compiled.graph.plays[0].gather_facts is True


@pytest.mark.parametrize("text", REJECTED)
def test_keyword_non_booleans_are_rejected(write: Write, text: str) -> None:
    compiled = compile_playbook(write("p.yml", _play(text)))
    found = [(d.code, d.span.line) for d in compiled.diagnostics]
    assert found == [("schema[bad-value]", line) for line in (2, 3, 6, 7)]
    assert "must be a boolean" in compiled.diagnostics[0].message


def test_templated_keyword_boolean_is_kept_for_the_runtime(write: Write) -> None:
    compiled = compile_playbook(write("p.yml", _play('"{{ flag }}"')))
    assert compiled.diagnostics == ()
    assert compiled.graph.plays[0].gather_facts == "{{ flag }}"


@pytest.mark.parametrize(
    "value", sorted(semantics.BOOLEANS_TRUE | semantics.BOOLEANS_FALSE, key=repr)
)
def test_module_bool_arguments_use_the_same_table(value: object) -> None:
    assert to_bool("force", value) is boolean(value)
    if isinstance(value, str):
        assert to_bool("force", f" {value.upper()} ") is boolean(value)


@pytest.mark.parametrize("value", ["", "maybe", 2, [True]])
def test_module_bool_argument_rejects_non_booleans(value: object) -> None:
    with pytest.raises(ModuleFailure, match="is not a valid boolean"):
        to_bool("force", value)


def test_configuration_switches() -> None:
    assert [config.parse_bool(v) for v in ("t", " Yes ", "", "f", "0")] == [
        True,
        True,
        False,
        False,
        False,
    ]
    assert config.parse_bool("maybe") is None and config.parse_bool(2) is None
    empty = config.load({"ANSIBLE_BECOME": "", "ANSIBLE_HOST_KEY_CHECKING": "f"}, cwd="/", home="/")
    assert (empty.become, empty.host_key_checking, empty.warnings) == (False, False, ())
    odd = config.load({"ANSIBLE_BECOME": "maybe"}, cwd="/", home="/")
    assert odd.become is False and "not a boolean" in odd.warnings[0]


def test_unsafe_text_is_one_class(write: Write) -> None:
    from playgraph.runtime import templating

    assert templating.UnsafeText is UnsafeText
    path = write("p.yml", "- hosts: all\n  tasks:\n    - debug:\n        msg: !unsafe '{{ x }}'\n")
    (task,) = compile_playbook(path).graph.plays[0].tasks
    assert isinstance(task.args["msg"], UnsafeText)
    assert not templating.is_template(task.args["msg"])


def test_unsafe_text_is_never_checked_as_a_template(write: Write) -> None:
    # ansible-core prints `{{ oops` as written: `!unsafe` text is never parsed.
    text = "- hosts: all\n  tasks:\n    - debug:\n        msg: !unsafe '{{ oops'\n"
    compiled = compile_playbook(write("p.yml", text))
    assert compiled.diagnostics == ()
    assert compiled.graph.plays[0].tasks[0].reads == ()


def test_unsafe_text_is_not_a_templated_keyword(write: Write) -> None:
    # Not rendered, so `{{ n }}` is a literal that is no integer (ansible-core says so too).
    text = "- hosts: all\n  tasks:\n    - ping:\n      async: !unsafe '{{ n }}'\n      poll: 0\n"
    compiled = compile_playbook(write("p.yml", text))
    assert [d.code for d in compiled.diagnostics] == ["schema[bad-value]"]


@pytest.mark.parametrize("pattern", ["web{# c #}", "web{% if x %}:db{% endif %}", "{{ g }}:x"])
def test_templated_host_patterns_stay_whole(pattern: str) -> None:
    assert split_pattern(pattern) == [pattern]


def test_builtin_name_is_one_function() -> None:
    from playgraph.runtime import modules

    assert modules.builtin_name is semantics.builtin_name
    assert semantics.builtin_name("ansible.legacy.meta") == "meta"
    assert semantics.builtin_name("community.general.x") is None


_ROOTED_MODULES = [
    "playgraph.compiler.loader",
    "playgraph.compiler.plan",
    "playgraph.grammar.template",
    "playgraph.grammar.args",
    "playgraph.runtime.config",
    "playgraph.runtime.inventory",
    "playgraph.runtime.context",
    "playgraph.runtime.scheduler",
    "playgraph.runtime.actions",
    "playgraph.runtime.results",
    "playgraph.runtime.display",
    "playgraph.runtime.facts",
    "playgraph.runtime.tracing",
    "playgraph.runtime.modules.base",
    "playgraph.runtime.modules.args",
]
_NOT_ROOTED = {"RunInterrupted"}
"""A `asyncio.CancelledError` on purpose (a `BaseException`: ``except Exception`` must
not swallow the cancellation the CLI asked for)."""


@pytest.mark.parametrize("name", _ROOTED_MODULES)
def test_exceptions_share_one_root(name: str) -> None:
    module = importlib.import_module(name)
    defined = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == name and issubclass(cls, BaseException)
    ]
    stray = [c.__name__ for c in defined if not issubclass(c, PlaygraphError)]
    assert [c for c in stray if c not in _NOT_ROOTED] == []


def test_a_plan_keeps_unsafe_text(write: Write) -> None:
    # A plan run later must not template `!unsafe` text either (it once came back as str).
    from playgraph.compiler.plan import emit_json, load_plan

    text = (
        "- hosts: all\n  vars: {v: !unsafe '{{ a }}'}\n  tasks:\n"
        "    - debug:\n        msg: [!unsafe '{{ x }}', '{{ y }}']\n"
        "      when: !unsafe 'z'\n"
    )
    graph = compile_playbook(write("p.yml", text)).graph
    plan = emit_json(graph)
    assert '"__ansible_unsafe": "{{ x }}"' in plan
    loaded = load_plan(plan)
    assert loaded == graph
    (play,) = loaded.plays
    unsafe, trusted = play.tasks[0].args["msg"]
    assert isinstance(unsafe, UnsafeText) and not isinstance(trusted, UnsafeText)
    assert isinstance(play.vars["v"], UnsafeText)
    assert isinstance(play.tasks[0].when[0], UnsafeText)


def test_a_plan_nested_too_deeply_is_a_plan_error() -> None:
    from playgraph.compiler.plan import PlanError, load_plan

    deep = '{"a":' * 50_000 + "1" + "}" * 50_000
    with pytest.raises(PlanError, match="nested too deeply"):
        load_plan('{"version": 1, "plays": [{"vars": ' + deep + "}]}")
