"""`playgraph run` vs `ansible-playbook` over SSH with modules playgraph has no native
version of: 50 hosts x 5 tasks through the generic module path.

The hosts, sshd instances and login user are `ssh_fanout`'s (inventory aliases on a
few loopback sshd instances, `tests/runtime/sshd.py`).  The playbook runs five
non-native modules per host — ``ini_file`` (community.general), ``replace``,
``blockinfile``, ``tempfile`` and ``getent`` — each through ansible-core's module
machinery (payload built on the controller, shipped to the target); playgraph runs
each call as a child forked from its warm module server (one per sshd instance and
interpreter, see specs/modules.md).  ansible-core runs with pipelining and
ControlPersist, in its own venv; both with forks = hosts.

Then playgraph runs the playbook a second time, to measure that it re-ships no
payload: every host shares the login user's home, so the payload cache is one folder
(``~/.cache/playgraph``); the bench records each file's (size, mtime, inode) before
and after each run — files written by a run are new or changed entries.  The first
run starts from an empty cache.

    python bench/ssh_modules.py [--hosts 50] [--sshd 4] [--ansible-venv .oracle/venv]

Writes ``bench/results/ssh_modules-<date>.json``.  Needs root (sshd, the login user),
openssh-server, and ansible-core with community.general in the oracle venv (the
collections playgraph sees are the oracle's, through ANSIBLE_COLLECTIONS_PATH).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pwd
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import DEFAULT_ORACLE, ROOT, oracle_bin, playgraph_bin
from ssh_fanout import USER, ensure_user, inventory, measured, run_ansible, sshd

PLAYBOOK = """\
- name: non-native modules
  hosts: all
  gather_facts: false
  vars:
    dir: "/tmp/pgbench-modules/{{ tool }}/{{ inventory_hostname }}"
  tasks:
    - name: an ini setting
      community.general.ini_file:
        path: "{{ dir }}/app.ini"
        section: server
        option: port
        value: "8080"
        create: true

    - name: a replacement
      ansible.builtin.replace:
        path: "{{ dir }}/app.ini"
        regexp: "8080"
        replace: "8081"

    - name: a block
      ansible.builtin.blockinfile:
        path: "{{ dir }}/app.ini"
        block: "# managed"

    - name: a temporary file
      ansible.builtin.tempfile:
        path: "{{ dir }}"

    - name: a lookup
      ansible.builtin.getent:
        database: passwd
        key: root
"""

TASKS = 5


def _snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every file under ``folder``: (size, mtime_ns, inode)."""
    found: dict[str, tuple[int, int, int]] = {}
    for base, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(base) / name
            info = path.stat()
            found[os.fspath(path.relative_to(folder))] = (
                info.st_size,
                info.st_mtime_ns,
                info.st_ino,
            )
    return found


def _written(
    before: dict[str, tuple[int, int, int]], after: dict[str, tuple[int, int, int]]
) -> dict[str, int]:
    changed = [p for p, v in after.items() if before.get(p) != v]
    return {"files": len(changed), "bytes": sum(after[p][0] for p in changed)}


def _prepare_dirs(hosts: int) -> None:
    base = Path("/tmp/pgbench-modules")
    shutil.rmtree(base, ignore_errors=True)
    user = pwd.getpwnam(USER)
    for tool in ("playgraph", "ansible"):
        for i in range(1, hosts + 1):
            path = base / tool / f"node{i}"
            path.mkdir(parents=True, exist_ok=True)
            for part in (base, base / tool, path):
                os.chown(part, user.pw_uid, user.pw_gid)


