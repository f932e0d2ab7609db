"""Loading the LALR parsers fast, and the private on-disk caches that make it possible.

Building the expression grammar's LALR tables takes about half a second, longer
than checking most playbooks, so the built tables are saved under
``$XDG_CACHE_HOME/playgraph`` (default ``~/.cache``), keyed by the grammar text,
the options, lark's version and Python's.

Caches are read back only when they cannot be anyone else's work:

* the format is data, never code: tagged JSON (`encode`/`decode`), not pickle
  (which lark's own ``save``/``cache=`` use, and which runs whatever a planted file
  says);
* a cache file is read only if it is a regular file owned by the current user and
  not writable by group or others, and every folder above it is owned by the
  current user or root and not group/world-writable (unless sticky, as ``/tmp``);
  anything else is ignored as if absent (``PLAYGRAPH_DEBUG=1`` says why on stderr)
  and never written into.

Files are written atomically (a temporary file renamed into place), so concurrent
runs never read a half-written cache; any problem with a cache just means
building the parser (or compiling) again.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import stat
import sys
import tempfile
import types
from collections.abc import Callable, Mapping
from enum import Enum
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lark import Lark

__all__ = [
    "cache_root",
    "decode",
    "encode",
    "load_parser",
    "read_private",
    "write_private",
]


def cache_root() -> str:
    """``$XDG_CACHE_HOME/playgraph`` (default ``~/.cache/playgraph``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "playgraph")


def _debug(message: str) -> None:
    if os.environ.get("PLAYGRAPH_DEBUG"):
        sys.stderr.write(f"playgraph: debug: {message}\n")


# --------------------------------------------------------------------------- trust


