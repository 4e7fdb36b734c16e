"""λ > κ lets a repaired success out-earn a first-pass success; `ffr train` says so before training."""

from __future__ import annotations

import logging

import pytest

from ffr_data.config import merge
from ffr_train.config import TrainConfig
from ffr_train.pipeline import warn_if_repair_pays_more


@pytest.mark.parametrize(("overrides", "warned"), [
    ({"reward": {"align_weight": 0.5, "kappa": 0.3}}, True),
    ({"reward": {"align_weight": 0.2, "kappa": 0.3}}, False),
    ({"reward": {"align_weight": 0.0}}, False),
    ({"algo": "grpo", "reward": {"align_weight": 0.5, "kappa": 0.3}}, False),  # GRPO never repairs
])
def test_align_weight_above_kappa_is_named(overrides, warned, caplog):
    with caplog.at_level(logging.WARNING, logger="ffr_train.pipeline"):
        warn_if_repair_pays_more(merge(TrainConfig(), overrides))
    assert ("reward.align_weight (0.5) > reward.kappa (0.3)" in caplog.text) is warned
    assert bool(caplog.text) is warned
