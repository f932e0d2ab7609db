"""The generic module path: modules playgraph has no native version of, run through
ansible-core's module machinery (resolution, AnsiballZ payload) and playgraph's runner.

Real modules of ansible-core and of installed collections (the oracle's, through
``ANSIBLE_COLLECTIONS_PATH``), real processes, the local connection and a real sshd
on loopback; synchronous, polled and detached runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playgraph.runtime import ansible_modules, jobs
from playgraph.runtime.ansible_modules import module as generic
from playgraph.runtime.connection.local import LocalConnection
from playgraph.runtime.connection.ssh import SSHConnection
from playgraph.runtime.jobs import new_jid
from playgraph.runtime.jobspec import Become
from playgraph.runtime.modules.base import ModuleFailure, TaskContext

from . import sshd as fixture

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]

pytestmark = pytest.mark.e2e

ORACLE = Path(os.environ.get("PLAYGRAPH_ORACLE", Path(__file__).parents[2] / ".oracle" / "venv"))
COLLECTIONS = next(iter(sorted(ORACLE.glob("lib/python3*/site-packages"))), ORACLE)

SLEEPER = """\
#!/usr/bin/python
import time
from ansible.module_utils.basic import AnsibleModule

def main():
    module = AnsibleModule(argument_spec=dict(seconds=dict(type="float", default=30)))
    time.sleep(module.params["seconds"])
    module.exit_json(changed=True, slept=module.params["seconds"])

if __name__ == "__main__":
    main()
"""

SECRET = """\
#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule

def main():
    module = AnsibleModule(
        argument_spec=dict(name=dict(type="str"), token=dict(type="str", no_log=True)),
        supports_check_mode=True,
    )
    module.exit_json(changed=False, echoed=module.params["name"])

if __name__ == "__main__":
    main()
