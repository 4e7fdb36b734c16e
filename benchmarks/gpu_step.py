"""One FFR step and one GRPO step of a randomly initialised Qwen2.5-VL with the real 3B configuration, the way a lab
runs it: bf16, gradient checkpointing, 16 frames at 128*28*28 px, G = 8, 512 new tokens, the annotation teacher.
Prints tokens/s, seconds per phase and peak GPU memory, and writes them to ``--out``/gpu_step.json. Measures;
asserts nothing. Sized to finish in under 8 minutes on one H200.

On the GPU machine (its own torch/transformers; carry the wheels it lacks, e.g. decord):

    PYTHONPATH=packages/ffr-data/src:packages/ffr-teacher/src:packages/ffr-train/src:packages/ffr-eval/src \\
        python benchmarks/gpu_step.py --out $OUT

``--cpu-reduced``: the same script on CPU with 1 text and 1 vision layer, 4 small frames, G = 2, 4 new tokens and
float32 — what the test suite runs so that the script cannot rot where no GPU is lent.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

CORPUS = ["Where did the brief flash appear? A. top-left B. top-right C. bottom-left D. bottom-right",
          "<think>a flash at 1.2 s, top-left.</think><answer>A</answer>"] * 40

GPU = {"rollout.prompts_per_step": 2, "rollout.group_size": 8, "rollout.max_new_tokens": 512,
       "rollout.repair_max_new_tokens": 512, "rollout.micro_batch_size": 8, "rollout.micro_batch_tokens": 32768,
       "sampling.num_frames": 16, "sampling.max_pixels": 128 * 28 * 28, "sampling.min_pixels": 128 * 28 * 28,
       "student.dtype": "bfloat16", "student.gradient_checkpointing": True, "optim.lr": 1e-6,
       "prompt.template": "video-r1"}
CPU = {"rollout.prompts_per_step": 1, "rollout.group_size": 2, "rollout.max_new_tokens": 4,
       "rollout.repair_max_new_tokens": 4, "sampling.num_frames": 4, "sampling.max_pixels": 56 * 56,
       "sampling.min_pixels": 56 * 56, "student.dtype": "float32", "student.gradient_checkpointing": True,
       "optim.lr": 1e-6}


def _peak_gpu_gib() -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None


def measure(algo: str, settings: dict, model: Path, data: Path, out: Path) -> dict:
    import torch

    from ffr_data.config import merge
    from ffr_train.config import TrainConfig
    from ffr_train.trainer import RLTrainer

    cfg = merge(TrainConfig(), {**settings, "algo": algo, "output_dir": str(out / algo), "student.path": str(model),
                                "student.sft_before_rl": False, "data.train_file": str(data / "train.jsonl"),
                                "data.val_file": None, "data.warmup_file": None, "logging.progress": False,
                                "logging.trackers": [], "checkpoint.every": 10_000, "loss.beta": 0.04})
    trainer = RLTrainer(cfg)
    trainer.train_step()  # warm-up: kernels, allocator, caches
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    metrics = trainer.train_step()
    wall = time.perf_counter() - started
    generated = metrics.get("tokens/generated_first_pass", 0.0) + metrics.get("tokens/generated_repair", 0.0)
    gen_s = metrics.get("time/generate", 0.0) + metrics.get("time/repair_generate", 0.0)
    return {"algo": algo, "step_s": round(wall, 3),
            "phases_s": {k[5:]: v for k, v in metrics.items() if k.startswith("time/")},
            "teacher_calls": metrics.get("teacher/calls", 0.0), "generated_tokens": generated,
            "generation_tokens_per_s": round(generated / gen_s, 1) if gen_s else None,
            "micro_batches": metrics.get("update/micro_batches"), "peak_gpu_gib": _peak_gpu_gib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-reduced", action="store_true")
    parser.add_argument("--out", default=os.environ.get("OUT") or tempfile.mkdtemp(prefix="ffr-gpu-step-"))
    args = parser.parse_args()
    import torch

    from ffr_data.synth import generate_benchmark
    from ffr_train.student import build_qwen2_5_vl_3b_shaped

    if not args.cpu_reduced and not torch.cuda.is_available():
        raise SystemExit("no GPU: run with --cpu-reduced, or on a GPU machine")
    out = Path(args.out)
    work = Path(tempfile.mkdtemp(prefix="ffr-gpu-work-"))
    started = time.perf_counter()
    layers = {"text_layers": 1, "vision_layers": 1} if args.cpu_reduced else {}
    model = build_qwen2_5_vl_3b_shaped(work / "model", CORPUS, max_pixels=128 * 28 * 28, **layers)
    generate_benchmark(work / "data", counts={"train": 8, "val": 0, "test": 0, "warmup": 0}, progress=False)
    build_s = time.perf_counter() - started
    settings = CPU if args.cpu_reduced else GPU
    results = [measure(algo, settings, model, work / "data", work / "runs") for algo in ("grpo", "ffr")]
    report = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
              "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
              "settings": settings, "build_s": round(build_s, 1), "results": results,
              "ffr_over_grpo_step": round(results[1]["step_s"] / results[0]["step_s"], 2)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_step.json").write_text(json.dumps(report, indent=2))
    for r in results:
        phases = ", ".join(f"{k} {v:.2f}" for k, v in r["phases_s"].items())
        print(f"{r['algo']}: step {r['step_s']:.2f} s ({phases}); generation {r['generation_tokens_per_s']} tokens/s; "
              f"peak GPU memory {r['peak_gpu_gib']} GiB")
    print(f"FFR / GRPO step time: {report['ffr_over_grpo_step']}x; written to {out / 'gpu_step.json'}")


if __name__ == "__main__":
    main()
