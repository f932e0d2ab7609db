"""Tests for `playgraph.runtime.inventory`.

Every expected value here was checked against ansible-core 2.19 on the same
fixture (``ansible-inventory -i FILE --list`` / ``--host H``, ``ansible -i FILE
PATTERN --list-hosts [--limit L]``, ``debug`` of ``groups``/``group_names`` in a
play, and ansible-core's own ``split_host_pattern``/``parse_address``/
``expand_hostname_range``), unless a comment says we deliberately differ.
Ansible itself is never imported here.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import random
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from playgraph.runtime.inventory import (
    Group,
    Host,
    Inventory,
    InventoryError,
    expand_hostname_range,
    load_inventory,
    parse_address,
    split_host_pattern,
)

from playgraph.semantics import UnsafeText

DATA = Path(__file__).parent / "data" / "inventory"


def load(*names: str) -> Inventory:
    return load_inventory([str(DATA / name) for name in names])


@pytest.fixture
def in_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in the fixture directory: limit files and error paths are relative there,
    as on a command line."""
    monkeypatch.chdir(DATA)


# --------------------------------------------------------------------------------------------
# INI: ranges, ports, value typing


@pytest.mark.parametrize(
    ("group", "hosts"),
    [
        (
            "zeros",  # leading zeros keep their width; [01:12:4] steps by 4
            ["web01.example.com", "web05.example.com", "web09.example.com",
             "node08", "node09", "node10", "node11"],
        ),
        ("steps", ["s1", "s4", "s7", "s10", "s0b", "s2b", "s4b"]),  # [:4:2] begins at 0
        ("letters", ["db-a", "db-b", "db-c", "xy", "xz", "xA", "xB"]),  # a-z then A-Z
        ("multi", ["r1-a", "r1-b", "r2-a", "r2-b"]),
        (
            "ports",
            ["p1.example.com", "p2.example.com", "10.0.0.1", "10.0.0.2", "2001:db8::1",
             "fe80::1", "192.168.0.1", "plain", "h:abc"],
        ),
        ("reversed", []),  # down[5:1] is an empty range, not an error
    ],
)  # fmt: skip
def test_ini_ranges(group: str, hosts: list[str]) -> None:
    inv = load("ranges.ini")
    assert list(inv.groups[group].hosts) == hosts


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("p1.example.com", {"ansible_port": 2222, "foo": "bar"}),
        ("p2.example.com", {"ansible_port": 2222, "foo": "bar"}),
        ("10.0.0.2", {"ansible_port": 22}),
        ("2001:db8::1", {"ansible_port": 8022}),  # a port on IPv6 needs brackets
        ("fe80::1", {}),  # ...so this is an address, not fe80: port 1
        ("192.168.0.1", {"ansible_port": 2200}),
        ("h:abc", {}),  # not a port: the whole text is the name
        ("plain", {}),
    ],
)
def test_ini_host_port(host: str, expected: dict[str, Any]) -> None:
    inv = load("ranges.ini")
    assert inv.host_vars(host) == expected
    assert dict(inv.hosts[host].vars) == expected


def test_ini_host_port_only_where_first_declared() -> None:
    inv = load("precedence/hosts.ini")
    # h1 was declared without a port, so "h1:2200" later does not set one; h5:2201 wins
    # over the later h5:2202 (ansible-core sets the port only when creating the host).
    assert "ansible_port" not in inv.host_vars("h1")
    assert inv.host_vars("h5")["ansible_port"] == 2201
    assert inv.host_vars("h5")["later"] == 1


VALUES_H1: dict[str, Any] = {
    # host line: shlex-split, then literal_eval
    "int": 1, "bool": True, "lower": "true", "quoted": 1, "squoted": "1", "list": [1, 2],
    "dict": "{k:1}", "none": None, "float": 1.5, "hex": 16, "word": "hello", "spaced": "a b",
    "zero": "01", "exp": 1000.0, "neg": -3, "yes": "yes", "eq": "a=b", "empty": "",
    "cplx": "1j", "dots": "...", "tuple": [1, 2], "nested": {"a": [1, None]}, "pad": 7,
    # [g:vars]: no shlex, but literal_eval too (despite Ansible's documentation)
    "v_int": 1, "v_bool": True, "v_str": "quoted", "v_list": [1, "two", {"k": False}],
    "v_comment": "a b # kept: no comments in :vars values", "v_numcomment": 5,
    "v_yes": "yes", "v_empty": "", "v_spaced": " spaced ",
}  # fmt: skip


@pytest.mark.parametrize(("key", "value"), sorted(VALUES_H1.items()))
def test_ini_value_typing(key: str, value: Any) -> None:
    got = load("values.ini").host_vars("h1")[key]
    assert got == value
    assert type(got) is type(value)


def test_ini_values_whole_line() -> None:
    inv = load("values.ini")
    assert inv.host_vars("h1") == VALUES_H1
    # '#' starts a comment anywhere on a host line, even inside a word
    assert inv.host_vars("h2") == {"x": 1}


# --------------------------------------------------------------------------------------------
# Groups: nesting, implicit groups, snapshots


