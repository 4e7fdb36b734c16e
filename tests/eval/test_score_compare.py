"""`ffr eval score` (re-scoring predictions without a model) and `ffr eval compare` round trips."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ffr_data.cli_root import build_app
from ffr_eval import EvalConfig
from ffr_eval.config import DecodingConfig
from ffr_eval.runner import run_eval


def ffr(*args: str):
    return CliRunner().invoke(build_app(), ["eval", *map(str, args)])


@pytest.fixture(scope="module")
def run_dir(tiny_student_dir, synth_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "base"
    run_eval(EvalConfig(model=str(tiny_student_dir), benchmarks=["synth"], data_root=str(synth_root), out=str(out),
                        decoding=DecodingConfig(max_new_tokens=8), progress=False))
    return out


def test_score_reproduces_the_run(run_dir, synth_root, tmp_path):
    result = ffr("score", "--benchmark", "synth", "--predictions", run_dir / "synth/predictions.rank0.jsonl",
                 "--data", synth_root / "test.jsonl", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    rescored = json.loads((tmp_path / "results.json").read_text())["benchmarks"]["synth"]
    original = json.loads((run_dir / "results.json").read_text())["benchmarks"]["synth"]
    assert rescored["metrics"] == original["metrics"] and rescored["unparseable"] == original["unparseable"]
    assert rescored["counts"]["scored"] == 4 and rescored["counts"]["unknown_predictions"] == 0


def test_score_hand_written_predictions_with_unknown_ids(synth_root, tmp_path):
    # gold answers of test-0..3 are A, B, C, D
    rows = [{"problem_id": "test-0", "output": "<think>top-left</think><answer>A</answer>"},
            {"problem_id": "test-1", "output": "The answer is B"},
            {"problem_id": "test-2", "output": "<think>no idea</think>"},
            {"problem_id": "test-3", "output": "<answer>C</answer>"},
            {"problem_id": "ghost-1", "output": "<answer>A</answer>"},
            {"problem_id": "test-9"}]
    predictions = tmp_path / "preds.jsonl"
    predictions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = ffr("score", "--benchmark", "synth", "--predictions", predictions, "--data-root", synth_root,
                 "--out", tmp_path / "scored")
    assert result.exit_code == 0, result.output
    synth = json.loads((tmp_path / "scored/results.json").read_text())["benchmarks"]["synth"]
    assert synth["metrics"]["strict"]["overall_micro"] == 25.0          # only test-0's tag is right
    assert synth["metrics"]["lenient"]["overall_micro"] == 50.0         # + "The answer is B"
    # official (Video-R1's eval_bench.py): untagged outputs are compared whole, so nothing is unparseable
    assert synth["unparseable"] == {"strict": 2, "lenient": 1, "official": 0}
    assert synth["metrics"]["official"]["mean_acc"] == 25.0
    assert synth["counts"]["unknown_predictions"] == 1 and synth["counts"]["unknown_prediction_examples"] == ["ghost-1"]
    assert synth["counts"]["unusable_prediction_rows"] == 1
    assert "predictions for unknown ids: 1" in result.output


def test_score_a_native_benchmark_from_video_r1_results(tmp_path):
    root = tmp_path / "vsibench"
    root.mkdir()
    pd.DataFrame([
        {"id": 1, "dataset": "scannet", "scene_name": "s1", "question_type": "object_rel_distance",
         "question": "Closer?", "ground_truth": "A", "options": ["A. chair", "B. table"]},
        {"id": 2, "dataset": "scannet", "scene_name": "s1", "question_type": "object_counting",
         "question": "How many?", "ground_truth": "10", "options": None},
    ]).to_parquet(root / "test-00000-of-00001.parquet")
    predictions = tmp_path / "eval_vsibench_greedy_output.json"        # Video-R1's output layout
    predictions.write_text(json.dumps({"results": [{"problem_id": 1, "output": "<answer>A</answer>"},
                                                   {"problem_id": 2, "output": "<answer>15</answer>"}]}))
    result = ffr("score", "--benchmark", "vsibench", "--predictions", predictions, "--data", root,
                 "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    vsi = json.loads((tmp_path / "out/results.json").read_text())["benchmarks"]["vsibench"]
    assert vsi["metrics"]["lenient"]["lmms_8task"] == pytest.approx((100 + 10) / 2)
    assert vsi["metrics"]["strict"]["videor1_acc_mra"] == pytest.approx((100 + 0) / 2)
    assert vsi["headline"]["metric"] == "lmms_8task"


def test_score_unknown_benchmark_and_missing_file(tmp_path):
    result = ffr("score", "--benchmark", "nope", "--predictions", tmp_path / "p.jsonl", "--data", tmp_path)
    assert "unknown benchmark 'nope' (known: " in str(result.exception)


def test_compare_runs_with_deltas_and_chart(run_dir, tmp_path):
    other = tmp_path / "better"
    shutil.copytree(run_dir, other)
    payload = json.loads((other / "results.json").read_text())
    payload["benchmarks"]["synth"]["headline"]["lenient"] = 42.5
    (other / "results.json").write_text(json.dumps(payload))
    result = ffr("compare", run_dir, other, "--out", tmp_path / "cmp.md", "--chart", tmp_path / "cmp.png")
    assert result.exit_code == 0, result.output
    base_lenient = json.loads((run_dir / "results.json").read_text())["benchmarks"]["synth"]["headline"]["lenient"]
    assert f"| synth | lenient | accuracy (%) | {base_lenient:.2f} | 42.50 ({42.5 - base_lenient:+.2f}) |" in result.output
    assert (tmp_path / "cmp.md").read_text() == result.output.rstrip("\n") + "\n"
    assert (tmp_path / "cmp.png").read_bytes()[:4] == b"\x89PNG"
    missing = ffr("compare", run_dir, tmp_path / "nothing")
    assert "no results.json" in str(missing.exception)
