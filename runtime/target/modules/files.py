#!/usr/bin/env python3
"""playgraph target program: ``stat``, ``file``, ``copy``/``template``, ``lineinfile``.

Stdlib only, Python 3.8+; one file so it ships (or runs with ``python -c``)
alone.  The four modules share ansible's file helpers — ``add_path_info``,
``set_fs_attributes_if_different`` (owner, group, mode incl. symbolic
modes), ``backup_local`` and ``atomic_move`` — re-implemented here.

Request on stdin: ``{"module", "args", "check_mode", "diff"}`` with the
arguments already validated (and defaulted) by the controller; one JSON result
on stdout, shaped as ansible-core 2.19's.
"""

from __future__ import annotations

import base64
import contextlib
import grp
import hashlib
import json
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any

PERM_BITS = 0o7777


class Fail(Exception):
    """``fail_json``: the result (``failed`` set) goes out as it is, plus path info."""

    def __init__(self, msg: str, **result: Any) -> None:
        super().__init__(msg)
        self.result = dict(result, msg=msg, failed=True)


def expand(path: str) -> str:
    """ansible's ``type='path'``: ``~`` and ``$VARS`` expanded here, on the target."""
    return os.path.expanduser(os.path.expandvars(path))


def current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


# --------------------------------------------------------------------------- path info


def get_state(path: str) -> str:
    """absent / link / directory / hard / file, as ansible's file module sees a path."""
    try:
        if os.path.lexists(path):
            if os.path.islink(path):
                return "link"
            if os.path.isdir(path):
                return "directory"
            if os.stat(path).st_nlink > 1:
                return "hard"
            return "file"
        return "absent"
    except FileNotFoundError:
        return "absent"


def add_path_info(result: dict[str, Any]) -> dict[str, Any]:
    """``AnsibleModule.add_path_info``: owner, mode, state, size of ``path`` (or ``dest``)."""
    path = result.get("path", result.get("dest"))
    if not isinstance(path, str) or not os.path.exists(path):
        return result
    lst = os.lstat(path)
    result["uid"] = lst.st_uid
    result["gid"] = lst.st_gid
    try:
        result["owner"] = pwd.getpwuid(lst.st_uid).pw_name
    except KeyError:
        result["owner"] = str(lst.st_uid)
    try:
        result["group"] = grp.getgrgid(lst.st_gid).gr_name
    except KeyError:
        result["group"] = str(lst.st_gid)
    result["mode"] = f"0{stat.S_IMODE(lst.st_mode):03o}"
    result["state"] = get_state(path)
    result["size"] = lst.st_size
    return result


def digest(path: str, algorithm: str = "sha1") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def md5_or_none(path: str) -> str | None:
    try:
        return digest(path, "md5")
    except ValueError:  # FIPS mode: md5 unavailable, ansible then omits md5sum
        return None


# --------------------------------------------------------------------------- modes

_MODE_OP = re.compile(r"[+=-]")
_USERS = re.compile(r"^[ugoa]*$")
_PERMS = re.compile(r"^[rwxXstugo]*$")


def symbolic_mode(st: os.stat_result, spec: str) -> int:
    """chmod(1)'s symbolic modes (``u=rw,g+X,o-w``) applied to ``st``'s mode."""
    mode = stat.S_IMODE(st.st_mode)
    is_dir = stat.S_ISDIR(st.st_mode)
    umask = current_umask()
    for clause in spec.split(","):
        perms = _MODE_OP.split(clause)
        ops = _MODE_OP.findall(clause)
        who = perms.pop(0)
        use_umask = who == ""
        if who in ("", "a"):
            who = "ugo"
        if not ops or not _USERS.match(who):
            raise ValueError(f"bad symbolic permission for mode: {clause}")
        for op, letters in zip(ops, perms):  # noqa: B905 - no strict= before Python 3.10
            if not _PERMS.match(letters):
                raise ValueError(f"bad symbolic permission for mode: {clause}")
            for user in who:
                bits = _bits(user, letters, mode, is_dir, umask if use_umask else 0)
                mode = _apply(user, op, bits, mode)
    return mode


_SHIFT = {"u": 6, "g": 3, "o": 0}


def _bits(user: str, letters: str, mode: int, is_dir: bool, umask: int) -> int:
    shift = _SHIFT[user]
    bits = 0
    for letter in letters:
        if letter in "rwx":
            bit = {"r": 4, "w": 2, "x": 1}[letter] << shift
            bits |= bit & ~umask
        elif letter == "X":
            if is_dir or mode & 0o111:
                bits |= 1 << shift
        elif letter == "s":
            bits |= {"u": stat.S_ISUID, "g": stat.S_ISGID, "o": 0}[user]
        elif letter == "t":
            bits |= stat.S_ISVTX if user == "o" else 0
        else:  # u, g, o: copy that class's current bits
            bits |= ((mode >> _SHIFT[letter]) & 7) << shift
    return bits


def _apply(user: str, op: str, bits: int, mode: int) -> int:
    if op == "=":
        mask = {
            "u": stat.S_IRWXU | stat.S_ISUID,
            "g": stat.S_IRWXG | stat.S_ISGID,
            "o": stat.S_IRWXO | stat.S_ISVTX,
        }[user]
        return (mode & (mask ^ PERM_BITS)) | bits
    if op == "+":
        return mode | bits
    return mode & ~bits


