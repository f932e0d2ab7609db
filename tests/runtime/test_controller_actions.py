"""Controller sides of ansible-core's action plugins (runtime/controller_modules.py,
runtime/validate_spec.py): fetch, unarchive and assemble with controller files, uri with
``src``, service's module choice, reboot, validate_argument_spec, and a role's
``library/`` for the generic path.

Real files, real processes, a real HTTP server, a real sshd on loopback for ``reboot``
(which refuses the local connection); the real modules of ansible-core run on the target.
Differential cases against ansible-core: tests/differential/corpus/act_*.yml.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
from playgraph.runtime.connection.local import LocalConnection
from playgraph.runtime.connection.ssh import SSHConnection
from playgraph.runtime.controller_modules import controller_module as get_module
from playgraph.runtime.jobs import new_jid
from playgraph.runtime.modules.base import ModuleFailure, TaskContext

from . import sshd as fixture

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]

pytestmark = pytest.mark.e2e

CUSTOM_SERVICE = """\
#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule

def main():
    module = AnsibleModule(argument_spec=dict(name=dict(), state=dict()), supports_check_mode=True)
    module.exit_json(changed=True, picked="pgtest_svc", got=sorted(module.params))

if __name__ == "__main__":
    main()
"""

ROLE_MODULE = """\
#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule

def main():
    module = AnsibleModule(argument_spec=dict(word=dict()))
    module.exit_json(changed=False, said=module.params["word"])

if __name__ == "__main__":
    main()
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "library").mkdir()
    (tmp_path / "library" / "pgtest_svc.py").write_text(CUSTOM_SERVICE)
    return tmp_path


def _ctx(conn: Any, site: Path, action: str, args: Mapping[str, Any], **kw: Any) -> TaskContext:
    kw.setdefault("async_dir", str(site / "async"))
    return TaskContext(host="h1", action=action, args=args, conn=conn, base_dir=str(site), **kw)


async def _run(ctx: TaskContext) -> dict[str, Any]:
    module = get_module(ctx.action)
    assert module is not None, ctx.action
    try:
        return await module.run(ctx)
    except ModuleFailure as failure:
        return dict(failure.result)


# --------------------------------------------------------------------------- fetch


def test_fetch_per_host_flat_unchanged_and_refusals(arun: Run[Any], site: Path) -> None:
    conn = LocalConnection(idle_exit=5)
    src = site / "remote" / "a.txt"
    src.parent.mkdir()
    src.write_text("hello\n")
    sha1 = "f572d396fae9206628714fb2ce00f72e94f2258f"

    def fetch(**args: Any) -> dict[str, Any]:
        return arun(_run(_ctx(conn, site, "fetch", args)))

    first = fetch(src=str(src), dest="out")
    dest = site / "out" / "h1" / str(src).lstrip("/")
    assert first == {
        "changed": True,
        "md5sum": "b1946ac92492d2347c6235b4d2611184",
        "dest": str(dest),
        "remote_md5sum": None,
        "checksum": sha1,
        "remote_checksum": sha1,
    }
    assert dest.read_text() == "hello\n"
    again = fetch(src=str(src), dest="out")
    assert again["changed"] is False and again["file"] == str(src) and again["checksum"] == sha1
    flat = fetch(src=str(src), dest=f"{site}/flat/", flat=True)
    assert flat["changed"] and flat["dest"] == f"{site}/flat/a.txt"
    (site / "isdir").mkdir()
    assert fetch(src=str(src), dest=f"{site}/isdir", flat=True)["msg"].startswith(
        "dest is an existing directory"
    )
    missing = fetch(src=str(src) + ".no", dest="out")
    assert missing == {
        "failed": True,
        "changed": False,
        "msg": "the remote file does not exist, not transferring, ignored",
    }
    ignored = fetch(src=str(src) + ".no", dest="out", fail_on_missing=False)
    assert not ignored.get("failed") and ignored["file"] == str(src) + ".no"
    folder = fetch(src=str(src.parent), dest="out")
    assert folder["failed"] and "fetch cannot work on directories" in folder["msg"]
    assert fetch(src=str(src))["msg"] == "src and dest are required"
    checked = arun(_run(_ctx(conn, site, "fetch", {"src": str(src), "dest": "o"}, check_mode=True)))
    assert checked["skipped"] and "check mode not (yet) supported" in checked["msg"]
    module = get_module("ansible.builtin.fetch")
    assert module is not None and not module.supports_async


