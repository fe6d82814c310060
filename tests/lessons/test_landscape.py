"""Loss-landscape slices with filter-normalised directions (resnet_course.lessons.landscape, chapter 7).

Li et al. 2018, §4: a random direction is rescaled filter by filter to the norms of the
model's filters, with zero for one-dimensional parameters; the loss is then evaluated at
``θ* + α·δ (+ β·η)`` and the model's own weights must come back exactly. Everything runs on
a tiny convolutional network and random tensors.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from resnet_course.lessons import plots
from resnet_course.lessons.landscape import (
    filter_normalised_direction,
    grid,
    loss_surface,
    sharpness,
    slice_1d,
    slice_2d,
)
from resnet_course.training.evaluation import evaluate

pytestmark = pytest.mark.usefixtures("one_thread")


def _tiny_model(seed: int = 0) -> nn.Module:
    """conv (with bias) → BN → ReLU → conv → BN → ReLU → pool → linear: every kind of parameter once."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1, bias=True), nn.BatchNorm2d(6), nn.ReLU(),
        nn.Conv2d(6, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10),
    )
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
        model[3].weight.mul_(torch.linspace(0.2, 3.0, 8).view(8, 1, 1, 1))  # filters of different norms
    return model.eval()


def _data(n: int = 16) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(5)
    return [(torch.randn(n, 3, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g))]


# --------------------------------------------------------------------------- filter normalisation


def test_every_filter_of_the_direction_has_the_norm_of_the_models_filter():
    model = _tiny_model()
    direction = filter_normalised_direction(model, seed=0)
    parameters = list(model.parameters())
    assert len(direction) == len(parameters)
    checked = 0
    for d, p in zip(direction, parameters):
        assert d.shape == p.shape
        if p.ndim > 1:  # conv and linear weights: one filter per output unit
            torch.testing.assert_close(d.flatten(1).norm(dim=1), p.detach().flatten(1).norm(dim=1))
            assert not torch.allclose(d, p)  # a random direction, not the weights themselves
            checked += 1
    assert checked == 3


def test_one_dimensional_parameters_get_a_zero_direction():
    model = _tiny_model()
    direction = filter_normalised_direction(model)
    one_d = [d for d, p in zip(direction, model.parameters()) if p.ndim <= 1]
    assert len(one_d) == 6  # the conv bias, two BatchNorms (γ and β), the linear bias
    assert all(torch.count_nonzero(d) == 0 for d in one_d)


def test_directions_are_seeded():
    model = _tiny_model()
    a, b, c = (filter_normalised_direction(model, seed) for seed in (0, 0, 1))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, z) for x, z in zip(a, c))


# --------------------------------------------------------------------------- loss_surface and slices


