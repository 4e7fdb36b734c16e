"""``--num-processes N``: re-run this evaluation as N data-parallel processes with ``torch.distributed.run``.

Each worker is ``python -m ffr_eval --config <out>/launch.yaml`` (the user's settings), and reads its rank
from the launcher's environment through accelerate's ``PartialState`` — exactly as under ``accelerate launch -m
ffr_eval ...``. Rendezvous is on 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from ffr_data.errors import FFRError
from ffr_eval.config import EvalConfig

LAUNCH_FILE = "launch.yaml"
WORKER_ENV = "FFR_EVAL_WORKER"  # set for workers started here: the launching process prints the summary


def under_launcher() -> bool:
    return "WORLD_SIZE" in os.environ or "LOCAL_RANK" in os.environ


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def worker_command(config_file: Path, num_processes: int, port: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={num_processes}", "--nnodes=1",
            "--master_addr=127.0.0.1", f"--master_port={port}", "-m", "ffr_eval", "--config", str(config_file)]


def launch(cfg: EvalConfig, given: dict[str, Any]) -> None:
    """Write what the user gave (``--config`` merged with every override) to ``<out>/launch.yaml`` — so workers
    resolve exactly as this process did, benchmark defaults included — and run the workers; raise if any fails."""
    out = Path(str(cfg.out))
    out.mkdir(parents=True, exist_ok=True)
    config_file = out / LAUNCH_FILE
    config_file.write_text(yaml.safe_dump({**given, "num_processes": 1}, sort_keys=False))
    env = {**os.environ, WORKER_ENV: "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1)
                                                                                         // cfg.num_processes)))}
    result = subprocess.run(worker_command(config_file, cfg.num_processes, _free_port()), env=env, check=False)
    if result.returncode != 0:
        raise FFRError(f"ffr eval: a worker process failed (exit {result.returncode}); rerun the same command to "
                       "resume (finished samples are kept)")
