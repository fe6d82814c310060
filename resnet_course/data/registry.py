"""Data sets by name (for the command line and the experiments) and their normalisation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from resnet_course.data.cifar10 import CIFAR10_MEAN, CIFAR10_STD, load_cifar10
from resnet_course.data.hands import load_hands
from resnet_course.data.imageset import ImageSet

__all__ = ["DATASETS", "IMAGENET_MEAN", "IMAGENET_STD", "load_dataset", "normalisation_for"]


#: ImageNet statistics (torchvision's pretrained models): use these with pretrained weights.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_LOADERS: dict[str, Callable[..., ImageSet]] = {"cifar10": load_cifar10, "hands": load_hands}
DATASETS = tuple(_LOADERS)


def load_dataset(name: str, split: str = "train", root: str | Path | None = None, **options: Any) -> ImageSet:
    """:func:`load_cifar10` or :func:`load_hands` by name; ``options`` go to the loader (e.g. ``size=96``)."""
    if name not in _LOADERS:
        raise ValueError(f"unknown data set {name!r}: choose one of {', '.join(DATASETS)}")
    return _LOADERS[name](split, root, **options)


def normalisation_for(name: str, train: ImageSet) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and standard deviation to normalise ``name`` with: CIFAR-10's constants, else the training split's own."""
    if name == "cifar10":
        return CIFAR10_MEAN, CIFAR10_STD
    mean, std = train.mean_std()
    return tuple(round(m, 4) for m in mean), tuple(round(s, 4) for s in std)
