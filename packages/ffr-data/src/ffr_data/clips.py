"""Clip tools for the teacher and for patch rendering, over a shared per-frame cache.

``get_frame(t)``, ``get_segment(start_s, end_s, n)`` and ``zoom_region(t, box)`` all read through one
:class:`FrameCache`, so a sample is decoded once per step however many rollouts, teacher calls and patches use it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ffr_data.decoders import Reader
from ffr_data.errors import VideoError
from ffr_data.sampling import FrameSamplingConfig, resize_frames, sample_indices, smart_resize, target_size
from ffr_data.video import Frames, VideoInfo, open_video, read_frames, video_info


@dataclass
class CacheStats:
    probes: int = 0
    decode_calls: int = 0
    frames_decoded: int = 0
    hits: int = 0
    misses: int = 0


class FrameCache:
    """Thread-safe LRU of decoded full-resolution frames, keyed by (path, frame index), bounded in bytes.

    It also keeps the last few videos open, so that a probe and the reads that follow share one reader."""

    def __init__(self, max_bytes: int = 512 * 2**20, max_open: int = 4):
        self.max_bytes = max_bytes
        self.max_open = max_open
        self._frames: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._infos: dict[str, VideoInfo] = {}
        self._readers: OrderedDict[str, Reader] = OrderedDict()
        self._bytes = 0
        self._lock = threading.RLock()
        self.stats = CacheStats()

    def info(self, path: str, backend: str = "decord", fallback: str | None = "opencv") -> VideoInfo:
        with self._lock:
            if path not in self._infos:
                self.stats.probes += 1
                reader = open_video(path, backend, fallback)
                self._infos[path] = video_info(reader)
                self._keep_open(reader)
            return self._infos[path]

    def _keep_open(self, reader: Reader) -> None:
        self._readers[reader.path] = reader
        self._readers.move_to_end(reader.path)
        while len(self._readers) > self.max_open:
            self._readers.popitem(last=False)[1].close()

    def _reader(self, info: VideoInfo) -> Reader:
        reader = self._readers.get(info.path)
        if reader is None or reader.name != info.backend:
            reader = open_video(info.path, info.backend, None)
        self._keep_open(reader)
        return reader

    def frames(self, info: VideoInfo, indices: Sequence[int], workers: int = 1) -> list[np.ndarray]:
        """Full-resolution frames at ``indices``, decoding (in one batch) only those not cached. The arrays are the
        cache's own: read-only."""
        with self._lock:
            indices = list(indices)
            # Frames are collected before anything new is stored: storing can evict, even frames of this request.
            found: dict[int, np.ndarray] = {}
            for i in indices:
                if (info.path, i) in self._frames:
                    self._frames.move_to_end((info.path, i))
                    found[i] = self._frames[(info.path, i)]
            missing = sorted({i for i in indices if i not in found})
            self.stats.hits += sum(i in found for i in indices)
            self.stats.misses += len(missing)
            if missing:
                self.stats.decode_calls += 1
                self.stats.frames_decoded += len(missing)
                decoded = read_frames(self._reader(info), missing, workers)
                decoded.flags.writeable = False
                for index, frame in zip(missing, decoded, strict=True):
                    found[index] = frame
                    self._put((info.path, index), frame)
            return [found[i] for i in indices]

    def read(self, info: VideoInfo, indices: Sequence[int], workers: int = 1) -> np.ndarray:
        """Full-resolution frames at ``indices`` as one new (T, H, W, 3) array."""
        return np.stack(self.frames(info, indices, workers))

    def _put(self, key: tuple[str, int], frame: np.ndarray) -> None:
        self._frames[key] = frame
        self._bytes += frame.nbytes
        while self._bytes > self.max_bytes and len(self._frames) > 1:
            _, old = self._frames.popitem(last=False)
            self._bytes -= old.nbytes

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
            self._infos.clear()
            for reader in self._readers.values():
                reader.close()
            self._readers.clear()
            self._bytes = 0


