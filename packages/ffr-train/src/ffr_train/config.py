"""The trainer's typed config: one dataclass per component, merged defaults <- YAML <- key=value overrides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ffr_data.config import at_most, each, field, folder_path, less_than, non_negative, positive, probability
from ffr_data.prompting import PromptConfig
from ffr_data.sampling import FrameSamplingConfig
from ffr_teacher import TeacherConfig


@dataclass(frozen=True)
class DataConfig:
    train_file: str = field("data/synth/train.jsonl", help="Training rows (Video-R1 JSON/JSONL).")
    val_file: str | None = field("data/synth/val.jsonl", help="Validation rows, evaluated during/after training.")
    test_file: str | None = field("data/synth/test.jsonl", help="Held-out test rows (evaluated by `ffr eval`).")
    warmup_file: str | None = field("data/synth/warmup.jsonl", help="Easy rows for the first SFT stage (curriculum).")
    video_root: str | None = field(None, help="Root for relative video paths; default: each data file's folder.")
    synthesize_if_missing: bool = field(True, help="Generate the synthetic benchmark when train_file is missing "
                                                   "and lives under a synth folder (the default run).")
    synth_preset: Literal["default", "fair"] = field("default", help="Which synthetic benchmark preset to generate then (default or fair; "
                                              "see ffr data synth --preset).")
    max_train_samples: int | None = field(None, help="Use only the first N training rows.", check=positive)
    max_eval_samples: int | None = field(256, help="Evaluate on at most N validation rows.", check=positive)


@dataclass(frozen=True)
class StudentConfig:
    path: str = field("runs/tiny-student", help="Student model directory (any local HF VLM). Built (tiny, "
                                                "random) when missing and build_if_missing is true.")
    build_if_missing: bool = field(True, help="Build the tiny student at `path` when it does not exist.")
    sft_before_rl: bool = field(True, help="When the student is the tiny one built by FFR, SFT-warm it first "
                                           "(saved at sft.output_dir and reused by later runs).")
    arch: Literal["qwen2_vl", "qwen2_5_vl", "qwen3_vl"] = field("qwen2_5_vl", help="Tiny-student architecture.")
    size: Literal["xs", "s", "m"] = field("xs", help="Tiny-student size (xs: 0.24M parameters).")
    vocab_size: int = field(1024, help="Tiny-student BPE vocabulary size.", check=positive)
    gradient_checkpointing: bool = field(False, help="Trade compute for memory in the training forward (generation "
                                                     "always runs without it, in eval mode with the KV cache).")
    dtype: Literal["auto", "float32", "bfloat16"] = field("auto", help="auto: bf16 on GPU, fp32 on CPU.")
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = field(
        "sdpa", help="Attention kernel; flash_attention_2 needs the flash-attn package and a GPU.")
    lora_rank: int = field(0, help="LoRA rank through peft (0: full fine-tuning). final/ then holds the merged "
                                   "weights, and final/adapter/ the adapter alone.", check=non_negative)
    lora_alpha: int = field(16, help="LoRA scaling numerator (the update is scaled by lora_alpha / lora_rank).",
                            check=positive)
    lora_dropout: float = field(0.0, help="Dropout on the LoRA input.", check=(non_negative, less_than(1)))
    lora_targets: tuple[str, ...] = field(
        ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        help="Names (last component) of the linear layers that get adapters; the vision tower's are left out when "
             "freeze_vision is true.")
    freeze_vision: bool = field(False, help="Keep the vision tower (and its merger into the language model) frozen.")


@dataclass(frozen=True)
class RolloutConfig:
    prompts_per_step: int = field(8, help="Prompts (groups) per optimizer step, per process.", check=positive)
    group_size: int = field(8, help="G: rollouts sampled per prompt.", check=positive)
    temperature: float = field(1.0, help="Sampling temperature of first-pass and repaired rollouts.", check=positive)
    top_p: float = field(0.95, help="Nucleus sampling threshold.", check=(positive, at_most(1)))
    max_new_tokens: int = field(48, help="Cap on first-pass completion length (paper: 1024).", check=positive)
    repair_max_new_tokens: int = field(48, help="Cap on repaired completion length (released code: 512).",
                                       check=positive)
    micro_batch_size: int = field(16, help="At most this many sequences per forward/backward micro-batch.",
                                  check=positive)
    micro_batch_tokens: int = field(
        16384, help="Token budget of one training micro-batch: rows x longest sequence (prompt, media tokens "
                    "included, + completion) stays within it, so long patched prompts share micro-batches instead of "
                    "padding short ones; a longer sequence gets one of its own. 0: rows only.", check=non_negative)


@dataclass(frozen=True)
class RepairConfig:
    trigger: Literal["failed", "all_failed_groups"] = field(
        "failed", help="failed: every rollout with accuracy below `threshold` goes to the teacher (the paper); "
                       "all_failed_groups: only groups where every rollout failed (cheaper).")
    threshold: float = field(1.0, help="A rollout counts as failed when its accuracy is below this.", check=probability)
    credit: Literal["repaired", "released", "append", "none"] = field(
        "repaired", help="repaired: a repaired slot trains the repaired tokens under the patched prompt (the paper); "
                         "released: it trains the failed first-pass tokens with the repaired reward (released code); "
                         "append: the failed first pass stays in its group with its own reward and the repaired "
                         "rollout joins the group as an extra member, taxed by kappa; none: the group stays the plain "
                         "GRPO group and no repaired rollout is sampled (the patch only feeds distill_weight).")
    distill_weight: float = field(
        0.0, help="Weight of on-policy self-distillation: on each failed first-pass rollout that got a patch, the "
                  "reverse KL from the unpatched next-token distribution to the same model's distribution with the "
                  "patch (detached), averaged over those tokens. 0: off (the paper).", check=non_negative)
    gold_weight: float = field(
        0.0, help="Weight of a supervised term on the gold rationale and answer of every failed first-pass rollout's "
                  "prompt (negative log-likelihood, once per failed rollout). With algo=grpo this is the "
                  "supervision-matched control for FFR's annotation teacher, which also knows the answer. 0: off.",
        check=non_negative)
    overlap: bool = field(True, help="Work that does not depend on the teacher runs while it answers: the frozen "
                                     "log-probs of the rollouts that are trained whatever it says, and decoding the "
                                     "next step's videos. Same results as without it (tested); less idle time.")
    max_repairs_per_group: int | None = field(None, help="Repair at most this many failed slots per group (None: all).",
                                              check=non_negative)


@dataclass(frozen=True)
class RewardConfig:
    names: tuple[str, ...] = field(("accuracy", "format"), help="Reward parts summed into the outcome R + R_fmt.")
    kappa: float = field(0.3, help="Patch tax charged to a repaired slot.", check=non_negative)
    align_weight: float = field(0.0, help="lambda: weight of the dependency-alignment term (0: the paper's plain RIR). "
                                          "Keep it below kappa, or a repaired success out-earns a first-pass one.",
                                check=non_negative)
    align_tolerance_s: float = field(0.25, help="Slack, in seconds, when matching cited times to a window.",
                                     check=non_negative)


@dataclass(frozen=True)
class LossConfig:
    advantage: str = field("group", help="Advantage estimator: group (std + eps per prompt), batch, none.")
    advantage_eps: float = field(1e-4, help="epsilon added to the reward std.", check=non_negative)
    clip_eps: float = field(0.2, help="PPO clip range (low side).", check=positive)
    clip_eps_high: float | None = field(None, help="Upper clip range (clip-higher); None: same as clip_eps.",
                                        check=positive)
    beta: float = field(0.04, help="k3 KL weight to the frozen reference; 0 loads no reference model.",
                        check=non_negative)
    aggregation: str = field("token-mean", help="token-mean (paper) or seq-mean (released code).")
    inner_iterations: int = field(1, help="mu: optimizer passes over each batch of rollouts.", check=positive)


@dataclass(frozen=True)
class OptimConfig:
    steps: int = field(40, help="Optimizer steps (RL) to run (the default run's budget; the paper: ~1k).",
                       check=positive)
    lr: float = field(1e-4, help="Peak learning rate (the tiny student's default; the paper uses 5e-6 for 7B).",
                      check=positive)
    weight_decay: float = field(0.01, help="AdamW weight decay.", check=non_negative)
    betas: tuple[float, float] = field((0.9, 0.999), help="AdamW betas.", check=each(non_negative, less_than(1)))
    warmup_steps: int = field(0, help="Linear warm-up steps.", check=non_negative)
    schedule: Literal["cosine", "constant", "linear"] = field("cosine", help="LR schedule after warm-up.")
    min_lr_ratio: float = field(0.1, help="Cosine/linear schedules decay to this fraction of the peak.",
                                check=probability)
    max_grad_norm: float = field(5.0, help="Gradient clipping norm (paper: 5).", check=positive)


@dataclass(frozen=True)
class DistConfig:
    deepspeed: str | None = field(None, help="None (plain accelerate), zero2, zero3, or a DeepSpeed JSON path.")


@dataclass(frozen=True)
class LogConfig:
    every: int = field(1, help="Write a metrics row every N steps.", check=positive)
    rollouts_every: int = field(10, help="Save sampled rollouts (with their patches) every N steps.",
                                check=non_negative)
    rollouts_per_save: int = field(8, help="How many slots to save each time.", check=non_negative)
    trackers: tuple[str, ...] = field(
        (), help="Experiment trackers through accelerate, besides metrics.jsonl (always written): tensorboard, wandb, "
                 "mlflow, trackio, comet_ml, aim, clearml, dvclive, swanlab. Each must be installed; wandb's offline "
                 "mode is WANDB_MODE=offline.")
    project: str = field("ffr", help="Project name given to the trackers (the run is named after output_dir).")
    progress: bool = field(True, help="Show a rich progress bar.")


@dataclass(frozen=True)
class CheckpointConfig:
    every: int = field(50, help="Save a resumable checkpoint every N steps (and at the end, and on Ctrl-C).",
                       check=positive)
    keep_last: int = field(2, help="Keep this many step checkpoints.", check=positive)


@dataclass(frozen=True)
class SFTConfig:
    warmup_steps: int = field(2000, help="Stage 1 steps on the easy warm-up split (the curriculum of "
                                         "docs/tiny-student.md; 0 skips the stage).", check=non_negative)
    main_steps: int = field(2000, help="Stage 2 steps on the training split.", check=non_negative)
    output_dir: str = field("runs/tiny-student-sft", help="Where the SFT-warmed student is saved.", check=folder_path)
    batch_size: int = field(16, help="Examples per SFT step.", check=positive)
    lr: float = field(1e-3, help="SFT learning rate (the tiny student needs 1e-3; real models ~1e-5).", check=positive)
    lr_warmup_steps: int = field(30, help="Linear LR warm-up steps at the start of each stage.", check=non_negative)
    max_grad_norm: float = field(1.0, help="SFT gradient clipping (1.0: docs/tiny-student.md).", check=positive)
    patch_fraction: float = field(0.3, help="Share of stage-2 examples shown with an evidence patch, so the student "
                                            "learns to read patches.", check=probability)
    text_only_patch_share: float = field(0.0, help="Share of those patched examples rendered as text only (the "
                                                   "prompt.patch_visuals=false rendering RL's text-only ablation "
                                                   "uses), every 1/share-th patched example; the rest carry the "
                                                   "full rendering (text + dense frames + zoomed crops).",
                                         check=probability)
    train_file: str | None = field(None, help="Stage-2 rows (None: data.train_file). Set it to train SFT and RL on "
                                              "disjoint questions (the fair preset's sft split; RL reads "
                                              "data.train_file).")
    rehearsal_share: float = field(0.25, help="Share of each stage-2 batch drawn from the warm-up examples, so the "
                                              "grounding learned on easy questions is not forgotten on the hard ones.",
                                   check=probability)
    threads: int = field(0, help="torch threads (0: leave the default).", check=non_negative)


@dataclass(frozen=True)
class ValidationConfig:
    """Greedy validation during and after training (``ffr_train.validation``, on the trainer's own generation
    engine). Benchmark evaluation of a saved model is ``ffr eval`` (ffr-eval's ``EvalConfig``)."""

    every: int = field(0, help="Evaluate on the validation split every N RL steps (0: only at the end).",
                       check=non_negative)
    batch_size: int = field(64, help="Prompts per greedy evaluation batch.", check=positive)
    max_new_tokens: int = field(48, help="Generation cap at evaluation.", check=positive)


@dataclass(frozen=True)
class TrainConfig:
    algo: Literal["ffr", "grpo"] = field("ffr", help="ffr: teacher repair of failed rollouts; grpo: plain GRPO. "
                                                    "Everything else is shared, so the two are comparable.")
    stage: Literal["rl", "sft"] = field("rl", help="rl: GRPO/FFR; sft: supervised warm-up on process + solution.")
    output_dir: str = field("runs/ffr", help="Run directory: config, metrics, checkpoints, final model.",
                            check=folder_path)
    seed: int = field(0, help="Seed for data order, sampling and initialisation.", check=non_negative)
    data: DataConfig = field(default_factory=DataConfig, help="Data files.")
    student: StudentConfig = field(default_factory=StudentConfig, help="The student model.")
    sampling: FrameSamplingConfig = field(default_factory=lambda: FrameSamplingConfig(
        num_frames=8, max_pixels=56 * 56, min_pixels=28 * 28), help="Student frame sampling.")
    prompt: PromptConfig = field(default_factory=lambda: PromptConfig(template="compact"), help="Prompt rendering.")
    rollout: RolloutConfig = field(default_factory=RolloutConfig, help="Rollout sampling.")
    repair: RepairConfig = field(default_factory=RepairConfig, help="Teacher repair (FFR only).")
    reward: RewardConfig = field(default_factory=RewardConfig, help="Rewards and RIR.")
    loss: LossConfig = field(default_factory=LossConfig, help="Advantages and policy loss.")
    optim: OptimConfig = field(default_factory=OptimConfig, help="Optimizer and schedule.")
    dist: DistConfig = field(default_factory=DistConfig, help="Distribution (accelerate / DeepSpeed).")
    teacher: TeacherConfig = field(default_factory=lambda: TeacherConfig(backend="annotation"), help="The teacher.")
    sft: SFTConfig = field(default_factory=SFTConfig, help="Supervised warm-up.")
    eval: ValidationConfig = field(default_factory=ValidationConfig, help="Validation during/after training.")
    logging: LogConfig = field(default_factory=LogConfig, help="Metrics and rollout logs.")
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig, help="Checkpointing.")