def parse_mode(path: str, mode: Any) -> int:
    """An ``int`` or octal/symbolic string mode, resolved against ``path``'s current mode."""
    if isinstance(mode, int) and not isinstance(mode, bool):
        return mode
    text = str(mode)
    try:
        return int(text, 8)
    except ValueError:
        pass
    try:
        value = symbolic_mode(os.lstat(path), text)
    except ValueError as exc:
        raise Fail("mode must be in octal or symbolic form", path=path, details=str(exc)) from None
    if value != stat.S_IMODE(value):
        raise Fail(
            "Invalid mode supplied, only permission info is allowed", path=path, details=value
        )
    return value


class Attrs:
    """``set_fs_attributes_if_different`` for owner, group and mode."""

    def __init__(self, args: dict[str, Any], check_mode: bool) -> None:
        self.owner = args.get("owner")
        self.group = args.get("group")
        self.mode = args.get("mode")
        self.check_mode = check_mode

    def apply(self, path: str, changed: bool, diff: dict[str, Any] | None) -> bool:
        """Make ``path`` match; True when something was (or would be) changed."""
        if self.check_mode and not os.path.lexists(path):
            return changed or any(v is not None for v in (self.owner, self.group, self.mode))
        changed = self._owner(path, changed, diff)
        changed = self._group(path, changed, diff)
        return self._mode(path, changed, diff)

    def _owner(self, path: str, changed: bool, diff: dict[str, Any] | None) -> bool:
        if self.owner is None:
            return changed
        try:
            uid = int(self.owner)
        except ValueError:
            try:
                uid = pwd.getpwnam(self.owner).pw_uid
            except KeyError:
                msg = f"chown failed: failed to look up user {self.owner}"
                raise Fail(msg, path=path) from None
        old = os.lstat(path).st_uid
        if old == uid:
            return changed
        _note(diff, "owner", old, uid)
        if not self.check_mode:
            try:
                os.lchown(path, uid, -1)
            except OSError as exc:
                raise Fail("chown failed", path=path, details=str(exc)) from None
        return True

    def _group(self, path: str, changed: bool, diff: dict[str, Any] | None) -> bool:
        if self.group is None:
            return changed
        try:
            gid = int(self.group)
        except ValueError:
            try:
                gid = grp.getgrnam(self.group).gr_gid
            except KeyError:
                raise Fail(
                    f"chgrp failed: failed to look up group {self.group}", path=path
                ) from None
        old = os.lstat(path).st_gid
        if old == gid:
            return changed
        _note(diff, "group", old, gid)
        if not self.check_mode:
            try:
                os.lchown(path, -1, gid)
            except OSError as exc:
                raise Fail("chgrp failed", path=path, details=str(exc)) from None
        return True

    def _mode(self, path: str, changed: bool, diff: dict[str, Any] | None) -> bool:
        if self.mode is None:
            return changed
        mode = parse_mode(path, self.mode)
        st = os.lstat(path)
        old = stat.S_IMODE(st.st_mode)
        if old == mode or stat.S_ISLNK(st.st_mode):
            # Linux cannot change a symlink's own mode (ansible ends up unchanged too).
            return changed
        _note(diff, "mode", f"0{old:03o}", f"0{mode:03o}")
        if not self.check_mode:
            try:
                os.chmod(path, mode)
            except OSError as exc:
                raise Fail("chmod failed", path=path, details=str(exc)) from None
        return True


def _note(diff: dict[str, Any] | None, key: str, before: Any, after: Any) -> None:
    if diff is not None:
        diff.setdefault("before", {})[key] = before
        diff.setdefault("after", {})[key] = after


# --------------------------------------------------------------------------- writing


def backup_local(path: str) -> str:
    """``backup_local``: ``<path>.<pid>.<YYYY-MM-DD@HH:MM:SS>~`` next to the file."""
    stamp = time.strftime("%Y-%m-%d@%H:%M:%S", time.localtime())
    backup = f"{path}.{os.getpid()}.{stamp}~"
    try:
        shutil.copy2(path, backup)
    except OSError as exc:
        raise Fail(f"Could not make backup of {path} to {backup}: {exc}") from None
    return backup


def atomic_move(tmp: str, dest: str) -> None:
    """Rename ``tmp`` over ``dest``; keep an existing dest's mode/owner, else default perms."""
    try:
        st = os.stat(dest)
    except OSError:
        st = None
    if st is not None:
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        # Not ours to give away?  The new file keeps our ownership, as ansible's does.
        with contextlib.suppress(OSError):
            os.chown(tmp, st.st_uid, st.st_gid)
    else:
        os.chmod(tmp, 0o666 & ~current_umask())
    try:
        os.rename(tmp, dest)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise Fail(f"Unable to make {tmp} into to {dest}, failed final rename: {exc}") from None


def write_temp(directory: str, data: bytes) -> str:
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".playgraph.", suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return tmp


