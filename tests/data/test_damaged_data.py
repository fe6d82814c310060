"""Damaged data is caught and valid data is not rejected (issue 13, item 4), downloads stay safe (issue 14).

Every case works on a small copy in ``tmp_path``: ten CIFAR-10 classes of a few JPEGs, or a
miniature HandsDataset, so that each fault can be planted.
"""

from __future__ import annotations

import _thread
import io
import os
import re
import shutil
import tarfile
import time
from pathlib import Path

import pytest
import torch
import torchvision.datasets.utils
from PIL import Image

from resnet_course import data as D


def jpeg_copy(data_root: Path, dest: Path, per_class: int = 3, split: str = "test") -> Path:
    """``dest/cifar10-jpg/<split>/<class>/``: the first ``per_class`` images of each class."""
    for name in D.CIFAR10_CLASSES:
        target = dest / "cifar10-jpg" / split / name
        target.mkdir(parents=True)
        for source in sorted((data_root / "cifar10-jpg" / "test" / name).iterdir())[:per_class]:
            shutil.copyfile(source, target / source.name)
    return dest


# ----------------------------------------------------------------------------------------
# CIFAR-10: the JPEG tree
# ----------------------------------------------------------------------------------------


def test_a_missing_class_is_an_error_not_nine_class_training(data_root: Path, tmp_path: Path) -> None:
    root = jpeg_copy(data_root, tmp_path / "data")
    shutil.rmtree(root / "cifar10-jpg" / "test" / "frog")
    with pytest.raises(D.DataNotFoundError, match=r"lacks the class folder\(s\) frog: CIFAR-10 has ten classes"):
        D.load_cifar10("test", root, download=False, cache_dir=tmp_path / "cache")


def test_an_empty_class_folder_is_an_error(data_root: Path, tmp_path: Path) -> None:
    root = jpeg_copy(data_root, tmp_path / "data")
    for image in (root / "cifar10-jpg" / "test" / "ship").iterdir():
        image.unlink()
    with pytest.raises(D.DataNotFoundError, match=r"ship holds no images"):
        D.load_cifar10("test", root, download=False, cache_dir=tmp_path / "cache")


def test_a_changed_image_with_the_same_size_and_time_is_not_served_stale(data_root: Path, tmp_path: Path) -> None:
    root = jpeg_copy(data_root, tmp_path / "data")
    cache = tmp_path / "cache"
    first = D.load_cifar10("test", root, download=False, cache_dir=cache)
    folder = root / "cifar10-jpg" / "test"
    victim, donor = folder / "cat" / "0000.jpg", folder / "dog" / "0000.jpg"
    old, new = victim.read_bytes(), donor.read_bytes()
    if len(new) > len(old):
        victim, donor, old, new = donor, victim, new, old
    stat = victim.stat()
    victim.write_bytes(new + b"\0" * (len(old) - len(new)))  # same size: the decoder stops at the end marker
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the same modification time
    assert (victim.stat().st_size, victim.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    second = D.load_cifar10("test", root, download=False, cache_dir=cache)
    i, j = (3 * 3, 5 * 3) if victim.parent.name == "cat" else (5 * 3, 3 * 3)
    assert torch.equal(second.images[i], first.images[j])  # the new pixels, not the cached old ones


def test_content_fingerprint(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"12")
    (tmp_path / "b").write_bytes(b"34")
    files = [tmp_path / "a", tmp_path / "b"]
    before = D.content_fingerprint(files, tmp_path)
    assert D.content_fingerprint(files, tmp_path) == before
    (tmp_path / "b").write_bytes(b"35")
    assert D.content_fingerprint(files, tmp_path) != before
    (tmp_path / "b").write_bytes(b"34")
    assert D.content_fingerprint(files, tmp_path) == before  # content, not timestamps
    (tmp_path / "c").write_bytes(b"34")
    assert D.content_fingerprint([tmp_path / "a", tmp_path / "c"], tmp_path) != before  # names count too
    (tmp_path / "ab").write_bytes(b"1234")  # boundaries count: "12"+"34" is not "1234"+""
    (tmp_path / "e").write_bytes(b"")
    assert D.content_fingerprint([tmp_path / "ab", tmp_path / "e"], tmp_path) != before


# ----------------------------------------------------------------------------------------
# CIFAR-10: the official batches must not hide a valid JPEG copy
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["empty folder", "partial", "garbage"])
def test_a_broken_official_folder_falls_back_to_the_jpeg_copy(
    data_root: Path, tmp_path: Path, damage: str
) -> None:
    root = jpeg_copy(data_root, tmp_path / "data")
    batches = root / "cifar-10-batches-py"
    batches.mkdir()
    names = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
             "batches.meta"]
    if damage != "empty folder":
        for name in names if damage == "garbage" else names[:2]:
            (batches / name).write_bytes(b"not a pickle" * 10)
    expected = "is damaged" if damage == "garbage" else "is incomplete"
    with pytest.warns(UserWarning, match=f"ignoring .*cifar-10-batches-py {expected}.*using the JPEG copy"):
        loaded = D.load_cifar10("test", root, download=False, cache_dir=tmp_path / "cache")
    assert "JPEG copy" in loaded.variant and loaded.class_counts() == [3] * 10


