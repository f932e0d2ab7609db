"""Which modules hold which locks, and which argument forms only read."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..catalog import BUILTIN
from .names import (
    APK,
    CHOCOLATEY,
    DPKG,
    FLATPAK,
    HOMEBREW,
    INSTALLP,
    IPS,
    MACPORTS,
    MSI,
    OPENBSD,
    OPKG,
    PACMAN,
    PKGIN,
    PKGNG,
    PORTAGE,
    RPM,
    RPM_OSTREE,
    SCOOP,
    SLACKPKG,
    SNAP,
    SORCERY,
    SVR4,
    SWDEPOT,
    SWUPD,
    WINDOWS_UPDATE,
    XBPS,
    ZYPP,
)

PACKAGE = f"{BUILTIN}.package"

_CG = "community.general"
_WIN = "ansible.windows"
_CHOCO = "chocolatey.chocolatey"


def _modules(*pairs: tuple[str, tuple[str, ...]]) -> dict[str, frozenset[str]]:
    return {name: frozenset(locks) for name, locks in pairs}


# Module FQCN → locks, before argument refinement.  Every name here is checked
# against the catalog by the tests.
DEFAULT_MODULE_LOCKS: Mapping[str, frozenset[str]] = MappingProxyType(
    _modules(
        (f"{BUILTIN}.apt", (DPKG,)),
        (f"{BUILTIN}.apt_key", (DPKG,)),
        (f"{BUILTIN}.apt_repository", (DPKG,)),
        (f"{BUILTIN}.deb822_repository", (DPKG,)),
        (f"{BUILTIN}.debconf", (DPKG,)),
        (f"{BUILTIN}.dpkg_selections", (DPKG,)),
        (f"{BUILTIN}.dnf", (RPM,)),
        (f"{BUILTIN}.dnf5", (RPM,)),
        (f"{BUILTIN}.rpm_key", (RPM,)),
        (f"{BUILTIN}.yum_repository", (RPM,)),
        (f"{_CG}.dpkg_divert", (DPKG,)),
        (f"{_CG}.apt_repo", (RPM,)),
        (f"{_CG}.apt_rpm", (RPM,)),
        (f"{_CG}.copr", (RPM,)),
        (f"{_CG}.dnf_config_manager", (RPM,)),
        (f"{_CG}.dnf_versionlock", (RPM,)),
        (f"{_CG}.yum_versionlock", (RPM,)),
        (f"{_CG}.redhat_subscription", (RPM,)),
        (f"{_CG}.rhsm_repository", (RPM,)),
        (f"{_CG}.rhsm_release", (RPM,)),
        (f"{_CG}.urpmi", (RPM,)),
        (f"{_CG}.zypper", (ZYPP, RPM)),
        (f"{_CG}.zypper_repository", (ZYPP,)),
        (f"{_CG}.rpm_ostree_pkg", (RPM_OSTREE,)),
        (f"{_CG}.atomic_host", (RPM_OSTREE,)),
        (f"{_CG}.atomic_container", (RPM_OSTREE,)),
        (f"{_CG}.pacman", (PACMAN,)),
        (f"{_CG}.pacman_key", (PACMAN,)),
        (f"{_CG}.apk", (APK,)),
        (f"{_CG}.pkgng", (PKGNG,)),
        (f"{_CG}.portinstall", (PKGNG,)),
        (f"{_CG}.portage", (PORTAGE,)),
        (f"{_CG}.layman", (PORTAGE,)),
        (f"{_CG}.homebrew", (HOMEBREW,)),
        (f"{_CG}.homebrew_cask", (HOMEBREW,)),
        (f"{_CG}.homebrew_tap", (HOMEBREW,)),
        (f"{_CG}.snap", (SNAP,)),
        (f"{_CG}.snap_alias", (SNAP,)),
        (f"{_CG}.flatpak", (FLATPAK,)),
        (f"{_CG}.flatpak_remote", (FLATPAK,)),
        (f"{_CG}.macports", (MACPORTS,)),
        (f"{_CG}.opkg", (OPKG,)),
        (f"{_CG}.xbps", (XBPS,)),
        (f"{_CG}.slackpkg", (SLACKPKG,)),
        (f"{_CG}.openbsd_pkg", (OPENBSD,)),
        (f"{_CG}.pkgin", (PKGIN,)),
        (f"{_CG}.pkg5", (IPS,)),
        (f"{_CG}.pkg5_publisher", (IPS,)),
        (f"{_CG}.svr4pkg", (SVR4,)),
        (f"{_CG}.pkgutil", (SVR4,)),
        (f"{_CG}.swupd", (SWUPD,)),
        (f"{_CG}.installp", (INSTALLP,)),
        (f"{_CG}.swdepot", (SWDEPOT,)),
        (f"{_CG}.sorcery", (SORCERY,)),
        (f"{_WIN}.win_package", (MSI,)),
        (f"{_WIN}.win_updates", (WINDOWS_UPDATE, MSI)),
        (f"{_WIN}.win_hotfix", (WINDOWS_UPDATE,)),
        (f"{_WIN}.win_feature", (WINDOWS_UPDATE,)),
        (f"{_WIN}.win_optional_feature", (WINDOWS_UPDATE,)),
        (f"{_CHOCO}.win_chocolatey", (CHOCOLATEY, MSI)),
        (f"{_CHOCO}.win_chocolatey_config", (CHOCOLATEY,)),
        (f"{_CHOCO}.win_chocolatey_feature", (CHOCOLATEY,)),
        (f"{_CHOCO}.win_chocolatey_source", (CHOCOLATEY,)),
        ("community.windows.win_scoop", (SCOOP,)),
        ("community.windows.win_scoop_bucket", (SCOOP,)),
    )
)


def _is_set(args: Mapping[str, object], key: str) -> bool:
    value = args.get(key)
    return value is not None and value != "" and value is not False


# Argument forms that only read: the module's default locks are dropped.
READ_ONLY_FORMS: Mapping[str, Callable[[Mapping[str, object]], bool]] = MappingProxyType(
    {
        # ``list`` makes dnf query and return; every other argument is ignored.
        f"{BUILTIN}.dnf": lambda args: _is_set(args, "list"),
        f"{BUILTIN}.dnf5": lambda args: _is_set(args, "list"),
        # Without ``question`` debconf only reads the package's settings.
        f"{BUILTIN}.debconf": lambda args: not _is_set(args, "question"),
        f"{_WIN}.win_updates": lambda args: args.get("state") == "searched",
    }
)


@dataclass(frozen=True, slots=True)
class CommandArgs:
    keys: tuple[str, ...]  # where the command line is, in order of preference
    shell: bool  # analysed as a shell script (shell, raw) or split into words (command)
    windows: bool = False  # backslashes are path separators, not escapes


# Modules whose arguments are a command line.
COMMAND_MODULES: Mapping[str, CommandArgs] = MappingProxyType(
    {
        f"{BUILTIN}.command": CommandArgs(("_raw_params", "cmd", "argv"), shell=False),
        f"{BUILTIN}.shell": CommandArgs(("_raw_params", "cmd"), shell=True),
        f"{BUILTIN}.raw": CommandArgs(("_raw_params",), shell=True),
        f"{BUILTIN}.expect": CommandArgs(("command",), shell=False),
        f"{_WIN}.win_command": CommandArgs(("_raw_params", "cmd", "argv"), False, True),
        f"{_WIN}.win_shell": CommandArgs(("_raw_params", "cmd"), True, True),
    }
)
