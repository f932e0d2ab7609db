"""Fact gathering: the common ``ansible_*`` facts from one POSIX ``sh`` round trip.

Ansible runs its Python ``setup`` module (hundreds of milliseconds per host);
the facts playbooks actually branch on — hostname, OS family, distribution,
architecture, user, python — come from a handful of shell reads, so gathering
costs one command per host instead of an interpreter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playgraph.compiler.ir import Node

    from .context import RunContext

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


async def gather_facts(
    run: RunContext,
    host: str,
    node: Node | None = None,
    variables: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Gather, store and return the host's facts (``ansible_facts`` and ``ansible_*`` vars),
    connected and become as the task (``node``; None: the play's implicit gathering) says."""
    settings = run.settings(host, node, variables)
    conn = run.connect_with(settings)
    await conn.connect()
    result = await conn.run(shell=_SCRIPT, become=settings.become)
    facts = parse(result.stdout.decode("utf-8", "replace"))
    state = run.state(host)
    state.gathered.update(facts)
    state.facts.update({f"ansible_{key}": value for key, value in facts.items()})
    return facts
