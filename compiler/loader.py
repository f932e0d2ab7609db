"""YAML with a source position for every key and value.

The tree is built from pyyaml's *event* stream (the C parser where available)
with an explicit stack rather than from ``yaml.compose``: composing recurses
once per nesting level, so a 3,000-deep document would raise RecursionError
half-way through; the event loop instead stops at `MAX_DEPTH` with a diagnostic
that points at the offending line.  Building the nodes ourselves is also where
duplicate keys are caught, which pyyaml silently accepts.

Scalars are resolved with YAML 1.1 rules, as Ansible's loader does (so
``yes`` is a boolean, which matters for ``async: yes``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import yaml

from playgraph.semantics import PlaygraphError, UnsafeText

from . import codes
from .diagnostics import Diagnostic, Related
from .spans import SourceText, Span

try:  # the C parser is about ten times faster; fall back when libyaml is missing
    from yaml import CSafeLoader as _EventLoader
except ImportError:  # pragma: no cover - depends on how pyyaml was built
    from yaml import SafeLoader as _EventLoader  # type: ignore[assignment]

MAX_DEPTH = 256
MAX_ALIAS_NODES = 100_000
"""Nodes a document may reach through aliases (``*name``), counted as fully expanded.

Aliases share one node here, but whatever walks the tree afterwards (lowering,
templating, ansible itself) sees every copy: nine levels of nine aliases ("a
billion laughs") is a few hundred bytes of YAML and 10^9 nodes.  Real playbooks
reuse a few small blocks and stay far below this.
"""

Scalar: TypeAlias = str | int | float | bool | None


@dataclass(frozen=True, slots=True, kw_only=True)
class YScalar:
    """A scalar with its resolved value.

    ``style`` is pyyaml's: None (plain), ``'`` or ``"`` (quoted), ``|`` or ``>`` (block).
    ``char_start`` is the character index of the token in the source, used to point
    inside the value (at a Jinja error, say).
    """

    value: Scalar
    tag: str
    style: str | None
    span: Span = field(compare=False)
    char_start: int = field(compare=False, default=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class YSeq:
    """A sequence."""

    items: tuple[YNode, ...]
    span: Span = field(compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class YEntry:
    """One key/value pair of a mapping."""

    key: YScalar
    value: YNode


@dataclass(frozen=True, slots=True, kw_only=True)
class YMap:
    """A mapping, entries in source order, keys unique."""

    entries: tuple[YEntry, ...]
    span: Span = field(compare=False)

    def get(self, key: str) -> YNode | None:
        for entry in self.entries:
            if entry.key.value == key:
                return entry.value
        return None

    def entry(self, key: str) -> YEntry | None:
        for entry in self.entries:
            if entry.key.value == key:
                return entry
        return None

    def keys(self) -> list[str]:
        return [str(entry.key.value) for entry in self.entries]


YNode: TypeAlias = YScalar | YSeq | YMap


@dataclass(frozen=True, slots=True)
class Document:
    """A loaded file: its text, the root node (None when unusable) and what went wrong."""

    source: SourceText
    root: YNode | None
    diagnostics: tuple[Diagnostic, ...]


def to_python(node: YNode) -> Any:
    """Plain Python data (dicts, lists, scalars) for a node."""
    match node:
        case YScalar():
            return node.value  # `!unsafe` text is already `UnsafeText`
        case YSeq():
            return [to_python(item) for item in node.items]
        case YMap():
            return {_key_text(entry.key): to_python(entry.value) for entry in node.entries}


def _key_text(key: YScalar) -> str:
    return key.value if isinstance(key.value, str) else _scalar_text(key.value)


def _scalar_text(value: Scalar) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def inner_span(source: SourceText, scalar: YScalar, start: int, end: int) -> Span:
    """The span of characters ``[start, end)`` *of the scalar's value*.

    Exact for plain and quoted one-line scalars and for block scalars; for
    escapes and folded multi-line flow scalars the position is the nearest
    reasonable guess (the line is always right for block scalars).
    """
    if scalar.style in ("|", ">"):
        return _block_inner_span(source, scalar, start, end)
    # Escapes in quoted scalars shift the mapping by a character or two; the
    # line and the neighbourhood stay right, which is what a caret needs.
    offset = scalar.char_start + (1 if scalar.style in ("'", '"') else 0)
    return source.span(offset + start, offset + end)


def _block_inner_span(source: SourceText, scalar: YScalar, start: int, end: int) -> Span:
    value = scalar.value if isinstance(scalar.value, str) else ""
    header_line, _ = source.line_col(scalar.char_start)
    first_content = header_line + 1
    indent = 0
    for line in source.lines[first_content:]:
        if line.strip():
            indent = len(line) - len(line.lstrip(" "))
            break
    if scalar.style == "|":
        before = value[:start]
        line_in_value = before.count("\n")
        col = len(before) - (before.rfind("\n") + 1)
    else:  # folded: single newlines became spaces, so count words across lines
        line_in_value, col = _folded_position(source, first_content, indent, start)
    char = source.char_index(first_content + line_in_value, indent + col)
    return source.span(char, char + max(1, end - start))


def _folded_position(source: SourceText, first: int, indent: int, start: int) -> tuple[int, int]:
    remaining = start
    line_index = 0
    for line_index, line in enumerate(source.lines[first:]):
        content = line[indent:]
        if remaining <= len(content):
            return line_index, remaining
        remaining -= len(content) + 1
    return line_index, 0


# --------------------------------------------------------------------------- loading


def load_file(path: str) -> Document:
    """Read and parse ``path``.  Never raises for bad input; see `Document.diagnostics`."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        source = SourceText(path, "")
        reason = error.strerror or str(error)
        return Document(
            source,
            None,
            (codes.LOAD_NOT_FOUND.at(source.span(0, 0), f"cannot read {path}: {reason}"),),
        )
    return load_bytes(path, data)


def source_text(path: str, data: bytes) -> SourceText:
    """The `SourceText` that `load_bytes` gives for ``data``, without parsing it."""
    return SourceText(path, _decode(path, data)[0], hashlib.sha256(data).hexdigest())


def load_bytes(path: str, data: bytes) -> Document:
    text, problem = _decode(path, data)
    source = SourceText(path, text, hashlib.sha256(data).hexdigest())
    if problem is not None:
        return Document(source, None, (problem,))
    return load_text(source)


def _decode(path: str, data: bytes) -> tuple[str, Diagnostic | None]:
    nul = data.find(b"\x00")
    if nul >= 0:
        return "", codes.LOAD_NOT_UTF8.at(
            _byte_span(path, data, nul), "file contains NUL bytes; it looks binary, not YAML"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return "", codes.LOAD_NOT_UTF8.at(
            _byte_span(path, data, error.start),
            f"byte 0x{data[error.start]:02x} is not valid UTF-8; save the file as UTF-8",
        )
    return text.removeprefix("\ufeff"), None


def _byte_span(path: str, data: bytes, offset: int) -> Span:
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    return Span(
        file=path,
        start=offset,
        end=offset + 1,
        line=data.count(b"\n", 0, offset) + 1,
        column=column,
    )


class _Abort(PlaygraphError):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass(slots=True)
class _Frame:
    kind: str  # "seq" or "map"
    start: Any  # a parser Mark
    anchor: str | None
    items: list[YNode] = field(default_factory=list)
    size: int = 1
    """Nodes in this collection once every alias in it is expanded (itself included)."""
    unsafe: bool = False
    """Inside a collection tagged ``!unsafe``: every string in it is data (ansible-core
    wraps the whole value)."""


def load_text(source: SourceText) -> Document:
    builder = _Builder(source)
    try:
        root = builder.build(_EventLoader(source.text))
    except _Abort as abort:
        return Document(source, None, (*builder.diagnostics, abort.diagnostic))
    except yaml.MarkedYAMLError as error:
        return Document(source, None, (*builder.diagnostics, _yaml_error(source, error)))
    except yaml.YAMLError as error:  # unmarked reader errors
        diag = codes.SYNTAX_YAML.at(source.span(0, 0), str(error).splitlines()[0])
        return Document(source, None, (*builder.diagnostics, diag))
    return Document(source, root, tuple(builder.diagnostics))


def _yaml_error(source: SourceText, error: yaml.MarkedYAMLError) -> Diagnostic:
    mark = error.problem_mark or error.context_mark
    span = source.span_at(mark.line, mark.column) if mark is not None else source.span(0, 0)
    problem = (error.problem or "invalid YAML").strip()
    if _tab_near(source, mark) or "'\\t'" in problem:
        message = "tab character in indentation; YAML allows only spaces"
    else:
        message = problem
        if error.context and error.context_mark is not None and error.context_mark != mark:
            message += f" ({error.context} at line {error.context_mark.line + 1})"
        elif error.context:
            message += f" ({error.context})"
    return codes.SYNTAX_YAML.at(span, message)


def _tab_near(source: SourceText, mark: yaml.Mark | None) -> bool:
    """A tab in the indentation of the line the parser stopped on (the C parser omits it)."""
    if mark is None or mark.line >= len(source.lines):
        return False
    line = source.lines[mark.line]
    indentation = line[: len(line) - len(line.lstrip(" \t"))]
    return "\t" in indentation


class _Builder:
    def __init__(self, source: SourceText) -> None:
        self.source = source
        self.diagnostics: list[Diagnostic] = []
        self.anchors: dict[str, tuple[YNode, int]] = {}
        """Anchored nodes with their expanded sizes."""
        self.through_aliases = 0
        self.path = source.path
        self.ascii = source.ascii

    def span(self, start: Any, end: Any) -> Span:
        # Marks are typed loosely: the C and Python parsers have different Mark classes.
        if self.ascii:  # the usual case, inlined: a span per node is most of the tree
            return Span(
                file=self.path,
                start=start.index,
                end=max(start.index, end.index),
                line=start.line + 1,
                column=start.column + 1,
            )
        return self.source.span_of_marks(start.index, start.line, start.column, end.index)

    def build(self, parser: Any) -> YNode | None:
        """The tree of the parser's events (its stream is one document at most)."""
        try:
            return self._build(parser.get_event)
        finally:
            parser.dispose()

    def _build(self, next_event: Any) -> YNode | None:
        stack: list[_Frame] = []
        root: YNode | None = None
        documents = 0
        # Dispatch on the event's exact class (the parsers make no subclasses): scalars,
        # most of the stream, are tested first.
        scalar_event, alias_event = yaml.ScalarEvent, yaml.AliasEvent
        mapping_start, mapping_end = yaml.MappingStartEvent, yaml.MappingEndEvent
        sequence_start, sequence_end = yaml.SequenceStartEvent, yaml.SequenceEndEvent
        while (event := next_event()) is not None:
            kind = type(event)
            node: YNode
            size = 1
            if kind is scalar_event:
                node = self._scalar(event, unsafe=bool(stack) and stack[-1].unsafe)
                if event.anchor:
                    self.anchors[event.anchor] = (node, 1)
            elif kind is mapping_start or kind is sequence_start:
                if len(stack) >= MAX_DEPTH:
                    raise _Abort(
                        codes.SYNTAX_TOO_DEEP.at(
                            self.span(event.start_mark, event.end_mark),
                            f"collections nested more than {MAX_DEPTH} levels deep",
                        )
                    )
                unsafe = event.tag == "!unsafe" or (bool(stack) and stack[-1].unsafe)
                kind_name = "map" if kind is mapping_start else "seq"
                stack.append(_Frame(kind_name, event.start_mark, event.anchor, unsafe=unsafe))
                continue
            elif kind is mapping_end:
                frame = stack.pop()
                node = self._mapping(frame, event.end_mark)
                size = frame.size
                self._remember(frame.anchor, node, size)
            elif kind is sequence_end:
                frame = stack.pop()
                node = YSeq(items=tuple(frame.items), span=self.span(frame.start, event.end_mark))
                size = frame.size
                self._remember(frame.anchor, node, size)
            elif kind is alias_event:
                node, size = self._alias(event)
            else:
                if kind is yaml.DocumentStartEvent:
                    documents += 1
                    if documents > 1:
                        raise _Abort(
                            codes.SYNTAX_YAML.at(
                                self.span(event.start_mark, event.end_mark),
                                "a playbook holds one YAML document; found a second '---' document",
                            )
                        )
                continue  # stream and document boundaries
            if stack:
                top = stack[-1]
                top.items.append(node)
                top.size += size
            else:
                root = node
        return root

    def _remember(self, anchor: str | None, node: YNode, size: int) -> None:
        if anchor:
            self.anchors[anchor] = (node, size)

    def _alias(self, event: yaml.AliasEvent) -> tuple[YNode, int]:
        found = self.anchors.get(event.anchor or "")
        if found is None:
            raise _Abort(
                codes.SYNTAX_YAML.at(
                    self.span(event.start_mark, event.end_mark), f"unknown alias *{event.anchor}"
                )
            )
        node, size = found
        # Counted as expanded, since that is what every later stage will walk.
        self.through_aliases += size
        if self.through_aliases > MAX_ALIAS_NODES:
            raise _Abort(
                codes.SYNTAX_YAML_ALIASES.at(
                    self.span(event.start_mark, event.end_mark),
                    f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes "
                    f"(*{event.anchor} alone is {size:,}); a YAML alias bomb?",
                )
            )
        return node, size

    def _scalar(self, event: yaml.ScalarEvent, *, unsafe: bool = False) -> YScalar:
        tag = event.tag
        text = event.value
        value: Scalar = text
        if tag is None or tag == "!":
            # Plain scalars are resolved by their text alone: memoised, since keys and
            # common values repeat on every task.
            if event.implicit[0]:
                tag, value = _plain(text)
            else:
                tag = _STR
        elif tag in _CONSTRUCTED:
            value = _construct(tag, text)
        if (unsafe or tag == "!unsafe") and tag not in _CONSTRUCTED:
            # Strings, timestamps, binary and Ansible's own tags (!unsafe, !vault)
            # stay text: playbooks treat them as strings.  `!unsafe` text is data
            # from here on: no check and no render takes it for a template.
            value = UnsafeText(text)
        start: Any = event.start_mark  # always set by the parsers (stubs allow None)
        return YScalar(
            value=value,
            tag=tag,
            style=event.style,
            span=self.span(start, event.end_mark),
            char_start=start.index,
        )

    def _mapping(self, frame: _Frame, end: Any) -> YMap:
        items = frame.items
        entries: list[YEntry] = []
        index: dict[object, YEntry] = {}
        merged: list[YEntry] = []
        for position in range(0, len(items) - 1, 2):
            raw_key, value = items[position], items[position + 1]
            if not isinstance(raw_key, YScalar):
                self.diagnostics.append(
                    codes.SYNTAX_YAML.at(
                        raw_key.span, "mapping keys must be plain values, not collections"
                    )
                )
                continue
            if raw_key.tag == "tag:yaml.org,2002:merge" or (
                raw_key.value == "<<" and raw_key.style is None
            ):
                merged.extend(self._merge_entries(value))
                continue
            key_id = _hashable(raw_key.value)
            entry = YEntry(key=raw_key, value=value)
            previous = index.get(key_id)
            if previous is not None:
                self.diagnostics.append(
                    codes.SYNTAX_DUPLICATE_KEY.at(
                        raw_key.span,
                        f"duplicate key '{_key_text(raw_key)}'; YAML keeps only the last value",
                        related=[Related(span=previous.key.span, message="first defined here")],
                    )
                )
                entries = [e for e in entries if e is not previous]
            index[key_id] = entry
            entries.append(entry)
        for entry in merged:  # explicit keys win over merged ones, as in YAML's merge spec
            key_id = _hashable(entry.key.value)
            if key_id not in index:
                index[key_id] = entry
                entries.append(entry)
        return YMap(entries=tuple(entries), span=self.span(frame.start, end))

    def _merge_entries(self, value: YNode) -> list[YEntry]:
        if isinstance(value, YMap):
            return list(value.entries)
        if isinstance(value, YSeq):
            result: list[YEntry] = []
            for item in value.items:
                if isinstance(item, YMap):
                    result.extend(item.entries)
            return result
        self.diagnostics.append(codes.SYNTAX_YAML.at(value.span, "'<<' merge needs a mapping"))
        return []


def _hashable(value: Scalar) -> object:
    # 1 and True, 1.0 and 1 are different keys in a playbook (text, the usual key, is
    # itself: no tuple can equal it)
    return value if type(value) is str else (type(value).__name__, value)


# --------------------------------------------------------------------------- scalars

_STR = "tag:yaml.org,2002:str"
_CONSTRUCTED = frozenset(
    {
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null",
    }
)
"""Tags whose value is built (YAML 1.1 rules); every other tag's value stays text."""
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_PLAIN_MEMO: dict[str, tuple[str, Scalar]] = {}
_PLAIN_MEMO_SIZE = 50_000
"""Plain scalars remembered (a bound: a huge file of distinct values must not grow it)."""


def _plain(text: str) -> tuple[str, Scalar]:
    """The tag and value of a plain (unquoted) scalar, as pyyaml's SafeLoader resolves it."""
    found = _PLAIN_MEMO.get(text)
    if found is None:
        tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
        found = (tag, _construct(tag, text) if tag in _CONSTRUCTED else text)
        if len(_PLAIN_MEMO) >= _PLAIN_MEMO_SIZE:
            _PLAIN_MEMO.clear()
        _PLAIN_MEMO[text] = found
    return found


def _construct(tag: str, text: str) -> Scalar:
    # The tag's own constructor, not `construct_object`, which would remember every node.
    construct = _CONSTRUCTOR.yaml_constructors[tag]
    try:
        constructed = construct(_CONSTRUCTOR, yaml.ScalarNode(tag, text))
    except (yaml.YAMLError, ValueError, ArithmeticError):  # `!!int zz`: kept as the text
        return text
    if isinstance(constructed, str | int | float | bool) or constructed is None:
        return constructed
    return text
