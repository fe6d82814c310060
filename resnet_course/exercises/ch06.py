"""Chapter 6 (*Transfer learning on hand gestures*): the self-checks of its graded exercises.

- ``ex-ch6-new-head`` — the trained body under a new k-way classifier (fine-tuning):
  :func:`check_new_head`;
- ``ex-ch6-freeze-body`` — a frozen body, BatchNorm statistics included, under a trainable
  head (feature extraction): :func:`check_frozen_body`;
- ``ex-ch6-two-lrs`` — optimiser groups with one learning rate for the head and a smaller one
  for the body: :func:`check_finetune_param_groups`, solution
  :func:`reference_finetune_param_groups`;
- ``ex-ch6-predict`` — predict a learning-curve point before running it:
  :func:`compare_prediction` sets the prediction beside the reference run (and the
  reader's own run).

The package's own versions are :func:`resnet_course.lessons.transfer.new_head` and
:class:`resnet_course.lessons.transfer.FrozenFeatures`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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
    randomise_batchnorm,
    require_callable,
    run_student_code,
    seeded,
    self_check,
    succeed,
)
from resnet_course.nn.registry import create_model
from resnet_course.nn.summary import count_parameters

__all__ = [
    "PredictionReport",
    "check_finetune_param_groups",
    "check_frozen_body",
    "check_new_head",
    "compare_prediction",
    "reference_finetune_param_groups",
]


def _trained_cifar_network(seed: int = 0) -> nn.Module:
    """A CIFAR ResNet-20 with random weights and non-trivial BatchNorm statistics (stands in for a trained one)."""
    with seeded(seed):
        model = create_model("resnet20")
    randomise_batchnorm(model, seed + 1)
    return model.eval()


def _matches(name: str, names: Sequence[str]) -> str | None:
    """The entry of ``names`` that ``name`` is, possibly under a prefix (``body.conv1.weight`` is ``conv1.weight``).

    The longest match wins: ``body.layer1.0.bn1.weight`` is ``layer1.0.bn1.weight``, not ``bn1.weight``.
    """
    found = [c for c in names if name == c or name.endswith("." + c)]
    return max(found, key=len) if found else None


def _out_features_hint(model: nn.Module, k: int, got: int) -> str:
    """Why the network does not output ``k`` classes (it outputs ``got``; -1 when not a 2-d tensor)."""
    fc = getattr(model, "fc", None)
    if isinstance(fc, nn.Linear) and fc.out_features == k and fc.weight.shape[0] != k:
        return ("changing fc.out_features only edits a number: the weight keeps its "
                f"{fc.weight.shape[0]} rows. Assign a new layer: model.fc = nn.Linear(model.fc.in_features, {k})")
    if got == 10:
        return "that is still the CIFAR-10 classifier: replace model.fc by a new nn.Linear with k outputs"
    return f"the new classifier needs {k} outputs, one per class"


# --------------------------------------------------------------------------- a new head


@self_check
def check_new_head(replace_head: Callable[[nn.Module, int], nn.Module]) -> None:
    """Check ``replace_head(model, k)``: the trained body unchanged under a new ``k``-way classifier.

    The network given is a CIFAR ResNet-20 (``model.fc`` reads 64 features); the one
    returned must output ``k`` logits, keep every weight and BatchNorm statistic of the
    body, and have exactly ``64 k + k`` classifier parameters, all trainable.
    """
    check = "check_new_head"
    require_callable(check, replace_head, "replace_head")
    for k in (6, 3):
        original = _trained_cifar_network(seed=k)
        body = {name: t.clone() for name, t in original.state_dict().items() if not name.startswith("fc.")}
        body_params = sum(p.numel() for name, p in original.named_parameters() if not name.startswith("fc."))
        what = f"replace_head(resnet20, {k})"
        model = run_student_code(check, what, replace_head, original, k)
        if not isinstance(model, nn.Module):
            fail(check, f"{what} returned {type(model).__name__}; return the network (an nn.Module)")
        with seeded(7):
            x = torch.randn(2, 3, 32, 32)
        out = run_student_code(check, f"the network {what} returned, on a 2×3×32×32 batch", model.eval(), x)
        if not isinstance(out, Tensor) or out.shape != (2, k):
            got = out.shape[-1] if isinstance(out, Tensor) and out.ndim == 2 else -1
            shape = format_shape(out) if isinstance(out, Tensor) else type(out).__name__
            fail(check, f"{what}: the output is {shape}, expected 2×{k} — {_out_features_hint(model, k, got)}.")
        expected, got = body_params + 64 * k + k, count_parameters(model)
        if got != expected:
            if got > expected:
                hint = (f"{got - expected:,} too many: did you put a new layer after the old 10-way classifier instead "
                        "of replacing it? The old head must go: model.fc = nn.Linear(64, k)")
            else:
                hint = f"{expected - got:,} too few: the classifier is a 64 → {k} linear layer with a bias"
            fail(check, f"{what} has {got:,} parameters, expected {expected:,} (the body's {body_params:,} and "
                         f"64·{k} + {k} in the new classifier) — {hint}.")
        state = model.state_dict()
        where = {_matches(key, list(body)): key for key in state}
        for name, tensor in body.items():
            if name not in where:
                fail(check, f"{what}: the body's {name} is gone; keep the network you were given and change only "
                             "its classifier")
            if not torch.equal(state[where[name]], tensor):
                fail(check, f"{what}: the body's {name} differs from the trained network's. The body must keep its "
                             "trained weights and BatchNorm statistics (did you build a new network with "
                             "create_model instead of changing the one you were given?).")
        frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
        if frozen:
            fail(check, f"{what}: {len(frozen)} parameter(s) do not require gradients, e.g. {frozen[0]}; for "
                         "fine-tuning every weight stays trainable")
    succeed(check, "the trained body is kept, weights and BatchNorm statistics, under a new k-way classifier "
            "of 64·k + k trainable parameters.")


# --------------------------------------------------------------------------- a frozen body


def _check_only_head_trainable(check: str, model: nn.Module, in_body: Callable[[str, Tensor], bool],
                                k: int) -> list[tuple[str, Tensor]]:
    """No parameter of the body may require a gradient, and the trainable ones must be one 64 → k head."""
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    leaks = [name for name, p in trainable if in_body(name, p)]
    if leaks:
        fail(check, f"{len(leaks)} of the body's parameter tensors still require gradients (e.g. "
                     f"{', '.join(leaks[:3])}): call requires_grad_(False) on every parameter of the body")
    if not trainable:
        fail(check, "no parameter requires a gradient: the new head must stay trainable (create it after freezing "
                     "the body, or leave its requires_grad alone)")
    n_trainable = sum(p.numel() for _, p in trainable)
    if n_trainable != 64 * k + k:
        fail(check, f"{n_trainable:,} trainable parameters ({', '.join(n for n, _ in trainable[:4])}), expected "
                     f"{64 * k + k} — one new 64 → {k} linear layer with a bias; the old 10-way classifier must not be "
                     "trained (drop it, or leave it frozen and unused)")
    return trainable


def _check_statistics_kept(check: str, model: nn.Module, buffers: dict[str, Tensor]) -> None:
    """After a forward pass in training mode, the BatchNorm running statistics must be those of before."""
    changed = [name for name, b in model.named_buffers()
               if name in buffers and not name.endswith("num_batches_tracked") and not torch.equal(b, buffers[name])]
    if not changed:
        return
    training_bn = [name for name, m in model.named_modules()
                   if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    fail(check, f"after model.train() and one forward pass the body's BatchNorm statistics changed "
                 f"({changed[0]}, {len(changed)} buffers in all; {len(training_bn)} BatchNorm layers are in "
                 "training mode). Frozen weights are not enough: a BatchNorm in training mode normalises with "
                 "the batch's statistics and re-estimates its running mean and variance on the new data, so the "
                 "features drift away from the trained network's. fit() calls model.train() every epoch, so "
                 "setting body.eval() once does not last: override train() in your module to put the body "
                 "back in eval mode (super().train(mode); self.body.eval(); return self).")


def _check_training_step(check: str, model: nn.Module, what: str, k: int,
                         in_body: Callable[[str, Tensor], bool], trainable: list[tuple[str, Tensor]]) -> Tensor:
    """One step as ``fit`` takes it (train mode, forward, backward): the body keeps its statistics, gets no gradient.

    Returns the batch it used.
    """
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    model.train()
    with seeded(11):
        x, y = torch.randn(16, 3, 32, 32), torch.randint(0, k, (16,))
    out = run_student_code(check, f"the network {what} returned, in training mode on a 16×3×32×32 batch", model, x)
    if not isinstance(out, Tensor) or out.shape != (16, k):
        got = out.shape[-1] if isinstance(out, Tensor) and out.ndim == 2 else -1
        shape = format_shape(out) if isinstance(out, Tensor) else type(out).__name__
        fail(check, f"the output is {shape}, expected 16×{k} — {_out_features_hint(model, k, got)}.")
    _check_statistics_kept(check, model, buffers)
    if not out.requires_grad:
        fail(check, "the output does not depend on any trainable parameter: is the new head used in forward()?")
    run_student_code(check, "backward() through your network", F.cross_entropy(out, y).backward)
    with_grad = [name for name, p in model.named_parameters()
                 if in_body(name, p) and p.grad is not None and p.grad.abs().sum() > 0]
    if with_grad:
        fail(check, f"the body's {with_grad[0]} received a gradient; the body must be frozen")
    if all(p.grad is None or not p.grad.abs().sum() > 0 for _, p in trainable):
        fail(check, "the head received no gradient: is it used in forward()?")
    return x


def _check_same_features(check: str, model: nn.Module, reference: nn.Module, x: Tensor) -> None:
    """In eval mode the network must compute its one trainable head applied to the given network's features."""
    heads = [m for m in model.modules() if isinstance(m, nn.Linear) and m.weight.requires_grad]
    if len(heads) != 1:
        return
    model.eval()
    with torch.no_grad():
        mine = model(x)
        expected = heads[0](reference.features(x))
    if not torch.allclose(mine, expected, atol=1e-5, rtol=1e-4):
        fail(check, "in eval mode your network's output is not the new head applied to the given network's "
                     f"features (largest difference {(mine - expected).abs().max().item():.2g}): keep the given "
                     "network's body and weights, up to its global average pooling, and put only the new head "
                     "after it")


