"""The command family: ``command``, ``shell``, ``raw`` and ``script``.

``command`` and ``shell`` run through one ``conn.run`` with no target Python:
a short POSIX ``sh`` prelude does what ansible-core's module does before it
runs anything — ``chdir``, the ``creates``/``removes`` globs, check mode, and
finding the program (so a missing one gives ansible's ``Error executing
command.`` on every connection, not a shell's ``not found``) — then ``exec``s
the command.  The prelude reports a decision on stderr as ``<nonce> <what>``
with exit status 3; the per-run random nonce means a command's own output can
never be mistaken for one.

Only what needs the target's Python goes to the ``command`` target program:
arguments whose ``~``/``$VAR`` must be expanded there (ansible-core's
``expand_argument_vars``), and jobs whose semantics the supervisor's plain
command record cannot express (``creates``/``removes``, check mode,
``strip_empty_ends: false``).
"""

from __future__ import annotations

import datetime
import os
import posixpath
import re
import secrets
import shlex
from typing import Any, ClassVar

from playgraph.grammar.shell import split_command

from ..connection.base import CommandResult
from ..jobspec import JobSpec
from .args import Param, Spec
from .base import ModuleFailure, TaskContext
from .remote import add_lines, async_unsupported, program_job, run_program

_COMMAND_PARAMS = {
    "_raw_params": Param(),
    "_uses_shell": Param(type="bool", default=False),
    "cmd": Param(),
    "argv": Param(type="list", elements="str"),
    "chdir": Param(type="path"),
    "executable": Param(),
    "expand_argument_vars": Param(type="bool", default=True),
    "creates": Param(type="path"),
    "removes": Param(type="path"),
    "stdin": Param(),
    "stdin_add_newline": Param(type="bool", default=True),
    "strip_empty_ends": Param(type="bool", default=True),
}
COMMAND_SPEC = Spec(
    module="ansible.legacy.command",
    params=_COMMAND_PARAMS,
    mutually_exclusive=(("_raw_params", "cmd", "argv"),),
    required_one_of=(("_raw_params", "cmd", "argv"),),
)

PRELUDE = r"""
n=$1 d=$2 c=$3 r=$4 k=$5; shift 5
home() {
  case $1 in "~") printf %s "$HOME";; "~/"*) printf %s "$HOME/${1#"~/"}";; *) printf %s "$1";; esac
}
matches() {
  p=$(home "$1"); IFS=
  for f in $p; do if [ -e "$f" ] || [ -h "$f" ]; then unset IFS; return 0; fi; done
  unset IFS; return 1
}
if [ -n "$d" ]; then cd "$(home "$d")" 2>/dev/null || { printf '%s chdir' "$n" >&2; exit 3; }; fi
if [ -n "$c" ] && matches "$c"; then printf '%s creates' "$n" >&2; exit 3; fi
if [ -n "$r" ] && ! matches "$r"; then printf '%s removes' "$n" >&2; exit 3; fi
if [ -n "$k" ]; then printf '%s check' "$n" >&2; exit 3; fi
case $1 in
  */*) p=$1 ;;
  *) p=; IFS=:; set -f
     for q in $PATH; do
       if [ -f "${q:-.}/$1" ] && [ -x "${q:-.}/$1" ]; then p=${q:-.}/$1; break; fi
     done
     set +f; unset IFS ;;
esac
if [ -z "$p" ] || [ ! -e "$p" ]; then printf '%s enoent' "$n" >&2; exit 3; fi
if [ -d "$p" ] || [ ! -x "$p" ]; then printf '%s eacces' "$n" >&2; exit 3; fi
exec "$@"
"""
"""``sh -c PRELUDE sh NONCE CHDIR CREATES REMOVES CHECK ARGV...``"""

