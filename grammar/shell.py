"""Shell words of a command line: as Ansible's command module splits them, and as a
shell script's simple commands (for static analysis).

Kept apart from ``args`` (and lark): running a command needs only this.
"""

from __future__ import annotations

import shlex

__all__ = ["MAX_SCRIPT_DEPTH", "simple_commands", "split_command"]


def split_command(raw: str) -> tuple[str, ...]:
    """POSIX shell words of a command line, as the command module splits it (shlex).

    Never raises: an unbalanced quote or a trailing backslash (already reported
    by ``parse_args``) is closed for a best-effort answer.
    """
    for candidate in (raw, raw + "\\", raw + '"', raw + "'", raw + '\\"', raw + "\\'"):
        try:
            return tuple(shlex.split(candidate))
        except ValueError:
            continue
    return tuple(raw.split())


# ---------------------------------------------------------------------------- simple commands
# A small lexer: enough structure to find the commands a line runs, never an
# evaluation. `split_command` is what runs; this is what the compiler reads.

MAX_SCRIPT_DEPTH = 8
"""How deep substitutions and ``sh -c`` scripts are followed; deeper text is not analysed."""
# Jinja blocks are opaque words: their insides are never shell syntax.
_TEMPLATE_OPEN = {"{{": "}}", "{%": "%}", "{#": "#}"}


def simple_commands(
    text: str, *, shell: bool, windows: bool = False, depth: int = 0
) -> list[list[str]]:
    """Split ``text`` into simple commands (lists of words).

    With ``shell=False`` the whole text is one command split into words (quotes
    and backslashes as in ``shlex.split``, Jinja blocks kept whole).  With
    ``shell=True`` operators separate commands and substitutions contribute
    commands of their own.
    """
    if depth > MAX_SCRIPT_DEPTH:
        return []
    lexer = _Lexer(text, shell=shell, windows=windows, depth=depth)
    lexer.run()
    return lexer.commands


