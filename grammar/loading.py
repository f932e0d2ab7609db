"""Loading the LALR parsers fast: their tables are cached on disk between runs.

Building the expression grammar's LALR tables takes about half a second, longer
than checking most playbooks, so the built parser is saved with lark's own
``save``/``load`` under ``$XDG_CACHE_HOME/playgraph`` (default ``~/.cache``),
keyed by the grammar text, the options, lark's version and Python's.  The file
is written atomically (a temporary file renamed into place), so concurrent
runs never read a half-written cache; any problem with the cache just means
building the parser again.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from importlib import resources
from typing import Any

import lark
from lark import Lark


def _cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "playgraph")


def load_parser(grammar: str, **options: Any) -> Lark:
    """``Lark.open_from_package("playgraph.grammar", grammar, **options)``, cached on disk."""
    text = resources.files(__package__).joinpath(grammar).read_text(encoding="utf-8")
    key = hashlib.sha256(
        repr((text, sorted(options.items()), lark.__version__, sys.version_info[:2])).encode()
    ).hexdigest()[:24]
    path = os.path.join(_cache_dir(), f"{grammar}-{key}.lark")
    try:
        with open(path, "rb") as handle:
            return Lark.load(handle)
    except Exception:
        pass
    parser = Lark.open_from_package("playgraph.grammar", grammar, **options)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(descriptor, "wb") as handle:
            parser.save(handle)
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only home: build the parser each run
    return parser
