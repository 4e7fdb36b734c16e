"""The built-in synthetic evidence benchmark (docs/tiny-student.md): short procedurally generated videos with multiple-choice
questions whose answer hangs on a brief or small event that the student's own frames show, but not clearly; every
question carries ground-truth evidence (windows, regions, sampled frames) for the annotation teacher.

``ffr data synth --out DIR`` or :func:`generate_benchmark` / :func:`ensure_benchmark` write it.
"""

from ffr_data.synth.benchmark import ensure_benchmark, generate_benchmark, read_report
from ffr_data.synth.config import (
    COLOUR_NAMES,
    COLOURS,
    DEFAULT_COUNTS,
    QUADRANTS,
    SPLITS,
    SynthConfig,
    student_sampling,
)
from ffr_data.synth.questions import FAMILIES

__all__ = [
    "COLOURS",
    "COLOUR_NAMES",
    "DEFAULT_COUNTS",
    "FAMILIES",
    "QUADRANTS",
    "SPLITS",
    "SynthConfig",
    "ensure_benchmark",
    "generate_benchmark",
    "read_report",
    "student_sampling",
]
