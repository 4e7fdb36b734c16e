"""The paper's claims at laptop scale: SFT only, vanilla GRPO, FFR and its ablations with equal budgets (same
steps, G, prompts per step and seeds), several seeds each, every final model evaluated on the held-out test split
with `ffr eval`, then one results table (mean ± std over seeds, per question family and overall) and plots.

Two settings: the default benchmark (``data``, the first experiment's: SFT and RL share the training questions,
learning curves on the test split), or a training config (``config=configs/fair.yaml``) whose data files define the
setting: SFT on ``sft.train_file``, RL on ``data.train_file``, learning curves on ``data.val_file``, the final table
on ``data.test_file``. Each seed's SFT student is also sampled G times per test question (``ffr probe``), which splits
every variant's test score by regime: questions where that student's group all failed, and the rest.

Runs are subprocesses (`ffr train`, `ffr eval`), ``jobs`` at a time with one torch thread each; a finished run is
skipped and an interrupted one resumed, so the whole experiment is resumable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from ffr_data.config import field, resolve
from ffr_data.errors import FFRError
from ffr_train.checkpoint import latest_checkpoint
from ffr_train.config import TrainConfig

# The variants of the first experiment (the paper's method and its ablations); the default set.
PAPER_VARIANTS = ("sft", "grpo", "ffr", "ffr-text-only", "ffr-no-gt", "ffr-released-credit", "ffr-kappa-0.1",
                  "ffr-kappa-0.5", "ffr-align-0.2", "ffr-align-0.5")
# Each variant is a set of `ffr train` overrides on top of the shared base; None means "evaluate the SFT model".
VARIANTS: dict[str, dict[str, Any] | None] = {
    "sft": None,
    "grpo": {"algo": "grpo"},
    "ffr": {},
    "ffr-text-only": {"prompt.patch_visuals": False},
    "ffr-no-gt": {"teacher.use_ground_truth": False},
    "ffr-released-credit": {"repair.credit": "released"},
    "ffr-kappa-0.1": {"reward.kappa": 0.1},
    "ffr-kappa-0.5": {"reward.kappa": 0.5},
    "ffr-align-0.2": {"reward.align_weight": 0.2},
    "ffr-align-0.5": {"reward.align_weight": 0.5},
    # Repair signals beyond the paper, and the control that matches the annotation teacher's knowledge of the answer.
    "ffr-append": {"repair.credit": "append"},
    "ffr-distill": {"repair.credit": "none", "repair.distill_weight": 1.0},
    "grpo-gold": {"algo": "grpo", "repair.gold_weight": 1.0},
}
# The pre-registered comparison of the repair signals (docs/results/preregistration.md).
SIGNAL_VARIANTS = ("sft", "grpo", "ffr", "ffr-append", "ffr-distill", "ffr-text-only", "grpo-gold")


@dataclass(frozen=True)
class ReproConfig:
    out: str = field("runs/repro", help="Experiment directory.")
    data: str = field("data/synth", help="Synthetic benchmark folder (generated when missing); ignored with config.")
    config: str | None = field(None, help="A training YAML every run starts from (e.g. configs/fair.yaml): its data "
                                          "files define the setting (SFT on sft.train_file, RL on data.train_file, "
                                          "curves on data.val_file, the table on data.test_file). None: the default "
                                          "benchmark in `data`, curves on its test split.")
    seeds: tuple[int, ...] = field((0, 1, 2), help="Seeds; every variant runs once per seed.")
    steps: int = field(60, help="RL steps per run (equal for every variant).")
    eval_every: int = field(15, help="Greedy test-split accuracy every N steps, for the learning curves.")
    curve_samples: int = field(128, help="Rows used for the learning curves (the final table uses all of test).")
    regime_group_size: int = field(8, help="Samples per test question from each seed's SFT student, to split the "
                                           "table by regime (all-fail vs the rest); 0 skips the split.")
    variants: tuple[str, ...] = field(PAPER_VARIANTS, help=f"Variants to run (known: {', '.join(VARIANTS)}).")
    jobs: int = field(2, help="Runs in parallel (one torch thread each).")
    train_overrides: tuple[str, ...] = field((), help="Extra `ffr train` key=value overrides for every run "
                                                      "(SFT and RL), e.g. sft.main_steps=500.")
    synth_counts: dict[str, int] | None = field(None, help="Split sizes when the benchmark is generated here "
                                                           "(None: the ffr data synth defaults).")


QUICK = {"seeds": (0,), "steps": 20, "eval_every": 10, "curve_samples": 64}
# Fixed before any of its runs (docs/results/preregistration.md): the fair setting, the signal variants, 16 prompts
# x G 8 x 100 steps (3.3x the first experiment's rollouts; the most 2 cores allow for 3 seeds in about an hour).
PREREGISTERED = {"out": "runs/repro-fair", "config": "configs/fair.yaml", "variants": SIGNAL_VARIANTS, "steps": 100,
                 "eval_every": 25, "train_overrides": ("rollout.prompts_per_step=16",)}


def _env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false")
    for key, value in (("HF_HUB_OFFLINE", "1"), ("DS_ACCELERATOR", "cpu")):  # a laptop-scale CPU experiment
        env.setdefault(key, value)
    return env


def _ffr(args: list[str], log_path: Path, threads: int = 1) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        proc = subprocess.run([sys.executable, "-m", "ffr_data.cli_root", *args], stdout=log, stderr=subprocess.STDOUT,
                              env=_env(threads))
    if proc.returncode != 0:
        tail = log_path.read_text().strip().splitlines()[-3:]
        raise FFRError(f"`ffr {' '.join(args[:2])} …` failed (see {log_path}): {' | '.join(tail)}")


@dataclass
class Run:
    variant: str
    seed: int
    dir: Path

    @property
    def model(self) -> Path:
        return self.dir / "final"

    @property
    def done(self) -> bool:
        return (self.dir / "summary.json").is_file()


class Experiment:
    def __init__(self, cfg: ReproConfig, console=None):
        unknown = [v for v in cfg.variants if v not in VARIANTS]
        if unknown:
            raise FFRError(f"unknown variant(s) {unknown} (known: {', '.join(VARIANTS)})")
        if "eval" not in {ep.name for ep in entry_points(group="ffr.commands")}:
            raise FFRError("ffr repro evaluates every run with `ffr eval`, which is not installed "
                           "(pip install ffr-eval)")
        self.cfg = cfg
        self.out = Path(cfg.out)
        # The settings every run trains with, resolved once: the eval and the regime probe read the same ones.
        self.train_cfg = resolve(TrainConfig(), cfg.config, list(cfg.train_overrides))
        self.test_file = Path(self.train_cfg.data.test_file) if cfg.config else Path(cfg.data) / "test.jsonl"
        if cfg.config and not self.train_cfg.data.test_file:
            raise FFRError(f"{cfg.config}: data.test_file is not set; the experiment's table needs a test split")
        self.data = self.test_file.parent
        self.console = console
        self.timings: dict[str, float] = {}

    def say(self, text: str) -> None:
        if self.console is not None:
            self.console.print(text)

    def student_dirs(self, seed: int) -> tuple[Path, Path]:
        root = self.out / "students" / f"seed-{seed}"
        return root / "tiny", root / "sft"

    def _setting(self) -> list[str]:
        if self.cfg.config:
            return ["--config", self.cfg.config]
        return [f"data.train_file={self.data / 'train.jsonl'}", f"data.warmup_file={self.data / 'warmup.jsonl'}",
                f"data.val_file={self.data / 'test.jsonl'}"]

    def _base(self, seed: int) -> list[str]:
        tiny, sft = self.student_dirs(seed)
        return [*self._setting(), f"seed={seed}", f"data.max_eval_samples={self.cfg.curve_samples}",
                "logging.progress=false", f"student.path={tiny}", f"sft.output_dir={sft}", *self.cfg.train_overrides]

    def prepare(self) -> None:
        from ffr_data.synth import ensure_benchmark
        from ffr_train.pipeline import ensure_data

        started = time.perf_counter()
        if self.cfg.config:
            ensure_data(self.train_cfg)
        else:
            ensure_benchmark(self.data, counts=self.cfg.synth_counts, seed=0, progress=False)
        self.timings["data"] = time.perf_counter() - started
        started = time.perf_counter()
        pending = [s for s in self.cfg.seeds if not (self.student_dirs(s)[1] / "config.json").is_file()]
        self.say(f"SFT-warming the tiny student for seeds {pending or 'none (cached)'}")
        # Cores are shared by the runs in flight: one job alone gets every core, OpenMP threads never oversubscribe.
        threads = max(1, (os.cpu_count() or 1) // max(1, min(self.cfg.jobs, len(pending))))
        with ThreadPoolExecutor(self.cfg.jobs) as pool:
            list(pool.map(lambda s: _ffr(["train", "--stage", "sft", *self._base(s)],
                                         self.out / "logs" / f"sft-seed-{s}.log", threads), pending))
        self.timings["sft"] = time.perf_counter() - started

    def runs(self) -> list[Run]:
        return [Run(v, s, self.out / "runs" / v / f"seed-{s}") for v in self.cfg.variants for s in self.cfg.seeds]

    def _train(self, run: Run) -> None:
        if run.variant == "sft" or run.done:
            return
        overrides = [f"{k}={v}" for k, v in (VARIANTS[run.variant] or {}).items()]
        args = ["train", *self._base(run.seed), "student.sft_before_rl=false",
                f"student.path={self.student_dirs(run.seed)[1]}", f"output_dir={run.dir}",
                f"optim.steps={self.cfg.steps}", f"eval.every={self.cfg.eval_every}", *overrides]
        if latest_checkpoint(run.dir) is not None:
            args.append("--resume")
        elif (run.dir / "config.json").exists():  # an attempt that died before its first checkpoint: start again
            args.append("--overwrite")
        self.say(f"training {run.variant} seed {run.seed}")
        _ffr(args, self.out / "logs" / f"{run.variant}-seed-{run.seed}.log")

    def _evaluate(self, run: Run) -> None:
        model = self.student_dirs(run.seed)[1] if run.variant == "sft" else run.model
        out = run.dir / "test-eval"
        if (out / "results.json").is_file():
            return
        view = self.train_cfg
        _ffr(["eval", "--model", str(model), "--benchmarks", "synth", "--data-root", str(self.data),
              "--out", str(out), f"split={self.test_file.stem}", f"prompt.template={view.prompt.template}",
              f"sampling.num_frames={view.sampling.num_frames}", f"sampling.max_pixels={view.sampling.max_pixels}",
              f"sampling.min_pixels={view.sampling.min_pixels}"],
             self.out / "logs" / f"eval-{run.variant}-seed-{run.seed}.log")

    def regime_dir(self, seed: int) -> Path:
        return self.out / "students" / f"seed-{seed}" / "test-groups"

    def _probe_regimes(self, seed: int) -> None:
        """G samples per test question from this seed's SFT student: the questions whose group all failed are the
        regime repair is for; the report splits every variant's test score along it."""
        out = self.regime_dir(seed)
        if (out / "questions.jsonl").is_file():
            return
        config = ["--config", self.cfg.config] if self.cfg.config else []
        _ffr(["probe", *config, "--model", str(self.student_dirs(seed)[1]), "--data", str(self.test_file),
              "--out", str(out), "--checks", "groups", "--group-size", str(self.cfg.regime_group_size),
              f"seed={seed}", *self.cfg.train_overrides],
             self.out / "logs" / f"probe-seed-{seed}.log")

    def run_all(self) -> list[Run]:
        runs = self.runs()
        started = time.perf_counter()
        with ThreadPoolExecutor(self.cfg.jobs) as pool:
            list(pool.map(self._train, runs))
        self.timings["train"] = time.perf_counter() - started
        started = time.perf_counter()
        with ThreadPoolExecutor(self.cfg.jobs) as pool:
            list(pool.map(self._evaluate, runs))
            if self.cfg.regime_group_size:
                list(pool.map(self._probe_regimes, self.cfg.seeds))
        self.timings["eval"] = time.perf_counter() - started
        return runs

    def write_timings(self, total: float) -> None:
        """Append this invocation's seconds per phase: a resumed call (most work cached) must not erase the
        measurement of the call that did the work."""
        path = self.out / "timings.json"
        history = json.loads(path.read_text()) if path.is_file() else []
        if not isinstance(history, list):
            raise FFRError(f"{path}: expected a list of invocations, found {type(history).__name__}")
        self.timings["total"] = total
        entry = {"started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - total))}
        history.append(entry | {k: round(v, 1) for k, v in self.timings.items()})
        path.write_text(json.dumps(history, indent=2))
