"""The built-in synthetic evidence benchmark (docs/tiny-student.md): short procedurally generated videos with questions
whose answer hangs on a brief or small event that the student's own frames show, but not clearly; every question
carries ground-truth evidence (windows, regions, sampled frames) for the annotation teacher.

Two presets: ``default`` (the original benchmark: 4-way multiple choice, train/val/test/warmup) and ``fair``
(disjoint sft/rl/val/test questions, larger answer spaces, patches that point without giving the answer away).
``ffr data synth --out DIR [--preset fair]`` or :func:`generate_benchmark` / :func:`ensure_benchmark` write it.
"""

from ffr_data.synth.benchmark import (
    config_differences,
    default_counts,
    ensure_benchmark,
    generate_benchmark,
    preset_name,
    read_report,
)
from ffr_data.synth.config import (
    ALL_SPLITS,
    COLOUR_NAMES,
    COLOURS,
    DEFAULT_COUNTS,
    FAIR_COUNTS,
    FAIR_SPLITS,
    QUADRANTS,
    SPLITS,
    Preset,
    SynthConfig,
    cell_names,
    fair_config,
    preset,
    presets,
    student_sampling,
)
from ffr_data.synth.questions import FAMILIES

__all__ = [
    "ALL_SPLITS",
    "COLOURS",
    "COLOUR_NAMES",
    "DEFAULT_COUNTS",
    "FAIR_COUNTS",
    "FAIR_SPLITS",
    "FAMILIES",
    "QUADRANTS",
    "SPLITS",
    "Preset",
    "SynthConfig",
    "cell_names",
    "config_differences",
    "default_counts",
    "ensure_benchmark",
    "fair_config",
    "generate_benchmark",
    "preset",
    "preset_name",
    "presets",
    "read_report",
    "student_sampling",
]
