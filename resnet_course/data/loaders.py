"""Loaders: the tensor-resident :class:`TensorLoader` and the usual torchvision ``DataLoader``.

:class:`TensorLoader` is the fast path in the style of airbench (Keller Jordan,
https://github.com/KellerJordan/cifar10-airbench): the split lives on the training device
and each batch is cropped, flipped and normalised there as a few tensor ops.
:func:`torchvision_loader` is the conventional path (PIL image, ``RandomCrop``,
``RandomHorizontalFlip``, ``ToTensor``, ``Normalize``, one image at a time), kept so the
book can measure what the fast path saves. Both apply the augmentation of He et al. 2015,
§4.2: "4 pixels are padded on each side, and a 32x32 crop is randomly sampled from the
padded image or its horizontal flip".
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from resnet_course.data.cifar10 import CIFAR10_MEAN, CIFAR10_STD
from resnet_course.data.imageset import ImageSet

__all__ = ["PILImageDataset", "TensorLoader", "torchvision_loader"]


# --------------------------------------------------------------------------- the whole split on the device


class TensorLoader:
    """Batches of a whole :class:`ImageSet` kept on the training device (airbench style).

    The images stay ``uint8`` on ``device``; each batch is gathered, randomly cropped and
    flipped, converted and normalised there, with no worker processes and no PIL.

    * Random crop: zero padding of ``pad`` pixels on each side (as torchvision's
      ``RandomCrop(padding=4)``), then a crop back to H x W at a random offset per image
      -- done as one gather with per-image row and column indices, never materialising
      the padded images.
    * Horizontal flip with probability 1/2 per image, folded into the same gather.
    * Normalisation ``(x / 255 - mean) / std`` as one fused multiply-add in float32, then
      cast to ``dtype`` (e.g. ``torch.bfloat16``) and, if asked, ``channels_last``.

    Order and augmentation come from a CPU ``torch.Generator`` seeded with ``(seed,
    epoch)``: the same epoch always yields the same batches, on any device, which makes
    resuming exact. Iterating advances the epoch by one, so a loop that never calls
    :meth:`set_epoch` still sees a new order each epoch; call ``set_epoch`` to be explicit.

    For DDP, :meth:`shard` (or ``rank``/``world_size``) gives each rank a disjoint,
    equal-sized, strided slice of each epoch's permutation (as ``DistributedSampler``); the
    ``len(data) % world_size`` samples left over by a permutation are skipped that epoch.
    """

    def __init__(
        self,
        data: ImageSet,
        *,
        batch_size: int = 128,
        shuffle: bool = True,
        augment: bool = True,
        pad: int = 4,
        flip: bool = True,
        mean: Sequence[float] = CIFAR10_MEAN,
        std: Sequence[float] = CIFAR10_STD,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        channels_last: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        self.dataset = data
        self.batch_size = batch_size
        self.shuffle, self.augment, self.pad, self.flip = shuffle, augment, pad, flip
        self.device = torch.device(device)
        self.dtype, self.channels_last, self.drop_last = dtype, channels_last, drop_last
        self.seed, self.epoch = seed, 0
        self.rank, self.world_size = rank, world_size
        self.num_samples = len(data) // world_size
        self._check_a_full_batch()
        self.images = data.images.to(self.device)  # uint8 until a batch is made
        self.labels = data.labels.to(self.device)
        mean_t = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        std_t = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self._scale = 1 / (255 * std_t)  # x_norm = x_uint8 * scale + shift
        self._shift = -mean_t / std_t

    def _check_a_full_batch(self) -> None:
        """With ``drop_last`` a rank needs one full batch, or an epoch would have no step at all."""
        if self.drop_last and self.num_samples < self.batch_size:
            share = f" ({self.num_samples} for each of {self.world_size} ranks)" if self.world_size > 1 else ""
            raise ValueError(f"{len(self.dataset)} samples{share} make no full batch of {self.batch_size} with "
                             f"drop_last=True: use at least {self.batch_size * self.world_size} samples, a smaller "
                             f"batch size, or drop_last=False")

    def __len__(self) -> int:
        """Batches per epoch for this rank."""
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def __repr__(self) -> str:
        return (
            f"TensorLoader({self.dataset!r}, batch_size={self.batch_size}, batches={len(self)}, "
            f"augment={self.augment}, device={self.device}, rank={self.rank}/{self.world_size})"
        )

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order and augmentation the next iteration yields."""
        self.epoch = epoch

    def shard(self, rank: int, world_size: int) -> TensorLoader:
        """A view of this loader for one DDP rank (shares the device tensors)."""
        if not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        view = copy.copy(self)
        view.rank, view.world_size = rank, world_size
        view.num_samples = len(self.dataset) // world_size
        view._check_a_full_batch()
        return view

    def _epoch_plan(self, epoch: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """This rank's sample indices, crop offsets and flips for ``epoch``, on the device.

        All randomness is drawn for the whole epoch at once, then sliced, so the ranks of a
        sharded loader together see exactly what one unsharded loader would.
        """
        n = len(self.dataset)
        # torch's CPU generator (a Mersenne Twister) keeps only 32 bits of its seed, so
        # (seed, epoch) is hashed into 32 bits rather than packed into 64.
        mixed = hashlib.blake2b(f"{self.seed},{epoch}".encode(), digest_size=4).digest()
        generator = torch.Generator().manual_seed(int.from_bytes(mixed, "little"))
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        dy = torch.randint(0, 2 * self.pad + 1, (n,), generator=generator)
        dx = torch.randint(0, 2 * self.pad + 1, (n,), generator=generator)
        flips = torch.rand(n, generator=generator) < 0.5
        mine = slice(self.rank, self.num_samples * self.world_size, self.world_size)
        return tuple(t[mine].to(self.device) for t in (order, dy, dx, flips))  # type: ignore[return-value]

    def _crop_flip(self, index: Tensor, dy: Tensor, dx: Tensor, flips: Tensor) -> Tensor:
        """Batched random crop (zero padding) and horizontal flip as one gather.

        Output pixel (i, j) of image b is padded pixel (dy[b] + i, dx[b] + j), i.e. source
        pixel (dy[b] + i - pad, dx[b] + j - pad); a flipped image reads column W - 1 - j
        of its crop instead. Source positions outside the image read as zero.
        """
        _, channels, height, width = self.images.shape
        i = torch.arange(height, device=self.device)
        j = torch.arange(width, device=self.device)
        if self.flip:
            j = torch.where(flips[:, None], width - 1 - j, j)  # (B, W)
        rows = dy[:, None] + i - self.pad  # (B, H)
        cols = dx[:, None] + j - self.pad  # (B, W)
        inside = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None, :]
        c = torch.arange(channels, device=self.device)
        pixels = self.images[
            index[:, None, None, None],
            c[None, :, None, None],
            rows.clamp(0, height - 1)[:, None, :, None],
            cols.clamp(0, width - 1)[:, None, None, :],
        ]
        return pixels * inside[:, None]  # uint8 * bool stays uint8

    def _normalise(self, pixels: Tensor) -> Tensor:
        x = torch.addcmul(self._shift, pixels.float(), self._scale)  # (x / 255 - mean) / std
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        return x.to(dtype=self.dtype, memory_format=memory_format)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order, dy, dx, flips = self._epoch_plan(self.epoch)
        self.epoch += 1
        for batch in range(len(self)):
            part = slice(batch * self.batch_size, (batch + 1) * self.batch_size)
            index = order[part]
            if self.augment:
                pixels = self._crop_flip(index, dy[part], dx[part], flips[part])
            else:
                pixels = self.images[index]
            yield self._normalise(pixels), self.labels[index]


