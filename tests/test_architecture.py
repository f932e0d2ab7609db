"""The architecture as checks: layers, no import cycle, test doubles out of the product.

The layers, top to bottom: ``playgraph.cli`` (with the root package and ``__main__``)
-> ``playgraph.runtime`` -> ``playgraph.compiler`` -> ``playgraph.grammar`` ->
``playgraph.semantics``.  A module may import only from its own layer or below.  The
contracts live in pyproject.toml (``[tool.importlinter]``) and `lint-imports` checks
them; the module graph (grimp's, import-linter's library) is checked here for cycles.

Both tools find a package's modules by walking its folder, but setuptools maps
``playgraph.runtime`` etc. onto the top-level folders (package-dir), so they run on a
symlink tree with the installed layout (as ``scripts/typecheck`` does for mypy), in a
subprocess so that the test's own ``playgraph`` import does not shadow the tree.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPPED = ("compiler", "grammar", "runtime")
"""Top-level folders that install as ``playgraph.<name>``."""
LAYERS = (
    "playgraph.cli",
    "playgraph.runtime",
    "playgraph.compiler",
    "playgraph.grammar",
    "playgraph.semantics",
)
TOP = frozenset({"playgraph", "playgraph.__main__"})
"""The root package and ``python -m playgraph``: the top of the cli layer."""
TESTING = "playgraph.runtime.testing"
TIMEOUT = 120.0

_GRAPH_SCRIPT = """
import json, grimp
graph = grimp.build_graph("playgraph", cache_dir=None)
print(json.dumps({m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}))
"""


def _tree(target: Path) -> Path:
    """A folder holding ``playgraph/`` laid out as installed, made of symlinks."""
    package = target / "playgraph"
    package.mkdir(parents=True)
    for entry in sorted((ROOT / "playgraph").iterdir()):
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name in MAPPED:
        (package / name).symlink_to(ROOT / name)
    return target


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tree(tmp_path_factory.mktemp("layout"))


def _run(argv: list[str], tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.fspath(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        argv, cwd=tree, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


@pytest.fixture(scope="module")
def imports(tree: Path) -> dict[str, list[str]]:
    """module -> the product modules it imports (any import statement, lazy ones too)."""
    done = _run([sys.executable, "-c", _GRAPH_SCRIPT], tree)
    assert done.returncode == 0, done.stderr
    graph: dict[str, list[str]] = json.loads(done.stdout)
    assert "playgraph.runtime.scheduler" in graph, "the tree does not hold the mapped packages"
    return graph


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _layer(module: str) -> str | None:
    for layer in LAYERS:
        if module == layer or module.startswith(layer + "."):
            return layer
    return "playgraph.cli" if module in TOP else None


def test_cycle_finder_finds_cycles() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"], "e": ["e2"], "e2": []}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_layer_contracts_hold(tree: Path) -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = _run([os.fspath(lint), os.fspath(ROOT / "pyproject.toml"), "--no-cache"], tree)
    assert done.returncode == 0, f"lint-imports: contracts broken\n{done.stdout}\n{done.stderr}"
    assert "Layers: cli -> runtime" in done.stdout  # the contracts were read


def test_no_import_cycle_between_modules(imports: dict[str, list[str]]) -> None:
    cycles = _cycles(imports)
    assert not cycles, "import cycles between modules of the product:\n" + "\n".join(
        "  " + " <-> ".join(cycle) for cycle in cycles
    )


def test_every_module_belongs_to_a_layer(imports: dict[str, list[str]]) -> None:
    outside = sorted(m for m in imports if _layer(m) is None)
    assert not outside, f"modules in no layer (move them into one of {LAYERS}): {outside}"


def test_the_product_never_imports_the_test_doubles(imports: dict[str, list[str]]) -> None:
    assert TESTING in imports
    users = sorted(
        f"{module} -> {target}"
        for module, targets in imports.items()
        if not (module == TESTING or module.startswith(TESTING + "."))
        for target in targets
        if target == TESTING or target.startswith(TESTING + ".")
    )
    assert not users, f"the test doubles are for tests only: {users}"


def test_nothing_points_outside_the_repository() -> None:
    # Built from parts so that this file does not match itself.
    pattern = re.compile("DESIGN" + r"\.md|" + "shared" + "/")
    paths = [ROOT / name for name in ("README.md", "ARCHITECTURE.md", "CONTRIBUTING.md")]
    for folder in ("compiler", "grammar", "runtime", "playgraph", "specs", "tests", "bench"):
        paths += sorted(
            p
            for p in (ROOT / folder).rglob("*")
            if p.suffix in (".py", ".md") and "__pycache__" not in p.parts
        )
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in paths
        if path.is_file()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not hits, "references to files outside the repository:\n" + "\n".join(hits)


def test_every_package_is_installed() -> None:
    """pyproject lists packages by name: a new folder missing there works in an editable
    install and vanishes from a wheel."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    folders = {f"playgraph.{name}": name for name in ("grammar", "compiler", "runtime")}
    found = {"playgraph", "playgraph.cli"}
    for package, folder in folders.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            if "__pycache__" not in parts:
                found.add(".".join((package, *parts)))
    assert found - listed == set()