class _Lexer:
    """A small shell lexer: enough structure to find the commands a line runs."""

    def __init__(self, text: str, *, shell: bool, windows: bool, depth: int) -> None:
        self.text = text
        self.shell = shell
        self.windows = windows
        self.depth = depth
        self.commands: list[list[str]] = []
        self.words: list[str] = []
        self.buf: list[str] = []
        self.in_word = False
        self.drop_next_word = False  # the target of a redirection
        self.heredocs: list[tuple[str, bool]] = []

    # -- helpers

    def nested(self, inner: str) -> None:
        self.commands.extend(
            simple_commands(inner, shell=True, windows=self.windows, depth=self.depth + 1)
        )

    def end_word(self) -> None:
        if self.in_word:
            word = "".join(self.buf)
            if self.drop_next_word:
                self.drop_next_word = False
            else:
                self.words.append(word)
        self.buf = []
        self.in_word = False

    def end_command(self) -> None:
        self.end_word()
        self.drop_next_word = False
        if self.words:
            self.commands.append(self.words)
        self.words = []

    def add(self, chunk: str) -> None:
        self.buf.append(chunk)
        self.in_word = True

    def template_end(self, i: int) -> int | None:
        close = _TEMPLATE_OPEN.get(self.text[i : i + 2])
        if close is None:
            return None
        j = self.text.find(close, i + 2)
        return len(self.text) if j < 0 else j + 2

    # -- main loop

    def run(self) -> None:
        text, n, i = self.text, len(self.text), 0
        while i < n:
            c = text[i]
            end = self.template_end(i)
            if end is not None:
                self.add(text[i:end])
                i = end
            elif c == "\\" and not self.windows:
                if i + 1 < n and text[i + 1] == "\n":
                    i += 2  # line continuation
                else:
                    self.add(text[i + 1 : i + 2])
                    i += 2
            elif c == "'":
                j = text.find("'", i + 1)
                j = n if j < 0 else j
                self.add(text[i + 1 : j])
                i = j + 1
            elif c == '"':
                i = self.double_quoted(i + 1)
            elif not self.shell:
                if c in " \t\r\n":
                    self.end_word()
                else:
                    self.add(c)
                i += 1
            else:
                i = self.shell_char(i)
        self.end_command()

    def double_quoted(self, i: int) -> int:
        text, n = self.text, len(self.text)
        part: list[str] = []
        while i < n and text[i] != '"':
            end = self.template_end(i)
            if end is not None:
                part.append(text[i:end])
                i = end
            elif text[i] == "\\" and i + 1 < n and not self.windows:
                part.append(text[i + 1])
                i += 2
            elif self.shell and text.startswith("$(", i) and not text.startswith("$((", i):
                close = _matching_paren(text, i + 1)
                self.nested(text[i + 2 : close])
                part.append(text[i : close + 1])
                i = close + 1
            elif self.shell and text[i] == "`":
                close = text.find("`", i + 1)
                close = n if close < 0 else close
                self.nested(text[i + 1 : close])
                part.append(text[i : close + 1])
                i = close + 1
            else:
                part.append(text[i])
                i += 1
        self.add("".join(part))
        return i + 1

    def shell_char(self, i: int) -> int:
        text, n = self.text, len(self.text)
        c = text[i]
        if c == "$" and text.startswith("$((", i):
            close = _matching_paren(text, i + 2)
            close = _matching_paren(text, i + 1) if close < n else close
            self.add(text[i : close + 1])
            return close + 1
        if c == "$" and text.startswith("$(", i):
            close = _matching_paren(text, i + 1)
            self.nested(text[i + 2 : close])
            self.add(text[i : close + 1])
            return close + 1
        if c == "$" and text.startswith("${", i):
            close = text.find("}", i)
            close = n if close < 0 else close
            self.add(text[i : close + 1])
            return close + 1
        if c == "`":
            close = text.find("`", i + 1)
            close = n if close < 0 else close
            self.nested(text[i + 1 : close])
            self.add(text[i : close + 1])
            return close + 1
        if c == "#" and not self.in_word:
            j = text.find("\n", i)
            return n if j < 0 else j
        if c in " \t\r":
            self.end_word()
            return i + 1
        if c == "\n":
            self.end_command()
            return self.skip_heredocs(i + 1)
        if c in "<>" or (c == "&" and text.startswith("&>", i)):
            return self.redirection(i)
        if c in ";&|()":
            self.end_command()
            return i + 1
        self.add(c)
        return i + 1

    def redirection(self, i: int) -> int:
        text, n = self.text, len(self.text)
        if self.in_word and "".join(self.buf).isdigit():
            self.buf = []  # ``2>file``: the digits name a descriptor
            self.in_word = False
        else:
            self.end_word()
        if text.startswith(("<(", ">("), i):
            close = _matching_paren(text, i + 1)
            self.nested(text[i + 2 : close])
            return close + 1
        if text.startswith("<<", i) and not text.startswith("<<<", i):
            j = i + 2
            strip_tabs = text.startswith("-", j)
            j += 1 if strip_tabs else 0
            while j < n and text[j] in " \t":
                j += 1
            start = j
            while j < n and text[j] not in " \t\n;&|<>()":
                j += 1
            delimiter = text[start:j].replace("'", "").replace('"', "").replace("\\", "")
            if delimiter:
                self.heredocs.append((delimiter, strip_tabs))
            return j
        j = i
        while j < n and text[j] in "<>&":
            j += 1
        if j < n and text[j] == "-":
            j += 1  # ``>&-`` closes a descriptor
        self.drop_next_word = True
        return j

    def skip_heredocs(self, i: int) -> int:
        text, n = self.text, len(self.text)
        for delimiter, strip_tabs in self.heredocs:
            while i < n:
                end = text.find("\n", i)
                end = n if end < 0 else end
                line = text[i:end]
                i = end + 1
                if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                    break
        self.heredocs = []
        return min(i, n)


def _matching_paren(text: str, open_index: int) -> int:
    """Index of the ``)`` closing the ``(`` at ``open_index`` (or ``len(text)``)."""
    depth = 0
    i = open_index
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            j = text.find("'", i + 1)
            i = n if j < 0 else j + 1
            continue
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return n
