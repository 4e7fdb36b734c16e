"""Pure pieces of the step: who is repaired, the data order, the LR schedule, micro-batch splitting."""

import pytest

from ffr_train.config import OptimConfig
from ffr_train.data import data_order
from ffr_train.step import select_for_repair
from ffr_train.update import learning_rate, split_micro_batches


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


def test_split_micro_batches_always_gives_the_same_count():
    assert split_micro_batches(list(range(10)), 4) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert split_micro_batches(list(range(2)), 3) == [[0], [1], []]
    assert split_micro_batches([], 2) == [[], []]
