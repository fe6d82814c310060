"""The course's data: CIFAR-10, the HandsDataset gestures, and two ways to feed them.

What is here, top to bottom:

1. Where data and caches live (:func:`data_root`, :func:`cache_root`).
2. :class:`ImageSet` -- a whole split as one ``uint8`` tensor plus labels and class names.
3. :func:`load_cifar10` -- the official python batches through torchvision, or the
   ``cifar10-jpg/<split>/<class>/*.jpg`` folder layout, decoded once and cached.
4. :func:`load_hands` -- the HandsDataset (SubhiH/HandsDataset on GitHub), one square crop
   per labelled box, with a verified download and a safe archive extractor.
5. :class:`TensorLoader` -- the fast path in the style of airbench (Keller Jordan,
   https://github.com/KellerJordan/cifar10-airbench): the split lives on the training
   device and each batch is cropped, flipped and normalised there as a few tensor ops.
6. :func:`torchvision_loader` -- the conventional path (PIL image, ``RandomCrop``,
   ``RandomHorizontalFlip``, ``ToTensor``, ``Normalize``, one image at a time), kept so
   the book can measure what the fast path saves.
7. :func:`show_samples` -- a grid of images with their class names.

The augmentation is the one of He et al., "Deep Residual Learning for Image
Recognition" (CVPR 2016), Sec. 4.2: "4 pixels are padded on each side, and a 32x32 crop
is randomly sampled from the padded image or its horizontal flip".
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import math
import os
import shutil
import stat
import tarfile
import tempfile
import urllib.request
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor

if TYPE_CHECKING:  # imported lazily at run time: matplotlib is slow to import
    from matplotlib.figure import Figure

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "HANDS_CLASSES",
    "HANDS_COMMIT",
    "HANDS_SHA256",
    "DataNotFoundError",
    "CorruptImageError",
    "ChecksumError",
    "UnsafeArchiveError",
    "ImageSet",
    "data_root",
    "cache_root",
    "load_cifar10",
    "download_cifar10",
    "load_hands",
    "download_hands",
    "hand_crop_box",
    "safe_extract",
    "verify_sha256",
    "sha256_file",
    "TensorLoader",
    "torchvision_loader",
    "PILImageDataset",
    "show_samples",
]

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
#: ImageNet statistics (torchvision's pretrained models): use these with pretrained weights.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"

#: HandsDataset labels: the number of extended fingers.
HANDS_CLASSES = ["0-hand", "1-hand", "2-hand", "3-hand", "4-hand", "5-hand"]
#: The pinned commit of github.com/SubhiH/HandsDataset (2018-11-02). Only its first
#: eight hex digits are recorded in the course's data notes; GitHub resolves an
#: abbreviated commit in an archive URL. The CSV checksums below are what guarantees the
#: content, so the ``master`` archive is tried if the pinned one cannot be fetched.
HANDS_COMMIT = "73228cb5"
HANDS_URLS = (
    f"https://github.com/SubhiH/HandsDataset/archive/{HANDS_COMMIT}.tar.gz",
    "https://github.com/SubhiH/HandsDataset/archive/refs/heads/master.tar.gz",
)
#: SHA-256 of the original CSVs (800x600 coordinates), relative to the dataset folder.
HANDS_SHA256 = {
    "data/train_labels.csv": "ba5cce9f23e06387d5bc8f8ada22f771f5b25f4107f2652a8c46d245698ea96e",
    "data/test_labels.csv": "ad270a2ee0208a1b9e21663f182b88e5efa89335d23c0f5371bf5a338136045b",
}

SPLITS = ("train", "test")
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
_CACHE_FORMAT = 1  # bump when the cached layout or the decoding changes


class DataNotFoundError(FileNotFoundError):
    """The data is not on disk and could not be downloaded; the message says what to do."""


class CorruptImageError(ValueError):
    """An image file could not be decoded (truncated, not an image, wrong size)."""


class ChecksumError(ValueError):
    """A downloaded file does not have the expected SHA-256."""


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the target folder, or is a link or device."""


