"""The modules against real processes and real files, through `LocalConnection`.

Expected results are ansible-core 2.19's, checked in throwaway runs of
``ansible-playbook`` with the ``ansible.posix.json`` callback (keys the
callback itself adds — ``action``, ``_ansible_no_log``, and the
``exception`` traceback placeholder — are not part of a module's result).
Package tests make no network access: apt only looks at installed packages
and simulates (check mode); dnf runs against a fake ``dnf``/``rpm`` pair put
first on PATH through the task's environment.
"""

from __future__ import annotations

import asyncio
import grp
import hashlib
import importlib.util
import os
import pwd
import re
import shutil
import socket
import stat
import sys
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playgraph.runtime.connection.base import CommandResult
from playgraph.runtime.connection.local import LocalConnection
from playgraph.runtime.jobs import new_jid
from playgraph.runtime.jobspec import Become, JobSpec
from playgraph.runtime.modules import get_module, module_names, remote
from playgraph.runtime.modules.base import ModuleFailure, TaskContext
from playgraph.runtime.modules.transfer import INLINE_MAX
from playgraph.runtime.templating import Templar

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]

pytestmark = pytest.mark.e2e

DATA = Path(__file__).parent / "data" / "modules"
TARGET_DIR = Path(remote.__file__).resolve().parent.parent / "target" / "modules"
PY38 = Path("/root/.pyenv/versions/3.8.18/bin/python3.8")


# --------------------------------------------------------------------------- helpers


