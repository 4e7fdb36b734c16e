"""The one-process distributed rendezvous FFR sets up for DeepSpeed when no launcher did (RANK, MASTER_PORT, …), and
the rule that keeps it from leaking: it belongs to the process that made it. Child processes inherit the variables,
but the port is the parent's, so a child's own process group would fail to listen on it."""

from __future__ import annotations

import os

OWNER = "FFR_SINGLE_PROCESS_RENDEZVOUS"
VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", OWNER)


def drop_inherited_rendezvous() -> None:
    """Forget a one-process rendezvous inherited from a parent process (one launched by torchrun or accelerate, which
    FFR did not make, is kept)."""
    owner = os.environ.get(OWNER)
    if owner is not None and owner != str(os.getpid()):
        for key in VARIABLES:
            os.environ.pop(key, None)
