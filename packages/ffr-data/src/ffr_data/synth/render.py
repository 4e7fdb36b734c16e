"""Drawing a layout into frames and writing them as an mp4 (OpenCV mp4v)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ffr_data.errors import FFRError
from ffr_data.synth.config import COLOURS, SynthConfig
from ffr_data.synth.layout import Layout, Shape

NOISE_BANK_KEY = 1_000_003  # spawn key of the background noise, apart from every split's keys


def shape_mask(shape: Shape, size: int) -> np.ndarray:
    """Boolean (size, size) mask of the pixels the shape covers."""
    mask = np.zeros((size, size), np.uint8)
    x1, y1, x2, y2 = shape.box_px()
    if shape.kind == "disc":
        radius = max(1.0, shape.size / 2)
        # Pixel centres inside the circle: exact and identical on every platform (no anti-aliasing).
        ys, xs = np.mgrid[0:size, 0:size]
        inside = (xs + 0.5 - (x1 + shape.size / 2)) ** 2 + (ys + 0.5 - (y1 + shape.size / 2)) ** 2 <= radius**2
        mask[inside] = 1
    else:
        mask[max(0, y1):y2, max(0, x1):x2] = 1
    return mask.astype(bool)


NOISE_BANK_FRAMES = 97


@lru_cache(maxsize=4)
def background_bank(seed: int, size: int, background: int, noise_std: float) -> np.ndarray:
    """Noisy background frames drawn once per benchmark seed; each video picks its frames from them at random
    (drawing fresh noise for every frame of every video would dominate the generation time)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(NOISE_BANK_KEY,)))
    noise = rng.normal(0.0, noise_std, size=(NOISE_BANK_FRAMES, size, size, 3)) if noise_std > 0 else 0.0
    bank = np.clip(np.rint(background + noise), 0, 255).astype(np.uint8)
    bank.setflags(write=False)
    return bank


def blended_colour(shape: Shape, background: int) -> np.ndarray:
    """The shape's colour mixed with the background by its contrast."""
    colour = np.asarray(COLOURS[shape.colour], np.float64)
    return np.clip(np.rint(background + shape.contrast * (colour - background)), 0, 255).astype(np.uint8)


def render_frames(layout: Layout, cfg: SynthConfig, rng: np.random.Generator, seed: int = 0) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB frames: a dark noisy background (frames of the ``seed``'s bank picked by ``rng``) with
    the layout's shapes drawn in."""
    bank = background_bank(seed, cfg.size, cfg.background, cfg.noise_std)
    frames = bank[rng.integers(0, len(bank), size=cfg.num_frames)]  # fancy indexing: a fresh, writable copy
    for item in layout.shapes:
        frames[item.start:item.end + 1, shape_mask(item, cfg.size)] = blended_colour(item, cfg.background)
    return frames


def write_mp4(path: Path, frames: np.ndarray, fps: float) -> None:
    """Write RGB frames with OpenCV's mp4v encoder (atomically: a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part.mp4")
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise FFRError(f"{tmp}: OpenCV cannot write an mp4v video here")
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    tmp.replace(path)
