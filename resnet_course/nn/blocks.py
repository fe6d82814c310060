"""Residual blocks, their pre-activation and plain twins, and the three shortcut options.

References
----------
- He, Zhang, Ren, Sun (2015), *Deep Residual Learning for Image Recognition*
  (arXiv:1512.03385): the basic block (Fig. 2, Fig. 5 left), the bottleneck block
  (Fig. 5 right, §4.1 "Deeper Bottleneck Architectures"), shortcut options A/B/C
  (§3.3 and §4.1 "Identity vs. Projection Shortcuts").
- He, Zhang, Ren, Sun (2016), *Identity Mappings in Deep Residual Networks*
  (arXiv:1603.05027): the pre-activation blocks (Fig. 1(b), Fig. 4(e)).

Layer names follow torchvision's ``models/resnet.py`` (``conv1``, ``bn1``, ``conv2``,
``bn2``, ``conv3``, ``bn3``, ``downsample``) so that state dicts are interchangeable.

A note on the addition: every block computes ``out = out + identity`` (a new tensor),
never ``out += identity``. The in-place form overwrites a tensor that autograd may
have saved for the backward pass (for instance the output of a ReLU that is itself the
identity path), which raises "one of the variables needed for gradient computation has
been modified by an inplace operation" or, worse, silently changes gradients when
the modified tensor is not checked. Chapter 3 of the book reproduces the error.
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "BLOCK_TYPES",
    "SHORTCUT_OPTIONS",
    "BasicBlock",
    "Bottleneck",
    "PlainBasicBlock",
    "PlainBottleneck",
    "PlainPreActBasicBlock",
    "PreActBasicBlock",
    "PreActBottleneck",
    "ShortcutOption",
    "ZeroPadShortcut",
    "conv1x1",
    "conv3x3",
    "make_shortcut",
    "projection_shortcut",
    "zero_init_last_bn"
]


ShortcutOption = Literal["A", "B", "C"]
SHORTCUT_OPTIONS: tuple[str, ...] = ("A", "B", "C")


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """3×3 convolution with padding 1 and no bias (the BatchNorm after it has one)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1×1 convolution with no bias: bottleneck reduce/expand and projection shortcuts."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


# --------------------------------------------------------------------------- shortcuts