# ----------------------------------------------------------------------------------------
# 1. Where things live
# ----------------------------------------------------------------------------------------


def data_root(root: str | Path | None = None) -> Path:
    """The data folder: ``root`` if given, else ``$RESNET_COURSE_DATA``, else
    ``~/.cache/resnet_course/data``. Nothing is created here."""
    if root is None:
        root = os.environ.get("RESNET_COURSE_DATA") or Path.home() / ".cache" / "resnet_course" / "data"
    return Path(root).expanduser()


def _writable_dir(path: Path) -> bool:
    """Create ``path`` if needed and say whether files may be written in it.

    Permission bits are honoured even for root, who could write anywhere: a folder marked
    read-only (like the course machines' shared data) is never written to.
    """

    def allowed(folder: Path) -> bool:
        return os.access(folder, os.W_OK | os.X_OK) and bool(folder.stat().st_mode & 0o222)

    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not allowed(existing):
        return False
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return allowed(path)


def cache_root(cache: str | Path | None = None, *, data: str | Path | None = None) -> Path:
    """The folder for decoded-tensor caches (created if missing).

    ``cache`` if given, else ``$RESNET_COURSE_CACHE``, else ``<data root>/.cache`` when that
    is writable (the shared course data is read-only), else ``~/.cache/resnet_course/cache``,
    else a folder in the system's temporary directory.
    """
    explicit = cache if cache is not None else os.environ.get("RESNET_COURSE_CACHE")
    if explicit:
        path = Path(explicit).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path
    candidates = [
        data_root(data) / ".cache",
        Path.home() / ".cache" / "resnet_course" / "cache",
        Path(tempfile.gettempdir()) / "resnet_course_cache",
    ]
    for path in candidates:
        if _writable_dir(path):
            return path
    raise OSError(f"no writable cache folder among {[str(p) for p in candidates]}; set RESNET_COURSE_CACHE")


# ----------------------------------------------------------------------------------------
# 2. ImageSet
# ----------------------------------------------------------------------------------------


@dataclass
class ImageSet:
    """One split of an image data set, held whole in memory.

    ``images`` is ``uint8`` of shape N x 3 x H x W, ``labels`` is ``int64`` of shape N,
    ``classes[k]`` names label ``k``, ``variant`` says which copy of the data this is
    (print it next to any result) and ``split`` is ``"train"`` or ``"test"``.
    """

    images: Tensor
    labels: Tensor
    classes: list[str]
    variant: str
    split: str

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images must be uint8 N x 3 x H x W, got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"{self.images.shape[0]} images but labels of shape {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return self.images.shape[0]

    def __repr__(self) -> str:
        n, _, h, w = self.images.shape
        return f"ImageSet({self.variant!r}, split={self.split!r}, n={n}, size={h}x{w}, classes={len(self.classes)})"

    def class_counts(self) -> list[int]:
        """How many samples each class has, in label order."""
        return torch.bincount(self.labels, minlength=len(self.classes)).tolist()

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
        chosen = order[key.argsort()[:n]].sort().values
        return ImageSet(self.images[chosen], self.labels[chosen], list(self.classes), self.variant, self.split)

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


# ----------------------------------------------------------------------------------------
# Shared helpers: split names, decoding, fingerprints, the on-disk cache
# ----------------------------------------------------------------------------------------


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits are {', '.join(SPLITS)}")


def _open_rgb(path: str | Path) -> Image.Image:
    """Decode one image file fully into an RGB PIL image, or raise :class:`CorruptImageError`.

    Pillow decodes lazily; ``load()`` forces the whole file through the decoder, so a
    truncated JPEG fails here ("image file is truncated") rather than later -- unless
    some other code set ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True``. Reading the bytes
    first and decoding from memory is measurably faster for tiny files.
    """
    try:
        with open(path, "rb") as file:
            image = Image.open(io.BytesIO(file.read()))
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise CorruptImageError(f"cannot decode image {path}: {exc}") from exc
    return image if image.mode == "RGB" else image.convert("RGB")


