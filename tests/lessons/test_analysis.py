"""Unit tests for resnet_course.analysis, .widgets, .plots and .exercises (chapter 2).

Small networks and inputs on the CPU: the whole file runs in well under 30 seconds.
"""

from __future__ import annotations

import copy
import re

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torch import nn  # noqa: E402

from resnet_course.lessons import analysis, plots, widgets  # noqa: E402
from resnet_course.nn.blocks import BasicBlock, Bottleneck, PreActBasicBlock  # noqa: E402
from resnet_course.nn.registry import create_model  # noqa: E402
from resnet_course.exercises.checking import ExerciseError
from resnet_course.exercises.ch02 import ReferenceResidual, check_neighbour_correlation, check_residual, reference_neighbour_correlation  # noqa: E402
from resnet_course.nn.summary import count_macs  # noqa: E402


# Tiny tensors: every test here runs on one CPU thread (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


def _batch(n: int = 4, size: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g), torch.randint(0, 10, (n,), generator=g)


# --------------------------------------------------------------------------- gradient norms


def test_gradient_norms_lists_every_conv_in_forward_order_and_matches_autograd() -> None:
    model = analysis.seeded_model("residual", 20)
    x, y = _batch()
    norms = analysis.gradient_norms(model, x, y)
    convs = [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert len(norms) == len(convs) == 19
    names = [name for name, _ in norms]
    assert names[0] == "conv1" and names[1] == "layer1.0.conv1" and names[-1] == "layer3.2.conv2"
    assert names == convs  # module order is forward order in this network
    # the same numbers as a plain backward pass on a copy
    reference = copy.deepcopy(model).train()
    F.cross_entropy(reference(x), y).backward()
    modules = dict(reference.named_modules())
    for name, norm in norms:
        assert norm == pytest.approx(float(modules[name].weight.grad.norm()), rel=1e-5)
        assert norm > 0


def test_gradient_norms_leave_the_model_unchanged() -> None:
    model = analysis.seeded_model("plain", 20).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    analysis.gradient_norms(model, *_batch())
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), f"{key} changed"


def test_gradient_norms_loss_options() -> None:
    model = analysis.seeded_model("residual", 8)
    x, y = _batch(2, 8)
    own_labels = analysis.gradient_norms(model, x)  # the network's own predictions as labels
    with torch.no_grad():
        predicted = copy.deepcopy(model).train()(x).argmax(1)
    assert own_labels == analysis.gradient_norms(model, x, predicted)
    summed = analysis.gradient_norms(model, x, loss="sum")
    assert [n for n, _ in summed] == [n for n, _ in own_labels]
    with pytest.raises(ValueError, match="unknown loss"):
        analysis.gradient_norms(model, x, y, loss="hinge")


def test_plain_gradients_explode_toward_the_input_more_than_residual() -> None:
    x, y = _batch(4, 16)
    plain = analysis.gradient_norms(analysis.seeded_model("plain", 56), x, y)
    residual = analysis.gradient_norms(analysis.seeded_model("residual", 56), x, y)
    plain_ratio = plain[0][1] / plain[-1][1]
    residual_ratio = residual[0][1] / residual[-1][1]
    assert plain_ratio > 100 * residual_ratio


def test_block_input_gradients_match_a_retained_grad() -> None:
    model = analysis.seeded_model("residual", 20)
    x, y = _batch()
    norms = analysis.block_output_gradient_norms(model, x, y)
    assert [name for name, _ in norms] == [f"layer{s}.{b}" for s in (1, 2, 3) for b in range(3)]
    reference = copy.deepcopy(model).train()
    kept = {}

    def keep(name):
        def hook(_module, args):
            args[0].retain_grad()
            kept[name] = args[0]
        return hook

    for name, module in reference.named_modules():
        if name in ("layer2.0", "layer3.2"):
            module.register_forward_pre_hook(keep(name))
    F.cross_entropy(reference(x), y).backward()
    found = dict(norms)
    for name, tensor in kept.items():
        assert found[name] == pytest.approx(float(tensor.grad.norm()), rel=1e-5)


def test_zeroed_preact_branches_pass_the_gradient_unchanged_within_a_stage() -> None:
    """He et al. 2016, Eq. (5) with F ≡ 0: every block input of a stage gets the same gradient."""
    torch.manual_seed(0)
    model = create_model("preact_resnet20", zero_init_residual=True)
    norms = dict(analysis.block_output_gradient_norms(model, *_batch()))
    assert norms["layer3.1"] == pytest.approx(norms["layer3.2"], rel=1e-5)
    assert norms["layer1.0"] == pytest.approx(norms["layer1.2"], rel=1e-5)
    assert norms["layer2.2"] != pytest.approx(norms["layer3.2"], rel=1e-3)  # the transition is not an identity


