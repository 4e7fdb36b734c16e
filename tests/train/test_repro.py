"""Smoke test of `ffr repro --quick` on a tiny budget: every output file is produced and well-formed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_repro_quick_tiny_budget(tmp_path):
    out = tmp_path / "repro"
    cmd = [sys.executable, "-m", "ffr_data.cli_root", "repro", "--quick", f"out={out}", f"data={tmp_path / 'synth'}",
           "variants=[sft,grpo,ffr]", "steps=2", "eval_every=1", "curve_samples=4", "jobs=2",
           "synth_counts={train: 8, val: 4, test: 8, warmup: 8}",
           "train_overrides=[sft.warmup_steps=4, sft.main_steps=4, sft.batch_size=4, rollout.prompts_per_step=2, "
           "rollout.group_size=2, rollout.max_new_tokens=8, rollout.repair_max_new_tokens=8, eval.max_new_tokens=8]"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert set(results["variants"]) == {"sft", "grpo", "ffr"}
    for variant in results["variants"].values():
        assert 0.0 <= variant["overall"]["mean"] <= 1.0 and variant["overall"]["n"] == 1
        assert {"attribute", "count", "location", "order"} <= set(variant)
    table = (out / "results.md").read_text()
    assert "| ffr |" in table and "± " in table
    for name in ("accuracy_vs_steps.png", "intervention_ratio.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "timings.json").read_text())[-1]["total"] > 0
    for variant in ("grpo", "ffr"):
        run = out / "runs" / variant / "seed-0"
        assert json.loads((run / "config.json").read_text())["algo"] == variant
        assert (run / "test-eval" / "results.json").is_file()
    curves = results["curves"]["test_accuracy"]
    assert curves["ffr"] and curves["grpo"]
    assert results["curves"]["intervention_ratio"]["ffr"]
    paired = results["paired_vs_grpo"]
    assert set(paired) == {"sft", "ffr"} and paired["ffr"]["seeds"] == [0]
    ffr_minus_grpo = results["variants"]["ffr"]["overall"]["mean"] - results["variants"]["grpo"]["overall"]["mean"]
    assert paired["ffr"]["mean"] == pytest.approx(ffr_minus_grpo)
    phases = results["phase_seconds"]
    assert set(phases) == {"grpo", "ffr"}  # the SFT-only variant has no RL steps
    assert phases["ffr"]["teacher"] >= 0 and phases["ffr"]["step"] > 0 and "teacher" not in phases["grpo"]
    assert "Seconds per RL step by phase" in table
    # A second call finds every student, run and evaluation cached and appends its own timings.
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    timings = json.loads((out / "timings.json").read_text())
    assert len(timings) == 2 and timings[1]["train"] < timings[0]["train"]
    assert json.loads((out / "results.json").read_text())["variants"] == results["variants"]


def test_repro_without_ffr_eval_installed_is_a_one_line_error(monkeypatch):
    """ffr-train does not depend on ffr-eval; `ffr repro` reaches it through the `ffr eval` command, so a missing one
    is named before any work starts."""
    from importlib.metadata import EntryPoint

    from ffr_data.errors import FFRError
    from ffr_train import repro

    train_only = [EntryPoint("train", "ffr_train.cli:train_command", "ffr.commands")]
    monkeypatch.setattr(repro, "entry_points", lambda group: train_only)
    with pytest.raises(FFRError, match=r"`ffr eval`, which is not installed \(pip install ffr-eval\)"):
        repro.Experiment(repro.ReproConfig())
    monkeypatch.undo()
    assert repro.Experiment(repro.ReproConfig()).cfg.steps == 60
