"""The ResNets of He et al. 2015: the ImageNet layout (Table 1) and the CIFAR-10 layout (§4.2).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from resnet_course.nn.blocks import (
    BasicBlock,
    Bottleneck,
    PlainBasicBlock,
    PlainBottleneck,
    PreActBasicBlock,
    PreActBottleneck,
    ShortcutOption,
    zero_init_last_bn,
)
from resnet_course.nn.init import calibrate_if_very_deep, init_weights

__all__ = [
    "CIFAR_PLAIN_DEPTHS",
    "CIFAR_PREACT_DEPTHS",
    "CIFAR_RESNET_DEPTHS",
    "IMAGENET_CONFIGS",
    "PREACT_BOTTLENECK_FROM_DEPTH",
    "BlockType",
    "CifarResNet",
    "ResNet",
    "cifar_blocks_per_stage",
    "cifar_resnet",
    "imagenet_resnet",
    "make_layer",
]


BlockType = type[nn.Module]

# Table 1 of He et al. 2015: block type and blocks per stage (conv2_x … conv5_x).
IMAGENET_CONFIGS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}

# The depths the book names (He et al. 2015 Table 6; He et al. 2016 Table 3).
CIFAR_RESNET_DEPTHS = (20, 32, 44, 56, 110, 1202)
CIFAR_PLAIN_DEPTHS = (20, 32, 44, 56, 110)
CIFAR_PREACT_DEPTHS = (20, 32, 44, 56, 110, 164, 1001)
# He et al. 2016 use basic blocks up to 110 layers and bottlenecks from 164 on.
PREACT_BOTTLENECK_FROM_DEPTH = 164


def make_layer(
    block: BlockType,
    in_planes: int,
    planes: int,
    blocks: int,
    stride: int,
    shortcut: ShortcutOption,
    **block_options: object,
) -> tuple[nn.Sequential, int]:
    """One stage: ``blocks`` blocks, the first of which may downsample (stride 2); returns it and its output width.

    torchvision's ``_make_layer``: the first block takes ``in_planes`` channels and the
    stage's stride, the others ``planes · expansion`` channels and stride 1.
    """
    layers = [block(in_planes, planes, stride, shortcut, **block_options)]
    out_planes = planes * block.expansion  # type: ignore[attr-defined]
    layers += [block(out_planes, planes, 1, shortcut, **block_options) for _ in range(1, blocks)]
    return nn.Sequential(*layers), out_planes


class ResNet(nn.Module):
    """The ImageNet ResNet of He et al. 2015, Table 1 (torchvision's layout and names).

    Stem: 7×7/2 convolution, BN, ReLU, 3×3/2 max-pool; four stages (``layer1`` … ``layer4``,
    the paper's conv2_x … conv5_x) of 64, 128, 256, 512 planes; global average pooling; ``fc``.

    ``stem="cifar"`` swaps the stem for a 3×3/1 convolution and drops the max-pool: the
    "ResNet-18 for CIFAR" used by most fast CIFAR-10 training scripts (the 32×32 input
    then reaches ``layer4`` at 4×4 instead of 1×1).
    """

    def __init__(
        self,
        block: BlockType,
        layers: Sequence[int],
        num_classes: int = 1000,
        *,
        shortcut: ShortcutOption = "B",
        zero_init_residual: bool = False,
        stride_in_1x1: bool = False,
        stem: str = "imagenet",
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"an ImageNet-layout ResNet has 4 stages, got {len(layers)}")
        block_options = {"stride_in_1x1": stride_in_1x1} if issubclass(block, Bottleneck) else {}
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"unknown stem {stem!r}: choose 'imagenet' (7×7/2 + max-pool) or 'cifar' (3×3/1)")
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool: nn.Module = nn.MaxPool2d(3, stride=2, padding=1) if stem == "imagenet" else nn.Identity()
        planes = 64
        self.layer1, planes = make_layer(block, planes, 64, layers[0], 1, shortcut, **block_options)
        self.layer2, planes = make_layer(block, planes, 128, layers[1], 2, shortcut, **block_options)
        self.layer3, planes = make_layer(block, planes, 256, layers[2], 2, shortcut, **block_options)
        self.layer4, planes = make_layer(block, planes, 512, layers[3], 2, shortcut, **block_options)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes, num_classes)
        init_weights(self)
        if zero_init_residual:
            zero_init_last_bn(self)
        size = 64 if stem == "imagenet" else 32  # 64×64 keeps layer4 at 2×2 and the pass cheap
        calibrate_if_very_deep(self, (8, in_channels, size, size))  # finite in eval mode: see nn.init

    def features(self, x: Tensor) -> Tensor:
        """Everything up to (and including) global average pooling, flattened."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


class CifarResNet(nn.Module):
    """The CIFAR-10 network of He et al. 2015, §4.2 (and its plain and pre-activation twins).

    A 3×3 convolution with 16 filters, three stages (``layer1`` … ``layer3``) of ``n``
    blocks on 32×32, 16×16 and 8×8 maps with 16, 32 and 64 planes, global average
    pooling and a fully connected layer: 6n+2 weighted layers with basic blocks (9n+2
    with bottlenecks). The paper uses shortcut option A here, so ResNet-20 has
    exactly as many parameters as plain-20 (Table 6: 0.27M).

    Pre-activation blocks need a final BN and ReLU before pooling (He et al. 2016, Fig. 4(e)
    applied to the whole network); the stem then has no BN/ReLU of its own because the
    first block begins with them.
    """

    def __init__(
        self,
        block: BlockType,
        blocks_per_stage: int,
        num_classes: int = 10,
        *,
        shortcut: ShortcutOption = "A",
        zero_init_residual: bool = False,
        widths: Sequence[int] = (16, 32, 64),
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.preact = issubclass(block, (PreActBasicBlock, PreActBottleneck))
        self.conv1 = nn.Conv2d(in_channels, widths[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1: nn.Module = nn.Identity() if self.preact else nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        planes = widths[0]
        self.layer1, planes = make_layer(block, planes, widths[0], blocks_per_stage, 1, shortcut)
        self.layer2, planes = make_layer(block, planes, widths[1], blocks_per_stage, 2, shortcut)
        self.layer3, planes = make_layer(block, planes, widths[2], blocks_per_stage, 2, shortcut)
        self.final_bn: nn.Module = nn.BatchNorm2d(planes) if self.preact else nn.Identity()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes, num_classes)
        init_weights(self)
        if zero_init_residual:
            zero_init_last_bn(self)
        calibrate_if_very_deep(self, (4, in_channels, 32, 32))  # finite in eval mode: see nn.init

    def features(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        if not self.preact:
            x = self.relu(self.bn1(x))
        x = self.layer3(self.layer2(self.layer1(x)))
        if self.preact:
            x = self.relu(self.final_bn(x))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


# --------------------------------------------------------------------------- builders


def _imagenet_block(depth: int, plain: bool) -> tuple[BlockType, tuple[int, int, int, int]]:
    kind, layers = IMAGENET_CONFIGS[depth]
    if kind == "basic":
        return (PlainBasicBlock if plain else BasicBlock), layers
    return (PlainBottleneck if plain else Bottleneck), layers


def imagenet_resnet(
    depth: int,
    num_classes: int = 1000,
    *,
    plain: bool = False,
    shortcut: ShortcutOption = "B",
    zero_init_residual: bool = False,
    stride_in_1x1: bool = False,
    stem: str = "imagenet",
) -> ResNet:
    """ResNet-``depth`` of Table 1 (18, 34, 50, 101 or 152 layers); ``plain=True`` removes the shortcuts."""
    if depth not in IMAGENET_CONFIGS:
        raise ValueError(
            f"ImageNet ResNets have depth {', '.join(map(str, IMAGENET_CONFIGS))} (He et al. 2015, Table 1), "
            f"not {depth}"
        )
    block, layers = _imagenet_block(depth, plain)
    return ResNet(block, layers, num_classes, shortcut=_shortcut(shortcut), zero_init_residual=zero_init_residual,
                  stride_in_1x1=stride_in_1x1, stem=stem)


def cifar_blocks_per_stage(depth: int, layers_per_block: int) -> int:
    """``n`` for a CIFAR network of ``depth`` = 3·layers_per_block·n + 2 layers, or a ValueError saying why not."""
    step = 3 * layers_per_block
    if depth < step + 2 or (depth - 2) % step:
        lower = max(step + 2, depth - (depth - 2) % step)
        upper = lower + step if lower < depth else lower
        rule = f"{step}n+2"
        raise ValueError(
            f"a CIFAR ResNet with {'basic' if layers_per_block == 2 else 'bottleneck'} blocks has {rule} layers "
            f"(3 stages × n blocks × {layers_per_block} layers + the first convolution + the classifier; "
            f"He et al. 2015 §4.2), so depth {depth} is impossible; nearest valid depths: "
            f"{', '.join(str(d) for d in sorted({lower, upper}))}"
        )
    return (depth - 2) // step


def cifar_resnet(
    depth: int,
    num_classes: int = 10,
    *,
    plain: bool = False,
    preact: bool = False,
    block: str | None = None,
    shortcut: ShortcutOption | None = None,
    zero_init_residual: bool = False,
) -> CifarResNet:
    """The CIFAR ResNet of §4.2 with ``depth`` layers (6n+2 basic, 9n+2 bottleneck).

    ``block`` is ``"basic"`` or ``"bottleneck"``; by default basic, except for
    pre-activation networks of 164 layers or more, which use bottlenecks as in He et al. 2016.
    The shortcut defaults to option A (the paper's CIFAR choice) for basic blocks and to
    option B for bottlenecks, whose first block must widen 16 → 64 channels.
    """
    if block is None:
        block = "bottleneck" if preact and depth >= PREACT_BOTTLENECK_FROM_DEPTH else "basic"
    if block not in ("basic", "bottleneck"):
        raise ValueError(f"unknown block {block!r}: choose 'basic' or 'bottleneck'")
    if plain and preact:
        raise ValueError("a plain network has no shortcuts, so it has no pre-activation variant in this course")
    n = cifar_blocks_per_stage(depth, 2 if block == "basic" else 3)
    if block == "basic":
        block_type: BlockType = PreActBasicBlock if preact else (PlainBasicBlock if plain else BasicBlock)
    else:
        block_type = PreActBottleneck if preact else (PlainBottleneck if plain else Bottleneck)
    default_shortcut = "A" if block == "basic" else "B"
    return CifarResNet(block_type, n, num_classes, shortcut=_shortcut(shortcut or default_shortcut),
                       zero_init_residual=zero_init_residual)


def _shortcut(option: str) -> ShortcutOption:
    upper = str(option).upper()
    if upper not in ("A", "B", "C"):
        raise ValueError(f"unknown shortcut option {option!r}: choose 'A' (zero-pad identity), "
                         "'B' (projection where the shape changes) or 'C' (projection everywhere)")
    return upper  # type: ignore[return-value]