# --------------------------------------------------------------------------- PIL and torchvision, one image at a time


class PILImageDataset(torch.utils.data.Dataset):
    """An :class:`ImageSet` seen as PIL images, each passed through ``transform``."""

    def __init__(self, data: ImageSet, transform: Callable[[Image.Image], Any] | None = None) -> None:
        self.images = data.images.permute(0, 2, 3, 1).numpy()  # N x H x W x 3 view, no copy
        self.labels = data.labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        image = Image.fromarray(np.ascontiguousarray(self.images[i]))
        return (self.transform(image) if self.transform else image), self.labels[i]


def torchvision_loader(
    data: ImageSet,
    *,
    batch_size: int = 128,
    train: bool = True,
    num_workers: int = 2,
    mean: Sequence[float] = CIFAR10_MEAN,
    std: Sequence[float] = CIFAR10_STD,
    pad: int = 4,
) -> torch.utils.data.DataLoader:
    """The ``DataLoader`` most tutorials write: PIL image -> ``RandomCrop(padding=4)`` ->
    ``RandomHorizontalFlip`` -> ``ToTensor`` -> ``Normalize``, per image, in worker processes.

    ``train=False`` keeps only ``ToTensor`` and ``Normalize`` and does not shuffle. Same
    augmentation as :class:`TensorLoader`, only slower -- that difference is the point.
    """
    from torchvision import transforms

    height, width = data.images.shape[2:]
    steps = [transforms.RandomCrop((height, width), padding=pad), transforms.RandomHorizontalFlip()] if train else []
    steps += [transforms.ToTensor(), transforms.Normalize(mean, std)]
    return torch.utils.data.DataLoader(
        PILImageDataset(data, transforms.Compose(steps)),
        batch_size=batch_size,
        shuffle=train,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )
