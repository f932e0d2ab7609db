"""AnsiballZ payloads: built once per module by ansible-core, cached on the controller.

A payload is the zip ansible-core's AnsiballZ wrapper carries: the module and
every ``module_utils`` (and collection) file it imports, found by ansible-core's
own dependency walker.  It does not depend on the task's arguments or the
target's interpreter, so it is built once per module and reused for every call.

The build calls ansible-core's public-facing builder, ``modify_module`` (what an
action plugin calls), with placeholder arguments, and reads the values it embeds
in the wrapper's final ``_ansiballz_main(...)`` call with `ast`: the zip, the
module's FQN inside it, its serialization profile and extensions.  That keeps
every rule of module style detection, ``REPLACER`` substitution and FQN
derivation ansible-core's, where calling its private helpers one by one would
copy them (and break with any reshuffle of them).

The cache, ``$XDG_CACHE_HOME/playgraph/ansiballz/`` (default ``~/.cache``):
``<key>.zip`` and ``<key>.json`` (plain JSON metadata, never pickle), written
atomically, read only from files and folders no other user can change (anything
else is a miss and the payload is built again).  The key is a hash of the
ansible-core version, the module's FQCN, path and content; the metadata records
a content hash of every controller file the zip was made from, checked on each
load, so an edited ``module_utils`` (or collection upgrade) rebuilds it.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib.util
import io
import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playgraph.grammar.loading import cache_root, read_private, write_private

from ..modules.base import ModuleFailure
from .resolve import LOCK, Resolved
from .script import STYLES, Script

FORMAT = 1
"""Bumped when the cache entries' layout or meaning changes."""


@dataclass(frozen=True, slots=True)
class Payload:
    """A built module: its zip (a controller file) and how the runner calls it."""

    fqcn: str
    module_fqn: str
    """The module's import name inside the zip (``ansible.modules.lineinfile``)."""
    profile: str
    extensions: dict[str, Any]
    rlimit_nofile: int
    zip_path: str
    sha: str
    """sha256 of the zip (first 20 hex digits): its name in the target's cache."""
    data: bytes


def cache_dir() -> Path:
    return Path(cache_root()) / "ansiballz"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _ansible_version() -> str:
    from ansible.release import __version__

    return str(__version__)


def _key(resolved: Resolved, source: bytes) -> str:
    material = json.dumps(
        [FORMAT, _ansible_version(), resolved.fqcn, resolved.path, _sha256(source)]
    )
    return _sha256(material.encode())[:32]


def _module_utils_dirs() -> list[str]:
    """Where ansible-core looks for ``ansible.module_utils.*`` (``module_utils/`` next to the
    playbook, ``ANSIBLE_MODULE_UTILS``, then its own)."""
    from ansible.plugins.loader import module_utils_loader

    return [str(path) for path in module_utils_loader._get_paths(subdirs=False)]


def _controller_file(entry: str, utils_dirs: list[str]) -> str | None:
    """The controller file a zip entry was copied from, where that can be told."""
    parts = entry.split("/")
    if parts[:2] == ["ansible", "module_utils"] and len(parts) > 2:
        for folder in utils_dirs:
            candidate = os.path.join(folder, *parts[2:])
            if os.path.isfile(candidate):
                return candidate
    try:
        if parts[0] == "ansible":
            spec = importlib.util.find_spec("ansible")
        elif parts[0] == "ansible_collections" and len(parts) > 3:
            spec = importlib.util.find_spec(f"ansible_collections.{parts[1]}.{parts[2]}")
            parts = parts[3:]
        else:
            return None
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    rest = parts[1:] if parts[0] == "ansible" else parts
    path = os.path.join(next(iter(spec.submodule_search_locations)), *rest)
    return path if os.path.isfile(path) else None


def _inputs(data: bytes) -> dict[str, str]:
    """Content hashes of the controller files the zip was made from."""
    inputs: dict[str, str] = {}
    utils_dirs = _module_utils_dirs()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for entry in archive.namelist():
            path = _controller_file(entry, utils_dirs)
            if path is None:
                continue
            digest = _sha256(archive.read(entry))
            # Only copies count: package ``__init__.py`` files may be generated stubs.
            if _file_sha256(path) == digest:
                inputs[path] = digest
    return inputs


