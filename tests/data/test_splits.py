"""Session-disjoint splits of the hand gestures (resnet_course.data.splits), and ImageSet's select/concatenate."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from resnet_course import data as D


@pytest.fixture(scope="module")
def hands_all(data_root: Path, cache_dir: Path) -> D.ImageSet:
    """The dataset's own train and test splits pooled: all 1,730 boxes."""
    parts = [D.load_hands(split, data_root, download=False, cache_dir=cache_dir) for split in ("train", "test")]
    return D.ImageSet.concatenate(parts, "all")


@pytest.mark.parametrize(
    ("filename", "session"),
    [
        ("2_pic00038.jpg", "2_"),
        ("996_pic00012.jpg", "996_"),
        ("1528664299.56_pic00191.jpg", "1528664299.56_"),
        ("3_1528505750.77_pic00007.jpg", "3_1528505750.77_"),
        ("pic00012.jpg", ""),
        ("Hand_0000084.jpg", "Hand_"),
        ("images/2_pic00038.jpg", "2_"),
        ("holiday.jpg", "holiday.jpg"),
    ],
)
def test_session_of(filename: str, session: str) -> None:
    assert D.session_of(filename) == session


def test_the_datasets_own_split_shares_sessions(hands_all: D.ImageSet) -> None:
    assert hands_all.sources is not None and len(hands_all) == 1730
    train, test = hands_all.sources[:1381], hands_all.sources[1381:]
    shared = D.shared_sessions(train, test)
    assert len(shared) >= 10 and "2_" in shared  # the leak issue 16 describes


def test_session_split_is_disjoint_balanced_and_deterministic(hands_all: D.ImageSet, capsys) -> None:
    train, test, split = D.split_by_session(hands_all, test_fraction=0.25)
    printed = capsys.readouterr().out
    assert printed.startswith("session split:") and "0-hand" in printed and "test sessions:" in printed
    assert D.shared_sessions(train.sources, test.sources) == []
    assert sorted(split.train + split.test) == list(range(len(hands_all)))
    assert set(split.train_sessions).isdisjoint(split.test_sessions)
    assert len(train) + len(test) == len(hands_all) and train.split == "train" and test.split == "test"
    shares = [te / (tr + te) for tr, te in zip(split.train_counts, split.test_counts)]
    assert all(0.1 < share < 0.45 for share in shares), split.table()  # every class on both sides
    assert torch.equal(torch.tensor(split.test_counts), torch.bincount(test.labels, minlength=6))
    again = D.session_split(hands_all.sources, hands_all.labels.tolist(), hands_all.classes, verbose=False)
    assert again == split


def test_session_split_on_a_toy_example() -> None:
    files = ["a_pic1.jpg", "a_pic2.jpg", "b_pic1.jpg", "b_pic2.jpg", "c_pic1.jpg", "c_pic2.jpg", "d_pic1.jpg",
             "d_pic2.jpg"]
    labels = [0, 1, 0, 1, 0, 1, 0, 1]
    split = D.session_split(files, labels, ["x", "y"], test_fraction=0.25, verbose=False)
    # Each session alone hits the target (one of each class); the tie goes to the first by name.
    assert split.test_sessions == ["a_"] and split.test == [0, 1] and split.train_counts == [3, 3]
    assert "test share" in str(split)
    lopsided = D.session_split(files, [0, 0, 1, 1, 0, 1, 0, 1], ["x", "y"], test_fraction=0.5, verbose=False)
    assert lopsided.test_counts == [2, 2] and lopsided.test_sessions in (["a_", "b_"], ["c_", "d_"])


def test_many_sessions_use_the_local_search() -> None:
    generator = torch.Generator().manual_seed(0)
    files, labels = [], []
    for session in range(D.EXHAUSTIVE_UP_TO + 10):
        size = int(torch.randint(5, 40, (1,), generator=generator))
        files += [f"{session}_pic{k:05d}.jpg" for k in range(size)]
        labels += torch.randint(0, 3, (size,), generator=generator).tolist()
    split = D.session_split(files, labels, ["x", "y", "z"], test_fraction=0.2, verbose=False)
    assert set(split.train_sessions).isdisjoint(split.test_sessions) and split.test and split.train
    shares = [te / (tr + te) for tr, te in zip(split.train_counts, split.test_counts)]
    assert all(abs(share - 0.2) < 0.05 for share in shares), split.table()


def test_session_split_errors() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        D.session_split(["a_pic1.jpg"], [0], ["x"], test_fraction=1.0)
    with pytest.raises(ValueError, match=r"cannot split 1 session\(s\)"):
        D.session_split(["a_pic1.jpg", "a_pic2.jpg"], [0, 0], ["x"], verbose=False)
    with pytest.raises(ValueError, match="2 file names but 1 labels"):
        D.session_split(["a_pic1.jpg", "a_pic2.jpg"], [0], ["x"])
    unnamed = D.ImageSet(torch.zeros(2, 3, 2, 2, dtype=torch.uint8), torch.zeros(2, dtype=torch.long), ["x"], "toy",
                         "train")
    with pytest.raises(ValueError, match="sources"):
        D.split_by_session(unnamed)


def test_select_and_concatenate_keep_sources() -> None:
    images = torch.arange(4 * 12, dtype=torch.uint8).reshape(4, 3, 2, 2)
    data = D.ImageSet(images, torch.tensor([0, 1, 0, 1]), ["x", "y"], "toy", "train", ["p", "q", "r", "s"])
    picked = data.select([3, 0], "test")
    assert picked.sources == ["s", "p"] and picked.labels.tolist() == [1, 0] and picked.split == "test"
    assert torch.equal(picked.images[0], images[3])
    both = D.ImageSet.concatenate([data, picked], "all")
    assert len(both) == 6 and both.sources == ["p", "q", "r", "s", "s", "p"]
    assert data.subset(2, seed=0).sources is not None
    with pytest.raises(ValueError, match="sources"):
        D.ImageSet(images, torch.zeros(4, dtype=torch.long), ["x"], "toy", "train", ["only one"])
