"""Running one corpus playbook through ansible-core (the oracle) and through playgraph.

Both get the same three local hosts (``h1..h3``, ``ansible_connection=local``) and each run
its own work directory and ``ansible_async_dir`` under the case's temporary directory, so
runs (and the two tools) never share job files or counter files.  Playbooks read
``work_dir`` (an extra var) for the files they count runs in.

A corpus file may start with header comments the harness reads:

* ``# args: -C --forks 2`` — extra command-line options for both tools;
* ``# hosts: 3`` — how many hosts (default 3);
* ``# host-vars: h2 ansible_connection=nosuch; h3 x=1`` — inventory variables of single hosts;
* ``# host-vars-file: h1 vars/some.yml`` — a YAML file (relative to the corpus) laid as
  ``host_vars/h1.yml`` next to the inventory (for what INI cannot say, e.g. ``!unsafe``);
* ``# outcome-only: task name; other task`` and ``# attempts-vary: task name`` — tasks
  whose comparison is relaxed because it depends on the clock (see `normalise`);
* ``# compare: all`` — compare every key of each result (a module's whole JSON: ``diff``,
  ``invocation``, its own return values), not only `normalise.FIELDS`;
* ``# ignore-fields: uid; ansible_facts.ansible_env`` — (dotted) keys left out of every
  result of the case, for values that depend on the machine's state rather than on the
  tool (each file says why).

Besides ``work_dir``, playbooks get two extra vars:

* ``run_id`` — a name unique to this run of this tool (``pgtest_`` and 5 letters): both
  tools run side by side on one machine, so users, groups and other machine-wide names
  are made from it.  It reads ``<run>`` in the comparison; `cleanup_run` removes the
  users and groups a run left behind;
* ``http_base`` — the URL of a local HTTP server (`http_base`) serving ``corpus/files``,
  the same for both tools, for get_url and uri.

Both tools' module runs reuse compiled ``module_utils`` across runs
(`module_user_base`, `zipimport_cache`): the oracle's AnsiballZ payloads are
compiled from source at every module run otherwise, a quarter of its CPU.

``PLAYGRAPH_DIFF_SELF=1`` runs ansible-core on both sides: a new case's normalisation is
right when ansible-core against itself shows no difference.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import secrets
import shlex
import signal
import string
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"
RUN_TIMEOUT = 180.0
"""Seconds one tool may take on one playbook before the case fails."""


class OracleMissing(Exception):
    """ansible-core's side-by-side venv is not installed."""


def oracle_venv() -> Path:
    """``$PLAYGRAPH_ORACLE``, else ``.oracle/venv`` at the repository root (scripts/test)."""
    return Path(os.environ.get("PLAYGRAPH_ORACLE") or ROOT / ".oracle" / "venv")


def ansible_playbook() -> str:
    venv = oracle_venv()
    path = venv / "bin" / "ansible-playbook"
    if not path.exists():
        raise OracleMissing(
            f"ansible-core, the oracle of the differential tests, is not installed at {venv} "
            f"({path} is missing). Run scripts/test, which creates it (python3 -m venv "
            f".oracle/venv && .oracle/venv/bin/pip install ansible), or point $PLAYGRAPH_ORACLE "
            "at a venv holding the full ansible package (with ansible.posix)."
        )
    return os.fspath(path)


def oracle_collections() -> Path:
    """The site-packages holding the oracle's ``ansible_collections``."""
    found = sorted(oracle_venv().glob("lib/python3*/site-packages"))
    return found[0] if found else oracle_venv()


@dataclass(frozen=True, slots=True)
class Header:
    args: tuple[str, ...] = ()
    hosts: int = 3
    outcome_only: tuple[str, ...] = ()
    attempts_vary: tuple[str, ...] = ()
    host_vars: tuple[tuple[str, str], ...] = ()
    host_vars_files: tuple[tuple[str, str], ...] = ()
    compare_all: bool = False
    ignore_fields: tuple[str, ...] = ()


