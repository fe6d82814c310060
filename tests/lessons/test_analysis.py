"""Unit tests for resnet_course.lessons.analysis: gradients, the gradient identity, shattering, the identity task.

Small networks and inputs on the CPU: the whole file runs in well under 30 seconds.
"""

from __future__ import annotations

import copy

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resnet_course.lessons import analysis
from resnet_course.nn.registry import create_model

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


