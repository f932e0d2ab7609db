"""The connection/become precedence table (`runtime.connection.settings.resolve`), pure.

Each row is what ansible-core 2.19 does (its connection plugins' option sources and the
task executor's become handling); tests/security/test_connection_precedence.py checks the
important rows against ansible-core itself with real users and a real sshd.
"""

from __future__ import annotations

from typing import Any

import pytest
from playgraph.runtime.config import ConnectionDefaults
from playgraph.runtime.connection.settings import (
    CommandLine,
    ConnectionSettings,
    Keywords,
    resolve,
)
from playgraph.runtime.jobspec import Become
from playgraph.runtime.templating import OMIT

CONFIG = ConnectionDefaults()


def settings(
    variables: dict[str, Any] | None = None,
    *,
    task: Keywords | None = None,
    play: Keywords | None = None,
    cli: CommandLine | None = None,
    config: ConnectionDefaults = CONFIG,
    host: str = "web1",
) -> ConnectionSettings:
    return resolve(host, variables or {}, task=task, play=play, cli=cli, config=config)


# --------------------------------------------------------------------------- the user


USER_ROWS = [
    # (config, -u, play, task, variables) -> user
    (None, None, None, None, {}, None),
    ("cfg", None, None, None, {}, "cfg"),
    ("cfg", "cli", None, None, {}, "cli"),
    ("cfg", "cli", "play", None, {}, "play"),
    ("cfg", "cli", "play", "task", {}, "task"),
    ("cfg", "cli", "play", "task", {"ansible_user": "var"}, "var"),
    ("cfg", "cli", "play", "task", {"ansible_ssh_user": "sshvar"}, "sshvar"),
    # Both spellings: the connection plugin's list ends with ansible_ssh_user, which wins.
    (None, None, None, None, {"ansible_user": "a", "ansible_ssh_user": "b"}, "b"),
    # A null or omitted variable is not given.
    (None, None, "play", None, {"ansible_user": None}, "play"),
    (None, None, "play", None, {"ansible_user": OMIT}, "play"),
]


@pytest.mark.parametrize(("config", "cli", "play", "task", "variables", "expected"), USER_ROWS)
def test_remote_user_precedence(
    config: str | None,
    cli: str | None,
    play: str | None,
    task: str | None,
    variables: dict[str, Any],
    expected: str | None,
) -> None:
    got = settings(
        variables,
        task=Keywords(remote_user=task),
        play=Keywords(remote_user=play),
        cli=CommandLine(remote_user=cli),
        config=ConnectionDefaults(remote_user=config),
    )
    assert got.user == expected


# --------------------------------------------------------------------------- connection type


@pytest.mark.parametrize(
    ("variables", "task", "play", "cli", "transport", "expected"),
    [
        ({}, None, None, None, "ssh", "ssh"),
        ({}, None, None, None, "local", "local"),  # ANSIBLE_TRANSPORT
        ({}, None, None, "local", "ssh", "local"),  # -c
        ({}, None, "local", "ssh", "ssh", "local"),  # play keyword beats -c
        ({}, "ssh", "local", None, "ssh", "ssh"),  # task keyword beats play
        ({"ansible_connection": "ssh"}, None, "local", None, "ssh", "ssh"),  # the var wins
        ({"ansible_connection": "local"}, "ssh", None, None, "ssh", "local"),
        ({"ansible_connection": "smart"}, None, None, None, "ssh", "ssh"),
        ({"ansible_connection": "paramiko"}, None, None, None, "ssh", "ssh"),
    ],
)
def test_connection_type_precedence(
    variables: dict[str, Any],
    task: str | None,
    play: str | None,
    cli: str | None,
    transport: str,
    expected: str,
) -> None:
    got = settings(
        variables,
        task=Keywords(connection=task),
        play=Keywords(connection=play),
        cli=CommandLine(connection=cli),
        config=ConnectionDefaults(transport=transport),
    )
    assert got.connection == expected


def test_an_inventory_localhost_is_ssh_unless_it_says_local() -> None:
    # As ansible-core: only the implicit localhost carries ansible_connection=local.
    assert settings(host="localhost").connection == "ssh"
    assert settings({"ansible_connection": "local"}, host="localhost").connection == "local"


# --------------------------------------------------------------------------- address, port, secrets


