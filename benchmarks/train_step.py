"""Time per phase of one FFR step and one GRPO step on the tiny student, and how often the vision encoder and the
video decoder run per step. Measures; asserts nothing.

    uv run python benchmarks/train_step.py [--steps 3] [--data data/synth] [--student runs/tiny-student-sft]

Uses the synthetic benchmark (generated if missing) and the SFT-warmed tiny student when it exists (else a freshly
built one, whose rollouts fail more often and so exercise the teacher more).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from ffr_data.config import merge
from ffr_train.config import TrainConfig
from ffr_train.pipeline import ensure_data, ensure_student


def _vision_module(model):
    inner = getattr(model, "model", model)
    return getattr(inner, "visual", None)


def measure(cfg: TrainConfig, steps: int) -> dict:
    from ffr_train.trainer import RLTrainer

    trainer = RLTrainer(cfg)
    calls = {"vision_calls": 0, "vision_videos": 0}

    def hook(module, args, kwargs):
        calls["vision_calls"] += 1
        grid = kwargs.get("grid_thw", args[1] if len(args) > 1 else None)
        calls["vision_videos"] += int(grid.shape[0]) if grid is not None else 0

    vision = _vision_module(trainer.accelerator.unwrap_model(trainer.model))
    handle = vision.register_forward_pre_hook(hook, with_kwargs=True)
    rows = []
    trainer.train_step()  # warm-up step, not measured
    for _ in range(steps):
        for key in calls:
            calls[key] = 0
        decodes_before = trainer.cache.stats.decode_calls
        probes_before = trainer.cache.stats.probes
        metrics = trainer.train_step()
        rows.append({**{k: v for k, v in metrics.items() if k.startswith("time/")}, **calls,
                     "decode_calls": trainer.cache.stats.decode_calls - decodes_before,
                     "probes": trainer.cache.stats.probes - probes_before,
                     "teacher_calls": metrics.get("teacher/calls", 0), "patches": metrics.get("teacher/patches", 0),
                     "prompts": cfg.rollout.prompts_per_step, "rollouts": cfg.rollout.prompts_per_step * cfg.rollout.group_size})
    handle.remove()
    keys = rows[0].keys()
    return {k: statistics.mean(r.get(k, 0.0) for r in rows) for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--data", default="data/synth")
    parser.add_argument("--student", default="runs/tiny-student-sft")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="ffr-bench-"))
    base = merge(TrainConfig(), {
        "data.train_file": f"{args.data}/train.jsonl", "data.val_file": None, "data.warmup_file": f"{args.data}/warmup.jsonl",
        "logging.progress": False, "logging.trackers": [], "optim.steps": args.steps + 1,
        "checkpoint.every": 10_000, "student.sft_before_rl": False,
    })
    ensure_data(base)
    if Path(args.student, "config.json").is_file():
        base = merge(base, {"student.path": args.student})
    else:
        base = ensure_student(merge(base, {"student.path": str(out / "student")}))
    results = {}
    for algo in ("grpo", "ffr"):
        cfg = merge(base, {"algo": algo, "output_dir": str(out / algo)})
        results[algo] = measure(cfg, args.steps)
    phases = sorted({k for r in results.values() for k in r if k.startswith("time/")})
    print(f"{'':28s}{'grpo':>10s}{'ffr':>10s}{'ffr/grpo':>10s}")
    for key in [*phases, "vision_calls", "vision_videos", "decode_calls", "probes", "teacher_calls", "patches"]:
        g, f = results["grpo"].get(key, 0.0), results["ffr"].get(key, 0.0)
        ratio = f"{f / g:.2f}" if g else "-"
        print(f"{key:28s}{g:10.3f}{f:10.3f}{ratio:>10s}")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