class Runner:
    """Builds task contexts for one test and runs modules (sync or as jobs)."""

    def __init__(self, arun: Run[Any], tmp: Path, async_dir: Path) -> None:
        self.arun = arun
        self.tmp = tmp
        self.async_dir = async_dir
        self.conn: Any = LocalConnection(idle_exit=5)

    def ctx(self, action: str, args: Mapping[str, Any], **kw: Any) -> TaskContext:
        kw.setdefault("base_dir", str(DATA))
        kw.setdefault("async_dir", str(self.async_dir))
        kw.setdefault("conn", self.conn)
        return TaskContext(host="localhost", action=f"ansible.builtin.{action}", args=args, **kw)

    async def _run(self, ctx: TaskContext) -> dict[str, Any]:
        module = get_module(ctx.action)
        assert module is not None
        try:
            return await module.run(ctx)
        except ModuleFailure as exc:
            return exc.result

    def __call__(self, action: str, args: Mapping[str, Any], **kw: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.arun(self._run(self.ctx(action, args, **kw)))
        return result

    def job(
        self, action: str, args: Mapping[str, Any], *, limit: float = 30, **kw: Any
    ) -> dict[str, Any]:
        """Run the module's `JobSpec` through the real supervisor; its final status record."""
        ctx = self.ctx(action, args, **kw)
        module = get_module(action)
        assert module is not None and module.supports_async
        jid = new_jid()
        spec = module.job(ctx, jid, limit)
        assert spec.jid == jid and spec.limit == limit

        async def go() -> dict[str, Any]:
            launch = await self.conn.start_job(spec)
            assert launch["ansible_job_id"] == jid and launch["started"] == 1
            for _ in range(100):
                status = await self.conn.wait_jobs([jid], timeout=5, async_dir=str(self.async_dir))
                record = status[jid]
                assert record is not None
                if record["finished"]:
                    return dict(record)
            raise AssertionError("job did not finish")

        result: dict[str, Any] = self.arun(go())
        return result


@pytest.fixture
def run(arun: Run[Any], tmp_path: Path, async_dir: Path) -> Runner:
    return Runner(arun, tmp_path, async_dir)


def without_times(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in ("start", "end", "delta")}


STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?$")
DELTA = re.compile(r"^\d+:\d\d:\d\d(\.\d{6})?$")


def assert_times(result: dict[str, Any]) -> None:
    assert STAMP.match(result["start"]) and STAMP.match(result["end"])
    assert DELTA.match(result["delta"])


def me() -> tuple[str, str]:
    return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name


# --------------------------------------------------------------------------- registry


def test_registry_names_fqcns_and_async_support() -> None:
    expected = {
        "command": True,
        "shell": True,
        "raw": False,
        "script": False,
        "ping": True,
        "stat": True,
        "file": True,
        "copy": False,
        "template": False,
        "lineinfile": True,
        "wait_for": True,
        "apt": True,
        "dnf": True,
        "yum": True,
        "package": True,
    }
    assert set(module_names()) == set(expected)
    for name, supports in expected.items():
        module = get_module(name)
        assert module is not None and name in module.names
        assert module.supports_async is supports, name
        assert get_module(f"ansible.builtin.{name}") is module
        assert get_module(f"ansible.legacy.{name}") is module
    assert get_module("community.general.apt") is None
    assert get_module("nosuchmodule") is None


@pytest.mark.parametrize("action", ["raw", "script", "copy", "template"])
def test_actions_without_async_refuse_a_job(run: Runner, action: str) -> None:
    module = get_module(action)
    assert module is not None
    with pytest.raises(ModuleFailure) as info:
        module.job(run.ctx(action, {"_raw_params": "true"}), new_jid(), 10)
    assert info.value.result == {
        "failed": True,
        "changed": False,
        "msg": f"This action ({action}) does not support async.",
    }


# --------------------------------------------------------------------------- command / shell


def test_command_success_shape(run: Runner) -> None:
    r = run("command", {"_raw_params": "echo hi there"})
    assert_times(r)
    assert without_times(r) == {
        "changed": True,
        "cmd": ["echo", "hi", "there"],
        "rc": 0,
        "stdout": "hi there",
        "stderr": "",
        "stdout_lines": ["hi there"],
        "stderr_lines": [],
        "msg": "",
    }


def test_command_nonzero_rc_fails(run: Runner) -> None:
    r = run("command", {"_raw_params": "sh -c 'echo out; echo err >&2; exit 3'"})
    assert without_times(r) == {
        "changed": True,
        "cmd": ["sh", "-c", "echo out; echo err >&2; exit 3"],
        "rc": 3,
        "stdout": "out",
        "stderr": "err",
        "stdout_lines": ["out"],
        "stderr_lines": ["err"],
        "msg": "non-zero return code",
        "failed": True,
    }


@pytest.mark.parametrize(
    ("raw", "program"),
    [("nonexistentcmd bar", "nonexistentcmd"), ("/nonexistent/foo bar", "/nonexistent/foo")],
)
def test_command_missing_executable(run: Runner, raw: str, program: str) -> None:
    r = run("command", {"_raw_params": raw})
    assert r == {
        "changed": False,
        "failed": True,
        "rc": 2,
        "cmd": raw,
        "msg": "Error executing command.",
        "stdout": "",
        "stderr": "",
        "stdout_lines": [],
        "stderr_lines": [],
        "exception": f"[Errno 2] No such file or directory: {program.encode()!r}",
    }


def test_command_creates_and_removes_short_circuit(run: Runner, tmp_path: Path) -> None:
    marker = tmp_path / "made"
    args = {"_raw_params": f"touch {marker}", "creates": str(marker)}
    first = run("command", args)
    assert first["changed"] is True and first["rc"] == 0 and marker.exists()
    second = run("command", args)
    assert second == {
        "changed": False,
        "cmd": ["touch", str(marker)],
        "rc": 0,
        "stdout": f"skipped, since {marker} exists",
        "stderr": "",
        "stdout_lines": [f"skipped, since {marker} exists"],
        "stderr_lines": [],
        "msg": f"Did not run command since '{marker}' exists",
        "start": None,
        "end": None,
        "delta": None,
    }
    # removes: a glob, as in ansible
    glob = str(tmp_path / "ma*")
    assert run("command", {"_raw_params": "true", "removes": glob})["changed"] is True
    gone = str(tmp_path / "nothing-*")
    skipped = run("command", {"_raw_params": "true", "removes": gone})
    assert skipped["changed"] is False
    assert skipped["msg"] == f"Did not run command since '{gone}' does not exist"
    assert skipped["stdout"] == f"skipped, since {gone} does not exist"


def test_command_chdir_stdin_and_strip(run: Runner, tmp_path: Path) -> None:
    assert run("command", {"_raw_params": "pwd", "chdir": str(tmp_path)})["stdout"] == str(tmp_path)
    # creates is relative to chdir, as in ansible (it chdirs first)
    (tmp_path / "here").touch()
    rel = run("command", {"_raw_params": "false", "chdir": str(tmp_path), "creates": "here"})
    assert rel["changed"] is False and rel["rc"] == 0
    missing = run("command", {"_raw_params": "pwd", "chdir": str(tmp_path / "nope")})
    assert missing == {
        "changed": False,
        "failed": True,
        "cmd": ["pwd"],
        "rc": None,
        "stdout": "",
        "stderr": "",
        "stdout_lines": [],
        "stderr_lines": [],
        "msg": "Unable to change directory before execution.",
        "start": None,
        "end": None,
        "delta": None,
    }
    assert run("command", {"_raw_params": "od -c", "stdin": "hi"})["stdout"].startswith(
        "0000000   h   i  \\n"
    )
    no_nl = run("command", {"_raw_params": "od -c", "stdin": "hi", "stdin_add_newline": False})
    assert "\\n" not in no_nl["stdout"]
    kept = run("command", {"_raw_params": r"printf 'a\n\n\n'", "strip_empty_ends": False})
    assert kept["stdout"] == "a\n\n\n" and kept["stdout_lines"] == ["a", "", ""]


def test_command_argv_cmd_and_target_side_expansion(run: Runner) -> None:
    assert run("command", {"argv": ["echo", "a b", "c"]})["cmd"] == ["echo", "a b", "c"]
    assert run("command", {"cmd": "echo cmd"})["stdout"] == "cmd"
    # ~ and $VARS are expanded on the target, in the argv (ansible's expand_argument_vars)
    home = os.path.expanduser("~")
    r = run("command", {"_raw_params": "echo $HOME ~ '$HOME' \"$PG_NOPE_UNSET\""})
    assert r["stdout"] == f"{home} {home} {home} $PG_NOPE_UNSET"
    assert r["cmd"] == ["echo", "$HOME", "~", "$HOME", "$PG_NOPE_UNSET"]
    plain = run("command", {"_raw_params": "echo $HOME", "expand_argument_vars": False})
    assert plain["stdout"] == "$HOME"
    env = run("command", {"_raw_params": "sh -c 'echo $PG_X'"}, environment={"PG_X": "from-env"})
    assert env["stdout"] == "from-env"
    warned = run("command", {"_raw_params": "true", "executable": "/bin/bash"})
    assert warned["warnings"] == [
        "As of Ansible 2.4, the parameter 'executable' is no longer supported with the"
        " 'command' module. Not using '/bin/bash'."
    ]


def test_command_argument_errors(run: Runner) -> None:
    assert run("command", {}) == {
        "failed": True,
        "changed": False,
        "msg": "one of the following is required: _raw_params, cmd, argv",
    }
    assert run("command", {"cmd": "echo", "argv": ["echo"]})["msg"] == (
        "parameters are mutually exclusive: _raw_params|cmd|argv"
    )
    assert run("command", {"_raw_params": "echo", "bogus": 1})["msg"] == (
        "Unsupported parameters for (ansible.legacy.command) module: bogus. Supported parameters"
        " include: _raw_params, _uses_shell, argv, chdir, cmd, creates, executable,"
        " expand_argument_vars, removes, stdin, stdin_add_newline, strip_empty_ends."
    )


def test_command_check_mode(run: Runner, tmp_path: Path) -> None:
    marker = tmp_path / "never"
    r = run("command", {"_raw_params": f"touch {marker}"}, check_mode=True)
    assert not marker.exists()
    assert r == {
        "changed": False,
        "skipped": True,
        "cmd": ["touch", str(marker)],
        "rc": 0,
        "stdout": "",
        "stderr": "",
        "stdout_lines": [],
        "stderr_lines": [],
        "msg": "Command would have run if not in check mode",
        "start": None,
        "end": None,
        "delta": None,
    }
    with_creates = run("command", {"_raw_params": "true", "creates": str(marker)}, check_mode=True)
    assert with_creates["changed"] is True and "skipped" not in with_creates
    assert with_creates["msg"] == "Command would have run if not in check mode"
    would_not = run("command", {"_raw_params": "true", "creates": "/"}, check_mode=True)
    assert would_not["msg"] == "Would not run command since '/' exists"


def test_shell(run: Runner, tmp_path: Path) -> None:
    r = run("shell", {"_raw_params": "echo a | tr a b; echo c >&2"})
    assert_times(r)
    assert without_times(r) == {
        "changed": True,
        "cmd": "echo a | tr a b; echo c >&2",
        "rc": 0,
        "stdout": "b",
        "stderr": "c",
        "stdout_lines": ["b"],
        "stderr_lines": ["c"],
        "msg": "",
    }
    assert run("shell", {"_raw_params": "echo $0", "executable": "/bin/bash"})["stdout"] == (
        "/bin/bash"
    )
    missing = run("shell", {"_raw_params": "nonexistentcmd"})
    assert missing["rc"] == 127 and missing["failed"] is True
    assert missing["msg"] == "non-zero return code"
    marker = tmp_path / "m"
    args = {"_raw_params": f"echo x > {marker}", "creates": str(marker)}
    assert run("shell", args)["changed"] is True
    again = run("shell", args)
    assert again["changed"] is False and again["cmd"] == f"echo x > {marker}"
    refused = run("shell", {"_raw_params": "true", "expand_argument_vars": True})
    assert refused["msg"] == "Unsupported parameters for (shell) module: expand_argument_vars"


def test_raw(run: Runner) -> None:
    assert run("raw", {"_raw_params": "echo raw; exit 0"}) == {
        "changed": True,
        "rc": 0,
        "stdout": "raw\n",
        "stderr": "",
        "stdout_lines": ["raw"],
        "stderr_lines": [],
    }
    failed = run("raw", {"_raw_params": "echo raw; exit 4"})
    assert failed["failed"] is True and failed["rc"] == 4
    assert failed["msg"] == "non-zero return code"
    assert run("raw", {"_raw_params": "exit 1"}, check_mode=True) == {
        "changed": False,
        "skipped": True,
    }
    warned = run("raw", {"_raw_params": "true"}, environment={"A": "1"})
    assert warned["warnings"] == ["raw module does not support the environment keyword"]


def test_script(run: Runner, tmp_path: Path) -> None:
    tmp_dirs = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("playgraph-script.*"))
    r = run("script", {"_raw_params": "hello.sh a 'b c'", "chdir": str(tmp_path)})
    assert r == {
        "changed": True,
        "rc": 0,
        "stdout": f"args: a b c\ncwd: {tmp_path}\n",
        "stderr": "to stderr\n",
        "stdout_lines": ["args: a b c", f"cwd: {tmp_path}"],
        "stderr_lines": ["to stderr"],
    }
    failed = run("script", {"_raw_params": "hello.sh"}, environment={"HELLO_EXIT": "3"})
    assert failed["rc"] == 3 and failed["failed"] is True
    assert failed["msg"] == "non-zero return code"
    assert run("script", {"_raw_params": "hello.sh", "creates": "/"}) == {
        "changed": False,
        "skipped": True,
        "msg": "/ exists, matching creates option",
    }
    assert run("script", {"_raw_params": "hello.sh", "removes": str(tmp_path / "x")}) == {
        "changed": False,
        "skipped": True,
        "msg": f"{tmp_path / 'x'} does not exist, matching removes option",
    }
    assert run("script", {"_raw_params": "hello.sh"}, check_mode=True) == {
        "changed": False,
        "skipped": True,
        "msg": "Check mode is not supported for this task.",
    }
    missing = run("script", {"_raw_params": "nosuch.sh"})
    assert missing["msg"] == (
        f"Could not find or access 'nosuch.sh'\nSearched in:\n\t{DATA}/files/nosuch.sh\n"
        f"\t{DATA}/nosuch.sh on the Ansible Controller.\nIf you are using a module and expect"
        " the file to exist on the remote, see the remote_src option"
    )
    relative = run("script", {"_raw_params": "hello.sh", "chdir": "rel"})
    assert relative["msg"] == "chdir rel must be an absolute path for a Unix-aware remote node"
    # creates/removes are decided before the script is even looked for, as in ansible
    assert run("script", {"_raw_params": "nosuch.sh", "creates": "/"})["skipped"] is True
    leftovers = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("playgraph-script.*"))
    assert leftovers <= tmp_dirs  # every temp dir was removed, also after failures


