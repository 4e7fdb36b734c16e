"""A blind reader of count patches: naive Bayes from what a count patch shows (per cited window, in time order: its
length in frames, where the sampled frame sits in it, which sampled frame it covers) to the count, trained on the
sft, rl and test count rows and scored on val. Chance is 1/6.

    python docs/results/fair-setting/blind_reader.py data/synth-fair
"""

import json
import math
import sys
from collections import Counter, defaultdict

SAMPLED = [0, 4, 9, 13, 18, 22, 27, 31]  # the student's 8 frames of the 32-frame clips


def features(row: dict) -> list[tuple]:
    windows = sorted(row["evidence"]["windows"] + row["meta"]["pointing"]["decoy_windows"])
    out = []
    for j, (start_s, end_s) in enumerate(windows):
        start, end = round(start_s * 8), round(end_s * 8)
        slot = next(k for k, frame in enumerate(SAMPLED) if start <= frame <= end)
        out += [(j, "len", end - start), (j, "off", SAMPLED[slot] - start), (j, "slot", slot)]
    return out


def count_rows(folder: str, split: str) -> list[dict]:
    with open(f"{folder}/{split}.jsonl") as fh:
        return [json.loads(line) for line in fh if '"family": "count"' in line]


def answer(row: dict) -> int:
    return int(row["solution"].removeprefix("<answer>").removesuffix("</answer>"))


def main(folder: str) -> None:
    train = [r for split in ("sft", "rl", "test") for r in count_rows(folder, split)]
    val = count_rows(folder, "val")
    counts: Counter = Counter(answer(r) for r in train)
    table: dict[tuple, Counter] = defaultdict(Counter)
    for row in train:
        for feature in features(row):
            table[feature][answer(row)] += 1

    def predict(row: dict) -> int:
        def log_posterior(n: int) -> float:
            return math.log(counts[n]) + sum(math.log((table[f][n] + 1) / (counts[n] + 3)) for f in features(row))
        return max(counts, key=log_posterior)

    for name, rows in (("train", train), ("val", val)):
        accuracy = sum(predict(r) == answer(r) for r in rows) / len(rows)
        print(f"{name}: {len(rows)} count rows, blind-reader accuracy {100 * accuracy:.1f} % (chance 16.7 %)")


if __name__ == "__main__":
    main(sys.argv[1])
