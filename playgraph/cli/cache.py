"""A cache of compiled playbooks, so checking an unchanged playbook again is instant.

Like mypy's and ruff's caches: the result of `compile_playbook` is stored under
``$XDG_CACHE_HOME/playgraph/compile`` (default ``~/.cache``), keyed by the
playbook's path, the working directory, the compile options and a fingerprint
of playgraph's own compiler code and data.  A stored result is used only when
everything the compilation saw of the file system is unchanged: the content of
every file it read (imports, roles, vars), every path it probed and every folder
it listed (``Compiled.inputs``).  Anything else — a stale or unreadable entry —
just means compiling again.  ``--no-cache`` or ``PLAYGRAPH_NO_CACHE=1`` turn it off.

Entries are tagged JSON that can only rebuild the compiler's own value types
(never pickle), and are read only from files and folders that no other user can
change (`playgraph.grammar.loading.read_private`); anything else is a miss.

The compiler stays pure; this module, at the CLI boundary, is where results are
written to disk.

`playgraph check` keeps a second, smaller cache on top: its whole report (the
text it printed and its exit code) for a given command line, valid while every
compiled input, the lint configuration it found (or the places it looked) and
playgraph's own code are unchanged — so a re-run does not even import the linter.

Below the whole result, two caches make a compilation after an edit cost about what
changed: each task file's lowering (``fragments/``, see `_Fragments` and
`playgraph.compiler.lower.fragments`), and what the parsers said of each template and
free-form argument text (``texts/``, `playgraph.compiler.context.remember`), so that
unchanged texts need neither lark nor Jinja (and new ones mostly do not either: well-formed
expressions are read without the grammar, `playgraph.grammar.expr.fast_path`, and plain
command lines without the arguments grammar).  A result assembled from stored task
files is not stored whole again: assembling it costs less than storing it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import hashlib
import os
from collections.abc import Iterator, Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from playgraph import __version__
from playgraph.compiler.result import Compiled, CompileOptions, Fragment, fingerprint
from playgraph.grammar.loading import Codec, cache_root, read_private, write_private

_KEEP = 64
"""Entries kept; older ones are removed when a new one is written."""
_SUFFIX = ".json"
_UNUSABLE = (OSError, ValueError, LookupError, TypeError, AttributeError, RecursionError)
"""What decoding a stale, truncated or foreign entry can raise: it is a miss, not an error."""


@contextlib.contextmanager
def few_collections() -> Iterator[None]:
    """Run a compilation with the garbage collector mostly out of the way.

    Compiling allocates a few hundred objects per task and frees almost none (the
    tree, the graph): the default thresholds start a collection every 700
    allocations and a full one as the heap grows, each walking everything built so
    far, so large playbooks paid more per task the larger they were.  What was
    imported before is frozen (never walked again) and young collections are rare;
    the thresholds come back afterwards.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG, thresholds[1], thresholds[2])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


_GC_YOUNG = 200_000
"""Allocations between young collections while compiling (Python's default: 700)."""


def cache_dir(kind: str = "compile") -> Path:
    return Path(cache_root()) / kind


@functools.cache
def _code_fingerprint(*, with_cli: bool = False) -> str:
    """Size and mtime of every file of the compiler, the grammars and the shared semantics
    they use (a code change invalidates); ``with_cli`` adds the CLI's own modules, which
    format reports."""
    import playgraph.compiler
    import playgraph.grammar
    import playgraph.semantics

    digest = hashlib.sha256(__version__.encode())
    files = [
        path
        for package in (playgraph.compiler, playgraph.grammar)
        for path in sorted(Path(str(package.__file__)).parent.rglob("*"))
    ]
    files.append(Path(str(playgraph.semantics.__file__)))
    if with_cli:
        files += sorted(Path(__file__).parent.glob("*.py"))
    for path in files:
        if path.suffix in (".py", ".lark", ".json") and path.is_file():
            stat = path.stat()
            digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _key(path: str, options: CompileOptions) -> str:
    material = repr((path, os.getcwd(), sorted(vars_of(options).items()), _code_fingerprint()))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def vars_of(options: CompileOptions) -> dict[str, object]:
    return {name: repr(getattr(options, name)) for name in options.__dataclass_fields__}


@functools.cache
def _codec() -> Codec:
    """The cache's format: tagged JSON of plain data and the compiler's own value types only.

    Never pickle: a cache file is data, and decoding builds nothing but these classes.
    """
    from playgraph.compiler import diagnostics, ir, spans
    from playgraph.compiler import result as result_module

    classes: dict[str, type[Any]] = {}
    for module in (ir, diagnostics, spans, result_module):
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and value.__module__ == module.__name__
                and (dataclasses.is_dataclass(value) or issubclass(value, Enum))
            ):
                classes[f"{module.__name__.rsplit('.', 1)[-1]}.{value.__name__}"] = value
    classes["cache.Report"] = Report
    classes["spans.SourceText"] = spans.SourceText
    source_text = (
        lambda s: [s.path, s.text, s.digest],
        spans.SourceText,
    )
    return Codec(classes, {spans.SourceText: source_text})


def _load(entry: Path) -> Any:
    """The value stored in ``entry`` if every input it recorded is unchanged, else None.

    An entry is two lines of tagged JSON: the inputs, then the value.  A stale entry
    (the usual miss after an edit) is told from its first line alone, without
    decoding the value, which for a large project costs more than the check of
    its inputs.
    """
    data = read_private(str(entry))
    if data is None:
        return None
    head, newline, body = data.partition(b"\n")  # JSON text holds no raw newline
    if not newline:
        return None
    inputs = _codec().loads(head)
    if not isinstance(inputs, dict) or not all(
        fingerprint(seen, kind) == kind for seen, kind in inputs.items()
    ):
        return None
    return _codec().loads(body)


