"""The self-checks of chapters 5 and 5b (resnet_course.exercises.ch05 and ch05b): the paper's lr schedule,
label-smoothed targets, reading a confusion matrix, parameter groups without weight decay on
BatchNorm parameters and biases (chapter 5); the batched crop-and-flip augmentation, what each
speed trick bought, and minutes to accuracy at the median pace (chapter 5b).

Each check must accept the reference solution (and other correct ones) and reject every typical
wrong answer with the message that names the mistake; the solutions printed in the chapter's
dropdowns must pass their checks.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from resnet_course import create_model
from resnet_course.data.loaders import TensorLoader
from resnet_course.data.registry import load_dataset
from resnet_course.exercises.ch05 import (
    check_confusion_summary,
    check_lr_schedule,
    check_param_groups,
    check_smoothed_targets,
    reference_confusion_summary,
    reference_lr_at,
    reference_param_groups,
    reference_smoothed_targets,
)
from resnet_course.exercises.ch05b import (
    check_crop_flip,
    check_minutes_to_accuracy,
    check_trick_gains,
    reference_crop_flip,
    reference_minutes_to_accuracy,
    reference_trick_gains,
)
from resnet_course.exercises.checking import ExerciseError
from resnet_course.training.evaluation import confusion_matrix
from resnet_course.training.optim import make_optimizer, schedule_multiplier

# ======================================================================================
# The paper's learning-rate schedule


def test_reference_lr_at_is_the_paper_schedule():
    multiplier = schedule_multiplier("paper", 64_000)
    assert all(reference_lr_at(s) == pytest.approx(0.1 * multiplier(s)) for s in range(0, 64_000, 997))


def test_check_lr_schedule_accepts_correct_solutions(capsys):
    check_lr_schedule(reference_lr_at)
    check_lr_schedule(lambda step: torch.tensor(0.1 * 0.1 ** ((step >= 32_000) + (step >= 48_000))))
    assert capsys.readouterr().out.count("✓ check_lr_schedule") == 2


@pytest.mark.parametrize(
    "lr_at, message",
    [
        (lambda s: 1.0 if s < 32_000 else 0.1 if s < 48_000 else 0.01, r"that is the multiplier .* Multiply by .*0\.1"),
        (lambda s: 0.01 if s < 32_000 else 0.001, r"<lambda>\(0\) is 0\.01; the paper starts at lr 0\.1"),
        (lambda s: 0.1 if s <= 32_000 else 0.01 if s <= 48_000 else 0.001,
         r"at step 32,000 your lr is still 0\.1, one step late.*`step < 32000`"),
        (lambda s: 0.1 if s < 31_999 else 0.01 if s < 48_000 else 0.001, r"at step 31,999 your lr is already 0\.01"),
        (lambda s: 0.1 if s < 32_000 else 0.01 if s <= 48_000 else 0.001, r"at step 48,000 your lr is still 0\.01"),
        (lambda s: 0.1 if s < 32_000 else 0.01, r"divides it by 10 a second time at 48k"),
        (lambda s: 0.1 if s < 32_000 else 0.01 if s < 48_000 else 0.0001, r"at step 48,000 your lr is 0\.0001"),
        (lambda s: "0.1", r"returned str .0\.1.; return a number"),
        (lambda s: torch.full((2,), 0.1), r"returned a tensor of shape 2; return one number"),
        ("lr_at", r"pass your function itself"),
    ],
)
def test_check_lr_schedule_rejects_with_a_specific_message(lr_at, message):
    with pytest.raises(ExerciseError, match=message):
        check_lr_schedule(lr_at)


# ======================================================================================
# Reading a confusion matrix


def test_reference_confusion_summary_agrees_with_train_confusion_matrix():
    preds, labels = torch.tensor([0, 1, 1, 2, 2, 2, 0]), torch.tensor([0, 1, 2, 2, 2, 0, 0])
    accuracy, recall = reference_confusion_summary(confusion_matrix(preds, labels, 3))
    assert accuracy == pytest.approx((preds == labels).float().mean().item())
    assert recall.tolist() == pytest.approx([2 / 3, 1.0, 2 / 3])


def test_check_confusion_summary_accepts_correct_solutions(capsys):
    check_confusion_summary(reference_confusion_summary)

    def with_lists(matrix):
        rows = matrix.tolist()
        return sum(rows[k][k] for k in range(len(rows))) / sum(map(sum, rows)), [rows[k][k] / sum(rows[k])
                                                                              for k in range(len(rows))]

    check_confusion_summary(with_lists)
    assert capsys.readouterr().out.count("✓ check_confusion_summary") == 2


def _summary(accuracy, recall):
    return lambda m: (accuracy(m.double()), recall(m.double()))


def _true_accuracy(m):
    return m.trace() / m.sum()


def _true_recall(m):
    return m.diagonal() / m.sum(1)


@pytest.mark.parametrize(
    "fn, message",
    [
        (_summary(lambda m: _true_recall(m).mean(), _true_recall), r"balanced accuracy"),
        (_summary(lambda m: 100 * _true_accuracy(m), _true_recall), r"accuracy .* that is a percentage"),
        (_summary(lambda m: m.trace(), _true_recall), r"number of correct predictions; divide"),
        (_summary(_true_accuracy, lambda m: m.diagonal() / m.sum(0)), r"column sums, which gives the precision"),
        (_summary(_true_accuracy, lambda m: m.diagonal() / m.sum()), r"divided by the number of all images"),
        (_summary(_true_accuracy, lambda m: m.diagonal()), r"counts of correct predictions; divide each by its row"),
        (_summary(_true_accuracy, lambda m: 100 * _true_recall(m)), r"recall .* those are percentages"),
        (_summary(_true_accuracy, lambda m: _true_recall(m)[:-1]), r"recall has 2 entries; return one per class \(3\)"),
        (lambda m: _true_accuracy(m.double()), r"return a pair \(accuracy, recall\)"),
        (lambda m: (m.fill_diagonal_(0), None), r"changed the matrix it was given"),
    ],
)
def test_check_confusion_summary_rejects_with_a_specific_message(fn, message):
    with pytest.raises(ExerciseError, match=message):
        check_confusion_summary(fn)


# ======================================================================================
# The batched random crop and flip


def test_reference_crop_flip_is_what_the_tensor_loader_computes():
    data = load_dataset("cifar10", "test").subset(16, seed=0)
    loader = TensorLoader(data, batch_size=16, shuffle=False, seed=3)
    order, dy, dx, flips = loader._epoch_plan(0)
    pixels = loader._crop_flip(order, dy, dx, flips)
    assert torch.equal(pixels, reference_crop_flip(data.images[order], dy, dx, flips, pad=4))


def test_check_crop_flip_accepts_the_reference_and_the_loader_gather(capsys):
    def with_the_loader(images, dy, dx, flips, pad=4):
        from resnet_course.data.imageset import ImageSet

        data = ImageSet(images, torch.zeros(len(images), dtype=torch.long), ["x"], "test", "test")
        return TensorLoader(data, pad=pad)._crop_flip(torch.arange(len(images)), dy, dx, flips)

    check_crop_flip(reference_crop_flip)
    check_crop_flip(with_the_loader)
    assert capsys.readouterr().out.count("✓ check_crop_flip") == 2


def _crop(images, dy, dx, pad=4, mode="constant"):
    h, w = images.shape[-2:]
    padded = F.pad(images.float(), (pad, pad, pad, pad), mode=mode)
    return torch.stack([padded[b, :, dy[b]:dy[b] + h, dx[b]:dx[b] + w] for b in range(len(images))]).to(images.dtype)


def _mirror(crops, flips, dim=3):
    return torch.where(flips.view(-1, 1, 1, 1), crops.flip(dim), crops)


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda im, dy, dx, fl, pad=4: _crop(im, dy, dx), r"no image is mirrored"),
        (lambda im, dy, dx, fl, pad=4: _mirror(_crop(im, dy, dx), ~fl), r"where flips\[b\] is False are mirrored"),
        (lambda im, dy, dx, fl, pad=4: _mirror(_crop(im, dy, dx), fl, dim=2), r"you flipped up-down"),
        (lambda im, dy, dx, fl, pad=4: _crop(_mirror(im, fl), dy, dx), r"you flip before you crop"),
        (lambda im, dy, dx, fl, pad=4: _mirror(_crop(im, dx, dy), fl), r"rows and columns are swapped"),
        (lambda im, dy, dx, fl, pad=4: _mirror(_crop(im, dy, dx, mode="replicate"), fl), r"'replicate' padding"),
        (lambda im, dy, dx, fl, pad=4: _mirror(_crop(im, dy, dx, mode="reflect"), fl), r"'reflect' padding"),
        (lambda im, dy, dx, fl, pad=4: _mirror(_crop(im, dy.clamp(max=7), dx), fl),
         r"image 1 \(dy=8, dx=0, flip=True\) differs"),
        (lambda im, dy, dx, fl, pad=4: F.pad(im, (pad,) * 4), r"returned 6×3×18×20; the crops must have"),
        (lambda im, dy, dx, fl, pad=4: im.zero_(), r"changed the input images in place"),
        (lambda im, dy, dx, fl, pad=4: im.numpy(), r"returned ndarray; return a tensor"),
    ],
)
def test_check_crop_flip_rejects_with_a_specific_message(fn, message):
    with pytest.raises(ExerciseError, match=message):
        check_crop_flip(fn)


# ======================================================================================
# Parameter groups without weight decay on BatchNorm parameters and biases


def test_reference_param_groups_match_make_optimizer():
    model = create_model("resnet20")
    ours = reference_param_groups(model, 5e-4)
    theirs = make_optimizer(model, weight_decay=5e-4, decay_bn_and_bias=False).param_groups
    assert [[id(p) for p in g["params"]] for g in ours] == [[id(p) for p in g["params"]] for g in theirs]
    assert [g["weight_decay"] for g in ours] == [g["weight_decay"] for g in theirs]


def test_check_param_groups_accepts_correct_solutions(capsys):
    from torch import nn

    def by_module_type(model, weight_decay):
        free = {id(p) for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()}
        free |= {id(p) for n, p in model.named_parameters() if n.endswith("bias")}
        return [{"params": [p for p in model.parameters() if id(p) not in free]},  # the optimiser's default decay
                {"params": [p for p in model.parameters() if id(p) in free], "weight_decay": 0}]

    check_param_groups(reference_param_groups)
    check_param_groups(by_module_type)
    assert capsys.readouterr().out.count("✓ check_param_groups") == 2


def _split(decayed, weight_decay_of_decayed=None):
    def fn(model, weight_decay):
        names = dict(model.named_parameters())
        yes = [p for n, p in names.items() if decayed(n, p)]
        no = [p for n, p in names.items() if not decayed(n, p)]
        wd = weight_decay if weight_decay_of_decayed is None else weight_decay_of_decayed
        return [{"params": yes, "weight_decay": wd}, {"params": no, "weight_decay": 0.0}]
    return fn


@pytest.mark.parametrize(
    "fn, message",
    [
        (_split(lambda n, p: "bn" not in n and not n.endswith("bias")),
         r"BatchNorm γ \(weight\) tensor\(s\) .*downsample\.1\.weight.*called downsample\.1"),
        (_split(lambda n, p: not n.endswith("bias")),
         r"BatchNorm γ \(weight\) tensor\(s\) have the wrong weight decay"),
        (_split(lambda n, p: p.ndim > 1 or n == "fc.bias"), r"1 bias tensor\(s\) .*fc\.bias"),
        (_split(lambda n, p: p.ndim == 4), r"1 fully connected weight tensor\(s\) .*fc\.weight.*select by p\.ndim"),
        (_split(lambda n, p: p.ndim > 1, 1e-4), r"convolution kernel tensor\(s\) .*weight_decay=0\.0001"),
        (lambda model, wd: [{"params": [p for p in model.parameters() if p.ndim > 1], "weight_decay": wd}],
         r"are in no group, e\.g\. bn1\.weight"),
        (lambda model, wd: [{"params": list(model.parameters())}, {"params": [model.fc.bias], "weight_decay": 0}],
         r"in more than one group, e\.g\. fc\.bias"),
        (lambda model, wd: {"params": list(model.parameters())}, r"returned dict; return a list of groups"),
        (lambda model, wd: [list(model.parameters())], r"group 0 is list, not a dict"),
        (lambda model, wd: [{"params": [torch.zeros(3)]}], r"not a parameter of the model"),
    ],
)
def test_check_param_groups_rejects_with_a_specific_message(fn, message):
    with pytest.raises(ExerciseError, match=message):
        check_param_groups(fn)


def test_chapter_5_checks_leave_the_callers_random_state_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    check_crop_flip(reference_crop_flip)
    check_param_groups(reference_param_groups)
    assert torch.equal(torch.rand(3), expected)


# ======================================================================================
# Label-smoothed targets


def test_reference_smoothed_targets_put_0_91_on_the_true_class_for_ten_classes():
    targets = reference_smoothed_targets(torch.tensor([2, 7]), 10, 0.1)
    assert targets[0, 2].item() == pytest.approx(0.91) and targets[0, 0].item() == pytest.approx(0.01)
    assert torch.allclose(targets.sum(dim=1), torch.ones(2, dtype=torch.float64))


def test_reference_smoothed_targets_give_pytorchs_label_smoothing_loss():
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 10, dtype=torch.float64), torch.tensor([0, 1, 2, 3, 4, 9])
    ours = -(reference_smoothed_targets(labels, 10, 0.1) * logits.log_softmax(1)).sum(1).mean()
    assert ours.item() == pytest.approx(F.cross_entropy(logits, labels, label_smoothing=0.1).item())


def test_check_smoothed_targets_accepts_correct_solutions(capsys):
    def by_hand(labels, k, eps):
        target = torch.full((len(labels), k), eps / k)
        target[torch.arange(len(labels)), labels] += 1 - eps
        return target

    check_smoothed_targets(reference_smoothed_targets)
    check_smoothed_targets(by_hand)
    out = capsys.readouterr().out
    assert out.count("✓ check_smoothed_targets") == 2 and "0.91 on the true class" in out


def _one_hot(y, k):
    return F.one_hot(y, k).double()


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda y, k, e: (1 - e) * _one_hot(y, k) + e / (k - 1) * (1 - _one_hot(y, k)),
         r"spread ε over the other K - 1 classes"),
        (lambda y, k, e: (1 - e) * _one_hot(y, k) + e / k * (1 - _one_hot(y, k)), r"keeps? .*share ε/K|its share"),
        (lambda y, k, e: (1 - e) * _one_hot(y, k) + e, r"add ε/K, not ε"),
        (lambda y, k, e: _one_hot(y, k), r"one-hot targets, without smoothing"),
        (lambda y, k, e: _one_hot(y, k).T, r"returned shape 10×5; expected 5×10"),
        (lambda y, k, e: "0.91", r"returned str; return a tensor"),
    ],
)
def test_check_smoothed_targets_rejects_with_a_specific_message(fn, message):
    with pytest.raises(ExerciseError, match=message):
        check_smoothed_targets(fn)


# ======================================================================================
# What each speed trick bought (chapter 5b)

ROWS = [{"method": "a", "images_per_sec": 100.0}, {"method": "b", "images_per_sec": 150.0},
        {"method": "n/a", "images_per_sec": None}, {"method": "c", "images_per_sec": 300.0}]


def test_reference_trick_gains_divides_by_the_last_measured_row():
    assert reference_trick_gains(ROWS) == {"b": 1.5, "c": 2.0}


def test_reference_trick_gains_multiply_to_the_last_row_over_the_first():
    from resnet_course.experiments.results import load_result

    rows = load_result("throughput_cpu_resnet20")["rows"]
    measured = [r for r in rows if r["images_per_sec"] is not None]
    product = torch.tensor(list(reference_trick_gains(rows).values())).prod().item()
    assert product == pytest.approx(measured[-1]["images_per_sec"] / measured[0]["images_per_sec"])


def test_check_trick_gains_accepts_correct_solutions(capsys):
    def with_zip(rows):
        measured = [r for r in rows if r["images_per_sec"] is not None]
        return {b["method"]: b["images_per_sec"] / a["images_per_sec"] for a, b in zip(measured, measured[1:])}

    check_trick_gains(reference_trick_gains)
    check_trick_gains(with_zip)
    assert capsys.readouterr().out.count("✓ check_trick_gains") == 2


def _measured(rows):
    return [r for r in rows if r["images_per_sec"] is not None]


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda rows: {r["method"]: r["images_per_sec"] / _measured(rows)[0]["images_per_sec"]
                       for r in _measured(rows)[1:]}, r"divided every row by the first row"),
        (lambda rows: {k: 1 / v for k, v in reference_trick_gains(rows).items()}, r"inverted"),
        (lambda rows: {k: 100 * (v - 1) for k, v in reference_trick_gains(rows).items()}, r"not a percentage"),
        (lambda rows: {_measured(rows)[0]["method"]: 1.0, **reference_trick_gains(rows)},
         r"has no row before it: leave it out"),
        (lambda rows: {**reference_trick_gains(rows), "+ CUDA graphs": 0.0}, r"was not measured"),
        (lambda rows: dict(list(reference_trick_gains(rows).items())[:-1]), r"has no gain for '\+ fused SGD'"),
        (lambda rows: list(reference_trick_gains(rows).values()), r"returned list; return a dict"),
        (lambda rows: rows.pop(), r"changed the rows it was given"),
    ],
)
def test_check_trick_gains_rejects_with_a_specific_message(fn, message):
    with pytest.raises(ExerciseError, match=message):
        check_trick_gains(fn)


# ======================================================================================
# Minutes to accuracy at the median pace (chapter 5b)


def test_reference_minutes_to_accuracy_on_the_zoos_resnet20():
    from resnet_course.experiments.zoo import epochs_to_accuracy, load_zoo, median_epoch_seconds

    result = load_zoo(["resnet20"])["resnet20"]
    epochs = epochs_to_accuracy(result, 0.85)
    assert reference_minutes_to_accuracy(result, 0.85) == pytest.approx(epochs * median_epoch_seconds(result) / 60)
    assert reference_minutes_to_accuracy(result, 1.01) is None


def test_check_minutes_to_accuracy_accepts_correct_solutions(capsys):
    import statistics

    def minutes_to(result, target):
        history = result["history"]
        epoch = next((i + 1 for i, a in enumerate(history["val_acc"]) if a >= target), None)
        if epoch is None:
            return None
        seconds = statistics.median(result["meta"]["train_images"] / r for r in history["images_per_sec"])
        return epoch * seconds / 60

    check_minutes_to_accuracy(reference_minutes_to_accuracy)
    check_minutes_to_accuracy(minutes_to)
    assert capsys.readouterr().out.count("✓ check_minutes_to_accuracy") == 2


def _minutes(epoch_of=None, seconds_of=None, scale=1 / 60, strict=False):
    """A minutes_to with one slip: how it finds the epoch, the seconds per epoch, the unit."""
    import statistics

    def fn(result, target):
        history, images = result["history"], result["meta"]["train_images"]
        hits = [i + 1 for i, a in enumerate(history["val_acc"]) if (a > target if strict else a >= target)]
        if not hits:
            return None
        epoch = epoch_of(hits[0]) if epoch_of else hits[0]
        seconds = [images / r for r in history["images_per_sec"]]
        per_epoch = seconds_of(seconds, history, epoch) if seconds_of else statistics.median(seconds)
        return epoch * per_epoch * scale
    return fn


@pytest.mark.parametrize(
    "fn, message",
    [
        (_minutes(scale=1), r"that is seconds; return minutes"),
        (_minutes(seconds_of=lambda s, h, e: sum(s) / len(s)), r"you used the mean epoch"),
        (_minutes(seconds_of=lambda s, h, e: sum(s[:e]) / e), r"added up those epochs' own times"),
        (_minutes(seconds_of=lambda s, h, e: __import__("statistics").median(h["epoch_time"])),
         r"you used epoch_time, which includes each epoch's evaluation"),
        (_minutes(epoch_of=lambda e: e - 1), r"one epoch short"),
        (_minutes(seconds_of=lambda s, h, e: sorted(s)[len(s) // 2]), r"mean of the two middle ones"),
        (_minutes(strict=True), r"compare with >=, not >"),
        (lambda result, target: 0.0, r"returned 0, expected 6\.667"),
        (lambda result, target: _minutes()(result, target) or 0.0, r"never reaches the target, so return None"),
        (lambda result, target: None, r"returned None, but the accuracy reaches 0\.75 at epoch 4"),
        (lambda result, target: result["history"]["images_per_sec"].sort(), r"changed the result it was given"),
    ],
)
def test_check_minutes_to_accuracy_rejects_with_a_specific_message(fn, message):
    with pytest.raises(ExerciseError, match=message):
        check_minutes_to_accuracy(fn)
