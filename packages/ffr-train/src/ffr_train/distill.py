"""On-policy self-distillation from the patch (``repair.distill_weight``).

On each failed first-pass rollout that got a patch, the student's next-token distribution under the plain prompt is
pulled towards the same model's distribution under the patched prompt, token by token along the student's own
tokens; the patched side is detached (a target, not trained). The divergence is the reverse KL over the full
vocabulary, KL(p_plain || p_patched) = sum_v p_plain(v) (log p_plain(v) - log p_patched(v)):

- on-policy distillation trains on the student's own samples, where the reverse (mode-seeking) direction is the
  standard choice: it asks the plain policy to put its mass where the patched policy is confident, rather than to
  cover every token the patched policy finds plausible;
- over the full vocabulary it is exact per position (no sampled estimate), and computed one sequence at a time it
  holds at most one (Lc, V) block in float32 per side.

Cost: no repaired rollout is needed for this term; it adds one forward without gradient over the patched prompt
(as long as a repaired slot's training forward) and one forward and backward over the plain prompt per failed
rollout with a patch. With ``repair.credit=none`` the repair generation is skipped altogether.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ffr_train.batching import EncodedPrompt


def reverse_kl(student_logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    """(B, L) float32: KL(softmax(student) || softmax(target)) per position over the last (vocabulary) axis. The
    target side carries no gradient. Pure; tested exactly."""
    rows = []
    for student, target in zip(student_logits, target_logits.detach(), strict=True):
        log_s = torch.log_softmax(student.float(), dim=-1)
        log_t = torch.log_softmax(target.float(), dim=-1)
        rows.append((log_s.exp() * (log_s - log_t)).sum(-1))
    return torch.stack(rows) if rows else student_logits.new_zeros(student_logits.shape[:2], dtype=torch.float32)


@dataclass(frozen=True)
class TargetView:
    """A distillation row seen from the patched side: the same tokens under the patched prompt."""

    prompt: EncodedPrompt
    completion: torch.Tensor
