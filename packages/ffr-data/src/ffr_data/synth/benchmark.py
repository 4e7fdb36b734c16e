"""The benchmark folder: one ``<split>.jsonl`` per split of the config (``train,val,test,warmup`` by default,
``sft,rl,val,test,warmup`` in the fair preset), ``videos/<split>/*.mp4``, ``synth_config.json`` (the resolved
config) and ``synth_report.json`` (counts, balance and the fairness self-check), written last so that a folder
without it is an incomplete one."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ffr_data.config import to_dict
from ffr_data.errors import FFRError
from ffr_data.progress import progress_bar
from ffr_data.schema import parse_sample
from ffr_data.synth.config import ALL_SPLITS, SynthConfig, presets
from ffr_data.synth.generate import (
    SPLIT_DIFFICULTY,
    QuestionOutcome,
    make_questions,
    plan_split,
    resolve_duplicates,
    student_view,
    validate_config,
)
from ffr_data.synth.questions import answer_text
from ffr_data.versions import package_versions

REPORT = "synth_report.json"
CONFIG = "synth_config.json"


def default_counts(cfg: SynthConfig) -> dict[str, int]:
    """Split sizes of the preset with ``cfg``'s splits (256 for a split no preset sizes)."""
    for known in presets().values():
        if list(known.config.splits) == list(cfg.splits):
            return dict(known.counts)
    return dict.fromkeys(cfg.splits, 256)


def preset_name(cfg: SynthConfig) -> str | None:
    """The preset ``cfg`` is exactly, or None."""
    return next((name for name, known in presets().items() if to_dict(known.config) == to_dict(cfg)), None)


def config_differences(saved: Mapping[str, Any], cfg: SynthConfig) -> list[str]:
    """Keys where a saved config (``synth_config.json``, the report's ``config``) differs from ``cfg``. A key the
    saved config lacks was added later with a default that reproduces the older benchmark, so it counts as that
    default; the same holds inside nested sections (``sampling.decode_workers`` came after the first benchmarks)."""
    current, defaults = to_dict(cfg), to_dict(SynthConfig())

    def saved_value(key: str) -> Any:
        value = saved.get(key, defaults[key])
        if isinstance(value, Mapping) and isinstance(defaults[key], Mapping):
            return {**defaults[key], **value}
        return value

    return sorted(k for k, v in current.items() if saved_value(k) != v)


def resolve_counts(counts: Mapping[str, int] | None, cfg: SynthConfig | None = None) -> dict[str, int]:
    cfg = cfg or SynthConfig()
    resolved = default_counts(cfg)
    for split, n in (counts or {}).items():
        if split not in cfg.splits:
            raise FFRError(f"unknown split {split!r} (this config's splits: {', '.join(cfg.splits)})")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise FFRError(f"split {split!r}: the question count must be a non-negative integer, got {n!r}")
        resolved[split] = n
    return resolved


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return round(float(np.mean(values)), 3) if values else None


def split_report(split: str, outcomes: list[QuestionOutcome], cfg: SynthConfig) -> dict[str, Any]:
    """Counts, answer balance and the self-check's numbers for one split."""
    shapes = [s for o in outcomes for s in o.shapes]
    failures = sum((o.failures for o in outcomes), Counter())
    by_family: dict[str, Counter] = {}
    for o in outcomes:
        by_family.setdefault(o.spec.family, Counter())[answer_text(o.spec.family, o.spec.answer, cfg)] += 1
    clearer = sum(s.dense_frames > s.sampled_frames or s.zoom_pixels > s.sampled_pixels for s in shapes)
    return {
        "questions": len(outcomes),
        "difficulty": SPLIT_DIFFICULTY[split],
        "answers": dict(sorted(Counter(answer_text(o.spec.family, o.spec.answer, cfg) for o in outcomes).items())),
        "answers_by_family": {f: dict(sorted(c.items())) for f, c in sorted(by_family.items())},
        "self_check": {
            "attempts": sum(o.attempts for o in outcomes),
            "regenerated_questions": sum(o.attempts > 1 for o in outcomes),
            "rejections": dict(sorted(failures.items())),
            "decisive_shapes_checked": len(shapes),
            "patch_clearer": clearer,
            "mean_strength_in_sampled_frames": _mean(s.strength for s in shapes),
            "mean_sampled_frames_showing_it": _mean(s.sampled_frames for s in shapes),
            "mean_dense_frames_showing_it": _mean(s.dense_frames for s in shapes),
            "mean_pixels_in_sampled_frame": _mean(s.sampled_pixels for s in shapes),
            "mean_pixels_in_zoom": _mean(s.zoom_pixels for s in shapes),
        },
    }


