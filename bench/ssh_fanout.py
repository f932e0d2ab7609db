"""`playgraph run` vs `ansible-playbook` over SSH: the fan-out playbook on 50 and 200 hosts.

The hosts are inventory aliases (``nodeN ansible_host=127.0.0.1 ansible_port=P``)
spread over a few sshd instances on loopback (`tests/runtime/sshd.py`), logging in
as the ``playgraph-become`` user with one client key and known-hosts checking on.
The playbook starts a detached ``sleep 2``, runs a quick command, joins the job and
runs a polled ``sleep 1`` — the shape every fan-out has.

Both tools run side by side in one run, with ``forks`` = the host count for both;
ansible-core with ``pipelining = True`` and ``ControlPersist`` (ansible's default
``ssh_args``: ``-C -o ControlMaster=auto -o ControlPersist=60s``), in its own venv
(``--ansible-venv``).  Per run: wall time; controller CPU seconds (user + system of
the tool and every process it waited for, from ``getrusage(RUSAGE_CHILDREN)``
around the run — plus, for ansible, its ControlPersist masters, which it does not
wait for: read from ``/proc`` before they are stopped); peak memory (the largest
single process's max RSS in the tool's tree, from ``wait4``).  Goal: playgraph at
least 10x faster in wall time.

    python bench/ssh_fanout.py [--hosts 50 200] [--sshd 4] [--ansible-venv .oracle/venv]

At scale, many host entries on one server (issue 14: 1,000 on one loopback sshd,
with its MaxStartups/MaxSessions raised; playgraph retries handshakes the server
resets, and a host lost anyway is counted in ``lost_hosts``)::

    python bench/ssh_fanout.py --hosts 1000 --sshd 1 --skip-ansible \
        --max-sessions 1000 --max-startups 1000:30:2000 --out bench/results/ssh-scale.json

Needs root (it starts sshd and creates the login user) and openssh-server.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import DEFAULT_ORACLE, ROOT, oracle_bin, playgraph_bin

sys.path.insert(0, os.fspath(ROOT / "tests" / "runtime"))
import contextlib

import sshd

USER = sshd.BECOME_USER

PLAYBOOK = """\
- name: fan-out
  hosts: all
  gather_facts: false
  tasks:
    - name: start the slow job
      ansible.builtin.command: sleep 2
      async: 120
      poll: 0
      register: slow_job

    - name: a quick task while the jobs run
      ansible.builtin.command: echo quick

    - name: wait for the slow job
      ansible.builtin.async_status:
        jid: "{{ slow_job.ansible_job_id }}"
      register: job_result
      until: job_result is finished
      retries: 120
      delay: 1

    - name: a polled task
      ansible.builtin.command: sleep 1
      async: 120
      poll: 1
"""


def ensure_user() -> None:
    """The login user (no password, no sudo needed for this benchmark)."""
    if subprocess.run(["id", "-u", USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", USER], check=True)


def inventory(path: Path, hosts: int, ports: list[int], keys: sshd.Keys, known: Path) -> None:
    lines = ["[fanout]"]
    for i in range(1, hosts + 1):
        lines.append(f"node{i} ansible_host=127.0.0.1 ansible_port={ports[i % len(ports)]}")
    lines += [
        "",
        "[fanout:vars]",
        f"ansible_user={USER}",
        f"ansible_ssh_private_key_file={keys.client_key}",
        f"ansible_ssh_common_args='-o UserKnownHostsFile={known}'",
        "ansible_python_interpreter=/usr/bin/python3",
    ]
    path.write_text("\n".join(lines) + "\n")


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def measured(argv: list[str], env: dict[str, str], log: Path, cwd: Path) -> dict[str, Any]:
    """Run argv; wall seconds, CPU seconds of it and its waited-for children, peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "exit_code": proc.returncode,
        "wall_seconds": wall,
        "cpu_seconds": _cpu(after) - _cpu(before),
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def _proc_cpu(pid: int) -> float:
    """User + system seconds of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_masters(control_dir: Path) -> float:
    """Stop ansible's ControlPersist masters; the CPU seconds they used."""
    cpu = 0.0
    for sock in control_dir.iterdir() if control_dir.is_dir() else []:
        check = subprocess.run(
            ["ssh", "-o", f"ControlPath={sock}", "-O", "check", "x"], capture_output=True, text=True
        )
        text = check.stderr + check.stdout
        if "pid=" in text:
            pid = int(text.split("pid=")[1].split(")")[0])
            with contextlib.suppress(OSError):
                cpu += _proc_cpu(pid)
        subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"], capture_output=True)
    return cpu


def run_playgraph(folder: Path, hosts: int, inv: Path, book: Path) -> dict[str, Any]:
    log = folder / f"playgraph-{hosts}.log"
    argv = [playgraph_bin(), "run", "--json", "-f", str(hosts), "-i", str(inv), str(book)]
    result = measured(argv, dict(os.environ), log, folder)
    try:
        stats = json.loads(log.read_text())["stats"]
    except (ValueError, KeyError):
        sys.exit(f"playgraph exited {result['exit_code']} without its report; see {log}")
    bad = {h: s for h, s in stats.items() if s["failures"] or s["unreachable"] or s["ok"] != 4}
    result["lost_hosts"] = sorted(h for h, s in stats.items() if s["unreachable"])
    result["failed_hosts"] = len(bad)
    if result["exit_code"] != 0 or len(stats) != hosts or bad:
        print(
            f"playgraph exited {result['exit_code']}: {len(bad)} of {hosts} hosts not ok "
            f"({len(result['lost_hosts'])} unreachable); see {log}",
            flush=True,
        )
    return result


