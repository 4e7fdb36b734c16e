"""Tool-call parsing and execution on a real video, and patch parsing from teacher replies."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ffr_data.clips import ClipTools
from ffr_data.sampling import FrameSamplingConfig
from ffr_teacher import TeacherConfig, TeacherFailure
from ffr_teacher.loop import parse_reply
from ffr_teacher.media import MediaError, from_data_url, to_data_url
from ffr_teacher.tools import TOOL_NAMES, TOOL_SPECS, ToolCall, ToolExecutor, parse_text_tool_calls

SAMPLING = FrameSamplingConfig(num_frames=8, max_pixels=56 * 56, min_pixels=28 * 28)


def brightness(index: int) -> float:
    """Mean brightness of frame ``index`` of the shared test video (tests/conftest.py)."""
    return 4 + index * 240 / 31


def test_tool_specs_are_openai_function_declarations():
    assert TOOL_NAMES == ("get_frame", "get_segment", "zoom_region")
    for spec in TOOL_SPECS:
        assert spec["type"] == "function"
        params = spec["function"]["parameters"]
        assert params["type"] == "object" and set(params["required"]) <= set(params["properties"])
    json.dumps(TOOL_SPECS)


def test_parse_text_tool_calls():
    text = ("Let me check.\nTOOL_CALL: get_segment(start_s=1.0, end_s=2.0)\n"
            "TOOL_CALL: zoom_region(1.5, [0.1, 0.2, 0.5, 0.6])\n`TOOL_CALL: zoom_region(1.5, 0.1, 0.2, 0.5, 0.6)`\n"
            "TOOL_CALL: get_frame(t=")
    calls = parse_text_tool_calls(text)
    assert [(c.name, c.arguments, c.error) for c in calls[:3]] == [
        ("get_segment", {"start_s": 1.0, "end_s": 2.0}, None),
        ("zoom_region", {"t": 1.5, "box": [0.1, 0.2, 0.5, 0.6]}, None),
        ("zoom_region", {"t": 1.5, "box": [0.1, 0.2, 0.5, 0.6]}, None),
    ]
    assert calls[3].error is not None and "cannot parse" in calls[3].error
    assert parse_text_tool_calls("TOOL_CALL: get_frame(t=__import__('os'))")[0].error is not None
    assert parse_text_tool_calls("no calls here") == []


def test_tools_run_on_the_real_video(video_path):
    executor = ToolExecutor(ClipTools(str(video_path), SAMPLING), 4, 8)
    frame = executor.execute(ToolCall("c0", "get_frame", {"t": 2.0}))
    assert frame.ok and len(frame.images) == 1
    assert abs(frame.images[0][1].mean() - brightness(16)) < 6
    segment = executor.execute(ToolCall("c1", "get_segment", {"start_s": 1.0, "end_s": 2.0, "n": 4}))
    assert segment.ok and len(segment.images) == 4
    means = [image.mean() for _, image in segment.images]
    assert means == sorted(means) and abs(means[0] - brightness(8)) < 6 and abs(means[-1] - brightness(16)) < 6
    zoom = executor.execute(ToolCall("c2", "zoom_region", {"t": 1.0, "box": [0.0, 0.0, 0.5, 0.5]}))
    assert zoom.ok and zoom.images[0][1].shape[0] * zoom.images[0][1].shape[1] <= SAMPLING.max_pixels


@pytest.mark.parametrize(("name", "arguments", "expected"), [
    ("get_frame", {"t": 99.0}, "outside the video"),
    ("get_frame", {"t": "soon"}, "must be a number"),
    ("get_frame", {}, "missing argument"),
    ("get_frame", {"t": 1.0, "zoom": 2}, "unknown argument"),
    ("get_segment", {"start_s": 2.0, "end_s": 1.0}, "before its start"),
    ("get_segment", {"start_s": 1.0, "end_s": 2.0, "n": 50}, "n must be an integer from 1 to 8"),
    ("zoom_region", {"t": 1.0, "box": [0.5, 0.5, 0.2, 0.9]}, "not a normalised box"),
    ("zoom_region", {"t": 1.0, "box": [0.1, 0.2]}, "box must be"),
    ("rewind", {}, "unknown tool"),
])
def test_bad_tool_calls_become_error_messages(video_path, name, arguments, expected):
    outcome = ToolExecutor(ClipTools(str(video_path), SAMPLING)).execute(ToolCall("c", name, arguments))
    assert not outcome.ok and not outcome.images
    assert outcome.message.startswith("error:") and expected in outcome.message
    assert str(video_path) not in outcome.message  # the path never goes to a (remote) teacher


def test_data_urls_round_trip_and_refuse_anything_else():
    image = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    assert np.array_equal(from_data_url(to_data_url(image, "png")), image)
    flat = np.zeros((16, 16, 3), np.uint8)
    flat[:] = (200, 50, 10)  # RGB order must survive the round trip
    decoded = from_data_url(to_data_url(flat, "jpeg", 95))
    assert to_data_url(flat, "jpeg").startswith("data:image/jpeg;base64,")
    assert np.abs(decoded.astype(int) - flat).max() <= 3
    for bad in ("/etc/passwd", "file:///etc/passwd", "http://127.0.0.1/x.png", "data:image/png;base64,!!!",
                "data:image/png;base64,aGVsbG8="):
        with pytest.raises(MediaError):
            from_data_url(bad)


CFG = TeacherConfig()
PATCH = {"error_type": "temporal", "guidance": "Watch 1.5-2.0 s.", "windows": [[1.5, 2.0]], "key_frames": [3]}


@pytest.mark.parametrize("template", ["<think>{{\"not\": 1}} analysis</think><patch>{p}</patch>",
                                      "<think>analysis</think>\n<answer>{p}</answer>",
                                      "<think>analysis</think>\n```json\n{p}\n```", "<think>analysis</think> {p}"])
def test_parse_reply_finds_the_patch(template):
    analysis, patch = parse_reply(template.replace("{p}", json.dumps(PATCH)), CFG, 8, 4.0)
    assert "analysis" in analysis
    assert patch.windows == ((1.5, 2.0),) and patch.key_frames == (3,)


@pytest.mark.parametrize(("reply", "finish", "reason", "detail"), [
    ("<think>I think", "length", "truncated", ""),
    ('<think>x</think><patch>{"error_type": "temp', "length", "truncated", ""),
    ("The student is wrong.", "stop", "no_json", "no JSON"),
    ('<patch>{"error_type": temporal}</patch>', "stop", "no_json", "does not parse"),
    ('<patch>{"error_type": "counting", "guidance": "x"}</patch>', "stop", "schema", "error_type"),
    ('<patch>{"error_type": "temporal", "key_frames": [8]}</patch>', "stop", "schema", "key_frames[0]"),
    ('<patch>{"error_type": "temporal", "windows": [[3.0, 9.0]]}</patch>', "stop", "schema", "windows[0]"),
    ('<patch>{"error_type": "temporal"}</patch>', "stop", "schema", "empty"),
])
def test_parse_reply_failures(reply, finish, reason, detail):
    with pytest.raises(TeacherFailure) as info:
        parse_reply(reply, CFG, 8, 4.0, finish)
    assert info.value.reason == reason and detail in info.value.detail


def test_paper6_taxonomy_is_configurable():
    cfg = TeacherConfig(taxonomy="paper6")
    _, patch = parse_reply('<patch>{"error_type": "counting", "guidance": "Count in 1-2 s."}</patch>', cfg, 8, 4.0)
    assert patch.error_type == "counting"
