"""The teacher's typed config (one dataclass, every field documented) and its environment look-ups."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

from ffr_data.config import field, folder_path, in_range, non_negative, one_of, positive, probability, to_dict, validate
from ffr_data.errors import ConfigError
from ffr_data.patch import TAXONOMIES
from ffr_data.sampling import FrameSamplingConfig

API_KEY_ENV = ("FFR_TEACHER_API_KEY", "OPENAI_API_KEY")
BASE_URL_ENV = "FFR_TEACHER_BASE_URL"
MODEL_ENV = "FFR_TEACHER_MODEL"

# Settings that change how a repair is obtained but not what it is: left out of cache keys.
NON_SEMANTIC_FIELDS = ("api_key", "cache_dir", "cache_failures", "concurrency", "timeout_s", "timeout_base_s",
                       "timeout_tokens_per_s", "max_retries", "backoff_s", "backoff_max_s", "deadline_s", "device",
                       "startup_probe", "health")
JPEG_QUALITY = 90  # per repair 6.8x fewer bytes than PNG on natural frames, 2.5x on synthetic ones (benchmarks/teacher.py)


@dataclass(frozen=True)
class LeakGuardConfig:
    enabled: bool = field(True, help="Check every patch for the answer before use (a leaky patch is never used).")
    retry: bool = field(True, help="On a leak, ask the teacher once more with a stricter reminder; then no patch.")
    token_overlap: float = field(0.8, help="A text field that contains at least this share of the answer's content "
                                           "words (stemmed) is a paraphrase of the answer (answers of 2+ words).",
                                 check=probability)
    fuzzy_ratio: float = field(0.88, help="A run of words whose character similarity to the answer text reaches "
                                          "this ratio (difflib) names the answer (spelling variants).",
                               check=probability)
    fuzzy_min_chars: int = field(5, help="Answers shorter than this are matched exactly only (no fuzzy match), "
                                         "so short words such as 'red'/'bed' are not confused.", check=non_negative)
    count_structure: bool = field(True, help="For a numeric answer n >= 2, reject a patch citing exactly n windows "
                                             "or n regions (a blind reader could count them).")
    reveal_phrases: bool = field(True, help="Reject phrases that announce an answer ('the answer is', 'correct "
                                            "option', 'you should choose').")


@dataclass(frozen=True)
class TeacherHealthConfig:
    enabled: bool = field(True, help="Stop training (TeacherUnavailableError) when the teacher's success rate over "
                                     "the last `window` repairs falls below `min_success_rate`; the error lists the "
                                     "failure reasons by count. False: train on regardless.")
    window: int = field(64, help="How many of the most recent repairs the success rate is measured over.",
                        check=positive)
    min_success_rate: float = field(0.1, help="Share of repairs that must return a patch (0..1). A working teacher "
                                              "is far above it; a misconfigured one (wrong model name, a template "
                                              "without tools, timeouts) sits at 0.", check=probability)
    min_calls: int = field(16, help="No verdict before this many repairs are in the window (at most `window`).",
                           check=positive)

    def __post_init__(self) -> None:
        validate(self, prefix="teacher.health.")
        if self.min_calls > self.window:
            raise ConfigError(f"config key 'teacher.health.min_calls' must be <= teacher.health.window "
                              f"({self.window}), got {self.min_calls}")


@dataclass(frozen=True)
class TeacherConfig:
    backend: str = field("annotation", help="Teacher backend by name: annotation (ground-truth evidence, offline, "
                                            "no model), openai (any OpenAI-compatible endpoint), hf (a local "
                                            "transformers VLM).")
    base_url: str | None = field(None, help="openai: the endpoint, e.g. http://127.0.0.1:8000/v1 (env "
                                            f"{BASE_URL_ENV} when unset).")
    model: str | None = field(None, help=f"openai: the served model name (env {MODEL_ENV} when unset); hf: the "
                                         "model directory.")
    api_key: str | None = field(None, secret=True, help="openai: API key (env FFR_TEACHER_API_KEY, then "
                                                        "OPENAI_API_KEY, when unset). Never logged or saved.")
    timeout_s: float | None = field(None, help="Timeout of one HTTP request to the teacher, in seconds. None: sized "
                                               "from max_tokens as timeout_base_s + max_tokens / "
                                               "timeout_tokens_per_s (230 s for 2000 tokens).", check=positive)
    timeout_base_s: float = field(30.0, help="Sized timeout: seconds allowed before the first token (connecting, "
                                             "queueing behind other requests, prefilling the images).",
                                  check=positive)
    timeout_tokens_per_s: float = field(10.0, help="Sized timeout: the slowest generation speed (tokens/s, per "
                                                   "request) still taken for a working server.", check=positive)
    max_retries: int = field(3, help="Retries of one request after a timeout, connection error, HTTP 429 or 5xx.",
                             check=non_negative)
    backoff_s: float = field(1.0, help="First retry delay; doubles at every retry.", check=non_negative)
    backoff_max_s: float = field(20.0, help="Upper bound on one retry delay.", check=non_negative)
    deadline_s: float = field(600.0, help="Wall-clock budget of one whole repair (all turns); 0 disables it.",
                              check=non_negative)
    concurrency: int = field(8, help="Repairs in flight at once in repair_many.", check=positive)
    tools_enabled: bool = field(True, help="Let the teacher call get_frame / get_segment / zoom_region on the video "
                                           "(False: one call with the sampled frames, as the released code does).")
    tool_mode: Literal["native", "text"] = field("native", help="openai: native = OpenAI function calling (tools=...)"
                                                                "; text = TOOL_CALL lines in the reply (models "
                                                                "without native tool calls). hf always uses text.")
    max_tool_calls: int = field(6, help="Tool calls allowed in one repair; further calls get an error result.",
                                check=non_negative)
    max_turns: int = field(4, help="Teacher replies allowed in one repair (the leak retry comes on top).",
                           check=positive)
    max_tokens: int = field(2000, help="Completion tokens per teacher reply.", check=positive)
    token_budget: int = field(0, help="Prompt + completion tokens allowed over a whole repair; 0 = no limit.",
                              check=non_negative)
    temperature: float = field(0.1, help="Teacher sampling temperature (the paper: 0.1).", check=non_negative)
    segment_frames: int = field(4, help="Frames get_segment returns when the teacher does not say.", check=positive)
    max_segment_frames: int = field(8, help="Most frames one get_segment call may return.", check=positive)
    image_format: Literal["png", "jpeg"] = field("jpeg", help="How frames are encoded for OpenAI-style backends "
                                                              "(png: lossless, several times larger requests).")
    jpeg_quality: int = field(JPEG_QUALITY, help="JPEG quality (1-100) when image_format is jpeg.",
                              check=in_range(1, 100))
    taxonomy: str = field("paper3", help=f"Error taxonomy by name: {', '.join(TAXONOMIES)}.", check=one_of(TAXONOMIES))
    use_ground_truth: bool = field(True, help="Show the teacher the ground truth (False: the paper's 'no GT' "
                                              "ablation; the annotation backend then cites every candidate event).")
    leak: LeakGuardConfig = field(default_factory=LeakGuardConfig, help="The answer-leak guard.")
    cache_dir: str | None = field(None, help="Directory of the disk cache of repairs (one JSON file per key); None "
                                             "disables it. The annotation backend is never cached (it is instant).",
                                  check=folder_path)
    cache_failures: bool = field(True, help="Also cache final failures (bad JSON, schema, leak, budget); transient "
                                            "ones (timeouts, connection, HTTP 4xx/5xx/429) are never cached.")
    sampling: FrameSamplingConfig = field(default_factory=FrameSamplingConfig,
                                          help="Frame sizes and decoder for the images the tools return.")
    startup_probe: bool = field(True, help="Before step 1, run one real repair and stop with its reason (and a hint) "
                                           "when the teacher gives no usable patch (Teacher.probe).")
    health: TeacherHealthConfig = field(default_factory=TeacherHealthConfig,
                                        help="The success-rate guard during training (TeacherHealth).")
    device: str = field("cpu", help="hf: torch device of the teacher model.")
    dtype: Literal["float32", "bfloat16", "float16"] = field("float32", help="hf: the teacher model's dtype.")

    def __post_init__(self) -> None:
        # Also checked when built in code (backends read these limits directly), with the key as `ffr train` names it.
        validate(self, prefix="teacher.")

    @property
    def request_timeout_s(self) -> float:
        """The timeout of one HTTP request: ``timeout_s`` when set, else sized from ``max_tokens``."""
        if self.timeout_s is not None:
            return self.timeout_s
        return self.timeout_base_s + self.max_tokens / self.timeout_tokens_per_s

    @property
    def taxonomy_classes(self) -> tuple[str, ...]:
        return TAXONOMIES[self.taxonomy]


def resolved_api_key(cfg: TeacherConfig) -> str | None:
    """The key from the config, else from the environment; None when there is none."""
    if cfg.api_key:
        return cfg.api_key
    for name in API_KEY_ENV:
        if os.environ.get(name):
            return os.environ[name]
    return None


def resolved_endpoint(cfg: TeacherConfig) -> tuple[str, str]:
    """(base_url, model) for the openai backend, from the config or the environment; a ConfigError when missing."""
    base_url = cfg.base_url or os.environ.get(BASE_URL_ENV)
    model = cfg.model or os.environ.get(MODEL_ENV)
    if not base_url:
        raise ConfigError(f"teacher.backend=openai needs teacher.base_url (or env {BASE_URL_ENV})")
    if not model:
        raise ConfigError(f"teacher.backend=openai needs teacher.model (or env {MODEL_ENV})")
    return base_url, model


def semantic_dict(cfg: TeacherConfig) -> dict[str, Any]:
    """The settings that decide what a repair is (for cache keys): no secrets, no throughput knobs."""
    data = to_dict(cfg)
    for name in NON_SEMANTIC_FIELDS:
        data.pop(name, None)
    return data
