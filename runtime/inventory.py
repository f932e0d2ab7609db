"""Inventories: which hosts exist, how they are grouped, and what variables they carry.

`load_inventory` reads the sources given with ``-i`` the way ansible-core 2.19
reads them, and returns an `Inventory`, the stateful runtime object that answers
host patterns (`Inventory.select`), merges variables (`Inventory.host_vars`) and
is changed at run time by the ``add_host`` and ``group_by`` actions.

Sources
-------
* an INI file (``[group]``, ``[group:vars]``, ``[group:children]``, host lines
  with ``key=value`` pairs, ranges ``web[01:20]``, ``host:port``);
* a YAML (or JSON) file shaped ``{group: {hosts:, children:, vars:}}``;
* a directory: every entry in name order, recursively, skipping names that
  start with ``.``, ``group_vars``, ``host_vars``, ``vars_plugins`` and names
  ending in one of `IGNORED_SUFFIXES`;
* a comma-separated host list (``h1,h2:2222,`` or ``localhost,``), recognised
  as Ansible does: it contains a comma and is not an existing path.

Next to each path source (the directory itself, or a file's directory),
``group_vars/<group>`` and ``host_vars/<host>`` are read: the first of
``<name>``, ``<name>.yml``, ``<name>.yaml``, ``<name>.json`` that exists, and
when that is a directory, every file in it (recursively, in name order, skipping
hidden files and ``*~``, only files without extension or with a YAML/JSON one).

Variable precedence (lowest first)
----------------------------------
This is ansible-core's default ``VARIABLE_PRECEDENCE`` followed by the host
levels, as `ansible.vars.manager.VariableManager.get_vars` applies them and as
the "Understanding variable precedence" page lists them (levels 3-10)::

    1. inventory-file vars of the group ``all``
    2. inventory-file vars of the host's other groups, sorted by
       (depth, ansible_group_priority, name) - deeper groups win, then the
       higher priority, then the later name
    3. group_vars/all files next to the inventory sources (in source order)
    4. group_vars/all files next to the playbook (``playbook_dirs``)
    5. group_vars/<group> files next to the inventory: for each source in
       order, for each group in the order of level 2
    6. group_vars/<group> files next to the playbook
    7. inventory-file vars of the host
    8. host_vars/<host> files next to the inventory sources
    9. host_vars/<host> files next to the playbook

So a ``group_vars/all.yml`` file beats a child group's ``[child:vars]`` in the
inventory file, and ``group_vars/<g>`` files beat every inventory-file group
var.  Merging replaces whole top-level keys (``hash_behaviour = replace``).
Depth is the longest path from ``all`` (``all`` is 0, top-level groups 1).
``ansible_group_priority`` is read only from inventory sources, never from
``group_vars`` files, and is not itself a variable.

INI values
----------
Values are read as ansible-core 2.19's INI plugin really reads them (its
documentation says ``:vars`` values stay strings; the code does not):
``ast.literal_eval`` first, falling back to the raw text - in host lines
*and* in ``:vars`` sections.  Host lines are split with ``shlex`` (quotes
removed, ``#`` starts a comment anywhere), so ``x="1"`` is the integer 1 and
``x="'1'"`` the string ``'1'``; ``True`` is a boolean but ``true`` and ``yes``
are strings.  In ``:vars`` sections everything after the first ``=`` is the
value (no ``shlex``): ``x="a b"`` is ``a b``, ``x=a b # c`` is ``'a b # c'``.
Tuples and sets become lists, complex numbers and ``...`` become strings.

Host patterns
-------------
`split_host_pattern` and `Inventory.select` follow ansible-core: a pattern is
split on commas, or else (unless the whole pattern is one host address such as
an IPv6 address or ``web[1:3]``) on colons and whitespace outside brackets;
plain parts are unioned first, then ``&`` parts intersected, then ``!`` parts
removed (an empty plain part list means ``all``).  Each part is a group or host
name, a glob (``web*``), a regex (``~web\\d+``, anchored only at the start) and
may end in a subscript: ``[i]`` (an index; out of range is an error),
``[i:j]`` (*inclusive*), ``[i:]``.  Results keep pattern-evaluation order: the
hosts of a group in breadth-first order over its subgroups.  A ``--limit``
filters that list; ``@file`` in a limit reads one pattern per line.

The implicit localhost
----------------------
When a pattern names ``localhost``, ``127.0.0.1`` or ``::1`` and nothing in the
inventory matches, the inventory's first localhost-like host answers, or else an
implicit ``localhost`` (``ansible_connection=local``, ``ansible_python_interpreter``
= this Python) that is in no group, not in ``all``, and not in `Inventory.hosts`.
It still gets the ``all`` group's variables and its ``host_vars`` file.
``group_names`` keeps ``ungrouped`` (only ``all`` is dropped), as ansible-core does.

Deliberate differences from ansible-core
----------------------------------------
* Errors are errors: a missing source, an unparsable file or a bad
  ``group_vars`` file raises `InventoryError` (Ansible warns and goes on with
  the sources it could parse).  Executable inventory scripts, inventory plugin
  configuration files (``plugin:``) and TOML inventories are refused.
* A ``.yml``/``.yaml``/``.json`` file is only read as YAML; a file without
  extension is read as YAML only when it looks like a YAML inventory (a mapping
  of mappings), otherwise as INI.
* Within one level of nested groups Ansible orders subgroups by iterating a
  ``set`` (the order changes between runs); we use the declared order.
* ``inventory_file``/``inventory_dir`` are magic variables
  (`Inventory.magic_vars`), not host variables, and are ``None`` for hosts from
  a host list.
"""

from __future__ import annotations

import ast
import copy
import fnmatch
import io
import ipaddress
import json
import os
import random
import re
import shlex
import stat
import string
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final

import yaml

from playgraph.semantics import PlaygraphError, UnsafeText, as_unsafe

__all__ = [
    "IGNORED_SUFFIXES",
    "LOCALHOST_NAMES",
    "ORDERS",
    "Group",
    "Host",
    "Inventory",
    "InventoryError",
    "expand_hostname_range",
    "load_inventory",
    "parse_address",
    "split_host_pattern",
]

LOCALHOST_NAMES: Final = ("127.0.0.1", "localhost", "::1")
"""Names that mean the controller itself (Ansible's ``C.LOCALHOST``)."""

IGNORED_SUFFIXES: Final = (
    ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst",
    ".orig", ".cfg", ".retry",
)  # fmt: skip
"""Directory-source entries ending in these are not inventories (``INVENTORY_IGNORE_EXTS``)."""

_IGNORED_NAMES: Final = frozenset({"host_vars", "group_vars", "vars_plugins"})
_VARS_EXTENSIONS: Final = (".yml", ".yaml", ".json")

ORDERS: Final[tuple[str, ...]] = (
    "inventory",
    "sorted",
    "reverse_sorted",
    "reverse_inventory",
    "shuffle",
)
"""A play's ``order:`` values, as `Inventory.select` accepts them."""

_EMPTY_INVENTORY_WARNING: Final = (
    "provided hosts list is empty, only localhost is available. "
    "Note that the implicit localhost does not match 'all'"
)