_ERRNO = {"enoent": (2, "No such file or directory"), "eacces": (13, "Permission denied")}
_NEEDS_EXPANSION = re.compile(r"\$|^~")


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def command_result(
    cmd: Any, res: CommandResult, *, strip: bool = True, base: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The command module's result for a finished command."""
    out, err = _text(res.stdout), _text(res.stderr)
    if strip:
        out, err = out.rstrip("\r\n"), err.rstrip("\r\n")
    # str(datetime) as ansible-core prints start/end (no ".000000" when the microseconds are 0).
    start = datetime.datetime.fromtimestamp(res.start)
    end = datetime.datetime.fromtimestamp(res.end)
    result: dict[str, Any] = {
        **(base or {}),
        "changed": True,
        "cmd": cmd,
        "rc": res.rc,
        "stdout": out,
        "stderr": err,
        "start": str(start),
        "end": str(end),
        "delta": str(end - start),
        "msg": "",
    }
    if res.rc != 0:
        result["failed"] = True
        result["msg"] = "non-zero return code"
    return add_lines(result)


class _Invocation:
    """One command/shell task's validated arguments, shared by the sync and job paths."""

    def __init__(self, ctx: TaskContext, shell: bool) -> None:
        args = dict(ctx.args)
        if shell and "expand_argument_vars" in args:
            raise ModuleFailure(
                f"Unsupported parameters for ({ctx.action.rsplit('.', 1)[-1]}) module: "
                "expand_argument_vars"
            )
        args.pop("_uses_shell", None)
        p = COMMAND_SPEC.validate(args)
        self.shell = shell
        self.params = p
        self.warnings: list[str] = []
        executable: str | None = p["executable"]
        if not shell and executable:
            self.warnings.append(
                "As of Ansible 2.4, the parameter 'executable' is no longer supported with the"
                f" 'command' module. Not using '{executable}'."
            )
            executable = None
        self.executable = executable
        text: str | None = p["_raw_params"] or p["cmd"]
        self.command: str | list[str]
        if shell:
            if text is None:
                # ansible's shell joins an argv list into one string for sh -c
                text = " ".join(p["argv"] or [])
            self.command = text
        else:
            self.command = list(split_command(text)) if text else list(p["argv"] or [])
            if not self.command:
                raise ModuleFailure("no command given", rc=256)
        stdin: str | None = p["stdin"]
        self.stdin: bytes | None = None
        if stdin:
            self.stdin = stdin.encode("utf-8", "surrogateescape")
            if p["stdin_add_newline"]:
                self.stdin += b"\n"

    @property
    def argv(self) -> list[str]:
        if isinstance(self.command, str):
            return [self.executable or "/bin/sh", "-c", self.command]
        return self.command

    def needs_program(self, *, job: bool, check_mode: bool) -> bool:
        """Whether this run needs the target program rather than plain sh."""
        p = self.params
        if (
            not self.shell
            and p["expand_argument_vars"]
            and any(_NEEDS_EXPANSION.search(a) for a in self.argv)
        ):
            return True
        if job:
            return bool(p["creates"] or p["removes"] or check_mode or not p["strip_empty_ends"])
        return False

    def program_params(self) -> dict[str, Any]:
        return {
            **self.params,
            "_uses_shell": self.shell,
            "_command": self.command,
            "executable": self.executable,
        }

    def skip_result(self, what: str, check_mode: bool) -> dict[str, Any]:
        """ansible-core's result when creates/removes/check mode stop the command."""
        p = self.params
        r: dict[str, Any] = {
            "changed": False,
            "stdout": "",
            "stderr": "",
            "rc": 0,
            "cmd": self.command,
            "start": None,
            "end": None,
            "delta": None,
            "msg": "",
        }
        should = "Would" if check_mode else "Did"
        if what == "creates":
            r["msg"] = f"{should} not run command since '{p['creates']}' exists"
            r["stdout"] = f"skipped, since {p['creates']} exists"
        elif what == "removes":
            r["msg"] = f"{should} not run command since '{p['removes']}' does not exist"
            r["stdout"] = f"skipped, since {p['removes']} does not exist"
        else:  # check mode, nothing stopped it
            r["msg"] = "Command would have run if not in check mode"
            r["changed"] = True
            if p["creates"] is None and p["removes"] is None:
                r["skipped"] = True
                r["changed"] = False
        return add_lines(r)

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        if self.needs_program(job=False, check_mode=ctx.check_mode):
            result = await run_program(ctx, "command", "command", self.program_params())
            return self._warn(result)
        p = self.params
        nonce = secrets.token_hex(8)
        res = await ctx.conn.run(
            [
                "/bin/sh",
                "-c",
                PRELUDE,
                "sh",
                nonce,
                p["chdir"] or "",
                p["creates"] or "",
                p["removes"] or "",
                "1" if ctx.check_mode else "",
                *self.argv,
            ],
            stdin=self.stdin,
            env=ctx.environment or None,
            become=ctx.become,
        )
        decision = ""
        if res.rc == 3 and res.stderr.startswith(nonce.encode() + b" "):
            decision = res.stderr[len(nonce) + 1 :].decode()
        if decision == "chdir":
            return self._warn(
                add_lines(
                    {
                        "changed": False,
                        "failed": True,
                        "stdout": "",
                        "stderr": "",
                        "rc": None,
                        "cmd": self.command,
                        "start": None,
                        "end": None,
                        "delta": None,
                        "msg": "Unable to change directory before execution.",
                    }
                )
            )
        if decision in ("creates", "removes", "check"):
            return self._warn(self.skip_result(decision, ctx.check_mode))
        if decision in _ERRNO:
            errno, text = _ERRNO[decision]
            program = self.argv[0]
            return self._warn(
                add_lines(
                    {
                        "changed": False,
                        "failed": True,
                        "rc": errno,
                        "stdout": "",
                        "stderr": "",
                        "cmd": shlex.join(self.argv),
                        "msg": "Error executing command.",
                        "exception": f"[Errno {errno}] {text}: {program.encode()!r}",
                    }
                )
            )
        return self._warn(command_result(self.command, res, strip=p["strip_empty_ends"]))

    def job(self, ctx: TaskContext, jid: str, limit: float, module: str) -> JobSpec:
        if self.needs_program(job=True, check_mode=ctx.check_mode):
            return program_job(ctx, "command", module, self.program_params(), jid, limit)
        common: dict[str, Any] = {
            "jid": jid,
            "limit": limit,
            "env": dict(ctx.environment),
            "cwd": self.params["chdir"],
            "stdin": self.stdin,
            "result": "command",
            "module": module,
            "async_dir": ctx.async_dir,
            "become": ctx.become,
        }
        if isinstance(self.command, str):
            return JobSpec(shell=self.command, executable=self.executable, **common)
        return JobSpec(argv=list(self.command), **common)

    def _warn(self, result: dict[str, Any]) -> dict[str, Any]:
        if self.warnings:
            result["warnings"] = [*result.get("warnings", []), *self.warnings]
        return result


class CommandModule:
    """``command``: run a program with arguments, no shell (``_raw_params`` split like shlex)."""

    names: ClassVar[tuple[str, ...]] = ("command",)
    supports_async: ClassVar[bool] = True
    shell: ClassVar[bool] = False

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        return await _Invocation(ctx, self.shell).run(ctx)

    def job(self, ctx: TaskContext, jid: str, limit: float) -> JobSpec:
        return _Invocation(ctx, self.shell).job(ctx, jid, limit, self.names[0])


class ShellModule(CommandModule):
    """``shell``: the command line goes to ``/bin/sh -c`` (or ``executable -c``)."""

    names: ClassVar[tuple[str, ...]] = ("shell",)
    shell: ClassVar[bool] = True


RAW_SPEC = Spec(
    module="raw",
    params={"_raw_params": Param(required=True), "executable": Param()},
)


class RawModule:
    """``raw``: the command line through the connection's shell, nothing else (no async)."""

    names: ClassVar[tuple[str, ...]] = ("raw",)
    supports_async: ClassVar[bool] = False

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        p = RAW_SPEC.validate(ctx.args)
        warnings = []
        if any(ctx.environment):
            # ansible-core's raw action ignores `environment:` and says so.
            warnings.append("raw module does not support the environment keyword")
        if ctx.check_mode:
            return {"changed": False, "skipped": True}
        res = await ctx.conn.run(
            shell=p["_raw_params"], executable=p["executable"], become=ctx.become
        )
        result: dict[str, Any] = {
            "changed": True,
            "rc": res.rc,
            "stdout": _text(res.stdout),
            "stderr": _text(res.stderr),
        }
        if res.rc != 0:
            result["failed"] = True
            result["msg"] = "non-zero return code"
        if warnings:
            result["warnings"] = warnings
        return add_lines(result)

    def job(self, ctx: TaskContext, jid: str, limit: float) -> JobSpec:
        raise async_unsupported(ctx)


SCRIPT_SPEC = Spec(
    module="script",
    params={
        "_raw_params": Param(),
        "cmd": Param(),
        "creates": Param(),
        "removes": Param(),
        "chdir": Param(),
        "executable": Param(),
        "decrypt": Param(type="bool", default=True),
    },
    mutually_exclusive=(("_raw_params", "cmd"),),
    required_one_of=(("_raw_params", "cmd"),),
)

_SCRIPT_PREP = r"""
c=$1 r=$2 mk=$3
if [ -n "$c" ] && { [ -e "$c" ] || [ -h "$c" ]; }; then echo creates; exit 0; fi
if [ -n "$r" ] && ! { [ -e "$r" ] || [ -h "$r" ]; }; then echo removes; exit 0; fi
if [ -z "$mk" ]; then echo run; exit 0; fi
d=$(umask 077 && mktemp -d "${TMPDIR:-/tmp}/playgraph-script.XXXXXXXX") || exit 1
echo "run $d"
"""
"""``sh -c PREP sh CREATES REMOVES MKDIR``: ``creates``/``removes``/``run [TMPDIR]``."""


def find_needle(base_dir: str, subdir: str, name: str, role_dir: str | None = None) -> str:
    """A controller-side file as ansible finds it: ``<base>/<subdir>/<name>``, ``<base>/<name>``,
    in the task's role first (``role_dir``), then beside the playbook."""
    if os.path.isabs(name):
        candidates = [name]
    else:
        bases = [role_dir, base_dir] if role_dir else [base_dir]
        candidates = [
            p for b in bases for p in (os.path.join(b, subdir, name), os.path.join(b, name))
        ]
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.R_OK):
            return path
    searched = "".join(f"\n\t{c}" for c in candidates)
    raise ModuleFailure(
        f"Could not find or access '{name}'\nSearched in:{searched} on the Ansible Controller.\n"
        "If you are using a module and expect the file to exist on the remote, see the"
        " remote_src option",
        changed=False,
    )


