"""Chapter 5b (*Training fast*): the self-checks of its exercises.

- ``ex-ch5b-crop-flip`` — §4.2's augmentation (pad 4, random 32×32 crop, horizontal flip) for a
  batch, as the tensor-resident loader does it: :func:`check_crop_flip`, solution
  :func:`reference_crop_flip`;
- ``ex-ch5b-trick-gains`` — what each speed trick bought over the row before it:
  :func:`check_trick_gains`, solution :func:`reference_trick_gains`;
- ``ex-ch5b-minutes`` — minutes of training to a test accuracy at a run's median pace:
  :func:`check_minutes_to_accuracy`, solution :func:`reference_minutes_to_accuracy`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from resnet_course.exercises.checking import (
    as_number,
    close_enough,
    display_name,
    fail,
    format_shape,
    require_callable,
    run_student_code,
    self_check,
    succeed,
)

__all__ = [
    "check_crop_flip",
    "check_minutes_to_accuracy",
    "check_trick_gains",
    "reference_crop_flip",
    "reference_minutes_to_accuracy",
    "reference_trick_gains",
]


# --------------------------------------------------------------------------- random crop and flip of a batch


def reference_crop_flip(images: Tensor, dy: Tensor, dx: Tensor, flips: Tensor, pad: int = 4) -> Tensor:
    """The augmentation of §4.2 for a batch, with given offsets: the reference of ``ex-ch5b-crop-flip``.

    Pad every image with ``pad`` zero pixels on each side, cut the H×W window whose top-left
    corner is at row ``dy[b]``, column ``dx[b]`` of the padded image, and mirror it left-right
    where ``flips[b]`` is true -- what :class:`resnet_course.data.TensorLoader` computes as
    one gather.
    """
    height, width = images.shape[-2:]
    return _cut(F.pad(images, (pad, pad, pad, pad)), dy, dx, flips, height, width)  # F.pad pads with zeros


def _cut(padded: Tensor, dy: Tensor, dx: Tensor, flips: Tensor, height: int, width: int) -> Tensor:
    """Windows of ``height`` × ``width`` at (dy[b], dx[b]) of each padded image, mirrored where ``flips``."""
    crops = torch.stack([padded[b, :, int(dy[b]):int(dy[b]) + height, int(dx[b]):int(dx[b]) + width]
                         for b in range(padded.shape[0])])
    return torch.where(flips.view(-1, 1, 1, 1), crops.flip(3), crops)


def _diagnose_crop_flip(check: str, got: Tensor, images: Tensor, dy: Tensor, dx: Tensor, flips: Tensor,
                        pad: int) -> None:
    """Fail with the slip that explains ``got``, if it is one of the usual ones (else return)."""
    def same(candidate: Tensor) -> bool:
        return torch.equal(got, candidate.long())

    unflipped = torch.zeros_like(flips)
    if same(reference_crop_flip(images, dy, dx, unflipped, pad)):
        fail(check, "no image is mirrored: where flips[b] is true, flip the crop left-right (torch.flip(crop, "
                     "dims=[-1]))")
    if same(reference_crop_flip(images, dy, dx, ~flips, pad)):
        fail(check, "the images where flips[b] is False are mirrored and the others are not: flip where it is True")
    vertical = reference_crop_flip(images, dy, dx, unflipped, pad)
    if same(torch.where(flips.view(-1, 1, 1, 1), vertical.flip(2), vertical)):
        fail(check, "you flipped up-down (dimension 2, the rows); the augmentation mirrors left-right: the last "
                     "dimension, the columns (dims=[3] or [-1])")
    if same(reference_crop_flip(torch.where(flips.view(-1, 1, 1, 1), images.flip(3), images), dy, dx, unflipped,
                                pad)):
        fail(check, "you flip before you crop. As a random augmentation that is just as good, but the offsets "
                     "(dy, dx) are defined on the padded *unflipped* image: crop first, then mirror the crop (this "
                     "is how TensorLoader applies them)")
    if same(reference_crop_flip(images, dx, dy, flips, pad)):
        fail(check, "rows and columns are swapped: dy is the vertical offset (rows, dimension 2), dx the "
                     "horizontal one (columns, dimension 3)")
    height, width = images.shape[-2:]
    for mode in ("replicate", "reflect"):
        padded = F.pad(images.float(), (pad, pad, pad, pad), mode=mode).to(torch.uint8)
        if same(_cut(padded, dy, dx, flips, height, width)):
            fail(check, f"the border is filled by '{mode}' padding; the paper (and torchvision's "
                         "RandomCrop(padding=4)) pad with zeros: F.pad(images, (4, 4, 4, 4)) with its default "
                         "mode='constant'")


@self_check
def check_crop_flip(fn: Callable[..., Any]) -> None:
    """Check ``fn(images, dy, dx, flips)`` (with ``pad=4`` by default) against :func:`reference_crop_flip`.

    The batch is ``uint8`` B×3×H×W with H ≠ W (so rows and columns cannot be swapped
    unnoticed), offsets include 0 and 2·pad, and some images are flipped.
    """
    check = "check_crop_flip"
    require_callable(check, fn, "crop_flip")
    pad = 4
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(1, 256, (6, 3, 10, 12), dtype=torch.uint8, generator=generator)  # no zero pixels
    dy = torch.tensor([0, 8, 3, 4, 8, 1])
    dx = torch.tensor([8, 0, 6, 4, 2, 7])
    flips = torch.tensor([False, True, True, False, True, False])
    given = images.clone()
    what = f"{display_name(fn)}(images, dy, dx, flips)"
    out = run_student_code(check, what, fn, given, dy.clone(), dx.clone(), flips.clone())
    if not torch.equal(given, images):
        fail(check, f"{what} changed the input images in place; build the crops as new tensors")
    if not isinstance(out, Tensor):
        fail(check, f"{what} returned {type(out).__name__}; return a tensor B×3×H×W")
    if tuple(out.shape) != tuple(images.shape):
        fail(check, f"for a batch of shape {format_shape(images)} {what} returned {format_shape(out)}; the crops "
                     f"must have the images' own size (pad by {pad} on each side, then cut H×W back out)")
    expected = reference_crop_flip(images, dy, dx, flips, pad).long()
    got = out.detach().to(torch.int64)
    if torch.equal(got, expected):
        succeed(check, f"{display_name(fn)} pads with {pad} zero pixels, crops at (dy, dx) of the padded image and "
                       "mirrors left-right where flips is true, for every image of the batch.")
        return
    _diagnose_crop_flip(check, got, images, dy, dx, flips, pad)
    b = next(b for b in range(images.shape[0]) if not torch.equal(got[b], expected[b]))
    fail(check, f"image {b} (dy={int(dy[b])}, dx={int(dx[b])}, flip={bool(flips[b])}) differs from the expected "
                 f"crop in {int((got[b] != expected[b]).sum())} of {expected[b].numel()} values. Output pixel "
                 f"(i, j) is pixel (dy + i, dx + j) of the image padded with {pad} zeros on each side, i.e. pixel "
                 f"(dy + i − {pad}, dx + j − {pad}) of the image, or 0 outside it.")


# --------------------------------------------------------------------------- what each trick bought


def reference_trick_gains(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Each measured row's images per second over the measured row before it (the first row has none).

    The reference of ``ex-ch5b-trick-gains``. ``rows`` are a throughput result's rows
    (``results/throughput_<device>_<model>.json``: ``method`` and ``images_per_sec``, which
    is ``None`` for a trick that does not apply on the device); such rows are skipped, and
    the next row compares with the last measured one.
    """
    gains, previous = {}, None
    for row in rows:
        rate = row["images_per_sec"]
        if rate is None:
            continue
        if previous is not None:
            gains[row["method"]] = rate / previous
        previous = rate
    return gains


