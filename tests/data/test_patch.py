"""The evidence-patch schema: validation names the field; JSON is found in model replies."""

from __future__ import annotations

import json

import pytest

from ffr_data.patch import TAXONOMIES, EvidencePatch, PatchError, PatchRegion, find_json_object

GOOD = {"error_type": "temporal", "guidance": "Compare the cited moments.", "windows": [[1.0, 1.5]],
        "key_frames": [2, 3], "regions": [{"box": [0.1, 0.1, 0.3, 0.3], "t": 1.25, "label": "a flash"}]}


def test_a_good_patch_round_trips():
    patch = EvidencePatch.from_json(GOOD, num_frames=8, duration=4.0)
    assert patch.windows == ((1.0, 1.5),) and patch.key_frames == (2, 3)
    assert patch.regions == (PatchRegion((0.1, 0.1, 0.3, 0.3), 1.25, "a flash"),)
    assert EvidencePatch.from_json(json.dumps(patch.to_json())) == patch
    assert patch.text_fields() == ["Compare the cited moments.", "a flash"]


@pytest.mark.parametrize(("change", "message"), [
    ({"error_type": "counting"}, "patch field 'error_type': 'counting' is not one of"),
    ({"guidance": 3}, "patch field 'guidance' must be a string"),
    ({"windows": [[1.0]]}, "patch field 'windows[0]' must be [start_s, end_s]"),
    ({"windows": [[3.0, 5.0]]}, "patch field 'windows[0]' = [3.0, 5.0] is not a valid window within 0..4.00s"),
    ({"windows": "1-2"}, "patch field 'windows' must be a list"),
    ({"key_frames": [8]}, "patch field 'key_frames[0]' = 8 is outside the 8 sampled frames"),
    ({"key_frames": [True]}, "patch field 'key_frames[0]' must be a non-negative integer"),
    ({"regions": [{"box": [0.5, 0.1, 0.2, 0.3]}]}, "patch field 'regions[0].box' = [0.5, 0.1, 0.2, 0.3] is not a"),
    ({"regions": [{"box": [0.1, 0.1, 0.2, 0.3], "t": 9.0}]}, "patch field 'regions[0].t' = 9.0 is not a time"),
    ({"regions": ["x"]}, "patch field 'regions[0]' must be an object"),
])
def test_bad_patches_name_the_field(change, message):
    with pytest.raises(PatchError) as info:
        EvidencePatch.from_json({**GOOD, **change}, num_frames=8, duration=4.0)
    assert message in str(info.value)


@pytest.mark.parametrize("reply", [
    '{"error_type": "temporal", "windows": [[NaN, 1.0]]}',
    '{"error_type": "temporal", "windows": [[0.5, Infinity]]}',
    '{"error_type": "spatial", "regions": [{"box": [0.1, 0.1, 0.2, 0.3], "t": NaN}]}',
    '{"error_type": "spatial", "regions": [{"box": [0.1, 0.1, -Infinity, 0.3]}]}',
    '{"error_type": "spatial", "regions": [{"box": [0.1, 0.1, 0.2, 0.3], "t": -1.0}]}',
    '{"error_type": "spatial", "regions": [{"box": [0.1, 0.1, 0.2, 0.3], "label": ["a", "b"]}]}',
    '{"error_type": ["temporal"], "guidance": "g"}',
])
def test_non_finite_numbers_and_non_string_labels_are_refused_without_a_duration(reply):
    # NaN compares false with every bound, so it used to pass and was later written as invalid JSON.
    with pytest.raises(PatchError, match=r"patch field '(windows|regions|error_type)"):
        EvidencePatch.from_json(reply)


def test_empty_and_non_object_patches():
    with pytest.raises(PatchError, match="patch is empty"):
        EvidencePatch.from_json({"error_type": "spatial"})
    with pytest.raises(PatchError, match="not valid JSON"):
        EvidencePatch.from_json("{oops")
    with pytest.raises(PatchError, match="must be a JSON object, got list"):
        EvidencePatch.from_json([GOOD])


def test_taxonomies():
    assert TAXONOMIES["paper3"] == ("temporal", "spatial", "misconception")
    patch = EvidencePatch.from_json({**GOOD, "error_type": "counting"}, taxonomy=TAXONOMIES["paper6"])
    assert patch.error_type == "counting"


@pytest.mark.parametrize("reply", [
    '<think>hmm</think><patch>{"error_type": "spatial", "guidance": "g"}</patch>',
    'Sure.\n```json\n{"error_type": "spatial", "guidance": "g"}\n```',
    '<answer>{"error_type": "spatial", "guidance": "g"}</answer>',
    'bare {"error_type": "spatial", "guidance": "g"} text',
])
def test_find_json_object_in_replies(reply):
    assert find_json_object(reply) == {"error_type": "spatial", "guidance": "g"}


def test_find_json_object_failures():
    with pytest.raises(PatchError, match="holds no JSON object"):
        find_json_object("no json here")
    with pytest.raises(PatchError, match="does not parse"):
        find_json_object("<patch>{'single': quotes}</patch>")
