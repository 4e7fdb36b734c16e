"""The one prompt implementation: rendered text pinned by snapshots, processor inputs for every architecture.

Snapshots live in tests/data/snapshots/ and are compared exactly. After an intended prompt change, regenerate them
with ``FFR_UPDATE_SNAPSHOTS=1 uv run pytest tests/data/test_prompting.py`` and review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from ffr_data.clips import ClipTools, FrameCache, sample_frames
from ffr_data.patch import EvidencePatch
from ffr_data.prompting import (
    TEMPLATES,
    PromptConfig,
    build_prompt,
    encode_prompts,
    format_question,
    patch_text,
    render_patch,
    render_text,
)
from ffr_data.sampling import FrameSamplingConfig
from ffr_data.schema import parse_sample

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("FFR_UPDATE_SNAPSHOTS") == "1"

SAMPLE = parse_sample({
    "problem_id": "synth-test-00001", "path": "v.mp4", "problem_type": "multiple choice",
    "problem": "Which colour flashed first?", "options": ["A. red", "B. green", "C. blue", "D. yellow"],
    "solution": "<answer>C</answer>",
})
PATCH = EvidencePatch.from_json({
    "error_type": "temporal", "guidance": "Compare the moments cited; watch when each shape appears.",
    "windows": [[1.0, 1.25]], "key_frames": [2],
    "regions": [{"box": [0.25, 0.25, 0.5, 0.5], "t": 1.125, "label": "a flash"}],
})
SAMPLING = {"qwen2_vl": FrameSamplingConfig(num_frames=8, max_pixels=56 * 56, min_pixels=28 * 28),
            "qwen2_5_vl": FrameSamplingConfig(num_frames=8, max_pixels=56 * 56, min_pixels=28 * 28),
            "qwen3_vl": FrameSamplingConfig(num_frames=8, max_pixels=64 * 64, min_pixels=32 * 32, patch_multiple=32)}


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.is_file(), f"missing snapshot {path}; create it with FFR_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(), f"{path.name} changed; if intended, regenerate with FFR_UPDATE_SNAPSHOTS=1"


def model_view(processor, prompt) -> str:
    """The encoded prompt decoded back to text, runs of media pad tokens written as <|x_pad|>*N."""
    ids = encode_prompts(processor, [prompt])["input_ids"][0].tolist()
    text = processor.tokenizer.decode(ids, skip_special_tokens=False)
    return re.sub(r"((<\|(?:video|image)_pad\|>))(?:\2)+", lambda m: f"{m.group(1)}*{len(m.group(0)) // len(m.group(1))}",
                  text)


def media_lines(prompt) -> str:
    lines = [f"video {i}: {len(v)} frames {v.size[0]}x{v.size[1]}, indices {list(v.indices)}"
             for i, v in enumerate(prompt.videos)]
    lines += [f"image {i}: {im.size[0]}x{im.size[1]} of frame {im.indices[0]}" for i, im in enumerate(prompt.images)]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def processor(tiny_student_dir):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_student_dir)


@pytest.mark.parametrize("template", sorted(TEMPLATES))
@pytest.mark.parametrize("variant", ["plain", "patch-text", "patch-visual"])
def test_prompt_snapshots(template, variant, processor, video_path):
    cfg = PromptConfig(template=template, patch_visuals=variant == "patch-visual")
    sampling = SAMPLING["qwen2_5_vl"]
    cache = FrameCache()
    frames = sample_frames(str(video_path), sampling, cache)
    media = None
    if variant != "plain":
        media = render_patch(PATCH, ClipTools(str(video_path), sampling, cache), frames, cfg)
    prompt = build_prompt(SAMPLE, frames, cfg, media)
    text = (f"== rendered chat text ==\n{render_text(processor, prompt)}\n== media ==\n{media_lines(prompt)}\n"
            f"== model input ==\n{model_view(processor, prompt)}\n")
    check_snapshot(f"{template}-{variant}", text)


def test_question_and_patch_text():
    assert format_question(SAMPLE) == "Which colour flashed first?\nOptions:\nA. red\nB. green\nC. blue\nD. yellow"
    assert patch_text(PATCH) == ("Error type: temporal.\nLook at: time 1.00-1.25 s; frames 2; region [0.25, 0.25, "
                                 "0.50, 0.50] at 1.12 s (a flash).\nGuidance: Compare the moments cited; watch when "
                                 "each shape appears.")


def test_visual_patch_renders_the_window_densely_and_zooms_the_region(video_path):
    cache = FrameCache()
    sampling = SAMPLING["qwen2_5_vl"]
    frames = sample_frames(str(video_path), sampling, cache)
    media = render_patch(PATCH, ClipTools(str(video_path), sampling, cache), frames, PromptConfig())
    assert [v.indices for v in media.videos] == [(8, 9, 9, 10)]
    assert [im.indices for im in media.images] == [(9,)]
    frame_only = EvidencePatch.from_json({"error_type": "temporal", "key_frames": [2, 3]})
    windows = render_patch(frame_only, ClipTools(str(video_path), sampling, cache), frames, PromptConfig())
    assert len(windows.videos) == 1 and windows.video_captions == ["Frames of 0.85-1.90 s:"]
    text_only = render_patch(PATCH, ClipTools(str(video_path), sampling, cache), frames,
                             PromptConfig(patch_visuals=False))
    assert text_only.videos == [] and text_only.images == []


@pytest.mark.parametrize("arch", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def test_encode_prompts_shapes(arch, tiny_students, video_path):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_students[arch])
    sampling = SAMPLING[arch]
    cache = FrameCache()
    frames = sample_frames(str(video_path), sampling, cache)
    side = frames.size[0]
    patch = 16 if arch == "qwen3_vl" else 14
    media = render_patch(PATCH, ClipTools(str(video_path), sampling, cache), frames, PromptConfig())
    prompts = [build_prompt(SAMPLE, frames, PromptConfig(template="compact")),
               build_prompt(SAMPLE, frames, PromptConfig(template="compact"), media)]
    batch = encode_prompts(processor, prompts, padding_side="left")
    grid = side // patch
    assert batch["video_grid_thw"].tolist() == [[4, grid, grid], [4, grid, grid], [2, grid, grid]]
    assert batch["image_grid_thw"].tolist() == [[1, grid, grid]]
    assert batch["pixel_values_videos"].shape[0] == (4 + 4 + 2) * grid * grid
    assert batch["pixel_values"].shape[0] == grid * grid
    video_token = processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    image_token = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    per_temporal = grid * grid // 4
    counts = (batch["input_ids"] == video_token).sum(dim=1).tolist()
    assert counts == [4 * per_temporal, (4 + 2) * per_temporal]
    assert (batch["input_ids"] == image_token).sum().item() == per_temporal
    mask = batch["attention_mask"]
    assert mask[0, 0].item() == 0 and mask[1].all()  # the shorter prompt is padded on the left