def _file_sha256(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return _sha256(handle.read())
    except OSError:
        return None


def _unchanged(inputs: Any) -> bool:
    return isinstance(inputs, dict) and all(
        _file_sha256(path) == digest for path, digest in inputs.items()
    )


def _load(key: str, fqcn: str) -> Payload | None:
    folder = cache_dir()
    raw = read_private(str(folder / f"{key}.json"))
    if raw is None:
        return None
    try:
        meta = json.loads(raw)
        zip_path = str(folder / f"{key}.zip")
        data = read_private(zip_path)
        if data is None or _sha256(data)[:20] != meta["sha"] or meta["format"] != FORMAT:
            return None
        if not _unchanged(meta["inputs"]):
            return None
        return Payload(
            fqcn=fqcn,
            module_fqn=str(meta["module_fqn"]),
            profile=str(meta["profile"]),
            extensions=dict(meta["extensions"]),
            rlimit_nofile=int(meta["rlimit_nofile"]),
            zip_path=zip_path,
            sha=str(meta["sha"]),
            data=data,
        )
    except (ValueError, KeyError, TypeError):
        return None


def _wrapper_values(wrapper: bytes) -> dict[str, Any]:
    """The literal arguments of the wrapper's final ``_ansiballz_main(...)`` call."""
    tree = ast.parse(wrapper)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "_ansiballz_main"
        ):
            values: dict[str, Any] = {}
            for keyword in node.keywords:
                if keyword.arg in (
                    "zip_data",
                    "module_fqn",
                    "profile",
                    "extensions",
                    "rlimit_nofile",
                ):
                    values[keyword.arg] = ast.literal_eval(keyword.value)
            return values
    raise ValueError("no _ansiballz_main call in the AnsiballZ wrapper")


def _build(resolved: Resolved) -> dict[str, Any]:
    from ansible.errors import AnsibleError
    from ansible.executor.module_common import modify_module
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    short = resolved.fqcn.rsplit(".", 1)[-1]
    # ansible-core keeps its own per-process cache of built zips (pickles in this
    # process's private temp dir, keyed by name only): emptied, so a rebuild after an
    # input changed really rebuilds, and no pickle outlives the build.
    from ansible import constants as C

    shutil.rmtree(os.path.join(C.DEFAULT_LOCAL_TMP, "ansiballz_cache"), ignore_errors=True)
    try:
        built = modify_module(
            module_name=short,
            module_path=resolved.path,
            module_args={},
            templar=Templar(loader=DataLoader()),
            # Any interpreter: the wrapper's shebang is not used, the runner is.
            task_vars={"ansible_python_interpreter": "/usr/bin/python3"},
        )
    except AnsibleError as error:
        raise ModuleFailure(
            f"could not build the module '{resolved.fqcn}': {str(error).splitlines()[0]}",
            changed=False,
        ) from None
    if built.module_style in STYLES:
        # The file as it is: ansible-core's build rewrote its shebang for the placeholder
        # interpreter above; each host's comes from `script.interpreter`.
        return {
            "script": Script(resolved.fqcn, built.module_style, Path(resolved.path).read_bytes())
        }
    if built.module_style != "new":
        raise ModuleFailure(
            f"the module '{resolved.fqcn}' ({resolved.path}) is a {built.module_style}"
            " module, which playgraph cannot run",
            changed=False,
        )
    values = _wrapper_values(built.b_module_data)
    values["data"] = base64.b64decode(values.pop("zip_data"))
    return values


def get(resolved: Resolved) -> Payload | Script:
    """The payload of ``resolved``: from the cache, or built (and cached). Call in a worker
    thread: a build takes ansible-core a few hundred milliseconds.  A module that is not
    AnsiballZ Python comes back as it is (a `Script`, never cached: it is its own file)."""
    try:
        source = Path(resolved.path).read_bytes()
    except OSError as error:
        raise ModuleFailure(
            f"could not read the module '{resolved.fqcn}': {error}", changed=False
        ) from None
    key = _key(resolved, source)
    with LOCK:
        cached = _load(key, resolved.fqcn)
        if cached is not None:
            return cached
        values = _build(resolved)
        if "script" in values:
            script: Script = values["script"]
            return script
        data: bytes = values["data"]
        sha = _sha256(data)[:20]
        folder = cache_dir()
        zip_path = str(folder / f"{key}.zip")
        meta = {
            "format": FORMAT,
            "fqcn": resolved.fqcn,
            "path": resolved.path,
            "ansible_version": _ansible_version(),
            "module_fqn": values["module_fqn"],
            "profile": values["profile"],
            "extensions": values.get("extensions") or {},
            "rlimit_nofile": int(values.get("rlimit_nofile") or 0),
            "sha": sha,
            "inputs": _inputs(data),
        }
        stored = write_private(zip_path, data) and write_private(
            str(folder / f"{key}.json"), json.dumps(meta, indent=1).encode()
        )
        if not stored:
            # An untrusted or read-only cache folder: keep the payload in memory only.
            zip_path = ""
        return Payload(
            fqcn=resolved.fqcn,
            module_fqn=str(meta["module_fqn"]),
            profile=str(meta["profile"]),
            extensions=dict(meta["extensions"]),
            rlimit_nofile=int(meta["rlimit_nofile"]),
            zip_path=zip_path,
            sha=sha,
            data=data,
        )
