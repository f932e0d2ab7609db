"""Lock annotations: the exclusive resources a task holds on its host (DESIGN.md §2).

The hazard the linter looks for is the one the Ansible async guide names: "Do
not specify a poll value of 0 with operations that require exclusive locks
(such as yum transactions) if you expect to run other commands later in the
playbook against those same resources."  A detached (``poll: 0``) task keeps
its locks until its job ends; a later task on the same host that needs one of
them waits (``lock_timeout``: 30 s for dnf, 60 s for apt; dnf5's is a no-op)
or fails.  This module says which locks a task needs; the lint rule pairs
them up.

Lock names are short strings.  The built-in ones are ``pkg:<manager>``; users
add their own (:meth:`LockTable.extend`).

What holds a lock, and why
==========================

The unit is *one package database (and the configuration its tools read) per
host*.  A task holds the lock when it may write that database, or the
configuration and caches its transactions read, because a concurrent
transaction then either fails on the lock file or sees a half-written state.
Reading the database does not hold the lock, except where the tool takes the
lock even to read (zypper, below).

``pkg:dpkg`` — Debian's apt/dpkg stack.
    One lock for ``/var/lib/dpkg/lock{,-frontend}``, ``/var/lib/apt/lists/lock``
    and ``/var/cache/apt/archives/lock``: apt takes several of them in one
    transaction and ``apt-get update`` (lists lock) running beside
    ``apt-get install`` breaks the install either way, so telling them apart
    buys nothing.  Holders: ``apt`` (every form: ``update_cache: yes`` alone
    takes the lists lock), ``apt_repository`` (runs an update by default),
    ``deb822_repository`` and ``apt_key`` (they change the sources and keyrings
    the next update reads: a detached key or repository change followed by an
    install is the same race), ``dpkg_selections`` (``dpkg --set-selections``),
    ``debconf`` when it sets a value (the debconf database is locked by any
    package configuration in progress; a query only reads), and
    ``community.general.dpkg_divert`` (dpkg-divert takes the dpkg lock).

``pkg:rpm`` — the rpm database and the dnf/yum stack above it.
    One lock for rpm's database lock and dnf's/yum's own locks: a dnf
    transaction holds both, and ``rpm -i`` beside ``dnf install`` fails.
    Holders: ``dnf``, ``dnf5`` (and ``yum``, redirected to ``dnf``), except
    ``dnf: list=…`` which only queries; ``rpm_key`` (``rpm --import``);
    ``yum_repository``, ``community.general.copr``, ``dnf_config_manager``,
    ``dnf_versionlock``, ``yum_versionlock`` and the subscription-manager
    modules (``redhat_subscription``, ``rhsm_repository``, ``rhsm_release``)
    because they change the repository configuration a concurrent transaction
    reads; ``urpmi``, ``apt_rpm`` and ``apt_repo`` (Mandriva/ALT front ends to
    rpm).

``pkg:zypp`` — libzypp's ``/run/zypp.pid``.
    ``zypper`` holds ``pkg:zypp`` *and* ``pkg:rpm`` (it writes the rpm
    database).  On the command line every zypper subcommand that loads the
    system takes the zypp lock, queries included (``zypper se`` fails with
    "System management is locked" while another zypper runs; libzypp has a
    ``ZYPP_READONLY_HACK`` for exactly that), so read-only zypper commands hold
    ``pkg:zypp`` and mutating ones hold both.  ``zypper_repository`` holds
    ``pkg:zypp`` only.

The others, one lock per manager:
    ``pkg:pacman`` (pacman, pacman_key, makepkg -i/-s, yay, paru),
    ``pkg:apk``, ``pkg:pkgng`` (pkgng, portinstall, FreeBSD ``pkg``),
    ``pkg:portage`` (portage, layman, emerge), ``pkg:homebrew`` (homebrew,
    homebrew_cask, homebrew_tap; not homebrew_services), ``pkg:snap`` (snap,
    snap_alias: snapd refuses a second change to a snap), ``pkg:flatpak``,
    ``pkg:macports``, ``pkg:opkg``, ``pkg:xbps``, ``pkg:slackpkg``,
    ``pkg:openbsd`` (openbsd_pkg, pkg_add, pkg_delete), ``pkg:pkgin``,
    ``pkg:ips`` (pkg5, pkg5_publisher), ``pkg:svr4`` (svr4pkg, pkgutil),
    ``pkg:swupd``, ``pkg:installp``, ``pkg:swdepot``, ``pkg:sorcery``,
    ``pkg:rpm-ostree`` (rpm_ostree_pkg, atomic_host, and atomic_container,
    which ansible's package-manager fact names for rpm-ostree hosts).

Windows:
    ``pkg:msi`` is the Windows Installer's machine-wide mutex (a second
    ``msiexec`` fails with 1618): ``win_package``, and ``win_chocolatey``
    because most Chocolatey packages run an MSI.  ``pkg:windows-update`` is the
    servicing stack (Windows Update agent, CBS/DISM): ``win_updates`` (also
    ``pkg:msi``: updates run installers; ``state: searched`` only reads),
    ``win_hotfix``, ``win_feature``, ``win_optional_feature``.
    ``pkg:chocolatey``: every chocolatey module that changes state.
    ``pkg:scoop``: ``win_scoop``, ``win_scoop_bucket``.

No lock:
    language package managers (pip, npm, gem, cargo, composer, pipx…): they
    take no machine-wide lock and concurrent installs into *different*
    environments are fine; facts modules (``package_facts``); service
    managers (systemd queues jobs itself).

``ansible.builtin.package`` holds every lock of every backend ansible's
package action may pick (the ``PKG_MGRS`` fact table, recorded in the catalog
data), because it runs whichever the host has; with ``use: <module>`` it holds
that module's locks only.  snap, flatpak and chocolatey are not package
backends, so ``package`` does not hold them.

Command lines
=============

``command``, ``shell``, ``raw``, ``expect`` (its ``command``), ``win_command``
and ``win_shell`` hold the locks of the package commands their command line
runs (:func:`command_locks`).  Best-effort shell analysis:

* a shell line is split into simple commands on ``;``, ``&&``, ``||``, ``|``,
  ``&``, newlines and parentheses; ``$(…)``, backticks and ``<(…)`` are
  analysed as nested command lines (also inside double quotes); single-quoted
  text, here-documents, comments and redirection targets are never commands;
  ``sh -c '…'``, ``bash -lc "…"``, ``su -c``, ``flock … -c``, ``cmd /c`` and
  ``powershell -Command`` are analysed recursively;
* Jinja blocks (``{{ … }}``) are opaque words: a templated program name runs
  something we cannot know (no lock); a templated *subcommand* of a package
  manager is assumed to mutate (we cannot prove it reads);
* leading ``VAR=x`` assignments and wrappers are skipped: ``sudo``, ``doas``,
  ``env``, ``nohup``, ``exec``, ``time``, ``command`` (``command -v`` runs
  nothing), ``builtin``, ``nice``, ``ionice``, ``timeout``, ``stdbuf``,
  ``xargs`` (no command: it runs ``echo``), ``flock FILE``, ``taskset``,
  ``chrt``, ``setsid``, ``eatmydata``, ``unbuffer``, ``chronic``,
  ``busybox``, ``runuser``;
* the program is the basename of the first remaining word, lower-cased and
  without ``.exe`` (``/usr/bin/apt-get`` → ``apt-get``, ``C:\\…\\choco.exe`` →
  ``choco``).  ``chroot DIR cmd`` is *not* unwrapped: the command works on
  another root's database;
* the subcommand is the first word after the options (options with an
  argument are skipped: ``dnf -y --setopt x=y install`` → ``install``).
  Unknown subcommands count as mutating; no subcommand (``apt-get --version``)
  holds nothing.

Per manager, read-only (no lock): ``apt``/``apt-get``/``aptitude`` ``list show
search policy showsrc depends rdepends madison download source changelog
help``; ``apt-cache``, ``dpkg-query`` always; ``dpkg -l -L -s -S -p -c -I -W
--get-selections --compare-versions --audit --verify`` and other non-database
actions; ``rpm -q -V -K --eval --showrc``; yum/dnf/dnf5/microdnf/tdnf ``list info
search provides whatprovides repolist repoinfo repoquery deplist check
check-update updateinfo changelog needs-restarting download`` and the listing
forms of ``group``/``module``/``history``/``versionlock``/``copr``;
``pacman -Q -T -Ss -Si -Sl -Sg -Sp -Fl -Fx -Dk``; ``apk info search list policy
version dot stats manifest fetch audit``; and the listing verbs of the others.
``apt-get check`` and ``clean``/``autoclean``, ``dnf makecache``/``clean``
count as mutating (they lock or delete the caches a transaction uses).
``dnf check-update`` counts as read-only although it may refresh metadata:
dnf and yum *wait* for the metadata lock rather than fail, and it changes no
installed state.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType

from .catalog import BUILTIN, Catalog, ModuleInfo, default_catalog

__all__ = [
    "APK",
    "CHOCOLATEY",
    "DPKG",
    "FLATPAK",
    "HOMEBREW",
    "MSI",
    "PACMAN",
    "PKGNG",
    "PORTAGE",
    "RPM",
    "SNAP",
    "WINDOWS_UPDATE",
    "ZYPP",
    "CommandRule",
    "LockConfigError",
    "LockTable",
    "build_lock_table",
    "command_locks",
    "default_lock_table",
    "locks_for_task",
]

DPKG = "pkg:dpkg"
RPM = "pkg:rpm"
ZYPP = "pkg:zypp"
PACMAN = "pkg:pacman"
APK = "pkg:apk"
PKGNG = "pkg:pkgng"
PORTAGE = "pkg:portage"
HOMEBREW = "pkg:homebrew"
SNAP = "pkg:snap"
FLATPAK = "pkg:flatpak"
MACPORTS = "pkg:macports"
OPKG = "pkg:opkg"
XBPS = "pkg:xbps"
SLACKPKG = "pkg:slackpkg"
OPENBSD = "pkg:openbsd"
PKGIN = "pkg:pkgin"
IPS = "pkg:ips"
SVR4 = "pkg:svr4"
SWUPD = "pkg:swupd"
INSTALLP = "pkg:installp"
SWDEPOT = "pkg:swdepot"
SORCERY = "pkg:sorcery"
RPM_OSTREE = "pkg:rpm-ostree"
CHOCOLATEY = "pkg:chocolatey"
MSI = "pkg:msi"
WINDOWS_UPDATE = "pkg:windows-update"
SCOOP = "pkg:scoop"

_PACKAGE = f"{BUILTIN}.package"

_CG = "community.general"
_WIN = "ansible.windows"
_CHOCO = "chocolatey.chocolatey"


def _modules(*pairs: tuple[str, tuple[str, ...]]) -> dict[str, frozenset[str]]:
    return {name: frozenset(locks) for name, locks in pairs}


# Module FQCN → locks, before argument refinement.  Every name here is checked
# against the catalog by the tests.
_DEFAULT_MODULE_LOCKS: Mapping[str, frozenset[str]] = MappingProxyType(
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
_READ_ONLY_FORMS: Mapping[str, Callable[[Mapping[str, object]], bool]] = MappingProxyType(
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
class _CommandArgs:
    keys: tuple[str, ...]  # where the command line is, in order of preference
    shell: bool  # analysed as a shell script (shell, raw) or split into words (command)
    windows: bool = False  # backslashes are path separators, not escapes


# Modules whose arguments are a command line.
_COMMAND_MODULES: Mapping[str, _CommandArgs] = MappingProxyType(
    {
        f"{BUILTIN}.command": _CommandArgs(("_raw_params", "cmd", "argv"), shell=False),
        f"{BUILTIN}.shell": _CommandArgs(("_raw_params", "cmd"), shell=True),
        f"{BUILTIN}.raw": _CommandArgs(("_raw_params",), shell=True),
        f"{BUILTIN}.expect": _CommandArgs(("command",), shell=False),
        f"{_WIN}.win_command": _CommandArgs(("_raw_params", "cmd", "argv"), False, True),
        f"{_WIN}.win_shell": _CommandArgs(("_raw_params", "cmd"), True, True),
    }
)


class LockConfigError(ValueError):
    """A user lock declaration that cannot be used (empty name, bad pattern)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandRule:
    """A user rule: command lines matching ``pattern`` hold ``lock``.

    The pattern is searched (``re.search``) in the task's whole command line and
    in each simple command of it with wrappers removed, so
    ``^/opt/app/bin/migrate`` matches ``sudo -u app /opt/app/bin/migrate up``
    and ``cd /opt/app && /opt/app/bin/migrate``.
    """

    lock: str
    pattern: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LockTable:
    """Which locks modules and command lines hold.  Build with
    :func:`default_lock_table` and add site rules with :meth:`extend`."""

    modules: Mapping[str, frozenset[str]]
    """Built-in knowledge: module FQCN → locks (before argument refinement)."""
    package_backends: Mapping[str, frozenset[str]]
    """Short names ``package`` may run (``use:``) → their locks."""
    user_modules: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    """User declarations: module FQCN or short name → locks."""
    command_rules: tuple[CommandRule, ...] = ()

    @property
    def package_locks(self) -> frozenset[str]:
        """What ``package`` holds when the backend is not fixed by ``use``."""
        return frozenset().union(*self.package_backends.values())

    def extend(self, user_locks: Mapping[str, Sequence[str]]) -> LockTable:
        """A table that also knows the user's locks.

        ``user_locks`` maps a lock name to module names (FQCN or short) and
        ``command:<regex>`` patterns, for example
        ``{"db-migrations": ["community.mysql.mysql_db", "command:^/opt/app/bin/migrate"]}``.
        Raises :class:`LockConfigError` for an empty lock name or entry, or a
        pattern that does not compile.
        """
        user_modules = {name: set(locks) for name, locks in self.user_modules.items()}
        rules = list(self.command_rules)
        for lock, entries in sorted(user_locks.items()):
            if not isinstance(lock, str) or not lock.strip():
                raise LockConfigError(f"lock name must be a non-empty string, got {lock!r}")
            if isinstance(entries, str):
                raise LockConfigError(f"lock {lock!r}: expected a list of entries, got a string")
            for entry in entries:
                if not isinstance(entry, str) or not entry.strip():
                    raise LockConfigError(f"lock {lock!r}: empty or non-string entry {entry!r}")
                if entry.startswith("command:"):
                    pattern = entry.removeprefix("command:")
                    try:
                        re.compile(pattern)
                    except re.error as error:
                        raise LockConfigError(
                            f"lock {lock!r}: bad pattern {pattern!r}: {error}"
                        ) from None
                    rules.append(CommandRule(lock=lock, pattern=pattern))
                else:
                    name = entry.strip()
                    if name.startswith("ansible.legacy."):
                        name = BUILTIN + name.removeprefix("ansible.legacy")
                    user_modules.setdefault(name, set()).add(lock)
        return LockTable(
            modules=self.modules,
            package_backends=self.package_backends,
            user_modules=MappingProxyType(
                {name: frozenset(locks) for name, locks in sorted(user_modules.items())}
            ),
            command_rules=tuple(rules),
        )


