"""Module argument specifications: what a task may pass, read from the module's own text.

A module's documentation (the ``DOCUMENTATION`` YAML of a Python module) lists its
options with their aliases and which are required; its ``AnsibleModule(...)`` call
may add ``mutually_exclusive``, ``required_one_of`` and ``required_together``
when they are written as literals.  The file is read as text and parsed, never
imported or executed.  What cannot be read is left out: a check never fires on a
constraint we could not read.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import yaml

__all__ = ["ArgProblem", "ArgSpec", "argument_problems", "read_module_spec"]

_EMPTY: Mapping[str, str] = MappingProxyType({})
_PSEUDO_OPTIONS = frozenset({"free_form", "free-form", "key_value"})
# Documentation fragments that describe attributes (check mode, platforms), never options.
_ATTRIBUTE_FRAGMENT = re.compile(r"(^|\.)(action_common_attributes|attributes)(\.|$)")
_DOC = re.compile(r"^DOCUMENTATION\s*=\s*[rRuU]?(?P<q>'''|\"\"\")(?P<text>.*?)(?P=q)", re.S | re.M)
_CONSTRAINTS = ("mutually_exclusive", "required_one_of", "required_together")
# Modules that pass arguments they do not know on to the module doing the work
# (the package manager, the service manager).
PASS_THROUGH = frozenset({"ansible.builtin.package", "ansible.builtin.service"})

Groups = tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ArgSpec:
    """A module's options as far as they are known."""

    names: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """Every accepted name (options and their aliases) → the option's canonical name."""
    required: frozenset[str] = frozenset()
    defaults: frozenset[str] = frozenset()
    """Options with a default other than null: ansible-core sets them before it checks
    ``required_one_of`` (so they satisfy it), after ``mutually_exclusive``."""
    mutually_exclusive: Groups = ()
    required_one_of: Groups = ()
    required_together: Groups = ()
    complete: bool = False
    """Every option is listed (a name outside ``names`` is an unknown argument)."""
    pass_through: bool = False


@dataclass(frozen=True, slots=True)
class ArgProblem:
    """One argument finding: ``kind`` is ``unknown`` (``name`` is the argument) or ``missing``."""

    kind: str
    name: str
    message: str
    suggestion_pool: tuple[str, ...] = ()


def spec_from_options(
    options: Mapping[str, Any],
    *,
    complete: bool,
    constraints: Mapping[str, Groups] | None = None,
    pass_through: bool = False,
) -> ArgSpec:
    names: dict[str, str] = {}
    required: set[str] = set()
    defaults: set[str] = set()
    for name, option in options.items():
        if not isinstance(name, str) or name in _PSEUDO_OPTIONS:
            continue
        names[name] = name
        option = option if isinstance(option, Mapping) else {}
        aliases = option.get("aliases") or ()
        for alias in aliases if isinstance(aliases, list) else ():
            if isinstance(alias, str):
                names.setdefault(alias, name)
        if option.get("required") is True:
            required.add(name)
        if option.get("default") is not None:
            defaults.add(name)
    constraints = constraints or {}
    return ArgSpec(
        names=MappingProxyType(names),
        required=frozenset(required),
        defaults=frozenset(defaults),
        mutually_exclusive=constraints.get("mutually_exclusive", ()),
        required_one_of=constraints.get("required_one_of", ()),
        required_together=constraints.get("required_together", ()),
        complete=complete,
        pass_through=pass_through,
    )


FragmentLookup = Callable[[str], Mapping[str, Any] | None]
"""A documentation fragment's options by fragment name, or None when it cannot be read."""


