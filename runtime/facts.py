"""Fact gathering: ansible-core's own ``setup`` module, else a minimal shell fallback.

With ansible-core installed (the ``playgraph[ansible]`` extra), the play's gathering,
``setup`` and ``gather_facts`` tasks run the real ``setup`` module through the generic
module path: ``gather_subset``, ``gather_timeout``, ``filter`` and ``fact_path`` mean
what they mean there, and the facts are ansible-core's, key for key.  They are stored
as ansible-core stores any module's ``ansible_facts`` (`store`): under
``ansible_facts`` without their ``ansible_`` prefix, and as variables of their own
(``ansible_distribution``; INJECT_FACTS_AS_VARS, on by default).

Without ansible-core, the common facts playbooks branch on — hostname, OS family,
distribution, architecture, user, python — come from one POSIX ``sh`` round trip
(`parse`), with a warning, once per run, that the rest are missing.
"""

from __future__ import annotations

import re
import sys
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playgraph.compiler.ir import Node

    from .context import RunContext

SETUP = "ansible.builtin.setup"
FALLBACK_WARNING = (
    "ansible-core is not installed: facts are playgraph's minimal set (hostname, OS, "
    "distribution, architecture, user, python), not the setup module's. Install "
    "'playgraph[ansible]' for all of them."
)
_warned: weakref.WeakSet[RunContext] = weakref.WeakSet()
_INTERPRETER_KEY = re.compile(r"^ansible_.*_interpreter$")
_CONNECTION_KEYS = frozenset(
    {
        "ansible_connection",
        "ansible_host",
        "ansible_port",
        "ansible_user",
        "ansible_password",
        "ansible_become",
        "ansible_become_user",
        "ansible_become_method",
        "ansible_become_password",
        "ansible_shell_type",
        "ansible_shell_executable",
        "ansible_ssh_host",
        "ansible_ssh_port",
        "ansible_ssh_user",
        "ansible_ssh_pass",
        "ansible_ssh_private_key_file",
        "ansible_private_key_file",
        "ansible_remote_tmp",
        "ansible_async_dir",
    }
)
"""Facts never injected as variables (ansible-core's ``clean_facts``): a module must not
be able to redirect the connection or the interpreter."""

_SCRIPT = r"""
echo "hostname=$(hostname 2>/dev/null || uname -n)"
echo "fqdn=$(hostname -f 2>/dev/null || hostname 2>/dev/null || uname -n)"
echo "system=$(uname -s)"
echo "kernel=$(uname -r)"
echo "machine=$(uname -m)"
echo "user_id=$(id -un)"
echo "user_uid=$(id -u)"
echo "user_gid=$(id -g)"
echo "user_dir=$HOME"
echo "user_shell=${SHELL:-}"
echo "python=$(command -v python3 2>/dev/null)"
echo "nproc=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)"
if [ -r /etc/os-release ]; then
    . /etc/os-release
    echo "os_id=${ID:-}"
    echo "os_like=${ID_LIKE:-}"
    echo "os_name=${NAME:-}"
    echo "os_version=${VERSION_ID:-}"
    echo "os_codename=${VERSION_CODENAME:-}"
fi
"""

_FAMILIES = {
    "debian": "Debian",
    "ubuntu": "Debian",
    "rhel": "RedHat",
    "centos": "RedHat",
    "fedora": "RedHat",
    "rocky": "RedHat",
    "almalinux": "RedHat",
    "amzn": "RedHat",
    "opensuse": "Suse",
    "sles": "Suse",
    "arch": "Archlinux",
    "alpine": "Alpine",
}


def parse(text: str) -> dict[str, Any]:
    raw: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            raw[key.strip()] = value.strip()
    os_id = raw.get("os_id", "").lower()
    family = _FAMILIES.get(os_id)
    if family is None:
        for like in raw.get("os_like", "").lower().split():
            if like in _FAMILIES:
                family = _FAMILIES[like]
                break
    version = raw.get("os_version", "")
    distribution = (
        raw.get("os_name", "").split(" ")[0] if raw.get("os_name") else raw.get("system", "")
    )
    return {
        "hostname": raw.get("hostname", "").split(".")[0],
        "nodename": raw.get("hostname", ""),
        "fqdn": raw.get("fqdn", ""),
        "system": raw.get("system", ""),
        "kernel": raw.get("kernel", ""),
        "architecture": raw.get("machine", ""),
        "machine": raw.get("machine", ""),
        "user_id": raw.get("user_id", ""),
        "user_uid": int(raw["user_uid"]) if raw.get("user_uid", "").isdigit() else None,
        "user_gid": int(raw["user_gid"]) if raw.get("user_gid", "").isdigit() else None,
        "user_dir": raw.get("user_dir", ""),
        "user_shell": raw.get("user_shell", ""),
        "processor_nproc": int(raw["nproc"]) if raw.get("nproc", "").isdigit() else 1,
        "os_family": family or raw.get("system", ""),
        "distribution": distribution,
        "distribution_version": version,
        "distribution_major_version": version.split(".")[0] if version else "",
        "distribution_release": raw.get("os_codename", ""),
        "python": {"executable": raw.get("python", "")},
        "discovered_interpreter_python": raw.get("python", ""),
    }


