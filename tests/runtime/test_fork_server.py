"""The warm module server (`ansible_modules.forkserver`, ``ansible_runner.py --serve``).

Real modules (ansible-core's, and small ones in a ``library/``), real processes, the
local connection and a real sshd on loopback.  Each call through the server must
give what the per-call path gives (crashes included), reuse one interpreter per
target, and leave no process behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playgraph.runtime import ansible_modules
from playgraph.runtime.ansible_modules import forkserver
from playgraph.runtime.connection.local import LocalConnection
from playgraph.runtime.connection.ssh import SSHConnection
from playgraph.runtime.modules.base import ModuleFailure, TaskContext

from . import sshd as fixture

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]

pytestmark = pytest.mark.e2e

ORACLE = Path(os.environ.get("PLAYGRAPH_ORACLE", Path(__file__).parents[2] / ".oracle" / "venv"))
COLLECTIONS = next(iter(sorted(ORACLE.glob("lib/python3*/site-packages"))), ORACLE)

WHO = """\
#!/usr/bin/python
import os, time
from ansible.module_utils.basic import AnsibleModule

def main():
    module = AnsibleModule(
        argument_spec=dict(sleep=dict(type="float", default=0), pidfile=dict(type="str")),
        supports_check_mode=True,
    )
    if module.params["pidfile"]:
        with open(module.params["pidfile"], "w") as f:
            f.write(str(os.getpid()))
    time.sleep(module.params["sleep"])
    module.exit_json(
        changed=not module.check_mode, pid=os.getpid(), ppid=os.getppid(),
        env=os.environ.get("PGTEST_FS"), check=module.check_mode, cwd=os.getcwd(),
    )

if __name__ == "__main__":
    main()
"""

CRASH = """\
#!/usr/bin/python
import os, signal, sys
from ansible.module_utils.basic import AnsibleModule

def main():
    module = AnsibleModule(argument_spec=dict(how=dict(type="str")))
    how = module.params["how"]
    print("partial output")
    sys.stderr.write("some words on stderr\\n")
    if how == "raise":
        raise RuntimeError("boom")
    if how == "exit":
        sys.stdout.flush()
        os._exit(3)
    if how == "kill":
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "sysexit":
        sys.exit("bad things")

if __name__ == "__main__":
    main()