def _throughput_rows() -> list[dict[str, Any]]:
    """Rows like a throughput file's, with an n/a row in the middle and ratios that tell the slips apart."""
    rates = [("usual script", 200.0), ("tensor loader", 300.0), ("+ bf16", 660.0), ("+ CUDA graphs", None),
             ("+ channels-last", 726.0), ("+ fused SGD", 690.0)]
    return [{"method": method, "images_per_sec": rate, "note": "" if rate else "n/a on cpu"}
            for method, rate in rates]


def _diagnose_trick_gains(check: str, got: dict[str, float], rows: list[dict[str, Any]]) -> None:
    """Fail with the slip that explains ``got`` if it is one of the usual ones (else return)."""
    measured = [r for r in rows if r["images_per_sec"] is not None]
    first = measured[0]["images_per_sec"]
    expected = reference_trick_gains(rows)

    def same(candidate: dict[str, float]) -> bool:
        return set(candidate) == set(got) and all(close_enough(got[k], v) for k, v in candidate.items())

    if same({r["method"]: r["images_per_sec"] / first for r in measured[1:]}):
        fail(check, "you divided every row by the first row, the usual script: that is the table's ratio column, "
                     "what all the tricks so far bought together. Divide by the row just before instead")
    if same({k: 1 / v for k, v in expected.items()}):
        fail(check, "your gains are inverted (the row before over this row): a trick that makes training faster "
                     "must give a number above 1, images per second divided by the previous row's")
    if same({k: 100 * (v - 1) for k, v in expected.items()}) or same({k: 100 * v for k, v in expected.items()}):
        fail(check, "return the ratio itself (1.5 for 50 % more images per second), not a percentage")
    if measured[0]["method"] in got:
        fail(check, f"the first row ({measured[0]['method']!r}) has no row before it: leave it out")
    skipped = [r["method"] for r in rows if r["images_per_sec"] is None]
    if any(method in got for method in skipped):
        fail(check, f"{skipped[0]!r} was not measured (images_per_sec is None): leave it out, and compare the row "
                     "after it with the last measured row")