def _foreign(st: os.stat_result, *, folder: bool) -> str | None:
    """Why a file or folder with this status may hold someone else's bytes (None: it cannot).

    Folders may also be root's (``/``, ``/home``); a sticky one (``/tmp``) lets others
    add entries but not replace ours, so it may be world-writable.
    """
    uid = os.geteuid()
    if st.st_uid != uid and not (folder and st.st_uid == 0):
        return f"owned by uid {st.st_uid}, not {uid}"
    if st.st_mode & 0o022 and not (folder and st.st_mode & stat.S_ISVTX):
        return f"writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def _untrusted_folders(folder: str) -> str | None:
    """Why ``folder`` or a folder above it could be changed by another user (None: none can)."""
    current = os.path.realpath(folder)
    while True:
        try:
            st = os.stat(current)
        except OSError as error:
            return f"{current}: {error.strerror or error}"
        why = _foreign(st, folder=True)
        if why is not None:
            return f"{current} is {why}"
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def read_private(path: str) -> bytes | None:
    """The bytes of a cache file, or None when absent, unreadable or possibly not ours."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None  # absent (the usual miss), a symlink, unreadable
    with os.fdopen(descriptor, "rb") as handle:
        st = os.fstat(descriptor)
        why = (
            "not a regular file"
            if not stat.S_ISREG(st.st_mode)
            else _foreign(st, folder=False) or _untrusted_folders(os.path.dirname(path))
        )
        if why is not None:
            _debug(f"ignoring cache file {path}: {why}")
            return None
        return handle.read()


def write_private(path: str, data: bytes) -> bool:
    """Write a cache file (atomically, mode 0600) in folders only we can change; False if not."""
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return False  # a read-only home: no cache
    why = _untrusted_folders(folder)
    if why is not None:
        _debug(f"not writing cache file {path}: {why}")
        return False
    try:
        descriptor, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------- format

# Tagged JSON: scalars are themselves; every container is a list whose first item
# says what it is, so decoding needs no guessing and can build only the types given.
_LIST, _TUPLE, _DICT, _CLASS, _ENUM, _TEXT = "l", "t", "d", "c", "e", "s"
_SCALARS = (str, int, float, bool, type(None))


class Codec:
    """Plain data plus the given frozen dataclasses, enums and classes with a codec."""

    def __init__(
        self,
        classes: Mapping[str, type[Any]] | None = None,
        custom: Mapping[type[Any], tuple[Callable[[Any], list[Any]], Callable[..., Any]]]
        | None = None,
    ) -> None:
        """``classes`` by the names stored for them; ``custom`` classes are stored as the
        list their first function makes and rebuilt by calling the second with it."""
        self.classes = dict(classes or {})
        self.names = {cls: name for name, cls in self.classes.items()}
        self.custom = dict(custom or {})
        self.fields = {
            cls: tuple(f.name for f in dataclasses.fields(cls))
            for cls in self.classes.values()
            if dataclasses.is_dataclass(cls)
        }
        self.setters: dict[type[Any], tuple[Callable[[Any, Any], None], ...]] = {}
        self.members: dict[str, dict[Any, Any]] = {}

    def encode(self, value: Any) -> Any:
        kind = type(value)
        if kind in _SCALARS:
            return value
        if kind is list:
            return [_LIST, *(self.encode(v) for v in value)]
        if kind is tuple:
            return [_TUPLE, *(self.encode(v) for v in value)]
        if kind is dict:
            out: list[Any] = [_DICT]
            for key, item in value.items():
                out.append(self.encode(key))
                out.append(self.encode(item))
            return out
        name = self.names.get(kind)
        if name is None:
            raise TypeError(f"cannot cache a {kind.__name__}")
        if issubclass(kind, Enum):
            return [_ENUM, name, value.value]
        if kind in self.custom:
            return [_TEXT, name, *(self.encode(v) for v in self.custom[kind][0](value))]
        return [_CLASS, name, *(self.encode(getattr(value, f)) for f in self.fields[kind])]

    def decode(self, value: Any) -> Any:
        if type(value) is not list:
            return value
        # Scalars are most items: they are taken as they are, without a call.
        decode = self.decode
        tag = value[0]
        if len(value) == 1:  # most containers of a graph are empty
            if tag == _TUPLE:
                return ()
            if tag == _DICT:
                return {}
            if tag == _LIST:
                return []
        if tag == _LIST:
            return [decode(v) if type(v) is list else v for v in value[1:]]
        if tag == _TUPLE:
            return tuple([decode(v) if type(v) is list else v for v in value[1:]])
        if tag == _DICT:
            items = [decode(v) if type(v) is list else v for v in value[1:]]
            return dict(zip(items[::2], items[1::2], strict=True))
        if tag == _ENUM:
            members = self.members.get(value[1])
            if members is None:
                members = self.members[value[1]] = {m.value: m for m in self.classes[value[1]]}
            member = members.get(value[2])
            return member if member is not None else self.classes[value[1]](value[2])
        cls = self.classes[value[1]]
        if tag == _TEXT:
            return self.custom[cls][1](*[decode(v) for v in value[2:]])
        if tag != _CLASS:
            raise ValueError(f"unknown tag {tag!r}")
        setters = self.setters.get(cls)
        if setters is None:
            setters = self.setters[cls] = self._setters(cls)
        if len(setters) != len(value) - 2:
            raise ValueError(f"{cls.__name__} needs {len(setters)} fields")
        # Fields as stored, without __init__ (whose init=False fields would be lost).
        obj = object.__new__(cls)
        for setter, item in zip(setters, value[2:], strict=True):
            setter(obj, decode(item) if type(item) is list else item)
        return obj

    def _setters(self, cls: type[Any]) -> tuple[Callable[[Any, Any], None], ...]:
        """How each field is set: a slot's own descriptor (a frozen dataclass's
        ``__setattr__`` refuses, and going around it by name costs a lookup per field)."""
        setters: list[Callable[[Any, Any], None]] = []
        for name in self.fields[cls]:
            slot = getattr(cls, name, None)
            if isinstance(slot, types.MemberDescriptorType):
                setters.append(slot.__set__)
            else:
                setters.append(functools.partial(_set_field, name=name))
        return tuple(setters)

    def dumps(self, value: Any) -> bytes:
        return json.dumps(self.encode(value), ensure_ascii=False, separators=(",", ":")).encode()

    def loads(self, data: bytes) -> Any:
        return self.decode(json.loads(data))


def _set_field(obj: Any, value: Any, *, name: str) -> None:
    object.__setattr__(obj, name, value)


_PLAIN = Codec()


def encode(value: Any) -> bytes:
    """Plain data (dicts, lists, tuples, scalars) as tagged JSON."""
    return _PLAIN.dumps(value)


def decode(data: bytes) -> Any:
    """What `encode` wrote; raises ValueError, TypeError or KeyError for anything else."""
    return _PLAIN.loads(data)


# --------------------------------------------------------------------------- parsers

_UNSAVED_OPTIONS = ("import_paths", "source_path")
"""Options lark keeps as loader objects; loading does not need them."""


TABLES_PACKAGE = "playgraph.grammar.tables"
"""Where the built tables ship inside the package (made by ``scripts/gen_tables.py``)."""

ship_into: str | None = None
"""Set by ``scripts/gen_tables.py``: also write the tables built here into this folder."""


def _table_key(text: str, options: Mapping[str, Any], lark_version: str) -> str:
    # The tables are plain JSON: they depend on the grammar, the options and lark's
    # serialisation (its minor version), not on Python's version.
    minor = ".".join(lark_version.split(".")[:2])
    material = repr((text, sorted(options.items()), minor))
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def _shipped(grammar: str, key: str) -> Any | None:
    """The tables shipped in the package for ``grammar``, if built from this grammar text."""
    try:
        data = resources.files(TABLES_PACKAGE).joinpath(f"{grammar}.json").read_bytes()
        saved = decode(data)
    except (OSError, ModuleNotFoundError, ValueError, TypeError, KeyError) as error:
        _debug(f"no shipped tables for {grammar}: {type(error).__name__}: {error}")
        return None
    if not isinstance(saved, dict) or saved.get("key") != key:
        _debug(f"the shipped tables for {grammar} are for another grammar or lark")
        return None
    return saved


def load_parser(grammar: str, **options: Any) -> Lark:
    """``Lark.open_from_package("playgraph.grammar", grammar, **options)``, without building.

    The tables come from the package (built when the grammar last changed), else from
    the user's private cache, else they are built (about half a second) and cached.
    """
    # lark here, not at the top: the CLI's compile cache uses this module's helpers and
    # a cached `playgraph check` never needs a parser.
    import lark
    from lark import Lark

    text = resources.files(__package__).joinpath(grammar).read_text(encoding="utf-8")
    key = _table_key(text, options, lark.__version__)
    path = os.path.join(cache_root(), f"{grammar}-{key}.json")
    shipped = _shipped(grammar, key) if ship_into is None else None
    if shipped is not None:
        try:
            return Lark._load_from_dict(shipped["data"], shipped["memo"])  # type: ignore[no-untyped-call,no-any-return]
        except Exception as error:  # noqa: BLE001 - tables of another lark: try the cache
            _debug(f"ignoring the shipped tables of {grammar}: {type(error).__name__}: {error}")
    data = read_private(path) if ship_into is None else None
    if data is not None:
        try:
            saved = decode(data)
            return Lark._load_from_dict(saved["data"], saved["memo"])  # type: ignore[no-untyped-call,no-any-return]
        except Exception as error:  # noqa: BLE001 - a damaged or older cache: build again
            _debug(f"ignoring cache file {path}: {type(error).__name__}: {error}")
    parser = Lark.open_from_package("playgraph.grammar", grammar, **options)
    try:
        from lark.grammar import Rule
        from lark.lexer import TerminalDef

        tables, memo = parser.memo_serialize([TerminalDef, Rule])
        for name in _UNSAVED_OPTIONS:
            tables["options"].pop(name, None)
        if ship_into is not None:
            with open(os.path.join(ship_into, f"{grammar}.json"), "wb") as handle:
                handle.write(encode({"key": key, "data": tables, "memo": memo}))
        else:
            write_private(path, encode({"data": tables, "memo": memo}))
    except (TypeError, ValueError) as error:  # a lark that serialises other types
        _debug(f"not caching the {grammar} parser: {error}")
    return parser
