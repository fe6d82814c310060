"""Beyond ResNet: Wide ResNets, ResNeXt and a DenseNet block, small and CIFAR-sized (chapter 8).

References
----------
- Zagoruyko, Komodakis (2016), *Wide Residual Networks* (arXiv:1605.07146): WRN-d-k,
  pre-activation basic blocks with 16k, 32k and 64k channels, ``n = (d - 4) / 6`` blocks
  per stage (§2, Table 1), dropout between the two convolutions of a block (§2.4);
  WRN-16-4 has 2.7M and WRN-28-10 36.5M parameters (Tables 4 and 5).
- Xie, Girshick, Dollár, Tu, He (2017), *Aggregated Residual Transformations for Deep
  Neural Networks* (ResNeXt, arXiv:1611.05431): the bottleneck's 3×3 convolution split
  into ``cardinality`` groups of ``d`` channels (Fig. 3(c)); the CIFAR ResNeXt-29 of §5.3
  (three stages of three bottlenecks, a 64-channel 3×3 stem, outputs 256/512/1024);
  ResNeXt-29 8×64d has 34.4M and 16×64d 68.1M parameters (Table 7).
- Huang, Liu, van der Maaten, Weinberger (2017), *Densely Connected Convolutional
  Networks* (DenseNet, arXiv:1608.06993): every layer receives the concatenation of all
  earlier feature maps of its block and adds ``growth_rate`` channels (§3, Eq. 2).

The ResNet family itself is in :mod:`resnet_course.models`; these builders are not in its
registry, so build them with the functions here (``wide_resnet(16, 4)``,
``resnext_cifar(29, 8, 64)``). Every network has ``conv1``, ``layer1`` … ``layer3`` and
``fc`` like the CIFAR ResNet, so :func:`resnet_course.summary.summary`, the diagrams and
:func:`resnet_course.train.fit` work on them unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from resnet_course.nn.blocks import Bottleneck, PreActBasicBlock, conv3x3
from resnet_course.nn.init import calibrate_if_very_deep, init_weights
from resnet_course.nn.models import make_layer

__all__ = [
    "PAPER_COUNTS",
    "DenseBlock",
    "DenseLayer",
    "ResNeXtCifar",
    "WideBasicBlock",
    "WideResNet",
    "resnext_cifar",
    "wide_resnet"
]


# Numbers the papers report (CIFAR-10; parameters in millions, test error in %).
PAPER_COUNTS: dict[str, dict[str, float]] = {
    # Zagoruyko & Komodakis 2016, Table 4 (WRN-28-10: 4.17 % without dropout) and Table 5
    "WRN-16-4": {"params_m": 2.7},
    "WRN-28-10": {"params_m": 36.5, "error": 4.17},
    # Xie et al. 2017, Table 7
    "ResNeXt-29 8x64d": {"params_m": 34.4, "error": 3.65},
    "ResNeXt-29 16x64d": {"params_m": 68.1, "error": 3.58},
    # He et al. 2016 (identity mappings): pre-activation ResNet-1001, 4.62 % (its abstract, Table 4)
    "pre-act ResNet-1001": {"params_m": 10.2, "error": 4.62},
}


# --------------------------------------------------------------------------- Wide ResNet


class WideBasicBlock(PreActBasicBlock):
    """The WRN block (Zagoruyko & Komodakis 2016, Fig. 1(d)): a pre-activation basic block with dropout.

    BN → ReLU → conv 3×3 → BN → ReLU → dropout → conv 3×3, plus the input. Where the shape
    changes the shortcut is a 1×1 projection (no BN) of the pre-activated input, as in the
    authors' code; elsewhere it is the identity. With ``dropout=0`` this is exactly
    :class:`~resnet_course.blocks.PreActBasicBlock` with shortcut option B.
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut: str = "B", *,
                 dropout: float = 0.0) -> None:
        super().__init__(in_planes, planes, stride, shortcut)  # type: ignore[arg-type]
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        pre = self.relu(self.bn1(x))
        out = self.conv1(pre)
        out = self.conv2(self.dropout(self.relu(self.bn2(out))))
        identity = x if self.downsample is None else self.downsample(pre)
        return out + identity


