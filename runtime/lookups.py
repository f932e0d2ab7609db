"""Ansible's lookup plugins (``lookup()``, ``query()``, ``with_<name>`` loops) for `Templar`.

A lookup is a plain function ``(host, rendered terms, variables, keyword options)
-> items`` in `LOOKUPS`; `Templar.call_lookup` and `Templar.run_lookup` run them
and shape their results as ansible-core does.  They run on the controller: the
file lookups read the playbook's files, ``pipe`` and ``lines`` run commands in
its directory.  `Templar` imports this module on the first lookup.  A lookup
raises `PluginError`; the renderer words it as ``The lookup plugin '<name>'
failed: …``.
"""

from __future__ import annotations

import glob
import itertools
import os
import re
import shlex
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from playgraph.semantics import boolean

from .filters import flatten
from .template_values import PluginError, PluginHost, TemplateUndefined

__all__ = ["LOOKUPS", "Lookup"]

Lookup = Callable[[PluginHost, list[Any], Mapping[str, Any], dict[str, Any]], list[Any]]
"""A lookup plugin: ``(host, rendered terms, variables, keyword options) -> items``."""


def _flatten_once(terms: Iterable[Any]) -> list[Any]:
    """Ansible's ``LookupBase._flatten``: lists and tuples among the terms are spliced in."""
    result: list[Any] = []
    for term in terms:
        if isinstance(term, list | tuple):
            result.extend(term)
        else:
            result.append(term)
    return result


def _search_paths(templar: PluginHost, variables: Mapping[str, Any]) -> list[Path]:
    paths = variables.get("ansible_search_path") if "ansible_search_path" in variables else None
    if isinstance(paths, list) and paths:
        return [templar.basedir / str(path) for path in paths]
    return [templar.basedir]


def _candidates(
    templar: PluginHost, variables: Mapping[str, Any], subdir: str | None, name: str
) -> list[Path]:
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


def _find_file(
    templar: PluginHost, variables: Mapping[str, Any], subdir: str | None, name: str
) -> Path | None:
    """The first existing `_candidates` path, or None."""
    return next(
        (path for path in _candidates(templar, variables, subdir, name) if path.exists()), None
    )


def _options(kwargs: Mapping[str, Any], defaults: Mapping[str, Any], plugin: str) -> dict[str, Any]:
    unknown = set(kwargs) - set(defaults)
    if unknown:
        raise PluginError(
            f"Unrecognized options for the {plugin} lookup: {', '.join(sorted(unknown))}"
        )
    return {**defaults, **kwargs}


def lookup_items(
    templar: PluginHost, terms: list[Any], variables: Mapping[str, Any], kwargs: dict[str, Any]
) -> list[Any]:
    """``items``: the terms, lists among them flattened one level (``with_items``)."""
    return _flatten_once(terms)


def lookup_list(
    templar: PluginHost, terms: list[Any], variables: Mapping[str, Any], kwargs: dict[str, Any]
) -> list[Any]:
    """``list``: the terms unchanged (``with_list``)."""
    return terms


def lookup_dict(
    templar: PluginHost, terms: list[Any], variables: Mapping[str, Any], kwargs: dict[str, Any]
) -> list[Any]:
    """``dict``: ``{key, value}`` per entry of each dict term (``with_dict``)."""
    results: list[Any] = []
    for term in terms:
        if not isinstance(term, Mapping):
            raise PluginError(
                f"the 'dict' lookup plugin expects a dictionary, got '{term}' of type {type(term)})"
            )
        results.extend({"key": key, "value": term[key]} for key in term)
    return results


def lookup_env(
    templar: PluginHost, terms: list[Any], variables: Mapping[str, Any], kwargs: dict[str, Any]
) -> list[Any]:
    """``env``: the controller's environment variables (``default``, ``''`` if not given)."""
    options = _options(kwargs, {"default": ""}, "env")
    results: list[Any] = []
    for term in terms:
        name = str(term).split()[0]
        results.append(os.environ.get(name, options["default"]))
    return results