def test_nested_groups_mapping() -> None:
    inv = load("nested.ini")
    assert inv.groups_mapping() == {
        # ansible-core lists d1/e1 (same depth, different parents) in set order, which
        # changes between its runs; we use the declared order.
        "all": ["a1", "z1", "shared", "b1", "c1", "d1", "e1"],
        "ungrouped": [],
        "a": ["a1", "b1", "shared", "c1", "d1", "e1"],
        "b": ["b1", "shared", "d1"],
        "c": ["c1", "e1"],
        "d": ["d1", "shared"],
        "e": ["e1"],
        "z": ["z1", "shared"],
    }


def test_nested_groups_structure() -> None:
    inv = load("nested.ini")
    assert list(inv.groups) == ["all", "ungrouped", "a", "b", "c", "d", "e", "z"]
    assert inv.groups["all"].children == ("ungrouped", "a", "z")
    assert inv.groups["a"].children == ("b", "c")  # named before [b]/[c] were declared
    assert {name: g.depth for name, g in inv.groups.items()} == {
        "all": 0, "ungrouped": 1, "a": 1, "b": 2, "c": 2, "d": 3, "e": 3, "z": 1,
    }  # fmt: skip
    assert inv.groups["d"] == Group(
        name="d", hosts=("d1", "shared"), children=(), parents=("b",), vars={}, depth=3
    )
    assert inv.group_names("shared") == ["a", "b", "d", "z"]
    assert inv.group_names("d1") == ["a", "b", "d"]
    shared = inv.hosts["shared"]
    assert isinstance(shared, Host)
    assert shared.groups == ("all", "a", "b", "d", "z")
    assert shared.source == str(DATA / "nested.ini")
    assert list(inv.hosts) == ["d1", "shared", "e1", "b1", "c1", "a1", "z1"]


def test_ungrouped_and_group_names() -> None:
    inv = load("patterns.ini")
    assert inv.groups_mapping()["ungrouped"] == ["solo"]
    # ansible-core 2.19 keeps 'ungrouped' in group_names (only 'all' is dropped).
    assert inv.group_names("solo") == ["ungrouped"]
    assert inv.group_names("web2") == ["db", "prod", "web"]
    assert inv.groups_mapping()["prod"] == ["web1", "web2", "web3", "lb1"]


def test_snapshots_are_read_only() -> None:
    inv = load("patterns.ini")
    with pytest.raises(TypeError):
        inv.hosts["web1"].vars["x"] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        inv.groups["web"].vars["x"] = 1  # type: ignore[index]
    merged = inv.host_vars("web1")
    merged["x"] = 1
    assert "x" not in inv.host_vars("web1")


# --------------------------------------------------------------------------------------------
# Variable precedence


PRECEDENCE: dict[str, dict[str, Any]] = {
    "h1": {
        "v_all": "gv_all", "gv_all_only": 1, "from_all_inv": "yes",
        "deep": "gv_all",  # group_vars/all.yml beats [mid:vars] in the inventory file
        "v_top": "gv_top", "mid_file": "b", "mid_a": 1, "hostonly": 1,
        "shared": "hv_h1",  # host_vars/h1.yml beats the host line
    },
    "h2": {
        "v_all": "gv_all", "gv_all_only": 1, "from_all_inv": "yes", "v_top": "gv_top",
        "shared": "gv_top",  # group_vars/top.yml (depth 1) beats [mid:vars] (depth 2)
        "deep": "hv_h2",  # host_vars/h2.json (tab-indented JSON)
        "leaf_src": "noext",  # group_vars/leaf wins over group_vars/leaf.yml
        "leafonly": "inv_leaf", "mid_file": "b", "mid_a": 1, "h2json": True,
    },
    "h3": {
        "v_all": "gv_all", "gv_all_only": 1, "from_all_inv": "yes", "deep": "gv_all",
        "shared": "inv_all",
        "sib": "beta",  # same depth and priority: the later name wins
        "alpha_src": "yml",  # alpha.yml is found before alpha.json
    },
    "h4": {
        "v_all": "gv_all", "gv_all_only": 1, "from_all_inv": "yes", "deep": "gv_all",
        "shared": "inv_all",
        "pv": "prio_a", "pfile": "from_gv_a",  # ansible_group_priority=10 beats the name
    },
    "h5": {
        "v_all": "gv_all", "gv_all_only": 1, "from_all_inv": "yes", "deep": "gv_all",
        "shared": "inv_all", "ansible_port": 2201, "later": 1,
    },
}  # fmt: skip


@pytest.mark.parametrize("host", sorted(PRECEDENCE))
def test_precedence(host: str) -> None:
    assert load("precedence/hosts.ini").host_vars(host) == PRECEDENCE[host]


def test_group_priority_is_not_a_variable() -> None:
    inv = load("precedence/hosts.ini")
    assert inv.groups["prio_a"].priority == 10
    assert inv.groups["prio_b"].priority == 1
    assert "ansible_group_priority" not in inv.groups["prio_a"].vars
    assert "ansible_group_priority" not in inv.host_vars("h4")


def test_precedence_with_playbook_dir() -> None:
    inv = load("precedence/hosts.ini")
    pb = [str(DATA / "playbook_dir")]
    pick = ("v_all", "deep", "pb_only", "v_top", "shared")
    # playbook group_vars/all beats inventory group_vars/all; playbook group_vars/<g>
    # beats inventory group_vars/<g>; host_vars files beat both (ansible-playbook, checked).
    h1 = inv.host_vars("h1", playbook_dirs=pb)
    h2 = inv.host_vars("h2", playbook_dirs=pb)
    assert [h1[k] for k in pick] == ["pb_all", "pb_all", 1, "pb_top", "pb_h1"]
    assert [h2[k] for k in pick] == ["pb_all", "hv_h2", 1, "pb_top", "pb_top"]