def run_validate(validate: str, tmp: str) -> None:
    if "%s" not in validate:
        raise Fail(f"validate must contain %s: {validate}")
    proc = subprocess.run(
        shlex.split(validate.replace("%s", shlex.quote(tmp))),
        capture_output=True,
    )
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace")
        raise Fail(f"failed to validate: rc:{proc.returncode} error:{err}")


# --------------------------------------------------------------------------- stat


def do_stat(args: dict[str, Any], check_mode: bool, diff_mode: bool) -> dict[str, Any]:
    path = expand(args["path"])
    try:
        st = os.stat(path) if args.get("follow") else os.lstat(path)
    except FileNotFoundError:
        return {"changed": False, "stat": {"exists": False}}
    except OSError as exc:
        raise Fail(exc.strerror or str(exc)) from None
    mode = st.st_mode
    out: dict[str, Any] = {
        "exists": True,
        "path": path,
        "mode": f"{stat.S_IMODE(mode):04o}",
        "isdir": stat.S_ISDIR(mode),
        "ischr": stat.S_ISCHR(mode),
        "isblk": stat.S_ISBLK(mode),
        "isreg": stat.S_ISREG(mode),
        "isfifo": stat.S_ISFIFO(mode),
        "islnk": stat.S_ISLNK(mode),
        "issock": stat.S_ISSOCK(mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "size": st.st_size,
        "inode": st.st_ino,
        "dev": st.st_dev,
        "nlink": st.st_nlink,
        "atime": st.st_atime,
        "mtime": st.st_mtime,
        "ctime": st.st_ctime,
        "wusr": bool(mode & stat.S_IWUSR),
        "rusr": bool(mode & stat.S_IRUSR),
        "xusr": bool(mode & stat.S_IXUSR),
        "wgrp": bool(mode & stat.S_IWGRP),
        "rgrp": bool(mode & stat.S_IRGRP),
        "xgrp": bool(mode & stat.S_IXGRP),
        "woth": bool(mode & stat.S_IWOTH),
        "roth": bool(mode & stat.S_IROTH),
        "xoth": bool(mode & stat.S_IXOTH),
        "isuid": bool(mode & stat.S_ISUID),
        "isgid": bool(mode & stat.S_ISGID),
        "blocks": st.st_blocks,
        "block_size": st.st_blksize,
        "device_type": st.st_rdev,
        "readable": os.access(path, os.R_OK),
        "writeable": os.access(path, os.W_OK),
        "executable": os.access(path, os.X_OK),
    }
    if out["islnk"]:
        out["lnk_source"] = os.path.realpath(path)
        out["lnk_target"] = os.readlink(path)
    with contextlib.suppress(KeyError):
        out["pw_name"] = pwd.getpwuid(st.st_uid).pw_name
    with contextlib.suppress(KeyError):
        out["gr_name"] = grp.getgrgid(st.st_gid).gr_name
    if out["isreg"] and out["readable"] and args.get("get_checksum", True):
        out["checksum"] = digest(path, args.get("checksum_algorithm") or "sha1")
    if args.get("get_mime", True):
        out["mimetype"] = out["charset"] = "unknown"
        tool = shutil.which("file")
        if tool:
            text = _output([tool, "--mime-type", "--mime-encoding", path])
            try:
                mimetype, charset = text.rsplit(":", 1)[1].split(";")
                out["mimetype"] = mimetype.strip()
                out["charset"] = charset.split("=")[1].strip()
            except (IndexError, ValueError):
                pass
    if args.get("get_attributes", True):
        out.update(version=None, attributes=[], attr_flags="")
        tool = shutil.which("lsattr")
        if tool:
            fields = _output([tool, "-vd", path]).split()
            if len(fields) >= 2:
                out["version"] = fields[0]
                out["attr_flags"] = fields[1].replace("-", "")
                out["attributes"] = [_ATTR_NAMES.get(c, c) for c in out["attr_flags"]]
    return {"changed": False, "stat": out}


_ATTR_NAMES = {
    "A": "noatime",
    "a": "append",
    "c": "compressed",
    "C": "nocow",
    "d": "nodump",
    "D": "dirsync",
    "e": "extents",
    "E": "encrypted",
    "h": "blocksize",
    "i": "immutable",
    "I": "indexed",
    "j": "journalled",
    "N": "inline",
    "s": "zero",
    "S": "synchronous",
    "t": "notail",
    "T": "blockroot",
    "u": "undelete",
    "X": "compressedraw",
    "Z": "compresseddirty",
}


def _output(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return ""
    return proc.stdout.decode("utf-8", "replace") if proc.returncode == 0 else ""


# --------------------------------------------------------------------------- file


class FileModule:
    """ansible's ``file`` module: the states file/directory/touch/absent/link/hard."""

    def __init__(self, args: dict[str, Any], check_mode: bool, diff_mode: bool) -> None:
        self.args = args
        self.check_mode = check_mode
        self.diff_mode = diff_mode
        self.follow = bool(args.get("follow", True))
        self.force = bool(args.get("force"))
        self.attrs = Attrs(args, check_mode)

    def attr_path(self, path: str) -> str:
        """``load_file_common_arguments``: attributes go to a followed link's target."""
        if self.follow and os.path.islink(path):
            return os.path.realpath(path)
        return path

    def run(self) -> dict[str, Any]:
        args = self.args
        path = expand(args["path"])
        src = expand(args["src"]) if args.get("src") else None
        state = args.get("state")
        if state not in ("link", "absent") and os.path.isdir(path):
            base = args.get("_original_basename") or (os.path.basename(src) if src else None)
            if base:
                path = os.path.join(path, base)
        prev = get_state(path)
        if state is None:
            if prev != "absent":
                state = prev
            elif args.get("recurse"):
                state = "directory"
            else:
                state = "file"
        if args.get("recurse") and state != "directory":
            raise Fail("recurse option requires state to be 'directory'", path=path)
        if src and state not in ("link", "hard"):
            raise Fail("src option requires state to be 'link' or 'hard'", path=path)
        if state == "absent":
            result = self.absent(path)
        elif state == "file":
            result = self.file(path)
        elif state == "directory":
            result = self.directory(path)
        elif state == "touch":
            result = self.touch(path)
        elif state == "link":
            result = self.link(path, src)
        else:
            result = self.hard(path, src)
        if not self.diff_mode:
            result.pop("diff", None)
        return result

    def initial_diff(self, path: str, state: str, prev: str) -> dict[str, Any]:
        diff: dict[str, Any] = {"before": {"path": path}, "after": {"path": path}}
        if prev != state:
            diff["before"]["state"] = prev
            diff["after"]["state"] = state
        return diff

    def timestamps(self, path: str, state: str, changed: bool, diff: dict[str, Any]) -> bool:
        """modification_time / access_time (``preserve`` by default, ``now`` for touch)."""
        mtime = self._when("modification_time", state)
        atime = self._when("access_time", state)
        if mtime is None and atime is None:
            return changed
        if self.check_mode and not os.path.exists(path):
            return True
        st = os.stat(path)
        if mtime == "now" and atime == "now":
            times: tuple[float, float] | None = None
        else:
            new_m = st.st_mtime if mtime is None else (time.time() if mtime == "now" else mtime)
            new_a = st.st_atime if atime is None else (time.time() if atime == "now" else atime)
            if new_m == st.st_mtime and new_a == st.st_atime:
                return changed
            times = (float(new_a), float(new_m))
        if not self.check_mode:
            try:
                os.utime(path, times)
            except OSError as exc:
                raise Fail(
                    f"Error while updating modification or access time: {exc}", path=path
                ) from None
        return True

    def _when(self, key: str, state: str) -> Any:
        value = self.args.get(key)
        if value is None:
            value = "now" if state == "touch" else "preserve"
        if value == "preserve":
            return None
        if value == "now":
            return "now"
        fmt = self.args.get(key + "_format") or "%Y%m%d%H%M.%S"
        try:
            return time.mktime(time.strptime(value, fmt))
        except (ValueError, OverflowError) as exc:
            raise Fail(
                f"Error while obtaining timestamp for time {value} using format {fmt}: {exc}"
            ) from None

    def absent(self, path: str) -> dict[str, Any]:
        prev = get_state(path)
        if prev == "absent":
            return {"path": path, "changed": False, "state": "absent"}
        diff = self.initial_diff(path, "absent", prev)
        if not self.check_mode:
            if prev == "directory":
                try:
                    shutil.rmtree(path)
                except Exception as exc:
                    raise Fail(f"rmtree failed: {exc}") from None
            else:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise Fail("Unlinking failed.", path=path, details=str(exc)) from None
        return {"path": path, "changed": True, "diff": diff, "state": "absent"}

    def file(self, path: str) -> dict[str, Any]:
        prev = get_state(path)
        if prev == "link" and self.follow:
            path = os.path.realpath(path)
            prev = get_state(path)
        if prev not in ("file", "hard"):
            raise Fail(f"file ({path}) is {prev}, cannot continue", path=path, state=prev)
        diff = self.initial_diff(path, "file", prev)
        changed = self.attrs.apply(path, False, diff)
        changed = self.timestamps(path, "file", changed, diff)
        return {"path": path, "changed": changed, "diff": diff}

    def directory(self, path: str) -> dict[str, Any]:
        prev = get_state(path)
        if self.follow and prev == "link":
            path = os.path.realpath(path)
            prev = get_state(path)
        diff = self.initial_diff(path, "directory", prev)
        changed = False
        if prev == "absent":
            if self.check_mode:
                return {"path": path, "changed": True, "diff": diff}
            # mkdir -p, with the attributes applied to each directory it creates
            current = "/" if os.path.isabs(path) else ""
            try:
                for part in path.strip("/").split("/"):
                    current = os.path.join(current, part) if current else part
                    if not os.path.exists(current):
                        try:
                            os.mkdir(current)
                        except FileExistsError:
                            if not os.path.isdir(current):
                                raise
                        changed = True
                        changed = self.attrs.apply(current, changed, diff)
            except Fail:
                raise
            except Exception as exc:
                raise Fail(
                    f"There was an issue creating {current} as requested: {exc}", path=path
                ) from None
            changed = self.timestamps(path, "directory", changed, diff)
            return {"path": path, "changed": changed, "diff": diff}
        if prev != "directory":
            raise Fail(f"{path} already exists as a {prev}", path=path)
        changed = self.attrs.apply(path, changed, diff)
        changed = self.timestamps(path, "directory", changed, diff)
        if self.args.get("recurse"):
            changed = self.recurse(path, changed)
        return {"path": path, "changed": changed, "diff": diff}

    def recurse(self, top: str, changed: bool) -> bool:
        for root, dirs, files in os.walk(top):
            for name in dirs + files:
                child = os.path.join(root, name)
                changed = self.attrs.apply(child, changed, None)
                changed = self.timestamps(child, "directory", changed, {})
                if self.follow and os.path.islink(child):
                    target = os.path.join(root, os.readlink(child))
                    if os.path.exists(target):
                        if os.path.isdir(target):
                            changed = self.recurse(target, changed)
                        changed = self.attrs.apply(target, changed, None)
        return changed

    def touch(self, path: str) -> dict[str, Any]:
        prev = get_state(path)
        result: dict[str, Any] = {"dest": path}
        changed = False
        if prev == "absent":
            if self.check_mode:
                result["changed"] = True
                return result
            try:
                open(path, "wb").close()
            except OSError as exc:
                raise Fail("Error, could not touch target.", path=path, details=str(exc)) from None
            changed = True
        diff = self.initial_diff(path, "touch", prev)
        try:
            target = self.attr_path(path)
            changed = self.attrs.apply(target, changed, diff)
            changed = self.timestamps(target, "touch", changed, diff)
        except Fail:
            if prev == "absent":
                os.remove(path)  # we just made it; do not leave it half-configured
            raise
        result.update(changed=changed, diff=diff)
        return result

    def link(self, path: str, src: str | None) -> dict[str, Any]:
        prev = get_state(path)
        if src is None and self.follow and os.path.exists(path):
            src = os.readlink(path) if os.path.islink(path) else None
        if not os.path.islink(path) and os.path.isdir(path):
            relpath = path
        else:
            relpath = os.path.dirname(path)
        absrc = os.path.join(relpath, src) if src is not None else None
        if not self.force and absrc is not None and not os.path.exists(absrc):
            raise Fail(
                "src file does not exist, use 'force=yes' if you really want to create the"
                f" link: {absrc}",
                path=path,
                src=src,
            )
        if prev == "directory":
            if not self.force:
                raise Fail(f"refusing to convert from {prev} to symlink for {path}", path=path)
            if os.listdir(path):
                raise Fail(f"the directory {path} is not empty, refusing to convert it", path=path)
        elif prev in ("file", "hard") and not self.force:
            raise Fail(f"refusing to convert from {prev} to symlink for {path}", path=path)
        diff = self.initial_diff(path, "link", prev)
        changed = False
        if prev in ("hard", "file", "directory", "absent"):
            if src is None:
                raise Fail("src is required for creating new symlinks")
            changed = True
        elif prev == "link" and src is not None:
            old = os.readlink(path)
            if old != src:
                diff["before"]["src"] = old
                diff["after"]["src"] = src
                changed = True
        if changed and not self.check_mode:
            assert src is not None
            if prev != "absent":
                tmp = os.path.join(os.path.dirname(path), f".{os.getpid()}.{time.time()}.tmp")
                try:
                    if prev == "directory":
                        os.rmdir(path)
                    os.symlink(src, tmp)
                    os.rename(tmp, path)
                except OSError as exc:
                    if os.path.lexists(tmp):
                        os.unlink(tmp)
                    raise Fail(f"Error while replacing: {exc}", path=path) from None
            else:
                try:
                    os.symlink(src, path)
                except OSError as exc:
                    raise Fail(f"Error while linking: {exc}", path=path) from None
        if self.check_mode and not os.path.exists(path):
            return {"dest": path, "src": src, "changed": changed, "diff": diff}
        target = self.attr_path(path)
        if not (self.follow and os.path.islink(path) and not os.path.exists(target)):
            changed = self.attrs.apply(target, changed, diff)
            changed = self.timestamps(target, "link", changed, diff)
        return {"dest": path, "src": src, "changed": changed, "diff": diff}

    def hard(self, path: str, src: str | None) -> dict[str, Any]:
        prev = get_state(path)
        if prev != "hard" and src is None:
            raise Fail("src is required for creating new hardlinks")
        if src is not None and not os.path.exists(src):
            raise Fail("src does not exist", dest=path, src=src)
        diff = self.initial_diff(path, "hard", prev)
        changed = False
        if prev == "absent":
            changed = True
        elif prev == "link":
            old = os.readlink(path)
            if old != src:
                diff["before"]["src"] = old
                diff["after"]["src"] = src
                changed = True
        elif prev == "hard":
            if src is not None and os.stat(path).st_ino != os.stat(src).st_ino:
                changed = True
                if not self.force:
                    raise Fail(
                        "Cannot link, different hard link exists at destination",
                        dest=path,
                        src=src,
                    )
        elif prev == "file":
            changed = True
            if not self.force:
                raise Fail(f"Cannot link, {prev} exists at destination", dest=path, src=src)
        elif prev == "directory":
            changed = True
            if src is not None and os.stat(path).st_ino == os.stat(src).st_ino:
                return {"path": path, "changed": False}
            if not self.force:
                raise Fail(
                    "Cannot link: different hard link exists at destination", dest=path, src=src
                )
        if changed and not self.check_mode:
            assert src is not None
            if prev != "absent":
                tmp = os.path.join(os.path.dirname(path), f".{os.getpid()}.{time.time()}.tmp")
                try:
                    if prev == "directory" and os.path.exists(path):
                        os.unlink(path)
                    os.link(src, tmp)
                    os.rename(tmp, path)
                except OSError as exc:
                    if os.path.lexists(tmp):
                        os.unlink(tmp)
                    raise Fail(f"Error while replacing: {exc}", path=path) from None
            else:
                try:
                    os.link(os.readlink(src) if self.follow and os.path.islink(src) else src, path)
                except OSError as exc:
                    raise Fail(f"Error while linking: {exc}", path=path) from None
        if self.check_mode and not os.path.exists(path):
            return {"dest": path, "src": src, "changed": changed, "diff": diff}
        changed = self.attrs.apply(path, changed, diff)
        changed = self.timestamps(path, "hard", changed, diff)
        return {"dest": path, "src": src, "changed": changed, "diff": diff}


# --------------------------------------------------------------------------- copy


def _text_or_none(data: bytes) -> str | None:
    if b"\x00" in data[:8192] or len(data) > 104448:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def do_copy(args: dict[str, Any], check_mode: bool, diff_mode: bool) -> dict[str, Any]:
    """copy/template, target side, in up to two calls.

    The content comes inline (``_content_b64``) or, for big files, in a temp file
    the controller wrote with ``put_file`` (``_upload``).  Without either, and
    when the content must change, the first call answers
    ``{"_playgraph_upload": <temp path next to dest>}`` and the controller calls
    again with ``_upload`` set to it.
    """
    dest = expand(args["dest"])
    checksum = args["_checksum"]
    upload = args.get("_upload")
    basename = args.get("_original_basename") or ""
    trailing = args["dest"].endswith("/")
    if trailing and not os.path.isdir(dest) and not check_mode:
        try:
            os.makedirs(dest)
        except OSError as exc:
            raise Fail(f"Error creating {dest}: {exc}", checksum=checksum) from None
    if os.path.isdir(dest):
        if not basename:
            raise Fail("can not use content with a dir as dest")
        dest = os.path.join(dest, basename)
    if args.get("follow") and os.path.islink(dest):
        dest = os.path.realpath(dest)
    exists = os.path.lexists(dest)
    if exists and not args.get("force", True):
        return {"changed": False, "dest": dest, "src": args.get("_src_display")}
    old_sum = digest(dest) if os.path.isfile(dest) and os.access(dest, os.R_OK) else None
    attrs = Attrs(args, check_mode)
    if old_sum == checksum:
        if upload:
            os.unlink(upload)  # someone else made it match meanwhile
        changed = attrs.apply(dest, False, None)
        return add_path_info(
            {"changed": changed, "checksum": checksum, "dest": dest, "path": dest, "diff": []}
        )
    data: bytes | None = None
    if args.get("_content_b64") is not None:
        data = base64.b64decode(args["_content_b64"])
    diff: list[dict[str, Any]] = []
    if diff_mode:
        before = b""
        if old_sum is not None:
            with open(dest, "rb") as f:
                before = f.read()
        after = data
        if after is None and upload:
            with open(upload, "rb") as f:
                after = f.read()
        if after is not None:
            before_text, after_text = _text_or_none(before), _text_or_none(after)
            if before_text is not None and after_text is not None:
                diff.append(
                    {
                        "before": before_text,
                        "after": after_text,
                        "before_header": dest,
                        "after_header": args.get("_src_display") or dest,
                    }
                )
    if check_mode:
        return {"changed": True, "diff": diff}
    directory = os.path.dirname(dest) or "."
    if not os.path.isdir(directory):
        raise Fail(f"Destination directory {directory} does not exist", checksum=checksum, diff=[])
    if not os.access(directory, os.W_OK):
        raise Fail(f"Destination {directory} not writable", checksum=checksum, diff=[])
    if data is not None:
        tmp = write_temp(directory, data)
    elif upload:
        tmp = upload
    else:
        # The controller uploads into this file (same directory: the final rename is atomic).
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".playgraph.", suffix=".upload")
        os.close(fd)
        return {"_playgraph_upload": tmp}
    try:
        if digest(tmp) != checksum:
            raise Fail(
                "Copied file does not match the expected checksum. Transfer failed.",
                checksum=checksum,
                diff=[],
            )
        if args.get("validate"):
            run_validate(args["validate"], tmp)
    except Fail:
        os.unlink(tmp)
        raise
    result: dict[str, Any] = {"changed": True, "checksum": checksum, "dest": dest, "diff": diff}
    if args.get("backup") and old_sum is not None:
        result["backup_file"] = backup_local(dest)
    atomic_move(tmp, dest)
    attrs.apply(dest, True, None)
    md5 = md5_or_none(dest)
    if md5 is not None:
        result["md5sum"] = md5
    result["src"] = tmp
    return add_path_info(result)


# --------------------------------------------------------------------------- lineinfile


def _write_lines(args: dict[str, Any], lines: list[bytes], dest: str) -> None:
    real = os.path.realpath(dest)
    tmp = write_temp(os.path.dirname(real) or ".", b"".join(lines))
    if args.get("validate"):
        try:
            run_validate(args["validate"], tmp)
        except Fail:
            os.unlink(tmp)
            raise
    atomic_move(tmp, real)


def _file_attrs(
    args: dict[str, Any], check_mode: bool, dest: str, changed: bool, msg: str, diff: dict[str, Any]
) -> tuple[str, bool]:
    """``check_file_attrs``: owner/group/mode, appended to the message as ansible does."""
    if Attrs(args, check_mode).apply(dest, False, diff):
        if changed:
            msg += " and "
        changed = True
        msg += "ownership, perms or SE linux context changed"
    return msg, changed


def lineinfile(args: dict[str, Any], check_mode: bool, diff_mode: bool) -> dict[str, Any]:
    dest = expand(args["path"])
    regexp = args.get("regexp")
    search = args.get("search_string")
    line = args.get("line")
    warnings = []
    if "" in (regexp, search):
        name = "regular expression" if regexp == "" else "search string"
        text = (
            f"The {name} is an empty string, which will match every line in the file. This may"
            " have unintended consequences, such as replacing the last line in the file rather"
            " than appending."
        )
        if regexp == "":
            text += (
                " If this is desired, use '^' to match every line in the file and avoid this"
                " warning."
            )
        warnings.append(text)
    if os.path.isdir(dest):
        raise Fail(f"Path {dest} is a directory !", rc=256)
    if args.get("state", "present") == "present":
        if args.get("backrefs") and regexp is None:
            raise Fail("regexp is required with backrefs=true")
        if line is None:
            raise Fail("line is required with state=present")
        before, after = args.get("insertbefore"), args.get("insertafter")
        if before is None and after is None:
            after = "EOF"
        result = _present(args, check_mode, diff_mode, dest, after, before)
    else:
        if (regexp, search, line) == (None, None, None):
            raise Fail("one of line, search_string, or regexp is required with state=absent")
        result = _absent(args, check_mode, diff_mode, dest)
    if warnings:
        result["warnings"] = warnings
    return result


def _present(
    args: dict[str, Any],
    check_mode: bool,
    diff_mode: bool,
    dest: str,
    insertafter: str | None,
    insertbefore: str | None,
) -> dict[str, Any]:
    regexp, search = args.get("regexp"), args.get("search_string")
    line: str = args["line"]
    firstmatch = bool(args.get("firstmatch"))
    backrefs = bool(args.get("backrefs"))
    diff: dict[str, Any] = {
        "before": "",
        "after": "",
        "before_header": f"{dest} (content)",
        "after_header": f"{dest} (content)",
    }
    if not os.path.exists(dest):
        if not args.get("create"):
            raise Fail(f"Destination {dest} does not exist !", rc=257)
        parent = os.path.dirname(dest)
        if parent and not os.path.exists(parent) and not check_mode:
            try:
                os.makedirs(parent)
            except OSError as exc:
                raise Fail(f"Error creating {parent} ({exc})") from None
        lines: list[bytes] = []
    else:
        with open(dest, "rb") as f:
            lines = f.readlines()
    if diff_mode:
        diff["before"] = b"".join(lines).decode("utf-8", "replace")
    b_line = line.encode("utf-8", "surrogateescape")
    bre_m = re.compile(regexp.encode("utf-8", "surrogateescape")) if regexp is not None else None
    if insertafter not in (None, "BOF", "EOF"):
        assert insertafter is not None
        bre_ins: re.Pattern[bytes] | None = re.compile(insertafter.encode("utf-8"))
    elif insertbefore not in (None, "BOF"):
        assert insertbefore is not None
        bre_ins = re.compile(insertbefore.encode("utf-8"))
    else:
        bre_ins = None

    # index[0]: the line regexp/search_string (or the exact line) matched;
    # index[1]: where insertafter/insertbefore would put the line.
    index = [-1, -1]
    match: Any = None
    exact = False
    if bre_m is not None:
        for n, cur in enumerate(lines):
            found = bre_m.search(cur)
            if found:
                index[0], match = n, found
                if firstmatch:
                    break
    if search is not None:
        b_search = search.encode("utf-8", "surrogateescape")
        for n, cur in enumerate(lines):
            if b_search in cur:
                index[0], match = n, True
                if firstmatch:
                    break
    if not match:
        for n, cur in enumerate(lines):
            if b_line == cur.rstrip(b"\r\n"):
                index[0] = n
                exact = True
            elif bre_ins is not None and bre_ins.search(cur):
                if insertafter:
                    index[1] = n + 1
                    if firstmatch:
                        break
                if insertbefore:
                    index[1] = n
                    if firstmatch:
                        break

    msg = ""
    changed = False
    sep = os.linesep.encode()
    if index[0] != -1:
        new = match.expand(b_line) if backrefs and match not in (None, True) else b_line
        if not new.endswith(sep):
            new += sep
        if (regexp, search, match) == (None, None, None) and not exact:
            if insertafter and insertafter != "EOF":
                if lines and lines[-1][-1:] not in (b"\n", b"\r"):
                    lines[-1] = lines[-1] + sep
                if len(lines) == index[1]:
                    if lines[index[1] - 1].rstrip(b"\r\n") != b_line:
                        lines.append(b_line + sep)
                        msg, changed = "line added", True
                elif lines[index[1]].rstrip(b"\r\n") != b_line:
                    lines.insert(index[1], b_line + sep)
                    msg, changed = "line added", True
            elif insertbefore and insertbefore != "BOF":
                if index[1] <= 0:
                    if lines[index[1]].rstrip(b"\r\n") != b_line:
                        lines.insert(index[1], b_line + sep)
                        msg, changed = "line added", True
                elif lines[index[1] - 1].rstrip(b"\r\n") != b_line:
                    lines.insert(index[1], b_line + sep)
                    msg, changed = "line added", True
        elif lines[index[0]] != new:
            lines[index[0]] = new
            msg, changed = "line replaced", True
    elif backrefs:
        pass  # no match to take the backreferences from: do nothing, as ansible
    elif insertbefore == "BOF" or insertafter == "BOF":
        lines.insert(0, b_line + sep)
        msg, changed = "line added", True
    elif insertafter == "EOF" or index[1] == -1:
        if lines and lines[-1][-1:] not in (b"\n", b"\r"):
            lines.append(sep)
        lines.append(b_line + sep)
        msg, changed = "line added", True
    elif insertafter and index[1] != -1:
        if len(lines) == index[1]:
            if lines[index[1] - 1].rstrip(b"\r\n") != b_line:
                lines.append(b_line + sep)
                msg, changed = "line added", True
        elif b_line != lines[index[1]].rstrip(b"\n\r"):
            lines.insert(index[1], b_line + sep)
            msg, changed = "line added", True
    else:
        lines.insert(index[1], b_line + sep)
        msg, changed = "line added", True

    if diff_mode:
        diff["after"] = b"".join(lines).decode("utf-8", "replace")
    backup = ""
    if changed and not check_mode:
        if args.get("backup") and os.path.exists(dest):
            backup = backup_local(dest)
        _write_lines(args, lines, dest)
    if check_mode and not os.path.exists(dest):
        return {"changed": changed, "msg": msg, "backup": backup, "diff": diff}
    attr_diff: dict[str, Any] = {}
    msg, changed = _file_attrs(args, check_mode, dest, changed, msg, attr_diff)
    attr_diff["before_header"] = f"{dest} (file attributes)"
    attr_diff["after_header"] = f"{dest} (file attributes)"
    return {"changed": changed, "msg": msg, "backup": backup, "diff": [diff, attr_diff]}


def _absent(args: dict[str, Any], check_mode: bool, diff_mode: bool, dest: str) -> dict[str, Any]:
    if not os.path.exists(dest):
        return {"changed": False, "msg": "file not present"}
    regexp, search, line = args.get("regexp"), args.get("search_string"), args.get("line")
    diff: dict[str, Any] = {
        "before": "",
        "after": "",
        "before_header": f"{dest} (content)",
        "after_header": f"{dest} (content)",
    }
    with open(dest, "rb") as f:
        lines = f.readlines()
    if diff_mode:
        diff["before"] = b"".join(lines).decode("utf-8", "replace")
    bre = re.compile(regexp.encode("utf-8", "surrogateescape")) if regexp is not None else None
    b_line = (line or "").encode("utf-8", "surrogateescape")
    found: list[bytes] = []
    kept: list[bytes] = []
    for cur in lines:
        if bre is not None:
            hit = bool(bre.search(cur))
        elif search is not None:
            hit = search.encode("utf-8", "surrogateescape") in cur
        else:
            hit = b_line == cur.rstrip(b"\r\n")
        (found if hit else kept).append(cur)
    changed = bool(found)
    if diff_mode:
        diff["after"] = b"".join(kept).decode("utf-8", "replace")
    backup = ""
    if changed and not check_mode:
        if args.get("backup"):
            backup = backup_local(dest)
        _write_lines(args, kept, dest)
    msg = f"{len(found)} line(s) removed" if changed else ""
    attr_diff: dict[str, Any] = {}
    msg, changed = _file_attrs(args, check_mode, dest, changed, msg, attr_diff)
    attr_diff["before_header"] = f"{dest} (file attributes)"
    attr_diff["after_header"] = f"{dest} (file attributes)"
    return {
        "changed": changed,
        "found": len(found),
        "msg": msg,
        "backup": backup,
        "diff": [diff, attr_diff],
    }


# --------------------------------------------------------------------------- main

MODULES = {
    "stat": do_stat,
    "file": lambda args, check, diff: FileModule(args, check, diff).run(),
    "copy": do_copy,
    "template": do_copy,
    "lineinfile": lineinfile,
}

# Modules whose results (and failures) carry ansible's path info (add_path_info).
_PATH_INFO = ("file", "copy", "template")


def main() -> None:
    req = json.loads(sys.stdin.buffer.read() or b"{}")
    module = req.get("module")
    try:
        handler = MODULES[module]
        result = handler(req.get("args") or {}, bool(req.get("check_mode")), bool(req.get("diff")))
        if module == "file":
            result = add_path_info(result)
    except Fail as exc:
        result = exc.result
        if module in _PATH_INFO:
            result = add_path_info(result)
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