"""


@pytest.fixture(autouse=True)
def _collections(monkeypatch: pytest.MonkeyPatch) -> None:
    # Collections other than ansible.builtin come from the oracle's ``ansible`` package.
    assert (COLLECTIONS / "ansible_collections" / "community" / "general").is_dir(), (
        f"no collections under {COLLECTIONS}: run scripts/test (it installs the oracle)"
    )
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    library = tmp_path / "library"
    library.mkdir()
    (library / "pgtest_sleep.py").write_text(SLEEPER)
    (library / "pgtest_secret.py").write_text(SECRET)
    return tmp_path


def _ctx(conn: Any, site: Path, action: str, args: Mapping[str, Any], **kw: Any) -> TaskContext:
    kw.setdefault("async_dir", str(site / "async"))
    return TaskContext(host="h", action=action, args=args, conn=conn, base_dir=str(site), **kw)


async def _run(ctx: TaskContext) -> dict[str, Any]:
    module = ansible_modules.generic_module(ctx.action)
    assert module is not None
    try:
        return await module.run(ctx)
    except ModuleFailure as failure:
        return dict(failure.result)


async def _job(ctx: TaskContext, limit: float, wait: float) -> dict[str, Any]:
    """Launch as a job (as a ``poll: 0`` task does), then wait for it (as async_status)."""
    module = ansible_modules.generic_module(ctx.action)
    assert module is not None
    await module.prepare(ctx)
    jid = new_jid()
    launch = await ctx.conn.start_job(module.job(ctx, jid, limit))
    assert launch["ansible_job_id"] == jid and launch["started"]
    status: dict[str, Any] = (
        await ctx.conn.wait_jobs([jid], timeout=wait, async_dir=ctx.async_dir, become=ctx.become)
    )[jid]
    return status


# --------------------------------------------------------------------------- local


def test_lineinfile_replace_ini_file_sync_and_diff(arun: Run[Any], site: Path) -> None:
    conn = LocalConnection(idle_exit=5)
    target = site / "f.conf"
    target.write_text("a=1\nb=2\n")

    async def main() -> list[dict[str, Any]]:
        return [
            await _run(
                _ctx(conn, site, "lineinfile", {"path": str(target), "line": "c=3"}, diff=True)
            ),
            await _run(
                _ctx(
                    conn,
                    site,
                    "ansible.builtin.replace",
                    {"path": str(target), "regexp": "b=2", "replace": "b=20"},
                )
            ),
            await _run(
                _ctx(
                    conn,
                    site,
                    "community.general.ini_file",
                    {"path": str(site / "x.ini"), "section": "s", "option": "o", "value": "v"},
                )
            ),
            await _run(_ctx(conn, site, "lineinfile", {"path": str(target), "line": "c=3"})),
        ]

    added, replaced, ini, again = arun(main())
    assert added["changed"] is True and added["msg"] == "line added"
    assert added["diff"][0]["after"] == "a=1\nb=2\nc=3\n"
    assert added["invocation"]["module_args"]["line"] == "c=3"
    assert replaced["changed"] is True and replaced["msg"] == "1 replacements made"
    assert ini["changed"] is True and "[s]\no = v\n" in (site / "x.ini").read_text()
    assert again["changed"] is False
    assert target.read_text() == "a=1\nb=20\nc=3\n"
    assert not any(k.startswith("_ansible_") for r in (added, replaced, ini, again) for k in r)


def test_check_mode_and_no_log(arun: Run[Any], site: Path) -> None:
    conn = LocalConnection(idle_exit=5)
    target = site / "f.txt"
    target.write_text("a\n")

    async def main() -> list[dict[str, Any]]:
        return [
            await _run(
                _ctx(conn, site, "lineinfile", {"path": str(target), "line": "b"}, check_mode=True)
            ),
            await _run(_ctx(conn, site, "tempfile", {"state": "file"}, check_mode=True)),
            await _run(_ctx(conn, site, "pgtest_secret", {"name": "n", "token": "s3cr3t"})),
        ]

    checked, skipped, secret = arun(main())
    assert checked["changed"] is True and target.read_text() == "a\n"
    assert skipped == {
        "skipped": True,
        "msg": "remote module (tempfile) does not support check mode",
        "invocation": {
            "module_args": {"state": "file", "prefix": "ansible.", "suffix": "", "path": None}
        },
    }
    assert secret["invocation"]["module_args"] == {
        "name": "n",
        "token": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER",
    }
    assert "s3cr3t" not in json.dumps(secret)


def test_failures_are_host_results(arun: Run[Any], site: Path) -> None:
    conn = LocalConnection(idle_exit=5)

    async def main() -> list[dict[str, Any]]:
        return [
            await _run(_ctx(conn, site, "pgtestns.pgtestcoll.thing", {})),
            await _run(_ctx(conn, site, "community.general.pgtest_no_such_module", {})),
            await _run(_ctx(conn, site, "ansible.builtin.reboot", {})),
            await _run(_ctx(conn, site, "ansible.posix.synchronize", {"src": "a", "dest": "b"})),
        ]

    missing, unknown, reboot, synchronize = arun(main())
    assert (
        missing["failed"]
        and "couldn't resolve module/action 'pgtestns.pgtestcoll.thing'" in missing["msg"]
    )
    assert "The collection 'pgtestns.pgtestcoll' is not installed" in missing["msg"]
    assert "ansible-galaxy collection install pgtestns.pgtestcoll" in missing["msg"]
    assert unknown["failed"] and "not installed" not in unknown["msg"]
    assert (
        reboot["failed"] and "controller-side action plugin ansible.builtin.reboot" in reboot["msg"]
    )
    assert synchronize["failed"] and "action plugin ansible.posix.synchronize" in synchronize["msg"]


def test_jobs_polled_detached_and_limit_kill(arun: Run[Any], site: Path, async_dir: Path) -> None:
    conn = LocalConnection(idle_exit=5)
    (site / "data.txt").write_text("hello\n")

    async def main() -> list[dict[str, Any]]:
        try:
            return [
                await _job(
                    _ctx(
                        conn,
                        site,
                        "slurp",
                        {"src": str(site / "data.txt")},
                        async_dir=str(async_dir),
                    ),
                    30,
                    30,
                ),
                await _job(
                    _ctx(
                        conn,
                        site,
                        "find",
                        {"paths": str(site), "patterns": "*.txt"},
                        async_dir=str(async_dir),
                    ),
                    30,
                    30,
                ),
                await _job(
                    _ctx(conn, site, "pgtest_sleep", {"seconds": 30}, async_dir=str(async_dir)),
                    1,
                    20,
                ),
            ]
        finally:
            await jobs.close_clients()

    slurped, found, killed = arun(main())
    assert slurped["finished"] and slurped["content"] == "aGVsbG8K"
    assert found["finished"] and found["matched"] == 1
    assert killed["failed"] and killed["msg"] == "Timeout exceeded"


def test_native_only_run_does_not_import_ansible(tmp_path: Path) -> None:
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - command: 'true'\n    - ping:\n    - shell: echo hi\n      async: 10\n      poll: 1\n"
    )
    inventory = tmp_path / "inv.ini"
    inventory.write_text(
        f"localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3"
        f" ansible_async_dir={tmp_path / 'async'}\n"
    )
    code = textwrap.dedent(
        f"""
        import sys
        from playgraph.cli import main
        try:
            code = main(["run", {str(playbook)!r}, "-i", {str(inventory)!r}])
        except SystemExit as exit:
            code = exit.code
        print("EXIT", code, "ANSIBLE" if "ansible" in sys.modules else "NO-ANSIBLE")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "EXIT 0 NO-ANSIBLE" in done.stdout, done.stdout + done.stderr