# --------------------------------------------------------------------------- the gradient identity


def test_gradient_identity_holds_and_zero_branches_leave_only_the_direct_term() -> None:
    check = analysis.check_gradient_identity(num_blocks=4, channels=3, size=4, seed=0)
    assert check.jacobian.shape == (48, 48)
    assert check.max_abs_error < 1e-10
    assert float(check.residual.norm()) > 1e-3  # the Jacobian term is really there
    assert not torch.allclose(check.autograd, check.direct)
    zeroed = analysis.check_gradient_identity(num_blocks=4, channels=3, size=4, seed=0, zero_branches=True)
    assert torch.equal(zeroed.autograd, zeroed.direct)
    assert float(zeroed.residual.abs().max()) == 0.0
    assert "Eq. 5" in check.table()


# --------------------------------------------------------------------------- shattering


def test_neighbour_correlation_and_autocorrelation() -> None:
    row = torch.randn(1, 10)
    assert analysis.neighbour_correlation(row.repeat(4, 1)) == pytest.approx(1.0)
    assert analysis.neighbour_correlation(row * torch.tensor([[1.0], [-1.0], [1.0]])) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        analysis.neighbour_correlation(row)
    signal = torch.sin(torch.linspace(0, 6.28, 200))
    ac = analysis.autocorrelation(signal, 5)
    assert ac[0] == pytest.approx(1.0) and 0.9 < float(ac[1]) < 1.0


def test_a_linear_network_has_perfectly_correlated_gradients() -> None:
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    result = analysis.gradient_shattering(linear, n_points=16, image_size=8)
    assert result.neighbour_correlation == pytest.approx(1.0, abs=1e-5)
    assert result.directional.shape == (16,) and result.t.shape == (16,)
    assert torch.allclose(result.directional, result.directional[0].expand(16), rtol=1e-4)


def test_shattering_is_deterministic_and_plain_networks_shatter() -> None:
    plain = analysis.seeded_model("plain", 56)
    first = analysis.gradient_shattering(plain, n_points=96, image_size=8, seed=3)
    again = analysis.gradient_shattering(plain, n_points=96, image_size=8, seed=3)
    assert torch.equal(first.directional, again.directional)
    assert first.neighbour_correlation == again.neighbour_correlation
    residual = analysis.gradient_shattering(analysis.seeded_model("residual", 56), n_points=96, image_size=8, seed=3)
    assert residual.neighbour_correlation > first.neighbour_correlation + 0.3
    # the model itself is untouched (the analysis works on a copy)
    assert plain.training and all(p.requires_grad for p in plain.parameters())


def test_calibrate_batchnorm_uses_the_batch_statistics() -> None:
    model = nn.Sequential(nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2))
    x = torch.randn(8, 3, 4, 4) * 3 + 1
    analysis.calibrate_batchnorm(model, x)
    bn = model[1]
    with torch.no_grad():
        h = model[0](x)
    assert not model.training
    assert torch.allclose(bn.running_mean, h.mean((0, 2, 3)), atol=1e-5)
    assert bn.momentum == 0.1


# --------------------------------------------------------------------------- learning the identity


def test_identity_learning_curves() -> None:
    curves = analysis.identity_learning_curves(40, seed=0, batch_size=16)
    assert set(curves) == {"plain", "residual", "residual_zero"}
    assert all(len(c) == 40 for c in curves.values())
    assert all(v == 0.0 for v in curves["residual_zero"])  # F ≡ 0: the identity from the start
    assert curves["plain"][0] > 0.1
    assert curves["residual"][-1] < 0.3 * curves["residual"][0]
    assert curves["residual"][-1] < curves["plain"][-1]
    # deterministic: a shorter run with the same seed repeats the first steps exactly
    again = analysis.identity_learning_curves(5, seed=0, batch_size=16, kinds=("residual",))
    assert again["residual"] == curves["residual"][:5]
    with pytest.raises(ValueError):
        analysis.identity_stack("dense")


def test_text_tables() -> None:
    profiles = {("plain", 20): [("conv1", 4.0), ("fc", 2.0)]}
    assert "plain20" in analysis.gradient_norm_table(profiles) and " 2" in analysis.gradient_norm_table(profiles)
    blocks = {"a": [("layer1.0", 8.0), ("layer1.1", 2.0)], "b": [("layer1.0", 1.0), ("layer1.1", 1.0)]}
    table = analysis.block_gradient_table(blocks, every=1)
    assert table.splitlines()[-1].split()[-2:] == ["4", "1"]


