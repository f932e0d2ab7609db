"""The async rules on the classic pain points (reference §B), one small playbook each."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playgraph.compiler import CompileOptions, Graph, compile_playbook
from playgraph.compiler.diagnostics import Diagnostic, Severity
from playgraph.compiler.lint import RULES, HostResolver, HostSet, LintConfig, lint
from playgraph.compiler.lint.analysis import Analysis

Write = Callable[[str, str | bytes], str]

LAUNCH = """
    - name: launch
      {module}:
        name: docker
      async: 1000
      poll: 0
      register: job
"""
JOIN = """
    - name: join
      ansible.builtin.async_status:
        jid: "{{{{ job.ansible_job_id }}}}"
      register: done
      until: done is finished
      retries: {retries}
      delay: 5
"""


def check(
    write: Write,
    text: str,
    *,
    hosts: HostResolver | None = None,
    options: CompileOptions | None = None,
) -> list[Diagnostic]:
    path = write("site.yml", text)
    compiled = compile_playbook(path, options)
    assert [d for d in compiled.diagnostics if d.severity is Severity.ERROR] == []
    return lint(compiled.graph, hosts=hosts, config=LintConfig())


def codes_of(found: list[Diagnostic]) -> list[tuple[str, int]]:
    return [(d.code, d.span.line) for d in found]


def playbook(*plays: str) -> str:
    return "---\n" + "".join(plays)


def tasks(hosts: str, *parts: str, head: str = "") -> str:
    return f"- hosts: {hosts}\n  gather_facts: false\n{head}  tasks:\n" + "".join(parts)


def package(name: str, module: str = "ansible.builtin.yum", extra: str = "") -> str:
    return f"    - name: {name}\n      {module}:\n        name: {name}\n{extra}"


# --------------------------------------------------------------------------- the lock conflict


@pytest.mark.parametrize(
    "module", ["ansible.builtin.yum", "ansible.builtin.dnf", "ansible.builtin.apt"]
)
def test_package_launch_then_package_task_conflicts(write: Write, module: str) -> None:
    found = check(
        write,
        playbook(
            tasks(
                "all",
                LAUNCH.format(module=module),
                package("git", module),
                JOIN.format(retries=200),
            )
        ),
    )
    assert codes_of(found) == [("async-lock-conflict", 12)]
    (finding,) = found
    assert finding.severity is Severity.ERROR
    assert "needs the lock pkg:" in finding.message and "'launch' (line 6)" in finding.message
    assert "before any async_status has waited" in finding.message
    assert finding.help is not None and "Do not specify a poll value of 0" in finding.help
    assert [r.span.line for r in finding.related] == [6]


def test_join_in_between_clears_the_conflict(write: Write) -> None:
    found = check(
        write,
        playbook(
            tasks(
                "all",
                LAUNCH.format(module="ansible.builtin.dnf"),
                JOIN.format(retries=200),
                package("git", "ansible.builtin.dnf"),
            )
        ),
    )
    assert found == []


def test_disjoint_groups_do_not_conflict(write: Write) -> None:
    # The web play runs while the db hosts' job is still unjoined.
    text = playbook(
        tasks("db", LAUNCH.format(module="ansible.builtin.apt")),
        tasks("web", package("nginx", "ansible.builtin.apt")),
        tasks("db", JOIN.format(retries=200)),
    )
    assert check(write, text) == []


def test_all_overlaps_a_group(write: Write) -> None:
    text = playbook(
        tasks("db", LAUNCH.format(module="ansible.builtin.apt")),
        tasks("all", package("nginx", "ansible.builtin.apt")),
        tasks("db", JOIN.format(retries=200)),
    )
    found = check(write, text)
    assert [d.code for d in found] == ["async-lock-conflict"]
    assert "overlapping hosts (db / all)" in found[0].message


def test_launch_in_one_play_conflicts_with_a_later_play(write: Write) -> None:
    text = playbook(
        tasks("all", LAUNCH.format(module="ansible.builtin.yum")),
        tasks("all", package("git"), JOIN.format(retries=200)),
    )
    found = check(write, text)
    assert [d.code for d in found] == ["async-lock-conflict"]
    assert found[0].span.line > found[0].related[0].span.line


def test_conflict_inside_a_block(write: Write) -> None:
    text = """
- hosts: all
  gather_facts: false
  tasks:
    - block:
        - name: launch
          ansible.builtin.apt:
            name: x
          async: 100
          poll: 0
          register: job
        - name: next
          ansible.builtin.apt:
            name: y
        - name: join
          ansible.builtin.async_status:
            jid: "{{ job.ansible_job_id }}"
          register: done
          until: done is finished
          retries: 20
"""
    assert codes_of(check(write, text)) == [("async-lock-conflict", 12)]


def test_looped_launch_joined_by_looped_status_over_results(write: Write) -> None:
    text = """
