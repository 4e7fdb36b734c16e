"""Example configs resolve; benchmark defaults never replace keys the user set."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffr_data.config import resolve
from ffr_data.errors import ConfigError
from ffr_eval.benchmarks import get_benchmark, known_benchmarks
from ffr_eval.config import EvalConfig, benchmark_settings, flat_keys, source_for

CONFIGS = sorted((Path(__file__).parents[2] / "configs/eval").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_example_configs_resolve(path):
    cfg = resolve(EvalConfig(), path)
    known = known_benchmarks(cfg)
    for name in cfg.benchmarks:
        assert name in known
        source_for(cfg, name)


def test_paper_config_is_the_paper_protocol():
    cfg = resolve(EvalConfig(), Path(__file__).parents[2] / "configs/eval/ffr-paper.yaml")
    assert (cfg.sampling.num_frames, cfg.sampling.max_pixels, cfg.prompt.template) == (16, 128 * 28 * 28, "video-r1")
    assert cfg.decoding.max_new_tokens == 1024 and len(cfg.benchmarks) == 8


def test_synth_defaults_apply_only_to_keys_the_user_did_not_set():
    synth = get_benchmark("synth")
    cfg = EvalConfig()
    sampling, prompt = benchmark_settings(cfg, "synth", synth.template, synth.sampling)
    assert (sampling.num_frames, sampling.max_pixels, prompt.template) == (8, 3136, "compact")
    given = {"sampling": {"num_frames": 16}}
    cfg = resolve(EvalConfig(), None, ["sampling.num_frames=16"])
    sampling, prompt = benchmark_settings(cfg, "synth", synth.template, synth.sampling, flat_keys(given))
    assert (sampling.num_frames, sampling.max_pixels, prompt.template) == (16, 3136, "compact")
    cfg = resolve(EvalConfig(), None, ["per_benchmark.synth.sampling.num_frames=4", "per_benchmark.synth.template=video-r1"])
    sampling, prompt = benchmark_settings(cfg, "synth", synth.template, synth.sampling)
    assert (sampling.num_frames, prompt.template) == (4, "video-r1")
    cfg = resolve(EvalConfig(), None, ["benchmark_defaults=false"])
    sampling, _ = benchmark_settings(cfg, "mvbench", None, {})
    assert sampling.num_frames == 16


def test_bad_per_benchmark_keys_are_named():
    cfg = resolve(EvalConfig(), None, ["per_benchmark.mvbench.nope=1"])
    with pytest.raises(ConfigError, match=r"unknown config key 'per_benchmark\.mvbench\.nope'"):
        source_for(cfg, "mvbench")
    cfg = resolve(EvalConfig(), None, ["per_benchmark.mvbench.format=csv"])
    with pytest.raises(ConfigError, match="is not auto, native or video-r1"):
        source_for(cfg, "mvbench")
    cfg = resolve(EvalConfig(), None, ["user_benchmarks.mvbench.annotation=x.json"])
    with pytest.raises(ConfigError, match="is a built-in benchmark name"):
        known_benchmarks(cfg)