def build_lock_table(catalog: Catalog) -> LockTable:
    """The built-in table, with ``package`` backends resolved through ``catalog``."""
    backends: dict[str, frozenset[str]] = {}
    for short in catalog.package_backends:
        info = catalog.resolve(short)
        if info is not None:
            backends[short] = _DEFAULT_MODULE_LOCKS.get(info.fqcn, frozenset())
    return LockTable(
        modules=_DEFAULT_MODULE_LOCKS,
        package_backends=MappingProxyType(backends),
    )


@cache
def default_lock_table() -> LockTable:
    """The built-in table over the packaged catalog (built once)."""
    return build_lock_table(default_catalog())


def locks_for_task(
    table: LockTable, module: ModuleInfo, args: Mapping[str, object]
) -> frozenset[str]:
    """The locks a task running ``module`` with ``args`` holds.

    ``args`` are the task's module arguments as written (``_raw_params`` for
    free-form text); values still containing ``{{ }}`` are treated as opaque.
    """
    locks: set[str] = set()
    if module.fqcn == _PACKAGE:
        locks |= _package_locks(table, args)
    else:
        read_only = _READ_ONLY_FORMS.get(module.fqcn)
        if read_only is None or not read_only(args):
            locks |= table.modules.get(module.fqcn, frozenset())
    locks |= table.user_modules.get(module.fqcn, frozenset())
    locks |= table.user_modules.get(module.short, frozenset())

    command = _COMMAND_MODULES.get(module.fqcn)
    if command is not None:
        for key in command.keys:
            value = args.get(key)
            if isinstance(value, str) and value.strip():
                locks |= _command_line_locks(
                    table, value, shell=command.shell, windows=command.windows
                )
                break
            if isinstance(value, list | tuple) and value:
                words = [str(v) for v in value]
                locks |= _analyse_commands([words], depth=0)
                locks |= _rule_locks(table, " ".join(words), [words])
                break
    return frozenset(locks)