def test_multiple_sources() -> None:
    inv = load("multi/one/inv", "multi/two/inv")
    # group_vars are merged source by source, and within a source group by group, so
    # two/group_vars/other.yml beats one/group_vars/web.yml although both are depth 1.
    assert inv.host_vars("w1") == {
        "gv": "two", "hv": "two", "og": "two-other", "only1": 1, "srcv": "two",
    }  # fmt: skip
    assert inv.magic_vars("w1")["inventory_file"] == str(DATA / "multi/one/inv")
    assert inv.groups_mapping()["web"] == ["w1", "w2"]


def test_magic_vars() -> None:
    inv = load("precedence/hosts.ini", "ranges.ini")
    assert inv.magic_vars("h2") == {
        "inventory_hostname": "h2",
        "inventory_hostname_short": "h2",
        "group_names": ["leaf", "mid", "top"],
        "inventory_file": str(DATA / "precedence/hosts.ini"),
        "inventory_dir": str(DATA / "precedence"),
    }
    assert inv.magic_vars("web01.example.com")["inventory_hostname_short"] == "web01"
    assert inv.magic_vars("10.0.0.1")["inventory_hostname_short"] == "10.0.0.1"


# --------------------------------------------------------------------------------------------
# YAML, JSON, directories, host lists


def test_yaml_inventory() -> None:
    inv = load("hosts.yml")
    assert inv.groups_mapping() == {
        # hosts directly under 'all' come first in 'all'
        "all": ["direct1", "direct2", "web01.example.com", "web02.example.com",
                "web03.example.com", "db1", "b1", "t1"],
        "ungrouped": ["direct2"],
        "web": ["web01.example.com", "web02.example.com", "web03.example.com"],
        "web_canary": ["web01.example.com"],
        "db": ["db1"],
        "empty": [],
        "bogus": ["b1"],
        "top2": ["t1", "direct1"],
    }  # fmt: skip
    common = {"av": 1, "when": datetime.date(2001, 12, 14), "raw": "{{ not templated }}"}
    assert inv.host_vars("web02.example.com") == {
        **common, "role": "web", "flag": True, "http_port": 80, "extra": True,
    }  # fmt: skip
    assert inv.host_vars("direct2") == {**common, "ansible_port": 2200, "dv": "x"}
    assert inv.host_vars("t1") == {**common, "ansible_port": 2022}
    assert isinstance(inv.host_vars("t1")["raw"], UnsafeText)
    assert inv.groups["web"].priority == 5
    assert inv.group_names("direct1") == ["top2"]
    assert inv.warnings == [
        "Skipping key (weird) in group (bogus) as it is not a mapping, it is a scalar",
        'Skipping unexpected key (other_key) in group (bogus), only "vars", "children" '
        'and "hosts" are valid',
    ]


def test_json_inventory() -> None:
    inv = load("hosts.json")
    assert inv.groups_mapping()["web"] == ["j1", "j2"]
    assert inv.host_vars("j1") == {"n": 1, "s": "yes"}  # JSON: "yes" stays a string


def test_directory_source() -> None:
    inv = load("dirsource")
    # Entries in name order (a.yml, b.ini, noext, oneliner, sub/inv); README.md, *.retry,
    # *~, .hidden, *.cfg and *.txt are skipped.
    assert list(inv.hosts) == ["w2", "d1", "w1", "n1", "w3", "s1"]
    assert inv.groups_mapping()["web"] == ["w2", "w1"]
    assert inv.host_vars("w1") == {"gvweb": "top", "src": "b_ini"}
    assert inv.host_vars("w3") == {"ansible_port": 2222}  # 'w3:2222' is INI, not YAML
    # group_vars next to a subdirectory's files are not read: only the source's own.
    assert inv.host_vars("s1") == {}
    assert inv.groups["all"].children == ("ungrouped", "web", "db", "noext", "sub")


@pytest.mark.parametrize(
    ("source", "hosts", "vars"),
    [
        ("h1,h2:2222,[::1]:22, web[1:2],h1", ["h1", "h2", "::1", "web[1:2]"],
         {"h2": {"ansible_port": 2222}, "::1": {"ansible_port": 22}}),
        ("localhost,", ["localhost"], {}),  # an explicit localhost: no local connection
        ("a,", ["a"], {}),
    ],
)  # fmt: skip
def test_host_list(source: str, hosts: list[str], vars: dict[str, Any]) -> None:
    inv = load_inventory([source])
    assert list(inv.hosts) == hosts
    assert inv.groups_mapping()["ungrouped"] == hosts
    assert {h: inv.host_vars(h) for h in hosts if inv.host_vars(h)} == vars
    assert inv.select("all") == hosts


# --------------------------------------------------------------------------------------------
# Host patterns


