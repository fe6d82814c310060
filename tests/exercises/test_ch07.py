"""Chapter 7's self-checks (resnet_course.exercises.ch07): filter normalisation, a block-deleting
context manager, path counts.

Each check must accept the reference solution, reject the typical wrong answers with a
message that names the mistake, and the solutions printed in the chapter must pass.
"""

from __future__ import annotations

import contextlib
import math
import re

import pytest
import torch
from torch import nn

from resnet_course.exercises.ch07 import (
    check_block_deleter,
    check_filter_normalisation,
    check_path_count,
    reference_count_paths,
    reference_delete_block,
    reference_filter_normalise,
)
from resnet_course.exercises.checking import ExerciseError

pytestmark = pytest.mark.usefixtures("one_thread")


# --------------------------------------------------------------------------- filter normalisation


def test_filter_normalisation_accepts_the_reference(capsys):
    check_filter_normalisation(reference_filter_normalise)
    assert capsys.readouterr().out.startswith("✓ check_filter_normalisation")


def _per_filter(d, w):
    return d / d.flatten(1).norm(dim=1).view(-1, *([1] * (d.ndim - 1))) * w.flatten(1).norm(dim=1).view(
        -1, *([1] * (d.ndim - 1)))


def _per_filter_in_place(d, w):
    return d.mul_((w.flatten(1).norm(dim=1) / d.flatten(1).norm(dim=1)).view(-1, *([1] * (d.ndim - 1))))


@pytest.mark.parametrize("wrong, message", [
    (lambda d, w: d / d.norm() * w.norm(), "normalised the layer as one vector"),
    (lambda d, w: torch.zeros_like(d) if w.ndim <= 1 else d / d.flatten(1).norm(dim=1).view(-1, *([1] * (d.ndim - 1))),
     "every filter has norm 1"),
    (lambda d, w: torch.zeros_like(d) if w.ndim <= 1
     else _per_filter(d.transpose(0, 1), w.transpose(0, 1)).transpose(0, 1),
     "along the input channels"),
    (lambda d, w: _per_filter(d, w) if w.ndim > 1 else d, "is not zero"),
    (lambda d, w: torch.zeros_like(d) if w.ndim <= 1 else w.clone(), "does not point the way"),
    (lambda d, w: torch.zeros_like(d) if w.ndim <= 1 else _per_filter_in_place(d, w), "in place"),
    (lambda d, w: d.flatten(), "expected a tensor of the weight's shape"),
    (lambda d, w: 1 / 0, "raised ZeroDivisionError"),
])
def test_filter_normalisation_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseError, match=re.escape(message)):
        check_filter_normalisation(wrong)


def test_filter_normalisation_check_agrees_with_the_package():
    from resnet_course.lessons.landscape import filter_normalised_direction

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    generator = torch.Generator().manual_seed(0)
    package = filter_normalised_direction(model, seed=0)
    for d, p in zip(package, model.parameters()):
        noise = torch.randn(p.shape, generator=generator) if p.ndim > 1 else torch.zeros_like(p)
        torch.testing.assert_close(reference_filter_normalise(noise, p.detach()), d)


# --------------------------------------------------------------------------- deleting a block


def test_block_deleter_accepts_the_reference_and_the_package(capsys):
    from resnet_course.lessons.lesion import blocks_deleted

    check_block_deleter(reference_delete_block)
    check_block_deleter(lambda model, name: blocks_deleted(model, [name]))
    assert capsys.readouterr().out.count("✓ check_block_deleter") == 2


def _parent(model, name):
    parent_name, _, child = name.rpartition(".")
    return (model.get_submodule(parent_name) if parent_name else model), child


@contextlib.contextmanager
def _no_finally(model, name):
    parent, child = _parent(model, name)
    block = getattr(parent, child)
    setattr(parent, child, nn.Identity())
    yield model
    setattr(parent, child, block)


@contextlib.contextmanager
def _zero_branch(model, name):  # "deletes" by zeroing the branch's last BatchNorm, never restores it
    block = model.get_submodule(name)
    with torch.no_grad():
        block.bn2.weight.zero_()
        block.bn2.bias.zero_()
    yield model


@contextlib.contextmanager
def _restores_a_copy(model, name):
    import copy

    parent, child = _parent(model, name)
    saved = copy.deepcopy(getattr(parent, child))
    setattr(parent, child, nn.Identity())
    try:
        yield model
    finally:
        setattr(parent, child, saved)


@contextlib.contextmanager
def _swallows(model, name):
    parent, child = _parent(model, name)
    block = getattr(parent, child)
    setattr(parent, child, nn.Identity())
    try:
        yield model
    except Exception:  # noqa: BLE001, S110 - the wrong solution under test swallows errors
        pass
    finally:
        setattr(parent, child, block)


@contextlib.contextmanager
def _keeps_the_branch(model, name):  # replaces the block by its residual branch: the shortcut is what should stay
    parent, child = _parent(model, name)
    block = getattr(parent, child)
    setattr(parent, child, nn.Sequential(block.conv1, block.bn1, block.relu, block.conv2, block.bn2))
    try:
        yield model
    finally:
        setattr(parent, child, block)


def _not_a_context_manager(model, name):
    parent, child = _parent(model, name)
    setattr(parent, child, nn.Identity())
    return model


@pytest.mark.parametrize("wrong, message", [
    (_no_finally, "in a `finally:` clause"),
    (_zero_branch, "still the original block"),
    (_restores_a_copy, "a copy of it, not the original block object"),
    (_swallows, "must not swallow it"),
    (_keeps_the_branch, "differs from the network with layer1.1 replaced by the identity"),
    (_not_a_context_manager, "not a context manager"),
])
def test_block_deleter_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseError, match=re.escape(message)):
        check_block_deleter(wrong)


# --------------------------------------------------------------------------- counting paths


def test_path_count_accepts_the_reference_and_a_hand_written_formula(capsys):
    check_path_count(reference_count_paths)
    check_path_count(lambda n, k: math.factorial(n) // (math.factorial(k) * math.factorial(n - k)))
    assert capsys.readouterr().out.count("✓ check_path_count") == 2


@pytest.mark.parametrize("wrong, message", [
    (lambda n, k: math.comb(n, k) * 1.0, "return an exact int"),
    (lambda n, k: round(math.factorial(n) / (math.factorial(k) * math.factorial(n - k))),  # float division
     "path(s) of length 24"),
    (lambda n, k: math.perm(n, k), "divide by k!"),
    (lambda n, k: 2**k, "2^k counts the subsets"),
    (lambda n, k: math.comb(n, k + 1), "off by one"),
    (lambda n, k: True, "return an exact int"),
])
def test_path_count_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseError, match=re.escape(message)):
        check_path_count(wrong)
