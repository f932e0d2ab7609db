"""Filters, tests and lookups for `Templar`, with ansible-core 2.19's semantics.

Jinja's own filters and tests (``int``, ``float``, ``string``, ``length``, ``list``,
``join``, ``map``, ``select``, ``selectattr``, ``min``, ``max``, ``sum``, ``items``,
``none``, ``string``, ``number``, ``mapping``, ``sequence``, ``iterable`` …) are
kept as they are; this module adds Ansible's and registers each under its short
name and its ``ansible.builtin.`` name.  Jinja's ``select``/``selectattr`` look tests
up by name in the environment, so ``select('failed')`` and
``selectattr('finished')`` use the tests defined here.

An error inside one of our filters or tests reaches the user as Ansible words it:
``The filter plugin 'ansible.builtin.<name>' failed: <message>`` (``test plugin``
for tests).  Lookups are plain functions ``(templar, terms, variables, kwargs) ->
list`` in `LOOKUPS`; `Templar.call_lookup` and `Templar.run_lookup` wrap them.

Deliberate differences from Ansible are marked "Differs from Ansible" below.
"""

from __future__ import annotations

import base64
import datetime
import functools
import glob
import hashlib
import itertools
import json
import math
import ntpath
import operator as _operator
import os
import re
import shlex
import subprocess
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from random import Random
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import jinja2
import yaml
from jinja2.filters import do_unique
from jinja2.runtime import Undefined
from jinja2.utils import pass_context, pass_environment

from .templating import (
    OMIT,
    LazyVars,
    TemplateError,
    UnsafeText,
    _ContextVars,
    trip_if_error_marker,
    type_name,
)

if TYPE_CHECKING:
    from jinja2.runtime import Context

    from .templating import Templar, _Environment

__all__ = ["FILTERS", "LOOKUPS", "TESTS", "FilterError", "install"]

Lookup = Callable[["Templar", list[Any], LazyVars, dict[str, Any]], list[Any]]
"""A lookup plugin: ``(templar, rendered terms, variables, keyword options) -> items``."""


class FilterError(Exception):
    """Raised by our filters, tests and lookups; the caller adds the plugin's name."""


def _templar(env: jinja2.Environment) -> Templar:
    """The `Templar` that owns `env` (filters that warn or draw random numbers need it)."""
    templar: Templar = env.templar  # type: ignore[attr-defined]
    return templar


def _text(value: Any) -> str:
    """Ansible's ``to_text(..., nonstring='simplerepr')``: bytes decoded, the rest ``str()``."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def _to_bytes(value: Any, encoding: str = "utf-8") -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode(encoding, "surrogateescape")


def _is_sequence(value: object) -> bool:
    """A list-like value: a sequence or set, but not a string or bytes."""
    return isinstance(value, Sequence | set | frozenset) and not isinstance(value, str | bytes)


def _plain(value: Any) -> Any:
    """Mappings as dicts and other collections as lists, for serializers."""
    if isinstance(value, Undefined):
        trip_if_error_marker(value)
        value._fail_with_undefined_error()
    if isinstance(value, str):
        return str(value)  # UnsafeText as plain str: libyaml's emitter wants exact str
    if isinstance(value, bytes | int | float | type(None)):
        return value
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items() if v is not OMIT}
    if isinstance(value, Collection):
        return [_plain(v) for v in value if v is not OMIT]
    return value


# =========================================================================== filters


@pass_environment
def default(
    env: jinja2.Environment, value: Any, default_value: Any = "", boolean: bool = False
) -> Any:
    """``default``/``d``: `default_value` if `value` is undefined (or falsy with `boolean`).

    A value whose rendering failed for another reason is not "undefined": its error
    is raised (as in Ansible 2.19).
    """
    if not isinstance(boolean, bool):
        raise FilterError(f"The 'boolean' argument must be a bool, not {type(boolean).__name__!r}")
    trip_if_error_marker(value)
    if isinstance(value, Undefined):
        return default_value
    if boolean and not value:
        return default_value
    return value


_TRUE_STRINGS: Final = frozenset({"yes", "on", "true", "1"})
_FALSE_STRINGS: Final = frozenset({"no", "off", "false", "0"})


@pass_environment
def to_bool(env: jinja2.Environment, value: Any) -> bool:
    """``bool``: yes/on/true/1 and no/off/false/0 (any case; also ints and bools).

    Anything else is False — true only if it equals 1 — with Ansible's deprecation
    warning.
    """
    check: Any = value
    if isinstance(value, str):
        check = value.lower()
    elif isinstance(value, int):  # bool too: str(True) is "True"
        check = str(value).lower()
    try:
        if check in _TRUE_STRINGS:
            return True
        if check in _FALSE_STRINGS:
            return False
        result = bool(check == 1)
    except TypeError:  # unhashable
        result = False
    _templar(env).warn(
        f"The `bool` filter coerced invalid value {value!r} ({type_name(value)}) to {result!r}."
    )
    return result


def to_json(value: Any, **kwargs: Any) -> str:
    """``to_json``: ``json.dumps`` (ASCII-escaped, keys in their order); datetimes as ISO 8601."""
    kwargs.pop("vault_to_text", None)
    kwargs.pop("preprocess_unsafe", None)
    kwargs.pop("profile", None)
    return json.dumps(_plain(value), default=_json_default, **kwargs)


def to_nice_json(value: Any, indent: int = 4, sort_keys: bool = True, **kwargs: Any) -> str:
    """``to_nice_json``: indented (4), sorted keys, ``", "`` → ``","`` separators."""
    kwargs.pop("separators", None)
    return to_json(value, indent=indent, sort_keys=sort_keys, separators=(",", ": "), **kwargs)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def from_json(value: Any, **kwargs: Any) -> Any:
    """``from_json``: ``json.loads``."""
    kwargs.pop("profile", None)
    return json.loads(value, **kwargs)


_SafeDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Dumper(_SafeDumper):  # type: ignore[valid-type,misc]
    """Safe YAML dumper that also writes mappings, tuples, sets and `UnsafeText`.

    libyaml's emitter (as Ansible uses when available) does not end a lone scalar
    with ``...``.
    """


_Dumper.add_multi_representer(str, yaml.representer.SafeRepresenter.represent_str)
_Dumper.add_multi_representer(Mapping, yaml.representer.SafeRepresenter.represent_dict)
_Dumper.add_multi_representer(tuple, yaml.representer.SafeRepresenter.represent_list)
_Dumper.add_multi_representer(frozenset, yaml.representer.SafeRepresenter.represent_list)
_Dumper.add_representer(set, yaml.representer.SafeRepresenter.represent_list)


class _Loader(_SafeLoader):  # type: ignore[valid-type,misc]
    """Safe YAML loader that reads Ansible's ``!unsafe`` tag as `UnsafeText`."""


def _construct_unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> UnsafeText:
    return UnsafeText(loader.construct_scalar(node))  # type: ignore[arg-type]


_Loader.add_constructor("!unsafe", _construct_unsafe)


def load_vars_yaml(stream: Any) -> Any:
    """A variables file (``vars_files``, ``include_vars``): safe YAML with ``!unsafe``."""
    return yaml.load(stream, Loader=_Loader)


def to_yaml(value: Any, *args: Any, default_flow_style: bool | None = None, **kwargs: Any) -> str:
    """``to_yaml``: terse (flow style for inner collections), keys sorted, Unicode kept."""
    text: str = yaml.dump(
        _plain(value),
        Dumper=_Dumper,
        allow_unicode=True,
        default_flow_style=default_flow_style,
        **kwargs,
    )
    return text


def to_nice_yaml(value: Any, indent: int = 4, *args: Any, **kwargs: Any) -> str:
    """``to_nice_yaml``: block style, indented 4."""
    kwargs.setdefault("default_flow_style", False)
    return to_yaml(value, indent=indent, **kwargs)


@pass_environment
def from_yaml(env: jinja2.Environment, value: Any) -> Any:
    """``from_yaml``: safe-load one document; ``None`` → ``None``; non-strings pass (warning)."""
    if value is None:
        return None
    if isinstance(value, str):
        return yaml.load(value, Loader=_Loader)
    _templar(env).warn(
        f"The from_yaml filter ignored non-string input of type {type(value).__name__!r}."
    )
    return value


@pass_environment
def from_yaml_all(env: jinja2.Environment, value: Any) -> Any:
    """``from_yaml_all``: every document, as a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return list(yaml.load_all(value, Loader=_Loader))
    _templar(env).warn(
        f"The from_yaml_all filter ignored non-string input of type {type(value).__name__!r}."
    )
    return value


def _regex_flags(ignorecase: Any, multiline: Any) -> int:
    flags = 0
    if ignorecase:
        flags |= re.IGNORECASE
    if multiline:
        flags |= re.MULTILINE
    return flags


def regex_search(value: Any, regex: str, *args: str, **kwargs: Any) -> Any:
    """``regex_search``: the match, or the groups named by ``'\\1'``/``'\\g<name>'``; else None."""
    groups: list[int | str] = []
    for arg in args:
        if named := re.match(r"\\g<(\S+)>", arg):
            groups.append(named.group(1))
        elif numbered := re.match(r"\\(\d+)", arg):
            groups.append(int(numbered.group(1)))
        else:
            raise FilterError("Unknown argument")
    flags = _regex_flags(kwargs.get("ignorecase"), kwargs.get("multiline"))
    match = re.search(regex, _text(value), flags)
    if match is None:
        return None
    if not groups:
        return match.group()
    return [match.group(group) for group in groups]


def regex_replace(
    value: Any = "",
    pattern: str = "",
    replacement: str = "",
    ignorecase: bool = False,
    multiline: bool = False,
    count: int = 0,
    mandatory_count: int = 0,
) -> str:
    """``regex_replace``: ``re.subn``; `mandatory_count` demands that many substitutions."""
    compiled = re.compile(pattern, _regex_flags(ignorecase, multiline))
    text = _text(value)
    output, substitutions = compiled.subn(replacement, text, count=count)
    if mandatory_count and mandatory_count != substitutions:
        # Differs from Ansible, whose message prints the `count` argument here.
        raise FilterError(
            f"'{pattern}' should match {mandatory_count} times, "
            f"but matches {substitutions} times in '{text}'"
        )
    return output


def regex_findall(value: Any, regex: str, multiline: bool = False, ignorecase: bool = False) -> Any:
    """``regex_findall``: ``re.findall``."""
    return re.findall(regex, _text(value), _regex_flags(ignorecase, multiline))


def regex_escape(value: Any, re_type: str = "python") -> str:
    """``regex_escape``: for Python regexes, or POSIX basic ones."""
    text = _text(value)
    if re_type == "python":
        return re.escape(text)
    if re_type == "posix_basic":
        return re.sub(r"([].[^$*\\])", r"\\\1", text)
    if re_type == "posix_extended":
        raise FilterError(f"Regex type ({re_type}) not yet implemented")
    raise FilterError(f"Invalid regex type ({re_type})")


def _path_filter(function: Callable[[str], Any]) -> Callable[[Any], Any]:
    @functools.wraps(function)
    def path_filter(value: Any) -> Any:
        return function(_text(value))

    return path_filter


def path_join(paths: Any) -> str:
    """``path_join``: ``os.path.join`` of a list (or of one string)."""
    if isinstance(paths, str):
        return str(os.path.join(paths))
    if _is_sequence(paths):
        return str(os.path.join(*paths))
    raise FilterError(f"|path_join expects string or sequence, got {type(paths)} instead.")


def commonpath(paths: Any) -> str:
    """``commonpath``: ``os.path.commonpath``."""
    if not _is_sequence(paths):
        raise FilterError(f"|commonpath expects sequence, got {type(paths)} instead.")
    return str(os.path.commonpath(paths))


def fileglob(pathname: Any) -> list[str]:
    """``fileglob`` (filter): regular files matching the pattern on the controller."""
    return [path for path in glob.glob(_text(pathname)) if os.path.isfile(path)]


_LIST_MERGE: Final = ("replace", "keep", "append", "prepend", "append_rp", "prepend_rp")


def _merge_hash(low: Any, high: Any, recursive: bool, list_merge: str) -> dict[Any, Any]:
    """Ansible's ``merge_hash``: `high` over `low`, recursing into dicts if asked."""
    if list_merge not in _LIST_MERGE:
        raise FilterError(
            "merge_hash: 'list_merge' argument can only be equal to 'replace', 'keep', "
            "'append', 'prepend', 'append_rp' or 'prepend_rp'"
        )
    if not (isinstance(low, Mapping) and isinstance(high, Mapping)):
        raise FilterError(
            "failed to combine variables, expected dicts but got a "
            f"'{type_name(low)}' and a '{type_name(high)}'."
        )
    merged = dict(low)
    for key, high_value in high.items():
        if key not in merged:
            merged[key] = high_value
            continue
        low_value = merged[key]
        if isinstance(low_value, Mapping) and isinstance(high_value, Mapping):
            merged[key] = (
                _merge_hash(low_value, high_value, recursive, list_merge)
                if recursive
                else high_value
            )
        elif isinstance(low_value, list) and isinstance(high_value, list):
            if list_merge == "replace":
                merged[key] = high_value
            elif list_merge == "append":
                merged[key] = low_value + high_value
            elif list_merge == "prepend":
                merged[key] = high_value + low_value
            elif list_merge == "append_rp":
                merged[key] = [v for v in low_value if v not in high_value] + high_value
            elif list_merge == "prepend_rp":
                merged[key] = high_value + [v for v in low_value if v not in high_value]
            # "keep": the low-priority list stays.
        else:
            merged[key] = high_value
    return merged


def combine(*terms: Any, **kwargs: Any) -> Any:
    """``combine``: later dicts win; ``recursive=True`` merges nested dicts; ``list_merge``."""
    recursive = kwargs.pop("recursive", False)
    list_merge = kwargs.pop("list_merge", "replace")
    if kwargs:
        raise FilterError("'recursive' and 'list_merge' are the only valid keyword arguments")
    dicts = flatten(terms, levels=1)
    if not dicts:
        return {}
    if len(dicts) == 1:
        return dicts[0]
    # Fold from the highest priority down, as Ansible does: `append_rp` and
    # `prepend_rp` are not associative, so the direction matters.
    result = dicts[-1]
    for lower in reversed(dicts[:-1]):
        result = _merge_hash(lower, result, recursive, list_merge)
    return result


def dict2items(
    value: Any, key_name: str = "key", value_name: str = "value"
) -> list[dict[str, Any]]:
    """``dict2items``: ``[{key: k, value: v}, …]`` in the dict's order."""
    if not isinstance(value, Mapping):
        raise FilterError(f"dict2items requires a dictionary, got {type(value)} instead.")
    return [{key_name: key, value_name: value[key]} for key in value]


def items2dict(value: Any, key_name: str = "key", value_name: str = "value") -> dict[Any, Any]:
    """``items2dict``: the reverse of ``dict2items``."""
    if not _is_sequence(value):
        raise FilterError(f"items2dict requires a list, got {type(value)} instead.")
    try:
        return {item[key_name]: item[value_name] for item in value}
    except KeyError:
        raise FilterError(
            f"items2dict requires each dictionary in the list to contain the keys "
            f"'{key_name}' and '{value_name}', got {value} instead."
        ) from None
    except TypeError:
        raise FilterError(
            f"items2dict requires a list of dictionaries, got {value} instead."
        ) from None


def flatten(value: Any, levels: int | None = None, skip_nulls: bool = True) -> list[Any]:
    """``flatten``: nested lists into one (`levels` deep); drops None/'None'/'null' by default."""
    result: list[Any] = []
    for element in value:
        if (
            skip_nulls
            and isinstance(element, str | type(None))
            and element in (None, "None", "null")
        ):
            continue
        if _is_sequence(element):
            if levels is None:
                result.extend(flatten(element, skip_nulls=skip_nulls))
            elif levels >= 1:
                result.extend(flatten(element, levels=int(levels) - 1, skip_nulls=skip_nulls))
            else:
                result.append(element)
        else:
            result.append(element)
    return result


def _distinct(values: Iterable[Any]) -> list[Any]:
    """Values in first-seen order without repeats (hashable or not)."""
    seen: set[Any] = set()
    unhashable: list[Any] = []
    result: list[Any] = []
    for item in values:
        try:
            if item in seen:
                continue
            seen.add(item)
        except TypeError:
            if item in unhashable:
                continue
            unhashable.append(item)
        result.append(item)
    return result


