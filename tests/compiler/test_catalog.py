"""The module and keyword catalog: invariants of the committed data, resolution, suggestions."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from importlib import resources

import pytest
from playgraph.compiler.catalog import (
    Catalog,
    Keywords,
    ModuleInfo,
    ModuleKind,
    Resolution,
    default_catalog,
    keywords,
    suggest_keyword,
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


def _data_text(name: str) -> str:
    return resources.files("playgraph.compiler").joinpath("data", name).read_text(encoding="utf-8")


# --------------------------------------------------------------------------- committed data


@pytest.mark.parametrize("name", ["modules.json", "keywords.json"])
def test_data_files_are_in_the_generators_canonical_form(name: str) -> None:
    # scripts/gen_catalog.py writes sorted keys, indent=1 and a final newline;
    # a hand edit that breaks the form would make the next regeneration noisy.
    text = _data_text(name)
    assert text == json.dumps(json.loads(text), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def test_entry_counts_are_plausible(catalog: Catalog) -> None:
    per_collection = Counter(info.collection for info in catalog.modules.values())
    assert per_collection["ansible.builtin"] >= 65
    assert per_collection["community.general"] >= 400
    assert per_collection["ansible.posix"] >= 10
    assert per_collection["ansible.windows"] >= 40
    for collection in (
        "amazon.aws",
        "chocolatey.chocolatey",
        "community.crypto",
        "community.docker",
        "community.mysql",
        "community.postgresql",
        "containers.podman",
        "kubernetes.core",
    ):
        assert per_collection[collection] > 0, collection
        assert catalog.is_cataloged_collection(collection)


def test_modules_are_sorted_and_unique() -> None:
    data = json.loads(_data_text("modules.json"))
    names = [entry["fqcn"] for entry in data["modules"]]
    assert names == sorted(set(names))


def test_every_builtin_short_name_resolves_to_itself(catalog: Catalog) -> None:
    builtin = [i for i in catalog.modules.values() if i.collection == "ansible.builtin"]
    for info in builtin:
        assert catalog.resolve(info.short) is info
        assert catalog.resolve(f"ansible.builtin.{info.short}") is info
        assert catalog.resolve(f"ansible.legacy.{info.short}") is info


def test_entries_are_consistent(catalog: Catalog) -> None:
    for fqcn, info in catalog.modules.items():
        assert info.fqcn == fqcn == f"{info.collection}.{info.short}"
        assert info.required <= info.options, fqcn
        assert "free_form" not in info.options and "free-form" not in info.options
        if info.kind in (ModuleKind.INCLUDE, ModuleKind.IMPORT, ModuleKind.META):
            assert not info.supports_async


def test_async_status_options(catalog: Catalog) -> None:
    info = catalog.resolve("async_status")
    assert info is not None
    assert info.options == {"jid", "mode"}
    assert info.required == {"jid"}


def test_known_builtin_entries_exist(catalog: Catalog) -> None:
    for short in (
        "include_tasks",
        "import_tasks",
        "include_role",
        "import_role",
        "import_playbook",
        "meta",
        "set_fact",
        "debug",
        "add_host",
        "group_by",
        "include_vars",
        "set_stats",
        "assert",
        "fail",
        "pause",
        "async_status",
        "gather_facts",
        "setup",
        "script",
        "raw",
        "template",
        "copy",
        "fetch",
        "assemble",
        "unarchive",
        "reboot",
        "wait_for_connection",
        "validate_argument_spec",
    ):
        assert f"ansible.builtin.{short}" in catalog.modules, short


# --------------------------------------------------------------------------- async, free form, kind


@pytest.mark.parametrize(
    ("name", "supported"),
    [
        ("copy", False),
        ("template", False),
        ("script", False),
        ("raw", False),
        ("debug", False),
        ("set_fact", False),
        ("async_status", False),
        ("fetch", False),
        ("gather_facts", False),
        ("include_vars", False),
        ("add_host", False),
        ("assemble", False),
        ("assert", False),
        ("fail", False),
        ("group_by", False),
        ("pause", False),
        ("reboot", False),
        ("set_stats", False),
        ("unarchive", False),
        ("validate_argument_spec", False),
        ("wait_for_connection", False),
        ("include_tasks", False),
        ("include_role", False),
        ("import_tasks", False),
        ("import_role", False),
        ("meta", False),
        ("command", True),
        ("shell", True),  # delegates to the command action
        ("ping", True),
        ("file", True),
        ("wait_for", True),
        ("apt", True),
        ("dnf", True),
        ("dnf5", True),
        ("package", True),
        ("service", True),
        ("uri", True),
        ("yum", True),  # redirected to dnf
        ("setup", True),
        ("get_url", True),
        ("yum_repository", True),
        ("community.general.zypper", True),  # no action plugin: the "normal" action
        ("ansible.windows.win_updates", True),
        ("ansible.windows.win_copy", False),
        ("ansible.posix.synchronize", False),
    ],
)
def test_supports_async(catalog: Catalog, name: str, supported: bool) -> None:
    info = catalog.resolve(name)
    assert info is not None
    assert info.supports_async is supported


@pytest.mark.parametrize(
    ("name", "free_form"),
    [
        ("command", True),
        ("shell", True),
        ("raw", True),
        ("script", True),
        ("include_tasks", True),
        ("import_tasks", True),
        ("include_role", True),
        ("import_role", True),
        ("include_vars", True),
        ("meta", True),
        ("group_by", True),
        ("add_host", True),
        ("set_fact", True),
        ("ansible.windows.win_shell", True),
        ("ansible.windows.win_command", True),
        ("copy", False),
        ("debug", False),
        ("async_status", False),
        ("apt", False),
    ],
)
def test_free_form(catalog: Catalog, name: str, free_form: bool) -> None:
    info = catalog.resolve(name)
    assert info is not None
    assert info.free_form is free_form


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("include_tasks", ModuleKind.INCLUDE),
        ("include_role", ModuleKind.INCLUDE),
        ("import_tasks", ModuleKind.IMPORT),
        ("import_role", ModuleKind.IMPORT),
        ("import_playbook", ModuleKind.IMPORT),
        ("meta", ModuleKind.META),
        ("debug", ModuleKind.ACTION),
        ("set_fact", ModuleKind.ACTION),
        ("assert", ModuleKind.ACTION),
        ("fail", ModuleKind.ACTION),
        ("pause", ModuleKind.ACTION),
        ("include_vars", ModuleKind.ACTION),
        ("add_host", ModuleKind.ACTION),
        ("group_by", ModuleKind.ACTION),
        ("command", ModuleKind.MODULE),
        ("shell", ModuleKind.MODULE),
        ("copy", ModuleKind.MODULE),
        ("template", ModuleKind.MODULE),
        ("raw", ModuleKind.MODULE),
        ("async_status", ModuleKind.MODULE),
        ("gather_facts", ModuleKind.MODULE),
    ],
)
def test_kind(catalog: Catalog, name: str, kind: ModuleKind) -> None:
    info = catalog.resolve(name)
    assert info is not None
    assert info.kind is kind


# --------------------------------------------------------------------------- resolution


@pytest.mark.parametrize(
    ("name", "collections", "fqcn", "via"),
    [
        ("command", (), "ansible.builtin.command", None),
        ("ansible.builtin.command", (), "ansible.builtin.command", None),
        ("ansible.legacy.command", (), "ansible.builtin.command", None),
        ("yum", (), "ansible.builtin.dnf", "ansible.builtin.yum"),
        ("ansible.builtin.yum", (), "ansible.builtin.dnf", "ansible.builtin.yum"),
        ("ansible.legacy.yum", (), "ansible.builtin.dnf", "ansible.builtin.yum"),
        # ansible_builtin_runtime.yml sends old short names to collections.
        ("ufw", (), "community.general.ufw", "ansible.builtin.ufw"),
        ("zypper", (), "community.general.zypper", "ansible.builtin.zypper"),
        ("win_ping", (), "ansible.windows.win_ping", "ansible.builtin.win_ping"),
        ("synchronize", (), "ansible.posix.synchronize", "ansible.builtin.synchronize"),
        ("community.general.zypper", (), "community.general.zypper", None),
        (
            "community.general.docker_container",
            (),
            "community.docker.docker_container",
            "community.general.docker_container",
        ),
        # The collections: list is searched before the builtin fallback.
        ("zypper", ("community.general",), "community.general.zypper", None),
        ("win_updates", ("ansible.windows",), "ansible.windows.win_updates", None),
        ("debug", ("community.general",), "ansible.builtin.debug", None),
        ("command", ("ansible.legacy", "community.general"), "ansible.builtin.command", None),
    ],
)
def test_resolve_with_redirect(
    catalog: Catalog, name: str, collections: tuple[str, ...], fqcn: str, via: str | None
) -> None:
    resolution = catalog.resolve_with_redirect(name, collections=collections)
    assert resolution is not None
    assert resolution.fqcn == fqcn
    assert resolution.via == via
    assert resolution.info is not None and resolution.info.fqcn == fqcn
    assert catalog.resolve(name, collections=collections) is resolution.info


def test_short_name_only_in_an_unlisted_collection_is_not_found(catalog: Catalog) -> None:
    # ``docker_compose_v2`` exists only as community.docker.docker_compose_v2,
    # with no builtin routing entry: ansible needs the FQCN or collections:.
    assert catalog.resolve("docker_compose_v2") is None
    found = catalog.resolve("docker_compose_v2", collections=["community.docker"])
    assert found is not None and found.fqcn == "community.docker.docker_compose_v2"


@pytest.mark.parametrize("name", ["comand", "ansible.builtin.comand", "community.genral.zypper"])
def test_unknown_names(catalog: Catalog, name: str) -> None:
    assert catalog.resolve(name) is None
    assert catalog.resolve_with_redirect(name) is None


def test_name_in_a_known_uncatalogued_collection(catalog: Catalog) -> None:
    assert catalog.is_known_collection("cisco.ios")
    assert not catalog.is_cataloged_collection("cisco.ios")
    assert catalog.resolve_with_redirect("cisco.ios.ios_config") == Resolution(
        fqcn="cisco.ios.ios_config", info=None, via=None
    )
    # A builtin routing entry into such a collection is followed too.
    nxos = catalog.resolve_with_redirect("nxos_command")
    assert nxos == Resolution(
        fqcn="cisco.nxos.nxos_command", info=None, via="ansible.builtin.nxos_command"
    )


def test_deprecated_redirect(catalog: Catalog) -> None:
    resolution = catalog.resolve_with_redirect("community.general.proxmox")
    assert resolution is not None
    assert resolution.fqcn == "community.proxmox.proxmox"
    assert resolution.via == "community.general.proxmox"
    assert resolution.deprecation is not None and "community.proxmox" in resolution.deprecation
    plain = catalog.resolve_with_redirect("yum")
    assert plain is not None and plain.deprecation is None


def test_tombstone(catalog: Catalog) -> None:
    info = catalog.resolve("include")
    assert info is not None
    assert info.removed
    assert info.message is not None and "include_tasks" in info.message


def test_known_collections(catalog: Catalog) -> None:
    for name in ("ansible.builtin", "ansible.legacy", "community.general", "ansible.posix"):
        assert catalog.is_known_collection(name)
    assert catalog.is_cataloged_collection("ansible.legacy")
    assert not catalog.is_known_collection("community.genral")
    assert not catalog.is_known_collection("ansible.buildin")


def test_package_backends(catalog: Catalog) -> None:
    for backend in ("apt", "dnf", "dnf5", "zypper", "pacman", "apk", "pkgng", "portage"):
        assert backend in catalog.package_backends
        assert catalog.resolve(backend) is not None


def test_module_info_is_frozen(catalog: Catalog) -> None:
    info = catalog.resolve("ping")
    assert isinstance(info, ModuleInfo)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.short = "pong"  # type: ignore[misc]


def test_default_catalog_is_shared() -> None:
    assert default_catalog() is default_catalog()


# --------------------------------------------------------------------------- suggestions


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("ansible.buildin.command", "ansible.builtin.command"),
        ("comand", "command"),
        ("ansible.builtin.comand", "ansible.builtin.command"),
        ("ansible.legacy.comand", "ansible.legacy.command"),
        ("community.genral.zypper", "community.general.zypper"),
        ("community.general.zyper", "community.general.zypper"),
        ("community.genral.zyper", "community.general.zypper"),
        ("ansible.bultin.shel", "ansible.builtin.shell"),
        ("shel", "shell"),
        ("debgu", "debug"),
        ("asyn_status", "async_status"),
        ("pacmn", "pacman"),  # a short name reachable through builtin routing
        ("ansible.builtin.yum_repo", "ansible.builtin.yum_repository"),
        ("cisco.iso.ios_config", "cisco.ios.ios_config"),
        ("zzzzzz", None),
        ("foo", None),
        ("nonexistent.collection.module", None),
        ("ansible.builtin.command", None),  # already right
    ],
)
def test_suggest_module(catalog: Catalog, name: str, suggestion: str | None) -> None:
    assert catalog.suggest_module(name) == suggestion


def test_suggest_module_uses_listed_collections(catalog: Catalog) -> None:
    # docker_compose_v2 is not reachable by its short name without collections:.
    assert catalog.suggest_module("docker_compose_v3") != "docker_compose_v2"
    assert (
        catalog.suggest_module("docker_compose_v3", collections=["community.docker"])
        == "docker_compose_v2"
    )


# --------------------------------------------------------------------------- keywords


def test_keywords_sets() -> None:
    kw = keywords()
    assert isinstance(kw, Keywords)
    assert keywords() is kw
    for word in ("async", "async_val", "poll", "until", "retries", "delay"):
        assert word in kw.task
        assert word in kw.handler
        assert word not in kw.include, word
        assert word not in kw.block
    assert "register" in kw.include and "register" not in kw.block
    for word in ("local_action", "action", "args", "loop", "loop_control", "when", "notify"):
        assert word in kw.task
    assert "loop_with" not in kw.task  # private: set by ansible from with_*
    assert "listen" in kw.handler and "listen" not in kw.task
    for word in ("hosts", "tasks", "pre_tasks", "post_tasks", "handlers", "roles", "serial"):
        assert word in kw.play
    assert "user" in kw.play and kw.deprecated["play"]["user"]
    for word in ("block", "rescue", "always", "when", "become"):
        assert word in kw.block
    assert "role" in kw.role and "when" in kw.role
    assert "import_playbook" in kw.playbook_import
    assert {"action", "args", "loop", "when", "vars", "tags", "name"} <= kw.include
    assert "local_action" not in kw.include


def test_with_loop_keywords() -> None:
    kw = keywords()
    for lookup in (
        "items",
        "dict",
        "fileglob",
        "sequence",
        "nested",
        "together",
        "subelements",
        "indexed_items",
        "first_found",
        "file",
        "lines",
        "random_choice",
        "list",
        "inventory_hostnames",
        "env",
        "password",
        "flattened",
        "cartesian",
    ):
        word = f"with_{lookup}"
        assert word in kw.task and word in kw.handler and word in kw.include, word
        assert word in kw.loop_lookups
    assert kw.loop_lookups["with_items"] == "ansible.builtin.items"
    assert kw.loop_lookups["with_cartesian"] == "community.general.cartesian"


@pytest.mark.parametrize(
    ("word", "context", "expected"),
    [
        ("asnyc", "task", "async"),
        ("pol", "task", "poll"),
        ("retires", "task", "retries"),
        ("regster", "task", "register"),
        ("remove_user", "task", "remote_user"),
        ("delegate", "task", "delegate_to"),
        ("with_itmes", "task", "with_items"),
        ("loop_contorl", "task", "loop_control"),
        ("hsots", "play", "hosts"),
        ("gather_fact", "play", "gather_facts"),
        ("rescu", "block", "rescue"),
        ("listne", "handler", "listen"),
        ("foo", "task", None),
    ],
)
def test_suggest_keyword(word: str, context: str, expected: str | None) -> None:
    valid = getattr(keywords(), context)
    assert suggest_keyword(word, valid) == expected


def test_suggest_keyword_keeps_loop_lookups_out_of_plain_typos() -> None:
    # A word that does not start with "with" is never answered with one of the
    # many with_<lookup> keywords.
    result = suggest_keyword("enviroment", keywords().task)
    assert result == "environment"
    assert suggest_keyword("wen", keywords().task) == "when"
