"""The controller's own work per host and task: what is computed once, and how much is left.

Counted, never timed (the scheduler runs on the virtual clock against the fake
connection), so a loaded machine cannot make these tests flaky.
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
from pathlib import Path
from typing import Any

import pytest
from playgraph.compiler import compile_playbook
from playgraph.runtime.context import RunContext, RunOptions
from playgraph.runtime.inventory import Inventory
from playgraph.runtime.run import dump_document, run_graph
from playgraph.runtime.testing.fake_connection import FakeWorld
from playgraph.runtime.testing.vclock import run_virtual
from playgraph.runtime.tracing import Tracer

from playgraph.cli import output

from .test_scale_cost import FANOUT, _inventory

CALLS_PER_HOST_BUDGET = 2800
"""Function calls (as cProfile counts them) per host for the fan-out's three tasks on
the fake connection, the join retrying on the virtual clock: about 2,550 now, 2,650
when a host with a set interpreter queued for a fork to skip discovery, 6,600 when
every variable lookup deep-copied the host's inventory variables and every join
resolved its launch's connection settings again."""


def _fanout(tmp_path: Path, hosts: int, profile: cProfile.Profile | None = None) -> Inventory:
    path = tmp_path / "fanout.yml"
    path.write_text(FANOUT)
    graph = compile_playbook(str(path)).graph
    inventory = _inventory(hosts)
    if profile is not None:
        profile.enable()
    outcome = run_virtual(
        run_graph(
            graph, inventory, RunOptions(forks=50), connect=FakeWorld(latency=0.01).connection
        )
    )
    if profile is not None:
        profile.disable()
    assert outcome.exit_code == 0
    return inventory


def _calls_to(profile: cProfile.Profile, function: str) -> int:
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    return sum(int(entry[1]) for (_file, _line, name), entry in stats.items() if name == function)


def test_fanout_calls_per_host_stay_within_budget(tmp_path: Path) -> None:
    hosts = 200
    profile = cProfile.Profile()
    _fanout(tmp_path, hosts, profile)
    per_host = pstats.Stats(profile).total_calls / hosts  # type: ignore[attr-defined]
    print(f"\n{per_host:.0f} calls per host")
    assert per_host < CALLS_PER_HOST_BUDGET


def test_each_host_merges_its_inventory_variables_once(tmp_path: Path) -> None:
    hosts = 50
    profile = cProfile.Profile()
    _fanout(tmp_path, hosts, profile)
    # Once per host for the whole run, not once per task and attempt (and no deep copy).
    assert _calls_to(profile, "_merged_host_vars") == hosts
    assert _calls_to(profile, "deepcopy") == 0


def test_a_join_reads_its_job_where_the_launch_put_it(tmp_path: Path) -> None:
    hosts = 50
    profile = cProfile.Profile()
    _fanout(tmp_path, hosts, profile)
    # The launch resolves each host's connection settings; its join (several attempts
    # on the virtual clock) reuses them instead of resolving the launch's again.
    assert _calls_to(profile, "settings") == hosts


def test_shared_host_vars_are_computed_once_per_inventory_change() -> None:
    inventory = Inventory()
    inventory.add_host("web1", ["web"], {"port": 80})
    first = inventory.shared_host_vars("web1")
    assert inventory.shared_host_vars("web1") is first
    assert first == {"port": 80}
    # A change to the host's variables, or to a group's, is seen at once.
    inventory.add_host("web1", vars={"port": 8080})
    assert inventory.shared_host_vars("web1") == {"port": 8080}
    inventory._set_group_var("web", "role", "frontend")
    assert inventory.shared_host_vars("web1") == {"port": 8080, "role": "frontend"}
    # host_vars keeps its contract: a fresh deep copy each time.
    copy = inventory.host_vars("web1")
    assert copy == inventory.shared_host_vars("web1")
    assert copy is not inventory.shared_host_vars("web1")


def test_magic_vars_follow_group_changes() -> None:
    inventory = Inventory()
    inventory.add_host("db1", ["db"])
    assert inventory.magic_vars("db1")["group_names"] == ["db"]
    assert inventory.magic_vars("db1") is inventory.magic_vars("db1")
    inventory.add_host("db1", ["backup"])
    assert inventory.magic_vars("db1")["group_names"] == ["backup", "db"]


def test_registered_data_is_never_rendered_through_the_layers() -> None:
    run = RunContext(
        inventory=_inventory(1),
        options=RunOptions(),
        connect=FakeWorld().connection,
        tracer=Tracer(),
    )
    host = next(iter(run.inventory.hosts))
    run.state(host).registered["out"] = {"stdout": "{{ 7 * 6 }}", "lines": ["{{ x }}"]}
    variables = run.templar.lazy(run.host_layers(host, None))
    assert run.templar.render("{{ out.stdout }}", variables) == "{{ 7 * 6 }}"
    assert run.templar.render("{{ out['lines'][0] }}", variables) == "{{ x }}"


@pytest.mark.parametrize("spool", [output.SPOOL_IN_MEMORY, 64])
def test_the_json_document_is_streamed_as_dumps_would_write_it(
    monkeypatch: pytest.MonkeyPatch, spool: int
) -> None:
    monkeypatch.setattr(output, "SPOOL_IN_MEMORY", spool)  # 64: spooled to a file
    document: dict[str, Any] = {
        "plays": [{"tasks": [{"hosts": {f"h{i}": {"msg": "é ✓", "rc": i}}} for i in range(50)]}],
        "stats": {"h1": {"ok": 1}},
        "when": Path("/x"),  # default=str
    }
    stream = io.StringIO()
    output.write_document(document, stream)
    assert stream.getvalue() == dump_document(document)
    json.loads(stream.getvalue())
