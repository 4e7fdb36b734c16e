"""The synthetic benchmark's typed config, and the student sampling it is built around."""

from __future__ import annotations

from dataclasses import dataclass

from ffr_data.config import field, in_range, non_negative, positive, probability
from ffr_data.sampling import FrameSamplingConfig

# Fixed option order per family: the tiny student cannot learn shuffled options (docs/tiny-student.md).
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (235, 45, 40),
    "green": (40, 205, 60),
    "blue": (55, 95, 255),
    "yellow": (240, 225, 40),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)
QUADRANTS: tuple[str, ...] = ("top-left", "top-right", "bottom-left", "bottom-right")
LETTERS: tuple[str, ...] = ("A", "B", "C", "D")
SPLITS: tuple[str, ...] = ("train", "val", "test", "warmup")
DEFAULT_COUNTS: dict[str, int] = {"train": 1024, "val": 128, "test": 256, "warmup": 512}


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