def lookup_file(
    templar: PluginHost, terms: list[Any], variables: Mapping[str, Any], kwargs: dict[str, Any]
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
            raise PluginError(f"Unable to access the file {str(term)!r}: {reason}") from error
        if options["lstrip"]:
            contents = contents.lstrip()
        if options["rstrip"]:
            contents = contents.rstrip()
        results.append(contents)
    return results


def lookup_fileglob(
    templar: PluginHost, terms: list[Any], variables: Mapping[str, Any], kwargs: dict[str, Any]
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
    templar: PluginHost, terms: list[Any], variables: Mapping[str, Any], kwargs: dict[str, Any]
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
                raise PluginError(
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
    raise PluginError("No file was found when using first_found.")


def _run_shell(templar: PluginHost, command: str) -> subprocess.CompletedProcess[bytes]:
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
    templar: PluginHost, terms: list[Any], variables: Mapping[str, Any], kwargs: dict[str, Any]
) -> list[Any]:
    """``lines``: each line of each command's output (``with_lines``)."""
    results: list[Any] = []
    for term in map(str, terms):
        completed = _run_shell(templar, term)
        if completed.returncode != 0:
            raise PluginError(f"lookup_plugin.lines({term}) returned {completed.returncode}")
        results.extend(
            line.decode("utf-8", "surrogateescape") for line in completed.stdout.splitlines()
        )
    return results


def lookup_pipe(
    templar: PluginHost, terms: list[Any], variables: Mapping[str, Any], kwargs: dict[str, Any]
) -> list[Any]:
    """``pipe``: each command's whole output, trailing whitespace stripped."""
    results: list[Any] = []
    for term in map(str, terms):
        completed = _run_shell(templar, term)
        if completed.returncode != 0:
            raise PluginError(f"lookup_plugin.pipe({term}) returned {completed.returncode}")
        results.append(completed.stdout.decode("utf-8", "surrogateescape").rstrip())
    return results


_SEQUENCE_SHORTCUT: Final = re.compile(
    r"^((0?x?[0-9a-f]+)-)?(0?x?[0-9a-f]+)(/(0?x?[0-9a-f]+))?(:(.+))?$", re.IGNORECASE
)
_SEQUENCE_FIELDS: Final = ("start", "end", "stride", "count", "format")


def _sequence_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise PluginError(f"invalid value for {name!r}: {value!r} is not an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise PluginError(f"invalid value for {name!r}: {value!r} is not an integer") from None


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
    templar: PluginHost, terms: list[Any], variables: Mapping[str, Any], kwargs: dict[str, Any]
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
            raise PluginError(f"unrecognized arguments to with_sequence: {sorted(unknown)}")
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
                raise PluginError(f"unrecognized arguments to with_sequence: {sorted(unknown)}")
            options.update(parsed)
        start = _sequence_int("start", options["start"])
        stride = _sequence_int("stride", options["stride"])
        end = None if options["end"] is None else _sequence_int("end", options["end"])
        count = None if options["count"] is None else _sequence_int("count", options["count"])
        fmt = str(options["format"])
        if count is None and end is None:
            raise PluginError("must specify count or end in with_sequence")
        if count is not None and end is not None:
            raise PluginError("can't specify both count and end in with_sequence")
        if count is not None:
            if count == 0:
                continue
            end = start + count * stride - 1
        assert end is not None
        if stride > 0 and end < start:
            raise PluginError("to count backwards make stride negative")
        if stride < 0 and end > start:
            raise PluginError("to count forward don't make stride negative")
        if stride == 0:
            continue
        if fmt.count("%") != 1:
            raise PluginError(f"bad formatting string: {fmt}")
        for number in range(start, end + (1 if stride > 0 else -1), stride):
            try:
                results.append(fmt % number)
            except (TypeError, ValueError):
                raise PluginError(f"problem formatting {number!r} with {fmt!r}") from None
    return results


def lookup_nested(
    templar: PluginHost, terms: list[Any], variables: Mapping[str, Any], kwargs: dict[str, Any]
) -> list[Any]:
    """``nested``: every combination, as lists (``with_nested``)."""
    if not terms:
        raise PluginError("with_nested requires at least one element in the nested list")
    combos: list[Any] = list(terms[0])
    for following in terms[1:]:
        combos = [_flatten_once([first, second]) for first in combos for second in following]
    return [_flatten_once(combo if isinstance(combo, list) else [combo]) for combo in combos]


def lookup_cartesian(
    templar: PluginHost, terms: list[Any], variables: Mapping[str, Any], kwargs: dict[str, Any]
) -> list[Any]:
    """``cartesian`` (community.general): the cartesian product of the lists, as lists."""
    return [list(combo) for combo in itertools.product(*terms)]


def lookup_together(
    templar: PluginHost, terms: list[Any], variables: Mapping[str, Any], kwargs: dict[str, Any]
) -> list[Any]:
    """``together``: lists zipped, short ones padded with ``None`` (``with_together``)."""
    if not terms:
        raise PluginError("with_together requires at least one element in each list")
    return [_flatten_once(group) for group in itertools.zip_longest(*terms, fillvalue=None)]


def lookup_subelements(
    templar: PluginHost, terms: list[Any], variables: Mapping[str, Any], kwargs: dict[str, Any]
) -> list[Any]:
    """``subelements``: ``[element, sub]`` pairs (``with_subelements``).

    As in Ansible, the element in each pair lacks the list it was paired from,
    and elements or whole results marked ``skipped`` are left out.
    """

    def terms_error(message: str = "") -> PluginError:
        return PluginError("subelements lookup expects a list of two or three items, " + message)

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
    # ansible-core reads the flag with its non-strict boolean(): anything else is false.
    skip_missing = boolean(flags.get("skip_missing", False)) is True
    results: list[Any] = []
    for element in elements:
        if not isinstance(element, Mapping):
            raise PluginError(f"subelements lookup expects a dictionary, got '{element}'")
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
                raise PluginError(f"could not find '{key}' key in iterated item '{node}'")
            if not last:
                if not isinstance(node[key], Mapping):
                    if skip_missing:
                        break
                    raise PluginError(
                        f"the key {key} should point to a dictionary, got '{node[key]}'"
                    )
                node[key] = dict(node[key])
                node = node[key]
            else:
                if not isinstance(node[key], list):
                    raise PluginError(f"the key {key} should point to a list, got '{node[key]}'")
                sublist = node.pop(key)
        results.extend([top, sub] for sub in sublist)
    return results


def lookup_indexed_items(
    templar: PluginHost, terms: list[Any], variables: Mapping[str, Any], kwargs: dict[str, Any]
) -> list[Any]:
    """``indexed_items``: ``[index, item]`` pairs (``with_indexed_items``)."""
    return [[index, item] for index, item in enumerate(_flatten_once(terms))]


def lookup_flattened(
    templar: PluginHost, terms: list[Any], variables: Mapping[str, Any], kwargs: dict[str, Any]
) -> list[Any]:
    """``flattened`` (community.general): all nesting removed."""
    return flatten(terms, skip_nulls=False)


def lookup_random_choice(
    templar: PluginHost, terms: list[Any], variables: Mapping[str, Any], kwargs: dict[str, Any]
) -> list[Any]:
    """``random_choice``: one term, drawn with the Templar's generator."""
    return [templar.rng.choice(terms)] if terms else terms


def lookup_vars(
    templar: PluginHost, terms: list[Any], variables: Mapping[str, Any], kwargs: dict[str, Any]
) -> list[Any]:
    """``vars``: variables by name, rendered; undefined if missing (unless ``default``)."""
    options = _options(kwargs, {"default": None}, "vars")
    results: list[Any] = []
    for term in terms:
        if not isinstance(term, str):
            raise PluginError(f"Variable name must be 'str' not {type(term).__name__!r}.")
        if term in variables:
            results.append(variables[term])
        elif options["default"] is not None:
            results.append(options["default"])
        else:
            results.append(TemplateUndefined(hint=f"No variable named {term!r} was found."))
    return results


def lookup_inventory_hostnames(
    templar: PluginHost, terms: list[Any], variables: Mapping[str, Any], kwargs: dict[str, Any]
) -> list[Any]:
    """``inventory_hostnames``: hosts matching the patterns (the Templar's inventory callback)."""
    if templar.inventory is None:
        raise PluginError("inventory_hostnames needs an inventory (Templar(inventory=…))")
    return list(templar.inventory([str(term) for term in terms]))


def lookup_template(
    templar: PluginHost, terms: list[Any], variables: Mapping[str, Any], kwargs: dict[str, Any]
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
            raise PluginError(f"the template file {term} could not be found for the lookup")
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