def test_playbook_run_generic_modules(tmp_path: Path, site: Path) -> None:
    """Through `playgraph run`: sync, polled, detached + async_status, a host failure."""
    (site / "f.txt").write_text("one\n")
    playbook = site / "play.yml"
    playbook.write_text(
        textwrap.dedent(
            f"""\
            - hosts: all
              gather_facts: false
              tasks:
                - name: sync
                  lineinfile: {{path: {site}/f.txt, line: two}}
                - name: polled
                  ansible.builtin.getent: {{database: passwd, key: root}}
                  async: 20
                  poll: 1
                  register: polled
                - name: launch
                  pgtest_sleep: {{seconds: 0.2}}
                  async: 20
                  poll: 0
                  register: launched
                - name: join
                  async_status: {{jid: "{{{{ launched.ansible_job_id }}}}"}}
                  register: joined
                  until: joined.finished
                  retries: 50
                  delay: 0.2
                - name: missing
                  pgtestns.pgtestcoll.thing: {{}}
                  ignore_errors: true
            """
        )
    )
    inventory = site / "inv.ini"
    inventory.write_text(
        "localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3"
        f" ansible_async_dir={tmp_path / 'async'}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "playgraph", "run", str(playbook), "-i", str(inventory), "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS)},
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout.startswith("{"), done.stdout + done.stderr
    document = json.loads(done.stdout)
    results = {
        entry["task"]["name"]: entry["hosts"]["localhost"]
        for play in document["plays"]
        for entry in play["tasks"]
    }
    assert results["sync"]["changed"] is True
    assert results["polled"]["ansible_facts"]["getent_passwd"]["root"][0] == "x"
    assert results["joined" if "joined" in results else "join"]["slept"] == 0.2
    assert (
        results["missing"]["failed"]
        and "ansible-galaxy collection install" in results["missing"]["msg"]
    )
    assert (site / "f.txt").read_text() == "one\ntwo\n"


# --------------------------------------------------------------------------- ssh


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("generic-ssh")
    keys = fixture.make_keys(folder)
    server = fixture.SSHD(keys, name="generic").start()
    known = keys.known_hosts([server.port], folder / "known_hosts")
    try:
        yield {
            "ansible_host": "127.0.0.1",
            "ansible_port": server.port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(keys.client_key),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={known}",
        }
    finally:
        server.stop()