def sample_frames(path: str, cfg: FrameSamplingConfig, cache: FrameCache | None = None) -> Frames:
    """The student's view of a video: uniformly sampled frames resized per ``cfg``."""
    cache = cache or FrameCache()
    info = cache.info(str(path), cfg.backend, cfg.fallback_backend)
    indices = sample_indices(info, cfg)
    raw = cache.frames(info, indices, cfg.decode_workers)
    height, width = target_size(info.height, info.width, cfg, len(indices))
    return Frames(resize_frames(raw, height, width, cfg.decode_workers), tuple(indices),
                  tuple(i / info.fps for i in indices), info)


class ClipTools:
    """Tools that look at one video: a frame at a time, a dense segment, or a zoomed region."""

    def __init__(self, path: str, cfg: FrameSamplingConfig, cache: FrameCache | None = None):
        self.path = str(path)
        self.cfg = cfg
        self.cache = cache or FrameCache()

    @property
    def info(self) -> VideoInfo:
        return self.cache.info(self.path, self.cfg.backend, self.cfg.fallback_backend)

    def _index(self, t: float) -> int:
        info = self.info
        if not (0 <= t <= info.duration + 1e-6):
            raise VideoError(self.path, f"t={t:.3f}s is outside the video (0 to {info.duration:.3f}s)")
        return min(int(round(t * info.fps)), info.num_frames - 1)

    def get_frame(self, t: float, max_pixels: int | None = None) -> Frames:
        """The frame shown at ``t`` seconds, resized to the sampling config's per-frame cap (or ``max_pixels``)."""
        index = self._index(t)
        info = self.info
        raw = self.cache.frames(info, [index])
        cap = max_pixels or self.cfg.max_pixels
        h, w = smart_resize(info.height, info.width, self.cfg.patch_multiple, self.cfg.min_pixels, cap)
        return Frames(resize_frames(raw, h, w), (index,), (index / info.fps,), info)

    def get_segment(self, start_s: float, end_s: float, n: int = 4) -> Frames:
        """``n`` frames spread evenly over [start_s, end_s] (a dense re-sampling of a window); ``n`` is made even."""
        if end_s < start_s:
            raise VideoError(self.path, f"segment end {end_s:.3f}s is before its start {start_s:.3f}s")
        first, last = self._index(start_s), self._index(end_s)
        n = max(2, n + (n % 2))
        indices = [int(round(x)) for x in np.linspace(first, last, n)]
        info = self.info
        raw = self.cache.frames(info, indices, self.cfg.decode_workers)
        h, w = target_size(info.height, info.width, self.cfg, n)
        return Frames(resize_frames(raw, h, w), tuple(indices), tuple(i / info.fps for i in indices), info)

    def zoom_region(self, t: float, box: Sequence[float], max_pixels: int | None = None) -> Frames:
        """The normalised ``box`` [x1, y1, x2, y2] of the frame at ``t``, cropped and upscaled to the frame cap."""
        if len(box) != 4:
            raise VideoError(self.path, f"box must be [x1, y1, x2, y2], got {list(box)}")
        x1, y1, x2, y2 = (float(v) for v in box)
        if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
            raise VideoError(self.path, f"box {list(box)} is not a normalised box with x1<x2 and y1<y2 in [0, 1]")
        index = self._index(t)
        info = self.info
        frame = self.cache.frames(info, [index])[0]
        height, width = frame.shape[:2]
        px1, py1 = int(np.floor(x1 * width)), int(np.floor(y1 * height))
        px2, py2 = max(px1 + 1, int(np.ceil(x2 * width))), max(py1 + 1, int(np.ceil(y2 * height)))
        crop = frame[py1:py2, px1:px2]
        cap = max_pixels or self.cfg.max_pixels
        scale = float(np.sqrt(cap / (crop.shape[0] * crop.shape[1])))
        h, w = smart_resize(round(crop.shape[0] * scale), round(crop.shape[1] * scale), self.cfg.patch_multiple,
                            self.cfg.min_pixels, cap)
        scale_up = h * w >= crop.shape[0] * crop.shape[1]
        zoomed = cv2.resize(crop, (w, h), interpolation=cv2.INTER_CUBIC if scale_up else cv2.INTER_AREA)
        return Frames(zoomed[None], (index,), (index / info.fps,), info)
