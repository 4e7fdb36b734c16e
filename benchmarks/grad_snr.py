"""How much of one RL update is signal: the agreement of policy gradients computed on independent batches of the same
size, for several batch sizes, on a given student and data. Measures; asserts nothing.

    uv run python benchmarks/grad_snr.py --student runs/tiny-student-sft --data data/synth/train.jsonl \
        --prompts 4,8,16,32 --batches 6 [--algo grpo] [key=value ...]

For each number of prompts per step P, ``--batches`` independent batches (disjoint prompts, fresh rollouts) each give
one gradient of the RL loss (the trainer's own step and update code, no optimizer step). With per-batch gradients
g_i = s + n_i (a shared signal s, independent noise n_i), the mean pairwise cosine between them estimates
|s|^2 / (|s|^2 + E|n|^2) — the share of a batch gradient's squared norm that every batch agrees on. It grows with P
as the noise averages out; a budget is worth its steps once it is well above zero.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

import torch


def batch_gradient(trainer, samples) -> torch.Tensor:
    """The flattened gradient of the update's loss on one batch (collect + loss, no optimizer step)."""
    from ffr_train.step import collect_step

    model = trainer.accelerator.unwrap_model(trainer.model)
    data = collect_step(trainer._context(), samples)
    captured = {}
    step = trainer.optimizer.step

    def capture(*args, **kwargs):
        captured["g"] = torch.cat([p.grad.detach().flatten() for p in model.parameters() if p.grad is not None])

    trainer.optimizer.step = capture
    try:
        trainer.updater.update(data.slots, 0, data.distill, data.gold)
    finally:
        trainer.optimizer.step = step
        trainer.optimizer.zero_grad()
    return captured["g"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--student", required=True)
    parser.add_argument("--data", required=True, help="training rows (the RL split)")
    parser.add_argument("--prompts", default="4,8,16,32")
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--algo", default="grpo")
    parser.add_argument("--config", default=None, help="a training config to start from (e.g. configs/fair.yaml)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    from ffr_data.config import resolve
    from ffr_train.config import TrainConfig
    from ffr_train.trainer import RLTrainer

    out = Path(tempfile.mkdtemp(prefix="ffr-snr-"))
    cfg = resolve(TrainConfig(), args.config, [
        f"algo={args.algo}", f"student.path={args.student}", "student.sft_before_rl=false",
        f"data.train_file={args.data}", "data.val_file=null", f"output_dir={out / 'run'}", "logging.progress=false",
        "logging.trackers=[]", "teacher.startup_probe=false", *args.overrides])
    trainer = RLTrainer(cfg)
    rows = []
    offset = 0
    for p in [int(x) for x in args.prompts.split(",")]:
        grads = []
        for _ in range(args.batches):
            samples = trainer.train_samples[offset:offset + p]
            offset = (offset + p) % max(1, len(trainer.train_samples) - p)
            grads.append(batch_gradient(trainer, samples))
        cosines = [float(torch.nn.functional.cosine_similarity(a, b, dim=0))
                   for a, b in itertools.combinations(grads, 2)]
        mean = sum(cosines) / len(cosines)
        rows.append({"prompts": p, "rollouts": p * cfg.rollout.group_size, "mean_pairwise_cosine": round(mean, 4),
                     "min": round(min(cosines), 4), "max": round(max(cosines), 4)})
        print(f"P = {p:3d} prompts ({p * cfg.rollout.group_size} rollouts): mean pairwise cosine {mean:+.3f} "
              f"(range {min(cosines):+.3f} .. {max(cosines):+.3f})", flush=True)
    print(json.dumps({"student": args.student, "data": args.data, "algo": args.algo, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