class Counting(SSHConnection):
    puts: int = 0

    async def put_file(self, data: bytes, path: str, **kw: Any) -> None:
        type(self).puts += 1
        await super().put_file(data, path, **kw)


def test_ssh_sync_jobs_and_ship_once(
    arun: Run[Any], site: Path, lab: dict[str, Any], tmp_path: Path
) -> None:
    home = Path(os.path.expanduser("~")) / generic.TARGET_CACHE
    target = site / "g.txt"
    target.write_text("x\n")
    async_dir = str(tmp_path / "ssh-async")

    async def one_run() -> list[dict[str, Any]]:
        conn = Counting("node", lab)
        try:
            return [
                await _run(
                    _ctx(
                        conn,
                        site,
                        "lineinfile",
                        {"path": str(target), "line": "y"},
                        async_dir=async_dir,
                    )
                ),
                await _run(
                    _ctx(
                        conn,
                        site,
                        "ansible.builtin.stat",
                        {"path": str(target)},
                        async_dir=async_dir,
                    )
                ),
                await _job(
                    _ctx(
                        conn,
                        site,
                        "lineinfile",
                        {"path": str(target), "line": "z"},
                        async_dir=async_dir,
                    ),
                    30,
                    30,
                ),
            ]
        finally:
            await conn.close()
            await jobs.close_clients()

    Counting.puts = 0
    added, _, job = arun(one_run())
    first = Counting.puts
    assert added["changed"] is True and job["finished"] and job["changed"] is True
    assert target.read_text() == "x\ny\nz\n"
    assert home.is_dir()
    Counting.puts = 0
    again, _, job2 = arun(one_run())
    assert again["changed"] is False and job2["changed"] is False
    assert Counting.puts == 0, f"second run re-shipped {Counting.puts} files (first: {first})"


def test_become_sends_the_payload_inline(arun: Run[Any], site: Path) -> None:
    """Under become nothing is read from our cache: runner and zip travel with the call
    (a job under become is given the same argv and stdin: `GenericModule.job`)."""
    fixture.ensure_become_user()
    user = fixture.BECOME_USER
    conn = LocalConnection(idle_exit=5)
    become = Become(user=user)
    ctx = _ctx(conn, site, "tempfile", {"path": "/tmp"}, become=become)
    made = arun(_run(ctx))
    assert made["changed"] is True, made
    assert Path(made["path"]).owner() == user
    Path(made["path"]).unlink()
    prepared = generic._prepared[("tempfile", str(site), True, None)]
    request = json.loads(generic.request(ctx, "tempfile", prepared, ctx.args))
    assert request["zip"] is None and request["zip_b64"]


def test_without_ansible_core_a_module_without_native_version_fails_saying_so(
    tmp_path: Path,
) -> None:
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: schedule\n      ansible.builtin.cron: {name: nightly, job: /bin/true}\n"
        "      ignore_errors: true\n    - name: after\n      command: echo after\n"
    )
    inventory = tmp_path / "inv.ini"
    inventory.write_text(
        "localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3"
        f" ansible_async_dir={tmp_path / 'async'}\n"
    )
    # ansible-core made unimportable, as where the ``ansible`` extra is not installed.
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["ansible"] = None
        from playgraph.cli import main
        try:
            code = main(["run", {str(playbook)!r}, "-i", {str(inventory)!r}, "--json"])
        except SystemExit as exit:
            code = exit.code
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    results = {
        entry["task"]["name"]: entry["hosts"]["localhost"]
        for play in json.loads(done.stdout)["plays"]
        for entry in play["tasks"]
    }
    message = results["schedule"]["msg"]
    assert (
        "'ansible.builtin.cron' is valid Ansible but playgraph's runtime does not implement it"
        in message
    )
    assert "pip install 'playgraph[ansible]'" in message
    assert results["after"]["stdout"] == "after"