def read_header(playbook: Path) -> Header:
    args: list[str] = []
    hosts = 3
    relaxed: dict[str, list[str]] = {"outcome-only": [], "attempts-vary": []}
    host_vars: list[tuple[str, str]] = []
    host_vars_files: list[tuple[str, str]] = []
    compare_all = False
    ignore_fields: list[str] = []
    for line in playbook.read_text().splitlines():
        if not line.startswith("#"):
            break
        key, _, value = line[1:].strip().partition(":")
        if key == "args":
            args += shlex.split(value)
        elif key == "hosts":
            hosts = int(value)
        elif key == "host-vars":
            for part in value.split(";"):
                host, _, assignments = part.strip().partition(" ")
                host_vars.append((host, assignments.strip()))
        elif key == "host-vars-file":
            host, _, name = value.strip().partition(" ")
            host_vars_files.append((host, name.strip()))
        elif key == "compare":
            compare_all = value.strip() == "all"
        elif key == "ignore-fields":
            ignore_fields += [name.strip() for name in value.split(";") if name.strip()]
        elif key in relaxed:
            relaxed[key] += [name.strip() for name in value.split(";") if name.strip()]
    return Header(
        args=tuple(args),
        hosts=hosts,
        outcome_only=tuple(relaxed["outcome-only"]),
        attempts_vary=tuple(relaxed["attempts-vary"]),
        host_vars=tuple(host_vars),
        host_vars_files=tuple(host_vars_files),
        compare_all=compare_all,
        ignore_fields=tuple(ignore_fields),
    )


@dataclass(frozen=True, slots=True)
class RunResult:
    tool: str
    home: Path
    """The run's own directory (work dir, async dir, inventory)."""
    exit_code: int
    document: dict[str, Any] | None
    stdout: str
    stderr: str
    seconds: float
    run_id: str = ""
    """The run's ``run_id`` extra var (see the module docstring)."""
    scrub: dict[str, str] = field(default_factory=dict)
    """Run-specific strings and what they read in the comparison."""

    def explain(self) -> str:
        return (
            f"{self.tool} exited {self.exit_code} after {self.seconds:.1f}s\n"
            f"--- stderr (tail) ---\n{self.stderr[-3000:]}\n"
            f"--- stdout (tail) ---\n{self.stdout[-3000:]}"
        )


MODULE_PYTHON = "/usr/bin/python3"
"""The interpreter both tools run modules with (``ansible_python_interpreter``)."""


_USER_BASE_LOCK = threading.Lock()


def module_user_base() -> str:
    """A ``PYTHONUSERBASE`` whose user site (read by `MODULE_PYTHON`, not by the tools'
    own venvs) loads `zipimport_cache`; its compiled code is kept in ``.cache``."""
    with _USER_BASE_LOCK:  # the cases' threads ask at once
        return _make_user_base()


