"""Ansible's Jinja tests (``is failed``, ``is version``, ``is file`` …) for `Templar`.

Jinja's own tests (``none``, ``string``, ``number``, ``mapping``, ``sequence``,
``iterable`` …) are kept alongside; Jinja's ``select``/``selectattr`` look tests
up by name in the environment, so ``select('failed')`` and
``selectattr('finished')`` use the ones defined here.  A test raises `PluginError`;
the renderer words it as ``The test plugin 'ansible.builtin.<name>' failed: …``.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

import jinja2
from jinja2.runtime import Undefined
from jinja2.utils import pass_environment

from playgraph.semantics import boolean

from .filters import regex_flags
from .template_values import PluginError, plugin_host, to_text, trip_if_error_marker
from .versions import version_compare

__all__ = ["TESTS"]


def _result_dict(name: str, result: Any) -> Mapping[str, Any]:
    if not isinstance(result, Mapping):
        raise PluginError(f"The '{name}' test expects a dictionary")
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
    """``finished``/``started``: the flag, or True with a warning if absent (ansible-core's rule)."""
    result = _result_dict(key, result)
    if key in result:
        return bool(result[key])
    plugin_host(env).warn(
        f"The '{key}' test expects an async task, but a non-async task was tested"
    )
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
    compiled = re.compile(pattern, regex_flags(ignorecase, multiline))
    method = getattr(compiled, match_type, compiled.search)
    return bool(method(to_text(value)))


def match(value: Any, pattern: str = "", ignorecase: bool = False, multiline: bool = False) -> bool:
    """``match``: ``re.match`` (anchored at the start)."""
    return regex(value, pattern, ignorecase, multiline, "match")


def search(
    value: Any, pattern: str = "", ignorecase: bool = False, multiline: bool = False
) -> bool:
    """``search``: ``re.search``."""
    return regex(value, pattern, ignorecase, multiline, "search")


def truthy(value: Any, convert_bool: bool = False) -> bool:
    """``truthy``: Python truth, after ansible-core's ``boolean()`` with `convert_bool`
    (``'no'``, ``'f'``, ``'0'`` are false; other text keeps its Python truth)."""
    if convert_bool:
        converted = boolean(value)
        if converted is not None:
            return converted
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
        return function(to_text(value))

    return path_test


def _same_file(a: Any, b: Any) -> bool:
    return os.path.samefile(to_text(a), to_text(b))


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
