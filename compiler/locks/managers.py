"""Package managers on the command line: which subcommands and options only read."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from playgraph.semantics import is_template

from .names import (
    APK,
    CHOCOLATEY,
    DPKG,
    FLATPAK,
    HOMEBREW,
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
    SWUPD,
    WINDOWS_UPDATE,
    XBPS,
    ZYPP,
)
from .wrappers import Option, first_operand, operands_of


@dataclass(frozen=True, slots=True)
class _Verbs:
    """A subcommand-style manager (``apt-get install``, ``dnf list``)."""

    locks: frozenset[str]
    read_only: frozenset[str]
    option: Option = field(default_factory=Option)
    # Subcommands whose own first operand decides; listed words only read.
    listing: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    # Whether such a subcommand alone (``dnf history``) is its read-only listing.
    bare_listing_reads: bool = True
    # Locks taken even by the read-only subcommands (zypper's zypp lock).
    read_locks: frozenset[str] = frozenset()
    # Subcommands that touch nothing at all, not even read locks.
    inert: frozenset[str] = frozenset({"help", "version"})

    def __call__(self, args: Sequence[str]) -> frozenset[str]:
        operands = operands_of(args, self.option)
        if not operands:
            return frozenset()
        verb = operands[0]
        if is_template(verb, comments=False):
            return self.locks
        verb = verb.lower()
        if verb in self.inert:
            return frozenset()
        if verb in self.listing:
            if len(operands) < 2:
                return self.read_locks if self.bare_listing_reads else self.locks
            second = operands[1]
            if not is_template(second, comments=False) and second in self.listing[verb]:
                return self.read_locks
            return self.locks
        if verb in self.read_only:
            return self.read_locks
        return self.locks


def _verbs(
    locks: Iterable[str],
    read_only: str,
    *,
    short_with_arg: str = "",
    long_with_arg: str = "",
    listing: Mapping[str, str] | None = None,
    bare_listing_reads: bool = True,
    read_locks: Iterable[str] = (),
) -> _Verbs:
    return _Verbs(
        locks=frozenset(locks),
        read_only=frozenset(read_only.split()),
        option=Option(short_with_arg, frozenset(long_with_arg.split())),
        listing=MappingProxyType({k: frozenset(v.split()) for k, v in (listing or {}).items()}),
        bare_listing_reads=bare_listing_reads,
        read_locks=frozenset(read_locks),
    )


def _always(*locks: str, unless: str = "") -> Callable[[Sequence[str]], frozenset[str]]:
    """A program that always holds ``locks`` unless one of the ``unless`` words
    (flags or operands) appears."""
    exempt = frozenset(unless.split())
    held = frozenset(locks)

    def check(args: Sequence[str]) -> frozenset[str]:
        return frozenset() if any(a.split("=", 1)[0] in exempt for a in args) else held

    return check


_APT = _verbs(
    [DPKG],
    "list show search policy showsrc showpkg depends rdepends madison download source"
    " changelog help moo why why-not versions",
    short_with_arg="octa",
    long_with_arg="--option --config-file --target-release --default-release --host-architecture",
)
_APT_MARK = _verbs(
    [DPKG],
    "showauto showmanual showhold showinstall showremove showpurge",
    short_with_arg="ocf",
    long_with_arg="--option --config-file --file",
)
_APT_KEY = _verbs([DPKG], "list finger fingerprint export exportall", long_with_arg="--keyring")

_DNF = _verbs(
    [RPM],
    "list ls info search se provides whatprovides wp repolist repoinfo repoquery rq deplist"
    " check check-update updateinfo changelog needs-restarting download leaves environment"
    " alias",
    listing={
        "group": "list info summary",
        "groups": "list info summary",
        "module": "list info provides repoquery",
        "history": "list info summary userinstalled package-list stats",
        "versionlock": "list",
        "copr": "list search",
        "advisory": "list info summary",
        "repo": "list info",
    },
    short_with_arg="cdexR",
    long_with_arg=(
        "--config --debuglevel --errorlevel --rpmverbosity --installroot --releasever --setopt"
        " --enablerepo --disablerepo --repo --repoid --exclude --excludepkgs --color --downloaddir"
        " --destdir --forcearch --disableplugin --enableplugin --comment --advisory --advisories"
        " --bz --bzs --cve --cves --sec-severity --secseverity --repofrompath --from-repo"
    ),
)

_ZYPPER = _verbs(
    [ZYPP, RPM],
    "search se info if list-updates lu list-patches lp patches pch packages pa patterns pt"
    " products pd repos lr services ls locks ll what-provides wp patch-check pchk patch-info"
    " pattern-info product-info licenses ps needs-rebooting search-packages"
    " source-download download",
    short_with_arg="RcDC",
    long_with_arg=(
        "--root --config --reposd-dir --cache-dir --raw-cache-dir --solv-cache-dir"
        " --pkg-cache-dir --userdata --installroot"
    ),
    read_locks=[ZYPP],
)
_ZYPPER_LOCAL = frozenset({"versioncmp", "vcmp", "targetos", "tos", "system-architecture"})

_APK = _verbs(
    [APK],
    "info search list policy version dot stats manifest fetch audit",
    short_with_arg="pX",
    long_with_arg=(
        "--root --repository --keys-dir --repositories-file --arch --cache-dir --cache-max-age"
    ),
)
_PKGNG = _verbs(
    [PKGNG],
    "info query rquery search audit version check which stats shlib updating config help fetch",
    short_with_arg="jcroC",
    long_with_arg="--jail --chroot --rootdir --option --config",
)
_PKGIN = _verbs(
    [PKGIN],
    "list ls avail av search se show-deps sd show-full-deps sfd show-rev-deps srd"
    " show-keep sk show-no-keep snk show-category sc pkg-content pc pkg-descr pd pkg-build-defs"
    " pbd stats st",
    short_with_arg="c",
)
_SNAP = _verbs(
    [SNAP],
    "list info find search changes change tasks version services connections interfaces get"
    " known warnings model aliases logs whoami routine debug saved",
)
_FLATPAK = _verbs(
    [FLATPAK],
    "list info search remotes remote-ls remote-info history ps run config documents"
    " permissions permission-show enter",
)
_BREW = _verbs(
    [HOMEBREW],
    "list ls info abv search outdated deps uses leaves config doctor dr home desc cat log"
    " options missing commands --prefix --cellar --cache --repository --env services shellenv"
    " which-formula",
    listing={"bundle": "check list dump"},
    bare_listing_reads=False,  # a bare ``brew bundle`` installs the Brewfile
)
_PORT = _verbs(
    [MACPORTS],
    "installed list search info outdated contents deps rdeps variants dependents echo location"
    " provides file work cat dir url gohome usage",
)
_OPKG = _verbs(
    [OPKG],
    "list list-installed list-upgradable list-changed-conffiles info status search find files"
    " depends whatdepends whatdependsrec whatprovides whatconflicts whatreplaces"
    " print-architecture download compare-versions",
    short_with_arg="fdo",
    long_with_arg="--conf --dest --offline-root",
)
_SLACKPKG = _verbs(
    [SLACKPKG],
    "search info file-search check-updates show-changelog generate-template help",
)
_SWUPD = _verbs(
    [SWUPD],
    "bundle-list search info check-update diagnose bundle-info hashdump mirror",
)
_SCOOP = _verbs(
    [SCOOP],
    "list search info status which home cat checkup prefix export depends help virustotal",
    listing={"bucket": "list known", "cache": "show"},
)
_RPM_OSTREE = _verbs(
    [RPM_OSTREE],
    "status db search compose",
)
_SUBSCRIPTION_MANAGER = _verbs(
    [RPM],
    "list status identity facts version orgs environments syspurpose",
)


def _choco(args: Sequence[str]) -> frozenset[str]:
    verb = first_operand(args, Option())
    return _CHOCO_VERBS(args) | (
        frozenset({MSI})
        if verb is not None
        and (is_template(verb, comments=False) or verb.lower() in _CHOCO_INSTALLERS)
        else frozenset()
    )


_CHOCO_INSTALLERS = frozenset({"install", "upgrade", "uninstall", "update"})
_CHOCO_VERBS = _verbs(
    [CHOCOLATEY],
    "list search find info outdated help export",
    listing={
        "config": "get list",
        "source": "list",
        "sources": "list",
        "feature": "get list",
        "features": "get list",
        "pin": "list",
        "apikey": "list",
    },
)


def _choco_alias(verb: str) -> Callable[[Sequence[str]], frozenset[str]]:
    return lambda args: _choco([verb, *args])


def _dpkg(args: Sequence[str]) -> frozenset[str]:
    mutating_long = {
        "--install",
        "--remove",
        "--purge",
        "--configure",
        "--unpack",
        "--set-selections",
        "--clear-selections",
        "--update-avail",
        "--merge-avail",
        "--clear-avail",
        "--forget-old-unavail",
        "--triggers-only",
        "--record-avail",
        "--add-architecture",
        "--remove-architecture",
    }
    for word in args:
        if is_template(word, comments=False):
            continue
        if word.startswith("--"):
            if word.split("=", 1)[0] in mutating_long:
                return frozenset({DPKG})
        elif word.startswith("-") and any(ch in "irPA" for ch in word[1:]):
            # Short actions: -i install, -r remove, -P purge, -A record-avail.
            return frozenset({DPKG})
    return frozenset()


def _rpm(args: Sequence[str]) -> frozenset[str]:
    mutating_long = {
        "--install",
        "--upgrade",
        "--freshen",
        "--erase",
        "--import",
        "--rebuilddb",
        "--initdb",
        "--setperms",
        "--setugids",
        "--setcaps",
        "--restore",
        "--reinstall",
        "--delete",
    }
    for word in args:
        if word.startswith("--"):
            if word.split("=", 1)[0] in mutating_long:
                return frozenset({RPM})
            continue
        if word.startswith("-") and len(word) > 1:
            # The first mode letter of a cluster decides: ``-ivh`` installs,
            # ``-qi`` queries (``i`` is then "info").
            for ch in word[1:]:
                if ch in "iUFe":
                    return frozenset({RPM})
                if ch in "qVKE":
                    return frozenset()
    return frozenset()


# pacman's long operation names and the modifier letters of their long options.
_PACMAN_LONG = MappingProxyType(
    {
        "--sync": "S",
        "--remove": "R",
        "--upgrade": "U",
        "--query": "Q",
        "--database": "D",
        "--files": "F",
        "--deptest": "T",
        "--refresh": "y",
        "--sysupgrade": "u",
        "--search": "s",
        "--info": "i",
        "--list": "l",
        "--groups": "g",
        "--print": "p",
        "--check": "k",
        "--asdeps": "a",
        "--asexplicit": "a",
    }
)


def _pacman(args: Sequence[str]) -> frozenset[str]:
    letters = ""
    for word in args:
        if word.startswith("--"):
            letters += _PACMAN_LONG.get(word, "")
        elif word.startswith("-") and len(word) > 1:
            letters += word[1:]
    operation = next((ch for ch in letters if ch in "SRUQDFTV"), None)
    if operation in ("R", "U"):
        return frozenset({PACMAN})
    if operation == "S":
        if "y" in letters or "u" in letters:
            return frozenset({PACMAN})
        if any(ch in letters for ch in "silgp"):
            return frozenset()
        return frozenset({PACMAN})
    if operation == "D":
        return frozenset() if "k" in letters else frozenset({PACMAN})
    if operation == "F":
        return frozenset({PACMAN}) if "y" in letters else frozenset()
    return frozenset()


def _pacman_key(args: Sequence[str]) -> frozenset[str]:
    read = {
        "-l",
        "--list-keys",
        "--list-sigs",
        "-f",
        "--finger",
        "-v",
        "--verify",
        "-e",
        "--export",
        "-h",
        "--help",
        "-V",
        "--version",
    }
    return frozenset() if any(a in read for a in args) else frozenset({PACMAN})


def _emerge(args: Sequence[str]) -> frozenset[str]:
    read = {
        "-p",
        "--pretend",
        "-s",
        "--search",
        "-S",
        "--searchdesc",
        "--info",
        "-h",
        "--help",
        "--version",
        "-V",
        "--list-sets",
        "-f",
        "--fetchonly",
        "-F",
        "--fetch-all-uri",
        "--check-news",
    }
    for word in args:
        if word in read or word.startswith("--pretend") or word.startswith("--ask=n"):
            return frozenset()
        if word.startswith("-") and not word.startswith("--") and "p" in word[1:]:
            return frozenset()
    return frozenset({PORTAGE})


def _zypper(args: Sequence[str]) -> frozenset[str]:
    verb = first_operand(args, _ZYPPER.option)
    if verb is not None and not is_template(verb, comments=False) and verb.lower() in _ZYPPER_LOCAL:
        return frozenset()
    return _ZYPPER(args)


def _makepkg(args: Sequence[str]) -> frozenset[str]:
    for word in args:
        if word in ("--install", "--syncdeps", "--rmdeps"):
            return frozenset({PACMAN})
        if word.startswith("-") and not word.startswith("--") and any(c in "isr" for c in word[1:]):
            return frozenset({PACMAN})
    return frozenset()


def _snap(args: Sequence[str]) -> frozenset[str]:
    operands = operands_of(args, Option())
    if operands[:1] == ["refresh"] and any(a in ("--list", "--time") for a in args):
        return frozenset()
    return _SNAP(args)


def _subscription_manager(args: Sequence[str]) -> frozenset[str]:
    verb = first_operand(args, Option())
    if verb in ("repos", "release", "service-level", "config"):
        changing = ("--enable", "--disable", "--set", "--unset", "--remove")
        if verb == "config":
            return frozenset() if all(a in ("--list",) for a in args[1:]) else frozenset({RPM})
        return frozenset({RPM}) if any(a.startswith(changing) for a in args) else frozenset()
    return _SUBSCRIPTION_MANAGER(args)


def _dism(args: Sequence[str]) -> frozenset[str]:
    changing = (
        "/enable-",
        "/disable-",
        "/add-",
        "/remove-",
        "/cleanup-image",
        "/set-",
        "/apply-",
        "/import-",
        "/restorehealth",
    )
    return (
        frozenset({WINDOWS_UPDATE})
        if any(a.lower().startswith(changing) for a in args)
        else frozenset()
    )


def _dpkg_divert(args: Sequence[str]) -> frozenset[str]:
    read = ("--list", "--listpackage", "--truename", "--help", "--version")
    return frozenset() if any(a in read for a in args) else frozenset({DPKG})


PROGRAMS: Mapping[str, Callable[[Sequence[str]], frozenset[str]]] = MappingProxyType(
    {
        # Debian
        "apt": _APT,
        "apt-get": _APT,
        "aptitude": _APT,
        "apt-mark": _APT_MARK,
        "apt-key": _APT_KEY,
        "add-apt-repository": _always(DPKG, unless="-L --list --help -h"),
        "apt-add-repository": _always(DPKG, unless="-L --list --help -h"),
        "dpkg": _dpkg,
        "dpkg-reconfigure": _always(DPKG, unless="--help -h"),
        "dpkg-divert": _dpkg_divert,
        "debconf-set-selections": _always(DPKG, unless="--help -h"),
        "unattended-upgrade": _always(DPKG, unless="--help -h --dry-run"),
        "unattended-upgrades": _always(DPKG, unless="--help -h --dry-run"),
        "gdebi": _always(DPKG, unless="--help -h"),
        "do-release-upgrade": _always(DPKG, unless="--help -h -c --check-dist-upgrade-only"),
        # rpm family
        "rpm": _rpm,
        "rpmkeys": _rpm,
        "rpmdb": _always(RPM, unless="--help --version"),
        "yum": _DNF,
        "yum-3": _DNF,
        "dnf": _DNF,
        "dnf-3": _DNF,
        "dnf4": _DNF,
        "dnf5": _DNF,
        "microdnf": _DNF,
        "tdnf": _DNF,
        "yum-config-manager": _always(RPM, unless="--dump --help -h"),
        "yum-complete-transaction": _always(RPM, unless="--help -h"),
        "urpmi": _always(RPM, unless="--help"),
        "urpme": _always(RPM, unless="--help"),
        "urpmi.update": _always(RPM, unless="--help"),
        "urpmi.addmedia": _always(RPM, unless="--help"),
        "urpmi.removemedia": _always(RPM, unless="--help"),
        "subscription-manager": _subscription_manager,
        "rpm-ostree": _RPM_OSTREE,
        "zypper": _zypper,
        # others
        "pacman": _pacman,
        "yay": _pacman,
        "paru": _pacman,
        "pacman-key": _pacman_key,
        "makepkg": _makepkg,
        "apk": _APK,
        "pkg": _PKGNG,
        "pkg-static": _PKGNG,
        "pkg_add": _always(OPENBSD, unless="-n"),
        "pkg_delete": _always(OPENBSD, unless="-n"),
        "pkgin": _PKGIN,
        "emerge": _emerge,
        "snap": _snap,
        "flatpak": _FLATPAK,
        "brew": _BREW,
        "port": _PORT,
        "opkg": _OPKG,
        "xbps-install": _always(XBPS, unless="-n --dry-run -h --help"),
        "xbps-remove": _always(XBPS, unless="-n --dry-run -h --help"),
        "xbps-reconfigure": _always(XBPS, unless="-h --help"),
        "xbps-pkgdb": _always(XBPS, unless="-h --help"),
        "slackpkg": _SLACKPKG,
        "installpkg": _always(SLACKPKG, unless="--warn"),
        "removepkg": _always(SLACKPKG, unless="-warn"),
        "upgradepkg": _always(SLACKPKG, unless="--dry-run"),
        "swupd": _SWUPD,
        # Windows
        "choco": _choco,
        "chocolatey": _choco,
        "cinst": _choco_alias("install"),
        "cup": _choco_alias("upgrade"),
        "cuninst": _choco_alias("uninstall"),
        "msiexec": _always(MSI, unless="/? /help"),
        "wusa": _always(WINDOWS_UPDATE, unless="/? /help"),
        "dism": _dism,
        "scoop": _SCOOP,
    }
)
