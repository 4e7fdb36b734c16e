"""The video decoders behind :mod:`ffr_data.video`: decord (the default), TorchCodec and OpenCV.

Each is a :class:`Reader`: one open file with its frame count and fps, and random access to frames by index. Every
failure of the underlying library, at open or at any frame (the first included), becomes a :class:`VideoError`
naming the file; no decoder exception escapes this module.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import threading
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from ffr_data.errors import ConfigError, VideoError

# decord retries reads near a container's stated end this many times before giving up (its default is 10 000).
os.environ.setdefault("DECORD_EOF_RETRY_MAX", "2048")


_DECORD_IMPORT = threading.Lock()  # readers open in several threads; the nvidia entry is process-wide state


@functools.cache
def load_decord():
    """The decord module, imported without its CUDA preload.

    On import, decord2 dlopens every library of the ``nvidia-*`` pip packages (which PyPI's torch brings) with
    RTLD_GLOBAL, libnvblas among them; libnvblas then answers BLAS calls made anywhere in the process and, with no CPU
    BLAS configured, crashes CPU matrix products (a segfault in a Linear layer). FFR decodes on the CPU only, so the
    preload is skipped: decord finds no ``nvidia`` package while it is imported.
    """
    with _DECORD_IMPORT:
        missing = object()
        hidden, sys.modules["nvidia"] = sys.modules.get("nvidia", missing), None  # find_spec("nvidia") is then None
        try:
            import decord
        finally:
            if hidden is missing:
                del sys.modules["nvidia"]
            else:
                sys.modules["nvidia"] = hidden
    return decord


_SOURCE_LOCATION = re.compile(r"\[\d\d:\d\d:\d\d\] |\S+\.(?:cc|cpp|h|c):\d+[:,]? ?|^\w+, ")


def _detail(exc: BaseException) -> str:
    """The decoder's own words, without its source locations and timestamps, on one line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return _SOURCE_LOCATION.sub("", text).strip()[:200]


class Reader:
    """One open video. Opening checks that the container has frames and that its first frame decodes (that frame is
    kept for the next read: sampling always takes it). ``read`` returns (T, H, W, 3) uint8 RGB frames in the order
    asked (repeats allowed)."""

    name: ClassVar[str] = ""

    def __init__(self, path: str, threads: int, *, check_first_frame: bool = True):
        self.path, self.threads = path, threads
        self.num_frames, self.fps = self._open()
        if self.num_frames <= 0 or not self.fps > 0:
            raise VideoError(path, f"{self.name} finds no decodable frames (frame count {self.num_frames}, "
                                   f"fps {self.fps:g})")
        self._first: np.ndarray | None = self._checked([0])[0] if check_first_frame else None

    def _open(self) -> tuple[int, float]:
        """Open the file; its frame count and fps. Raise VideoError when it cannot be opened."""
        raise NotImplementedError

    def _decode(self, indices: list[int]) -> np.ndarray:
        """The frames at ``indices``; any exception (wrapped by the caller)."""
        raise NotImplementedError

    def size(self) -> tuple[int, int]:
        """(width, height) of the frames."""
        return self._width, self._height

    def read(self, indices: Sequence[int]) -> np.ndarray:
        indices = [int(i) for i in indices]
        first, self._first = self._first, None
        if first is None or 0 not in indices:
            return self._checked(indices)
        out = np.empty((len(indices), *first.shape), np.uint8)
        out[[k for k, i in enumerate(indices) if i == 0]] = first
        rest = [i for i in indices if i != 0]
        if rest:
            out[[k for k, i in enumerate(indices) if i != 0]] = self._checked(rest)
        return out

    def _checked(self, indices: list[int]) -> np.ndarray:
        try:
            array = self._decode(indices)
        except VideoError:
            raise
        except Exception as exc:  # DECORDError, RuntimeError, cv2.error, ...: the library's, never ours
            shown = ", ".join(map(str, indices[:8])) + (", …" if len(indices) > 8 else "")
            hint = (" (a decord bug with some small frame widths: sampling.backend=torchcodec or opencv reads it)"
                    if "DECORDArrayCopyFromTo" in str(exc) else "")
            raise VideoError(self.path, f"{self.name} failed to decode frame(s) {shown}: {_detail(exc)}{hint}"
                             ) from None
        if array.ndim != 4 or array.shape[0] != len(indices) or array.shape[-1] != 3:
            raise VideoError(self.path, f"{self.name} returned an array of shape {array.shape} for {len(indices)} "
                                        "frames")
        self._height, self._width = int(array.shape[1]), int(array.shape[2])
        return array

    def close(self) -> None:
        """Release the file and the decoder (also done when the reader is garbage-collected)."""


class DecordReader(Reader):
    name = "decord"

    def _open(self) -> tuple[int, float]:
        decord = load_decord()
        try:
            self._reader = decord.VideoReader(self.path, ctx=decord.cpu(0), num_threads=self.threads)
            return len(self._reader), float(self._reader.get_avg_fps() or 0.0)
        except Exception as exc:  # decord raises DECORDError, RuntimeError or AssertionError
            raise VideoError(self.path, f"decord cannot open it: {_detail(exc)}") from None

    def _decode(self, indices: list[int]) -> np.ndarray:
        return self._reader.get_batch(indices).asnumpy()

    def close(self) -> None:
        self._reader = None


@functools.cache
def _torchcodec_decoder():
    """TorchCodec's VideoDecoder class, or a ConfigError saying why it cannot be loaded (checked once)."""
    needs = ("config key 'sampling.backend': torchcodec cannot be loaded here. It needs `pip install torchcodec` "
             "(a release matching the installed torch), FFmpeg's shared libraries (Debian/Ubuntu: apt-get install "
             "ffmpeg) and torch's CUDA libraries")
    try:
        import torchcodec
        from torchcodec.decoders import VideoDecoder
    except Exception as exc:
        raise ConfigError(f"{needs} ({_detail(exc)[:160]})") from None
    # Importing works without FFmpeg (TorchCodec's image decoders do not need it); its video decoder does not.
    if getattr(torchcodec, "ffmpeg_major_version", 0) is None:
        raise ConfigError(f"{needs} (no usable FFmpeg found)")
    return VideoDecoder


def torchcodec_available() -> bool:
    try:
        _torchcodec_decoder()
    except ConfigError:
        return False
    return True


class TorchCodecReader(Reader):
    name = "torchcodec"

    def _open(self) -> tuple[int, float]:
        decoder_type = _torchcodec_decoder()
        try:
            # exact mode scans the file once, so frame i is the i-th frame in presentation order, as with decord.
            self._decoder = decoder_type(self.path, dimension_order="NHWC", num_ffmpeg_threads=self.threads,
                                         seek_mode="exact")
            meta = self._decoder.metadata
            return int(meta.num_frames or 0), float(meta.average_fps_from_header or meta.average_fps or 0.0)
        except Exception as exc:  # RuntimeError / ValueError from its C++ core
            raise VideoError(self.path, f"torchcodec cannot open it: {_detail(exc)}") from None

    def _decode(self, indices: list[int]) -> np.ndarray:
        return self._decoder.get_frames_at(indices).data.numpy()

    def close(self) -> None:
        self._decoder = None


class OpenCVReader(Reader):
    name = "opencv"

    def _open(self) -> tuple[int, float]:
        import cv2

        self._cap = cv2.VideoCapture(self.path)
        if not self._cap.isOpened():
            raise VideoError(self.path, "OpenCV cannot open it")
        return int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)), float(self._cap.get(cv2.CAP_PROP_FPS))

    def _decode(self, indices: list[int]) -> np.ndarray:
        import cv2

        decoded: dict[int, np.ndarray] = {}
        for index in sorted(set(indices)):
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, frame = self._cap.read()
            if not ok:
                raise VideoError(self.path, f"OpenCV could not decode frame {index}")
            decoded[index] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        return np.stack([decoded[i] for i in indices])

    def close(self) -> None:
        self._cap.release()


READERS: dict[str, type[Reader]] = {r.name: r for r in (DecordReader, TorchCodecReader, OpenCVReader)}


def reader_type(name: str) -> type[Reader]:
    try:
        return READERS[name]
    except KeyError:
        raise ConfigError(f"config key 'sampling.backend': unknown video backend {name!r} "
                          f"(known: {', '.join(READERS)})") from None
