"""The prepared GPU measurement (benchmarks/gpu_step.py) in its reduced-depth CPU mode, so it cannot rot in the
sessions and CI runs that have no GPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_step.py"


@pytest.mark.slow
def test_gpu_step_script_runs_one_ffr_and_one_grpo_step_on_cpu(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--cpu-reduced", "--out", str(tmp_path)], capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_step.json").read_text())
    grpo, ffr = report["results"]
    assert (grpo["algo"], ffr["algo"]) == ("grpo", "ffr")
    assert {"generate", "update"} <= set(grpo["phases_s"]) and {"teacher", "repair_generate"} <= set(ffr["phases_s"])
    assert grpo["generated_tokens"] > 0 and grpo["generation_tokens_per_s"] > 0
    assert ffr["teacher_calls"] > 0 and report["ffr_over_grpo_step"] > 0
    assert "FFR / GRPO step time" in proc.stdout
