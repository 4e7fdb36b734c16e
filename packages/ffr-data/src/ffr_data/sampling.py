"""Frame sampling: which frames to take and at what size. A typed config, recorded wherever frames are used."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from ffr_data.config import at_least, field, positive
from ffr_data.errors import TooFewFramesError
from ffr_data.video import VideoInfo, in_parallel, parallel_runs

VideoBackend = Literal["decord", "torchcodec", "opencv"]
PATCH_MULTIPLE = {"qwen2_vl": 28, "qwen2_5_vl": 28, "qwen3_vl": 32, "qwen3_vl_moe": 32}


@dataclass(frozen=True)
class FrameSamplingConfig:
    num_frames: int | None = field(16, help="Uniformly sample this many frames (rounded down to an even count). "
                                            "None switches to fps-based sampling.", check=at_least(2))
    fps: float = field(2.0, help="Frames per second to sample when num_frames is None.", check=positive)
    min_frames: int = field(4, help="Lower bound on the frame count in fps-based sampling.", check=at_least(2))
    max_frames: int = field(64, help="Upper bound on the frame count in fps-based sampling.", check=at_least(2))
    max_pixels: int = field(128 * 28 * 28, help="Per-frame pixel cap after resizing (Video-R1 / FFR: 128*28*28).",
                            check=positive)
    min_pixels: int = field(4 * 28 * 28, help="Per-frame pixel floor after resizing.", check=positive)
    total_pixels: int | None = field(None, help="Pixel budget over all frames of one video; lowers the per-frame "
                                                "cap to total_pixels / num_frames when set.", check=positive)
    patch_multiple: int = field(28, help="Frame sides are rounded to this multiple (28 for Qwen2/2.5-VL, 32 for "
                                         "Qwen3-VL): patch size x spatial merge size.", check=positive)
    frame_factor: int = field(2, help="The frame count is a multiple of this (the temporal patch size).",
                              check=positive)
    backend: VideoBackend = field("decord", help="Video decoder: decord, torchcodec (faster; needs FFmpeg's "
                                                  "shared libraries, see the ffr-data README) or opencv.")
    fallback_backend: VideoBackend | None = field("opencv", help="Decoder used (and logged) when the first cannot "
                                                                 "open a file or decode its first frame; None "
                                                                 "disables the fallback.")
    decode_workers: int = field(2, help="Threads working on one video: its frames are resized, and decoded by "
                                        "parallel readers over runs in time order, in parallel where that gains "
                                        "(frames of 50,000+ pixels, 4+ per run; for decoding also at most 32 frames "
                                        "apart on average). 1: one thread, one reader. Speed only: the frames are "
                                        "the same.", check=positive)


def frame_count(info: VideoInfo, cfg: FrameSamplingConfig) -> int:
    """How many frames to take from this video."""
    if cfg.num_frames is not None:
        wanted = cfg.num_frames
    else:
        wanted = int(round(info.duration * cfg.fps))
        wanted = max(cfg.min_frames, min(cfg.max_frames, wanted))
    wanted = min(wanted, info.num_frames)
    wanted = (wanted // cfg.frame_factor) * cfg.frame_factor
    if wanted < cfg.frame_factor:
        raise TooFewFramesError(info.path, f"only {info.num_frames} frame(s); at least {cfg.frame_factor} are needed")
    return wanted


def sample_indices(info: VideoInfo, cfg: FrameSamplingConfig) -> list[int]:
    """Uniform indices over the whole video, first and last frame included (as qwen-vl-utils does)."""
    n = frame_count(info, cfg)
    return [int(round(x)) for x in np.linspace(0, info.num_frames - 1, n)]


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Sides rounded to ``factor`` with the area kept within [min_pixels, max_pixels] (aspect ratio kept)."""
    if min(height, width) <= 0:
        raise ValueError(f"invalid frame size {width}x{height}")
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def target_size(height: int, width: int, cfg: FrameSamplingConfig, n_frames: int) -> tuple[int, int]:
    cap = cfg.max_pixels
    if cfg.total_pixels is not None:
        cap = max(cfg.min_pixels, min(cap, cfg.total_pixels // max(1, n_frames)))
    return smart_resize(height, width, cfg.patch_multiple, cfg.min_pixels, cap)


def resize_frames(frames: np.ndarray | Sequence[np.ndarray], height: int, width: int, workers: int = 1
                  ) -> np.ndarray:
    """Resize uint8 RGB frames, a (T, H, W, 3) array or a sequence of (H, W, 3) frames, into one new array; area
    interpolation when shrinking, cubic when enlarging. An array already at that size is returned as it is. Large
    frames are shared out over ``workers`` threads (OpenCV releases the GIL)."""
    source_height, source_width = frames[0].shape[:2]
    if (source_height, source_width) == (height, width):
        return frames if isinstance(frames, np.ndarray) else np.stack(frames)
    interp = cv2.INTER_AREA if height * width < source_height * source_width else cv2.INTER_CUBIC
    out = np.empty((len(frames), height, width, 3), np.uint8)

    def resize_share(start: int) -> None:
        for k in range(start, len(frames), runs):
            cv2.resize(frames[k], (width, height), dst=out[k], interpolation=interp)

    runs = parallel_runs(len(frames), source_height * source_width, workers)
    in_parallel(resize_share, range(runs))
    return out
