"""RIR and its alignment term, exactly."""

import pytest

from ffr_data.patch import EvidencePatch, PatchRegion
from ffr_train.rir import alignment, cited_frames, rir

FRAME_TIMES = [0.0, 0.5, 1.125, 1.625, 2.25, 2.75, 3.375, 3.875]


def test_correct_slot_keeps_first_pass_reward_and_pays_no_tax():
    r = rir({"accuracy": 1.0, "format": 1.0}, {"accuracy": 1.0, "format": 1.0}, correct=True, kappa=0.3, lam=0.5,
            align=1.0)
    assert (r.total, r.tax, r.align, r.repaired) == (2.0, 0.0, 0.0, False)


def test_repaired_slot_scores_repaired_outcome_minus_kappa_plus_lambda_align():
    r = rir({"accuracy": 0.0, "format": 1.0}, {"accuracy": 1.0, "format": 1.0}, correct=False, kappa=0.3, lam=0.5,
            align=0.5)
    assert r.total == pytest.approx(2.0 - 0.3 + 0.25)
    assert (r.parts, r.tax, r.align, r.repaired) == ({"accuracy": 1.0, "format": 1.0}, 0.3, 0.5, True)
    failed_repair = rir({"accuracy": 0.0, "format": 1.0}, {"accuracy": 0.0, "format": 1.0}, correct=False,
                        kappa=0.3, lam=0.0)
    assert failed_repair.total == pytest.approx(0.7)  # a failed repair is taxed too (paper and code agree)


def test_failed_slot_without_patch_keeps_its_reward_untaxed():
    r = rir({"accuracy": 0.0, "format": 1.0}, None, correct=False, kappa=0.3, lam=1.0, align=1.0)
    assert (r.total, r.tax, r.repaired) == (1.0, 0.0, False)


def test_cited_frames_parses_lists_and_ranges():
    assert cited_frames("red flashes at frame 2, blue at frame 5") == {2, 5}
    assert cited_frames("flashes at frames 1, 4 and 6") == {1, 4, 6}
    assert cited_frames("frames 3 to 5") == {3, 4, 5}
    assert cited_frames("no frame here") == set()


def test_alignment_counts_each_cited_item():
    patch = EvidencePatch("temporal", "look", windows=((1.0, 1.5),), key_frames=(2, 3),
                          regions=(PatchRegion((0.0, 0.0, 0.4, 0.4), 1.2, "the small shape"),))
    # frames 2 and 3 cited; frame 2's time 1.125 s lies in the window; "small" names the region -> 4/4
    full = "<think>at frame 2 and frame 3 the small square is red</think><answer>A</answer>"
    assert alignment(full, patch, FRAME_TIMES) == 1.0
    # only frame 3 (t=1.625, within 0.25 s of the window end) -> key frame 3 and window: 2/4
    assert alignment("<think>frame 3 shows it</think>", patch, FRAME_TIMES) == pytest.approx(0.5)
    # the region by position word only
    assert alignment("<think>something top-left</think>", patch, FRAME_TIMES) == pytest.approx(0.25)
    assert alignment("<think>nothing relevant</think>", patch, FRAME_TIMES) == 0.0
    assert alignment("<think>frame 2</think>", EvidencePatch("spatial", "only words"), FRAME_TIMES) == 0.0