@pass_environment
def unique(
    env: jinja2.Environment, value: Any, case_sensitive: bool | None = None, attribute: Any = None
) -> list[Any]:
    """``unique``: Jinja's (case-insensitive unless asked), or first-seen order for dicts/lists."""
    try:
        return list(do_unique(env, value, case_sensitive=bool(case_sensitive), attribute=attribute))
    except TypeError as error:
        if case_sensitive is False or attribute:
            raise FilterError(
                "Jinja2's unique filter failed and we cannot fall back to Ansible's version "
                "as it does not support the parameters supplied."
            ) from error
        return _distinct(value)


# Differs from Ansible: Ansible builds these four with Python sets, so the order of
# the result is arbitrary (and, for strings, changes from run to run with hash
# randomisation).  We keep the first-seen order, which is one of the orders Ansible
# may produce, and makes plans and tests reproducible.


def union(a: Any, b: Any) -> list[Any]:
    """``union``: elements of either list, without repeats."""
    return _distinct(itertools.chain(a, b))


def intersect(a: Any, b: Any) -> list[Any]:
    """``intersect``: elements of `a` also in `b`, without repeats."""
    others = list(b)
    return [item for item in _distinct(a) if item in others]


def difference(a: Any, b: Any) -> list[Any]:
    """``difference``: elements of `a` not in `b`, without repeats."""
    others = list(b)
    return [item for item in _distinct(a) if item not in others]


def symmetric_difference(a: Any, b: Any) -> list[Any]:
    """``symmetric_difference``: elements in exactly one of the lists."""
    first, second = list(a), list(b)
    return [item for item in union(first, second) if (item in first) != (item in second)]


def ternary(value: Any, true_val: Any, false_val: Any, none_val: Any = None) -> Any:
    """``ternary``: `true_val` if `value` is truthy, else `false_val` (`none_val` for None)."""
    if value is None and none_val is not None:
        return none_val
    return true_val if value else false_val


def quote(value: Any) -> str:
    """``quote``: shell-quoted (``None`` → ``''``)."""
    return shlex.quote("" if value is None else _text(value))


def b64encode(value: Any, encoding: str = "utf-8", urlsafe: bool = False) -> str:
    """``b64encode``: of the text encoded as `encoding`."""
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return encode(_to_bytes(value, encoding)).decode("ascii")


def b64decode(value: Any, encoding: str = "utf-8", urlsafe: bool = False) -> str:
    """``b64decode``: decoded bytes read as `encoding`."""
    decode = base64.urlsafe_b64decode if urlsafe else base64.b64decode
    return decode(_to_bytes(value)).decode(encoding, "surrogateescape")


def get_hash(value: Any, hashtype: str = "sha1") -> str:
    """``hash``: hex digest by any ``hashlib`` algorithm name."""
    try:
        digest = hashlib.new(hashtype)
    except ValueError as error:
        raise FilterError(str(error)) from error
    digest.update(_to_bytes(value))
    return digest.hexdigest()


def checksum(value: Any) -> str:
    """``checksum``/``sha1``: SHA-1 hex digest, as Ansible checksums files."""
    return hashlib.sha1(_to_bytes(value)).hexdigest()


def md5(value: Any) -> str:
    """``md5``: MD5 hex digest."""
    return hashlib.md5(_to_bytes(value)).hexdigest()


_ANSIBLE_UUID_NAMESPACE: Final = uuid.UUID("361E6D51-FAEC-444A-9079-341386DA8E2E")


def to_uuid(value: Any, namespace: Any = _ANSIBLE_UUID_NAMESPACE) -> str:
    """``to_uuid``: UUID v5 of the text in Ansible's namespace (or `namespace`)."""
    try:
        space = namespace if isinstance(namespace, uuid.UUID) else uuid.UUID(str(namespace))
    except ValueError as error:
        raise FilterError(f"Invalid value '{namespace}' for 'namespace': {error}") from error
    return str(uuid.uuid5(space, _text(value)))


def mandatory(value: Any, msg: str | None = None) -> Any:
    """``mandatory``: fail if `value` is undefined (with `msg` if given)."""
    trip_if_error_marker(value)
    if isinstance(value, Undefined):
        if msg is not None:
            raise FilterError(str(msg))
        name = value._undefined_name
        label = f"{name!r} " if name is not None else ""
        raise FilterError(f"Mandatory variable {label}not defined.")
    return value


def type_debug(value: Any) -> str:
    """``type_debug``: the Python type name (variable mappings say ``dict``)."""
    if isinstance(value, LazyVars):
        return "dict"
    return type_name(value)


def split(value: Any, sep: str | None = None, maxsplit: int = -1) -> list[str]:
    """``split``: ``str.split``."""
    return _text(value).split(sep, maxsplit)


@pass_environment
def random_filter(
    env: jinja2.Environment,
    end: Any,
    start: Any = None,
    step: Any = None,
    seed: Any = None,
) -> Any:
    """``random``: a number below `end` or an element of a sequence.

    Without `seed` it draws from the Templar's injected generator (Ansible uses
    ``SystemRandom``), so runs are reproducible under test.
    """
    generator = _templar(env).rng if seed is None else Random(seed)
    if isinstance(end, int) and not isinstance(end, bool):
        return generator.randrange(start or 0, end, step or 1)
    if hasattr(end, "__iter__"):
        if start or step:
            raise FilterError("start and step can only be used with integer values")
        return generator.choice(list(end) if not isinstance(end, Sequence) else end)
    raise FilterError("random can only be used on sequences and integers")


@pass_environment
def shuffle(env: jinja2.Environment, value: Any, seed: Any = None) -> Any:
    """``shuffle``: a shuffled copy (the Templar's generator unless `seed` is given)."""
    try:
        items = list(value)
        (Random(seed) if seed else _templar(env).rng).shuffle(items)
    except Exception:  # Ansible returns the input on any failure
        return value
    return items


_SIZE_RANGES: Final = {
    "Y": 1 << 80,
    "Z": 1 << 70,
    "E": 1 << 60,
    "P": 1 << 50,
    "T": 1 << 40,
    "G": 1 << 30,
    "M": 1 << 20,
    "K": 1 << 10,
    "B": 1,
}
_UNIT_NAMES: Final = {
    "B": (("byte", "B"), ("bit", "b")),
    "K": (("kilobyte", "KB"), ("kilobit", "Kb")),
    "M": (("megabyte", "MB"), ("megabit", "Mb")),
    "G": (("gigabyte", "GB"), ("gigabit", "Gb")),
    "T": (("terabyte", "TB"), ("terabit", "Tb")),
    "P": (("petabyte", "PB"), ("petabit", "Pb")),
    "E": (("exabyte", "EB"), ("exabit", "Eb")),
    "Z": (("zetabyte", "ZB"), ("zetabit", "Zb")),
    "Y": (("yottabyte", "YB"), ("yottabit", "Yb")),
}


def human_readable(size: Any, isbits: bool = False, unit: str | None = None) -> str:
    """``human_readable``: ``'1.00 KB'``, ``'2.00 Kb'`` … (powers of 1024)."""
    try:
        suffix, limit = "B", 1
        for suffix, limit in sorted(_SIZE_RANGES.items(), key=lambda item: -item[1]):
            if (unit is None and size >= limit) or (unit is not None and unit.upper() == suffix[0]):
                break
        base = "bits" if isbits else "Bytes"
        label = suffix + base[0] if limit != 1 else base
        return f"{size / limit:.2f} {label}"
    except TypeError as error:
        raise FilterError(f"human_readable() failed on bad input: {error}") from error
    except Exception as error:
        raise FilterError(f"human_readable() can't interpret the input: {error}") from error


def human_to_bytes(size: Any, default_unit: str | None = None, isbits: bool = False) -> int:
    """``human_to_bytes``: ``'1.5 MB'`` → 1572864; bits with `isbits` (``'1Mb'``)."""
    try:
        return _human_to_bytes(size, default_unit, isbits)
    except TypeError as error:
        raise FilterError(f"human_to_bytes() failed on bad input: {error}") from error
    except ValueError as error:
        raise FilterError(f"human_to_bytes() can't interpret the input: {error}") from error


