"""Shared helpers for the benchmarks: the ansible-core environment and timing."""

from __future__ import annotations

import functools
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ORACLE = ROOT / ".oracle" / "venv"
_PACKAGES = ("compiler", "grammar", "runtime", "playgraph")


def oracle_bin(venv: Path, name: str) -> str:
    path = venv / "bin" / name
    if not path.exists():
        sys.exit(
            f"{path} not found. Create the side-by-side environment with:\n"
            f"  python3 -m venv {venv} && {venv}/bin/pip install ansible ansible-lint"
        )
    return os.fspath(path)


@functools.cache
def playgraph_bin() -> str:
    # An editable install leaves playgraph's modules to be byte-compiled on first
    # import, and PYTHONDONTWRITEBYTECODE (set on some machines) would make every
    # run compile them again; pip byte-compiles ansible-core at install time.  Both
    # tools are measured with their bytecode written, as a normal install has it.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *(os.fspath(ROOT / d) for d in _PACKAGES)],
        check=True,
        capture_output=True,
    )
    found = shutil.which("playgraph")
    local = Path(sys.executable).parent / "playgraph"
    return os.fspath(local) if local.exists() else (found or "playgraph")


def timed(
    argv: Sequence[str], *, repeat: int, env: dict[str, str] | None = None, ok: Sequence[int] = (0,)
) -> list[float]:
    """Wall seconds of ``repeat`` runs of argv (each must exit with a code in ``ok``)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, env={**os.environ, **(env or {})})
        times.append(time.perf_counter() - start)
        if result.returncode not in ok:
            sys.exit(f"{argv[0]} exited {result.returncode}:\n{result.stderr.decode()[-2000:]}")
    return times


def summary(times: list[float]) -> dict[str, float]:
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}
