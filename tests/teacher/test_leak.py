"""The answer-leak guard, case by case: what must be rejected and what must pass."""

from __future__ import annotations

import pytest

from ffr_data.patch import EvidencePatch, PatchRegion
from ffr_data.schema import parse_sample
from ffr_data.synth import cell_names
from ffr_teacher import LeakGuardConfig, answer_forms, find_leak, patch_leak
from ffr_teacher.backends.annotation import DEFAULT_GUIDANCE, FAMILY_GUIDANCE, NO_GT_GUIDANCE, POINTING_GUIDANCE
from ffr_teacher.leak import text_leak

CFG = LeakGuardConfig()
SHAPES = ["A. the red square", "B. the green disc", "C. the blue triangle", "D. the yellow star"]
CORNERS = ["A. top left corner", "B. bottom right corner", "C. top right corner", "D. bottom left corner"]


def make(options: list[str], answer: str, problem_type: str = "multiple choice"):
    return parse_sample({"problem_id": "x", "path": "v.mp4", "problem_type": problem_type, "problem": "What?",
                         "options": options, "solution": f"<answer>{answer}</answer>"})


def kind(text: str, sample) -> str | None:
    found = text_leak(text, answer_forms(sample), CFG)
    return found[0] if found else None


def test_answer_forms():
    forms = answer_forms(make(SHAPES, "B"))
    assert (forms.letter, forms.phrases, forms.numbers) == ("B", ("the green disc",), ())
    assert answer_forms(make(["A. 2", "B. 3"], "B")).numbers == (3.0,)
    assert answer_forms(make(["A. 2", "B. 3"], "B")).phrases == ()
    assert answer_forms(make([], "12.5", "numerical")).numbers == (12.5,)
    assert answer_forms(make([], "a red door", "free-form")).phrases == ("a red door",)


@pytest.mark.parametrize("text", ["option B", "Option (B)", "(B)", "[B]", "Choose B.", "answer: b", "B", "It is B"])
def test_answer_letter_is_rejected(text):
    assert kind(text, make(SHAPES, "B")) == "letter"


@pytest.mark.parametrize("text", ["option C looks plausible", "A shape appears at 1.5 s", "Box-B", "B-frames",
                                  "Bob looks"])
def test_other_letters_and_words_pass(text):
    assert kind(text, make(SHAPES, "B")) is None


def test_capital_a_as_article_is_not_option_a():
    sample = make(SHAPES, "A")
    assert kind("A shape appears briefly at 1.5 s.", sample) is None
    assert kind("Look at A.", sample) == "letter"
    assert kind("(A)", sample) == "letter"


@pytest.mark.parametrize("text", ["the green disc", "the green one", "a disc", "greens", "the GREEN shape"])
def test_option_text_and_its_distinctive_words_are_rejected(text):
    assert kind(text, make(SHAPES, "B")) == "option_text"


def test_near_spellings_and_paraphrases_are_rejected():
    assert kind("yelow", make(["A. yellow", "B. purple"], "A")) == "paraphrase"
    assert kind("look near the top, on the left", make(CORNERS, "A")) == "paraphrase"
    assert kind("a man opening doors", make([], "the man opens the door", "free-form")) == "paraphrase"
    assert kind("the man opens the door slowly", make([], "the man opens the door", "free-form")) == "option_text"


@pytest.mark.parametrize("text", [
    "look at the left side",  # one of two non-unique answer words
    "Look at the corner",  # a word every option shares
    "yellowish",  # below the fuzzy ratio
    "mellow",
    "he opens a door",  # 2 of 3 content words of a free-form answer
])
def test_partial_overlaps_pass(text):
    samples = [make(CORNERS, "A"), make(["A. yellow", "B. purple"], "A"), make([], "the man opens the door",
                                                                                "free-form")]
    assert all(kind(text, s) is None for s in samples)


def test_mentioning_every_option_equally_passes():
    text = "Compare when the red square, the green disc, the blue triangle and the yellow star appear."
    assert kind(text, make(SHAPES, "B")) is None
    assert kind("Compare the red square and the green disc.", make(SHAPES, "B")) == "option_text"


