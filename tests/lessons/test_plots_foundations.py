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




def _zoo_result(errors: list[float], final: float) -> dict:
    return {"history": {"train_acc": [1 - e for e in errors], "val_acc": [1 - e - 0.05 for e in errors]},
            "final": {"train_error_eval": final}}


def test_zoo_figures_draw_what_the_zoo_holds() -> None:
    zoo = {"plain20": _zoo_result([0.5, 0.2, 0.1], 0.08), "resnet20": _zoo_result([0.4, 0.15, 0.08], 0.06)}
    fig = plots.plot_zoo_shortcuts(zoo, 20)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "plain-20, training", "plain-20, test", "ResNet-20, training", "ResNet-20, test"]
    assert len(ax.lines) == 6  # two curves and a final dot per network
    plt.close(fig)
    only_resnets = plots.plot_zoo_degradation({"resnet20": zoo["resnet20"]})
    assert only_resnets.axes[0].get_legend() is None and only_resnets.axes[1].get_legend() is not None
    plt.close(only_resnets)
    empty = plots.plot_zoo_shortcuts({"resnet20": zoo["resnet20"]}, 56)
    assert empty.axes[0].get_legend() is None
    plt.close(empty)
