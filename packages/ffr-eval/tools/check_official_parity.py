"""Check ffr-eval's official reading against the reference scorers themselves, item by item and in aggregate.

Needs source checkouts of the references (not installed: only their pure scoring functions are read out of the
files and run, with the GPT judge stubbed as unreachable)::

    uv run python packages/ffr-eval/tools/check_official_parity.py --lmms-eval ~/src/lmms-eval \\
        --video-r1 ~/src/Video-R1 [--seed 1] [--items 1500]

For MVBench, VSI-Bench, Video-MME, TempCompass (native releases written to a temporary folder and loaded by
ffr-eval's loaders) and a Video-R1-format VSI-Bench file, random replies built from answer-like fragments are
scored by both; every differing item or aggregate is printed. Exit status 1 when anything differs.
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import random
import re
import string
import sys
import tempfile
import textwrap
import types
import typing
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ffr_eval.benchmarks import load_benchmark
from ffr_eval.config import EvalConfig
from ffr_eval.results import BenchmarkResult, score_rows

FRAGMENTS = ["A", "B", "C", "D", "E", "a", "b", "(B)", "(C)", "B.", "C)", "D:", "A. fast", "b. x", "The answer is",
             "the correct option is", "I choose", "选", " ", "\n", "\t", ".", ",", "!", "<think>", "</think>",
             "<analysis>", "</analysis>", "<answer>", "</answer>", "let me think", "Based on", "yes", "Yes,", "no",
             "not sure", "none", "3", "3.0", "-2.5", "1,200", "12 m", "about 10", "15", "three", "twenty-one",
             "one hundred and five", "and", "Caption A", "Caption B", "Sentence A", "Option 1", "a car stops.",
             "a car starts.", "Caption A: a car stops.", "A) a car", "<", ">", "/", '"', "'", "(", ")", "_", "-",
             "1.5.", "nan", "1e3", "", "Answer: (D)", "DATA.", "B\nC"]
TAGS = [["<think>", "</think>"], ["<analysis>", "</analysis>"]]


def load_definitions(path: Path, names: list[str], extra: dict[str, Any] | None = None,
                     inside_loops: bool = False) -> dict[str, Any]:
    """Execute only the named top-level functions / assignments of a reference file (and, with ``inside_loops``,
    those defined in a ``for`` body, as Video-R1's script does)."""
    source = path.read_text(encoding="utf-8")
    env: dict[str, Any] = {"re": re, "string": string, "np": np, "pd": pd, "partial": partial, "torch": torch,
                           "List": list, "Optional": typing.Optional, "eval_logger": logging.getLogger("ref"),
                           **(extra or {})}

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            name = node.name if isinstance(node, ast.FunctionDef) else (
                getattr(node.targets[0], "id", None) if isinstance(node, ast.Assign) else None)
            if name in names:
                exec(textwrap.dedent(ast.get_source_segment(source, node) or ""), env)
            if inside_loops and isinstance(node, ast.For):
                visit(node.body)

    visit(ast.parse(source).body)
    missing = [n for n in names if n not in env]
    if missing:
        raise SystemExit(f"{path}: no {missing} (a different version of the reference?)")
    return env


class Checker:
    def __init__(self, lmms: Path, video_r1: Path, seed: int, items: int):
        self.rng, self.items, self.mismatches = random.Random(seed), items, 0
        tasks = lmms / "lmms_eval/tasks"
        self.strip_tags = load_definitions(lmms / "lmms_eval/api/reasoning.py", ["strip_reasoning_tags"])[
            "strip_reasoning_tags"]
        mcq = load_definitions(tasks / "_task_utils/mcq_extract.py",
                               ["_DEFAULT_CHOICES", "_ANSWER_PHRASES", "_FORMAT_PRIORITY", "extract_mcq_answer"])
        module = types.ModuleType("mcq_extract")
        module.extract_mcq_answer = mcq["extract_mcq_answer"]
        for name in ("lmms_eval", "lmms_eval.tasks", "lmms_eval.tasks._task_utils"):
            sys.modules.setdefault(name, types.ModuleType(name))
        sys.modules["lmms_eval.tasks._task_utils.mcq_extract"] = module
        self.mvbench = load_definitions(tasks / "mvbench/utils.py", ["mcq_acc", "mvbench_process_results",
                                                                     "mvbench_aggregate_results"])
        self.vsi = load_definitions(tasks / "vsibench/utils.py", [
            "_NUMBER_WORDS", "_NUM_RE", "MCA_QUESTION_TYPES", "NA_QUESTION_TYPES", "METRICS_FOR_MCA", "METRICS_FOR_NA",
            "fuzzy_matching", "exact_match", "abs_dist_norm", "mean_relative_accuracy", "WORST_CASE_FOR_METRICS",
            "to_float", "extract_number", "vsibench_process_results", "_compute_all_subscores"])
        self.vme = load_definitions(tasks / "videomme/utils.py", [
            "VIDEO_TYPE", "CATEGORIES", "SUB_CATEGORIES", "TASK_CATEGORIES", "extract_characters_regex",
            "videomme_process_results", "videomme_aggregate_results"])
        unreachable_judge = {"get_eval_result": lambda prompt, maxtry=10, sys_prompt=None: (None, 0)}
        self.tc = load_definitions(tasks / "tempcompass/utils.py", [
            "tempcompass_process_results_multi_choice", "tempcompass_process_results_yes_no",
            "tempcompass_process_results_caption_matching", "eval_rule", "extract_pred",
            "tempcompass_aggregate_rating"], unreachable_judge)
        self.vr1 = load_definitions(video_r1 / "src/eval_bench.py", [
            "extract_answer", "normalize_number", "mean_relative_accuracy", "reward_fn"], inside_loops=True)

    def reply(self, hints: list[str]) -> str:
        rng = self.rng
        text = "".join(rng.choice(FRAGMENTS) + rng.choice(["", " ", "\n"]) for _ in range(rng.randint(0, 6)))
        hint = rng.choice(hints)
        if rng.random() < 0.6:
            text = rng.choice([hint, hint + rng.choice([".", " ", "\n", ")"]), "The answer is " + hint, text + hint])
        return rng.choice([text, f"<think>{text[::-1]}</think>{text}", f"<answer>{text}</answer>",
                           f"<think>x</think><answer>{text}</answer>", text + "</think>" + hint])

    def compare(self, what: str, ours: float | None, reference: float, context: Any) -> None:
        if ours is None or abs(ours - reference) > 1e-9 * max(1.0, abs(reference)):
            self.mismatches += 1
            print(f"differs: {what}: ffr-eval {ours}, reference {reference}  ({context!r})")

    def run(self, name: str, data: Path, docs: list[dict], hints: Callable[[dict], list[str]],
            item: Callable[[dict, str], tuple[float, Any]],
            aggregate: Callable[[list[Any], list[dict]], dict[str, float]]) -> BenchmarkResult:
        loaded = load_benchmark(name, EvalConfig(data_root=str(data)))
        outputs = {s.problem_id: self.reply(hints(doc)) for s, doc in zip(loaded.samples, docs, strict=True)}
        result = score_rows(loaded.benchmark, loaded.samples, {k: {"status": "ok", "output": v}
                                                               for k, v in outputs.items()},
                            source_format=loaded.source["format"])
        rows = {row["problem_id"]: row for row in result.rows}
        per_item = []
        for sample, doc in zip(loaded.samples, docs, strict=True):
            value, kept = item(doc, outputs[sample.problem_id])
            self.compare(f"{name} {sample.problem_id}", rows[sample.problem_id]["official_score"], value,
                         outputs[sample.problem_id])
            per_item.append(kept)
        for key, value in aggregate(per_item, docs).items():
            self.compare(f"{name} {key}", result.metrics["official"].get(key), value, key)
        print(f"{name}: {len(docs)} items, official headline {result.headline('official'):.4f}, "
              f"flags {result.counts['official_flags']}")
        return result

    def strip(self, text: str) -> str:
        return self.strip_tags(text, TAGS)


def check_mvbench(c: Checker, root: Path) -> None:
    docs = []
    for task in ("action_sequence", "fine_grained_pose", "moving_count"):
        rows = []
        for i in range(c.items // 3):
            candidates = c.rng.sample(["sit", "stand", "walk", "2", "3", "a cup", "B"], c.rng.randint(2, 5))
            rows.append({"video": f"{i}.mp4", "question": "Q?", "candidates": candidates,
                         "answer": c.rng.choice(candidates)})
            docs.append({**rows[-1], "task": task})
        (root / "mvbench/json").mkdir(parents=True, exist_ok=True)
        (root / f"mvbench/json/{task}.json").write_text(json.dumps(rows))

    def item(doc: dict, output: str) -> tuple[float, Any]:
        result = c.mvbench["mvbench_process_results"](doc, [c.strip(output)])["mvbench_accuracy"]
        return result["score"], result

    def aggregate(per_item: list[Any], docs: list[dict]) -> dict[str, float]:
        by_task: dict[str, list] = {}
        for result, doc in zip(per_item, docs, strict=True):
            by_task.setdefault(doc["task"], []).append(result)
        out = {f"task/{t}": c.mvbench["mvbench_aggregate_results"](v) for t, v in by_task.items()}
        return {**out, "mean_of_task": sum(out.values()) / len(out)}

    c.run("mvbench", root, docs, lambda d: ["ABCDE"[d["candidates"].index(d["answer"])], d["answer"], "a"], item,
          aggregate)


def check_vsibench(c: Checker, root: Path) -> None:
    mca, na = c.vsi["MCA_QUESTION_TYPES"], c.vsi["NA_QUESTION_TYPES"]
    docs = []
    for i in range(c.items):
        question_type = c.rng.choice(mca + na)
        mc = question_type in mca
        docs.append({"id": i, "dataset": "scannet", "scene_name": "s", "question_type": question_type, "question": "Q",
                     "ground_truth": c.rng.choice("ABCD") if mc else c.rng.choice(["3", "10", "2.5", "0.8", "120"]),
                     "options": ["A. x", "B. y", "C. z", "D. w"] if mc else None})
    (root / "vsibench").mkdir()
    pd.DataFrame(docs).to_parquet(root / "vsibench/test-00000-of-00001.parquet")

    def hints(doc: dict) -> list[str]:
        gold = doc["ground_truth"]
        if doc["question_type"] in mca:
            return [gold, gold.lower(), gold + "."]
        return [gold, *(str(float(gold) * k) for k in (1.5, 1.2, 0.9, 1.05)), "three"]

    def item(doc: dict, output: str) -> tuple[float, Any]:
        result = c.vsi["vsibench_process_results"](dict(doc), [c.strip(output)])["vsibench_overall"]
        return result["accuracy" if doc["question_type"] in mca else "MRA:.5:.95:.05"], result

    def aggregate(per_item: list[Any], docs: list[dict]) -> dict[str, float]:
        scores = c.vsi["_compute_all_subscores"](per_item)
        name = {k: "lmms_8task" if k == "overall" else "task/" + re.sub(r"_(accuracy|MRA:.*)$", "", k) for k in scores}
        return {name[k]: round(100 * round(v, 6), 4) for k, v in scores.items()}

    c.run("vsibench", root, docs, hints, item, aggregate)


def check_videomme(c: Checker, root: Path) -> None:
    docs = [{"video_id": "001", "duration": c.rng.choice(c.vme["VIDEO_TYPE"]), "domain": c.rng.choice(c.vme["CATEGORIES"]),
             "sub_category": c.rng.choice(c.vme["SUB_CATEGORIES"]), "url": "u", "videoID": f"v{i}",
             "question_id": f"{i:03d}-1", "task_type": c.rng.choice(c.vme["TASK_CATEGORIES"]), "question": "Q",
             "options": ["A. 1", "B. 2", "C. 3", "D. 4"], "answer": c.rng.choice("ABCD")} for i in range(c.items)]
    (root / "videomme/videomme").mkdir(parents=True)
    pd.DataFrame(docs).to_parquet(root / "videomme/videomme/test-00000-of-00001.parquet")

    def item(doc: dict, output: str) -> tuple[float, Any]:
        result = c.vme["videomme_process_results"](doc, [c.strip(output)])["videomme_perception_score"]
        return float(result["pred_answer"] == result["answer"]), result

    c.run("videomme", root, docs, lambda d: [d["answer"], f"({d['answer']})", "the correct option is " + d["answer"]],
          item, lambda per_item, docs: {"overall_micro": c.vme["videomme_aggregate_results"](per_item)})


def check_tempcompass(c: Checker, root: Path) -> None:
    docs = []
    for fmt in ("caption_matching", "multi-choice", "yes_no"):
        rows = []
        for _ in range(c.items // 3):
            dim = c.rng.choice(["speed", "direction", "order", "action", "attribute_change"])
            if fmt == "multi-choice":
                row = {"question": "How?\nA. fast\nB. slow\nC. stop\nD. go",
                       "answer": c.rng.choice(["A. fast", "B. slow", "C. stop", "D. go"])}
            elif fmt == "yes_no":
                row = {"question": "Is it?", "answer": c.rng.choice(["yes", "no"])}
            else:
                label = c.rng.choice(["Caption", "Sentence"])
                lines = [f"{label} A: a car stops.", f"{label} B: a car starts."]
                row = {"question": "Which?\n" + "\n".join(lines), "answer": c.rng.choice(lines)}
            rows.append({"video_id": "v", "dim": dim, **row})
            docs.append({**rows[-1], "fmt": fmt})
        (root / f"tempcompass/{fmt}").mkdir(parents=True)
        pd.DataFrame(rows).to_parquet(root / f"tempcompass/{fmt}/test-00000-of-00001.parquet")
    process = {"multi-choice": "tempcompass_process_results_multi_choice", "yes_no": "tempcompass_process_results_yes_no",
               "caption_matching": "tempcompass_process_results_caption_matching"}

    def hints(doc: dict) -> list[str]:
        answer = doc["answer"]
        if doc["fmt"] == "multi-choice":
            return [answer, answer[0], answer[:2], answer[0] + ")"]
        if doc["fmt"] == "yes_no":
            return [answer, answer.capitalize() + ", it is"]
        return [answer, answer.split(": ")[0], answer.split(": ")[1], answer.split(": ")[0].split()[1], "A", "B."]

    def item(doc: dict, output: str) -> tuple[float, Any]:
        result = c.tc[process[doc["fmt"]]](doc, [c.strip(output)])["avg_accuracy"]
        return float(result["rating"]), result

    def aggregate(per_item: list[Any], docs: list[dict]) -> dict[str, float]:
        rate = c.tc["tempcompass_aggregate_rating"]
        out: dict[str, float] = {}
        by_format: dict[str, list] = {}
        for result, doc in zip(per_item, docs, strict=True):
            by_format.setdefault(doc["fmt"], []).append(result)
        for fmt, results in by_format.items():
            out[f"format/{fmt}"] = rate(results, None)
            for dim in {r["dim"] for r in results}:
                out[f"format/{fmt}/{dim}"] = rate([r for r in results if r["dim"] == dim], None)
        return {**out, "mean_of_format": sum(out[f"format/{f}"] for f in by_format) / len(by_format)}

    c.run("tempcompass", root, docs, hints, item, aggregate)


def check_video_r1(c: Checker, root: Path) -> None:
    docs = []
    for i in range(c.items):
        mc = c.rng.random() < 0.5
        docs.append({"problem_id": i, "problem": "Q", "options": ["A. x", "B. y", "C. z", "D. w"] if mc else [],
                     "problem_type": "multiple choice" if mc else "regression", "path": "./v.mp4", "data_type": "video",
                     "solution": f"<answer>{c.rng.choice('ABCD') if mc else c.rng.choice(['3', '10', '1,200', '0.8'])}"
                                 "</answer>"})
    (root / "video-r1").mkdir()
    (root / "video-r1/eval_vsibench.json").write_text(json.dumps(docs))

    def hints(doc: dict) -> list[str]:
        gold = c.vr1["extract_answer"](doc["solution"])
        return [gold, gold + " ", gold.replace(",", ""), gold + ".0", "1.5", "b"]

    def item(doc: dict, output: str) -> tuple[float, Any]:
        value = c.vr1["reward_fn"](doc, output, doc["problem_type"])
        return value, (doc["problem_type"], value)

    def aggregate(per_item: list[Any], docs: list[dict]) -> dict[str, float]:
        acc = [v for kind, v in per_item if kind != "regression"]
        mra = [v for kind, v in per_item if kind == "regression"]
        return {"mean_acc": 100 * torch.tensor(acc).mean().item(), "mean_mra": 100 * torch.tensor(mra).mean().item()}

    c.run("vsibench", root / "video-r1", docs, hints, item, aggregate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lmms-eval", type=Path, required=True, help="lmms-eval source checkout")
    parser.add_argument("--video-r1", type=Path, required=True, help="Video-R1 source checkout")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--items", type=int, default=1500, help="items per benchmark")
    args = parser.parse_args()
    checker = Checker(args.lmms_eval, args.video_r1, args.seed, args.items)
    with tempfile.TemporaryDirectory() as tmp:
        for check in (check_mvbench, check_vsibench, check_videomme, check_tempcompass, check_video_r1):
            check(checker, Path(tmp))
    print(f"{checker.mismatches} difference(s)")
    sys.exit(1 if checker.mismatches else 0)


if __name__ == "__main__":
    main()