@self_check
def check_trick_gains(fn: Callable[[Sequence[Mapping[str, Any]]], Any]) -> None:
    """Check ``fn(rows) -> {method: gain}``, each measured row's images per second over the measured row before it.

    The rows are shaped like a throughput file's: a ``method`` and ``images_per_sec``
    (``None`` where the trick does not apply, as CUDA graphs on a CPU).
    """
    check = "check_trick_gains"
    require_callable(check, fn, "gains")
    rows = _throughput_rows()
    given = [dict(row) for row in rows]
    what = f"{display_name(fn)}(rows)"
    got = run_student_code(check, what, fn, given)
    if given != rows:
        fail(check, f"{what} changed the rows it was given: compute a new dict")
    if not isinstance(got, Mapping):
        fail(check, f"{what} returned {type(got).__name__}; return a dict {{method: gain}}")
    got = {k: as_number(check, v, f"{what}[{k!r}]") for k, v in got.items()}
    _diagnose_trick_gains(check, got, rows)
    expected = reference_trick_gains(rows)
    missing = [k for k in expected if k not in got]
    if missing:
        fail(check, f"{what} has no gain for {missing[0]!r}; every measured row but the first needs one")
    wrong = [k for k in expected if not close_enough(got[k], expected[k])]
    if wrong or set(got) != set(expected):
        k = wrong[0] if wrong else sorted(set(got) - set(expected))[0]
        fail(check, f"{what}[{k!r}] is {got.get(k)!r}, expected {expected.get(k)!r}: the row's images per second "
                     "over the last measured row's before it")
    product = math.prod(expected.values())
    succeed(check, f"{display_name(fn)} divides each measured row by the one before it, skipping the row that was "
                   f"not measured; the gains multiply to {product:.2f}×, the last row over the first.")


# --------------------------------------------------------------------------- chapter 5b: minutes to accuracy


def reference_minutes_to_accuracy(result: Mapping[str, Any], target: float) -> float | None:
    """Minutes of training to ``target`` test accuracy at the run's median pace, ``None`` if never reached.

    The reference of ``ex-ch5b-minutes``: the package's
    :func:`resnet_course.experiments.zoo.minutes_to_accuracy`.
    """
    from resnet_course.experiments.zoo import minutes_to_accuracy

    return minutes_to_accuracy(result, target)


def _zoo_like(val_acc: list[float], images_per_sec: list[float], images: int = 10_000) -> dict[str, Any]:
    """A result shaped like ``results/zoo/<name>.json``; each epoch's evaluation adds 7 s to its epoch_time."""
    return {"meta": {"train_images": images},
            "history": {"val_acc": val_acc, "images_per_sec": images_per_sec,
                        "epoch_time": [images / rate + 7.0 for rate in images_per_sec]}}


