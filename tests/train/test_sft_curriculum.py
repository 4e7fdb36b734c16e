"""SFT rehearsal (a share of warm-up examples in every stage-2 batch) and the stale-benchmark warning."""

from __future__ import annotations

import json
import logging

import numpy as np
import torch

from ffr_data.config import merge
from ffr_data.synth import SynthConfig, ensure_benchmark
from ffr_train.batching import EncodedPrompt
from ffr_train.config import TrainConfig
from ffr_train.pipeline import ensure_data
from ffr_train.sft import Example, draw_batch, is_text_only

SMALL = {"train": 4, "val": 0, "test": 0, "warmup": 0}


def _examples(tag: int, n: int) -> list[Example]:
    return [Example(EncodedPrompt(torch.tensor([tag, i]), None, {}), torch.tensor([i]), False) for i in range(n)]


def _tags(batch: list[Example]) -> list[int]:
    return [int(e.prompt.input_ids[0]) for e in batch]


def test_draw_batch_takes_the_rehearsal_share_without_repeats():
    main, warm = _examples(1, 40), _examples(2, 40)
    rng = np.random.default_rng(0)
    assert _tags(draw_batch(rng, main, 16, warm, 0.0)) == [1] * 16
    assert _tags(draw_batch(rng, main, 16, warm, 1.0)) == [2] * 16
    assert _tags(draw_batch(rng, main, 16, [], 0.5)) == [1] * 16  # nothing to rehearse: all main
    shares = []
    for _ in range(300):
        batch = draw_batch(rng, main, 16, warm, 0.25)
        assert len(batch) == 16
        assert len({(e.prompt.input_ids[0].item(), e.prompt.input_ids[1].item()) for e in batch}) == 16
        shares.append(_tags(batch).count(2) / 16)
    assert 0.22 < float(np.mean(shares)) < 0.28
    assert len(draw_batch(rng, main[:5], 16, warm[:3], 0.5)) <= 8  # small pools: never more than they hold


def test_a_benchmark_with_other_settings_is_used_but_named(tmp_path, caplog):
    folder = tmp_path / "synth"
    ensure_benchmark(folder, SynthConfig(flash_size=12), counts=SMALL, seed=0, workers=1, progress=False)
    cfg = merge(TrainConfig(), {"data.train_file": str(folder / "train.jsonl")})
    with caplog.at_level(logging.WARNING, logger="ffr_train.pipeline"):
        ensure_data(cfg)
    assert "flash_size" in caplog.text and str(folder) in caplog.text


def test_a_benchmark_with_the_default_settings_is_used_quietly(tmp_path, caplog):
    folder = tmp_path / "synth"
    ensure_benchmark(folder, SynthConfig(), counts=SMALL, seed=0, workers=1, progress=False)
    cfg = merge(TrainConfig(), {"data.train_file": str(folder / "train.jsonl")})
    with caplog.at_level(logging.WARNING, logger="ffr_train.pipeline"):
        ensure_data(cfg)
    assert caplog.text == ""


def test_the_text_only_share_of_patched_examples_is_exact_and_spread_out():
    for share, n in ((0.5, 10), (1 / 3, 9), (0.25, 7), (0.0, 5), (1.0, 5)):
        picks = [is_text_only(k, share) for k in range(n)]
        assert sum(picks) == int(n * share)
    assert [is_text_only(k, 0.5) for k in range(6)] == [False, True] * 3
    assert [is_text_only(k, 1 / 3) for k in range(6)] == [False, False, True] * 2


def test_sft_shows_full_and_text_only_patches_on_its_own_split(flash_data, flash_student, tmp_path):
    """SFT reads sft.train_file (not the RL file), and half of its patched examples carry the text-only rendering:
    one video (the student's own) and no image, where a full rendering adds the window's frames and a zoomed crop."""
    from ffr_data.clips import FrameCache
    from ffr_data.models import load_vlm
    from ffr_train.data import load_split
    from ffr_train.sft import encode_examples, run_sft
    from train_support import tiny_train_config

    cfg = tiny_train_config(flash_data, flash_student, tmp_path / "run", **{
        "sft.warmup_steps": 0, "sft.main_steps": 2, "sft.batch_size": 2, "sft.patch_fraction": 1.0,
        "sft.text_only_patch_share": 0.5, "sft.train_file": str(flash_data / "val.jsonl"),
        "sft.output_dir": str(tmp_path / "sft")})
    _, processor = load_vlm(flash_student)
    samples, _ = load_split(flash_data / "val.jsonl")
    examples, skipped = encode_examples(samples, processor, cfg, FrameCache(), 1.0, cfg.seed, "main")
    assert skipped == 0 and [e.patched for e in examples] == [True] * 4
    assert [e.text_only for e in examples] == [False, True, False, True]
    for example in examples:
        videos = example.prompt.media["video_grid_thw"].shape[0]
        images = example.prompt.media.get("image_grid_thw")
        assert (videos, images is None) == ((1, True) if example.text_only else (2, False))
    report = json.loads((run_sft(cfg) / "sft_report.json").read_text())["stages"]["main"]
    assert report["file"] == str(flash_data / "val.jsonl") and report["examples"] == 4
    assert (report["patched_examples"], report["text_only_patched_examples"]) == (4, 2)
