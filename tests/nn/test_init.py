"""Initialisation: fresh very deep networks are finite in both modes (issue 13, item 6)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from resnet_course.nn import (
    CALIBRATE_ABOVE_BLOCKS,
    calibrate_batchnorm,
    create_model,
    find_blocks,
)


def _outputs(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        evaluated = model.eval()(x)
        trained = model.train()(x)
    return evaluated, trained


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet1202", "preact_resnet1001"])
def test_fresh_very_deep_network_is_finite_in_both_modes(name):
    torch.manual_seed(0)
    model = create_model(name)
    assert len(find_blocks(model, residual_only=True)) > CALIBRATE_ABOVE_BLOCKS
    evaluated, trained = _outputs(model, torch.randn(4, 3, 32, 32))
    assert torch.isfinite(evaluated).all() and torch.isfinite(trained).all()
    # Evaluation mode now works at the scale of training mode, not 2^(blocks/2) above it.
    assert evaluated.abs().max() < 10 * trained.abs().max() + 1


def test_shallower_networks_keep_the_placeholder_statistics():
    # The chapters' networks are built exactly as before (and as torchvision builds them).
    for name in ("resnet110", "preact_resnet164", "resnet50"):
        model = create_model(name)
        assert len(find_blocks(model, residual_only=True)) <= CALIBRATE_ABOVE_BLOCKS
        norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        assert all(torch.equal(m.running_var, torch.ones_like(m.running_var)) for m in norms)
        assert all(torch.equal(m.running_mean, torch.zeros_like(m.running_mean)) for m in norms)


def test_calibration_changes_only_the_running_statistics():
    torch.manual_seed(0)
    model = create_model("resnet56")
    model.layer2.eval()  # a mixed state, to be given back as it was
    params = {k: v.clone() for k, v in model.named_parameters()}
    modes = [m.training for m in model.modules()]
    rng = torch.get_rng_state()
    count = calibrate_batchnorm(model)
    assert count == sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 55
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(v, params[k]) for k, v in model.named_parameters())
    assert [m.training for m in model.modules()] == modes
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(m.momentum == 0.1 and int(m.num_batches_tracked) == 0 for m in norms)
    assert not torch.equal(norms[-1].running_var, torch.ones_like(norms[-1].running_var))
    evaluated, trained = _outputs(model, torch.randn(8, 3, 32, 32))
    assert evaluated.abs().max() < 10 * trained.abs().max()  # ResNet-56 at placeholders: ~10⁴ times larger


def test_calibration_is_deterministic_and_skips_meta_networks():
    a, b = create_model("resnet20"), create_model("resnet20")
    b.load_state_dict(a.state_dict())
    calibrate_batchnorm(a, seed=3)
    calibrate_batchnorm(b, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    with torch.device("meta"):
        meta = create_model("resnet20")
    assert calibrate_batchnorm(meta) == 0