class InventoryError(PlaygraphError):
    """A problem with an inventory source, a vars file, a host pattern or a limit file.

    ``str()`` gives one line, ``file:line: message`` (or ``file: message`` when
    no line applies, or just the message when no file does), for the CLI to print.
    """

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        super().__init__(message, file, line)
        self.message = message
        self.file = file
        self.line = line

    def __str__(self) -> str:
        if self.file is None:
            return self.message
        if self.line is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Host:
    """A snapshot of one inventory host.

    ``vars`` are the host's own inventory-source variables (host lines, YAML host
    entries, ``host:port``); `Inventory.host_vars` gives the merged view.
    ``groups`` lists every group containing the host, directly or through a child
    group (including ``all`` and ``ungrouped``), in inventory order.
    """

    name: str
    vars: Mapping[str, Any] = field(default_factory=dict, hash=False)
    groups: tuple[str, ...] = ()
    source: str | None = None
    """Absolute path of the first source that declared the host (``inventory_file``)."""
    implicit: bool = False
    """True only for the implicit localhost, which is in no group and not in ``all``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """A snapshot of one inventory group: direct members and own inventory-source vars."""

    name: str
    hosts: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict, hash=False)
    priority: int = 1
    depth: int = 0
    """Longest path from ``all``: ``all`` is 0, top-level groups 1."""


# --------------------------------------------------------------------------------------------
# Addresses and host ranges


_NUM_RANGE: Final = r"\[[0-9]+:[0-9]+(?::[0-9]+)?\]"
_ALNUM_RANGE: Final = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_HEX_COMPONENT_RANGE_RE: Final = re.compile(
    r"(?:(?<=:)|^)\[[0-9a-f]+:[0-9a-f]+(?::[0-9]+)?\](?=:|$)", re.I
)
_BRACKETED_PORT_RE: Final = re.compile(r"^\[(.+)\]:([0-9]+)$")
# The host part may contain colons only inside complete [...] ranges.
_HOST_PORT_RE: Final = re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$")
_IPV4_PART: Final = rf"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]{{1,2}}|{_NUM_RANGE})"
_IPV4: Final = rf"(?:{_IPV4_PART}\.){{3}}{_IPV4_PART}"
_IPV4_RE: Final = re.compile(rf"^{_IPV4}$")
# Ansible's grammar spells the dotted tail of an IPv4-in-IPv6 address with IPv6 components.
_V6_PART: Final = r"(?:[0-9a-f]{1,4}|\[[0-9a-f]+:[0-9a-f]+(?::[0-9]+)?\])"
_IPV4_IN_IPV6_RE: Final = re.compile(
    rf"^(?:(?:0:){{6}}|::(?:ffff:)?|(?:0:){{5}}ffff:)(?:{_V6_PART}\.){{3}}{_V6_PART}$", re.I
)
_LABEL: Final = rf"(?:\w|{_ALNUM_RANGE})(?:[\w-]|{_ALNUM_RANGE})*(?<![_-])"
_HOSTNAME_RE: Final = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$", re.I)


def _is_ipv6(text: str) -> bool:
    if "%" in text:
        return False  # Ansible's address grammar has no zone ids
    if "." in text:
        # Ansible accepts an embedded IPv4 address only in these spellings.
        return bool(_IPV4_IN_IPV6_RE.match(text))
    # A range stands for one whole component; a representative value checks the shape.
    text = _HEX_COMPONENT_RANGE_RE.sub("0", text)
    if "[" in text:
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def parse_address(address: str, *, allow_ranges: bool = False) -> tuple[str, int | None]:
    """Split ``host[:port]`` into the host and the port, as Ansible's address parser does.

    The host may be a name, an IPv4 address or an IPv6 address (a port on IPv6
    needs brackets: ``[2001:db8::1]:22``); with ``allow_ranges`` it may contain
    ``[x:y(:step)]`` ranges.  Raises ``ValueError`` when the text is none of these.
    """
    port: int | None = None
    # Both forms are tried in turn, on what the previous one left (as Ansible does).
    for pattern in (_BRACKETED_PORT_RE, _HOST_PORT_RE):
        m = pattern.match(address)
        if m:
            address, port = m.group(1), int(m.group(2))
    if not (_IPV4_RE.match(address) or _is_ipv6(address) or _HOSTNAME_RE.match(address)):
        raise ValueError(f"not a valid network hostname: {address}")
    if not allow_ranges and "[" in address:
        raise ValueError(f"ranges are not allowed here: {address}")
    return address, port


MAX_RANGE_HOSTS = 100_000
"""Hosts one name with ``[begin:end]`` ranges may expand to (``h[0:99999999]`` is refused
before anything is built: 10^8 names would take gigabytes)."""


def expand_hostname_range(name: str) -> list[str]:
    """Expand every ``[begin:end(:step)]`` range in a host name, left to right.

    Numeric ranges with a leading zero keep their width (``[01:10]``, begin and
    end must be equally long); letter ranges run over ``a-zA-Z``; both ends are
    included; a missing begin is 0.  Raises ``ValueError`` for a malformed range
    and for more than `MAX_RANGE_HOSTS` names (counted before any is made).
    """
    if "[" not in name:
        return [name]
    # Every range's values first (lazily), then their product: iterative, and the
    # size is known before a single name is built.
    pieces: list[str | tuple[Sequence[object], int]] = []
    count = 1
    rest = name
    while "[" in rest:
        head, _, after = rest.partition("[")
        body, closed, rest = after.partition("]")
        if not closed:
            raise ValueError(f"host range in '{name}' has no closing ']'")
        values, width = _range_values(body)
        count *= len(values)
        if count > MAX_RANGE_HOSTS:
            raise ValueError(
                f"host range in '{name}' expands to more than {MAX_RANGE_HOSTS:,} hosts; "
                "split it into smaller ranges or list the hosts"
            )
        pieces += [head, (values, width)]
    pieces.append(rest)
    names = [""]
    for piece in pieces:
        if isinstance(piece, str):
            names = [prefix + piece for prefix in names]
        else:
            texts = [str(value).zfill(piece[1]) for value in piece[0]]
            names = [prefix + text for prefix in names for text in texts]
    return names


def _range_values(body: str) -> tuple[Sequence[object], int]:
    """The values of one ``begin:end(:step)`` range (its text between the brackets): letters,
    or a ``range`` of numbers with the width to pad them to."""
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise ValueError(f"host range '[{body}]' must be begin:end or begin:end:step")
    begin, end = bounds[0] or "0", bounds[1]
    step_text = bounds[2] if len(bounds) == 3 else "1"
    if not end:
        raise ValueError(f"host range '[{body}]' must specify an end value")
    width = 0
    if begin[0] == "0" and len(begin) > 1:
        if len(begin) != len(end):
            raise ValueError(
                f"host range '[{body}]' must have begin and end of equal length "
                "when begin has a leading zero"
            )
        width = len(begin)
    try:
        step = int(step_text)
    except ValueError:
        raise ValueError(f"host range '[{body}]' has a non-numeric step '{step_text}'") from None
    if step == 0:
        raise ValueError(f"host range '[{body}]' has a zero step")
    letters = string.ascii_letters
    if begin in letters and end in letters:
        i_begin, i_end = letters.index(begin), letters.index(end)
        if i_begin > i_end:
            raise ValueError(f"host range '[{body}]' must have begin <= end")
        return letters[i_begin : i_end + 1 : step], 0
    else:
        try:
            numbers = range(int(begin), int(end) + 1, step)
        except ValueError:
            raise ValueError(f"host range '[{body}]' must be two numbers or two letters") from None
        # A reversed numeric range is empty, as in Ansible; only letters are checked.
        return numbers, width


def _expand_host_entry(entry: str) -> tuple[list[str], int | None]:
    """A host-line token or YAML host key: names (ranges expanded) and the port, if any."""
    try:
        pattern, port = parse_address(entry, allow_ranges=True)
    except ValueError:
        # Not an address: the whole text is the name (Ansible is this lenient too).
        pattern, port = entry, None
    return expand_hostname_range(pattern), port


# --------------------------------------------------------------------------------------------
# Host patterns


_SUBSCRIPT_RE: Final = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")
_COLON_PARTS_RE: Final = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
_GLOB_CHARS: Final = (".", "?", "*", "[")


def split_host_pattern(pattern: str | Sequence[str]) -> list[str]:
    """Split a host pattern into its parts (``'a:&b,!c'`` style), as Ansible does.

    A string with a comma is split on commas only; otherwise, unless the whole
    string is one host address (``fe80::1``, ``web[1:3]``), on colons and
    whitespace outside brackets.  A sequence is split element by element.
    """
    if not isinstance(pattern, str):
        return [part for item in pattern for part in split_host_pattern(item)]
    if "," in pattern:
        parts = pattern.split(",")
    else:
        try:
            parse_address(pattern, allow_ranges=True)
            parts = [pattern]
        except ValueError:
            parts = _COLON_PARTS_RE.findall(pattern)
    return [p.strip() for p in parts if p.strip()]


def _order_patterns(parts: Iterable[str]) -> list[str]:
    """Unions first, then intersections, then exclusions; only modifiers means ``all``."""
    plain = [p for p in parts if p and p[0] not in "&!"]
    intersect = [p for p in parts if p and p[0] == "&"]
    exclude = [p for p in parts if p and p[0] == "!"]
    return (plain or ["all"]) + intersect + exclude


@lru_cache(maxsize=512)
def _compile_pattern(expr: str) -> re.Pattern[str]:
    try:
        if expr.startswith("~"):
            return re.compile(expr[1:])
        return re.compile(fnmatch.translate(expr))
    except re.error as exc:
        raise InventoryError(f"invalid host pattern '{expr}': {exc}") from None


def _split_subscript(part: str) -> tuple[str, tuple[int, int | None] | None, bool]:
    """``web[0:2]`` -> (``web``, (0, 2), dash_form).  Regexes never take subscripts."""
    if part.startswith("~"):
        return part, None, False
    m = _SUBSCRIPT_RE.match(part)
    if not m:
        return part, None, False
    expr, index, start, sep, end = m.groups()
    if index is not None:
        return expr, (int(index), None), False
    return expr, (int(start), int(end) if end else -1), sep == "-"


# --------------------------------------------------------------------------------------------
# YAML


def _construct_unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return UnsafeText(loader.construct_scalar(node))
    if isinstance(node, yaml.SequenceNode):
        return as_unsafe(loader.construct_sequence(node, deep=True))
    assert isinstance(node, yaml.MappingNode)
    return as_unsafe(loader.construct_mapping(node, deep=True))


def _construct_vault(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(
        None, None, "vault-encrypted values (!vault) are not supported", node.start_mark
    )


class _YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader (YAML 1.1 scalars, as Ansible) plus Ansible's ``!unsafe``."""


