"""SFT rehearsal (a share of warm-up examples in every stage-2 batch) and the stale-benchmark warning."""

from __future__ import annotations

import logging

import numpy as np
import torch

from ffr_data.config import merge
from ffr_data.synth import SynthConfig, ensure_benchmark
from ffr_train.batching import EncodedPrompt
from ffr_train.config import TrainConfig
from ffr_train.pipeline import ensure_data
from ffr_train.sft import Example, draw_batch

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
