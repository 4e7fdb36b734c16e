"""Pure pieces of the step: who is repaired, the data order, the LR schedule, micro-batch splitting."""

import pytest

from ffr_train.config import OptimConfig
from ffr_train.data import data_order
from ffr_train.micro_batching import pack_micro_batches
from ffr_train.step import select_for_repair
from ffr_train.update import learning_rate


def test_select_for_repair_every_failed_rollout_or_only_all_failed_groups():
    acc = [[1.0, 0.0, 0.5, 1.0], [0.0, 0.0, 0.0, 0.0]]
    assert select_for_repair(acc, "failed", 1.0, None) == [(0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (1, 3)]
    assert select_for_repair(acc, "all_failed_groups", 1.0, None) == [(1, 0), (1, 1), (1, 2), (1, 3)]
    assert select_for_repair(acc, "failed", 0.5, None) == [(0, 1), (1, 0), (1, 1), (1, 2), (1, 3)]
    assert select_for_repair(acc, "failed", 1.0, 1) == [(0, 1), (1, 0)]


def test_data_order_is_a_permutation_per_epoch_and_stateless():
    first_epoch = data_order(10, seed=3, start=0, count=10)
    assert sorted(first_epoch) == list(range(10))
    assert data_order(10, 3, 4, 3) == first_epoch[4:7]
    second = data_order(10, 3, 10, 10)
    assert sorted(second) == list(range(10)) and second != first_epoch
    assert data_order(10, 4, 0, 10) != first_epoch


def test_learning_rate_schedule():
    cfg = OptimConfig(steps=10, lr=1.0, warmup_steps=2, schedule="cosine", min_lr_ratio=0.1)
    assert learning_rate(0, cfg) == pytest.approx(0.5)
    assert learning_rate(1, cfg) == pytest.approx(1.0)
    assert learning_rate(2, cfg) == pytest.approx(1.0)
    assert learning_rate(10, cfg) == pytest.approx(0.1)
    assert learning_rate(6, cfg) == pytest.approx(0.1 + 0.9 * 0.5)
    assert learning_rate(5, OptimConfig(steps=10, lr=2.0, schedule="constant")) == 2.0


def test_micro_batches_are_packed_by_a_token_budget_longest_first():
    # rows x longest <= 100: the two long ones together, the short ones together
    assert pack_micro_batches([10, 50, 12, 48, 11], 100, 8) == [[1, 3], [2, 4, 0]]
    # a row cap applies as well as the budget
    assert pack_micro_batches([10, 10, 10, 10, 10], 1000, 2) == [[0, 1], [2, 3], [4]]
    # a sequence over the budget gets a micro-batch of its own; budget 0 means rows only
    assert pack_micro_batches([300, 20, 20], 100, 8) == [[0], [1, 2]]
    assert pack_micro_batches([300, 20, 20], 0, 2) == [[0, 1], [2]]
    assert pack_micro_batches([], 100, 4) == []
    # every index exactly once, every micro-batch within budget (unless alone)
    lengths = [(i * 37) % 91 + 5 for i in range(40)]
    packed = pack_micro_batches(lengths, 200, 6)
    assert sorted(i for b in packed for i in b) == list(range(40))
    assert all(len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 200 for b in packed)
    assert all(len(b) <= 6 for b in packed)
