"""Old-style, WANT_JSON and binary modules: the pieces ansible-core's action layer decides.

End to end (side by side with ansible-core) they are the differential case
``mod_script_styles``; here, what that case cannot vary on one machine.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from playgraph.runtime.ansible_modules import script as sc
from playgraph.runtime.modules.base import ModuleFailure


def _script(data: bytes, style: str = "old") -> sc.Script:
    return sc.Script("ns.coll.thing", style, data)


def test_the_interpreter_line_is_overridden_as_ansible_core_does() -> None:
    bash = _script(b"#!/bin/bash -e\necho\n")
    assert sc.interpreter(bash, {}, "/usr/bin/python3") == ["/bin/bash", "-e"]
    assert sc.interpreter(bash, {"ansible_bash_interpreter": "/opt/bash"}, "py") == [
        "/opt/bash",
        "-e",
    ]
    # Only a plain "python" is the host's Python; python3 is a name like any other.
    assert sc.interpreter(_script(b"#!/usr/bin/python\n"), {}, "/opt/py") == ["/opt/py"]
    assert sc.interpreter(_script(b"#!/usr/bin/python3\n"), {}, "/opt/py") == ["/usr/bin/python3"]
    assert sc.interpreter(_script(b"#!/usr/bin/env perl\n"), {}, "py") == ["/usr/bin/env", "perl"]
    assert sc.interpreter(_script(b"\x7fELF", "binary"), {}, "py") == []
    with pytest.raises(ModuleFailure, match=r"module \(thing\) is missing interpreter line"):
        sc.interpreter(_script(b"echo hi\n"), {}, "py")


def test_old_style_arguments_are_shell_quoted_pairs_and_the_rest_json() -> None:
    args = {"name": "a b'c", "count": 3, "flag": True}
    text = sc.arguments_file(_script(b"#!/bin/sh\n"), args).decode()
    assert text == "name='a b'\"'\"'c' count=3 flag=True "
    assert dict(pair.split("=", 1) for pair in shlex.split(text)) == {
        "name": "a b'c",
        "count": "3",
        "flag": "True",
    }
    wanted = sc.arguments_file(_script(b"#!/bin/sh\n", "non_native_want_json"), args)
    assert wanted == b'{"name": "a b\'c", "count": 3, "flag": true}'


def test_the_command_runs_the_module_with_its_arguments_file_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    module = _script(
        b'#!/bin/sh\necho "{\\"args\\": \\"$(cat "$1")\\", \\"dir\\": \\"$(dirname "$0")\\"}"\nexit 3\n'
    )
    done = subprocess.run(
        sc.command(module, {}, "py"),
        input=sc.stdin(module, {"k": "v"}),
        capture_output=True,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=30,
    )
    assert done.returncode == 3, done.stderr
    out = done.stdout.decode()
    assert '"args": "k=v "' in out
    folder = out.split('"dir": "')[1].split('"')[0]
    assert folder.startswith(f"{tmp_path}/.ansible/tmp/ansible-tmp-")
    assert list((tmp_path / ".ansible" / "tmp").iterdir()) == []
