"""The multi-turn tool loop through the openai backend against a scripted OpenAI-compatible server: real HTTP, real
tool calls executed on the real video, images sent back to the teacher, budgets, and the leak retry."""

from __future__ import annotations

import numpy as np

from ffr_teacher import build_teacher
from ffr_teacher.media import from_data_url
from ffr_teacher.prompts import BUDGET_REMINDER, LEAK_REMINDER


def images_in(request: dict) -> list[np.ndarray]:
    out = []
    for message in request["messages"]:
        if isinstance(message.get("content"), list):
            out += [from_data_url(p["image_url"]["url"]) for p in message["content"] if p["type"] == "image_url"]
    return out


def texts_in(request: dict) -> str:
    parts = []
    for message in request["messages"]:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [p["text"] for p in content if p["type"] == "text"]
    return "\n".join(parts)


def brightness(index: int) -> float:
    return 4 + index * 240 / 31


def test_native_tool_calls_run_on_the_video_and_images_go_back(scripted, openai_config, sample, frames, helpers):
    scripted.queue(helpers.completion(tool_calls=[("get_segment", {"start_s": 1.0, "end_s": 2.0, "n": 4}),
                                                  ("zoom_region", {"t": 1.75, "box": [0.1, 0.1, 0.4, 0.4]})]))
    scripted.reply(helpers.patch_reply())
    with build_teacher(openai_config()) as teacher:
        result = teacher.repair(sample, frames, "<think>the red square came first</think><answer>A</answer>")
    assert result.reason is None and result.patch.windows == ((1.5, 2.0),) and result.patch.key_frames == (3,)
    assert [(r.name, r.ok, r.images) for r in result.transcript] == [("get_segment", True, 4), ("zoom_region", True, 1)]
    assert result.turns == 2 and "wrong moment" in result.analysis
    first, second = scripted.requests
    assert [t["function"]["name"] for t in first["tools"]] == ["get_frame", "get_segment", "zoom_region"]
    assert len(images_in(first)) == len(frames) == 8
    # The second turn carries the tool results: one tool message per call, then the 5 new images from the video.
    tool_messages = [m for m in second["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["call_0", "call_1"]
    assert "4 frames at 1.00, 1.38, 1.62, 2.00 s" in tool_messages[0]["content"]
    assistant = next(m for m in second["messages"] if m["role"] == "assistant")
    assert [c["function"]["name"] for c in assistant["tool_calls"]] == ["get_segment", "zoom_region"]
    new_images = images_in(second)[8:]
    assert len(new_images) == 5
    segment_means = [image.mean() for image in new_images[:4]]
    expected = [brightness(i) for i in (8, 11, 13, 16)]
    assert np.allclose(segment_means, expected, atol=6)


def test_the_first_request_shows_frames_question_options_truth_and_response(scripted, openai_config, sample, frames,
                                                                           helpers):
    scripted.reply(helpers.patch_reply())
    with build_teacher(openai_config()) as teacher:
        teacher.repair(sample, frames, "<think>red first</think><answer>A</answer>")
    request = scripted.requests[0]
    text = texts_in(request)
    for needle in ("Frame 0 at 0.00 s", "Frame 7 at 3.88 s", "0-based", "Which shape appeared first?",
                   "A. the red square", "D. the yellow star", "## Ground truth\nB. the green disc",
                   "<think>red first</think><answer>A</answer>", "Blind test", "Point at evidence, do not describe it"):
        assert needle in text, needle
    urls = [p["image_url"]["url"] for m in request["messages"] if isinstance(m["content"], list)
            for p in m["content"] if p["type"] == "image_url"]
    assert all(u.startswith("data:image/jpeg;base64,") for u in urls)  # JPEG by default
    assert request["temperature"] == 0.1 and request["max_tokens"] == 2000 and request["model"] == "scripted"
    assert scripted.headers[0]["authorization"] == f"Bearer {helpers.secret}"


def test_no_ground_truth_hides_the_answer_from_the_teacher(scripted, openai_config, sample, frames, helpers):
    scripted.reply(helpers.patch_reply())
    with build_teacher(openai_config(use_ground_truth=False)) as teacher:
        assert teacher.repair(sample, frames, "A").patch is not None
    text = texts_in(scripted.requests[0])
    assert "## Ground truth\nNot given" in text and "Ground truth\nB" not in text and "<answer>B" not in text
    assert "A. the red square" in text  # the options are still shown


def test_plain_text_tool_syntax(scripted, openai_config, sample, frames, helpers):
    scripted.reply("I need a closer look.\nTOOL_CALL: get_frame(t=2.0)", helpers.patch_reply())
    with build_teacher(openai_config(tool_mode="text")) as teacher:
        result = teacher.repair(sample, frames, "A")
    assert result.patch is not None and [(r.name, r.ok) for r in result.transcript] == [("get_frame", True)]
    first, second = scripted.requests
    assert "tools" not in first and "TOOL_CALL: get_segment(start_s=SECONDS" in texts_in(first)
    assert "Tool results:\nget_frame(t=2): the frame at 2.00 s." in texts_in(second)
    assert abs(images_in(second)[-1].mean() - brightness(16)) < 6


def test_out_of_range_tool_call_is_an_error_result_not_a_crash(scripted, openai_config, sample, frames, helpers):
    scripted.queue(helpers.completion(tool_calls=[("get_frame", {"t": 99.0})]))
    scripted.reply(helpers.patch_reply())
    with build_teacher(openai_config()) as teacher:
        result = teacher.repair(sample, frames, "A")
        snapshot = teacher.metrics.snapshot()
    assert result.patch is not None and result.transcript[0].ok is False
    tool_message = next(m for m in scripted.requests[1]["messages"] if m["role"] == "tool")
    assert "error: get_frame failed" in tool_message["content"] and "outside the video" in tool_message["content"]
    assert (snapshot["tool_calls"], snapshot["tool_errors"], snapshot["successes"]) == (1, 1, 1)


def test_tool_budget_then_turn_budget(scripted, openai_config, sample, frames, helpers):
    scripted.queue(helpers.completion(tool_calls=[("get_frame", {"t": 1.0}), ("get_frame", {"t": 1.5})]))
    scripted.repeat_last = False
    scripted.queue(helpers.completion(tool_calls=[("get_frame", {"t": 2.0})]))
    scripted.reply("TOOL_CALL: get_frame(t=3.0)")
    with build_teacher(openai_config(max_tool_calls=2, max_turns=3)) as teacher:
        result = teacher.repair(sample, frames, "A")
    assert result.patch is None and result.reason == "budget"
    assert [r.ok for r in result.transcript] == [True, True, False, False]
    assert "no tool calls are left" in result.transcript[2].message
    assert len(scripted.requests) == 3
    assert "tools" not in scripted.requests[1] and BUDGET_REMINDER in texts_in(scripted.requests[1])


def test_leaky_patch_then_clean_retry(scripted, openai_config, sample, frames, helpers):
    scripted.reply(helpers.patch_reply("Option B is right: look at 1.5 s."), helpers.patch_reply())
    with build_teacher(openai_config()) as teacher:
        result = teacher.repair(sample, frames, "A")
        snapshot = teacher.metrics.snapshot()
    assert result.patch is not None and "Option B" not in result.patch.guidance
    assert result.leak_rejections == 1 and snapshot["leak_rejections"] == 1
    assert LEAK_REMINDER in texts_in(scripted.requests[1])
    assert "green" not in LEAK_REMINDER and "B." not in LEAK_REMINDER


def test_leaky_twice_gives_no_patch(scripted, openai_config, sample, frames, helpers):
    scripted.reply(helpers.patch_reply("It is the green disc."), helpers.patch_reply("Three shapes; pick (B)."))
    with build_teacher(openai_config()) as teacher:
        result = teacher.repair(sample, frames, "A")
        snapshot = teacher.metrics.snapshot()
    assert result.patch is None and result.reason == "leak" and result.detail.startswith("letter")
    assert snapshot["leak_rejections"] == 2 and snapshot["failures/leak"] == 1 and len(scripted.requests) == 2


def test_tools_disabled_is_a_single_call(scripted, openai_config, sample, frames, helpers):
    scripted.reply(helpers.patch_reply())
    with build_teacher(openai_config(tools_enabled=False)) as teacher:
        assert teacher.repair(sample, frames, "A").patch is not None
    assert "tools" not in scripted.requests[0] and "## Tools" not in texts_in(scripted.requests[0])


def test_thinking_moved_out_by_a_server_reasoning_parser_is_the_analysis(scripted, openai_config, sample, frames,
                                                                        helpers):
    """vLLM's --reasoning-parser (the GLM-4.5V recipe) returns the thinking in reasoning_content, the patch in
    content."""
    patch_only = helpers.patch_reply().split("</think>", 1)[1]
    reply = helpers.completion(patch_only)
    reply["choices"][0]["message"]["reasoning_content"] = "The student looked at 3 s; the flash is at 1.7 s."
    scripted.queue(reply)
    with build_teacher(openai_config()) as teacher:
        result = teacher.repair(sample, frames, "<answer>A</answer>")
    assert result.patch is not None and result.analysis == "The student looked at 3 s; the flash is at 1.7 s."
