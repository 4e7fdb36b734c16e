"""Typed evaluation config: defaults <- ``--config`` YAML <- ``key=value`` overrides (``ffr_data.config``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from ffr_data.config import at_most, field, folder_path, merge, non_negative, positive
from ffr_data.errors import ConfigError
from ffr_data.prompting import PromptConfig
from ffr_data.sampling import FrameSamplingConfig


@dataclass(frozen=True)
class DecodingConfig:
    max_new_tokens: int = field(1024, help="Generation cap per answer (Video-R1 / FFR evaluate with 1024).",
                                check=positive)
    greedy: bool = field(True, help="Greedy decoding. The paper's vLLM setting, temperature 0.1 with top_p 0.001, "
                                    "is near-greedy; FFR decodes greedily and records the reference values below.")
    repetition_penalty: float = field(1.0, help="Applied. 1.0 (none), as Video-R1's vLLM SamplingParams; set "
                                                "explicitly so a checkpoint's generation_config (Qwen2.5-VL ships "
                                                "1.05) cannot change greedy answers unnoticed.", check=positive)
    reference_temperature: float = field(0.1, help="The paper's near-greedy temperature (recorded, not applied).",
                                         check=non_negative)
    reference_top_p: float = field(0.001, help="The paper's near-greedy top_p (recorded, not applied).",
                                   check=(positive, at_most(1)))


@dataclass(frozen=True)
class BenchmarkSource:
    """Where one benchmark's data lives and any per-benchmark settings (``per_benchmark.<name>.*``)."""

    root: str | None = field(None, help="Benchmark folder (default: <data_root>/<name or known folder name>, "
                                        "else <data_root> itself).")
    annotation: str | None = field(None, help="One annotation file to load instead of searching the root "
                                              "(native or Video-R1 / FFR schema, detected from its rows).")
    video_root: str | None = field(None, help="Folder that video paths are relative to (default: the native "
                                              "layout's, or the annotation file's folder).")
    format: str = field("auto", help="auto, native or video-r1 (Video-R1-eval JSON / FFR JSONL schema).")
    split: str | None = field(None, help="synth: which split file, <root>/<split>.jsonl (default: split).")
    template: str | None = field(None, help="Prompt template for this benchmark (default: the benchmark's, "
                                            "else prompt.template).")
    sampling: dict = field(default_factory=dict, help="FrameSamplingConfig fields for this benchmark only.")
    title: str | None = field(None, help="user benchmarks: the name shown in reports.")
    letter_rule: str = field("shared-mcq", help="user benchmarks: lenient option-letter rule.")


@dataclass(frozen=True)
class EvalConfig:
    model: str | None = field(None, help="Model directory (a save_pretrained VLM).")
    benchmarks: list[str] = field(default_factory=list, help="Benchmark names, e.g. synth,mvbench,vsibench.")
    data_root: str | None = field(None, help="Folder holding one folder per benchmark (or one benchmark's files).")
    out: str | None = field(None, help="Run directory: per-sample JSONL, results.json, report.md, chart.",
                            check=folder_path)
    batch_size: int = field(8, help="Prompts per generation batch (per process).", check=positive)
    split: str = field("test", help="synth: which split file to evaluate, <data_root>/<split>.jsonl.")
    limit: int | None = field(None, help="Evaluate at most N samples per benchmark (the first N; for smoke runs).",
                              check=positive)
    resume: bool = field(True, help="Continue a run in --out: finished samples are kept, errors are retried.")
    dtype: str = field("auto", help="Model dtype: auto (bfloat16 on GPU, float32 on CPU), float32, bfloat16, "
                                    "float16.")
    num_processes: int = field(1, help="Data-parallel processes to launch (each takes a shard); 1 runs in this "
                                       "process. Under `accelerate launch`/`torchrun` leave it at 1.", check=positive)
    match_patch_multiple: bool = field(True, help="Set sampling.patch_multiple from the model (28 Qwen2/2.5-VL, "
                                                  "32 Qwen3-VL); the value used is recorded.")
    benchmark_defaults: bool = field(True, help="Apply a benchmark's own prompt/frame defaults (only synth has "
                                                "some: the tiny student's 8 frames of 56x56 and the compact "
                                                "template) to keys not given in --config or key=value; "
                                                "per_benchmark.<name>.* always wins.")
    progress: bool = field(True, help="Rich progress bar (rank 0).")
    chart: bool = field(True, help="Write chart.png (headline score per benchmark).")
    sampling: FrameSamplingConfig = field(default_factory=FrameSamplingConfig,
                                          help="Frames and pixels (FFR evaluates at 16 frames, 128*28*28 px).")
    prompt: PromptConfig = field(default_factory=PromptConfig, help="Prompt template (same code as training).")
    decoding: DecodingConfig = field(default_factory=DecodingConfig, help="Generation settings.")
    per_benchmark: dict = field(default_factory=dict, help="Per-benchmark sources/settings: {name: "
                                                           "BenchmarkSource fields}.")
    user_benchmarks: dict = field(default_factory=dict, help="Your own benchmarks: {name: {annotation: FILE "
                                                             "(JSON/JSONL in the Video-R1/FFR schema), video_root: "
                                                             "DIR, title, letter_rule}}.")


