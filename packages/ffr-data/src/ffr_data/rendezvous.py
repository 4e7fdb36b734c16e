"""The one-process distributed rendezvous FFR sets up for DeepSpeed when no launcher did (RANK, MASTER_PORT, …), and
the rule that keeps it from leaking: it belongs to the process that made it. Child processes inherit the variables,
but the port is the parent's, so a child's own process group would fail to listen on it."""

from __future__ import annotations

import os

OWNER = "FFR_SINGLE_PROCESS_RENDEZVOUS"
VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", OWNER)


def mark_own(port: int) -> dict[str, str]:
    """The variables of a one-process rendezvous made by this process on ``port``."""
    return {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
            OWNER: f"{os.getpid()}:{port}"}


def drop_inherited_rendezvous() -> None:
    """Forget a one-process rendezvous inherited from a parent process. When a launcher (torchrun, accelerate) has
    since set its own rendezvous (another port), only the stale marker goes and the launcher's variables stay."""
    owner = os.environ.get(OWNER)
    if owner is None:
        return
    pid, _, port = owner.partition(":")
    if pid == str(os.getpid()):
        return
    stale = VARIABLES if os.environ.get("MASTER_PORT") == port else (OWNER,)
    for key in stale:
        os.environ.pop(key, None)
