"""The renderer's plugin libraries: filters, tests, versions and lookups.

How they are built rather than what each plugin computes (that is
test_templating.py): the libraries never import the renderer, their errors share
playgraph's root, what they load costly or optional is loaded on use, and the
boolean rules they apply are ansible-core's one table (`playgraph.semantics`).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from playgraph.runtime import template_values
from playgraph.runtime.templating import Templar, TemplateError

from playgraph import semantics

RUNTIME = Path(template_values.__file__).parent
LIBRARIES = ("template_values", "jinja_env", "filters", "jinja_tests", "versions", "lookups")


def _imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (a deferred import counts too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.add(base)
            names.update(f"{base}.{alias.name}".replace("..", ".") for alias in node.names)
    return names


@pytest.mark.parametrize("library", LIBRARIES)
def test_libraries_never_import_the_renderer(library: str) -> None:
    imported = _imported_modules(RUNTIME / f"{library}.py")
    assert not {
        name
        for name in imported
        if name.rsplit(".", 1)[-1] == "templating" or "templating." in name
    }, f"runtime/{library}.py imports the renderer: {sorted(imported)}"


def test_errors_share_the_root() -> None:
    assert issubclass(TemplateError, semantics.PlaygraphError)
    assert issubclass(template_values.PluginError, semantics.PlaygraphError)
    # A plugin's error is reworded with the plugin's name, not let out as is.
    assert not issubclass(template_values.PluginError, TemplateError)


def _run_python(code: str) -> str:
    """Run `code` in a fresh interpreter (this one has long imported everything)."""
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


def test_pep440_versions_work_and_load_packaging_only_then() -> None:
    out = _run_python(
        "import sys\n"
        "from playgraph.runtime.templating import Templar\n"
        "t = Templar()\n"
        "print(t.render(\"{{ '1.10' is version('1.9', '>') }}\", {}), 'packaging' in sys.modules)\n"
        "print(t.render(\"{{ '2.0rc1' is version('2.0', '<', version_type='pep440') }}\", {}),"
        " t.render(\"{{ '1.0.post1' is version('1.0', '>', version_type='pep440') }}\", {}),"
        " 'packaging' in sys.modules)\n"
    )
    assert out.splitlines() == ["True False", "True True True"]


def test_lookups_load_on_the_first_lookup() -> None:
    out = _run_python(
        "import sys\n"
        "from playgraph.runtime.templating import Templar\n"
        "t = Templar()\n"
        'print(t.render(\'{{ [1, 2] | map("string") | join(",") }}\', {}),'
        " 'playgraph.runtime.lookups' in sys.modules)\n"
        "print(t.render(\"{{ lookup('items', [3]) }}\", {}),"
        " 'playgraph.runtime.lookups' in sys.modules)\n"
    )
    assert out.splitlines() == ["1,2 False", "3 True"]


# ansible-core 2.19 (``truthy``/``falsy`` with ``convert_bool=True`` use its
# ``boolean()``): the one-letter forms and padded text are booleans too.
TRUTHY_CASES = [
    ("f", False),
    ("n", False),
    ("F ", False),
    (" no", False),
    ("t", True),
    ("y", True),
    ("x", True),
    ("", False),
    (0, False),
    (1.0, True),
    (None, False),
    ([1], True),
]


@pytest.mark.parametrize(("value", "truth"), TRUTHY_CASES)
def test_truthy_convert_bool_is_ansible_boolean(value: Any, truth: bool) -> None:
    templar = Templar()
    variables = {"v": value}
    assert templar.render("{{ v is truthy(convert_bool=True) }}", variables) is truth
    assert templar.render("{{ v is falsy(convert_bool=True) }}", variables) is (not truth)


@pytest.mark.parametrize(("flag", "skips"), [("y", True), ("t", True), ("on", True), ("x", False)])
def test_subelements_skip_missing_is_ansible_boolean(flag: str, skips: bool) -> None:
    # ansible-core reads ``skip_missing`` with boolean(strict=False): "y" and "t" skip.
    variables = {"users": [{"name": "a", "groups": ["g"]}, {"name": "b"}]}
    template = "{{ query('subelements', users, 'groups', {'skip_missing': flag}) }}"
    templar = Templar()
    if skips:
        assert templar.render(template, {**variables, "flag": flag}) == [[{"name": "a"}, "g"]]
    else:
        with pytest.raises(TemplateError, match="could not find 'groups' key"):
            templar.render(template, {**variables, "flag": flag})


def test_every_third_party_import_is_declared() -> None:
    # `packaging` (behind ``version_type='pep440'``) was once imported but not
    # declared: a fresh install without the test extras could not compare versions.
    import tomllib
    from importlib.metadata import packages_distributions

    root = RUNTIME.parent
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    # The ``ansible`` extra counts: ansible-core is imported only when a task needs it
    # (tests/runtime/test_generic_modules.py checks that a native-only run does not).
    declared = {
        requirement.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
        for requirement in (*project["dependencies"], *project["optional-dependencies"]["ansible"])
    }
    distributions = packages_distributions()
    missing: dict[str, str] = {}
    for folder in ("playgraph", "grammar", "compiler", "runtime"):
        for path in (root / folder).rglob("*.py"):
            for name in _imported_modules(path):
                top = name.split(".")[0]
                if not top or top in sys.stdlib_module_names or top == "playgraph":
                    continue
                owners = {owner.lower() for owner in distributions.get(top, [top])}
                if not owners & declared:
                    missing[top] = str(path.relative_to(root))
    assert not missing, f"imported but not in pyproject's dependencies: {missing}"


def test_vars_files_read_unsafe_on_collections_as_ansible_does() -> None:
    # ansible-core 2.19: ``!unsafe`` on a list or mapping makes every string inside
    # it data; on a number it keeps the number.  (This loader once accepted
    # scalars only and failed on the whole file.)
    from playgraph.runtime.filters import load_vars_yaml

    loaded = load_vars_yaml(
        "a: !unsafe '{{ x }}'\n"
        "n: !unsafe 5\n"
        "b: !unsafe ['{{ y }}', 2, {k: '{{ z }}'}]\n"
        "m: !unsafe {k: '{{ w }}', l: ['{{ v }}']}\n"
        "t: '{{ ok }}'\n"
    )
    assert loaded == {
        "a": "{{ x }}",
        "n": 5,
        "b": ["{{ y }}", 2, {"k": "{{ z }}"}],
        "m": {"k": "{{ w }}", "l": ["{{ v }}"]},
        "t": "{{ ok }}",
    }
    unsafe = [
        loaded["a"],
        loaded["b"][0],
        loaded["b"][2]["k"],
        loaded["m"]["k"],
        loaded["m"]["l"][0],
    ]
    assert all(isinstance(text, semantics.UnsafeText) for text in unsafe)
    assert not isinstance(loaded["t"], semantics.UnsafeText)
    assert type(loaded["n"]) is int
    # Rendered, the data stays as written.
    assert Templar().render("{{ b[0] }} {{ m.l[0] }}", loaded) == "{{ y }} {{ v }}"