def _package_locks(table: LockTable, args: Mapping[str, object]) -> frozenset[str]:
    use = args.get("use")
    if isinstance(use, str) and use != "auto" and not _is_template(use):
        short = use.rsplit(".", 1)[-1]
        if short in table.package_backends:
            return table.package_backends[short]
    return table.package_locks


def command_locks(cmdline: str, *, shell: bool, windows: bool = False) -> frozenset[str]:
    """The built-in locks a command line holds.

    ``shell=True`` analyses ``cmdline`` as a shell script (``shell``, ``raw``);
    ``shell=False`` splits it into words as the ``command`` module does.
    ``windows=True`` keeps backslashes (path separators there, not escapes).
    """
    commands = _simple_commands(cmdline, shell=shell, windows=windows)
    return frozenset(_analyse_commands(commands, depth=0, windows=windows))


def _command_line_locks(table: LockTable, cmdline: str, *, shell: bool, windows: bool) -> set[str]:
    commands = _simple_commands(cmdline, shell=shell, windows=windows)
    return _analyse_commands(commands, depth=0, windows=windows) | _rule_locks(
        table, cmdline, commands
    )


def _rule_locks(table: LockTable, cmdline: str, commands: list[list[str]]) -> set[str]:
    if not table.command_rules:
        return set()
    texts = [cmdline]
    for words in commands:
        unwrapped = _unwrap(words)
        if unwrapped.words:
            texts.append(" ".join(unwrapped.words))
        for nested in unwrapped.scripts:
            texts.append(nested)
            texts.extend(" ".join(_unwrap(w).words) for w in _simple_commands(nested, shell=True))
    return {
        rule.lock
        for rule in table.command_rules
        if any(re.search(rule.pattern, text) for text in texts)
    }


