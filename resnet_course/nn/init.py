"""Initialisation: He's normal initialisation, and BatchNorm statistics a fresh deep network can use.

References
----------
- He, Zhang, Ren, Sun (2015), *Delving Deep into Rectifiers* (arXiv:1502.01852), §2.2:
  the normal initialisation with variance 2 / fan that keeps a ReLU network's signal at a
  constant scale; used for every convolution here, as in the ResNet paper (§3.4).
- Ioffe, Szegedy (2015), *Batch Normalization* (arXiv:1502.03167), §3.1: in evaluation
  mode BatchNorm uses population statistics instead of the batch's.
- Zhang, Dauphin, Ma (2019), *Fixup Initialization* (arXiv:1901.09321), §2, and De, Smith
  (2020), *Batch Normalization Biases Residual Blocks Towards the Identity Function*
  (arXiv:2002.10444), §2: without normalisation, ``x + F(x)`` with a variance-preserving
  branch doubles the signal's variance at every block.
- Wu, Johnson (2021), *Rethinking "Batch" in BatchNorm* (arXiv:2105.07576), §3: "precise
  BN", population statistics computed in dedicated forward passes rather than by the
  exponential moving average.

Why a fresh very deep network needs its BatchNorm statistics computed
---------------------------------------------------------------------
A freshly built BatchNorm holds placeholder statistics: running mean 0, running variance
1. In training mode they are not used (each batch is normalised by its own statistics),
so every residual branch outputs unit variance and the sum grows only additively. In
evaluation mode they *are* used, and then BatchNorm is the identity: the network computes
what an unnormalised ResNet computes at He initialisation, where every block doubles the
variance (Zhang et al. 2019, §2). After ``B`` blocks the logits are of order ``2^(B/2)``:
about 10⁴ for ResNet-56 (27 blocks), 10⁸ for ResNet-110 (54), 10²⁴ for ResNet-302 (150),
and past float32's 3·10³⁸ — so NaN — for ResNet-1202 (600 blocks) and the pre-activation
ResNet-1001 (333 bottlenecks).

The fix is not to change the paper's initialisation (zero-initialising the last BN of
each branch, Fixup's scaling or SkipInit would all change what is trained), but to give
evaluation mode the statistics it is meant to have: those of the network's own
activations. :func:`calibrate_batchnorm` computes them in one training-mode pass over a
batch of unit-Gaussian images (the scale of normalised inputs), Wu & Johnson's precise
BN applied at initialisation; the weights, the global random state and the training-mode
behaviour are untouched, and the first training steps replace the statistics anyway
(momentum 0.1: after 50 steps less than 1 % of them remains).

Networks with more than :data:`CALIBRATE_ABOVE_BLOCKS` residual blocks are calibrated
when they are built (predicted eval-mode growth beyond 2⁵⁰); shallower ones keep
PyTorch's placeholders, so the 20-110-layer networks the chapters train are built
exactly as before and as torchvision builds them (their eval-mode outputs are finite, if
large: call :func:`calibrate_batchnorm` yourself to get eval-mode outputs of train-mode
scale). Under float16 autocast, whose largest value is 65,504, the placeholders overflow
from about 32 blocks on: calibrate before evaluating an untrained network in float16.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from resnet_course.nn.inspection import find_blocks

__all__ = [
    "BATCH_NORMS",
    "CALIBRATE_ABOVE_BLOCKS",
    "calibrate_batchnorm",
    "calibrate_if_very_deep",
    "init_weights",
]


BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)

#: Networks with more residual blocks than this get computed BN statistics when built.
CALIBRATE_ABOVE_BLOCKS = 100


def init_weights(model: nn.Module) -> None:
    """He (Kaiming) normal initialisation for convolutions (He et al. 2015, §3.4), BN/GN to (1, 0).

    ``mode="fan_out"`` as torchvision's ResNet; the fully connected layer keeps PyTorch's
    default (uniform, scaled by the fan-in).
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def calibrate_batchnorm(model: nn.Module, input_size: Sequence[int] = (4, 3, 32, 32), *, seed: int = 0) -> int:
    """Set every BatchNorm's running statistics to those of its input; return how many were set.

    One forward pass in training mode, without gradients, over a batch of shape
    ``input_size`` drawn from N(0, 1) with a private generator seeded by ``seed``: each
    BatchNorm's running mean and (unbiased) variance become exactly those of the batch it
    sees (precise BN, Wu & Johnson 2021 §3). Parameters, the modules' train/eval modes,
    the BatchNorms' momentum, their ``num_batches_tracked`` (left at 0: the network has
    still seen no data) and the global random state are all as before. A network on the
    meta device (shapes only) is left alone and 0 returned.
    """
    norms = [m for m in model.modules() if isinstance(m, BATCH_NORMS) and m.track_running_stats]
    parameter = next(model.parameters(), None)
    if not norms or (parameter is not None and parameter.is_meta):
        return 0
    device = parameter.device if parameter is not None else torch.device("cpu")
    modes = {m: m.training for m in model.modules()}
    momenta = [m.momentum for m in norms]
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(*input_size, generator=generator).to(device)
    try:
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # cumulative average: after one batch, exactly its statistics
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            model.train()
            model(images)
    finally:
        for module, training in modes.items():
            module.training = training
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
            norm.num_batches_tracked.zero_()
    return len(norms)


def calibrate_if_very_deep(model: nn.Module, input_size: Sequence[int]) -> bool:
    """:func:`calibrate_batchnorm` when ``model`` has more than :data:`CALIBRATE_ABOVE_BLOCKS` residual blocks.

    Returns whether it did. The builders of this package call it last, so that a
    freshly built ResNet-1202 or pre-activation ResNet-1001 gives finite outputs in
    evaluation mode (see the module docstring for why, and why not for every network).
    """
    if len(find_blocks(model, residual_only=True)) <= CALIBRATE_ABOVE_BLOCKS:
        return False
    return calibrate_batchnorm(model, input_size) > 0