def read_code_spec(text: str) -> ArgSpec | None:
    """The spec of a module's ``AnsibleModule(argument_spec=...)`` call, when it is written
    out (literals and ``dict(...)`` calls); None when it is built any other way.

    This is what ansible-core validates against; a local module's documentation is often
    stale, so it is not trusted for a module outside a published collection.
    """
    if "AnsibleModule" not in text:
        return None
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        )
        == "AnsibleModule"
    ]
    if len(calls) != 1:
        return None
    call = calls[0]
    keywords = {k.arg: k.value for k in call.keywords if k.arg is not None}
    if any(k.arg is None for k in call.keywords):
        return None  # AnsibleModule(**kwargs)
    spec_node = keywords.get("argument_spec") or (call.args[0] if call.args else None)
    if isinstance(spec_node, ast.Name):
        name = spec_node.id
        assigned = [
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)
        ]
        changed = any(
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and isinstance(n.func.value, ast.Name)
            and n.func.value.id == name
            for n in ast.walk(tree)
        ) or any(
            isinstance(n, ast.Subscript)
            and isinstance(n.value, ast.Name)
            and n.value.id == name
            and isinstance(n.ctx, ast.Store)
            for n in ast.walk(tree)
        )
        if len(assigned) != 1 or changed:
            return None
        spec_node = assigned[0]
    options = _static_mapping(spec_node) if spec_node is not None else None
    if options is None:
        return None
    complete = True
    parsed: dict[str, Any] = {}
    for name, option_node in options.items():
        option = _static_mapping(option_node)
        if option is None:
            complete = False  # its aliases are unknown
            parsed[name] = {}
            continue
        entry: dict[str, Any] = {}
        aliases = _literal(option.get("aliases"))
        if isinstance(aliases, list | tuple):
            entry["aliases"] = [a for a in aliases if isinstance(a, str)]
        elif "aliases" in option:
            complete = False
        required = _literal(option.get("required"))
        if required is True:
            entry["required"] = True
        elif "required" in option and not isinstance(required, bool):
            entry["unsure"] = True
        default = option.get("default")
        if default is not None and not (
            isinstance(default, ast.Constant) and default.value is None
        ):
            entry["default"] = True
        parsed[name] = entry
    if (
        _literal(keywords.get("add_file_common_args")) is not False
        and "add_file_common_args" in keywords
    ):
        complete = False  # mode, owner, group... are added
    for entry in parsed.values():
        if entry.pop("unsure", False):
            entry.pop("required", None)
    return spec_from_options(parsed, complete=complete, constraints=module_constraints(text))


_MISSING = object()


def _literal(node: ast.expr | None) -> Any:
    if node is None:
        return _MISSING
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _MISSING


def _static_mapping(node: ast.expr) -> dict[str, ast.expr] | None:
    """``{"a": ...}`` or ``dict(a=...)``: keys to value nodes; None for anything else."""
    if isinstance(node, ast.Dict):
        out: dict[str, ast.expr] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                return None  # `**other` or a computed key
            out[key.value] = value
        return out
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "dict"
        and not node.args
        and all(k.arg is not None for k in node.keywords)
    ):
        return {str(k.arg): k.value for k in node.keywords}
    return None


def read_module_spec(text: str, fragments: FragmentLookup | None = None) -> ArgSpec | None:
    """The spec written in a Python module's source, or None when it has no readable docs."""
    match = _DOC.search(text)
    if match is None:
        return None
    try:
        doc = yaml.safe_load(match.group("text"))
    except yaml.YAMLError:
        return None
    if not isinstance(doc, Mapping):
        return None
    options = dict(doc.get("options") or {})
    complete = True
    extends = doc.get("extends_documentation_fragment") or ()
    for name in [extends] if isinstance(extends, str) else extends:
        if not isinstance(name, str) or _ATTRIBUTE_FRAGMENT.search(name):
            continue
        extra = fragments(name) if fragments is not None else None
        if extra is None:
            complete = False  # its options are unknown: no unknown-argument finding
            continue
        for key, value in extra.items():
            options.setdefault(key, value)
    return spec_from_options(options, complete=complete, constraints=module_constraints(text))