def _human_to_bytes(size: Any, default_unit: str | None, isbits: bool) -> int:
    match = re.search(r"^([0-9]*\.?[0-9]+)(?:\s*([A-Za-z]+))?\s*$", str(size))
    if match is None:
        raise ValueError(f"human_to_bytes() can't interpret following string: {size}")
    number = float(match.group(1))
    unit = match.group(2) or default_unit
    if unit is None:
        return round(number)
    range_key = unit[0].upper()
    if range_key not in _SIZE_RANGES:
        raise ValueError(
            f"human_to_bytes() failed to convert {size} (unit = {unit}). "
            f"The suffix must be one of {', '.join(_SIZE_RANGES)}"
        )
    if len(unit) > 1:
        unit_class = "b" if isbits else "B"
        expected = (
            f"expect {unit_class} or {'bit' if isbits else 'byte'}"
            if range_key == "B"
            else f"expect {range_key}{unit_class} or {range_key}"
        )
        name, short = _UNIT_NAMES[range_key][1 if isbits else 0]
        if unit.lower() != name and unit != short:
            raise ValueError(
                f"human_to_bytes() failed to convert {size}. "
                f"Value is not a valid string ({expected})"
            )
    return round(number * _SIZE_RANGES[range_key])


@pass_environment
def extract(env: jinja2.Environment, item: Any, container: Any, morekeys: Any = None) -> Any:
    """``extract``: ``container[item]`` (then ``[morekeys…]``), undefined if missing."""
    keys = [item] + (
        morekeys if isinstance(morekeys, list) else [] if morekeys is None else [morekeys]
    )
    value = container
    for key in keys:
        if isinstance(value, Undefined):
            break
        value = env.getitem(value, key)
    return value


def subelements(value: Any, subelement: Any, skip_missing: bool = False) -> list[tuple[Any, Any]]:
    """``subelements`` (filter): ``(element, sub)`` for each `sub` of each element's list."""
    if isinstance(value, Mapping):
        elements = list(value.values())
    elif isinstance(value, list):
        elements = list(value)
    else:
        raise FilterError("obj must be a list of dicts or a nested dict")
    if isinstance(subelement, list):
        path = list(subelement)
    elif isinstance(subelement, str):
        path = subelement.split(".")
    else:
        raise FilterError("subelements must be a list or a string")
    results: list[tuple[Any, Any]] = []
    for element in elements:
        values = element
        for key in path:
            try:
                values = values[key]
            except KeyError:
                if skip_missing:
                    values = []
                    break
                raise FilterError(
                    f"could not find {key!r} key in iterated item {values!r}"
                ) from None
            except TypeError:
                raise FilterError(
                    f"the key {key} should point to a dictionary, got '{values}'"
                ) from None
        if not isinstance(values, list):
            raise FilterError(f"the key {path[-1]!r} should point to a list, got {values!r}")
        results.extend((element, sub) for sub in values)
    return results


def strftime(string_format: str, second: Any = None, utc: bool = False) -> str:
    """``strftime``: format the epoch time `second` (default now), local or UTC."""
    seconds: float | None = None
    if second is not None:
        try:
            seconds = float(second)
        except (TypeError, ValueError):
            raise FilterError(f"Invalid value for epoch value ({second})") from None
    clock = time.gmtime if utc else time.localtime
    return time.strftime(string_format, clock(seconds))


def to_datetime(value: Any, format: str = "%Y-%m-%d %H:%M:%S") -> datetime.datetime:
    """``to_datetime``: ``datetime.strptime``."""
    return datetime.datetime.strptime(_text(value), format)


_URL_PARTS: Final = (
    "fragment",
    "hostname",
    "netloc",
    "password",
    "path",
    "port",
    "query",
    "scheme",
    "username",
)


def url_split(value: Any, query: str = "") -> Any:
    """``urlsplit``: the URL's parts as a dict, or the one named by `query`."""
    parts = urlsplit(_text(value))
    results = {name: getattr(parts, name) for name in _URL_PARTS}
    if query:
        if query not in results:
            raise FilterError(f"urlsplit: unknown URL component: {query}")
        return results[query]
    return results


def logarithm(value: Any, base: float = math.e) -> float:
    """``log``: natural logarithm or base `base`."""
    try:
        return math.log10(value) if base == 10 else math.log(value, base)
    except TypeError as error:
        raise FilterError("log() can only be used on numbers") from error


def power(value: Any, exponent: Any) -> float:
    """``pow``: ``math.pow``."""
    try:
        return math.pow(value, exponent)
    except TypeError as error:
        raise FilterError("pow() can only be used on numbers") from error


def inverse_power(value: Any, base: float = 2) -> float:
    """``root``: square root or `base`-th root."""
    try:
        return math.sqrt(value) if base == 2 else math.pow(value, 1.0 / float(base))
    except (TypeError, ValueError) as error:
        raise FilterError("root() can only be used on numbers") from error


