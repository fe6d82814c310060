""":class:`TrainConfig`: every setting of a training run that is not the network or the data, in one place.

The defaults are the paper's CIFAR-10 recipe (He, Zhang, Ren & Sun 2015, *Deep Residual
Learning for Image Recognition*, §4.2; §3.4 for ImageNet): SGD with momentum 0.9, weight
decay 1e-4 on every parameter, mini-batch 128, learning rate 0.1 divided by 10 at 50% and
75% of the steps (``schedule="paper"``: 32k and 48k of 64k iterations), cross-entropy, no
dropout. The engineering switches (precision, memory layout, compilation, fused optimizer)
change speed and rounding, not the recipe; ``None`` means "auto": on where it helps on the
device the run uses (:meth:`TrainConfig.resolved` decides).

One config serves the whole run: the caller builds the loaders with its ``batch_size`` and
``drop_last``, :func:`~resnet_course.training.fit` trains with the rest and records
``asdict(config)`` (resolved) as the run's metadata, and a resumed run is compared with it.
Named configs -- the recipes ``paper``, ``fast`` and ``zoo`` -- are in
:mod:`resnet_course.training.recipes`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from numbers import Integral, Real
from typing import Any

import torch

from resnet_course.training.optim import OPTIMIZERS, SCHEDULES, check_choice
from resnet_course.training.runtime import resolve_amp, resolve_compile, resolve_fused

__all__ = ["AMP_NAMES", "LOADER_SETTINGS", "TrainConfig", "training_config"]

# What the run's metadata calls each autocast dtype (``None``: full float32).
AMP_NAMES = {None: "off", torch.bfloat16: "bfloat16", torch.float16: "float16"}

# The settings that are the training loader's, not fit's (the caller builds the loader with them).
LOADER_SETTINGS = ("batch_size", "drop_last")

@dataclass(frozen=True)
class TrainConfig:
    """The settings of one training run; frozen, so a recipe can be shared and changed only by copy.

    * ``epochs``: passes over the training data (the paper's 64k iterations at batch 128 are
      about 182 epochs of 45k images, §4.2).
    * ``batch_size``, ``drop_last``: for the training loader, which the caller builds
      (:func:`fit` records the loader's own values when it has them).
    * ``optimizer`` (``"sgd"`` or ``"adamw"``), ``lr``, ``momentum``, ``weight_decay``,
      ``nesterov``; ``decay_bn_and_bias=False`` spares BN parameters and biases the decay.
    * ``schedule`` (``"paper"``, ``"cosine"``, ``"onecycle"``, ``"constant"``), stepped every
      batch; ``warmup_epochs`` (may be fractional) ramps the lr up linearly first.
    * ``label_smoothing`` of the cross-entropy; ``grad_clip``: clip the gradient norm to it.
    * ``amp``: ``None`` = bfloat16 autocast on a GPU that supports it, float32 on a CPU;
      ``"bf16"``, ``"fp16"`` (with a loss scaler) or ``False``. ``channels_last``: ``None`` =
      on for CUDA. ``compile``: ``torch.compile`` -- ``True``, a mode, or ``None`` = on for
      CUDA. ``fused``: the fused optimizer kernel (``None`` = wherever PyTorch has one).
    * ``tta_flip``: validate on each image and its mirror image.
    * ``seed``: seeds torch, ``random`` and numpy when training starts.

    A value out of range raises ``ValueError`` naming the setting.
    """

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
    grad_clip: float | None = None
    amp: str | bool | None = None
    channels_last: bool | None = None
    compile: bool | str | None = False
    fused: bool | None = False
    tta_flip: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        _check_counts(self)
        _check_numbers(self)
        _check_choices(self)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some settings changed, e.g. ``get_recipe("fast").replace(epochs=10)``.

        A misspelt name raises ``TypeError``; a bad value ``ValueError``.
        """
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise TypeError(f"TrainConfig has no setting {', '.join(map(repr, unknown))}; "
                            f"its settings: {', '.join(f.name for f in fields(self))}")
        return replace(self, **changes)

    with_changes = replace  # the name recipes had before they were configs

    def fit_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """These settings as keyword arguments of :func:`fit`, with ``overrides`` applied.

        For code written before :class:`TrainConfig` (``fit(model, train, **recipe.fit_kwargs())``);
        new code passes the config itself. The loader's settings (``batch_size``,
        ``drop_last``) and the ``seed`` are left out unless overridden, as such callers pass
        them to the loader and to ``fit`` themselves.
        """
        config = self.replace(**overrides)
        left_out = {*LOADER_SETTINGS, "seed"} - set(overrides)
        return {k: v for k, v in asdict(config).items() if k not in left_out}

    def resolved(self, device: torch.device) -> TrainConfig:
        """These settings with every "auto" decided for ``device``: what a run there actually uses.

        ``amp`` becomes ``"bfloat16"``, ``"float16"`` or ``"off"``; ``channels_last`` and
        ``fused`` booleans; ``compile`` a mode name or ``False``. The result is itself a valid
        config that runs the same way anywhere.
        """
        channels_last = device.type == "cuda" if self.channels_last is None else bool(self.channels_last)
        return replace(
            self, amp=AMP_NAMES[resolve_amp(self.amp, device)], channels_last=channels_last,
            compile=resolve_compile(self.compile, device) or False, fused=resolve_fused(self.fused, device),
        )


def training_config(config: TrainConfig | None = None, **settings: Any) -> TrainConfig:
    """``config`` with ``settings`` changed, or (without a config) ``TrainConfig(**settings)``.

    How :func:`fit` accepts both ``fit(model, train, val, config)`` and the keywords of
    before, ``fit(model, train, val, epochs=3, lr=0.05)``.
    """
    if config is None:
        if "epochs" not in settings:
            raise TypeError("fit needs a TrainConfig (a recipe: get_recipe('paper')) or at least epochs=")
        config = TrainConfig(epochs=settings.pop("epochs"))
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig (e.g. get_recipe('paper')), not {type(config).__name__}")
    return config.replace(**settings) if settings else config


# ----------------------------------------------------------------------------------------
# Validation: one clear ValueError per bad setting, before any work is done
# ----------------------------------------------------------------------------------------


def _whole(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _check_counts(config: TrainConfig) -> None:
    for name, lowest in (("epochs", 1), ("batch_size", 1), ("seed", 0)):
        value = getattr(config, name)
        if not _whole(value) or value < lowest:
            raise ValueError(f"{name} must be a whole number >= {lowest}, not {value!r}")


def _check_numbers(config: TrainConfig) -> None:
    checks = (
        ("lr", config.lr, lambda v: v > 0, "> 0"),
        ("momentum", config.momentum, lambda v: 0 <= v < 1, "in [0, 1)"),
        ("weight_decay", config.weight_decay, lambda v: v >= 0, ">= 0"),
        ("warmup_epochs", config.warmup_epochs, lambda v: v >= 0, ">= 0"),
        ("label_smoothing", config.label_smoothing, lambda v: 0 <= v < 1, "in [0, 1)"),
    )
    if config.grad_clip is not None:
        checks += (("grad_clip", config.grad_clip, lambda v: v > 0, "> 0 (or None)"),)
    for name, value, valid, wanted in checks:
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or not valid(value):
            raise ValueError(f"{name} must be a number {wanted}, not {value!r}")
    if config.nesterov and config.optimizer == "sgd" and config.momentum == 0:
        raise ValueError("nesterov=True needs momentum > 0")


def _check_choices(config: TrainConfig) -> None:
    check_choice("optimizer", config.optimizer, OPTIMIZERS)
    check_choice("schedule", config.schedule, SCHEDULES)
    resolve_amp(config.amp, torch.device("cpu"))  # raises for an unknown value, naming the valid ones
    resolve_compile(config.compile, torch.device("cpu"))
    for name in ("drop_last", "nesterov", "decay_bn_and_bias", "tta_flip"):
        if not isinstance(getattr(config, name), bool):
            raise ValueError(f"{name} must be True or False, not {getattr(config, name)!r}")
    for name in ("channels_last", "fused"):
        if getattr(config, name) not in (None, True, False):
            raise ValueError(f"{name} must be True, False or None (auto), not {getattr(config, name)!r}")