# ============================================================================ lexing

_MAX_DEPTH = 8
_TEMPLATE_OPEN = {"{{": "}}", "{%": "%}", "{#": "#}"}


def _is_template(word: str) -> bool:
    return "{{" in word or "{%" in word


def _simple_commands(
    text: str, *, shell: bool, windows: bool = False, depth: int = 0
) -> list[list[str]]:
    """Split ``text`` into simple commands (lists of words).

    With ``shell=False`` the whole text is one command split into words (quotes
    and backslashes as in ``shlex.split``, Jinja blocks kept whole).  With
    ``shell=True`` operators separate commands and substitutions contribute
    commands of their own.
    """
    if depth > _MAX_DEPTH:
        return []
    lexer = _Lexer(text, shell=shell, windows=windows, depth=depth)
    lexer.run()
    return lexer.commands


class _Lexer:
    """A small shell lexer: enough structure to find the commands a line runs."""

    def __init__(self, text: str, *, shell: bool, windows: bool, depth: int) -> None:
        self.text = text
        self.shell = shell
        self.windows = windows
        self.depth = depth
        self.commands: list[list[str]] = []
        self.words: list[str] = []
        self.buf: list[str] = []
        self.in_word = False
        self.drop_next_word = False  # the target of a redirection
        self.heredocs: list[tuple[str, bool]] = []

    # -- helpers

    def nested(self, inner: str) -> None:
        self.commands.extend(
            _simple_commands(inner, shell=True, windows=self.windows, depth=self.depth + 1)
        )

    def end_word(self) -> None:
        if self.in_word:
            word = "".join(self.buf)
            if self.drop_next_word:
                self.drop_next_word = False
            else:
                self.words.append(word)
        self.buf = []
        self.in_word = False

    def end_command(self) -> None:
        self.end_word()
        self.drop_next_word = False
        if self.words:
            self.commands.append(self.words)
        self.words = []

    def add(self, chunk: str) -> None:
        self.buf.append(chunk)
        self.in_word = True

    def template_end(self, i: int) -> int | None:
        close = _TEMPLATE_OPEN.get(self.text[i : i + 2])
        if close is None:
            return None
        j = self.text.find(close, i + 2)
        return len(self.text) if j < 0 else j + 2

    # -- main loop

    def run(self) -> None:
        text, n, i = self.text, len(self.text), 0
        while i < n:
            c = text[i]
            end = self.template_end(i)
            if end is not None:
                self.add(text[i:end])
                i = end
            elif c == "\\" and not self.windows:
                if i + 1 < n and text[i + 1] == "\n":
                    i += 2  # line continuation
                else:
                    self.add(text[i + 1 : i + 2])
                    i += 2
            elif c == "'":
                j = text.find("'", i + 1)
                j = n if j < 0 else j
                self.add(text[i + 1 : j])
                i = j + 1
            elif c == '"':
                i = self.double_quoted(i + 1)
            elif not self.shell:
                if c in " \t\r\n":
                    self.end_word()
                else:
                    self.add(c)
                i += 1
            else:
                i = self.shell_char(i)
        self.end_command()

    def double_quoted(self, i: int) -> int:
        text, n = self.text, len(self.text)
        part: list[str] = []
        while i < n and text[i] != '"':
            end = self.template_end(i)
            if end is not None:
                part.append(text[i:end])
                i = end
            elif text[i] == "\\" and i + 1 < n and not self.windows:
                part.append(text[i + 1])
                i += 2
            elif self.shell and text.startswith("$(", i) and not text.startswith("$((", i):
                close = _matching_paren(text, i + 1)
                self.nested(text[i + 2 : close])
                part.append(text[i : close + 1])
                i = close + 1
            elif self.shell and text[i] == "`":
                close = text.find("`", i + 1)
                close = n if close < 0 else close
                self.nested(text[i + 1 : close])
                part.append(text[i : close + 1])
                i = close + 1
            else:
                part.append(text[i])
                i += 1
        self.add("".join(part))
        return i + 1

    def shell_char(self, i: int) -> int:
        text, n = self.text, len(self.text)
        c = text[i]
        if c == "$" and text.startswith("$((", i):
            close = _matching_paren(text, i + 2)
            close = _matching_paren(text, i + 1) if close < n else close
            self.add(text[i : close + 1])
            return close + 1
        if c == "$" and text.startswith("$(", i):
            close = _matching_paren(text, i + 1)
            self.nested(text[i + 2 : close])
            self.add(text[i : close + 1])
            return close + 1
        if c == "$" and text.startswith("${", i):
            close = text.find("}", i)
            close = n if close < 0 else close
            self.add(text[i : close + 1])
            return close + 1
        if c == "`":
            close = text.find("`", i + 1)
            close = n if close < 0 else close
            self.nested(text[i + 1 : close])
            self.add(text[i : close + 1])
            return close + 1
        if c == "#" and not self.in_word:
            j = text.find("\n", i)
            return n if j < 0 else j
        if c in " \t\r":
            self.end_word()
            return i + 1
        if c == "\n":
            self.end_command()
            return self.skip_heredocs(i + 1)
        if c in "<>" or (c == "&" and text.startswith("&>", i)):
            return self.redirection(i)
        if c in ";&|()":
            self.end_command()
            return i + 1
        self.add(c)
        return i + 1

    def redirection(self, i: int) -> int:
        text, n = self.text, len(self.text)
        if self.in_word and "".join(self.buf).isdigit():
            self.buf = []  # ``2>file``: the digits name a descriptor
            self.in_word = False
        else:
            self.end_word()
        if text.startswith(("<(", ">("), i):
            close = _matching_paren(text, i + 1)
            self.nested(text[i + 2 : close])
            return close + 1
        if text.startswith("<<", i) and not text.startswith("<<<", i):
            j = i + 2
            strip_tabs = text.startswith("-", j)
            j += 1 if strip_tabs else 0
            while j < n and text[j] in " \t":
                j += 1
            start = j
            while j < n and text[j] not in " \t\n;&|<>()":
                j += 1
            delimiter = text[start:j].replace("'", "").replace('"', "").replace("\\", "")
            if delimiter:
                self.heredocs.append((delimiter, strip_tabs))
            return j
        j = i
        while j < n and text[j] in "<>&":
            j += 1
        if j < n and text[j] == "-":
            j += 1  # ``>&-`` closes a descriptor
        self.drop_next_word = True
        return j

    def skip_heredocs(self, i: int) -> int:
        text, n = self.text, len(self.text)
        for delimiter, strip_tabs in self.heredocs:
            while i < n:
                end = text.find("\n", i)
                end = n if end < 0 else end
                line = text[i:end]
                i = end + 1
                if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                    break
        self.heredocs = []
        return min(i, n)