"""


@pytest.fixture(autouse=True)
def _collections(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (COLLECTIONS / "ansible_collections" / "community" / "general").is_dir(), (
        f"no collections under {COLLECTIONS}: run scripts/test (it installs the oracle)"
    )
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    library = tmp_path / "library"
    library.mkdir()
    (library / "pgtest_fs_who.py").write_text(WHO)
    (library / "pgtest_fs_crash.py").write_text(CRASH)
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes (its parent reaps it).
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not _alive(pid)


def _server_pids() -> list[int]:
    return [s.pid for s in forkserver.servers()]


# --------------------------------------------------------------------------- local


def test_one_server_many_calls_concurrent_env_check_mode(arun: Run[Any], site: Path) -> None:
    conn = LocalConnection()
    other = LocalConnection("other")  # another alias of this machine shares the server

    async def main() -> tuple[list[dict[str, Any]], list[int]]:
        try:
            first = await _run(_ctx(conn, site, "pgtest_fs_who", {}))
            started = time.monotonic()
            many = await asyncio.gather(
                *(
                    _run(
                        _ctx(
                            conn if i % 2 else other,
                            site,
                            "pgtest_fs_who",
                            {"sleep": 1},
                            environment={"PGTEST_FS": f"v{i}"},
                            check_mode=i == 3,
                        )
                    )
                    for i in range(4)
                )
            )
            took = time.monotonic() - started
            assert took < 3.5, f"4 calls of 1 s each took {took:.1f} s: not concurrent"
            lines = await _run(
                _ctx(
                    conn, site, "lineinfile", {"path": str(site / "f"), "line": "x", "create": True}
                )
            )
            return [first, *many, lines], _server_pids()
        finally:
            await conn.close()
            await other.close()

    results, pids = arun(main())
    assert len(pids) == 1
    server = pids[0]
    who = results[:5]
    assert all(r["ppid"] == server for r in who), who
    assert len({r["pid"] for r in who}) == 5
    assert [r["env"] for r in who] == [None, "v0", "v1", "v2", "v3"]
    assert [r["check"] for r in who] == [False, False, False, False, True]
    assert who[4]["changed"] is False and who[1]["changed"] is True
    assert who[0]["cwd"] == os.getcwd()  # where a per-call module runs
    assert results[5]["changed"] is True and (site / "f").read_text() == "x\n"
    assert _wait_gone(server), "the server outlived its connection"


@pytest.mark.parametrize("how", ["raise", "exit", "kill", "sysexit"])
def test_a_crash_is_reported_as_the_per_call_path_does(
    arun: Run[Any], site: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = LocalConnection()

    async def both() -> tuple[dict[str, Any], dict[str, Any], list[int]]:
        try:
            served = await _run(_ctx(conn, site, "pgtest_fs_crash", {"how": how}))
            pids = _server_pids()
            with monkeypatch.context() as m:
                m.setattr(forkserver, "usable", lambda ctx: False)
                alone = await _run(_ctx(conn, site, "pgtest_fs_crash", {"how": how}))
            return served, alone, pids
        finally:
            await conn.close()

    served, alone, pids = arun(both())
    assert len(pids) == 1, "the call did not go through a server"
    if how == "raise":
        # The traceback's file paths name each runner's payload folder.
        served["exception"]["event"].pop("formatted_traceback", None)
        alone["exception"]["event"].pop("formatted_traceback", None)
    assert served == alone
    assert served["failed"] is True
    if how == "kill":
        assert served["rc"] == -signal.SIGKILL
    if how == "exit":
        assert served["rc"] == 3 and "partial output" in served["module_stdout"]


def test_a_killed_server_fails_the_call_in_flight_and_is_replaced(
    arun: Run[Any], site: Path
) -> None:
    conn = LocalConnection()
    pidfile = site / "call.pid"

    async def main() -> tuple[dict[str, Any], dict[str, Any], int, int, int]:
        try:
            await _run(_ctx(conn, site, "pgtest_fs_who", {}))
            (first,) = _server_pids()
            call = asyncio.ensure_future(
                _run(_ctx(conn, site, "pgtest_fs_who", {"sleep": 30, "pidfile": str(pidfile)}))
            )
            deadline = time.monotonic() + 20
            while not pidfile.exists() or not pidfile.read_text():
                assert time.monotonic() < deadline, "the call never started"
                await asyncio.sleep(0.02)
            child = int(pidfile.read_text())
            os.kill(first, signal.SIGKILL)
            lost = await asyncio.wait_for(call, 20)
            after = await _run(_ctx(conn, site, "pgtest_fs_who", {}))
            return lost, after, first, child, after["ppid"]
        finally:
            await conn.close()

    lost, after, first, child, second = arun(main())
    assert lost["failed"] is True and "module server" in lost["msg"], lost
    assert after["changed"] is True and second != first
    assert _wait_gone(child), "the call outlived its killed server"
    assert _wait_gone(second)


def test_a_cancelled_call_kills_its_process_group(arun: Run[Any], site: Path) -> None:
    conn = LocalConnection()
    pidfile = site / "call.pid"

    async def main() -> tuple[int, float]:
        try:
            await _run(_ctx(conn, site, "pgtest_fs_who", {}))
            ctx = _ctx(conn, site, "pgtest_fs_who", {"sleep": 30, "pidfile": str(pidfile)})
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(_run(ctx), 3)
            took = time.monotonic() - started
            (server,) = _server_pids()
            return server, took
        finally:
            await conn.close()

    server, took = arun(main())
    child = int(pidfile.read_text())
    assert not _alive(child), "the cancelled call's process is still running"
    assert took < 10
    assert _wait_gone(server)


def test_calls_of_a_new_payload_wait_briefly_for_its_first(arun: Run[Any], site: Path) -> None:
    """The first call of a payload new to the server runs alone (it compiles the bytecode
    the others then load), but a long first call holds the others back only briefly; a
    call cancelled while it waits never starts."""
    (site / "library" / "pgtest_fs_who.py").write_text(WHO + f"# {uuid.uuid4()}\n")
    conn = LocalConnection()
    never = site / "never.pid"

    async def timed(args: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        result = await _run(_ctx(conn, site, "pgtest_fs_who", args))
        return time.monotonic(), result

    async def main() -> tuple[float, list[tuple[float, dict[str, Any]]]]:
        try:
            started = time.monotonic()
            first = asyncio.ensure_future(timed({"sleep": 6}))
            await asyncio.sleep(0.05)
            cancelled = asyncio.ensure_future(timed({"pidfile": str(never)}))
            others = [asyncio.ensure_future(timed({})) for _ in range(2)]
            await asyncio.sleep(0.1)
            cancelled.cancel()
            with pytest.raises(asyncio.CancelledError):
                await cancelled
            return started, list(await asyncio.gather(first, *others))
        finally:
            await conn.close()

    started, ((first_done, first), *others) = arun(main())
    assert first["changed"] is True
    for done, result in others:
        assert result["changed"] is True and result["ppid"] == first["ppid"]
        assert done - started < 4.5, "a long first call held the others back"
        assert done < first_done
    time.sleep(0.5)
    assert not never.exists(), "a call cancelled before it started ran anyway"


class NoServer(LocalConnection):
    """A server that cannot start: its command says something else than hello."""

    opened = 0

    async def open_stream(self, argv: Any) -> Any:
        type(self).opened += 1
        return await super().open_stream(["/bin/sh", "-c", "echo not a server; exit 3"])


def test_a_server_that_cannot_start_leaves_calls_to_the_per_call_path(
    arun: Run[Any], site: Path
) -> None:
    conn = NoServer()
    NoServer.opened = 0

    async def main() -> tuple[list[dict[str, Any]], list[int]]:
        try:
            results = [await _run(_ctx(conn, site, "pgtest_fs_who", {})) for _ in range(3)]
            return results, _server_pids()
        finally:
            await conn.close()

    results, pids = arun(main())
    assert pids == []
    assert all(r["changed"] is True for r in results), results
    assert {r["ppid"] for r in results} == {os.getpid()}  # each a process of its own
    assert NoServer.opened == 1, "a failed start is retried only later"


def test_become_and_interpreter_settings_take_the_per_call_path(site: Path) -> None:
    conn = LocalConnection()
    assert forkserver.usable(_ctx(conn, site, "x", {}))
    assert not forkserver.usable(_ctx(conn, site, "x", {}, environment={"PYTHONPATH": "/x"}))
    assert not forkserver.usable(_ctx(conn, site, "x", {}, environment={"LC_ALL": "C"}))


# --------------------------------------------------------------------------- ssh


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("forkserver-ssh")
    keys = fixture.make_keys(folder)
    server = fixture.SSHD(keys, name="forkserver").start()
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


def test_ssh_one_server_per_target_payload_sent_once(
    arun: Run[Any], site: Path, lab: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A module of its own: its payload is new to the target's cache.
    (site / "library" / "pgtest_fs_who.py").write_text(WHO + f"# {uuid.uuid4()}\n")
    puts: list[str] = []
    real_put = forkserver.ForkServer._put

    async def counted(self: forkserver.ForkServer, path: str, data: bytes) -> None:
        puts.append(path)
        await real_put(self, path, data)

    monkeypatch.setattr(forkserver.ForkServer, "_put", counted)

    async def main() -> tuple[list[dict[str, Any]], list[int]]:
        one = SSHConnection("node1", lab)
        two = SSHConnection("node2", lab)
        try:
            results = await asyncio.gather(
                *(
                    _run(
                        _ctx(
                            one if i % 2 else two,
                            site,
                            "pgtest_fs_who",
                            {},
                            environment={"PGTEST_FS": str(i)},
                        )
                    )
                    for i in range(6)
                )
            )
            crash = await _run(_ctx(one, site, "pgtest_fs_crash", {"how": "exit"}))
            return [*results, crash], _server_pids()
        finally:
            await one.close()
            await two.close()

    results, _pids = arun(main())
    who, crash = results[:6], results[6]
    parents = {r["ppid"] for r in who}
    assert len(parents) == 1, f"{len(parents)} servers for one target"
    assert [r["env"] for r in who] == [str(i) for i in range(6)]
    assert who[0]["cwd"] == os.path.expanduser("~")  # the login's home, as per call
    assert crash["failed"] is True and crash["rc"] == 3
    assert len([p for p in puts if p.endswith("/pgtest_fs_who.zip")]) == 1, puts
    assert _wait_gone(parents.pop()), "the server outlived its SSH connection"
