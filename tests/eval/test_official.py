"""The official reading, item by item and in aggregate, on cases worked out by hand from the reference code:
lmms-eval 75571cfe (tasks/{mvbench,vsibench,videomme,tempcompass}/utils.py, api/reasoning.py,
_task_utils/mcq_extract.py) and Video-R1 59d65c34 (src/eval_bench.py)."""

from __future__ import annotations

import pytest

from conftest import mcq_sample as sample
from ffr_data.schema import parse_sample
from ffr_eval.benchmarks import get_benchmark
from ffr_eval.benchmarks.general import _tempcompass_row
from ffr_eval.lmms_rules import extract_mcq_answer, strip_reasoning_tags
from ffr_eval.official import SCORERS
from ffr_eval.official.vsibench import extract_number
from ffr_eval.results import score_rows


def official(name, output, s):
    return SCORERS[name].score(output, s)


def scored(name, samples, outputs, source_format="native"):
    return score_rows(get_benchmark(name), samples, {s.problem_id: {"status": "ok", "output": o}
                                                     for s, o in zip(samples, outputs, strict=True)},
                      source_format=source_format)


def test_reasoning_tags_are_stripped_as_lmms_eval_does():
    assert strip_reasoning_tags("<think>a</think> B ") == "B"
    assert strip_reasoning_tags("<thi<think>x</think>nk>y</think>C") == "C"     # re-searched after each removal
    assert strip_reasoning_tags("prefilled</think> D") == "D"
    assert strip_reasoning_tags("<think>unclosed A") == "<think>unclosed A"
    assert strip_reasoning_tags("<answer>B</answer>") == "<answer>B</answer>"    # never touched


# --- MVBench -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("output", "parsed", "value"), [
    ("B", "B", 1.0),
    ("b. walk", "B", 1.0),                   # ^X.<text> is case-insensitive
    ("(B) stand", "B", 1.0),
    ("It is a two", "A", 0.0),               # the article "a" is the first standalone a-e
    ("<answer>B</answer>", "B", 1.0),        # < / > become spaces
    ("<think>A</think>The best is B.", "B", 1.0),
    ("no idea", None, 0.0),                  # no letter: the processed text, never equal to a letter
])
def test_mvbench_items(output, parsed, value):
    verdict = official("mvbench", output, sample("1", task="a"))
    assert (verdict.parsed, verdict.value, verdict.flag) == (parsed, value, None)


def test_mvbench_empty_reply_is_left_out_of_the_denominator():
    for output in ("<think>only thinking</think>", "   ", ""):
        assert official("mvbench", output, sample("1", task="a")).flag == "excluded"
    samples = [sample("a1", task="a"), sample("a2", task="a"), sample("a3", task="a"), sample("b1", task="b")]
    result = scored("mvbench", samples, ["B", "B", "<think>only thinking</think>", "<think>x</think>"])
    assert result.metrics["official"]["task/a"] == 100.0                     # 2 / 2 answered
    assert result.metrics["lenient"]["task/a"] == pytest.approx(200 / 3)    # lenient keeps it: 2 / 3
    assert result.metrics["official"]["task/b"] == 0.0                       # nothing answered: 0, as the reference
    assert result.headline("official") == 50.0 and result.official_key == "mean_of_task"
    assert result.counts["official_flags"] == {"excluded": 2}
    assert result.unparseable["official"] == 0


# --- VSI-Bench -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("output", "value"), [
    ("B", 1.0), ("b.", 1.0), ("B. table", 1.0),
    ("<answer>B</answer>", 0.0),             # the first whitespace token is the whole tag
    ("The answer is B", 0.0),
    ("B\nbecause", 0.0),                     # split(" ") only: the first token is "B\nbecause"
    ("<think>hmm</think>B", 1.0),
])
def test_vsibench_multiple_choice_is_the_first_token(output, value):
    assert official("vsibench", output, sample("1", task="object_rel_distance")).value == value


@pytest.mark.parametrize(("gold", "output", "value"), [
    ("10", "15", 0.1),                       # relative error 0.5: <= passes 0.50 only
    ("10", "12", 0.6),                       # 1 - linspace's 0.8 is 0.19999999999999996 < 0.2
    ("2.0", "2.2 m", 0.9),                   # 0.10000000000000009 <= 1 - 0.8999999999999999
    ("1200", "1,200", 0.0),                  # no thousands separator: the first number is 1
    ("3", "three chairs", 1.0),
    ("8", "three 4 five", 1.0),              # a word run skips digits: 3 + 5, and it starts first
    ("10", "<answer>15</answer>", 0.1),      # numbers parse through the tag
    ("10", "none", 0.0),
])
def test_vsibench_numeric_mra(gold, output, value):
    s = sample("1", "regression", answer=gold, task="object_counting")
    assert official("vsibench", output, s).value == pytest.approx(value)


def test_vsibench_extract_number():
    assert extract_number("twenty-one") == 21.0
    assert extract_number("three hundred and twenty") == 320.0
    assert extract_number("-2.5 metres") == -2.5
    assert extract_number("someone") is None


