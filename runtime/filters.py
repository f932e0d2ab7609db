"""Ansible's filters for `Templar`, with ansible-core 2.19's semantics.

Jinja's own filters (``int``, ``float``, ``string``, ``length``, ``list``, ``join``,
``map``, ``select``, ``selectattr``, ``min``, ``max``, ``sum``, ``items`` …) are kept
as they are; `FILTERS` adds Ansible's, which the renderer registers under their
short name and their ``ansible.builtin.`` name, and `GLOBALS` the functions
templates call (``now()``, ``undef()``).  The tests are in `jinja_tests`, the
lookups in `lookups`.

A filter raises `PluginError`; the renderer words it as ansible-core does:
``The filter plugin 'ansible.builtin.<name>' failed: <message>``.

Deliberate differences from Ansible are marked "Differs from Ansible" below.
"""

from __future__ import annotations

import base64
import copy
import datetime
import functools
import glob
import hashlib
import itertools
import json
import math
import ntpath
import os
import re
import shlex
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from random import Random
from typing import Any, Final
from urllib.parse import urlsplit

import jinja2
import yaml
from jinja2.filters import do_unique
from jinja2.runtime import Undefined
from jinja2.utils import pass_environment

from .template_values import (
    OMIT,
    PluginError,
    TemplateUndefined,
    Variables,
    mark_unsafe,
    plugin_host,
    to_text,
    trip_if_error_marker,
    type_name,
)

__all__ = ["FILTERS", "GLOBALS", "flatten", "load_vars_yaml", "regex_flags"]


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
        raise PluginError(f"The 'boolean' argument must be a bool, not {type(boolean).__name__!r}")
    trip_if_error_marker(value)
    if isinstance(value, Undefined):
        return default_value
    if boolean and not value:
        return default_value
    return value


