"""The evaluator's prompt for a benchmark question is pinned: a refactor must not change it silently."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from conftest import write_video
from ffr_data.clips import sample_frames
from ffr_data.models import load_vlm
from ffr_data.prompting import build_prompt, render_text
from ffr_eval.benchmarks import load_benchmark
from ffr_eval.config import EvalConfig, benchmark_settings

EXPECTED_TEXT = (
    "What will the person do next?\n"
    "Options:\n"
    "A. sit down\n"
    "B. open the door\n"
    "C. walk away\n"
    "Please think about this question as if you were a human pondering deeply. Engage in an internal dialogue using "
    "expressions such as 'let me think', 'wait', 'Hmm', 'oh, I see', 'let's break it down', etc, or other natural "
    "language thought expressions. It's encouraged to include self-reflection or verification in the reasoning "
    "process. Provide your detailed reasoning between the <think> </think> tags, and then give your final answer "
    "between the <answer> </answer> tags.\n"
    "Please provide only the single option letter (e.g., A, B, C, D, etc.) within the <answer> </answer> tags."
)


def test_mvbench_prompt_snapshot(tmp_path: Path, tiny_student_dir: Path):
    root = tmp_path / "mvbench"
    (root / "json").mkdir(parents=True)
    (root / "json/action_prediction.json").write_text(json.dumps([
        {"video": "p1.mp4", "question": "What will the person do next?",
         "candidates": ["sit down", "open the door", "walk away"], "answer": "walk away"}]))
    write_video(root / "video/star/Charades_segment/p1.mp4", np.full((8, 56, 56, 3), 80, np.uint8), fps=4)
    cfg = EvalConfig(data_root=str(tmp_path))
    (sample,) = load_benchmark("mvbench", cfg).samples
    sampling, prompt_cfg = benchmark_settings(cfg, "mvbench", None, {})
    assert (sampling.num_frames, sampling.max_pixels, prompt_cfg.template) == (16, 128 * 28 * 28, "video-r1")
    frames = sample_frames(sample.path, sampling)
    prompt = build_prompt(sample, frames, prompt_cfg)
    assert prompt.messages[0]["content"][1]["text"] == EXPECTED_TEXT
    _, processor = load_vlm(tiny_student_dir)
    assert render_text(processor, prompt) == (
        "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>" + EXPECTED_TEXT
        + "<|im_end|>\n<|im_start|>assistant\n")
