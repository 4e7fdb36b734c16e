"""Fixtures for evaluation tests: a tiny synth-format split with real videos, and native-format helpers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import write_video

QUADRANTS = ["top-left", "top-right", "bottom-left", "bottom-right"]


def flash_frames(quadrant: int, start: int, n: int = 16, size: int = 64) -> np.ndarray:
    """Dark noise with a red square flashing for 3 frames in one quadrant."""
    rng = np.random.default_rng(quadrant * 100 + start)
    frames = rng.integers(0, 20, (n, size, size, 3), dtype=np.uint8)
    y0 = 0 if quadrant < 2 else size // 2
    x0 = 0 if quadrant % 2 == 0 else size // 2
    frames[start:start + 3, y0 + 8:y0 + 24, x0 + 8:x0 + 24] = (230, 40, 40)
    return frames


def synth_rows(root: Path, count: int, prefix: str = "test") -> list[dict]:
    """Rows in the FFR schema (as `ffr data synth` writes them), with videos under ``root/videos``."""
    rows = []
    for k in range(count):
        quadrant, start = k % 4, 2 + (k * 3) % 10
        rel = f"videos/{prefix}-{k}.mp4"
        write_video(root / rel, flash_frames(quadrant, start))
        rows.append({
            "problem_id": f"{prefix}-{k}", "data_source": "synth", "path": rel, "data_type": "video",
            "problem_type": "multiple choice", "problem": "Where did the brief flash appear?",
            "options": [f"{'ABCD'[i]}. {q}" for i, q in enumerate(QUADRANTS)],
            "solution": f"<answer>{'ABCD'[quadrant]}</answer>",
            "evidence": {"windows": [[start / 8, (start + 3) / 8]]},
            "meta": {"family": ["location", "timing"][k % 2]},
        })
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """A 4-row synth-format test split: <root>/test.jsonl + <root>/videos/*.mp4."""
    root = tmp_path_factory.mktemp("synth")
    write_jsonl(root / "test.jsonl", synth_rows(root, 4))
    return root


@pytest.fixture(scope="session")
def noisy_student_dir(tiny_student_dir, tmp_path_factory) -> Path:
    """The tiny student with seeded noise added to every weight, saved again: its greedy answers then depend on the
    video (the untouched random student answers blank lines), which makes output comparisons meaningful."""
    import torch

    from ffr_data.models import load_vlm

    model, processor = load_vlm(tiny_student_dir)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.5)
    out = tmp_path_factory.mktemp("noisy") / "student"
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