def _matching_paren(text: str, open_index: int) -> int:
    """Index of the ``)`` closing the ``(`` at ``open_index`` (or ``len(text)``)."""
    depth = 0
    i = open_index
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            j = text.find("'", i + 1)
            i = n if j < 0 else j + 1
            continue
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return n


# ============================================================================ unwrapping

_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "yash"})
_SHELL_RESERVED = frozenset({"if", "then", "else", "elif", "do", "while", "until", "!", "{"})
_SHELL_NOT_A_COMMAND = frozenset({"fi", "done", "esac", "}", "for", "case", "select", "in"})


@dataclass(frozen=True, slots=True)
class _Option:
    """How a program's options look: which take an argument."""

    short_with_arg: str = ""
    long_with_arg: frozenset[str] = frozenset()


# Wrappers: name → (options, number of positional words before the command).
_WRAPPERS: Mapping[str, tuple[_Option, int]] = MappingProxyType(
    {
        "sudo": (
            _Option(
                "ugCDhprtTUR",
                frozenset(
                    {
                        "--user",
                        "--group",
                        "--close-from",
                        "--chdir",
                        "--host",
                        "--prompt",
                        "--role",
                        "--type",
                        "--command-timeout",
                        "--other-user",
                        "--chroot",
                    }
                ),
            ),
            0,
        ),
        "doas": (_Option("uC"), 0),
        "env": (
            _Option("uCS", frozenset({"--unset", "--chdir", "--split-string"})),
            0,
        ),
        "nohup": (_Option(), 0),
        "exec": (_Option("a"), 0),
        "time": (_Option("fo", frozenset({"--format", "--output"})), 0),
        "builtin": (_Option(), 0),
        "nice": (_Option("n", frozenset({"--adjustment"})), 0),
        "ionice": (_Option("cnp", frozenset({"--class", "--classdata", "--pid"})), 0),
        "timeout": (_Option("sk", frozenset({"--signal", "--kill-after"})), 1),
        "stdbuf": (_Option("ioe", frozenset({"--input", "--output", "--error"})), 0),
        "xargs": (
            _Option(
                "adEILnPs",
                frozenset(
                    {
                        "--arg-file",
                        "--delimiter",
                        "--max-args",
                        "--max-procs",
                        "--max-chars",
                        "--max-lines",
                        "--process-slot-var",
                    }
                ),
            ),
            0,
        ),
        "taskset": (_Option(), 1),
        "chrt": (_Option("TPD", frozenset({"--sched-runtime", "--sched-period"})), 1),
        "setsid": (_Option(), 0),
        "eatmydata": (_Option(), 0),
        "unbuffer": (_Option(), 0),
        "chronic": (_Option(), 0),
        "busybox": (_Option(), 0),
    }
)


