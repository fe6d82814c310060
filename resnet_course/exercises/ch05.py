"""Chapter 5 (*Training ResNets on CIFAR-10*): the self-checks of its exercises (chapter 5b's are in
:mod:`resnet_course.exercises.ch05b`).

- ``ex-ch5-lr-at`` — the paper's step schedule (He et al. 2015, §4.2): :func:`check_lr_schedule`,
  solution :func:`reference_lr_at`;
- ``ex-ch5-smoothing`` — label-smoothed targets (Szegedy et al. 2016): :func:`check_smoothed_targets`,
  solution :func:`reference_smoothed_targets`;
- ``ex-ch5-confusion`` — accuracy and per-class recall from a confusion matrix:
  :func:`check_confusion_summary`, solution :func:`reference_confusion_summary`;
- ``ex-ch5-no-decay`` — optimiser groups without weight decay on BatchNorm parameters and
  biases: :func:`check_param_groups`, solution :func:`reference_param_groups`.
"""

from __future__ import annotations

from collections.abc import Callable
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
    "check_lr_schedule",
    "check_param_groups",
    "check_smoothed_targets",
    "reference_confusion_summary",
    "reference_lr_at",
    "reference_param_groups",
    "reference_smoothed_targets",
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
