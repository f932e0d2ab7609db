"""Shell words: the simple commands a command line runs, as the compiler's lock analysis reads them."""

from __future__ import annotations

import pytest
from playgraph.grammar.shell import MAX_SCRIPT_DEPTH, simple_commands


@pytest.mark.parametrize(
    ("text", "commands"),
    [
        (
            "apt-get update && apt-get install -y x",
            [["apt-get", "update"], ["apt-get", "install", "-y", "x"]],
        ),
        ("a; b | c || d & e", [["a"], ["b"], ["c"], ["d"], ["e"]]),
        ("(cd /tmp; make)", [["cd", "/tmp"], ["make"]]),
        ("echo 'a && b' \"c; d\"", [["echo", "a && b", "c; d"]]),
        # Substitutions are commands of their own, also inside double quotes.
        (
            'echo "$(dnf list)" `yum info x`',
            [["dnf", "list"], ["yum", "info", "x"], ["echo", "$(dnf list)", "`yum info x`"]],
        ),
        ("diff <(rpm -qa) f", [["rpm", "-qa"], ["diff", "f"]]),
        ("echo $((1 + 2)) ${HOME}", [["echo", "$((1 + 2))", "${HOME}"]]),
        # Redirection targets, comments and here-documents are never commands.
        ("apt-get install x > /var/log/apt.log 2>&1", [["apt-get", "install", "x"]]),
        ("ls # apt-get install x", [["ls"]]),
        ("cat <<EOF\napt-get install x\nEOF\nyum list", [["cat"], ["yum", "list"]]),
        ("cat <<-'EOF'\n\tdnf install x\n\tEOF\n", [["cat"]]),
        # Jinja blocks are opaque words, whatever they contain.
        ("{{ pkg_tool }} install {{ 'a; b' }}", [["{{ pkg_tool }}", "install", "{{ 'a; b' }}"]]),
        ("apt-get \\\n install x", [["apt-get", "install", "x"]]),
    ],
)
def test_shell_scripts(text: str, commands: list[list[str]]) -> None:
    assert simple_commands(text, shell=True) == commands


def test_words_without_a_shell() -> None:
    # The command module runs no shell: operators are plain words.
    assert simple_commands("apt-get install x && y", shell=False) == [
        ["apt-get", "install", "x", "&&", "y"]
    ]
    assert simple_commands("echo {{ a | b }} 'c d'", shell=False) == [
        ["echo", "{{ a | b }}", "c d"]
    ]


def test_windows_keeps_backslashes() -> None:
    assert simple_commands(r"C:\tools\choco.exe install x", shell=False, windows=True) == [
        [r"C:\tools\choco.exe", "install", "x"]
    ]
    assert simple_commands(r"C:\tools\choco.exe", shell=False) == [["C:toolschoco.exe"]]


def test_nesting_is_bounded() -> None:
    text = "x"
    for _ in range(MAX_SCRIPT_DEPTH + 3):
        text = f"echo $({text})"
    commands = simple_commands(text, shell=True)
    assert ["x"] not in commands  # too deep: not analysed
    assert len(commands) == MAX_SCRIPT_DEPTH + 1


@pytest.mark.parametrize(
    "text", ["echo 'open", 'echo "open', "echo $(open", "echo `open", "a <<", "{{ open"]
)
def test_unbalanced_text_never_raises(text: str) -> None:
    simple_commands(text, shell=True)
    simple_commands(text, shell=False)
