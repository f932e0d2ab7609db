#!/usr/bin/env python3
"""Generate ``compiler/data/argspecs.json``: option aliases and argument constraints.

``modules.json`` lists each catalogued module's option names (aliases included) and
its required options; this adds what argument checking also needs and ansible-doc
does not give: which option each alias stands for, and the literal
``mutually_exclusive``/``required_one_of``/``required_together`` of the module's
``AnsibleModule(...)`` call, and which options have a non-null default (they count
as given for ``required_one_of``).  It reads the module files of an installed ansible-core
and collection bundle as text (never imports them)::

    .oracle/venv/bin/python scripts/gen_argspecs.py [--site SITE_PACKAGES]

Deterministic output: sorted keys, ``indent=1``, a trailing newline.
"""

from __future__ import annotations

import argparse
import json
import sys
import sysconfig
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compiler.argspec import fragment_options, read_module_spec  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--site", default=sysconfig.get_paths()["purelib"])
    args = parser.parse_args()
    site = Path(args.site)
    modules = json.loads((ROOT / "compiler/data/modules.json").read_text())["modules"]
    out: dict[str, Any] = {}
    for entry in modules:
        fqcn = entry["fqcn"]
        if entry.get("removed") or entry.get("redirect"):
            continue
        source = _module_file(site, entry["collection"], entry["short"])
        if source is None:
            continue
        spec = read_module_spec(
            source.read_text(encoding="utf-8", errors="replace"),
            lambda name, c=entry["collection"]: _fragment(site, c, name),
        )
        if spec is None:
            continue
        aliases = {n: c for n, c in spec.names.items() if n != c and n in entry["options"]}
        item: dict[str, Any] = {}
        if spec.defaults and spec.required_one_of:  # only read for required_one_of
            item["defaults"] = sorted(spec.defaults)
        if aliases:
            item["aliases"] = dict(sorted(aliases.items()))
        for key in ("mutually_exclusive", "required_one_of", "required_together"):
            groups = getattr(spec, key)
            if groups:
                item[key] = [list(g) for g in groups]
        if item:
            out[fqcn] = item
    target = ROOT / "compiler/data/argspecs.json"
    target.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{target}: {len(out)} modules")


def _collection_dir(site: Path, collection: str) -> Path:
    namespace, name = collection.split(".", 1)
    return site / "ansible_collections" / namespace / name


def _module_file(site: Path, collection: str, short: str) -> Path | None:
    if collection == "ansible.builtin":
        path = site / "ansible" / "modules" / f"{short}.py"
    else:
        path = _collection_dir(site, collection) / "plugins" / "modules" / f"{short}.py"
    return path if path.is_file() else None


def _fragment(site: Path, collection: str, name: str) -> Any:
    parts = name.split(".")
    if len(parts) >= 3:
        folder = _collection_dir(site, ".".join(parts[:2])) / "plugins" / "doc_fragments"
        if parts[:2] == ["ansible", "builtin"]:
            folder = site / "ansible" / "plugins" / "doc_fragments"
        parts = parts[2:]
    else:
        folder = site / "ansible" / "plugins" / "doc_fragments"
    path = folder / f"{parts[0]}.py"
    if not path.is_file():
        return None
    variable = parts[1].upper() if len(parts) > 1 else "DOCUMENTATION"
    return fragment_options(path.read_text(encoding="utf-8", errors="replace"), variable)


if __name__ == "__main__":
    main()
