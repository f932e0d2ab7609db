"""``playgraph jobs``: list, status, kill and cleanup against real jobs of a real supervisor."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pytest

from playgraph.cli.jobs import parse_duration, split_words
from tests.test_adhoc import (  # noqa: F401 - async_dir is a fixture
    async_dir,
    blocks,
    inventory,
    playgraph,
    processes_with_argv,
)


def test_durations_and_word_splitting() -> None:
    assert parse_duration("90") == 90
    assert parse_duration("30s") == 30
    assert parse_duration("1h30m") == 5400
    assert parse_duration("2d") == 172800
    for bad in ("", "soon", "5x", "-3", "h"):
        with pytest.raises(argparse.ArgumentTypeError, match="not a duration"):
            parse_duration(bad)
    assert split_words(["j1.2"]) == (["j1.2"], "localhost")
    assert split_words(["j1.2", "j3.4"]) == (["j1.2", "j3.4"], "localhost")
    assert split_words(["j1.2", "web:!db"]) == (["j1.2"], "web:!db")
    assert split_words(["488359678239.2844", "h1"]) == (["488359678239.2844"], "h1")


def _record(text: str) -> dict[str, object]:
    data = json.loads(text.split(" => ", 1)[1])
    assert isinstance(data, dict)
    return data


def test_kill_list_status_cleanup(tmp_path: Path, async_dir: str) -> None:  # noqa: F811
    marker = tmp_path / "MARKER"
    # Three local hosts sharing one async dir, each starting its own kind of job.
    inv = inventory(
        tmp_path,
        async_dir,
        [
            f"victim ansible_connection=local cmd=\"sh -c 'sleep 5; touch {marker}'\"",
            "sleeper ansible_connection=local cmd='sleep 60'",
            "quick ansible_connection=local cmd=true",
        ],
    )
    launched_at = time.monotonic()
    launch = playgraph("adhoc", "all", "-i", inv, "-B", "3600", "-P", "0", "-a", "{{ cmd }}")
    assert launch.returncode == 0, launch.stderr
    jids = {
        host: str(_record(text)["ansible_job_id"]) for host, text in blocks(launch.stdout).items()
    }
    assert sorted(jids) == ["quick", "sleeper", "victim"]

    kill = playgraph("jobs", "kill", jids["victim"], "victim", "-i", inv)
    assert kill.returncode == 0, kill.stderr
    assert kill.stdout.startswith("victim | CHANGED => {\n")
    killed = _record(kill.stdout)
    assert killed["killed"] is True and killed["ansible_job_id"] == jids["victim"]
    assert killed["msg"] == "killed by playgraph jobs kill"

    again = playgraph("jobs", "kill", jids["victim"], "j1.2", "victim", "-i", inv)
    assert again.returncode == 2  # the unknown jid fails, as async_status would
    assert "the job had already ended" in again.stdout and "could not find job" in again.stdout

    listing = playgraph("jobs", "list", "victim", "-i", inv, "--json")
    assert listing.returncode == 0, listing.stderr
    states = {j["jid"]: j for j in json.loads(listing.stdout)["hosts"]["victim"]["jobs"]}
    assert states[jids["victim"]]["state"] == "killed"
    assert states[jids["sleeper"]]["state"] == "running"
    assert states[jids["sleeper"]]["limit"] == 3600
    assert states[jids["sleeper"]]["age"] >= 0
    assert states[jids["sleeper"]]["cmd"] == ["sleep", "60"]

    # The implicit localhost, its async dir from -e: the same jobs, as a table.
    table = playgraph("jobs", "list", "-e", f"ansible_async_dir={async_dir}")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["HOST", "JID", "STATE", "STARTED", "LIMIT", "AGE", "COMMAND"]
    rows = {line.split()[1]: line.split() for line in lines[1:]}
    assert rows[jids["victim"]][0] == "localhost" and rows[jids["victim"]][2] == "killed"
    assert rows[jids["sleeper"]][2] == "running" and rows[jids["sleeper"]][5] == "1h00m"
    assert rows[jids["sleeper"]][-2:] == ["sleep", "60"]

    # `jobs status` is `-m async_status`: the same output, the same exit code.
    status = playgraph("jobs", "status", jids["victim"], "victim", "-i", inv)
    adhoc = playgraph(
        "adhoc", "victim", "-i", inv, "-m", "async_status", "-a", f"jid={jids['victim']}"
    )
    assert status.stdout == adhoc.stdout and status.returncode == adhoc.returncode == 2
    assert status.stdout.startswith("victim | FAILED! => {\n")

    young = playgraph("jobs", "cleanup", "--older-than", "1h", "victim", "-i", inv, "--json")
    assert young.returncode == 0, young.stderr
    assert json.loads(young.stdout)["hosts"]["victim"]["erased"] == []

    quick_file = Path(async_dir) / jids["quick"]
    deadline = time.monotonic() + 20
    while '"started"' in quick_file.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)  # test code: until the quick job has ended
    cleanup = playgraph("jobs", "cleanup", "victim", "-i", inv)
    assert cleanup.returncode == 0, cleanup.stderr
    assert cleanup.stdout.startswith("victim | CHANGED => {\n")
    result = _record(cleanup.stdout)
    erased, kept = result["erased"], result["kept"]
    assert isinstance(erased, list) and isinstance(kept, list)
    assert jids["victim"] in erased and jids["quick"] in erased
    assert jids["sleeper"] in kept and jids["sleeper"] not in erased
    assert not (Path(async_dir) / jids["victim"]).exists()
    assert (Path(async_dir) / jids["sleeper"]).exists()
    sleeper = json.loads((Path(async_dir) / jids["sleeper"]).read_text())
    assert sleeper == {"started": True, "finished": False, "ansible_job_id": jids["sleeper"]}

    # The killed job's process group is gone (the kill answered once it was), so its
    # marker never appears: checked past the time it would have been written.
    assert processes_with_argv(["sh", "-c", f"sleep 5; touch {marker}"]) == []
    remaining = 5.5 - (time.monotonic() - launched_at)
    if remaining > 0:
        time.sleep(remaining)
    assert not marker.exists()


def test_bad_options(tmp_path: Path, async_dir: str) -> None:  # noqa: F811
    bad = playgraph("jobs", "cleanup", "--older-than", "soon")
    assert bad.returncode == 5 and "not a duration" in bad.stderr
    missing = playgraph("jobs", "kill")
    assert missing.returncode == 5
    unknown = playgraph("jobs", "status", "j1.2", "-e", f"ansible_async_dir={async_dir}", "-o")
    assert unknown.returncode == 2
    assert unknown.stdout.startswith('localhost | FAILED! => {"ansible_job_id": "j1.2",')
    assert '"msg": "could not find job"' in unknown.stdout
    assert os.path.isdir(async_dir)
