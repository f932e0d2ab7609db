"""Controller sides of ansible-core's action plugins: fetch, unarchive, assemble, service,
uri and reboot, as ansible-core 2.19's ``plugins/action/<name>.py`` do them.

Each does its controller work here (read a local file, pick a module, wait for a
reboot) and, where ansible-core's plugin then runs a module on the target, runs
that same module through the generic path (`ansible_modules.run_ansible_module`,
or a job for ``service``/``uri`` with ``async``).  ``fetch`` and ``reboot`` need
no ansible-core at all: the native ``stat`` program and the connection suffice.

Files shipped for a module go to a private temporary folder under the target's
``ansible_remote_tmp`` (made, like the module's run, as the ``become`` user), removed
after a synchronous run and by the job itself after an ``async`` one.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import dataclasses
import hashlib
import os
import posixpath
import re
import secrets
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any, ClassVar

from playgraph.semantics import BOOLEANS_TRUE, builtin_name

from . import ansible_modules
from .ansible_modules import resolve as _resolve
from .ansible_modules.module import GenericModule
from .connection.base import TargetUnreachable
from .connection.local import LocalConnection
from .jobspec import JobSpec
from .modules.base import Module, ModuleFailure, TaskContext
from .modules.files import STAT_SPEC
from .modules.remote import async_unsupported, run_program, short_name

Result = dict[str, Any]


# --------------------------------------------------------------------------- helpers


def _bool(value: Any) -> bool:
    """ansible-core's ``boolean(value, strict=False)``."""
    probe = value.strip().lower() if isinstance(value, str) else value
    try:
        return probe in BOOLEANS_TRUE
    except TypeError:
        return False


def _fail(msg: str, **result: Any) -> ModuleFailure:
    return ModuleFailure(msg, changed=False, **result)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _require_ansible(what: str) -> None:
    if not ansible_modules.available():
        raise _fail(
            f"{what} runs ansible-core's own module on the target, and ansible-core is not"
            " installed: pip install 'playgraph[ansible]'"
        )


async def _module(ctx: TaskContext, fqcn: str, args: Mapping[str, Any]) -> Result:
    """Run module ``fqcn`` through the generic path, synchronously (no action plugin)."""
    _require_ansible(short_name(ctx))
    return await ansible_modules.run_ansible_module(ctx, fqcn, args)


async def expand_user(ctx: TaskContext, path: str) -> str:
    """``~`` and ``~user`` expanded on the target, as ansible-core's ``_remote_expand_user``
    (plain ``~`` is the ``become`` user's home under become)."""
    if not path.startswith("~"):
        return path
    head, sep, rest = path.partition("/")
    if head == "~":
        head = f"~{ctx.become.user}" if ctx.become is not None else "~"
    if not re.fullmatch(r"~[A-Za-z0-9._-]*", head):
        return path
    res = await ctx.conn.run(["/bin/sh", "-c", f"echo {head}"])
    lines = _text(res.stdout).strip().splitlines()
    home = lines[-1] if lines else ""
    if not home:
        pwd = await ctx.conn.run(["/bin/sh", "-c", "pwd"])
        return _text(pwd.stdout).strip() or path
    return posixpath.join(home, rest) if sep else home


async def remote_stat(ctx: TaskContext, path: str, *, follow: bool) -> dict[str, Any]:
    """ansible-core's ``_execute_remote_stat``: the ``stat`` of ``path`` with its sha1 checksum
    (``"1"`` when it does not exist, ``""`` when none could be taken)."""
    params = STAT_SPEC.validate(
        {
            "path": path,
            "follow": follow,
            "get_checksum": True,
            "get_mime": False,
            "get_attributes": False,
            "checksum_algorithm": "sha1",
        }
    )
    result = await run_program(ctx, "files", "stat", params)
    if result.get("failed"):
        msg = result.get("module_stderr") or result.get("module_stdout") or result.get("msg")
        raise _fail(f"Failed to get information on remote file ({path}): {msg}")
    stat: dict[str, Any] = dict(result.get("stat") or {})
    if not stat.get("exists"):
        stat["checksum"] = "1"
    stat.setdefault("checksum", "")
    return stat


_MKTEMP = (
    'b=$1; case $b in "~") b=$HOME;; "~/"*) b="$HOME/${b#"~/"}";; esac; '
    'umask 077 && mkdir -p "$b" && mktemp -d "$b/ansible-tmp-playgraph.XXXXXXXX"'
)


