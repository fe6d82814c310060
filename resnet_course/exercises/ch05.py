"""Chapters 5 (*Training ResNets on CIFAR-10*) and 5b (*Training fast*): the self-checks of their exercises.

Chapter 5:

- ``ex-ch5-lr-at`` — the paper's step schedule (He et al. 2015, §4.2): :func:`check_lr_schedule`,
  solution :func:`reference_lr_at`;
- ``ex-ch5-smoothing`` — label-smoothed targets (Szegedy et al. 2016): :func:`check_smoothed_targets`,
  solution :func:`reference_smoothed_targets`;
- ``ex-ch5-confusion`` — accuracy and per-class recall from a confusion matrix:
  :func:`check_confusion_summary`, solution :func:`reference_confusion_summary`;
- ``ex-ch5-no-decay`` — optimiser groups without weight decay on BatchNorm parameters and
  biases: :func:`check_param_groups`, solution :func:`reference_param_groups`.

Chapter 5b:

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
from torch import Tensor, nn

from resnet_course.exercises.checking import (
    as_number,
    close_enough,
    display_name,
    fail,
    format_shape,
    require_callable,
    run_student_code,
    seeded,
    self_check,
    succeed,
)
from resnet_course.nn.registry import create_model

__all__ = [
    "PAPER_ITERATIONS",
    "check_confusion_summary",
    "check_crop_flip",
    "check_lr_schedule",
    "check_minutes_to_accuracy",
    "check_param_groups",
    "check_smoothed_targets",
    "check_trick_gains",
    "reference_confusion_summary",
    "reference_crop_flip",
    "reference_lr_at",
    "reference_minutes_to_accuracy",
    "reference_param_groups",
    "reference_smoothed_targets",
    "reference_trick_gains",
]


PAPER_ITERATIONS = 64_000  # He et al. 2015 §4.2: 64k iterations, lr / 10 at 32k and 48k


# --------------------------------------------------------------------------- the paper's step schedule


def reference_lr_at(step: int) -> float:
    """The learning rate of §4.2 at ``step`` (counted from 0) of the 64k iterations.

    0.1, divided by 10 at 32k and again at 48k iterations: the reference solution of
    ``ex-ch5-lr-at``, equal to ``0.1 * schedule_multiplier("paper", 64_000)(step)``.
    """
    if step < 32_000:
        return 0.1
    if step < 48_000:
        return 0.01
    return 0.001


@self_check
def check_lr_schedule(lr_at: Callable[[int], Any]) -> None:
    """Check ``lr_at(step)``, the paper's learning rate at an iteration (He et al. 2015, §4.2).

    Compared with ``0.1 * resnet_course.training.optim.schedule_multiplier("paper", 64_000)`` at the
    start, on both sides of each division (32k and 48k, steps counted from 0) and at the end.
    """
    from resnet_course.training.optim import schedule_multiplier

    check = "check_lr_schedule"
    require_callable(check, lr_at, "lr_at")
    multiplier = schedule_multiplier("paper", PAPER_ITERATIONS)
    steps = (0, 1, 1_000, 16_000, 31_998, 31_999, 32_000, 32_001, 40_000, 47_999, 48_000, 48_001, 56_000, 63_999)
    calls = {s: f"{display_name(lr_at)}({s})" for s in steps}
    got = {s: as_number(check, run_student_code(check, calls[s], lr_at, s), calls[s]) for s in steps}
    expected = {s: 0.1 * multiplier(s) for s in steps}
    wrong = [s for s in steps if not close_enough(got[s], expected[s])]
    if not wrong:
        succeed(check, f"{display_name(lr_at)} gives 0.1 for steps 0-31,999, 0.01 from step 32,000 and 0.001 from step "
                       "48,000 to 63,999: the same as 0.1 × schedule_multiplier('paper', 64_000).")
        return
    if all(close_enough(got[s], multiplier(s)) for s in steps):
        fail(check, f"{display_name(lr_at)}(0) is {got[0]:g}: that is the multiplier of the base learning rate, "
                     "not the learning rate. Multiply by the paper's base lr, 0.1.")
    if not close_enough(got[0], 0.1):
        fail(check, f"{display_name(lr_at)}(0) is {got[0]:g}; the paper starts at lr 0.1.")
    for boundary, before, after in ((32_000, 0.1, 0.01), (48_000, 0.01, 0.001)):
        if close_enough(got[boundary], before) and close_enough(got[boundary + 1], after):
            fail(check, f"at step {boundary:,} your lr is still {before:g}, one step late: steps count from 0, so "
                         f"after {boundary:,} iterations (steps 0 … {boundary - 1:,}) step {boundary:,} already uses "
                         f"{after:g}. Compare with `step < {boundary}`, not `step <= {boundary}`.")
        if close_enough(got[boundary - 1], after):
            fail(check, f"at step {boundary - 1:,} your lr is already {after:g}, one step early: the division "
                         f"happens at {boundary:,} iterations, so steps 0 … {boundary - 1:,} use {before:g}.")
    if close_enough(got[56_000], 0.01):
        fail(check, "the learning rate is 0.01 after 48k iterations too: the paper divides it by 10 a second time "
                     "at 48k, to 0.001.")
    step = wrong[0]
    fail(check, f"at step {step:,} your lr is {got[step]:g}, the paper's is {expected[step]:g} (0.1 until 32k, "
                 "0.01 until 48k, then 0.001; each drop divides by 10).")


# --------------------------------------------------------------------------- label smoothing


def reference_smoothed_targets(labels: Tensor, num_classes: int, smoothing: float) -> Tensor:
    """The label-smoothed targets of ``labels``: ``(1 - ε)`` times the one-hot vector plus ``ε / K`` everywhere.

    The reference of ``ex-ch5-smoothing`` (Szegedy et al. 2016, §7; PyTorch's
    ``F.cross_entropy(..., label_smoothing=ε)``): the true class gets ``1 - ε + ε / K``, every
    other class ``ε / K`` -- 0.91 and 0.01 for ε = 0.1 and K = 10.
    """
    one_hot = F.one_hot(torch.as_tensor(labels).long(), num_classes).double()
    return (1 - smoothing) * one_hot + smoothing / num_classes


def _smoothing_slip(got: Tensor, labels: Tensor, k: int, eps: float) -> str | None:
    """The usual slip that gives ``got``, as a hint; None if none fits."""
    one_hot = F.one_hot(labels, k).double()
    slips = [
        ((1 - eps) * one_hot + eps / (k - 1) * (1 - one_hot),
         "you put 1 - ε on the true class and spread ε over the other K - 1 classes. Label smoothing as Szegedy "
         "et al. define it (and PyTorch's label_smoothing) mixes the one-hot target with the uniform distribution: "
         "(1 - ε)·one-hot + ε/K, so the true class keeps its share ε/K too: 1 - ε + ε/K"),
        ((1 - eps) * one_hot + eps / k * (1 - one_hot),
         "the true class must also get its share ε/K of the uniform part: 1 - ε + ε/K (now the rows sum to less "
         "than 1)"),
        (one_hot * (1 - eps) + eps, "add ε/K, not ε, to every class: the uniform distribution over K classes"),
        (one_hot, "these are the one-hot targets, without smoothing"),
    ]
    for candidate, hint in slips:
        if got.shape == candidate.shape and torch.allclose(got, candidate, atol=1e-6):
            return hint
    return None


@self_check
def check_smoothed_targets(fn: Callable[[Tensor, int, float], Any]) -> None:
    """Check ``fn(labels, num_classes, smoothing)`` -> the N×K label-smoothed target distributions.

    Compared with :func:`reference_smoothed_targets` for K = 10, ε = 0.1 (the ``fast`` recipe's)
    and K = 4, ε = 0.3, and the cross-entropy against them with PyTorch's ``label_smoothing``.
    """
    check = "check_smoothed_targets"
    require_callable(check, fn, "smoothed")
    for k, eps, labels in ((10, 0.1, torch.tensor([3, 0, 9, 3, 7])), (4, 0.3, torch.tensor([1, 3, 0]))):
        call = f"{display_name(fn)}(labels, {k}, {eps})"
        out = run_student_code(check, call, fn, labels.clone(), k, eps)
        try:
            got = torch.as_tensor(out).double()
        except (TypeError, ValueError, RuntimeError):
            fail(check, f"{call} returned {type(out).__name__}; return a tensor with one row per label")
        expected = reference_smoothed_targets(labels, k, eps)
        if tuple(got.shape) != tuple(expected.shape):
            fail(check, f"{call} returned shape {format_shape(got)}; expected {format_shape(expected)}: one row "
                         f"per label, one column per class")
        if not torch.allclose(got, expected, atol=1e-6):
            hint = _smoothing_slip(got, labels, k, eps) or "the true class gets 1 - ε + ε/K, every other ε/K"
            fail(check, f"{call}: row 0 is {[round(v, 4) for v in got[0].tolist()]}, expected "
                         f"{[round(v, 4) for v in expected[0].tolist()]} — {hint}.")
    with seeded(0):
        logits = torch.randn(5, 10, dtype=torch.float64)
    labels = torch.tensor([3, 0, 9, 3, 7])
    target = reference_smoothed_targets(labels, 10, 0.1)
    ours = -(target * logits.log_softmax(dim=1)).sum(dim=1).mean()
    pytorch = F.cross_entropy(logits, labels, label_smoothing=0.1)
    assert torch.allclose(ours, pytorch)
    true, other = target[0, 3].item(), target[0, 0].item()
    succeed(check, f"{display_name(fn)} gives {true:.2f} on the true class and {other:.2f} "
                   "on each other class for K = 10 and ε = 0.1; the cross-entropy against these targets is "
                   f"F.cross_entropy(..., label_smoothing=0.1): {ours.item():.4f} both.")


# --------------------------------------------------------------------------- reading a confusion matrix


def reference_confusion_summary(matrix: Tensor) -> tuple[float, Tensor]:
    """``(accuracy, per-class recall)`` of a confusion matrix (row = true class, column = predicted).

    The reference solution of ``ex-ch5-confusion``: accuracy is the trace over the total,
    the recall of class k is ``matrix[k, k]`` over row k's sum (how many images of class k
    were recognised as k).
    """
    m = torch.as_tensor(matrix).double()
    return (m.trace() / m.sum()).item(), m.diagonal() / m.sum(dim=1)


def _confusion_cases() -> list[Tensor]:
    """Matrices with unequal class counts (so accuracy ≠ mean recall, recall ≠ precision)."""
    small = torch.tensor([[50, 3, 7], [10, 20, 0], [5, 5, 90]])
    generator = torch.Generator().manual_seed(5)
    counts = torch.randint(20, 200, (10,), generator=generator)
    big = torch.randint(0, 8, (10, 10), generator=generator) + torch.diag(counts)
    return [small, big]


def _check_accuracy(check: str, what: str, accuracy: float, matrix: Tensor) -> None:
    """The accuracy must be the trace over the total; name a percentage, the balanced accuracy or a raw count."""
    m = matrix.double()
    true_accuracy, true_recall = reference_confusion_summary(matrix)
    if close_enough(accuracy, true_accuracy):
        return
    if close_enough(accuracy, 100 * true_accuracy):
        hint = "that is a percentage; return a fraction between 0 and 1"
    elif close_enough(accuracy, float(true_recall.mean())):
        hint = ("that is the mean of the per-class recalls (the 'balanced accuracy'); the accuracy counts "
                "images, not classes: the correct predictions (the diagonal) over all images")
    elif close_enough(accuracy, float(m.trace())):
        hint = "that is the number of correct predictions; divide by the number of images, matrix.sum()"
    else:
        hint = "the accuracy is the diagonal's sum (correct predictions) over the sum of all entries"
    fail(check, f"{what}: accuracy {accuracy:.4g}, expected {true_accuracy:.4g} — {hint}.")


def _check_recall(check: str, what: str, recall: Tensor, matrix: Tensor) -> None:
    """The recall must be the diagonal over the row sums; name percentages, the precision or raw counts."""
    m = matrix.double()
    _, true_recall = reference_confusion_summary(matrix)
    if recall.numel() != m.shape[0]:
        fail(check, f"{what}: the recall has {recall.numel()} entries; return one per class ({m.shape[0]})")
    if torch.allclose(recall, true_recall, atol=1e-6):
        return
    if torch.allclose(recall, 100 * true_recall, atol=1e-4):
        hint = "those are percentages; return fractions between 0 and 1"
    elif torch.allclose(recall, m.diagonal() / m.sum(dim=0), atol=1e-6):
        hint = ("you divided by the column sums, which gives the precision (of the images predicted as k, how "
                "many are k); the recall divides by the row sums: of the images that are k, how many were "
                "predicted as k")
    elif torch.allclose(recall, m.diagonal() / m.sum(), atol=1e-6):
        hint = ("you divided by the number of all images; divide each diagonal entry by its row's sum, the "
                "number of images of that class")
    elif torch.allclose(recall, m.diagonal(), atol=1e-6):
        hint = "those are the counts of correct predictions; divide each by its row's sum"
    else:
        hint = "the recall of class k is matrix[k, k] / matrix[k].sum()"
    fail(check, f"{what}: recall {[round(float(r), 4) for r in recall[:4]]}…, expected "
                 f"{[round(float(r), 4) for r in true_recall[:4]]}… — {hint}.")


@self_check
def check_confusion_summary(fn: Callable[[Tensor], Any]) -> None:
    """Check ``fn(matrix) -> (accuracy, recall)`` on confusion matrices with unequal class counts.

    ``matrix[i, j]`` counts the images of true class ``i`` predicted as ``j`` (as
    :func:`resnet_course.training.evaluation.confusion_matrix` returns); ``accuracy`` is a
    fraction and ``recall`` a vector with one fraction per class.
    """
    check = "check_confusion_summary"
    require_callable(check, fn, "summary")
    for matrix in _confusion_cases():
        k = matrix.shape[0]
        what = f"{display_name(fn)} on a {k}×{k} matrix"
        given = matrix.clone()
        result = run_student_code(check, what, fn, given)
        if not torch.equal(given, matrix):
            fail(check, f"{what} changed the matrix it was given (an in-place operation): compute new tensors")
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            fail(check, f"{what} returned {type(result).__name__}; return a pair (accuracy, recall)")
        accuracy = as_number(check, result[0], f"{what} (the accuracy)")
        try:
            recall = torch.as_tensor(result[1]).double().flatten()
        except (TypeError, ValueError, RuntimeError):
            fail(check, f"{what}: the recall is {type(result[1]).__name__}; return one number per class "
                         "(a tensor or a list)")
        _check_accuracy(check, what, accuracy, matrix)
        _check_recall(check, what, recall, matrix)
    succeed(check, f"{display_name(fn)} gives the accuracy (correct images over all images) and each class's recall "
                   "(diagonal over row sum), also when the classes have different numbers of images.")


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


# --------------------------------------------------------------------------- no weight decay on BN and biases


def reference_param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two optimiser parameter groups: weight decay on the weight matrices and kernels, none on
    the 1-d parameters (BatchNorm γ and β, biases) -- the reference of ``ex-ch5-no-decay``,
    as :func:`resnet_course.training.make_optimizer` does with ``decay_bn_and_bias=False``."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]


def _kind(name: str, p: Tensor, model: nn.Module) -> str:
    """What parameter ``name`` is, in words: a BatchNorm γ or β, a bias, a kernel or a fully connected weight."""
    owner = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
    if isinstance(owner, nn.modules.batchnorm._BatchNorm):
        return "BatchNorm γ (weight)" if name.endswith("weight") else "BatchNorm β (bias)"
    if name.endswith("bias"):
        return "bias"
    return "convolution kernel" if p.ndim == 4 else "fully connected weight"


def _decay_per_parameter(check: str, groups: Any, model: nn.Module, weight_decay: float,
                         what: str) -> dict[str, float]:
    """Each parameter's weight decay in ``groups``; every parameter must be in exactly one group."""
    if isinstance(groups, dict) or not isinstance(groups, (list, tuple)):
        fail(check, f"{what} returned {type(groups).__name__}; return a list of groups, each a dict "
                     "{'params': [...], 'weight_decay': ...}")
    names = {id(p): n for n, p in model.named_parameters()}
    decay_of: dict[str, list[float]] = {}
    for i, group in enumerate(groups):
        if not isinstance(group, dict) or "params" not in group:
            fail(check, f"group {i} is {type(group).__name__}, not a dict with a 'params' list")
        decay = as_number(check, group.get("weight_decay", weight_decay), f"group {i}'s weight_decay")
        for p in list(group["params"]):
            if id(p) not in names:
                fail(check, f"group {i} holds a tensor that is not a parameter of the model")
            decay_of.setdefault(names[id(p)], []).append(decay)
    missing = [n for n in names.values() if n not in decay_of]
    if missing:
        fail(check, f"{len(missing)} parameter(s) are in no group, e.g. {', '.join(missing[:3])}: every parameter "
                     "must be in exactly one group, or the optimiser never updates it")
    twice = [n for n, d in decay_of.items() if len(d) > 1]
    if twice:
        fail(check, f"{len(twice)} parameter(s) are in more than one group, e.g. {', '.join(twice[:3])} "
                     "(torch.optim refuses that): put each in exactly one")
    return {name: decays[0] for name, decays in decay_of.items()}


