#!/usr/bin/env python3
"""playgraph target program: ``apt``, ``dnf`` (and ``yum``) and ``package``.

Stdlib only, Python 3.8+.  It drives the real tools on the target — apt-get,
apt-cache, dpkg-query, apt-mark, dpkg; dnf (or yum) and rpm — instead of the
python3-apt / dnf bindings ansible-core's modules import, so it runs under any
interpreter.  Decisions follow ansible-core: what is installed comes from
``dpkg-query -W`` / ``rpm -q``, and a tool is only run when something has to
change (so a second run reports ``changed: false``).  Results and messages
are ansible-core 2.19's.

``package`` detects the manager here, on the target (``/etc/os-release``,
then which tools exist) and runs the chosen module with the arguments the
controller validated for it (``args["apt"]`` / ``args["dnf"]``).
"""

from __future__ import annotations

import datetime
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import traceback
from typing import Any

# --------------------------------------------------------------------------- common


class Fail(Exception):
    def __init__(self, msg: str, **result: Any) -> None:
        super().__init__(msg)
        self.result = dict(result, msg=msg, failed=True)


class Done(Exception):
    """``exit_json``: the module's final result, from deep inside."""

    def __init__(self, **result: Any) -> None:
        super().__init__("done")
        self.result = result


def which(name: str) -> str | None:
    """ansible's ``get_bin_path``: PATH, then the sbin directories."""
    path = os.environ.get("PATH", os.defpath) + ":/sbin:/usr/sbin:/usr/local/sbin"
    return shutil.which(name, path=path)


