"""Shared helpers of the resolution tests: project trees on disk, compiled with settings."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from playgraph.compiler.diagnostics import Diagnostic
from playgraph.compiler.ir import Section
from playgraph.compiler.lower import compile_playbook
from playgraph.compiler.resolve.settings import ResolveSettings
from playgraph.compiler.result import Compiled, CompileOptions

from tests.differential.harness import ansible_playbook


def tree(root: Path, files: Mapping[str, str]) -> Path:
    """Write ``files`` (relative path → text; a path ending in / is a folder) under ``root``."""
    for name, text in files.items():
        path = root / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def check(playbook: Path, settings: ResolveSettings | None = None) -> list[Diagnostic]:
    options = CompileOptions(resolve=settings or ResolveSettings())
    return list(compile_playbook(os.fspath(playbook), options).diagnostics)


def messages(compiled: Compiled) -> list[object]:
    """The ``msg`` of each task (handlers left out), in program order."""
    return [n.args.get("msg") for n in compiled.graph.nodes() if n.section is not Section.HANDLERS]


def codes(found: list[Diagnostic]) -> list[tuple[str, int]]:
    return [(d.code, d.span.line) for d in found]


def syntax_check(
    playbook: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """ansible-core's own verdict on the fixture (the oracle venv)."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.fspath(playbook.parent),
        "ANSIBLE_NOCOLOR": "1",
        **(env or {}),
    }
    return subprocess.run(
        [ansible_playbook(), "--syntax-check", playbook.name],
        cwd=playbook.parent,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
