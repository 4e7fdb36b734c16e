"""Files in the Video-R1-eval / FFR schema as Video-R1 scores them (``src/eval_bench.py`` at commit 59d65c34:
``extract_answer``, ``reward_fn``, ``mean_relative_accuracy`` and the ``final_acc`` means).

Per item: the first ``<answer>…</answer>`` content, trimmed; with no tag (or an empty one) the **whole output** is
compared. Multiple choice: trimmed strings equal (case-sensitive). Numerical: the same decimal-point/comma presence,
then equal at 2 decimals. Regression: ``float`` after removing commas, then MRA in float32 with strict ``<`` and
``+1e-8``. Any other problem type scores 0 (the script has no rule for it). Aggregation: ``mean_acc`` over the
non-regression items and ``mean_mra`` over the regression items, float32 means as ``torch`` computes them; VSI-Bench's
published number is their mean (the maintainer, Video-R1 issue #121), every other benchmark's is ``mean_acc``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ffr_data import scoring
from ffr_data.schema import Sample
from ffr_eval.aggregate import ScoredItem
from ffr_eval.item_scoring import ItemScore
from ffr_eval.official.base import OFFICIAL, WHOLE_OUTPUT, Aggregated, OfficialScorer, register

VIDEO_R1 = "video-r1"
VIDEO_R1_COMMIT = "59d65c34"
_ANSWER = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)


def extract_answer(text: str) -> str:
    match = _ANSWER.search(text)
    return match.group(1).strip() if match else ""


def reward(output_ans: str, gt_ans: str, problem_type: str) -> tuple[float, str | None]:
    """(reward, what was compared; None when it is not a number where one is needed)."""
    if problem_type == "multiple choice":
        return (1.0 if output_ans.strip() == gt_ans.strip() else 0.0), output_ans.strip()
    if problem_type == "numerical":
        parsed = output_ans if scoring.bare_number(output_ans) is not None else None
        return float(scoring.numbers_match(gt_ans, output_ans)), parsed
    if problem_type == "regression":
        if scoring.bare_number(gt_ans) is None or scoring.bare_number(output_ans) is None:
            return 0.0, None
        with np.errstate(over="ignore", invalid="ignore"):
            mra = scoring.mean_relative_accuracy(gt_ans, output_ans, strict=True)
        return float(np.float32(mra)), output_ans  # torch's float32 mean, as ``.item()`` returns it
    return 0.0, output_ans


def score(output: str, sample: Sample) -> ItemScore:
    output_ans = extract_answer(output)
    flag = None
    if output_ans == "":
        output_ans, flag = output, WHOLE_OUTPUT
    value, parsed = reward(output_ans, extract_answer(sample.solution), sample.problem_type)
    return ItemScore(value, parsed, flag)


def aggregate(items: Sequence[ScoredItem]) -> Aggregated:
    import torch

    acc = [i.scores[OFFICIAL].value for i in items if i.problem_type != "regression"]
    mra = [i.scores[OFFICIAL].value for i in items if i.problem_type == "regression"]
    metrics: dict[str, float] = {}
    if acc:
        metrics["mean_acc"] = 100 * torch.tensor(acc).mean().item()
    if mra:
        metrics["mean_mra"] = 100 * torch.tensor(mra).mean().item()
    if acc and mra:
        metrics["videor1_acc_mra"] = (metrics["mean_acc"] + metrics["mean_mra"]) / 2
    return metrics, []


VIDEO_R1_SCORER = register(OfficialScorer(
    key=VIDEO_R1, reference=f"Video-R1 {VIDEO_R1_COMMIT} src/eval_bench.py", score=score, aggregate=aggregate,
    headline=(("videor1_acc_mra", "Video-R1: (mean_acc + mean_mra) / 2 (%)"),
              ("mean_acc", "Video-R1 mean_acc: accuracy (%)"), ("mean_mra", "Video-R1 mean_mra (%)"))))