def _minutes_cases() -> list[tuple[str, dict[str, Any], float]]:
    """(what, result, target): an odd and an even number of epochs, a slowed epoch, an exact hit, a miss."""
    odd = _zoo_like([0.40, 0.62, 0.71, 0.80, 0.84], [100.0, 100.0, 20.0, 125.0, 100.0])
    even = _zoo_like([0.50, 0.70, 0.75, 0.85, 0.86, 0.90], [80.0, 100.0, 125.0, 10.0, 160.0, 200.0])
    return [("a run of 5 epochs, one of them slowed down, target 0.75", odd, 0.75),
            ("a run of 6 epochs, target 0.85 (reached exactly at epoch 4)", even, 0.85),
            ("a run of 6 epochs, target 0.70", even, 0.70),
            ("a run of 5 epochs, target 0.90 (never reached)", odd, 0.90)]


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _minutes_slip(result: dict[str, Any], target: float, got: float) -> str | None:
    """The usual slip that gives ``got`` instead of the reference, as a hint; None if none fits."""
    history, images = result["history"], result["meta"]["train_images"]
    accuracy = history["val_acc"]
    first = next((i + 1 for i, a in enumerate(accuracy) if a >= target), None)
    strictly = next((i + 1 for i, a in enumerate(accuracy) if a > target), None)
    if first is None:
        return None
    seconds = [images / rate for rate in history["images_per_sec"]]
    median, ordered, middle = _median(seconds), sorted(seconds), len(seconds) // 2
    even = "for an even number of epochs the median is the mean of the two middle ones"
    candidates = [
        (first * median, "that is seconds; return minutes (divide by 60)"),
        (first * sum(seconds) / len(seconds) / 60, "you used the mean epoch; the median ignores epochs slowed by "
                                                   "other work on the machine (one slow epoch moves the mean a lot)"),
        (sum(seconds[:first]) / 60, "you added up those epochs' own times; a slowed-down epoch then counts in "
                                    "full: use the median epoch's time for every epoch"),
        (first * _median(history["epoch_time"]) / 60, "you used epoch_time, which includes each epoch's "
                                                      "evaluation; training seconds are train_images / "
                                                      "images_per_sec"),
        ((first - 1) * median / 60, "one epoch short: epochs count from 1 (list index i is epoch i + 1)"),
    ]
    if len(seconds) % 2 == 0:
        candidates += [(first * ordered[middle] / 60, even), (first * ordered[middle - 1] / 60, even)]
    if strictly is not None and strictly != first:
        candidates.insert(0, (strictly * median / 60, "an accuracy equal to the target reaches it: compare with >=, "
                                                      "not >"))
    for value, hint in candidates:
        if close_enough(got, value):
            return hint
    return None


@self_check
def check_minutes_to_accuracy(fn: Callable[[Mapping[str, Any], float], Any]) -> None:
    """Check ``fn(result, target)`` -> minutes of training to ``target`` test accuracy at the median pace.

    ``result`` is shaped like ``results/zoo/<name>.json`` (``meta["train_images"]``;
    ``history["val_acc"]``, ``["images_per_sec"]`` and ``["epoch_time"]`` per epoch), and
    the answer must be that of :func:`resnet_course.experiments.zoo.minutes_to_accuracy`:
    (first epoch, counted from 1, with ``val_acc >= target``) × (median over the epochs of
    ``train_images / images_per_sec``) / 60, or ``None`` when the target is never reached.
    """
    check = "check_minutes_to_accuracy"
    require_callable(check, fn, "minutes_to")
    for what, result, target in _minutes_cases():
        given = json.loads(json.dumps(result))
        call = f"{display_name(fn)}(result, {target}) for {what}"
        got = run_student_code(check, call, fn, given, target)
        if given != result:
            fail(check, f"{call} changed the result it was given: sort a copy (sorted(...)), not the history")
        expected = reference_minutes_to_accuracy(result, target)
        if expected is None:
            if got is not None:
                fail(check, f"{call} returned {got!r}; the accuracy never reaches the target, so return None")
            continue
        if got is None:
            fail(check, f"{call} returned None, but the accuracy reaches {target} at epoch "
                         f"{next(i + 1 for i, a in enumerate(result['history']['val_acc']) if a >= target)}")
        got = as_number(check, got, call, hint=" (the minutes)")
        if not close_enough(got, expected):
            hint = _minutes_slip(result, target, got) or ("minutes = epochs to the target × the median epoch's "
                                                          "training seconds / 60")
            fail(check, f"{call} returned {got:.4g}, expected {expected:.4g} — {hint}.")
    succeed(check, f"{display_name(fn)} counts the epochs to the target from 1, times the median epoch's training "
                   "seconds, in minutes, and returns None for a target never reached.")
