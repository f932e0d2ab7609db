#!/usr/bin/env python3
"""playgraph target program: the ``command``/``shell`` module, whole (stdlib only, Python 3.8+).

The controller runs plain commands without any interpreter (a ``sh`` prelude
does chdir/creates/removes).  This program is for what needs the target's
Python: jobs with ``creates``/``removes`` or check mode (ansible-core runs the
whole module inside the job) and arguments whose ``~``/``$VAR`` must be
expanded on the target, as ansible-core's ``run_command`` does.

The request's ``args`` carry ``_command`` (the argv list, already split on the
controller, or the shell string) and ``_uses_shell``.
"""

from __future__ import annotations

import datetime
import glob
import json
import os
import shlex
import subprocess
import sys
import traceback
from typing import Any


class Fail(Exception):
    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(result.get("msg"))
        self.result = result


def expand(path: str) -> str:
    return os.path.expanduser(os.path.expandvars(path))


def run(args: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    shell = bool(args.get("_uses_shell"))
    command = args["_command"]
    r: dict[str, Any] = {
        "changed": False,
        "stdout": "",
        "stderr": "",
        "rc": None,
        "cmd": command,
        "start": None,
        "end": None,
        "delta": None,
        "msg": "",
    }
    chdir = args.get("chdir")
    if chdir:
        try:
            os.chdir(expand(chdir))
        except OSError:
            r["msg"] = "Unable to change directory before execution."
            r["failed"] = True
            raise Fail(r) from None
    should = "Would" if check_mode else "Did"
    creates = args.get("creates")
    removes = args.get("removes")
    if creates and glob.glob(expand(creates)):
        r["msg"] = f"{should} not run command since '{creates}' exists"
        r["stdout"] = f"skipped, since {creates} exists"
        r["rc"] = 0
    if not r["msg"] and removes and not glob.glob(expand(removes)):
        r["msg"] = f"{should} not run command since '{removes}' does not exist"
        r["stdout"] = f"skipped, since {removes} does not exist"
        r["rc"] = 0
    if r["msg"]:
        return r
    r["changed"] = True
    if check_mode:
        r["rc"] = 0
        r["msg"] = "Command would have run if not in check mode"
        if creates is None and removes is None:
            r["skipped"] = True
            r["changed"] = False
        return r

    if shell:
        argv = [args.get("executable") or "/bin/sh", "-c", command]
    elif args.get("expand_argument_vars", True):
        argv = [expand(a) for a in command]
    else:
        argv = list(command)
    data = args.get("stdin")
    stdin_bytes = None
    if data:
        stdin_bytes = data.encode("utf-8", "surrogateescape")
        if args.get("stdin_add_newline", True):
            stdin_bytes += b"\n"
    start = datetime.datetime.now()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin_bytes is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise Fail(
            {
                "changed": False,
                "failed": True,
                "rc": exc.errno,
                "stdout": "",
                "stderr": "",
                "msg": "Error executing command.",
                "cmd": " ".join(shlex.quote(a) for a in argv),
                "exception": f"{type(exc).__name__}: {exc}",
            }
        ) from None
    out, err = proc.communicate(stdin_bytes)
    end = datetime.datetime.now()
    r.update(
        rc=proc.returncode,
        stdout=out.decode("utf-8", "replace"),
        stderr=err.decode("utf-8", "replace"),
        start=str(start),
        end=str(end),
        delta=str(end - start),
    )
    if args.get("strip_empty_ends", True):
        r["stdout"] = r["stdout"].rstrip("\r\n")
        r["stderr"] = r["stderr"].rstrip("\r\n")
    if r["rc"] != 0:
        r["msg"] = "non-zero return code"
        r["failed"] = True
    return r


def main() -> None:
    req = json.loads(sys.stdin.buffer.read() or b"{}")
    try:
        result = run(req.get("args") or {}, bool(req.get("check_mode")))
    except Fail as exc:
        result = exc.result
    except Exception as exc:
        result = {
            "changed": False,
            "failed": True,
            "msg": f"Task failed: Module failed: {exc}",
            "exception": traceback.format_exc(),
        }
    sys.stdout.write(json.dumps(result) + "\n")
    sys.exit(1 if result.get("failed") else 0)


if __name__ == "__main__":
    main()
