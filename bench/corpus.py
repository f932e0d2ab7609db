"""`playgraph check`/`compile` against `ansible-playbook --syntax-check` (and ansible-lint) on real repositories.

The repositories, their pinned commits, what to check in each and with which
configuration are listed in ``bench/corpus_repos.json``.  Nothing of theirs is
kept in this repository: each is extracted at its commit into a cache outside it
(``~/.cache/playgraph-corpus/<name>-<sha>``, or ``$PLAYGRAPH_CORPUS_CACHE``) from a
bare git mirror (``--mirrors``: ``<dir>/<owner>+<name>/repo`` or ``<dir>/<owner>+<name>``)
or from a checkout given as ``--source NAME=PATH``.  CI never runs this.

For every playbook, in the repository's working directory (so its own
``ansible.cfg`` applies) and with its environment: ``ansible-playbook
--syntax-check``, ``playgraph check --format json`` and ``playgraph compile``,
each timed; then, per repository, ``ansible-lint`` over the same files when a
lint venv exists (``--lint-venv``; create it with ``python3 -m venv DIR &&
DIR/bin/pip install ansible-lint``).  A role listed under ``roles`` is checked
through a one-role playbook written into the cache.

Error-level findings of ``check`` on a playbook that ``--syntax-check`` accepts
are false positives unless listed in the repository's ``true_positives`` (each
with the reason it is a real problem: an async/lock one, or a task that
fails whenever it runs).

    python bench/corpus.py [--repos kubespray,algo] [--jobs 2] [--no-lint]

Writes ``bench/results/corpus-<date>.json`` and prints a summary.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import dataclasses
import datetime
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "bench" / "corpus_repos.json"
DEFAULT_ORACLE = ROOT / ".oracle" / "venv"
DEFAULT_CACHE = Path(
    os.environ.get("PLAYGRAPH_CORPUS_CACHE", Path.home() / ".cache" / "playgraph-corpus")
)
DEFAULT_MIRRORS = Path(os.environ.get("PLAYGRAPH_CORPUS_MIRRORS", "/work/.mirror"))
# Generous deadlines: a large playbook under load, never an unbounded wait.
STEP_TIMEOUT = 600.0
LINT_TIMEOUT = 1800.0
PLAY_KEYS = frozenset({"hosts", "import_playbook", "ansible.builtin.import_playbook", "include"})


class SetupError(Exception):
    """Something the user must provide (a mirror, a venv): one line, exit 1."""


@dataclasses.dataclass(frozen=True)
class Step:
    rc: int | None  # None: the deadline passed
    seconds: float
    stdout: str
    stderr: str


def run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = STEP_TIMEOUT) -> Step:
    start = time.perf_counter()
    try:
        done = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as expired:
        out = expired.stdout.decode() if isinstance(expired.stdout, bytes) else expired.stdout or ""
        return Step(None, time.perf_counter() - start, out, f"timed out after {timeout:.0f}s")
    return Step(done.returncode, time.perf_counter() - start, done.stdout, done.stderr)


REUSE_SYNTAX_CHECK = False
"""``--reuse-syntax-check``: answer ansible-playbook's verdict from an earlier run."""


def syntax_check(argv: list[str], cwd: Path, env: dict[str, str]) -> Step:
    """`run` for ``--syntax-check``, whose verdict on an extracted tree (named by its commit)
    never changes: with ``--reuse-syntax-check`` an earlier run's answer is used (its time
    is then that run's, and the summary says so)."""
    material = repr((argv, os.fspath(cwd), sorted(env.items())))
    entry = DEFAULT_CACHE / "syntax-check" / f"{hashlib.sha256(material.encode()).hexdigest()}.json"
    if REUSE_SYNTAX_CHECK and entry.is_file():
        saved = json.loads(entry.read_text())
        return Step(saved["rc"], saved["seconds"], saved["stdout"], saved["stderr"])
    step = run(argv, cwd, env)
    if step.rc is not None:
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.write_text(json.dumps(dataclasses.asdict(step)))
    return step