PATTERNS: list[tuple[str, str | None, list[str]]] = [
    ("all", None, ["solo", "db1", "db2", "web2", "st1", "allx", "web1", "web3", "lb1"]),
    ("*", None, ["solo", "db1", "db2", "web2", "st1", "allx", "web1", "web3", "lb1"]),
    ("web", None, ["web1", "web2", "web3"]),
    ("db:web", None, ["db1", "db2", "web2", "web1", "web3"]),
    ("web:db", None, ["web1", "web2", "web3", "db1", "db2"]),
    ("web,db", None, ["web1", "web2", "web3", "db1", "db2"]),
    ("web:&db", None, ["web2"]),
    ("db:!web", None, ["db1", "db2"]),
    ("!web", None, ["solo", "db1", "db2", "st1", "allx", "lb1"]),
    ("&web", None, ["web2", "web1", "web3"]),  # 'all' & web, in 'all' order
    ("web:!db:lb", None, ["web1", "web3", "lb1"]),  # unions before exclusions
    ("!db:web:&prod", None, ["web1", "web3"]),
    ("web:&db:&prod", None, ["web2"]),
    ("web[0]", None, ["web1"]),
    ("web[-1]", None, ["web3"]),
    ("web[0:1]", None, ["web1", "web2"]),  # slices include their end
    ("web[1:]", None, ["web2", "web3"]),
    ("web[2:0]", None, ["web3"]),  # an end of 0 means "no end": a single index
    ("web[5:9]", None, []),
    ("prod[1:2]", None, ["web2", "web3"]),
    ("web[0],db[0]", None, ["web1", "db1"]),
    ("db:!web[0]", None, ["db1", "db2", "web2"]),
    ("web[0-1]", None, ["web1", "web2"]),  # the old dash form, with a warning
    ("~web\\d", None, ["web1", "web2", "web3"]),
    ("~(web|db)1", None, ["web1", "db1"]),
    ("~eb", None, []),  # regexes are anchored at the start
    ("web*", None, ["web1", "web2", "web3"]),
    ("w*", None, ["web1", "web2", "web3"]),
    ("a*", None, ["solo", "db1", "db2", "web2", "st1", "allx", "web1", "web3", "lb1"]),
    ("*.x", None, []),
    ("?b1", None, ["db1", "lb1"]),
    ("ungrouped", None, ["solo"]),
    ("all:!ungrouped", None, ["db1", "db2", "web2", "st1", "allx", "web1", "web3", "lb1"]),
    ("nosuch", None, []),
    ("nosuch:web", None, ["web1", "web2", "web3"]),
    ("web1:22", None, []),  # one host:port address, not 'web1' and '22'
    (" web , db ", None, ["web1", "web2", "web3", "db1", "db2"]),
    ("web db", None, ["web1", "web2", "web3", "db1", "db2"]),
    ("localhost", None, ["localhost"]),
    ("127.0.0.1", None, ["127.0.0.1"]),
    ("web:localhost", None, ["web1", "web2", "web3", "localhost"]),
    ("all:localhost", None,
     ["solo", "db1", "db2", "web2", "st1", "allx", "web1", "web3", "lb1", "localhost"]),
    ("localhost:!localhost", None, []),
    ("all", "@limit.txt", ["db2", "web1"]),  # lines db2, web1, !web3
    ("all", "web:@limit.txt", ["db2", "web2", "web1"]),
    ("all", "@limit_colon.txt", []),  # a limit-file line is one pattern: 'web:db'
    ("db:web", "web1,db2,web2", ["db2", "web2", "web1"]),  # the pattern's order is kept
    ("all", "!web", ["solo", "db1", "db2", "st1", "allx", "lb1"]),
    ("localhost", "localhost", ["localhost"]),
    ("all", "localhost", []),  # the implicit localhost is not in 'all'
    ("web[0]:web[2]", "~web[13]", ["web1", "web3"]),
    ("prod", "staging:&db", []),
]  # fmt: skip


@pytest.mark.usefixtures("in_data")
@pytest.mark.parametrize(("pattern", "limit", "expected"), PATTERNS)
def test_patterns(pattern: str, limit: str | None, expected: list[str]) -> None:
    assert load("patterns.ini").select(pattern, limit=limit) == expected


def test_pattern_list_argument() -> None:
    inv = load("patterns.ini")
    # The parts of all items are pooled, so '&prod' narrows 'db' too.
    assert inv.select(["db", "web:&prod"]) == ["web2", "web1", "web3"]
    assert inv.select(["db", "lb"]) == ["db1", "db2", "web2", "lb1"]
    assert inv.select(["db", "lb"], limit=["web"]) == ["web2"]


@pytest.mark.parametrize("pattern", ["web[3]", "web[-4]", "db:web[10]"])
def test_subscript_out_of_range(pattern: str) -> None:
    with pytest.raises(InventoryError, match=r"No hosts matched the subscripted pattern"):
        load("patterns.ini").select(pattern)


def test_subscript_on_nothing_is_empty() -> None:
    assert load("patterns.ini").select("nosuch[3]") == []


def test_dash_subscript_warns() -> None:
    inv = load("patterns.ini")
    inv.select("web[0-1]")
    assert inv.warnings == [
        "Use [x:y] inclusive subscripts instead of [x-y] which has been removed"
    ]


def test_invalid_regex() -> None:
    with pytest.raises(InventoryError, match=r"invalid host pattern '~web\(': "):
        load("patterns.ini").select("~web(")


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("web", ["web"]),  # a plain host name wins over the group of that name
        ("all:!web", ["web"]),  # ...but '!web' removes the group's hosts
        ("we*", ["w1", "w2", "web"]),  # globs match groups and hosts
        ("&web", ["w1", "w2"]),
    ],
)
def test_host_and_group_with_one_name(pattern: str, expected: list[str]) -> None:
    inv = load("same_name.ini")
    assert inv.select(pattern) == expected
    assert inv.warnings == ["Found both group and host with same name: web"]