- hosts: all
  gather_facts: false
  tasks:
    - name: fan out
      ansible.builtin.apt:
        name: "{{ item }}"
      loop: "{{ packages }}"
      async: 600
      poll: 0
      register: installs
    - name: fan in
      ansible.builtin.async_status:
        jid: "{{ item.ansible_job_id }}"
      loop: "{{ installs.results }}"
      register: installed
      until: installed is finished
      retries: 120
      delay: 5
    - name: after
      ansible.builtin.apt:
        name: tmux
"""
    assert check(write, text) == []


def test_lock_taken_by_a_shell_line(write: Write) -> None:
    text = playbook(
        tasks(
            "all",
            LAUNCH.format(module="ansible.builtin.apt"),
            "    - name: shell\n"
            "      ansible.builtin.shell: sudo apt-get install -y foo | tee log\n",
            JOIN.format(retries=200),
        )
    )
    found = check(write, text)
    assert codes_of(found) == [("async-lock-conflict", 12)]
    assert "pkg:dpkg" in found[0].message


def test_delegate_to_one_host_moves_the_lock(write: Write) -> None:
    text = """
- hosts: web
  gather_facts: false
  tasks:
    - name: refresh the mirror
      ansible.builtin.apt:
        update_cache: true
      delegate_to: mirror
      run_once: true
      async: 300
      poll: 0
      register: job
    - name: on the web hosts
      ansible.builtin.apt:
        name: a
    - name: on the mirror
      ansible.builtin.apt:
        name: b
      delegate_to: mirror
    - name: join
      ansible.builtin.async_status:
        jid: "{{ job.ansible_job_id }}"
      delegate_to: mirror
      run_once: true
      register: done
      until: done is finished
      retries: 60
"""
    assert codes_of(check(write, text)) == [("async-lock-conflict", 16)]


def test_delegated_launch_from_many_hosts_conflicts_with_itself(write: Write) -> None:
    text = """
- hosts: web
  gather_facts: false
  tasks:
    - name: refresh the mirror from every web host
      ansible.builtin.apt:
        update_cache: true
      delegate_to: mirror
      async: 300
      poll: 0
      register: job
    - name: join
      ansible.builtin.async_status:
        jid: "{{ job.ansible_job_id }}"
      delegate_to: mirror
      register: done
      until: done is finished
      retries: 60
"""
    # Without an inventory the size of `web` is unknown: nothing is claimed.
    assert check(write, text) == []

    def resolver(pattern: str) -> frozenset[str] | None:
        return frozenset({"w1", "w2", "w3"}) if pattern == "web" else frozenset()

    found = check(write, text, hosts=resolver)
    assert codes_of(found) == [("async-lock-conflict[self]", 5)]
    assert "3 hosts" in found[0].message


def test_handlers_holding_locks(write: Write) -> None:
    text = """
- hosts: all
  gather_facts: false
  tasks:
    - name: configure
      ansible.builtin.command: /bin/true
      notify: upgrade
    - name: launch
      ansible.builtin.dnf:
        name: x
      async: 600
      poll: 0
      register: job
  post_tasks:
    - name: join
      ansible.builtin.async_status:
        jid: "{{ job.ansible_job_id }}"
      register: done
      until: done is finished
      retries: 200
  handlers:
    - name: upgrade
      ansible.builtin.dnf:
        name: "*"
        state: latest
"""
    found = check(write, text)
    assert codes_of(found) == [("async-lock-conflict", 22)]
    assert "when the handler is notified" in found[0].message


def test_a_join_that_may_be_skipped_does_not_fully_clear(write: Write) -> None:
    text = playbook(
        tasks(
            "all",
            LAUNCH.format(module="ansible.builtin.dnf"),
            JOIN.format(retries=200) + "      when: wait | bool\n",
            package("git", "ansible.builtin.dnf"),
        )
    )
    found = check(write, text)
    assert [d.code for d in found] == ["async-lock-conflict"]
    assert "may not clear it" in found[0].message and "when: wait | bool" in found[0].message
    assert [r.message for r in found[0].related][-1] == "this join may not complete the job first"


def test_a_join_with_a_short_budget(write: Write) -> None:
    text = playbook(
        tasks(
            "all",
            LAUNCH.format(module="ansible.builtin.dnf"),
            JOIN.format(retries=10),
            package("git", "ansible.builtin.dnf"),
        )
    )
    found = check(write, text)
    assert [d.code for d in found] == ["async-join-budget", "async-lock-conflict"]
    budget, conflict = found
    assert "10 x 5 s = 50 s" in budget.message and "1000 s" in budget.message
    assert "shorter than the job's async limit (1000 s)" in conflict.message


def test_a_join_on_other_hosts_clears_only_those(write: Write) -> None:
    text = playbook(
        tasks("all", LAUNCH.format(module="ansible.builtin.apt")),
        tasks("web", JOIN.format(retries=200)),
        tasks("web", package("a", "ansible.builtin.apt")),
        tasks("db", package("b", "ansible.builtin.apt")),
    )
    found = [d for d in check(write, text) if d.code == "async-lock-conflict"]
    assert len(found) == 1 and "'b'" in found[0].message
    assert "wait only on web" in found[0].message


def test_user_locks_from_options(write: Write) -> None:
    text = """