# The ``bool`` filter's own table in ansible-core, narrower than its ``boolean()``
# (`playgraph.semantics.boolean`: no "y"/"t"/"n"/"f"); it is not a drifted copy.
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
    plugin_host(env).warn(
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


def _construct_unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """``!unsafe`` on any node, as ansible-core reads it: the value its implicit tag
    gives (``!unsafe 5`` is 5), with every string inside it `UnsafeText`."""
    untagged = copy.copy(node)  # a copy: the loader remembers the nodes it built
    untagged.tag = loader.resolve(type(node), node.value, (True, False))  # type: ignore[no-untyped-call]
    return mark_unsafe(loader.construct_object(untagged, deep=True))


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
    plugin_host(env).warn(
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
    plugin_host(env).warn(
        f"The from_yaml_all filter ignored non-string input of type {type(value).__name__!r}."
    )
    return value


def regex_flags(ignorecase: Any, multiline: Any) -> int:
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
            raise PluginError("Unknown argument")
    flags = regex_flags(kwargs.get("ignorecase"), kwargs.get("multiline"))
    match = re.search(regex, to_text(value), flags)
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
    compiled = re.compile(pattern, regex_flags(ignorecase, multiline))
    text = to_text(value)
    output, substitutions = compiled.subn(replacement, text, count=count)
    if mandatory_count and mandatory_count != substitutions:
        # Differs from Ansible, whose message prints the `count` argument here.
        raise PluginError(
            f"'{pattern}' should match {mandatory_count} times, "
            f"but matches {substitutions} times in '{text}'"
        )
    return output


def regex_findall(value: Any, regex: str, multiline: bool = False, ignorecase: bool = False) -> Any:
    """``regex_findall``: ``re.findall``."""
    return re.findall(regex, to_text(value), regex_flags(ignorecase, multiline))


def regex_escape(value: Any, re_type: str = "python") -> str:
    """``regex_escape``: for Python regexes, or POSIX basic ones."""
    text = to_text(value)
    if re_type == "python":
        return re.escape(text)
    if re_type == "posix_basic":
        return re.sub(r"([].[^$*\\])", r"\\\1", text)
    if re_type == "posix_extended":
        raise PluginError(f"Regex type ({re_type}) not yet implemented")
    raise PluginError(f"Invalid regex type ({re_type})")


def _path_filter(function: Callable[[str], Any]) -> Callable[[Any], Any]:
    @functools.wraps(function)
    def path_filter(value: Any) -> Any:
        return function(to_text(value))

    return path_filter


def path_join(paths: Any) -> str:
    """``path_join``: ``os.path.join`` of a list (or of one string)."""
    if isinstance(paths, str):
        return str(os.path.join(paths))
    if _is_sequence(paths):
        return str(os.path.join(*paths))
    raise PluginError(f"|path_join expects string or sequence, got {type(paths)} instead.")


def commonpath(paths: Any) -> str:
    """``commonpath``: ``os.path.commonpath``."""
    if not _is_sequence(paths):
        raise PluginError(f"|commonpath expects sequence, got {type(paths)} instead.")
    return str(os.path.commonpath(paths))


def fileglob(pathname: Any) -> list[str]:
    """``fileglob`` (filter): regular files matching the pattern on the controller."""
    return [path for path in glob.glob(to_text(pathname)) if os.path.isfile(path)]


_LIST_MERGE: Final = ("replace", "keep", "append", "prepend", "append_rp", "prepend_rp")


def _merge_hash(low: Any, high: Any, recursive: bool, list_merge: str) -> dict[Any, Any]:
    """Ansible's ``merge_hash``: `high` over `low`, recursing into dicts if asked."""
    if list_merge not in _LIST_MERGE:
        raise PluginError(
            "merge_hash: 'list_merge' argument can only be equal to 'replace', 'keep', "
            "'append', 'prepend', 'append_rp' or 'prepend_rp'"
        )
    if not (isinstance(low, Mapping) and isinstance(high, Mapping)):
        raise PluginError(
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
        raise PluginError("'recursive' and 'list_merge' are the only valid keyword arguments")
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
        raise PluginError(f"dict2items requires a dictionary, got {type(value)} instead.")
    return [{key_name: key, value_name: value[key]} for key in value]


def items2dict(value: Any, key_name: str = "key", value_name: str = "value") -> dict[Any, Any]:
    """``items2dict``: the reverse of ``dict2items``."""
    if not _is_sequence(value):
        raise PluginError(f"items2dict requires a list, got {type(value)} instead.")
    try:
        return {item[key_name]: item[value_name] for item in value}
    except KeyError:
        raise PluginError(
            f"items2dict requires each dictionary in the list to contain the keys "
            f"'{key_name}' and '{value_name}', got {value} instead."
        ) from None
    except TypeError:
        raise PluginError(
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
            raise PluginError(
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
    return shlex.quote("" if value is None else to_text(value))


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
        raise PluginError(str(error)) from error
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
        raise PluginError(f"Invalid value '{namespace}' for 'namespace': {error}") from error
    return str(uuid.uuid5(space, to_text(value)))


def mandatory(value: Any, msg: str | None = None) -> Any:
    """``mandatory``: fail if `value` is undefined (with `msg` if given)."""
    trip_if_error_marker(value)
    if isinstance(value, Undefined):
        if msg is not None:
            raise PluginError(str(msg))
        name = value._undefined_name
        label = f"{name!r} " if name is not None else ""
        raise PluginError(f"Mandatory variable {label}not defined.")
    return value


def type_debug(value: Any) -> str:
    """``type_debug``: the Python type name (variable mappings say ``dict``)."""
    if isinstance(value, Variables):
        return "dict"
    return type_name(value)


def split(value: Any, sep: str | None = None, maxsplit: int = -1) -> list[str]:
    """``split``: ``str.split``."""
    return to_text(value).split(sep, maxsplit)


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
    generator = plugin_host(env).rng if seed is None else Random(seed)
    if isinstance(end, int) and not isinstance(end, bool):
        return generator.randrange(start or 0, end, step or 1)
    if hasattr(end, "__iter__"):
        if start or step:
            raise PluginError("start and step can only be used with integer values")
        return generator.choice(list(end) if not isinstance(end, Sequence) else end)
    raise PluginError("random can only be used on sequences and integers")


@pass_environment
def shuffle(env: jinja2.Environment, value: Any, seed: Any = None) -> Any:
    """``shuffle``: a shuffled copy (the Templar's generator unless `seed` is given)."""
    try:
        items = list(value)
        (Random(seed) if seed else plugin_host(env).rng).shuffle(items)
    except Exception:  # noqa: BLE001 - Ansible returns the input on any failure
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
        raise PluginError(f"human_readable() failed on bad input: {error}") from error
    except Exception as error:
        raise PluginError(f"human_readable() can't interpret the input: {error}") from error


def human_to_bytes(size: Any, default_unit: str | None = None, isbits: bool = False) -> int:
    """``human_to_bytes``: ``'1.5 MB'`` → 1572864; bits with `isbits` (``'1Mb'``)."""
    try:
        return _human_to_bytes(size, default_unit, isbits)
    except TypeError as error:
        raise PluginError(f"human_to_bytes() failed on bad input: {error}") from error
    except ValueError as error:
        raise PluginError(f"human_to_bytes() can't interpret the input: {error}") from error


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
        raise PluginError("obj must be a list of dicts or a nested dict")
    if isinstance(subelement, list):
        path = list(subelement)
    elif isinstance(subelement, str):
        path = subelement.split(".")
    else:
        raise PluginError("subelements must be a list or a string")
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
                raise PluginError(
                    f"could not find {key!r} key in iterated item {values!r}"
                ) from None
            except TypeError:
                raise PluginError(
                    f"the key {key} should point to a dictionary, got '{values}'"
                ) from None
        if not isinstance(values, list):
            raise PluginError(f"the key {path[-1]!r} should point to a list, got {values!r}")
        results.extend((element, sub) for sub in values)
    return results


def strftime(string_format: str, second: Any = None, utc: bool = False) -> str:
    """``strftime``: format the epoch time `second` (default now), local or UTC."""
    seconds: float | None = None
    if second is not None:
        try:
            seconds = float(second)
        except (TypeError, ValueError):
            raise PluginError(f"Invalid value for epoch value ({second})") from None
    clock = time.gmtime if utc else time.localtime
    return time.strftime(string_format, clock(seconds))


def to_datetime(value: Any, format: str = "%Y-%m-%d %H:%M:%S") -> datetime.datetime:
    """``to_datetime``: ``datetime.strptime``."""
    return datetime.datetime.strptime(to_text(value), format)


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
    parts = urlsplit(to_text(value))
    results = {name: getattr(parts, name) for name in _URL_PARTS}
    if query:
        if query not in results:
            raise PluginError(f"urlsplit: unknown URL component: {query}")
        return results[query]
    return results


def logarithm(value: Any, base: float = math.e) -> float:
    """``log``: natural logarithm or base `base`."""
    try:
        return math.log10(value) if base == 10 else math.log(value, base)
    except TypeError as error:
        raise PluginError("log() can only be used on numbers") from error


def power(value: Any, exponent: Any) -> float:
    """``pow``: ``math.pow``."""
    try:
        return math.pow(value, exponent)
    except TypeError as error:
        raise PluginError("pow() can only be used on numbers") from error


def inverse_power(value: Any, base: float = 2) -> float:
    """``root``: square root or `base`-th root."""
    try:
        return math.sqrt(value) if base == 2 else math.pow(value, 1.0 / float(base))
    except (TypeError, ValueError) as error:
        raise PluginError("root() can only be used on numbers") from error


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


# =========================================================================== globals


def now(utc: bool = False, fmt: str | None = None) -> Any:
    """``now()``: the current local (or UTC) time, or its ``strftime`` text."""
    moment = (
        datetime.datetime.now(datetime.UTC).replace(tzinfo=None) if utc else datetime.datetime.now()
    )
    return moment.strftime(fmt) if fmt else moment


def undef(hint: str | None = None) -> Undefined:
    """``undef(hint)``: an undefined value that says `hint` when used."""
    return TemplateUndefined(hint=hint or "Mandatory variable has not been overridden")


GLOBALS: Final[dict[str, Callable[..., Any]]] = {"now": now, "undef": undef}
"""Functions templates call by name (the renderer adds ``lookup``, ``query``, ``omit``)."""