def test_command_and_shell_jobs_through_the_supervisor(run: Runner, tmp_path: Path) -> None:
    r = run.job("command", {"_raw_params": "echo hi"})
    assert r["finished"] == 1 and r["stdout"] == "hi" and r["rc"] == 0
    assert r["cmd"] == ["echo", "hi"] and r["changed"] is True
    assert r["stdout_lines"] == ["hi"] and r["msg"] == ""
    # a plain command job needs no target python: the supervisor runs argv itself
    spec = get_module("command").job(  # type: ignore[union-attr]
        run.ctx("command", {"_raw_params": "echo hi", "chdir": str(tmp_path)}), "j1.1", 5
    )
    assert spec.argv == ["echo", "hi"] and spec.result == "command"
    assert spec.cwd == str(tmp_path)
    failed = run.job("shell", {"_raw_params": "echo out; exit 3"})
    assert failed["failed"] is True and failed["rc"] == 3
    assert failed["msg"] == "non-zero return code"
    # creates is decided inside the job (the whole module runs there, as in ansible)
    marker = tmp_path / "made"
    args = {"_raw_params": f"echo made > {marker}", "creates": str(marker)}
    creates_spec = get_module("shell").job(run.ctx("shell", args), "j2.1", 5)  # type: ignore[union-attr]
    assert creates_spec.result == "json"
    first = run.job("shell", args)
    assert first["changed"] is True and marker.read_text() == "made\n"
    second = run.job("shell", args)
    assert second["changed"] is False and second["finished"] == 1
    assert second["msg"] == f"Did not run command since '{marker}' exists"
    checked = run.job("command", {"_raw_params": "echo hi"}, check_mode=True)
    assert checked["skipped"] is True
    assert checked["msg"] == "Command would have run if not in check mode"
    stdin = run.job("command", {"_raw_params": "cat", "stdin": "fed"})
    assert stdin["stdout"] == "fed"


# --------------------------------------------------------------------------- ping


def test_ping(run: Runner) -> None:
    assert run("ping", {}) == {"changed": False, "ping": "pong"}
    assert run("ping", {"data": "foo"}) == {"changed": False, "ping": "foo"}
    crash = run("ping", {"data": "crash"})
    assert crash["failed"] is True and crash["msg"] == "Task failed: Module failed: boom"
    assert "Exception: boom" in crash["exception"]
    job = run.job("ping", {})
    assert job["ping"] == "pong" and job["finished"] == 1


# --------------------------------------------------------------------------- stat


