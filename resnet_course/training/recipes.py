"""Training recipes by name: named :class:`~resnet_course.training.config.TrainConfig` instances.

* ``paper`` -- He et al. 2015, *Deep Residual Learning for Image Recognition*, §4.2:
  SGD with momentum 0.9 and weight decay 1e-4 on every parameter, mini-batch 128, lr 0.1
  divided by 10 at 32k and 48k iterations, 64k iterations in all. The paper trains on
  45k images (the other 5k are its validation set): 352 steps per epoch, so 182 epochs
  are 64,064 iterations. On all 50k images, 182 epochs are 71k iterations -- the
  ``"paper"`` schedule still divides at 50% and 75% of them. It is ``TrainConfig``'s
  defaults with 182 epochs; its engineering settings (bf16 autocast and channels-last on
  a GPU, float32 on a CPU) change speed, not the recipe. (§3.4 trains ImageNet the same
  way with mini-batch 256, dividing the rate when the error plateaus.)
* ``fast`` -- the same network trained for time to accuracy: large batches (512) with a
  one-cycle schedule whose peak follows the linear scaling rule (0.1 × 512/128 = 0.4),
  Nesterov momentum, label smoothing 0.1, weight decay 5e-4 spared on BN parameters and
  biases, every speed switch on where it helps (bf16 autocast, channels-last and
  ``torch.compile`` on CUDA, fused SGD), full batches only (one compiled shape) and
  flip test-time augmentation. The values are in the range fast CIFAR-10 training scripts
  use (Page's DAWNBench ResNets, airbench), not yet tuned on a GPU for these networks;
  ``benchmarks/time_to_accuracy.py`` measures what they reach.
* ``zoo`` -- the course's reference networks (:mod:`resnet_course.experiments.zoo`).

Use one with :func:`~resnet_course.training.fit` (the loader takes the batch size)::

    recipe = get_recipe("fast")
    loader = TensorLoader(train_set, batch_size=recipe.batch_size, drop_last=recipe.drop_last, device="cuda")
    history = fit(model, loader, test_loader, recipe)                 # or recipe.replace(epochs=10)

or from the command line: ``resnet-course train --recipe fast``.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict
from typing import Any

from resnet_course.training.config import TrainConfig

__all__ = ["get_recipe", "list_recipes", "Recipe", "RECIPE_DESCRIPTIONS", "recipe_name", "recipe_record", "RECIPES"]

Recipe = TrainConfig  # a recipe is a TrainConfig with a name in RECIPES (the name of the class before)

RECIPES: dict[str, TrainConfig] = {
    "paper": TrainConfig(epochs=182),
    "fast": TrainConfig(
        epochs=20, batch_size=512, drop_last=True, lr=0.4, weight_decay=5e-4, nesterov=True,
        decay_bn_and_bias=False, schedule="onecycle", label_smoothing=0.1,
        amp=None, channels_last=None, compile=None, fused=None, tta_flip=True,
    ),
    "zoo": TrainConfig(
        epochs=30, batch_size=128, lr=0.1, weight_decay=5e-4, nesterov=True, decay_bn_and_bias=False,
        schedule="onecycle", warmup_epochs=2.0, amp="bf16", channels_last=True, compile=None, fused=None,
    ),
}

RECIPE_DESCRIPTIONS: dict[str, str] = {
    "paper": "He et al. 2015 §4.2: SGD lr 0.1, momentum 0.9, weight decay 1e-4, batch 128, "
             "lr / 10 at 32k and 48k of 64k iterations (182 epochs)",
    "fast": "time to accuracy: batch 512, one-cycle to lr 0.4, Nesterov, label smoothing 0.1, "
            "weight decay 5e-4 except BN and biases, bf16 + channels-last + torch.compile on CUDA, "
            "fused SGD, flip TTA",
    "zoo": "the course's reference networks (resnet_course.zoo): 30 epochs at batch 128, SGD with "
           "Nesterov momentum 0.9, lr warmed up linearly to 0.1 over 2 epochs then down linearly to 0, "
           "weight decay 5e-4 except BN and biases, bf16 autocast + channels-last on CPU and GPU",
}


def list_recipes() -> list[str]:
    """The recipe names :func:`get_recipe` accepts."""
    return list(RECIPES)


def recipe_name(name: str) -> str:
    """The registered spelling of recipe ``name`` (case and surrounding spaces ignored).

    An unknown name raises ``ValueError`` naming the closest one and all valid ones.
    """
    key = str(name).strip().lower()
    if key in RECIPES:
        return key
    close = difflib.get_close_matches(key, list(RECIPES), n=1, cutoff=0.4)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown recipe {name!r}.{hint} Recipes: {', '.join(map(repr, RECIPES))}")


def get_recipe(name: str) -> TrainConfig:
    """The recipe called ``name``; an unknown name raises ``ValueError`` naming the valid ones."""
    return RECIPES[recipe_name(name)]


def recipe_record(name: str, config: TrainConfig) -> dict[str, Any]:
    """``config`` as result files written before :class:`TrainConfig` recorded a recipe.

    Those files (the zoo's ``settings``) hold the fields of the old ``Recipe`` class: its
    ``name`` and ``description``, then every setting except ``seed`` and ``grad_clip``
    (recorded apart, or not at all). Comparing a new run with them needs the same dict.
    """
    record: dict[str, Any] = {"name": name, "description": RECIPE_DESCRIPTIONS.get(name, "")}
    record.update((k, v) for k, v in asdict(config).items() if k not in ("seed", "grad_clip"))
    return record
