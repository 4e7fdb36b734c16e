"""Run logs: metrics.jsonl (always), the configured experiment trackers (through accelerate), and rollouts.jsonl
(sampled slots with their patches)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ffr_data.errors import ConfigError

log = logging.getLogger(__name__)


def check_trackers(names: Sequence[str]) -> None:
    """Every tracker asked for exists in accelerate and is installed: a missing one is an error, not a silent skip."""
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS
    from accelerate.utils import imports

    for name in names:
        if name not in LOGGER_TYPE_TO_CLASS:
            raise ConfigError(f"logging.trackers: unknown tracker '{name}' (known: {', '.join(LOGGER_TYPE_TO_CLASS)})")
        available = getattr(imports, f"is_{name}_available", None)
        if available is not None and not available():
            raise ConfigError(f"logging.trackers: '{name}' is not installed (pip install {name.replace('_', '-')})")


def headline(metrics: dict[str, float]) -> str:
    """What the progress bar shows after a step: reward, first-pass accuracy and, when the teacher was called, the
    intervention ratio."""
    parts = [f"R {metrics.get('reward/total', 0):.2f}", f"acc {metrics.get('acc/first_pass', 0):.2f}"]
    if metrics.get("teacher/calls"):
        parts.append(f"repair {metrics.get('intervention_ratio', 0):.2f}")
    return " ".join(parts)


class RunLogger:
    def __init__(self, run_dir: Path, accelerator, *, project: str = "ffr", config: dict[str, Any] | None = None,
                 trackers: Sequence[str] = (), enabled: bool = True):
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.accelerator = accelerator if trackers else None
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self.rollouts_path = self.run_dir / "rollouts.jsonl"
        if self.accelerator is not None:
            init = {"wandb": {"name": self.run_dir.name, "dir": str(self.run_dir)},
                    "trackio": {"name": self.run_dir.name}}
            accelerator.init_trackers(project, config=_flat(config or {}),
                                      init_kwargs={k: v for k, v in init.items() if k in trackers})

    def metrics(self, step: int, values: dict[str, Any]) -> None:
        if self.accelerator is not None:  # accelerate logs from the main process only; every rank may call it
            self.accelerator.log({k: v for k, v in values.items() if isinstance(v, int | float)}, step=step)
        if not self.enabled:
            return
        with self.metrics_path.open("a") as fh:
            fh.write(json.dumps({"step": step, **values}) + "\n")

    def rollouts(self, step: int, rows: list[dict[str, Any]]) -> None:
        if not self.enabled:
            return
        with self.rollouts_path.open("a") as fh:
            for row in rows:
                fh.write(json.dumps({"step": step, **row}, ensure_ascii=False) + "\n")

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after ``step`` (a resumed run re-logs them)."""
        if not self.enabled:
            return
        for path in (self.metrics_path, self.rollouts_path):
            if not path.is_file():
                continue
            rows = [line for line in path.read_text().splitlines() if line and json.loads(line).get("step", 0) <= step]
            path.write_text("".join(r + "\n" for r in rows))

    def close(self) -> None:
        if self.accelerator is not None:
            self.accelerator.end_training()


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config as flat dotted keys with scalar values (what every tracker accepts as hyperparameters)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value if isinstance(value, int | float | str | bool) else json.dumps(value)
    return out
