"""Rewards by problem type and the format reward with the known hacks closed."""

import pytest

from ffr_data.schema import parse_sample
from ffr_train.rewards import extract_answer, score_completion


def _sample(problem_type: str, answer: str, options=None):
    row = {"problem_id": "x", "path": "v.mp4", "problem_type": problem_type, "problem": "q",
           "solution": f"<answer>{answer}</answer>"}
    if options:
        row["options"] = options
    return parse_sample(row)


MC = _sample("multiple choice", "B", ["A. red", "B. green", "C. blue", "D. yellow"])


@pytest.mark.parametrize("completion, accuracy, fmt", [
    ("<think>green flashed</think><answer>B</answer>", 1.0, 1.0),
    ("<think>x</think>\n<answer> B </answer>\n", 1.0, 1.0),
    ("<think>x</think><answer>A</answer>", 0.0, 1.0),
    ("<answer>B</answer>", 1.0, 0.0),                                   # no think block
    ("I think <think>x</think><answer>B</answer>", 1.0, 0.0),           # text before
    ("<think>x</think><answer>B</answer> done", 1.0, 0.0),              # text after
    ("<think>x</think><answer>A</answer><answer>B</answer>", 0.0, 0.0), # several answers: no credit at all
    ("<think>x</think><think>y</think><answer>B</answer>", 1.0, 0.0),   # several think blocks
    ("<think>x</think><answer> </answer>", 0.0, 0.0),                   # empty answer
    ("<think>x<answer>B</answer></think><answer>B</answer>", 0.0, 0.0), # answer hidden in think
    ("<think>x</think><answer>B.</answer>", 0.0, 1.0),                  # exact letter only, as Video-R1
])
def test_multiple_choice_accuracy_and_format(completion, accuracy, fmt):
    assert score_completion(completion, MC) == {"accuracy": accuracy, "format": fmt}


def test_extract_answer_requires_exactly_one_block():
    assert extract_answer("<answer>7</answer>") == "7"
    assert extract_answer("no tags") is None
    assert extract_answer("<answer>1</answer><answer>2</answer>") is None


def test_numerical_ocr_free_form_regression():
    wrap = "<think>t</think><answer>{}</answer>".format
    num = _sample("numerical", "3.5")
    assert score_completion(wrap("3.50"), num)["accuracy"] == 1.0
    assert score_completion(wrap("3.51"), num)["accuracy"] == 0.0
    assert score_completion(wrap("4"), _sample("numerical", "4.0"))["accuracy"] == 0.0  # decimal-point mismatch rule
    ocr = _sample("OCR", "the quick brown fox")
    assert score_completion(wrap("the quick brown fox"), ocr)["accuracy"] == 1.0
    assert score_completion(wrap("the quick red fox"), ocr)["accuracy"] == pytest.approx(0.75)
    free = _sample("free-form", "a man rides a horse")
    assert score_completion(wrap("a man rides a horse"), free)["accuracy"] == pytest.approx(1.0)
    assert 0.0 < score_completion(wrap("a man rides"), free)["accuracy"] < 1.0
    reg = _sample("regression", "10")
    assert score_completion(wrap("8"), reg)["accuracy"] == pytest.approx(0.8)
    assert score_completion(wrap("30"), reg)["accuracy"] == 0.0
