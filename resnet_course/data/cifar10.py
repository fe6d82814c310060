"""CIFAR-10 (Krizhevsky 2009, *Learning Multiple Layers of Features from Tiny Images*).

60,000 32x32 colour images in 10 classes, 50,000 for training and 10,000 for testing.
Two copies are understood, looked for in the data folder (:func:`data_root`) in this order:

1. ``cifar-10-batches-py/`` -- the official python batches, as torchvision downloads them
   (each file's MD5 checked by torchvision before it is read);
2. ``cifar10-jpg/<split>/<class>/*.jpg`` -- the same images re-encoded as JPEG (quality
   75) by a public mirror: pixels not bit-identical, accuracies a little lower; decoded
   once, then cached (:mod:`~resnet_course.data.cache`).

An incomplete or damaged official folder does not hide a valid JPEG copy: it is reported
in a warning and the JPEG copy is used. With neither, the official archive is downloaded
(its MD5 checked, then unpacked by :func:`~resnet_course.data.safety.safe_extract`);
offline, :class:`DataNotFoundError` says what to put where.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from resnet_course.data.cache import (
    IMAGE_SUFFIXES,
    cache_key,
    cached_image_set,
    decode_into,
)
from resnet_course.data.imageset import ImageSet, check_split
from resnet_course.data.paths import (
    DataNotFoundError,
    cache_root,
    data_root,
    writable_dir,
)
from resnet_course.data.safety import safe_extract

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CIFAR10_URL",
    "cifar10_jpeg_files",
    "download_cifar10",
    "load_cifar10",
    "official_batches_problem",
]


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
_BATCHES = "cifar-10-batches-py"
_BATCH_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                "test_batch", "batches.meta")


def _missing_message(root: Path, reason: str) -> str:
    return (
        f"CIFAR-10 was not found in {root} and {reason}: put the official batches in "
        f"{root / _BATCHES}/ or the JPEG copy in {root / 'cifar10-jpg'}/<split>/<class>/*.jpg, "
        "or set RESNET_COURSE_DATA to the folder that holds one of them.\n"
        f"  {root}/{_BATCHES}/   data_batch_1 ... data_batch_5, test_batch, batches.meta: "
        f"unpack {CIFAR10_URL} there;\n"
        f"  {root}/cifar10-jpg/train/<class>/*.jpg and {root}/cifar10-jpg/test/<class>/*.jpg, "
        f"one folder per class ({' '.join(CIFAR10_CLASSES)}).\n"
        "On the course machines: RESNET_COURSE_DATA=../shared/data."
    )


def download_cifar10(root: str | Path | None = None) -> Path:
    """Download the official CIFAR-10 python batches into ``root``; return ``root/cifar-10-batches-py``.

    The archive comes through torchvision's ``download_url``, which checks its MD5
    (``torchvision.datasets.CIFAR10.tgz_md5``), and is unpacked by :func:`safe_extract`,
    which writes no member outside ``root`` whatever the Python version.
    """
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import download_url

    root = data_root(root)
    if not writable_dir(root):
        raise PermissionError(f"cannot download into {root}: the folder is read-only")
    download_url(CIFAR10.url, str(root), CIFAR10.filename, CIFAR10.tgz_md5)
    safe_extract(root / CIFAR10.filename, root)
    (root / CIFAR10.filename).unlink()
    return root / _BATCHES


def official_batches_problem(root: Path) -> str | None:
    """Why ``root/cifar-10-batches-py`` cannot be used (a missing or empty file), or ``None``.

    Cheap (no file is read); the content is checked by torchvision's MD5s when loading.
    """
    folder = root / _BATCHES
    bad = [name for name in _BATCH_FILES if not (folder / name).is_file() or (folder / name).stat().st_size == 0]
    if bad:
        return f"{folder} is incomplete: {', '.join(bad)} {'is' if len(bad) == 1 else 'are'} missing or empty"
    return None


def _load_official(root: Path, split: str) -> ImageSet:
    """The official python batches, read by torchvision after it checks their MD5 (about a second)."""
    from torchvision.datasets import CIFAR10

    dataset = CIFAR10(str(root), train=split == "train", download=False)
    images = torch.from_numpy(np.ascontiguousarray(dataset.data)).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor(dataset.targets, dtype=torch.int64)
    return ImageSet(images, labels, list(dataset.classes), "CIFAR-10 (official batches)", split)


def cifar10_jpeg_files(split_dir: Path) -> tuple[list[str], list[int]]:
    """Every image under ``split_dir/<class>/``, classes in label order and files by name, with labels.

    The tree must hold exactly the ten CIFAR-10 class folders, none of them empty: a
    missing class would otherwise train silently on nine (issue 13).
    """
    folders = {p.name: p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")}
    unknown = sorted(set(folders) - set(CIFAR10_CLASSES))
    if unknown:
        raise DataNotFoundError(f"{split_dir} has folders that are not CIFAR-10 classes: {', '.join(unknown)}")
    missing = [name for name in CIFAR10_CLASSES if name not in folders]
    if missing:
        raise DataNotFoundError(f"{split_dir} lacks the class folder(s) {', '.join(missing)}: CIFAR-10 has ten "
                                f"classes ({' '.join(CIFAR10_CLASSES)}); restore the copy")
    files: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(CIFAR10_CLASSES):
        names = sorted(e.name for e in os.scandir(folders[name])
                       if os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES)
        if not names:
            raise DataNotFoundError(f"{folders[name]} holds no images (.jpg, .jpeg or .png); restore the copy")
        files += [os.path.join(folders[name], n) for n in names]
        labels += [label] * len(names)
    return files, labels


def _load_jpeg_copy(split_dir: Path, split: str, cache: Path) -> ImageSet:
    """The JPEG copy, decoded once and cached under a fingerprint of the files' content."""
    files, labels = cifar10_jpeg_files(split_dir)

    def decode() -> dict[str, object]:
        pixels = np.empty((len(files), 32, 32, 3), dtype=np.uint8)
        decode_into(pixels, files)
        return {"images": torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous(),
                "labels": torch.tensor(labels, dtype=torch.int64), "classes": list(CIFAR10_CLASSES),
                "variant": "CIFAR-10 (JPEG copy)"}

    return cached_image_set(cache / f"cifar10-jpg-{split}.pt", cache_key(files, split_dir), split, decode)


