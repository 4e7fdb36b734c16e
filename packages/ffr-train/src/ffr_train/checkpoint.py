"""Atomic, verified, resumable checkpoints, and the run directory's ownership.

``checkpoints/step-NNNNNN`` holds accelerate's state (model, optimizer, RNG of every process; a DeepSpeed engine
checkpoint under DeepSpeed), ``trainer_state.json`` and ``manifest.json`` (every file's size). A checkpoint is
written to ``*.tmp`` and renamed when complete, so a crash mid-save never leaves one that looks valid; a file
truncated or deleted afterwards is found by the manifest before anything is loaded.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from ffr_data.errors import FFRError

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"
MANIFEST = "manifest.json"
# What a run writes into its directory; a new run refuses a directory holding any of it (unless told to overwrite).
RUN_FILES = ("config.json", "versions.json", "metrics.jsonl", "rollouts.jsonl", "summary.json", "checkpoints",
             "final", "teacher_cache")


class CheckpointError(FFRError):
    """A checkpoint or run file that cannot be resumed from; the message names the file and what is wrong."""


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step-{step:06d}"


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """Finished checkpoints (renamed from ``.tmp``, with their trainer state), oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.endswith(".tmp") and (p / STATE_FILE).exists())


def latest_checkpoint(run_dir: Path) -> Path | None:
    done = complete_checkpoints(run_dir)
    return done[-1] if done else None


def _manifest(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


def checkpoint_problem(path: Path) -> str | None:
    """What is wrong with a checkpoint (a file missing, truncated, or unreadable state), or None when it is intact."""
    path = Path(path)
    try:
        expected = json.loads((path / MANIFEST).read_text())
        state = json.loads((path / STATE_FILE).read_text())
    except FileNotFoundError as exc:
        return f"{exc.filename}: missing"
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return f"{path}: {MANIFEST} or {STATE_FILE} is not valid JSON ({exc})"
    if not isinstance(expected, dict) or not isinstance(state, dict) or "step" not in state:
        return f"{path / STATE_FILE}: not a trainer state"
    for name, size in expected.items():
        file = path / name
        if not file.is_file():
            return f"{file}: missing"
        if file.stat().st_size != size:
            return f"{file}: {file.stat().st_size} bytes, {size} were written (truncated or replaced)"
    return None


def save_checkpoint(accelerator, run_dir: Path, step: int, state: dict[str, Any], keep_last: int) -> Path:
    final = checkpoint_dir(run_dir, step)
    tmp = final.with_name(final.name + ".tmp")
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / STATE_FILE).write_text(json.dumps({"step": step, **state}, indent=2))
        (tmp / MANIFEST).write_text(json.dumps(_manifest(tmp), indent=2))
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        for old in complete_checkpoints(run_dir)[:-keep_last]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def resumable_checkpoint(run_dir: Path) -> Path:
    """The latest checkpoint, verified; a damaged one is an error that names the file and the intact one to use."""
    done = complete_checkpoints(run_dir)
    if not done:
        raise CheckpointError(f"{run_dir}: --resume given but there is no complete checkpoint in it")
    problem = checkpoint_problem(done[-1])
    if problem is None:
        return done[-1]
    intact = next((p for p in reversed(done[:-1]) if checkpoint_problem(p) is None), None)
    advice = (f"the latest intact checkpoint is {intact.name}: delete {done[-1]} to resume from it" if intact
              else "no earlier checkpoint is intact")
    raise CheckpointError(f"cannot resume from {done[-1].name}: {problem}; {advice}")


def load_checkpoint(accelerator, path: Path) -> dict[str, Any]:
    try:
        accelerator.load_state(str(path))
    except Exception as exc:  # whatever the loader raises, the user needs the checkpoint named, not a traceback
        first = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path}: cannot load this checkpoint ({first})") from exc
    return json.loads((Path(path) / STATE_FILE).read_text())


def read_run_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "config.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing (the run's settings are needed to resume it)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: not a run config")
    return config


class RunDirectory:
    """A run directory claimed by one training process: a second ``ffr train`` into it is refused while this one
    runs (an advisory lock on ``.lock``), and a new run never writes over an earlier one unless asked to."""

    def __init__(self, path: Path, *, resume: bool, overwrite: bool):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.path / ".lock", "a+")  # noqa: SIM115 (held for the lifetime of the run)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.seek(0)
            holder = self._lock.read().strip() or "another process"
            self._lock.close()
            raise FFRError(f"{self.path}: in use by another training run ({holder})") from None
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(f"pid {os.getpid()}")
        self._lock.flush()
        existing = [name for name in RUN_FILES if (self.path / name).exists()]
        if existing and not resume:
            if not overwrite:
                self.close()
                raise FFRError(f"{self.path} already holds a run ({', '.join(existing)}): continue it with --resume, "
                               "or start over with --overwrite (which deletes those)")
            for name in existing:
                target = self.path / name
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            log.warning("%s: deleted the earlier run's %s (--overwrite)", self.path, ", ".join(existing))

    def close(self) -> None:
        if not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
