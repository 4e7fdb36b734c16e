"""The one video-decoding entry point: decord by default, OpenCV as a recorded fallback.

Frames come back with their exact frame indices and timestamps (index / fps), the source fps, duration and size.
A corrupt, empty or unreadable file raises :class:`VideoError` naming the file; nothing is ever substituted.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ffr_data.errors import VideoError

os.environ.setdefault("DECORD_EOF_RETRY_MAX", "2048")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    path: str
    num_frames: int
    fps: float
    duration: float
    width: int
    height: int
    backend: str


@dataclass
class Frames:
    """Decoded frames ``array`` of shape (T, H, W, 3), uint8 RGB, with where they came from."""

    array: np.ndarray
    indices: tuple[int, ...]
    timestamps: tuple[float, ...]
    info: VideoInfo

    def __len__(self) -> int:
        return int(self.array.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the returned frames (after any resize)."""
        return int(self.array.shape[2]), int(self.array.shape[1])

    @property
    def sampled_fps(self) -> float:
        """Frames per second of this sampling (what a video processor should be told)."""
        if len(self.timestamps) < 2:
            return self.info.fps
        span = self.timestamps[-1] - self.timestamps[0]
        return (len(self.timestamps) - 1) / span if span > 0 else self.info.fps


class _Backend:
    name = ""

    def probe(self, path: str) -> VideoInfo:  # pragma: no cover - interface
        raise NotImplementedError

    def read(self, path: str, indices: Sequence[int]) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


class DecordBackend(_Backend):
    name = "decord"
    _lock = threading.Lock()

    def _reader(self, path: str):
        import decord

        try:
            return decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
        except Exception as exc:  # decord raises its own DECORDError / RuntimeError types
            raise VideoError(path, f"decord cannot open it ({str(exc).splitlines()[0][:200]})") from None

    def probe(self, path: str) -> VideoInfo:
        reader = self._reader(path)
        count = len(reader)
        fps = float(reader.get_avg_fps() or 0.0)
        if count <= 0 or fps <= 0:
            raise VideoError(path, "has no decodable frames")
        height, width = reader[0].shape[:2] if count else (0, 0)
        return VideoInfo(path, count, fps, count / fps, int(width), int(height), self.name)

    def read(self, path: str, indices: Sequence[int]) -> np.ndarray:
        reader = self._reader(path)
        try:
            return reader.get_batch(list(indices)).asnumpy()
        except Exception as exc:
            raise VideoError(path, f"decord failed to decode frames {list(indices)[:8]}… ({str(exc)[:200]})") from None


class OpenCVBackend(_Backend):
    name = "opencv"

    def _capture(self, path: str):
        import cv2

        cap = cv2.VideoCapture(path)
        if not cap.isOpened():
            raise VideoError(path, "OpenCV cannot open it")
        return cap

    def probe(self, path: str) -> VideoInfo:
        import cv2

        cap = self._capture(path)
        try:
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            fps = float(cap.get(cv2.CAP_PROP_FPS))
            width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        finally:
            cap.release()
        if count <= 0 or fps <= 0:
            raise VideoError(path, "has no decodable frames")
        return VideoInfo(path, count, fps, count / fps, width, height, self.name)

    def read(self, path: str, indices: Sequence[int]) -> np.ndarray:
        import cv2

        cap = self._capture(path)
        frames = []
        try:
            for index in indices:
                cap.set(cv2.CAP_PROP_POS_FRAMES, int(index))
                ok, frame = cap.read()
                if not ok:
                    raise VideoError(path, f"OpenCV could not decode frame {index}")
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        finally:
            cap.release()
        return np.stack(frames)


BACKENDS: dict[str, Callable[[], _Backend]] = {"decord": DecordBackend, "opencv": OpenCVBackend}


def _backend(name: str) -> _Backend:
    try:
        return BACKENDS[name]()
    except KeyError:
        raise ValueError(f"unknown video backend {name!r} (known: {', '.join(BACKENDS)})") from None


def _check_file(path: str) -> None:
    p = Path(path)
    if not p.is_file():
        raise VideoError(path, "file not found")
    if p.stat().st_size == 0:
        raise VideoError(path, "file is empty (0 bytes)")


def probe_video(path: str | Path, backend: str = "decord", fallback: str | None = "opencv") -> VideoInfo:
    """Open the file and read its frame count, fps, duration and size."""
    path = str(path)
    _check_file(path)
    try:
        return _backend(backend).probe(path)
    except VideoError as first:
        if not fallback or fallback == backend:
            raise
        try:
            info = _backend(fallback).probe(path)
        except VideoError:
            raise first from None
        log.warning("%s: %s; using the %s backend instead", path, first.reason, fallback)
        return info


def indices_for_timestamps(info: VideoInfo, timestamps: Sequence[float]) -> list[int]:
    """Nearest frame index for each timestamp; a time outside the video is an error, never clamped silently."""
    out = []
    last_t = (info.num_frames - 1) / info.fps
    for t in timestamps:
        if t < 0 or t > info.duration + 1e-6:
            raise VideoError(info.path, f"no frame at t={t:.3f}s (duration {info.duration:.3f}s)")
        out.append(min(int(round(min(t, last_t) * info.fps)), info.num_frames - 1))
    return out


def decode_frames(
    path: str | Path,
    *,
    indices: Sequence[int] | None = None,
    timestamps: Sequence[float] | None = None,
    info: VideoInfo | None = None,
    backend: str = "decord",
    fallback: str | None = "opencv",
) -> Frames:
    """Decode frames at ``indices`` or at ``timestamps`` (seconds); exactly one of the two."""
    if (indices is None) == (timestamps is None):
        raise ValueError("pass exactly one of indices= or timestamps=")
    path = str(path)
    info = info or probe_video(path, backend, fallback)
    if timestamps is not None:
        indices = indices_for_timestamps(info, timestamps)
    indices = [int(i) for i in indices]
    bad = [i for i in indices if i < 0 or i >= info.num_frames]
    if bad:
        raise VideoError(path, f"frame indices {bad[:5]} are outside 0..{info.num_frames - 1}")
    array = _backend(info.backend).read(path, indices)
    if array.ndim != 4 or array.shape[0] != len(indices):
        raise VideoError(path, f"decoder returned {array.shape[0] if array.ndim else 0} frames for {len(indices)}")
    times = tuple(i / info.fps for i in indices)
    return Frames(np.ascontiguousarray(array), tuple(indices), times, info)