def test_vsibench_aggregation_per_task_rounded_to_6_digits():
    samples = [sample("e", task="object_rel_direction_easy"), sample("m", task="object_rel_direction_medium"),
               sample("h", task="object_rel_direction_hard"), sample("d", task="object_rel_distance"),
               sample("d2", task="object_rel_distance"),
               sample("c", "regression", answer="10", task="object_counting"),
               sample("s", "regression", answer="100", task="object_size_estimation")]
    outputs = ["<answer>B</answer>", "B", "A", "B", "C", "15", "112"]
    official_metrics = scored("vsibench", samples, outputs).metrics["official"]
    # direction (0 + 1 + 0) / 3, distance 1/2, counting 0.1, size 0.8 (relative error 0.12 passes 0.50..0.85)
    assert official_metrics["task/object_rel_direction"] == 33.3333              # round(1/3, 6) in percent
    assert official_metrics["task/object_rel_distance"] == 50.0
    assert official_metrics["task/object_counting"] == pytest.approx(10.0)
    assert official_metrics["task/object_size_estimation"] == pytest.approx(80.0)
    assert official_metrics["lmms_8task"] == 43.3333                             # round((.1+.5+.8+1/3) / 4, 6)


def test_vsibench_without_a_direction_task_has_no_overall():
    result = scored("vsibench", [sample("d", task="object_rel_distance")], ["B"])
    assert result.metrics["official"] == {"task/object_rel_distance": 100.0}
    assert result.headline("official") is None
    assert "raises KeyError" in result.counts["official_problems"][0]


# --- Video-MME: the shared extractor's priorities ------------------------------------------------------------------

@pytest.mark.parametrize(("text", "letter"), [
    ("D because it is shiny", "D"),                    # starts with a standalone letter (10)
    ("A is wrong; the correct option is D.", "A"),     # the start beats the phrase
    ("I think so, the answer is B", "B"),              # ends with a letter (9)
    ("the answer is B, not C because", "C"),           # phrase (7): any later letter after it, the last wins
    ("It must be (C) three", "C"),                     # (X) (6)
    ("Option B: two, or C) three", "B"),               # X: (4) beats X) (3)
    ("<answer>C</answer>", "C"),                       # nothing but the fallback
    ("DATA", "A"),                                     # "A " after padding: space rule (2)
    ("E is not a choice", ""),
    ("", ""),
])
def test_extract_mcq_answer(text, letter):
    assert extract_mcq_answer(text, ["A", "B", "C", "D"]) == letter


def test_videomme_items_and_overall():
    samples = [sample("1", answer="C", duration="short"), sample("2", answer="C", duration="short"),
               sample("3", answer="B", duration="long"), sample("4", answer="A", duration="long")]
    result = scored("videomme", samples, ["the answer is B, not C because", "<think>A</think>(C)", "B", ""])
    assert [r["official_parsed"] for r in result.rows] == ["C", "C", "B", None]
    assert result.metrics["official"]["overall_micro"] == 75.0                   # the empty reply stays in
    assert result.metrics["official"]["duration/short"] == 100.0
    assert result.metrics["official"]["duration/long"] == 50.0
    assert result.metrics["lenient"]["duration/short"] == 50.0                   # lenient reads B after the phrase


# --- TempCompass ---------------------------------------------------------------------------------------------------

def tempcompass(fmt, question, answer, dim="speed", index=0):
    row = _tempcompass_row(fmt, f"{fmt}/{index}", "v.mp4", {"question": question, "answer": answer, "dim": dim})
    return parse_sample(row)


MC = "How fast is the car?\nA. slow\nB. fast\nC. still"
CAPTIONS = "Which caption matches the video?\nCaption A: a car stops.\nCaption B: a car starts."


@pytest.mark.parametrize(("output", "value", "flag"), [
    ("B. fast", 1.0, None), ("B", 1.0, None), ("B) fast", 1.0, None), ("A", 0.0, None), ("C. fast", 0.0, None),
    ("b", 0.0, "judge"), ("fast", 0.0, "judge"), ("<answer>B</answer>", 0.0, "judge"), ("E", 0.0, "judge"),
])
def test_tempcompass_multi_choice_rules(output, value, flag):
    verdict = official("tempcompass", output, tempcompass("multi-choice", MC, "B. fast"))
    assert (verdict.value, verdict.flag) == (value, flag)


@pytest.mark.parametrize(("output", "value", "flag"), [
    ("Yes, it is", 1.0, None), ("not sure", 0.0, None), ("Nope", 0.0, None), ("<answer>yes</answer>", 0.0, "judge"),
])
def test_tempcompass_yes_no_rules(output, value, flag):
    verdict = official("tempcompass", output, tempcompass("yes_no", "Is the car moving?", "yes"))
    assert (verdict.value, verdict.flag) == (value, flag)


@pytest.mark.parametrize(("output", "value", "flag"), [
    ("Caption B: a car starts.", 1.0, None), ("a car starts.", 1.0, None), ("Caption B", 1.0, None),
    ("B", 1.0, None), ("B.", 1.0, None), ("(B) a car starts.", 1.0, None), ("A", 0.0, None),
    ("Caption C", 0.0, "judge"), ("the second one", 0.0, "judge"),
])
def test_tempcompass_caption_matching_rules(output, value, flag):
    verdict = official("tempcompass", output, tempcompass("caption_matching", CAPTIONS, "Caption B: a car starts."))
    assert (verdict.value, verdict.flag) == (value, flag)


