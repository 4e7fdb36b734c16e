"""Generating the benchmark: plan every split, make each question (render, encode, self-check), write the files.

Every question's randomness comes from ``SeedSequence(seed, spawn_key=(split, index, attempt))``, so the output is
a function of (config, counts, seed) alone, whatever the number of worker processes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from ffr_data.errors import FFRError
from ffr_data.sampling import sample_indices, target_size
from ffr_data.synth.check import ShapeCheck, check_question
from ffr_data.synth.config import COLOURS, LETTERS, SynthConfig
from ffr_data.synth.layout import PlanContext, plan_layout
from ffr_data.synth.questions import FAMILIES, build_row, option_count
from ffr_data.synth.render import render_frames, write_mp4
from ffr_data.video import VideoInfo

SPLIT_KEYS = {"train": 0, "val": 1, "test": 2, "warmup": 3, "sft": 4, "rl": 5}
SPLIT_DIFFICULTY = {"train": "hard", "val": "hard", "test": "hard", "warmup": "easy", "sft": "hard", "rl": "hard"}


@dataclass(frozen=True)
class QuestionSpec:
    split: str
    index: int
    family: str
    answer: int

    @property
    def problem_id(self) -> str:
        return f"synth-{self.split}-{self.index:05d}"

    @property
    def video(self) -> str:
        """The video's path relative to the benchmark folder."""
        return f"videos/{self.split}/{self.problem_id}.mp4"


@dataclass
class QuestionOutcome:
    spec: QuestionSpec
    row: dict[str, Any]
    signature: tuple
    attempts: int
    next_attempt: int
    failures: Counter = field(default_factory=Counter)
    shapes: list[ShapeCheck] = field(default_factory=list)


def student_view(cfg: SynthConfig) -> tuple[tuple[int, ...], tuple[int, int]]:
    """The video frame indices the student's sampling takes from a benchmark video, and their (height, width)."""
    info = VideoInfo("<synth>", cfg.num_frames, cfg.fps, cfg.num_frames / cfg.fps, cfg.size, cfg.size, "synth")
    indices = tuple(sample_indices(info, cfg.sampling))
    return indices, target_size(cfg.size, cfg.size, cfg.sampling, len(indices))


def validate_config(cfg: SynthConfig) -> None:
    unknown = [f for f in cfg.families if f not in FAMILIES]
    if unknown or not cfg.families:
        raise FFRError(f"synth config 'families': {unknown or 'empty'} (known: {', '.join(FAMILIES)})")
    if not 1 <= cfg.flash_min_frames <= cfg.flash_max_frames:
        raise FFRError("synth config: need 1 <= flash_min_frames <= flash_max_frames")
    if cfg.small_frames < 1 or cfg.num_frames < 2 or cfg.fps <= 0 or cfg.size < 16:
        raise FFRError("synth config: small_frames >= 1, num_frames >= 2, fps > 0 and size >= 16 are required")
    for name in ("flash_contrast", "small_contrast", "distractor_contrast"):
        if not 0 < getattr(cfg, name) <= 1:
            raise FFRError(f"synth config '{name}': must be in (0, 1], got {getattr(cfg, name)}")
    if not cfg.splits or len(set(cfg.splits)) != len(cfg.splits) or not set(cfg.splits) <= set(SPLIT_KEYS):
        raise FFRError(f"synth config 'splits': {cfg.splits} must name distinct splits of {', '.join(SPLIT_KEYS)}")
    if len(set(cfg.palette)) != len(cfg.palette) or len(cfg.palette) < 2 or not set(cfg.palette) <= set(COLOURS):
        raise FFRError(f"synth config 'palette': {cfg.palette} must name at least 2 distinct colours of "
                       f"{', '.join(COLOURS)}")
    too_many = {f: option_count(f, cfg) for f in cfg.families if option_count(f, cfg) > len(LETTERS)}
    if too_many:
        raise FFRError(f"synth config: more options than letters A-{LETTERS[-1]} in {too_many}")
    if cfg.pointing and cfg.count_max >= len(student_view(cfg)[0]):
        raise FFRError("synth config: with pointing, count_max must stay below the number of sampled frames (a "
                       "count patch cites count_max + 1 windows, one per sampled frame)")


