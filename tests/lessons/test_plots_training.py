"""Chapter 5's figures (resnet_course.lessons.plots.training): augmentation rows, learning-rate schedules, the
confusion matrix, the most confident mistakes and the time-to-accuracy curve.

Each figure must show the data it is given — the right number of panels, the counts in the
cells, the chosen images in the right order with their labels — not merely draw something.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from resnet_course.lessons import plots
from resnet_course.training.evaluation import confusion_matrix
from resnet_course.training.optim import schedule_multiplier

CLASSES = ["cat", "dog", "ship"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_plot_augmentation_draws_one_row_per_version_and_titles_the_first():
    images = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    floats = images.float() / 255
    fig = plots.plot_augmentation({"stored": images, "epoch 1": floats}, [0, 1, 2, 0], CLASSES)
    axes = np.array(fig.axes).reshape(2, 4)
    assert [ax.get_title() for ax in axes[0]] == ["cat", "dog", "ship", "cat"]
    assert [axes[r, 0].get_ylabel() for r in range(2)] == ["stored", "epoch 1"]
    shown = axes[0, 1].get_images()[0].get_array()
    assert np.array_equal(np.asarray(shown), images[1].permute(1, 2, 0).numpy())  # H×W×3, the same pixels


def test_plot_lr_schedules_draws_each_curve_on_a_linear_and_a_log_axis():
    total = 100
    f = schedule_multiplier("paper", total)
    curve = (list(range(total)), [0.1 * f(s) for s in range(total)])
    fig = plots.plot_lr_schedules({"paper": curve, "flat": (list(range(total)), [0.05] * total)})
    left, right = fig.axes
    assert (left.get_yscale(), right.get_yscale()) == ("linear", "log")
    for ax in (left, right):
        assert len(ax.get_lines()) == 2
        assert np.allclose(ax.get_lines()[0].get_ydata(), curve[1])
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["paper", "flat"]


def test_plot_confusion_matrix_colours_rows_and_writes_the_counts():
    preds = torch.tensor([0, 0, 1, 1, 1, 2, 2, 0, 2, 2])
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    matrix = confusion_matrix(preds, labels, 3)  # rows: [2, 1, 0], [0, 2, 1], [1, 0, 3]
    fig = plots.plot_confusion_matrix(matrix, CLASSES, title="test")
    ax = fig.axes[0]
    colours = np.asarray(ax.get_images()[0].get_array())
    assert np.allclose(colours.sum(axis=1), 1.0)  # each row as fractions of its class
    assert colours[2, 2] == pytest.approx(0.75)
    texts = sorted((round(t.get_position()[1]), round(t.get_position()[0]), t.get_text()) for t in ax.texts)
    expected = sorted((i, j, str(int(matrix[i, j]))) for i in range(3) for j in range(3) if matrix[i, j])
    assert texts == expected  # counts in their cells, none written for empty cells
    assert [t.get_text() for t in ax.get_yticklabels()] == CLASSES
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"


def test_confident_mistakes_picks_the_wrong_predictions_by_confidence():
    labels = np.array([0, 1, 2, 0, 1])
    preds = np.array([0, 2, 1, 1, 1])  # wrong: 1, 2, 3
    probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.2, 0.7], [0.0, 0.95, 0.05], [0.3, 0.6, 0.1], [0.0, 1.0, 0.0]])
    assert plots.confident_mistakes(labels, preds, probs) == [2, 1, 3]
    assert plots.confident_mistakes(labels, preds, probs, n=2) == [2, 1]
    assert plots.confident_mistakes(labels, preds, probs.max(axis=1)) == [2, 1, 3]  # confidences given directly


def test_plot_confident_mistakes_shows_the_chosen_images_with_true_and_predicted_class():
    images = torch.arange(5).view(5, 1, 1, 1).expand(5, 3, 4, 4).to(torch.uint8) * 40
    labels = torch.tensor([0, 1, 2, 0, 1])
    preds = torch.tensor([0, 2, 1, 1, 1])
    probs = torch.tensor([[0.9, 0.05, 0.05], [0.1, 0.2, 0.7], [0.0, 0.95, 0.05], [0.3, 0.6, 0.1], [0.0, 1.0, 0.0]])
    fig = plots.plot_confident_mistakes(images, labels, preds, probs, CLASSES, n=12, ncols=4)
    drawn = [ax for ax in fig.axes if ax.get_images()]
    assert [ax.get_title() for ax in drawn] == ["ship → dog\n95%", "dog → ship\n70%", "cat → dog\n60%"]
    assert [int(np.asarray(ax.get_images()[0].get_array())[0, 0, 0]) for ax in drawn] == [80, 40, 120]


def test_plot_confident_mistakes_without_mistakes_says_so():
    labels = torch.tensor([0, 1])
    fig = plots.plot_confident_mistakes(torch.zeros(2, 3, 4, 4), labels, labels, torch.eye(3)[:2], CLASSES)
    assert any(t.get_text() == "no mistakes" for ax in fig.axes for t in ax.texts)


def test_plot_time_to_accuracy_plots_percentages_against_epochs_and_the_targets():
    curves = {"resnet20": [0.5, 0.7, 0.8], "plain56": [0.4, 0.6, 0.75]}
    fig = plots.plot_time_to_accuracy(curves, targets={"85 %": 0.85, "paper": 0.9125})
    left, right = fig.axes
    for ax in (left, right):
        resnet, plain, *targets = ax.get_lines()
        assert np.allclose(resnet.get_xdata(), [1, 2, 3]) and np.allclose(resnet.get_ydata(), [50, 70, 80])
        assert resnet.get_linestyle() == "-" and plain.get_linestyle() == "--"  # plain nets dashed
        assert [float(t.get_ydata()[0]) for t in targets] == pytest.approx([85, 91.25])
        assert ax.get_xlabel() == "epoch"
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["ResNet-20", "plain-56"]
    assert [t.get_text() for t in right.texts] == ["85 %", "paper"]


def test_plot_time_to_accuracy_takes_other_legend_labels_and_keeps_the_colours():
    curves = {"resnet20": [0.5, 0.7], "another run": [0.4, 0.6]}
    fig = plots.plot_time_to_accuracy(curves, labels={"resnet20": "ResNet-20, zoo recipe"})
    left = fig.axes[0]
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["ResNet-20, zoo recipe", "another run"]
    resnet, other = left.get_lines()[:2]
    assert resnet.get_color() != other.get_color()  # the ResNet blue, the other run a colour of its own


def test_plot_time_to_accuracy_gives_every_other_run_its_own_colour():
    # two runs that are not zoo networks were both grey, and could not be told apart
    curves = {"resnet20": [0.5, 0.7], "run A": [0.4, 0.6], "run B": [0.45, 0.65]}
    fig = plots.plot_time_to_accuracy(curves)
    colours = [matplotlib.colors.to_hex(line.get_color()) for line in fig.axes[0].get_lines()[:3]]
    assert len(set(colours)) == 3