@pytest.mark.parametrize("text", ["three times", "3 flashes", "thrice", "3.0", "it flashed 3 times in 1-2 s"])
def test_numeric_answer_in_digits_or_words_is_rejected(text):
    assert kind(text, make([], "3", "numerical")) == "number"


@pytest.mark.parametrize("text", ["between 1.5 and 3 s", "frames 3 and 4", "at t=3", "look at 3 s",
                                  "count the flashes in 1-3 s", "2 or 4 things", "frames 1, 2, 3"])
def test_times_frames_and_other_numbers_pass(text):
    assert kind(text, make([], "3", "numerical")) is None


def test_number_words():
    one = make([], "1", "numerical")
    assert kind("one flash", one) == "number"
    assert kind("Only one shape moves", one) == "number"
    assert kind("the one that flashes", one) is None
    assert kind("each one of them", one) is None
    twenty_one = make([], "21", "numerical")
    assert kind("twenty-one", twenty_one) == "number"
    assert kind("twenty one", twenty_one) == "number"
    assert kind("twenty", twenty_one) is None
    assert kind("12.5", make([], "12.5", "numerical")) == "number"
    assert kind("12", make([], "12.5", "numerical")) is None


def test_numeric_options():
    sample = make(["A. 2", "B. 3"], "B")
    assert kind("3 times", sample) == "number"
    assert kind("B", sample) == "letter"
    assert kind("at 3 s", sample) is None
    assert kind("2 times", sample) is None


@pytest.mark.parametrize("text", ["the correct option appears at 2 s", "The answer is in frames 3-4",
                                  "you should choose the shape on the left", "the right answer is visible"])
def test_reveal_phrases_are_rejected(text):
    assert kind(text, make(SHAPES, "B")) == "reveal_phrase"


@pytest.mark.parametrize("text", [*FAMILY_GUIDANCE.values(), DEFAULT_GUIDANCE, NO_GT_GUIDANCE,
                                  "Before you answer, look at 1.5 s.",
                                  "Step through 1.0-2.5 s frame by frame and watch each shape.",
                                  "Zoom into region [0.10, 0.10, 0.40, 0.40] at 1.75 s and look at it again."])
def test_neutral_guidance_passes(text):
    for sample in (make(SHAPES, "B"), make(CORNERS, "A"), make([], "3", "numerical"), make(["A. 2", "B. 3"], "B")):
        assert kind(text, sample) is None, (text, sample.options)


def test_patch_leak_checks_every_text_field_and_can_be_disabled():
    sample = make(SHAPES, "B")
    clean = EvidencePatch("temporal", "Watch 1.5-2.0 s.", ((1.5, 2.0),), (3,), (PatchRegion((0.1, 0.1, 0.4, 0.4)),))
    assert patch_leak(clean, sample, CFG) is None
    leaky_label = EvidencePatch("spatial", "Watch 1.5-2.0 s.", regions=(PatchRegion((0.1, 0.1, 0.4, 0.4), 1.7,
                                                                                    "the green thing"),))
    leak = patch_leak(leaky_label, sample, CFG)
    assert (leak.kind, leak.field) == ("option_text", 1)
    assert patch_leak(leaky_label, sample, LeakGuardConfig(enabled=False)) is None
    assert find_leak(["fine", "option B"], answer_forms(sample), CFG).field == 1


def test_count_structure_leaks_when_the_number_of_windows_is_the_answer():
    sample = make(["A. 1", "B. 2", "C. 3", "D. 4"], "C")
    three = EvidencePatch("temporal", "Count the flashes yourself.", ((0.5, 0.7), (1.5, 1.7), (2.5, 2.7)))
    leak = patch_leak(three, sample, CFG)
    assert leak.kind == "count_structure" and "3 windows" in leak.detail
    one_span = EvidencePatch("temporal", "Count the flashes yourself.", ((0.5, 2.7),), (1, 2, 3, 4, 5))
    assert patch_leak(one_span, sample, CFG) is None
    assert patch_leak(three, sample, LeakGuardConfig(count_structure=False)) is None
    assert patch_leak(three, make(SHAPES, "C"), CFG) is None  # not a numeric answer


