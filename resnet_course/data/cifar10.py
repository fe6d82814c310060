"""CIFAR-10 (Krizhevsky 2009): the official batches or the JPEG copy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:  # imported lazily at run time: matplotlib is slow to import
    pass
from resnet_course.data.cache import (
    CACHE_FORMAT,
    IMAGE_SUFFIXES,
    decode_into,
    fingerprint,
    image_set_from_blob,
    load_cache,
    save_cache,
)
from resnet_course.data.imageset import ImageSet, check_split
from resnet_course.data.paths import (
    DataNotFoundError,
    cache_root,
    data_root,
    writable_dir,
)

__all__ = ["CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD", "CIFAR10_URL", "download_cifar10", "load_cifar10"]


# ----------------------------------------------------------------------------------------
# Constants
# ----------------------------------------------------------------------------------------

#: CIFAR-10 label order (Krizhevsky 2009, ``batches.meta``): alphabetical.
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip
#: Per-channel mean and standard deviation of the official CIFAR-10 training pixels in
#: [0, 1] (the values airbench uses). The often-copied (0.2023, 0.1994, 0.2010) is the
#: mean of per-image standard deviations, not the standard deviation of the pixels.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


# ----------------------------------------------------------------------------------------
# 3. CIFAR-10
# ----------------------------------------------------------------------------------------


def _cifar_missing_message(root: Path, reason: str) -> str:
    return (
        f"CIFAR-10 was not found in {root} and {reason}.\n"
        "Put either layout in that folder:\n"
        f"  {root}/cifar-10-batches-py/   the official python batches (data_batch_1 ... data_batch_5,\n"
        f"      test_batch, batches.meta): unpack {CIFAR10_URL} there;\n"
        f"  {root}/cifar10-jpg/train/<class>/*.jpg and {root}/cifar10-jpg/test/<class>/*.jpg\n"
        f"      the JPEG folder layout, one folder per class ({' '.join(CIFAR10_CLASSES)}).\n"
        "Or point the RESNET_COURSE_DATA environment variable at the folder that holds them "
        "(on the course machines: ../shared/data)."
    )


def download_cifar10(root: str | Path | None = None) -> Path:
    """Download and unpack the official CIFAR-10 python batches into ``root``.

    Uses ``torchvision.datasets.CIFAR10(download=True)``, which fetches
    :data:`CIFAR10_URL` and checks its MD5 before unpacking. Returns
    ``root/cifar-10-batches-py``.
    """
    from torchvision.datasets import CIFAR10

    root = data_root(root)
    if not writable_dir(root):
        raise PermissionError(f"cannot download into {root}: the folder is read-only")
    CIFAR10(str(root), train=True, download=True)
    return root / "cifar-10-batches-py"


def _cifar_jpeg_files(split_dir: Path) -> tuple[list[str], list[int]]:
    """All images under ``split_dir/<class>/`` in a fixed order, with CIFAR-10 labels."""
    files: list[str] = []
    labels: list[int] = []
    class_dirs = sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [p.name for p in class_dirs if p.name not in CIFAR10_CLASSES]
    if unknown:
        raise ValueError(f"{split_dir} has folders that are not CIFAR-10 classes: {unknown}")
    for class_dir in class_dirs:
        names = sorted(e.name for e in os.scandir(class_dir) if os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES)
        files += [os.path.join(class_dir, name) for name in names]
        labels += [CIFAR10_CLASSES.index(class_dir.name)] * len(names)
    return files, labels


def _load_cifar10_jpeg(split_dir: Path, split: str, cache: Path) -> ImageSet:
    """Decode the JPEG folder layout once; later calls read the cached tensors."""
    files, labels = _cifar_jpeg_files(split_dir)
    if not files:
        raise DataNotFoundError(f"no images in {split_dir}/<class>/")
    key = {"format": CACHE_FORMAT, "source": str(split_dir.resolve()), "fingerprint": fingerprint(files, split_dir)}
    cache_file = cache / f"cifar10-jpg-{split}.pt"
    blob = load_cache(cache_file, key)
    if blob is None:
        pixels = np.empty((len(files), 32, 32, 3), dtype=np.uint8)
        decode_into(pixels, files)
        blob = {
            "key": key,
            "images": torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous(),
            "labels": torch.tensor(labels, dtype=torch.int64),
            "classes": list(CIFAR10_CLASSES),
            "variant": "CIFAR-10 (JPEG copy)",
        }
        save_cache(cache_file, blob)
    return image_set_from_blob(blob, split)


def _load_cifar10_batches(root: Path, split: str) -> ImageSet:
    """The official python batches, read by torchvision (about a second, no cache needed)."""
    from torchvision.datasets import CIFAR10

    dataset = CIFAR10(str(root), train=split == "train", download=False)
    images = torch.from_numpy(np.ascontiguousarray(dataset.data)).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor(dataset.targets, dtype=torch.int64)
    return ImageSet(images, labels, list(dataset.classes), "CIFAR-10 (official batches)", split)


def load_cifar10(
    split: str = "train",
    root: str | Path | None = None,
    *,
    download: bool = True,
    cache_dir: str | Path | None = None,
) -> ImageSet:
    """Load one CIFAR-10 split (Krizhevsky 2009: 50,000 train / 10,000 test, 32x32 RGB).

    Looks in :func:`data_root` for, in this order:

    1. ``cifar-10-batches-py/`` -- the official files, variant ``"CIFAR-10 (official batches)"``;
    2. ``cifar10-jpg/<split>/<class>/*.jpg`` -- the JPEG copy, variant ``"CIFAR-10 (JPEG copy)"``.
       Its pixels went through JPEG compression (quality 75), so accuracies come out a
       little lower than on the official files. Decoded once, then cached in
       :func:`cache_root` under a fingerprint of the files.

    If neither is there and ``download`` is true, the official files are downloaded
    (:func:`download_cifar10`); if that fails, :class:`DataNotFoundError` says where to
    put what. A file that cannot be decoded raises :class:`CorruptImageError` naming it.
    """
    check_split(split)
    root = data_root(root)
    if not (root / "cifar-10-batches-py").is_dir() and not (root / "cifar10-jpg" / split).is_dir():
        if not download:
            raise DataNotFoundError(_cifar_missing_message(root, "download=False"))
        try:
            download_cifar10(root)
        except (OSError, RuntimeError) as exc:  # URLError is an OSError; torchvision raises RuntimeError on bad MD5
            raise DataNotFoundError(_cifar_missing_message(root, f"downloading it failed ({exc})")) from exc
    if (root / "cifar-10-batches-py").is_dir():
        return _load_cifar10_batches(root, split)
    return _load_cifar10_jpeg(root / "cifar10-jpg" / split, split, cache_root(cache_dir, data=root))