async def make_tmp(ctx: TaskContext) -> str:
    """A private temporary folder on the target (under ``ansible_remote_tmp``), as the
    ``become`` user: the module runs as that user and must read what is shipped there."""
    base = os.environ.get("ANSIBLE_REMOTE_TMP") or "~/.ansible/tmp"
    try:
        value = ctx.variables.get("ansible_remote_tmp")
        if isinstance(value, str) and value:
            base = value
    except Exception:  # noqa: BLE001 - an unrenderable variable: the default
        pass
    res = await ctx.conn.run(["/bin/sh", "-c", _MKTEMP, "sh", base], become=ctx.become)
    path = _text(res.stdout).strip()
    if res.rc != 0 or not path.startswith("/"):
        raise _fail(
            "could not create a temporary directory on the target: " + _text(res.stderr).strip()
        )
    return path


async def remove_tmp(ctx: TaskContext, path: str) -> None:
    # A leftover temp folder must not turn the task's result into a failure.
    with contextlib.suppress(OSError, TargetUnreachable):
        await ctx.conn.run(["rm", "-rf", "--", path], become=ctx.become)


async def ship(ctx: TaskContext, local: str, remote: str) -> None:
    with open(local, "rb") as f:
        data = f.read()
    await ctx.conn.put_file(data, remote, mode=0o600, become=ctx.become)


def find_local(ctx: TaskContext, subdir: str, name: str, *, folders: bool = False) -> str:
    """ansible-core's ``_find_needle``: ``<base>/<subdir>/<name>``, then ``<base>/<name>``,
    in the task's role first, then beside the playbook."""
    name = os.path.expanduser(name)
    if os.path.isabs(name):
        candidates = [name]
    else:
        bases = [ctx.role_dir, ctx.base_dir] if ctx.role_dir else [ctx.base_dir]
        candidates = [
            p for b in bases for p in (os.path.join(b, subdir, name), os.path.join(b, name))
        ]
    for path in candidates:
        if (os.path.isfile(path) or (folders and os.path.isdir(path))) and os.access(path, os.R_OK):
            return os.path.abspath(path)
    searched = "".join(f"\n\t{c}" for c in candidates)
    raise _fail(
        f"Could not find or access '{name}'\nSearched in:{searched} on the Ansible Controller.\n"
        "If you are using a module and expect the file to exist on the remote, see the"
        " remote_src option"
    )


# --------------------------------------------------------------------------- async base


@dataclasses.dataclass(frozen=True, slots=True)
class _Plan:
    """The module a controller side decided to run, its arguments and its temp folder."""

    fqcn: str
    args: Mapping[str, Any]
    tmp: str | None = None


class _Delegating:
    """A controller side that ends in one module run: synchronously, or as a job
    (`prepare` does the controller work and ships; `job` builds the job without I/O)."""

    names: ClassVar[tuple[str, ...]]
    supports_async: ClassVar[bool] = True

    def __init__(self) -> None:
        self._ready: dict[int, tuple[_Plan, GenericModule]] = {}
        """id(ctx) -> the plan and its prepared generic module, from `prepare` to `job`."""

    async def plan(self, ctx: TaskContext) -> _Plan:
        raise NotImplementedError

    async def run(self, ctx: TaskContext) -> Result:
        plan = await self.plan(ctx)
        try:
            return await _module(ctx, plan.fqcn, plan.args)
        finally:
            if plan.tmp is not None:
                await remove_tmp(ctx, plan.tmp)

    async def prepare(self, ctx: TaskContext) -> None:
        _require_ansible(short_name(ctx))
        plan = await self.plan(ctx)
        generic = GenericModule(plan.fqcn, check_action_plugin=False)
        try:
            await generic.prepare(dataclasses.replace(ctx, args=plan.args, action=plan.fqcn))
        except BaseException:
            if plan.tmp is not None:
                await remove_tmp(ctx, plan.tmp)
            raise
        self._ready[id(ctx)] = (plan, generic)

    def job(self, ctx: TaskContext, jid: str, limit: float) -> JobSpec:
        ready = self._ready.pop(id(ctx), None)
        if ready is None:
            raise _fail(f"the {ctx.action} task was not prepared for a job")
        plan, generic = ready
        spec: JobSpec = generic.job(
            dataclasses.replace(ctx, args=plan.args, action=plan.fqcn), jid, limit
        )
        if plan.tmp is not None and spec.argv is not None:
            # The job removes the files shipped for it when the module is done.
            cleanup = 't=$1; shift; "$@"; rc=$?; rm -rf -- "$t"; exit $rc'
            spec = dataclasses.replace(
                spec, argv=["/bin/sh", "-c", cleanup, "sh", plan.tmp, *spec.argv]
            )
        return spec


# --------------------------------------------------------------------------- fetch


