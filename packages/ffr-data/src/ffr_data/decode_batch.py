"""Decode the frames of a batch of samples, skipping (and naming) the ones whose video cannot be read.

The one place where training, SFT, validation and evaluation turn samples into frames: a bad video is a counted
skip with its reason, never a crash, and every caller catches the same thing (the decoding layer's typed
:class:`~ffr_data.errors.VideoError`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from ffr_data.clips import FrameCache, sample_frames
from ffr_data.errors import VideoError
from ffr_data.sampling import FrameSamplingConfig
from ffr_data.schema import Sample
from ffr_data.video import Frames

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Skipped:
    problem_id: str
    reason: str  # the error's message, which names the video
    error_type: str  # the VideoError subclass raised (``VideoError``, ``TooFewFramesError``, ...)


@dataclass(frozen=True)
class DecodedBatch:
    """The samples whose video decoded, their frames (same order), and the ones skipped."""

    samples: list[Sample]
    frames: list[Frames]
    skipped: list[Skipped] = field(default_factory=list)


def decode_samples(samples: Sequence[Sample], sampling: FrameSamplingConfig,
                   cache: FrameCache | None = None) -> DecodedBatch:
    kept, frames, skipped = [], [], []
    for sample in samples:
        try:
            frames.append(sample_frames(sample.path, sampling, cache))
        except VideoError as exc:
            skipped.append(Skipped(sample.problem_id, str(exc), type(exc).__name__))
            log.warning("skipping %s: %s", sample.problem_id, exc)
            continue
        kept.append(sample)
    return DecodedBatch(kept, frames, skipped)