def test_address_port_and_their_ssh_spellings() -> None:
    assert settings().address == "web1"
    assert settings({"ansible_host": "10.0.0.1"}).address == "10.0.0.1"
    assert settings({"ansible_ssh_host": "10.0.0.2"}).address == "10.0.0.2"
    both = {"ansible_host": "10.0.0.1", "ansible_ssh_host": "10.0.0.2"}
    assert settings(both).address == "10.0.0.2"
    assert settings().port is None
    assert settings(config=ConnectionDefaults(remote_port=2200)).port == 2200
    assert (
        settings({"ansible_port": "2201"}, config=ConnectionDefaults(remote_port=2200)).port == 2201
    )
    assert settings({"ansible_ssh_port": 2202}).port == 2202
    assert settings({"ansible_port": 2201, "ansible_ssh_port": 2202}).port == 2202
    assert settings({"ansible_port": "http"}).port == "http"  # the connection reports it


def test_password_key_args_timeout_and_host_key_checking() -> None:
    cli = CommandLine(connection_password="dash-k", private_key_file="/cli/key", timeout=7)
    config = ConnectionDefaults(private_key_file="/cfg/key", ssh_common_args="-o A=cfg")
    plain = settings(cli=cli, config=config)
    assert plain.password == "dash-k"  # -k: what no variable gave
    assert plain.private_key_file == "/cli/key"
    assert plain.ssh_common_args == "-o A=cfg"
    assert plain.timeout == 7
    assert plain.host_key_checking is None  # the configured setting applies
    variables = {
        "ansible_password": "p1",
        "ansible_ssh_pass": "p2",
        "ansible_ssh_password": "p3",
        "ansible_private_key_file": "/k1",
        "ansible_ssh_private_key_file": "/k2",
        "ansible_ssh_common_args": "-o A=var",
        "ansible_ssh_extra_args": "-o B=var",
        "ansible_ssh_args": "-C",
        "ansible_timeout": 3,
        "ansible_ssh_timeout": 4,
        "ansible_host_key_checking": True,
        "ansible_ssh_host_key_checking": False,
        "ansible_python_interpreter": "/opt/py",
    }
    full = settings(variables, cli=cli, config=config)
    assert (full.password, full.private_key_file) == ("p3", "/k2")
    assert (full.ssh_args, full.ssh_common_args, full.ssh_extra_args) == (
        "-C",
        "-o A=var",
        "-o B=var",
    )
    assert (full.timeout, full.host_key_checking, full.python) == (4, False, "/opt/py")
    assert settings({"ansible_ssh_pass": "p2"}, cli=cli).password == "p2"


# --------------------------------------------------------------------------- become


def test_become_is_off_by_default_and_on_from_any_layer() -> None:
    assert settings().become is None
    assert settings(config=ConnectionDefaults(become=True)).become == Become()
    assert settings(cli=CommandLine(become=True)).become == Become()
    assert settings(play=Keywords(become=True)).become == Become()
    assert settings(task=Keywords(become=True)).become == Become()
    assert settings({"ansible_become": True}).become == Become()
    assert settings({"ansible_become": "yes"}).become == Become()


def test_ansible_become_decides_alone_when_defined() -> None:
    # ansible-core: `ansible_become`, when defined, replaces the keyword — even false.
    assert settings({"ansible_become": False}, task=Keywords(become=True)).become is None
    assert settings({"ansible_become": "no"}, cli=CommandLine(become=True)).become is None
    # A task's `become: false` beats -b and the play.
    off = settings(task=Keywords(become=False), play=Keywords(become=True))
    assert off.become is None


@pytest.mark.parametrize(
    ("variables", "task", "play", "cli", "config", "expected"),
    [
        ({}, None, None, None, None, "root"),
        ({}, None, None, None, "cfg", "cfg"),
        ({}, None, None, "cli", "cfg", "cli"),
        ({}, None, "play", "cli", "cfg", "play"),
        ({}, "task", "play", "cli", "cfg", "task"),
        ({"ansible_become_user": "var"}, "task", "play", "cli", "cfg", "var"),
        (
            {"ansible_become_user": "var", "ansible_sudo_user": "sudo"},
            "task",
            None,
            None,
            None,
            "sudo",
        ),
    ],
)
def test_become_user_precedence(
    variables: dict[str, Any],
    task: str | None,
    play: str | None,
    cli: str | None,
    config: str | None,
    expected: str,
) -> None:
    got = settings(
        {"ansible_become": True, **variables},
        task=Keywords(become_user=task),
        play=Keywords(become_user=play),
        cli=CommandLine(become_user=cli),
        config=ConnectionDefaults(become_user=config),
    )
    assert got.become is not None and got.become.user == expected