def nested(mapping: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}`` (``key=value`` overrides of mapping-typed keys arrive dotted)."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        *parents, leaf = str(key).split(".")
        node = out
        for parent in parents:
            node = node.setdefault(parent, {})
            if not isinstance(node, dict):
                raise ConfigError(f"config key '{key}': '{parent}' is set both as a value and as a section")
        node[leaf] = nested(value) if isinstance(value, dict) else value
    return out


def source_for(cfg: EvalConfig, name: str) -> BenchmarkSource:
    """The validated per-benchmark settings (user benchmarks and per_benchmark overrides)."""
    raw: dict[str, Any] = {}
    for section in ("user_benchmarks", "per_benchmark"):
        entry = nested(getattr(cfg, section)).get(name) or {}
        if not isinstance(entry, dict):
            raise ConfigError(f"config key '{section}.{name}' must be a mapping of BenchmarkSource fields")
        raw.update(entry)
    source = merge(BenchmarkSource(), raw, prefix=f"per_benchmark.{name}.")
    if source.format not in ("auto", "native", "video-r1"):
        raise ConfigError(f"config key 'per_benchmark.{name}.format': {source.format!r} is not auto, native or "
                          "video-r1")
    return source


def flat_keys(tree: dict[str, Any], prefix: str = "") -> set[str]:
    """Dotted keys of a nested mapping (YAML sections or ``a.b=1`` overrides): the keys a user set explicitly."""
    keys: set[str] = set()
    for key, value in tree.items():
        name = f"{prefix}{key}"
        keys.add(name)
        if isinstance(value, dict):
            keys |= flat_keys(value, f"{name}.")
    return keys


def benchmark_settings(cfg: EvalConfig, name: str, template: str | None, sampling_defaults: dict[str, Any],
                       explicit: Collection[str] = ()) -> tuple[FrameSamplingConfig, PromptConfig]:
    """Frames and prompt for one benchmark: config <- the benchmark's defaults (for keys the user did not set, when
    ``benchmark_defaults``) <- ``per_benchmark.<name>`` overrides."""
    source = source_for(cfg, name)
    sampling, prompt = cfg.sampling, cfg.prompt
    if cfg.benchmark_defaults:
        defaults = {k: v for k, v in sampling_defaults.items() if f"sampling.{k}" not in explicit}
        sampling = merge(sampling, defaults, prefix="sampling.")
        if template and "prompt.template" not in explicit:
            prompt = dataclasses.replace(prompt, template=template)
    sampling = merge(sampling, source.sampling, prefix=f"per_benchmark.{name}.sampling.")
    if source.template:
        prompt = dataclasses.replace(prompt, template=source.template)
    return sampling, prompt