class ZeroPadShortcut(nn.Module):
    """Shortcut option A (He et al. 2015, §3.3 and §4.2): identity with zero-padded channels.

    When a block halves the spatial size and doubles the channels, the identity is
    subsampled (every second pixel, "performed with a stride of 2") and the extra
    channels are filled with zeros. It has no parameters, which is why the CIFAR
    networks of §4.2 have exactly the parameter counts of the paper's Table 6.
    """

    def __init__(self, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        if out_planes < in_planes:
            raise ValueError(f"option A can only add channels, not remove them ({in_planes} -> {out_planes})")
        self.in_planes = in_planes
        self.out_planes = out_planes
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        extra = self.out_planes - self.in_planes
        if extra:
            # Pad the channel dimension: F.pad's pairs run from the last dimension backwards.
            x = F.pad(x, (0, 0, 0, 0, 0, extra))
        return x

    def extra_repr(self) -> str:
        return f"{self.in_planes}, {self.out_planes}, stride={self.stride}"


def projection_shortcut(in_planes: int, out_planes: int, stride: int, *, with_bn: bool = True) -> nn.Sequential:
    """A 1×1 convolution (with stride) followed by BatchNorm: the projection W_s of Eq. (2).

    torchvision names this ``downsample`` and builds it as ``Sequential(conv1x1, BN)``,
    so its state-dict keys are ``downsample.0.weight`` and ``downsample.1.*``. In a
    pre-activation block the input is already normalised, so the projection has no BN.
    """
    layers: list[nn.Module] = [conv1x1(in_planes, out_planes, stride)]
    if with_bn:
        layers.append(nn.BatchNorm2d(out_planes))
    return nn.Sequential(*layers)


def make_shortcut(
    option: ShortcutOption, in_planes: int, out_planes: int, stride: int, *, with_bn: bool = True
) -> nn.Module | None:
    """Build the shortcut for a block (He et al. 2015, §4.1, "Identity vs. Projection Shortcuts").

    - ``"A"``: zero-padding identity where the shape changes, identity elsewhere (parameter-free).
    - ``"B"``: projection where the shape changes, identity elsewhere (torchvision's choice).
    - ``"C"``: projection on every block.

    Returns ``None`` for a plain identity, so that blocks without a shortcut module have
    the same state-dict keys as torchvision's.
    """
    if option not in SHORTCUT_OPTIONS:
        raise ValueError(f"unknown shortcut option {option!r}: choose 'A' (zero-pad identity), "
                         "'B' (projection where the shape changes) or 'C' (projection everywhere)")
    shape_changes = stride != 1 or in_planes != out_planes
    if option == "C" or (option == "B" and shape_changes):
        return projection_shortcut(in_planes, out_planes, stride, with_bn=with_bn)
    if option == "A" and shape_changes:
        return ZeroPadShortcut(in_planes, out_planes, stride)
    return None


# --------------------------------------------------------------------------- post-activation blocks


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with a shortcut around them (He et al. 2015, Fig. 2 and Fig. 5 left).

    ``y = ReLU(F(x) + shortcut(x))`` with ``F = BN ∘ conv3x3 ∘ ReLU ∘ BN ∘ conv3x3``.
    Used by ResNet-18/34 (Table 1) and by the CIFAR networks (§4.2).
    """

    expansion: int = 1
    has_shortcut: bool = True

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut: ShortcutOption = "B") -> None:
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, out_planes)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.downsample = make_shortcut(shortcut, in_planes, out_planes, stride) if self.has_shortcut else None
        self.stride = stride

    def residual(self, x: Tensor) -> Tensor:
        """The residual branch F(x)."""
        out = self.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out))

    def forward(self, x: Tensor) -> Tensor:
        out = self.residual(x)
        if self.has_shortcut:
            identity = x if self.downsample is None else self.downsample(x)
            out = out + identity  # not in place: see the module docstring
        return self.relu(out)

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        """The BatchNorm that ends the residual branch (zero its weight to make F ≡ 0)."""
        return self.bn2


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3, 1×1 expand (×4) with a shortcut (He et al. 2015, Fig. 5 right, §4.1).

    Used by ResNet-50/101/152 (Table 1). The paper puts the stride of a downsampling
    block on the first 1×1 convolution; torchvision (and most later work, "ResNet v1.5")
    puts it on the 3×3, which sees every input pixel and is a little more accurate but
    costs more multiply-adds. ``stride_in_1x1=True`` builds the paper's version; the
    parameters are the same either way, so state dicts stay interchangeable.
    """

    expansion: int = 4
    has_shortcut: bool = True

    def __init__(
        self,
        in_planes: int,
        planes: int,
        stride: int = 1,
        shortcut: ShortcutOption = "B",
        *,
        stride_in_1x1: bool = False,
        groups: int = 1,
        base_width: int = 64,
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        out_planes = planes * self.expansion
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = conv1x1(in_planes, width, stride_1x1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride_3x3, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, out_planes)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = make_shortcut(shortcut, in_planes, out_planes, stride) if self.has_shortcut else None
        self.stride = stride

    def residual(self, x: Tensor) -> Tensor:
        """The residual branch F(x)."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def forward(self, x: Tensor) -> Tensor:
        out = self.residual(x)
        if self.has_shortcut:
            identity = x if self.downsample is None else self.downsample(x)
            out = out + identity
        return self.relu(out)

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn3


# --------------------------------------------------------------------------- plain twins


class PlainBasicBlock(BasicBlock):
    """A :class:`BasicBlock` without its shortcut: the "plain" network of He et al. 2015, Fig. 3 (middle).

    Same layers, same parameters (no projection is ever built), so plain and residual
    networks of equal depth differ in nothing but the addition — the controlled
    comparison behind the degradation experiments (Fig. 1, Fig. 4, Fig. 6).
    """

    has_shortcut = False


class PlainBottleneck(Bottleneck):
    """A :class:`Bottleneck` without its shortcut (a plain 1×1-3×3-1×1 stack)."""

    has_shortcut = False


# --------------------------------------------------------------------------- pre-activation blocks


class PreActBasicBlock(nn.Module):
    """Pre-activation basic block (He et al. 2016, Fig. 1(b) and Fig. 4(e)).

    ``y = x + F(x)`` with ``F = conv3x3 ∘ ReLU ∘ BN ∘ conv3x3 ∘ ReLU ∘ BN``: BatchNorm and
    ReLU move *before* each convolution, so nothing follows the addition and the
    shortcut path from any block to any later one is a pure identity (Eq. (4) of the
    2016 paper). When the shape changes, the shortcut is applied to the
    pre-activated input, as in the authors' code.
    """

    expansion: int = 1
    has_shortcut: bool = True

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut: ShortcutOption = "B") -> None:
        super().__init__()
        out_planes = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, out_planes)
        self.relu = nn.ReLU(inplace=False)  # the input x is kept for the addition
        self.downsample = (
            make_shortcut(shortcut, in_planes, out_planes, stride, with_bn=False) if self.has_shortcut else None
        )
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        pre = self.relu(self.bn1(x))
        out = self.conv1(pre)
        out = self.conv2(self.relu(self.bn2(out)))
        if not self.has_shortcut:
            return out
        identity = x if self.downsample is None else self.downsample(pre)
        return out + identity

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        """The last BatchNorm inside the branch (in a pre-activation block it precedes the last conv)."""
        return self.bn2


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck (He et al. 2016, Fig. 4(e); ResNet-164 and ResNet-1001 on CIFAR)."""

    expansion: int = 4
    has_shortcut: bool = True

    def __init__(
        self,
        in_planes: int,
        planes: int,
        stride: int = 1,
        shortcut: ShortcutOption = "B",
        *,
        stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        out_planes = planes * self.expansion
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = conv1x1(in_planes, planes, stride_1x1)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride_3x3)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, out_planes)
        self.relu = nn.ReLU(inplace=False)
        self.downsample = (
            make_shortcut(shortcut, in_planes, out_planes, stride, with_bn=False) if self.has_shortcut else None
        )
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        pre = self.relu(self.bn1(x))
        out = self.conv1(pre)
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        if not self.has_shortcut:
            return out
        identity = x if self.downsample is None else self.downsample(pre)
        return out + identity

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn3


class PlainPreActBasicBlock(PreActBasicBlock):
    """A :class:`PreActBasicBlock` without its shortcut."""

    has_shortcut = False


BLOCK_TYPES: dict[str, type[nn.Module]] = {
    "basic": BasicBlock,
    "bottleneck": Bottleneck,
    "plain_basic": PlainBasicBlock,
    "plain_bottleneck": PlainBottleneck,
    "preact_basic": PreActBasicBlock,
    "preact_bottleneck": PreActBottleneck,
    "plain_preact_basic": PlainPreActBasicBlock,
}


def zero_init_last_bn(module: nn.Module) -> int:
    """Zero the last BatchNorm (weight and bias) of every residual branch; return how many.

    With F ≡ 0 each post-activation block computes ReLU(shortcut(x)) and each
    pre-activation block computes shortcut(x): the network starts as (nearly) the
    identity and learns the residuals (Goyal et al. 2017, §5.1; torchvision's
    ``zero_init_residual``, which zeroes the weight of a freshly built network whose
    bias is already zero). For pre-activation blocks the BN zeroed is the one before
    the last convolution, whose input then becomes ReLU(0) = 0. Plain blocks are left
    alone: without a shortcut a zero branch would cut the signal, not pass it on.
    """
    count = 0
    for block in module.modules():
        if getattr(block, "has_shortcut", False) and hasattr(block, "last_bn"):
            nn.init.zeros_(block.last_bn.weight)
            nn.init.zeros_(block.last_bn.bias)
            count += 1
    return count
