"""Package managers: ``apt``, ``dnf`` (``yum`` is dnf, as in ansible-core 2.19) and ``package``.

All run the ``packages`` target program, which drives the real tools on the
target (apt-get/dpkg-query, dnf/rpm), and all support ``async`` (their jobs run
that program with ``result: json``).  ``package`` validates its arguments for
both managers here and lets the program pick one on the target, so even its
`JobSpec` needs no round trip to find out which manager the host has.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .args import Param, Spec
from .base import ModuleFailure, TaskContext
from .remote import ProgramModule

APT_SPEC = Spec(
    module="apt",
    params={
        "package": Param(type="list", elements="str", aliases=("name", "pkg")),
        "state": Param(
            default="present", choices=("absent", "build-dep", "latest", "present", "fixed")
        ),
        "update_cache": Param(type="bool", aliases=("update-cache",)),
        "update_cache_retries": Param(type="int", default=5),
        "update_cache_retry_max_delay": Param(type="int", default=12),
        "cache_valid_time": Param(type="int", default=0),
        "purge": Param(type="bool", default=False),
        "default_release": Param(aliases=("default-release",)),
        "install_recommends": Param(type="bool", aliases=("install-recommends",)),
        "force": Param(type="bool", default=False),
        "upgrade": Param(choices=("no", "yes", "safe", "full", "dist")),
        "dpkg_options": Param(default="force-confdef,force-confold"),
        "autoremove": Param(type="bool", default=False),
        "autoclean": Param(type="bool", default=False),
        "fail_on_autoremove": Param(type="bool", default=False),
        "policy_rc_d": Param(type="int"),
        "only_upgrade": Param(type="bool", default=False),
        "force_apt_get": Param(type="bool", default=False),
        "clean": Param(type="bool", default=False),
        "allow_unauthenticated": Param(
            type="bool", default=False, aliases=("allow-unauthenticated",)
        ),
        "allow_downgrade": Param(
            type="bool",
            default=False,
            aliases=("allow-downgrade", "allow_downgrades", "allow-downgrades"),
        ),
        "allow_change_held_packages": Param(type="bool", default=False),
        "lock_timeout": Param(type="int", default=60),
        "deb": Param(type="path"),
    },
)

DNF_SPEC = Spec(
    module="dnf",
    params={
        "name": Param(type="list", elements="str", aliases=("pkg",), default=[]),
        "state": Param(choices=("absent", "installed", "latest", "present", "removed")),
        "update_cache": Param(type="bool", default=False, aliases=("expire-cache",)),
        "list": Param(),
        "allow_downgrade": Param(type="bool", default=False),
        "allowerasing": Param(type="bool", default=False),
        "autoremove": Param(type="bool", default=False),
        "best": Param(type="bool"),
        "nobest": Param(type="bool"),
        "bugfix": Param(type="bool", default=False),
        "security": Param(type="bool", default=False),
        "cacheonly": Param(type="bool", default=False),
        "conf_file": Param(),
        "disable_excludes": Param(),
        "disable_gpg_check": Param(type="bool", default=False),
        "disable_plugin": Param(type="list", elements="str", default=[]),
        "enable_plugin": Param(type="list", elements="str", default=[]),
        "disablerepo": Param(type="list", elements="str", default=[]),
        "enablerepo": Param(type="list", elements="str", default=[]),
        "exclude": Param(type="list", elements="str", default=[]),
        "download_only": Param(type="bool", default=False),
        "download_dir": Param(),
        "installroot": Param(default="/"),
        "install_weak_deps": Param(type="bool", default=True),
        "releasever": Param(),
        "skip_broken": Param(type="bool", default=False),
        "update_only": Param(type="bool", default=False),
        "validate_certs": Param(type="bool", default=True),
        "sslverify": Param(type="bool", default=True),
        "lock_timeout": Param(type="int", default=30),
        "use_backend": Param(default="auto", choices=("auto", "yum", "yum4", "dnf4", "dnf5")),
        "_lockfiles": Param(type="list", elements="str"),
    },
    mutually_exclusive=(("name", "list"), ("best", "nobest")),
    required_one_of=(("name", "list", "update_cache"),),
)


def _apt_args(args: dict[str, Any]) -> dict[str, Any]:
    upgrade = args.get("upgrade")
    if isinstance(upgrade, bool):
        # YAML's `upgrade: yes` arrives as a bool; ansible reads it as "yes"/"no"
        args = {**args, "upgrade": "yes" if upgrade else "no"}
    return APT_SPEC.validate(args)


def _dnf_args(args: dict[str, Any], module: str) -> dict[str, Any]:
    params = DNF_SPEC.validate(args)
    if params["list"] is not None:
        raise ModuleFailure(f"{module}: list= is not supported by playgraph", changed=False)
    if params["download_only"]:
        raise ModuleFailure(f"{module}: download_only is not supported by playgraph", changed=False)
    return params


class AptModule(ProgramModule):
    """``apt``: install/remove/upgrade with apt-get; ``changed`` from ``dpkg-query -W``."""

    names: ClassVar[tuple[str, ...]] = ("apt",)
    spec: ClassVar[Spec] = APT_SPEC
    program: ClassVar[str] = "packages"

    def params(self, ctx: TaskContext) -> dict[str, Any]:
        return _apt_args(dict(ctx.args))


class DnfModule(ProgramModule):
    """``dnf``: install/remove/latest with the dnf (or yum) command; ``rpm -q`` for state."""

    names: ClassVar[tuple[str, ...]] = ("dnf",)
    spec: ClassVar[Spec] = DNF_SPEC
    program: ClassVar[str] = "packages"

    def params(self, ctx: TaskContext) -> dict[str, Any]:
        return _dnf_args(dict(ctx.args), self.names[0])


class YumModule(DnfModule):
    """``yum``: ansible-core 2.19 redirects it to ``dnf``; so does playgraph."""

    names: ClassVar[tuple[str, ...]] = ("yum",)


PACKAGE_SPEC = Spec(
    module="package",
    params={
        "name": Param(type="list", elements="str", required=True),
        "state": Param(required=True),
        "use": Param(default="auto"),
    },
)


class PackageModule(ProgramModule):
    """``package``: the host's own manager (detected on the target), same arguments."""

    names: ClassVar[tuple[str, ...]] = ("package",)
    spec: ClassVar[Spec] = PACKAGE_SPEC
    program: ClassVar[str] = "packages"

    def params(self, ctx: TaskContext) -> dict[str, Any]:
        args = dict(ctx.args)
        use = args.pop("use", None) or "auto"
        # ansible's package module itself requires name and state.
        PACKAGE_SPEC.validate({k: v for k, v in args.items() if k in ("name", "state")})
        params: dict[str, Any] = {"use": use}
        for manager, validate in (("apt", _apt_args), ("dnf", lambda a: _dnf_args(a, "dnf"))):
            try:
                params[manager] = validate(args)
            except ModuleFailure as exc:
                # Only an error for the manager the target turns out to use.
                params[manager] = {"_error": str(exc)}
        return params
