"""Event layouts: which shapes appear where and when, planned per question family (pure functions of an RNG).

A layout is everything the renderer draws and everything the question, evidence and fairness check need. Times are
video frame indices (inclusive ranges); ``slots`` are the student's sampled frames (0-based) that show a shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from ffr_data.synth.config import SynthConfig

DIFFICULTIES = ("hard", "easy")


@dataclass(frozen=True)
class Shape:
    """One shape on screen from frame ``start`` to ``end`` (inclusive), centred at (cx, cy) in video pixels."""

    colour: str
    kind: str  # "square" or "disc"
    cx: int
    cy: int
    size: int
    contrast: float
    start: int
    end: int
    decisive: bool  # the answer depends on it (False: a distractor)
    label: str

    def box_px(self) -> tuple[int, int, int, int]:
        """Pixel box [x1, y1, x2, y2) the shape covers."""
        half = self.size // 2
        x1, y1 = self.cx - half, self.cy - half
        return x1, y1, x1 + self.size, y1 + self.size

    def frames(self) -> range:
        return range(self.start, self.end + 1)


@dataclass(frozen=True)
class Layout:
    family: str
    difficulty: str
    answer: int  # 0-based option index
    shapes: tuple[Shape, ...]
    # Empty stretches (frame ranges, each over one sampled frame) a pointing patch cites beside the real events, so
    # the number of cited windows says nothing about a count (SynthConfig.pointing).
    decoys: tuple[tuple[int, int], ...] = ()

    def signature(self) -> tuple:
        """What makes two questions the same: family and every shape's colour, form, place, size and timing."""
        return (self.family, self.difficulty,
                tuple((s.colour, s.kind, s.cx, s.cy, s.size, s.start, s.end) for s in self.shapes))

    @property
    def decisive(self) -> tuple[Shape, ...]:
        return tuple(s for s in self.shapes if s.decisive)


@dataclass(frozen=True)
class PlanContext:
    cfg: SynthConfig
    sampled: tuple[int, ...]  # video frame index of each of the student's sampled frames
    difficulty: str


class PlanRejected(Exception):
    """The random draw cannot satisfy the family's constraints; draw again."""


def slots_of(shape: Shape, sampled: Sequence[int]) -> list[int]:
    """0-based indices of the sampled frames that show ``shape``."""
    return [j for j, index in enumerate(sampled) if shape.start <= index <= shape.end]


def _position(rng: np.random.Generator, cfg: SynthConfig, size: int, area: tuple[int, int, int, int]) -> tuple[int, int]:
    """A centre that keeps a shape of ``size`` (plus a 2 px margin) inside the pixel ``area`` [x1, y1, x2, y2)."""
    x1, y1, x2, y2 = area
    half = size // 2
    lo_x, hi_x = x1 + half + 2, x2 - (size - half) - 2
    lo_y, hi_y = y1 + half + 2, y2 - (size - half) - 2
    if lo_x > hi_x or lo_y > hi_y:
        raise ValueError(f"a shape of {size} px does not fit in the area {area} of a {cfg.size} px video")
    return int(rng.integers(lo_x, hi_x + 1)), int(rng.integers(lo_y, hi_y + 1))


def cell_area(cfg: SynthConfig, cell: int) -> tuple[int, int, int, int]:
    """Pixel area [x1, y1, x2, y2) of location option ``cell`` (row by row over ``cfg.location_grid``)."""
    rows, cols = cfg.location_grid
    row, col = divmod(cell, cols)
    return (round(col * cfg.size / cols), round(row * cfg.size / rows),
            round((col + 1) * cfg.size / cols), round((row + 1) * cfg.size / rows))