# --------------------------------------------------------------------------- unarchive, assemble


def test_unarchive_ships_a_controller_archive_and_cleans_up(arun: Run[Any], site: Path) -> None:
    conn = LocalConnection(idle_exit=5)
    tree = site / "tree"
    tree.mkdir()
    (tree / "index.html").write_text("<p>hi</p>\n")
    (site / "files").mkdir()
    with tarfile.open(site / "files" / "site.tgz", "w:gz") as tar:
        tar.add(tree / "index.html", arcname="index.html")
    dest = site / "www"
    dest.mkdir()
    remote_tmp = site / "rtmp"
    variables = {"ansible_remote_tmp": str(remote_tmp)}

    def unarchive(**args: Any) -> dict[str, Any]:
        return arun(_run(_ctx(conn, site, "unarchive", args, variables=variables)))

    first = unarchive(src="site.tgz", dest=str(dest))  # found in files/, as ansible-core does
    assert first["changed"] and not first.get("failed"), first
    assert (dest / "index.html").read_text() == "<p>hi</p>\n"
    assert unarchive(src="site.tgz", dest=str(dest))["changed"] is False
    assert list(remote_tmp.iterdir()) == []  # the shipped archive's folder is gone
    skipped = unarchive(src="site.tgz", dest=str(dest), creates=str(dest / "index.html"))
    assert skipped["skipped"] and skipped["msg"] == f"skipped, since {dest}/index.html exists"
    nowhere = unarchive(src="site.tgz", dest=str(site / "nowhere"))
    assert nowhere["failed"] and nowhere["msg"] == f"dest '{site}/nowhere' must be an existing dir"
    url = unarchive(src="https://u:secret@example.invalid/a.tgz", dest=str(dest))
    assert "secret" not in url["msg"] and "only supported when remote_src is True" in url["msg"]
    both = unarchive(src="site.tgz", dest=str(dest), copy=True, remote_src=False)
    assert both["msg"] == "parameters are mutually exclusive: ('copy', 'remote_src')"


def test_assemble_on_the_controller_then_copy_or_file(arun: Run[Any], site: Path) -> None:
    conn = LocalConnection(idle_exit=5)
    frags = site / "frags"
    frags.mkdir()
    (frags / "01").write_text("one")
    (frags / "02").write_text("two\n")
    (frags / ".03").write_text("hidden")
    dest = site / "joined"

    def assemble(**args: Any) -> dict[str, Any]:
        ctx = _ctx(conn, site, "assemble", args, diff=True)
        return arun(_run(ctx))

    first = assemble(src="frags", dest=str(dest), remote_src=False, delimiter="--\\n")
    assert first["changed"] and not first.get("failed"), first
    # Name order (".03" first), a newline after a fragment without one, the delimiter
    # unescaped between fragments, and a newline after it even when it ends with one.
    assert dest.read_text() == "hidden\n--\n\none\n--\n\ntwo\n"
    assert first["diff"]["after"] == "hidden\n--\n\none\n--\n\ntwo\n"
    second = assemble(src="frags", dest=str(dest), remote_src=False, delimiter="--\\n")
    assert second["changed"] is False and second["checksum"] == first["checksum"], second
    remote = assemble(src=str(frags), dest=str(site / "r"), ignore_hidden=True)
    assert remote["changed"] and (site / "r").read_text() == "one\ntwo\n"
    missing = assemble(src="nope", dest=str(dest), remote_src=False)
    assert missing["failed"] and "Could not find or access 'nope'" in missing["msg"]


