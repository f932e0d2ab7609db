"""Regenerate specs/diagnostics.md from the diagnostic registry (compiler/codes.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from playgraph.compiler.codes import render_markdown

target = Path(__file__).resolve().parent.parent / "specs" / "diagnostics.md"
target.write_text(render_markdown())
sys.stdout.write(f"wrote {target}\n")
