"""Free-form module arguments (``chdir=/tmp creates=/x cmd --flag "a b"``), read as Ansible does.

Ansible's ``parse_kv`` splits the string into words (``split_args``), decodes
escapes in each word, takes ``key=value`` words as parameters and joins the rest
back into ``_raw_params``. ``args.lark`` finds the words (quotes and Jinja tags
keep spaces inside a word); this module reproduces the rest: Ansible's
whitespace bookkeeping when it rebuilds the free-form text, escape decoding,
the ``=`` split and quote stripping.

Known differences, all on input Ansible mis-splits anyway: a ``}}`` inside a
quoted string inside ``{{ }}`` does not end the tag here (Ansible counts it and
splits the word); ``{{`` inside quotes must be closed here (Ansible errors too);
a lone ``\\`` inside a Jinja tag is kept (Ansible drops it).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from .expr.errors import GrammarError, caret_context
from .expr.nodes import Node
from .shell import split_command

if TYPE_CHECKING:
    from .args_grammar import build_args_parser

__all__ = [
    "RAW_PARAM_OPTIONS",
    "ArgParam",
    "ArgsSyntaxError",
    "FreeFormArgs",
    "build_args_parser",
    "parse_args",
    "split_command",
]


class ArgsSyntaxError(GrammarError):
    """Free-form arguments with an unbalanced quote or an unclosed Jinja tag."""


# The options Ansible takes out of the free-form text of command-like modules
# (the list is fixed in ansible.parsing.splitter.parse_kv).
RAW_PARAM_OPTIONS = frozenset(
    {
        "creates",
        "removes",
        "chdir",
        "executable",
        "warn",
        "stdin",
        "stdin_add_newline",
        "strip_empty_ends",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ArgParam(Node):
    """One ``key=value`` word: ``value`` is escape-decoded and unquoted.

    ``start``/``end`` span the word; ``value_start`` is the offset of the
    value's first character (after an opening quote that was removed).
    """

    key: str
    value: str
    value_start: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class FreeFormArgs:
    """The parameters and the free-form remainder (``_raw_params``) of an argument string."""

    params: tuple[ArgParam, ...]
    raw: str | None
    raw_start: int | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, str]:
        """The dict Ansible builds: later duplicates win, ``_raw_params`` last when present."""
        result = {p.key: p.value for p in self.params}
        if self.raw is not None:
            result["_raw_params"] = self.raw
        return result


# --------------------------------------------------------------------------- words


class _Word(NamedTuple):
    """A word's span (the grammar's side gives plain ``(start, end)`` pairs, equal to it)."""

    start: int
    end: int


# Text with no quote, backslash or brace has no regions: its words are the runs
# between spaces and newlines (the grammar's PLAIN), found without the parser.
_NEEDS_GRAMMAR = re.compile(r"[\"'\\{]")
_PLAIN_WORD = re.compile(r"[^ \n]+")


def _words(text: str) -> list[_Word]:
    if _NEEDS_GRAMMAR.search(text) is None:
        return [_Word(m.start(), m.end()) for m in _PLAIN_WORD.finditer(text)]
    from .args_grammar import Unclosed, grammar_words  # lark: quotes, escapes and tags only

    try:
        return [_Word(start, end) for start, end in grammar_words(text)]
    except Unclosed as error:
        offset = error.offset
        raise ArgsSyntaxError(error.message, offset, caret_context(text, offset)) from None


_GRAMMAR_NAMES = frozenset({"build_args_parser", "_parser", "_ToWords"})


def __getattr__(name: str) -> Any:
    """The grammar's side (`args_grammar`), loaded on first use: plain words need no lark."""
    if name in _GRAMMAR_NAMES:
        from . import args_grammar

        value = getattr(args_grammar, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------- Ansible's params


@dataclass(slots=True)
class _Param:
    """One entry of Ansible's split_args result while it is being built (internal)."""

    text: str
    start: int
    end: int


def _ansible_params(text: str, words: list[_Word]) -> list[_Param]:
    """Rebuild split_args' list: each word plus the whitespace Ansible glues to it.

    split_args splits each line on single spaces; every empty piece but the
    first on a line adds a space to the previous entry, every line break adds
    a newline unless the line held a lone ``\\`` (line continuation, dropped),
    and whitespace before any word becomes an entry of its own. join_args later
    puts one space between entries, none after a newline.
    """
    params: list[_Param] = []
    continuation = False

    def add(char: str, at: int) -> None:
        if not params:
            params.append(_Param("", at, at))
        params[-1].text += char

    def gap(start: int, end: int, after_item: bool, before_item: bool) -> None:
        nonlocal continuation
        segments = text[start:end].split("\n")
        offset = start
        for index, segment in enumerate(segments):
            glued_left = index == 0 and after_item
            glued_right = index == len(segments) - 1 and before_item
            pieces = segment.split(" ")
            empties = pieces[(1 if glued_left else 0) : len(pieces) - (1 if glued_right else 0)]
            for position in range(len(empties)):
                if glued_left or position > 0:
                    add(" ", offset)
            offset += len(segment)
            if index < len(segments) - 1:
                if not continuation:
                    add("\n", offset)
                continuation = False
                offset += 1

    position = 0
    after_item = False
    for word in words:
        gap(position, word.start, after_item, True)
        word_text = text[word.start : word.end]
        if word_text == "\\":
            continuation = True
        else:
            params.append(_Param(word_text, word.start, word.end))
            if "\n" in word_text:
                continuation = False  # the word's last line is a fresh line
        after_item = True
        position = word.end
    gap(position, len(text), after_item, False)
    return params


def _join_args(pieces: list[str]) -> str:
    result = ""
    for piece in pieces:
        if not result or result.endswith("\n"):
            result += piece
        else:
            result += " " + piece
    return result


_ESCAPE = re.compile(
    r"\\U[0-9a-fA-F]{8}|\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}|\\N\{[^}]+\}|\\[\\'\"abfnrtv]"
)
_SIMPLE = {"\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f"}
_SIMPLE |= {"n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _decode_escapes(word: str, word_start: int, text: str) -> tuple[str, list[int]]:
    """Decode the escapes parse_kv decodes; also map each decoded char to its word index."""
    out: list[str] = []
    index_map: list[int] = []
    last = 0
    for match in _ESCAPE.finditer(word):
        for i in range(last, match.start()):
            out.append(word[i])
            index_map.append(i)
        escape = match.group(0)
        kind = escape[1]
        try:
            if kind in "Uux":
                decoded = chr(int(escape[2:], 16))
            elif kind == "N":
                decoded = unicodedata.lookup(escape[3:-1])
            else:
                decoded = _SIMPLE[kind]
        except (ValueError, KeyError):
            offset = word_start + match.start()
            raise ArgsSyntaxError(
                f"invalid escape sequence {escape!r}", offset, caret_context(text, offset)
            ) from None
        out.append(decoded)
        index_map.append(match.start())
        last = match.end()
    for i in range(last, len(word)):
        out.append(word[i])
        index_map.append(i)
    index_map.append(len(word))
    return "".join(out), index_map


def _is_quoted(value: str) -> bool:
    return len(value) > 1 and value[0] == value[-1] and value[0] in "\"'" and value[-2] != "\\"


def _split_equals(decoded: str) -> int | None:
    """Index of the first '=' that separates key and value, as parse_kv finds it."""
    index = decoded.find("=", 1)
    while index != -1:
        if decoded[index - 1] != "\\":
            return index
        index = decoded.find("=", index + 1)
    return None


def parse_args(text: str, *, raw_params: bool) -> FreeFormArgs:
    """Read a free-form argument string as Ansible's ``parse_kv`` does.

    With ``raw_params=True`` (command, shell, script, raw, include_*/import_*,
    add_host, group_by, meta) only the keys in ``RAW_PARAM_OPTIONS`` are
    parameters and every other word stays in the free-form text as written;
    otherwise every ``key=value`` word is a parameter. Raises ArgsSyntaxError at
    the opening character of an unbalanced quote or unclosed Jinja tag.
    """
    params: list[ArgParam] = []
    raw: list[str] = []
    raw_start: int | None = None
    for entry in _ansible_params(text, _words(text)):
        decoded, index_map = _decode_escapes(entry.text, entry.start, text)
        split = _split_equals(decoded) if "=" in decoded else None
        if split is None:
            # A word whose only '=' are escaped (or leading) keeps Ansible's
            # quirk of being added decoded, with '\=' turned into '='.
            raw.append(decoded.replace("\\=", "=") if "=" in decoded else entry.text)
            raw_start = entry.start if raw_start is None else raw_start
            continue
        key, value = decoded[:split], decoded[split + 1 :]
        if raw_params and key not in RAW_PARAM_OPTIONS:
            raw.append(entry.text)
            raw_start = entry.start if raw_start is None else raw_start
            continue
        stripped = value.strip()
        # An empty value starts right after '='; never in the whitespace that
        # split_args glued to the word.
        first = split + 1 + (len(value) - len(value.lstrip()) if stripped else 0)
        if _is_quoted(stripped):
            stripped = stripped[1:-1]
            first += 1
        value_start = entry.start + index_map[min(first, len(index_map) - 1)]
        params.append(
            ArgParam(
                key=key.strip(),
                value=stripped,
                value_start=value_start,
                start=entry.start,
                end=entry.end,
            )
        )
    return FreeFormArgs(
        params=tuple(params),
        raw=_join_args(raw) if raw else None,
        raw_start=raw_start,
    )


# --------------------------------------------------------------------------- command words