class WideResNet(nn.Module):
    """WRN-d-k for CIFAR (Zagoruyko & Komodakis 2016, Table 1).

    A 3×3 convolution with 16 filters, three stages of ``n = (d - 4) / 6`` wide blocks with
    16k, 32k and 64k channels on 32×32, 16×16 and 8×8 maps, a final BN and ReLU, global
    average pooling and a fully connected layer. ``k = 1`` is a pre-activation ResNet of
    depth ``d - 2`` with projection shortcuts.
    """

    def __init__(self, depth: int, k: int, num_classes: int = 10, *, dropout: float = 0.0,
                 in_channels: int = 3) -> None:
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"a Wide ResNet has 6n+4 layers (Zagoruyko & Komodakis 2016, §2), so depth {depth} "
                             f"is impossible; try {max(10, depth - (depth - 4) % 6)} or "
                             f"{max(10, depth - (depth - 4) % 6 + 6)}")
        if k < 1:
            raise ValueError(f"the widening factor k must be at least 1, got {k}")
        n = (depth - 4) // 6
        widths = (16 * k, 32 * k, 64 * k)
        self.depth, self.k = depth, k
        self.conv1 = nn.Conv2d(in_channels, 16, kernel_size=3, stride=1, padding=1, bias=False)
        planes = 16
        self.layer1, planes = make_layer(WideBasicBlock, planes, widths[0], n, 1, "B", dropout=dropout)
        self.layer2, planes = make_layer(WideBasicBlock, planes, widths[1], n, 2, "B", dropout=dropout)
        self.layer3, planes = make_layer(WideBasicBlock, planes, widths[2], n, 2, "B", dropout=dropout)
        self.final_bn = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes, num_classes)
        init_weights(self)
        calibrate_if_very_deep(self, (4, in_channels, 32, 32))  # finite in eval mode: see nn.init

    def features(self, x: Tensor) -> Tensor:
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        return torch.flatten(self.avgpool(self.relu(self.final_bn(x))), 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


def wide_resnet(depth: int, k: int, num_classes: int = 10, *, dropout: float = 0.0) -> WideResNet:
    """WRN-``depth``-``k``: e.g. ``wide_resnet(16, 4)`` (2.7M parameters), ``wide_resnet(28, 10)`` (36.5M).

    ``dropout`` is the probability of the dropout between a block's two convolutions; the
    paper uses 0.3 on CIFAR (§2.4, Table 6) and 0 elsewhere.
    """
    model = WideResNet(depth, k, num_classes, dropout=dropout)
    model.arch = f"wrn{depth}_{k}"  # type: ignore[assignment]
    model.num_classes = num_classes  # type: ignore[assignment]
    return model


# --------------------------------------------------------------------------- ResNeXt


class ResNeXtCifar(nn.Module):
    """The CIFAR ResNeXt of Xie et al. 2017, §5.3: ResNeXt-``9n+2`` (C×d).

    A 3×3 stem with ``base_planes`` filters (64 in the paper), BN and ReLU, then three stages
    of ``n`` bottlenecks (:class:`~resnet_course.blocks.Bottleneck` with ``groups``) whose
    outputs are 4·base_planes, 8·base_planes and 16·base_planes channels (256, 512, 1024 in
    the paper). The grouped 3×3 convolution of stage ``s`` has ``cardinality`` groups of
    ``d·2^s`` channels. Shortcuts: identity, or a 1×1 projection with BN where the shape
    changes (option B). The stride sits on the 3×3 convolution.
    """

    def __init__(self, depth: int, cardinality: int, bottleneck_width: int, num_classes: int = 10, *,
                 base_planes: int = 64, in_channels: int = 3) -> None:
        super().__init__()
        if depth < 11 or (depth - 2) % 9:
            raise ValueError(f"a CIFAR ResNeXt has 9n+2 layers (3 stages × n bottlenecks × 3 layers + the stem + the "
                             f"classifier; Xie et al. 2017 §5.3), so depth {depth} is impossible; try "
                             f"{max(11, depth - (depth - 2) % 9)} or {max(11, depth - (depth - 2) % 9 + 9)}")
        if cardinality < 1 or bottleneck_width < 1:
            raise ValueError(
                f"cardinality and bottleneck width must be positive, got {cardinality}, {bottleneck_width}")
        n = (depth - 2) // 9
        # Bottleneck's width rule is int(planes · base_width / 64) · groups (torchvision's); this
        # base_width makes it bottleneck_width · 2^stage for planes = base_planes · 2^stage.
        base_width = 64 * bottleneck_width // base_planes
        if base_width * base_planes != 64 * bottleneck_width:
            raise ValueError(
                f"bottleneck_width {bottleneck_width} · 64 must be a multiple of base_planes {base_planes}")
        self.depth, self.cardinality, self.bottleneck_width = depth, cardinality, bottleneck_width
        self.conv1 = nn.Conv2d(in_channels, base_planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(base_planes)
        self.relu = nn.ReLU(inplace=True)
        options = {"groups": cardinality, "base_width": base_width}
        planes = base_planes
        self.layer1, planes = make_layer(Bottleneck, planes, base_planes, n, 1, "B", **options)
        self.layer2, planes = make_layer(Bottleneck, planes, 2 * base_planes, n, 2, "B", **options)
        self.layer3, planes = make_layer(Bottleneck, planes, 4 * base_planes, n, 2, "B", **options)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes, num_classes)
        init_weights(self)
        calibrate_if_very_deep(self, (4, in_channels, 32, 32))  # finite in eval mode: see nn.init

    def features(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


def resnext_cifar(depth: int = 29, cardinality: int = 8, bottleneck_width: int = 64, num_classes: int = 10, *,
                  base_planes: int = 64) -> ResNeXtCifar:
    """ResNeXt-``depth`` (``cardinality`` × ``bottleneck_width``d): ``resnext_cifar(29, 8, 64)`` has 34.4M parameters.

    ``base_planes`` scales the whole network (the paper's 64; 16 gives a ResNet-20-sized one).
    """
    model = ResNeXtCifar(depth, cardinality, bottleneck_width, num_classes, base_planes=base_planes)
    suffix = "" if base_planes == 64 else f"_b{base_planes}"
    model.arch = f"resnext{depth}_{cardinality}x{bottleneck_width}d{suffix}"  # type: ignore[assignment]
    model.num_classes = num_classes  # type: ignore[assignment]
    return model


# --------------------------------------------------------------------------- DenseNet


class DenseLayer(nn.Module):
    """One DenseNet layer (Huang et al. 2017, §3): ``[x, H(x)]`` — the input with ``growth_rate`` new channels.

    ``H`` is BN → ReLU → conv 3×3 (``growth_rate`` filters); with ``bottleneck=True`` a
    BN → ReLU → conv 1×1 to ``4 · growth_rate`` channels comes first (DenseNet-B). Where a
    residual block *adds* its branch to its input (the width stays), a dense layer
    *concatenates* (the width grows).
    """

    def __init__(self, in_channels: int, growth_rate: int, *, bottleneck: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        if bottleneck:
            layers += [nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, 4 * growth_rate, 1, bias=False)]
            channels = 4 * growth_rate
        layers += [nn.BatchNorm2d(channels), nn.ReLU(), conv3x3(channels, growth_rate)]
        self.h = nn.Sequential(*layers)
        self.in_channels, self.growth_rate = in_channels, growth_rate
        self.out_channels = in_channels + growth_rate

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, self.h(x)], dim=1)


class DenseBlock(nn.Sequential):
    """``num_layers`` dense layers: layer ``i`` sees ``in_channels + i · growth_rate`` channels (Eq. 2).

    The block's output has ``in_channels + num_layers · growth_rate`` channels: every layer's
    features reach every later layer, and the classifier, unchanged.
    """

    def __init__(self, num_layers: int, in_channels: int, growth_rate: int, *, bottleneck: bool = False) -> None:
        layers = [DenseLayer(in_channels + i * growth_rate, growth_rate, bottleneck=bottleneck)
                  for i in range(num_layers)]
        super().__init__(*layers)
        self.in_channels = in_channels
        self.out_channels = in_channels + num_layers * growth_rate