@dataclass(frozen=True, slots=True)
class _Unwrapped:
    words: list[str]
    """The command proper: program first (empty when nothing runs)."""
    scripts: list[str]
    """Nested shell scripts (``sh -c '…'``) to analyse on their own."""


def _program(word: str) -> str:
    base = word.replace("\\", "/").rsplit("/", 1)[-1].lower()
    return base[:-4] if base.endswith(".exe") else base


def _skip_options(words: Sequence[str], i: int, option: _Option) -> int:
    """Index of the first operand at or after ``i``."""
    while i < len(words):
        word = words[i]
        if word == "--":
            return i + 1
        if word.startswith("--"):
            i += 1
            if "=" not in word and word in option.long_with_arg:
                i += 1
            continue
        if word.startswith("-") and len(word) > 1:
            i += 1
            for k, ch in enumerate(word[1:], start=1):
                if ch in option.short_with_arg:
                    if k == len(word) - 1:
                        i += 1  # the argument is the next word
                    break  # otherwise the rest of the cluster is the argument
            continue
        return i
    return i


def _unwrap(words: Sequence[str]) -> _Unwrapped:
    scripts: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if _ASSIGNMENT.match(word):
            i += 1
            continue
        if word in _SHELL_RESERVED:
            i += 1
            continue
        if word in _SHELL_NOT_A_COMMAND:
            return _Unwrapped([], scripts)
        program = _program(word)
        wrapper = _WRAPPERS.get(program)
        if wrapper is not None:
            option, positional = wrapper
            i = _skip_options(words, i + 1, option) + positional
            continue
        if program == "command":
            rest = words[i + 1 :]
            if any(w in ("-v", "-V") for w in rest[:2]):
                return _Unwrapped([], scripts)  # a lookup, runs nothing
            i = _skip_options(words, i + 1, _Option())
            continue
        if program == "flock":
            j = _skip_options(
                words,
                i + 1,
                _Option("wE", frozenset({"--wait", "--timeout", "--conflict-exit-code"})),
            )
            j += 1  # the lock file (or descriptor)
            if j < len(words) and words[j] in ("-c", "--command"):
                scripts.extend(words[j + 1 : j + 2])
                return _Unwrapped([], scripts)
            i = j
            continue
        if program in ("su", "runuser"):
            script = _option_value(words[i + 1 :], ("-c",), ("--command",))
            if script is not None:
                scripts.append(script)
                return _Unwrapped([], scripts)
            if program == "runuser" and "-u" in words[i + 1 :]:
                i = _skip_options(words, i + 1, _Option("ugG", frozenset({"--user", "--group"})))
                continue
            return _Unwrapped([], scripts)  # an interactive shell
        if program in _SHELLS:
            script = _shell_script(words[i + 1 :])
            if script is not None:
                scripts.append(script)
            return _Unwrapped([], scripts)
        if program in ("powershell", "pwsh"):
            script = _powershell_script(words[i + 1 :])
            if script is not None:
                scripts.append(script)
            return _Unwrapped([], scripts)
        if program == "cmd":
            rest = words[i + 1 :]
            for k, w in enumerate(rest):
                if w.lower() in ("/c", "/k"):
                    scripts.append(" ".join(rest[k + 1 :]))
                    break
            return _Unwrapped([], scripts)
        return _Unwrapped(list(words[i:]), scripts)
    return _Unwrapped([], scripts)