@self_check
def check_frozen_body(freeze_body: Callable[[nn.Module, int], nn.Module]) -> None:
    """Check ``freeze_body(model, k)``: feature extraction, a frozen body under a new trainable head.

    The network given is a CIFAR ResNet-20 with trained-looking BatchNorm statistics. The
    returned network is put in training mode (as :func:`resnet_course.training.fit` does every
    epoch) and trained for one step; the check then asks that only a new 64 → ``k`` head
    requires and gets gradients, that the body's weights and BatchNorm running statistics
    are unchanged, and that the body computes the given network's features.
    """
    check = "check_frozen_body"
    require_callable(check, freeze_body, "freeze_body")
    k = 6
    original = _trained_cifar_network(seed=3)
    reference = copy.deepcopy(original).eval()
    body_names = [name for name, _ in original.named_parameters() if not name.startswith("fc.")]
    body_ids = {id(p) for name, p in original.named_parameters() if not name.startswith("fc.")}
    what = f"freeze_body(resnet20, {k})"
    model = run_student_code(check, what, freeze_body, original, k)
    if not isinstance(model, nn.Module):
        fail(check, f"{what} returned {type(model).__name__}; return the network (an nn.Module)")

    def in_body(name: str, p: Tensor) -> bool:
        return id(p) in body_ids or _matches(name, body_names) is not None

    trainable = _check_only_head_trainable(check, model, in_body, k)
    x = _check_training_step(check, model, what, k, in_body, trainable)
    _check_same_features(check, model, reference, x)
    succeed(check, f"only the new {k}-way head ({64 * k + k} parameters) is trained; in training mode the body gets "
                   "no gradient and its BatchNorm statistics stay those of the trained network.")