- hosts: all
  gather_facts: false
  tasks:
    - name: migrate
      ansible.builtin.command: /opt/app/bin/migrate up
      async: 600
      poll: 0
      register: job
    - name: again
      ansible.builtin.command: /opt/app/bin/migrate seed
"""
    options = CompileOptions(extra_locks={"migrations": ["command:^/opt/app/bin/migrate"]})
    found = check(write, text, options=options)
    assert [d.code for d in found] == ["async-unjoined", "async-lock-conflict"]
    assert "migrations" in found[1].message
    assert check(write, text) == [found[0]]


def test_inventory_overlap_is_exact(write: Write) -> None:
    text = playbook(
        tasks("web", LAUNCH.format(module="ansible.builtin.apt")),
        tasks("db", package("b", "ansible.builtin.apt")),
        tasks("web", JOIN.format(retries=200)),
    )
    assert check(write, text) == []
    groups = {"web": {"n1", "n2"}, "db": {"n2", "n3"}}

    def resolver(pattern: str) -> frozenset[str] | None:
        return frozenset(groups.get(pattern, ()))

    assert [d.code for d in check(write, text, hosts=resolver)] == ["async-lock-conflict"]
    groups["db"] = {"n3"}
    assert check(write, text, hosts=resolver) == []


def test_a_resolver_that_does_not_know_falls_back_to_patterns(write: Write) -> None:
    text = playbook(
        tasks("web", LAUNCH.format(module="ansible.builtin.apt")),
        tasks("db", package("b", "ansible.builtin.apt")),
        tasks("web", JOIN.format(retries=200)),
    )

    def broken(pattern: str) -> frozenset[str] | None:
        raise RuntimeError("resolver bug")

    assert check(write, text, hosts=lambda pattern: None) == []
    assert check(write, text, hosts=broken) == []


# --------------------------------------------------------------------------- the other rules


def test_join_with_become_user_mismatch(write: Write) -> None:
    text = """
- hosts: all
  gather_facts: false
  tasks:
    - name: launch
      ansible.builtin.command: /opt/x
      become: true
      become_user: app
      async: 60
      poll: 0
      register: job
    - name: join
      ansible.builtin.async_status:
        jid: "{{ job.ansible_job_id }}"
      become: true
      register: done
      until: done is finished
      retries: 20
"""
    found = check(write, text)
    assert codes_of(found) == [("async-join-context", 12)]
    assert "become_user 'root' but the launch as become_user 'app'" in found[0].message


def test_run_once_launch_joined_on_all_hosts(write: Write) -> None:
    text = """
- hosts: all
  gather_facts: false
  tasks:
    - name: launch
      ansible.builtin.command: /opt/x
      run_once: true
      async: 60
      poll: 0
      register: job
    - name: join
      ansible.builtin.async_status:
        jid: "{{ job.ansible_job_id }}"
      register: done
      until: done is finished
      retries: 20
"""
    found = check(write, text)
    assert codes_of(found) == [("async-run-once", 11)]
    assert "could not find job" in found[0].message


@pytest.mark.parametrize(
    ("module", "args"),
    [
        ("ansible.builtin.copy", "{src: a, dest: /b, mode: '0644'}"),
        ("ansible.builtin.template", "{src: a.j2, dest: /b, mode: '0644'}"),
        ("ansible.builtin.script", "/opt/setup.sh"),
        ("ansible.builtin.debug", "{msg: hi}"),
    ],
)
def test_async_on_actions_that_cannot(write: Write, module: str, args: str) -> None:
    text = f"""
- hosts: all
  gather_facts: false
  tasks:
    - name: t
      {module}: {args}
      async: 60
      poll: 5
"""
    found = check(write, text)
    assert codes_of(found) == [("async-unsupported", 5)]
    short = module.rsplit(".", 1)[-1]
    assert f"This action ({short}) does not support async" in found[0].message


def test_poll_zero_without_async(write: Write) -> None:
    text = "- hosts: all\n  tasks:\n    - command: /bin/true\n      poll: 0\n"
    found = check(write, text)
    assert codes_of(found) == [("async-poll-ignored", 3)]
    assert found[0].severity is Severity.WARNING


def test_async_status_after_a_polled_task(write: Write) -> None:
    text = """