@pytest.mark.parametrize(
    ("pattern", "limit", "expected"),
    [
        ("nosuch", None, ["nosuch"]),
        ("nosuch:web:!other[0]:&third", None, ["nosuch", "other", "third"]),
        ("all:web:localhost:web1", None, []),
        ("~local", None, ["~local"]),  # only the literal name 'localhost' is implicit
        ("web", "nosuch2", ["nosuch2"]),
        ("nosuch,nosuch", None, ["nosuch"]),
    ],
)
def test_unmatched(pattern: str, limit: str | None, expected: list[str]) -> None:
    assert load("patterns.ini").unmatched(pattern, limit=limit) == expected


@pytest.mark.usefixtures("in_data")
def test_limit_file_errors(tmp_path: Path) -> None:
    inv = load("patterns.ini")
    with pytest.raises(InventoryError) as exc:
        inv.select("all", limit="@no_such_file.txt")
    assert str(exc.value) == "no_such_file.txt: unable to find limit file"
    with pytest.raises(InventoryError, match="must be a file, not a directory"):
        inv.select("all", limit=f"@{tmp_path}")


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("inventory", ["db1", "db2", "web2", "web1", "web3"]),
        ("sorted", ["db1", "db2", "web1", "web2", "web3"]),
        ("reverse_sorted", ["web3", "web2", "web1", "db2", "db1"]),
        ("reverse_inventory", ["web3", "web1", "web2", "db2", "db1"]),
    ],
)
def test_order(order: str, expected: list[str]) -> None:
    assert load("patterns.ini").select("db:web", order=order) == expected


def test_order_shuffle_uses_the_given_rng() -> None:
    inv = load("patterns.ini")
    expected = inv.select("all")
    random.Random(7).shuffle(expected)
    assert inv.select("all", order="shuffle", rng=random.Random(7)) == expected
    with pytest.raises(ValueError, match="rng"):
        inv.select("all", order="shuffle")
    with pytest.raises(InventoryError, match="Invalid 'order' specified"):
        inv.select("all", order="random")


# --------------------------------------------------------------------------------------------
# The implicit localhost


def test_no_inventory() -> None:
    inv = load_inventory([])
    assert inv.select("all") == []
    assert inv.groups_mapping() == {"all": [], "ungrouped": []}
    assert inv.warnings == [
        "No inventory was parsed, only implicit localhost is available",
        "provided hosts list is empty, only localhost is available. "
        "Note that the implicit localhost does not match 'all'",
    ]
    assert inv.select("localhost") == ["localhost"]
    assert inv.host_vars("localhost") == {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
    }
    host = inv.get_host("localhost")
    assert host is not None and host.implicit and host.groups == ()
    assert "localhost" not in inv.hosts


def test_implicit_localhost_gets_all_group_vars() -> None:
    inv = load("precedence/hosts.ini")
    assert inv.select("localhost") == ["localhost"]
    assert inv.host_vars("localhost") == {
        "v_all": "gv_all", "shared": "inv_all", "from_all_inv": "yes", "gv_all_only": 1,
        "deep": "gv_all", "lh_file": 1,  # host_vars/localhost.yml applies too
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
    }  # fmt: skip
    assert inv.group_names("localhost") == []
    assert "localhost" not in inv.groups_mapping()["all"]


