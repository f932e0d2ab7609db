"""`playgraph check` cold, warm and after a one-file edit, beside `--syntax-check` and ansible-lint.

A generated project: ``site.yml`` with ``roles:`` of R roles of T tasks each (the task
mix of `check_vs_syntax_check.generate`).  Three figures for playgraph:

* cold: nothing cached (``--no-cache``, an empty cache folder);
* warm: nothing changed since the last check (its report is cached);
* edited: one role's ``tasks/main.yml`` changed since the last check (a comment
  appended; a new one before each run), so only that file is new;
* edited-template: the same file, but the edit changes template texts: one task's
  ``msg`` and ``when`` become expressions never seen before (new ones before each
  run), so they must be parsed.

ansible-playbook ``--syntax-check`` and ansible-lint keep no cache: each is measured
once per run of the same project.  Then the per-task curve: ``check --no-cache`` of
one playbook of N tasks, CPU seconds per task, N from 2,000 to 64,000.

Wall and CPU (user + system of the process and its children) are both reported: on
a shared machine wall time measures the neighbours as much as the tool.

    python bench/check_incremental.py [--roles 20] [--tasks-per-role 100] [--repeat 5]
        [--curve 2000,4000,8000,16000,32000,64000] [--ansible-venv .oracle/venv]
        [--lint-venv ~/.cache/playgraph-bench/lint-venv]

Writes ``bench/results/check-incremental-<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from check_vs_syntax_check import generate
from common import DEFAULT_ORACLE, ROOT, playgraph_bin

_LINT_VENVS = (
    Path.home() / ".cache" / "playgraph-bench" / "lint-venv",
    Path.home() / ".cache" / "playgraph-corpus" / "lint-venv",
)


def project(root: Path, roles: int, per_role: int) -> Path:
    """``site.yml`` with ``roles:`` of ``roles`` roles of ``per_role`` tasks; returns site.yml."""
    lines = ["- hosts: all", "  gather_facts: false", "  roles:"]
    for r in range(roles):
        lines.append(f"    - role{r}")
        tasks = root / "roles" / f"role{r}" / "tasks"
        tasks.mkdir(parents=True, exist_ok=True)
        body = generate(per_role).split("\n", 3)[3]  # the tasks, without the play's header
        body = "\n".join(line[4:] for line in body.splitlines())
        # Each role registers its own variables, as real roles do.
        body = re.sub(r"\b(job|done)(\d+)", rf"r{r}\1\2", body)
        (tasks / "main.yml").write_text("---\n" + body + "\n")
    site = root / "site.yml"
    site.write_text("\n".join(lines) + "\n")
    (root / "hosts").write_text("localhost ansible_connection=local\n")
    return site


def edit_comment(path: str) -> None:
    """New content, so a new fingerprint, but no new template text."""
    with open(path, "a") as handle:
        handle.write(f"# edited {time.time_ns()}\n")


def edit_template(path: str) -> None:
    """New texts for the first looped step's ``msg`` and the first polled step's ``when``."""
    n = time.time_ns()
    text = Path(path).read_text()
    text, msgs = re.subn(
        r'(?m)^(\s+msg: )".*"$',
        lambda m: f'{m[1]}"{{{{ item.name | lower }}}} {{{{ item.size * {n} }}}} again"',
        text,
        count=1,
    )
    text, whens = re.subn(
        r"(?m)^(\s+when: ).*$",
        lambda m: f"{m[1]}inventory_hostname != 'edited{n}' and (flag{n} | default(false))",
        text,
        count=1,
    )
    if not (msgs and whens):
        sys.exit(f"{path}: no msg/when to edit")
    Path(path).write_text(text)


def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    before: Callable[[], None] | None = None,
) -> tuple[float, float]:
    """Wall and CPU seconds of one run (exit 0 or 2: findings are a normal run)."""
    if before is not None:
        before()  # the edit, not measured
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, cwd=cwd, env={**os.environ, **env})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    if result.returncode not in (0, 2):
        sys.exit(f"{argv[0]} exited {result.returncode}:\n{result.stderr.decode()[-2000:]}")
    return wall, cpu


def figures(runs: list[tuple[float, float]]) -> dict[str, float]:
    walls = [w for w, _ in runs]
    cpus = [c for _, c in runs]
    return {
        "wall_median": statistics.median(walls),
        "wall_min": min(walls),
        "cpu_median": statistics.median(cpus),
        "cpu_min": min(cpus),
        "runs": len(runs),
    }


def side_by_side(args: argparse.Namespace, folder: Path) -> dict[str, object]:
    site = project(folder, args.roles, args.tasks_per_role)
    env = {"XDG_CACHE_HOME": str(folder / "cache"), "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1"}
    check = [playgraph_bin(), "check", "site.yml"]
    edited = str(folder / "roles" / "role3" / "tasks" / "main.yml")
    cold = [run([*check[:2], "--no-cache", *check[2:]], cwd=folder, env=env)]
    cold += [run([*check[:2], "--no-cache", *check[2:]], cwd=folder, env=env)
             for _ in range(args.repeat - 1)]  # fmt: skip
    run(check, cwd=folder, env=env)  # fill the caches
    warm = [run(check, cwd=folder, env=env) for _ in range(args.repeat)]
    edit = [
        run(check, cwd=folder, env=env, before=lambda: edit_comment(edited))
        for _ in range(args.repeat)
    ]
    template = [
        run(check, cwd=folder, env=env, before=lambda: edit_template(edited))
        for _ in range(args.repeat)
    ]
    result: dict[str, object] = {
        "project": {"roles": args.roles, "tasks_per_role": args.tasks_per_role},
        "playgraph_cold": figures(cold),
        "playgraph_warm": figures(warm),
        "playgraph_one_file_edited": figures(edit),
        "playgraph_template_edited": figures(template),
    }
    result["edited_over_warm_cpu"] = figures(edit)["cpu_median"] / figures(warm)["cpu_median"]
    result["edited_over_warm_wall"] = figures(edit)["wall_median"] / figures(warm)["wall_median"]
    result["template_edited_over_warm_cpu"] = (
        figures(template)["cpu_median"] / figures(warm)["cpu_median"]
    )
    result["template_edited_over_warm_wall"] = (
        figures(template)["wall_median"] / figures(warm)["wall_median"]
    )
    playbook = args.ansible_venv / "bin" / "ansible-playbook"
    if playbook.exists():
        argv = [str(playbook), "--syntax-check", "-i", "hosts", site.name]
        result["ansible_syntax_check"] = figures(
            [run(argv, cwd=folder, env=env) for _ in range(args.repeat)]
        )
    else:
        result["ansible_syntax_check"] = f"not measured: {playbook} not found"
    lint = next((v / "bin" / "ansible-lint" for v in args.lint_venv if v.exists()), None)
    if lint is not None:
        argv = [str(lint), "--offline", "-q", site.name]
        result["ansible_lint"] = figures(
            [run(argv, cwd=folder, env=env) for _ in range(max(1, args.repeat // 2))]
        )
    else:
        result["ansible_lint"] = "not measured: no ansible-lint venv (see --lint-venv)"
    return result


def curve(sizes: list[int], folder: Path) -> list[dict[str, float]]:
    """CPU per task of a cold check of one N-task playbook, and of an empty one to subtract."""
    points: list[dict[str, float]] = []
    env = {"XDG_CACHE_HOME": str(folder / "cache")}
    empty = folder / "empty.yml"
    empty.write_text(generate(5))
    _, base = min(run([playgraph_bin(), "check", "--no-cache", str(empty)], cwd=folder, env=env)
                  for _ in range(3))  # fmt: skip
    for size in sizes:
        playbook = folder / f"big{size}.yml"
        playbook.write_text(generate(size))
        repeat = 3 if size <= 16_000 else 1
        wall, cpu = min(
            run([playgraph_bin(), "check", "--no-cache", str(playbook)], cwd=folder, env=env)
            for _ in range(repeat)
        )
        points.append(
            {
                "tasks": size,
                "wall": wall,
                "cpu": cpu,
                "cpu_us_per_task": (cpu - base) / size * 1e6,
            }
        )
        print(f"  {size:6d} tasks: {cpu:7.2f} s CPU, {points[-1]['cpu_us_per_task']:6.0f} us/task",
              flush=True)  # fmt: skip
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--roles", type=int, default=20)
    parser.add_argument("--tasks-per-role", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--curve", default="2000,4000,8000,16000,32000,64000")
    parser.add_argument("--ansible-venv", type=Path, default=DEFAULT_ORACLE)
    parser.add_argument("--lint-venv", type=Path, action="append", default=list(_LINT_VENVS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = side_by_side(args, Path(folder))
    for name in ("playgraph_cold", "playgraph_warm", "playgraph_one_file_edited",
                 "playgraph_template_edited", "ansible_syntax_check",
                 "ansible_lint"):  # fmt: skip
        value = result[name]
        if isinstance(value, dict):
            print(
                f"{name:28s} wall {value['wall_median']:7.3f} s  cpu {value['cpu_median']:7.3f} s"
            )
        else:
            print(f"{name:28s} {value}")
    print(f"edited / warm: {result['edited_over_warm_cpu']:.1f}x CPU, "
          f"{result['edited_over_warm_wall']:.1f}x wall")  # fmt: skip
    print(f"edited-template / warm: {result['template_edited_over_warm_cpu']:.1f}x CPU, "
          f"{result['template_edited_over_warm_wall']:.1f}x wall")  # fmt: skip
    sizes = [int(n) for n in args.curve.split(",") if n.strip()]
    with tempfile.TemporaryDirectory() as folder:
        result["per_task_curve"] = curve(sizes, Path(folder))
    result["machine"] = {"cpus": os.cpu_count(), "load_average_1m": os.getloadavg()[0]}
    date = datetime.date.today().isoformat()
    out = ROOT / "bench" / "results" / f"check-incremental-{date}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
