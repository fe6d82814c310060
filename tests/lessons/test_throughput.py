"""Interleaved training-speed measurement (resnet_course.lessons.throughput), chapter 8."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from resnet_course.lessons import throughput

pytestmark = pytest.mark.usefixtures("one_thread")


def _mlp(layers: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), *[nn.Linear(256, 256) for _ in range(layers)], nn.Linear(256, 10))


def test_rates_are_per_image_and_follow_the_work():
    torch.manual_seed(0)
    images, labels = torch.randn(64, 1, 16, 16), torch.randint(0, 10, (64,))
    rates = throughput.training_step_rates({"small": _mlp(1), "large": _mlp(12)}, images, labels, rounds=5)
    assert list(rates) == ["small", "large"]
    assert all(rate > 0 for rate in rates.values())
    assert rates["large"] < rates["small"]  # twelve hidden layers are slower than one


def test_models_take_turns_in_every_round(monkeypatch):
    calls = []
    monkeypatch.setattr(throughput, "_step", lambda model, *args: calls.append(model.tag))
    models = {name: nn.Linear(2, 2) for name in "ab"}
    for name, model in models.items():
        model.tag = name
    throughput.training_step_rates(models, torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), rounds=3, warmup=1)
    assert calls == ["a", "b"] * 4  # one warm-up round, then three timed rounds, interleaved
    with pytest.raises(ValueError, match="at least 1"):
        throughput.training_step_rates(models, torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), rounds=0)
