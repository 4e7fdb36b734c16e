"""Supervised fine-tuning on ``process`` + ``solution`` (loss on the assistant tokens only).

Used to warm the tiny student into the answer format (a two-stage curriculum: easy warm-up rows, then the task mix;
docs/tiny-student.md) and as the paper's SFT-on-teacher-traces baseline. A share of stage-2 examples
carries the teacher's evidence patch, rendered by the same prompt code as RL, so the student learns to read patches:
most with the full rendering (text, dense frames, zoomed crops), ``sft.text_only_patch_share`` of them as text only,
the rendering of RL's text-only ablation, so that ablation runs on prompts the student has seen.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ffr_data.clips import ClipTools, FrameCache
from ffr_data.config import to_dict
from ffr_data.decode_batch import decode_samples
from ffr_data.errors import FFRError
from ffr_data.models import fit_sampling
from ffr_data.progress import progress_bar
from ffr_data.prompting import build_prompt, render_patch
from ffr_data.schema import Sample
from ffr_data.versions import package_versions
from ffr_teacher import RepairRequest, TeacherConfig, build_teacher
from ffr_train.batching import EncodedPrompt, encode_prompt
from ffr_train.config import OptimConfig, TrainConfig
from ffr_train.data import load_split
from ffr_train.distributed import make_accelerator
from ffr_train.policy import load_student, save_final
from ffr_train.rollout import completion_logprobs
from ffr_train.update import learning_rate

log = logging.getLogger(__name__)


@dataclass
class Example:
    prompt: EncodedPrompt
    target: torch.Tensor
    patched: bool
    text_only: bool = False  # the patch was rendered as text only (prompt.patch_visuals=false)


def is_text_only(k: int, share: float) -> bool:
    """Whether the ``k``-th patched example (0-based) is rendered as text only: exactly ``floor(n * share)`` of the
    first n are, spread evenly (every 1/share-th one), whatever n is."""
    return int((k + 1) * share) > int(k * share)


def sft_target(sample: Sample) -> str:
    return (sample.process or "") + sample.solution


def encode_examples(samples: list[Sample], processor, cfg: TrainConfig, cache: FrameCache, patch_fraction: float,
                    seed: int, label: str) -> tuple[list[Example], int]:
    """Encode every example once (frames, prompt, target); returns (examples, skipped)."""
    tok = processor.tokenizer
    rng = np.random.default_rng(seed)
    teacher = build_teacher(TeacherConfig(backend="annotation")) if patch_fraction > 0 else None
    text_only_prompt = replace(cfg.prompt, patch_visuals=False)
    examples, skipped, patched = [], 0, 0
    with progress_bar(cfg.logging.progress, f"encoding {label}", len(samples)) as bar:
        for sample in samples:
            bar.advance()
            decoded = decode_samples([sample], cfg.sampling, cache)
            if decoded.skipped:
                skipped += 1
                continue
            frames = decoded.frames[0]
            media, text_only = None, False
            if teacher is not None and rng.random() < patch_fraction:
                result = teacher.repair_many([RepairRequest(sample, frames, "")])[0]
                if result.patch is not None:
                    text_only = is_text_only(patched, cfg.sft.text_only_patch_share)
                    patched += 1
                    media = render_patch(result.patch, ClipTools(sample.path, cfg.sampling, cache), frames,
                                         text_only_prompt if text_only else cfg.prompt)
            prompt = encode_prompt(processor, build_prompt(sample, frames, cfg.prompt, media))
            target = tok(sft_target(sample), add_special_tokens=False, return_tensors="pt")["input_ids"][0]
            target = torch.cat([target, torch.tensor([tok.eos_token_id])])
            examples.append(Example(prompt, target, media is not None, text_only))
    return examples, skipped


def draw_batch(rng: np.random.Generator, examples: list[Example], size: int, rehearsal: list[Example],
               rehearsal_share: float) -> list[Example]:
    """``size`` examples without replacement; each slot comes from ``rehearsal`` with probability ``rehearsal_share``."""
    n_rehearsal = int(rng.binomial(size, rehearsal_share)) if rehearsal and rehearsal_share > 0 else 0
    n_rehearsal = min(n_rehearsal, len(rehearsal))
    n_main = min(size - n_rehearsal, len(examples))
    batch = [examples[i] for i in rng.choice(len(examples), size=n_main, replace=False)]
    return batch + [rehearsal[i] for i in rng.choice(len(rehearsal), size=n_rehearsal, replace=False)]


def sft_stage(accelerator, model, optimizer, examples: list[Example], steps: int, cfg: TrainConfig, label: str,
              pad_id: int, seed: int, rehearsal: list[Example] | None = None, rehearsal_share: float = 0.0) -> list[float]:
    """Train ``steps`` steps on random batches (a ``rehearsal_share`` of each drawn from ``rehearsal``); returns the
    loss per step."""
    if steps <= 0:
        return []
    if not examples:
        raise FFRError(f"SFT stage '{label}' has no usable examples")
    optim = OptimConfig(steps=steps, lr=cfg.sft.lr, warmup_steps=cfg.sft.lr_warmup_steps, schedule="cosine",
                        min_lr_ratio=0.1, max_grad_norm=cfg.sft.max_grad_norm)
    rng = np.random.default_rng([seed, len(label)])
    losses = []
    with progress_bar(cfg.logging.progress and accelerator.is_main_process, f"SFT {label}", steps) as bar:
        for step in range(steps):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, optim)
            batch = draw_batch(rng, examples, cfg.sft.batch_size, rehearsal or [], rehearsal_share)
            with accelerator.accumulate(model):
                logp, mask = completion_logprobs(model, [e.prompt for e in batch], [e.target for e in batch], pad_id)
                loss = -(logp * mask).sum() / mask.sum()
                if not torch.isfinite(loss):
                    raise FFRError(f"SFT stage '{label}': non-finite loss at step {step}")
                accelerator.backward(loss)
                accelerator.clip_grad_norm_(model.parameters(), optim.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            losses.append(float(loss.detach()))
            bar.advance()
    return losses


def run_sft(cfg: TrainConfig) -> Path:
    """Both SFT stages; saves the warmed student to ``cfg.sft.output_dir`` and returns that directory."""
    from accelerate.utils import set_seed

    if cfg.sft.threads:
        torch.set_num_threads(cfg.sft.threads)
    set_seed(cfg.seed)
    out = Path(cfg.sft.output_dir)
    accelerator = make_accelerator(cfg.dist.deepspeed, cfg.sft.batch_size, cfg.optim.max_grad_norm)
    model, processor = load_student(cfg.student)
    cfg = replace(cfg, sampling=fit_sampling(cfg.sampling, model))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.sft.lr,
                                  betas=(0.9, 0.98), weight_decay=0.01)
    model, optimizer = accelerator.prepare(model, optimizer)
    cache = FrameCache()
    pad_id = processor.tokenizer.pad_token_id
    report = {"config": to_dict(cfg), "versions": package_versions(), "stages": {}}
    stages = [("warmup", cfg.data.warmup_file, cfg.sft.warmup_steps, 0.0),
              ("main", cfg.sft.train_file or cfg.data.train_file, cfg.sft.main_steps, cfg.sft.patch_fraction)]
    warmup_examples: list[Example] = []
    for label, path, steps, patch_fraction in stages:
        if steps <= 0 or not path:
            continue
        samples, dropped = load_split(path, cfg.data.video_root, cfg.data.max_train_samples)
        started = time.perf_counter()
        examples, skipped = encode_examples(samples, processor, cfg, cache, patch_fraction, cfg.seed, label)
        encode_s = time.perf_counter() - started
        share = cfg.sft.rehearsal_share if label == "main" and warmup_examples else 0.0
        losses = sft_stage(accelerator, model, optimizer, examples, steps, cfg, label, pad_id, cfg.seed,
                           warmup_examples, share)
        if label == "warmup":
            warmup_examples = examples
        report["stages"][label] = {
            "file": str(path), "examples": len(examples), "patched_examples": sum(e.patched for e in examples),
            "text_only_patched_examples": sum(e.text_only for e in examples),
            "dropped_rows": dropped, "skipped_videos": skipped, "steps": steps, "rehearsal_share": share, "encode_seconds": round(encode_s, 2),
            "train_seconds": round(time.perf_counter() - started - encode_s, 2),
            "loss_first": losses[0] if losses else None, "loss_last_50": float(np.mean(losses[-50:])) if losses else None,
        }
    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(model)
    state = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        save_final(out, unwrapped, state, processor, cfg.student)
        (out / "sft_report.json").write_text(json.dumps(report, indent=2))
    accelerator.wait_for_everyone()
    return out


def sft_config_for_rl(cfg: TrainConfig) -> TrainConfig:
    """The RL config that starts from this SFT run's output."""
    return replace(cfg, student=replace(cfg.student, path=cfg.sft.output_dir, build_if_missing=False))
