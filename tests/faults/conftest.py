"""Fixtures of the fault-injection suite.

``site`` is a scratch folder with an async dir; at teardown every supervisor
serving an async dir the test registered is resumed and killed, every process
carrying a fleet's tag is killed with its group, and tmpfs mounts are undone —
so a failing scenario (a hung controller, a stopped supervisor) leaves nothing behind.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .harness import Fleet, kill_tagged, make_fleet, stop_supervisor


@dataclass
class Site:
    folder: Path
    async_dir: Path
    fleets: list[Fleet] = field(default_factory=list)
    async_dirs: list[Path] = field(default_factory=list)
    mounts: list[Path] = field(default_factory=list)
    scratch: list[Path] = field(default_factory=list)
    """Folders outside tmp_path (for other users) removed at teardown."""

    def fleet(self, rng: random.Random, async_dir: Path | None = None, **kwargs: object) -> Fleet:
        folder = async_dir or self.async_dir
        fleet = make_fleet(self.folder, folder, rng, **kwargs)  # type: ignore[arg-type]
        self.fleets.append(fleet)
        self.watch_dir(fleet.async_dir)
        return fleet

    def watch_dir(self, async_dir: Path) -> None:
        if async_dir not in self.async_dirs:
            self.async_dirs.append(async_dir)

    def mount_tmpfs(self, path: Path, size: str) -> None:
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
            check=True,
            capture_output=True,
        )
        self.mounts.append(path)

    def teardown(self) -> None:
        for async_dir in self.async_dirs:
            stop_supervisor(async_dir)
        for fleet in self.fleets:
            kill_tagged(fleet.tag)
        for path in self.mounts:
            done = subprocess.run(["umount", str(path)], capture_output=True)
            if done.returncode != 0:  # something still holds it: detach it anyway
                subprocess.run(["umount", "-l", str(path)], capture_output=True)
        for path in self.scratch:
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    scratch = Site(tmp_path, tmp_path / "async")
    try:
        yield scratch
    finally:
        scratch.teardown()
