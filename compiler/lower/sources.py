"""The files one compilation reads: every look at the file system is recorded, so a
cached result can tell whether it is still valid."""

from __future__ import annotations

import os

from ..context import FileContext
from ..diagnostics import Diagnostic
from ..loader import Document, YNode, load_bytes, load_file
from ..spans import SourceText


class Sources:
    """Files read so far (positioned documents and their findings) and what was seen."""

    def __init__(self) -> None:
        self.contexts: dict[str, FileContext] = {}
        self.documents: dict[str, Document] = {}
        self.inputs: dict[str, str] = {}
        self.texts: dict[str, SourceText] = {}
        """Every source file read, in order (`Compiled.sources`)."""

    def is_file(self, path: str) -> bool:
        found = os.path.isfile(path)
        self.inputs.setdefault(path, "file" if found else "absent")
        return found

    def is_dir(self, path: str) -> bool:
        found = os.path.isdir(path)
        self.inputs.setdefault(path + os.sep, "dir" if found else "absent")
        return found

    def listdir(self, path: str) -> list[str]:
        try:
            names = sorted(os.listdir(path))
        except OSError:
            self.inputs[path + os.sep] = "absent"
            raise
        self.inputs[path + os.sep] = "list:" + "\0".join(names)
        return names

    def load(self, path: str, data: bytes | None = None) -> tuple[FileContext, YNode | None]:
        """``path``'s findings so far and its tree (``data``: its bytes, already read)."""
        if path not in self.documents:
            document = load_file(path) if data is None else load_bytes(path, data)
            self.documents[path] = document
            if path not in self.contexts:  # else reused (`replayed`): its findings are in
                self.inputs[path] = "sha256:" + document.source.digest
                self.texts[path] = document.source
                ctx = FileContext(document.source)
                ctx.diagnostics.extend(document.diagnostics)
                self.contexts[path] = ctx
        document = self.documents[path]
        return self.contexts[path], document.root

    def seen(self, path: str) -> bool:
        return path in self.texts

    def replayed(self, source: SourceText, diagnostics: tuple[Diagnostic, ...]) -> None:
        """``source`` was lowered by an earlier compilation whose result is reused: its
        findings are those, and its tree is read only if another import needs it."""
        self.inputs[source.path] = "sha256:" + source.digest
        self.texts[source.path] = source
        self.contexts[source.path] = FileContext(source, list(diagnostics))

    def diagnostics(self) -> list[Diagnostic]:
        return [d for ctx in self.contexts.values() for d in ctx.diagnostics]

    def library_modules(self, base_dir: str) -> frozenset[str]:
        folder = os.path.join(base_dir, "library")
        try:
            names = self.listdir(folder)
        except OSError:
            return frozenset()
        return frozenset(os.path.splitext(name)[0] for name in names if not name.startswith("."))
