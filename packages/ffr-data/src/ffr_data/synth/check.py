"""The fairness self-check: decode the real mp4 the way the student does and verify the question is answerable.

For every decisive shape, in the frames the student's default sampling takes (``ffr_data.clips.sample_frames``,
after compression): it is visible where it should be (and its colour recognisable when the question asks about
colour), and a brief one is absent where it should be absent. Then the patch view must make it clearer: more frames
showing it in the dense segment of its window (``ClipTools.get_segment``) than among the sampled frames, or more of
its pixels in the zoomed crop of its region (``ClipTools.zoom_region``) than in the sampled frame; for a question
whose patch may cite no region (``SynthConfig.pointing``: location and count) only the dense segment counts, and
each decoy window it cites must show none of the question's shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ffr_data.clips import ClipTools, FrameCache, sample_frames
from ffr_data.synth.config import COLOURS, SynthConfig
from ffr_data.synth.layout import Layout, Shape, slots_of

COLOUR_FAMILIES = ("order", "attribute")
UNBOXED_FAMILIES = ("location", "count")  # a pointing patch cites no region for these (questions.pointing)
MEASURE_PAD = 1  # pixels around a shape's own box measured in decoded frames (downscaling spreads its edge)


@dataclass
class ShapeCheck:
    strength: float  # weakest difference from the background over the sampled frames that should show it
    sampled_frames: int  # sampled frames showing it
    dense_frames: int  # frames of the dense segment showing it
    sampled_pixels: int  # its pixels in the sampled frame
    zoom_pixels: int  # its pixels in the zoomed crop


@dataclass
class CheckResult:
    failure: str | None  # None when the question passes; else a short reason code
    shapes: list[ShapeCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.failure is None


def padded_box_px(shape: Shape, pad: int, size: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = shape.box_px()
    return max(0, x1 - pad), max(0, y1 - pad), min(size, x2 + pad), min(size, y2 + pad)


def region_box(shape: Shape, cfg: SynthConfig, pad: int | None = None) -> tuple[float, float, float, float]:
    """The shape's pixel box padded by ``pad`` (default ``region_pad``), normalised to [0, 1]."""
    box = padded_box_px(shape, cfg.region_pad if pad is None else pad, cfg.size)
    return tuple(v / cfg.size for v in box)  # type: ignore[return-value]


