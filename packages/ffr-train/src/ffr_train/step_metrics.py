"""Per-step metrics (rewards by part, accuracy before/after repair, intervention ratio, teacher health, update
statistics, lengths, throughput, wall time per phase) and the sampled rollout rows saved for inspection."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from ffr_data.timing import PhaseTimer
from ffr_train.config import TrainConfig
from ffr_train.step import StepData


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


# What only the teacher's own counters know (the step counts calls, patches and reasons itself).
_BACKEND_KEYS = ("tool_calls", "tool_errors", "leak_rejections", "cache_hits", "http_requests", "retries",
                 "prompt_tokens", "completion_tokens")


def _teacher_delta(teacher, before: dict[str, Any] | None) -> dict[str, float]:
    """This step's share of the teacher's counters, and its running latency percentiles."""
    if teacher is None or before is None:
        return {}
    after = teacher.metrics.snapshot()
    out = {f"teacher/{key}": float(after[key] - before.get(key, 0)) for key in _BACKEND_KEYS if key in after}
    out.update({f"teacher/{key}": float(value) for key, value in after.items() if key.startswith("latency")})
    return out


def regime(successes: list[bool]) -> str:
    """A group's regime: every member failed, every member succeeded, or mixed (the only one with a GRPO signal)."""
    return "all_fail" if not any(successes) else "all_success" if all(successes) else "mixed"


def regime_metrics(data: StepData, threshold: float) -> dict[str, float]:
    """Share of groups in each regime, overall and per task family, for the first pass and after repair (the chosen
    rollouts, appended members included): the all-fail share is where repair is meant to help."""
    by_group: dict[int, list] = defaultdict(list)
    for slot in data.slots:
        by_group[slot.group].append(slot)
    counts: dict[str, Counter] = defaultdict(Counter)
    for g, members in by_group.items():
        family = str(data.samples[g].meta.get("family", "all"))
        first = regime([s.first_parts["accuracy"] >= threshold for s in members if s.index < data.group_size])
        after = regime([s.reward.accuracy >= threshold for s in members])
        for scope in ("", f"{family}/"):
            counts[f"regime/{scope}first_pass"][first] += 1
            counts[f"regime/{scope}after_repair"][after] += 1
    out = {}
    for key, tally in counts.items():
        total = sum(tally.values())
        out.update({f"{key}/{name}": tally[name] / total for name in ("all_fail", "mixed", "all_success")})
    return out


def step_metrics(data: StepData, update: dict[str, float], timer: PhaseTimer, elapsed: float, cfg: TrainConfig,
                 teacher=None, teacher_before: dict[str, Any] | None = None) -> dict[str, float]:
    slots = data.slots
    first = data.first_pass()
    n = len(slots)
    rewards: dict[int, list[float]] = defaultdict(list)
    for s in slots:
        rewards[s.group].append(s.reward.total)
    repaired = [s for s in slots if s.reward.repaired]
    first_tokens = sum(len(s.first_text) for s in first)
    generated_tokens = sum(int(s.completion.numel()) for s in slots)
    m = {
        "reward/total": _mean([s.reward.total for s in slots]),
        **{f"reward/{name}": _mean([s.reward.parts.get(name, 0.0) for s in slots]) for name in cfg.reward.names},
        "reward/tax": _mean([s.reward.tax for s in slots]),
        "reward/align": _mean([s.reward.align for s in repaired]),
        "acc/first_pass": _mean([s.first_parts["accuracy"] for s in first]),
        "format/first_pass": _mean([s.first_parts["format"] for s in first]),
        "acc/after_repair": _mean([s.reward.accuracy for s in slots]),
        "acc/repaired_success": _mean([s.reward.accuracy for s in repaired]),
        "intervention_ratio": data.teacher.calls / len(first) if first else 0.0,
        "teacher/calls": float(data.teacher.calls),
        "teacher/patches": float(data.teacher.patches),
        "teacher/success_rate": data.teacher.patches / data.teacher.calls if data.teacher.calls else 0.0,
        "groups/zero_advantage": _mean([float(max(r) - min(r) < 1e-9) for r in rewards.values()]),
        "len/completion_tokens": generated_tokens / n if n else 0.0,
        "len/first_pass_chars": first_tokens / len(first) if first else 0.0,
        "throughput/train_tokens_per_s": generated_tokens / elapsed if elapsed else 0.0,
        **{f"tokens/generated_{k}": float(v) for k, v in data.generated_tokens.items()},
        "distill/items": float(len(data.distill)),
        "gold/failed_rollouts": float(sum(i.failures for i in data.gold)),
        "time/step": elapsed,
        "data/skipped_samples": float(len(data.skipped)),
        **regime_metrics(data, cfg.repair.threshold),
        **{f"update/{k}": v for k, v in update.items()},
        **timer.as_metrics(),
        **_teacher_delta(teacher, teacher_before),
    }
    for reason, count in data.teacher.reasons.items():
        m[f"teacher/no_patch/{reason}"] = float(count)
    return m


def rollout_rows(data: StepData, limit: int) -> list[dict[str, Any]]:
    """Slots to save for inspection, repaired ones first."""
    ordered = sorted(data.slots, key=lambda s: (not s.reward.repaired, s.group, s.index))[:limit]
    rows = []
    for s in ordered:
        sample = data.samples[s.group]
        rows.append({
            "problem_id": sample.problem_id, "group": s.group, "index": s.index, "answer": sample.answer,
            "first": s.first_text, "first_parts": s.first_parts,
            "patch": s.patch.to_json() if s.patch else None, "teacher_reason": s.teacher_reason,
            "repaired": s.repaired_text, "repaired_parts": s.repaired_parts,
            "reward": s.reward.__dict__,
        })
    return rows
