"""Exact values for advantages, the clipped surrogate, k3 KL and loss aggregation on hand-made inputs."""

import math

import pytest
import torch

from ffr_data.errors import ConfigError
from ffr_train.algorithms import ADVANTAGES, clipped_surrogate, k3_kl, policy_loss


def test_group_advantages_match_hand_computation():
    rewards = torch.tensor([2.0, 0.0, 1.0, 1.0, 1.7, 0.7, 0.7, 0.7])
    adv = ADVANTAGES.get("group")(rewards, 4, 1e-4)
    g1 = torch.tensor([2.0, 0.0, 1.0, 1.0])
    std1 = math.sqrt(((g1 - 1.0) ** 2).sum().item() / 3)  # unbiased
    assert adv[:4].tolist() == pytest.approx([(v - 1.0) / (std1 + 1e-4) for v in g1.tolist()], rel=1e-5)
    g2 = [1.7, 0.7, 0.7, 0.7]
    mean2 = sum(g2) / 4
    std2 = math.sqrt(sum((v - mean2) ** 2 for v in g2) / 3)
    assert adv[4:].tolist() == pytest.approx([(v - mean2) / (std2 + 1e-4) for v in g2], rel=1e-5)


def test_uniform_group_has_zero_advantage_and_batch_scaling_uses_batch_std():
    rewards = torch.tensor([1.0, 1.0, 0.0, 2.0])
    assert ADVANTAGES.get("group")(rewards, 2, 1e-4)[:2].tolist() == [0.0, 0.0]
    batch = ADVANTAGES.get("batch")(rewards, 2, 0.0)
    assert batch.tolist() == pytest.approx([0.0, 0.0, -1.0 / rewards.std().item(), 1.0 / rewards.std().item()])
    assert ADVANTAGES.get("none")(rewards, 2, 0.0).tolist() == [0.0, 0.0, -1.0, 1.0]


def test_unknown_estimator_is_a_config_error_listing_known_ones():
    with pytest.raises(ConfigError, match="known: batch, group, none"):
        ADVANTAGES.get("gae")


def test_clipped_surrogate_clips_on_the_advantage_side_only():
    old = torch.zeros(1, 4)
    logp = torch.log(torch.tensor([[0.5, 1.0, 1.3, 1.3]]))  # ratios 0.5, 1.0, 1.3, 1.3
    adv_pos = torch.tensor([1.0])
    loss, clipped = clipped_surrogate(logp, old, adv_pos, 0.2)
    # positive advantage: min(r, clip(r)) -> 0.5, 1.0, 1.2, 1.2
    assert loss[0].tolist() == pytest.approx([-0.5, -1.0, -1.2, -1.2], rel=1e-6)
    assert clipped[0].tolist() == [0.0, 0.0, 1.0, 1.0]
    loss_neg, clipped_neg = clipped_surrogate(logp, old, torch.tensor([-1.0]), 0.2)
    # negative advantage: min(-r, -clip(r)) -> -max(r, clip r): 0.8, 1.0, 1.3, 1.3
    assert loss_neg[0].tolist() == pytest.approx([0.8, 1.0, 1.3, 1.3], rel=1e-6)
    assert clipped_neg[0].tolist() == [1.0, 0.0, 0.0, 0.0]
    loss_high, _ = clipped_surrogate(logp, old, adv_pos, 0.2, eps_high=0.28)
    assert loss_high[0, 2].item() == pytest.approx(-1.28)


def test_k3_kl_values():
    logp = torch.tensor([0.0, -1.0, -2.0])
    ref = torch.tensor([0.0, -2.0, -1.0])
    d = ref - logp
    expected = torch.exp(d) - d - 1
    assert torch.allclose(k3_kl(logp, ref), expected)
    assert k3_kl(logp, logp).abs().max().item() == 0.0


def test_token_mean_and_seq_mean_aggregation_add_up_over_micro_batches():
    logp = torch.zeros(3, 4, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.float32)
    adv = torch.tensor([1.0, -1.0, 2.0])
    kwargs = dict(ref_logp=None, beta=0.0, eps_low=0.2, eps_high=None)
    whole, _ = policy_loss(logp, logp.detach(), adv, mask, aggregation="token-mean", total_tokens=7,
                           total_sequences=3, **kwargs)
    # ratio 1: per-token loss = -A; token-mean = -(4*1 + 2*(-1) + 1*2) / 7
    assert whole.item() == pytest.approx(-4 / 7)
    part1, _ = policy_loss(logp[:2], logp[:2].detach(), adv[:2], mask[:2], aggregation="token-mean",
                           total_tokens=7, total_sequences=3, **kwargs)
    part2, _ = policy_loss(logp[2:], logp[2:].detach(), adv[2:], mask[2:], aggregation="token-mean",
                           total_tokens=7, total_sequences=3, **kwargs)
    assert (part1 + part2).item() == pytest.approx(whole.item())
    seq, _ = policy_loss(logp, logp.detach(), adv, mask, aggregation="seq-mean", total_tokens=7,
                         total_sequences=3, **kwargs)
    assert seq.item() == pytest.approx(-(1 - 1 + 2) / 3)


def test_kl_term_is_added_with_beta():
    logp = torch.tensor([[-1.0, -1.0]])
    ref = torch.tensor([[-2.0, -0.5]])
    mask = torch.ones(1, 2)
    loss, stats = policy_loss(logp, logp, torch.tensor([0.0]), mask, ref_logp=ref, beta=0.04, eps_low=0.2,
                              eps_high=None, aggregation="token-mean", total_tokens=2, total_sequences=1)
    kl = k3_kl(logp, ref)
    assert loss.item() == pytest.approx(0.04 * kl.mean().item())
    assert stats["kl"] == pytest.approx(kl.mean().item())
    with pytest.raises(ValueError, match="reference"):
        policy_loss(logp, logp, torch.tensor([0.0]), mask, ref_logp=None, beta=0.04, eps_low=0.2, eps_high=None,
                    aggregation="token-mean", total_tokens=2, total_sequences=1)


def test_group_advantages_by_group_id_equal_the_contiguous_form_and_allow_unequal_groups():
    rewards = torch.tensor([2.0, 0.0, 1.0, 1.0, 1.7, 0.7, 0.7, 0.7])
    by_size = ADVANTAGES.get("group")(rewards, 4, 1e-4)
    ids = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    assert torch.allclose(ADVANTAGES.get("group")(rewards, ids, 1e-4), by_size)
    # shuffled order, any id values: the same advantage per reward
    perm = torch.tensor([5, 0, 7, 2, 1, 6, 3, 4])
    shuffled = ADVANTAGES.get("group")(rewards[perm], (ids * 7 + 3)[perm], 1e-4)
    assert torch.allclose(shuffled, by_size[perm])
    # a group of 3 (two first passes + one appended member) next to a group of 2
    uneven = ADVANTAGES.get("group")(torch.tensor([0.0, 0.0, 1.7, 2.0, 0.0]), torch.tensor([0, 0, 0, 1, 1]), 0.0)
    m, s = 1.7 / 3, math.sqrt(((0 - 1.7 / 3) ** 2 * 2 + (1.7 - 1.7 / 3) ** 2) / 2)
    assert uneven.tolist() == pytest.approx([-m / s, -m / s, (1.7 - m) / s, 1 / math.sqrt(2), -1 / math.sqrt(2)])
    assert ADVANTAGES.get("none")(torch.tensor([1.0, 3.0, 5.0]), torch.tensor([4, 4, 9]), 0.0).tolist() == [-1, 1, 0]
