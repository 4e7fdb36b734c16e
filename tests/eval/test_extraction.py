"""Strict vs lenient answer extraction, lmms-eval's shared MCQ extractor priorities and per-benchmark rules."""

from __future__ import annotations

import pytest

from ffr_data.registry import RegistryError
from ffr_data.schema import parse_sample
from ffr_eval.extraction import answer_tag, extract_letter, lenient_text, shared_mcq_letter, strip_reasoning


def mc(options=("red", "green", "blue", "yellow"), answer="C", **meta):
    return parse_sample({"problem_id": "q", "path": "v.mp4", "problem_type": "multiple choice", "problem": "Which?",
                         "options": [f"{'ABCDEF'[i]}. {o}" for i, o in enumerate(options)],
                         "solution": f"<answer>{answer}</answer>", "meta": meta})


@pytest.mark.parametrize(("text", "expected"), [
    ("<think>hmm</think> answer", "answer"),
    ("<think>a</think>x<think>b</think>y", "xy"),
    ("reasoning without opening</think> B", "B"),             # only a closing tag: keep what follows the last one
    ("<think>unclosed B", "<think>unclosed B"),                 # an unclosed block is left alone
    ("<analysis>x</analysis>C", "C"),
    ("<THINK>case</THINK>D", "<THINK>case</THINK>D"),           # case-sensitive
])
def test_strip_reasoning(text, expected):
    assert strip_reasoning(text) == expected


def test_answer_tag_and_lenient_text():
    assert answer_tag("<think>x</think><answer> B </answer>") == "B"
    assert answer_tag("<answer>A</answer><answer>B</answer>") == "A"
    assert answer_tag("B") is None
    assert lenient_text("<think>the answer is A</think><answer>C</answer>") == "C"
    assert lenient_text("<think>x</think>The answer is D.") == "The answer is D."


@pytest.mark.parametrize(("text", "expected"), [
    ("D because it is shiny", "D"),                              # leading standalone letter, priority 10
    ("A is wrong; the correct option is D.", "A"),               # the leading letter beats the phrase (doc example)
    ("I think so, the answer is B", "B"),                       # trailing letter (9)
    ("Looking closely the answer is C as shown", "C"),          # answer phrase (7)
    ("It must be (C) three", "C"),                               # (X) (6)
    ("Probably C. three", "C"),                                  # X. (5)
    ("Option list: B: two, or C) three", "B"),                  # X: (4) beats X) (3)
    ("among them C three", "C"),                                 # letter then space (2)
    ("<answer>C</answer>", "C"),                                 # only the fallback rule
    ("Based on this, <answer>C</answer>", "C"),                  # fallback: the last position wins
    ("nothing here", None),
    ("Based on the video", "B"),                                 # fallback picks the B of "Based" (documented)
])
def test_shared_mcq_extractor(text, expected):
    assert shared_mcq_letter(text, "ABCD") == expected


def test_shared_mcq_last_position_within_priority():
    assert shared_mcq_letter("first (A) then (C) finally", "ABCD") == "C"
    assert shared_mcq_letter("E is not allowed here", "ABCD") is None


def test_mvbench_rule_counts_the_article():
    sample = mc(answer="A")
    assert extract_letter("B. green", sample, "mvbench") == "B"
    assert extract_letter("It is a two", sample, "mvbench") == "A"          # the article "a" counts
    assert extract_letter("<answer>C</answer>", sample, "mvbench") == "C"
    assert extract_letter("<think>x</think>It is blue.", sample, "mvbench") is None


def test_vsibench_rule_is_the_first_token():
    sample = mc(answer="B")
    assert extract_letter("B. green", sample, "vsibench") == "B"
    assert extract_letter("b", sample, "vsibench") == "B"
    assert extract_letter("The answer is B", sample, "vsibench") is None
    # lmms-eval sees the raw tag as the first token (scores 0); FFR's lenient reading reads the tag content first
    assert extract_letter("<answer>B</answer>", sample, "vsibench") == "B"


def test_longvideobench_rule_first_capital():
    sample = mc(answer="C", options=("a", "b", "c", "d", "e"))
    assert extract_letter("The best answer is C", sample, "longvideobench") == "C"
    assert extract_letter("Based on the video, C", sample, "longvideobench") == "B"
    assert extract_letter("no capital letter", sample, "longvideobench") is None       # no random pick


def test_mmmu_rule_for_video_holmes():
    sample = mc(options=("the butler", "the cook", "the gardener", "the driver", "the maid", "nobody"), answer="C")
    assert extract_letter("I pick (C) for sure", sample, "mmmu") == "C"
    assert extract_letter("A or maybe C.", sample, "mmmu") == "C"             # both "X ": the last position
    assert extract_letter("it is C.not A", sample, "mmmu") == "A"             # "X " is tried before "X."
    assert extract_letter("(A) ... no, (C)", sample, "mmmu") == "C"           # several: the last position
    assert extract_letter("it was clearly done by the gardener himself", sample, "mmmu") == "C"   # text, >5 words
    assert extract_letter("gardener", sample, "mmmu") is None


def test_tempcompass_rules():
    sample = mc(options=("dunking a basketball", "running"), answer="A")
    assert extract_letter("A. dunking a basketball", sample, "tempcompass") == "A"
    assert extract_letter("dunking a basketball", sample, "tempcompass") == "A"
    assert extract_letter("B", sample, "tempcompass") == "B"
    assert extract_letter("B) running", sample, "tempcompass") == "B"
    assert extract_letter("I think the man is dunking", sample, "tempcompass") is None    # would need the judge
    captions = mc(options=("A man dunks.", "A man runs."), answer="B", option_labels={"A": "Caption A",
                                                                                       "B": "Caption B"})
    assert extract_letter("Caption B", captions, "tempcompass") == "B"
    assert extract_letter("Caption B: A man runs.", captions, "tempcompass") == "B"


def test_mmvu_rule_is_very_lenient():
    sample = mc(options=("mitosis", "meiosis", "osmosis", "diffusion"), answer="C")
    assert extract_letter("C", sample, "mmvu") == "C"
    assert extract_letter("either A or C", sample, "mmvu") == "C"               # gold letter anywhere
    assert extract_letter("the process is osmosis", sample, "mmvu") == "C"      # gold option text
    assert extract_letter("a cell divides", sample, "mmvu") == "A"             # first standalone a–e, wrong
    assert extract_letter("nothing", sample, "mmvu") is None


def test_unknown_rule_is_an_error():
    with pytest.raises(RegistryError, match=r"unknown answer-extraction rule 'nope' \(known: longvideobench, mmmu"):
        extract_letter("A", mc(), "nope")