class ScriptModule:
    """``script``: copy a controller-side script to the target and run it there (no async)."""

    names: ClassVar[tuple[str, ...]] = ("script",)
    supports_async: ClassVar[bool] = False

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        p = SCRIPT_SPEC.validate(ctx.args)
        raw: str = (p["_raw_params"] or p["cmd"]).strip()
        # One round trip decides creates/removes (first, as in ansible) and
        # makes the private temp dir the script is copied into.
        prep = await ctx.conn.run(
            [
                "/bin/sh",
                "-c",
                _SCRIPT_PREP,
                "sh",
                p["creates"] or "",
                p["removes"] or "",
                "" if ctx.check_mode else "1",
            ],
            become=ctx.become,
        )
        answer = _text(prep.stdout).strip()
        if answer == "creates":
            return {
                "changed": False,
                "skipped": True,
                "msg": f"{p['creates']} exists, matching creates option",
            }
        if answer == "removes":
            return {
                "changed": False,
                "skipped": True,
                "msg": f"{p['removes']} does not exist, matching removes option",
            }
        if prep.rc != 0 or not answer.startswith("run"):
            detail = _text(prep.stderr).strip()
            raise ModuleFailure(f"could not create a temporary directory on the target: {detail}")
        tmpdir = answer[4:]
        try:
            return await self._run_script(ctx, p, raw, tmpdir)
        except BaseException:
            if tmpdir:
                await ctx.conn.run(["rm", "-rf", "--", tmpdir], become=ctx.become)
            raise

    async def _run_script(
        self, ctx: TaskContext, p: dict[str, Any], raw: str, tmpdir: str
    ) -> dict[str, Any]:
        chdir: str | None = p["chdir"]
        if chdir and not chdir.startswith("/"):
            raise ModuleFailure(
                f"chdir {chdir} must be an absolute path for a Unix-aware remote node",
                changed=False,
            )
        parts = split_command(raw)
        source = find_needle(ctx.base_dir, "files", parts[0], ctx.role_dir)
        if ctx.check_mode:
            if p["creates"] or p["removes"]:
                return {"changed": True}
            return {
                "changed": False,
                "skipped": True,
                "msg": "Check mode is not supported for this task.",
            }
        remote = posixpath.join(tmpdir, os.path.basename(source))
        with open(source, "rb") as f:
            data = f.read()
        await ctx.conn.put_file(data, remote, mode=0o700, become=ctx.become)
        # ansible replaces the script's name in the original text, keeping the
        # arguments' quoting; the temp dir goes away in the same round trip.
        target = raw.replace(parts[0], shlex.quote(remote), 1)
        if p["executable"]:
            target = f"{p['executable']} {target}"
        res = await ctx.conn.run(
            shell=f"{target}\nrc=$?; rm -rf -- {shlex.quote(tmpdir)}; exit $rc",
            env=ctx.environment or None,
            cwd=chdir,
            become=ctx.become,
        )
        result: dict[str, Any] = {
            "changed": True,
            "rc": res.rc,
            "stdout": _text(res.stdout),
            "stderr": _text(res.stderr),
        }
        if res.rc != 0:
            result.update(msg="non-zero return code", failed=True)
        return add_lines(result)

    def job(self, ctx: TaskContext, jid: str, limit: float) -> JobSpec:
        raise async_unsupported(ctx)