# --------------------------------------------------------------------------- two learning rates


def reference_finetune_param_groups(model: nn.Module, head_lr: float, body_lr: float) -> list[dict[str, Any]]:
    """Optimizer parameter groups: ``model.fc`` at ``head_lr``, every other trainable parameter at ``body_lr``.

    The reference solution of ``ex-ch6-two-lrs`` ("discriminative" learning rates: the new
    head starts from random numbers and may move fast, the pre-trained body should move
    little). Pass the groups to ``torch.optim.SGD(groups, momentum=0.9)``.
    """
    head = [p for p in model.fc.parameters() if p.requires_grad]
    head_ids = {id(p) for p in head}
    body = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    return [{"params": body, "lr": body_lr}, {"params": head, "lr": head_lr}]


def _as_groups(check: str, groups: Any, what: str) -> list[dict[str, Any]]:
    """The student's answer as a list of dicts, each with ``'params'`` and ``'lr'``."""
    if isinstance(groups, dict):
        groups = [groups]
    try:
        groups = list(groups)
    except TypeError:
        fail(check, f"{what} returned {type(groups).__name__}; return a list of dicts "
                     "[{'params': [...], 'lr': ...}, ...]")
    if not groups or not all(isinstance(g, dict) and "params" in g for g in groups):
        fail(check, f"{what} must return a list of dicts, each with a 'params' list and an 'lr'")
    missing_lr = [i for i, g in enumerate(groups) if "lr" not in g]
    if missing_lr:
        fail(check, f"group {missing_lr[0]} has no 'lr': without one it takes the optimizer's default, the same for "
                     "every group; give each group its own learning rate")
    return groups