def _option_value(words: Sequence[str], short: Sequence[str], long: Sequence[str]) -> str | None:
    for k, word in enumerate(words):
        if word in short and k + 1 < len(words):
            return words[k + 1]
        for name in long:
            if word == name and k + 1 < len(words):
                return words[k + 1]
            if word.startswith(name + "="):
                return word.split("=", 1)[1]
    return None


def _shell_script(words: Sequence[str]) -> str | None:
    """The ``-c`` script of ``sh``/``bash`` arguments (``-c``, ``-ec``, ``-lc``…)."""
    takes_script = False
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("-o", "+o", "--rcfile", "--init-file"):
            i += 2
            continue
        if word.startswith("--"):
            i += 1
            continue
        if word.startswith(("-", "+")) and len(word) > 1:
            takes_script = takes_script or "c" in word[1:]
            i += 1
            continue
        return word if takes_script else None
    return None


def _powershell_script(words: Sequence[str]) -> str | None:
    for k, word in enumerate(words):
        if word.lower() in ("-command", "-c", "/command", "/c"):
            return " ".join(words[k + 1 :])
    return None


# ============================================================================ managers


def _operand(words: Sequence[str], option: _Option) -> str | None:
    i = _skip_options(words, 0, option)
    return words[i] if i < len(words) else None