def fragment_options(text: str, variable: str = "DOCUMENTATION") -> Mapping[str, Any] | None:
    """The options a doc fragment file's ``ModuleDocFragment.<variable>`` adds."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == variable for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            try:
                doc = yaml.safe_load(node.value.value)
            except yaml.YAMLError:
                return None
            if isinstance(doc, Mapping):
                options = doc.get("options") or {}
                return options if isinstance(options, Mapping) else None
    return None


def module_constraints(text: str) -> dict[str, Groups]:
    """Literal ``mutually_exclusive``/``required_one_of``/``required_together`` of the
    module's ``AnsibleModule(...)`` call (a name or an expression is left out)."""
    if "AnsibleModule" not in text:
        return {}
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return {}
    found: dict[str, Groups] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name != "AnsibleModule":
            continue
        for keyword in node.keywords:
            if keyword.arg in _CONSTRAINTS:
                groups = _literal_groups(keyword.value)
                if groups:
                    found[keyword.arg] = groups
    return found


def _literal_groups(node: ast.expr) -> Groups:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return ()
    if not isinstance(value, list | tuple):
        return ()
    groups: list[tuple[str, ...]] = []
    for group in value:
        if isinstance(group, list | tuple) and all(isinstance(n, str) for n in group):
            groups.append(tuple(group))
    return tuple(groups)


# ---------------------------------------------------------------------- checking


def argument_problems(
    spec: ArgSpec,
    args: Mapping[str, Any],
    *,
    may_be_omitted: Callable[[Any], bool],
    check_required: bool,
) -> list[ArgProblem]:
    """What is wrong with ``args`` under ``spec`` (ansible-core's checks, in its order).

    ``may_be_omitted(value)`` tells a value that may vanish at run time (a template
    that can render ``omit``): it counts as present for requirements but not as a
    conflict.  ``check_required`` is false under ``module_defaults`` (they may supply
    what is missing).
    """
    problems: list[ArgProblem] = []
    given: dict[str, list[str]] = {}  # canonical -> the names written
    for name in args:
        if name.startswith("_"):
            given.setdefault(name, []).append(name)  # `_raw_params`: free-form text
            continue
        canonical = spec.names.get(name)
        if canonical is None:
            value = args[name]
            # `x: "{{ y | default(omit) }}"` may vanish: no finding on a maybe.
            omitted = isinstance(value, str) and "omit" in value and may_be_omitted(value)
            if spec.complete and not spec.pass_through and not omitted:
                problems.append(
                    ArgProblem("unknown", name, name, suggestion_pool=tuple(sorted(spec.names)))
                )
            continue
        given.setdefault(canonical, []).append(name)
    certain = {c for c, w in given.items() if not all(may_be_omitted(args[n]) for n in w)}

    def by_option(group: tuple[str, ...]) -> list[str]:
        # The code's groups name the argument_spec's keys, which may be what the docs
        # call an alias (apt's `package` for `name`): compare by option.
        return list(dict.fromkeys(spec.names.get(n, n) for n in group))

    for group in spec.mutually_exclusive:
        both = [n for n in by_option(group) if n in certain]
        if len(both) > 1:
            problems.append(
                ArgProblem(
                    "exclusive",
                    both[1],
                    f"parameters are mutually exclusive: {'|'.join(group)}",
                )
            )
    if not check_required or spec.pass_through:
        # A pass-through module's own requirements are its backend's to judge.
        return problems
    # Defaults count from here on, as in ansible-core's validator.
    given_or_default = given.keys() | spec.defaults
    for name in sorted(spec.required):
        if name not in given:
            problems.append(ArgProblem("missing", name, f"missing required arguments: {name}"))
    for group in spec.required_one_of:
        if not any(n in given_or_default for n in by_option(group)):
            problems.append(
                ArgProblem(
                    "missing",
                    group[0],
                    f"one of the following is required: {', '.join(group)}",
                )
            )
    for group in spec.required_together:
        members = by_option(group)
        present = [n for n in members if n in given]
        if present and len(present) < len(members):
            problems.append(
                ArgProblem(
                    "missing",
                    group[0],
                    f"parameters are required together: {', '.join(group)}",
                )
            )
    return problems
