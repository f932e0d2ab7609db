"""The shell text the SSH connection sends: command lines and the supervisor's boot script.

What reaches a target's login shell is ``exec /bin/sh -c '<script>'`` — one
quoted word, whatever the login shell is (Ansible wraps its commands in
``/bin/sh -c`` too).  The file transfer scripts, shared with the local
connection's ``become``, are in `posix`.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping, Sequence
from functools import cache

from ..jobs import SUPERVISOR_PATH


def home_path(path: str) -> str:
    """A path as sh text: ``~`` and ``~/…`` become ``"$HOME"…`` (the target user's home)."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def remote_line(
    argv: Sequence[str], *, env: Mapping[str, str] | None, cwd: str | None, tag: str
) -> str:
    """The command line for the target's login shell: ``exec /bin/sh -c SCRIPT``.

    Only ``exec`` and one quoted word reach the login shell (whatever it is, as
    Ansible wraps its commands in ``/bin/sh -c`` too).  The script first writes
    ``<tag> <pid>`` on stderr: the pid is the session's process group (sshd makes
    each session a group leader, and ``exec`` keeps the pid), so a timed-out or
    cancelled command can be stopped with ``kill -- -PGID`` over another channel
    — sshd refuses its own ``signal`` request for root logins.  The caller removes
    the line from the stderr it returns.
    """
    parts = [f"printf '%s %s\\n' {tag} \"$$\" >&2"]
    if cwd:
        where = home_path(cwd)
        parts.append(
            f"cd -- {where} 2>/dev/null || {{ printf '%s\\n' "
            f"{shlex.quote('Unable to change directory before execution: ' + cwd)} >&2; exit 1; }}"
        )
    for key, value in (env or {}).items():
        if key.isidentifier() and key.isascii():
            parts.append(f"{key}={shlex.quote(value)}; export {key}")
        else:
            argv = ["env", f"{key}={value}", *argv]
    parts.append("exec " + shlex.join(argv))
    return "exec /bin/sh -c " + shlex.quote("; ".join(parts))


# The bridge's first lines: find the python (ansible_python_interpreter, else the
# system's, never a shim on PATH), make sure the supervisor script is in this
# user's cache — receiving it on stdin when it is not — and become its `client`.
# "<nonce> present|missing|nopython <python>" tells the controller what happened
# (and, under sudo, that sudo is done).
BOOT_SCRIPT = r"""n=$1 sha=$2 size=$3 py=$4; shift 4
if [ -z "$py" ]; then
  for c in /usr/bin/python3 /usr/local/bin/python3 /usr/libexec/platform-python; do
    if [ -x "$c" ]; then py=$c; break; fi
  done
fi
if [ -z "$py" ]; then
  py=$(command -v python3 2>/dev/null) || py=
  case $py in */shims/*) py=;; esac
fi
if [ -z "$py" ]; then echo "$n nopython"; exit 127; fi
d=$HOME/.cache/playgraph/$sha
if ! { mkdir -p "$d" 2>/dev/null && [ -w "$d" ]; }; then
  d=${TMPDIR:-/tmp}/playgraph-$(id -u)/$sha
  (umask 077; mkdir -p "$d") && [ -O "${d%/*}" ] || exit 1
fi
f=$d/supervisor.py
if [ -f "$f" ]; then echo "$n present $py"; else
  echo "$n missing $py"
  t=$f.$$.tmp
  if head -c "$size" >"$t" && [ "$(wc -c <"$t")" -eq "$size" ]; then mv -f "$t" "$f"
  else rm -f "$t"; exit 1; fi
fi
exec "$py" -E -S "$f" client "$@"
"""


@cache
def supervisor_source() -> tuple[bytes, str]:
    source = SUPERVISOR_PATH.read_bytes()
    return source, hashlib.sha256(source).hexdigest()[:20]


def boot_argv(nonce: str, python: str | None, args: Sequence[str]) -> tuple[list[str], bytes]:
    """The bridge's command (`BOOT_SCRIPT` with its arguments) and the supervisor's source,
    which the channel carries when the target's cache misses it."""
    source, sha = supervisor_source()
    argv = ["/bin/sh", "-c", BOOT_SCRIPT, "sh", nonce, sha, str(len(source)), python or "", *args]
    return argv, source
