"""A cache of compiled playbooks, so checking an unchanged playbook again is instant.

Like mypy's and ruff's caches: the result of `compile_playbook` is stored under
``$XDG_CACHE_HOME/playgraph/compile`` (default ``~/.cache``), keyed by the
playbook's path, the working directory, the compile options and a fingerprint
of playgraph's own compiler code and data.  A stored result is used only when
everything the compilation saw of the file system is unchanged: the content of
every file it read (imports, roles, vars), every path it probed and every folder
it listed (``Compiled.inputs``).  Anything else — a stale or unreadable entry —
just means compiling again.  ``--no-cache`` or ``PLAYGRAPH_NO_CACHE=1`` turn it off.

The compiler stays pure; this module, at the CLI boundary, is where results are
written to disk.
"""

from __future__ import annotations

import copyreg
import dataclasses
import functools
import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

from playgraph import __version__
from playgraph.compiler.result import Compiled, CompileOptions, fingerprint

_KEEP = 64
"""Entries kept; older ones are removed when a new one is written."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "playgraph" / "compile"


@functools.cache
def _code_fingerprint() -> str:
    """Size and mtime of every file of the compiler and grammars (a code change invalidates)."""
    import playgraph.compiler
    import playgraph.grammar

    digest = hashlib.sha256(__version__.encode())
    for package in (playgraph.compiler, playgraph.grammar):
        root = Path(str(package.__file__)).parent
        for path in sorted(root.rglob("*")):
            if path.suffix in (".py", ".lark", ".json") and path.is_file():
                stat = path.stat()
                digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _key(path: str, options: CompileOptions) -> str:
    material = repr((path, os.getcwd(), sorted(vars_of(options).items()), _code_fingerprint()))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def vars_of(options: CompileOptions) -> dict[str, object]:
    return {name: repr(getattr(options, name)) for name in options.__dataclass_fields__}


_FIELDS: dict[type[Any], tuple[str, ...]] = {}


def _rebuild(cls: type[Any], values: tuple[Any, ...]) -> Any:
    obj = object.__new__(cls)
    for name, value in zip(_FIELDS[cls], values, strict=True):
        object.__setattr__(obj, name, value)
    return obj


def _reduce(obj: Any) -> tuple[Any, ...]:
    cls = type(obj)
    return _rebuild, (cls, tuple(getattr(obj, name) for name in _FIELDS[cls]))


@functools.cache
def _fast_pickling() -> None:
    """Pickle the IR's frozen slotted dataclasses as plain field tuples.

    The default protocol for slotted dataclasses calls ``dataclasses.fields`` for
    every object while loading, which made reading a 2,000-task graph slower than
    much of compiling it.
    """
    from playgraph.compiler import diagnostics, ir, spans

    for module in (ir, diagnostics, spans):
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and dataclasses.is_dataclass(value)
                and value.__module__ == module.__name__
            ):
                _FIELDS[value] = tuple(f.name for f in dataclasses.fields(value))
                copyreg.pickle(value, _reduce)


def enabled() -> bool:
    return os.environ.get("PLAYGRAPH_NO_CACHE", "") in ("", "0")


def compile_cached(path: str, options: CompileOptions, *, use_cache: bool = True) -> Compiled:
    """`compile_playbook`, answered from the cache when nothing it depends on changed."""
    if not (use_cache and enabled()):
        return _compile(path, options)
    _fast_pickling()
    entry = cache_dir() / f"{_key(path, options)}.pickle"
    try:
        with open(entry, "rb") as handle:
            cached = pickle.load(handle)
        if isinstance(cached, Compiled) and all(
            fingerprint(seen, kind) == kind for seen, kind in cached.inputs.items()
        ):
            return cached
    except Exception:
        pass
    compiled = _compile(path, options)
    _store(entry, compiled)
    return compiled


def _compile(path: str, options: CompileOptions) -> Compiled:
    from playgraph.compiler.lower import compile_playbook  # the parsers: only on a miss

    return compile_playbook(path, options)


def _store(entry: Path, compiled: Compiled) -> None:
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=entry.parent, suffix=".tmp")
        with os.fdopen(descriptor, "wb") as handle:
            pickle.dump(compiled, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, entry)
        entries = sorted(entry.parent.glob("*.pickle"), key=lambda p: p.stat().st_mtime)
        for stale in entries[:-_KEEP]:
            stale.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only cache directory: compile every time