def _parallel(work: Callable[[range], None], n: int) -> None:
    """Run ``work(indices)`` on ``os.cpu_count()`` threads, each over a strided share of
    ``range(n)``; re-raise the first error. Pillow releases the GIL while it decodes, and
    one task per thread (not per file) keeps the pool's own overhead out of the way."""
    workers = max(1, min(8, os.cpu_count() or 1, n))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(work, [range(k, n, workers) for k in range(workers)]):
            pass


def _decode_into(out: np.ndarray, paths: Sequence[str | Path]) -> None:
    """Decode ``paths[i]`` into ``out[i]`` (H x W x 3 uint8).

    The decoder is looked up at call time (tests replace it to prove the cache is used).
    """
    height, width = out.shape[1:3]

    def decode(indices: range) -> None:
        for i in indices:
            image = _open_rgb(paths[i])
            if image.size != (width, height):
                raise CorruptImageError(f"image {paths[i]} is {image.size[0]}x{image.size[1]}, expected {width}x{height}")
            out[i] = np.frombuffer(image.tobytes(), dtype=np.uint8).reshape(height, width, 3)

    _parallel(decode, len(paths))


def _fingerprint(files: Sequence[str | Path], base: str | Path) -> str:
    """A digest of each file's path (relative to ``base``), size and modification time.

    Any added, removed, renamed, resized or touched file changes it; the files are only
    ``stat``-ed, never read. Plain strings, not ``pathlib``, keep 50,000 files well under
    a second.
    """
    digest = hashlib.sha256()
    prefix = len(str(base)) + 1
    for path in map(str, files):
        info = os.stat(path)
        digest.update(f"{path[prefix:]}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _load_cache(path: Path, key: dict) -> dict | None:
    """The cached tensors at ``path`` if the file is readable and was made from ``key``.

    ``weights_only=True`` makes ``torch.load`` refuse anything but tensors and plain
    containers, so a tampered cache cannot run code. A stale, corrupt or foreign file is
    ignored (and later overwritten), never trusted.
    """
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated file, not a torch file, unpickling refused, ...
        warnings.warn(f"ignoring unreadable cache {path} ({type(exc).__name__}: {exc}); rebuilding it", stacklevel=3)
        return None
    if not isinstance(blob, dict) or blob.get("key") != key:
        return None
    images, labels = blob.get("images"), blob.get("labels")
    if not (isinstance(images, Tensor) and isinstance(labels, Tensor) and isinstance(blob.get("classes"), list)):
        return None
    if images.dtype != torch.uint8 or labels.dtype != torch.int64 or images.shape[:1] != labels.shape:
        return None
    return blob


def _save_cache(path: Path, blob: dict) -> None:
    """Write ``blob`` atomically: to a temporary file in the same folder, then rename.

    A crash mid-write leaves the old cache (or none), never half a file. Failing to write
    a cache is not an error -- the data is in memory already -- so it only warns.
    """
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as file:
            torch.save(blob, file)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache may be shared
        os.replace(tmp, path)
    except OSError as exc:
        warnings.warn(f"could not write cache {path}: {exc}", stacklevel=3)
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _image_set_from_blob(blob: dict, split: str) -> ImageSet:
    return ImageSet(blob["images"], blob["labels"], list(blob["classes"]), str(blob["variant"]), split)


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
    if not _writable_dir(root):
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
        names = sorted(e.name for e in os.scandir(class_dir) if os.path.splitext(e.name)[1].lower() in _IMAGE_SUFFIXES)
        files += [os.path.join(class_dir, name) for name in names]
        labels += [CIFAR10_CLASSES.index(class_dir.name)] * len(names)
    return files, labels


def _load_cifar10_jpeg(split_dir: Path, split: str, cache: Path) -> ImageSet:
    """Decode the JPEG folder layout once; later calls read the cached tensors."""
    files, labels = _cifar_jpeg_files(split_dir)
    if not files:
        raise DataNotFoundError(f"no images in {split_dir}/<class>/")
    key = {"format": _CACHE_FORMAT, "source": str(split_dir.resolve()), "fingerprint": _fingerprint(files, split_dir)}
    cache_file = cache / f"cifar10-jpg-{split}.pt"
    blob = _load_cache(cache_file, key)
    if blob is None:
        pixels = np.empty((len(files), 32, 32, 3), dtype=np.uint8)
        _decode_into(pixels, files)
        blob = {
            "key": key,
            "images": torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous(),
            "labels": torch.tensor(labels, dtype=torch.int64),
            "classes": list(CIFAR10_CLASSES),
            "variant": "CIFAR-10 (JPEG copy)",
        }
        _save_cache(cache_file, blob)
    return _image_set_from_blob(blob, split)


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
    _check_split(split)
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


# ----------------------------------------------------------------------------------------
# 4. HandsDataset
# ----------------------------------------------------------------------------------------


def _hands_missing_message(root: Path, reason: str) -> str:
    return (
        f"The HandsDataset was not found in {root / 'hands'} and {reason}.\n"
        f"Expected {root / 'hands'}/data/train_labels.csv, {root / 'hands'}/data/test_labels.csv "
        f"and the photos in {root / 'hands'}/images/<filename>.jpg.\n"
        f"To get it by hand: download {HANDS_URLS[0]} (about 200 MB), unpack it and rename the "
        f"folder inside to {root / 'hands'}; with internet, load_hands(download=True) does that "
        "and checks the CSVs' SHA-256. Or point the RESNET_COURSE_DATA environment variable at "
        "the folder that holds hands/ (on the course machines: ../shared/data)."
    )


def _hands_present(folder: Path) -> bool:
    return all((folder / name).is_file() for name in HANDS_SHA256) and (folder / "images").is_dir()


def sha256_file(path: Path) -> str:
    """The SHA-256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | Path, expected: str) -> None:
    """Raise :class:`ChecksumError` naming ``path`` and both digests unless they match."""
    actual = sha256_file(Path(path))
    if actual != expected.lower():
        raise ChecksumError(f"checksum mismatch for {path}: expected SHA-256 {expected}, got {actual}")


def _download_file(url: str, dest: Path, timeout: float = 60.0) -> None:
    """Stream ``url`` to ``dest`` through a ``.part`` file that is renamed when complete."""
    from tqdm.auto import tqdm

    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        os.replace(part, dest)
    finally:
        if part.exists():
            part.unlink()


def _check_member(dest: Path, name: str, is_link: bool, is_special: bool) -> Path:
    """Where archive member ``name`` would be written, or :class:`UnsafeArchiveError`."""
    if is_link or is_special:
        raise UnsafeArchiveError(f"archive member {name!r} is a link or special file; refusing to extract")
    target = (dest / name).resolve()
    if Path(name).is_absolute() or not target.is_relative_to(dest.resolve()):
        raise UnsafeArchiveError(f"archive member {name!r} would be written outside {dest}; refusing to extract")
    return target


def safe_extract(archive: str | Path, dest: str | Path) -> list[Path]:
    """Extract a ``.zip`` or tar archive into ``dest``, refusing unsafe archives.

    Every member is checked *before* anything is written: an absolute path, a path that
    resolves outside ``dest`` (``../evil``), a symbolic or hard link, or a device file
    rejects the whole archive with :class:`UnsafeArchiveError` (the "zip slip" and
    tar path-traversal attacks, CVE-2007-4559). Returns the files written.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            targets = []
            for info in members:
                mode = info.external_attr >> 16
                targets.append(_check_member(dest, info.filename, stat.S_ISLNK(mode), False))
            for info, target in zip(members, targets):
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
                written.append(target)
        return written
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        targets = [_check_member(dest, m.name, m.issym() or m.islnk(), not (m.isfile() or m.isdir())) for m in members]
        for member, target in zip(members, targets):
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(member)
            assert src is not None  # regular files always have data
            with src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            written.append(target)
    return written


def download_hands(root: str | Path | None = None) -> Path:
    """Download the HandsDataset into ``root/hands`` and verify it; return that folder.

    Fetches the GitHub archive of SubhiH/HandsDataset (pinned commit :data:`HANDS_COMMIT`,
    repository layout ``data/{train,test}_labels.csv``, ``images/*.jpg`` plus one VOC
    ``.xml`` per image), extracts it with :func:`safe_extract` into a temporary folder next
    to the target, checks both CSVs against :data:`HANDS_SHA256`, and only then renames
    the folder into place. Any failure leaves nothing behind.
    """
    root = data_root(root)
    target = root / "hands"
    if _hands_present(target):
        return target
    if target.exists() and any(target.iterdir()):
        raise DataNotFoundError(f"{target} exists but is incomplete; remove it and try again")
    if not _writable_dir(root):
        raise PermissionError(f"cannot download into {root}: the folder is read-only")
    with tempfile.TemporaryDirectory(dir=root, prefix=".hands-download-") as tmp:
        archive = Path(tmp) / "HandsDataset.tar.gz"
        errors = []
        for url in HANDS_URLS:
            try:
                _download_file(url, archive)
                break
            except OSError as exc:  # urllib's URLError and HTTPError are OSErrors
                errors.append(f"{url}: {exc}")
        else:
            raise OSError("could not download the HandsDataset: " + "; ".join(errors))
        staging = Path(tmp) / "extracted"
        safe_extract(archive, staging)
        found = [p.parent.parent for p in staging.glob("*/data/train_labels.csv")]
        found += [staging] if (staging / "data" / "train_labels.csv").is_file() else []
        if len(found) != 1:
            raise DataNotFoundError("the downloaded archive does not have the expected layout (*/data/train_labels.csv)")
        for name, expected in HANDS_SHA256.items():
            verify_sha256(found[0] / name, expected)
        if target.exists():
            target.rmdir()  # empty, checked above
        os.replace(found[0], target)
    return target


def _read_hands_csv(path: Path) -> list[dict]:
    """The rows of a HandsDataset label file, numbers converted to ``int``."""
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        for column in ("width", "height", "xmin", "ymin", "xmax", "ymax"):
            row[column] = int(float(row[column]))
        if row["class"] not in HANDS_CLASSES:
            raise ValueError(f"{path}: unknown class {row['class']!r} for {row['filename']}")
    return rows


def hand_crop_box(row: dict, image_size: tuple[int, int], margin: float = 0.15) -> tuple[int, int, int, int]:
    """The square crop ``(left, top, right, bottom)`` around one labelled hand.

    ``row`` holds the CSV columns ``width, height, xmin, ymin, xmax, ymax`` (box in the
    CSV's pixel coordinates); ``image_size`` is the ``(width, height)`` of the image as
    decoded, so a resized copy of the photos still gets the right box. The box's longer
    side grows by ``margin`` of itself on each side and the square is centred on the box.
    If it fits in the image it is shifted (never shrunk) to lie inside; if it is larger
    than the image it stays centred and the crop is padded with black. Either way it
    contains the whole box.
    """
    image_w, image_h = image_size
    sx, sy = image_w / row["width"], image_h / row["height"]
    x0, x1 = round(row["xmin"] * sx), round(row["xmax"] * sx)
    y0, y1 = round(row["ymin"] * sy), round(row["ymax"] * sy)
    x0, x1 = max(0, min(x0, image_w)), max(0, min(x1, image_w))
    y0, y1 = max(0, min(y0, image_h)), max(0, min(y1, image_h))
    longest = max(x1 - x0, y1 - y0, 1)
    side = longest + 2 * math.ceil(margin * longest)

    def place(start: int, extent: int, limit: int) -> int:
        low = start - (side - extent) // 2  # centred: low <= start and low + side >= start + extent
        return min(max(low, 0), limit - side) if side <= limit else low

    left, top = place(x0, x1 - x0, image_w), place(y0, y1 - y0, image_h)
    return left, top, left + side, top + side


def _resample_bilinear() -> int:
    return getattr(Image, "Resampling", Image).BILINEAR  # Pillow >= 9.1 has Image.Resampling


def _crop_hands(images_dir: Path, rows: list[dict], size: int, margin: float) -> np.ndarray:
    """One ``size`` x ``size`` crop per row; each photo is decoded once, photos in parallel."""
    out = np.empty((len(rows), size, size, 3), dtype=np.uint8)
    by_file: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_file.setdefault(row["filename"], []).append(i)

    filenames = list(by_file)

    def crop(indices: range) -> None:
        for k in indices:
            image = _open_rgb(images_dir / filenames[k])
            for i in by_file[filenames[k]]:
                box = hand_crop_box(rows[i], image.size, margin)
                # PIL's crop fills the part of the box outside the image with zeros; its
                # bilinear resize widens the filter when shrinking (antialiasing).
                out[i] = np.asarray(image.crop(box).resize((size, size), _resample_bilinear()))

    _parallel(crop, len(filenames))
    return out


def _hands_variant(folder: Path, rows: list[dict], size: int) -> str:
    original = all(sha256_file(folder / name) == digest for name, digest in HANDS_SHA256.items())
    if original:
        copy_kind = "original"
    elif max(max(r["width"], r["height"]) for r in rows) <= 400:
        copy_kind = "reduced copy"
    else:
        copy_kind = "modified copy"
    return f"HandsDataset crops ({copy_kind}, {size}×{size})"


def load_hands(
    split: str = "train",
    root: str | Path | None = None,
    *,
    size: int = 64,
    margin: float = 0.15,
    download: bool = True,
    cache_dir: str | Path | None = None,
) -> ImageSet:
    """Load one split of the HandsDataset as square crops of the labelled hands.

    The HandsDataset (SubhiH, github.com/SubhiH/HandsDataset, Apache-2.0) has photos of
    one or two hands, each hand boxed and labelled ``0-hand`` ... ``5-hand`` by the number
    of extended fingers. Every CSV row of ``hands/data/{split}_labels.csv`` becomes one
    sample: the box grown by ``margin`` on each side, made square (:func:`hand_crop_box`),
    cropped and resized to ``size`` x ``size``. The dataset's own split is disjoint by
    photo (1,381 train / 349 test boxes in the version pinned here). The crops are cached
    under a fingerprint of the CSV and photos, ``size`` and ``margin``.

    Missing data is downloaded when ``download`` is true (:func:`download_hands`); with
    no data and no network, :class:`DataNotFoundError` says where to put the folder.
    """
    _check_split(split)
    if size < 1 or margin < 0:
        raise ValueError(f"need size >= 1 and margin >= 0, got size={size}, margin={margin}")
    root = data_root(root)
    folder = root / "hands"
    if not _hands_present(folder):
        if not download:
            raise DataNotFoundError(_hands_missing_message(root, "download=False"))
        try:
            download_hands(root)
        except OSError as exc:
            raise DataNotFoundError(_hands_missing_message(root, f"downloading it failed ({exc})")) from exc
    csv_path = folder / "data" / f"{split}_labels.csv"
    rows = _read_hands_csv(csv_path)
    photos = sorted({folder / "images" / row["filename"] for row in rows})
    missing = [p.name for p in photos if not p.is_file()]
    if missing:
        raise DataNotFoundError(f"{len(missing)} photos listed in {csv_path} are missing from {folder / 'images'}, e.g. {missing[:3]}")
    key = {
        "format": _CACHE_FORMAT,
        "source": str(folder.resolve()),
        "fingerprint": _fingerprint([csv_path, *photos], folder),
        "size": size,
        "margin": float(margin),
    }
    cache_file = cache_root(cache_dir, data=root) / f"hands-{split}-{size}px-m{margin:g}.pt"
    blob = _load_cache(cache_file, key)
    if blob is None:
        pixels = _crop_hands(folder / "images", rows, size, margin)
        blob = {
            "key": key,
            "images": torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous(),
            "labels": torch.tensor([HANDS_CLASSES.index(r["class"]) for r in rows], dtype=torch.int64),
            "classes": list(HANDS_CLASSES),
            "variant": _hands_variant(folder, rows, size),
        }
        _save_cache(cache_file, blob)
    return _image_set_from_blob(blob, split)


# ----------------------------------------------------------------------------------------
# 5. TensorLoader: the whole split on the device, augmentation as batched tensor ops
# ----------------------------------------------------------------------------------------


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
        self.images = data.images.to(self.device)  # uint8 until a batch is made
        self.labels = data.labels.to(self.device)
        mean_t = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        std_t = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self._scale = 1 / (255 * std_t)  # x_norm = x_uint8 * scale + shift
        self._shift = -mean_t / std_t

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


# ----------------------------------------------------------------------------------------
# 6. The conventional path: PIL images and torchvision transforms, one at a time
# ----------------------------------------------------------------------------------------


class PILImageDataset(torch.utils.data.Dataset):
    """An :class:`ImageSet` seen as PIL images, each passed through ``transform``."""

    def __init__(self, data: ImageSet, transform=None) -> None:
        self.images = data.images.permute(0, 2, 3, 1).numpy()  # N x H x W x 3 view, no copy
        self.labels = data.labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
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


# ----------------------------------------------------------------------------------------
# 7. A look at the data
# ----------------------------------------------------------------------------------------


def show_samples(data: ImageSet, n: int = 16, seed: int = 0, ax=None, *, ncols: int = 8) -> Figure:
    """A grid of ``n`` random images (seeded) titled with their class names.

    Draws into ``ax`` -- a sequence (or array) of at least ``n`` matplotlib Axes -- when
    given, otherwise into a new ``matplotlib.figure.Figure`` that is not registered with
    pyplot (no global state, safe with the Agg backend, no duplicate display in Jupyter).
    Returns the figure.
    """
    n = min(n, len(data))
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(data), generator=generator)[:n].tolist()
    if ax is None:
        from matplotlib.figure import Figure

        ncols = min(ncols, n)
        nrows = math.ceil(n / ncols)
        fig = Figure(figsize=(1.5 * ncols, 1.7 * nrows + 0.3), layout="constrained")
        axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
        fig.suptitle(f"{data.variant}, {data.split} split")
    else:
        axes = list(np.ravel(ax))
        if len(axes) < n:
            raise ValueError(f"need at least {n} axes, got {len(axes)}")
        fig = axes[0].figure
    for k, axis in enumerate(axes):
        axis.set_axis_off()
        if k < n:
            i = chosen[k]
            axis.imshow(data.images[i].permute(1, 2, 0).numpy(), interpolation="nearest")
            axis.set_title(data.classes[int(data.labels[i])], fontsize=9)
    return fig


# ----------------------------------------------------------------------------------------
# 8. Data sets by name (for the command line and the experiments)
# ----------------------------------------------------------------------------------------

DATASETS = ("cifar10", "hands")


def load_dataset(name: str, split: str = "train", root: str | Path | None = None, **options) -> ImageSet:
    """``load_cifar10`` or ``load_hands`` by name; ``options`` go to the loader (e.g. ``size=96``)."""
    if name == "cifar10":
        return load_cifar10(split, root, **options)
    if name == "hands":
        return load_hands(split, root, **options)
    raise ValueError(f"unknown data set {name!r}: choose one of {', '.join(DATASETS)}")


def normalisation_for(name: str, train: ImageSet) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and standard deviation to normalise ``name`` with: CIFAR-10's constants, else the training split's own."""
    if name == "cifar10":
        return CIFAR10_MEAN, CIFAR10_STD
    mean, std = train.mean_std()
    return tuple(round(m, 4) for m in mean), tuple(round(s, 4) for s in std)