def _product(*iterables: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
    return list(itertools.product(*iterables, **kwargs))


def _permutations(value: Any, r: int | None = None) -> list[tuple[Any, ...]]:
    return list(itertools.permutations(value, r))


def _combinations(value: Any, r: int) -> list[tuple[Any, ...]]:
    return list(itertools.combinations(value, r))


def _zip(*iterables: Any) -> list[tuple[Any, ...]]:
    # A list rather than Python's zip object, so it can be indexed in templates.
    return list(zip(*iterables, strict=False))


def _zip_longest(*iterables: Any, fillvalue: Any = None) -> list[tuple[Any, ...]]:
    return list(itertools.zip_longest(*iterables, fillvalue=fillvalue))


FILTERS: Final[dict[str, Callable[..., Any]]] = {
    "default": default,
    "d": default,
    "bool": to_bool,
    "to_json": to_json,
    "to_nice_json": to_nice_json,
    "from_json": from_json,
    "to_yaml": to_yaml,
    "to_nice_yaml": to_nice_yaml,
    "from_yaml": from_yaml,
    "from_yaml_all": from_yaml_all,
    "regex_search": regex_search,
    "regex_replace": regex_replace,
    "regex_findall": regex_findall,
    "regex_escape": regex_escape,
    "basename": _path_filter(os.path.basename),
    "dirname": _path_filter(os.path.dirname),
    "expanduser": _path_filter(os.path.expanduser),
    "expandvars": _path_filter(os.path.expandvars),
    "realpath": _path_filter(os.path.realpath),
    "relpath": _path_filter(os.path.relpath),
    "normpath": _path_filter(os.path.normpath),
    "splitext": _path_filter(os.path.splitext),
    "win_basename": _path_filter(ntpath.basename),
    "win_dirname": _path_filter(ntpath.dirname),
    "win_splitdrive": _path_filter(ntpath.splitdrive),
    "path_join": path_join,
    "commonpath": commonpath,
    "fileglob": fileglob,
    "combine": combine,
    "dict2items": dict2items,
    "items2dict": items2dict,
    "zip": _zip,
    "zip_longest": _zip_longest,
    "product": _product,
    "permutations": _permutations,
    "combinations": _combinations,
    "flatten": flatten,
    "unique": unique,
    "union": union,
    "intersect": intersect,
    "difference": difference,
    "symmetric_difference": symmetric_difference,
    "ternary": ternary,
    "quote": quote,
    "b64encode": b64encode,
    "b64decode": b64decode,
    "hash": get_hash,
    "checksum": checksum,
    "sha1": checksum,
    "md5": md5,
    "to_uuid": to_uuid,
    "mandatory": mandatory,
    "type_debug": type_debug,
    "split": split,
    "random": random_filter,
    "shuffle": shuffle,
    "human_readable": human_readable,
    "human_to_bytes": human_to_bytes,
    "extract": extract,
    "subelements": subelements,
    "strftime": strftime,
    "to_datetime": to_datetime,
    "urlsplit": url_split,
    "log": logarithm,
    "pow": power,
    "root": inverse_power,
}
"""Ansible's filters by short name (Jinja's builtins are kept alongside)."""


# =========================================================================== tests


def _result_dict(name: str, result: Any) -> Mapping[str, Any]:
    if not isinstance(result, Mapping):
        raise FilterError(f"The '{name}' test expects a dictionary")
    return result


def failed(result: Any) -> bool:
    """``failed``/``failure``: the task result has a true ``failed``."""
    return bool(_result_dict("failed", result).get("failed"))


def succeeded(result: Any) -> bool:
    """``succeeded``/``success``/``successful``: not ``failed``."""
    return not bool(_result_dict("failed", result).get("failed"))


def unreachable(result: Any) -> bool:
    """``unreachable``: the result has a true ``unreachable``."""
    return bool(_result_dict("unreachable", result).get("unreachable"))


def reachable(result: Any) -> bool:
    """``reachable``: not ``unreachable``."""
    return not unreachable(result)


def timedout(result: Any) -> bool:
    """``timedout``: the result carries ``timedout.period``."""
    value = _result_dict("timedout", result).get("timedout")
    return bool(value and value.get("period"))


def changed(result: Any) -> bool:
    """``changed``/``change``: ``changed``, or any changed item of a loop's ``results``."""
    result = _result_dict("changed", result)
    if "changed" in result:
        return bool(result["changed"])
    items = result.get("results")
    if isinstance(items, list) and items and isinstance(items[0], Mapping):
        return any(item.get("changed") for item in items)
    return False


def skipped(result: Any) -> bool:
    """``skipped``/``skip``: the result has a true ``skipped``."""
    return bool(_result_dict("skipped", result).get("skipped"))


def _async_state(env: jinja2.Environment, key: str, result: Any) -> bool:
    """``finished``/``started`` (reference §3.4): the flag, or True with a warning if absent."""
    result = _result_dict(key, result)
    if key in result:
        return bool(result[key])
    _templar(env).warn(f"The '{key}' test expects an async task, but a non-async task was tested")
    return True


@pass_environment
def finished(env: jinja2.Environment, result: Any) -> bool:
    """``finished``: an async status says ``finished``; True (warning) for non-async results."""
    return _async_state(env, "finished", result)


@pass_environment
def started(env: jinja2.Environment, result: Any) -> bool:
    """``started``: an async status says ``started``; True (warning) for non-async results."""
    return _async_state(env, "started", result)


def regex(
    value: Any = "",
    pattern: str = "",
    ignorecase: bool = False,
    multiline: bool = False,
    match_type: str = "search",
) -> bool:
    """``regex``: ``re.search`` (or `match_type`: ``match``, ``fullmatch``) as a boolean."""
    compiled = re.compile(pattern, _regex_flags(ignorecase, multiline))
    method = getattr(compiled, match_type, compiled.search)
    return bool(method(_text(value)))


def match(value: Any, pattern: str = "", ignorecase: bool = False, multiline: bool = False) -> bool:
    """``match``: ``re.match`` (anchored at the start)."""
    return regex(value, pattern, ignorecase, multiline, "match")


def search(
    value: Any, pattern: str = "", ignorecase: bool = False, multiline: bool = False
) -> bool:
    """``search``: ``re.search``."""
    return regex(value, pattern, ignorecase, multiline, "search")


# --- versions: distutils' LooseVersion/StrictVersion and SemVer 2.0, as Ansible compares them.


def _loose_key(text: str) -> list[int | str]:
    parts: list[int | str] = []
    for part in re.split(r"(\d+|[a-z]+|\.)", text):
        if not part or part == ".":
            continue
        parts.append(int(part) if part.isdigit() else part)
    return parts


_STRICT: Final = re.compile(r"^(\d+)\.(\d+)(\.(\d+))?([ab](\d+))?$", re.ASCII)


def _strict_key(text: str) -> tuple[tuple[int, int, int], tuple[int, str, int]]:
    found = _STRICT.match(text)
    if found is None:
        raise ValueError(f"invalid version number '{text}'")
    major, minor, _, patch, pre, pre_number = found.groups()
    release = (int(major), int(minor), int(patch or 0))
    # A release sorts after its pre-releases: (1,) beats (0, 'a'|'b', n).
    prerelease = (0, pre[0], int(pre_number)) if pre else (1, "", 0)
    return release, prerelease


_SEMVER: Final = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


class _SemanticKey:
    """SemVer 2.0 precedence: build metadata ignored, a pre-release below its release."""

    def __init__(self, text: str) -> None:
        found = _SEMVER.match(text)
        if found is None:
            raise ValueError(f"invalid semantic version '{text}'")
        self.core = tuple(int(part) for part in found.group(1, 2, 3))
        self.prerelease: tuple[tuple[int, int | str], ...] = tuple(
            (0, int(part)) if part.isdigit() else (1, part)
            for part in (found.group(4).split(".") if found.group(4) else ())
        )

    def _key(self) -> tuple[Any, ...]:
        # No pre-release sorts above any pre-release of the same core version.
        return (self.core, 1, ()) if not self.prerelease else (self.core, 0, self.prerelease)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _SemanticKey) and self._key() == other._key()

    def __lt__(self, other: _SemanticKey) -> bool:
        return self._key() < other._key()

    def __le__(self, other: _SemanticKey) -> bool:
        return self._key() <= other._key()

    def __gt__(self, other: _SemanticKey) -> bool:
        return self._key() > other._key()

    def __ge__(self, other: _SemanticKey) -> bool:
        return self._key() >= other._key()

    __hash__ = None  # type: ignore[assignment]


def _pep440_key(text: str) -> Any:
    try:
        from packaging.version import Version
    except ImportError:  # pragma: no cover - packaging is nearly always there
        raise FilterError(
            "The pep440 version_type requires the Python 'packaging' library"
        ) from None
    return Version(text)


_VERSION_TYPES: Final[dict[str, Callable[[str], Any]]] = {
    "loose": _loose_key,
    "strict": _strict_key,
    "semver": _SemanticKey,
    "semantic": _SemanticKey,
    "pep440": _pep440_key,
}
_VERSION_OPERATORS: Final = {
    "==": "eq",
    "=": "eq",
    "eq": "eq",
    "<": "lt",
    "lt": "lt",
    "<=": "le",
    "le": "le",
    ">": "gt",
    "gt": "gt",
    ">=": "ge",
    "ge": "ge",
    "!=": "ne",
    "<>": "ne",
    "ne": "ne",
}


def version_compare(
    value: Any,
    version: Any,
    operator: str = "eq",
    strict: Any = None,
    version_type: str | None = None,
) -> bool:
    """``version``/``version_compare``: compare two version strings.

    `version_type` is ``loose`` (default), ``strict``, ``semver``/``semantic`` or
    ``pep440``; ``strict=true`` means ``strict``.
    """
    if strict is not None and version_type is not None:
        raise FilterError("Cannot specify both 'strict' and 'version_type'")
    if not value:
        raise FilterError("Input version value cannot be empty")
    if not version:
        raise FilterError("Version parameter to compare against cannot be empty")
    kind = "strict" if strict else version_type or "loose"
    if kind not in _VERSION_TYPES:
        raise FilterError(
            f"Invalid version type ({version_type}). Must be one of "
            f"{', '.join(map(repr, _VERSION_TYPES))}"
        )
    if operator not in _VERSION_OPERATORS:
        raise FilterError(
            f"Invalid operator type ({operator}). Must be one of "
            f"{', '.join(map(repr, _VERSION_OPERATORS))}"
        )
    key = _VERSION_TYPES[kind]
    compare = getattr(_operator, _VERSION_OPERATORS[operator])
    try:
        return bool(compare(key(_text(value)), key(_text(version))))
    except Exception as error:
        raise FilterError(f"Version comparison failed: {error}") from error


def truthy(value: Any, convert_bool: bool = False) -> bool:
    """``truthy``: Python truth, after bool-string conversion with `convert_bool`."""
    if convert_bool:
        check = value.lower() if isinstance(value, str) else value
        if isinstance(check, str | int | float) and (
            check in _TRUE_STRINGS or check in (1, 1.0, True)
        ):
            return True
        if isinstance(check, str | int | float) and (
            check in _FALSE_STRINGS or check in (0, 0.0, False)
        ):
            return False
    return bool(value)


def falsy(value: Any, convert_bool: bool = False) -> bool:
    """``falsy``: not ``truthy``."""
    return not truthy(value, convert_bool=convert_bool)


def subset(a: Any, b: Any) -> bool:
    """``subset``: every element of `a` is in `b`."""
    return set(a) <= set(b)


def superset(a: Any, b: Any) -> bool:
    """``superset``: every element of `b` is in `a`."""
    return set(a) >= set(b)


