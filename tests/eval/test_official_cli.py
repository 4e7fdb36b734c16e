"""`ffr eval score` on small native-format releases and a Video-R1-format file: metrics.official and
headline.official equal the reference scorer's numbers (worked out by hand below), prediction ids in each
benchmark's form, the per-item scored.jsonl, and the data options users type."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ffr_data.cli_root import build_app


def ffr(*args):
    return CliRunner().invoke(build_app(), ["eval", *map(str, args)])


def put(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def predictions(path: Path, outputs: dict[str, str], id_key: str = "problem_id") -> Path:
    path.write_text("".join(json.dumps({id_key: k, "output": v}) + "\n" for k, v in outputs.items()))
    return path


def score(tmp_path: Path, benchmark: str, preds: Path, data: Path) -> tuple[dict, str]:
    result = ffr("score", "--benchmark", benchmark, "--predictions", preds, "--data", data, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    name = next(iter(json.loads((tmp_path / "out/results.json").read_text())["benchmarks"]))
    return json.loads((tmp_path / "out/results.json").read_text())["benchmarks"][name], result.output


def test_mvbench_native(tmp_path):
    root = tmp_path / "MVBench"
    put(root / "json/action_sequence.json", [
        {"video": f"{i}.mp4", "question": "Next?", "candidates": ["sit", "stand", "walk"], "answer": "walk"}
        for i in range(3)])
    put(root / "json/moving_count.json", [
        {"video": f"{i}.mp4", "question": "How many?", "candidates": ["2", "3"], "answer": "3"} for i in range(2)])
    preds = predictions(tmp_path / "p.jsonl", {
        "action_sequence/0": "C", "action_sequence/1": "<think>walk</think>", "action_sequence/2": "(A) sit",
        "moving_count/0": "It is a three", "moving_count/1": "<answer>B</answer>"})
    mv, _ = score(tmp_path, "MVBench", preds, root)
    # action_sequence: C right, think-only left out, A wrong -> 1/2; moving_count: "a" -> A wrong, B right -> 1/2
    assert mv["metrics"]["official"] == {"task/action_sequence": 50.0, "task/moving_count": 50.0,
                                         "mean_of_task": 50.0}
    assert mv["headline"]["official"] == 50.0 and mv["headline"]["official_metric"] == "mean_of_task"
    assert mv["metrics"]["lenient"]["task/action_sequence"] == pytest.approx(100 / 3)
    items = [json.loads(line) for line in (tmp_path / "out/mvbench/scored.jsonl").read_text().splitlines()]
    assert items[1] == {"problem_id": "action_sequence/1", "status": "ok", "answer": "C",
                        "output": "<think>walk</think>", "strict_parsed": None, "strict_score": 0.0,
                        "lenient_parsed": None, "lenient_score": 0.0, "official_parsed": None,
                        "official_score": 0.0, "official_flag": "excluded"}
    assert [i["official_parsed"] for i in items] == ["C", None, "A", "A", "B"]


def test_vsibench_native(tmp_path):
    rows = [{"id": i, "dataset": "scannet", "scene_name": "s", "question_type": qt, "question": "Q",
             "ground_truth": gt, "options": ["A. x", "B. y"] if gt in "AB" else None}
            for i, (qt, gt) in enumerate([("object_rel_direction_easy", "A"), ("object_rel_direction_medium", "B"),
                                          ("object_rel_direction_hard", "B"), ("route_planning", "A"),
                                          ("object_counting", "10"), ("room_size_estimation", "2.0")])]
    data = tmp_path / "vsi/test.jsonl"
    data.parent.mkdir()
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    preds = tmp_path / "p.json"
    preds.write_text(json.dumps([{"id": 0, "output": "A"}, {"id": 1, "output": "<answer>B</answer>"},
                                 {"id": 2, "output": "b. y"}, {"id": 3, "output": "A"},
                                 {"id": 4, "output": "12"}, {"id": 5, "output": "2.2 m"}]))
    vsi, _ = score(tmp_path, "vsi-bench", preds, data)
    official = vsi["metrics"]["official"]
    # directions (1 + 0 + 1) / 3; route 1; counting 0.6; room 0.9 -> (1 + 0.6 + 0.9 + 2/3) / 4
    assert official["task/object_rel_direction"] == 66.6667
    assert official["task/object_counting"] == pytest.approx(60.0)
    assert official["task/room_size_estimation"] == pytest.approx(90.0)
    assert vsi["headline"]["official"] == pytest.approx(100 * round((1 + 0.6 + 0.9 + 2 / 3) / 4, 6))
    assert vsi["metrics"]["lenient"]["task/object_rel_direction"] == 100.0     # lenient unwraps the tag


def test_videomme_native(tmp_path):
    rows = [{"video_id": "001", "duration": d, "domain": "Knowledge", "sub_category": "Astronomy", "url": "u",
             "videoID": "v", "question_id": f"001-{i + 1}", "task_type": "Counting Problem", "question": "Q",
             "options": ["A. 1", "B. 2", "C. 3", "D. 4"], "answer": a}
            for i, (d, a) in enumerate([("short", "C"), ("short", "A"), ("long", "B")])]
    data = tmp_path / "Video-MME/videomme/test-00000-of-00001.parquet"
    data.parent.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(data)
    preds = predictions(tmp_path / "p.jsonl", {"001-1": "the answer is B, not C because", "001-2": "A",
                                               "001-3": "<think>C</think>"}, id_key="question_id")
    vme, _ = score(tmp_path, "Video-MME", preds, tmp_path / "Video-MME")
    assert vme["metrics"]["official"]["overall_micro"] == pytest.approx(200 / 3)
    assert vme["headline"]["official"] == pytest.approx(200 / 3)
    assert vme["unparseable"]["official"] == 1                                 # "" after stripping


def test_tempcompass_native_formats_and_ids(tmp_path):
    root = tmp_path / "tempcompass"
    put(root / "questions/multi-choice.json", {"v1": {"speed": [
        {"question": "How fast?\nA. slow\nB. fast", "answer": "B. fast"},
        {"question": "How fast now?\nA. slow\nB. fast", "answer": "A. slow"}]},
        "v2": {"order": [{"question": "First?\nA. red\nB. blue", "answer": "A. red"}]}})
    put(root / "questions/yes_no.json", {"v1": {"speed": [{"question": "Fast?", "answer": "yes"},
                                                          {"question": "Slow?", "answer": "no"}]}})
    put(root / "questions/caption_matching.json", {"v1": {"order": [
        {"question": "Which caption?\nCaption A: a car stops.\nCaption B: a car starts.",
         "answer": "Caption B: a car starts."}]}})
    preds = predictions(tmp_path / "p.jsonl", {
        "multi-choice/0": "B", "multi-choice/1": "<answer>A</answer>", "multi-choice/2": "A. red",
        "yes_no/0": "Yes.", "yes_no/1": "I cannot tell", "caption_matching/0": "Caption B", "mc/9": "A"})
    tc, output = score(tmp_path, "TempCompass", preds, root)
    official = tc["metrics"]["official"]
    assert official["format/multi-choice"] == pytest.approx(200 / 3)          # the tagged reply goes to the judge
    assert official["format/multi-choice/speed"] == 50.0 and official["format/multi-choice/order"] == 100.0
    assert official["format/yes_no"] == 50.0 and official["format/caption_matching"] == 100.0
    assert tc["headline"]["official"] == pytest.approx((200 / 3 + 50 + 100) / 3)
    assert tc["counts"]["official_flags"] == {"judge": 2}
    assert "2 item(s) would go to the reference's GPT judge" in output
    assert tc["counts"]["unknown_prediction_examples"] == ["mc/9"]
    assert "ids look like ['caption_matching/0', 'multi-choice/0', 'multi-choice/1']" in output


def test_video_r1_format_file_and_data_root_folder(tmp_path):
    # A Video-R1-eval folder: eval_<name>.json beside video folders named like the benchmarks.
    root = tmp_path / "Evaluation"
    (root / "VSI-Bench/scannet").mkdir(parents=True)
    put(root / "eval_vsibench.json", [
        {"problem_id": 1, "problem": "Closer?", "options": ["A. x", "B. y"], "problem_type": "multiple choice",
         "solution": "<answer>B</answer>", "path": "./VSI-Bench/scannet/s.mp4", "data_type": "video"},
        {"problem_id": 2, "problem": "Which?", "options": ["A. x", "B. y"], "problem_type": "multiple choice",
         "solution": "<answer>A</answer>", "path": "./VSI-Bench/scannet/s.mp4", "data_type": "video"},
        {"problem_id": 3, "problem": "How many?", "options": [], "problem_type": "regression",
         "solution": "<answer>10</answer>", "path": "./VSI-Bench/scannet/s.mp4", "data_type": "video"}])
    preds = tmp_path / "eval_vsibench_greedy_output.json"
    preds.write_text(json.dumps({"results": [{"problem_id": 1, "output": "<think>y</think>B"},
                                             {"problem_id": 2, "output": "<answer>B</answer>"},
                                             {"problem_id": 3, "output": "<answer>12</answer>"}]}))
    result = ffr("score", "--benchmark", "vsibench", "--predictions", preds, "--data-root", root,
                 "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    vsi = json.loads((tmp_path / "out/results.json").read_text())["benchmarks"]["vsibench"]
    assert vsi["settings"]["source"]["format"] == "video-r1"
    # Video-R1: the untagged "<think>y</think>B" is compared whole (wrong); mean_acc 0, mean_mra 0.6 (float32)
    assert vsi["metrics"]["official"]["mean_acc"] == 0.0
    assert vsi["metrics"]["official"]["mean_mra"] == pytest.approx(60.0, abs=1e-5)
    assert vsi["headline"]["official"] == pytest.approx(30.0, abs=1e-5)
    assert vsi["headline"]["metric"] == "videor1_acc_mra" and "lmms-eval" not in vsi["headline"]["label"]
    assert vsi["counts"]["official_flags"] == {"whole-output": 1}
    assert "None" not in result.output                                        # a score-only report


@pytest.mark.parametrize("spelling", ["video-holmes", "videoholmes", "Video-Holmes", "HOLMES"])
def test_benchmark_names_in_the_spellings_users_type(tmp_path, spelling):
    put(tmp_path / "Video-Holmes/test_Video-Holmes.json", [
        {"video ID": "f1", "Question Type": "TCI", "Question": "Why?",
         "Options": {k: f"reason {k}" for k in "ABCD"}, "Answer": "C"}])
    preds = predictions(tmp_path / "p.jsonl", {"test_Video-Holmes/0": "<answer>C</answer>"})
    result = ffr("score", "--benchmark", spelling, "--predictions", preds, "--data-root", tmp_path)
    assert result.exit_code == 0, result.output
    assert "Video-Holmes (holmes)" in result.output and "| 100.00 |" in result.output