def location_size(cfg: SynthConfig, easy: bool) -> int:
    """The location flash's size: easy ones ``easy_size`` but at most the smallest cell less 8 px (room for a few
    positions, so that easy questions do not repeat), hard ones ``location_size`` (default ``flash_size``)."""
    if not easy:
        return cfg.location_size or cfg.flash_size
    rows, cols = cfg.location_grid
    return min(cfg.easy_size, cfg.size // max(rows, cols) - 8)


def _flash_span(rng: np.random.Generator, ctx: PlanContext, slot: int) -> tuple[int, int]:
    """A brief flash (flash_min..flash_max frames) that covers the sampled frame ``slot``."""
    cfg = ctx.cfg
    length = int(rng.integers(cfg.flash_min_frames, cfg.flash_max_frames + 1))
    return _span_over(rng, ctx, slot, length)


def _span_over(rng: np.random.Generator, ctx: PlanContext, slot: int, length: int) -> tuple[int, int]:
    centre = ctx.sampled[slot]
    lo, hi = max(0, centre - length + 1), min(centre, ctx.cfg.num_frames - length)
    start = int(rng.integers(lo, hi + 1))
    return start, start + length - 1


def _long_span(ctx: PlanContext, slot: int) -> tuple[int, int]:
    """Easy: every frame strictly between the neighbouring sampled frames (long, yet one sampled frame only)."""
    sampled = ctx.sampled
    start = sampled[slot - 1] + 1 if slot > 0 else 0
    end = sampled[slot + 1] - 1 if slot + 1 < len(sampled) else ctx.cfg.num_frames - 1
    return start, end


def _kind(rng: np.random.Generator) -> str:
    return ("square", "disc")[int(rng.integers(2))]


def _flash(rng, ctx: PlanContext, colour: str, span: tuple[int, int], area=None, label: str = "a flash",
           size: int | None = None) -> Shape:
    cfg = ctx.cfg
    easy = ctx.difficulty == "easy"
    size = size or (cfg.easy_size if easy else cfg.flash_size)
    cx, cy = _position(rng, cfg, size, area or (0, 0, cfg.size, cfg.size))
    return Shape(colour, _kind(rng), cx, cy, size, 1.0 if easy else cfg.flash_contrast, span[0], span[1], True, label)


def _other_colour(rng: np.random.Generator, exclude: str, palette: Sequence[str]) -> str:
    others = [c for c in palette if c != exclude]
    return others[int(rng.integers(len(others)))]


def _any_colour(rng: np.random.Generator, palette: Sequence[str]) -> str:
    return palette[int(rng.integers(len(palette)))]


def _separated(shapes: Sequence[Shape]) -> bool:
    """Flashes in time order with at least one empty frame between them."""
    return all(a.end + 1 < b.start for a, b in pairwise(shapes))


def plan_order(rng: np.random.Generator, ctx: PlanContext, answer: int) -> tuple[Shape, ...]:
    palette = ctx.cfg.palette
    first, second = palette[answer], _other_colour(rng, palette[answer], palette)
    if ctx.difficulty == "easy":
        half = ctx.cfg.num_frames // 2
        spans = [(0, half - 1), (half, ctx.cfg.num_frames - 1)]
    else:
        slots = sorted(int(s) for s in rng.choice(len(ctx.sampled), size=2, replace=False))
        spans = [_flash_span(rng, ctx, slot) for slot in slots]
    shapes = (_flash(rng, ctx, first, spans[0]), _flash(rng, ctx, second, spans[1]))
    if ctx.difficulty == "hard" and not _separated(shapes):
        raise PlanRejected("flashes touch")
    return shapes


def plan_count(rng: np.random.Generator, ctx: PlanContext, answer: int) -> tuple[Shape, ...]:
    count = answer + 1
    n_slots = len(ctx.sampled)
    if ctx.difficulty == "easy" and 2 * count - 1 <= n_slots:
        # No two flashes on neighbouring sampled frames: a blank sampled frame between them.
        slots = sorted(int(s) for s in rng.choice(n_slots, size=count, replace=False))
        if any(b - a < 2 for a, b in pairwise(slots)):
            raise PlanRejected("easy flashes on neighbouring sampled frames")
        spans = [_long_span(ctx, slot) for slot in slots]
    elif ctx.difficulty == "easy":  # too many for a blank frame between them: one-frame flashes on the sampled ones
        slots = sorted(int(s) for s in rng.choice(n_slots, size=count, replace=False))
        spans = [(ctx.sampled[slot], ctx.sampled[slot]) for slot in slots]
    else:
        slots = sorted(int(s) for s in rng.choice(n_slots, size=count, replace=False))
        spans = [_flash_span(rng, ctx, slot) for slot in slots]
    shapes = tuple(_flash(rng, ctx, _any_colour(rng, ctx.cfg.palette), span) for span in spans)
    if not _separated(shapes):
        raise PlanRejected("flashes touch")
    return shapes


def plan_decoys(rng: np.random.Generator, ctx: PlanContext, shapes: Sequence[Shape], total: int) -> tuple:
    """Empty stretches over sampled frames that show no shape, drawn like flashes (same lengths, same placement
    around a sampled frame) and at least one frame away from every shape and from each other, so that the events
    plus the decoys make ``total`` windows that look alike."""
    free = [j for j in range(len(ctx.sampled)) if not any(s.start <= ctx.sampled[j] <= s.end for s in shapes)]
    need = total - len(shapes)
    if need <= 0:
        return ()
    if need > len(free):
        raise PlanRejected("not enough empty sampled frames for the decoy windows")
    taken = [(s.start, s.end) for s in shapes]
    decoys = []
    for slot in sorted(int(j) for j in rng.choice(free, size=need, replace=False)):
        span = _flash_span(rng, ctx, slot)
        if any(span[0] <= end + 1 and start <= span[1] + 1 for start, end in taken):
            raise PlanRejected("a decoy window touches an event")
        taken.append(span)
        decoys.append(span)
    return tuple(decoys)


def plan_location(rng: np.random.Generator, ctx: PlanContext, answer: int) -> tuple[Shape, ...]:
    colour = _any_colour(rng, ctx.cfg.palette)
    easy = ctx.difficulty == "easy"
    if easy:
        span = (0, ctx.cfg.num_frames - 1)
    else:
        span = _flash_span(rng, ctx, int(rng.integers(len(ctx.sampled))))
    return (_flash(rng, ctx, colour, span, area=cell_area(ctx.cfg, answer), size=location_size(ctx.cfg, easy)),)


def plan_attribute(rng: np.random.Generator, ctx: PlanContext, answer: int) -> tuple[Shape, ...]:
    cfg = ctx.cfg
    palette = cfg.palette
    colour, distractor_colour = palette[answer], _other_colour(rng, palette[answer], palette)
    easy = ctx.difficulty == "easy"
    small_size = cfg.easy_size // 2 if easy else cfg.small_size
    big_size = cfg.easy_size if easy else cfg.distractor_size
    # The two shapes side by side, in the left and right halves (which half is random), never overlapping.
    small_left = bool(rng.integers(2))
    half = cfg.size // 2
    small_area = (0, 0, half, cfg.size) if small_left else (half, 0, cfg.size, cfg.size)
    big_area = (half, 0, cfg.size, cfg.size) if small_left else (0, 0, half, cfg.size)
    if easy:
        span = (0, cfg.num_frames - 1)
    else:
        span = _span_over(rng, ctx, int(rng.integers(len(ctx.sampled))), cfg.small_frames)
    sx, sy = _position(rng, cfg, small_size, small_area)
    bx, by = _position(rng, cfg, big_size, big_area)
    small = Shape(colour, _kind(rng), sx, sy, small_size, 1.0 if easy else cfg.small_contrast, span[0], span[1], True,
                  "the small shape")
    big = Shape(distractor_colour, _kind(rng), bx, by, big_size, 1.0 if easy else cfg.distractor_contrast, 0,
                cfg.num_frames - 1, False, "the large shape")
    return small, big


def count_windows(cfg: SynthConfig, n_sampled: int) -> int:
    """How many windows a pointing patch of a count question cites: one more than the largest count (so the number
    never equals the answer), at most one per sampled frame."""
    return min(cfg.count_max + 1, n_sampled)


Planner = Callable[[np.random.Generator, PlanContext, int], tuple[Shape, ...]]
PLANNERS: dict[str, Planner] = {
    "order": plan_order,
    "count": plan_count,
    "location": plan_location,
    "attribute": plan_attribute,
}


def plan_layout(rng: np.random.Generator, ctx: PlanContext, family: str, answer: int, max_draws: int = 1000) -> Layout:
    """Draw until the family's constraints hold (separated flashes, each decisive shape in a sampled frame)."""
    planner = PLANNERS[family]
    for _ in range(max_draws):
        try:
            shapes = planner(rng, ctx, answer)
            if not all(slots_of(s, ctx.sampled) for s in shapes if s.decisive):
                continue
            decoys = ()
            if ctx.cfg.pointing and family == "count" and ctx.difficulty == "hard":  # warm-up rows get no patches
                decoys = plan_decoys(rng, ctx, shapes, count_windows(ctx.cfg, len(ctx.sampled)))
        except PlanRejected:
            continue
        return Layout(family, ctx.difficulty, answer, shapes, decoys)
    raise ValueError(f"cannot plan a {ctx.difficulty} {family!r} question with these settings "
                     f"(sampled frames {list(ctx.sampled)}); check the flash lengths and the frame count")
