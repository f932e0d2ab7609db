"""The controller's cost per host stays constant as the inventory grows.

Not timed: the scheduler runs on the virtual clock against the fake connection,
and the work is counted (function calls, as cProfile counts them), so a load on
the machine cannot make these tests flaky.  A per-host step that walks every
host again (the play's host lists rebuilt for each variable lookup was one)
makes the count grow with the square of the hosts.
"""

from __future__ import annotations

import cProfile
import pstats
from pathlib import Path

from playgraph.compiler import compile_playbook
from playgraph.runtime.context import RunContext, RunOptions
from playgraph.runtime.inventory import Inventory
from playgraph.runtime.run import run_graph
from playgraph.runtime.testing.fake_connection import FakeWorld
from playgraph.runtime.testing.vclock import run_virtual
from playgraph.runtime.tracing import Tracer

FANOUT = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: start the slow job
      ansible.builtin.command: sleep 2
      async: 30
      poll: 0
      register: slow_job
    - name: a quick task while the jobs run
      ansible.builtin.debug:
        msg: "{{ inventory_hostname }} is busy with {{ slow_job.ansible_job_id }}"
    - name: wait for the slow job
      ansible.builtin.async_status:
        jid: "{{ slow_job.ansible_job_id }}"
      register: job_result
      until: job_result is finished
      retries: 30
      delay: 1
"""


def _inventory(hosts: int) -> Inventory:
    inventory = Inventory()
    for index in range(hosts):
        # A known interpreter: no discovery round trip in the count.
        inventory.add_host(
            f"h{index:05d}", ["fanout"], {"ansible_python_interpreter": "/usr/bin/python3"}
        )
    return inventory


def _calls(tmp_path: Path, hosts: int) -> int:
    """Function calls (Python and builtin) the controller makes to run the fan-out."""
    path = tmp_path / "fanout.yml"
    path.write_text(FANOUT)
    graph = compile_playbook(str(path)).graph
    inventory = _inventory(hosts)
    profile = cProfile.Profile()
    profile.enable()
    outcome = run_virtual(
        run_graph(
            graph, inventory, RunOptions(forks=50), connect=FakeWorld(latency=0.01).connection
        )
    )
    profile.disable()
    assert outcome.exit_code == 0
    stats = pstats.Stats(profile)
    return int(stats.total_calls)  # type: ignore[attr-defined]


def test_controller_work_per_host_is_constant(tmp_path: Path) -> None:
    small, large = 100, 400
    at_small = _calls(tmp_path, small)
    at_large = _calls(tmp_path, large)
    ratio = at_large / at_small
    print(f"\n{at_small} calls at {small} hosts, {at_large} at {large}: x{ratio:.2f}")
    # Linear: x4 (a little less, the fixed cost is shared).  Rebuilding the play's
    # host lists per lookup made it about x8.
    assert ratio < 4 * 1.25, f"controller work grew x{ratio:.2f} for x4 hosts"


def _context(hosts: int) -> RunContext:
    return RunContext(
        inventory=_inventory(hosts),
        options=RunOptions(),
        connect=FakeWorld().connection,
        tracer=Tracer(),
    )


def test_magic_variables_share_the_play_views_until_a_host_changes() -> None:
    run = _context(4)
    names = list(run.inventory.hosts)
    run.play_hosts = names
    run.batch = names
    first, second = run.magic(names[0]), run.magic(names[1])
    # Computed once and shared, not rebuilt per host (nor per lookup).
    for key in ("groups", "play_hosts", "ansible_play_batch", "ansible_play_hosts"):
        assert first[key] is second[key], key
    assert first["ansible_play_hosts_all"] is second["ansible_play_hosts_all"]
    assert first["ansible_play_hosts"] == names

    # A failed host leaves the batch and the play's hosts; the lists seen before stay.
    run.state(names[2]).failed = True
    after = run.magic(names[0])
    assert after["ansible_play_hosts"] == [names[0], names[1], names[3]]
    assert after["play_hosts"] == after["ansible_play_batch"] == after["ansible_play_hosts"]
    assert after["ansible_play_hosts_all"] == names
    assert first["ansible_play_hosts"] == names

    # So do unreachable and ended hosts; a new batch is seen at once.
    run.state(names[3]).unreachable = True
    run.state(names[1]).ended = True
    assert run.magic(names[0])["ansible_play_batch"] == [names[0]]
    run.batch = [names[1], names[0]]
    run.state(names[1]).ended = False
    assert run.magic(names[0])["play_hosts"] == [names[1], names[0]]

    # add_host changes ``groups`` for every host from then on.
    groups = run.magic(names[0])["groups"]
    run.inventory.add_host("extra", ["late"])
    changed = run.magic(names[0])["groups"]
    assert changed is not groups and changed["late"] == ["extra"]
    assert "late" not in groups