@functools.cache
def _make_user_base() -> str:
    base = ROOT / ".cache" / "differential-user-base"
    env = {**os.environ, "PYTHONUSERBASE": os.fspath(base)}
    site = subprocess.run(
        [MODULE_PYTHON, "-c", "import site; print(site.getusersitepackages())"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.strip()
    packages = Path(site)
    packages.mkdir(parents=True, exist_ok=True)
    hook = Path(__file__).with_name("zipimport_cache.py")
    target = packages / "pg_zipimport_cache.py"
    if not target.exists() or target.read_bytes() != hook.read_bytes():
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(hook.read_bytes())
        tmp.replace(target)
    pth = packages / "pg_zipimport_cache.pth"
    if not pth.exists() or pth.read_text() != "import pg_zipimport_cache\n":
        pth.write_text("import pg_zipimport_cache\n")
    return os.fspath(base)


def write_inventory(directory: Path, async_dir: Path, header: Header) -> Path:
    extra = dict(header.host_vars)
    names = [f"h{i}" for i in range(1, header.hosts + 1)]
    lines = ["[all]", *(f"{h} {extra[h]}".strip() if h in extra else h for h in names)]
    lines += ["", "[all:vars]"]
    lines += [
        "ansible_connection=local",
        f"ansible_python_interpreter={MODULE_PYTHON}",
        f"ansible_async_dir={async_dir}",
    ]
    path = directory / "inventory.ini"
    path.write_text("\n".join(lines) + "\n")
    for host, name in header.host_vars_files:
        (directory / "host_vars").mkdir(exist_ok=True)
        (directory / "host_vars" / f"{host}.yml").write_text((CORPUS / name).read_text())
    return path


def _document(stdout: str) -> dict[str, Any] | None:
    start = stdout.find("{")
    if start < 0:
        return None
    try:
        value = json.loads(stdout[start:])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _run(
    tool: str, home: Path, argv: list[str], env: dict[str, str], cwd: Path, run_id: str
) -> RunResult:
    scrub = {run_id: "<run>"}
    start = time.monotonic()
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=RUN_TIMEOUT
        )
    except subprocess.TimeoutExpired as error:
        return RunResult(
            tool,
            home,
            -1,
            None,
            str(error.stdout or ""),
            f"timed out after {RUN_TIMEOUT}s",
            time.monotonic() - start,
            run_id,
            scrub,
        )
    return RunResult(
        tool,
        home,
        done.returncode,
        _document(done.stdout),
        done.stdout,
        done.stderr,
        time.monotonic() - start,
        run_id,
        scrub,
    )


def run_tool(tool: str, playbook: Path, base: Path) -> RunResult:
    """Run ``playbook`` with ``tool`` (``ansible`` or ``playgraph``), in a dir under ``base``."""
    header = read_header(playbook)
    home = base / tool
    work = home / "work"
    async_dir = home / "async"
    work.mkdir(parents=True, exist_ok=True)
    inventory = write_inventory(home, async_dir, header)
    run_id = "pgtest_" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(5))
    common = [
        "-i",
        os.fspath(inventory),
        "-e",
        f"work_dir={work}",
        "-e",
        f"run_id={run_id}",
        "-e",
        f"http_base={http_base()}",
        *header.args,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["PYTHONUSERBASE"] = module_user_base()
    if tool == "ansible" or os.environ.get("PLAYGRAPH_DIFF_SELF") == "1":
        argv = [ansible_playbook(), os.fspath(playbook), *common]
        env.update(
            ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
            ANSIBLE_LOCAL_TEMP=os.fspath(home / "ansible-local"),
            ANSIBLE_REMOTE_TMP=os.fspath(home / "ansible-remote"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_DEPRECATION_WARNINGS="0",
            ANSIBLE_RETRY_FILES_ENABLED="0",
            ANSIBLE_HOST_KEY_CHECKING="0",
        )
    else:
        argv = [sys.executable, "-m", "playgraph", "run", os.fspath(playbook), *common, "--json"]
        # The collections ansible-core sees (its ``ansible`` package's), for playgraph too.
        env["ANSIBLE_COLLECTIONS_PATH"] = os.fspath(oracle_collections())
    return _run(tool, home, argv, env, work, run_id)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


_HTTP_LOCK = threading.Lock()


def http_base() -> str:
    """Start (once per session) a local HTTP server on ``corpus/files``; its base URL."""
    with _HTTP_LOCK:  # cases start on a thread pool: one server for all of them
        return _http_server()


@functools.cache
def _http_server() -> str:
    handler = functools.partial(_QuietHandler, directory=os.fspath(CORPUS / "files"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def cleanup_run(result: RunResult) -> None:
    """Remove the users and groups named after the run's ``run_id`` that it left behind."""
    if not result.run_id:
        return
    for database, command in (
        ("/etc/passwd", ["userdel", "-r", "-f"]),
        ("/etc/group", ["groupdel"]),
    ):
        with open(database, encoding="utf-8") as handle:
            names = [line.split(":", 1)[0] for line in handle]
        for name in names:
            if name.startswith(result.run_id):
                subprocess.run([*command, name], capture_output=True, timeout=30, check=False)


def stop_playgraph_jobs(base: Path) -> None:
    """Stop the job supervisor playgraph started for this case's async dir, and its jobs."""
    from tests.runtime.conftest import stop_supervisor

    stop_supervisor(base / "playgraph" / "async")


def stop_ansible_jobs(base: Path) -> None:
    """Kill what ansible-core's async jobs of this case left running.

    Its watchdog kills a job only 5-10 s after the job's limit, so a case's long jobs
    would outlive the test.  Every wrapper process runs a script from the case's remote
    tmp dir; its module runner leads the process group that holds the job.
    """
    marker = os.fspath(base / "ansible")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().decode(errors="replace")
            if marker in cmdline and "async_wrapper" in cmdline:
                os.killpg(os.getpgid(int(entry)), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue
