"""String literals' bodies decoded as Jinja's lexer decodes them (shared by the grammar's
parser and `fast_path`, which must not import lark)."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["STRING", "decode_string_body"]

STRING = r"""'[^'\\]*(?:\\.[^'\\]*)*'""" + r'|"[^"\\]*(?:\\.[^"\\]*)*"'
"""A string literal, as expr.lark's ``STRING`` terminal (with ``re.DOTALL``)."""

_DOUBLED_BACKSLASH_ESCAPE = re.compile(
    r"\\(?:(\n)|([\\'\"abfnrtv])|([0-7]{1,3})|x(.{0,2})|u(.{0,4})|U(.{0,8})|N(\{[^}]*\})?|(.))",
    re.DOTALL,
)
_SIMPLE_ESCAPES = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}
_HEX = re.compile(r"[0-9a-fA-F]+")


def decode_string_body(body: str) -> str:
    """Decode a string literal's body the way Jinja's lexer does.

    Jinja runs ``body.encode("ascii", "backslashreplace").decode("unicode-escape")``.
    The codec is re-implemented here because it warns (and will later fail) on
    unknown escapes such as ``\\d``, which Jinja keeps verbatim; ValueError
    signals the escapes the codec rejects.
    """
    if "\\" not in body:
        return body
    ascii_body = body.encode("ascii", "backslashreplace").decode("ascii")

    def one(match: re.Match[str]) -> str:
        newline, simple, octal, x, u, big_u, named, other = match.groups()
        if newline is not None:
            return ""
        if simple is not None:
            return _SIMPLE_ESCAPES[simple]
        if octal is not None:
            return chr(int(octal, 8))
        for digits, width in ((x, 2), (u, 4), (big_u, 8)):
            if digits is not None:
                if len(digits) != width or not _HEX.fullmatch(digits):
                    raise ValueError("truncated escape")
                return chr(int(digits, 16))  # ValueError above 0x10FFFF
        if match.group(0).startswith("\\N"):
            if named is None:
                raise ValueError("malformed \\N escape")
            return unicodedata.lookup(named[1:-1])  # KeyError is a LookupError
        return "\\" + (other or "")

    try:
        return _DOUBLED_BACKSLASH_ESCAPE.sub(one, ascii_body)
    except (LookupError, OverflowError) as error:
        raise ValueError(str(error)) from error
