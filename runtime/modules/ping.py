"""``ping``: run the target program that answers ``pong`` — it proves the interpreter works."""

from __future__ import annotations

from typing import ClassVar

from .args import Param, Spec
from .remote import ProgramModule


class PingModule(ProgramModule):
    """``ping``: ``{"ping": data}`` from the target's Python; ``data=crash`` raises there."""

    names: ClassVar[tuple[str, ...]] = ("ping",)
    spec: ClassVar[Spec] = Spec(module="ping", params={"data": Param(default="pong")})
    program: ClassVar[str] = "ping"
