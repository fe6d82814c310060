"""Decoding images once and caching the result on disk, keyed by a fingerprint of the files.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor

if TYPE_CHECKING:  # imported lazily at run time: matplotlib is slow to import
    pass
from resnet_course.data.imageset import ImageSet

__all__ = [
    "CACHE_FORMAT", "CorruptImageError", "decode_into", "fingerprint", "image_set_from_blob", "IMAGE_SUFFIXES",
    "load_cache", "open_rgb", "parallel", "save_cache"
]


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
CACHE_FORMAT = 1  # bump when the cached layout or the decoding changes


class CorruptImageError(ValueError):
    """An image file could not be decoded (truncated, not an image, wrong size)."""


def open_rgb(path: str | Path) -> Image.Image:
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


def parallel(work: Callable[[range], None], n: int) -> None:
    """Run ``work(indices)`` on ``os.cpu_count()`` threads, each over a strided share of
    ``range(n)``; re-raise the first error. Pillow releases the GIL while it decodes, and
    one task per thread (not per file) keeps the pool's own overhead out of the way."""
    workers = max(1, min(8, os.cpu_count() or 1, n))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(work, [range(k, n, workers) for k in range(workers)]):
            pass


def decode_into(out: np.ndarray, paths: Sequence[str | Path]) -> None:
    """Decode ``paths[i]`` into ``out[i]`` (H x W x 3 uint8).

    The decoder is looked up at call time (tests replace it to prove the cache is used).
    """
    height, width = out.shape[1:3]

    def decode(indices: range) -> None:
        for i in indices:
            image = open_rgb(paths[i])
            if image.size != (width, height):
                raise CorruptImageError(f"image {paths[i]} is {image.size[0]}x{image.size[1]}, expected {width}x{height}")
            out[i] = np.frombuffer(image.tobytes(), dtype=np.uint8).reshape(height, width, 3)

    parallel(decode, len(paths))


def fingerprint(files: Sequence[str | Path], base: str | Path) -> str:
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


def load_cache(path: Path, key: dict) -> dict | None:
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


def save_cache(path: Path, blob: dict) -> None:
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


def image_set_from_blob(blob: dict, split: str) -> ImageSet:
    return ImageSet(blob["images"], blob["labels"], list(blob["classes"]), str(blob["variant"]), split)