# --------------------------------------------------------------------------- describe_block and the widgets


def test_describe_block_counts_parameters_and_multiply_adds() -> None:
    text = widgets.describe_block("basic", 16, 32, 2, "A")
    assert text.splitlines()[0] == "BasicBlock: 16 -> 32 channels, stride 2, shortcut A; input 1×16×32×32"
    # conv1 3·3·16·32 + bn 64 + conv2 3·3·32·32 + bn 64; convs on 16×16 outputs
    assert "total: 13,952 parameters, 3,538,944 multiply-adds" in text
    assert "zero-pad identity (A)" in text
    assert text == widgets.describe_block("basic", 16, 32, 2, "A")  # deterministic


@pytest.mark.parametrize(
    "block_type, cls, in_planes, planes, stride, shortcut",
    [("bottleneck", Bottleneck, 64, 64, 2, "B"), ("preact_basic", PreActBasicBlock, 16, 16, 1, "C"),
     ("basic", BasicBlock, 32, 32, 1, "A")],
)
def test_describe_block_totals_match_the_block(block_type, cls, in_planes, planes, stride, shortcut) -> None:
    block = cls(in_planes, planes, stride, shortcut)
    params = sum(p.numel() for p in block.parameters())
    macs, _ = count_macs(block, (1, in_planes, 32, 32))
    text = widgets.describe_block(block_type, in_planes, planes, stride, shortcut)
    assert f"total: {params:,} parameters, {macs:,} multiply-adds" in text
    if shortcut == "A" and stride == 1 and in_planes == planes * cls.expansion:
        assert "(identity)" in text
    else:
        assert "downsample.0" in text


def test_describe_block_plain_has_no_shortcut_and_bad_choices_say_why() -> None:
    text = widgets.describe_block("plain_basic", 16, 32, 2, "A")
    assert "no shortcut" in text and "addition" not in text and "downsample" not in text
    with pytest.raises(ValueError, match="use B or C"):
        widgets.describe_block("basic", 64, 16, 1, "A")
    with pytest.raises(ValueError, match="unknown block type"):
        widgets.describe_block("dense", 16, 16, 1, "A")
    with pytest.raises(ValueError, match="stride"):
        widgets.describe_block("basic", 16, 16, 3, "A")


def test_block_explorer_updates_its_table() -> None:
    box = widgets.block_explorer()
    assert "BasicBlock: 16 -&gt; 32" in box.table.value
    box.controls["block_type"].value = "bottleneck"
    assert "Bottleneck: 16 -&gt; 128" in box.table.value and "conv3" in box.table.value
    box.controls["block_type"].value = "basic"
    box.controls["in_planes"].value = 128
    box.controls["planes"].value = 16
    assert "cannot build this block" in box.table.value and "use B or C" in box.table.value
    box.controls["shortcut"].value = "B"
    assert "downsample.0" in box.table.value


def test_gradient_explorer_draws_and_caches() -> None:
    x, y = _batch(2, 8)
    box = widgets.gradient_explorer(x, y, kind="residual", depth=8, depths=(8, 14))
    first = box.image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    box.controls["kind"].value = "plain"
    assert box.image.value != first
    box.controls["depth"].value = 14
    assert set(box.cache) == {("residual", 8), ("plain", 8), ("plain", 14)}
    assert len(box.cache[("plain", 14)]) == 13  # convolutions of a 14-layer network


# --------------------------------------------------------------------------- plots


def test_plots_return_figures() -> None:
    import matplotlib.pyplot as plt

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


# --------------------------------------------------------------------------- chapter 2 self-checks


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


def test_the_solutions_printed_in_chapter_2_pass_their_checks(capsys) -> None:
    """The code in the chapter's solution dropdowns that calls a self-check passes it."""
    import json

    from conftest import REPO_ROOT

    nb = json.loads((REPO_ROOT / "notebooks" / "02_residual_learning.ipynb").read_text(encoding="utf-8"))
    markdown = "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    solutions = re.findall(r"^(`{3,})\{solution\}[^\n]*\n(.*?)^\1\s*$", markdown, re.S | re.M)
    blocks = [code for _, body in solutions for code in re.findall(r"^```python\n(.*?)^```\s*$", body, re.S | re.M)
              if "check_" in code]
    assert len(blocks) == 2
    for code in blocks:
        exec(compile(code, "<chapter 2 solution>", "exec"), {"__name__": "solution"})
    assert capsys.readouterr().out.count("✓") == 2