class FetchModule:
    """``fetch``: a target's file to ``dest/<host>/<path>`` (or ``dest`` with ``flat``)."""

    names: ClassVar[tuple[str, ...]] = ("fetch",)
    supports_async: ClassVar[bool] = False

    async def run(self, ctx: TaskContext) -> Result:
        if ctx.check_mode:
            return {
                "changed": False,
                "skipped": True,
                "msg": "check mode not (yet) supported for this module",
            }
        args = ctx.args
        source, dest = args.get("src"), args.get("dest")
        flat = _bool(args.get("flat"))
        fail_on_missing = _bool(args.get("fail_on_missing", True))
        validate_checksum = _bool(args.get("validate_checksum", True))
        msg = ""
        if not isinstance(source, str):
            msg = "Invalid type supplied for source option, it must be a string"
        if not isinstance(dest, str):
            msg = "Invalid type supplied for dest option, it must be a string"
        if source is None or dest is None:
            msg = "src and dest are required"
        if msg:
            raise _fail(msg)
        assert isinstance(source, str) and isinstance(dest, str)
        source = await expand_user(ctx, source)
        stat = await self._stat(ctx, source, fail_on_missing)
        if "result" in stat:
            return dict(stat["result"])
        data = await self._read(ctx, source, stat, fail_on_missing)
        if isinstance(data, dict):
            return data
        remote_checksum = hashlib.sha1(data).hexdigest()

        if flat:
            if os.path.isdir(dest) and not dest.endswith(os.sep):
                raise _fail(
                    "dest is an existing directory, use a trailing slash if you want to"
                    " fetch src into that directory"
                )
            if dest.endswith(os.sep):
                dest = os.path.join(dest, posixpath.basename(source))
                if os.path.isdir(dest):
                    raise _fail(
                        f"calculated dest '{dest}' is an existing directory, use another path"
                        " that does not point to an existing directory"
                    )
            if not dest.startswith("/"):
                dest = os.path.join(os.path.abspath(ctx.base_dir), dest)
        else:
            base = os.path.join(os.path.abspath(ctx.base_dir), os.path.expanduser(dest))
            dest = f"{base}/{ctx.host}/{source}"
        dest = os.path.normpath(dest)

        local_checksum = _local_sha1(dest)
        if remote_checksum == local_checksum:
            return {
                "changed": False,
                "md5sum": _local_md5(dest),
                "file": source,
                "dest": dest,
                "checksum": local_checksum,
            }
        try:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as f:
                f.write(data)
        except OSError as error:
            raise _fail(f"Failed to fetch the file. {error}") from None
        new_checksum = _local_sha1(dest)
        result: Result = {
            "md5sum": _local_md5(dest),
            "remote_md5sum": None,
            "checksum": new_checksum,
            "remote_checksum": remote_checksum,
        }
        if validate_checksum and new_checksum != remote_checksum:
            return {
                **result,
                "failed": True,
                "changed": False,
                "msg": "checksum mismatch",
                "file": source,
                "dest": dest,
            }
        return {"changed": True, **result, "dest": dest}

    async def _stat(self, ctx: TaskContext, source: str, fail_on_missing: bool) -> dict[str, Any]:
        try:
            stat = await remote_stat(ctx, source, follow=True)
        except ModuleFailure as failure:
            result: Result = {"changed": False, "file": source}
            if fail_on_missing:
                result.update(failed=True, msg=failure.result["msg"])
            else:
                result["msg"] = f"{failure.result['msg']}, ignored"
            return {"result": result}
        if stat.get("exists") and stat.get("isdir"):
            msg = "remote file is a directory, fetch cannot work on directories"
            if fail_on_missing:
                return {"result": {"failed": True, "changed": False, "msg": msg}}
            return {"result": {"msg": msg + ", not transferring, ignored"}}
        return stat

    async def _read(
        self, ctx: TaskContext, source: str, stat: Mapping[str, Any], fail_on_missing: bool
    ) -> bytes | Result:
        """The file's bytes; a missing or unreadable file: the result ansible-core's slurp
        fallback gives."""
        msg = ""
        if not stat.get("exists"):
            msg = "the remote file does not exist, not transferring, ignored"
        else:
            try:
                data: bytes = await ctx.conn.get_file(source, become=ctx.become)
                return data
            except (OSError, ModuleFailure) as error:
                msg = f"file is not readable: {source}"
                if "No such file" in str(error):
                    msg = "the remote file does not exist, not transferring, ignored"
        if fail_on_missing:
            return {"failed": True, "msg": msg, "changed": False}
        return {"file": source, "changed": False, "msg": msg}

    def job(self, ctx: TaskContext, jid: str, limit: float) -> JobSpec:
        raise async_unsupported(ctx)