def namespaced(facts: Mapping[str, Any]) -> dict[str, Any]:
    """``facts`` as ``ansible_facts`` holds them: the ``ansible_`` prefix removed."""
    return {
        key[8:] if key.startswith("ansible_") and key != "ansible_local" else key: value
        for key, value in facts.items()
    }


def injected(facts: Mapping[str, Any]) -> dict[str, Any]:
    """``facts`` as variables of their own: without connection or interpreter settings."""
    return {
        key: value
        for key, value in facts.items()
        if key not in _CONNECTION_KEYS
        and not _INTERPRETER_KEY.match(key)
        and not key.startswith(("ansible_become_", "ansible_ssh_", "_ansible_"))
    }


def store(run: RunContext, host: str, facts: Mapping[str, Any]) -> None:
    """Keep a result's ``ansible_facts`` for ``host`` as ansible-core keeps them."""
    state = run.state(host)
    state.gathered.update(namespaced(facts))
    state.facts.update(injected(facts))


def _warn_once(run: RunContext) -> None:
    if run in _warned:
        return
    _warned.add(run)
    from .display import CONSOLE

    CONSOLE.write(sys.stderr, f"[WARNING]: {FALLBACK_WARNING}\n")


async def setup(
    run: RunContext,
    host: str,
    node: Node | None = None,
    variables: Mapping[str, Any] | None = None,
    args: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``setup`` with ``args`` on ``host``: the module's result, its facts stored.

    Connected and become as the task (``node``; None: the play's implicit gathering)
    says.  Without ansible-core: the fallback's facts (`parse`), in the same shape.
    """
    from .ansible_modules import available

    settings = run.settings(host, node, variables)
    conn = run.connect_with(settings)
    if not available():
        _warn_once(run)
        await conn.connect()
        done = await conn.run(shell=_SCRIPT, become=settings.become)
        plain = parse(done.stdout.decode("utf-8", "replace"))
        facts = {
            key if key == "discovered_interpreter_python" else f"ansible_{key}": value
            for key, value in plain.items()
        }
        store(run, host, facts)
        return {"ansible_facts": facts, "changed": False}
    from . import interpreters
    from .ansible_modules import run_ansible_module
    from .modules.base import TaskContext

    lazy = run.templar.lazy(
        variables if variables is not None else run.connection_layers(host, node)
    )
    python = await interpreters.python(run, host, lazy, conn)
    check_mode = run.options.check_mode
    if node is not None and node.check_mode is not None and isinstance(node.check_mode, bool):
        check_mode = node.check_mode
    ctx = TaskContext(
        host=host,
        action=SETUP,
        args=dict(args or {}),
        conn=conn,
        python=python,
        become=settings.become,
        check_mode=check_mode,
        base_dir=run.options.playbook_dir,
        variables=lazy,
        render=run.templar.render,
        verbosity=run.options.verbosity,
    )
    await conn.connect()
    result = await run_ansible_module(ctx, SETUP, ctx.args)
    returned = result.get("ansible_facts")
    if isinstance(returned, dict) and not result.get("failed"):
        store(run, host, returned)
    return result


async def gather_facts(
    run: RunContext,
    host: str,
    node: Node | None = None,
    variables: Mapping[str, Any] | None = None,
    args: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Gather and store the host's facts; the ``ansible_facts`` of ansible-core's
    ``gather_facts`` action (the play's gathering).  A failed ``setup`` raises."""
    result = await setup(run, host, node, variables, args)
    if result.get("failed"):
        raise RuntimeError(
            f"The following modules failed to execute: ansible.legacy.setup. {result.get('msg', '')}".strip()
        )
    facts = result.get("ansible_facts")
    return dict(facts) if isinstance(facts, dict) else {}


_STORES_ITSELF = frozenset({"set_fact", "include_vars", "gather_facts", "debug"})


def store_result(run: RunContext, host: str, action: str, result: Mapping[str, Any]) -> None:
    """Keep the ``ansible_facts`` an ok result (or its loop items) returns, as ansible-core
    does for any module (getent, package_facts, a joined job's facts...)."""
    if action.rsplit(".", 1)[-1] in _STORES_ITSELF:
        return
    if result.get("failed") or result.get("unreachable") or result.get("skipped"):
        return
    items = result.get("results")
    for one in items if isinstance(items, list) else [result]:
        returned = one.get("ansible_facts") if isinstance(one, Mapping) else None
        if isinstance(returned, Mapping) and returned:
            store(run, host, returned)
