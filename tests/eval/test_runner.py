"""The runner: a real `ffr eval` of the tiny student, resume after an interruption, errors retried, sharding,
the in-process API, and one-line errors for bad input."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ffr_data.cli_root import build_app
from ffr_data.errors import ConfigError, FFRError
from ffr_data.models import load_vlm
from ffr_data.schema import load_samples
from ffr_eval import EvalConfig, evaluate
from ffr_eval.benchmarks import load_benchmark
from ffr_eval.config import DecodingConfig
from ffr_eval.generation import BatchGenerator
from ffr_eval.predictions import PredictionWriter, rank_file
from ffr_eval.runner import finalize, generate_shard, plan_for, run_eval, run_settings

FAST = {"decoding": DecodingConfig(max_new_tokens=8), "progress": False, "chart": False}


def config(model: Path, data_root: Path, out: Path, **changes) -> EvalConfig:
    return EvalConfig(model=str(model), benchmarks=["synth"], data_root=str(data_root), out=str(out),
                      **{**FAST, **changes})


def outputs(out: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in (out / "synth/scored.jsonl").read_text().splitlines()]
    return {r["problem_id"]: r.get("output") for r in rows}


def test_ffr_eval_command_on_the_tiny_student(tiny_student_dir, synth_root, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(build_app(), [
        "eval", "--model", str(tiny_student_dir), "--benchmarks", "synth", "--data-root", str(synth_root),
        "--out", str(out), "decoding.max_new_tokens=8", "batch_size=3", "progress=false"])
    assert result.exit_code == 0, result.output
    assert "FFR synthetic evidence (synth)" in result.output
    payload = json.loads((out / "results.json").read_text())
    synth = payload["benchmarks"]["synth"]
    assert synth["counts"]["samples"] == 4 and synth["counts"]["scored"] == 4 and synth["counts"]["errors"] == 0
    assert synth["settings"]["sampling"]["num_frames"] == 8 and synth["settings"]["sampling"]["max_pixels"] == 3136
    assert synth["settings"]["prompt"]["template"] == "compact"
    assert payload["settings"]["decoding"]["max_new_tokens"] == 8 and payload["settings"]["config"]["batch_size"] == 3
    assert "transformers" in payload["settings"]["versions"]
    assert set(synth["timing"]) >= {"decode_s", "preprocess_s", "generate_s", "wall_s", "samples_per_s"}
    assert synth["timing"]["samples"] == 4 and synth["timing"]["generate_s"] > 0
    assert {"family/location", "family/timing", "mean_of_family"} <= set(synth["metrics"]["lenient"])
    assert (out / "report.md").read_text().count("| FFR synthetic evidence (synth) |") == 1
    assert (out / "chart.png").read_bytes()[:4] == b"\x89PNG"


class Interrupt(BaseException):
    """Stands in for Ctrl-C / a killed job."""


def test_resume_after_interruption_gives_the_same_scores(noisy_student_dir, synth_root, tmp_path, monkeypatch):
    reference = run_eval(config(noisy_student_dir, synth_root, tmp_path / "full", batch_size=1))
    calls = {"n": 0, "samples": 0}
    real_run = BatchGenerator.run

    def interrupted_run(self, samples, *args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Interrupt
        return real_run(self, samples, *args)

    out = tmp_path / "resumed"
    monkeypatch.setattr(BatchGenerator, "run", interrupted_run)
    with pytest.raises(Interrupt):
        run_eval(config(noisy_student_dir, synth_root, out, batch_size=1))
    assert len(rank_file(out / "synth", 0).read_text().splitlines()) == 2
    with rank_file(out / "synth", 0).open("a") as fh:
        fh.write('{"problem_id": "test-3", "status": "o')          # a line torn by the kill

    def counting_run(self, samples, *args):
        calls["samples"] += len(samples)
        return real_run(self, samples, *args)

    monkeypatch.setattr(BatchGenerator, "run", counting_run)
    resumed = run_eval(config(noisy_student_dir, synth_root, out, batch_size=1))
    assert calls["samples"] == 2                                     # only the unfinished samples ran
    assert resumed["benchmarks"]["synth"]["metrics"] == reference["benchmarks"]["synth"]["metrics"]
    assert outputs(out) == outputs(tmp_path / "full")
    assert len(set(outputs(out).values())) > 1                        # answers differ per video: a real comparison
    assert resumed["benchmarks"]["synth"]["counts"]["unreadable_prediction_lines"] == 1
    assert resumed["benchmarks"]["synth"]["counts"]["scored"] == 4


def test_missing_video_is_an_error_then_retried(tiny_student_dir, synth_root, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(synth_root, data)
    moved = data / "videos/test-2.mp4"
    moved.rename(tmp_path / "aside.mp4")
    first = run_eval(config(tiny_student_dir, data, tmp_path / "run"))["benchmarks"]["synth"]["counts"]
    assert (first["errors"], first["scored"], first["complete"]) == (1, 3, False)
    assert first["error_kinds"] == {"video": 1} and "test-2.mp4" in first["error_examples"][0]
    (tmp_path / "aside.mp4").rename(moved)
    second = run_eval(config(tiny_student_dir, data, tmp_path / "run"))["benchmarks"]["synth"]
    assert (second["counts"]["errors"], second["counts"]["scored"]) == (0, 4)
    assert second["timing"]["samples"] == 1                           # only the failed sample was generated again


def test_ranks_write_their_own_shards_and_rank_zero_merges(noisy_student_dir, synth_root, tmp_path):
    single = run_eval(config(noisy_student_dir, synth_root, tmp_path / "single"))
    cfg = config(noisy_student_dir, synth_root, tmp_path / "sharded")
    loaded = load_benchmark("synth", cfg)
    model, processor = load_vlm(noisy_student_dir)
    plan = plan_for(loaded.benchmark, loaded.samples, cfg, model, loaded)
    generator = BatchGenerator(model, processor, cfg.decoding)
    for rank in (0, 1):
        with PredictionWriter(rank_file(tmp_path / "sharded/synth", rank)) as writer:
            rows = generate_shard(generator, plan, 2, set(), rank, 2, writer, lambda n: None)
        assert {r["problem_id"] for r in rows} == {s.problem_id for s in loaded.samples[rank::2]}
    merged = finalize(tmp_path / "sharded", [plan], run_settings(cfg, model, [plan], 2, "cpu"))
    assert merged["benchmarks"]["synth"]["metrics"] == single["benchmarks"]["synth"]["metrics"]
    assert outputs(tmp_path / "sharded") == outputs(tmp_path / "single")


def test_evaluate_api_with_a_loaded_model(noisy_student_dir, synth_root, tmp_path):
    model, processor = load_vlm(noisy_student_dir)
    model.train()
    samples = [dataclasses.replace(s, path=str(synth_root / s.path))
               for s in load_samples(synth_root / "test.jsonl").samples]
    cfg = EvalConfig(decoding=DecodingConfig(max_new_tokens=8), batch_size=2)
    cfg = dataclasses.replace(cfg, sampling=dataclasses.replace(cfg.sampling, num_frames=8, max_pixels=3136,
                                                                min_pixels=784))
    result = evaluate(model, processor, samples, cfg)
    assert model.training                                            # the trainer's mode is restored
    assert result.counts["scored"] == 4 and len(result.rows) == 4
    assert set(result.metrics) == {"strict", "lenient", "official"} and "family/location" in result.metrics["lenient"]
    assert "mean_acc" in result.metrics["official"]                 # FFR-schema samples: Video-R1's eval_bench.py
    assert result.settings["sampling"]["num_frames"] == 8 and result.timing["samples"] == 4
    again = evaluate(model, processor, samples, cfg, out_dir=tmp_path / "api")
    assert [r["output"] for r in again.rows] == [r["output"] for r in result.rows]
    assert rank_file(tmp_path / "api/synth", 0).is_file()


def test_bad_model_dir_and_changed_settings_are_one_line_errors(tiny_student_dir, synth_root, tmp_path):
    with pytest.raises(FFRError, match="not a model directory"):
        run_eval(config(tmp_path, synth_root, tmp_path / "x"))
    run_eval(config(tiny_student_dir, synth_root, tmp_path / "run", limit=1))
    changed = config(tiny_student_dir, synth_root, tmp_path / "run", limit=1,
                     decoding=DecodingConfig(max_new_tokens=9))
    with pytest.raises(ConfigError, match="different 'decoding' settings"):
        run_eval(changed)
    fresh = run_eval(dataclasses.replace(changed, resume=False))
    assert fresh["settings"]["decoding"]["max_new_tokens"] == 9


def test_unknown_override_key_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(build_app(), ["eval", "--out", str(tmp_path), "no_such_key=1"])
    assert isinstance(result.exception, ConfigError) and "unknown config key 'no_such_key'" in str(result.exception)


@pytest.mark.slow
def test_two_processes_with_torch_distributed(noisy_student_dir, synth_root, tmp_path):
    out = tmp_path / "dp"
    single = run_eval(config(noisy_student_dir, synth_root, tmp_path / "single"))
    result = CliRunner().invoke(build_app(), [
        "eval", "--model", str(noisy_student_dir), "--benchmarks", "synth", "--data-root", str(synth_root),
        "--out", str(out), "--num-processes", "2", "decoding.max_new_tokens=8", "progress=false", "chart=false"])
    assert result.exit_code == 0, result.output
    assert rank_file(out / "synth", 0).is_file() and rank_file(out / "synth", 1).is_file()
    payload = json.loads((out / "results.json").read_text())
    assert payload["settings"]["processes"] == 2
    assert payload["benchmarks"]["synth"]["metrics"] == single["benchmarks"]["synth"]["metrics"]
    assert outputs(out) == outputs(tmp_path / "single")


def test_checkpoint_generation_config_cannot_change_greedy_answers(tiny_student_dir, synth_root, tmp_path):
    """Qwen2.5-VL checkpoints ship repetition_penalty=1.05 and sampling defaults; ffr eval decodes greedily with
    the recorded decoding settings whatever the checkpoint's generation_config says."""
    changed = tmp_path / "student"
    shutil.copytree(tiny_student_dir, changed)
    generation_config = json.loads((changed / "generation_config.json").read_text())
    generation_config.update(repetition_penalty=5.0, do_sample=True, temperature=0.7)
    (changed / "generation_config.json").write_text(json.dumps(generation_config))
    plain = run_eval(config(tiny_student_dir, synth_root, tmp_path / "plain", limit=2))
    run_eval(config(changed, synth_root, tmp_path / "changed", limit=2))
    assert outputs(tmp_path / "changed") == outputs(tmp_path / "plain")
    assert plain["settings"]["decoding"]["repetition_penalty"] == 1.0


def test_the_patch_multiple_comes_from_the_model_unless_switched_off():
    """The same `ffr_data.models.fit_sampling` as training: a Qwen3-VL vision config (patch 16 x merge 2) gives 32."""
    from types import SimpleNamespace

    from ffr_eval.benchmarks import get_benchmark

    qwen3 = SimpleNamespace(config=SimpleNamespace(model_type="qwen3_vl", vision_config=SimpleNamespace(
        patch_size=16, spatial_merge_size=2)))
    synth = get_benchmark("synth")
    assert plan_for(synth, [], EvalConfig(), qwen3).sampling.patch_multiple == 32
    assert plan_for(synth, [], EvalConfig(match_patch_multiple=False), qwen3).sampling.patch_multiple == 28