def _local_sha1(path: str) -> str | None:
    if not os.path.isfile(path):
        return None
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _local_md5(path: str) -> str | None:
    try:
        digest = hashlib.md5()
    except ValueError:  # FIPS: ansible-core returns None too
        return None
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- unarchive


def _mask_url(url: str) -> str:
    """ansible-core's ``mask_url``: the password of a URL's credentials hidden."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":********@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class UnarchiveModule:
    """``unarchive``: a controller ``src`` shipped first, then the module with it (no async)."""

    names: ClassVar[tuple[str, ...]] = ("unarchive",)
    supports_async: ClassVar[bool] = False

    async def run(self, ctx: TaskContext) -> Result:
        args = dict(ctx.args)
        source, dest = args.get("src"), args.get("dest")
        remote_src = _bool(args.get("remote_src", False))
        creates = args.get("creates")
        if "copy" in args:
            if "remote_src" in args:
                raise _fail("parameters are mutually exclusive: ('copy', 'remote_src')")
            args["remote_src"] = remote_src = not _bool(args.pop("copy"))
        if source is None or dest is None:
            raise _fail("src (or content) and dest are required")
        if creates:
            creates = await expand_user(ctx, str(creates))
            probe = await ctx.conn.run(
                ["/bin/sh", "-c", 'test -e "$1"', "sh", creates], become=ctx.become
            )
            if probe.rc == 0:
                return {
                    "changed": False,
                    "skipped": True,
                    "msg": f"skipped, since {creates} exists",
                }
        dest = await expand_user(ctx, str(dest))
        local = None
        if not remote_src:
            if "://" in str(source):
                raise _fail(
                    f"Unsupported option, an URI src ({_mask_url(str(source))}) is only"
                    " supported when remote_src is True"
                )
            local = find_local(ctx, "files", str(source))
        stat = await remote_stat(ctx, dest, follow=True)
        if not stat.get("exists") or not stat.get("isdir"):
            raise _fail(f"dest '{dest}' must be an existing dir")
        args.pop("decrypt", None)
        _require_ansible("unarchive")
        if local is None:
            return await _module(ctx, "ansible.legacy.unarchive", args)
        tmp = await make_tmp(ctx)
        try:
            remote = posixpath.join(tmp, "source")
            await ship(ctx, local, remote)
            return await _module(ctx, "ansible.legacy.unarchive", {**args, "src": remote})
        finally:
            await remove_tmp(ctx, tmp)

    def job(self, ctx: TaskContext, jid: str, limit: float) -> JobSpec:
        raise async_unsupported(ctx)


# --------------------------------------------------------------------------- assemble


def assemble_fragments(
    src: str, delimiter: Any, regexp: re.Pattern[str] | None, ignore_hidden: bool
) -> bytes:
    """ansible-core's ``_assemble_from_fragments``: the folder's files in name order, a
    newline between fragments that lack one, ``delimiter`` (unescaped, then a newline)
    between them."""
    out = bytearray()
    delimit_me = False
    add_newline = False
    escape_decode: Any = getattr(codecs, "escape_decode")  # noqa: B009 - undocumented in typeshed
    for name in sorted(os.listdir(src)):
        if regexp is not None and not regexp.search(name):
            continue
        fragment = f"{src}/{name}"
        if not os.path.isfile(fragment) or (ignore_hidden and name.startswith(".")):
            continue
        with open(fragment, "rb") as f:
            content = f.read()
        if add_newline:
            out += b"\n"
        if delimit_me and delimiter:
            # As ansible-core: unescaped again before every use.
            raw = delimiter.encode() if isinstance(delimiter, str) else delimiter
            delimiter = escape_decode(raw)[0]
            # ansible-core compares the delimiter's last byte (an int) with b"\n": never
            # equal, so a newline always follows the delimiter.
            out += delimiter + b"\n"
        out += content
        delimit_me = True
        add_newline = not content.endswith(b"\n")
    return bytes(out)


class AssembleModule:
    """``assemble``: with ``remote_src: false`` the fragments are joined here and installed
    by the ``copy`` module; otherwise the module itself (no async)."""

    names: ClassVar[tuple[str, ...]] = ("assemble",)
    supports_async: ClassVar[bool] = False

    async def run(self, ctx: TaskContext) -> Result:
        args = dict(ctx.args)
        src, dest = args.get("src"), args.get("dest")
        delimiter = args.get("delimiter")
        remote_src = args.get("remote_src", "yes")
        regexp = args.get("regexp")
        follow = _bool(args.get("follow", False))
        ignore_hidden = _bool(args.get("ignore_hidden", False))
        args.pop("decrypt", None)
        if src is None or dest is None:
            raise _fail("src and dest are required")
        if _bool(remote_src):
            return await _module(ctx, "ansible.legacy.assemble", args)
        local = find_local(ctx, "files", str(src), folders=True)
        if not os.path.isdir(local):
            raise _fail(f"Source ({local}) is not a directory")
        try:
            pattern = re.compile(regexp) if regexp is not None else None
        except re.error as error:
            raise _fail(f"regexp: {error}") from None
        data = assemble_fragments(local, delimiter, pattern, ignore_hidden)
        dest = await expand_user(ctx, str(dest))
        new_args = {
            k: v
            for k, v in args.items()
            if k not in ("remote_src", "regexp", "delimiter", "ignore_hidden", "decrypt")
        }
        new_args["dest"] = dest
        _require_ansible("assemble")
        # ansible-core compares the sha1 of the assembled file's *path* with the dest's
        # checksum: never equal, so it always runs ``copy`` (unchanged content: not changed).
        diff: Result = {}
        if ctx.diff:
            stat = await remote_stat(ctx, dest, follow=follow)
            diff = await _diff(ctx, dest, stat, data)
        tmp = await make_tmp(ctx)
        try:
            remote = posixpath.join(tmp, "src")
            await ctx.conn.put_file(data, remote, mode=0o600, become=ctx.become)
            result = await _module(ctx, "ansible.legacy.copy", {**new_args, "src": remote})
        finally:
            await remove_tmp(ctx, tmp)
        if diff:
            result["diff"] = diff
        return result

    def job(self, ctx: TaskContext, jid: str, limit: float) -> JobSpec:
        raise async_unsupported(ctx)


_MAX_DIFF = 104448
"""ansible-core's ``MAX_FILE_SIZE_FOR_DIFF`` default."""


