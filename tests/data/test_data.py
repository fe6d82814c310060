"""Tests for :mod:`resnet_course.data`: loading, caching, cropping, downloading, batching.

The CIFAR-10 splits are decoded once per session into the ``cache_dir`` fixture; every
other test works on small copies in ``tmp_path`` or on synthetic tensors.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import resnet_course.data.cache
import resnet_course.data.hands
from resnet_course import data as D

# ----------------------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def cifar_train(data_root: Path, cache_dir: Path) -> D.ImageSet:
    return D.load_cifar10("train", data_root, download=False, cache_dir=cache_dir)


@pytest.fixture(scope="session")
def cifar_test(data_root: Path, cache_dir: Path) -> D.ImageSet:
    return D.load_cifar10("test", data_root, download=False, cache_dir=cache_dir)


@pytest.fixture(scope="session")
def hands_train(data_root: Path, cache_dir: Path) -> D.ImageSet:
    return D.load_hands("train", data_root, download=False, cache_dir=cache_dir)


def small_cifar_copy(data_root: Path, dest: Path, per_class: int = 20) -> Path:
    """``dest/cifar10-jpg/test/<class>/`` with the first ``per_class`` files of each of the ten classes."""
    for name in D.CIFAR10_CLASSES:
        target = dest / "cifar10-jpg" / "test" / name
        target.mkdir(parents=True)
        for source in sorted((data_root / "cifar10-jpg" / "test" / name).iterdir())[:per_class]:
            shutil.copyfile(source, target / source.name)
    return dest


def synthetic(n: int = 1000, size: int = 32, seed: int = 0) -> D.ImageSet:
    """Random images whose labels are their own indices, so every sample can be traced."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    return D.ImageSet(images, torch.arange(n), [str(i) for i in range(n)], "synthetic", "train")


# ----------------------------------------------------------------------------------------
# Where things live
# ----------------------------------------------------------------------------------------


def test_data_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RESNET_COURSE_DATA", str(tmp_path / "env"))
    assert D.data_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert D.data_root() == tmp_path / "env"
    monkeypatch.delenv("RESNET_COURSE_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert D.data_root() == tmp_path / "home" / ".cache" / "resnet_course" / "data"


def test_cache_root_skips_read_only_data_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RESNET_COURSE_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    writable, read_only = tmp_path / "rw", tmp_path / "ro"
    writable.mkdir()
    read_only.mkdir()
    read_only.chmod(0o555)  # read-only by its mode bits: honoured even when tests run as root
    try:
        assert D.cache_root(data=writable) == writable / ".cache"
        assert D.cache_root(data=read_only) == tmp_path / "home" / ".cache" / "resnet_course" / "cache"
        assert not (read_only / ".cache").exists()
        monkeypatch.setenv("RESNET_COURSE_CACHE", str(tmp_path / "envcache"))
        assert D.cache_root(data=writable) == tmp_path / "envcache"
    finally:
        read_only.chmod(0o755)


# ----------------------------------------------------------------------------------------
# CIFAR-10
# ----------------------------------------------------------------------------------------


def test_cifar_jpeg_copy_loads(cifar_train: D.ImageSet, cifar_test: D.ImageSet) -> None:
    for split, data, per_class in (("train", cifar_train, 5000), ("test", cifar_test, 1000)):
        assert len(data) == 10 * per_class and data.split == split
        assert data.images.shape == (10 * per_class, 3, 32, 32) and data.images.dtype == torch.uint8
        assert data.labels.dtype == torch.int64
        assert data.classes == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                "truck"]
        assert data.class_counts() == [per_class] * 10
        assert "JPEG copy" in data.variant
        assert data.images.float().std() > 30  # real pixels, not a zero-filled buffer


