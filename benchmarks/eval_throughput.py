"""Throughput of `ffr eval` on the synthetic test split with the tiny student, and where the time goes
(video decoding, processor preprocessing, generation). Measures; asserts nothing. Batch size 1 is the baseline the
other batch sizes are compared with (same run, same data, same model).

    uv run python benchmarks/eval_throughput.py [--data DIR] [--model DIR] [--samples 256] [--batch-sizes 1,16,64]

Without --data the synthetic benchmark is generated (ffr_data.synth) into a temporary folder; without --model a
fresh tiny student is built (random weights: it never emits EOS, so every answer runs to --max-new-tokens).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ffr_eval import EvalConfig
from ffr_eval.config import DecodingConfig
from ffr_eval.runner import run_eval


def prepare(args: argparse.Namespace, tmp: Path) -> tuple[Path, Path]:
    data = Path(args.data) if args.data else tmp / "synth"
    if not args.data:
        from ffr_data.synth import ensure_benchmark

        ensure_benchmark(data, counts={"train": 4, "val": 4, "test": args.samples, "warmup": 4}, seed=0,
                         progress=False)
    model = Path(args.model) if args.model else tmp / "student"
    if not args.model:
        from ffr_data.prompting import format_question
        from ffr_data.schema import load_samples
        from ffr_train.student import build_tiny_student

        samples = load_samples(data / "test.jsonl").samples
        build_tiny_student(model, [format_question(s) + s.solution for s in samples], arch="qwen2_5_vl")
    return data, model


def measure(data: Path, model: Path, out: Path, batch_size: int, args: argparse.Namespace) -> dict:
    cfg = EvalConfig(model=str(model), benchmarks=["synth"], data_root=str(data), out=str(out), batch_size=batch_size,
                     limit=args.samples, decoding=DecodingConfig(max_new_tokens=args.max_new_tokens), progress=False,
                     chart=False)
    result = run_eval(cfg)["benchmarks"]["synth"]
    return {**result["timing"], "scored": result["counts"]["scored"], "errors": result["counts"]["errors"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="A synth split folder (<data>/test.jsonl).")
    parser.add_argument("--model", help="A model directory (default: a fresh tiny student).")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--batch-sizes", default="1,16,64")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="48 is the trainer's evaluation cap.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data, model = prepare(args, tmp)
        rows = {bs: measure(data, model, tmp / f"bs{bs}", bs, args) for bs in map(int, args.batch_sizes.split(","))}
    baseline = rows[min(rows)]["samples_per_s"]
    print(f"ffr eval on {data} (test split, {args.samples} samples), model {model}, max_new_tokens "
          f"{args.max_new_tokens}")
    print("| batch | samples/s | vs batch " + str(min(rows)) + " | decode s | preprocess s | generate s | wall s "
          "| decode % | preprocess % | generate % | errors |")
    print("| --- " * 11 + "|")
    for bs, r in rows.items():
        share = {k: 100 * r[k] / r["wall_s"] for k in ("decode_s", "preprocess_s", "generate_s")}
        print(f"| {bs} | {r['samples_per_s']:.1f} | {r['samples_per_s'] / baseline:.2f}x | {r['decode_s']:.2f} | "
              f"{r['preprocess_s']:.2f} | {r['generate_s']:.2f} | {r['wall_s']:.2f} | {share['decode_s']:.0f} | "
              f"{share['preprocess_s']:.0f} | {share['generate_s']:.0f} | {r['errors']} |")


if __name__ == "__main__":
    main()