def enabled() -> bool:
    return os.environ.get("PLAYGRAPH_NO_CACHE", "") in ("", "0")


def compile_cached(path: str, options: CompileOptions, *, use_cache: bool = True) -> Compiled:
    """`compile_playbook`, answered from the cache when nothing it depends on changed."""
    if not (use_cache and enabled()):
        return _compile(path, options)
    entry = cache_dir() / f"{_key(path, options)}{_SUFFIX}"
    try:
        cached = _load(entry)
        if isinstance(cached, Compiled):
            return cached
    except _UNUSABLE:
        pass
    fragments = _Fragments(entry.name)
    load_texts()
    compiled = _compile(path, options, fragments)
    save_texts()
    if not fragments.reused:
        # Assembled from stored task files, a result costs less to assemble again than
        # to store whole (a large project's graph is megabytes of JSON).
        _store(entry, compiled, compiled.inputs)
    return compiled


def _compile(path: str, options: CompileOptions, fragments: _Fragments | None = None) -> Compiled:
    from playgraph.compiler.lower import compile_playbook  # the parsers: only on a miss

    return compile_playbook(path, options, fragments=fragments)


def _store(
    entry: Path, value: object, inputs: Mapping[str, str], *, keep: int | None = _KEEP
) -> bool:
    """Write ``entry``; ``keep``: how many of its folder's entries survive (None: no pruning)."""
    try:
        data = _codec().dumps(dict(inputs)) + b"\n" + _codec().dumps(value)
    except (TypeError, ValueError):
        return False  # a value the format does not carry: compile again next time
    if not write_private(str(entry), data):
        return False  # a read-only or untrusted cache directory: compile every time
    if keep is not None:
        _prune(entry.parent, keep)
    return True


def _prune(folder: Path, keep: int) -> None:
    try:
        entries = sorted(folder.glob(f"*{_SUFFIX}"), key=lambda p: p.stat().st_mtime)
        for stale in entries[:-keep]:
            stale.unlink(missing_ok=True)
    except OSError:
        pass


# --------------------------------------------------------------------------- texts


def _texts_entry() -> Path:
    return cache_dir("texts") / f"{_code_fingerprint()[:32]}{_SUFFIX}"


@functools.cache
def load_texts() -> None:
    """What the parsers said of texts in earlier runs (`compiler.context.remember`)."""
    from playgraph.compiler import context

    with contextlib.suppress(*_UNUSABLE):
        context.remember(_load(_texts_entry()))


def save_texts() -> None:
    from playgraph.compiler import context

    entries = context.learned()
    if entries is not None:
        _store(_texts_entry(), entries, {}, keep=8)


# --------------------------------------------------------------------------- task files

_KEEP_FRAGMENTS = 8192
"""Task files' lowerings kept (one per file and scope; a large project has thousands)."""


class _Fragments:
    """`FragmentStore` on disk: after an edit, the task files that did not change are not
    lowered again (`playgraph.compiler.lower.fragments`).

    Each lowered task file is an entry of ``fragments/`` named by its key (its text, scope
    and the options); they are trusted only while what the last compilation of the same
    playbook saw of the file system besides its sources (``fragment-env/``, validated
    like a compiled entry) is unchanged.
    """

    def __init__(self, name: str) -> None:
        self.folder = cache_dir("fragments")
        self.env_entry = cache_dir("fragment-env") / name
        self.env: Mapping[str, str] = {}
        self.valid = False
        self.new: dict[str, Fragment] = {}
        self.reused = 0
        try:
            env = _load(self.env_entry)
        except _UNUSABLE:
            env = None
        if isinstance(env, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            self.env, self.valid = env, True

    def get(self, key: str) -> Fragment | None:
        if not self.valid:
            return None
        try:
            value = _load(self.folder / f"{key}{_SUFFIX}")
        except _UNUSABLE:
            return None
        if isinstance(value, Fragment):
            self.reused += 1
            return value
        return None

    def put(self, key: str, fragment: Fragment) -> None:
        self.new[key] = fragment

    def close(self, env: Mapping[str, str]) -> None:
        for key, fragment in self.new.items():
            _store(self.folder / f"{key}{_SUFFIX}", fragment, {}, keep=None)
        if self.new:
            _prune(self.folder, _KEEP_FRAGMENTS)
        _store(self.env_entry, dict(env), env)


# --------------------------------------------------------------------------- check reports


@dataclasses.dataclass(frozen=True, slots=True)
class Report:
    """What one ``playgraph check`` printed and returned, and what it depended on."""

    stdout: str
    stderr: str
    exit_code: int
    inputs: dict[str, str]
    """`Compiled.inputs`-style fingerprints: path -> what the file system showed."""


def report_key(material: object) -> str:
    """The cache key of a check report: the command line's meaning, here, with this code."""
    text = repr((material, os.getcwd(), _code_fingerprint(with_cli=True)))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def load_report(key: str) -> Report | None:
    """The stored report for ``key``, if every input it recorded is unchanged."""
    try:
        report = _load(cache_dir("check") / f"{key}{_SUFFIX}")
    except _UNUSABLE:
        return None
    return report if isinstance(report, Report) else None


def store_report(key: str, report: Report) -> None:
    _store(cache_dir("check") / f"{key}{_SUFFIX}", report, report.inputs)


def file_state(path: str) -> str:
    """A file's fingerprint in the encoding of `Compiled.inputs` (content hash, or absent)."""
    return fingerprint(path, "sha256:")
