"""Smoke test of `ffr repro --quick` on a tiny budget: every output file is produced and well-formed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


def test_the_preregistered_rule_decides_exactly():
    from ffr_train.repro_report import verdict

    assert verdict([0.02, 0.03]) == "too few seeds"
    assert verdict([0.02, 0.03, 0.025]) == "win"  # mean 2.5, s.e. 0.29 points
    assert verdict([0.01, 0.05, 0.001]) == "no clear difference"  # all positive, mean 2.0 < 2 x s.e. 2.2
    assert verdict([0.04, 0.05, -0.001]) == "no clear difference"  # one seed lost
    assert verdict([-0.02, -0.03, -0.025]) == "loss"


def test_regime_split_pairs_each_variant_with_grpo_seed_by_seed(tmp_path):
    from ffr_train.repro import Run
    from ffr_train.repro_report import regime_paired, regime_scores, regimes_from_groups

    groups = tmp_path / "questions.jsonl"
    groups.write_text("".join(json.dumps({"problem_id": q, "group": g}) + "\n" for q, g in
                              (("a", [0, 0]), ("b", [0, 1]), ("c", [1, 1]), ("d", [0.0, 0.0]))))
    regimes = regimes_from_groups(groups)
    assert regimes == {"a": "all_fail", "b": "rest", "c": "rest", "d": "all_fail"}
    scores = {("grpo", 0): {"a": 0, "b": 1, "c": 1, "d": 0}, ("ffr", 0): {"a": 1, "b": 1, "c": 0, "d": 0},
              ("grpo", 1): {"a": 1, "b": 0, "c": 0, "d": 1}, ("ffr", 1): {"a": 1, "b": 1, "c": 1, "d": 1}}
    runs = []
    for (variant, seed), items in scores.items():
        run = Run(variant, seed, tmp_path / variant / f"seed-{seed}")
        (run.dir / "test-eval" / "synth").mkdir(parents=True)
        (run.dir / "test-eval" / "synth" / "scored.jsonl").write_text("".join(
            json.dumps({"problem_id": q, "strict_score": s}) + "\n" for q, s in items.items()))
        runs.append(run)
    split = regime_scores(runs, {0: regimes, 1: regimes})
    assert split["ffr"]["all_fail"]["values"] == [0.5, 1.0] and split["grpo"]["all_fail"]["values"] == [0.0, 1.0]
    assert split["ffr"]["rest"]["values"] == [0.5, 1.0] and split["grpo"]["rest"]["values"] == [1.0, 0.0]
    assert split["ffr"]["all_fail"]["questions"] == [2, 2]
    paired = regime_paired(split)
    assert paired["ffr"]["all_fail"]["diffs"] == [0.5, 0.0] and paired["ffr"]["rest"]["diffs"] == [-0.5, 1.0]
    assert set(paired) == {"ffr"} and paired["ffr"]["all_fail"]["verdict"] == "too few seeds"


@pytest.mark.slow
def test_repro_on_a_config_trains_sft_and_rl_on_their_own_splits_and_splits_the_table_by_regime(tmp_path):
    """`ffr repro config=…`: SFT on sft.train_file, RL on data.train_file, curves on data.val_file, the table on
    data.test_file, and a regime split from the SFT student's sampled groups on test."""
    from ffr_data.synth import fair_config, generate_benchmark

    data = tmp_path / "synth-fair"
    generate_benchmark(data, fair_config(), {"sft": 8, "rl": 8, "val": 4, "test": 8, "warmup": 8}, seed=3, workers=1,
                       progress=False)
    config = tmp_path / "fair.yaml"
    config.write_text(Path("configs/fair.yaml").read_text().replace("data/synth-fair", str(data)))
    out = tmp_path / "repro"
    cmd = [sys.executable, "-m", "ffr_data.cli_root", "repro", f"out={out}", f"config={config}", "seeds=[0]",
           "variants=[sft,grpo,ffr-append]", "steps=2", "eval_every=1", "curve_samples=4", "jobs=2",
           "regime_group_size=2",
           "train_overrides=[sft.warmup_steps=2, sft.main_steps=2, sft.batch_size=4, rollout.prompts_per_step=2, "
           "rollout.group_size=2, rollout.max_new_tokens=8, rollout.repair_max_new_tokens=8, eval.max_new_tokens=8]"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    sft_report = json.loads((out / "students" / "seed-0" / "sft" / "sft_report.json").read_text())
    assert sft_report["stages"]["main"]["file"] == str(data / "sft.jsonl")
    run_cfg = json.loads((out / "runs" / "ffr-append" / "seed-0" / "config.json").read_text())
    assert run_cfg["data"]["train_file"] == str(data / "rl.jsonl") and run_cfg["repair"]["credit"] == "append"
    assert run_cfg["data"]["val_file"] == str(data / "val.jsonl")
    results = json.loads((out / "results.json").read_text())
    assert results["curves"]["val_accuracy"]["grpo"]
    scored = (out / "runs" / "grpo" / "seed-0" / "test-eval" / "synth" / "scored.jsonl").read_text().splitlines()
    assert len(scored) == 8
    groups = (out / "students" / "seed-0" / "test-groups" / "questions.jsonl").read_text().splitlines()
    assert len(groups) == 8 and all(len(json.loads(g)["group"]) == 2 for g in groups)
    sizes = results["regimes"]["grpo"]
    assert sum(entry["questions"][0] for entry in sizes.values()) == 8
    assert results["paired_vs_grpo"]["ffr-append"]["verdict"] == "too few seeds"
    assert "all-fail questions" in (out / "results.md").read_text()
    assert results["training_regimes"]["grpo"]["all_fail"]["first"] >= 0
