"""Chapter 6's self-checks (resnet_course.exercises.ch06): a new head, a frozen body, two learning rates, a prediction.

Each check must accept the reference solution (and other correct ones) and reject every typical
wrong answer with the message that names the mistake; the solutions printed in the chapter's
dropdowns must pass their checks.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from resnet_course.exercises.ch06 import (
    check_finetune_param_groups,
    check_frozen_body,
    check_new_head,
    compare_prediction,
    reference_finetune_param_groups,
)
from resnet_course.exercises.checking import ExerciseError
from resnet_course.lessons import transfer
from resnet_course.nn.registry import create_model

pytestmark = pytest.mark.usefixtures("one_thread")

# ======================================================================================
# A new head


def test_check_new_head_accepts_correct_solutions(capsys):
    check_new_head(transfer.new_head)
    check_new_head(lambda model, k: transfer.new_head(copy.deepcopy(model), k))  # a copy is fine too

    def zero_head(model, k):
        model.fc = nn.Linear(64, k)
        nn.init.zeros_(model.fc.weight)
        return model

    check_new_head(zero_head)
    assert capsys.readouterr().out.count("✓ check_new_head") == 3


def _resize_attribute(model, k):
    model.fc.out_features = k
    return model


def _stacked(model, k):
    return nn.Sequential(model, nn.Linear(10, k))


def _fresh(model, k):
    return create_model("resnet20", num_classes=k)


def _frozen_body(model, k):
    model.requires_grad_(False)
    model.fc = nn.Linear(64, k)
    return model


def _no_bias(model, k):
    model.fc = nn.Linear(64, k, bias=False)
    return model


def _returns_nothing(model, k):
    model.fc = nn.Linear(64, k)


@pytest.mark.parametrize(
    "replace_head, message",
    [
        (_resize_attribute, r"output is 2×10, expected 2×6 — changing fc\.out_features only edits a number"),
        (_stacked, r"326 too many: did you put a new layer after the old 10-way classifier"),
        (_fresh, r"the body's conv1\.weight differs .*\(did you build a new network"),
        (_frozen_body, r"parameter\(s\) do not require gradients.*fine-tuning every weight stays trainable"),
        (_no_bias, r"6 too few: the classifier is a 64 → 6 linear layer with a bias"),
        (_returns_nothing, r"returned NoneType; return the network"),
        (lambda model, k: 1 / 0, r"raised ZeroDivisionError"),
    ],
)
def test_check_new_head_rejects_wrong_solutions(replace_head, message):
    with pytest.raises(ExerciseError, match=message):
        check_new_head(replace_head)


# ======================================================================================
# A frozen body


class _Frozen(nn.Module):
    """A correct solution written differently from FrozenFeatures: a flat body, another head name."""

    def __init__(self, model, k):
        super().__init__()
        self.body = nn.Sequential(*list(model.children())[:-1], nn.Flatten()).requires_grad_(False)
        self.head = nn.Linear(64, k)

    def train(self, mode=True):
        super().train(mode)
        self.body.eval()
        return self

    def forward(self, x):
        return self.head(self.body(x))


def test_check_frozen_body_accepts_correct_solutions(capsys):
    check_frozen_body(transfer.FrozenFeatures)
    check_frozen_body(_Frozen)
    check_frozen_body(lambda model, k: transfer.FrozenFeatures(copy.deepcopy(model), k))
    assert capsys.readouterr().out.count("✓ check_frozen_body") == 3


class _EvalOnce(_Frozen):
    """Puts the body in eval mode once; model.train() undoes it."""

    def __init__(self, model, k):
        super().__init__(model, k)
        self.body.eval()

    def train(self, mode=True):
        return nn.Module.train(self, mode)


class _FreshBody(_Frozen):
    def __init__(self, model, k):
        super().__init__(create_model("resnet20"), k)


class _OldHeadTrainable(_Frozen):
    def __init__(self, model, k):
        super().__init__(model, k)
        self.extra = nn.Linear(6, 6)  # 42 more trainable weights


def _weights_only(model, k):
    model.requires_grad_(False)
    model.fc = nn.Linear(64, k)
    return model


def _not_frozen(model, k):
    model.fc = nn.Linear(64, k)
    return model


def _head_frozen(model, k):
    model.fc = nn.Linear(64, k)
    return model.requires_grad_(False)


def _head_unused(model, k):
    frozen = transfer.FrozenFeatures(model, k)
    frozen.forward = lambda x: frozen.body(x)[:, :k]  # type: ignore[method-assign]  # the old head, not the new
    return frozen


@pytest.mark.parametrize(
    "freeze_body, message",
    [
        (_weights_only,
         r"BatchNorm statistics changed .* 19 BatchNorm layers are in training mode.*override train\(\)"),
        (_EvalOnce, r"BatchNorm statistics changed .*setting body\.eval\(\) once does not last"),
        (_not_frozen, r"57 of the body's parameter tensors still require gradients .*requires_grad_\(False\)"),
        (_head_frozen, r"no parameter requires a gradient: the new head must stay trainable"),
        (_OldHeadTrainable, r"432 trainable parameters .* expected 390"),
        (_FreshBody, r"not the new head applied to the given network's features"),
        (_head_unused, r"the output does not depend on any trainable parameter"),
    ],
)
def test_check_frozen_body_rejects_wrong_solutions(freeze_body, message):
    with pytest.raises(ExerciseError, match=message):
        check_frozen_body(freeze_body)


def test_check_frozen_body_leaves_the_callers_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_frozen_body(transfer.FrozenFeatures)
    assert torch.equal(torch.rand(3), expected)


# ======================================================================================
# Two learning rates


def test_check_finetune_param_groups_accepts_correct_solutions(capsys):
    check_finetune_param_groups(reference_finetune_param_groups)

    def by_name(model, head_lr, body_lr):
        head = [p for n, p in model.named_parameters() if n.startswith("fc.")]
        body = [p for n, p in model.named_parameters() if not n.startswith("fc.")]
        return ({"params": head, "lr": head_lr}, {"params": body, "lr": body_lr, "momentum": 0.9})

    check_finetune_param_groups(by_name)
    assert capsys.readouterr().out.count("✓ check_finetune_param_groups") == 2
    groups = reference_finetune_param_groups(transfer.new_head(create_model("resnet20"), 6), 0.1, 0.01)
    optimizer = torch.optim.SGD(groups, momentum=0.9)
    assert [g["lr"] for g in optimizer.param_groups] == [0.01, 0.1]


def _overlapping(model, head_lr, body_lr):
    return [{"params": model.parameters(), "lr": body_lr}, {"params": model.fc.parameters(), "lr": head_lr}]


def _swapped(model, head_lr, body_lr):
    return reference_finetune_param_groups(model, body_lr, head_lr)


def _no_lr(model, head_lr, body_lr):
    groups = reference_finetune_param_groups(model, head_lr, body_lr)
    del groups[0]["lr"]
    return groups


def _convs_only(model, head_lr, body_lr):
    convs = [p for n, p in model.named_parameters() if "conv" in n]
    return [{"params": convs, "lr": body_lr}, {"params": list(model.fc.parameters()), "lr": head_lr}]


def _one_lr(model, head_lr, body_lr):
    return [{"params": list(model.parameters()), "lr": head_lr}]


@pytest.mark.parametrize(
    "fn, message",
    [
        (_overlapping, r"2 parameter\(s\) are in more than one group \(e\.g\. fc\.weight\)"),
        (_swapped,
         r"conv1\.weight \(the pre-trained body\) has lr 0\.1, expected 0\.01 — the two learning rates are swapped"),
        (_no_lr, r"group 0 has no 'lr'"),
        (_convs_only, r"38 trainable parameter\(s\) are in no group \(e\.g\. bn1\.weight\)"),
        (_one_lr, r"conv1\.weight \(the pre-trained body\) has lr 0\.1, expected 0\.01"),
        (lambda model, head_lr, body_lr: model.parameters(), r"must return a list of dicts"),
    ],
)
def test_check_finetune_param_groups_rejects_wrong_solutions(fn, message):
    with pytest.raises(ExerciseError, match=message):
        check_finetune_param_groups(fn)


# ======================================================================================
# Predict, then run


def _reference_points():
    points = []
    for seed, (scratch, finetune) in enumerate([(0.30, 0.60), (0.34, 0.62), (0.32, 0.64)]):
        points.append({"strategy": "scratch", "per_class": 5, "seed": seed, "test_accuracy": scratch})
        points.append({"strategy": "finetune", "per_class": 5, "seed": seed, "test_accuracy": finetune})
        points.append({"strategy": "finetune", "per_class": None, "seed": seed, "test_accuracy": 0.9})
    return points


def test_compare_prediction_states_the_numbers(capsys):
    report = compare_prediction("finetune", 5, 70, points=_reference_points())  # percent
    printed = capsys.readouterr().out
    assert report.predicted == pytest.approx(0.70) and report.reference_mean == pytest.approx(0.62)
    assert report.reference_std == pytest.approx(0.02) and report.seeds == 3
    assert "you predicted 70.0 %" in printed and "62.0 % ± 2.0 (mean ± std over 3 seeds)" in printed
    assert "8.0 points above the reference mean" in printed
    same = compare_prediction("finetune", "5", 0.7, points=_reference_points())  # a fraction, the size as text
    assert same.sentence == report.sentence
    below = compare_prediction("scratch", 5, 0.2, measured=0.33, points=_reference_points())
    assert "12.0 points below" in below.sentence and "Your own run: 33.0 %, inside" in below.sentence
    outside = compare_prediction("scratch", 5, 0.2, measured=0.5, points=_reference_points())
    assert "outside the reference's mean ± 2 std (28.0 to 36.0 %)" in outside.sentence
    assert compare_prediction("finetune", "all", 0.9, points=_reference_points()).sentence.endswith(
        "right on the reference mean.")


def test_compare_prediction_reads_one_source_network(capsys):
    imagenet = [{"strategy": "finetune", "per_class": 5, "seed": s, "test_accuracy": 0.95, "arch": "resnet18"}
                for s in range(3)]
    mixed = [dict(p, arch="resnet20") for p in _reference_points()] + imagenet
    assert compare_prediction("finetune", 5, 0.7, points=mixed).reference_mean == pytest.approx(0.62)
    assert compare_prediction("finetune", 5, 0.7, points=mixed, arch="resnet18").reference_mean == \
        pytest.approx(0.95)


@pytest.mark.parametrize(
    "args, message",
    [
        (("linear", 5, 0.5), r"no strategy 'linear' in the reference run; it has finetune, scratch"),
        (("scratch", 7, 0.5), r"no point at 7 images per class; pick one of 5, all"),
        (("scratch", 5, 120), r"the prediction is 120: give an accuracy in percent \(0-100\) or as a fraction"),
        (("scratch", 5, "high"), r"the prediction returned str 'high'; return a number"),
    ],
)
def test_compare_prediction_refuses_what_it_cannot_compare(args, message):
    with pytest.raises(ExerciseError, match=message):
        compare_prediction(*args, points=_reference_points())


def test_compare_prediction_reads_the_reference_result(capsys):
    report = compare_prediction("finetune", "all", 0.5)
    assert report.seeds >= 3 and 0 < report.reference_mean < 1
