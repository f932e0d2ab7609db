"""The house style's type and lint checks run with the tests: mypy --strict and ruff."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def test_mypy_strict_and_ruff_are_clean() -> None:
    result = subprocess.run(
        [str(ROOT / "scripts" / "typecheck")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