def _wrong_decay_hint(kind: str, weight_decay: float) -> str:
    """What to do about a kind of parameter (as :func:`_kind` names it) that has the wrong weight decay."""
    if kind in ("convolution kernel", "fully connected weight"):
        return (f"the {kind}s must keep weight decay {weight_decay:g} (the function's argument): only 1-d parameters "
                "are exempt — select by p.ndim, not by name")
    if kind.startswith("BatchNorm"):
        return ("BatchNorm parameters must have weight_decay 0. Names are unreliable (this network's shortcut "
                "BatchNorms are called downsample.1, not bn…): every 1-d parameter, p.ndim <= 1, is a BN γ/β or a "
                "bias")
    return "biases must have weight_decay 0, like the BatchNorm parameters: exempt every parameter with p.ndim <= 1"


@self_check
def check_param_groups(fn: Callable[[nn.Module, float], Any]) -> None:
    """Check ``fn(model, weight_decay)`` -> parameter groups for ``torch.optim.SGD`` that exempt
    BatchNorm parameters and biases from weight decay and decay everything else.

    Tried on ResNet-20 with projection shortcuts (option B: its ``downsample.1`` BatchNorms
    are not called ``bn…``). A group without a ``"weight_decay"`` key gets the optimiser's
    default, here ``weight_decay``, as it would in ``SGD(groups, lr=…, weight_decay=…)``.
    """
    check = "check_param_groups"
    require_callable(check, fn, "param_groups")
    model = create_model("resnet20", shortcut="B")
    weight_decay = 5e-4
    what = f"{display_name(fn)}(model, {weight_decay})"
    decay_of = _decay_per_parameter(check, run_student_code(check, what, fn, model, weight_decay), model,
                                    weight_decay, what)
    problems: dict[str, list[str]] = {}
    for name, p in model.named_parameters():
        want = weight_decay if p.ndim > 1 else 0.0
        if not close_enough(decay_of[name], want):
            problems.setdefault(_kind(name, p, model), []).append(f"{name} (weight_decay={decay_of[name]:g})")
    if problems:
        kind, examples = next(iter(problems.items()))
        fail(check, f"{len(examples)} {kind} tensor(s) have the wrong weight decay, e.g. {', '.join(examples[:2])}: "
                     f"{_wrong_decay_hint(kind, weight_decay)}.")
    n_decay = sum(1 for p in model.parameters() if p.ndim > 1)
    n_free = sum(1 for p in model.parameters() if p.ndim <= 1)
    succeed(check, f"{n_decay} weight tensors (kernels and the classifier's matrix) get weight decay "
                   f"{weight_decay:g}, the {n_free} BatchNorm γ/β and bias tensors none, each in exactly one group.")


# --------------------------------------------------------------------------- chapter 5b: what each trick bought


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
