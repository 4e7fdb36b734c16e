"""Training data: load and validate rows (report-and-skip with counts), resolve video paths, and a stateless,
seeded data order (item at global position k depends only on seed and k, so a resumed run sees the same data)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from ffr_data.errors import FFRError
from ffr_data.schema import Sample, load_samples, resolve_video

log = logging.getLogger(__name__)


def resolve_path(sample: Sample, root: Path) -> Sample:
    try:
        return dataclasses.replace(sample, path=str(resolve_video(sample.path, root)))
    except ValueError as exc:
        raise FFRError(f"{sample.problem_id}: {exc}") from None


def load_split(path: str | Path, video_root: str | None = None, limit: int | None = None) -> tuple[list[Sample], int]:
    """Valid samples with absolute video paths, and the number of rows dropped (each logged with file/row/field)."""
    path = Path(path)
    result = load_samples(path)
    for error in result.errors:
        log.warning("dropped row: %s", error)
    root = Path(video_root) if video_root else path.parent
    samples = [resolve_path(s, root) for s in result.samples]
    if not samples:
        raise FFRError(f"{path}: no valid rows ({len(result.errors)} dropped)")
    return (samples[:limit] if limit else samples), len(result.errors)


def data_order(n: int, seed: int, start: int, count: int) -> list[int]:
    """Indices of items at global positions start..start+count-1 of an endless sequence of seeded permutations."""
    out = []
    for position in range(start, start + count):
        epoch, offset = divmod(position, n)
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        out.append(int(perm[offset]))
    return out