def test_become_method_password_flags_and_exe() -> None:
    cli = CommandLine(become=True, become_password="dash-K", become_method="sudo")
    config = ConnectionDefaults(become_flags="-H -S", become_exe="/cfg/sudo", become_password="env")
    base = settings(cli=cli, config=config).become
    assert base == Become(method="sudo", password="dash-K", flags="-H -S", exe="/cfg/sudo")
    assert settings(config=ConnectionDefaults(become=True, become_password="env")).become == Become(
        password="env"
    )
    variables = {
        "ansible_become_method": "su",
        "ansible_become_password": "p1",
        "ansible_become_pass": "p2",
        "ansible_become_flags": "-E",
        "ansible_become_exe": "/usr/local/bin/sudo",
    }
    full = settings(
        variables, task=Keywords(become_method="doas", become_flags="-n"), cli=cli
    ).become
    assert full == Become(method="su", password="p2", flags="-E", exe="/usr/local/bin/sudo")
    keyword = settings(task=Keywords(become_method="doas", become_flags="-n"), cli=cli).become
    assert keyword is not None and (keyword.method, keyword.flags) == ("doas", "-n")


def test_keywords_are_rendered() -> None:
    got = resolve(
        "h",
        {},
        task=Keywords(remote_user="{{ who }}", become=True, become_user="{{ who }}-admin"),
        config=CONFIG,
        render=lambda value: str(value).replace("{{ who }}", "alice"),
    )
    assert got.user == "alice"
    assert got.become is not None and got.become.user == "alice-admin"


def test_connections_are_shared_by_settings_not_by_become() -> None:
    alice = settings({"ansible_user": "alice"})
    bob = settings({"ansible_user": "bob"})
    alice_root = settings({"ansible_user": "alice"}, task=Keywords(become=True))
    assert alice.link_key != bob.link_key
    assert alice.link_key == alice_root.link_key
    assert alice.variables()["ansible_user"] == "alice"
    assert "ansible_password" not in alice.variables()


def test_becoming_the_connected_user_is_skipped() -> None:
    # As ansible-core (unless become_allow_same_user): sudo from alice to alice is not run.
    same = settings(
        {"ansible_user": "alice", "ansible_become": True, "ansible_become_user": "alice"}
    )
    assert same.become is None
    local = resolve(
        "h",
        {"ansible_connection": "local"},
        task=Keywords(become=True),
        config=CONFIG,
        controller_user="root",
    )
    assert local.become is None
    allowed = ConnectionDefaults(become_allow_same_user=True)
    kept = resolve(
        "h",
        {"ansible_connection": "local"},
        task=Keywords(become=True),
        config=allowed,
        controller_user="root",
    )
    assert kept.become == Become()
    other = resolve(
        "h",
        {"ansible_connection": "local"},
        task=Keywords(become=True, become_user="bob"),
        config=CONFIG,
        controller_user="root",
    )
    assert other.become == Become(user="bob")


def test_a_play_saying_become_false_beats_dash_b() -> None:
    """`-b` is only the default of the play keyword: a play that says `become: false` wins,
    and a play that says nothing takes it (the IR keeps the two apart)."""

    assert settings(play=Keywords(become=False), cli=CommandLine(become=True)).become is None
    assert settings(play=Keywords(become=None), cli=CommandLine(become=True)).become == Become()


def test_the_ir_tells_an_unset_play_become_from_false(tmp_path: Any) -> None:
    from playgraph.compiler import compile_playbook
    from playgraph.runtime.context import _play_keywords

    path = tmp_path / "p.yml"
    path.write_text(
        "- hosts: all\n  become: false\n  tasks: [{debug: {msg: x}}]\n"
        "- hosts: all\n  tasks: [{debug: {msg: x}}]\n"
    )
    plays = compile_playbook(str(path)).graph.plays
    assert [_play_keywords(play).become for play in plays] == [False, None]
