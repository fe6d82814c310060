"""Decode once, keep the tensors: the on-disk cache of decoded images, validated by content.

Decoding 60,000 JPEGs takes tens of seconds on a laptop; reading back one tensor file
takes a fraction of one. :func:`cached_image_set` is the whole pattern: a cache file is
used only when its key -- the cache format, the decoder's version and
:func:`content_fingerprint` of the source files -- equals the key of the files on disk
now; otherwise the images are decoded again and the cache is rewritten atomically.

The fingerprint hashes every file's *bytes* (and its path relative to the data folder),
not its size and modification time: a file rewritten with other pixels but the same size
and an old timestamp (``cp -p``, ``rsync -t``, ``touch -r``) changes it. What it costs,
measured on the course machine (2 busy cores, files in the page cache) for both CIFAR-10
splits, 60,000 JPEGs, 55 MB: the first load (decode, hash, write the cache) 11-12 s; a
second load 1.4 s, of which about 0.75 s is reading and hashing the files -- where a
check of sizes and modification times took 0.6 s in all, and served stale pixels.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import PIL
import torch
from PIL import Image
from torch import Tensor

from resnet_course.data.imageset import ImageSet

__all__ = [
    "CACHE_FORMAT",
    "IMAGE_SUFFIXES",
    "CorruptImageError",
    "cache_key",
    "cached_image_set",
    "content_fingerprint",
    "decode_into",
    "load_cache",
    "open_rgb",
    "parallel",
    "save_cache",
]


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
CACHE_FORMAT = 2  # bump when the cached layout or the decoding changes (2: content fingerprint, sources)


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


def parallel(work: Callable[[Iterable[int]], None], n: int) -> None:
    """Run ``work(indices)`` on ``os.cpu_count()`` threads, each over a strided share of
    ``range(n)``; re-raise the first error. Pillow releases the GIL while it decodes, and
    one task per thread (not per file) keeps the pool's own overhead out of the way.

    Ctrl-C (or any error) stops every thread at its next index: the pool would otherwise
    finish all its shares -- tens of seconds of decoding -- before the interrupt is seen.
    """
    workers = max(1, min(8, os.cpu_count() or 1, n))
    stop = threading.Event()

    def share(start: int) -> Iterator[int]:
        for i in range(start, n, workers):
            if stop.is_set():
                return
            yield i

    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            for _ in pool.map(work, [share(k) for k in range(workers)]):
                pass
        except BaseException:
            stop.set()
            raise


def decode_into(out: np.ndarray, paths: Sequence[str | Path]) -> None:
    """Decode ``paths[i]`` into ``out[i]`` (H x W x 3 uint8), in parallel.

    The decoder is looked up at call time (tests replace it to prove the cache is used).
    """
    height, width = out.shape[1:3]

    def decode(indices: Iterable[int]) -> None:
        for i in indices:
            image = open_rgb(paths[i])
            if image.size != (width, height):
                raise CorruptImageError(f"image {paths[i]} is {image.size[0]}x{image.size[1]}, "
                                        f"expected {width}x{height}")
            out[i] = np.frombuffer(image.tobytes(), dtype=np.uint8).reshape(height, width, 3)

    parallel(decode, len(paths))


def content_fingerprint(files: Sequence[str | Path], base: str | Path) -> str:
    """A SHA-256 over every file's path (relative to ``base``), length and bytes, in order.

    Any added, removed, renamed or changed file changes it, whatever its size and
    timestamps say. Each file is read and hashed on the thread pool; the per-file digests
    are then hashed in the files' order, so the result does not depend on the number of
    threads.
    """
    paths = [str(p) for p in files]
    prefix = len(str(base)) + 1
    digests: list[bytes] = [b""] * len(paths)

    def digest(indices: Iterable[int]) -> None:
        for i in indices:
            with open(paths[i], "rb") as file:
                content = file.read()
            header = f"{paths[i][prefix:]}\0{len(content)}\0".encode()
            digests[i] = hashlib.sha256(header + content).digest()

    parallel(digest, len(paths))
    return hashlib.sha256(b"".join(digests)).hexdigest()


def cache_key(files: Sequence[str | Path], base: str | Path, **settings: object) -> dict[str, object]:
    """What a cache must have been made from: format, decoder, the files' content, ``settings``."""
    return {"format": CACHE_FORMAT, "decoder": f"Pillow {PIL.__version__}",
            "content": content_fingerprint(files, base), **settings}


def load_cache(path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The cached tensors at ``path`` if the file is readable and was made from ``key``.

    ``weights_only=True`` makes ``torch.load`` refuse anything but tensors and plain
    containers, so a tampered cache cannot run code. A stale, corrupt or foreign file is
    ignored (and later overwritten), never trusted.
    """
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- truncated, not a torch file, unpickling refused: all rebuild
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


def save_cache(path: Path, blob: dict[str, Any]) -> None:
    """Write ``blob`` atomically: to a temporary file in the same folder, then rename.

    A crash mid-write leaves the old cache (or none), never half a file; Ctrl-C mid-write
    removes the temporary file too. Failing to write a cache (a full disk, a read-only
    folder) is not an error -- the data is in memory already -- so it only warns.
    """
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as file:
            torch.save(blob, file)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache may be shared
        os.replace(tmp, path)
        tmp = None
    except (OSError, RuntimeError) as exc:  # torch.save reports a full disk as a RuntimeError
        warnings.warn(f"could not write cache {path}: {exc}", stacklevel=3)
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def cached_image_set(
    cache_file: Path, key: dict[str, Any], split: str, build: Callable[[], dict[str, Any]]
) -> ImageSet:
    """The :class:`ImageSet` cached in ``cache_file`` under ``key``, or ``build()``'s, then cached.

    ``build`` returns the blob to store: ``images`` (uint8 N x 3 x H x W), ``labels``
    (int64), ``classes``, ``variant`` and optionally ``sources``. Nothing is cached when
    ``build`` raises, so a failed decode is retried (and reported) next time.
    """
    blob = load_cache(cache_file, key)
    if blob is None:
        blob = {"key": key, **build()}
        save_cache(cache_file, blob)
    sources = blob.get("sources")
    return ImageSet(blob["images"], blob["labels"], list(blob["classes"]), str(blob["variant"]), split,
                    list(sources) if sources is not None else None)