def _lr_per_parameter(check: str, groups: list[dict[str, Any]], model: nn.Module) -> dict[str, float]:
    """Each parameter's learning rate; every trainable parameter must be in exactly one group."""
    names = {id(p): name for name, p in model.named_parameters()}
    lr_of: dict[str, list[float]] = {}
    for g in groups:
        params = [g["params"]] if isinstance(g["params"], Tensor) else list(g["params"])
        for p in params:
            if id(p) not in names:
                fail(check, f"a group holds a tensor of shape {format_shape(p)} that is not a parameter of the model")
            lr_of.setdefault(names[id(p)], []).append(float(g["lr"]))
    twice = [name for name, lrs in lr_of.items() if len(lrs) > 1]
    if twice:
        fail(check, f"{len(twice)} parameter(s) are in more than one group (e.g. {twice[0]}); SGD refuses that. "
                     "Put the classifier's parameters in one group and all the others in the other")
    left_out = [name for name, p in model.named_parameters() if p.requires_grad and name not in lr_of]
    if left_out:
        fail(check, f"{len(left_out)} trainable parameter(s) are in no group (e.g. {left_out[0]}): the optimizer "
                     "would never update them")
    return {name: lrs[0] for name, lrs in lr_of.items()}


@self_check
def check_finetune_param_groups(fn: Callable[[nn.Module, float, float], Any]) -> None:
    """Check ``fn(model, head_lr, body_lr)``: optimizer groups, ``model.fc`` at ``head_lr``, the rest at ``body_lr``.

    Every trainable parameter must be in exactly one group, and ``torch.optim.SGD`` must
    accept the groups; frozen parameters may be left out.
    """
    check = "check_finetune_param_groups"
    require_callable(check, fn, "param_groups")
    head_lr, body_lr = 0.1, 0.01
    model = create_model("resnet20", num_classes=6)
    what = f"{display_name(fn)}(model, head_lr={head_lr}, body_lr={body_lr})"
    groups = _as_groups(check, run_student_code(check, what, fn, model, head_lr, body_lr), what)
    lr_of = _lr_per_parameter(check, groups, model)
    for name, lr in lr_of.items():
        expected = head_lr if name.startswith("fc.") else body_lr
        if not close_enough(lr, expected):
            part = "the new classifier" if name.startswith("fc.") else "the pre-trained body"
            if close_enough(lr, head_lr if expected == body_lr else body_lr):
                hint = "the two learning rates are swapped"
            else:
                hint = f"{part} takes {'head_lr' if expected == head_lr else 'body_lr'}"
            fail(check, f"{name} ({part}) has lr {lr:g}, expected {expected:g} — {hint}.")
    try:
        torch.optim.SGD(groups, lr=1.0, momentum=0.9)
    except (TypeError, ValueError) as error:
        fail(check, f"torch.optim.SGD does not accept the groups: {error}")
    succeed(check, f"{len(lr_of)} parameter tensors in {len(groups)} groups: the classifier at head_lr, the body at "
                   "body_lr, each exactly once.")