# --------------------------------------------------------------------------- uri


class _Store(http.server.BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_PUT(self) -> None:
        size = int(self.headers.get("Content-Length", 0))
        type(self).bodies.append(self.rfile.read(size))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def store() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Store)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Store.bodies = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_uri_src_is_shipped_sync_and_as_a_job(arun: Run[Any], site: Path, store: str) -> None:
    conn = LocalConnection(idle_exit=5)
    (site / "files").mkdir()
    (site / "files" / "body.json").write_text('{"k": 1}')
    remote_tmp = site / "rtmp"
    args = {"url": f"{store}/x", "method": "PUT", "src": "body.json", "status_code": [201]}
    ctx = _ctx(conn, site, "uri", args, variables={"ansible_remote_tmp": str(remote_tmp)})
    result = arun(_run(ctx))
    assert result["status"] == 201 and not result.get("failed"), result
    assert _Store.bodies == [b'{"k": 1}']
    assert list(remote_tmp.iterdir()) == []

    module = get_module("uri")
    assert module is not None and module.supports_async

    async def job() -> dict[str, Any]:
        await module.prepare(ctx)  # type: ignore[attr-defined]
        jid = new_jid()
        await conn.start_job(module.job(ctx, jid, 20.0))
        return (await conn.wait_jobs([jid], timeout=20, async_dir=ctx.async_dir))[jid]

    status = arun(job())
    assert status["finished"] and status["status"] == 201, status
    assert _Store.bodies == [b'{"k": 1}'] * 2
    deadline = time.monotonic() + 5
    while list(remote_tmp.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(remote_tmp.iterdir()) == []  # the job removed what was shipped for it
    checked = arun(_run(_ctx(conn, site, "ansible.builtin.uri", args, check_mode=True)))
    assert checked == {
        "changed": False,
        "skipped": True,
        "msg": "This action (uri) does not support check mode.",
    }


# --------------------------------------------------------------------------- service


def test_service_runs_the_module_of_use_or_of_the_service_mgr_fact(
    arun: Run[Any], site: Path
) -> None:
    conn = LocalConnection("h1", idle_exit=5)  # not delegating: the task's own host
    args = {"name": "x", "state": "started", "use": "pgtest_svc"}
    chosen = arun(_run(_ctx(conn, site, "service", args)))
    assert chosen["picked"] == "pgtest_svc" and chosen["got"] == ["name", "state"], chosen
    facts = {"ansible_facts": {"service_mgr": "pgtest_svc"}}
    args = {"name": "x", "state": "started"}
    by_fact = arun(_run(_ctx(conn, site, "service", args, variables=facts)))
    assert by_fact["picked"] == "pgtest_svc", by_fact

    module = get_module("service")
    assert module is not None and module.supports_async
    ctx = _ctx(conn, site, "service", args, variables=facts)

    async def job() -> dict[str, Any]:
        await module.prepare(ctx)  # type: ignore[attr-defined]
        jid = new_jid()
        await conn.start_job(module.job(ctx, jid, 20.0))
        return (await conn.wait_jobs([jid], timeout=20, async_dir=ctx.async_dir))[jid]

    status = arun(job())
    assert status["finished"] and status["picked"] == "pgtest_svc", status


# --------------------------------------------------------------------------- reboot


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("reboot-ssh")
    keys = fixture.make_keys(folder)
    server = fixture.SSHD(keys, name="reboot").start()
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


def test_reboot_waits_for_a_new_boot_id_then_the_test_command(
    arun: Run[Any], site: Path, lab: dict[str, Any]
) -> None:
    boot = site / "boot_id"
    boot.write_text("first\n")
    args = {
        "boot_time_command": f"cat {boot}",
        # A "reboot" that only changes the boot id, two seconds later.
        "reboot_command": f"/bin/sh -c '(sleep 2; echo second > {boot}) >/dev/null 2>&1 &'",
        "test_command": f"test -s {boot}",
        "reboot_timeout": 30,
    }

    async def go(args: Mapping[str, Any], **kw: Any) -> dict[str, Any]:
        conn = SSHConnection("node", lab)
        try:
            return await _run(_ctx(conn, site, "reboot", args, **kw))
        finally:
            await conn.close()

    start = time.monotonic()
    result = arun(go(args))
    assert result["rebooted"] and result["changed"] and not result.get("failed"), result
    assert 1.5 < time.monotonic() - start < 20 and boot.read_text() == "second\n"
    # The boot id never changes: ansible-core's timeout failure.
    stuck = arun(go({**args, "reboot_command": "/bin/true", "reboot_timeout": 2}))
    assert stuck == {
        "failed": True,
        "rebooted": True,
        "changed": False,
        "msg": "Timed out waiting for last boot time check (timeout=2)",
        "elapsed": stuck["elapsed"],
    }
    broken = arun(go({**args, "boot_time_command": "exit 3"}))
    assert broken["failed"] and broken["msg"].startswith(
        "reboot: failed to get host boot time info, rc: 3"
    )
    assert arun(go({**args, "bogus": 1}))["msg"] == "Invalid options for reboot: bogus"
    assert arun(go(args, check_mode=True)) == {"changed": True, "elapsed": 0, "rebooted": True}
    local = arun(_run(_ctx(LocalConnection(idle_exit=5), site, "reboot", args)))
    assert local["failed"] and local["msg"] == (
        "Running reboot with local connection would reboot the control node."
    )


# --------------------------------------------------------------------------- through `playgraph run`


def test_role_library_and_validate_argument_spec_through_run(site: Path) -> None:
    role = site / "roles" / "pgtest_role"
    (role / "tasks").mkdir(parents=True)
    (role / "library").mkdir()
    (role / "library" / "pgtest_rolemod.py").write_text(ROLE_MODULE)
    (role / "files").mkdir()
    (role / "files" / "motd.txt").write_text("from the role\n")
    (role / "templates").mkdir()
    (role / "templates" / "app.conf.j2").write_text("port={{ port }}\n")
    (role / "tasks" / "main.yml").write_text(
        "- name: role module\n  pgtest_rolemod:\n    word: hi\n"
        "- name: role file\n  copy:\n    src: motd.txt\n    dest: '{{ playbook_dir }}/motd'\n"
        "- name: role template\n  template:\n    src: app.conf.j2\n"
        "    dest: '{{ playbook_dir }}/app.conf'\n"
    )
    (site / "play.yml").write_text(
        """
- hosts: all
  gather_facts: false
  vars:
    port: "80"
  roles: [pgtest_role]
  tasks:
    - name: spec passes
      validate_argument_spec:
        argument_spec:
          port: {type: int, required: true}
    - name: spec fails
      validate_argument_spec:
        argument_spec:
          name: {type: str, required: true}
        provided_arguments: {}
      ignore_errors: true
"""
    )
    (site / "inventory.ini").write_text(
        "h1 ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "playgraph", "run", "play.yml", "-i", "inventory.ini", "--json"],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip().startswith("{"), done.stderr
    document = json.loads(done.stdout)
    results = {
        entry["task"]["name"]: entry["hosts"]["h1"]
        for play in document["plays"]
        for entry in play["tasks"]
    }
    assert results["role module"]["said"] == "hi", results["role module"]
    # copy and template find their src in the role's files/ and templates/ too.
    assert (site / "motd").read_text() == "from the role\n", results["role file"]
    assert (site / "app.conf").read_text() == "port=80\n", results["role template"]
    assert results["spec passes"]["msg"] == "The arg spec validation passed"
    failed = results["spec fails"]
    assert failed["failed"] and failed["argument_errors"] == ["missing required arguments: name"], (
        failed
    )
