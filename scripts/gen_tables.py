#!/usr/bin/env python3
"""Rebuild the LALR tables shipped in ``grammar/tables/`` after a grammar changes.

    .venv/bin/python scripts/gen_tables.py

`tests/grammar/test_shipped_tables.py` fails while a shipped table is stale.
"""

from __future__ import annotations

from pathlib import Path

from playgraph.grammar import loading


def main() -> None:
    folder = Path(__file__).resolve().parent.parent / "grammar" / "tables"
    loading.ship_into = str(folder)
    # The parsers' own factories, so the options are exactly the ones used at run time.
    from playgraph.grammar import args
    from playgraph.grammar.expr import parser

    for factory in (args._parser, parser._parser):
        factory.cache_clear()
        factory()
        print(f"wrote {factory.__module__}")


if __name__ == "__main__":
    main()
