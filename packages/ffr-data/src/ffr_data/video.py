"""The one video-decoding entry point: decord by default, TorchCodec on request, OpenCV as a recorded fallback.

Frames come back with their exact frame indices and timestamps (index / fps), the source fps, duration and size.
Anything that is not a readable video (missing, a folder, a device, empty, not a video, damaged at open or at any
frame) raises :class:`VideoError` naming the file and what is wrong; nothing is ever substituted.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ffr_data.decoders import Reader, reader_type
from ffr_data.errors import VideoError

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


_SPECIAL_FILES = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                  (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))


def check_video_file(path: str | Path) -> None:
    """A :class:`VideoError` unless ``path`` is a non-empty, readable regular file (checked before any decoder
    opens it: a pipe or a device would block or never end)."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise VideoError(path, "file not found") from None
    except OSError as exc:
        raise VideoError(path, f"cannot be read ({exc.strerror or exc})") from None
    mode = status.st_mode
    if stat.S_ISDIR(mode):
        raise VideoError(path, "is a directory, not a video file")
    for test, what in _SPECIAL_FILES:
        if test(mode):
            raise VideoError(path, f"is {what}, not a video file")
    if not stat.S_ISREG(mode):
        raise VideoError(path, "is not a regular file, so not a video file")
    if status.st_size == 0:
        raise VideoError(path, "file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise VideoError(path, "cannot be read (permission denied)")


# First bytes of the containers FFmpeg reads video from (ISO-BMFF/QuickTime boxes, Matroska/WebM, AVI, MPEG-PS/ES,
# MPEG-TS, FLV, ASF/WMV, Ogg, RealMedia, Y4M, raw H.264/H.265 and JPEG streams, GIF). Only used to word an error.
_BOX_TYPES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid")
_MAGIC = (b"\x1a\x45\xdf\xa3", b"RIFF", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3", b"FLV", b"\x30\x26\xb2\x75",
          b"OggS", b".RMF", b"YUV4MPEG2", b"\x00\x00\x00\x01", b"\x00\x00\x01", b"\xff\xd8", b"GIF8")


def _has_video_signature(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(400)
    if head[4:8] in _BOX_TYPES or head.startswith(_MAGIC):
        return True
    return len(head) > 376 and head[0] == head[188] == head[376] == 0x47  # MPEG-TS sync bytes


def _open(path: str, backend: str, threads: int) -> Reader:
    try:
        return reader_type(backend)(path, threads)
    except VideoError as exc:
        if "cannot open it" in exc.reason and not _has_video_signature(path):
            raise VideoError(path, f"not a video file (it starts like no known video container, and {exc.reason})"
                             ) from None
        raise


def open_video(path: str | Path, backend: str = "decord", fallback: str | None = "opencv", *,
               threads: int = 1) -> Reader:
    """Open ``path`` with ``backend`` (``threads`` decoder threads); when that cannot open it or decode its first
    frame, with ``fallback`` (logged). When both fail, the first one's error is raised. A frame that fails to decode
    later is the file's fault and never switches decoder."""
    path = str(path)
    check_video_file(path)
    try:
        return _open(path, backend, threads)
    except VideoError as first:
        if not fallback or fallback == backend:
            raise
        try:
            reader = _open(path, fallback, threads)
        except VideoError:
            raise first from None
        log.warning("%s: %s; using the %s backend instead", path, first.reason, fallback)
        return reader


def video_info(reader: Reader) -> VideoInfo:
    width, height = reader.size()
    return VideoInfo(reader.path, reader.num_frames, reader.fps, reader.num_frames / reader.fps, width, height,
                     reader.name)


_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ffr-decode")
# Work is shared out only where it gains (benchmarks/decode.py): small frames cost less than a thread hand-off (8
# frames of 112x112 took 1.9 ms with one reader, 3.1 ms with two), and a second reader pays for its own open, in
# which decord and TorchCodec read the index of every packet in the file: worth it when the frames asked for are close
# together (decoding is then the cost: 8 s clips, 1.3-1.7x faster), not when they are far apart in a long video
# (seeking is then the cost, and a 60 s mp4v decoded slower with two readers than with one).
MIN_RUN_FRAMES = 4
MIN_PARALLEL_PIXELS = 50_000
MAX_SPLIT_GAP = 32


def parallel_runs(count: int, frame_pixels: int, workers: int) -> int:
    """Into how many parallel runs ``count`` frames of ``frame_pixels`` pixels each are split (for resizing)."""
    if frame_pixels < MIN_PARALLEL_PIXELS:
        return 1
    return max(1, min(workers, count // MIN_RUN_FRAMES))


def decode_runs(count: int, frame_pixels: int, num_frames: int, workers: int) -> int:
    """Over how many parallel readers ``count`` distinct frames of a ``num_frames``-frame video are decoded."""
    if num_frames > MAX_SPLIT_GAP * count:
        return 1
    return parallel_runs(count, frame_pixels, workers)


def in_parallel(function, items: Sequence) -> list:
    """``[function(item) for item in items]``, the first item in this thread and the others in the shared pool
    (none of them may wait on the pool); every call has finished when this returns."""
    futures = [_POOL.submit(function, item) for item in items[1:]]
    try:
        first = function(items[0])
    finally:
        wait(futures)
    return [first, *(future.result() for future in futures)]


def read_frames(reader: Reader, indices: Sequence[int], workers: int = 1) -> np.ndarray:
    """Frames at ``indices`` (in that order) from an open reader. With ``workers`` > 1, a request that gains from it
    (see above) is split into runs of distinct frames in time order, each decoded by its own reader in parallel (the
    decoders release the GIL); the first run uses ``reader``."""
    indices = [int(i) for i in indices]
    bad = [i for i in indices if i < 0 or i >= reader.num_frames]
    if bad:
        raise VideoError(reader.path, f"frame indices {bad[:5]} are outside 0..{reader.num_frames - 1}")
    distinct = sorted(set(indices))
    width, height = reader.size()
    runs = decode_runs(len(distinct), width * height, reader.num_frames, workers)
    if runs <= 1:
        array = reader.read(indices)
    else:
        bounds = [len(distinct) * k // runs for k in range(runs + 1)]
        parts = [distinct[bounds[k]:bounds[k + 1]] for k in range(runs)]

        def decode_run(part: list[int]) -> np.ndarray:
            if part is parts[0]:
                return reader.read(part)
            extra = type(reader)(reader.path, reader.threads, check_first_frame=False)
            try:
                return extra.read(part)
            finally:
                extra.close()

        array = np.concatenate(in_parallel(decode_run, parts))
        if distinct != indices:
            position = {index: k for k, index in enumerate(distinct)}
            array = array[[position[i] for i in indices]]
    if array.ndim != 4 or array.shape[0] != len(indices):
        raise VideoError(reader.path, f"{reader.name} returned {array.shape[0] if array.ndim else 0} frames for "
                                      f"{len(indices)}")
    return array


def probe_video(path: str | Path, backend: str = "decord", fallback: str | None = "opencv") -> VideoInfo:
    """Open the file and read its frame count, fps, duration and size."""
    reader = open_video(path, backend, fallback)
    try:
        return video_info(reader)
    finally:
        reader.close()


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
    """Decode frames at ``indices`` or at ``timestamps`` (seconds); exactly one of the two. With ``info`` (from an
    earlier probe) the file is opened with the backend recorded there."""
    if (indices is None) == (timestamps is None):
        raise ValueError("pass exactly one of indices= or timestamps=")
    path = str(path)
    reader = open_video(path, info.backend, None) if info else open_video(path, backend, fallback)
    try:
        info = info or video_info(reader)
        if timestamps is not None:
            indices = indices_for_timestamps(info, timestamps)
        indices = [int(i) for i in indices]
        array = read_frames(reader, indices)
    finally:
        reader.close()
    return Frames(np.ascontiguousarray(array), tuple(indices), tuple(i / info.fps for i in indices), info)
