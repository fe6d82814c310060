"""Splits that keep recording sessions apart: the hand gestures' honest train/test split.

The HandsDataset's photos are frames of recording sessions: the file name is
``<session prefix>pic<NNNNN>.jpg`` (``2_pic00038.jpg``, ``996_pic00012.jpg``,
``1528664299.56_pic00191.jpg``, ``3_1528505750.77_pic00007.jpg``), and frames of one
session show the same hands in the same room, a few frames apart. The dataset's own
train/test split is disjoint by photo but not by session, so its test set mostly asks a
network to recognise frames next to ones it trained on: leakage, the data-science error
of Kaufman et al. 2012 (*Leakage in Data Mining*, ACM TKDD 6(4)), here in its
"grouped data" form (the same subject or session on both sides).

:func:`session_of` names a file's session; :func:`session_split` assigns whole sessions
to train or test, deterministically, as close as it can to a given test fraction *of
every class*;
:func:`shared_sessions` lists the sessions two sets have in common (the leak).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from resnet_course.data.imageset import ImageSet

__all__ = [
    "EXHAUSTIVE_UP_TO",
    "SessionSplit",
    "group_by_session",
    "session_of",
    "session_split",
    "shared_sessions",
    "split_by_session",
]


_FRAME = re.compile(r"^(?P<session>.*?)pic\d+\.\w+$")
_NUMBERED = re.compile(r"^(?P<session>.*?)\d+\.\w+$")


def session_of(filename: str) -> str:
    """The recording session of a photo: its file name's prefix before ``pic<NNNNN>.jpg``.

    ``"2_pic00038.jpg"`` → ``"2_"``; ``"1528664299.56_pic00191.jpg"`` → ``"1528664299.56_"``;
    ``"pic00012.jpg"`` → ``""`` (the frames without a prefix are one session). A name
    without ``pic<N>`` is grouped by its prefix before the final number
    (``"Hand_0000084.jpg"`` → ``"Hand_"``: twelve single photos from another source, kept
    together so that none can leak), and any other name is a session of its own.
    """
    name = filename.rsplit("/", 1)[-1]
    match = _FRAME.match(name) or _NUMBERED.match(name)
    return match["session"] if match else name


def group_by_session(filenames: Sequence[str]) -> dict[str, list[int]]:
    """Sample indices by session, sessions in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(filenames):
        groups.setdefault(session_of(name), []).append(i)
    return groups


def shared_sessions(a: Sequence[str], b: Sequence[str]) -> list[str]:
    """The sessions that file lists ``a`` and ``b`` both contain, sorted: empty for an honest split."""
    return sorted({session_of(n) for n in a} & {session_of(n) for n in b})


@dataclass(frozen=True)
class SessionSplit:
    """A train/test assignment of whole sessions; ``print`` it for the class balance."""

    train: list[int]
    test: list[int]
    train_sessions: list[str]
    test_sessions: list[str]
    classes: list[str]
    train_counts: list[int]
    test_counts: list[int]
    test_fraction: float

    def table(self) -> str:
        """Samples per class on each side, and each class's share in the test set."""
        width = max(len("class"), *(len(c) for c in self.classes))
        summary = (f"session split: {len(self.train_sessions)} train sessions ({len(self.train):,} samples), "
                   f"{len(self.test_sessions)} test sessions ({len(self.test):,} samples); "
                   f"target test share {self.test_fraction:.0%}")
        lines = [summary, f"{'class'.ljust(width)}  {'train':>6}  {'test':>6}  test share"]
        for name, tr, te in zip(self.classes, self.train_counts, self.test_counts):
            share = f"{te / (tr + te):.1%}" if tr + te else "-"
            lines.append(f"{name.ljust(width)}  {tr:>6,}  {te:>6,}  {share:>10}")
        shown = ", ".join(repr(s) for s in self.test_sessions)
        return "\n".join([*lines, f"test sessions: {shown}"])

    def __str__(self) -> str:
        return self.table()

    def apply(self, data: ImageSet) -> tuple[ImageSet, ImageSet]:
        """``data``'s samples on each side (``data`` indexed like the file names the split was made from)."""
        return data.select(self.train, "train"), data.select(self.test, "test")


