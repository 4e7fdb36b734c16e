"""One RL step's time per phase and peak memory, per configuration, each in its own process. Measures; asserts nothing.

    uv run python benchmarks/scale_step.py --model 3b-2layer --configs ffr,ffr-lora,ffr-gc [--steps 2]
    uv run python benchmarks/scale_step.py --model tiny-sft --configs grpo,ffr
    uv run python benchmarks/scale_step.py ... --code /path/to/other/checkout   # the same run on other code

``--model``: ``tiny-sft`` (the SFT-warmed tiny student of the default run, built if missing), ``tiny`` (a fresh
one), or ``3b-2layer`` (a Qwen2.5-VL with the real 3B configuration but 2 text and 2 vision layers, random, built
from config). Configurations: ``grpo``, ``ffr``, and ``-lora`` (rank 8, frozen vision tower) / ``-gc`` (gradient
checkpointing) suffixes. Each configuration runs a warm-up step and then ``--steps`` measured steps; peak memory is
the process's resident-set high-water mark over the measured steps (reset before them). ``--code`` runs the same
measurement on another checkout's packages (for before/after comparisons in one sitting); settings that checkout's
config does not know are left out.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ["Which colour was the small shape? Options: A. red B. green C. blue D. yellow",
          "<think>a blue shape flashed in the top-right</think><answer>C</answer>"] * 40


def _rss_peak_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _rss_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _model_dir(kind: str, cache: Path) -> Path:
    if kind == "tiny-sft":
        return ROOT / "runs" / "tiny-student-sft"
    out = cache / kind
    if (out / "config.json").is_file():
        return out
    if kind == "tiny":
        from ffr_train.student import build_tiny_student

        return build_tiny_student(out, CORPUS)
    from ffr_train.student import build_qwen2_5_vl_3b_shaped

    return build_qwen2_5_vl_3b_shaped(out, CORPUS, text_layers=2, vision_layers=2)


def _overrides(name: str, model: Path, data: Path, out: Path, model_kind: str) -> dict:
    algo = name.split("-")[0]
    o = {"algo": algo, "output_dir": str(out), "student.path": str(model), "student.sft_before_rl": False,
         "data.train_file": str(data / "train.jsonl"), "data.val_file": None, "data.warmup_file": None,
         "logging.progress": False, "logging.trackers": [], "logging.tensorboard": False,
         "checkpoint.every": 10_000, "rollout.prompts_per_step": 4, "rollout.group_size": 8}
    if model_kind == "3b-2layer":
        o.update({"rollout.prompts_per_step": 2, "rollout.group_size": 4, "rollout.max_new_tokens": 16,
                  "rollout.repair_max_new_tokens": 16, "sampling.num_frames": 4, "sampling.max_pixels": 128 * 28 * 28,
                  "sampling.min_pixels": 64 * 28 * 28, "optim.lr": 1e-6})
    if "-lora" in name:
        o.update({"student.lora_rank": 8, "student.freeze_vision": True})
    if "-gc" in name:
        o["student.gradient_checkpointing"] = True
    return o


def child(spec: dict) -> dict:
    """Runs in its own process: build the trainer, one warm-up step, then the measured steps."""
    import torch

    from ffr_data.config import describe, merge
    from ffr_train.config import TrainConfig
    from ffr_train.trainer import RLTrainer

    torch.set_num_threads(spec["threads"])
    known = {key for key, _, _ in describe(TrainConfig)}
    skipped = sorted(k for k in spec["overrides"] if k not in known)
    cfg = merge(TrainConfig(), {k: v for k, v in spec["overrides"].items() if k in known})
    trainer = RLTrainer(cfg)
    trainer.train_step()
    _rss_peak_reset()
    base = _rss_mib("VmRSS")
    rows = [trainer.train_step() for _ in range(spec["steps"])]
    times = {k: statistics.mean(r[k] for r in rows) for k in rows[0] if k.startswith("time/")}
    return {"config": spec["name"], "times": times, "rss_before_mib": round(base),
            "rss_peak_mib": round(_rss_mib("VmHWM")), "step_peak_over_rss_mib": round(_rss_mib("VmHWM") - base),
            "teacher_calls": statistics.mean(r.get("teacher/calls", 0.0) for r in rows),
            "micro_batches": statistics.mean(r.get("update/micro_batches", float("nan")) for r in rows),
            "completion_tokens": statistics.mean(r.get("len/completion_tokens", 0.0) for r in rows),
            "settings_unknown_to_this_code": skipped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny-sft", choices=["tiny-sft", "tiny", "3b-2layer"])
    parser.add_argument("--configs", default="grpo,ffr")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--data", default=str(ROOT / "data" / "synth"))
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "ffr-bench-models"))
    parser.add_argument("--code", default=None, help="Another checkout whose packages to measure instead.")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))), flush=True)
        return
    from ffr_data.config import merge
    from ffr_train.config import TrainConfig
    from ffr_train.pipeline import ensure_data, ensure_student

    base = merge(TrainConfig(), {"data.train_file": f"{args.data}/train.jsonl"})
    ensure_data(base)
    if args.model == "tiny-sft" and not (_model_dir("tiny-sft", Path(args.cache)) / "config.json").is_file():
        ensure_student(base)
    model = _model_dir(args.model, Path(args.cache))
    env = dict(os.environ)
    if args.code:
        src = [str(p) for p in sorted(Path(args.code).glob("packages/*/src"))]
        env["PYTHONPATH"] = os.pathsep.join([*src, env.get("PYTHONPATH", "")])
    results = []
    with tempfile.TemporaryDirectory(prefix="ffr-scale-") as tmp:
        for name in args.configs.split(","):
            spec = {"name": name, "steps": args.steps, "threads": args.threads,
                    "overrides": _overrides(name, model, Path(args.data), Path(tmp) / name, args.model)}
            proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], env=env, text=True,
                                  capture_output=True)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line is None:
                print(f"{name}: failed\n{proc.stderr[-2000:]}")
                continue
            results.append(json.loads(line[len("RESULT "):]))
    phases = sorted({k for r in results for k in r["times"]})
    print(f"model {args.model}, code {args.code or ROOT}, {args.steps} measured steps each (seconds per step)")
    print(f"{'':24s}" + "".join(f"{r['config']:>14s}" for r in results))
    for key in phases:
        print(f"{key:24s}" + "".join(f"{r['times'].get(key, 0.0):14.3f}" for r in results))
    for key in ("rss_peak_mib", "step_peak_over_rss_mib", "micro_batches", "teacher_calls", "completion_tokens"):
        print(f"{key:24s}" + "".join(f"{r[key]:14.1f}" for r in results))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
