"""The annotation backend on a synthetic-style sample, with and without the ground truth."""

from __future__ import annotations

import pytest

from ffr_data.patch import EvidencePatch
from ffr_data.synth import cell_names
from ffr_teacher import RepairRequest, TeacherConfig, build_teacher, patch_leak
from ffr_teacher.backends.annotation import FAMILY_GUIDANCE, NEUTRAL_LABEL, NO_GT_GUIDANCE, POINTING_GUIDANCE


def test_with_ground_truth_cites_the_evidence(sample, frames):
    teacher = build_teacher(TeacherConfig())
    result = teacher.repair(sample, frames, "<think>red first</think><answer>A</answer>")
    patch = result.patch
    assert result.reason is None and isinstance(patch, EvidencePatch)
    assert patch.error_type == "temporal" and patch.guidance == FAMILY_GUIDANCE["order"]
    assert patch.windows == ((1.5, 2.0),)
    assert patch.key_frames == (3,)  # the sampled frame at 1.625 s is the only one inside 1.5-2.0 s
    assert [(r.box, r.t, r.label) for r in patch.regions] == [((0.1, 0.1, 0.4, 0.4), 1.75, "the small shape")]
    assert patch_leak(patch, sample, TeacherConfig().leak) is None
    assert teacher.cache is None  # instant: never cached on disk


def test_without_ground_truth_cites_every_candidate_event(sample, frames):
    result = build_teacher(TeacherConfig(use_ground_truth=False)).repair(sample, frames, "A")
    patch = result.patch
    assert patch.windows == ((1.5, 2.0), (2.5, 3.0))  # the decisive event and the distractor, in time order
    assert patch.key_frames == (3, 5) and patch.guidance == NO_GT_GUIDANCE
    assert [r.t for r in patch.regions] == [1.75, 2.75]


def test_labels_that_name_the_answer_are_neutralised(make_sample, frames):
    leaky = make_sample(evidence={"windows": [[1.5, 2.0]], "regions": [
        {"t": 1.75, "box": [0.1, 0.1, 0.4, 0.4], "label": "the green disc"}]})
    patch = build_teacher(TeacherConfig()).repair(leaky, frames, "A").patch
    assert patch.regions[0].label == NEUTRAL_LABEL


@pytest.mark.parametrize(("family", "taxonomy", "error_type"), [
    ("order", "paper3", "temporal"), ("location", "paper3", "spatial"), ("color", "paper6", "attribute"),
    ("count", "paper6", "counting"), ("count", "paper3", "temporal"), ("motion", "paper6", "dynamics"),
    ("something-new", "paper3", "temporal"),
])
def test_error_type_by_family_and_taxonomy(make_sample, frames, family, taxonomy, error_type):
    sample = make_sample(meta={"family": family})
    patch = build_teacher(TeacherConfig(taxonomy=taxonomy)).repair(sample, frames, "A").patch
    assert patch.error_type == error_type


def test_missing_or_bad_evidence_is_a_counted_reason(make_sample, frames):
    teacher = build_teacher(TeacherConfig())
    assert teacher.repair(make_sample(evidence=None), frames, "A").reason == "no_evidence"
    no_candidates = build_teacher(TeacherConfig(use_ground_truth=False))
    assert no_candidates.repair(make_sample(meta={"family": "order"}), frames, "A").reason == "no_evidence"
    outside = make_sample(evidence={"windows": [[3.0, 7.0]]})
    result = teacher.repair(outside, frames, "A")
    assert result.reason == "schema" and "windows[0]" in result.detail
    snapshot = teacher.metrics.snapshot()
    assert snapshot["failures/no_evidence"] == 1 and snapshot["failures/schema"] == 1


def test_window_ending_one_frame_past_the_end_is_trimmed(make_sample, frames):
    sample = make_sample(evidence={"windows": [[3.5, 4.1]]})
    patch = build_teacher(TeacherConfig()).repair(sample, frames, "A").patch
    assert patch.windows == ((3.5, 4.0),) and patch.key_frames == (7,)


def test_repair_many_on_the_annotation_backend(sample, make_sample, frames):
    other = make_sample(problem_id="order-2", evidence={"windows": [[0.4, 0.6]]})
    teacher = build_teacher(TeacherConfig())
    results = teacher.repair_many([RepairRequest(sample, frames, "A"), RepairRequest(other, frames, "A"),
                                   RepairRequest(sample, frames, "A")])
    assert [r.patch.windows for r in results] == [((1.5, 2.0),), ((0.4, 0.6),), ((1.5, 2.0),)]
    assert teacher.repair_patch(other, frames, "C").key_frames == (1,)