async def _diff(ctx: TaskContext, dest: str, stat: Mapping[str, Any], data: bytes) -> Result:
    """The before/after of ``dest``, as ansible-core's ``_get_diff_data`` gives it."""
    diff: Result = {}
    if stat.get("exists") and not stat.get("isdir"):
        try:
            before = await ctx.conn.get_file(dest, become=ctx.become)
        except OSError:
            before = b""
        if len(before) > _MAX_DIFF:
            diff["dst_larger"] = _MAX_DIFF
        elif b"\x00" in before:
            diff["dst_binary"] = 1
        else:
            diff["before_header"] = dest
            diff["before"] = before.decode("utf-8", "replace")
    if len(data) > _MAX_DIFF:
        diff["src_larger"] = _MAX_DIFF
    elif b"\x00" in data:
        diff["src_binary"] = 1
    else:
        diff["after_header"] = "assembled"
        diff["after"] = data.decode("utf-8", "replace")
    return diff


# --------------------------------------------------------------------------- service


_SERVICE_UNUSED: Mapping[str, tuple[str, ...]] = {
    "systemd": ("pattern", "runlevel", "sleep", "arguments", "args"),
}
_BUILTIN_SERVICE_MANAGERS = frozenset({"openwrt_init", "service", "systemd", "sysvinit"})


class ServiceModule(_Delegating):
    """``service``: the module of the host's service manager (``use``, else the
    ``service_mgr`` fact, else the ``setup`` module's), run with the task's arguments."""

    names: ClassVar[tuple[str, ...]] = ("service",)

    async def plan(self, ctx: TaskContext) -> _Plan:
        _require_ansible("service")
        module = str(ctx.args.get("use", "auto")).lower()
        if module == "auto":
            module = _service_mgr_fact(ctx) or "auto"
        if module == "auto":
            facts = await _module(
                ctx,
                "ansible.legacy.setup",
                {"gather_subset": "!all", "filter": "ansible_service_mgr"},
            )
            found = (facts.get("ansible_facts") or {}).get("ansible_service_mgr", "auto")
            module = str(found) if found else "auto"
        if not module or module == "auto" or not await _has_module(ctx, module):
            module = "ansible.legacy.service"
        args = {k: v for k, v in ctx.args.items() if k != "use"}
        for unused in _SERVICE_UNUSED.get(module, ()):
            args.pop(unused, None)
        if module in _BUILTIN_SERVICE_MANAGERS:
            module = "ansible.legacy." + module
        return _Plan(module, args)


def _service_mgr_fact(ctx: TaskContext) -> str | None:
    """``ansible_facts.service_mgr`` of the host (of the delegate, when delegating)."""
    try:
        variables: Any = ctx.variables
        if ctx.conn.host != ctx.host:
            variables = variables["hostvars"][ctx.conn.host]
        value = variables["ansible_facts"]["service_mgr"]
    except Exception:  # noqa: BLE001 - no fact (not gathered): ansible-core asks setup
        return None
    return str(value).lower() if isinstance(value, str) and value else None


