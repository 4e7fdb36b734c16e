"""The teacher recipes in configs/teacher/: each vLLM command in a recipe's header agrees with its config, and each
recipe, pointed at ``ffr teacher serve`` on loopback, runs a real repair (probe included) through the official
``openai`` client in its tool mode. The served model is the tiny student; only its words are scripted, so the chat
template, the processor and generation see the real conversation of either tool mode."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from ffr_data.config import resolve
from ffr_data.sampling import FrameSamplingConfig
from ffr_teacher import RepairRequest, TeacherConfig, build_teacher
from ffr_teacher.loop import ChatReply
from ffr_teacher.server import ServeConfig, TeacherServer, create_server

RECIPES = sorted((Path(__file__).resolve().parents[2] / "configs" / "teacher").glob("vllm-*.yaml"))
STUDENT_FRAMES = 16  # the paper's student sees 16 frames; every request carries them
PROMPT_TEXT_TOKENS = 4096  # the teacher's instructions, question, options and the student's response


def vllm_command(recipe: Path) -> list[str]:
    """The ``vllm serve`` command in the recipe's header comment, as argv."""
    lines = [line.lstrip("#").strip() for line in recipe.read_text().splitlines() if line.startswith("#")]
    start = next(i for i, line in enumerate(lines) if line.startswith("vllm serve"))
    command = []
    for line in lines[start:]:
        command.append(line.rstrip("\\").strip())
        if not line.endswith("\\"):
            break
    return shlex.split(" ".join(command))


def option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_the_vllm_command_matches_the_config(recipe):
    cfg = resolve(TeacherConfig(), recipe)
    argv = vllm_command(recipe)
    assert cfg.backend == "openai" and option(argv, "--served-model-name") == cfg.model
    assert cfg.base_url == f"http://{option(argv, '--host')}:{option(argv, '--port')}/v1"
    if cfg.tool_mode == "native":  # vLLM answers requests with tools with 400 unless it parses tool calls
        assert "--enable-auto-tool-choice" in argv and option(argv, "--tool-call-parser")
    else:
        assert "--tool-call-parser" not in argv
    images = json.loads(option(argv, "--limit-mm-per-prompt"))
    most_images = STUDENT_FRAMES + cfg.max_tool_calls * cfg.max_segment_frames
    assert images["image"] >= most_images and images["video"] == 0
    size = json.loads(option(argv, "--mm-processor-kwargs"))["size"]
    frame_pixels = max(cfg.sampling.max_pixels, FrameSamplingConfig().max_pixels)
    assert size["longest_edge"] == frame_pixels  # no image is planned (or resized) beyond the frames' size
    tokens_per_image = size["longest_edge"] // (28 * 28)
    longest = most_images * tokens_per_image + (cfg.max_turns + 1) * cfg.max_tokens + PROMPT_TEXT_TOKENS
    assert int(option(argv, "--max-model-len")) >= longest
    assert cfg.image_format == "jpeg" and cfg.timeout_s is None  # sized from max_tokens


class ToolUsingTeacher:
    """A chat engine that answers like a tool-using teacher (a TOOL_CALL line, then a patch once a tool result came
    back) after running each request through the real model, so the server's model path takes the conversation."""

    PATCH = ('<think>The student looked at the wrong moment.</think>\n<patch>{"error_type": "temporal", '
             '"guidance": "Compare the moments around 1.5-2.0 s and note which shape appears first.", '
             '"windows": [[1.5, 2.0]], "key_frames": [3]}</patch>')

    def __init__(self, model_engine):
        self.model_engine = model_engine
        self.seen: list[list[dict]] = []

    def generate(self, messages, max_tokens, temperature=None):
        real = self.model_engine.generate(messages, 1, temperature)  # template, processor, one generated token
        self.seen.append(messages)
        answered = any(m["role"] == "tool" or "Tool results:" in text_of(m) for m in messages)
        text = self.PATCH if answered else ("<think>I need a closer look.</think>\n"
                                            "TOOL_CALL: get_segment(start_s=1.5, end_s=2.0, n=2)")
        return ChatReply(text, [], "stop", real.prompt_tokens, 12)


def text_of(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content or [] if p.get("type") == "text")


def images_of(messages: list[dict]) -> int:
    return sum(p.get("type") == "image" for m in messages if isinstance(m.get("content"), list)
               for p in m["content"])


@pytest.fixture(scope="module")
def served(tiny_student_dir):
    model_server = create_server(ServeConfig(model=str(tiny_student_dir), port=0))
    engine = ToolUsingTeacher(model_server.engine)
    server = TeacherServer(engine, model_server.cfg, "recipe-under-test", model_server.httpd).start()
    yield server, engine
    server.stop()
    model_server.engine.close()


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_the_recipe_repairs_through_ffr_teacher_serve(recipe, served, sample, frames, tmp_path):
    server, engine = served
    cfg = resolve(TeacherConfig(), recipe, [f"base_url={server.base_url}", f"model={server.name}",
                                            f"cache_dir={tmp_path / 'cache'}", "sampling.max_pixels=3136"])
    request = RepairRequest(sample, frames, "<think>the red square came first</think><answer>A</answer>")
    engine.seen.clear()
    with build_teacher(cfg) as teacher:
        probed = teacher.probe(request)
        result = teacher.repair_many([request])[0]
    for outcome in (probed, result):
        assert outcome.patch is not None and outcome.patch.windows == ((1.5, 2.0),)
        assert [(r.name, r.ok, r.images) for r in outcome.transcript] == [("get_segment", True, 2)]
        assert outcome.analysis == "The student looked at the wrong moment." and outcome.turns == 2
    first, second = engine.seen[0], engine.seen[1]
    assert images_of(first) == len(frames) and images_of(second) == len(frames) + 2  # the segment's frames came back
    roles = [m["role"] for m in second]
    if cfg.tool_mode == "native":  # tools declared over the API; the answer came back as a tool message
        assert "You can call these tools" in text_of(first[0]) and "tool" in roles
    else:  # tools described in FFR's own prompt; results came back as a user message
        assert "tool" not in roles and re.search(r"TOOL_CALL: get_frame", text_of(first[0]) + text_of(first[1]))
        assert any("Tool results:" in text_of(m) for m in second)