def contains(seq: Any, value: Any) -> bool:
    """``contains``: `value` in `seq` (``in`` usable from ``select``/``selectattr``)."""
    return value in seq


def is_nan(value: Any) -> bool:
    """``nan``: a float NaN (False for non-numbers)."""
    try:
        return math.isnan(value)
    except TypeError:
        return False


def defined(value: Any) -> bool:
    """``defined``: not undefined (a failed rendering raises its error instead)."""
    trip_if_error_marker(value)
    return not isinstance(value, Undefined)


def undefined(value: Any) -> bool:
    """``undefined``: the opposite of ``defined``."""
    return not defined(value)


def _path_test(function: Callable[[str], bool]) -> Callable[[Any], bool]:
    @functools.wraps(function)
    def path_test(value: Any) -> bool:
        return function(_text(value))

    return path_test


def _same_file(a: Any, b: Any) -> bool:
    return os.path.samefile(_text(a), _text(b))


TESTS: Final[dict[str, Callable[..., Any]]] = {
    "failed": failed,
    "failure": failed,
    "succeeded": succeeded,
    "success": succeeded,
    "successful": succeeded,
    "reachable": reachable,
    "unreachable": unreachable,
    "timedout": timedout,
    "changed": changed,
    "change": changed,
    "skipped": skipped,
    "skip": skipped,
    "finished": finished,
    "started": started,
    "match": match,
    "search": search,
    "regex": regex,
    "version": version_compare,
    "version_compare": version_compare,
    "any": any,
    "all": all,
    "truthy": truthy,
    "falsy": falsy,
    "subset": subset,
    "issubset": subset,
    "superset": superset,
    "issuperset": superset,
    "contains": contains,
    "nan": is_nan,
    "isnan": is_nan,
    "defined": defined,
    "undefined": undefined,
    "directory": _path_test(os.path.isdir),
    "is_dir": _path_test(os.path.isdir),
    "file": _path_test(os.path.isfile),
    "is_file": _path_test(os.path.isfile),
    "link": _path_test(os.path.islink),
    "is_link": _path_test(os.path.islink),
    "exists": _path_test(os.path.exists),
    "link_exists": _path_test(os.path.lexists),
    "abs": _path_test(os.path.isabs),
    "is_abs": _path_test(os.path.isabs),
    "same_file": _same_file,
    "is_same_file": _same_file,
    "mount": _path_test(os.path.ismount),
    "is_mount": _path_test(os.path.ismount),
}
"""Ansible's tests by short name (Jinja's builtins are kept alongside)."""


# =========================================================================== lookups


def _flatten_once(terms: Iterable[Any]) -> list[Any]:
    """Ansible's ``LookupBase._flatten``: lists and tuples among the terms are spliced in."""
    result: list[Any] = []
    for term in terms:
        if isinstance(term, list | tuple):
            result.extend(term)
        else:
            result.append(term)
    return result


def _search_paths(templar: Templar, variables: LazyVars) -> list[Path]:
    paths = variables.get("ansible_search_path") if "ansible_search_path" in variables else None
    if isinstance(paths, list) and paths:
        return [templar.basedir / str(path) for path in paths]
    return [templar.basedir]


def _candidates(templar: Templar, variables: LazyVars, subdir: str | None, name: str) -> list[Path]:
    """Where a file is looked for: as is if absolute; else ``<path>/<subdir>/name``,
    then ``<path>/name``, for each search path (``ansible_search_path`` or the base)."""
    candidate = Path(os.path.expanduser(name))
    if candidate.is_absolute():
        return [candidate]
    return [
        path
        for base in _search_paths(templar, variables)
        for path in ([base / subdir / candidate] if subdir else []) + [base / candidate]
    ]


def _find_file(templar: Templar, variables: LazyVars, subdir: str | None, name: str) -> Path | None:
    """The first existing `_candidates` path, or None."""
    return next(
        (path for path in _candidates(templar, variables, subdir, name) if path.exists()), None
    )


def _options(kwargs: Mapping[str, Any], defaults: Mapping[str, Any], plugin: str) -> dict[str, Any]:
    unknown = set(kwargs) - set(defaults)
    if unknown:
        raise FilterError(
            f"Unrecognized options for the {plugin} lookup: {', '.join(sorted(unknown))}"
        )
    return {**defaults, **kwargs}


def lookup_items(
    templar: Templar, terms: list[Any], variables: LazyVars, kwargs: dict[str, Any]
) -> list[Any]:
    """``items``: the terms, lists among them flattened one level (``with_items``)."""
    return _flatten_once(terms)


def lookup_list(
    templar: Templar, terms: list[Any], variables: LazyVars, kwargs: dict[str, Any]
) -> list[Any]:
    """``list``: the terms unchanged (``with_list``)."""
    return terms


def lookup_dict(
    templar: Templar, terms: list[Any], variables: LazyVars, kwargs: dict[str, Any]
) -> list[Any]:
    """``dict``: ``{key, value}`` per entry of each dict term (``with_dict``)."""
    results: list[Any] = []
    for term in terms:
        if not isinstance(term, Mapping):
            raise FilterError(
                f"the 'dict' lookup plugin expects a dictionary, got '{term}' of type {type(term)})"
            )
        results.extend({"key": key, "value": term[key]} for key in term)
    return results


def lookup_env(
    templar: Templar, terms: list[Any], variables: LazyVars, kwargs: dict[str, Any]
) -> list[Any]:
    """``env``: the controller's environment variables (``default``, ``''`` if not given)."""
    options = _options(kwargs, {"default": ""}, "env")
    results: list[Any] = []
    for term in terms:
        name = str(term).split()[0]
        results.append(os.environ.get(name, options["default"]))
    return results


def lookup_file(
    templar: Templar, terms: list[Any], variables: LazyVars, kwargs: dict[str, Any]
) -> list[Any]:
    """``file``: file contents, searched in ``files/`` then the base directory; rstripped."""
    options = _options(kwargs, {"lstrip": False, "rstrip": True}, "file")
    results: list[Any] = []
    for term in terms:
        path = _find_file(templar, variables, "files", str(term))
        try:
            if path is None:
                searched = ", ".join(map(str, _candidates(templar, variables, "files", str(term))))
                raise FileNotFoundError(f"File not found (searched {searched}).")
            contents = path.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as error:
            reason = error.strerror if error.strerror else str(error)
            raise FilterError(f"Unable to access the file {str(term)!r}: {reason}") from error
        if options["lstrip"]:
            contents = contents.lstrip()
        if options["rstrip"]:
            contents = contents.rstrip()
        results.append(contents)
    return results


def lookup_fileglob(
    templar: Templar, terms: list[Any], variables: LazyVars, kwargs: dict[str, Any]
) -> list[Any]:
    """``fileglob``: regular files matching each pattern, first in ``files/``, then the base."""
    results: list[Any] = []
    for term in map(str, terms):
        directory, pattern = os.path.split(term)
        if directory:
            found = _find_file(templar, variables, "files", directory)
            bases = [found] if found is not None else []
        else:
            bases = [
                p for base in _search_paths(templar, variables) for p in (base / "files", base)
            ]
        for base in bases:
            matches = sorted(
                path for path in glob.glob(str(base / pattern)) if os.path.isfile(path)
            )
            if matches:
                results.extend(matches)
                break
    return results


def _split_on(value: Any, separators: str) -> list[str]:
    if isinstance(value, str):
        return [part for part in re.split(f"[{re.escape(separators)}]", value)]
    return [part for item in value for part in _split_on(item, separators)]


