"""Shared test helpers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import playgraph.compiler.lower as lower
import pytest
from playgraph.compiler.result import CompileOptions

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _oracle_collections() -> str | None:
    oracle = Path(os.environ.get("PLAYGRAPH_ORACLE", ROOT / ".oracle" / "venv"))
    found = sorted(oracle.glob("lib/python3*/site-packages/ansible_collections"))
    return str(found[0].parent) if found else None


# The collections the tests run modules from (community.general, ansible.posix) are the
# oracle's. ansible-core reads ANSIBLE_COLLECTIONS_PATH once per process, when a test
# first runs a module through it, so the path is set before any test, not per test.
if (_collections := _oracle_collections()) is not None:
    os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", _collections)


@pytest.fixture
def write(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a file under tmp_path and return its path as a string."""

    def _write(name: str, text: str | bytes) -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return os.fspath(path)

    return _write


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """The paths compiled for real (not answered from the cache), with a fresh cache dir."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PLAYGRAPH_NO_CACHE", raising=False)
    calls: list[str] = []
    real = lower.compile_playbook

    def counting(path: str, options: CompileOptions | None = None, **more: Any) -> lower.Compiled:
        calls.append(path)
        return real(path, options, **more)

    monkeypatch.setattr(lower, "compile_playbook", counting)
    return calls