def test_explicit_localhost_like_host_stands_in(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("127.0.0.1\nother\n")
    inv = load_inventory([str(path)])
    # Ansible answers 'localhost' with the inventory's first localhost-like host.
    assert inv.select("localhost") == ["127.0.0.1"]
    assert inv.select("localhost:other") == ["127.0.0.1", "other"]
    assert inv.select("::1") == ["127.0.0.1"]
    assert inv.host_vars("127.0.0.1") == {}


# --------------------------------------------------------------------------------------------
# Run-time changes (add_host, group_by)


def test_add_host_and_group_by() -> None:
    # Mirrors a play checked with ansible-playbook: add_host x3 and group_by on localhost,
    # then group_by key=k_<last char> parents=kparent on the web hosts.
    inv = load("patterns.ini")
    inv.select("localhost")
    assert inv.add_host("new1", ["web", "newgroup"], {"foo": "bar"})
    assert inv.add_host("new2")
    assert inv.add_host("web1", ["extra"], {"x": "1"})
    assert not inv.add_host("web1", ["extra"], {"x": "1"})
    assert inv.add_group("lgroup", host="localhost")
    mapping = inv.groups_mapping()
    assert mapping["all"] == [
        "new1", "new2", "solo", "db1", "db2", "web2", "st1", "allx", "web1", "web3", "lb1",
    ]  # fmt: skip
    assert mapping["ungrouped"] == ["solo", "new2"]
    assert mapping["web"] == ["web1", "web2", "web3", "new1"]
    assert mapping["prod"] == ["web1", "web2", "web3", "new1", "lb1"]
    assert mapping["lgroup"] == ["localhost"]
    assert inv.group_names("new1") == ["newgroup", "prod", "web"]
    assert inv.group_names("new2") == ["ungrouped"]
    assert inv.group_names("localhost") == ["lgroup"]
    assert inv.host_vars("new1") == {"foo": "bar"}
    assert inv.host_vars("web1") == {"x": "1"}
    for host in ("web1", "web2", "new1", "web3"):
        inv.add_group(f"k_{host[-1]}", host=host, parents=["kparent"])
    assert not inv.add_group("k_1", host="new1", parents=["kparent"])
    mapping = inv.groups_mapping()
    assert mapping["kparent"] == ["web1", "new1", "web2", "web3"]
    assert mapping["k_1"] == ["web1", "new1"]
    assert inv.group_names("web1") == ["extra", "k_1", "kparent", "prod", "web"]
    assert inv.select("kparent:&db") == ["web2"]
    assert inv.groups["k_1"].depth == 2


def test_add_group_errors() -> None:
    inv = load("nested.ini")
    with pytest.raises(InventoryError, match="nosuchhost cannot be matched in inventory"):
        inv.add_group("g", host="nosuchhost")
    with pytest.raises(InventoryError, match="recursive dependency loop"):
        inv.add_group("a", parents=["d"])
    with pytest.raises(InventoryError, match="can't add group 'a' to itself"):
        inv.add_group("a", parents=["a"])


def test_empty_inventory_object() -> None:
    inv = Inventory()
    assert inv.select("all") == []
    inv.add_host("h1", ["g"])
    assert inv.select("g") == ["h1"]
    assert inv.groups_mapping() == {"all": ["h1"], "ungrouped": [], "g": ["h1"]}


# --------------------------------------------------------------------------------------------
# Errors


ERRORS: list[tuple[str, str]] = [
    ("errors/bad_range.ini",
     "bad_range.ini:3: host range '[a:1]' must be two numbers or two letters"),
    ("errors/bad_section.ini",
     "bad_section.ini:4: Invalid section entry: '[web server]'. A section is [name], "
     "[name:vars] or [name:children], with no spaces"),
    ("errors/unknown_type.ini", "unknown_type.ini:1: Section [web:bogus] has unknown type: bogus"),
    ("errors/vars_undefined.ini",
     "vars_undefined.ini:5: Section [db:vars] not valid for undefined group 'db'"),
    ("errors/child_undefined.ini",
     "child_undefined.ini:2: Section [p:children] includes undefined group 'c'"),
    ("errors/vars_no_equals.ini", "vars_no_equals.ini:2: Expected key=value, got: justakey"),
    ("errors/host_no_equals.ini",
     "host_no_equals.ini:2: Expected key=value host variable assignment, got: novalue"),
    ("errors/unclosed_quote.ini",
     "unclosed_quote.ini:2: Error parsing host definition 'h1 x=\"unterminated': "
     "No closing quotation"),
    ("errors/trailing_colon.ini",
     "trailing_colon.ini:2: Invalid host pattern 'h1:' supplied, ending in ':' is not allowed, "
     "this character is reserved to provide a port."),
    ("errors/range_one_bound.ini",
     "range_one_bound.ini:2: host range '[1]' must be begin:end or begin:end:step"),
    ("errors/range_width.ini",
     "range_width.ini:2: host range '[01:5]' must have begin and end of equal length "
     "when begin has a leading zero"),
    ("errors/range_letters_reversed.ini",
     "range_letters_reversed.ini:2: host range '[c:a]' must have begin <= end"),
    ("errors/range_no_end.ini", "range_no_end.ini:2: host range '[1:]' must specify an end value"),
    ("errors/cycle.ini",
     "cycle.ini:4: Adding group 'a' as child to 'b' creates a recursive dependency loop."),
    ("errors/self_child.ini", "self_child.ini:2: can't add group 'a' to itself"),
    ("errors/bad_child_line.ini", "bad_child_line.ini:2: Expected group name, got: bad child"),
    ("errors/bad_range.yml",
     "bad_range.yml:5: host range '[a:1]' must be two numbers or two letters"),
    ("errors/broken.yml",
     "broken.yml:5: invalid YAML: expected ',' or ']', but got '<stream end>'"),
    ("errors/child_list.yml",
     "child_list.yml:3: group 'strange' must be a mapping (or empty), not list"),
    ("errors/hosts_list.yml",
     'hosts_list.yml:5: Invalid "hosts" entry for "web" group, requires a dictionary, '
     "found list instead."),
    ("errors/int_host.yml",
     "int_host.yml:3: Host pattern 42 must be a string. "
     "Enclose integers/floats in quotation marks."),
    ("errors/plugin.yml",
     "plugin.yml:1: inventory plugin configuration files (plugin:) are not supported"),
    ("errors/missing.ini", "missing.ini: inventory source not found"),
    ("errors/vars_broken",
     "vars_broken/group_vars/web.yml:3: invalid YAML: expected ',' or ']', but got ':'"),
    ("errors/vars_not_mapping/hosts",
     "vars_not_mapping/host_vars/web1.yml:2: a vars file must hold a mapping, not a list"),
]  # fmt: skip


@pytest.mark.usefixtures("in_data")
@pytest.mark.parametrize(("source", "message"), ERRORS)
def test_errors(source: str, message: str) -> None:
    with pytest.raises(InventoryError) as exc:
        load_inventory([source])
    text = str(exc.value)
    # Inventory files print as given (relative here); vars files as absolute paths.
    assert text == f"errors/{message}" or text == f"{DATA / 'errors'}/{message}"
    assert "\n" not in text
    assert exc.value.file is not None


@pytest.mark.usefixtures("in_data")
def test_error_carries_file_and_line() -> None:
    with pytest.raises(InventoryError) as exc:
        load_inventory(["errors/bad_range.ini"])
    assert (exc.value.file, exc.value.line) == ("errors/bad_range.ini", 3)
    assert exc.value.message == "host range '[a:1]' must be two numbers or two letters"


def test_executable_script_is_refused(tmp_path: Path) -> None:
    script = tmp_path / "inventory.py"
    script.write_text("#!/usr/bin/env python3\nprint('{}')\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(InventoryError, match="executable inventory scripts are not supported"):
        load_inventory([str(script)])
    # An executable file that is no script (no #!) is read as usual.
    plain = tmp_path / "hosts"
    plain.write_text("[web]\nw1\n")
    plain.chmod(plain.stat().st_mode | stat.S_IXUSR)
    assert load_inventory([str(plain)]).select("web") == ["w1"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("hosts.toml", "[web]\n", "TOML inventories are not supported"),
        ("hosts.yml", "- just\n- a list\n", "a YAML inventory must be a mapping of groups"),
        ("hosts.yml", "all:\n  hosts:\n    h1: 5\n", "host 'h1' must map to its variables"),
        ("hosts.yml", "all:\n  vars: {ansible_group_priority: high}\n",
         "ansible_group_priority must be an integer"),
        ("hosts.yml", "all:\n  hosts:\n    h1:\n      v: !vault |\n        abc\n",
         "vault-encrypted values (!vault) are not supported"),
        ("hosts.ini", "[web]\nh1\n[web:vars]\nansible_group_priority=high\n",
         "ansible_group_priority must be an integer"),
        ("hosts.ini", "[web]\n---\n", "'---' is normally a sign this is a YAML file"),
        ("hosts.ini", "[web]\n\"\"\n", "invalid empty host name"),
        ("hosts.ini", "[web]\nh[1:3\n", "has no closing ']'"),
        ("hosts.ini", "[web]\nh[1:3:0]\n", "zero step"),
        ("hosts.ini", b"[web]\nh\xff\n", "not valid UTF-8"),
    ],
)  # fmt: skip
def test_more_errors(tmp_path: Path, name: str, text: str | bytes, message: str) -> None:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(InventoryError, match=r"^" + str(path).replace("\\", "\\\\") + ":") as exc:
        load_inventory([str(path)])
    assert message in str(exc.value)


def test_broken_yaml_without_extension_reports_the_yaml_error(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("all:\n  hosts:\n    h1: {a: [1}\n")
    with pytest.raises(InventoryError) as exc:
        load_inventory([str(path)])
    assert str(exc.value).startswith(f"{path}:3: invalid YAML: ")


def test_empty_files_are_empty_inventories(tmp_path: Path) -> None:
    for name in ("empty.yml", "empty.ini", "empty"):
        (tmp_path / name).write_text("")
    inv = load_inventory([str(tmp_path)])
    assert list(inv.hosts) == []


def test_group_vars_that_is_a_file_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text("h1\n")
    (tmp_path / "group_vars").write_text("x: 1\n")
    inv = load_inventory([str(tmp_path / "hosts")])
    assert inv.host_vars("h1") == {}
    assert inv.warnings == [
        f"Found group_vars that is not a directory, skipping: {tmp_path / 'group_vars'}"
    ]


# --------------------------------------------------------------------------------------------
# Building blocks (tables checked against ansible-core's own functions)


@pytest.mark.parametrize(
    ("pattern", "parts"),
    [
        ("a,b[1], c[2:3] , d", ["a", "b[1]", "c[2:3]", "d"]),
        ("a:b", ["a", "b"]),
        ("a:&b:!c", ["a", "&b", "!c"]),
        ("fe80::1", ["fe80::1"]),
        ("[::1]:22", ["[::1]:22"]),
        ("web[1:3]", ["web[1:3]"]),
        ("web[0:2]:db", ["web[0:2]", "db"]),
        ("web1:22", ["web1:22"]),
        ("~web\\d+:db", ["~web\\d+", "db"]),
        ("a b\tc", ["a", "b", "c"]),
        ("a,b:c", ["a", "b:c"]),  # with a comma, colons do not split
        ("", []),
        (" , ", []),
        ("all:!web[0:1]", ["all", "!web[0:1]"]),
        (["a:b", "c,d"], ["a", "b", "c", "d"]),
    ],
)
def test_split_host_pattern(pattern: str | list[str], parts: list[str]) -> None:
    assert split_host_pattern(pattern) == parts


@pytest.mark.parametrize(
    ("address", "ranges", "expected"),
    [
        ("h1:22", False, ("h1", 22)),
        ("[::1]:22", False, ("::1", 22)),
        ("fe80::1:2", False, ("fe80::1:2", None)),
        ("10.0.0.1:2222", False, ("10.0.0.1", 2222)),
        ("web[1:3]:22", True, ("web[1:3]", 22)),
        ("web[1:3]", False, None),
        ("10.0.0.[1:3]", True, ("10.0.0.[1:3]", None)),
        ("[2001:db8::[1:3]]:22", True, ("2001:db8::[1:3]", 22)),
        ("::ffff:1.2.3.4", False, ("::ffff:1.2.3.4", None)),
        ("b::10.0.0.9", False, None),  # an IPv4 tail only in Ansible's few spellings
        ("bad_", False, None),
        ("h@x:22", False, None),
        ("a:b", False, None),
        ("[h1]:22", False, ("h1", 22)),
    ],
)
def test_parse_address(address: str, ranges: bool, expected: tuple[str, int | None] | None) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            parse_address(address, allow_ranges=ranges)
    else:
        assert parse_address(address, allow_ranges=ranges) == expected


@pytest.mark.parametrize(
    ("name", "hosts"),
    [
        ("h[1:3]", ["h1", "h2", "h3"]),
        ("h[01:03]", ["h01", "h02", "h03"]),
        ("h[1:10:4]", ["h1", "h5", "h9"]),
        ("h[y:B]", ["hy", "hz", "hA", "hB"]),
        ("h[:2]", ["h0", "h1", "h2"]),
        ("h[5:1]", []),
        ("h[1:3]x[01:02]", ["h1x01", "h1x02", "h2x01", "h2x02", "h3x01", "h3x02"]),
        ("[1:2]", ["1", "2"]),
        ("plain", ["plain"]),
    ],
)
def test_expand_hostname_range(name: str, hosts: list[str]) -> None:
    assert expand_hostname_range(name) == hosts


# --------------------------------------------------------------------------------------------
# Properties


GROUPS = ["a", "b", "c", "d"]
HOSTS = [f"h{i}" for i in range(8)]

memberships = st.dictionaries(
    st.sampled_from(HOSTS), st.lists(st.sampled_from(GROUPS), unique=True), min_size=1
)
edges = st.lists(st.tuples(st.sampled_from(GROUPS), st.sampled_from(GROUPS)), max_size=4)


def build(members: dict[str, list[str]], links: list[tuple[str, str]]) -> Inventory:
    inv = Inventory()
    for host, groups in members.items():
        inv.add_host(host, groups)
    for group in GROUPS:
        inv.add_group(group)
    for parent, child in links:
        # A link that would make a cycle is refused; the rest stand.
        with contextlib.suppress(InventoryError):
            inv.add_group(child, parents=[parent])
    return inv


names = st.sampled_from([*GROUPS, "all", "h1", "h2", "nosuch"])


@settings(max_examples=60, deadline=None)
@given(memberships, edges, names, names)
def test_pattern_algebra(
    members: dict[str, list[str]], links: list[tuple[str, str]], x: str, y: str
) -> None:
    inv = build(members, links)
    sx, sy = set(inv.select(x)), set(inv.select(y))
    assert inv.select(f"{x}:!{x}") == []
    assert set(inv.select(f"{x}:{y}")) == set(inv.select(f"{y}:{x}")) == sx | sy
    assert set(inv.select(f"{x}:&{y}")) == sx & sy
    assert set(inv.select(f"{x}:!{y}")) == sx - sy
    # Unions keep first-seen order and never repeat a host.
    assert inv.select(f"{x}:{y}") == list(dict.fromkeys(inv.select(x) + inv.select(y)))
    assert inv.select(f"{x},{y}") == inv.select(f"{x}:{y}")
    # Modifiers apply after the unions wherever they are written.
    assert inv.select(f"!{y}:{x}") == inv.select(f"{x}:!{y}")
    assert inv.select(f"&{y}:{x}") == inv.select(f"{x}:&{y}")
    assert set(inv.select(x, limit=y)) == sx & sy
    assert set(inv.select(x)) <= set(inv.select("all"))
    assert inv.select("all") == inv.groups_mapping()["all"]


@settings(max_examples=60, deadline=None)
@given(memberships, edges)
def test_groups_contain_their_subgroups(
    members: dict[str, list[str]], links: list[tuple[str, str]]
) -> None:
    inv = build(members, links)
    mapping = inv.groups_mapping()
    for name, group in inv.groups.items():
        assert set(group.hosts) <= set(mapping[name])
        for child in group.children:
            assert set(mapping[child]) <= set(mapping[name])
            assert inv.groups[child].depth > group.depth
    for host in inv.hosts:
        # A host is ungrouped exactly when it belongs to no group but all/ungrouped.
        assert (host in mapping["ungrouped"]) == (inv.group_names(host) == ["ungrouped"])
        for group in inv.group_names(host):
            assert host in mapping[group]


@settings(max_examples=40, deadline=None)
@given(memberships)
def test_ini_round_trip(members: dict[str, list[str]]) -> None:
    lines = [host for host, groups in members.items() if not groups]
    for group in GROUPS:
        lines.append(f"[{group}]")
        lines.extend(host for host, groups in members.items() if group in groups)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "hosts")
        Path(path).write_text("\n".join(lines) + "\n")
        inv = load_inventory([path])
    for host, groups in members.items():
        assert inv.group_names(host) == (sorted(groups) or ["ungrouped"])


@given(st.integers(0, 300), st.integers(0, 300), st.integers(1, 7), st.integers(1, 4))
def test_numeric_ranges(begin: int, end: int, step: int, width: int) -> None:
    padded = f"{begin:0{width}d}", f"{end:0{width}d}"
    if len(padded[0]) != len(padded[1]):
        return
    got = expand_hostname_range(f"n[{padded[0]}:{padded[1]}:{step}].x")
    fill = width if padded[0].startswith("0") and len(padded[0]) > 1 else 0
    assert got == [f"n{str(i).zfill(fill)}.x" for i in range(begin, end + 1, step)]
