"""An image data set held whole in memory: :class:`ImageSet`, and the split names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["SPLITS", "ImageSet", "check_split"]


SPLITS = ("train", "test")


def check_split(split: str) -> None:
    """Raise a ValueError listing the valid split names unless ``split`` is one."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits are {', '.join(SPLITS)}")


@dataclass
class ImageSet:
    """One split of an image data set, held whole in memory.

    ``images`` is ``uint8`` of shape N x 3 x H x W, ``labels`` is ``int64`` of shape N,
    ``classes[k]`` names label ``k``, ``variant`` says which copy of the data this is
    (print it next to any result) and ``split`` is ``"train"`` or ``"test"``.
    ``sources``, when known, names where each sample came from (for the hand gestures:
    the photo's file name, which :mod:`~resnet_course.data.splits` groups by recording
    session).
    """

    images: Tensor
    labels: Tensor
    classes: list[str]
    variant: str
    split: str
    sources: list[str] | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images must be uint8 N x 3 x H x W, got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"{self.images.shape[0]} images but labels of shape {tuple(self.labels.shape)}")
        if self.sources is not None and len(self.sources) != len(self.labels):
            raise ValueError(f"{len(self.labels)} images but {len(self.sources)} sources")

    def __len__(self) -> int:
        return self.images.shape[0]

    def __repr__(self) -> str:
        n, _, h, w = self.images.shape
        return f"ImageSet({self.variant!r}, split={self.split!r}, n={n}, size={h}x{w}, classes={len(self.classes)})"

    def class_counts(self) -> list[int]:
        """How many samples each class has, in label order."""
        return torch.bincount(self.labels, minlength=len(self.classes)).tolist()

    def select(self, indices: Sequence[int] | Tensor, split: str | None = None) -> ImageSet:
        """The samples at ``indices`` (in that order), as a new set; ``split`` renames its split."""
        index = torch.as_tensor(indices, dtype=torch.long)
        sources = [self.sources[i] for i in index.tolist()] if self.sources is not None else None
        return ImageSet(self.images[index], self.labels[index], list(self.classes), self.variant,
                        split or self.split, sources)

    @classmethod
    def concatenate(cls, parts: Sequence[ImageSet], split: str) -> ImageSet:
        """One set holding ``parts`` one after the other (same classes and variant required)."""
        if not parts or any(p.classes != parts[0].classes or p.variant != parts[0].variant for p in parts):
            raise ValueError("concatenate needs at least one set, all with the same classes and variant")
        known = all(p.sources is not None for p in parts)
        sources = [s for p in parts for s in (p.sources or [])] if known else None
        return cls(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]),
                   list(parts[0].classes), parts[0].variant, split, sources)

    def subset(self, n: int, seed: int = 0) -> ImageSet:
        """A seeded, class-balanced subset of ``n`` samples (kept in their original order).

        Classes take turns, each contributing its next randomly chosen sample, so every
        class gets ``n // num_classes`` or one more -- unless it runs out, in which case
        the others fill in.
        """
        if not 0 < n <= len(self):
            raise ValueError(f"subset size must be in 1..{len(self)}, got {n}")
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(self), generator=generator)
        shuffled_labels = self.labels[order]
        # rank of each sample within its class, in shuffled order: 0 for the first cat, ...
        rank = torch.empty(len(self), dtype=torch.long)
        for label in shuffled_labels.unique():
            members = (shuffled_labels == label).nonzero().squeeze(1)
            rank[members] = torch.arange(len(members))
        # round robin: all rank-0 samples first, then all rank-1 samples, ...
        key = rank * len(self) + torch.arange(len(self))
        return self.select(order[key.argsort()[:n]].sort().values)

    def mean_std(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """Per-channel mean and standard deviation of the pixels, scaled to [0, 1].

        Computed exactly from a 256-bin histogram per channel, so it needs no float copy
        of the data. Use the *training* split's statistics for every split.
        """
        means, stds = [], []
        for channel in range(3):
            counts = torch.bincount(self.images[:, channel].reshape(-1), minlength=256).double()
            values = torch.arange(256, dtype=torch.float64) / 255
            mean = (counts * values).sum() / counts.sum()
            var = (counts * (values - mean) ** 2).sum() / counts.sum()
            means.append(round(mean.item(), 4))
            stds.append(round(var.sqrt().item(), 4))
        return tuple(means), tuple(stds)  # type: ignore[return-value]
