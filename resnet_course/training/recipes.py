"""Training recipes by name: the paper's schedule and a fast one.

A :class:`Recipe` is every setting of a training run that is not the network or the data:
batch size, optimiser, learning-rate schedule, regularisation, and the engineering
switches (mixed precision, memory layout, compilation, fused optimizer, test-time
augmentation). Two are defined:

* ``paper`` -- He et al. 2015, *Deep Residual Learning for Image Recognition*, §4.2:
  SGD with momentum 0.9 and weight decay 1e-4 on every parameter, mini-batch 128, lr 0.1
  divided by 10 at 32k and 48k iterations, 64k iterations in all. The paper trains on
  45k images (the other 5k are its validation set): 352 steps per epoch, so 182 epochs
  are 64,064 iterations. On all 50k images, 182 epochs are 71k iterations -- ``fit``'s
  ``schedule="paper"`` still divides at 50% and 75% of them. Its engineering settings are
  ``fit``'s defaults (bf16 autocast and channels-last on a GPU, float32 on a CPU), which
  change speed, not the recipe.
* ``fast`` -- the same network trained for time to accuracy: large batches (512) with a
  one-cycle schedule whose peak follows the linear scaling rule (0.1 × 512/128 = 0.4),
  Nesterov momentum, label smoothing 0.1, weight decay 5e-4 spared on BN parameters and
  biases, every speed switch on where it helps (bf16 autocast, channels-last and
  ``torch.compile`` on CUDA, fused SGD), full batches only (one compiled shape) and
  flip test-time augmentation. The values are in the range fast CIFAR-10 training scripts
  use (Page's DAWNBench ResNets, airbench), not yet tuned on a GPU for these networks;
  ``benchmarks/time_to_accuracy.py`` measures what they reach.

Use one with :func:`fit` (the loader takes the batch size)::

    recipe = get_recipe("fast")
    loader = TensorLoader(train_set, batch_size=recipe.batch_size, drop_last=recipe.drop_last, device="cuda")
    history = fit(model, loader, test_loader, **recipe.fit_kwargs())          # or fit_kwargs(epochs=10)

or from the command line: ``resnet-course train --recipe fast``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields, replace
from typing import Any, Optional, Union

__all__ = ["get_recipe", "list_recipes", "Recipe", "RECIPES"]


# The Recipe fields that are not arguments of fit (the loader's, and the recipe's own).
_NOT_FIT = ("name", "description", "batch_size", "drop_last")


@dataclass(frozen=True)
class Recipe:
    """A named set of training settings; :meth:`fit_kwargs` gives the ones :func:`fit` takes.

    ``batch_size`` and ``drop_last`` are for the training loader. ``amp``,
    ``channels_last``, ``compile`` and ``fused`` accept ``None`` for "auto" (on where
    they help on the device the run uses), as in :func:`resnet_course.train.fit`.
    """

    name: str
    description: str
    epochs: int
    batch_size: int = 128
    drop_last: bool = False
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    nesterov: bool = False
    decay_bn_and_bias: bool = True
    schedule: str = "paper"
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    amp: Union[str, bool, None] = None
    channels_last: Optional[bool] = None
    compile: Union[bool, str, None] = False
    fused: Optional[bool] = False
    tta_flip: bool = False

    def fit_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """The keyword arguments of :func:`fit` this recipe sets, with ``overrides`` applied.

        ``overrides`` must name such arguments (``epochs=10``, ``compile=False`` …); a
        misspelt name raises ``TypeError`` rather than being ignored.
        """
        kwargs = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_FIT}
        unknown = sorted(set(overrides) - set(kwargs))
        if unknown:
            raise TypeError(f"recipe {self.name!r} sets no fit argument {', '.join(unknown)}; "
                            f"it sets: {', '.join(kwargs)}")
        kwargs.update(overrides)
        return kwargs

    def with_changes(self, **changes: Any) -> Recipe:
        """A copy with some fields changed, e.g. ``get_recipe("fast").with_changes(label_smoothing=0)``."""
        return replace(self, **changes)


RECIPES: dict[str, Recipe] = {
    "paper": Recipe(
        name="paper",
        description="He et al. 2015 §4.2: SGD lr 0.1, momentum 0.9, weight decay 1e-4, batch 128, "
                    "lr / 10 at 32k and 48k of 64k iterations (182 epochs)",
        epochs=182,
    ),
    "fast": Recipe(
        name="fast",
        description="time to accuracy: batch 512, one-cycle to lr 0.4, Nesterov, label smoothing 0.1, "
                    "weight decay 5e-4 except BN and biases, bf16 + channels-last + torch.compile on CUDA, "
                    "fused SGD, flip TTA",
        epochs=20,
        batch_size=512,
        drop_last=True,
        lr=0.4,
        weight_decay=5e-4,
        nesterov=True,
        decay_bn_and_bias=False,
        schedule="onecycle",
        label_smoothing=0.1,
        amp=None,
        channels_last=None,
        compile=None,
        fused=None,
        tta_flip=True,
    ),
    "zoo": Recipe(
        name="zoo",
        description="the course's reference networks (resnet_course.zoo): 30 epochs at batch 128, SGD with "
                    "Nesterov momentum 0.9, lr warmed up linearly to 0.1 over 2 epochs then down linearly to 0, "
                    "weight decay 5e-4 except BN and biases, bf16 autocast + channels-last on CPU and GPU",
        epochs=30,
        batch_size=128,
        lr=0.1,
        weight_decay=5e-4,
        nesterov=True,
        decay_bn_and_bias=False,
        schedule="onecycle",
        warmup_epochs=2.0,
        amp="bf16",
        channels_last=True,
        compile=None,
        fused=None,
    ),
}


def list_recipes() -> list[str]:
    """The recipe names :func:`get_recipe` accepts."""
    return list(RECIPES)


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; an unknown name raises ``ValueError`` naming the valid ones."""
    key = str(name).strip().lower()
    if key in RECIPES:
        return RECIPES[key]
    close = difflib.get_close_matches(key, list(RECIPES), n=1, cutoff=0.4)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown recipe {name!r}.{hint} Recipes: {', '.join(map(repr, RECIPES))}")