@pytest.mark.parametrize("use_ground_truth", [True, False])
def test_count_family_is_cited_as_one_span(make_sample, frames, use_ground_truth):
    flashes = [[0.4, 0.6], [1.5, 1.7], [2.6, 2.8]]
    evidence = {"windows": flashes, "regions": [{"t": w[0], "box": [0.1, 0.1, 0.3, 0.3], "label": "a flash"}
                                                for w in flashes]}
    sample = make_sample(problem="How many times did a shape flash?", options=["A. 1", "B. 2", "C. 3", "D. 4"],
                         solution="<answer>C</answer>", evidence=evidence,
                         meta={"family": "count", "candidate_evidence": [
                             {"windows": [w], "regions": []} for w in flashes]})
    result = build_teacher(TeacherConfig(use_ground_truth=use_ground_truth)).repair(sample, frames, "A")
    assert result.reason is None
    assert result.patch.windows == ((0.4, 2.8),) and result.patch.regions == ()
    assert result.patch.key_frames == (1, 2, 3, 4, 5)


# --- rows with a pointing policy (meta.pointing, written by the synthetic benchmark's fair preset) -------------------

NINE = [f"{'ABCDEFGHI'[i]}. {name}" for i, name in enumerate(cell_names(3, 3))]
THIRDS = (0.0, 1 / 3, 2 / 3, 1.0)
GRID = [[THIRDS[c], THIRDS[r], THIRDS[c + 1], THIRDS[r + 1]] for r in range(3) for c in range(3)]
CENTRE_FLASH = {"windows": [[1.5, 1.75]], "regions": [{"t": 1.625, "box": [0.40, 0.40, 0.60, 0.60], "label": "a flash"}]}


def location_row(make_sample, **meta):
    return make_sample(problem="Where did the brief flash appear?", options=NINE, solution="<answer>E</answer>",
                       evidence=CENTRE_FLASH, meta={"family": "location", "answer_cells": GRID,
                                                    "candidate_evidence": [CENTRE_FLASH], **meta})


@pytest.mark.parametrize("use_ground_truth", [True, False])
def test_a_pointing_location_patch_cites_the_moment_without_a_box(make_sample, frames, use_ground_truth):
    sample = location_row(make_sample, pointing={"regions": False, "decoy_windows": []})
    result = build_teacher(TeacherConfig(use_ground_truth=use_ground_truth)).repair(sample, frames, "A")
    assert result.reason is None
    assert result.patch.windows == ((1.5, 1.75),) and result.patch.key_frames == (3,) and result.patch.regions == ()
    assert result.patch.guidance == (POINTING_GUIDANCE["location"] if use_ground_truth else NO_GT_GUIDANCE)


def test_without_a_pointing_policy_the_box_is_cited_and_the_guard_rejects_it(make_sample, frames):
    top_left = {"windows": [[1.5, 1.75]], "regions": [{"t": 1.625, "box": [0.05, 0.05, 0.25, 0.25], "label": "a flash"}]}
    sample = make_sample(problem="Where did the brief flash appear?", options=NINE, solution="<answer>A</answer>",
                         evidence=top_left, meta={"family": "location", "answer_cells": GRID})
    result = build_teacher(TeacherConfig()).repair(sample, frames, "B")
    assert result.patch is None and result.reason == "leak" and "lies in the answer's cell" in result.detail


@pytest.mark.parametrize("use_ground_truth", [True, False])
def test_a_pointing_count_patch_cites_its_flashes_among_decoys(make_sample, frames, use_ground_truth):
    flashes = [[0.4, 0.6], [1.5, 1.7], [2.6, 2.8]]
    decoys = [[1.0, 1.2], [2.2, 2.3], [3.3, 3.4], [3.8, 3.9]]
    evidence = {"windows": flashes, "regions": [{"t": w[0], "box": [0.1, 0.1, 0.3, 0.3], "label": "a flash"}
                                                for w in flashes]}
    sample = make_sample(problem="How many times did a shape flash?", problem_type="numerical", options=[],
                         solution="<answer>3</answer>", evidence=evidence,
                         meta={"family": "count", "pointing": {"regions": False, "decoy_windows": decoys},
                               "candidate_evidence": [{"windows": [w], "regions": []} for w in flashes]})
    result = build_teacher(TeacherConfig(use_ground_truth=use_ground_truth)).repair(sample, frames, "A")
    assert result.reason is None
    assert result.patch.windows == tuple(tuple(w) for w in sorted(flashes + decoys))
    assert result.patch.key_frames == (1, 2, 3, 4, 5, 6, 7) and result.patch.regions == ()


def test_a_bad_pointing_policy_is_a_schema_failure(make_sample, frames):
    sample = location_row(make_sample, pointing={"regions": "no"})
    result = build_teacher(TeacherConfig()).repair(sample, frames, "A")
    assert result.reason == "schema" and "meta field 'pointing'" in result.detail
