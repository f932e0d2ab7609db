#!/usr/bin/env python3
"""playgraph target program: ``wait_for`` (stdlib only, Python 3.8+).

Waits on the target for a TCP port to accept (or refuse) connections, or for a
path to appear (optionally containing ``search_regex``) or disappear — the
semantics, timings and messages of ansible-core's module.  ``state=drained``
(counting live connections) is not implemented.
"""

from __future__ import annotations

import contextlib
import datetime
import grp
import json
import math
import os
import pwd
import re
import select
import socket
import stat
import sys
import time
import traceback
from typing import Any


class Fail(Exception):
    def __init__(self, msg: str, **result: Any) -> None:
        super().__init__(msg)
        self.result = dict(result, msg=msg, failed=True)


def add_path_info(result: dict[str, Any]) -> dict[str, Any]:
    """``add_path_info``: a waited-for path's owner/mode/size — and its ``state`` (as ansible)."""
    path = result.get("path")
    if not isinstance(path, str) or not os.path.exists(path):
        return result
    st = os.lstat(path)
    result["uid"], result["gid"] = st.st_uid, st.st_gid
    try:
        result["owner"] = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        result["owner"] = str(st.st_uid)
    try:
        result["group"] = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        result["group"] = str(st.st_gid)
    result["mode"] = f"0{stat.S_IMODE(st.st_mode):03o}"
    if os.path.islink(path):
        result["state"] = "link"
    elif os.path.isdir(path):
        result["state"] = "directory"
    elif os.stat(path).st_nlink > 1:
        result["state"] = "hard"
    else:
        result["state"] = "file"
    result["size"] = st.st_size
    return result


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace")


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 - targets run Python 3.8+


def seconds_left(end: datetime.datetime) -> int:
    return math.ceil((end - now()).total_seconds())


def close(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    s.close()


def wait_for(args: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    if check_mode:
        return {
            "changed": False,
            "skipped": True,
            "msg": "remote module (wait_for) does not support check mode",
        }
    host = args.get("host") or "127.0.0.1"
    timeout = int(args.get("timeout", 300))
    connect_timeout = int(args.get("connect_timeout", 5))
    delay = int(args.get("delay") or 0)
    port = args.get("port")
    state = args.get("state") or "started"
    path = args.get("path")
    if path is not None:
        path = os.path.expanduser(os.path.expandvars(path))
    search_regex = args.get("search_regex")
    pause = int(args.get("sleep", 1))
    msg = args.get("msg")
    compiled = None
    if search_regex is not None:
        try:
            compiled = re.compile(search_regex.encode("utf-8", "surrogateescape"), re.MULTILINE)
        except re.error as exc:
            raise Fail(f"Invalid regular expression: {exc}") from None
    if port and path:
        raise Fail("port and path parameter can not both be passed to wait_for", elapsed=0)
    if path and state == "stopped":
        raise Fail(
            "state=stopped should only be used for checking a port in the wait_for module",
            elapsed=0,
        )
    if state == "drained":
        raise Fail("state=drained is not supported by playgraph's wait_for", elapsed=0)
    if args.get("exclude_hosts") is not None:
        raise Fail("exclude_hosts should only be with state=drained", elapsed=0)

    groups: list[Any] = []
    groupdict: dict[str, Any] = {}
    start = now()
    if delay:
        time.sleep(delay)
    end = start + datetime.timedelta(seconds=timeout)

    def elapsed() -> int:
        return (now() - start).seconds

    if not port and not path:
        time.sleep(timeout)
    elif state in ("absent", "stopped"):
        while now() < end:
            if path:
                try:
                    if not os.access(path, os.F_OK):
                        break
                except OSError:
                    break
            elif port:
                try:
                    close(socket.create_connection((host, int(port)), connect_timeout))
                except Exception:
                    break
            time.sleep(pause)
        else:
            if port:
                text = f"Timeout when waiting for {host}:{port} to stop."
                raise Fail(msg or text, elapsed=elapsed())
            raise Fail(msg or f"Timeout when waiting for {path} to be absent.", elapsed=elapsed())
    else:  # started / present
        while now() < end:
            if path:
                try:
                    os.stat(path)
                except OSError as exc:
                    if exc.errno != 2:
                        raise Fail(
                            msg or f"Failed to stat {path}, {exc.strerror}", elapsed=elapsed()
                        ) from None
                else:
                    if compiled is None:
                        break
                    try:
                        with open(path, "rb") as f:
                            found = compiled.search(f.read())
                    except OSError:
                        found = None
                    if found:
                        groupdict = {k: _text(v) for k, v in found.groupdict().items()}
                        groups = [_text(v) for v in found.groups()]
                        break
            elif port:
                try:
                    s = socket.create_connection(
                        (host, int(port)), min(connect_timeout, max(seconds_left(end), 1))
                    )
                except Exception:
                    pass
                else:
                    if compiled is None:
                        close(s)
                        break
                    data = b""
                    matched = False
                    while now() < end:
                        if not select.select([s], [], [], max(seconds_left(end), 0))[0]:
                            continue
                        chunk = s.recv(1024)
                        if not chunk:
                            break
                        data += chunk
                        if compiled.search(data):
                            matched = True
                            break
                    close(s)
                    if matched:
                        break
            time.sleep(pause)
        else:
            if port:
                if search_regex:
                    text = f"Timeout when waiting for search string {search_regex} in {host}:{port}"
                else:
                    text = f"Timeout when waiting for {host}:{port}"
            elif search_regex:
                text = f"Timeout when waiting for search string {search_regex} in {path}"
            else:
                text = f"Timeout when waiting for file {path}"
            raise Fail(msg or text, elapsed=elapsed())
    return add_path_info(
        {
            "changed": False,
            "state": state,
            "port": port,
            "search_regex": search_regex,
            "match_groups": groups,
            "match_groupdict": groupdict,
            "path": path,
            "elapsed": elapsed(),
        }
    )


def main() -> None:
    req = json.loads(sys.stdin.buffer.read() or b"{}")
    try:
        result = wait_for(req.get("args") or {}, bool(req.get("check_mode")))
    except Fail as exc:
        result = exc.result
    except Exception as exc:
        result = {
            "failed": True,
            "msg": f"Task failed: Module failed: {exc}",
            "exception": traceback.format_exc(),
        }
    result.setdefault("changed", False)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.exit(1 if result.get("failed") else 0)


if __name__ == "__main__":
    main()
