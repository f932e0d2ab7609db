"""``wait_for``: wait on the target for a port or a path (supports ``async``).

The waiting happens in the ``wait_for`` target program, on the target, as with
ansible-core: ``host: 127.0.0.1`` means the target's own loopback.
"""

from __future__ import annotations

from typing import ClassVar

from .args import Param, Spec
from .remote import ProgramModule

WAIT_FOR_SPEC = Spec(
    module="wait_for",
    params={
        "host": Param(default="127.0.0.1"),
        "timeout": Param(type="int", default=300),
        "connect_timeout": Param(type="int", default=5),
        "delay": Param(type="int", default=0),
        "port": Param(type="int"),
        "active_connection_states": Param(
            type="list",
            elements="str",
            default=["ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "SYN_RECV", "SYN_SENT", "TIME_WAIT"],
        ),
        "path": Param(type="path"),
        "search_regex": Param(),
        "state": Param(
            default="started", choices=("absent", "drained", "present", "started", "stopped")
        ),
        "exclude_hosts": Param(type="list", elements="str"),
        "sleep": Param(type="int", default=1),
        "msg": Param(),
    },
)


class WaitForModule(ProgramModule):
    """``wait_for``: ``elapsed``, ``match_groups``; ``Timeout when waiting for …`` on timeout."""

    names: ClassVar[tuple[str, ...]] = ("wait_for",)
    spec: ClassVar[Spec] = WAIT_FOR_SPEC
    program: ClassVar[str] = "wait_for"
    check_mode: ClassVar[bool] = False