def test_cifar_labels_follow_class_folders(cifar_test: D.ImageSet, data_root: Path) -> None:
    first_cat = min((data_root / "cifar10-jpg" / "test" / "cat").iterdir())
    index = 3 * 1000  # classes are stored in folder order, files in name order
    assert cifar_test.labels[index] == D.CIFAR10_CLASSES.index("cat")
    expected = torch.from_numpy(np.array(Image.open(first_cat).convert("RGB"))).permute(2, 0, 1)
    assert torch.equal(cifar_test.images[index], expected)


def test_cifar_second_load_uses_cache(
    cifar_test: D.ImageSet, data_root: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (cache_dir / "cifar10-jpg-test.pt").is_file()

    def no_decoding(path):
        raise AssertionError(f"decoded {path} although a valid cache exists")

    monkeypatch.setattr(resnet_course.data.cache, "open_rgb", no_decoding)
    again = D.load_cifar10("test", data_root, download=False, cache_dir=cache_dir)
    assert torch.equal(again.images, cifar_test.images) and torch.equal(again.labels, cifar_test.labels)


def test_cifar_corrupt_jpeg_names_the_file(data_root: Path, tmp_path: Path) -> None:
    root = small_cifar_copy(data_root, tmp_path / "data")
    victim = root / "cifar10-jpg" / "test" / "cat" / "0005.jpg"
    victim.write_bytes(victim.read_bytes()[:300])  # truncated mid-scan
    with pytest.raises(D.CorruptImageError, match=re.escape(str(victim))):
        D.load_cifar10("test", root, download=False, cache_dir=tmp_path / "cache")
    victim.write_bytes(b"this is not a JPEG")
    with pytest.raises(D.CorruptImageError, match=re.escape(str(victim))):
        D.load_cifar10("test", root, download=False, cache_dir=tmp_path / "cache")
    assert not any((tmp_path / "cache").glob("*.pt"))  # nothing cached from a failed load


def test_cifar_stale_cache_is_rebuilt(data_root: Path, tmp_path: Path) -> None:
    root = small_cifar_copy(data_root, tmp_path / "data")
    cache = tmp_path / "cache"
    first = D.load_cifar10("test", root, download=False, cache_dir=cache)
    assert len(first) == 200 and first.class_counts() == [20] * 10
    cat0 = root / "cifar10-jpg" / "test" / "cat" / "0000.jpg"
    shutil.copyfile(root / "cifar10-jpg" / "test" / "airplane" / "0000.jpg", cat0)  # change a source file
    os.utime(cat0, ns=(1, 1))
    (root / "cifar10-jpg" / "test" / "cat" / "0001.jpg").unlink()  # and remove one
    second = D.load_cifar10("test", root, download=False, cache_dir=cache)
    assert len(second) == 199
    assert torch.equal(second.images[60], first.images[0])  # cat/0000.jpg now holds airplane/0000's pixels


def test_cifar_corrupt_cache_is_rebuilt(data_root: Path, tmp_path: Path) -> None:
    root = small_cifar_copy(data_root, tmp_path / "data", per_class=2)
    cache = tmp_path / "cache"
    first = D.load_cifar10("test", root, download=False, cache_dir=cache)
    cache_file = cache / "cifar10-jpg-test.pt"
    cache_file.write_bytes(cache_file.read_bytes()[:1000])  # truncated, e.g. by a full disk
    with pytest.warns(UserWarning, match="unreadable cache"):
        second = D.load_cifar10("test", root, download=False, cache_dir=cache)
    assert torch.equal(first.images, second.images)
    assert torch.load(cache_file, weights_only=True)["images"].shape == (20, 3, 32, 32)  # rewritten whole


def test_cifar_unknown_split_lists_valid_ones(data_root: Path) -> None:
    with pytest.raises(ValueError, match="train, test"):
        D.load_cifar10("validation", data_root)


def test_cifar_missing_without_network(tmp_path: Path, no_network: None) -> None:
    root = tmp_path / "empty"
    with pytest.raises(D.DataNotFoundError) as info:
        D.load_cifar10("train", root)  # download allowed but impossible
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    for expected in ("RESNET_COURSE_DATA", "cifar-10-batches-py", "cifar10-jpg/train/<class>/*.jpg", D.CIFAR10_URL,
                     str(root)):
        assert expected in message
    with pytest.raises(D.DataNotFoundError, match="download=False"):
        D.load_cifar10("test", root, download=False)


# ----------------------------------------------------------------------------------------
# HandsDataset
# ----------------------------------------------------------------------------------------


def test_hands_splits(hands_train: D.ImageSet, data_root: Path, cache_dir: Path) -> None:
    test = D.load_hands("test", data_root, download=False, cache_dir=cache_dir)
    assert (len(hands_train), len(test)) == (1381, 349)
    for data in (hands_train, test):
        assert data.classes == D.HANDS_CLASSES == ["0-hand", "1-hand", "2-hand", "3-hand", "4-hand", "5-hand"]
        assert data.images.shape[1:] == (3, 64, 64) and data.images.dtype == torch.uint8
        assert all(count > 0 for count in data.class_counts())
        assert "reduced copy" in data.variant and "64×64" in data.variant
    assert hands_train.class_counts() == [394, 180, 164, 189, 182, 272]


def _rows(data_root: Path, split: str = "train") -> list[dict]:
    return D.read_hands_csv(data_root / "hands" / "data" / f"{split}_labels.csv")


def test_hand_crop_boxes_are_squares_containing_the_box(data_root: Path) -> None:
    margin = 0.15
    for row in _rows(data_root):
        size = (row["width"], row["height"])
        left, top, right, bottom = D.hand_crop_box(row, size, margin)
        side = right - left
        longest = max(row["xmax"] - row["xmin"], row["ymax"] - row["ymin"])
        assert bottom - top == side  # square
        assert side >= longest * (1 + 2 * margin) and side <= longest * (1 + 2 * margin) + 2
        assert left <= row["xmin"] and right >= row["xmax"] and top <= row["ymin"] and bottom >= row["ymax"]
        if side <= row["width"]:
            assert 0 <= left and right <= row["width"]  # shifted inside rather than padded
        if side <= row["height"]:
            assert 0 <= top and bottom <= row["height"]


def test_hand_crop_box_uses_csv_coordinates(data_root: Path) -> None:
    row = _rows(data_root)[0]
    doubled = {**row, **{k: 2 * row[k] for k in ("width", "height", "xmin", "ymin", "xmax", "ymax")}}
    image_size = (row["width"], row["height"])  # photos at the CSV's size / 2, like the reduced copy
    assert D.hand_crop_box(doubled, image_size, 0.15) == D.hand_crop_box(row, image_size, 0.15)
    at_original = D.hand_crop_box(doubled, (2 * row["width"], 2 * row["height"]), 0.15)
    assert all(abs(a - 2 * b) <= 2 for a, b in zip(at_original, D.hand_crop_box(row, image_size, 0.15)))


def test_hand_crops_match_pil(hands_train: D.ImageSet, data_root: Path) -> None:
    rows = _rows(data_root)
    padded = [i for i, r in enumerate(rows) if max(r["xmax"] - r["xmin"], r["ymax"] - r["ymin"]) * 1.3 > r["height"]]
    at_edge = [i for i, r in enumerate(rows) if r["ymax"] >= r["height"] or r["xmin"] <= 0]
    for i in [0, 1, 2, len(rows) - 1, *padded[:2], *at_edge[:2]]:
        row = rows[i]
        photo = Image.open(data_root / "hands" / "images" / row["filename"]).convert("RGB")
        box = D.hand_crop_box(row, photo.size, 0.15)
        expected = photo.crop(box).resize((64, 64), Image.BILINEAR)
        expected = torch.from_numpy(np.array(expected)).permute(2, 0, 1)
        assert torch.equal(hands_train.images[i], expected), row
        assert hands_train.labels[i] == D.HANDS_CLASSES.index(row["class"])
    assert padded and at_edge  # the special cases were exercised


def test_hands_cache_key_includes_size_and_margin(data_root: Path, cache_dir: Path) -> None:
    small = D.load_hands("test", data_root, size=24, margin=0.0, download=False, cache_dir=cache_dir)
    assert small.images.shape == (349, 3, 24, 24) and "24×24" in small.variant
    wide = D.load_hands("test", data_root, size=24, margin=0.5, download=False, cache_dir=cache_dir)
    assert not torch.equal(small.images, wide.images)


def test_hands_missing_without_network(tmp_path: Path, no_network: None) -> None:
    with pytest.raises(D.DataNotFoundError) as info:
        D.load_hands("train", tmp_path / "nothing")
    message = str(info.value)
    for expected in ("RESNET_COURSE_DATA", "hands/data/train_labels.csv", "hands/images", "SubhiH/HandsDataset"):
        assert expected in message
    assert not (tmp_path / "nothing" / "hands").exists()
    assert not list((tmp_path / "nothing").glob(".hands-download-*"))


def _fake_hands_archive(path: Path) -> dict[str, str]:
    """A miniature of the GitHub archive (one top folder, data/, images/); returns CSV sums."""
    top = "HandsDataset-73228cb5"
    photo = io.BytesIO()
    Image.new("RGB", (80, 60), (200, 120, 40)).save(photo, format="JPEG")
    files = {
        f"{top}/data/train_labels.csv": b"filename,width,height,class,xmin,ymin,xmax,ymax\n"
        b"a.jpg,800,600,2-hand,100,100,300,500\na.jpg,800,600,0-hand,500,50,700,250\n",
        f"{top}/data/test_labels.csv":
            b"filename,width,height,class,xmin,ymin,xmax,ymax\nb.jpg,800,600,5-hand,0,0,800,600\n",
        f"{top}/images/a.jpg": photo.getvalue(),
        f"{top}/images/b.jpg": photo.getvalue(),
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return {name.split("/", 1)[1]: hashlib.sha256(content).hexdigest()
            for name, content in files.items() if name.endswith(".csv")}


def test_download_hands_installs_verified_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "fake.tar.gz"
    sums = _fake_hands_archive(archive)
    monkeypatch.setattr(resnet_course.data.hands, "download_file",
                        lambda url, dest, timeout=60.0: shutil.copyfile(archive, dest))
    monkeypatch.setattr(resnet_course.data.hands, "HANDS_SHA256", sums)
    root = tmp_path / "root"
    train = D.load_hands("train", root, size=16, cache_dir=tmp_path / "cache")
    assert len(train) == 2 and train.labels.tolist() == [2, 0] and train.images.shape == (2, 3, 16, 16)
    assert (root / "hands" / "images" / "b.jpg").is_file()
    assert sorted(p.name for p in root.iterdir()) == ["hands"]  # no temporary leftovers


def test_download_hands_checksum_mismatch_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "fake.tar.gz"
    sums = _fake_hands_archive(archive)
    wrong = {**sums, "data/test_labels.csv": "0" * 64}
    monkeypatch.setattr(resnet_course.data.hands, "download_file",
                        lambda url, dest, timeout=60.0: shutil.copyfile(archive, dest))
    monkeypatch.setattr(resnet_course.data.hands, "HANDS_SHA256", wrong)
    root = tmp_path / "root"
    with pytest.raises(D.ChecksumError) as info:
        D.load_hands("train", root)
    message = str(info.value)
    assert "test_labels.csv" in message and "0" * 64 in message and sums["data/test_labels.csv"] in message
    assert list(root.iterdir()) == []  # not half-installed


def test_verify_sha256(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"abc")
    D.verify_sha256(path, hashlib.sha256(b"abc").hexdigest())
    with pytest.raises(D.ChecksumError, match="f.csv"):
        D.verify_sha256(path, hashlib.sha256(b"abd").hexdigest())


# ----------------------------------------------------------------------------------------
# Safe extraction
# ----------------------------------------------------------------------------------------


def test_safe_extract_rejects_zip_traversal(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fine/ok.txt", "ok")
        zf.writestr("../evil.txt", "gotcha")
    dest = tmp_path / "sub" / "dest"
    with pytest.raises(D.UnsafeArchiveError, match="evil"):
        D.safe_extract(archive, dest)
    assert not (tmp_path / "sub" / "evil.txt").exists() and not (dest / "fine").exists()


@pytest.mark.parametrize("kind", ["traversal", "absolute", "symlink", "hardlink"])
def test_safe_extract_rejects_tar_tricks(tmp_path: Path, kind: str) -> None:
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        ok = tarfile.TarInfo("fine/ok.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        bad = tarfile.TarInfo({"traversal": "../evil.txt", "absolute": str(tmp_path / "abs.txt")}.get(kind, "link"))
        if kind == "symlink":
            bad.type, bad.linkname = tarfile.SYMTYPE, "../../outside"
        elif kind == "hardlink":
            bad.type, bad.linkname = tarfile.LNKTYPE, "/etc/passwd"
        else:
            bad.size = 6
        tar.addfile(bad, io.BytesIO(b"gotcha") if bad.isfile() else None)
    dest = tmp_path / "sub" / "dest"
    with pytest.raises(D.UnsafeArchiveError):
        D.safe_extract(archive, dest)
    assert not (tmp_path / "sub" / "evil.txt").exists() and not (tmp_path / "abs.txt").exists()
    assert not (dest / "fine").exists() and not (dest / "link").exists()


def test_safe_extract_extracts_good_archives(tmp_path: Path) -> None:
    archive = tmp_path / "good.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("top/data/a.csv", "x,y\n")
        zf.writestr("top/images/", "")
    written = D.safe_extract(archive, tmp_path / "out")
    assert written == [(tmp_path / "out" / "top" / "data" / "a.csv").resolve()]
    assert (tmp_path / "out" / "top" / "images").is_dir()


# ----------------------------------------------------------------------------------------
# ImageSet helpers
# ----------------------------------------------------------------------------------------


def test_subset_is_seeded_and_balanced(cifar_test: D.ImageSet) -> None:
    a, b, c = cifar_test.subset(503, seed=1), cifar_test.subset(503, seed=1), cifar_test.subset(503, seed=2)
    assert len(a) == 503 and torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    assert sorted(a.class_counts()) == [50] * 7 + [51] * 3
    assert a.classes == cifar_test.classes and a.variant == cifar_test.variant
    with pytest.raises(ValueError):
        cifar_test.subset(len(cifar_test) + 1)


def test_subset_fills_in_when_a_class_runs_out() -> None:
    labels = torch.tensor([0] * 3 + [1] * 20)
    data = D.ImageSet(torch.zeros(23, 3, 2, 2, dtype=torch.uint8), labels, ["a", "b"], "toy", "train")
    assert data.subset(10).class_counts() == [3, 7]


def test_mean_std_matches_direct_computation() -> None:
    data = synthetic(50, size=8)
    mean, std = data.mean_std()
    pixels = data.images.double() / 255
    assert mean == pytest.approx(pixels.mean(dim=(0, 2, 3)).tolist(), abs=1e-4)
    assert std == pytest.approx(pixels.std(dim=(0, 2, 3), unbiased=False).tolist(), abs=1e-4)


# ----------------------------------------------------------------------------------------
# TensorLoader
# ----------------------------------------------------------------------------------------


def test_tensor_loader_shapes_and_length() -> None:
    data = synthetic(1000)
    loader = D.TensorLoader(data, batch_size=128)
    batches = list(loader)
    assert len(loader) == len(batches) == 8 and loader.num_samples == 1000
    assert [len(y) for _, y in batches] == [128] * 7 + [104]
    x, y = batches[0]
    assert x.shape == (128, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.device == y.device == torch.device("cpu")
    assert len(D.TensorLoader(data, batch_size=128, drop_last=True)) == 7
    assert len(list(D.TensorLoader(data, batch_size=128, drop_last=True))) == 7


def test_tensor_loader_refuses_drop_last_without_one_full_batch() -> None:
    # an epoch of no step at all: fit trained nothing, and a loop that cycles the loader never ended
    with pytest.raises(ValueError, match="100 samples make no full batch of 128 with drop_last=True"):
        D.TensorLoader(synthetic(100), batch_size=128, drop_last=True)
    loader = D.TensorLoader(synthetic(200), batch_size=128, drop_last=True)
    assert len(loader) == 1
    with pytest.raises(ValueError, match=r"200 samples \(100 for each of 2 ranks\) make no full batch of 128"):
        loader.shard(0, 2)
    assert len(D.TensorLoader(synthetic(100), batch_size=128)) == 1  # without drop_last: one short batch


def test_tensor_loader_every_sample_once_per_epoch() -> None:
    loader = D.TensorLoader(synthetic(1000), batch_size=96)
    for _ in range(2):
        seen = torch.cat([y for _, y in loader])
        assert torch.equal(seen.sort().values, torch.arange(1000))


def test_tensor_loader_epochs_are_reproducible() -> None:
    data = synthetic(300)
    loader = D.TensorLoader(data, batch_size=64, seed=7)
    loader.set_epoch(3)
    first = list(loader)
    resumed = D.TensorLoader(data, batch_size=64, seed=7)  # e.g. after a restart
    resumed.set_epoch(3)
    for (x1, y1), (x2, y2) in zip(first, resumed):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    next_epoch = torch.cat([y for _, y in loader])  # iterating advanced the epoch to 4
    assert loader.epoch == 5 and not torch.equal(next_epoch, torch.cat([y for _, y in first]))
    other_seed = D.TensorLoader(data, batch_size=64, seed=8)
    other_seed.set_epoch(3)
    assert not torch.equal(torch.cat([y for _, y in other_seed]), torch.cat([y for _, y in first]))


def test_tensor_loader_without_augmentation_is_plain_normalisation() -> None:
    data = synthetic(200)
    loader = D.TensorLoader(data, batch_size=50, shuffle=False, augment=False, mean=(0.1, 0.2, 0.3),
                            std=(0.5, 0.25, 0.2))
    x = torch.cat([x for x, _ in loader])
    y = torch.cat([y for _, y in loader])
    mean = torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)
    std = torch.tensor([0.5, 0.25, 0.2]).view(1, 3, 1, 1)
    assert torch.equal(y, torch.arange(200))
    torch.testing.assert_close(x, (data.images.float() / 255 - mean) / std, atol=1e-5, rtol=0)


def _unnormalise(x: torch.Tensor, mean=D.CIFAR10_MEAN, std=D.CIFAR10_STD) -> torch.Tensor:
    mean_t, std_t = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    return ((x.float() * std_t + mean_t) * 255).round().to(torch.uint8)


def test_tensor_loader_crop_is_a_translation_and_flip() -> None:
    data = synthetic(64, size=12)
    pad = 3
    padded = F.pad(data.images, (pad, pad, pad, pad))  # zero padding
    loader = D.TensorLoader(data, batch_size=64, pad=pad, seed=1)
    x, y = next(iter(loader))
    augmented = _unnormalise(x)
    found = set()

    def window(label: int, dy: int, dx: int, flip: bool) -> torch.Tensor:
        crop = padded[label, :, dy : dy + 12, dx : dx + 12]
        return crop.flip(-1) if flip else crop

    for image, label in zip(augmented, y):
        matches = [
            (dy, dx, flip)
            for dy in range(2 * pad + 1)
            for dx in range(2 * pad + 1)
            for flip in (False, True)
            if torch.equal(image, window(label, dy, dx, flip))
        ]
        assert len(matches) == 1, f"sample {label} is not one window of its padded original"
        found.add(matches[0])
    assert len({(dy, dx) for dy, dx, _ in found}) > 10  # offsets vary ...
    assert {flip for *_, flip in found} == {False, True}  # ... and both orientations occur


def test_tensor_loader_without_flip_only_translates() -> None:
    data = synthetic(32, size=8)
    x, y = next(iter(D.TensorLoader(data, batch_size=32, pad=2, flip=False, seed=3)))
    padded = F.pad(data.images, (2, 2, 2, 2))
    for image, label in zip(_unnormalise(x), y):
        assert any(
            torch.equal(image, padded[label, :, dy : dy + 8, dx : dx + 8]) for dy in range(5) for dx in range(5)
        )


def test_tensor_loader_shards_are_disjoint_and_cover_the_epoch() -> None:
    for n in (1000, 1001):
        loader = D.TensorLoader(synthetic(n), batch_size=100, seed=5)
        shards = [loader.shard(rank, 2) for rank in range(2)]
        for shard in [loader, *shards]:
            shard.set_epoch(2)
        full = torch.cat([y for _, y in loader])
        parts = [torch.cat([y for _, y in shard]) for shard in shards]
        assert len(parts[0]) == len(parts[1]) == n // 2 == shards[0].num_samples
        assert len(shards[0]) == len(shards[1]) == math.ceil((n // 2) / 100)
        assert not set(parts[0].tolist()) & set(parts[1].tolist())
        assert torch.equal(parts[0], full[0 : 2 * (n // 2) : 2]) and torch.equal(parts[1], full[1 : 2 * (n // 2) : 2])
        if n % 2 == 0:
            assert torch.equal(torch.cat(parts).sort().values, torch.arange(n))
    ranked = D.TensorLoader(synthetic(10), batch_size=4, rank=1, world_size=3)
    assert ranked.num_samples == 3 and len(ranked) == 1


def test_tensor_loader_channels_last_and_dtype() -> None:
    data = synthetic(40)
    reference = next(iter(D.TensorLoader(data, batch_size=40, seed=2)))[0]
    x, _ = next(iter(D.TensorLoader(data, batch_size=40, seed=2, dtype=torch.bfloat16, channels_last=True)))
    assert x.dtype == torch.bfloat16 and x.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(x.float(), reference, atol=0.02, rtol=0.01)


def test_tensor_loader_runs_on_cuda_when_available() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    data = synthetic(100)
    cpu = list(D.TensorLoader(data, batch_size=50, seed=4))
    dev = list(D.TensorLoader(data, batch_size=50, seed=4, device=device))
    for (x1, y1), (x2, y2) in zip(cpu, dev):
        assert x2.device.type == device and torch.equal(y1, y2.cpu())
        torch.testing.assert_close(x1, x2.cpu())


# ----------------------------------------------------------------------------------------
# The torchvision path, and the picture
# ----------------------------------------------------------------------------------------


def test_torchvision_loader_matches_tensor_loader(cifar_test: D.ImageSet) -> None:
    data = cifar_test.subset(200)
    x_tv, y_tv = next(iter(D.torchvision_loader(data, batch_size=200, train=False, num_workers=0)))
    x_fast, y_fast = next(iter(D.TensorLoader(data, batch_size=200, shuffle=False, augment=False)))
    assert torch.equal(y_tv, y_fast)
    torch.testing.assert_close(x_tv, x_fast, atol=1e-5, rtol=0)
    x_aug, y_aug = next(iter(D.torchvision_loader(data, batch_size=32, train=True, num_workers=0)))
    assert x_aug.shape == (32, 3, 32, 32) and y_aug.shape == (32,)


def test_show_samples_returns_a_figure(hands_train: D.ImageSet, tmp_path: Path) -> None:
    from resnet_course.lessons.plots import show_samples

    fig = show_samples(hands_train, n=10, seed=1)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 10 and set(titles) <= set(D.HANDS_CLASSES)
    fig.savefig(tmp_path / "samples.png")
    assert (tmp_path / "samples.png").stat().st_size > 1000
