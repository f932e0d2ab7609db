"""The grammars' LALR tables ship in the package: a fresh install never builds them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A fresh interpreter with an empty cache folder, in which building any parser fails:
# each parser must come from the tables in the package.
_PROBE = """
import lark
def refuse(*args, **kwargs):
    raise SystemExit("built the " + args[1] + " parser instead of loading its shipped tables")
lark.Lark.open_from_package = staticmethod(refuse)
from playgraph.grammar import args
from playgraph.grammar.expr import parser
args._parser(); parser._parser()
print(parser._parser().parse("a.b | default(1) + 2").data)
"""


def test_parsers_load_from_the_package_without_building(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "PLAYGRAPH_DEBUG": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, (
        f"{done.stdout}{done.stderr}\nthe shipped tables are stale: run scripts/gen_tables.py"
    )
    assert not list(tmp_path.rglob("*.json")), "loading shipped tables must not write a cache"


def test_stale_shipped_tables_are_ignored_not_trusted(tmp_path: Path) -> None:
    """Tables whose key does not match the grammar are skipped, and the parser is built."""
    from playgraph.grammar import loading

    shipped = json.loads((ROOT / "grammar" / "tables" / "args.lark.json").read_bytes())
    assert loading._shipped("args.lark", "not-the-key") is None
    assert isinstance(shipped, list) and shipped[0] == "d"  # tagged JSON, never pickle


@pytest.mark.parametrize("name", ["args.lark.json", "expr.lark.json"])
def test_shipped_tables_are_package_data(name: str) -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert '"playgraph.grammar.tables" = ["*.json"]' in text
    assert (ROOT / "grammar" / "tables" / name).is_file()
