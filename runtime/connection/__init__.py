"""Connections: the one effects boundary toward targets (DESIGN.md §4)."""

from .base import CommandResult, Connection, ConnectionError, JobSpec

__all__ = ["CommandResult", "Connection", "ConnectionError", "JobSpec"]