- hosts: all
  tasks:
    - name: polled
      ansible.builtin.command: /opt/x
      async: 60
      poll: 5
      register: job
    - name: join
      ansible.builtin.async_status:
        jid: "{{ job.ansible_job_id }}"
"""
    found = check(write, text)
    assert codes_of(found) == [("async-redundant-join", 9)]
    assert found[0].severity is Severity.INFO


def test_every_rule_has_a_documented_check() -> None:
    for name, rule in RULES.items():
        module = __import__(rule.__module__, fromlist=["check"])
        assert module.__doc__ and name in module.__doc__
        for part in ("Why", "Example", "Fix"):
            assert part in module.__doc__, (name, part)


def test_lint_of_an_empty_graph_is_empty() -> None:
    assert lint(Graph(plays=()), config=LintConfig()) == []


def test_skipped_rules_do_not_run(write: Write) -> None:
    text = "- hosts: all\n  tasks:\n    - command: /bin/true\n      poll: 0\n"
    path = write("p.yml", text)
    graph = compile_playbook(path).graph
    assert lint(graph, config=LintConfig(skip_list=("async-poll-ignored",))) == []


# --------------------------------------------------------------------------- host sets


@pytest.mark.parametrize(
    ("left", "right", "overlap"),
    [
        ("web", "db", False),
        ("web", "web", True),
        ("all", "db", True),
        ("web:db", "db", True),
        ("web,db", "cache", False),
        ("all:!db", "db", False),
        ("all:!db", "web", True),
        ("web:&prod", "web", True),
        ("web*", "db", True),
        ("~web\\d+", "db", True),
        ("{{ target }}", "db", True),
        ("localhost", "all", False),
        ("localhost", "localhost", True),
    ],
)
def test_symbolic_overlap(left: str, right: str, overlap: bool) -> None:
    a, b = HostSet.of_pattern(left), HostSet.of_pattern(right)
    assert a.overlaps(b) is overlap
    assert b.overlaps(a) is overlap


@pytest.mark.parametrize(
    ("inner", "outer", "within"),
    [
        ("web", "web", True),
        ("web", "all", True),
        ("web", "db", False),
        ("all", "web", False),
        ("web", "web:db", True),
        ("web:db", "web", False),
        ("web", "all:!db", True),
        ("db", "all:!db", False),
        ("web:&prod", "web", True),
        ("web", "web:&prod", False),
        ("web*", "all", False),
        ("localhost", "all", False),
    ],
)
def test_symbolic_within(inner: str, outer: str, within: bool) -> None:
    assert HostSet.of_pattern(inner).within(HostSet.of_pattern(outer)) is within


def test_concrete_sets() -> None:
    a = HostSet.of_pattern("web", lambda p: frozenset({"a", "b"}))
    b = HostSet.of_pattern("db", lambda p: frozenset({"b"}))
    assert a.overlaps(b) and b.within(a) and not a.within(b)
    assert a.size() == 2
    empty = HostSet.of_pattern("none", lambda p: frozenset())
    assert not empty.overlaps(a) and empty.within(b)


def test_analysis_timeline_orders_handlers_at_flush_points(write: Write) -> None:
    text = """
- hosts: all
  gather_facts: false
  pre_tasks:
    - name: pre
      ansible.builtin.command: /bin/true
      notify: h
  tasks:
    - name: t1
      ansible.builtin.command: /bin/true
      notify: h
    - name: flush
      ansible.builtin.meta: flush_handlers
    - name: t2
      ansible.builtin.command: /bin/true
  handlers:
    - name: h
      ansible.builtin.command: /bin/true
      notify: h2
    - name: h2
      ansible.builtin.command: /bin/true
    - name: never
      ansible.builtin.command: /bin/true
"""
    graph = compile_playbook(write("p.yml", text)).graph
    names = [(p.node.name, p.handler) for p in Analysis(graph).places]
    assert names == [
        ("pre", False),
        ("h", True),
        ("h2", True),
        ("t1", False),
        ("flush", False),
        ("h", True),
        ("h2", True),
        ("t2", False),
    ]


def test_the_linter_stays_pure() -> None:
    """The compiler (linter included) never imports the runtime (the layers in ARCHITECTURE.md)."""
    import subprocess
    import sys

    code = (
        "import sys, playgraph.compiler.lint as lint, playgraph.compiler.lint.config\n"
        "bad = sorted(m for m in sys.modules if m.startswith('playgraph.runtime'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_suppression_matching() -> None:
    from playgraph.compiler.lint.config import matches

    assert matches("async-unsupported[import]", "async-unsupported")
    assert matches("async-unsupported[import]", "async-unsupported[import]")
    assert not matches("async-unsupported", "async-unsupported[import]")
    assert not matches("async-unjoined", "async-unsupported")
