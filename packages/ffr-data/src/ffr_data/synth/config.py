"""The synthetic benchmark's typed config, and the student sampling it is built around."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ffr_data.config import Check, each, field, in_range, non_negative, one_of, positive, probability
from ffr_data.sampling import FrameSamplingConfig

# Fixed option order per family: the tiny student cannot learn shuffled options (docs/tiny-student.md).
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (235, 45, 40),
    "green": (40, 205, 60),
    "blue": (55, 95, 255),
    "yellow": (240, 225, 40),
    "magenta": (225, 50, 225),
    "cyan": (40, 215, 225),
}
COLOUR_NAMES: tuple[str, ...] = ("red", "green", "blue", "yellow")  # the default palette
QUADRANTS: tuple[str, ...] = ("top-left", "top-right", "bottom-left", "bottom-right")
LETTERS: tuple[str, ...] = ("A", "B", "C", "D", "E", "F", "G", "H", "I")
SPLITS: tuple[str, ...] = ("train", "val", "test", "warmup")  # the default preset's splits
ALL_SPLITS: tuple[str, ...] = ("train", "val", "test", "warmup", "sft", "rl")
DEFAULT_COUNTS: dict[str, int] = {"train": 1024, "val": 128, "test": 256, "warmup": 512}
GRID_ROWS: dict[int, tuple[str, ...]] = {1: ("",), 2: ("top", "bottom"), 3: ("top", "middle", "bottom")}
GRID_COLUMNS: dict[int, tuple[str, ...]] = {1: ("",), 2: ("left", "right"), 3: ("left", "centre", "right")}


def cell_names(rows: int, cols: int) -> tuple[str, ...]:
    """Option texts of a location grid, row by row: 2x2 gives the quadrants, 3x3 top-left ... centre ... bottom-right."""
    names = []
    for vertical in GRID_ROWS[rows]:
        for horizontal in GRID_COLUMNS[cols]:
            parts = [p for p in (vertical, horizontal) if p and not (p == "middle" and horizontal == "centre")]
            names.append("-".join(parts) or "centre")
    return tuple(names)


_grid = Check(lambda v: len(v) == 2 and v[0] in GRID_ROWS and v[1] in GRID_COLUMNS and v[0] * v[1] >= 2,
              "must be [rows, columns] with 1-3 of each and at least 2 cells")


def student_sampling() -> FrameSamplingConfig:
    """The tiny student's default view: 8 uniformly sampled frames downscaled to 56x56 (16 video tokens)."""
    return FrameSamplingConfig(num_frames=8, max_pixels=56 * 56, min_pixels=28 * 28)