_YamlLoader.add_constructor("!unsafe", _construct_unsafe)
_YamlLoader.add_constructor("!vault", _construct_vault)


def _line(node: yaml.Node) -> int | None:
    # Nodes built from JSON data (see `_YamlDoc`) have no marks.
    mark = node.start_mark
    return None if mark is None else int(mark.line) + 1


class _YamlDoc:
    """One composed YAML document: nodes keep their lines for error messages."""

    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self._loader = _YamlLoader(text)
        self.root: yaml.Node | None
        if text.lstrip().startswith(("{", "[")):
            # Ansible's loader tries JSON first (JSON with tabs is not YAML); the data is
            # turned back into nodes so that one walker serves both.
            try:
                data = json.loads(text)
            except ValueError:
                pass
            else:
                self.root = yaml.SafeDumper(io.StringIO(), sort_keys=False).represent_data(data)
                return
        try:
            self.root = self._loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise self._yaml_error(exc) from None
        except yaml.YAMLError as exc:
            raise InventoryError(f"invalid YAML: {exc}", path) from None

    def _yaml_error(self, exc: yaml.MarkedYAMLError) -> InventoryError:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        line = int(mark.line) + 1 if mark is not None else None
        return InventoryError(f"invalid YAML: {problem}", self.path, line)

    def value(self, node: yaml.Node) -> Any:
        """The Python value of a node (a deep construction)."""
        try:
            return self._loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            raise self._yaml_error(exc) from None

    def items(self, node: yaml.MappingNode) -> list[tuple[Any, yaml.Node, yaml.Node]]:
        """(key, key node, value node) with ``<<`` merges applied; a repeated key keeps
        its first position and its last value, as a constructed dict would."""
        try:
            self._loader.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            raise self._yaml_error(exc) from None
        out: dict[Any, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = self.value(key_node)
            try:
                out[key] = (key_node, value_node)
            except TypeError:
                raise InventoryError("unhashable mapping key", self.path, _line(key_node)) from None
        return [(k, kn, vn) for k, (kn, vn) in out.items()]

    def error(self, message: str, node: yaml.Node) -> InventoryError:
        return InventoryError(message, self.path, _line(node))


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


MAX_INVENTORY_BYTES = 64 * 1024 * 1024
"""The largest inventory or vars file read (a bigger one is refused, not half-read)."""


def _read_text(path: str) -> str:
    try:
        # Non-blocking open: a FIFO must not hang the run waiting for a writer.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(descriptor, "rb") as fh:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                # /dev/zero, a FIFO, a socket: endless or not a file at all.
                raise InventoryError("not a regular file", path)
            data = fh.read(MAX_INVENTORY_BYTES + 1)
    except OSError as exc:
        raise InventoryError(f"cannot read: {exc.strerror}", path) from None
    if len(data) > MAX_INVENTORY_BYTES:
        raise InventoryError(
            f"larger than {MAX_INVENTORY_BYTES // (1024 * 1024)} MiB; too big to be an inventory",
            path,
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InventoryError("not valid UTF-8", path, line) from None


# --------------------------------------------------------------------------------------------
# INI values


def _ini_value(text: str) -> Any:
    """An INI value as Ansible's INI plugin reads it: a Python literal, else the text."""
    try:
        with warnings.catch_warnings():
            # Odd escapes in plain strings ('\d') warn while evaluating; the value is still text.
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _plain(value)


def _plain(value: Any) -> Any:
    """Only variable types: tuples and sets become lists, bytes text, complex and ``...`` text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="surrogateescape")
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if value is ...:
        return "..."
    if isinstance(value, complex):
        return str(value)
    return value


# --------------------------------------------------------------------------------------------
# The inventory


class _HostState:
    """Mutable record of a host inside `Inventory` (snapshotted into `Host`)."""

    __slots__ = ("groups", "implicit", "name", "source", "vars")

    def __init__(self, name: str, *, source: str | None = None, implicit: bool = False) -> None:
        self.name = name
        self.vars: dict[str, Any] = {}
        self.groups: list[str] = []  # direct memberships, in the order they were made
        self.source = source
        self.implicit = implicit


class _GroupState:
    """Mutable record of a group inside `Inventory` (snapshotted into `Group`)."""

    __slots__ = ("children", "hosts", "name", "parents", "priority", "vars")

    def __init__(self, name: str) -> None:
        self.name = name
        self.hosts: dict[str, None] = {}  # an ordered set: membership tests stay O(1)
        self.children: list[str] = []
        self.parents: list[str] = []
        self.vars: dict[str, Any] = {}
        self.priority = 1


class _Derived:
    """Caches computed from the group graph, filled on demand and dropped on each change.

    Per-group and per-host entries are computed lazily so that a run-time change
    (``add_host`` in a loop over a large inventory) costs little until read.
    """

    __slots__ = (
        "ancestors", "depth", "group_hosts", "group_order", "groups", "groups_dict",
        "host_groups", "host_magic", "host_vars", "hosts",
    )  # fmt: skip

    def __init__(self) -> None:
        self.ancestors: dict[str, frozenset[str]] = {}
        self.depth: dict[str, int] | None = None
        self.group_order: dict[str, int] | None = None
        self.group_hosts: dict[str, list[str]] = {}
        self.host_groups: dict[str, list[str]] = {}
        self.hosts: Mapping[str, Host] | None = None
        self.groups: Mapping[str, Group] | None = None
        self.groups_dict: dict[str, list[str]] | None = None
        self.host_vars: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
        """(host, playbook dirs) -> its merged variables (`Inventory.shared_host_vars`)."""
        self.host_magic: dict[str, dict[str, Any]] = {}


class Inventory:
    """Hosts, groups and their variables; answers host patterns.

    A stateful runtime object: ``add_host`` and ``add_group`` change it while a
    run goes on, and the implicit localhost is created the first time a pattern
    names it.  Read it through the snapshots in `hosts` and `groups`, the merged
    `host_vars`, and `select`.
    """

    def __init__(self, *, sources: Sequence[str] = (), vars_dirs: Sequence[str] = ()) -> None:
        self.sources: tuple[str, ...] = tuple(sources)
        self.vars_dirs: tuple[str, ...] = tuple(vars_dirs)
        """Directories whose ``group_vars``/``host_vars`` apply, one per path source."""
        self.warnings: list[str] = []
        """Things Ansible would warn about (the CLI prints them)."""
        self._hosts: dict[str, _HostState] = {}
        self._groups: dict[str, _GroupState] = {}
        self._localhost: _HostState | None = None  # explicit localhost-like host, else implicit
        self._vars_files: dict[tuple[str, str, str], list[tuple[str, dict[str, Any]]]] = {}
        self._derived: _Derived | None = None
        self._current_source: str | None = None
        for name in ("all", "ungrouped"):
            self._groups[name] = _GroupState(name)
        self._link("all", "ungrouped")

    # -- reading -------------------------------------------------------------------------

    @property
    def hosts(self) -> Mapping[str, Host]:
        """Every inventory host (not the implicit localhost), in the order first declared."""
        return self._snapshot_hosts()

    @property
    def groups(self) -> Mapping[str, Group]:
        """Every group, ``all`` and ``ungrouped`` first, then in the order first declared."""
        return self._snapshot_groups()

    def get_host(self, name: str) -> Host | None:
        """A host by name; a localhost name gives the explicit or implicit localhost."""
        state = self._host_state(name)
        if state is None:
            return None
        if not state.implicit:
            return self._snapshot_hosts()[state.name]
        return self._snapshot_host(state)

    def host_vars(self, name: str, *, playbook_dirs: Sequence[str] = ()) -> dict[str, Any]:
        """The host's variables with the precedence in the module docstring applied.

        ``playbook_dirs`` are the directories whose ``group_vars``/``host_vars``
        also apply (the playbook's directory).  Magic variables are not included
        (see `magic_vars`).  The result is a fresh deep copy.
        """
        return copy.deepcopy(self.shared_host_vars(name, playbook_dirs=playbook_dirs))

    def shared_host_vars(self, name: str, *, playbook_dirs: Sequence[str] = ()) -> dict[str, Any]:
        """`host_vars`, computed once per inventory change and shared, not copied: a
        run reads every host's variables for every task.  Callers must not change
        it (templates cannot: the Jinja sandbox is immutable; the run's variable
        stores copy what they keep)."""
        view = self._view()
        key = (name, tuple(playbook_dirs))
        cached = view.host_vars.get(key)
        if cached is None:
            cached = view.host_vars[key] = self._merged_host_vars(name, key[1])
        return cached

    def _merged_host_vars(self, name: str, playbook_dirs: tuple[str, ...]) -> dict[str, Any]:
        state = self._host_state(name)
        if state is None:
            raise KeyError(name)
        groups = self._sorted_groups(self._groups_of(state))
        result: dict[str, Any] = dict(self._groups["all"].vars)
        for group in groups:
            result.update(self._groups[group].vars)
        for dirs in (self.vars_dirs, tuple(playbook_dirs)):
            result.update(self._file_vars(dirs, "group_vars", ["all"]))
        # Source (or playbook dir) outside, groups inside: a later source's file for a
        # shallow group beats an earlier source's file for a deep one (ansible-core does so).
        for dirs in (self.vars_dirs, tuple(playbook_dirs)):
            result.update(self._file_vars(dirs, "group_vars", groups))
        result.update(state.vars)
        for dirs in (self.vars_dirs, tuple(playbook_dirs)):
            result.update(self._file_vars(dirs, "host_vars", [state.name]))
        return result

    def magic_vars(self, name: str) -> dict[str, Any]:
        """``inventory_hostname``, ``inventory_hostname_short``, ``group_names``,
        ``inventory_file`` and ``inventory_dir`` for a host.

        Computed once per inventory change and shared: callers must not change it."""
        view = self._view()
        cached = view.host_magic.get(name)
        if cached is None:
            cached = view.host_magic[name] = self._magic_vars(name)
        return cached

    def _magic_vars(self, name: str) -> dict[str, Any]:
        state = self._host_state(name)
        if state is None:
            raise KeyError(name)
        if _IPV4_RE.match(state.name) or _is_ipv6(state.name):
            short = state.name
        else:
            short = state.name.split(".")[0]
        return {
            "inventory_hostname": state.name,
            "inventory_hostname_short": short,
            "group_names": self.group_names(state.name),
            "inventory_file": state.source,
            "inventory_dir": os.path.dirname(state.source) if state.source else None,
        }

    def group_names(self, host: str) -> list[str]:
        """Ansible's ``group_names``: the host's groups, sorted, without ``all``.

        ``ungrouped`` stays in (ansible-core 2.19 keeps it: an ungrouped host's
        ``group_names`` is ``['ungrouped']``).
        """
        state = self._host_state(host)
        if state is None:
            raise KeyError(host)
        return sorted(g for g in self._groups_of(state) if g != "all")

    def groups_mapping(self) -> dict[str, list[str]]:
        """Ansible's ``groups`` magic variable: every group's hosts, subgroups included."""
        return {name: list(self._hosts_of(name)) for name in self._groups}

    def groups_view(self) -> dict[str, list[str]]:
        """`groups_mapping`, computed once per inventory change and shared (as
        ansible-core shares its groups dict): every host's ``groups`` variable is this
        one object, which callers must not change."""
        view = self._view()
        if view.groups_dict is None:
            view.groups_dict = self.groups_mapping()
        return view.groups_dict

    # -- patterns --------------------------------------------------------------------------

    def select(
        self,
        pattern: str | Sequence[str],
        *,
        limit: str | Sequence[str] | None = None,
        order: str = "inventory",
        rng: random.Random | None = None,
    ) -> list[str]:
        """Host names matching ``pattern`` and ``limit`` (``--limit``, may use ``@file``).

        Names matching nothing contribute nothing (see `unmatched`).  An index
        past the end of a non-empty match raises `InventoryError`, as in Ansible.
        ``order`` is a play's ``order:``; ``shuffle`` needs ``rng``.
        """
        if order not in ORDERS:
            raise InventoryError(f"Invalid 'order' specified for inventory hosts: {order}")
        if order == "shuffle" and rng is None:
            raise ValueError("order 'shuffle' needs an rng (a random.Random)")
        hosts = self._evaluate(split_host_pattern(pattern))
        if limit is not None:
            subset = self._limit_parts(limit)
            if subset:
                allowed = set(self._evaluate(subset))
                hosts = [h for h in hosts if h in allowed]
        hosts = list(dict.fromkeys(hosts))
        if order == "sorted":
            hosts.sort()
        elif order == "reverse_sorted":
            hosts.sort(reverse=True)
        elif order == "reverse_inventory":
            hosts.reverse()
        elif order == "shuffle":
            assert rng is not None
            rng.shuffle(hosts)
        return hosts

    def unmatched(
        self, pattern: str | Sequence[str], *, limit: str | Sequence[str] | None = None
    ) -> list[str]:
        """Pattern parts that name no group and no host, for the CLI to warn
        ``Could not match supplied host pattern, ignoring: <part>`` as Ansible does.

        Parts are given without ``&``/``!`` and subscript; ``all`` never appears.
        """
        parts = split_host_pattern(pattern)
        if limit is not None:
            parts += self._limit_parts(limit)
        found: list[str] = []
        for part in parts:
            if part in self._hosts:
                continue
            expr, _, _ = _split_subscript(part[1:] if part[0] in "&!" else part)
            if expr == "all" or expr in found:
                continue
            groups, results = self._enumerate(expr)
            if not groups and not results:
                found.append(expr)
        return found

    def _limit_parts(self, limit: str | Sequence[str]) -> list[str]:
        """``--limit`` parts; ``@file`` reads one pattern per line (lines are not split)."""
        parts: list[str] = []
        for part in split_host_pattern(limit):
            if not part.startswith("@"):
                parts.append(part)
                continue
            path = part[1:]
            if not os.path.exists(path):
                raise InventoryError("unable to find limit file", path)
            if not os.path.isfile(path):
                raise InventoryError(
                    'a limit starting with "@" must be a file, not a directory', path
                )
            parts.extend(line.strip() for line in _read_text(path).split("\n"))
        return [p for p in parts if p]

    def _evaluate(self, parts: list[str]) -> list[str]:
        hosts: list[str] = []
        for part in _order_patterns(parts):
            if part in self._hosts:
                # A plain host name is taken as the host even when a group has that name.
                hosts.append(part)
                continue
            matched = self._match_part(part)
            if part[0] == "!":
                drop = set(matched)
                hosts = [h for h in hosts if h not in drop]
            elif part[0] == "&":
                keep = set(matched)
                hosts = [h for h in hosts if h in keep]
            else:
                seen = set(hosts)
                hosts.extend(h for h in matched if h not in seen)
        return hosts

    def _match_part(self, part: str) -> list[str]:
        text = part[1:] if part[0] in "&!" else part
        expr, subscript, dash = _split_subscript(text)
        if dash:
            self._warn("Use [x:y] inclusive subscripts instead of [x-y] which has been removed")
        _, hosts = self._enumerate(expr)
        if not hosts or subscript is None:
            return hosts
        start, end = subscript
        # Ansible treats an end of 0 as "no end" (a single index): [2:0] is [2].
        if end:
            if end == -1:
                end = len(hosts) - 1
            return hosts[start : end + 1]
        try:
            return [hosts[start]]
        except IndexError:
            raise InventoryError(f"No hosts matched the subscripted pattern '{text}'") from None

    def _enumerate(self, expr: str) -> tuple[list[str], list[str]]:
        """(matching groups, matching hosts) for one pattern part without modifiers.

        Host results keep duplicates (a glob can match a group and its hosts), so a
        subscript counts them, as in Ansible; `select` de-duplicates at the end.
        """
        regex = _compile_pattern(expr)
        groups = [g for g in self._groups if regex.match(g)]
        results: list[str] = []
        for group in groups:
            results.extend(self._hosts_of(group))
        if not groups or expr.startswith("~") or any(c in expr for c in _GLOB_CHARS):
            results.extend(h for h in self._hosts if regex.match(h))
        if not results and expr in LOCALHOST_NAMES:
            state = self._host_state(expr)
            if state is not None:
                results.append(state.name)
        return groups, results

    # -- the implicit localhost ------------------------------------------------------------

    def _host_state(self, name: str) -> _HostState | None:
        state = self._hosts.get(name)
        if state is None and name in LOCALHOST_NAMES:
            if self._localhost is None:
                # Ansible's implicit localhost: in no group, not in 'all', local connection.
                implicit = _HostState(name, implicit=True)
                implicit.vars["ansible_python_interpreter"] = sys.executable or "/usr/bin/python"
                implicit.vars["ansible_connection"] = "local"
                self._localhost = implicit
            state = self._localhost
        return state

    # -- run-time changes ------------------------------------------------------------------

    def add_host(
        self,
        name: str,
        groups: Sequence[str] = (),
        vars: Mapping[str, Any] | None = None,  # the add_host action's own word
    ) -> bool:
        """The ``add_host`` action: add or update a host; returns whether anything changed.

        A new host joins ``all`` directly (and ``ungrouped`` when it has no other
        group); missing groups are created under ``all``; ``vars`` replace the
        host's own vars key by key.
        """
        if not name:
            raise InventoryError("add_host needs a host name")
        changed = False
        state = self._hosts.get(name)
        if state is None:
            state = self._new_host(name)
            self._join("all", name)
            changed = True
        for key, value in (vars or {}).items():
            if key not in state.vars or state.vars[key] != value:
                state.vars[key] = value
                self._derived = None  # its merged variables
                changed = True
        for group in groups:
            if group not in self._groups:
                self._new_group(group)
                changed = True
            if name not in self._groups[group].hosts:
                self._join(group, name)
                changed = True
        if changed:
            self._reconcile([name])
        return changed

    def add_group(self, name: str, *, host: str | None = None, parents: Sequence[str] = ()) -> bool:
        """The ``group_by`` action: ensure a group (under ``parents``) and put ``host`` in it.

        Returns whether anything changed.  The host may be the implicit localhost.
        Raises `InventoryError` for an unknown host or a link that makes a cycle.
        """
        if not name:
            raise InventoryError("group name must not be empty")
        changed = False
        if name not in self._groups:
            self._new_group(name)
            changed = True
        for parent in parents:
            if parent not in self._groups:
                self._new_group(parent)
                changed = True
            if name not in self._groups[parent].children:
                try:
                    self._link(parent, name)
                except ValueError as exc:
                    raise InventoryError(str(exc)) from None
                changed = True
        touched: list[str] = []
        if host is not None:
            state = self._host_state(host)
            if state is None:
                raise InventoryError(f"{host} cannot be matched in inventory")
            touched.append(state.name)
            if state.name not in self._groups[name].hosts:
                self._join(name, state.name)
                changed = True
        if changed:
            self._reconcile(touched)
        return changed

    # -- building (used by the parsers) ----------------------------------------------------

    def _new_host(self, name: str) -> _HostState:
        state = _HostState(name, source=self._current_source)
        self._hosts[name] = state
        if name in LOCALHOST_NAMES:
            # The first localhost-like host answers for 'localhost'; as in Ansible, a later
            # one (even after the implicit localhost was made) only draws a warning.
            if self._localhost is None:
                self._localhost = state
            else:
                self._warn(
                    f"A duplicate localhost-like entry was found ({name}). "
                    f"First found localhost was {self._localhost.name}"
                )
        self._derived = None
        return state

    def _new_group(self, name: str) -> _GroupState:
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = _GroupState(name)
            self._derived = None
        return group

    def _declare_host(
        self, name: str, group: str, port: int | None, variables: Mapping[str, Any]
    ) -> None:
        if not name:
            raise ValueError("invalid empty host name")
        state = self._hosts.get(name)
        if state is None:
            state = self._new_host(name)
            # The port of a host:port entry counts only where the host is first declared.
            if port:
                state.vars["ansible_port"] = port
        self._join(group, name)
        if variables:
            state.vars.update(variables)
            self._derived = None  # its merged variables

    def _join(self, group: str, host: str) -> None:
        members = self._groups[group].hosts
        if host not in members:
            members[host] = None
            state = self._hosts.get(host) or self._localhost
            assert state is not None and state.name == host
            state.groups.append(group)
            self._derived = None

    def _leave(self, group: str, host: str) -> None:
        del self._groups[group].hosts[host]
        self._hosts[host].groups.remove(group)
        self._derived = None

    def _link(self, parent: str, child: str) -> None:
        """Make ``child`` a subgroup of ``parent``; raises ``ValueError`` on a cycle."""
        if parent == child:
            raise ValueError(f"can't add group '{child}' to itself")
        if child in self._groups[parent].children:
            return
        if child in self._ancestors(parent):
            raise ValueError(
                f"Adding group '{child}' as child to '{parent}' "
                "creates a recursive dependency loop."
            )
        self._groups[parent].children.append(child)
        self._groups[child].parents.append(parent)
        self._derived = None

    def _set_group_var(self, group: str, key: str, value: Any) -> None:
        if key == "ansible_group_priority":
            # Read only from inventory sources; it orders groups and is no variable.
            self._groups[group].priority = int(value)
        else:
            self._groups[group].vars[key] = value
            self._derived = None  # its hosts' merged variables

    def _ancestors(self, group: str) -> frozenset[str]:
        # Cached with the other derived views: every change to the graph drops them.
        cache = self._view().ancestors
        found = cache.get(group)
        if found is None:
            seen: set[str] = set()
            todo = list(self._groups[group].parents)
            while todo:
                name = todo.pop()
                if name not in seen:
                    seen.add(name)
                    todo.extend(self._groups[name].parents)
            found = cache[group] = frozenset(seen)
        return found

    def _reconcile(self, hosts: Iterable[str] | None = None) -> None:
        """Ansible's rules after parsing or a change: orphan groups go under ``all``;
        hosts in no group but ``all`` go to ``ungrouped``, and leave it once grouped.

        After a run-time change only the ``hosts`` it touched can change status (all
        hosts when None): new groups start empty, and a new parent only adds
        ancestors to hosts that are grouped already.
        """
        for name, record in self._groups.items():
            if name != "all" and not record.parents:
                self._link("all", name)
        for name in list(self._hosts) if hosts is None else hosts:
            state = self._hosts.get(name)
            if state is None:
                continue  # the implicit localhost is never 'ungrouped'
            mine: set[str] = set()
            for group in state.groups:
                mine.add(group)
                mine |= self._ancestors(group)
            if "ungrouped" in mine:
                if mine - {"all", "ungrouped"} and "ungrouped" in state.groups:
                    self._leave("ungrouped", name)
            elif not mine or mine == {"all"}:
                self._join("ungrouped", name)
        for name in sorted(set(self._groups) & set(self._hosts)):
            message = f"Found both group and host with same name: {name}"
            if message not in self.warnings:
                self._warn(message)

    def _warn(self, message: str) -> None:
        self.warnings.append(message)

    # -- derived views ---------------------------------------------------------------------

    def _view(self) -> _Derived:
        if self._derived is None:
            self._derived = _Derived()
        return self._derived

    def _depths(self) -> dict[str, int]:
        """Longest path from ``all`` for every group (a DAG: relax in topological order)."""
        view = self._view()
        if view.depth is None:
            depth = dict.fromkeys(self._groups, 0)
            for name in self._topological():
                for child in self._groups[name].children:
                    depth[child] = max(depth[child], depth[name] + 1)
            view.depth = depth
        return view.depth

    def _hosts_of(self, group: str) -> list[str]:
        view = self._view()
        hosts = view.group_hosts.get(group)
        if hosts is None:
            hosts = view.group_hosts[group] = self._group_hosts(group)
        return hosts

    def _groups_of(self, host: _HostState) -> list[str]:
        """Every group holding the host, directly or through a subgroup, in inventory order.

        For the implicit localhost this includes ``all`` when it is in some group:
        ``all`` leaves it out of its host list, not out of its groups.
        """
        view = self._view()
        groups = view.host_groups.get(host.name)
        if groups is None:
            if view.group_order is None:
                view.group_order = {name: i for i, name in enumerate(self._groups)}
            found: set[str] = set()
            for group in host.groups:
                found.add(group)
                found |= self._ancestors(group)
            groups = sorted(found, key=view.group_order.__getitem__)
            view.host_groups[host.name] = groups
        return groups

    def _snapshot_groups(self) -> Mapping[str, Group]:
        view = self._view()
        if view.groups is None:
            depth = self._depths()
            view.groups = MappingProxyType(
                {
                    name: Group(
                        name=name,
                        hosts=tuple(g.hosts),
                        children=tuple(g.children),
                        parents=tuple(g.parents),
                        vars=MappingProxyType(dict(g.vars)),
                        priority=g.priority,
                        depth=depth[name],
                    )
                    for name, g in self._groups.items()
                }
            )
        return view.groups

    def _snapshot_hosts(self) -> Mapping[str, Host]:
        view = self._view()
        if view.hosts is None:
            view.hosts = MappingProxyType(
                {name: self._snapshot_host(state) for name, state in self._hosts.items()}
            )
        return view.hosts

    def _snapshot_host(self, state: _HostState) -> Host:
        return Host(
            name=state.name,
            vars=MappingProxyType(dict(state.vars)),
            groups=tuple(self._groups_of(state)),
            source=state.source,
            implicit=state.implicit,
        )

    def _topological(self) -> list[str]:
        out: list[str] = []
        marks: set[str] = set()

        def visit(name: str) -> None:
            if name in marks:
                return
            marks.add(name)
            for parent in self._groups[name].parents:
                visit(parent)
            out.append(name)

        for name in self._groups:
            visit(name)
        return out

    def _group_hosts(self, name: str) -> list[str]:
        """The group's own hosts, then its subgroups' level by level (breadth first)."""
        level = [name]
        seen_groups = {name}
        hosts: dict[str, None] = {}
        while level:
            following: list[str] = []
            for group in level:
                for host in self._groups[group].hosts:
                    hosts.setdefault(host, None)
                for child in self._groups[group].children:
                    if child not in seen_groups:
                        seen_groups.add(child)
                        following.append(child)
            level = following
        if name == "all" and self._localhost is not None and self._localhost.implicit:
            hosts.pop(self._localhost.name, None)
        return list(hosts)

    def _sorted_groups(self, groups: Iterable[str]) -> list[str]:
        """Groups in merge order: by depth, then ``ansible_group_priority``, then name."""
        depth = self._depths()
        return sorted(
            (g for g in groups if g != "all"),
            key=lambda g: (depth[g], self._groups[g].priority, g),
        )

    # -- group_vars / host_vars files ------------------------------------------------------

    def _file_vars(self, dirs: Sequence[str], kind: str, names: Sequence[str]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for base in dirs:
            for name in names:
                for _, data in self._vars_files_for(base, kind, name):
                    result.update(data)
        return result

    def _vars_files_for(self, base: str, kind: str, name: str) -> list[tuple[str, dict[str, Any]]]:
        key = (base, kind, name)
        cached = self._vars_files.get(key)
        if cached is not None:
            return cached
        found: list[tuple[str, dict[str, Any]]] = []
        folder = os.path.join(base, kind)
        # A name starting with '/' is a chroot-style host, never a file name.
        if not name.startswith(os.sep) and os.path.isdir(folder):
            for path in _find_vars_files(folder, name):
                data = _load_vars_file(path)
                if data:
                    found.append((path, data))
        self._vars_files[key] = found
        return found

    def _preload_vars_files(self) -> None:
        """Read every applicable vars file now, so a broken one fails at load time."""
        for base in self.vars_dirs:
            folder_kinds = [("group_vars", list(self._groups)), ("host_vars", list(self._hosts))]
            for kind, names in folder_kinds:
                folder = os.path.join(base, kind)
                if os.path.exists(folder) and not os.path.isdir(folder):
                    self._warn(f"Found {kind} that is not a directory, skipping: {folder}")
                    continue
                for name in names:
                    self._vars_files_for(base, kind, name)


def _find_vars_files(folder: str, name: str) -> list[str]:
    """The first of ``name``, ``name.yml``, ``name.yaml``, ``name.json`` that exists;
    a directory stands for every vars file inside it."""
    for ext in ("", *_VARS_EXTENSIONS):
        path = os.path.join(folder, name + ext)
        if os.path.isdir(path):
            return _vars_files_in(path)
        if os.path.exists(path):
            return [path]
    return []


def _vars_files_in(folder: str) -> list[str]:
    found: list[str] = []
    for entry in sorted(os.listdir(folder)):
        if entry.startswith(".") or entry.endswith("~"):
            continue
        path = os.path.join(folder, entry)
        ext = os.path.splitext(entry)[1]
        if os.path.isdir(path):
            if not ext:
                found.extend(_vars_files_in(path))
        elif os.path.isfile(path) and (not ext or ext in _VARS_EXTENSIONS):
            found.append(path)
    return found


def _load_vars_file(path: str) -> dict[str, Any]:
    doc = _YamlDoc(_read_text(path), path)
    if doc.root is None or _is_null(doc.root):
        return {}
    data = doc.value(doc.root)
    if not isinstance(data, dict):
        raise doc.error(f"a vars file must hold a mapping, not a {type(data).__name__}", doc.root)
    return data


# --------------------------------------------------------------------------------------------
# Parsers


_SECTION_RE: Final = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME_RE: Final = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")


class _IniParser:
    """Reads one INI inventory file into an `Inventory` (ansible-core's INI rules)."""

    def __init__(self, inventory: Inventory, path: str) -> None:
        self.inv = inventory
        self.path = path
        self.lineno = 0

    def fail(self, message: str, line: int | None = None) -> InventoryError:
        return InventoryError(message, self.path, self.lineno if line is None else line)

    def parse(self, text: str) -> None:
        group, state = "ungrouped", "hosts"
        # Groups named before they are declared: name -> (line, kind, parents).
        pending: dict[str, tuple[int, str, list[str]]] = {}
        for self.lineno, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            m = _SECTION_RE.match(line)
            if m:
                group, kind = m.group(1), m.group(2) or "hosts"
                if kind not in ("hosts", "children", "vars"):
                    raise self.fail(f"Section [{group}:{kind}] has unknown type: {kind}")
                state = kind
                if group not in self.inv._groups:
                    # [g:vars] alone does not declare g; it must be declared somewhere.
                    if kind == "vars" and group not in pending:
                        pending[group] = (self.lineno, "vars", [])
                    self.inv._new_group(group)
                if group in pending and kind != "vars":
                    self._resolve(group, pending)
                continue
            if line.startswith("[") and line.endswith("]"):
                raise self.fail(
                    f"Invalid section entry: '{line}'. A section is [name], [name:vars] or "
                    "[name:children], with no spaces"
                )
            if state == "hosts":
                self._host_line(line, group)
            elif state == "vars":
                key, sep, value = line.partition("=")
                if not sep:
                    raise self.fail(f"Expected key=value, got: {line}")
                self._group_var(group, key.strip(), _ini_value(value.strip()))
            else:
                m = _GROUP_NAME_RE.match(line)
                if not m:
                    raise self.fail(f"Expected group name, got: {line}")
                child = m.group(1)
                if child in self.inv._groups:
                    self._link(group, child)
                elif child in pending:
                    pending[child][2].append(group)
                else:
                    pending[child] = (self.lineno, "children", [group])
        for name, (where, kind, parents) in pending.items():
            if kind == "vars":
                message = f"Section [{name}:vars] not valid for undefined group '{name}'"
            else:
                message = f"Section [{parents[-1]}:children] includes undefined group '{name}'"
            raise self.fail(message, where)

    def _resolve(self, group: str, pending: dict[str, tuple[int, str, list[str]]]) -> None:
        line, _, parents = pending.pop(group)
        for parent in parents:
            self._link(parent, group, line)
            if parent in pending and pending[parent][1] == "children":
                self._resolve(parent, pending)

    def _link(self, parent: str, child: str, line: int | None = None) -> None:
        try:
            self.inv._link(parent, child)
        except ValueError as exc:
            raise self.fail(str(exc), line) from None

    def _group_var(self, group: str, key: str, value: Any) -> None:
        try:
            self.inv._set_group_var(group, key, value)
        except (TypeError, ValueError):
            raise self.fail(f"ansible_group_priority must be an integer, got: {value!r}") from None

    def _host_line(self, line: str, group: str) -> None:
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as exc:
            raise self.fail(f"Error parsing host definition '{line}': {exc}") from None
        if not tokens:
            return
        entry = tokens[0]
        try:
            names, port = _expand_host_entry(entry)
        except ValueError as exc:
            raise self.fail(str(exc)) from None
        if entry.strip().endswith(":") and port is None:
            raise self.fail(
                f"Invalid host pattern '{entry}' supplied, ending in ':' is not allowed, "
                "this character is reserved to provide a port."
            )
        if any(name.strip() == "---" for name in names):
            raise self.fail(
                f"Invalid host pattern '{entry}' supplied, '---' is normally a sign this "
                "is a YAML file."
            )
        variables: dict[str, Any] = {}
        for token in tokens[1:]:
            key, sep, value = token.partition("=")
            if not sep:
                raise self.fail(f"Expected key=value host variable assignment, got: {token}")
            variables[key] = _ini_value(value)
        for name in names:
            try:
                self.inv._declare_host(name, group, port, variables)
            except ValueError as exc:
                raise self.fail(str(exc)) from None


class _YamlParser:
    """Reads one YAML inventory document into an `Inventory` (ansible-core's YAML rules)."""

    def __init__(self, inventory: Inventory, doc: _YamlDoc) -> None:
        self.inv = inventory
        self.doc = doc

    def parse(self) -> None:
        root = self.doc.root
        if root is None or _is_null(root):
            return  # an empty file is an empty inventory (Ansible's INI plugin accepts it)
        if not isinstance(root, yaml.MappingNode):
            raise self.doc.error("a YAML inventory must be a mapping of groups", root)
        items = self.doc.items(root)
        for key, _, value_node in items:
            if key == "plugin" and self.doc.value(value_node):
                raise self.doc.error(
                    "inventory plugin configuration files (plugin:) are not supported", root
                )
        for key, key_node, value_node in items:
            if isinstance(value_node, yaml.MappingNode) or _is_null(value_node):
                self._group(key, key_node, value_node)
            else:
                self.inv._warn(f"Skipping '{key}' as this is not a valid group definition")

    def _group(self, name: Any, key_node: yaml.Node, node: yaml.Node) -> str:
        if not isinstance(name, str) or not name:
            raise self.doc.error(f"group name must be a non-empty string, got: {name!r}", key_node)
        self.inv._new_group(name)
        if _is_null(node):
            return name
        assert isinstance(node, yaml.MappingNode)
        for key, _, vnode in self.doc.items(node):
            if isinstance(vnode, yaml.ScalarNode) and key in ("vars", "children", "hosts"):
                if _is_null(vnode):
                    continue
                if isinstance(self.doc.value(vnode), str):
                    # 'hosts: web1' means {web1: null}, as Ansible allows.
                    self._section(name, key, [(self.doc.value(vnode), vnode, None)])
                    continue
            if key in ("vars", "children", "hosts") and not isinstance(vnode, yaml.MappingNode):
                raise self.doc.error(
                    f'Invalid "{key}" entry for "{name}" group, requires a dictionary, '
                    f"found {_kind(vnode)} instead.",
                    vnode,
                )
            if not isinstance(vnode, yaml.MappingNode):
                if not _is_null(vnode):
                    self.inv._warn(
                        f"Skipping key ({key}) in group ({name}) as it is not a mapping, "
                        f"it is a {_kind(vnode)}"
                    )
                continue
            if key not in ("vars", "children", "hosts"):
                self.inv._warn(
                    f"Skipping unexpected key ({key}) in group ({name}), "
                    'only "vars", "children" and "hosts" are valid'
                )
                continue
            self._section(name, key, list(self.doc.items(vnode)))
        return name

    def _section(
        self, group: str, key: str, entries: list[tuple[Any, yaml.Node, yaml.Node | None]]
    ) -> None:
        for entry, knode, vnode in entries:
            if key == "vars":
                value = None if vnode is None else self.doc.value(vnode)
                try:
                    self.inv._set_group_var(group, entry, value)
                except (TypeError, ValueError):
                    raise self.doc.error(
                        f"ansible_group_priority must be an integer, got: {value!r}", knode
                    ) from None
            elif key == "children":
                if vnode is not None and not (
                    isinstance(vnode, yaml.MappingNode) or _is_null(vnode)
                ):
                    raise self.doc.error(
                        f"group '{entry}' must be a mapping (or empty), not {_kind(vnode)}", vnode
                    )
                empty = yaml.ScalarNode("tag:yaml.org,2002:null", "")
                child = self._group(entry, knode, vnode or empty)
                try:
                    self.inv._link(group, child)
                except ValueError as exc:
                    raise self.doc.error(str(exc), knode) from None
            else:
                self._host(group, entry, knode, vnode)

    def _host(self, group: str, entry: Any, knode: yaml.Node, vnode: yaml.Node | None) -> None:
        if not isinstance(entry, str):
            raise self.doc.error(
                f"Host pattern {entry!r} must be a string. "
                "Enclose integers/floats in quotation marks.",
                knode,
            )
        value = None if vnode is None else self.doc.value(vnode)
        if not value:
            value = {}  # Ansible reads any empty value as "no vars"
        if not isinstance(value, dict):
            assert vnode is not None
            raise self.doc.error(
                f"host '{entry}' must map to its variables, not a {_kind(vnode)}", vnode
            )
        try:
            names, port = _expand_host_entry(entry)
            for name in names:
                self.inv._declare_host(name, group, port, value)
        except ValueError as exc:
            raise self.doc.error(str(exc), knode) from None


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "mapping"
    if isinstance(node, yaml.SequenceNode):
        return "list"
    return "scalar"


def _looks_like_yaml_inventory(doc: _YamlDoc) -> bool:
    """For a file without extension: a mapping whose values are mappings or empty."""
    root = doc.root
    if not isinstance(root, yaml.MappingNode):
        return False
    return all(isinstance(v, yaml.MappingNode) or _is_null(v) for _, v in root.value)


# --------------------------------------------------------------------------------------------
# Loading


def _source_path(source: str) -> str:
    return os.path.abspath(os.path.expandvars(os.path.expanduser(source)))


def _first_line_opens_mapping(text: str) -> bool:
    """Whether the first significant line reads like YAML (``all:``, ``---``)."""
    for raw in text.splitlines():
        line = raw.strip()
        if line and line[0] not in "#;":
            return line == "---" or (line.endswith(":") and not line.startswith("["))
    return False


def _ignored(name: str) -> bool:
    return name.startswith(".") or name in _IGNORED_NAMES or name.endswith(IGNORED_SUFFIXES)


def _parse_file(inv: Inventory, path: str, shown: str) -> None:
    """Parse one inventory file; ``shown`` is the path as error messages print it."""
    ext = os.path.splitext(path)[1]
    if ext == ".toml":
        raise InventoryError("TOML inventories are not supported; use INI or YAML", shown)
    if not os.path.isfile(path):  # before the shebang peek: a FIFO would block it
        raise InventoryError("not a regular file", shown)
    if os.access(path, os.X_OK):
        with open(path, "rb") as fh:
            if fh.read(2) == b"#!":
                raise InventoryError(
                    "executable inventory scripts are not supported; "
                    "save the script's --list output as a YAML/JSON inventory instead",
                    shown,
                )
    text = _read_text(path)
    inv._current_source = path
    try:
        if ext in _VARS_EXTENSIONS:
            _YamlParser(inv, _YamlDoc(text, shown)).parse()
            return
        yaml_error: InventoryError | None = None
        if not ext:
            try:
                doc: _YamlDoc | None = _YamlDoc(text, shown)
            except InventoryError as exc:
                doc, yaml_error = None, exc
            if doc is not None and _looks_like_yaml_inventory(doc):
                _YamlParser(inv, doc).parse()
                return
        try:
            _IniParser(inv, shown).parse(text)
        except InventoryError:
            # A broken YAML inventory without extension: the YAML error says more.
            if yaml_error is not None and _first_line_opens_mapping(text):
                raise yaml_error from None
            raise
    finally:
        inv._current_source = None


def _parse_dir(inv: Inventory, path: str, shown: str) -> None:
    for entry in sorted(os.listdir(path)):
        if _ignored(entry):
            continue
        full, full_shown = os.path.join(path, entry), os.path.join(shown, entry)
        if os.path.isdir(full):
            _parse_dir(inv, full, full_shown)
        else:
            _parse_file(inv, full, full_shown)


def _parse_host_list(inv: Inventory, text: str) -> None:
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            name, port = parse_address(item)
        except ValueError:
            name, port = item, None  # no ranges here: 'web[1:2]' stays one literal name
        if name not in inv._hosts:
            inv._declare_host(name, "ungrouped", port, {})


def load_inventory(sources: Sequence[str]) -> Inventory:
    """Read inventory sources given like Ansible's ``-i`` options, in order.

    Each source is a host list (``'h1,h2,'``), a file or a directory.  With no
    sources the inventory is empty and only the implicit localhost is available.
    Raises `InventoryError` (``file:line: message``) for a missing or bad source.
    """
    vars_dirs: list[str] = []
    for source in sources:
        if source and not ("," in source and not os.path.exists(source)):
            path = _source_path(source)
            base = path if os.path.isdir(path) else os.path.dirname(path)
            vars_dirs.append(os.path.realpath(base))
    inv = Inventory(sources=sources, vars_dirs=vars_dirs)
    for source in sources:
        if not source:
            continue
        if "," in source and not os.path.exists(source):
            _parse_host_list(inv, source)
            continue
        path = _source_path(source)
        shown = os.path.normpath(source)
        if not os.path.exists(path):
            raise InventoryError("inventory source not found", shown)
        if os.path.isdir(path):
            _parse_dir(inv, path, shown)
        else:
            _parse_file(inv, path, shown)
    inv._reconcile()
    if not sources:
        inv.warnings.append("No inventory was parsed, only implicit localhost is available")
    if not inv._hosts:
        inv.warnings.append(_EMPTY_INVENTORY_WARNING)
    inv._preload_vars_files()
    return inv
