#!/usr/bin/env python3
"""playgraph target program: ``ping`` (stdlib only, Python 3.8+).

Proves that the target's interpreter runs a program and answers; ``data``
comes back as ``ping``.  ``data=crash`` raises, as ansible-core's ping does,
which exercises the crash path of every program.

Request on stdin: ``{"module", "args", "check_mode", "diff"}``; one JSON result on stdout.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any


def ping(args: dict[str, Any]) -> dict[str, Any]:
    data = args.get("data", "pong")
    if data == "crash":
        raise Exception("boom")
    return {"changed": False, "ping": data}


def main() -> None:
    req = json.loads(sys.stdin.buffer.read() or b"{}")
    try:
        result = ping(req.get("args") or {})
    except Exception as exc:
        # ansible-core 2.19 reports an exception escaping a module like this.
        result = {
            "changed": False,
            "failed": True,
            "msg": f"Task failed: Module failed: {exc}",
            "exception": traceback.format_exc(),
        }
    sys.stdout.write(json.dumps(result) + "\n")
    sys.exit(1 if result.get("failed") else 0)


if __name__ == "__main__":
    main()