def lookup_first_found(
    templar: Templar, terms: list[Any], variables: LazyVars, kwargs: dict[str, Any]
) -> list[Any]:
    """``first_found``: the absolute path of the first existing candidate file.

    Terms are names, lists of names or ``{files, paths, skip}`` dicts (names split on
    ``,``/``;``, paths on ``,``/``:``/``;``).  With ``skip`` nothing found is ``[]``.
    """
    # Called from `with_first_found`, Ansible also searches a subdirectory chosen
    # by the task's action (see `Templar.run_lookup`); from lookup(), it does not.
    subdir = kwargs.pop("_subdir", None)
    options = _options(kwargs, {"files": [], "paths": [], "skip": False}, "first_found")

    def candidates(items: Iterable[Any], files: Any, paths: Any) -> Iterable[str]:
        for term in items:
            if isinstance(term, Mapping):
                local = {**options, **term}
                yield from candidates(_split_on(local["files"], ",;"), (), local["paths"])
            elif isinstance(term, str):
                names = _split_on(term, ",;")
                path_list = _split_on(paths, ",:;") if paths else []
                if path_list:
                    yield from (os.path.join(p, n) for p in path_list for n in names)
                else:
                    yield from names
            elif isinstance(term, list | tuple):
                yield from candidates(term, files, paths)
            else:
                raise FilterError(
                    "Invalid term supplied. A string, dict or list is required, "
                    f"not {type(term).__name__!r})."
                )

    skip = options["skip"]
    for term in terms:
        if isinstance(term, Mapping) and "skip" in term:
            skip = term["skip"]
    for name in candidates(terms or [options["files"]], (), options["paths"]):
        found = _find_file(templar, variables, subdir, name)
        if found is not None:
            return [os.path.abspath(found)]
    if skip:
        return []
    raise FilterError("No file was found when using first_found.")


def _run_shell(templar: Templar, command: str) -> subprocess.CompletedProcess[bytes]:
    # A controller-side lookup: it runs here, in the playbook's directory, on purpose.
    return subprocess.run(
        command,
        shell=True,
        cwd=templar.basedir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        check=False,
    )


def lookup_lines(
    templar: Templar, terms: list[Any], variables: LazyVars, kwargs: dict[str, Any]
) -> list[Any]:
    """``lines``: each line of each command's output (``with_lines``)."""
    results: list[Any] = []
    for term in map(str, terms):
        completed = _run_shell(templar, term)
        if completed.returncode != 0:
            raise FilterError(f"lookup_plugin.lines({term}) returned {completed.returncode}")
        results.extend(
            line.decode("utf-8", "surrogateescape") for line in completed.stdout.splitlines()
        )
    return results


def lookup_pipe(
    templar: Templar, terms: list[Any], variables: LazyVars, kwargs: dict[str, Any]
) -> list[Any]:
    """``pipe``: each command's whole output, trailing whitespace stripped."""
    results: list[Any] = []
    for term in map(str, terms):
        completed = _run_shell(templar, term)
        if completed.returncode != 0:
            raise FilterError(f"lookup_plugin.pipe({term}) returned {completed.returncode}")
        results.append(completed.stdout.decode("utf-8", "surrogateescape").rstrip())
    return results


_SEQUENCE_SHORTCUT: Final = re.compile(
    r"^((0?x?[0-9a-f]+)-)?(0?x?[0-9a-f]+)(/(0?x?[0-9a-f]+))?(:(.+))?$", re.IGNORECASE
)
_SEQUENCE_FIELDS: Final = ("start", "end", "stride", "count", "format")