def test_tempcompass_caption_matching_later_rules_override_earlier():
    # "A" is option B's sentence and option A's index; the index rule runs last, so the match is "A", which equals
    # the text after ": " of the answer "Sentence B: A" -> rated 1 (the reference's order, ambiguity included)
    s = tempcompass("caption_matching", "Which sentence?\nSentence A: B\nSentence B: A", "Sentence B: A")
    assert official("tempcompass", "A", s).value == 1.0


def test_tempcompass_scores_each_format_with_its_own_dimensions():
    samples = [tempcompass("multi-choice", MC, "B. fast", "speed", 0),
               tempcompass("multi-choice", MC, "A. slow", "order", 1),
               tempcompass("yes_no", "Fast?", "yes", "speed", 0), tempcompass("yes_no", "Left?", "no", "speed", 1)]
    result = scored("tempcompass", samples, ["B", "B", "yes", "maybe"])
    metrics = result.metrics["official"]
    assert metrics["format/multi-choice"] == 50.0 and metrics["format/yes_no"] == 50.0
    assert metrics["format/multi-choice/speed"] == 100.0 and metrics["format/multi-choice/order"] == 0.0
    assert metrics["format/yes_no/speed"] == 50.0
    assert "dimension/speed" not in metrics                                   # no pooling across formats
    assert result.metrics["lenient"]["dimension/speed"] == pytest.approx(200 / 3)
    assert result.headline("official") == 50.0
    assert result.counts["official_flags"] == {"judge": 1} and result.unparseable["official"] == 1


# --- Video-R1's eval_bench.py (Video-R1-format files) ---------------------------------------------------------------

@pytest.mark.parametrize(("output", "value", "flag"), [
    ("<answer>B</answer>", 1.0, None), ("<think>A</think><answer> B </answer>", 1.0, None),
    ("B", 1.0, "whole-output"),                       # no tag: the whole output is compared
    ("The answer is B", 0.0, "whole-output"), ("<answer></answer>B", 0.0, "whole-output"),
    ("<answer>b</answer>", 0.0, None), ("<answer>B.</answer>", 0.0, None),
])
def test_video_r1_choice_with_the_untagged_fallback(output, value, flag):
    verdict = official("video-r1", output, sample("1"))
    assert (verdict.value, verdict.flag) == (value, flag)


@pytest.mark.parametrize(("gold", "output", "value"), [
    ("10", "<answer>12</answer>", 0.6000000238418579),   # float32, as torch's .item() returns it
    ("10", "<answer>15</answer>", 0.0),                   # strict <: relative error 0.5 passes nothing
    ("2.0", "<answer>2.2</answer>", 0.800000011920929),   # float32 error 0.10000002 is not < 1 - 0.9f
    ("10", " 12 ", 0.6000000238418579),                   # untagged: float() of the whole output
    ("1000", "<answer>1,000</answer>", 1.0),
    ("10", "<answer>12 m</answer>", 0.0),
])
def test_video_r1_regression_mra_in_float32(gold, output, value):
    assert official("video-r1", output, sample("1", "regression", answer=gold)).value == value


def test_video_r1_numerical_and_other_types():
    assert official("video-r1", "<answer>3.50</answer>", sample("1", "numerical", answer="3.5")).value == 1.0
    assert official("video-r1", "<answer>4</answer>", sample("1", "numerical", answer="4.0")).value == 0.0
    assert official("video-r1", "<answer>stop</answer>", sample("1", "OCR", answer="stop")).value == 0.0


def test_video_r1_file_headline_is_video_r1s_number():
    samples = [sample("m1"), sample("m2"), sample("r1", "regression", answer="10"),
               sample("r2", "regression", answer="4")]
    result = scored("vsibench", samples, ["<answer>B</answer>", "B", "<answer>12</answer>", "<answer>4</answer>"],
                    source_format="video-r1")
    official_metrics = result.metrics["official"]
    assert official_metrics["mean_acc"] == pytest.approx(100.0)
    assert official_metrics["mean_mra"] == pytest.approx(80.0, abs=1e-5)       # (0.6 + 1.0) / 2 in float32
    assert result.official_key == "videor1_acc_mra" and result.headline("official") == pytest.approx(90.0, 1e-6)
    assert result.headline_key == "videor1_acc_mra" and result.headline_label.startswith("Video-R1")
    assert result.metrics["strict"]["mc_accuracy"] == 50.0                      # strict: the untagged B is wrong
    mvbench = scored("mvbench", [sample("a", task="x")], ["B"], source_format="video-r1")
    assert (mvbench.official_key, mvbench.headline_key) == ("mean_acc", "overall_micro")


def test_no_official_reading_without_a_ported_reference():
    result = scored("mmvu", [sample("1")], ["B"])
    assert result.metrics["official"] == {} and result.headline("official") is None
    assert "official" not in result.unparseable
