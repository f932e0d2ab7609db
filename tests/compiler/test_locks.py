"""Lock annotations: module tables, argument forms and command-line analysis."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from playgraph.compiler.catalog import default_catalog
from playgraph.compiler.locks import (
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
    CommandRule,
    LockConfigError,
    LockTable,
    command_locks,
    default_lock_table,
    locks_for_task,
)

NONE: frozenset[str] = frozenset()


def task_locks(module: str, args: Mapping[str, object], table: LockTable | None = None) -> set[str]:
    info = default_catalog().resolve(module)
    assert info is not None, module
    return set(locks_for_task(table or default_lock_table(), info, args))


# --------------------------------------------------------------------------- the table


def test_every_module_in_the_table_is_in_the_catalog() -> None:
    catalog = default_catalog()
    for fqcn in default_lock_table().modules:
        info = catalog.resolve(fqcn)
        assert info is not None and info.fqcn == fqcn, fqcn


def test_package_holds_every_unix_manager_lock() -> None:
    locks = default_lock_table().package_locks
    assert {DPKG, RPM, ZYPP, PACMAN, APK, PKGNG, PORTAGE, HOMEBREW} <= locks
    # Not package backends: snap, flatpak and Windows installers.
    assert not locks & {SNAP, FLATPAK, MSI, CHOCOLATEY, WINDOWS_UPDATE}
    assert all(lock.startswith("pkg:") for lock in locks)


def test_default_lock_table_is_shared() -> None:
    assert default_lock_table() is default_lock_table()


# --------------------------------------------------------------------------- modules and arguments


@pytest.mark.parametrize(
    ("module", "args", "expected"),
    [
        ("apt", {"name": "nginx"}, {DPKG}),
        ("apt", {"update_cache": True}, {DPKG}),  # the lists lock
        ("apt", {"upgrade": "dist"}, {DPKG}),
        ("apt_repository", {"repo": "ppa:x/y"}, {DPKG}),
        ("apt_key", {"url": "https://x/key"}, {DPKG}),
        ("dpkg_selections", {"name": "x", "selection": "hold"}, {DPKG}),
        ("debconf", {"name": "tzdata"}, set()),  # query only
        ("debconf", {"name": "tzdata", "question": "q", "vtype": "string", "value": "v"}, {DPKG}),
        ("dnf", {"name": "httpd", "state": "present"}, {RPM}),
        ("dnf", {"list": "available"}, set()),
        ("dnf", {"list": "{{ what }}"}, set()),
        ("dnf5", {"name": "x"}, {RPM}),
        ("dnf5", {"list": "installed"}, set()),
        ("yum", {"name": "x"}, {RPM}),  # redirected to dnf
        ("rpm_key", {"key": "/tmp/k"}, {RPM}),
        ("yum_repository", {"name": "epel"}, {RPM}),
        ("zypper", {"name": "x"}, {ZYPP, RPM}),
        ("community.general.zypper_repository", {"name": "r"}, {ZYPP}),
        ("pacman", {"name": "x"}, {PACMAN}),
        ("community.general.apk", {"name": "x"}, {APK}),
        ("community.general.snap", {"name": "x"}, {SNAP}),
        ("community.general.homebrew", {"name": "x"}, {HOMEBREW}),
        ("ansible.windows.win_package", {"path": "x.msi"}, {MSI}),
        ("ansible.windows.win_updates", {}, {WINDOWS_UPDATE, MSI}),
        ("ansible.windows.win_updates", {"state": "searched"}, set()),
        ("chocolatey.chocolatey.win_chocolatey", {"name": "git"}, {CHOCOLATEY, MSI}),
        ("package_facts", {}, set()),
        ("pip", {"name": "requests"}, set()),
        ("ping", {}, set()),
        ("service", {"name": "nginx", "state": "started"}, set()),
    ],
)
def test_module_locks(module: str, args: Mapping[str, object], expected: set[str]) -> None:
    assert task_locks(module, args) == expected


def test_package_module_holds_all_package_locks() -> None:
    assert task_locks("package", {"name": "nginx"}) == set(default_lock_table().package_locks)
    assert task_locks("package", {"name": "x", "use": "auto"}) == set(
        default_lock_table().package_locks
    )
    assert task_locks("package", {"name": "x", "use": "{{ mgr }}"}) == set(
        default_lock_table().package_locks
    )


@pytest.mark.parametrize(
    ("use", "expected"),
    [("apt", {DPKG}), ("dnf", {RPM}), ("zypper", {ZYPP, RPM}), ("ansible.legacy.apk", {APK})],
)
def test_package_with_use_holds_that_backends_locks(use: str, expected: set[str]) -> None:
    assert task_locks("package", {"name": "x", "use": use}) == expected


@pytest.mark.parametrize(
    ("module", "args", "expected"),
    [
        ("command", {"_raw_params": "apt-get install -y nginx"}, {DPKG}),
        ("command", {"cmd": "dnf -y install httpd"}, {RPM}),
        ("command", {"argv": ["/usr/bin/apt-get", "update"]}, {DPKG}),
        ("command", {"argv": ["yum", "list", "installed"]}, set()),
        ("command", {"_raw_params": "rpm -qa"}, set()),
        # command: does not run a shell, so ``&&`` is just a word for apt-get.
        ("command", {"_raw_params": "echo hi && apt-get install x"}, set()),
        ("shell", {"_raw_params": "echo hi && apt-get install x"}, {DPKG}),
        ("shell", {"cmd": "rpm -qa | grep foo"}, set()),
        ("raw", {"_raw_params": "apk add python3"}, {APK}),
        ("expect", {"command": "apt-get install x", "responses": {}}, {DPKG}),
        ("ansible.windows.win_shell", {"_raw_params": "choco install git -y"}, {CHOCOLATEY, MSI}),
        (
            "ansible.windows.win_command",
            {"_raw_params": r"C:\ProgramData\chocolatey\bin\choco.exe install git"},
            {CHOCOLATEY, MSI},
        ),
        ("ansible.windows.win_command", {"_raw_params": "msiexec /i x.msi /qn"}, {MSI}),
        ("shell", {"_raw_params": "{{ install_cmd }}"}, set()),
        ("copy", {"src": "a", "dest": "b"}, set()),
    ],
)
def test_command_module_locks(module: str, args: Mapping[str, object], expected: set[str]) -> None:
    assert task_locks(module, args) == expected


# --------------------------------------------------------------------------- command lines


SHELL_CASES = [
    # the brief's cases
    ("sudo DEBIAN_FRONTEND=noninteractive apt-get -y install nginx", {DPKG}),
    ("dnf -y --setopt=x=y install foo", {RPM}),
    ("rpm -qa | grep foo", set()),
    ("bash -c 'apt update && apt install -y x'", {DPKG}),
    ("echo apt-get install", set()),
    ("yum list installed", set()),
    ("apt-get update", {DPKG}),
    # wrappers and assignments
    ("sudo -u root -E apt-get install x", {DPKG}),
    ("sudo -iu root sh -ec 'dnf makecache'", {RPM}),
    ("env -i PATH=/usr/bin apt-get install x", {DPKG}),
    ("LANG=C nohup nice -n 10 ionice -c3 apt-get install x", {DPKG}),
    ("nice -10 dnf install x", {RPM}),
    ("timeout -s KILL 300 apt-get install -y x", {DPKG}),
    ("timeout 5m zypper -n in x", {ZYPP, RPM}),
    ("stdbuf -oL apt-get install x", {DPKG}),
    ("exec apt-get install x", {DPKG}),
    ("time apt-get install x", {DPKG}),
    ("eatmydata apt-get install -y x", {DPKG}),
    ("flock /var/lock/pkg apt-get install x", {DPKG}),
    ("flock -w 60 /var/lock/pkg -c 'dnf install -y a'", {RPM}),
    ("cat pkgs.txt | xargs -r apt-get install -y", {DPKG}),
    ("xargs -a pkgs.txt", set()),  # runs echo
    ("su - root -c 'zypper -n up'", {ZYPP, RPM}),
    ("runuser -u app -- /usr/bin/apt-get install x", {DPKG}),
    ("busybox apk add curl", {APK}),
    ("command -v apt-get", set()),
    ("command apt-get install x", {DPKG}),
    ("chroot /mnt apt-get install x", set()),  # another root's database
    # paths and shells
    ("/usr/bin/apt-get -o Dpkg::Options::=--force-confold install x", {DPKG}),
    ('/bin/bash -lc "dnf -y upgrade"', {RPM}),
    ("sh -c 'sh -c \"apk add x\"'", {APK}),
    ("bash script.sh", set()),
    # shell structure
    ("apt-get update; apt-get install -y x", {DPKG}),
    ("true || yum install x", {RPM}),
    ("sleep 1 & dnf install x &", {RPM}),
    ("(cd /tmp && apk add x)", {APK}),
    ("if ! dpkg -s x >/dev/null 2>&1; then apt-get install -y x; fi", {DPKG}),
    ("for p in a b; do apt-get install -y $p; done", {DPKG}),
    ("f() { pacman -S --noconfirm x; }; f", {PACMAN}),
    ('echo "$(apt-get install x)"', {DPKG}),
    ("echo `dnf install x`", {RPM}),
    ("echo '$(apt-get install x)'", set()),
    ('echo "apt-get install x"', set()),
    ("ls # apt-get install x", set()),
    ("cat <<EOF > /etc/motd\napt-get install x\nEOF\nls", set()),
    ("cat <<-'END'\n\tyum install x\n\tEND\napk add y", {APK}),
    ("apt-get install -y x 2>&1 | tee /tmp/log", {DPKG}),
    ("echo x > apt-get", set()),  # a redirection target is not a command
    ("apt-get install x \\\n  y", {DPKG}),
    ("echo $((1+2)); rpm -qa", set()),
    # templates
    ("{{ pkg_cmd }} install x", set()),
    ("apt-get {{ action }} x", {DPKG}),  # unknown subcommand: assume it mutates
    ("apt-get install {{ pkgs | join(' ') }} && echo '{{ done }}'", {DPKG}),
    ("echo {{ 'a;apt-get install x' }}", set()),
]

MANAGER_CASES = [
    # apt family
    ("apt install x", {DPKG}),
    ("apt-get -qq -y dist-upgrade", {DPKG}),
    ("apt-get -t bookworm-backports install x", {DPKG}),
    ("apt-get autoremove", {DPKG}),
    ("apt-get clean", {DPKG}),
    ("apt-get check", {DPKG}),
    ("apt list --installed", set()),
    ("apt show x", set()),
    ("apt-get source x", set()),
    ("apt-get --version", set()),
    ("apt-cache policy x", set()),
    ("apt-cache search x", set()),
    ("aptitude safe-upgrade", {DPKG}),
    ("apt-mark hold x", {DPKG}),
    ("apt-mark showhold", set()),
    ("apt-key add k.asc", {DPKG}),
    ("apt-key list", set()),
    ("add-apt-repository -y ppa:x/y", {DPKG}),
    ("dpkg -i x.deb", {DPKG}),
    ("dpkg --configure -a", {DPKG}),
    ("dpkg -P x", {DPKG}),
    ("dpkg --set-selections", {DPKG}),
    ("dpkg -l", set()),
    ("dpkg -L x", set()),
    ("dpkg -s x", set()),
    ("dpkg -S /bin/ls", set()),
    ("dpkg --get-selections", set()),
    ("dpkg --print-architecture", set()),
    ("dpkg-query -W x", set()),
    ("dpkg-reconfigure -f noninteractive tzdata", {DPKG}),
    ("echo x | debconf-set-selections", {DPKG}),
    ("dpkg-divert --list", set()),
    ("unattended-upgrade -d", {DPKG}),
    # rpm family
    ("rpm -ivh x.rpm", {RPM}),
    ("rpm -Uvh x.rpm", {RPM}),
    ("rpm -e --nodeps x", {RPM}),
    ("rpm --import /k", {RPM}),
    ("rpm --rebuilddb", {RPM}),
    ("rpm -qi x", set()),
    ("rpm -q --whatprovides x", set()),
    ("rpm -Va", set()),
    ("rpm --eval %{_arch}", set()),
    ("yum -y update", {RPM}),
    ("yum install -y x", {RPM}),
    ("yum --enablerepo epel install x", {RPM}),
    ("yum groupinstall 'Development Tools'", {RPM}),
    ("yum history undo 3", {RPM}),
    ("yum makecache fast", {RPM}),
    ("yum clean all", {RPM}),
    ("yum check-update", set()),
    ("yum info x", set()),
    ("yum repolist", set()),
    ("dnf history", set()),
    ("dnf history list", set()),
    ("dnf group list", set()),
    ("dnf group install x", {RPM}),
    ("dnf module enable nodejs:18", {RPM}),
    ("dnf module list", set()),
    ("dnf versionlock", set()),
    ("dnf versionlock add x", {RPM}),
    ("dnf copr enable a/b", {RPM}),
    ("dnf -q repoquery --installed", set()),
    ("dnf provides /usr/bin/x", set()),
    ("dnf5 install x", {RPM}),
    ("microdnf install x", {RPM}),
    ("microdnf repolist", set()),
    ("tdnf install x", {RPM}),
    ("dnf distro-sync", {RPM}),
    ("dnf swap a b", {RPM}),
    ("dnf frobnicate", {RPM}),  # unknown subcommand: assume it mutates
    ("yum-config-manager --add-repo x", {RPM}),
    ("subscription-manager register --org x", {RPM}),
    ("subscription-manager repos --enable=x", {RPM}),
    ("subscription-manager repos --list", set()),
    ("subscription-manager status", set()),
    ("rpm-ostree install x", {"pkg:rpm-ostree"}),
    ("rpm-ostree status", set()),
    ("zypper -n install x", {ZYPP, RPM}),
    ("zypper --non-interactive dup", {ZYPP, RPM}),
    ("zypper ref", {ZYPP, RPM}),
    ("zypper se x", {ZYPP}),  # zypper locks even to read
    ("zypper --root /mnt lr", {ZYPP}),
    ("zypper versioncmp 1 2", set()),
    ("zypper --version", set()),
    # pacman family
    ("pacman -Syu --noconfirm", {PACMAN}),
    ("pacman -S x", {PACMAN}),
    ("pacman --sync --refresh", {PACMAN}),
    ("pacman -Rns x", {PACMAN}),
    ("pacman -U x.pkg.tar.zst", {PACMAN}),
    ("pacman -Ss x", set()),
    ("pacman -Si x", set()),
    ("pacman -Qi x", set()),
    ("pacman -Q", set()),
    ("pacman -Fy", {PACMAN}),
    ("pacman -Fl x", set()),
    ("yay -S x", {PACMAN}),
    ("pacman-key --init", {PACMAN}),
    ("pacman-key -l", set()),
    ("makepkg -si", {PACMAN}),
    ("makepkg", set()),
    # others
    ("apk add x", {APK}),
    ("apk --no-cache add x", {APK}),
    ("apk -U upgrade", {APK}),
    ("apk info", set()),
    ("pkg install -y x", {PKGNG}),
    ("pkg info", set()),
    ("pkg_add x", {"pkg:openbsd"}),
    ("pkgin -y in x", {"pkg:pkgin"}),
    ("pkgin ls", set()),
    ("emerge -uDN @world", {PORTAGE}),
    ("emerge --sync", {PORTAGE}),
    ("emerge -pv x", set()),
    ("emerge --search x", set()),
    ("snap install x", {SNAP}),
    ("snap refresh", {SNAP}),
    ("snap refresh --list", set()),
    ("snap list", set()),
    ("flatpak install -y flathub x", {FLATPAK}),
    ("flatpak list", set()),
    ("brew install x", {HOMEBREW}),
    ("brew update", {HOMEBREW}),
    ("brew list", set()),
    ("brew bundle", {HOMEBREW}),
    ("brew bundle check", set()),
    ("port install x", {"pkg:macports"}),
    ("opkg update", {"pkg:opkg"}),
    ("opkg list-installed", set()),
    ("xbps-install -Sy x", {"pkg:xbps"}),
    ("xbps-query -l", set()),
    ("slackpkg install x", {"pkg:slackpkg"}),
    ("installpkg x.txz", {"pkg:slackpkg"}),
    ("swupd bundle-add x", {"pkg:swupd"}),
    ("pip install x", set()),
    ("npm install -g x", set()),
    ("gem install x", set()),
    # Windows
    ("choco install -y git", {CHOCOLATEY, MSI}),
    ("choco upgrade all -y", {CHOCOLATEY, MSI}),
    ("choco list", set()),
    ("choco feature enable -n x", {CHOCOLATEY}),
    ("choco source list", set()),
    ("cinst git", {CHOCOLATEY, MSI}),
    ("msiexec /i x.msi /qn", {MSI}),
    ("wusa x.msu /quiet", {WINDOWS_UPDATE}),
    ("dism /online /enable-feature /featurename:x", {WINDOWS_UPDATE}),
    ("dism /online /get-features", set()),
    ("cmd /c choco install x", {CHOCOLATEY, MSI}),
    ("powershell -Command choco install x", {CHOCOLATEY, MSI}),
    ("scoop install git", {"pkg:scoop"}),
    ("scoop list", set()),
]


@pytest.mark.parametrize(("cmdline", "expected"), SHELL_CASES + MANAGER_CASES)
def test_command_locks_shell(cmdline: str, expected: set[str]) -> None:
    assert command_locks(cmdline, shell=True) == frozenset(expected)


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        ("apt-get install -y x", {DPKG}),
        ("dnf -y --setopt x=y install foo", {RPM}),
        ("sudo apt-get install x", {DPKG}),
        ("sh -c 'apt-get update && apt-get install x'", {DPKG}),
        ("echo 'apt-get install x' ; apt-get install y", set()),  # one command: echo
        ("apt-get install 'x; rm -rf /'", {DPKG}),
    ],
)
def test_command_locks_without_shell(cmdline: str, expected: set[str]) -> None:
    assert command_locks(cmdline, shell=False) == frozenset(expected)


def test_windows_paths_keep_backslashes() -> None:
    path = r"C:\ProgramData\chocolatey\bin\choco.exe install git"
    assert command_locks(path, shell=False, windows=True) == {CHOCOLATEY, MSI}
    # As a POSIX command line the backslashes are escapes and no program matches.
    assert command_locks(path, shell=False) == NONE


def test_empty_and_odd_input_never_raises() -> None:
    for text in (
        "",
        "   ",
        ";;;",
        "'unterminated",
        '"unterminated $(apt-get',
        "$(",
        "`",
        "<<",
        "a >",
    ):
        command_locks(text, shell=True)
        command_locks(text, shell=False)
    assert command_locks('"unterminated $(apt-get install x', shell=True) == {DPKG}


def test_deep_nesting_is_bounded() -> None:
    script = "apt-get install x"
    for _ in range(30):
        script = f"sh -c {script!r}" if "'" not in script else f'sh -c "{script}"'
    command_locks(script, shell=True)  # terminates; the result is best-effort


# --------------------------------------------------------------------------- user locks


def test_user_locks_extend_the_table() -> None:
    table = default_lock_table().extend(
        {
            "db-migrations": ["community.mysql.mysql_db", "command:^/opt/app/bin/migrate"],
            "app-config": ["mysql_user", "ansible.legacy.template"],
        }
    )
    assert task_locks("community.mysql.mysql_db", {"name": "x"}, table) == {"db-migrations"}
    assert task_locks("community.mysql.mysql_user", {"name": "u"}, table) == {"app-config"}
    assert task_locks("template", {"src": "a", "dest": "b"}, table) == {"app-config"}
    assert task_locks("command", {"_raw_params": "/opt/app/bin/migrate --to latest"}, table) == {
        "db-migrations"
    }
    # wrappers are removed before matching each simple command
    assert task_locks("command", {"_raw_params": "sudo -u app /opt/app/bin/migrate up"}, table) == {
        "db-migrations"
    }
    assert task_locks(
        "shell", {"cmd": "cd /opt/app && /opt/app/bin/migrate && apt-get install x"}, table
    ) == {"db-migrations", DPKG}
    assert task_locks("shell", {"cmd": "bash -c '/opt/app/bin/migrate'"}, table) == {
        "db-migrations"
    }
    assert task_locks("command", {"argv": ["/opt/app/bin/migrate", "up"]}, table) == {
        "db-migrations"
    }
    assert task_locks("shell", {"cmd": "echo /opt/app/bin/migrate"}, table) == set()
    # the built-in knowledge is kept
    assert task_locks("apt", {"name": "x"}, table) == {DPKG}
    # the original table is unchanged
    assert task_locks("community.mysql.mysql_db", {"name": "x"}) == set()


def test_user_locks_accumulate_and_can_add_to_builtin_modules() -> None:
    table = default_lock_table().extend({"a": ["ping"]}).extend({"b": ["ping", "command:sleep"]})
    assert table.user_modules["ping"] == {"a", "b"}
    assert table.command_rules == (CommandRule(lock="b", pattern="sleep"),)
    assert task_locks("ping", {}, table) == {"a", "b"}
    # A user lock on a read-only form survives the read-only refinement.
    table = default_lock_table().extend({"repo-metadata": ["dnf"]})
    assert task_locks("dnf", {"list": "available"}, table) == {"repo-metadata"}


@pytest.mark.parametrize(
    "config",
    [
        {"": ["ping"]},
        {"x": [""]},
        {"x": "ping"},
        {"x": ["command:("]},
    ],
)
def test_bad_user_locks(config: Mapping[str, object]) -> None:
    with pytest.raises(LockConfigError):
        default_lock_table().extend(config)  # type: ignore[arg-type]