def _sequence_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise FilterError(f"invalid value for {name!r}: {value!r} is not an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise FilterError(f"invalid value for {name!r}: {value!r} is not an integer") from None


def _parse_kv(text: str) -> dict[str, str]:
    """``key=value`` words (shell quoting honoured); other words go to ``_raw_params``."""
    options: dict[str, str] = {}
    raw: list[str] = []
    for word in shlex.split(text):
        key, sep, value = word.partition("=")
        if sep and key:
            options[key] = value
        else:
            raw.append(word)
    if raw:
        options["_raw_params"] = " ".join(raw)
    return options


def lookup_sequence(
    templar: Templar, terms: list[Any], variables: LazyVars, kwargs: dict[str, Any]
) -> list[Any]:
    """``sequence``: formatted numbers, as strings (``with_sequence``).

    ``start=1 end=10 stride=2 format=host%02d`` or ``count=N``, or the shortcut
    ``[start-]end[/stride][:format]`` (``1-10/2``, ``4:host%02d``).  Numbers are
    decimal, as in ansible-core 2.19 (whose docs still promise hex and octal).
    """
    if kwargs and not terms:
        terms = [""]
    results: list[Any] = []
    for term in map(str, terms):
        options: dict[str, Any] = {
            "start": 1,
            "end": None,
            "stride": 1,
            "count": None,
            "format": "%d",
        }
        unknown = set(kwargs) - set(_SEQUENCE_FIELDS)
        if unknown:
            raise FilterError(f"unrecognized arguments to with_sequence: {sorted(unknown)}")
        options.update(kwargs)
        shortcut = _SEQUENCE_SHORTCUT.match(term)
        if shortcut:
            _, start, end, _, stride, _, fmt = shortcut.groups()
            for key, value in (("start", start), ("end", end), ("stride", stride), ("format", fmt)):
                if value is not None:
                    options[key] = value
        else:
            parsed = _parse_kv(term)
            unknown = set(parsed) - set(_SEQUENCE_FIELDS)
            if unknown:
                raise FilterError(f"unrecognized arguments to with_sequence: {sorted(unknown)}")
            options.update(parsed)
        start = _sequence_int("start", options["start"])
        stride = _sequence_int("stride", options["stride"])
        end = None if options["end"] is None else _sequence_int("end", options["end"])
        count = None if options["count"] is None else _sequence_int("count", options["count"])
        fmt = str(options["format"])
        if count is None and end is None:
            raise FilterError("must specify count or end in with_sequence")
        if count is not None and end is not None:
            raise FilterError("can't specify both count and end in with_sequence")
        if count is not None:
            if count == 0:
                continue
            end = start + count * stride - 1
        assert end is not None
        if stride > 0 and end < start:
            raise FilterError("to count backwards make stride negative")
        if stride < 0 and end > start:
            raise FilterError("to count forward don't make stride negative")
        if stride == 0:
            continue
        if fmt.count("%") != 1:
            raise FilterError(f"bad formatting string: {fmt}")
        for number in range(start, end + (1 if stride > 0 else -1), stride):
            try:
                results.append(fmt % number)
            except (TypeError, ValueError):
                raise FilterError(f"problem formatting {number!r} with {fmt!r}") from None
    return results


def lookup_nested(
    templar: Templar, terms: list[Any], variables: LazyVars, kwargs: dict[str, Any]
) -> list[Any]:
    """``nested``: every combination, as lists (``with_nested``)."""
    if not terms:
        raise FilterError("with_nested requires at least one element in the nested list")
    combos: list[Any] = list(terms[0])
    for following in terms[1:]:
        combos = [_flatten_once([first, second]) for first in combos for second in following]
    return [_flatten_once(combo if isinstance(combo, list) else [combo]) for combo in combos]


def lookup_cartesian(
    templar: Templar, terms: list[Any], variables: LazyVars, kwargs: dict[str, Any]
) -> list[Any]:
    """``cartesian`` (community.general): the cartesian product of the lists, as lists."""
    return [list(combo) for combo in itertools.product(*terms)]


def lookup_together(
    templar: Templar, terms: list[Any], variables: LazyVars, kwargs: dict[str, Any]
) -> list[Any]:
    """``together``: lists zipped, short ones padded with ``None`` (``with_together``)."""
    if not terms:
        raise FilterError("with_together requires at least one element in each list")
    return [_flatten_once(group) for group in itertools.zip_longest(*terms, fillvalue=None)]


def lookup_subelements(
    templar: Templar, terms: list[Any], variables: LazyVars, kwargs: dict[str, Any]
) -> list[Any]:
    """``subelements``: ``[element, sub]`` pairs (``with_subelements``).

    As in Ansible, the element in each pair lacks the list it was paired from,
    and elements or whole results marked ``skipped`` are left out.
    """

    def terms_error(message: str = "") -> FilterError:
        return FilterError("subelements lookup expects a list of two or three items, " + message)

    if not 2 <= len(terms) <= 3:
        raise terms_error()
    elements, path = terms[0], terms[1]
    if not isinstance(elements, list | Mapping) or not isinstance(path, str):
        raise terms_error("first a dict or a list, second a string pointing to the subkey")
    keys = path.split(".")
    if isinstance(elements, Mapping):
        if elements.get("skipped", False) is not False:
            return []
        elements = list(elements.values())
    flags = terms[2] if len(terms) == 3 else {}
    if not isinstance(flags, Mapping) or not all(key == "skip_missing" for key in flags):
        raise terms_error("the optional third item must be a dict with flags ('skip_missing',)")
    skip_missing = to_bool_loose(flags.get("skip_missing", False))
    results: list[Any] = []
    for element in elements:
        if not isinstance(element, Mapping):
            raise FilterError(f"subelements lookup expects a dictionary, got '{element}'")
        if element.get("skipped", False) is not False:
            continue
        # Ansible pops the list out of the element it pairs; we pop from a copy of
        # the path down to it so that the caller's variables are not mutated.
        top = dict(element)
        node: dict[str, Any] = top
        sublist: list[Any] = []
        for index, key in enumerate(keys):
            last = index == len(keys) - 1
            if key not in node:
                if skip_missing:
                    break
                raise FilterError(f"could not find '{key}' key in iterated item '{node}'")
            if not last:
                if not isinstance(node[key], Mapping):
                    if skip_missing:
                        break
                    raise FilterError(
                        f"the key {key} should point to a dictionary, got '{node[key]}'"
                    )
                node[key] = dict(node[key])
                node = node[key]
            else:
                if not isinstance(node[key], list):
                    raise FilterError(f"the key {key} should point to a list, got '{node[key]}'")
                sublist = node.pop(key)
        results.extend([top, sub] for sub in sublist)
    return results


def to_bool_loose(value: Any) -> bool:
    """Ansible's non-strict ``boolean()``: the bool strings, else False."""
    if isinstance(value, bool):
        return value
    check = value.lower() if isinstance(value, str) else value
    try:
        return check in _TRUE_STRINGS or check in (1, 1.0)
    except TypeError:
        return False


def lookup_indexed_items(
    templar: Templar, terms: list[Any], variables: LazyVars, kwargs: dict[str, Any]
) -> list[Any]:
    """``indexed_items``: ``[index, item]`` pairs (``with_indexed_items``)."""
    return [[index, item] for index, item in enumerate(_flatten_once(terms))]


def lookup_flattened(
    templar: Templar, terms: list[Any], variables: LazyVars, kwargs: dict[str, Any]
) -> list[Any]:
    """``flattened`` (community.general): all nesting removed."""
    return flatten(terms, skip_nulls=False)


def lookup_random_choice(
    templar: Templar, terms: list[Any], variables: LazyVars, kwargs: dict[str, Any]
) -> list[Any]:
    """``random_choice``: one term, drawn with the Templar's generator."""
    return [templar.rng.choice(terms)] if terms else terms


def lookup_vars(
    templar: Templar, terms: list[Any], variables: LazyVars, kwargs: dict[str, Any]
) -> list[Any]:
    """``vars``: variables by name, rendered; undefined if missing (unless ``default``)."""
    options = _options(kwargs, {"default": None}, "vars")
    results: list[Any] = []
    for term in terms:
        if not isinstance(term, str):
            raise FilterError(f"Variable name must be 'str' not {type(term).__name__!r}.")
        if term in variables:
            results.append(variables[term])
        elif options["default"] is not None:
            results.append(options["default"])
        else:
            results.append(templar.undefined(f"No variable named {term!r} was found."))
    return results


def lookup_inventory_hostnames(
    templar: Templar, terms: list[Any], variables: LazyVars, kwargs: dict[str, Any]
) -> list[Any]:
    """``inventory_hostnames``: hosts matching the patterns (the Templar's inventory callback)."""
    if templar.inventory is None:
        raise FilterError("inventory_hostnames needs an inventory (Templar(inventory=…))")
    return list(templar.inventory([str(term) for term in terms]))


def lookup_template(
    templar: Templar, terms: list[Any], variables: LazyVars, kwargs: dict[str, Any]
) -> list[Any]:
    """``template``: each file rendered, searched in ``templates/`` then the base directory."""
    options = _options(
        kwargs,
        {"template_vars": {}, "convert_data": True, "jinja2_native": True},
        "template",
    )
    results: list[Any] = []
    for term in map(str, terms):
        path = _find_file(templar, variables, "templates", term)
        if path is None:
            raise FilterError(f"the template file {term} could not be found for the lookup")
        search = [
            p for base in _search_paths(templar, variables) for p in (base / "templates", base)
        ]
        results.append(
            templar.render_template_file(
                path,
                variables,
                template_vars=options["template_vars"],
                searchpath=search,
                display_path=term,
            )
        )
    return results


LOOKUPS: Final[dict[str, Lookup]] = {
    "items": lookup_items,
    "list": lookup_list,
    "dict": lookup_dict,
    "env": lookup_env,
    "file": lookup_file,
    "fileglob": lookup_fileglob,
    "first_found": lookup_first_found,
    "lines": lookup_lines,
    "pipe": lookup_pipe,
    "sequence": lookup_sequence,
    "nested": lookup_nested,
    "cartesian": lookup_cartesian,
    "together": lookup_together,
    "subelements": lookup_subelements,
    "indexed_items": lookup_indexed_items,
    "flattened": lookup_flattened,
    "random_choice": lookup_random_choice,
    "vars": lookup_vars,
    "inventory_hostnames": lookup_inventory_hostnames,
    "template": lookup_template,
}
"""Lookup plugins by name, for ``lookup()``/``query()`` and ``with_<name>`` loops."""


# =========================================================================== globals


def _first_undefined(terms: Iterable[Any], kwargs: Mapping[str, Any]) -> Undefined | None:
    for value in itertools.chain(terms, kwargs.values()):
        if isinstance(value, Undefined):
            return value
    return None


def _context_variables(context: Context) -> LazyVars:
    templar = _templar(context.environment)
    parent = context.parent
    if isinstance(parent, _ContextVars):
        return parent.lazy
    # Inside an {% include %}, Jinja hands over a plain dict of already-rendered values
    # (and the includer's locals, which may hold strings built from data: not trusted).
    return LazyVars(parent, templar, resolved=True, trusted=False)


@pass_context
def lookup(context: Context, name: str, *terms: Any, **kwargs: Any) -> Any:
    """``lookup(name, *terms, wantlist=False, errors='strict', **options)``."""
    marker = _first_undefined(terms, kwargs)
    if marker is not None:
        return marker
    return _templar(context.environment).call_lookup(
        name, list(terms), _context_variables(context), **kwargs
    )


@pass_context
def query(context: Context, name: str, *terms: Any, **kwargs: Any) -> Any:
    """``query``/``q``: ``lookup`` that always returns the plugin's list."""
    kwargs["wantlist"] = True
    return lookup(context, name, *terms, **kwargs)


def _now(utc: bool = False, fmt: str | None = None) -> Any:
    """``now()``: the current local (or UTC) time, or its ``strftime`` text."""
    moment = (
        datetime.datetime.now(datetime.UTC).replace(tzinfo=None) if utc else datetime.datetime.now()
    )
    return moment.strftime(fmt) if fmt else moment


@pass_environment
def _undef(env: jinja2.Environment, hint: str | None = None) -> Undefined:
    """``undef(hint)``: an undefined value that says `hint` when used."""
    return _templar(env).undefined(hint or "Mandatory variable has not been overridden")


# =========================================================================== installation


def _wrap(kind: str, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` with its errors reworded as Ansible words plugin failures.

    Undefined-variable errors and our own `TemplateError`s pass through unchanged:
    they already say what went wrong.
    """

    @functools.wraps(function)
    def plugin(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (jinja2.UndefinedError, TemplateError):
            raise
        except Exception as error:
            text = str(error) or type(error).__name__
            raise TemplateError(
                f"The {kind} plugin 'ansible.builtin.{name}' failed: {text}"
            ) from error

    return plugin


_WRAPPED_FILTERS: Final = {name: _wrap("filter", name, f) for name, f in FILTERS.items()}
_WRAPPED_TESTS: Final = {name: _wrap("test", name, f) for name, f in TESTS.items()}


def install(env: _Environment) -> None:
    """Register the filters, tests and globals on a `Templar` environment."""
    env.filters.update(_WRAPPED_FILTERS)
    env.tests.update(_WRAPPED_TESTS)
    # Every filter and test, Jinja's own included, also answers to ansible.builtin.<name>.
    for table in (env.filters, env.tests):
        table.update({f"ansible.builtin.{name}": table[name] for name in list(table)})
    env.globals.update(
        lookup=lookup,
        query=query,
        q=query,
        omit=OMIT,
        now=_now,
        undef=_undef,
    )
