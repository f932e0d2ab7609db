"""The file family run by the ``files`` target program: ``stat``, ``file``, ``lineinfile``.

(``copy`` and ``template`` use the same program; they live in `transfer` because
their content starts on the controller.)  All three support ``async``: they are
plain modules under ansible-core's ``normal`` action.
"""

from __future__ import annotations

from typing import ClassVar

from .args import FILE_COMMON, Param, Spec
from .remote import ProgramModule

STAT_SPEC = Spec(
    module="stat",
    params={
        "path": Param(type="path", required=True, aliases=("dest", "name")),
        "follow": Param(type="bool", default=False),
        "get_checksum": Param(type="bool", default=True),
        "get_mime": Param(type="bool", default=True, aliases=("mime", "mime_type", "mime-type")),
        "get_attributes": Param(type="bool", default=True, aliases=("attr", "attributes")),
        "checksum_algorithm": Param(
            default="sha1",
            choices=("md5", "sha1", "sha224", "sha256", "sha384", "sha512"),
            aliases=("checksum", "checksum_algo"),
        ),
    },
)

FILE_SPEC = Spec(
    module="file",
    params={
        "state": Param(choices=("absent", "directory", "file", "hard", "link", "touch")),
        "path": Param(type="path", required=True, aliases=("dest", "name")),
        "_original_basename": Param(),
        "recurse": Param(type="bool", default=False),
        "force": Param(type="bool", default=False),
        "follow": Param(type="bool", default=True),
        "_diff_peek": Param(type="bool"),
        "src": Param(type="path"),
        "modification_time": Param(),
        "modification_time_format": Param(default="%Y%m%d%H%M.%S"),
        "access_time": Param(),
        "access_time_format": Param(default="%Y%m%d%H%M.%S"),
        **FILE_COMMON,
    },
)

LINEINFILE_SPEC = Spec(
    module="lineinfile",
    params={
        "path": Param(type="path", required=True, aliases=("dest", "destfile", "name")),
        "state": Param(default="present", choices=("absent", "present")),
        "regexp": Param(aliases=("regex",)),
        "search_string": Param(),
        "line": Param(aliases=("value",)),
        "insertafter": Param(),
        "insertbefore": Param(),
        "backrefs": Param(type="bool", default=False),
        "create": Param(type="bool", default=False),
        "backup": Param(type="bool", default=False),
        "firstmatch": Param(type="bool", default=False),
        "validate": Param(),
        **FILE_COMMON,
    },
    mutually_exclusive=(
        ("insertbefore", "insertafter"),
        ("regexp", "search_string"),
        ("backrefs", "search_string"),
    ),
)


class StatModule(ProgramModule):
    """``stat``: the common keys, ``checksum`` (sha1 by default), mime type and attributes."""

    names: ClassVar[tuple[str, ...]] = ("stat",)
    spec: ClassVar[Spec] = STAT_SPEC
    program: ClassVar[str] = "files"


class FileModule(ProgramModule):
    """``file``: states file/directory/touch/absent/link/hard, owner/group/mode, recurse."""

    names: ClassVar[tuple[str, ...]] = ("file",)
    spec: ClassVar[Spec] = FILE_SPEC
    program: ClassVar[str] = "files"


class LineinfileModule(ProgramModule):
    """``lineinfile``: ensure one line is present (where, replacing what) or absent."""

    names: ClassVar[tuple[str, ...]] = ("lineinfile",)
    spec: ClassVar[Spec] = LINEINFILE_SPEC
    fallback_only: ClassVar[bool] = True
    """Used only without ansible-core: its result lacks ansible-core's ``invocation``."""
    program: ClassVar[str] = "files"
