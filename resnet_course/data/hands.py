"""The HandsDataset (hand gestures): square crops of the boxed hands, one per labelled box.

The HandsDataset (SubhiH, github.com/SubhiH/HandsDataset, Apache-2.0) has photos of one or
two hands, indoors and outdoors, each hand boxed and labelled ``0-hand`` … ``5-hand`` by
the number of extended fingers; ``data/{train,test}_labels.csv`` list the boxes with the
columns of :data:`HANDS_COLUMNS`, ``images/`` the photos. The files are frames of
recording sessions: :mod:`~resnet_course.data.splits` groups them.

:func:`load_hands` reads the label file (every row checked: :func:`read_hands_csv`), crops
each box grown by a margin and made square (:func:`hand_crop_box`), resizes the crops and
caches them under a fingerprint of the CSV's and photos' content. Missing data is
downloaded from the pinned GitHub archive, extracted safely and accepted only if both
CSVs match :data:`HANDS_SHA256` (:func:`download_hands`).
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from resnet_course.data.cache import cache_key, cached_image_set, open_rgb, parallel
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
    "HANDS_CLASSES",
    "HANDS_COLUMNS",
    "HANDS_COMMIT",
    "HANDS_SHA256",
    "HANDS_URLS",
    "LabelFileError",
    "download_hands",
    "hand_crop_box",
    "load_hands",
    "read_hands_csv",
]


#: HandsDataset labels: the number of extended fingers.
HANDS_CLASSES = ["0-hand", "1-hand", "2-hand", "3-hand", "4-hand", "5-hand"]
#: The columns of the label files; all are required.
HANDS_COLUMNS = ("filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax")
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


class LabelFileError(ValueError):
    """A label file that cannot be used; the message names the file and the line."""


# --------------------------------------------------------------------------- the label files


def _parse_row(row: dict[str, Any], where: str) -> dict[str, Any]:
    """One CSV row with numbers as ``int``, or a :class:`LabelFileError` saying what is wrong ``where``."""
    for column in HANDS_COLUMNS:
        if row.get(column) in (None, ""):
            raise LabelFileError(f"{where}: the {column!r} cell is empty")
    name = row["filename"]
    if Path(name).name != name or name in (".", ".."):
        raise LabelFileError(f"{where}: filename {name!r} is not a plain file name in images/")
    for column in ("width", "height", "xmin", "ymin", "xmax", "ymax"):
        try:
            row[column] = int(float(row[column]))
        except (ValueError, OverflowError):
            raise LabelFileError(f"{where}: {column} is {row[column]!r}, not a number") from None
    if row["class"] not in HANDS_CLASSES:
        raise LabelFileError(f"{where}: unknown class {row['class']!r} (expected one of {', '.join(HANDS_CLASSES)})")
    w, h = row["width"], row["height"]
    if w <= 0 or h <= 0:
        raise LabelFileError(f"{where}: the photo's size is {w}x{h}; width and height must be positive")
    x0, y0, x1, y1 = row["xmin"], row["ymin"], row["xmax"], row["ymax"]
    if x0 >= x1 or y0 >= y1:
        raise LabelFileError(f"{where}: the box ({x0}, {y0})-({x1}, {y1}) is empty or inverted (need xmin < xmax, "
                             "ymin < ymax)")
    if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
        raise LabelFileError(f"{where}: the box ({x0}, {y0})-({x1}, {y1}) lies outside the {w}x{h} photo")
    return row


def read_hands_csv(path: Path) -> list[dict[str, Any]]:
    """The rows of a HandsDataset label file, numbers as ``int``, each checked.

    A missing column, an empty or non-numeric cell, an unknown class, a photo size that is
    not positive, a box that is empty, inverted or outside the photo, a file name with a
    folder in it, or a file with no rows raises one :class:`LabelFileError` naming the
    file and the line (``…/train_labels.csv, line 7: …``). Boxes are never clipped silently.
    """
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        missing = [c for c in HANDS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise LabelFileError(f"{path}, line 1: missing column(s) {', '.join(missing)}; the header must be "
                                 f"{','.join(HANDS_COLUMNS)}")
        rows = [_parse_row(row, f"{path}, line {reader.line_num} ({row.get('filename') or 'no file name'})")
                for row in reader]
    if not rows:
        raise LabelFileError(f"{path}, line 2: no rows below the header")
    return rows


# --------------------------------------------------------------------------- the crops


def hand_crop_box(row: dict[str, Any], image_size: tuple[int, int], margin: float = 0.15) -> tuple[int, int, int, int]:
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


def _crop_hands(images_dir: Path, rows: list[dict[str, Any]], size: int, margin: float) -> np.ndarray:
    """One ``size`` x ``size`` crop per row; each photo is decoded once, photos in parallel."""
    out = np.empty((len(rows), size, size, 3), dtype=np.uint8)
    by_file: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_file.setdefault(row["filename"], []).append(i)
    filenames = list(by_file)
    bilinear = getattr(Image, "Resampling", Image).BILINEAR  # Pillow >= 9.1 has Image.Resampling

    def crop(indices: Iterable[int]) -> None:
        for k in indices:
            image = open_rgb(images_dir / filenames[k])
            for i in by_file[filenames[k]]:
                # PIL's crop fills the part of the box outside the image with zeros; its
                # bilinear resize widens the filter when shrinking (antialiasing).
                box = hand_crop_box(rows[i], image.size, margin)
                out[i] = np.asarray(image.crop(box).resize((size, size), bilinear))

    parallel(crop, len(filenames))
    return out


def _variant(folder: Path, rows: list[dict[str, Any]], size: int) -> str:
    if all(sha256_file(folder / name) == digest for name, digest in HANDS_SHA256.items()):
        kind = "original"
    elif max(max(r["width"], r["height"]) for r in rows) <= 400:
        kind = "reduced copy"
    else:
        kind = "modified copy"
    return f"HandsDataset crops ({kind}, {size}×{size})"


# --------------------------------------------------------------------------- download and load


def _missing_message(root: Path, reason: str) -> str:
    folder = root / "hands"
    return (
        f"The HandsDataset was not found in {folder} and {reason}: put its data/ and images/ folders "
        f"in {folder}/, or set RESNET_COURSE_DATA to the folder that holds hands/.\n"
        f"Expected {folder}/data/train_labels.csv, {folder}/data/test_labels.csv and the photos in "
        f"{folder}/images/<filename>.jpg. To get it by hand: download {HANDS_URLS[0]} (about 200 MB), unpack it "
        f"and rename the folder inside to {folder}; with internet, load_hands(download=True) does that and "
        "checks the CSVs' SHA-256. On the course machines: RESNET_COURSE_DATA=../shared/data "
        "(source: the GitHub repository SubhiH/HandsDataset)."
    )


def _present(folder: Path) -> bool:
    return all((folder / name).is_file() for name in HANDS_SHA256) and (folder / "images").is_dir()


def _fetch_archive(archive: Path) -> None:
    errors = []
    for url in HANDS_URLS:
        try:
            download_file(url, archive)
            return
        except OSError as exc:  # urllib's URLError and HTTPError are OSErrors
            errors.append(f"{url}: {exc}")
    raise OSError("could not download the HandsDataset: " + "; ".join(errors))


def download_hands(root: str | Path | None = None) -> Path:
    """Download the HandsDataset into ``root/hands`` and verify it; return that folder.

    Fetches the GitHub archive of SubhiH/HandsDataset (pinned commit :data:`HANDS_COMMIT`),
    extracts it with :func:`safe_extract` (no member may land outside the temporary folder)
    next to the target, checks both CSVs against :data:`HANDS_SHA256`, and only then
    renames the folder into place. Any failure leaves nothing behind.
    """
    root = data_root(root)
    target = root / "hands"
    if _present(target):
        return target
    if target.exists() and any(target.iterdir()):
        raise DataNotFoundError(f"{target} exists but is incomplete; remove it and try again")
    if not writable_dir(root):
        raise PermissionError(f"cannot download into {root}: the folder is read-only")
    with tempfile.TemporaryDirectory(dir=root, prefix=".hands-download-") as tmp:
        archive, staging = Path(tmp) / "HandsDataset.tar.gz", Path(tmp) / "extracted"
        _fetch_archive(archive)
        safe_extract(archive, staging)
        found = [p.parent.parent for p in staging.glob("*/data/train_labels.csv")]
        found += [staging] if (staging / "data" / "train_labels.csv").is_file() else []
        if len(found) != 1:
            raise DataNotFoundError("the downloaded archive does not have the expected layout "
                                    "(*/data/train_labels.csv)")
        for name, expected in HANDS_SHA256.items():
            verify_sha256(found[0] / name, expected)
        if target.exists():
            target.rmdir()  # empty, checked above
        os.replace(found[0], target)
    return target


def load_hands(
    split: str = "train",
    root: str | Path | None = None,
    *,
    size: int = 64,
    margin: float = 0.15,
    download: bool = True,
    cache_dir: str | Path | None = None,
) -> ImageSet:
    """Load one split of the HandsDataset as ``size`` x ``size`` crops of the labelled hands.

    Every row of ``hands/data/{split}_labels.csv`` becomes one sample: the box grown by
    ``margin`` on each side, made square (:func:`hand_crop_box`), cropped and resized. The
    dataset's own split is disjoint by photo (1,381 train / 349 test boxes in the version
    pinned here) but not by recording session (see :mod:`~resnet_course.data.splits`);
    ``sources`` holds each sample's photo. The crops are cached under a fingerprint of the
    CSV's and photos' content, ``size`` and ``margin``.

    Missing data is downloaded when ``download`` is true (:func:`download_hands`); with
    no data and no network, :class:`DataNotFoundError` says where to put the folder.
    """
    check_split(split)
    if size < 1 or margin < 0:
        raise ValueError(f"need size >= 1 and margin >= 0, got size={size}, margin={margin}")
    root = data_root(root)
    folder = root / "hands"
    if not _present(folder):
        if not download:
            raise DataNotFoundError(_missing_message(root, "download=False"))
        try:
            download_hands(root)
        except OSError as exc:
            raise DataNotFoundError(_missing_message(root, f"downloading it failed ({exc})")) from exc
    csv_path = folder / "data" / f"{split}_labels.csv"
    rows = read_hands_csv(csv_path)
    photos = sorted({folder / "images" / row["filename"] for row in rows})
    missing = [p.name for p in photos if not p.is_file()]
    if missing:
        raise DataNotFoundError(f"{len(missing)} photos listed in {csv_path} are missing from {folder / 'images'}, "
                                f"e.g. {missing[:3]}")

    def crop() -> dict[str, object]:
        pixels = _crop_hands(folder / "images", rows, size, margin)
        return {
            "images": torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous(),
            "labels": torch.tensor([HANDS_CLASSES.index(r["class"]) for r in rows]),
            "classes": list(HANDS_CLASSES),
            "variant": _variant(folder, rows, size),
            "sources": [r["filename"] for r in rows],
        }

    key = cache_key([csv_path, *photos], folder, size=size, margin=float(margin))
    cache_file = cache_root(cache_dir, data=root) / f"hands-{split}-{size}px-m{margin:g}.pt"
    return cached_image_set(cache_file, key, split, crop)