def _prepare_folder(out_dir: Path) -> None:
    """Empty the parts of ``out_dir`` a previous generation wrote; refuse a non-empty folder that is not one."""
    ours = (out_dir / CONFIG).is_file() or (out_dir / REPORT).is_file()
    if out_dir.exists() and any(out_dir.iterdir()) and not ours:
        raise FFRError(f"{out_dir}: not empty and not a synthetic benchmark folder; choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / REPORT).unlink(missing_ok=True)
    for split in ALL_SPLITS:
        (out_dir / f"{split}.jsonl").unlink(missing_ok=True)
        shutil.rmtree(out_dir / "videos" / split, ignore_errors=True)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def _write_split(path: Path, outcomes: list[QuestionOutcome]) -> None:
    lines = []
    for o in outcomes:
        parse_sample(o.row, file=str(path), row_index=o.spec.index)  # every row must pass the schema it is read with
        lines.append(json.dumps(o.row, ensure_ascii=False))
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(path)


def generate_benchmark(out_dir: str | Path, cfg: SynthConfig | None = None, counts: Mapping[str, int] | None = None,
                       seed: int = 0, *, workers: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Write the benchmark into ``out_dir`` (replacing an earlier one there) and return its report."""
    cfg = cfg or SynthConfig()
    validate_config(cfg)
    counts = resolve_counts(counts, cfg)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise FFRError(f"seed must be a non-negative integer, got {seed!r}")
    workers = workers or min(os.cpu_count() or 1, 8)
    out_dir = Path(out_dir)
    started = time.perf_counter()
    _prepare_folder(out_dir)
    _write_json(out_dir / CONFIG, to_dict(cfg))
    specs = [spec for split in cfg.splits for spec in plan_split(split, counts[split], cfg, seed)]
    outcomes: list[QuestionOutcome] = []
    with progress_bar(progress, "synthetic benchmark", len(specs), unit="questions") as bar:
        for outcome in make_questions(specs, cfg, seed, out_dir, workers):
            outcomes.append(outcome)
            bar.advance()
    remade = resolve_duplicates(outcomes, cfg, seed, out_dir)
    by_split = {split: [o for o in outcomes if o.spec.split == split] for split in cfg.splits}
    for split, items in by_split.items():
        _write_split(out_dir / f"{split}.jsonl", items)
    sampled, (height, width) = student_view(cfg)
    report = {
        "seed": seed,
        "preset": preset_name(cfg),
        "counts": counts,
        "student_sampling": {"frame_indices": list(sampled), "frame_size": [width, height]},
        "splits": {split: split_report(split, items, cfg) for split, items in by_split.items()},
        "duplicate_layouts_remade": remade,
        "seconds": round(time.perf_counter() - started, 2),
        "workers": workers,
        "versions": package_versions(("ffr-data", "numpy", "opencv-python")),
        "config": to_dict(cfg),
    }
    _write_json(out_dir / REPORT, report)
    return report


def read_report(out_dir: str | Path) -> dict[str, Any] | None:
    """The report of a complete benchmark in ``out_dir``, or None when it is missing or incomplete."""
    out_dir = Path(out_dir)
    try:
        report = json.loads((out_dir / REPORT).read_text())
        for split, count in report["counts"].items():
            lines = (out_dir / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
            videos = list((out_dir / "videos" / split).glob("*.mp4")) if count else []
            if len(lines) != count or len(videos) < count:
                return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return report


def ensure_benchmark(out_dir: str | Path, cfg: SynthConfig | None = None, counts: Mapping[str, int] | None = None,
                     seed: int | None = None, *, workers: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Generate the benchmark unless ``out_dir`` already holds a complete one. Settings that are passed must match
    the existing benchmark's (a mismatch is an error, never a silent reuse); settings left as None accept it."""
    report = read_report(out_dir)
    if report is None:
        return generate_benchmark(out_dir, cfg, counts, 0 if seed is None else seed, workers=workers,
                                  progress=progress)
    wanted = {"seed": seed, "counts": None if counts is None else resolve_counts(counts, cfg)}
    differ = [key for key, value in wanted.items() if value is not None and report.get(key) != value]
    if cfg is not None and config_differences(report.get("config") or {}, cfg):
        differ.append("config")
    if differ:
        raise FFRError(f"{out_dir}: holds a synthetic benchmark generated with a different {', '.join(differ)}; "
                       f"delete it or generate into another folder")
    return report