def run_ansible(folder: Path, hosts: int, inv: Path, book: Path, venv: Path) -> dict[str, Any]:
    log = folder / f"ansible-{hosts}.log"
    control = folder / f"cp-{hosts}"
    control.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": os.fspath(folder / "none.cfg"),  # no stray ansible.cfg
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_SSH_ARGS": "-C -o ControlMaster=auto -o ControlPersist=60s",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": os.fspath(control),
        "ANSIBLE_FORKS": str(hosts),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_LOCAL_TEMP": os.fspath(folder / "ansible-tmp"),
    }
    argv = [oracle_bin(venv, "ansible-playbook"), "-f", str(hosts), "-i", str(inv), str(book)]
    result = measured(argv, env, log, folder)
    result["control_master_cpu_seconds"] = stop_masters(control)
    result["cpu_seconds"] += result["control_master_cpu_seconds"]
    if result["exit_code"] != 0:
        sys.exit(f"ansible-playbook exited {result['exit_code']}; see {log}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--sshd", type=int, default=4, help="sshd instances the hosts spread over")
    parser.add_argument("--ansible-venv", type=Path, default=DEFAULT_ORACLE)
    parser.add_argument("--skip-ansible", action="store_true")
    parser.add_argument("--max-sessions", type=int, default=200, help="sshd MaxSessions")
    parser.add_argument("--max-startups", default="200:30:400", help="sshd MaxStartups")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ssh.json")
    args = parser.parse_args()
    if not args.skip_ansible:
        oracle_bin(args.ansible_venv, "ansible-playbook")
    ensure_user()
    load_at_start = os.getloadavg()
    keys = sshd.temp_keys()
    servers = [
        sshd.SSHD(
            keys,
            name=f"sshd{i}",
            max_sessions=args.max_sessions,
            max_startups=args.max_startups,
        )
        for i in range(args.sshd)
    ]
    # A channel or two per host; root may raise the hard limit, a container may not.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    rows: list[dict[str, Any]] = []
    folder = Path(tempfile.mkdtemp(prefix="playgraph-bench-ssh-"))
    try:
        for server in servers:
            server.start()
        ports = [s.port for s in servers]
        known = keys.known_hosts(ports)
        book = folder / "fanout.yml"
        book.write_text(PLAYBOOK)
        (folder / "none.cfg").write_text("[defaults]\n")
        for hosts in args.hosts:
            inv = folder / f"hosts-{hosts}.ini"
            inventory(inv, hosts, ports, keys, known)
            ours = run_playgraph(folder, hosts, inv, book)
            row: dict[str, Any] = {"hosts": hosts, "forks": hosts, "playgraph": ours}
            if not args.skip_ansible:
                theirs = run_ansible(folder, hosts, inv, book, args.ansible_venv)
                row["ansible"] = theirs
                row["wall_ratio"] = theirs["wall_seconds"] / ours["wall_seconds"]
                row["cpu_ratio"] = theirs["cpu_seconds"] / max(ours["cpu_seconds"], 1e-9)
            rows.append(row)
            print(_line(row), flush=True)
    finally:
        for server in servers:
            server.stop()
        subprocess.run(["rm", "-rf", os.fspath(keys.folder)], check=False)
    result = {
        "benchmark": "fan-out playbook over SSH: playgraph run vs ansible-playbook",
        "playbook": "detached sleep 2 + quick command + join (delay 1) + polled sleep 1 (poll 1)",
        "setup": (
            f"{args.sshd} sshd instances on 127.0.0.1 (MaxSessions {args.max_sessions}, "
            f"MaxStartups {args.max_startups}), aliases spread round-robin, user {USER}, "
            "forks = hosts for both; ansible-core with pipelining and ControlPersist=60s"
        ),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": os.getloadavg(),
        },
        "results": rows,
    }
    out = args.out
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}; the runs' logs are in {folder}")


def _line(row: dict[str, Any]) -> str:
    ours = row["playgraph"]
    text = (
        f"{row['hosts']:>4} hosts: playgraph {ours['wall_seconds']:.2f} s wall, "
        f"{ours['cpu_seconds']:.2f} s cpu, {ours['peak_rss_mb']:.0f} MB, "
        f"{len(ours['lost_hosts'])} hosts lost"
    )
    if "ansible" in row:
        theirs = row["ansible"]
        text += (
            f" | ansible {theirs['wall_seconds']:.2f} s wall, {theirs['cpu_seconds']:.2f} s cpu, "
            f"{theirs['peak_rss_mb']:.0f} MB | {row['wall_ratio']:.1f}x faster"
        )
    return text


if __name__ == "__main__":
    main()
