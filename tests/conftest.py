"""Shared fixtures: real video files and a tiny real-architecture student saved to disk."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINY_CORPUS = [
    "Which colour was the small shape? Options: A. red B. green C. blue D. yellow",
    "How many times did a shape flash? Options: A. 1 B. 2 C. 3 D. 4",
    "<think>a blue shape flashed in the top-right</think><answer>C</answer>",
    "Where did the brief flash appear? A. top-left B. top-right C. bottom-left D. bottom-right",
] * 20


def mcq_sample(pid, problem_type="multiple choice", answer="B", options=("x", "y", "z", "w"), **meta):
    """A parsed sample for scoring tests: a multiple-choice question (options A-D) or another problem type."""
    from ffr_data.schema import parse_sample

    row = {"problem_id": pid, "path": "v.mp4", "problem_type": problem_type, "problem": "Q?",
           "solution": f"<answer>{answer}</answer>", "meta": meta}
    if problem_type == "multiple choice":
        row["options"] = [f"{'ABCDE'[i]}. {o}" for i, o in enumerate(options)]
    return parse_sample(row)


def run_ffr(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run the ``ffr`` entry point in this process (as the console script does); (exit code, stdout, stderr)."""
    import sys

    from ffr_data import cli_root

    monkeypatch.setattr(sys, "argv", ["ffr", *args])
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as info:
        cli_root.main()
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def write_video(path: Path, frames: np.ndarray, fps: float = 8.0) -> Path:
    """Write (T, H, W, 3) RGB uint8 frames to an mp4v file with OpenCV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def index_pattern_frames(n: int = 32, size: int = 112) -> np.ndarray:
    """Frames whose mean brightness encodes their index, so decoded frames can be checked."""
    frames = np.zeros((n, size, size, 3), np.uint8)
    for i in range(n):
        frames[i] = int(4 + i * 240 / max(1, n - 1))
    return frames


@pytest.fixture(scope="session")
def video_path(tmp_path_factory) -> Path:
    """A 4 s, 8 fps, 112x112 mp4 whose frame i has brightness 4 + i*240/31."""
    return write_video(tmp_path_factory.mktemp("videos") / "pattern.mp4", index_pattern_frames())


def corrupt_frames(path: Path) -> Path:
    """Keep an mp4v file's container (header, index) intact and zero its first frames' data (bytes 40-1539): it
    opens and reports its frames, and decoding frame 0 fails."""
    data = bytearray(path.read_bytes())
    data[40:1540] = bytes(1500)
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="session")
def corrupt_video_path(tmp_path_factory) -> Path:
    """A 32-frame, 8 fps mp4v clip with its frame data destroyed (see corrupt_frames)."""
    return corrupt_frames(write_video(tmp_path_factory.mktemp("corrupt") / "corrupt.mp4", index_pattern_frames()))


@pytest.fixture(scope="session")
def tiny_student_dir(tmp_path_factory) -> Path:
    """A tiny random Qwen2.5-VL student (model + processor + tokenizer) saved with save_pretrained."""
    from ffr_train.student import build_tiny_student

    return build_tiny_student(tmp_path_factory.mktemp("student") / "tiny", TINY_CORPUS, arch="qwen2_5_vl")
