"""Official metrics on hand-computed cases: item scores under both readings and every aggregation."""

from __future__ import annotations

import pytest

from conftest import mcq_sample as sample
from ffr_eval.benchmarks import get_benchmark
from ffr_eval.item_scoring import mmmu_open_correct, mmvu_open_correct, score_output
from ffr_eval.results import score_rows


def ok(output):
    return {"status": "ok", "output": output}


def test_choice_strict_is_exact_and_lenient_parses():
    s = sample("1")
    scores = score_output("<think>x</think><answer>B</answer>", s)
    assert (scores["strict"].value, scores["lenient"].value) == (1.0, 1.0)
    scores = score_output("<answer>B.</answer>", s)                       # Video-R1: "B." is wrong
    assert (scores["strict"].value, scores["lenient"].value) == (0.0, 1.0)
    scores = score_output("The answer is B", s)                           # no tag: strict unparseable
    assert scores["strict"].unparseable and scores["lenient"].value == 1.0
    scores = score_output("I cannot tell", s)
    assert scores["strict"].unparseable and scores["lenient"].unparseable


def test_numeric_scorers():
    reg = sample("r", "regression", answer="10")
    scores = score_output("<answer>15</answer>", reg)                       # rel. error exactly 0.5
    assert scores["strict"].value == 0.0 and scores["lenient"].value == pytest.approx(0.1)
    scores = score_output("<answer>12 m</answer>", reg)                     # not a bare number
    assert scores["strict"].unparseable and scores["lenient"].value == pytest.approx(0.6)   # see test_scoring
    num = sample("n", "numerical", answer="3.5")
    assert score_output("<answer>3.50</answer>", num)["strict"].value == 1.0
    assert score_output("<answer>3.6</answer>", num)["strict"].value == 0.0
    assert score_output("about 3.5 metres", num)["lenient"].value == 1.0


def test_ocr_and_free_form():
    ocr = sample("o", "OCR", answer="stop here now")
    assert score_output("<answer>stop here</answer>", ocr)["strict"].value == pytest.approx(1 - 1 / 3)
    free = sample("f", "free-form", answer="the cat sat on the mat")
    # rouge1 5/6, rouge2 3/5, rougeL 5/6 -> mean (5/6 + 3/5 + 5/6) / 3
    assert score_output("<answer>the cat lay on the mat</answer>", free)["strict"].value == pytest.approx(
        (5 / 6 + 3 / 5 + 5 / 6) / 3)


def test_yes_no_and_open_rules():
    yn = sample("y", "free-form", answer="yes", scorer="yes_no")
    scores = score_output("Yes, the man runs.", yn)
    assert scores["strict"].unparseable and scores["lenient"].value == 1.0
    assert score_output("Not sure", yn)["lenient"].parsed == "no"        # starts with "no" (documented quirk)
    assert mmvu_open_correct("Photosynthesis", "it is photosynthesis")
    assert mmvu_open_correct("3.14", "roughly 3.145")
    assert mmvu_open_correct("the red blood cells", "blood cells that are red")
    assert mmvu_open_correct("O(n²)", "o(n^2)")
    assert not mmvu_open_correct("mitosis", "meiosis")
    assert mmmu_open_correct("12", "so the total is 12.0 dollars")
    assert not mmmu_open_correct("12", "so the total is 13")
    assert mmmu_open_correct("Paris", "the capital is paris")


def scored(name, samples, outputs):
    bench = get_benchmark(name)
    return score_rows(bench, samples, {s.problem_id: ok(o) for s, o in zip(samples, outputs, strict=True)})


def test_vsibench_aggregation():
    samples = [
        sample("e", task="object_rel_direction_easy"), sample("m", task="object_rel_direction_medium"),
        sample("h", task="object_rel_direction_hard"), sample("d", task="object_rel_distance"),
        sample("d2", task="object_rel_distance"),
        sample("c", "regression", answer="10", task="object_counting"),
        sample("s", "regression", answer="100", task="object_size_estimation"),
    ]
    outputs = ["<answer>B</answer>", "<answer>B</answer>", "<answer>A</answer>", "<answer>B</answer>",
               "<answer>C</answer>", "<answer>15</answer>", "<answer>112</answer>"]
    result = scored("vsibench", samples, outputs)
    lenient, strict = result.metrics["lenient"], result.metrics["strict"]
    assert lenient["task/object_rel_direction"] == pytest.approx(100 * 2 / 3)     # (1 + 1 + 0) / 3 merged
    assert lenient["task/object_rel_distance"] == pytest.approx(50.0)
    assert lenient["task/object_counting"] == pytest.approx(10.0)                 # MRA 0.1 with <=
    assert strict["task/object_counting"] == pytest.approx(0.0)                   # MRA 0 with <
    assert lenient["task/object_size_estimation"] == pytest.approx(80.0)
    assert lenient["lmms_8task"] == pytest.approx((100 * 2 / 3 + 50 + 10 + 80) / 4)
    # Video-R1: mean_acc over the 5 MC items (3/5), mean_mra over the 2 numeric items ((0 + 0.8) / 2)
    assert strict["mc_accuracy"] == pytest.approx(60.0)
    assert strict["numeric_mra"] == pytest.approx(40.0)
    assert strict["videor1_acc_mra"] == pytest.approx(50.0)
    assert result.headline_key == "lmms_8task"


