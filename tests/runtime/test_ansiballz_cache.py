"""The controller's AnsiballZ cache: built once, reused, rebuilt when an input changes, and
never read from a file another user could have written."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playgraph.runtime.ansible_modules import payload, resolve

MODULE = """\
#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pgtest_helper import VALUE

def main():
    module = AnsibleModule(argument_spec={})
    module.exit_json(changed=False, value=VALUE)

if __name__ == "__main__":
    main()
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "library").mkdir()
    (tmp_path / "library" / "pgtest_cached.py").write_text(MODULE)
    (tmp_path / "module_utils").mkdir()
    (tmp_path / "module_utils" / "pgtest_helper.py").write_text("VALUE = 1\n")
    yield tmp_path


def _builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = payload._build

    def counting(resolved: resolve.Resolved) -> dict[str, object]:
        calls.append(resolved.fqcn)
        return real(resolved)

    monkeypatch.setattr(payload, "_build", counting)
    return calls


def _entries(site: Path) -> list[Path]:
    return sorted((site / "cache" / "playgraph" / "ansiballz").glob("*.json"))


def test_built_once_then_reused_and_rebuilt_on_change(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = _builds(monkeypatch)
    found = resolve.resolve("pgtest_cached", str(site))
    first = payload.get(found)
    again = payload.get(found)
    assert builds == [found.fqcn]
    assert again.sha == first.sha and again.zip_path == first.zip_path
    assert Path(first.zip_path).stat().st_mode & 0o077 == 0
    assert [p.suffix for p in sorted(Path(first.zip_path).parent.iterdir())] == [".json", ".zip"]
    # A module_utils file the payload carries changed: rebuilt.
    (site / "module_utils" / "pgtest_helper.py").write_text("VALUE = 2\n")
    changed = payload.get(found)
    assert len(builds) == 2 and changed.sha != first.sha
    # The module itself changed: another key.
    (site / "library" / "pgtest_cached.py").write_text(MODULE + "\n# edited\n")
    payload.get(found)
    assert len(builds) == 3 and len(_entries(site)) == 2


@pytest.mark.parametrize("how", ["group-writable", "foreign-owner"])
def test_untrusted_cache_files_are_not_used(
    site: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    builds = _builds(monkeypatch)
    found = resolve.resolve("pgtest_cached", str(site))
    payload.get(found)
    (meta,) = _entries(site)
    if how == "group-writable":
        os.chmod(meta, 0o664)
    else:
        os.chown(meta, 65534, -1)  # nobody: CI runs as root, so this is a real other owner
    payload.get(found)
    assert len(builds) == 2, "a cache file another user could have written was used"
    # The rebuilt entry replaced it, ours again.
    assert meta.stat().st_uid == os.geteuid() and meta.stat().st_mode & 0o022 == 0
    payload.get(found)
    assert len(builds) == 2
