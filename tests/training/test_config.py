"""TrainConfig, the one definition of a run's settings, and the recipes as named configs."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from resnet_course.training.config import TrainConfig, training_config
from resnet_course.training.recipes import RECIPE_DESCRIPTIONS, get_recipe, recipe_name, recipe_record

# The recipes' values before they became TrainConfigs (commit 40c1bbe): they must not move.
FAST = dict(epochs=20, batch_size=512, drop_last=True, optimizer="sgd", lr=0.4, momentum=0.9, weight_decay=5e-4,
            nesterov=True, decay_bn_and_bias=False, schedule="onecycle", warmup_epochs=0.0, label_smoothing=0.1,
            amp=None, channels_last=None, compile=None, fused=None, tta_flip=True)
ZOO = dict(epochs=30, batch_size=128, drop_last=False, optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4,
           nesterov=True, decay_bn_and_bias=False, schedule="onecycle", warmup_epochs=2.0, label_smoothing=0.0,
           amp="bf16", channels_last=True, compile=None, fused=None, tta_flip=False)
# What results/zoo/*.json and the zoo's checkpoints recorded as settings["recipe"] (old Recipe's asdict).
ZOO_RECORD = {
    "name": "zoo",
    "description": "the course's reference networks (resnet_course.zoo): 30 epochs at batch 128, SGD with Nesterov "
                   "momentum 0.9, lr warmed up linearly to 0.1 over 2 epochs then down linearly to 0, weight decay "
                   "5e-4 except BN and biases, bf16 autocast + channels-last on CPU and GPU",
    **ZOO,
}


def test_recipes_keep_their_values() -> None:
    assert get_recipe("paper") == TrainConfig(epochs=182)  # the paper's recipe is the defaults (§4.2)
    for name, values in (("fast", FAST), ("zoo", ZOO)):
        settings = dataclasses.asdict(get_recipe(name))
        assert {k: settings[k] for k in values} == values, name
        assert (settings["seed"], settings["grad_clip"]) == (0, None)
    assert set(RECIPE_DESCRIPTIONS) == {"paper", "fast", "zoo"}


def test_the_zoo_record_matches_the_stored_results() -> None:
    """A finished zoo network is skipped, and its checkpoint resumed, only if this dict is unchanged."""
    record = recipe_record("zoo", get_recipe("zoo"))
    assert record == ZOO_RECORD and list(record) == list(ZOO_RECORD)


def test_recipe_names_are_forgiving_and_errors_name_the_valid_ones() -> None:
    assert recipe_name(" Fast ") == "fast" and get_recipe("ZOO") is get_recipe("zoo")
    with pytest.raises(ValueError, match=r"^unknown recipe 'pepar'\. Did you mean 'paper'\? Recipes: 'paper', "):
        get_recipe("pepar")


BAD_SETTINGS = [
    ("epochs", 0, "epochs must be a whole number >= 1, not 0"),
    ("epochs", 2.5, "epochs must be a whole number"),
    ("epochs", True, "epochs must be a whole number"),
    ("batch_size", 0, "batch_size must be a whole number >= 1"),
    ("seed", -1, "seed must be a whole number >= 0"),
    ("lr", 0.0, "lr must be a number > 0, not 0.0"),
    ("lr", math.nan, "lr must be a number > 0"),
    ("lr", "0.1", "lr must be a number > 0, not '0.1'"),
    ("momentum", 1.0, r"momentum must be a number in \[0, 1\)"),
    ("weight_decay", -1e-4, "weight_decay must be a number >= 0"),
    ("warmup_epochs", -1, "warmup_epochs must be a number >= 0"),
    ("label_smoothing", 1.0, "label_smoothing must be a number in"),
    ("grad_clip", 0.0, "grad_clip must be a number > 0"),
    ("optimizer", "adam", "unknown optimizer 'adam'; choose one of 'sgd', 'adamw'"),
    ("schedule", "step", "unknown schedule 'step'; choose one of 'paper'"),
    ("amp", "int8", "unknown amp 'int8'"),
    ("compile", "fastest", "unknown compile 'fastest'"),
    ("channels_last", "yes", "channels_last must be True, False or None"),
    ("tta_flip", None, "tta_flip must be True or False"),
]


@pytest.mark.parametrize("setting, value, message", BAD_SETTINGS, ids=[f"{s}={v!r}" for s, v, _ in BAD_SETTINGS])
def test_a_bad_setting_is_refused_naming_it(setting: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(epochs=1).replace(**{setting: value})


def test_configs_are_frozen_and_changed_by_copy() -> None:
    paper = get_recipe("paper")
    with pytest.raises(dataclasses.FrozenInstanceError):
        paper.lr = 0.2  # type: ignore[misc]
    changed = paper.replace(lr=0.2, epochs=3)
    assert (changed.lr, changed.epochs, paper.lr, paper.epochs) == (0.2, 3, 0.1, 182)
    assert paper.with_changes(lr=0.2) == paper.replace(lr=0.2)  # the recipes' old name for it
    with pytest.raises(TypeError, match="no setting 'learning_rate'"):
        paper.replace(learning_rate=0.2)
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        paper.replace(nesterov=True, momentum=0.0)


def test_training_config_takes_a_config_or_keywords() -> None:
    assert training_config(epochs=3, lr=0.05) == TrainConfig(epochs=3, lr=0.05)
    assert training_config(get_recipe("fast"), epochs=2) == get_recipe("fast").replace(epochs=2)
    assert training_config(get_recipe("fast")) is get_recipe("fast")
    with pytest.raises(TypeError, match="needs a TrainConfig"):
        training_config(lr=0.05)
    with pytest.raises(TypeError, match="not dict"):
        training_config({"epochs": 3})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="no setting 'lerning_rate'"):
        training_config(epochs=1, lerning_rate=0.1)


def test_resolved_decides_every_auto_switch_for_the_device() -> None:
    cpu = torch.device("cpu")
    fast = get_recipe("fast").resolved(cpu)
    assert (fast.amp, fast.channels_last, fast.compile) == ("off", False, False)
    assert isinstance(fast.fused, bool)
    assert fast.resolved(cpu) == fast  # a resolved config is valid and stays as it is
    assert get_recipe("zoo").resolved(cpu).amp == "bfloat16"
    assert TrainConfig(epochs=1, amp="fp16", compile=True).resolved(cpu).amp == "float16"
    assert TrainConfig(epochs=1, compile=True).resolved(cpu).compile == "default"