def test_a_broken_official_folder_alone_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "cifar-10-batches-py").mkdir(parents=True)
    (root / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"x")
    with pytest.raises(D.DataNotFoundError) as info:
        D.load_cifar10("train", root, download=False)
    first_line = str(info.value).splitlines()[0]
    assert "is incomplete: data_batch_2" in first_line and "put the official batches in" in first_line


def test_offline_message_is_one_sentence_saying_what_to_put_where(tmp_path: Path, no_network: None) -> None:
    for load, where in ((D.load_cifar10, "cifar10-jpg"), (D.load_hands, "hands")):
        with pytest.raises(D.DataNotFoundError) as info:
            load("train", tmp_path / "empty")
        first = str(info.value).splitlines()[0]
        assert "downloading it failed" in first and "put" in first and where in first
        assert "RESNET_COURSE_DATA" in first


# ----------------------------------------------------------------------------------------
# Downloads: checksummed, extracted inside their folder
# ----------------------------------------------------------------------------------------


def _tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))


def test_cifar_download_is_md5_checked_and_extracted_safely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "served.tar.gz"
    seen = {}

    def fake_download_url(url: str, root: str, filename: str, md5: str) -> None:
        seen.update(url=url, md5=md5)
        shutil.copyfile(archive, Path(root) / filename)

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", fake_download_url)
    _tar(archive, {"cifar-10-batches-py/data_batch_1": b"batch"})
    root = tmp_path / "root"
    assert D.download_cifar10(root) == root / "cifar-10-batches-py"
    assert (root / "cifar-10-batches-py" / "data_batch_1").read_bytes() == b"batch"
    assert seen == {"url": D.CIFAR10_URL, "md5": "c58f30108f718f92721af3b95e74349a"}  # torchvision's pinned MD5
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py"]  # the archive is gone
    _tar(archive, {"cifar-10-batches-py/ok": b"", "../escaped": b"gotcha"})
    with pytest.raises(D.UnsafeArchiveError, match="outside"):
        D.download_cifar10(tmp_path / "other")
    assert not (tmp_path / "escaped").exists()


# ----------------------------------------------------------------------------------------
# HandsDataset: the label files
# ----------------------------------------------------------------------------------------

HEADER = "filename,width,height,class,xmin,ymin,xmax,ymax\n"
GOOD = "a.jpg,80,60,2-hand,10,10,40,50\n"


def hands_tree(root: Path, train_csv: str) -> Path:
    """A miniature ``root/hands``: the given train CSV, a valid test CSV, and the photo ``a.jpg``."""
    folder = root / "hands"
    (folder / "data").mkdir(parents=True)
    (folder / "images").mkdir()
    Image.new("RGB", (80, 60), (90, 140, 200)).save(folder / "images" / "a.jpg")
    (folder / "data" / "train_labels.csv").write_text(train_csv)
    (folder / "data" / "test_labels.csv").write_text(HEADER + GOOD)
    return root


def test_a_valid_miniature_loads(tmp_path: Path) -> None:
    data = D.load_hands("train", hands_tree(tmp_path, HEADER + GOOD + GOOD), size=8, download=False,
                        cache_dir=tmp_path / "cache")
    assert len(data) == 2 and data.labels.tolist() == [2, 2] and data.sources == ["a.jpg", "a.jpg"]


