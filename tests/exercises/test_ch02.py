"""Chapter 2's self-checks (resnet_course.exercises.ch02): the residual wrapper and the neighbour correlation."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resnet_course.exercises.ch02 import (
    ReferenceResidual,
    check_neighbour_correlation,
    check_residual,
    reference_neighbour_correlation,
)
from resnet_course.exercises.checking import ExerciseError
from resnet_course.lessons import analysis


class _NoShortcut(nn.Module):
    def __init__(self, branch):
        super().__init__()
        self.branch = branch

    def forward(self, x):
        return self.branch(x)


class _ReluAfter(_NoShortcut):
    def forward(self, x):
        return torch.relu(x + self.branch(x))


class _InPlace(_NoShortcut):
    def forward(self, x):
        x += self.branch(x)
        return x


class _Unregistered(nn.Module):
    def __init__(self, branch):
        super().__init__()
        self.parts = [branch]

    def forward(self, x):
        return x + self.parts[0](x)


def test_check_residual_accepts_the_reference_and_names_each_mistake(capsys) -> None:
    assert check_residual(ReferenceResidual) is None
    assert capsys.readouterr().out.startswith("✓ check_residual:")
    for wrong, message in [(_NoShortcut, "shortcut (+ x) is missing"), (_ReluAfter, "ReLU after the addition"),
                           (_InPlace, "in place"), (_Unregistered, "not registered")]:
        with pytest.raises(ExerciseError, match=re.escape(message)):
            check_residual(wrong)
    with pytest.raises(ExerciseError, match="pass your class itself"):
        check_residual(ReferenceResidual(nn.Identity()))


def test_check_neighbour_correlation(capsys) -> None:
    check_neighbour_correlation(reference_neighbour_correlation)
    check_neighbour_correlation(analysis.neighbour_correlation)
    assert capsys.readouterr().out.count("✓ check_neighbour_correlation:") == 2
    wrong = {
        "divide the dot product": lambda g: (g.reshape(len(g), -1)[:-1] * g.reshape(len(g), -1)[1:]).sum(1).mean()
        / (g.reshape(len(g), -1)[0].norm() ** 2),
        "with the first one": lambda g: F.cosine_similarity(g[:1], g[1:], dim=1).mean(),
        "flatten each point": lambda g: F.cosine_similarity(g[:-1], g[1:], dim=1).mean(),
        "one number": lambda g: F.cosine_similarity(g[:-1], g[1:], dim=1),
        "raised ZeroDivisionError": lambda g: 1 / 0,
    }
    for message, fn in wrong.items():
        with pytest.raises(ExerciseError, match=re.escape(message)):
            check_neighbour_correlation(fn)
