"""The networks: blocks, the ImageNet and CIFAR ResNets by name, variants, and their summary.

One module each: :mod:`~resnet_course.nn.blocks` (basic, bottleneck, pre-activation and plain
twins, shortcuts A/B/C), :mod:`~resnet_course.nn.models` (the layouts of He et al. 2015),
:mod:`~resnet_course.nn.registry` (:func:`create_model`, :func:`list_models`),
:mod:`~resnet_course.nn.variants` (WRN, ResNeXt, dense blocks) and :mod:`~resnet_course.nn.summary`.
"""

from resnet_course.nn.blocks import (  # noqa: F401
    BasicBlock,
    BLOCK_TYPES,
    Bottleneck,
    conv1x1,
    conv3x3,
    make_shortcut,
    PlainBasicBlock,
    PlainBottleneck,
    PlainPreActBasicBlock,
    PreActBasicBlock,
    PreActBottleneck,
    projection_shortcut,
    SHORTCUT_OPTIONS,
    ShortcutOption,
    zero_init_last_bn,
    ZeroPadShortcut,
)
from resnet_course.nn.models import (  # noqa: F401
    BlockType,
    cifar_blocks_per_stage,
    CIFAR_PLAIN_DEPTHS,
    CIFAR_PREACT_DEPTHS,
    cifar_resnet,
    CIFAR_RESNET_DEPTHS,
    CifarResNet,
    IMAGENET_CONFIGS,
    imagenet_resnet,
    PREACT_BOTTLENECK_FROM_DEPTH,
    ResNet,
)
from resnet_course.nn.registry import (  # noqa: F401
    create_model,
    list_models,
    ModelBuilder,
    plain110,
    plain18,
    plain20,
    plain32,
    plain34,
    plain44,
    plain56,
    preact_resnet1001,
    preact_resnet110,
    preact_resnet164,
    preact_resnet20,
    preact_resnet56,
    resnet101,
    resnet110,
    resnet1202,
    resnet152,
    resnet18,
    resnet18_cifar,
    resnet20,
    resnet32,
    resnet34,
    resnet44,
    resnet50,
    resnet56,
)
from resnet_course.nn.variants import (  # noqa: F401
    DenseBlock,
    DenseLayer,
    PAPER_COUNTS,
    resnext_cifar,
    ResNeXtCifar,
    wide_resnet,
    WideBasicBlock,
    WideResNet,
)
from resnet_course.nn.summary import (  # noqa: F401
    count_macs,
    count_parameters,
    ModelSummary,
    summary,
    SummaryRow,
    swap_bottleneck_stride,
)

__all__ = ["BasicBlock", "BLOCK_TYPES", "BlockType", "Bottleneck", "cifar_blocks_per_stage", "CIFAR_PLAIN_DEPTHS", "CIFAR_PREACT_DEPTHS", "cifar_resnet", "CIFAR_RESNET_DEPTHS", "CifarResNet", "conv1x1", "conv3x3", "count_macs", "count_parameters", "create_model", "DenseBlock", "DenseLayer", "IMAGENET_CONFIGS", "imagenet_resnet", "list_models", "make_shortcut", "ModelBuilder", "ModelSummary", "PAPER_COUNTS", "plain110", "plain18", "plain20", "plain32", "plain34", "plain44", "plain56", "PlainBasicBlock", "PlainBottleneck", "PlainPreActBasicBlock", "PREACT_BOTTLENECK_FROM_DEPTH", "preact_resnet1001", "preact_resnet110", "preact_resnet164", "preact_resnet20", "preact_resnet56", "PreActBasicBlock", "PreActBottleneck", "projection_shortcut", "ResNet", "resnet101", "resnet110", "resnet1202", "resnet152", "resnet18", "resnet18_cifar", "resnet20", "resnet32", "resnet34", "resnet44", "resnet50", "resnet56", "resnext_cifar", "ResNeXtCifar", "SHORTCUT_OPTIONS", "ShortcutOption", "summary", "SummaryRow", "swap_bottleneck_stride", "wide_resnet", "WideBasicBlock", "WideResNet", "zero_init_last_bn", "ZeroPadShortcut"]