def _weights(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def test_loss_surface_restores_the_weights_exactly():
    model, data = _tiny_model(), _data()
    before = _weights(model)
    direction = filter_normalised_direction(model)
    surface = loss_surface(model, data, [direction], [(0.7,), (-0.3,)])
    assert len(surface["loss"]) == len(surface["accuracy"]) == 2
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


class _FailsOnSecondPass:
    """Data that can be read once; the second evaluation raises (a bad batch, an interrupted run)."""

    def __init__(self, data: list) -> None:
        self.data, self.passes = data, 0

    def __iter__(self):
        self.passes += 1
        if self.passes > 1:
            raise RuntimeError("data went away")
        return iter(self.data)


def test_loss_surface_restores_the_weights_even_when_evaluation_raises():
    model = _tiny_model()
    before = _weights(model)
    direction = filter_normalised_direction(model)
    with pytest.raises(RuntimeError, match="data went away"):
        loss_surface(model, _FailsOnSecondPass(_data()), [direction], [(0.5,), (1.0,)])
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


def test_loss_surface_rejects_points_with_the_wrong_number_of_coordinates():
    model = _tiny_model()
    before = _weights(model)
    with pytest.raises(ValueError, match="2 coordinates for 1 directions"):
        loss_surface(model, _data(), [filter_normalised_direction(model)], [(0.1, 0.2)])
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


def test_slice_at_zero_is_the_plain_evaluation():
    model, data = _tiny_model(), _data()
    plain = evaluate(model, data)
    s = slice_1d(model, data, [-0.5, 0.0, 0.5])
    assert s["alpha"] == [-0.5, 0.0, 0.5]
    assert s["loss"][1] == pytest.approx(plain["loss"], rel=1e-6)
    assert s["accuracy"][1] == plain["accuracy"]
    assert s["loss"][0] != pytest.approx(plain["loss"], rel=1e-3)  # the weights did move


def test_slice_2d_grid_is_indexed_by_beta_then_alpha():
    model, data = _tiny_model(), _data()
    alphas = [-1.0, 0.0, 0.5]
    s = slice_2d(model, data, alphas, seed=2)
    assert s["alpha"] == s["beta"] == alphas
    assert len(s["loss"]) == 3 and all(len(row) == 3 for row in s["loss"])
    assert len(s["accuracy"]) == 3 and all(len(row) == 3 for row in s["accuracy"])
    assert s["loss"][1][1] == pytest.approx(evaluate(model, data)["loss"], rel=1e-6)
    first, second = filter_normalised_direction(model, 2), filter_normalised_direction(model, 3)
    point = loss_surface(model, data, [first, second], [(0.5, -1.0)])  # α = 0.5 (column 2), β = -1 (row 0)
    assert s["loss"][0][2] == pytest.approx(point["loss"][0], rel=1e-6)
    assert s["loss"][0][2] != pytest.approx(s["loss"][2][0], rel=1e-3)


def test_grid():
    assert grid(5) == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert grid(2, extent=0.25) == [-0.25, 0.25]
    points = grid(7)
    assert len(points) == 7 and 0.0 in points and points == [-p for p in reversed(points)]
    assert grid(41)[20] == 0.0 and grid(41)[30] == 0.5  # the reference file's 1-D grid holds α = ±0.5
    with pytest.raises(ValueError, match="at least 2 points"):
        grid(1)


def test_sharpness():
    parabola = {"alpha": grid(5), "loss": [1 + 4 * a * a for a in grid(5)]}  # 1 + 4α²
    s = sharpness(parabola, radius=0.5)
    assert s == pytest.approx({"centre": 1.0, "left": 2.0, "right": 2.0, "increase": 1.0, "ratio": 2.0})
    between = sharpness(parabola, radius=0.25)  # interpolated linearly between α = 0 and 0.5
    assert between["left"] == pytest.approx(1.5)
    flat = sharpness({"alpha": grid(5), "loss": [2.0] * 5})
    assert flat["increase"] == 0 and flat["ratio"] == 1
    with pytest.raises(ValueError, match="must include 0 and"):
        sharpness(parabola, radius=2.0)


# --------------------------------------------------------------------------- figures


def test_landscape_figures():
    alphas = grid(3)
    runs = {arch: {"1d": {"alpha": alphas, "loss": [scale * 9, 0.1, scale * 4], "accuracy": [0.1, 0.9, 0.2]},
                   "2d": {"alpha": alphas, "beta": alphas, "accuracy": [[0.1] * 3] * 3,
                          "loss": [[scale * 9, scale, scale * 5], [scale * 3, 0.1, scale * 2],
                                   [scale * 8, scale, scale]]}}
            for arch, scale in (("resnet20", 1.0), ("plain20", 1000.0))}
    fig = plots.plot_landscape_1d({"runs": runs})
    assert fig.axes[0].get_yscale() == "log" and len(fig.axes[0].lines) >= 2
    plt.close(fig)
    fig = plots.plot_landscape_2d({"runs": runs}, levels=10)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["ResNet-20", "plain-20"]
    levels = panels[0].collections[0].levels  # the filled contours (a ContourSet)
    assert levels[0] == pytest.approx(0.1) and levels[-1] == pytest.approx(9000)  # shared by both panels
    ratios = levels[1:] / levels[:-1]
    assert ratios == pytest.approx([ratios[0]] * len(ratios)) and ratios[0] > 2  # logarithmic levels
    plt.close(fig)
    # two pairs: a pair per row, each row's ResNet on the left
    runs = {**runs, "resnet56": runs["resnet20"], "plain56": runs["plain20"]}
    fig = plots.plot_landscape_2d({"runs": runs}, levels=10)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["ResNet-20", "plain-20", "ResNet-56", "plain-56"]
    rows = sorted({round(ax.get_position().y0, 3) for ax in panels}, reverse=True)
    assert len(rows) == 2
    assert [round(ax.get_position().y0, 3) for ax in panels] == [rows[0], rows[0], rows[1], rows[1]]
    plt.close(fig)
