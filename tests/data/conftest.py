"""Fixtures for ffr-data tests: H.264 videos written with PyAV, rows, tiny students per architecture, a small
synthetic benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY_CORPUS, index_pattern_frames


def write_h264(path: Path, frames: np.ndarray, fps: int = 8, b_frames: int = 2, gop: int = 8) -> Path:
    """Write (T, H, W, 3) RGB frames as H.264 (libx264, with B-frames) through PyAV."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "10", "bf": str(b_frames), "g": str(gop)}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def sequential_levels(path: Path) -> np.ndarray:
    """Mean brightness of every frame, read front to back with OpenCV without seeking (the reference that random
    access must agree with; the codec's colour conversion shifts levels a little, so they are measured, not assumed)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    levels = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        levels.append(float(frame.mean()))
    cap.release()
    return np.asarray(levels)


def frame_index_of(frame: np.ndarray, levels: np.ndarray) -> int:
    """Which frame of an index-pattern video this decoded frame is: the nearest reference level (levels differ by
    about 7.7 grey levels from frame to frame)."""
    return int(np.argmin(np.abs(levels - float(frame.mean()))))


def row(**overrides) -> dict:
    """A valid multiple-choice row; keyword arguments replace fields (None deletes one)."""
    base = {"problem_id": "q1", "path": "v.mp4", "problem_type": "multiple choice", "problem": "Which colour?",
            "options": ["A. red", "B. green", "C. blue", "D. yellow"], "solution": "<answer>B</answer>",
            "data_source": "test", "data_type": "video"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def write_rows(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def require_backend(name: str) -> str:
    """Skip the calling test, saying why, when the video backend ``name`` cannot be loaded here (TorchCodec needs
    FFmpeg's shared libraries). Checked when a test runs, not at collection: loading TorchCodec takes seconds."""
    from ffr_data.decoders import torchcodec_available

    if name == "torchcodec" and not torchcodec_available():
        pytest.skip("torchcodec cannot be loaded here: it needs FFmpeg's shared libraries (apt-get install ffmpeg) "
                    "and torch's CUDA libraries")
    return name


@pytest.fixture(scope="session")
def helpers():
    """The helper functions above, for test modules (a conftest cannot be imported by name from here)."""
    import types

    return types.SimpleNamespace(write_h264=write_h264, frame_index_of=frame_index_of, levels=sequential_levels,
                                 row=row, write_rows=write_rows, require_backend=require_backend)


@pytest.fixture(scope="session")
def h264_path(tmp_path_factory) -> Path:
    """The index pattern (frame i has brightness 4 + i*240/31) as an 8 fps H.264 file with B-frames."""
    return write_h264(tmp_path_factory.mktemp("h264") / "pattern_h264.mp4", index_pattern_frames())


@pytest.fixture(scope="session")
def tiny_students(tmp_path_factory, tiny_student_dir) -> dict[str, Path]:
    """Tiny students of every supported architecture (Qwen3-VL with its 32 px patch multiple)."""
    from ffr_train.student import build_tiny_student

    root = tmp_path_factory.mktemp("students")
    return {
        "qwen2_5_vl": tiny_student_dir,
        "qwen2_vl": build_tiny_student(root / "qwen2_vl", TINY_CORPUS, arch="qwen2_vl"),
        "qwen3_vl": build_tiny_student(root / "qwen3_vl", TINY_CORPUS, arch="qwen3_vl", max_pixels=64 * 64),
    }


SMALL_COUNTS = {"train": 16, "val": 8, "test": 8, "warmup": 8}


@pytest.fixture(scope="session")
def small_synth(tmp_path_factory) -> tuple[Path, dict]:
    """A small synthetic benchmark generated in this process, and its report."""
    from ffr_data.synth import generate_benchmark

    out = tmp_path_factory.mktemp("synth") / "synth"
    report = generate_benchmark(out, counts=SMALL_COUNTS, seed=3, workers=1, progress=False)
    return out, report
