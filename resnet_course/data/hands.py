"""The HandsDataset (hand gestures): crops of the boxed hands, one per labelled box.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

if TYPE_CHECKING:  # imported lazily at run time: matplotlib is slow to import
    pass
from resnet_course.data.cache import (
    CACHE_FORMAT,
    fingerprint,
    image_set_from_blob,
    load_cache,
    open_rgb,
    parallel,
    save_cache,
)
from resnet_course.data.imageset import ImageSet, check_split
from resnet_course.data.paths import (
    DataNotFoundError,
    cache_root,
    data_root,
    writable_dir,
)
from resnet_course.data.safety import (
    download_file,
    safe_extract,
    sha256_file,
    verify_sha256,
)

__all__ = [
    "download_hands", "hand_crop_box", "HANDS_CLASSES", "HANDS_COMMIT", "HANDS_SHA256", "HANDS_URLS", "load_hands"
]


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
    if not writable_dir(root):
        raise PermissionError(f"cannot download into {root}: the folder is read-only")
    with tempfile.TemporaryDirectory(dir=root, prefix=".hands-download-") as tmp:
        archive = Path(tmp) / "HandsDataset.tar.gz"
        errors = []
        for url in HANDS_URLS:
            try:
                download_file(url, archive)
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
            image = open_rgb(images_dir / filenames[k])
            for i in by_file[filenames[k]]:
                box = hand_crop_box(rows[i], image.size, margin)
                # PIL's crop fills the part of the box outside the image with zeros; its
                # bilinear resize widens the filter when shrinking (antialiasing).
                out[i] = np.asarray(image.crop(box).resize((size, size), _resample_bilinear()))

    parallel(crop, len(filenames))
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
    check_split(split)
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
        "format": CACHE_FORMAT,
        "source": str(folder.resolve()),
        "fingerprint": fingerprint([csv_path, *photos], folder),
        "size": size,
        "margin": float(margin),
    }
    cache_file = cache_root(cache_dir, data=root) / f"hands-{split}-{size}px-m{margin:g}.pt"
    blob = load_cache(cache_file, key)
    if blob is None:
        pixels = _crop_hands(folder / "images", rows, size, margin)
        blob = {
            "key": key,
            "images": torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous(),
            "labels": torch.tensor([HANDS_CLASSES.index(r["class"]) for r in rows], dtype=torch.int64),
            "classes": list(HANDS_CLASSES),
            "variant": _hands_variant(folder, rows, size),
        }
        save_cache(cache_file, blob)
    return image_set_from_blob(blob, split)
