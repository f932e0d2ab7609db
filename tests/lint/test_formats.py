"""`playgraph check` end to end: output formats, `# noqa`, the configuration file, exit codes."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from playgraph.compiler.lint import load_config

from playgraph.cli import main
from tests.conftest import ROOT

Write = Callable[[str, str | bytes], str]

SCHEMA = ROOT / ".cache" / "sarif-schema-2.1.0.json"

CONFLICT = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: launch
      ansible.builtin.apt:
        name: nginx
      async: 600
      poll: 0
      register: job
    - name: next  # noqa: {noqa}
      ansible.builtin.apt:
        name: curl
    - name: quiet
      ansible.builtin.command: /bin/true
      poll: 0
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def site(write: Write, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A playbook with one lock conflict (error), one unjoined launch and one ignored poll."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    write("site.yml", CONFLICT.format(noqa="nothing-here"))
    return "site.yml"


# --------------------------------------------------------------------------- formats


def test_pep8_lines_and_exit_code(capsys: pytest.CaptureFixture[str], site: str) -> None:
    code, out, err = run(capsys, site)
    assert code == 2
    lines = out.splitlines()
    assert lines[0].startswith("site.yml:4:7: async-unjoined: ")
    assert lines[1].startswith("site.yml:10:7: async-lock-conflict: 'next' needs the lock pkg:dpkg")
    assert lines[2].startswith("site.yml:13:7: async-poll-ignored: ")
    assert "1 error(s), 2 warning(s)" in err


def test_sarif_validates_against_the_schema(
    capsys: pytest.CaptureFixture[str], site: str, tmp_path: Path
) -> None:
    assert SCHEMA.is_file(), (
        f"{SCHEMA} is missing: run scripts/test (it fetches the SARIF 2.1.0 schema from the npm "
        "package @microsoft/jest-sarif@1.0.0-beta.0 into .cache/)"
    )
    schema = json.loads(SCHEMA.read_text())
    code, out, _ = run(capsys, "-f", "sarif", "--sarif-file", "also.sarif", site)
    assert code == 2
    document = json.loads(out)
    validator = jsonschema.validators.validator_for(schema)(schema)
    validator.validate(document)
    assert json.loads((tmp_path / "also.sarif").read_text()) == document
    results = document["runs"][0]["results"]
    conflict = next(r for r in results if r["ruleId"] == "async-lock-conflict")
    assert conflict["level"] == "error"
    assert conflict["locations"][0]["physicalLocation"]["region"]["startLine"] == 10
    assert conflict["relatedLocations"][0]["physicalLocation"]["region"]["startLine"] == 4
    rules = {r["id"]: r for r in document["runs"][0]["tool"]["driver"]["rules"]}
    assert (
        "Do not specify a poll value of 0"
        in rules["async-lock-conflict"]["fullDescription"]["text"]
    )


def test_codeclimate_shape(capsys: pytest.CaptureFixture[str], site: str) -> None:
    code, out, _ = run(capsys, "-f", "codeclimate", site)
    assert code == 2
    issues = json.loads(out)
    assert [i["check_name"] for i in issues] == [
        "async-unjoined",
        "async-lock-conflict",
        "async-poll-ignored",
    ]
    for issue in issues:
        assert set(issue) >= {
            "type",
            "check_name",
            "description",
            "fingerprint",
            "severity",
            "location",
        }
        assert issue["type"] == "issue"
        assert issue["location"]["path"] == "site.yml"
        assert isinstance(issue["location"]["positions"]["begin"]["line"], int)
    assert [i["severity"] for i in issues] == ["minor", "major", "minor"]
    assert len({i["fingerprint"] for i in issues}) == 3


def test_github_annotations_under_actions(
    capsys: pytest.CaptureFixture[str], site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    code, out, _ = run(capsys, site)
    assert code == 2
    lines = out.splitlines()
    assert any(line.startswith("site.yml:10:7: async-lock-conflict:") for line in lines)
    annotation = next(line for line in lines if line.startswith("::error "))
    assert annotation.startswith(
        "::error file=site.yml,line=10,col=7,severity=error,title=async-lock-conflict::"
    )
    assert sum(line.startswith("::warning ") for line in lines) == 2


# --------------------------------------------------------------------------- noqa


@pytest.mark.parametrize(
    "noqa",
    [
        "async-lock-conflict",
        "async-lock-conflict[self] async-lock-conflict",
        "x, async-lock-conflict",
    ],
)
def test_noqa_by_id(capsys: pytest.CaptureFixture[str], write: Write, site: str, noqa: str) -> None:
    write("site.yml", CONFLICT.format(noqa=noqa))
    code, out, _ = run(capsys, site)
    assert code == 0  # only warnings remain
    assert "async-lock-conflict" not in out
    assert "async-unjoined" in out and "async-poll-ignored" in out


def test_noqa_of_another_id_keeps_the_finding(
    capsys: pytest.CaptureFixture[str], write: Write, site: str
) -> None:
    write("site.yml", CONFLICT.format(noqa="async-lock-conflict[self]"))
    code, out, _ = run(capsys, site)
    assert code == 2 and "async-lock-conflict:" in out


def test_bare_noqa_and_noqa_on_another_line_of_the_task(
    capsys: pytest.CaptureFixture[str], write: Write, site: str
) -> None:
    text = CONFLICT.format(noqa="x").replace("name: curl", "name: curl  # noqa")
    write("site.yml", text)
    code, out, _ = run(capsys, site)
    assert code == 0 and "async-lock-conflict" not in out


def test_rule_name_in_noqa_matches_its_sub_ids(
    capsys: pytest.CaptureFixture[str],
    write: Write,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    write(
        "p.yml",
        "- hosts: all\n  tasks:\n    - import_tasks: t.yml\n"
        "      async: 10  # noqa: async-unsupported\n",
    )
    write("t.yml", "- command: /bin/true\n")
    code, out, _ = run(capsys, "p.yml")
    assert code == 0 and out == ""


def test_syntax_errors_cannot_be_silenced(
    capsys: pytest.CaptureFixture[str],
    write: Write,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    write("p.yml", "- hosts: all\n  tasks:\n    - command: '{{ x'  # noqa\n")
    code, out, _ = run(capsys, "p.yml")
    assert code == 2 and "syntax[" in out


# --------------------------------------------------------------------------- configuration


def test_config_in_current_directory_skips_and_warns(
    capsys: pytest.CaptureFixture[str], write: Write, site: str
) -> None:
    write(".playgraph.yml", "skip_list: [async-unjoined]\nwarn_list: [async-lock-conflict]\n")
    code, out, err = run(capsys, site)
    assert code == 0
    assert "async-unjoined" not in out
    assert "site.yml:10:7: async-lock-conflict:" in out
    assert "0 error(s), 2 warning(s)" in err


def test_config_in_the_playbook_directory(
    capsys: pytest.CaptureFixture[str], write: Write, site: str, tmp_path: Path
) -> None:
    write("proj/site.yml", CONFLICT.format(noqa="x"))
    write("proj/.playgraph.yml", "skip_list: [async-lock-conflict]\n")
    code, out, _ = run(capsys, "proj/site.yml")
    assert code == 0 and "async-lock-conflict" not in out
    # The current directory's file wins over the playbook's.
    write(".playgraph.yml", "skip_list: [async-poll-ignored]\n")
    code, out, _ = run(capsys, "proj/site.yml")
    assert code == 2 and "async-lock-conflict" in out and "async-poll-ignored" not in out


def test_config_named_with_c(capsys: pytest.CaptureFixture[str], write: Write, site: str) -> None:
    write("lint.yml", "skip_list: [async-lock-conflict, async-poll-ignored]\n")
    code, out, _ = run(capsys, "-c", "lint.yml", site)
    assert code == 0 and out.splitlines()[0].startswith("site.yml:4:7: async-unjoined")
    code, _, err = run(capsys, "--config", "missing.yml", site)
    assert code == 5 and err.strip() == (
        "playgraph: error: the configuration file missing.yml does not exist"
    )


def test_config_errors_are_findings_with_positions(
    capsys: pytest.CaptureFixture[str], write: Write, site: str
) -> None:
    write(
        ".playgraph.yml",
        "skip_list:\n  - async-unjoind\n  - syntax\nwarnlist: []\nlocks:\n  db: 'command:x'\n"
        "  app: ['command:(', community.mysql.mysql_dbb]\n",
    )
    code, out, _ = run(capsys, site)
    assert code == 2
    lines = [line for line in out.splitlines() if line.startswith(".playgraph.yml")]
    assert lines[0] == (
        ".playgraph.yml:2:5: config[unknown-rule]: 'async-unjoind' in skip_list is not a "
        "diagnostic id; did you mean `async-unjoined`?"
    )
    assert lines[1].startswith(
        ".playgraph.yml:3:5: config[unknown-rule]: 'syntax' cannot be listed"
    )
    assert lines[2] == (
        ".playgraph.yml:4:1: config[unknown-key]: 'warnlist' is not a configuration key "
        "(skip_list, warn_list, locks, mock_roles, mock_modules); did you mean `warn_list`?"
    )
    assert lines[3].startswith(".playgraph.yml:6:7: config[bad-value]: 'locks.db' must be a list")
    assert lines[4].startswith(".playgraph.yml:7:9: config[bad-value]: lock 'app': the pattern '('")
    assert lines[5].startswith(
        ".playgraph.yml:7:22: config[unknown-module]: no module 'community.mysql.mysql_dbb'"
    )
    assert "did you mean `community.mysql.mysql_db`?" in lines[5]


def test_config_locks_feed_the_compiler(
    capsys: pytest.CaptureFixture[str],
    write: Write,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    write(
        "p.yml",
        "- hosts: all\n  tasks:\n"
        "    - command: /opt/migrate up\n      async: 60\n      poll: 0\n      register: j\n"
        "    - command: /opt/migrate down\n"
        "    - async_status: jid={{ j.ansible_job_id }}\n      register: s\n"
        "      until: s is finished\n      retries: 20\n",
    )
    code, out, _ = run(capsys, "p.yml")
    assert code == 0 and out == ""
    write(".playgraph.yml", "locks:\n  migrations: ['command:^/opt/migrate']\n")
    code, out, _ = run(capsys, "p.yml")
    assert code == 2 and "p.yml:7:7: async-lock-conflict:" in out and "migrations" in out


def test_load_config_defaults_and_search(write: Write, tmp_path: Path) -> None:
    assert load_config(None, [str(tmp_path)]).path is None
    path = write("b/.playgraph.yml", "")
    config = load_config(None, [str(tmp_path / "a"), str(tmp_path / "b")])
    assert config.path == path and config.skip_list == () and config.diagnostics == ()


# --------------------------------------------------------------------------- inventory


def test_inventory_option(
    capsys: pytest.CaptureFixture[str],
    write: Write,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    write(
        "p.yml",
        "- hosts: web\n  tasks:\n"
        "    - apt: name=a\n      async: 60\n      poll: 0\n      register: j\n"
        "- hosts: db\n  tasks:\n    - apt: name=b\n"
        "- hosts: web\n  tasks:\n"
        "    - async_status: jid={{ j.ansible_job_id }}\n      register: s\n"
        "      until: s is finished\n      retries: 20\n",
    )
    assert run(capsys, "p.yml")[0] == 0
    write("hosts.ini", "[web]\nn1\nn2\n[db]\nn2\n")
    code, out, _ = run(capsys, "-i", "hosts.ini", "p.yml")
    assert code == 2 and "p.yml:9:7: async-lock-conflict:" in out
    write("other.ini", "[web]\nn1\n[db]\nn3\n")
    assert run(capsys, "-i", "other.ini", "p.yml")[0] == 0
    code, out, err = run(capsys, "-i", "nowhere.ini", "p.yml")
    assert code == 5 and out == ""
    assert err == "playgraph: error: bad inventory: nowhere.ini: inventory source not found\n"
    assert os.path.exists("p.yml")