# --------------------------------------------------------------------------- extraction


def mirror_of(repo: str, mirrors: Path) -> Path | None:
    base = mirrors / repo.replace("/", "+")
    for candidate in (base / "repo", base):
        if (candidate / "HEAD").exists() or (candidate / ".git").exists():
            return candidate
    return None


def extract(
    name: str, repo: str, commit: str, cache: Path, mirrors: Path, source: Path | None
) -> Path:
    """The repository's tree at ``commit``, extracted once into the cache."""
    dest = cache / f"{name}-{commit}"
    if dest.is_dir():
        return dest
    if source is not None:
        git = ["git", "-C", os.fspath(source)]
    else:
        mirror = mirror_of(repo, mirrors)
        if mirror is None:
            raise SetupError(
                f"no git mirror of {repo} under {mirrors}: get one with "
                f"`git clone --bare https://github.com/{repo} {mirrors / repo.replace('/', '+') / 'repo'}` "
                f"(it needs commit {commit}), or pass --source {name}=PATH to a checkout"
            )
        git = ["git", "--git-dir", os.fspath(mirror)]
    probe = subprocess.run([*git, "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True)
    if probe.returncode != 0:
        raise SetupError(f"{repo}: commit {commit} is not in the mirror/checkout; fetch it first")
    # A partial mirror may lack some large blobs (binaries): leave those files out.
    listing = subprocess.run(
        [*git, "ls-tree", "-r", "--full-tree", commit], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    blobs = [(line.split()[2], line.split("\t", 1)[1]) for line in listing if " blob " in line]
    check = subprocess.run(
        [*git, "cat-file", "--batch-check"],
        input="".join(f"{sha}\n" for sha, _ in blobs),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    missing = [
        path for (_, path), answer in zip(blobs, check, strict=True) if answer.endswith("missing")
    ]
    excludes = [f":(exclude,literal){path}" for path in missing]
    tmp = cache / f".{name}-{commit}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # git names the left-out blobs on stderr even though it skips them: keep it for a failure.
    with tempfile.TemporaryFile() as errors:
        archive = subprocess.Popen(
            [*git, "archive", "--format=tar", commit, "--", ".", *excludes],
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        untar = subprocess.run(
            ["tar", "-x", "-C", os.fspath(tmp)], stdin=archive.stdout, capture_output=True
        )
        assert archive.stdout is not None
        archive.stdout.close()
        if archive.wait(timeout=STEP_TIMEOUT) != 0 or untar.returncode != 0:
            errors.seek(0)
            detail = (untar.stderr + errors.read()).decode(errors="replace")[-500:]
            raise SetupError(f"{repo}: extracting {commit} failed: {detail}")
    tmp.rename(dest)
    if missing:
        (dest / ".corpus-missing-files").write_text("\n".join(missing) + "\n")
    return dest


# --------------------------------------------------------------------------- selection


class _AnyTag(yaml.SafeLoader):
    """Loads files with custom tags (!vault, !unsafe) just to see their shape."""


_AnyTag.add_multi_constructor("", lambda loader, suffix, node: None)


def is_playbook(path: Path) -> bool:
    try:
        data = yaml.load(path.read_text(errors="replace"), Loader=_AnyTag)  # a SafeLoader subclass
    except (yaml.YAMLError, OSError):
        return True  # let both tools report the broken file
    return (
        isinstance(data, list)
        and bool(data)
        and all(isinstance(item, dict) and PLAY_KEYS & item.keys() for item in data)
    )


def select(root: Path, patterns: list[str], excludes: list[str]) -> list[Path]:
    found: set[Path] = set()
    for pattern in patterns:
        found.update(p for p in root.glob(pattern) if p.is_file())
    kept = []
    for path in sorted(found):
        rel = path.relative_to(root).as_posix()
        if any(fnmatch.fnmatch(rel, ex) for ex in excludes):
            continue
        if is_playbook(path):
            kept.append(path)
    return kept


def role_wrapper(root: Path, role: str) -> Path:
    """A one-role playbook in the cache (outside the role) naming the role by absolute path."""
    target = (root / role).resolve() if (root / role).is_dir() else None
    folder = root.parent / f".wrappers-{root.name}"
    folder.mkdir(exist_ok=True)
    slug = (target.name if target else role).replace("/", "_")
    wrapper = folder / f"{slug}.yml"
    wrapper.write_text(
        "- hosts: all\n  gather_facts: false\n  roles:\n"
        f"    - role: {json.dumps(os.fspath(target) if target else role)}\n"
    )
    return wrapper


# --------------------------------------------------------------------------- one playbook


def parse_sarif(text: str) -> list[dict[str, Any]]:
    data = json.loads(text)
    findings = []
    for run_ in data.get("runs", []):
        for result in run_.get("results", []):
            where = (result.get("locations") or [{}])[0].get("physicalLocation", {})
            region = where.get("region", {})
            findings.append(
                {
                    "code": result.get("ruleId"),
                    "level": result.get("level", "warning"),
                    "file": where.get("artifactLocation", {}).get("uri"),
                    "line": region.get("startLine"),
                    "col": region.get("startColumn"),
                    "message": result.get("message", {}).get("text", "")[:300],
                }
            )
    return findings


def crashed(step: Step) -> str | None:
    if "Traceback (most recent call last)" in step.stderr or "internal error" in step.stderr:
        return step.stderr[-4000:]
    return None


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip() and "Warning" not in line]
    return lines[-1][:400] if lines else ""


def syntax_error(text: str) -> str:
    """ansible's one- or multi-line ERROR message, without the source excerpt."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("[ERROR]") or line.startswith("ERROR!"):
            return " ".join(lines[i : i + 2])[:400]
    return last_line(text)


def check_one(
    playbook: Path,
    cwd: Path,
    env: dict[str, str],
    inventory: list[str],
    tools: dict[str, str],
    root: Path,
) -> dict[str, Any]:
    rel = os.path.relpath(playbook, root)
    inv = [arg for source in inventory for arg in ("-i", source)]
    syntax = syntax_check(
        [tools["ansible-playbook"], "--syntax-check", *inv, os.fspath(playbook)], cwd, env
    )
    check = run(
        [tools["playgraph"], "check", "--no-cache", "--format", "json", *inv, os.fspath(playbook)],
        cwd,
        env,
    )
    compiled = run(
        [tools["playgraph"], "compile", "--no-cache", "-o", os.devnull, os.fspath(playbook)],
        cwd,
        env,
    )
    findings: list[dict[str, Any]] = []
    parse_error = None
    if check.rc in (0, 2) and check.stdout.strip():
        try:
            findings = parse_sarif(check.stdout)
        except (json.JSONDecodeError, AttributeError) as error:
            parse_error = f"unreadable check output: {error}"
    for finding in findings:
        if finding["file"] and not os.path.isabs(finding["file"]):
            finding["file"] = os.path.relpath((cwd / finding["file"]).resolve(), root.resolve())
    errors = collections.Counter(f["code"] for f in findings if f["level"] == "error")
    warnings = collections.Counter(f["code"] for f in findings if f["level"] == "warning")
    return {
        "playbook": rel,
        "cwd": os.path.relpath(cwd, root),
        "syntax_check": {
            "ok": syntax.rc == 0,
            "rc": syntax.rc,
            "seconds": round(syntax.seconds, 3),
            "error": None if syntax.rc == 0 else syntax_error(syntax.stderr or syntax.stdout),
        },
        "check": {
            "rc": check.rc,
            "seconds": round(check.seconds, 3),
            "crash": crashed(check),
            "failure": parse_error
            or (None if check.rc in (0, 2) else last_line(check.stderr) or f"exit {check.rc}"),
            "errors_by_code": dict(errors),
            "warnings_by_code": dict(warnings),
            "findings": [f for f in findings if f["level"] in ("error", "warning")],
        },
        "compile": {
            "rc": compiled.rc,
            "seconds": round(compiled.seconds, 3),
            "crash": crashed(compiled),
            "error": None if compiled.rc == 0 else last_line(compiled.stderr),
        },
    }


# --------------------------------------------------------------------------- one repository


def expand(value: str, root: Path) -> str:
    return value.replace("{root}", os.fspath(root))


# The collections the ansible venv ships (`pip install ansible`) sit in its
# site-packages, which ansible-core scans and playgraph, in its own venv, cannot
# know: named explicitly so that both tools see the same installed collections.
COLLECTIONS_PATH = ""


def base_env(extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANSIBLE_", "PLAYGRAPH_")) or k == "PLAYGRAPH_ORACLE"
    }
    # Tracebacks on stderr so that a crash is reported with its cause.
    env.update({"ANSIBLE_NOCOLOR": "1", "PLAYGRAPH_DEBUG": "1", "PYTHONWARNINGS": "ignore"})
    if COLLECTIONS_PATH:
        env["ANSIBLE_COLLECTIONS_PATH"] = COLLECTIONS_PATH
    env.update(extra)
    return env


def installed_collections(ansible_galaxy: str) -> set[str]:
    done = subprocess.run(
        [ansible_galaxy, "collection", "list", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        env=base_env({}),
        check=False,
    )
    names: set[str] = set()
    try:
        for found in json.loads(done.stdout).values():
            names.update(found)
    except json.JSONDecodeError:
        pass
    return names


def is_true_positive(finding: dict[str, Any], known: list[dict[str, Any]]) -> dict[str, Any] | None:
    for entry in known:
        if (
            entry["code"] == finding["code"]
            and entry["file"] == finding["file"]
            and entry.get("line") in (None, finding["line"])
        ):
            return entry
    return None


def working_dir(kind: str, playbook: Path, root: Path) -> Path:
    """Where a user of the repository runs ansible-playbook (so its ansible.cfg applies)."""
    if playbook.parent.name.startswith(".wrappers-"):
        return root if kind in ("playbook", "nearest-cfg") else root / kind
    if kind == "playbook":
        return playbook.parent
    if kind == "nearest-cfg":
        for folder in [playbook.parent, *playbook.parent.parents]:
            if (folder / "ansible.cfg").exists():
                return folder
            if folder == root:
                break
        return playbook.parent
    return root / kind


def check_repo(
    spec: dict[str, Any], root: Path, tools: dict[str, str], jobs: int, lint: str | None
) -> dict[str, Any]:
    items: list[tuple[Path, Path, dict[str, str], list[str]]] = []
    lint_groups: dict[Path, list[str]] = collections.defaultdict(list)
    for group in spec["groups"]:
        env = base_env({k: expand(v, root) for k, v in group.get("env", {}).items()})
        inventory = [expand(i, root) for i in group.get("inventory", [])]
        playbooks = select(root, group.get("playbooks", []), group.get("exclude", []))
        playbooks += [role_wrapper(root, role) for role in group.get("roles", [])]
        for playbook in playbooks:
            cwd = working_dir(group.get("cwd", "."), playbook, root)
            items.append((playbook, cwd, env, inventory))
            lint_groups[cwd].append(os.fspath(playbook))
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(
            pool.map(lambda it: check_one(it[0], it[1], it[2], it[3], tools, root), items)
        )
    known = spec.get("true_positives", [])
    for result in results:
        for finding in result["check"]["findings"]:
            if finding["level"] == "error":
                entry = is_true_positive(finding, known)
                finding["true_positive"] = entry is not None
    repo: dict[str, Any] = {
        "name": spec["name"],
        "repo": spec["repo"],
        "commit": spec["commit"],
        "style": spec.get("style", ""),
        "collections_needed": spec.get("collections", []),
        "collections_missing": sorted(set(spec.get("collections", [])) - tools_collections(tools)),
        "playbooks": results,
    }
    if lint:
        total = 0.0
        runs = []
        for cwd, files in lint_groups.items():
            env = base_env(
                {k: expand(v, root) for k, v in spec["groups"][0].get("env", {}).items()}
            )
            step = run(
                [lint, "--offline", "--nocolor", "-q", "-f", "codeclimate", *files],
                cwd,
                env,
                LINT_TIMEOUT,
            )
            total += step.seconds
            count = None
            with contextlib.suppress(json.JSONDecodeError):
                count = len(json.loads(step.stdout))
            runs.append(
                {
                    "cwd": os.path.relpath(cwd, root),
                    "files": len(files),
                    "rc": step.rc,
                    "seconds": round(step.seconds, 3),
                    "findings": count,
                }
            )
        repo["ansible_lint"] = {"seconds": round(total, 3), "runs": runs}
    return repo


_COLLECTIONS: set[str] = set()


def tools_collections(tools: dict[str, str]) -> set[str]:
    if not _COLLECTIONS:
        _COLLECTIONS.update(installed_collections(tools["ansible-galaxy"]) or {"<none>"})
    return _COLLECTIONS


# --------------------------------------------------------------------------- report


def summarise(repos: list[dict[str, Any]]) -> dict[str, Any]:
    per_repo = []
    codes: collections.Counter[str] = collections.Counter()
    crashes = []
    for repo in repos:
        accepted = [p for p in repo["playbooks"] if p["syntax_check"]["ok"]]
        flagged = [
            p
            for p in accepted
            if any(
                not f.get("true_positive", True)
                for f in p["check"]["findings"]
                if f["level"] == "error"
            )
        ]
        for playbook in accepted:
            for finding in playbook["check"]["findings"]:
                if finding["level"] == "error" and not finding["true_positive"]:
                    codes[finding["code"]] += 1
        for playbook in repo["playbooks"]:
            for step in ("check", "compile"):
                if playbook[step]["crash"]:
                    crashes.append(
                        {"repo": repo["name"], "playbook": playbook["playbook"], "step": step}
                    )
        compile_fail = [
            p["playbook"]
            for p in accepted
            if p["compile"]["rc"] != 0
            and not any(f["level"] == "error" for f in p["check"]["findings"])
        ]
        per_repo.append(
            {
                "repo": repo["name"],
                "playbooks": len(repo["playbooks"]),
                "syntax_ok": len(accepted),
                "with_false_errors": len(flagged),
                "check_failed": sum(1 for p in repo["playbooks"] if p["check"]["failure"]),
                "compile_failed_on_clean": compile_fail,
                "seconds_syntax_check": round(
                    sum(p["syntax_check"]["seconds"] for p in repo["playbooks"]), 2
                ),
                "seconds_check": round(sum(p["check"]["seconds"] for p in repo["playbooks"]), 2),
                "seconds_compile": round(
                    sum(p["compile"]["seconds"] for p in repo["playbooks"]), 2
                ),
                "seconds_ansible_lint": repo.get("ansible_lint", {}).get("seconds"),
            }
        )
    return {"repos": per_repo, "false_error_codes": dict(codes.most_common()), "crashes": crashes}


def print_summary(summary: dict[str, Any]) -> None:
    print(
        f"{'repo':<22}{'books':>6}{'syn-ok':>7}{'false-err':>10}{'syntax s':>10}{'check s':>9}{'lint s':>9}"
    )
    totals = collections.Counter[str]()
    for row in summary["repos"]:
        lint = row["seconds_ansible_lint"]
        print(
            f"{row['repo']:<22}{row['playbooks']:>6}{row['syntax_ok']:>7}{row['with_false_errors']:>10}"
            f"{row['seconds_syntax_check']:>10.1f}{row['seconds_check']:>9.1f}{'' if lint is None else f'{lint:.1f}':>9}"
        )
        for key in ("playbooks", "syntax_ok", "with_false_errors"):
            totals[key] += row[key]
    print(
        f"{'total':<22}{totals['playbooks']:>6}{totals['syntax_ok']:>7}{totals['with_false_errors']:>10}"
    )
    print(
        "error-level findings on playbooks --syntax-check accepts (true positives excluded), by code:"
    )
    for code, count in summary["false_error_codes"].items():
        print(f"  {count:>5}  {code}")
    for crash in summary["crashes"]:
        print(f"CRASH {crash['step']}: {crash['repo']}/{crash['playbook']}")
    for row in summary["repos"]:
        for playbook in row["compile_failed_on_clean"]:
            print(f"compile failed on a clean playbook: {row['repo']}/{playbook}")


def markdown(data: dict[str, Any], specs: list[dict[str, Any]]) -> str:
    """The figures as a page: per repository, the codes left, the true positives and why."""
    summary = data["summary"]
    lines = [
        f"# Corpus run {data['date']}",
        "",
        f"playgraph {data['versions']['playgraph']} (commit {data['versions']['playgraph_commit'][:12]}), "
        f"{data['versions']['ansible-core']}, ansible-lint {data['versions']['ansible-lint']}; "
        f"{data['jobs']} playbooks at a time. Generated by `bench/corpus.py`; times are wall seconds "
        "summed over the playbooks (one process per playbook for each tool, ansible-lint one run per "
        "working directory).",
        "",
        "| repo | commit | playbooks | --syntax-check ok | with false errors | syntax-check s | check s | compile s | ansible-lint s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    commits = {s["name"]: s["commit"] for s in specs}
    for row in summary["repos"]:
        lint = row["seconds_ansible_lint"]
        lines.append(
            f"| {row['repo']} | {commits.get(row['repo'], '')[:12]} | {row['playbooks']} | {row['syntax_ok']} | "
            f"{row['with_false_errors']} | {row['seconds_syntax_check']:.1f} | {row['seconds_check']:.1f} | "
            f"{row['seconds_compile']:.1f} | {'-' if lint is None else f'{lint:.1f}'} |"
        )
    lines += [
        "",
        "Error-level findings left on playbooks that `--syntax-check` accepts (true positives excluded):",
        "",
    ]
    lines += [f"- `{code}`: {count}" for code, count in summary["false_error_codes"].items()] or [
        "- none"
    ]
    lines += ["", "Crashes:", ""]
    lines += [f"- {c['step']} on {c['repo']}/{c['playbook']}" for c in summary["crashes"]] or [
        "- none"
    ]
    lines += ["", "## True positives (real problems reported as errors, each with why)", ""]
    listed = False
    for spec in specs:
        for entry in spec.get("true_positives", []):
            listed = True
            lines.append(
                f"- {spec['name']} `{entry['file']}:{entry.get('line', '')}` `{entry['code']}`: {entry['why']}"
            )
    if not listed:
        lines.append("- none listed")
    lines += ["", "## Playbooks --syntax-check rejects (not counted)", ""]
    for repo in data["repos"]:
        for playbook in repo["playbooks"]:
            if not playbook["syntax_check"]["ok"]:
                lines.append(
                    f"- {repo['name']}/{playbook['playbook']}: {playbook['syntax_check']['error']}"
                )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--repos", help="comma-separated names from corpus_repos.json (default: all)"
    )
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a checkout to extract NAME from",
    )
    parser.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--ansible-venv", type=Path, default=DEFAULT_ORACLE)
    parser.add_argument("--lint-venv", type=Path, default=DEFAULT_CACHE / "lint-venv")
    parser.add_argument("--no-lint", action="store_true")
    parser.add_argument(
        "--reuse-syntax-check",
        action="store_true",
        help="use ansible-playbook's verdicts (and times) from an earlier run of the same trees",
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--output", type=Path, help="default bench/results/corpus-<date>.json")
    args = parser.parse_args()
    specs = json.loads(CONFIG.read_text())["repos"]
    if args.repos:
        wanted = set(args.repos.split(","))
        unknown = wanted - {s["name"] for s in specs}
        if unknown:
            print(f"corpus: unknown repos: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 1
        specs = [s for s in specs if s["name"] in wanted]
    sources = dict(item.split("=", 1) for item in args.source)
    tools = {
        "ansible-playbook": os.fspath(args.ansible_venv / "bin" / "ansible-playbook"),
        "ansible-galaxy": os.fspath(args.ansible_venv / "bin" / "ansible-galaxy"),
        "playgraph": shutil.which("playgraph", path=os.fspath(Path(sys.executable).parent))
        or "playgraph",
    }
    if not Path(tools["ansible-playbook"]).exists():
        print(
            f"corpus: {tools['ansible-playbook']} not found: python3 -m venv {args.ansible_venv} && {args.ansible_venv}/bin/pip install ansible",
            file=sys.stderr,
        )
        return 1
    lint = args.lint_venv / "bin" / "ansible-lint"
    global REUSE_SYNTAX_CHECK
    REUSE_SYNTAX_CHECK = args.reuse_syntax_check
    lint_tool = None if args.no_lint or not lint.exists() else os.fspath(lint)
    if not args.no_lint and lint_tool is None:
        print(f"corpus: no ansible-lint at {lint}: timing without it", file=sys.stderr)
    global COLLECTIONS_PATH
    site = sorted(args.ansible_venv.glob("lib/python3*/site-packages"))
    COLLECTIONS_PATH = ":".join(
        [
            os.path.expanduser("~/.ansible/collections"),
            "/usr/share/ansible/collections",
            *map(os.fspath, site),
        ]
    )
    args.cache.mkdir(parents=True, exist_ok=True)
    versions = {
        "playgraph": run([tools["playgraph"], "--version"], ROOT, base_env({})).stdout.strip(),
        "ansible-core": last_line(
            run([tools["ansible-playbook"], "--version"], ROOT, base_env({})).stdout.splitlines()[0]
        ),
        "ansible-lint": None
        if lint_tool is None
        else last_line(
            run([lint_tool, "--version", "--nocolor"], ROOT, base_env({})).stdout.splitlines()[0]
        ),
        "playgraph_commit": subprocess.run(
            ["git", "-C", os.fspath(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
    }
    out = (
        args.output
        or ROOT / "bench" / "results" / f"corpus-{datetime.date.today().isoformat()}.json"
    )
    repos: list[dict[str, Any]] = []
    try:
        for spec in specs:
            source = Path(sources[spec["name"]]) if spec["name"] in sources else None
            root = extract(
                spec["name"], spec["repo"], spec["commit"], args.cache, args.mirrors, source
            )
            start = time.perf_counter()
            repos.append(check_repo(spec, root, tools, args.jobs, lint_tool))
            print(
                f"{spec['name']}: {len(repos[-1]['playbooks'])} playbooks in {time.perf_counter() - start:.0f}s",
                file=sys.stderr,
            )
            # Written after every repository: a long run stopped half-way still has figures.
            summary = summarise(repos)
            data = {
                "date": datetime.datetime.now().isoformat(timespec="seconds"),
                "jobs": args.jobs,
                "versions": versions,
                "summary": summary,
                "repos": repos,
            }
            out.write_text(json.dumps(data, indent=1) + "\n")
            out.with_suffix(".md").write_text(markdown(data, specs))
    except SetupError as error:
        print(f"corpus: {error}", file=sys.stderr)
        return 1
    print_summary(summary)
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