def test_stat(run: Runner, tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("hello\n")
    os.chmod(f, 0o640)
    (tmp_path / "link").symlink_to("f.txt")
    r = run("stat", {"path": str(f)})
    assert r["changed"] is False
    s = r["stat"]
    user, group = me()
    assert s["exists"] is True and s["isreg"] is True and s["isdir"] is False
    assert s["islnk"] is False and s["mode"] == "0640" and s["size"] == 6
    assert s["uid"] == os.getuid() and s["gid"] == os.getgid()
    assert s["pw_name"] == user and s["gr_name"] == group
    assert s["checksum"] == hashlib.sha1(b"hello\n").hexdigest()
    assert s["mtime"] == pytest.approx(f.stat().st_mtime)
    assert s["readable"] is True and s["rusr"] is True and s["roth"] is False
    link = run("stat", {"path": str(tmp_path / "link")})["stat"]
    assert link["islnk"] is True and link["lnk_target"] == "f.txt"
    assert link["lnk_source"] == str(f) and "checksum" not in link
    followed = run("stat", {"path": str(tmp_path / "link"), "follow": True})["stat"]
    assert followed["isreg"] is True
    assert run("stat", {"path": str(tmp_path / "nope")}) == {
        "changed": False,
        "stat": {"exists": False},
    }
    quick = run(
        "stat",
        {"path": str(tmp_path), "get_checksum": False, "get_mime": False, "get_attributes": False},
    )["stat"]
    assert quick["isdir"] is True and "mimetype" not in quick and "attributes" not in quick
    sha256 = run("stat", {"path": str(f), "checksum_algorithm": "sha256"})["stat"]
    assert sha256["checksum"] == hashlib.sha256(b"hello\n").hexdigest()
    assert run("stat", {})["msg"] == "missing required arguments: path"


# --------------------------------------------------------------------------- file


def _info(path: Path, state: str, **extra: Any) -> dict[str, Any]:
    st_ = path.lstat()
    user, group = me()
    return {
        "uid": st_.st_uid,
        "gid": st_.st_gid,
        "owner": user,
        "group": group,
        "mode": f"0{stat.S_IMODE(st_.st_mode):03o}",
        "state": state,
        "size": st_.st_size,
        **extra,
    }


def test_file_directory_touch_and_modes(run: Runner, tmp_path: Path) -> None:
    d = tmp_path / "d"
    r = run("file", {"path": str(d), "state": "directory", "mode": "0750"})
    assert r == {"changed": True, "path": str(d), **_info(d, "directory")}
    assert r["mode"] == "0750"
    assert run("file", {"path": str(d), "state": "directory", "mode": "0750"})["changed"] is False
    nested = tmp_path / "a" / "b" / "c"
    assert run("file", {"path": str(nested), "state": "directory"})["changed"] is True
    assert nested.is_dir()
    t = tmp_path / "t"
    touched = run("file", {"path": str(t), "state": "touch", "mode": "u=rw,g=r,o="})
    assert touched == {"changed": True, "dest": str(t), **_info(t, "file")}
    assert touched["mode"] == "0640"
    # default state of an existing path is its current state; int modes are taken as is
    assert run("file", {"path": str(t), "mode": 0o600})["mode"] == "0600"
    assert run("file", {"path": str(t), "mode": "0600"})["changed"] is False
    assert run("file", {"path": str(t), "mode": "g+r"})["mode"] == "0640"
    assert run("file", {"path": str(t), "mode": "a+X"})["mode"] == "0640"  # X: dirs/x only
    assert run("file", {"path": str(d), "mode": "a+X"})["mode"] == "0751"
    bad = run("file", {"path": str(t), "mode": "abc"})
    assert bad == {
        "changed": False,
        "failed": True,
        "msg": "mode must be in octal or symbolic form",
        "details": "bad symbolic permission for mode: abc",
        "path": str(t),
        **_info(t, "file"),
    }
    user, group = me()
    assert run("file", {"path": str(t), "owner": user, "group": group})["changed"] is False
    nobody = run("file", {"path": str(t), "owner": "pg-no-such-user"})
    assert nobody["msg"] == "chown failed: failed to look up user pg-no-such-user"
    assert nobody["failed"] is True
    over = run("file", {"path": str(t), "state": "directory"})
    assert over["msg"] == f"{t} already exists as a file" and over["failed"] is True


def test_file_absent_links_recurse_and_errors(run: Runner, tmp_path: Path) -> None:
    t = tmp_path / "t"
    t.write_text("x")
    link = tmp_path / "l"
    made = run("file", {"src": str(t), "dest": str(link), "state": "link"})
    assert made == {"changed": True, "dest": str(link), "src": str(t), **_info(link, "link")}
    assert os.readlink(link) == str(t)
    assert run("file", {"src": str(t), "dest": str(link), "state": "link"})["changed"] is False
    hard = tmp_path / "h"
    r = run("file", {"src": str(t), "dest": str(hard), "state": "hard"})
    assert r["changed"] is True and r["state"] == "hard" and hard.stat().st_ino == t.stat().st_ino
    assert run("file", {"path": str(hard), "state": "absent"}) == {
        "changed": True,
        "path": str(hard),
        "state": "absent",
    }
    assert run("file", {"path": str(hard), "state": "absent"}) == {
        "changed": False,
        "path": str(hard),
        "state": "absent",
    }
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_text("")
    rec = run("file", {"path": str(tree), "state": "directory", "recurse": True, "mode": "0700"})
    assert rec["changed"] is True
    assert stat.S_IMODE((tree / "sub" / "f").stat().st_mode) == 0o700
    again = {"path": str(tree), "state": "directory", "recurse": True, "mode": "0700"}
    assert run("file", again)["changed"] is False
    assert run("file", {"path": str(tree), "state": "absent"})["changed"] is True
    assert not tree.exists()
    missing = tmp_path / "missing"
    assert run("file", {"path": str(missing), "state": "file"}) == {
        "changed": False,
        "failed": True,
        "msg": f"file ({missing}) is absent, cannot continue",
        "path": str(missing),
        "state": "absent",
    }
    dangling = run("file", {"src": str(tmp_path / "nosrc"), "dest": str(link), "state": "link"})
    assert dangling["msg"] == (
        "src file does not exist, use 'force=yes' if you really want to create the link: "
        f"{tmp_path / 'nosrc'}"
    )
    assert run("file", {"path": str(t), "state": "bogus"})["msg"] == (
        "value of state must be one of: absent, directory, file, hard, link, touch, got: bogus"
    )
    assert run("file", {"path": str(t), "recurse": "maybe"})["msg"].startswith(
        "argument 'recurse' is of type str and we were unable to convert to bool: The value"
        " 'maybe' is not a valid boolean."
    )
    assert run("file", {"path": str(t), "bogus": 1})["msg"] == (
        "Unsupported parameters for (file) module: bogus. Supported parameters include:"
        " _diff_peek, _original_basename, access_time, access_time_format, attributes, follow,"
        " force, group, mode, modification_time, modification_time_format, owner, path,"
        " recurse, selevel, serole, setype, seuser, src, state, unsafe_writes (attr, dest,"
        " name)."
    )


def test_file_check_mode_and_diff(run: Runner, tmp_path: Path) -> None:
    d = tmp_path / "d"
    assert run("file", {"path": str(d), "state": "directory"}, check_mode=True) == {
        "changed": True,
        "path": str(d),
    }
    assert not d.exists()
    t = tmp_path / "t"
    t.write_text("")
    os.chmod(t, 0o644)
    r = run("file", {"path": str(t), "mode": "0600"}, check_mode=True, diff=True)
    assert r["changed"] is True and stat.S_IMODE(t.stat().st_mode) == 0o644
    assert r["diff"] == {
        "before": {"path": str(t), "mode": "0644"},
        "after": {"path": str(t), "mode": "0600"},
    }
    gone = run("file", {"path": str(t), "state": "absent"}, check_mode=True)
    assert gone["changed"] is True and t.exists()
    job = run.job("file", {"path": str(d), "state": "directory"})
    assert job["changed"] is True and job["finished"] == 1 and d.is_dir()


# --------------------------------------------------------------------------- copy / template


def test_copy_content_idempotence_mode_and_backup(run: Runner, tmp_path: Path) -> None:
    dest = tmp_path / "c.txt"
    first = run("copy", {"content": "abc\n", "dest": str(dest), "mode": "0640"})
    assert first == {
        "changed": True,
        "checksum": hashlib.sha1(b"abc\n").hexdigest(),
        "md5sum": hashlib.md5(b"abc\n").hexdigest(),
        "dest": str(dest),
        "src": first["src"],
        "diff": [],
        **_info(dest, "file"),
    }
    assert first["mode"] == "0640" and dest.read_text() == "abc\n"
    assert not Path(first["src"]).exists()  # the temp file was renamed into place
    second = run("copy", {"content": "abc\n", "dest": str(dest), "mode": "0640"})
    assert second == {
        "changed": False,
        "checksum": first["checksum"],
        "dest": str(dest),
        "path": str(dest),
        "diff": [],
        **_info(dest, "file"),
    }
    mode_only = run("copy", {"content": "abc\n", "dest": str(dest), "mode": "0600"})
    assert mode_only["changed"] is True and mode_only["mode"] == "0600"
    backed = run("copy", {"content": "abcd\n", "dest": str(dest), "backup": True})
    backup = Path(backed["backup_file"])
    assert backup.read_text() == "abc\n" and dest.read_text() == "abcd\n"
    assert re.fullmatch(
        rf"{re.escape(str(dest))}\.\d+\.\d{{4}}-\d\d-\d\d@\d\d:\d\d:\d\d~", str(backup)
    )
    assert backed["mode"] == "0600"  # an existing file keeps its mode
    kept = run("copy", {"content": "zzz\n", "dest": str(dest), "force": False})
    assert kept["changed"] is False and dest.read_text() == "abcd\n"


def test_copy_src_big_files_and_errors(run: Runner, tmp_path: Path) -> None:
    into = tmp_path / "dir"
    r = run("copy", {"src": "plain.txt", "dest": f"{into}/"})
    assert r["changed"] is True and r["dest"] == str(into / "plain.txt")
    assert (into / "plain.txt").read_text() == (DATA / "files" / "plain.txt").read_text()
    assert run("copy", {"src": "plain.txt", "dest": f"{into}/"})["changed"] is False
    # bigger than INLINE_MAX: sent with put_file only when it differs
    big = tmp_path / "big.bin"
    payload = os.urandom(INLINE_MAX + 4096)
    source = tmp_path / "src.bin"
    source.write_bytes(payload)
    r = run("copy", {"src": str(source), "dest": str(big)})
    assert r["changed"] is True and big.read_bytes() == payload
    assert r["checksum"] == hashlib.sha1(payload).hexdigest() and r["size"] == len(payload)
    puts: list[str] = []
    real_put = run.conn.put_file

    async def counting_put(data: bytes, path: str, **kw: Any) -> None:
        puts.append(path)
        await real_put(data, path, **kw)

    run.conn.put_file = counting_put
    assert run("copy", {"src": str(source), "dest": str(big)})["changed"] is False
    assert puts == []
    source.write_bytes(payload[::-1])
    assert run("copy", {"src": str(source), "dest": str(big)})["changed"] is True
    assert len(puts) == 1 and big.read_bytes() == payload[::-1]
    assert not list(tmp_path.glob(".playgraph.*"))
    missing_dir = run("copy", {"content": "x", "dest": str(tmp_path / "nodir" / "x")})
    assert missing_dir == {
        "changed": False,
        "failed": True,
        "checksum": hashlib.sha1(b"x").hexdigest(),
        "diff": [],
        "msg": f"Destination directory {tmp_path / 'nodir'} does not exist",
    }
    assert run("copy", {"content": "x"})["msg"] == "dest is required"
    assert run("copy", {"dest": str(tmp_path / "y")})["msg"] == "src (or content) is required"
    assert run("copy", {"content": "x", "dest": f"{tmp_path}/"})["msg"] == (
        "can not use content with a dir as dest"
    )
    nosuch = run("copy", {"src": "nosuch", "dest": str(tmp_path)})
    assert nosuch["msg"].startswith("Could not find or access 'nosuch'\nSearched in:\n\t")


def test_copy_check_mode_and_diff(run: Runner, tmp_path: Path) -> None:
    dest = tmp_path / "c"
    assert run("copy", {"content": "new\n", "dest": str(dest)}, check_mode=True) == {
        "changed": True,
        "diff": [],
    }
    assert not dest.exists()
    dest.write_text("old\n")
    r = run("copy", {"content": "new\n", "dest": str(dest)}, check_mode=True, diff=True)
    assert r["changed"] is True and dest.read_text() == "old\n"
    assert r["diff"] == [
        {"before": "old\n", "after": "new\n", "before_header": str(dest), "after_header": str(dest)}
    ]
    same = run("copy", {"content": "old\n", "dest": str(dest)}, check_mode=True)
    assert same["changed"] is False


def test_template(run: Runner, tmp_path: Path) -> None:
    templar = Templar(basedir=DATA)
    dest = tmp_path / "greeting.txt"
    variables = {"who": "world", "numbers": [1, 2]}
    args = {"src": "greeting.j2", "dest": str(dest), "mode": "0600"}
    r = run("template", args, render=templar.render, variables=variables)
    assert dest.read_text() == "Hello world!\n1\n2\n"
    assert r["changed"] is True and r["mode"] == "0600"
    assert r["checksum"] == hashlib.sha1(dest.read_bytes()).hexdigest()
    again = run("template", args, render=templar.render, variables=variables)
    assert again["changed"] is False and again["path"] == str(dest)
    other = run("template", args, render=templar.render, variables={**variables, "who": "you"})
    assert other["changed"] is True and dest.read_text().startswith("Hello you!")
    missing = run("template", {"src": "nosuch.j2", "dest": str(dest)}, render=templar.render)
    assert missing["msg"] == (
        f"Could not find or access 'nosuch.j2'\nSearched in:\n\t{DATA}/templates/nosuch.j2\n"
        f"\t{DATA}/nosuch.j2 on the Ansible Controller.\nIf you are using a module and expect"
        " the file to exist on the remote, see the remote_src option"
    )
    assert run("template", {"src": "greeting.j2"})["msg"] == "src and dest are required"
    undefined = run("template", args, render=templar.render, variables={})
    assert undefined["failed"] is True and "who" in undefined["msg"]


# --------------------------------------------------------------------------- lineinfile


def _lif(run: Runner, path: Path, **args: Any) -> dict[str, Any]:
    return run("lineinfile", {"path": str(path), **args})


def test_lineinfile_messages_and_idempotence(run: Runner, tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.write_text("a=1\nb=2\n# c=3\n")
    added = _lif(run, conf, line="d=4")
    assert added == {
        "changed": True,
        "msg": "line added",
        "backup": "",
        "diff": [
            {
                "before": "",
                "after": "",
                "before_header": f"{conf} (content)",
                "after_header": f"{conf} (content)",
            },
            {
                "before_header": f"{conf} (file attributes)",
                "after_header": f"{conf} (file attributes)",
            },
        ],
    }
    assert _lif(run, conf, line="d=4")["changed"] is False
    assert _lif(run, conf, regexp="^a=", line="a=10")["msg"] == "line replaced"
    assert _lif(run, conf, regexp="^a=", line="a=10")["changed"] is False
    removed = _lif(run, conf, regexp="^b=", state="absent")
    assert removed["msg"] == "1 line(s) removed" and removed["found"] == 1
    again = _lif(run, conf, regexp="^b=", state="absent")
    assert again["changed"] is False and again["found"] == 0 and again["msg"] == ""
    assert _lif(run, conf, search_string="# c=", line="c=3")["msg"] == "line replaced"
    assert _lif(run, conf, line="# top", insertbefore="BOF")["msg"] == "line added"
    assert _lif(run, conf, line="a2=1", insertafter="^a=")["msg"] == "line added"
    assert _lif(run, conf, regexp="^zz(.*)", line=r"q\1", backrefs=True)["changed"] is False
    assert _lif(run, conf, regexp="^d=(.*)", line=r"d=\1\1", backrefs=True)["changed"] is True
    assert conf.read_text() == "# top\na=10\na2=1\nc=3\nd=44\n"
    backed = _lif(run, conf, line="e=5", backup=True)
    assert Path(backed["backup"]).read_text() == "# top\na=10\na2=1\nc=3\nd=44\n"
    # messages of the failure paths
    assert _lif(run, tmp_path / "nofile", line="x") == {
        "changed": False,
        "failed": True,
        "rc": 257,
        "msg": f"Destination {tmp_path / 'nofile'} does not exist !",
    }
    assert _lif(run, tmp_path / "nofile", line="x", state="absent") == {
        "changed": False,
        "msg": "file not present",
    }
    assert _lif(run, conf, regexp="x")["msg"] == "line is required with state=present"
    assert _lif(run, tmp_path, line="x")["msg"] == f"Path {tmp_path} is a directory !"
    assert _lif(run, conf, line="a", insertafter="a", insertbefore="b")["msg"] == (
        "parameters are mutually exclusive: insertbefore|insertafter"
    )
    created = _lif(run, tmp_path / "new" / "file", line="x", create=True, mode="0600")
    assert created["msg"] == "line added and ownership, perms or SE linux context changed"
    assert created["diff"][1]["after"] == {"mode": "0600"}
    assert (tmp_path / "new" / "file").read_text() == "x\n"
    empty = _lif(run, tmp_path / "new" / "file", regexp="", line="y")
    assert empty["warnings"][0].startswith("The regular expression is an empty string")


def test_lineinfile_check_mode_diff_and_job(run: Runner, tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.write_text("a=1\n")
    r = run("lineinfile", {"path": str(conf), "line": "b=2"}, check_mode=True, diff=True)
    assert r["changed"] is True and conf.read_text() == "a=1\n"
    assert r["diff"][0]["before"] == "a=1\n" and r["diff"][0]["after"] == "a=1\nb=2\n"
    job = run.job("lineinfile", {"path": str(conf), "line": "b=2"})
    assert job["changed"] is True and job["msg"] == "line added" and job["finished"] == 1
    assert conf.read_text() == "a=1\nb=2\n"


def _load_target(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"pg_target_{name}", TARGET_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FILES_PROGRAM = _load_target("files")

_text_line = st.text(
    alphabet=st.characters(
        min_codepoint=32,
        max_codepoint=0x2FF,
        blacklist_characters="\\",
        blacklist_categories=("Cs",),
    ),
    max_size=12,
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(_text_line, max_size=8),
    line=_text_line.filter(bool),
    prefix_len=st.integers(min_value=0, max_value=4),
    use_regexp=st.booleans(),
    anchor=st.sampled_from([None, "BOF", "EOF", "after", "before"]),
    firstmatch=st.booleans(),
)
def test_lineinfile_is_idempotent(
    tmp_path: Path,
    lines: list[str],
    line: str,
    prefix_len: int,
    use_regexp: bool,
    anchor: str | None,
    firstmatch: bool,
) -> None:
    """The same line/regexp applied twice: the second application changes nothing.

    The regexp matches the line itself (``^`` + an escaped prefix of it), as
    ansible's docs require for idempotence.  Files end with a newline and the
    line is not empty: ansible-core itself adds the line again on every run when
    ``insertafter`` matches a last line without newline, or the line is empty
    (checked against 2.19; reproduced faithfully, so kept out of this property).
    The target program's function runs in-process here (many examples); the
    tests above run it through the connection.
    """
    path = tmp_path / "f"
    path.write_text("".join(f"{text}\n" for text in lines))
    args: dict[str, Any] = {"path": str(path), "line": line, "firstmatch": firstmatch}
    if use_regexp:
        args["regexp"] = "^" + re.escape(line[:prefix_len])
    if anchor in ("BOF", "EOF"):
        args["insertafter"] = anchor
    elif anchor == "after" and lines:
        args["insertafter"] = "^" + re.escape(lines[0][:2])
    elif anchor == "before" and lines:
        args["insertbefore"] = "^" + re.escape(lines[-1][:2])
    FILES_PROGRAM.lineinfile(dict(args), False, False)
    once = path.read_bytes()
    second = FILES_PROGRAM.lineinfile(dict(args), False, False)
    assert second["changed"] is False, second
    assert path.read_bytes() == once
    assert line.encode() + b"\n" in once.splitlines(keepends=True)


# --------------------------------------------------------------------------- wait_for


def test_wait_for_paths(run: Runner, arun: Run[Any], tmp_path: Path) -> None:
    target = tmp_path / "appears"
    missing = tmp_path / "never"
    regex = r"ready: (?P<n>\d+)"

    async def side_by_side() -> list[dict[str, Any]]:
        # the wait for a file that appears and two one-second timeouts, concurrently
        async def create() -> None:
            await asyncio.sleep(0.3)
            target.write_text("ready: 42\n")

        creator = asyncio.ensure_future(create())
        module = get_module("wait_for")
        assert module is not None
        results = await asyncio.gather(
            module.run(run.ctx("wait_for", {"path": str(target), "search_regex": regex})),
            module.run(run.ctx("wait_for", {"path": str(missing), "timeout": 1})),
            module.run(run.ctx("wait_for", {"path": str(missing), "timeout": 1, "msg": "custom"})),
        )
        await creator
        return list(results)

    appeared, plain, custom = arun(side_by_side())
    # 1 when the first check missed the file (the usual case); 0 when starting the target
    # program took longer than the creator's 0.3 s, as it can on a loaded machine.
    assert appeared.pop("elapsed") in (0, 1)
    assert appeared == {
        "changed": False,
        "match_groupdict": {"n": "42"},
        "match_groups": ["42"],
        "path": str(target),
        "port": None,
        "search_regex": regex,
        **_info(target, "file"),  # ansible's add_path_info also overwrites `state`
    }
    assert plain == {
        "changed": False,
        "failed": True,
        "elapsed": 1,
        "msg": f"Timeout when waiting for file {missing}",
    }
    assert custom["msg"] == "custom"
    assert run("wait_for", {"path": str(missing), "state": "absent"}) == {
        "changed": False,
        "elapsed": 0,
        "match_groupdict": {},
        "match_groups": [],
        "path": str(missing),
        "port": None,
        "search_regex": None,
        "state": "absent",
    }
    assert run("wait_for", {"path": str(target)}, check_mode=True) == {
        "changed": False,
        "skipped": True,
        "msg": "remote module (wait_for) does not support check mode",
    }
    assert run("wait_for", {"timeout": "abc"})["msg"] == (
        "argument 'timeout' is of type str and we were unable to convert to int:"
        " \"'abc'\" cannot be converted to an int"
    )
    both = run("wait_for", {"path": str(target), "port": 22})
    assert both["msg"] == "port and path parameter can not both be passed to wait_for"


def test_wait_for_ports(run: Runner) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        up = run("wait_for", {"port": port, "timeout": 5})
        assert up == {
            "changed": False,
            "elapsed": 0,
            "match_groupdict": {},
            "match_groups": [],
            "path": None,
            "port": port,
            "search_regex": None,
            "state": "started",
        }
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert run("wait_for", {"port": free, "state": "stopped", "timeout": 2})["state"] == "stopped"
    down = run("wait_for", {"port": free, "timeout": 1})
    assert down["msg"] == f"Timeout when waiting for 127.0.0.1:{free}" and down["failed"] is True


def test_wait_for_job_through_the_supervisor(run: Runner, tmp_path: Path) -> None:
    target = tmp_path / "flag"
    ctx = run.ctx("wait_for", {"path": str(target), "timeout": 20})
    jid = new_jid()
    spec = get_module("wait_for").job(ctx, jid, 30)  # type: ignore[union-attr]
    assert spec.result == "json"

    async def go() -> dict[str, Any] | None:
        await run.conn.start_job(spec)
        first = await run.conn.job_status([jid], async_dir=str(run.async_dir))
        assert first[jid] is not None and first[jid]["finished"] == 0
        target.write_text("")
        for _ in range(20):
            status = await run.conn.wait_jobs([jid], timeout=5, async_dir=str(run.async_dir))
            if status[jid] and status[jid]["finished"]:
                return status[jid]
        return None

    record = run.arun(go())
    assert record is not None
    assert record["finished"] == 1 and record["changed"] is False and record["path"] == str(target)
    assert record["state"] == "file" and "failed" not in record


# --------------------------------------------------------------------------- apt


def _installed_package() -> str:
    for name in ("coreutils", "bash", "dpkg"):
        if shutil.which("dpkg-query") and os.system(f"dpkg-query -W {name} >/dev/null 2>&1") == 0:
            return name
    pytest.fail("no dpkg-managed package found")


def test_apt_present_absent_and_errors(run: Runner) -> None:
    pkg = _installed_package()
    present = run("apt", {"name": pkg, "state": "present"})
    assert present == {
        "changed": False,
        "cache_updated": False,
        "cache_update_time": present["cache_update_time"],
    }
    assert isinstance(present["cache_update_time"], int)
    assert run("apt", {"name": [pkg], "state": "latest"})["changed"] in (False, True)
    assert run("apt", {"name": "pg-nosuch-package-xyz", "state": "absent"}) == {"changed": False}
    assert run("apt", {"name": "pg-nosuch-package-xyz"}) == {
        "changed": False,
        "failed": True,
        "msg": "No package matching 'pg-nosuch-package-xyz' is available",
    }
    # update_cache with a cache younger than cache_valid_time: no update (and no network)
    fresh = run("apt", {"update_cache": True, "cache_valid_time": 10**9})
    assert fresh == {
        "changed": False,
        "cache_updated": False,
        "cache_update_time": present["cache_update_time"],
    }
    assert run("apt", {"name": "a=1=2"})["msg"] == "invalid package spec: a=1=2"
    assert run("apt", {"name": pkg, "state": "bogus"})["msg"] == (
        "value of state must be one of: absent, build-dep, latest, present, fixed, got: bogus"
    )
    job = run.job("apt", {"name": pkg})
    assert job["changed"] is False and job["finished"] == 1 and job["cache_updated"] is False


def test_apt_check_mode_simulates(run: Runner) -> None:
    """A not-installed package with a candidate: ``apt-get --simulate``, nothing installed."""
    status = os.popen("dpkg-query -W -f='${Status}' hello 2>/dev/null").read()
    if "installed" in status.split():
        pytest.fail("this test expects the package 'hello' known to apt but not installed")
    r = run("apt", {"name": "hello"}, check_mode=True)
    assert r["changed"] is True and r["diff"] == {} and r["cache_updated"] is False
    assert "Inst hello " in r["stdout"] and r["stdout_lines"][0] == "Reading package lists..."
    assert "installed" not in os.popen("dpkg-query -W -f='${Status}' hello 2>/dev/null").read()


def test_apt_lock_wait_and_timeout_message(run: Runner, tmp_path: Path) -> None:
    """apt-get reports the dpkg lock as held: retried until lock_timeout, then ansible's message."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shutil.copy(DATA / "apt-locked", bindir / "apt-get")
    os.chmod(bindir / "apt-get", 0o755)
    log = tmp_path / "pm.log"
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "FAKE_PM_LOG": str(log)}
    r = run("apt", {"name": "hello", "lock_timeout": 0}, environment=env)
    assert r == {
        "changed": False,
        "failed": True,
        "msg": "Failed to lock apt for exclusive operation: E: Could not get lock"
        " /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)",
    }
    calls = [record.split("\x1f")[:-1] for record in log.read_text().split("\x1e")[:-1]]
    assert len(calls) == 1 and calls[0][:2] == ["apt-get", "-y"]
    assert "DPkg::Lock::Timeout=0" in calls[0] and calls[0][-2:] == ["install", "hello"]
    log.unlink()
    # released after the first attempt: the second one (a second later) goes through
    waited = run("apt", {"name": "hello"}, environment={**env, "FAKE_LOCKED_CALLS": "1"})
    assert waited["changed"] is True and "1 newly installed" in waited["stdout"]
    assert log.read_text().count("\x1e") == 2


# --------------------------------------------------------------------------- dnf / package


@pytest.fixture
def fake_dnf(tmp_path: Path) -> dict[str, str]:
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    for name in ("dnf", "rpm"):
        shutil.copy(DATA / "fakebin" / name, bindir / name)
        os.chmod(bindir / name, 0o755)
    return {
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "FAKE_PM_LOG": str(tmp_path / "pm.log"),
        "FAKE_RPM_DB": str(tmp_path / "rpmdb"),
        "FAKE_DNF_AVAILABLE": "hello tree",
    }


def _calls(env: Mapping[str, str]) -> list[list[str]]:
    log = Path(env["FAKE_PM_LOG"])
    if not log.exists():
        return []
    calls = [record.split("\x1f")[:-1] for record in log.read_text().split("\x1e")[:-1]]
    log.unlink()
    return calls


QF = ["-q", "--qf", "%{NAME}\t%{EPOCH}:%{VERSION}-%{RELEASE}.%{ARCH}\n"]


def test_dnf_install_idempotence_and_remove(run: Runner, fake_dnf: dict[str, str]) -> None:
    r = run("dnf", {"name": ["hello", "tree"], "state": "present"}, environment=fake_dnf)
    assert r == {
        "changed": True,
        "msg": "",
        "rc": 0,
        "results": ["Installed: hello-1.0-1.x86_64", "Installed: tree-1.0-1.x86_64"],
    }
    assert _calls(fake_dnf) == [
        ["rpm", *QF, "hello", "tree"],
        ["dnf", "-y", "install", "hello", "tree"],
        ["rpm", *QF, "hello", "tree"],
    ]
    again = run("dnf", {"name": "hello"}, environment=fake_dnf)
    assert again == {"changed": False, "msg": "Nothing to do", "rc": 0, "results": []}
    assert _calls(fake_dnf) == [["rpm", *QF, "hello"]]
    removed = run("yum", {"name": "hello", "state": "absent"}, environment=fake_dnf)
    assert removed == {
        "changed": True,
        "msg": "",
        "rc": 0,
        "results": ["Removed: hello-1.0-1.x86_64"],
    }
    assert ["dnf", "-y", "remove", "hello"] in _calls(fake_dnf)
    gone = run("dnf", {"name": "hello", "state": "absent"}, environment=fake_dnf)
    assert gone["changed"] is False and gone["msg"] == "Nothing to do"


def test_dnf_latest_unavailable_check_mode_and_lock(
    run: Runner, fake_dnf: dict[str, str], tmp_path: Path
) -> None:
    run("dnf", {"name": "tree"}, environment=fake_dnf)
    _calls(fake_dnf)
    latest = run("dnf", {"name": "tree", "state": "latest"}, environment=fake_dnf)
    assert latest == {"changed": False, "msg": "Nothing to do", "rc": 0, "results": []}
    assert _calls(fake_dnf) == [["rpm", *QF, "tree"], ["dnf", "-q", "check-update", "tree"]]
    updates = {**fake_dnf, "FAKE_DNF_UPDATES": "tree"}
    upgraded = run("dnf", {"name": "tree", "state": "latest"}, environment=updates)
    assert upgraded["changed"] is True
    assert upgraded["results"] == ["Installed: tree-2.0-1.x86_64", "Removed: tree-1.0-1.x86_64"]
    assert ["dnf", "-y", "upgrade", "tree"] in _calls(fake_dnf)
    nosuch = run("dnf", {"name": "nosuch"}, environment=fake_dnf)
    assert nosuch == {
        "changed": False,
        "failed": True,
        "msg": "Failed to install some of the specified packages",
        "failures": ["No package nosuch available."],
        "results": [],
        "rc": 1,
    }
    _calls(fake_dnf)
    checked = run("dnf", {"name": "hello"}, environment=fake_dnf, check_mode=True)
    assert checked == {
        "changed": True,
        "msg": "Check mode: No changes made, but would have if not in check mode",
        "rc": 0,
        "results": ["Installed: hello"],
    }
    assert ["dnf", "--assumeno", "install", "hello"] in _calls(fake_dnf)
    assert "hello" not in Path(fake_dnf["FAKE_RPM_DB"]).read_text()
    lock = tmp_path / "dnf.pid"
    lock.write_text(str(os.getpid()))  # held by a live process: this one
    locked = run(
        "dnf",
        {"name": "hello", "lock_timeout": 1, "_lockfiles": [str(lock)]},
        environment=fake_dnf,
    )
    assert locked == {
        "changed": False,
        "failed": True,
        "msg": "dnf lockfile is held by another process",
        "results": [],
        "rc": 1,
    }
    assert run("dnf", {})["msg"] == "one of the following is required: name, list, update_cache"


def test_dnf_job_through_the_supervisor(run: Runner, fake_dnf: dict[str, str]) -> None:
    spec = get_module("dnf").job(  # type: ignore[union-attr]
        run.ctx("dnf", {"name": "hello"}, environment=fake_dnf), "j3.1", 30
    )
    assert spec.result == "json" and spec.env["PATH"] == fake_dnf["PATH"]
    r = run.job("dnf", {"name": "hello"}, environment=fake_dnf)
    assert r["finished"] == 1 and r["changed"] is True
    assert r["results"] == ["Installed: hello-1.0-1.x86_64"] and r["rc"] == 0
    assert ["dnf", "-y", "install", "hello"] in _calls(fake_dnf)
    again = run.job("dnf", {"name": "hello"}, environment=fake_dnf)
    assert again["changed"] is False and again["msg"] == "Nothing to do"


def test_package_detects_apt_or_uses_dnf(run: Runner, fake_dnf: dict[str, str]) -> None:
    pkg = _installed_package()
    auto = run("package", {"name": pkg, "state": "present"})
    assert auto["changed"] is False and "cache_update_time" in auto  # apt's result shape
    chosen = run(
        "package", {"name": "tree", "state": "present", "use": "dnf"}, environment=fake_dnf
    )
    assert chosen["results"] == ["Installed: tree-1.0-1.x86_64"]
    assert run("package", {"name": pkg})["msg"] == "missing required arguments: state"
    job = run.job("package", {"name": pkg, "state": "present"})
    assert job["finished"] == 1 and job["changed"] is False


# --------------------------------------------------------------------------- remote programs


class ShippingConnection:
    """A non-local connection (so programs are shipped) over this machine, HOME in tmp.

    Counts the uploads; delegates everything to a `LocalConnection`.
    """

    def __init__(self, home: Path) -> None:
        self.host = "shipped"
        self.home = home
        self.local = LocalConnection()
        self.puts: list[str] = []

    async def run(self, argv: Any = None, **kw: Any) -> CommandResult:
        kw["env"] = {**(kw.get("env") or {}), "HOME": str(self.home)}
        return await self.local.run(argv, **kw)

    async def put_file(self, data: bytes, path: str, **kw: Any) -> None:
        self.puts.append(path)
        await self.local.put_file(data, path, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.local, name)


def test_programs_are_shipped_once_per_connection(run: Runner, tmp_path: Path) -> None:
    conn = ShippingConnection(tmp_path / "home")
    (tmp_path / "home").mkdir()
    assert run("ping", {}, conn=conn) == {"changed": False, "ping": "pong"}
    prog = remote.program("ping")
    shipped = tmp_path / "home" / ".cache/playgraph/modules" / prog.sha / "ping.py"
    assert conn.puts == [str(shipped)] and shipped.read_bytes() == prog.source
    assert run("ping", {"data": "x"}, conn=conn)["ping"] == "x"
    assert conn.puts == [str(shipped)]  # cached for this connection
    # a job built after shipping runs the shipped file
    spec: JobSpec = get_module("ping").job(run.ctx("ping", {}, conn=conn), "j4.1", 5)  # type: ignore[union-attr]
    assert spec.argv is not None and spec.argv[-1] == str(shipped)
    fresh = ShippingConnection(tmp_path / "home")
    assert run("ping", {}, conn=fresh)["ping"] == "pong"
    assert fresh.puts == []  # already on the target: found, not re-sent
    # unshipped program in a job (built without I/O): its source goes with -c
    unshipped = get_module("stat").job(run.ctx("stat", {"path": "/"}, conn=fresh), "j5.1", 5)  # type: ignore[union-attr]
    assert unshipped.argv is not None and unshipped.argv[-2] == "-c"


def test_become_runs_the_program_source_with_dash_c(
    run: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir = tmp_path / "sudo-bin"
    bindir.mkdir()
    sudo = bindir / "sudo"
    sudo.write_text('#!/bin/sh\nwhile [ "$1" != -- ]; do shift; done; shift; exec "$@"\n')
    sudo.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    conn = ShippingConnection(tmp_path / "home")
    r = run("stat", {"path": str(tmp_path)}, conn=conn, become=Become(user="root"))
    assert r["stat"]["isdir"] is True
    assert conn.puts == []  # nothing shipped: the other user might not read it


def test_module_crash_shape() -> None:
    res = CommandResult(rc=1, stdout=b"garbage\n", stderr=b"Traceback: oops\n", start=0, end=0)
    assert remote.parse_output(res) == {
        "changed": False,
        "failed": True,
        "msg": "Module result deserialization failed: No start of json char found",
        "module_stdout": "garbage\n",
        "module_stderr": "Traceback: oops\n",
        "rc": 1,
    }
    junk = CommandResult(rc=0, stdout=b'noise\n{"a": 1}\ntrailing\n', stderr=b"", start=0, end=0)
    assert remote.parse_output(junk) == {
        "a": 1,
        "warnings": ["Module invocation had junk after the JSON data: trailing"],
    }


@pytest.mark.skipif(not PY38.exists(), reason="no Python 3.8 interpreter on this machine")
def test_target_programs_run_on_python_38(run: Runner, tmp_path: Path) -> None:
    py = str(PY38)
    f = tmp_path / "f"
    # one module of each program
    assert run("ping", {}, python=py)["ping"] == "pong"
    assert run("file", {"path": str(f), "state": "touch", "mode": "u=rw"}, python=py)["changed"]
    assert run("wait_for", {"path": str(f)}, python=py)["path"] == str(f)
    assert run("command", {"_raw_params": "echo $HOME"}, python=py)["rc"] == 0
    assert run("apt", {"name": _installed_package()}, python=py)["changed"] is False


def test_programs_are_self_contained() -> None:
    """Each target program is one stdlib-only file (it may be shipped or run with -c)."""
    stdlib = set(sys.stdlib_module_names)
    for path in TARGET_DIR.glob("*.py"):
        text = path.read_text()
        for match in re.finditer(r"^(?:from|import) ([\w.]+)", text, re.MULTILINE):
            top = match.group(1).split(".")[0]
            assert top in stdlib or top == "__future__", f"{path.name} imports {top}"
