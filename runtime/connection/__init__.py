"""Connections: the one effects boundary toward targets.

`base` holds the protocol; `local` and `ssh` implement it, sharing what a POSIX
target needs alike (`posix`) and the job half (`supervised`).  The SSH side is
split by concern: `ssh_options` (what to connect to), `ssh_known_hosts` (whom to
trust), `ssh_pool` (the shared SSH connections), `remote_scripts` (the shell
text sent) and `status_batch` (status polls coalesced per supervisor).
"""

import warnings

from ..jobspec import JobSpec
from .base import CommandResult, Connection, TargetUnreachable

# asyncssh still names cryptography's DSA classes, and newer cryptography warns
# about that at import: noise on every run's stderr (and in `--json` output piped
# with it) that says nothing about the user's play.
warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"asyncssh(\.|$)")

__all__ = ["CommandResult", "Connection", "JobSpec", "TargetUnreachable"]