@dataclass(frozen=True)
class SynthConfig:
    # --- video ----------------------------------------------------------------------------------------------------
    num_frames: int = field(32, help="Frames per video.")
    fps: float = field(8.0, help="Frames per second (32 frames at 8 fps = 4.0 s).")
    size: int = field(112, help="Width and height of the video in pixels.")
    background: int = field(16, help="Grey level (0-255) of the dark background.", check=in_range(0, 255))
    noise_std: float = field(3.0, help="Standard deviation of the per-pixel, per-frame background noise (grey levels).",
                             check=non_negative)
    families: list[str] = field(default_factory=lambda: ["order", "count", "location", "attribute"],
                                help="Question families, used in equal shares: order, count, location, attribute.")
    splits: list[str] = field(default_factory=lambda: list(SPLITS),
                              help="Splits written, each from its own seeds: train/val/test/warmup (default), or "
                                   "sft/rl/val/test/warmup (the fair preset: SFT and RL on disjoint questions).",
                              check=each(one_of(ALL_SPLITS)))
    # --- answer spaces and patches (the fair preset widens them; the defaults are the original benchmark) ---------
    palette: list[str] = field(default_factory=lambda: list(COLOUR_NAMES),
                               help="Colours in use, in option order: the options of the order and attribute "
                                    "families (red, green, blue, yellow, magenta, cyan).",
                               check=each(one_of(COLOURS)))
    count_max: int = field(4, help="Counts run from 1 to this (count family).", check=in_range(2, 7))
    count_answer: Literal["letter", "number"] = field(
        "letter", help="letter: counts as multiple-choice options 1..count_max; number: a numerical answer "
                       "(problem_type numerical, no options to pick from).")
    location_grid: list[int] = field(default_factory=lambda: [2, 2],
                                     help="[rows, columns] of the location family's answer cells (2x2: quadrants; "
                                          "3x3: nine cells from top-left to bottom-right).", check=_grid)
    location_size: int | None = field(None, help="Side or diameter of the location family's flash (None: "
                                                 "flash_size).", check=positive)
    pointing: bool = field(False, help="Rows say how a patch may cite them without giving the answer away "
                                       "(meta.pointing: no regions for location and count, decoy windows for count "
                                       "so that the number of cited windows is constant) and where each location "
                                       "option lies (meta.answer_cells, for the leak guard's region rule).")
    # --- hard (train/val/test) difficulty knobs ----------------------------------------------------------------
    flash_min_frames: int = field(2, help="Shortest flash, in video frames (order, count, location).")
    flash_max_frames: int = field(3, help="Longest flash, in video frames; at most the gap between sampled frames so "
                                          "a flash lands on exactly one sampled frame.")
    flash_size: int = field(20, help="Side (square) or diameter (disc) of a flashing shape, in video pixels (half "
                                     "that in the student's 56 px frames: about a third of a video token's width).",
                            check=positive)
    flash_contrast: float = field(0.6, help="Flash colour blended over the background: 1 = full colour, 0 = invisible.")
    small_size: int = field(12, help="Side of the small shape of the attribute family, in video pixels (about half "
                                     "that in the student's downscaled frames).", check=positive)
    small_frames: int = field(3, help="How many video frames the small shape is shown for.")
    small_contrast: float = field(0.8, help="Contrast of the small shape (see flash_contrast).")
    distractor_size: int = field(24, help="Side or diameter of the large distractor shape (attribute family).",
                                 check=positive)
    distractor_contrast: float = field(0.7, help="Contrast of the large distractor shape.")
    # --- easy (warm-up) difficulty ---------------------------------------------------------------------------------
    easy_size: int = field(48, help="Size of every shape in easy questions (the attribute family's small shape: half "
                                    "of it); easy shapes are always at full contrast. 48 px fills most of a student "
                                    "video token (24 of its 28 px): the tiny student only starts reading its frames "
                                    "from token-filling shapes, then transfers to small ones (README, Results).",
                           check=positive)
    # --- evidence and the fairness self-check ----------------------------------------------------------------------
    region_pad: int = field(6, help="Pixels added around a shape's box in the evidence regions.", check=non_negative)
    segment_frames: int = field(4, help="Frames of the dense re-sampling of a cited window (the patch's evidence "
                                        "video; PromptConfig.patch_window_frames).", check=positive)
    visible_level: float = field(24.0, help="A shape counts as visible in a decoded frame when some pixel in its box "
                                            "differs from the background by at least this (RGB distance).",
                                 check=non_negative)
    ghost_ratio: float = field(0.4, help="A brief shape counts as absent from a sampled frame that should not show it "
                                         "when its box stays below this fraction of its strength where it is shown "
                                         "(mp4v leaves faint trails after a flash); stops spurious extra flashes.",
                               check=probability)
    check_colour: bool = field(True, help="Also require the decisive shape's colour to be recognisable in a sampled "
                                          "frame (its strongest pixels closest to the right palette colour).")
    max_attempts: int = field(50, help="Regenerate a question that fails the fairness check at most this many times.",
                              check=positive)
    sampling: FrameSamplingConfig = field(default_factory=student_sampling,
                                          help="The student's frame sampling the benchmark is built around.")


FAIR_SPLITS: tuple[str, ...] = ("sft", "rl", "val", "test", "warmup")
# The test split is sized for about one point of standard error: sqrt(p(1-p)/n) <= 0.0102 at any accuracy p.
FAIR_COUNTS: dict[str, int] = {"sft": 1024, "rl": 1024, "val": 512, "test": 2400, "warmup": 512}


def fair_config() -> SynthConfig:
    """The fair setting (README, "The fair setting"): disjoint SFT / RL / validation / test questions, answer spaces
    where a guess rarely succeeds (six colours, counts answered as numbers 1-6, a 3x3 location grid), and rows that
    tell the annotation teacher how to point at the evidence without a region or a window count giving the answer
    away. Its difficulty values were chosen on the validation split (docs/results/fair-setting/)."""
    return SynthConfig(
        splits=list(FAIR_SPLITS),
        palette=["red", "green", "blue", "yellow", "magenta", "cyan"],
        count_max=6,
        count_answer="number",
        location_grid=[3, 3],
        # 28 px (14 in the student's frames, one vision patch): at flash_size's 20 px the SFT student read the 3x3
        # grid at 24 % on validation, at 28 px at 37 % (docs/results/fair-setting/).
        location_size=28,
        pointing=True,
        segment_frames=2,
    )


@dataclass(frozen=True)
class Preset:
    """A named setting of the benchmark: its config and its split sizes."""

    name: str
    config: SynthConfig
    counts: dict[str, int]


def presets() -> dict[str, Preset]:
    return {"default": Preset("default", SynthConfig(), dict(DEFAULT_COUNTS)),
            "fair": Preset("fair", fair_config(), dict(FAIR_COUNTS))}


def preset(name: str) -> Preset:
    from ffr_data.errors import FFRError

    known = presets()
    if name not in known:
        raise FFRError(f"unknown synthetic benchmark preset {name!r} (known: {', '.join(known)})")
    return known[name]