def _operands(words: Sequence[str], option: _Option) -> list[str]:
    """Every non-option word (options and their arguments removed)."""
    out: list[str] = []
    i = 0
    while i < len(words):
        j = _skip_options(words, i, option)
        if j >= len(words):
            break
        if j > i and words[j - 1] == "--":
            out.extend(words[j:])
            break
        out.append(words[j])
        i = j + 1
    return out


@dataclass(frozen=True, slots=True)
class _Verbs:
    """A subcommand-style manager (``apt-get install``, ``dnf list``)."""

    locks: frozenset[str]
    read_only: frozenset[str]
    option: _Option = _Option()
    # Subcommands whose own first operand decides; listed words only read.
    listing: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    # Whether such a subcommand alone (``dnf history``) is its read-only listing.
    bare_listing_reads: bool = True
    # Locks taken even by the read-only subcommands (zypper's zypp lock).
    read_locks: frozenset[str] = frozenset()
    # Subcommands that touch nothing at all, not even read locks.
    inert: frozenset[str] = frozenset({"help", "version"})

    def __call__(self, args: Sequence[str]) -> frozenset[str]:
        operands = _operands(args, self.option)
        if not operands:
            return frozenset()
        verb = operands[0]
        if _is_template(verb):
            return self.locks
        verb = verb.lower()
        if verb in self.inert:
            return frozenset()
        if verb in self.listing:
            if len(operands) < 2:
                return self.read_locks if self.bare_listing_reads else self.locks
            second = operands[1]
            if not _is_template(second) and second in self.listing[verb]:
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
        option=_Option(short_with_arg, frozenset(long_with_arg.split())),
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
    verb = _operand(args, _Option())
    return _CHOCO_VERBS(args) | (
        frozenset({MSI})
        if verb is not None and (_is_template(verb) or verb.lower() in _CHOCO_INSTALLERS)
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
        if _is_template(word):
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
    verb = _operand(args, _ZYPPER.option)
    if verb is not None and not _is_template(verb) and verb.lower() in _ZYPPER_LOCAL:
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
    operands = _operands(args, _Option())
    if operands[:1] == ["refresh"] and any(a in ("--list", "--time") for a in args):
        return frozenset()
    return _SNAP(args)


def _subscription_manager(args: Sequence[str]) -> frozenset[str]:
    verb = _operand(args, _Option())
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


_PROGRAMS: Mapping[str, Callable[[Sequence[str]], frozenset[str]]] = MappingProxyType(
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


def _analyse_commands(
    commands: Iterable[Sequence[str]], *, depth: int, windows: bool = False
) -> set[str]:
    locks: set[str] = set()
    for words in commands:
        unwrapped = _unwrap(words)
        for script in unwrapped.scripts:
            if depth < _MAX_DEPTH:
                nested = _simple_commands(script, shell=True, windows=windows, depth=depth + 1)
                locks |= _analyse_commands(nested, depth=depth + 1, windows=windows)
        if not unwrapped.words:
            continue
        program_word = unwrapped.words[0]
        if _is_template(program_word):
            continue  # runs something we cannot know
        handler = _PROGRAMS.get(_program(program_word))
        if handler is not None:
            locks |= handler(unwrapped.words[1:])
    return locks
