"""What `ffr train` runs: make sure the data and the student exist, warm the tiny student, then train."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from ffr_data.errors import FFRError
from ffr_data.schema import load_samples
from ffr_train.config import TrainConfig
from ffr_train.student import build_tiny_student, is_tiny_student

log = logging.getLogger(__name__)


def ensure_data(cfg: TrainConfig) -> None:
    """Generate the synthetic benchmark (preset ``data.synth_preset``) when the training file is missing and lives
    in a synth folder."""
    train = Path(cfg.data.train_file)
    if train.is_file():
        _warn_if_stale_benchmark(train.parent)
        return
    if not (cfg.data.synthesize_if_missing and "synth" in train.parent.name):
        raise FFRError(f"{train}: training file not found")
    from ffr_data.synth import ensure_benchmark, preset

    log.info("generating the synthetic benchmark (%s preset) in %s", cfg.data.synth_preset, train.parent)
    if cfg.data.synth_preset == "default":
        ensure_benchmark(train.parent, seed=0)
    else:
        chosen = preset(cfg.data.synth_preset)
        ensure_benchmark(train.parent, chosen.config, chosen.counts, seed=0)
    if not train.is_file():
        raise FFRError(f"{train}: not a split of the {cfg.data.synth_preset} preset generated in {train.parent}")


def _warn_if_stale_benchmark(folder: Path) -> None:
    """A synthetic benchmark generated with other settings than this version's preset of the same splits (default
    or fair) is used as it is (it may be deliberate), but never silently: the differing settings are named."""
    from ffr_data.synth import config_differences, presets, read_report

    report = read_report(folder)
    if report is None:
        return
    saved = report.get("config", {})
    known = list(presets().values())
    baseline = next((p for p in known if p.config.splits == saved.get("splits", known[0].config.splits)), known[0])
    differ = config_differences(saved, baseline.config)
    if differ:
        log.warning("%s was generated with settings that differ from this version's synth %s preset (%s); delete it "
                    "to regenerate, or keep it deliberately", folder, baseline.name, ", ".join(differ))


def warn_if_repair_pays_more(cfg: TrainConfig) -> None:
    """With λ > κ a repaired success (1 + 1 − κ + λ·align) can out-earn a first-pass success (2): the student is paid
    to need help. `ffr repro` measured it (λ = 0.5, κ = 0.3: −11 points, intervention ratio rising)."""
    reward = cfg.reward
    if cfg.algo == "ffr" and reward.align_weight > reward.kappa:
        log.warning("reward.align_weight (%g) > reward.kappa (%g): a repaired success can earn more than a first-pass "
                    "success, which teaches the student to fail first; keep align_weight below kappa",
                    reward.align_weight, reward.kappa)


def _corpus(cfg: TrainConfig) -> list[str]:
    from ffr_data.prompting import format_question

    texts = []
    for path in dict.fromkeys((cfg.data.train_file, cfg.sft.train_file, cfg.data.warmup_file)):
        if path and Path(path).is_file():
            for sample in load_samples(path).samples:
                texts += [format_question(sample), (sample.process or "") + sample.solution]
    return texts


def ensure_student(cfg: TrainConfig) -> TrainConfig:
    """Build the tiny student if asked and missing; SFT-warm it when configured. Returns the config RL should use."""
    from ffr_train.sft import run_sft, sft_config_for_rl

    path = Path(cfg.student.path)
    if not (path / "config.json").is_file():
        if not cfg.student.build_if_missing:
            raise FFRError(f"{path}: student model not found (set student.path, or student.build_if_missing=true)")
        log.info("building the tiny student in %s", path)
        build_tiny_student(path, _corpus(cfg), arch=cfg.student.arch, size=cfg.student.size,
                           vocab_size=cfg.student.vocab_size, max_pixels=cfg.sampling.max_pixels, seed=cfg.seed)
    if cfg.stage == "rl" and cfg.student.sft_before_rl and is_tiny_student(path):
        if not (Path(cfg.sft.output_dir) / "config.json").is_file():
            run_sft(cfg)
        return sft_config_for_rl(cfg)
    return cfg


def run(cfg: TrainConfig, resume: bool = False, overwrite: bool = False) -> dict[str, Any]:
    from ffr_train.sft import run_sft

    ensure_data(cfg)
    cfg = ensure_student(cfg)
    if cfg.stage == "sft":
        out = run_sft(cfg)
        return {"stage": "sft", "final_model": str(out)}
    from ffr_train.trainer import RLTrainer

    warn_if_repair_pays_more(cfg)
    summary = RLTrainer(cfg, resume=resume, overwrite=overwrite).train()
    summary["config"] = dataclasses.asdict(cfg)["algo"]
    return summary