async def _has_module(ctx: TaskContext, name: str) -> bool:
    def find() -> bool:
        try:
            _resolve.resolve(name, ctx.base_dir, ctx.role_dir)
        except ModuleFailure:
            return False
        return True

    return await asyncio.to_thread(find)


# --------------------------------------------------------------------------- uri


class UriModule(_Delegating):
    """``uri``: ``src`` (and ``form-multipart`` files) shipped, then the module; no check
    mode (ansible-core's action skips it), ``async`` supported.  Messages name the action
    by its short name, as playgraph's "does not support async" does."""

    names: ClassVar[tuple[str, ...]] = ("uri",)
    check_mode: ClassVar[bool] = False

    async def run(self, ctx: TaskContext) -> Result:
        if ctx.check_mode:
            return {
                "changed": False,
                "skipped": True,
                "msg": f"This action ({short_name(ctx)}) does not support check mode.",
            }
        return await super().run(ctx)

    async def plan(self, ctx: TaskContext) -> _Plan:
        _require_ansible("uri")
        args = dict(ctx.args)
        if _bool(args.get("remote_src", "no")):
            return _Plan("ansible.legacy.uri", args)
        src = args.get("src")
        body = args.get("body")
        shipments: list[tuple[str, str]] = []
        tmp = None
        if src:
            local = find_local(ctx, "files", str(src))
            tmp = await make_tmp(ctx)
            args["src"] = posixpath.join(tmp, os.path.basename(local))
            shipments.append((local, args["src"]))
        elif args.get("body_format", "raw") == "form-multipart":
            if not isinstance(body, Mapping):
                raise _fail(f"body must be mapping, cannot be type {type(body).__name__}")
            body = {k: dict(v) if isinstance(v, Mapping) else v for k, v in body.items()}
            for value in body.values():
                if not isinstance(value, dict):
                    continue
                filename = value.get("filename")
                if not filename or value.get("content"):
                    continue
                local = find_local(ctx, "files", str(filename))
                if tmp is None:
                    tmp = await make_tmp(ctx)
                value["filename"] = posixpath.join(tmp, os.path.basename(local))
                shipments.append((local, value["filename"]))
            args["body"] = body
        try:
            for local, remote in shipments:
                await ship(ctx, local, remote)
        except BaseException:
            if tmp is not None:
                await remove_tmp(ctx, tmp)
            raise
        return _Plan("ansible.legacy.uri", args, tmp)


# --------------------------------------------------------------------------- reboot


_REBOOT_ARGS = frozenset(
    {
        "boot_time_command",
        "connect_timeout",
        "msg",
        "post_reboot_delay",
        "pre_reboot_delay",
        "reboot_command",
        "reboot_timeout",
        "search_paths",
        "test_command",
    }
)
_BOOT_TIME_COMMANDS = {
    "freebsd": "/sbin/sysctl kern.boottime",
    "openbsd": "/sbin/sysctl kern.boottime",
    "macosx": "who -b",
    "solaris": "who -b",
    "sunos": "who -b",
    "vmkernel": "grep booted /var/log/vmksummary.log | tail -n 1",
    "aix": "who -b",
}
_SHUTDOWN_COMMANDS = {"alpine": "reboot", "vmkernel": "reboot"}
_SHUTDOWN_ARGS = {
    "alpine": "",
    "void": '-r +{delay_min} "{message}"',
    "freebsd": '-r +{delay_sec}s "{message}"',
    "linux": '-r {delay_min} "{message}"',
    "macosx": '-r +{delay_min} "{message}"',
    "openbsd": '-r +{delay_min} "{message}"',
    "solaris": '-y -g {delay_sec} -i 6 "{message}"',
    "sunos": '-y -g {delay_sec} -i 6 "{message}"',
    "vmkernel": "-d {delay_sec}",
    "aix": "-Fr",
}
_TEST_COMMANDS = {"solaris": "who", "vmkernel": "who"}
_UNAME = {"darwin": "macosx", "sunos": "solaris"}
_DISTRIBUTION = (
    "u=$(uname -s 2>/dev/null); id=; v=; if [ -r /etc/os-release ]; then "
    '. /etc/os-release 2>/dev/null; id=$ID; v=$VERSION_ID; fi; echo "$u|$id|${v%%.*}"'
)


class _Timeout(Exception):
    pass


