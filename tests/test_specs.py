"""The written language stays in step with the code."""

from __future__ import annotations

from playgraph.compiler import codes

from tests.conftest import ROOT


def test_diagnostics_table_is_generated_and_current() -> None:
    written = (ROOT / "specs" / "diagnostics.md").read_text()
    assert written == codes.render_markdown(), (
        "specs/diagnostics.md is stale: run `python scripts/gen_specs.py`"
    )


def test_every_code_is_documented() -> None:
    for code in codes.REGISTRY.values():
        for part in ("What:", "Why:", "Fix:"):
            assert part in code.doc, f"{code.id} lacks '{part}' in its doc"