#: Up to this many sessions, every assignment is tried (2^20 ≈ 10⁶ subsets, a fraction of a second).
EXHAUSTIVE_UP_TO = 20


def _counts(indices: Sequence[int], labels: Sequence[int], num_classes: int) -> torch.Tensor:
    return torch.bincount(torch.as_tensor([labels[i] for i in indices], dtype=torch.long), minlength=num_classes)


def _distance(in_test: torch.Tensor, counts: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``Σ_c |test[c] − target[c]|`` for each row of 0/1 session choices ``in_test``."""
    return (in_test.double() @ counts - target).abs().sum(-1)


def _choose_test_sessions(counts: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """0/1 per session (rows of ``counts``): the test sessions closest to ``target``, both sides non-empty."""
    n = counts.shape[0]
    if n <= EXHAUSTIVE_UP_TO:
        choices = (torch.arange(1, 2**n - 1)[:, None] >> torch.arange(n)) & 1  # all but "none" and "all"
        return choices[_distance(choices, counts, target).argmin()]  # ties: the first, a fixed order
    chosen = torch.zeros(n, dtype=torch.long)
    improved = True
    while improved:  # flip the one session that helps most, until none does
        flips = (chosen[None, :] + torch.eye(n, dtype=torch.long)) % 2
        distances = _distance(flips, counts, target)
        improved = bool(distances.min() < _distance(chosen[None], counts, target)[0])
        if improved:
            chosen = flips[distances.argmin()]
    return chosen


def session_split(
    filenames: Sequence[str],
    labels: Sequence[int],
    classes: Sequence[str],
    *,
    test_fraction: float = 0.25,
    verbose: bool = True,
) -> SessionSplit:
    """Assign whole sessions to train or test so that each class has about ``test_fraction`` in test.

    The rule, deterministic: with ``target[c] = test_fraction · total[c]`` samples of class
    ``c`` wanted in test, the test sessions are the set whose class counts are closest
    to the targets, ``Σ_c |test[c] − target[c]|`` smallest, among all sets leaving both
    sides non-empty. Up to :data:`EXHAUSTIVE_UP_TO` sessions every set is tried (ties go to
    the first in a fixed order of the sessions sorted by name); beyond, a local search
    starts from an empty test side and moves the one session that lowers the distance
    most until none does. No session is ever on both sides. ``verbose`` prints the class
    balance (:meth:`SessionSplit.table`).
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    if len(filenames) != len(labels):
        raise ValueError(f"{len(filenames)} file names but {len(labels)} labels")
    groups = group_by_session(filenames)
    if len(groups) < 2:
        raise ValueError(f"cannot split {len(groups)} session(s) into a train and a test side")
    names = sorted(groups)
    num_classes = len(classes)
    counts = torch.stack([_counts(groups[s], labels, num_classes) for s in names]).double()
    in_test = _choose_test_sessions(counts, test_fraction * counts.sum(0)).tolist()
    test_sessions = [s for s, chosen in zip(names, in_test) if chosen]
    train_sessions = [s for s, chosen in zip(names, in_test) if not chosen]
    train = sorted(i for s in train_sessions for i in groups[s])
    test = sorted(i for s in test_sessions for i in groups[s])
    split = SessionSplit(train, test, train_sessions, test_sessions, list(classes),
                         _counts(train, labels, num_classes).tolist(), _counts(test, labels, num_classes).tolist(),
                         test_fraction)
    if verbose:
        print(split)
    return split


def split_by_session(data: ImageSet, *, test_fraction: float = 0.25,
                     verbose: bool = True) -> tuple[ImageSet, ImageSet, SessionSplit]:
    """:func:`session_split` applied to an :class:`ImageSet` that knows its ``sources`` (e.g. :func:`load_hands`'s).

    Pool the dataset's own splits first to split all its sessions afresh:
    ``ImageSet.concatenate([load_hands("train"), load_hands("test")], "all")``.
    """
    if data.sources is None:
        raise ValueError(f"{data!r} does not know its samples' file names (sources); load it with load_hands")
    split = session_split(data.sources, data.labels.tolist(), data.classes, test_fraction=test_fraction,
                          verbose=verbose)
    train, test = split.apply(data)
    return train, test, split