def run_playgraph(
    folder: Path, hosts: int, inv: Path, book: Path, label: str, venv: Path
) -> dict[str, Any]:
    log = folder / f"playgraph-{label}.log"
    argv = [
        playgraph_bin(),
        "run",
        "--json",
        "-f",
        str(hosts),
        "-i",
        str(inv),
        str(book),
        "-e",
        "tool=playgraph",
    ]
    site = sorted(venv.glob("lib/python3*/site-packages"))
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": os.fspath(site[0]) if site else ""}
    result = measured(argv, env, log, folder)
    try:
        stats = json.loads(log.read_text()[log.read_text().index("{") :])["stats"]
    except (ValueError, KeyError):
        sys.exit(f"playgraph exited {result['exit_code']} without its report; see {log}")
    bad = {h: s for h, s in stats.items() if s["failures"] or s["unreachable"] or s["ok"] != TASKS}
    result["failed_hosts"] = len(bad)
    if result["exit_code"] != 0 or bad:
        sys.exit(f"playgraph exited {result['exit_code']}: {len(bad)} hosts not ok; see {log}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--sshd", type=int, default=4)
    parser.add_argument("--ansible-venv", type=Path, default=DEFAULT_ORACLE)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    oracle_bin(args.ansible_venv, "ansible-playbook")
    ensure_user()
    cache = Path(pwd.getpwnam(USER).pw_dir) / ".cache" / "playgraph"
    shutil.rmtree(cache, ignore_errors=True)  # the first run ships everything
    _prepare_dirs(args.hosts)
    load_at_start = os.getloadavg()
    keys = sshd.temp_keys()
    servers = [
        sshd.SSHD(keys, name=f"sshd{i}", max_sessions=200, max_startups="200:30:400")
        for i in range(args.sshd)
    ]
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a channel or two per host
    folder = Path(tempfile.mkdtemp(prefix="playgraph-bench-modules-"))
    try:
        for server in servers:
            server.start()
        ports = [s.port for s in servers]
        known = keys.known_hosts(ports)
        book = folder / "modules.yml"
        book.write_text(PLAYBOOK)
        (folder / "none.cfg").write_text("[defaults]\n")
        inv = folder / "hosts.ini"
        inventory(inv, args.hosts, ports, keys, known)
        before = _snapshot(cache)
        first = run_playgraph(folder, args.hosts, inv, book, "first", args.ansible_venv)
        middle = _snapshot(cache)
        first["payload_written"] = _written(before, middle)
        second = run_playgraph(folder, args.hosts, inv, book, "second", args.ansible_venv)
        second["payload_written"] = _written(middle, _snapshot(cache))
        ansible_book = folder / "modules-ansible.yml"
        ansible_book.write_text(PLAYBOOK.replace("{{ tool }}", "ansible"))
        theirs = run_ansible(folder, args.hosts, inv, ansible_book, args.ansible_venv)
    finally:
        for server in servers:
            server.stop()
        subprocess.run(["rm", "-rf", os.fspath(keys.folder)], check=False)
    result = {
        "benchmark": "non-native modules over SSH: playgraph run vs ansible-playbook",
        "playbook": "5 tasks per host: community.general.ini_file, replace, blockinfile, tempfile, getent",
        "setup": (
            f"{args.hosts} host aliases on {args.sshd} loopback sshd instances, user {USER}, "
            "forks = hosts; ansible-core with pipelining and ControlPersist=60s"
        ),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": os.getloadavg(),
        },
        "playgraph_first": first,
        "playgraph_second": second,
        "ansible": theirs,
        "wall_ratio_first": theirs["wall_seconds"] / first["wall_seconds"],
        "wall_ratio_second": theirs["wall_seconds"] / second["wall_seconds"],
    }
    day = datetime.date.today().isoformat()
    out = args.out or ROOT / "bench" / "results" / f"ssh_modules-{day}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"playgraph {first['wall_seconds']:.2f} s (second run {second['wall_seconds']:.2f} s, "
        f"payload re-written: {second['payload_written']['files']} files) | ansible "
        f"{theirs['wall_seconds']:.2f} s | {result['wall_ratio_first']:.1f}x faster; wrote {out}"
    )


if __name__ == "__main__":
    main()