# --------------------------------------------------------------------------- predict, then run


@dataclass(frozen=True)
class PredictionReport:
    """A prediction set beside the reference run: the numbers, and the sentence that states them."""

    strategy: str
    per_class: str
    predicted: float
    reference_mean: float
    reference_std: float
    seeds: int
    measured: float | None
    sentence: str

    def __str__(self) -> str:
        return self.sentence


def _as_fraction(check: str, value: Any, what: str) -> float:
    """A prediction in percent (0-100) or as a fraction (0-1) as a fraction; anything else fails."""
    number = as_number(check, value, what)
    if not 0 <= number <= 100 or math.isnan(number):
        fail(check, f"{what} is {number:g}: give an accuracy in percent (0-100) or as a fraction (0-1)")
    return number / 100 if number > 1 else number


def compare_prediction(strategy: str, per_class: int | str, predicted: float, *, measured: float | None = None,
                       points: Sequence[Mapping[str, Any]] | None = None, arch: str = "resnet20") -> PredictionReport:
    """Set a predicted test accuracy beside what the reference run measured at that strategy and size.

    ``strategy`` is ``"scratch"``, ``"finetune"`` or ``"features"``; ``per_class`` a size of
    the reference learning curves (``5``, ``10``, ``20``, ``50`` or ``"all"``); ``predicted``
    (and ``measured``, the reader's own run, if any) an accuracy in percent or as a fraction.
    ``points`` are the reference run's records (default: ``results/gestures.json``), of which
    those of the source network ``arch`` are read (an ImageNet network's are not mixed in). Prints
    and returns the comparison; a strategy or size the reference does not have fails with an
    :class:`ExerciseError` listing those it has.
    """
    from resnet_course.experiments.results import load_result

    check = "compare_prediction"
    points = load_result("gestures")["points"] if points is None else points
    points = [p for p in points if p.get("arch", arch) == arch]
    strategies = sorted({p["strategy"] for p in points})
    if strategy not in strategies:
        fail(check, f"no strategy {strategy!r} in the reference run; it has {', '.join(strategies)}")
    label = "all" if per_class in (None, "all") else str(per_class)
    sizes = list(dict.fromkeys("all" if p["per_class"] is None else str(p["per_class"]) for p in points))
    if label not in sizes:
        fail(check, f"the reference run has no point at {label} images per class; pick one of {', '.join(sizes)}")
    guess = _as_fraction(check, predicted, "the prediction")
    own = None if measured is None else _as_fraction(check, measured, "the measured accuracy")
    values = [float(p["test_accuracy"]) for p in points if p["strategy"] == strategy
              and ("all" if p["per_class"] is None else str(p["per_class"])) == label]
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    off = 100 * (guess - mean)
    where = "right on" if abs(off) < 0.05 else f"{abs(off):.1f} points {'above' if off > 0 else 'below'}"
    sentence = (f"{strategy} at {label} images per class: you predicted {100 * guess:.1f} %; the reference run "
                f"measured {100 * mean:.1f} % ± {100 * std:.1f} (mean ± std over {n} seeds), so your prediction is "
                f"{where} the reference mean.")
    if own is not None:
        inside = abs(own - mean) <= 2 * std
        sentence += (f" Your own run: {100 * own:.1f} %, {'inside' if inside else 'outside'} the reference's "
                     f"mean ± 2 std ({100 * (mean - 2 * std):.1f} to {100 * (mean + 2 * std):.1f} %)"
                     + ("." if inside else " (a different number of steps or seeds than the reference's moves it)."))
    print(sentence)
    return PredictionReport(strategy, label, guess, mean, std, n, own, sentence)