class RebootModule:
    """``reboot``: the reboot command, then the boot id (``boot_time_command``) must change
    and ``test_command`` succeed within ``reboot_timeout``, retried with ansible-core's
    backoff; refused on the local connection (no async)."""

    names: ClassVar[tuple[str, ...]] = ("reboot",)
    supports_async: ClassVar[bool] = False

    async def run(self, ctx: TaskContext) -> Result:
        if isinstance(ctx.conn, LocalConnection):
            return {
                "changed": False,
                "elapsed": 0,
                "rebooted": False,
                "failed": True,
                "msg": f"Running {short_name(ctx)} with local connection would reboot the"
                " control node.",
            }
        if ctx.check_mode:
            return {"changed": True, "elapsed": 0, "rebooted": True}
        args = ctx.args
        bad = [k for k in args if k not in _REBOOT_ARGS]
        if bad:
            raise _fail(f"Invalid options for {short_name(ctx)}: {','.join(bad)}")
        try:
            distribution = await self._distribution(ctx)
            shutdown = await self._shutdown_command(ctx, distribution)
            boot_command = _boot_time_command(args, distribution)
            pre_delay = _delay(args, "pre_reboot_delay")
            post_delay = _delay(args, "post_reboot_delay")
            reboot_timeout = int(args.get("reboot_timeout", args.get("reboot_timeout_sec", 600)))
            connect_timeout = args.get("connect_timeout", args.get("connect_timeout_sec"))
        except (ValueError, TypeError) as error:
            raise _fail(str(error)) from None
        try:
            previous = await self._boot_time(ctx, boot_command, None)
        except ModuleFailure as failure:
            return {"failed": True, "reboot": False, "msg": failure.result["msg"], "changed": False}
        command = f"{shutdown} {_shutdown_args(args, distribution, pre_delay)}"
        try:
            res = await ctx.conn.run(shell=command, become=ctx.become)
            rc, out, err = res.rc, _text(res.stdout), _text(res.stderr)
        except TargetUnreachable:  # the connection closed by the shutdown itself
            rc, out, err = 0, "", ""
        start = time.monotonic()
        if rc != 0:
            return {
                "failed": True,
                "rebooted": False,
                "changed": False,
                "msg": f"Reboot command failed. Error was: '{out.strip()}, {err.strip()}'",
                "elapsed": int(time.monotonic() - start),
            }
        if post_delay:
            await asyncio.sleep(post_delay)
        limit = float(connect_timeout) if connect_timeout else None
        try:
            await self._until(
                ctx,
                "last boot time check",
                reboot_timeout,
                lambda: self._boot_changed(ctx, boot_command, previous, limit),
            )
            await self._until(
                ctx,
                "post-reboot test command",
                reboot_timeout,
                lambda: self._test(ctx, args, distribution, limit),
            )
            result: Result = {"rebooted": True, "changed": True}
        except _Timeout as timeout:
            result = {"failed": True, "rebooted": True, "changed": False, "msg": str(timeout)}
        result["elapsed"] = int(time.monotonic() - start)
        return result

    async def _distribution(self, ctx: TaskContext) -> dict[str, str]:
        """name/version/family as ansible-core's tables are keyed (``uname`` and os-release)."""
        res = await ctx.conn.run(["/bin/sh", "-c", _DISTRIBUTION])
        system, _, rest = _text(res.stdout).strip().partition("|")
        ident, _, version = rest.partition("|")
        system = system.lower()
        name = ident.lower() if system == "linux" and ident else _UNAME.get(system, system)
        return {"name": name, "version": version, "family": name}

    async def _shutdown_command(self, ctx: TaskContext, distribution: Mapping[str, str]) -> str:
        command = ctx.args.get("reboot_command")
        if command is not None:
            if not isinstance(command, str):
                raise _fail(
                    f"Invalid value given for 'reboot_command': '{type(command).__name__}'"
                    " cannot be converted to a str."
                )
            binary = command.split(" ", 1)[0]
        else:
            binary = _from_facts(_SHUTDOWN_COMMANDS, distribution, "shutdown")
        if binary.startswith("/"):
            return binary
        paths: Any = ctx.args.get(
            "search_paths", ["/sbin", "/bin", "/usr/sbin", "/usr/bin", "/usr/local/sbin"]
        )
        if isinstance(paths, str):
            paths = [p.strip() for p in paths.split(",")]
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise _fail(f"'search_paths' must be a string or flat list of strings, got {paths}")
        script = 'n=$1; shift; for d in "$@"; do [ -e "$d/$n" ] && { echo "$d/$n"; exit 0; }; done'
        res = await ctx.conn.run(["/bin/sh", "-c", script, "sh", binary, *paths])
        found = _text(res.stdout).strip()
        if not found:
            raise _fail(f'Unable to find command "{binary}" in search paths: {paths}')
        return found

    async def _boot_time(self, ctx: TaskContext, command: str, limit: float | None) -> str:
        res = await ctx.conn.run(shell=command, become=ctx.become, timeout=limit)
        if res.rc != 0:
            raise _fail(
                f"{short_name(ctx)}: failed to get host boot time info, rc: {res.rc}, stdout:"
                f" {_text(res.stdout)}, stderr: {_text(res.stderr)}"
            )
        return _text(res.stdout).strip()

    async def _boot_changed(
        self, ctx: TaskContext, command: str, previous: str, limit: float | None
    ) -> None:
        current = await self._boot_time(ctx, command, limit)
        if not current or current == previous:
            raise ValueError("boot time has not changed")

    async def _test(
        self,
        ctx: TaskContext,
        args: Mapping[str, Any],
        dist: Mapping[str, str],
        limit: float | None,
    ) -> None:
        command = args.get("test_command") or _from_facts(_TEST_COMMANDS, dist, "whoami")
        res = await ctx.conn.run(shell=str(command), become=ctx.become, timeout=limit)
        if res.rc != 0:
            raise RuntimeError(f"Test command failed: {_text(res.stderr)} {_text(res.stdout)}")

    async def _until(self, ctx: TaskContext, desc: str, timeout: int, attempt: Any) -> None:
        """ansible-core's ``do_until_success_or_timeout``: retry with exponential backoff
        (1, 2, 4, 8, then 12 seconds, plus up to one random second) until ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        failures = 0
        while loop.time() < deadline:
            try:
                await asyncio.wait_for(attempt(), max(0.1, deadline - loop.time()))
                return
            except (Exception, TimeoutError):  # noqa: BLE001 - any failure: retry, as ansible-core
                jitter = secrets.randbelow(1000) / 1000
                pause = min(2**failures, 12) + jitter
                failures += 1
                await asyncio.sleep(max(0.0, min(pause, deadline - loop.time())))
        raise _Timeout(f"Timed out waiting for {desc} (timeout={timeout})")

    def job(self, ctx: TaskContext, jid: str, limit: float) -> JobSpec:
        raise async_unsupported(ctx)


def _from_facts(table: Mapping[str, str], dist: Mapping[str, str], default: str) -> str:
    return table.get(
        dist["name"] + dist["version"], table.get(dist["name"], table.get(dist["family"], default))
    )


def _delay(args: Mapping[str, Any], key: str) -> int:
    return max(0, int(args.get(key, args.get(key + "_sec", 0))))


def _boot_time_command(args: Mapping[str, Any], dist: Mapping[str, str]) -> str:
    command = args.get("boot_time_command")
    if command:
        if not isinstance(command, str):
            raise ValueError(
                f"Invalid value given for 'boot_time_command': '{type(command).__name__}'"
                " cannot be converted to a str."
            )
        return command
    return _from_facts(_BOOT_TIME_COMMANDS, dist, "cat /proc/sys/kernel/random/boot_id")


def _shutdown_args(args: Mapping[str, Any], dist: Mapping[str, str], pre_delay: int) -> str:
    command = args.get("reboot_command")
    if command is not None:
        parts = str(command).split(" ", 1)
        return parts[1] if len(parts) > 1 else ""
    template = _from_facts(_SHUTDOWN_ARGS, dist, '-r {delay_min} "{message}"')
    message = args.get("msg", "Reboot initiated by Ansible")
    return template.format(delay_sec=pre_delay, delay_min=pre_delay // 60, message=message)


_MODULES: tuple[Module, ...] = (
    FetchModule(),
    UnarchiveModule(),
    AssembleModule(),
    ServiceModule(),
    UriModule(),
    RebootModule(),
)
_BY_NAME = {name: module for module in _MODULES for name in module.names}


def controller_module(name: str) -> Module | None:
    """The controller side for a short name or its ``ansible.builtin``/``ansible.legacy``
    FQCN (``fetch``, ``ansible.builtin.uri``...); None for any other name."""
    short = builtin_name(name)
    return None if short is None else _BY_NAME.get(short)


def controller_module_names() -> tuple[str, ...]:
    """The short names of the modules with a controller side here, sorted."""
    return tuple(sorted(_BY_NAME))


__all__ = [
    "AssembleModule",
    "FetchModule",
    "RebootModule",
    "ServiceModule",
    "UnarchiveModule",
    "UriModule",
    "assemble_fragments",
    "controller_module",
    "controller_module_names",
    "expand_user",
]