# --- regions against the answer cells a row declares (meta.answer_cells: the fair synthetic location rows) -----------

NINE = [f"{'ABCDEFGHI'[i]}. {name}" for i, name in enumerate(cell_names(3, 3))]
THIRDS = (0.0, 1 / 3, 2 / 3, 1.0)
GRID = [[THIRDS[c], THIRDS[r], THIRDS[c + 1], THIRDS[r + 1]] for r in range(3) for c in range(3)]


def grid_sample(answer: str, cells=GRID):
    meta = {"family": "location"} if cells is None else {"family": "location", "answer_cells": cells}
    return parse_sample({"problem_id": "g", "path": "v.mp4", "problem_type": "multiple choice",
                         "problem": "Where did the brief flash appear?", "options": NINE,
                         "solution": f"<answer>{answer}</answer>", "meta": meta})


def boxed(*boxes, label: str = "") -> EvidencePatch:
    return EvidencePatch("spatial", "Watch the cited moment closely.", ((1.0, 1.25),),
                         regions=tuple(PatchRegion(b, 1.1, label) for b in boxes))


def test_a_region_that_places_the_answer_in_its_cell_is_rejected():
    centre = grid_sample("E")
    leak = patch_leak(boxed((0.40, 0.40, 0.60, 0.60)), centre, CFG)
    assert leak.kind == "region" and leak.detail == "region 0 lies in the answer's cell (100% of its area)"
    mostly = patch_leak(boxed((0.10, 0.10, 0.30, 0.30), (0.36, 0.30, 0.64, 0.64)), centre, CFG)  # 2nd box: 90 %
    assert mostly.kind == "region" and mostly.detail.startswith("region 1 ")
    assert patch_leak(boxed((0.40, 0.40, 0.60, 0.60)), centre, LeakGuardConfig(enabled=False)) is None


@pytest.mark.parametrize("box", [
    (0.0, 0.0, 0.66, 0.66),  # coarse: four cells, a quarter of it in the answer's
    (0.45, 0.40, 0.9, 0.6),  # straddling two cells: about half in the answer's
    (0.05, 0.05, 0.30, 0.30),  # inside another cell: misleading, but it gives nothing away
])
def test_regions_that_do_not_determine_the_cell_pass(box):
    assert patch_leak(boxed(box), grid_sample("E"), CFG) is None


def test_without_declared_cells_boxes_are_not_judged():
    assert patch_leak(boxed((0.40, 0.40, 0.60, 0.60)), grid_sample("E", cells=None), CFG) is None


def test_a_label_naming_the_cell_is_rejected_whatever_the_box():
    leak = patch_leak(boxed((0.0, 0.0, 1.0, 1.0), label="the centre"), grid_sample("E"), CFG)
    assert leak.kind == "option_text"
    assert patch_leak(boxed((0.0, 0.0, 1.0, 1.0), label="an area to inspect"), grid_sample("E"), CFG) is None


def test_unusable_answer_cells_fail_closed():
    short = patch_leak(boxed((0.0, 0.0, 0.9, 0.9)), grid_sample("E", cells=GRID[:4]), CFG)
    assert short.kind == "region" and "meta.answer_cells must hold one box per option (9)" in short.detail
    bad = patch_leak(boxed((0.0, 0.0, 0.9, 0.9)), grid_sample("E", cells=[*GRID[:2], "middle", *GRID[3:]]), CFG)
    assert bad.kind == "region" and "meta.answer_cells[2] must be [x1, y1, x2, y2]" in bad.detail


@pytest.mark.parametrize("text", POINTING_GUIDANCE.values())
def test_pointing_guidance_names_no_cell_and_no_number(text):
    for answer in "ABCDEFGHI":
        assert kind(text, grid_sample(answer)) is None
    for count in range(1, 7):
        assert kind(text, make([], str(count), "numerical")) is None