def run(
    argv: list[str], env: dict[str, str] | None = None, stdin: bytes | None = None
) -> tuple[int, str, str]:
    full = dict(os.environ)
    full.update(env or {})
    try:
        proc = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            env=full,
        )
    except OSError as exc:
        raise Fail("Error executing command.", rc=exc.errno, cmd=" ".join(argv)) from None
    return (
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


# --------------------------------------------------------------------------- apt

APT_GET_ZERO = "\n0 upgraded, 0 newly installed, 0 to remove"
APT_LISTS_PATH = "/var/lib/apt/lists"
APT_UPDATE_SUCCESS_STAMP_PATH = "/var/lib/apt/periodic/update-success-stamp"
APT_LOCK_ERROR = re.compile(
    r"^E: (Could not get lock|Unable to lock|Unable to acquire the dpkg frontend lock).*$",
    re.MULTILINE,
)


def parsable_locale() -> str:
    """ansible's ``get_best_parsable_locale``: C.UTF-8 when available, else C."""
    rc, out, _ = run(["locale", "-a"]) if which("locale") else (1, "", "")
    if rc == 0:
        names = out.split()
        for name in ("C.UTF-8", "C.utf8", "en_US.UTF-8", "en_US.utf8"):
            if name in names:
                return name
    return "C"


def cache_time() -> tuple[datetime.datetime, int]:
    """The apt cache's mtime (update stamp, else the lists dir) and as an int."""
    mtime = 0.0
    if os.path.exists(APT_UPDATE_SUCCESS_STAMP_PATH):
        mtime = os.stat(APT_UPDATE_SUCCESS_STAMP_PATH).st_mtime
    elif os.path.exists(APT_LISTS_PATH):
        mtime = os.stat(APT_LISTS_PATH).st_mtime
    stamp = datetime.datetime.fromtimestamp(mtime)
    return stamp, int(time.mktime(stamp.timetuple()))


def expand_dpkg_options(compressed: str) -> str:
    return " ".join(f'-o "Dpkg::Options::=--{opt}"' for opt in compressed.split(",")).strip()


def package_split(spec: str) -> tuple[str, str | None, str | None]:
    """``name``, ``name=version`` (``*`` wildcards allowed), ``name>=version``."""
    parts = re.split(r"(>?=)", spec, maxsplit=1)
    if len(parts) == 1:
        return parts[0], None, None
    name, op, version = parts
    return name, "=" if op == "=" else ">=", version


APT_EXTENDED_STATES = "/var/lib/apt/extended_states"


def auto_installed() -> set[str]:
    """Packages apt marks ``Auto-Installed: 1`` (``/var/lib/apt/extended_states``)."""
    names: set[str] = set()
    try:
        with open(APT_EXTENDED_STATES, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return names
    for stanza in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line)
        if fields.get("Auto-Installed") == "1" and "Package" in fields:
            names.add(fields["Package"])
    return names


class Apt:
    """ansible's ``apt`` module on top of apt-get, apt-cache and dpkg-query."""

    def __init__(self, args: dict[str, Any], check_mode: bool) -> None:
        self.p = args
        self.check_mode = check_mode
        locale = parsable_locale()
        self.env = {
            "DEBIAN_FRONTEND": "noninteractive",
            "DEBIAN_PRIORITY": "critical",
            "LANG": locale,
            "LC_ALL": locale,
            "LC_MESSAGES": locale,
            "LC_CTYPE": locale,
            "LANGUAGE": locale,
        }
        apt_get = which("apt-get")
        if apt_get is None:
            raise Fail(
                'Failed to find required executable "apt-get" in paths: '
                + os.environ.get("PATH", os.defpath)
            )
        self.apt_get = apt_get
        lock_timeout = int(args.get("lock_timeout", 60))
        self.deadline = time.time() + lock_timeout
        self.dpkg_options = (
            f"{expand_dpkg_options(args.get('dpkg_options') or 'force-confdef,force-confold')}"
            f" -o DPkg::Lock::Timeout={lock_timeout}"
        )

    # apt-get is told to wait for the dpkg lock itself (DPkg::Lock::Timeout);
    # the lists lock of `apt-get update` is retried here until the deadline,
    # as ansible-core retries python-apt's LockFailedException.
    def apt(self, cmd: str) -> tuple[int, str, str]:
        while True:
            rc, out, err = run(shlex.split(cmd), self.env)
            lock = APT_LOCK_ERROR.search(err)
            if rc == 0 or lock is None:
                return rc, out, err
            if time.time() >= self.deadline:
                raise Fail(f"Failed to lock apt for exclusive operation: {lock.group(0)}")
            time.sleep(1)

    def status(self, names: list[str]) -> dict[str, tuple[str, str]]:
        """``{name: (status, version)}`` for the names dpkg knows (``dpkg-query -W``)."""
        if not names:
            return {}
        _rc, out, _ = run(
            ["dpkg-query", "-W", "-f=${Package}\t${Status}\t${Version}\n", "--", *names],
            self.env,
        )
        known: dict[str, tuple[str, str]] = {}
        for line in out.splitlines():
            fields = line.split("\t")
            if len(fields) == 3:
                name = fields[0].split(":")[0]
                known[name] = (fields[1], fields[2])
        return known

    def policy(self, names: list[str]) -> dict[str, tuple[str | None, list[str]]]:
        """``{name: (candidate, available versions)}`` from ``apt-cache policy``."""
        if not names:
            return {}
        _, out, _ = run(["apt-cache", "policy", "--", *names], self.env)
        result: dict[str, tuple[str | None, list[str]]] = {}
        name = None
        in_table = False
        for line in out.splitlines():
            if line and not line[0].isspace() and line.endswith(":"):
                name = line[:-1].split(":")[0]
                result[name] = (None, [])
                in_table = False
                continue
            if name is None:
                continue
            text = line.strip()
            if text.startswith("Candidate:"):
                cand = text.split(":", 1)[1].strip()
                result[name] = (None if cand == "(none)" else cand, result[name][1])
            elif text.startswith("Version table:"):
                in_table = True
            elif in_table and (line.startswith(" *** ") or len(line) - len(line.lstrip()) == 5):
                # "     2.10-3 500" or " *** 9.1-1 500" (installed); pins are indented deeper
                result[name][1].append(text.lstrip("*").split()[0])
        return result

    def installed_version(self, status: dict[str, tuple[str, str]], name: str) -> str | None:
        entry = status.get(name)
        if entry and entry[0].endswith(" installed"):
            return entry[1]
        return None

    def main(self) -> dict[str, Any]:
        p = self.p
        stamp, updated_time = cache_time()
        updated = False
        if p.get("update_cache") or p.get("cache_valid_time"):
            valid = datetime.timedelta(seconds=int(p.get("cache_valid_time") or 0))
            if not stamp + valid >= datetime.datetime.now():
                self.update_cache()
                _, post = cache_time()
                updated = self.check_mode or post != updated_time
                updated_time = post
            if not p.get("package") and not p.get("upgrade") and not p.get("deb"):
                return {
                    "changed": updated,
                    "cache_updated": updated,
                    "cache_update_time": updated_time,
                }
        if p.get("upgrade") and p["upgrade"] != "no":
            self.upgrade(p["upgrade"])
        if p.get("deb"):
            if p.get("state", "present") != "present":
                raise Fail("deb only supports state=present")
            self.install_deb(p["deb"])
        names = [n.strip() for n in (p.get("package") or []) if n != "*"]
        if "*" in (p.get("package") or []) and p.get("state") == "latest":
            if names:
                raise Fail(
                    "unable to install additional packages when upgrading all installed packages"
                )
            self.upgrade("yes")
        for name in names:
            if name.count("=") > 1:
                raise Fail(f"invalid package spec: {name}")
        if not names:
            if p.get("autoclean"):
                self.cleanup("autoclean")
            if p.get("autoremove"):
                self.cleanup("autoremove")
        state = p.get("state") or "present"
        if state in ("latest", "present", "build-dep", "fixed"):
            ok, data = self.install(names, state)
            data["cache_updated"] = updated
            data["cache_update_time"] = updated_time
            if not ok:
                raise Fail(data.pop("msg"), **data)
            return data
        return self.remove(names)

    def update_cache(self) -> None:
        retries = int(self.p.get("update_cache_retries") or 5)
        max_delay = int(self.p.get("update_cache_retry_max_delay") or 12)
        err = ""
        for attempt in range(retries):
            if self.check_mode:
                return
            rc, _out, err = self.apt(f"{shlex.quote(self.apt_get)} update -q")
            if rc == 0:
                return
            delay = min(2**attempt, max_delay)
            if attempt + 1 < retries:
                time.sleep(delay)
        reason = err.strip() or "unknown reason"
        raise Fail(f"Failed to update apt cache after {retries} retries: {reason}")

    def expand(self, names: list[str]) -> list[str]:
        """fnmatch patterns (``python3-*``) against the known package names, as ansible."""
        out: list[str] = []
        for spec in names:
            name, op, _version = package_split(spec)
            if any(c in name for c in "*?[") and op is None:
                _rc, text, _ = run(["apt-cache", "pkgnames"], self.env)
                matches = [n for n in text.split() if fnmatch.fnmatch(n, name)]
                if not matches:
                    raise Fail(f"No package(s) matching '{name}' available")
                out.extend(matches)
            else:
                out.append(spec)
        return out

    def install(self, specs: list[str], state: str) -> tuple[bool, dict[str, Any]]:
        p = self.p
        specs = self.expand(specs)
        parsed = [package_split(s) for s in specs]
        names = [n for n, _, _ in parsed]
        upgrade = state == "latest"
        status = self.status(names)
        # apt-cache loads the whole cache (~0.5 s): ask it only about what is
        # not settled by dpkg alone (not installed, a version, or latest).
        policy = self.policy(
            [
                n
                for n, _, v in parsed
                if v is not None or upgrade or not self.installed_version(status, n)
            ]
        )
        only_upgrade = bool(p.get("only_upgrade"))
        pkgs: list[str] = []
        for name, op, version in parsed:
            installed = self.installed_version(status, name)
            candidate, available = policy.get(name, (None, []))
            if not installed and not candidate and not available:
                raise Fail(f"No package matching '{name}' is available")
            if not installed and only_upgrade:
                continue
            if version is not None and op == "=":
                if installed and fnmatch.fnmatch(installed, version):
                    continue
                matching = [v for v in available if fnmatch.fnmatch(v, version)]
                if not matching:
                    return False, {"msg": f"no available installation candidate for {name}"}
                pkgs.append(f"'{name}={matching[0]}'")
            elif not installed:
                if candidate is None:
                    return False, {"msg": f"no available installation candidate for {name}"}
                pkgs.append(f"'{name}'")
            elif upgrade and candidate and candidate != installed:
                pkgs.append(f"'{name}'")
        if state == "build-dep":
            pkgs = [f"'{s}'" for s in specs]
        if not pkgs:
            if not self.check_mode:
                self.mark_manual(names)
            return True, {"changed": False}
        options = [
            "-y",
            self.dpkg_options,
            "--only-upgrade" if only_upgrade and state != "build-dep" else "",
            "--fix-broken" if state == "fixed" else "",
            "--force-yes" if p.get("force") else "",
            "--auto-remove" if p.get("autoremove") and state != "build-dep" else "",
            "--no-remove" if p.get("fail_on_autoremove") else "",
            "--simulate" if self.check_mode else "",
        ]
        verb = "build-dep" if state == "build-dep" else "install"
        cmd = f"{self.apt_get} {' '.join(options)} {verb} {' '.join(pkgs)}"
        if p.get("default_release"):
            cmd += f" -t '{p['default_release']}'"
        if p.get("install_recommends") is False:
            cmd += " -o APT::Install-Recommends=no"
        elif p.get("install_recommends") is True:
            cmd += " -o APT::Install-Recommends=yes"
        if p.get("allow_unauthenticated"):
            cmd += " --allow-unauthenticated"
        if p.get("allow_downgrade"):
            cmd += " --allow-downgrades"
        if p.get("allow_change_held_packages"):
            cmd += " --allow-change-held-packages"
        rc, out, err = self.apt(cmd)
        if rc:
            return False, {"msg": f"'{cmd}' failed: {err}", "stdout": out, "stderr": err, "rc": rc}
        if not self.check_mode and state != "build-dep":
            self.mark_manual(names)
        changed = APT_GET_ZERO not in out if state == "build-dep" else True
        return True, {"changed": changed, "stdout": out, "stderr": err, "diff": {}}

    def mark_manual(self, names: list[str]) -> None:
        """Installed-by-request packages become manually installed, as in ansible.

        Which are marked automatic is read from apt's extended_states file
        (``apt-mark showauto`` would load the whole cache); apt-mark runs only
        when there is something to change.
        """
        if not names or which("apt-mark") is None:
            return
        auto = [n for n in names if n in auto_installed()]
        if auto:
            rc, out, err = run(["apt-mark", "manual", *auto], self.env)
            if rc != 0:
                raise Fail(
                    f"'apt-mark manual {' '.join(auto)}' failed: {err}",
                    stdout=out,
                    stderr=err,
                    rc=rc,
                )

    def remove(self, specs: list[str]) -> dict[str, Any]:
        p = self.p
        specs = self.expand(specs)
        parsed = [package_split(s) for s in specs]
        status = self.status([n for n, _, _ in parsed])
        pkgs = []
        for spec, (name, _, _) in zip(specs, parsed):  # noqa: B905 - Python 3.8 targets
            entry = status.get(name)
            has_files = entry is not None and "config-files" in entry[0]
            if self.installed_version(status, name) or (has_files and p.get("purge")):
                pkgs.append(f"'{spec}'")
        if not pkgs:
            return {"changed": False}
        packages = " ".join(pkgs)
        options = [
            "-q",
            "-y",
            self.dpkg_options,
            "--purge" if p.get("purge") else "",
            "--force-yes" if p.get("force") else "",
            "--auto-remove" if p.get("autoremove") else "",
            "--simulate" if self.check_mode else "",
            "--allow-change-held-packages" if p.get("allow_change_held_packages") else "",
        ]
        rc, out, err = self.apt(f"{self.apt_get} {' '.join(options)} remove {packages}")
        if rc:
            raise Fail(f"'apt-get remove {packages}' failed: {err}", stdout=out, stderr=err, rc=rc)
        return {"changed": True, "stdout": out, "stderr": err, "diff": {}}

    def cleanup(self, operation: str) -> None:
        p = self.p
        options = [
            "-y",
            self.dpkg_options,
            "--purge" if p.get("purge") else "",
            "--force-yes" if p.get("force") else "",
            operation,
            "--simulate" if self.check_mode else "",
        ]
        rc, out, err = self.apt(f"{self.apt_get} {' '.join(options)}")
        if rc:
            raise Fail(f"'apt-get {operation}' failed: {err}", stdout=out, rc=rc)
        marker = {"autoremove": "The following packages will be REMOVED", "autoclean": "Del "}
        raise Done(changed=marker[operation] in out, stdout=out, stderr=err, diff={})

    def upgrade(self, mode: str) -> None:
        p = self.p
        if mode in ("dist", "full"):
            command = "dist-upgrade"
        elif mode == "safe":
            command = "upgrade"  # aptitude's safe-upgrade, without aptitude
        else:
            command = "upgrade --with-new-pkgs"
        options = [
            "-y",
            self.dpkg_options,
            "--force-yes" if p.get("force") else "",
            "--auto-remove" if p.get("autoremove") else "",
            "--no-remove" if p.get("fail_on_autoremove") else "",
            "--simulate" if self.check_mode else "",
            "--allow-unauthenticated" if p.get("allow_unauthenticated") else "",
            "--allow-downgrades" if p.get("allow_downgrade") else "",
        ]
        cmd = f"{self.apt_get} {' '.join(options)} {command}"
        if p.get("default_release"):
            cmd += f" -t {p['default_release']}"
        rc, out, err = self.apt(cmd)
        if rc:
            raise Fail(f"'{self.apt_get} {command}' failed: {err}", stdout=out, rc=rc)
        raise Done(changed=APT_GET_ZERO not in out, msg=out, stdout=out, stderr=err)

    def install_deb(self, deb: str) -> None:
        deb = os.path.expanduser(deb)
        rc, out, err = run(["dpkg-deb", "-f", deb, "Package", "Version"], self.env)
        if rc != 0:
            raise Fail(f"dpkg-deb -f {deb} failed", stdout=out, stderr=err)
        fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
        name, version = fields.get("Package", ""), fields.get("Version", "")
        installed = self.installed_version(self.status([name]), name)
        if installed == version and not self.p.get("force"):
            raise Done(changed=False)
        if self.check_mode:
            raise Done(changed=True)
        compressed = self.p.get("dpkg_options") or "force-confdef,force-confold"
        options = " ".join(f"--{o}" for o in compressed.split(","))
        cmd = f"dpkg {options} -i {shlex.quote(deb)}"
        rc, out, err = self.apt(cmd)
        if rc != 0:
            raise Fail(f"{cmd} failed", stdout=out, stderr=err)
        raise Done(changed=True, stdout=out, stderr=err, diff={})


def apt_module(args: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    try:
        return Apt(args, check_mode).main()
    except Done as done:
        return done.result


# --------------------------------------------------------------------------- dnf

DNF_LOCKFILES = ("/var/run/dnf.pid", "/run/dnf.pid")


def _lock_held(paths: list[str]) -> bool:
    """A dnf lock file whose pid is alive (a stale one does not count)."""
    for path in paths:
        try:
            with open(path) as f:
                pid = int(f.read().strip() or "0")
        except (OSError, ValueError):
            continue
        if pid <= 0:
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            return True
        return True
    return False


class Dnf:
    """ansible's ``dnf`` on top of the ``dnf`` (or ``yum``) command and ``rpm -q``."""

    def __init__(self, args: dict[str, Any], check_mode: bool) -> None:
        self.p = args
        self.check_mode = check_mode
        tool = None
        for name in ("dnf", "dnf5", "yum"):
            tool = which(name)
            if tool:
                break
        if tool is None:
            raise Fail("Could not find dnf (or yum) on this host.", results=[], rc=1)
        self.tool = tool
        self.name = os.path.basename(tool)
        self.env = {"LANG": "C", "LC_ALL": "C", "LC_MESSAGES": "C"}

    def wait_for_lock(self) -> None:
        """ansible's yumdnf ``wait_for_lock``: poll the lock file up to lock_timeout seconds."""
        paths = list(self.p.get("_lockfiles") or DNF_LOCKFILES)
        if not _lock_held(paths):
            return
        for _ in range(max(int(self.p.get("lock_timeout", 30)), 0)):
            time.sleep(1)
            if not _lock_held(paths):
                return
        raise Fail(f"{self.name} lockfile is held by another process", results=[], rc=1)

    def base_args(self) -> list[str]:
        p = self.p
        argv = [self.tool, "-y"]
        if self.check_mode:
            argv = [self.tool, "--assumeno"]
        for repo in p.get("disablerepo") or []:
            argv.append(f"--disablerepo={repo}")
        for repo in p.get("enablerepo") or []:
            argv.append(f"--enablerepo={repo}")
        for pkg in p.get("exclude") or []:
            argv.append(f"--exclude={pkg}")
        if p.get("disable_gpg_check"):
            argv.append("--nogpgcheck")
        if p.get("installroot") and p["installroot"] != "/":
            argv.append(f"--installroot={p['installroot']}")
        if p.get("releasever"):
            argv.append(f"--releasever={p['releasever']}")
        if p.get("install_weak_deps") is False:
            argv.append("--setopt=install_weak_deps=False")
        if p.get("cacheonly"):
            argv.append("--cacheonly")
        return argv

    def installed(self, names: list[str]) -> dict[str, list[str]]:
        """``{spec: [nevra, ...]}`` for the specs ``rpm -q`` reports installed."""
        names = [n for n in names if n != "*"]
        if not names:
            return {}
        _rc, out, _ = run(
            ["rpm", "-q", "--qf", "%{NAME}\t%{EPOCH}:%{VERSION}-%{RELEASE}.%{ARCH}\n", *names],
            self.env,
        )
        # rpm answers in order: "package X is not installed", or one line per
        # installed match (several for e.g. kernels).
        lines = out.splitlines()
        found: dict[str, list[str]] = {}
        index = 0
        for spec in names:
            if index < len(lines) and lines[index] == f"package {spec} is not installed":
                index += 1
                continue
            while index < len(lines) and _rpm_matches(spec, lines[index]):
                name, evra = lines[index].split("\t", 1)
                found.setdefault(spec, []).append(f"{name}-{evra.replace('(none):', '0:')}")
                index += 1
        return found

    def run_dnf(self, verb: str, specs: list[str]) -> tuple[int, str, str]:
        self.wait_for_lock()
        rc, out, err = run([*self.base_args(), verb, *specs], self.env)
        missing = re.findall(r"No match for argument: (\S+)", out + err)
        if missing:
            raise Fail(
                "Failed to install some of the specified packages",
                failures=[f"No package {m} available." for m in missing],
                results=[],
                rc=1,
            )
        return rc, out, err

    def ensure(self) -> dict[str, Any]:
        p = self.p
        names = [n.strip() for n in p.get("name") or []]
        if p.get("update_cache"):
            if not self.check_mode:
                self.wait_for_lock()
                rc, out, err = run([self.tool, "-y", "makecache"], self.env)
                if rc != 0:
                    detail = (err or out).strip()
                    raise Fail(f"Failed to synchronize repodata: {detail}", rc=1, results=[])
            if not names:
                return {"msg": "Cache updated", "changed": False, "results": [], "rc": 0}
        state = p.get("state") or "installed"
        if state == "present":
            state = "installed"
        elif state == "absent":
            state = "removed"
        before = self.installed(names)
        # Each step: (dnf verb, specs); nothing to run means nothing to do.
        steps: list[tuple[str, list[str]]] = []
        if state == "installed":
            steps.append(("install", [n for n in names if n not in before]))
        elif state == "latest":
            if "*" in names:
                steps.append(("upgrade", [] if self.updates([]) is None else ["*"]))
            else:
                steps.append(("install", [n for n in names if n not in before]))
                steps.append(("upgrade", self.updates([n for n in names if n in before]) or []))
        else:
            steps.append(("remove", [n for n in names if n in before]))
            if p.get("autoremove"):
                steps.append(("autoremove", []))
        steps = [(verb, specs) for verb, specs in steps if specs or verb == "autoremove"]
        response: dict[str, Any] = {"msg": "", "changed": False, "results": [], "rc": 0}
        if not steps:
            response["msg"] = "Nothing to do"
            return response
        for verb, specs in steps:
            rc, out, err = self.run_dnf(verb, [s for s in specs if s != "*"])
            # --assumeno (check mode) lists the transaction, then exits 1: not a failure.
            if rc != 0 and not self.check_mode:
                raise Fail(
                    f"Unknown Error occurred: {(err or out).strip()}", failures=[], results=[], rc=1
                )
        if self.check_mode:
            response["changed"] = True
            response["results"] = [
                f"{'Removed' if verb in ('remove', 'autoremove') else 'Installed'}: {s}"
                for verb, specs in steps
                for s in specs
            ]
            response["msg"] = "Check mode: No changes made, but would have if not in check mode"
            return response
        after = self.installed(names)
        results = []
        for name in names:
            now, was = after.get(name, []), before.get(name, [])
            results += [f"Installed: {_display(n)}" for n in now if n not in was]
            results += [f"Removed: {_display(n)}" for n in was if n not in now]
        response["changed"] = bool(results) or any(v == "autoremove" for v, _ in steps)
        if not response["changed"]:
            response["msg"] = "Nothing to do"
        response["results"] = results
        return response

    def updates(self, names: list[str]) -> list[str] | None:
        """Installed names with a newer version available (``check-update`` exits 100)."""
        rc, out, _ = run([self.tool, "-q", "check-update", *names], self.env)
        if rc != 100:
            return None
        listed = {line.split()[0].rsplit(".", 1)[0] for line in out.splitlines() if line.split()}
        return [n for n in names if n in listed] or names


def _rpm_matches(spec: str, line: str) -> bool:
    """Whether an ``rpm -q`` line (``NAME\tE:V-R.A``) answers ``spec``."""
    if line.startswith("package ") or "\t" not in line:
        return False
    name, evra = line.split("\t", 1)
    vra = evra.split(":", 1)[-1]
    arch = vra.rsplit(".", 1)[-1]
    return spec in (name, f"{name}.{arch}") or f"{name}-{vra}".startswith(spec)


def _display(nevra: str) -> str:
    """``name-0:1.0-1.x86_64`` as dnf prints it: ``name-1.0-1.x86_64`` (epoch 0 hidden)."""
    return nevra.replace("-0:", "-", 1)


def dnf_module(args: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    try:
        return Dnf(args, check_mode).ensure()
    except Done as done:
        return done.result


# --------------------------------------------------------------------------- package


def detect() -> str | None:
    """The host's package manager, as ansible's ``pkg_mgr`` fact would name it."""
    ids: list[str] = []
    try:
        with open("/etc/os-release") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key in ("ID", "ID_LIKE"):
                    ids += value.strip("\"'").split()
    except OSError:
        pass
    debian = {"debian", "ubuntu", "linuxmint", "raspbian", "pop", "kali"}
    redhat = {"fedora", "rhel", "centos", "rocky", "almalinux", "ol", "amzn", "redhat"}
    if debian.intersection(ids) and which("apt-get"):
        return "apt"
    if redhat.intersection(ids) and (which("dnf") or which("dnf5") or which("yum")):
        return "dnf"
    if which("apt-get"):
        return "apt"
    if which("dnf") or which("dnf5") or which("yum"):
        return "dnf"
    return None


def package_module(args: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    use = args.get("use") or "auto"
    manager = detect() if use == "auto" else ("dnf" if use in ("dnf", "dnf5", "yum") else use)
    if manager is None:
        raise Fail(
            "Could not detect which package manager to use. Try gathering facts or setting the"
            ' "use" option.'
        )
    if manager not in ("apt", "dnf"):
        raise Fail(f"Could not find a module for {manager}.")
    chosen = args.get(manager)
    if not isinstance(chosen, dict):
        raise Fail("package: no arguments for the detected package manager")
    if "_error" in chosen:
        # The controller's validation failed for this manager's module: report it now.
        raise Fail(chosen["_error"])
    return apt_module(chosen, check_mode) if manager == "apt" else dnf_module(chosen, check_mode)


# --------------------------------------------------------------------------- main

MODULES = {
    "apt": apt_module,
    "dnf": dnf_module,
    "yum": dnf_module,
    "package": package_module,
}


def main() -> None:
    req = json.loads(sys.stdin.buffer.read() or b"{}")
    try:
        result = MODULES[req.get("module")](req.get("args") or {}, bool(req.get("check_mode")))
    except Fail as exc:
        result = exc.result
    except Done as done:
        result = done.result
    except Exception as exc:
        result = {
            "failed": True,
            "msg": f"Task failed: Module failed: {exc}",
            "exception": traceback.format_exc(),
        }
    result.setdefault("changed", False)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.exit(1 if result.get("failed") else 0)


if __name__ == "__main__":
    main()
