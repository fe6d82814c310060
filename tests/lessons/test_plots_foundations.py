"""The figures of chapters 1 and 2 (resnet_course.lessons.plots.foundations)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from resnet_course.lessons import analysis, plots


def test_plots_return_figures() -> None:
    curves = {"plain": [1.0, 0.5], "residual": [2.0, 0.1], "residual_zero": [0.0, 0.0]}
    profiles = {("plain", 20): [("conv1", 3.0), ("layer1.0.conv1", 1.0)],
                ("residual", 20): [("conv1", 1.0), ("layer1.0.conv1", 1.0)]}
    shatter = {("plain", 20): analysis.Shattering(torch.linspace(0, 1, 5), torch.randn(5), 0.1,
                                                  torch.ones(2)),
               ("residual", 20): analysis.Shattering(torch.linspace(0, 1, 5), torch.randn(5), 0.9,
                                                     torch.ones(2))}
    figures = [plots.plot_identity_curves(curves), plots.plot_nested_function_classes(),
               plots.plot_gradient_norms(profiles), plots.plot_gradient_profile(profiles[("plain", 20)]),
               plots.plot_shattering(shatter)]
    assert all(isinstance(fig, Figure) for fig in figures)
    assert len(figures[2].axes) == 2 and len(figures[4].axes) == 2
    assert "loss exactly 0" in " ".join(t.get_text() for t in figures[0].axes[0].texts)
    for fig in figures:
        plt.close(fig)