def _crop(frame: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    height, width = frame.shape[:2]
    x1, y1 = int(np.floor(box[0] * width)), int(np.floor(box[1] * height))
    x2, y2 = max(x1 + 1, int(np.ceil(box[2] * width))), max(y1 + 1, int(np.ceil(box[3] * height)))
    return frame[y1:y2, x1:x2]


def deviation(pixels: np.ndarray, background: np.ndarray) -> np.ndarray:
    """RGB distance of each pixel from the background colour."""
    return np.linalg.norm(pixels.astype(np.float32) - background, axis=-1)


def colour_index(pixels: np.ndarray, background: np.ndarray, palette: Sequence[str]) -> np.ndarray:
    """Per pixel, the index (into ``palette``) of the colour whose direction from the background is closest."""
    offsets = pixels.reshape(-1, 3).astype(np.float32) - background
    directions = np.asarray([COLOURS[name] for name in palette], np.float32) - background
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    return np.argmax(offsets @ directions.T, axis=-1).reshape(pixels.shape[:-1])


def recognised_colour(pixels: np.ndarray, background: np.ndarray, palette: Sequence[str]) -> str:
    """The palette colour of the pixel that differs most from the background."""
    strongest = np.unravel_index(np.argmax(deviation(pixels, background)), pixels.shape[:-1])
    return palette[int(colour_index(pixels[strongest][None], background, palette)[0])]


def shape_pixels(pixels: np.ndarray, background: np.ndarray, colour: str, level: float,
                 palette: Sequence[str]) -> int:
    """How many pixels differ from the background by ``level`` or more in the direction of ``colour``."""
    strong = deviation(pixels, background) >= level
    return int((strong & (colour_index(pixels, background, palette) == list(palette).index(colour))).sum())


def _occluded(shape: Shape, frame_index: int, layout: Layout, cfg: SynthConfig) -> bool:
    """Another shape on screen at ``frame_index`` comes near this shape's box (its pixels say nothing about it)."""
    x1, y1, x2, y2 = padded_box_px(shape, MEASURE_PAD + 1, cfg.size)
    for other in layout.shapes:
        if other is shape or frame_index not in other.frames():
            continue
        ox1, oy1, ox2, oy2 = padded_box_px(other, MEASURE_PAD + 1, cfg.size)
        if ox1 < x2 and x1 < ox2 and oy1 < y2 and y1 < oy2:
            return True
    return False


def check_question(path: str, layout: Layout, cfg: SynthConfig) -> CheckResult:
    cache = FrameCache()
    info = cache.info(path, cfg.sampling.backend, cfg.sampling.fallback_backend)
    cache.read(info, range(info.num_frames))  # one decoder pass; every view below is served from the cache
    sampled = sample_frames(path, cfg.sampling, cache)
    tools = ClipTools(path, cfg.sampling, cache)
    background = np.median(sampled.array.reshape(-1, 3), axis=0).astype(np.float32)
    result = CheckResult(None)
    for shape in layout.decisive:
        failure, shape_check = _check_shape(shape, layout, cfg, sampled, tools, background)
        result.shapes.append(shape_check)
        if failure and result.failure is None:
            result.failure = failure
    if result.failure is None and layout.decoys and not _decoys_empty(layout, cfg, tools, background, result.shapes):
        result.failure = "decoy_not_empty"
    return result


def _decoys_empty(layout: Layout, cfg: SynthConfig, tools: ClipTools, background: np.ndarray,
                  checks: list[ShapeCheck]) -> bool:
    """Every decoy window's dense frames keep every decisive shape's box below ``ghost_ratio`` of its strength."""
    for start, end in layout.decoys:
        window = tools.get_segment(start / cfg.fps, end / cfg.fps, cfg.segment_frames)
        for shape, check in zip(layout.decisive, checks, strict=True):
            box = region_box(shape, cfg, pad=MEASURE_PAD)
            if max(float(deviation(_crop(f, box), background).max()) for f in window.array) >= \
                    cfg.ghost_ratio * check.strength:
                return False
    return True


def _check_shape(shape, layout, cfg, sampled, tools, background) -> tuple[str | None, ShapeCheck]:
    box = region_box(shape, cfg, pad=MEASURE_PAD)
    expected = slots_of(shape, sampled.indices)
    strengths = [float(deviation(_crop(frame, box), background).max()) for frame in sampled.array]
    shown = [strengths[j] for j in expected]
    first = expected[0]
    level = cfg.visible_level
    palette = cfg.palette
    sampled_pixels = shape_pixels(_crop(sampled.array[first], box), background, shape.colour, level, palette)
    window = tools.get_segment(shape.start / cfg.fps, shape.end / cfg.fps, cfg.segment_frames)
    dense = sum(float(deviation(_crop(f, box), background).max()) >= level for f in window.array)
    zoom = tools.zoom_region(sampled.timestamps[first], region_box(shape, cfg)).array[0]
    zoom_pixels = shape_pixels(zoom, background, shape.colour, level, palette)
    visible = [j for j in expected if strengths[j] >= cfg.visible_level]
    stats = ShapeCheck(min(shown), len(visible), int(dense), sampled_pixels, zoom_pixels)
    if len(visible) < len(expected):
        return "not_visible", stats
    colour_matters = layout.family in COLOUR_FAMILIES and cfg.check_colour
    if colour_matters and recognised_colour(_crop(sampled.array[first], box), background, palette) != shape.colour:
        return "colour_not_recognisable", stats
    brief = len(expected) < len(sampled.indices)
    if brief:
        ghosts = [strengths[j] for j, index in enumerate(sampled.indices)
                  if j not in expected and not _occluded(shape, index, layout, cfg)]
        if ghosts and max(ghosts) >= cfg.ghost_ratio * min(shown):
            return "spurious_in_other_frames", stats
    zoom_cited = not (cfg.pointing and layout.family in UNBOXED_FAMILIES)
    if layout.difficulty == "hard" and not (dense > len(visible) or (zoom_cited and zoom_pixels > sampled_pixels)):
        return "patch_not_clearer", stats
    return None, stats