@pytest.mark.parametrize(
    ("csv_text", "line", "message"),
    [
        ("filename,width,height,class,xmin,ymin,xmax\n" + "a.jpg,80,60,2-hand,10,10,40\n", 1, "missing column.*ymax"),
        (HEADER + GOOD + "a.jpg,80,60,2-hand,10,ten,40,50\n", 3, "ymin is 'ten', not a number"),
        (HEADER + "a.jpg,0,60,2-hand,10,10,40,50\n", 2, "size is 0x60; width and height must be positive"),
        (HEADER, 2, "no rows below the header"),
        (HEADER + GOOD + GOOD + "a.jpg,80,60,2-hand,40,10,10,50\n", 4,
         r"box \(40, 10\)-\(10, 50\) is empty or inverted"),
        (HEADER + "a.jpg,80,60,2-hand,10,10,90,50\n", 2, r"box \(10, 10\)-\(90, 50\) lies outside the 80x60 photo"),
        (HEADER + "a.jpg,80,60,2-hand,-5,10,40,50\n", 2, "lies outside"),
        (HEADER + "a.jpg,80,60,7-hand,10,10,40,50\n", 2, "unknown class '7-hand'"),
        (HEADER + "a.jpg,80,60,2-hand,10,10,40\n", 2, "the 'ymax' cell is empty"),
        (HEADER + "../../secret.jpg,80,60,2-hand,10,10,40,50\n", 2, "not a plain file name"),
        (HEADER + "a.jpg,80,60,2-hand,10,10,40,nan\n", 2, "ymax is 'nan', not a number"),
    ],
    ids=["missing-column", "not-a-number", "zero-width", "no-rows", "inverted-box", "box-outside-photo",
         "negative-corner", "unknown-class", "empty-cell", "path-in-file-name", "nan"],
)
def test_a_bad_label_file_is_one_error_naming_file_and_line(
    tmp_path: Path, csv_text: str, line: int, message: str
) -> None:
    root = hands_tree(tmp_path, csv_text)
    with pytest.raises(D.LabelFileError) as info:
        D.load_hands("train", root, size=8, download=False, cache_dir=tmp_path / "cache")
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{root / 'hands' / 'data' / 'train_labels.csv'}, line {line}")
    assert re.search(message, text), text


def test_the_real_label_files_pass_the_checks(data_root: Path) -> None:
    for split, rows in (("train", 1381), ("test", 349)):
        assert len(D.read_hands_csv(data_root / "hands" / "data" / f"{split}_labels.csv")) == rows


# ----------------------------------------------------------------------------------------
# Beyond the issue: the data folder, Ctrl-C and a full disk while data is decoded and cached
# ----------------------------------------------------------------------------------------


def test_a_data_folder_that_is_a_file_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It used to try a download into it and report 'the folder is read-only'."""
    (tmp_path / "data").write_text("not a folder")
    with pytest.raises(D.DataNotFoundError, match=r"the data folder .*/data is a file: give the folder that holds"):
        D.load_cifar10("train", tmp_path / "data")
    monkeypatch.setenv("RESNET_COURSE_DATA", str(tmp_path / "data"))
    with pytest.raises(D.DataNotFoundError, match=r"\(from \$RESNET_COURSE_DATA\) is a file"):
        D.load_hands("train")


@pytest.mark.usefixtures("ctrl_c_raises")
def test_ctrl_c_stops_the_decoding_threads_at_once() -> None:
    """Without it the threads decoded on after Ctrl-C -- the rest of CIFAR-10, seconds -- and the command's
    exit waited for them."""
    done: list[int] = []

    def work(indices) -> None:
        for i in indices:
            if i == 0:
                _thread.interrupt_main()  # Ctrl-C, delivered to the main thread as a real one is
            time.sleep(0.005)
            done.append(i)

    with pytest.raises(KeyboardInterrupt):
        D.parallel(work, 1_000)
    when_stopped = len(done)
    time.sleep(0.5)  # the threads' time to decode on, were they not stopped
    # each thread may finish the image it holds, and takes no other (however slowly the machine reacted)
    workers = min(8, os.cpu_count() or 1)
    assert len(done) - when_stopped <= workers, f"{len(done) - when_stopped} images decoded after Ctrl-C"


def _blob() -> dict:
    return {"key": {"format": 0}, "images": torch.zeros(2, 3, 4, 4, dtype=torch.uint8),
            "labels": torch.zeros(2, dtype=torch.int64), "classes": ["a"], "variant": "test"}


def test_ctrl_c_while_the_cache_is_written_leaves_no_temporary_file(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted_save(obj, file, *args, **kwargs) -> None:
        file.write(b"half a cache")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        D.save_cache(tmp_path / "cifar10-jpg-train.pt", _blob())
    assert list(tmp_path.iterdir()) == []  # a 150 MB leftover per interrupted decode, before


def test_a_full_disk_while_the_cache_is_written_only_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = tmp_path / "cifar10-jpg-train.pt"
    old.write_bytes(b"the previous cache")

    def full_disk_save(obj, file, *args, **kwargs) -> None:  # what torch.save raises when a write hits ENOSPC
        file.write(b"part")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(torch, "save", full_disk_save)
    with pytest.warns(UserWarning, match="could not write cache .*cifar10-jpg-train.pt"):
        D.save_cache(old, _blob())
    assert [p.name for p in tmp_path.iterdir()] == [old.name] and old.read_bytes() == b"the previous cache"
