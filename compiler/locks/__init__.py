"""Lock annotations: the exclusive resources a task holds on its host.

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

from .commands import command_locks
from .names import (
    APK,
    CHOCOLATEY,
    DPKG,
    FLATPAK,
    HOMEBREW,
    MSI,
    PACMAN,
    PKGNG,
    PORTAGE,
    RPM,
    SNAP,
    WINDOWS_UPDATE,
    ZYPP,
)
from .table import (
    CommandRule,
    LockConfigError,
    LockTable,
    build_lock_table,
    default_lock_table,
    locks_for_task,
)

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
