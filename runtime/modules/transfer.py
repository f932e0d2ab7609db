"""Content from the controller: ``copy`` and ``template`` (neither supports ``async``).

The content is read (``copy src=``), taken as given (``content=``) or rendered
(``template``, with ``ctx.render`` and the host's variables) on the
controller.  Its sha1 goes to the ``files`` target program, which compares it
with the destination's — the same checksum idempotence as ansible-core, so an
unchanged file costs one round trip and no transfer.  Content up to
`INLINE_MAX` bytes rides along in that same request; bigger content is only
sent when it differs, with ``conn.put_file`` into a temp file next to the
destination, which a second call renames into place.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from typing import Any, ClassVar

from ..jobspec import JobSpec
from .args import FILE_COMMON, Param, Spec, failure
from .base import TaskContext
from .command import find_needle
from .remote import async_unsupported, run_program

INLINE_MAX = 64 * 1024
"""Content up to this size travels inside the request instead of a separate upload."""

_TRANSFER_COMMON = {
    "dest": Param(type="path"),
    "backup": Param(type="bool", default=False),
    "force": Param(type="bool", default=True, aliases=("thirsty",)),
    "follow": Param(type="bool", default=False),
    "validate": Param(),
    **FILE_COMMON,
}

COPY_SPEC = Spec(
    module="copy",
    params={
        "src": Param(type="path"),
        "content": Param(type="raw"),
        "remote_src": Param(type="bool", default=False),
        "local_follow": Param(type="bool", default=True),
        "directory_mode": Param(type="raw"),
        "checksum": Param(),
        "decrypt": Param(type="bool", default=True),
        **_TRANSFER_COMMON,
    },
)

TEMPLATE_SPEC = Spec(
    module="template",
    params={
        "src": Param(type="path"),
        "newline_sequence": Param(default="\n", choices=("\n", "\r", "\r\n")),
        "block_start_string": Param(),
        "block_end_string": Param(),
        "variable_start_string": Param(),
        "variable_end_string": Param(),
        "comment_start_string": Param(),
        "comment_end_string": Param(),
        "trim_blocks": Param(type="bool", default=True),
        "lstrip_blocks": Param(type="bool", default=False),
        "output_encoding": Param(default="utf-8"),
        **_TRANSFER_COMMON,
    },
)


async def put_content(
    ctx: TaskContext,
    module: str,
    params: dict[str, Any],
    data: bytes,
    *,
    basename: str | None,
    src_display: str | None,
) -> dict[str, Any]:
    """Make ``dest`` hold ``data`` (plus mode/owner/group/backup); copy's result."""
    checksum = hashlib.sha1(data).hexdigest()
    request: dict[str, Any] = {
        "dest": params["dest"],
        "mode": params["mode"],
        "owner": params["owner"],
        "group": params["group"],
        "backup": params["backup"],
        "force": params["force"],
        "follow": params["follow"],
        "validate": params["validate"],
        "_checksum": checksum,
        "_original_basename": basename,
        "_src_display": src_display,
    }
    if len(data) <= INLINE_MAX:
        request["_content_b64"] = base64.b64encode(data).decode()
    result = await run_program(ctx, "files", module, request)
    upload = result.get("_playgraph_upload")
    if isinstance(upload, str):
        await ctx.conn.put_file(data, upload, become=ctx.become)
        result = await run_program(ctx, "files", module, {**request, "_upload": upload})
    return result


def _preserve_mode(params: dict[str, Any], source: str) -> dict[str, Any]:
    """``mode: preserve``: the controller-side source's mode."""
    if params["mode"] == "preserve":
        return {**params, "mode": f"0{stat.S_IMODE(os.stat(source).st_mode):03o}"}
    return params


def _require_dest(params: dict[str, Any]) -> str:
    dest = params["dest"]
    if not dest:
        raise failure("dest is required")
    return str(dest)


class CopyModule:
    """``copy``: ``content`` or a controller-side ``src`` file to ``dest`` on the target."""

    names: ClassVar[tuple[str, ...]] = ("copy",)
    supports_async: ClassVar[bool] = False

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        p = COPY_SPEC.validate(ctx.args)
        src, content = p["src"], p["content"]
        if src is None and content is None:
            raise failure("src (or content) is required")
        dest = _require_dest(p)
        if src is not None and content is not None:
            raise failure("src and content are mutually exclusive")
        if p["remote_src"]:
            raise failure("remote_src is not supported by playgraph's copy")
        if content is not None:
            if dest.endswith("/"):
                raise failure("can not use content with a dir as dest")
            if isinstance(content, dict | list):
                # ansible serialises structured content as JSON
                content = json.dumps(content)
            data = str(content).encode("utf-8", "surrogateescape")
            return await put_content(ctx, "copy", p, data, basename=None, src_display=None)
        path = find_needle(ctx.base_dir, "files", str(src), ctx.role_dir)
        p = _preserve_mode(p, path)
        if os.path.isdir(path):
            raise failure("copying a directory is not supported by playgraph's copy")
        with open(path, "rb") as f:
            data = f.read()
        return await put_content(
            ctx, "copy", p, data, basename=os.path.basename(path), src_display=path
        )

    def job(self, ctx: TaskContext, jid: str, limit: float) -> JobSpec:
        raise async_unsupported(ctx)


def _render_file(ctx: TaskContext, path: str, shown: str) -> Any:
    """Render the template file with the runtime's templar.

    The runtime's `Templar` has a file mode (trailing newline kept, no backslash
    escaping, ``{% include %}`` relative to the file, ``template_*`` variables)
    — used when ``ctx.render`` is its bound ``render``; any other ``render(text,
    variables)`` gets the file's text.
    """
    render_file = getattr(getattr(ctx.render, "__self__", None), "render_template_file", None)
    try:
        if callable(render_file):
            return render_file(path, ctx.variables, display_path=shown)
        with open(path, encoding="utf-8") as f:
            return ctx.render(f.read(), ctx.variables)
    except Exception as exc:  # noqa: BLE001 - any render error is the task's failure message
        raise failure(str(exc)) from None


class TemplateModule:
    """``template``: render ``src`` (Jinja2, on the controller) and install it like ``copy``."""

    names: ClassVar[tuple[str, ...]] = ("template",)
    supports_async: ClassVar[bool] = False

    async def run(self, ctx: TaskContext) -> dict[str, Any]:
        if "state" in ctx.args:
            raise failure("'state' cannot be specified on a template")
        p = TEMPLATE_SPEC.validate(ctx.args)
        if p["src"] is None or p["dest"] is None:
            raise failure("src and dest are required")
        path = find_needle(ctx.base_dir, "templates", str(p["src"]), ctx.role_dir)
        p = _preserve_mode(p, path)
        if ctx.render is None:
            raise failure("the template module needs the runtime's templar (ctx.render)")
        rendered = _render_file(ctx, path, str(p["src"]))
        if not isinstance(rendered, str):
            rendered = str(rendered)
        if p["newline_sequence"] != "\n":
            rendered = rendered.replace("\n", p["newline_sequence"])
        data = rendered.encode(p["output_encoding"] or "utf-8")
        return await put_content(
            ctx, "template", p, data, basename=os.path.basename(path), src_display=path
        )

    def job(self, ctx: TaskContext, jid: str, limit: float) -> JobSpec:
        raise async_unsupported(ctx)