def load_cifar10(
    split: str = "train",
    root: str | Path | None = None,
    *,
    download: bool = True,
    cache_dir: str | Path | None = None,
) -> ImageSet:
    """Load one CIFAR-10 split (50,000 train / 10,000 test, 32x32 RGB) as an :class:`ImageSet`.

    The official batches if they are there and intact, else the JPEG copy, else a
    download when ``download`` is true (see the module docstring). The ``variant`` says
    which: ``"CIFAR-10 (official batches)"`` or ``"CIFAR-10 (JPEG copy)"``. Raises
    :class:`DataNotFoundError` saying what to put where, or
    :class:`~resnet_course.data.CorruptImageError` naming an undecodable file.
    """
    check_split(split)
    root = data_root(root)
    jpeg_dir = root / "cifar10-jpg" / split
    problem = official_batches_problem(root) if (root / _BATCHES).is_dir() else f"{root / _BATCHES} does not exist"
    if problem is None:
        try:
            return _load_official(root, split)
        except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted" (an MD5 mismatch)
            problem = f"{root / _BATCHES} is damaged ({exc})"
    if jpeg_dir.is_dir():
        if (root / _BATCHES).is_dir():
            warnings.warn(f"ignoring {problem}; using the JPEG copy in {jpeg_dir}", stacklevel=2)
        return _load_jpeg_copy(jpeg_dir, split, cache_root(cache_dir, data=root))
    if not download:
        raise DataNotFoundError(_missing_message(root, f"download=False ({problem})"))
    try:
        download_cifar10(root)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError; torchvision raises RuntimeError on a bad MD5
        raise DataNotFoundError(_missing_message(root, f"downloading it failed ({exc})")) from exc
    return _load_official(root, split)
