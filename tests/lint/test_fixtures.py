"""Fixture playbooks with inline expectations, checked both ways.

Every line of a fixture (or of a file it imports) that ends with
``# expect: rule-id [rule-id ...]`` must get exactly those findings (as a
multiset: write an id twice for two findings), and no other line may get any
finding — compile findings included, so fixtures stay otherwise clean.

Beside ``NAME.yml`` a fixture may have ``NAME.playgraph.yml`` (its lint
configuration: skip/warn lists, locks) and ``NAME.ini`` (an inventory, so host
patterns are evaluated as with ``playgraph check -i``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from playgraph.compiler import CompileOptions, compile_playbook
from playgraph.compiler.diagnostics import Diagnostic
from playgraph.compiler.lint import HostResolver, apply_suppressions, lint, load_config

FIXTURES = Path(__file__).parent / "fixtures"
_EXPECT = re.compile(r"#\s*expect:\s*(?P<ids>[^#]*)")


def fixture_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.glob("*.yml") if not p.name.endswith(".playgraph.yml"))


def inventory_resolver(path: Path) -> HostResolver | None:
    if not path.exists():
        return None
    from playgraph.runtime.inventory import load_inventory

    inventory = load_inventory([str(path)])

    def resolve(pattern: str) -> frozenset[str] | None:
        if "{{" in pattern:
            return None
        return frozenset(inventory.select(pattern))

    return resolve


def run_fixture(name: str) -> tuple[list[Diagnostic], dict[str, list[str]]]:
    path = FIXTURES / name
    stem = path.with_suffix("")
    config_path = Path(f"{stem}.playgraph.yml")
    config = load_config(str(config_path) if config_path.exists() else None, ())
    options = replace(CompileOptions(), extra_locks=dict(config.locks))
    compiled = compile_playbook(str(path), options)
    findings = [
        *config.diagnostics,
        *compiled.diagnostics,
        *lint(compiled.graph, hosts=inventory_resolver(Path(f"{stem}.ini")), config=config),
    ]
    sources = dict(compiled.sources)
    if config.source is not None and config.path is not None:
        sources[config.path] = config.source
    lines = {file: source.lines for file, source in sources.items()}
    return apply_suppressions(findings, sources, config), lines


def expectations(lines: dict[str, list[str]]) -> Counter[tuple[str, int, str]]:
    expected: Counter[tuple[str, int, str]] = Counter()
    for file, text in lines.items():
        for number, line in enumerate(text, start=1):
            match = _EXPECT.search(line)
            if match:
                for code in re.split(r"[\s,]+", match.group("ids").strip()):
                    if code:
                        expected[(file, number, code)] += 1
    return expected


def test_there_are_fixtures_for_every_rule() -> None:
    from playgraph.compiler.lint import RULES

    seen = set()
    for name in fixture_names():
        _, lines = run_fixture(name)
        seen |= {code.split("[")[0] for _, _, code in expectations(lines)}
    assert set(RULES) <= seen


@pytest.mark.parametrize("name", fixture_names())
def test_fixture(name: str) -> None:
    findings, lines = run_fixture(name)
    actual = Counter((d.span.file, d.span.line, d.code) for d in findings)
    expected = expectations(lines)
    messages = {(d.span.file, d.span.line, d.code): d.message for d in findings}
    unexpected = [
        f"{file}:{line}: {code}: {messages[(file, line, code)]}"
        for (file, line, code), count in sorted((actual - expected).items())
        for _ in range(count)
    ]
    missing = [
        f"{file}:{line}: {code}"
        for (file, line, code), count in sorted((expected - actual).items())
        for _ in range(count)
    ]
    assert not unexpected and not missing, (
        "unexpected findings:\n  "
        + "\n  ".join(unexpected)
        + "\nmissing findings:\n  "
        + "\n  ".join(missing)
    )
