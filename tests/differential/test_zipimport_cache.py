"""The compiled-code cache the differential runs give both tools' module interpreter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

HOOK = Path(__file__).with_name("zipimport_cache.py")

SOURCE = b"""
def outer():
    def inner():
        raise RuntimeError("from inner")
    return inner()

VALUE = 41 + 1
"""

PROGRAM = """
import sys, traceback
sys.path.insert(0, sys.argv[1])
import payload
print(payload.VALUE)
try:
    payload.outer()
except RuntimeError:
    print(traceback.extract_tb(sys.exc_info()[2])[-1].filename)
"""


def _run(site: Path, archive: Path) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.fspath(site)}
    done = subprocess.run(
        [sys.executable, "-c", f"import pg_zipimport_cache\n{PROGRAM}", os.fspath(archive)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return done.stdout.split()


def test_a_second_run_from_another_zip_loads_the_cached_code_under_its_own_name(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(HOOK, site / "pg_zipimport_cache.py")
    cache = site / "zipimport-code"
    archives = []
    for run in ("one", "two"):
        archive = tmp_path / run / "payload.zip"
        archive.parent.mkdir()
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("payload.py", SOURCE)
        archives.append(archive)

    first = _run(site, archives[0])
    assert first == ["42", os.fspath(archives[0] / "payload.py")]
    entries = list(cache.iterdir())
    assert len(entries) == 1  # compiled once, kept

    # The second run reads the entry (not rewritten) and names the code after its zip.
    stamp = entries[0].stat().st_mtime_ns
    second = _run(site, archives[1])
    assert second == ["42", os.fspath(archives[1] / "payload.py")]
    assert [e.stat().st_mtime_ns for e in cache.iterdir()] == [stamp]


def test_a_damaged_entry_is_compiled_again(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(HOOK, site / "pg_zipimport_cache.py")
    archive = tmp_path / "payload.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("payload.py", SOURCE)
    _run(site, archive)
    (entry,) = (site / "zipimport-code").iterdir()
    entry.write_bytes(b"not marshal data")
    assert _run(site, archive)[0] == "42"
    assert entry.read_bytes() != b"not marshal data"
