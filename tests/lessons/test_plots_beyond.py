"""Chapter 8's figures and the published numbers behind them (lessons.published, lessons.plots.beyond)."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from resnet_course.lessons import published
from resnet_course.lessons.plots.beyond import TransformerLayer, draw_transformer_layers, plot_published_cifar10
from resnet_course.lessons.schematics import trace_block

BIB = published.__file__.rsplit("/resnet_course/", 1)[0] + "/book/references.bib"


def test_every_published_number_names_its_paper_and_table():
    keys = set(re.findall(r"@\w+\s*\{\s*([^,\s]+)\s*,", open(BIB, encoding="utf-8").read()))
    results = list(published.CIFAR10) + list(published.MILESTONES.values())
    for r in results:
        assert r.source in keys, f"{r.network}: {r.source} is not in book/references.bib"
        assert r.where and r.cited.startswith(published.CITATIONS[r.source])
        assert 0 < r.error < 100
    assert {r.family for r in published.CIFAR10} == set(published.FAMILIES)
    assert all(sum(r.family == f for r in published.CIFAR10) >= 2 for f in published.FAMILIES)
    # Spot checks against the papers: He et al. 2015 Table 6, and the ILSVRC 2015 result.
    table6 = {r.network: (r.params_m, r.error) for r in published.CIFAR10 if r.source == "he2016deep"}
    assert table6["ResNet-110"] == (1.7, 6.43) and table6["ResNet-1202"] == (19.4, 7.93)
    assert published.milestone("ilsvrc2015").error == 3.57
    with pytest.raises(KeyError, match="known: ilsvrc2015"):
        published.milestone("resnet9000")


def test_published_table_fits_the_column():
    text = published.published_table()
    assert "WRN-16-8                    11.0M  4.27 %  Zagoruyko & Komodakis 2016, Table 5" in text
    assert max(len(line) for line in text.splitlines()) <= 88  # what the book's output area shows unwrapped


def test_accuracy_figure_is_marked_as_the_papers_and_readable():
    from page_scale import COLUMN_PX, rendered_width_px, smallest_text_px

    fig = plot_published_cifar10()
    try:
        ax = fig.axes[0]
        assert "published" in ax.get_title().lower() and "not runs of this course" in ax.get_title()
        assert [t.get_text() for t in ax.get_legend().get_texts()] == list(published.FAMILIES)
        assert len(ax.lines) == len(published.FAMILIES)
        assert sum(len(line.get_xdata()) for line in ax.lines) == len(published.CIFAR10)
        assert ax.get_xscale() == "log"
        assert rendered_width_px(fig) <= COLUMN_PX and smallest_text_px(fig) >= 11
    finally:
        plt.close(fig)


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_layer_is_torchs_encoder_layer(norm_first):
    """Same state dict, same output as torch.nn.TransformerEncoderLayer (post-LN and pre-LN)."""
    torch.manual_seed(0)
    reference = torch.nn.TransformerEncoderLayer(64, 4, 256, dropout=0.0, batch_first=True,
                                                 norm_first=norm_first).eval()
    layer = TransformerLayer(64, 4, 256, norm_first=norm_first).eval()
    layer.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 10, 64)
    with torch.no_grad():
        assert torch.allclose(layer(x), reference(x), atol=1e-5)


def test_transformer_schematic_has_two_residual_connections():
    post = trace_block(TransformerLayer(norm_first=False), (1, 10, 64))
    pre = trace_block(TransformerLayer(norm_first=True), (1, 10, 64))
    assert [s.kind for s in post.shortcuts] == ["identity", "identity"] == [s.kind for s in pre.shortcuts]
    assert [layer.label for layer in post.path][-1] == "LayerNorm"  # post-LN: the sum is normalised
    assert [layer.label for layer in pre.path][-1] == "+"  # pre-LN: the output is a sum, as in a pre-activation ResNet
    assert next(layer.shape for layer in post.path if layer.kind == "attention") == (10, 64)
    fig = draw_transformer_layers()
    try:
        assert len(fig.axes) == 2
    finally:
        plt.close(fig)