def question_seed(seed: int, split: str, index: int, attempt: int) -> int:
    """The seed of one attempt at one question (also stored in its row as ``meta.seed``)."""
    sequence = np.random.SeedSequence(seed, spawn_key=(SPLIT_KEYS[split], index, attempt))
    return int(sequence.generate_state(1, np.uint32)[0])


def plan_split(split: str, count: int, cfg: SynthConfig, seed: int) -> list[QuestionSpec]:
    """Families in equal shares, answers cycling over each family's options and, shifted by the family's position,
    over the split too (so a split of 8 still has every letter of the 4-option families twice); then shuffled."""
    n_families = len(cfg.families)
    n_options = {family: option_count(family, cfg) for family in cfg.families}
    pairs = [(family, (i // n_families + i % n_families) % n_options[family])
             for i, family in ((i, cfg.families[i % n_families]) for i in range(count))]
    order = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SPLIT_KEYS[split],))).permutation(count)
    return [QuestionSpec(split, k, *pairs[int(j)]) for k, j in enumerate(order)]


def make_question(spec: QuestionSpec, cfg: SynthConfig, seed: int, out_dir: str, first_attempt: int = 0,
                  avoid: frozenset = frozenset()) -> QuestionOutcome:
    """Draw, render, encode and self-check attempts until one passes (and its signature is not in ``avoid``)."""
    sampled, _ = student_view(cfg)
    ctx = PlanContext(cfg, sampled, SPLIT_DIFFICULTY[spec.split])
    path = Path(out_dir) / spec.video
    failures: Counter = Counter()
    for attempt in range(first_attempt, first_attempt + cfg.max_attempts):
        qseed = question_seed(seed, spec.split, spec.index, attempt)
        rng = np.random.default_rng(qseed)
        layout = plan_layout(rng, ctx, spec.family, spec.answer)
        if layout.signature() in avoid:
            failures["duplicate_layout"] += 1
            continue
        write_mp4(path, render_frames(layout, cfg, rng, seed), cfg.fps)
        result = check_question(str(path), layout, cfg)
        if result.passed:
            row = build_row(layout, cfg, sampled, problem_id=spec.problem_id, path=spec.video, seed=qseed)
            return QuestionOutcome(spec, row, layout.signature(), attempt - first_attempt + 1, attempt + 1, failures,
                                   result.shapes)
        failures[result.failure] += 1
    raise FFRError(f"{spec.problem_id}: no {ctx.difficulty} {spec.family!r} question passed the fairness check in "
                   f"{cfg.max_attempts} attempts ({dict(failures)}); the synth config makes the evidence too weak")


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


def make_questions(specs: Sequence[QuestionSpec], cfg: SynthConfig, seed: int, out_dir: Path,
                   workers: int) -> Iterator[QuestionOutcome]:
    """Outcomes in the order of ``specs``; ``workers`` > 1 spreads them over processes."""
    work = partial(make_question, cfg=cfg, seed=seed, out_dir=str(out_dir))
    if workers <= 1:
        yield from map(work, specs)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker) as pool:
        yield from pool.map(work, specs, chunksize=max(1, min(32, len(specs) // (4 * workers) or 1)))


def resolve_duplicates(outcomes: list[QuestionOutcome], cfg: SynthConfig, seed: int, out_dir: Path) -> int:
    """Remake any question whose layout signature already appeared (in any split); returns how many were remade."""
    seen: set = set()
    remade = 0
    for k, outcome in enumerate(outcomes):
        if outcome.signature in seen:
            redo = make_question(outcome.spec, cfg, seed, str(out_dir), first_attempt=outcome.next_attempt,
                                 avoid=frozenset(seen))
            redo.attempts += outcome.attempts
            redo.failures = outcome.failures + Counter(duplicate_layout=1) + redo.failures
            outcomes[k] = outcome = redo
            remade += 1
        seen.add(outcome.signature)
    return remade