def test_mvbench_overall_is_the_mean_of_tasks_and_empty_replies_count():
    samples = [sample("a1", task="a"), sample("a2", task="a"), sample("a3", task="a"), sample("b1", task="b")]
    result = scored("mvbench", samples, ["B", "B", "<think>only thinking</think>", "C"])
    lenient = result.metrics["lenient"]
    assert lenient["task/a"] == pytest.approx(100 * 2 / 3)     # the think-only reply stays in the denominator
    assert lenient["task/b"] == 0.0
    assert lenient["mean_of_task"] == pytest.approx(100 / 3)
    assert lenient["overall_micro"] == pytest.approx(50.0)
    assert result.headline("lenient") == pytest.approx(100 / 3)
    # official (lmms-eval) leaves the think-only reply out of task a: 2 / 2 (test_official.py has its cases)
    assert result.unparseable == {"strict": 4, "lenient": 1, "official": 0}


def test_mlvu_m_avg_divides_by_the_fixed_task_list():
    samples = [sample("p", task="plotQA"), sample("n", task="needle"), sample("n2", task="needle")]
    result = scored("mlvu", samples, ["B", "B", "A"])
    lenient = result.metrics["lenient"]
    assert lenient["m_avg"] == pytest.approx((100 + 50) / 7)
    assert lenient["m_avg_present"] == pytest.approx(75.0)
    assert lenient["m_avg_tasks_missing"] == 5


def test_videomme_per_duration_and_tempcompass_per_dimension():
    samples = [sample("1", duration="short"), sample("2", duration="short"), sample("3", duration="long")]
    lenient = scored("videomme", samples, ["B", "C", "B"]).metrics["lenient"]
    assert (lenient["duration/short"], lenient["duration/long"]) == (50.0, 100.0)
    assert lenient["overall_micro"] == pytest.approx(200 / 3)
    samples = [sample("m1", format="multi-choice", dimension="speed"),
               sample("m2", format="multi-choice", dimension="order"),
               sample("y1", "free-form", answer="yes", scorer="yes_no", format="yes_no", dimension="speed")]
    lenient = scored("tempcompass", samples, ["B", "A", "yes"]).metrics["lenient"]
    assert lenient["dimension/speed"] == 100.0 and lenient["dimension/order"] == 0.0
    assert lenient["format/multi-choice"] == 50.0 and lenient["format/yes_no"] == 100.0
    assert lenient["mean_of_format"] == 75.0


def test_mmvu_parts():
    samples = [sample("mc", part="multiple-choice", subject="Biology"),
               sample("open", "free-form", answer="osmosis", scorer="mmvu_open", part="open-ended", subject="Biology")]
    lenient = scored("mmvu", samples, ["<answer>B</answer>", "<answer>It is osmosis</answer>"]).metrics["lenient"]
    assert lenient["part/multiple-choice"] == 100.0 and lenient["part/open-ended"] == 100.0


def test_errors_missing_and_unknown_are_counted_apart_from_wrong_answers():
    samples = [sample("1"), sample("2"), sample("3"), sample("4")]
    predictions = {"1": ok("<answer>B</answer>"), "2": ok("<answer>A</answer>"),
                   "3": {"status": "error", "output": None, "error_kind": "video", "error": "VideoError: missing"},
                   "99": ok("B")}
    result = score_rows(get_benchmark("synth"), samples, predictions)
    assert result.metrics["strict"]["overall_micro"] == 50.0          # over the 2 answered, errors excluded
    assert result.counts["errors"] == 1 and result.counts["error_kinds"] == {"video": 1}
    assert result.counts["missing_predictions"] == 1
    assert result.counts["unknown_predictions"] == 1 and result.counts["unknown_prediction_examples"] == ["99"]
    assert result.counts["complete"] is False
