"""ResNet Course: residual networks built, trained and dissected.

The package behind the book. Each module holds one concept (see ``DESIGN.md``):

- :mod:`resnet_course.blocks` -- basic/bottleneck blocks, pre-activation and plain twins, shortcuts A/B/C
- :mod:`resnet_course.models` -- the ImageNet and CIFAR ResNets, one registry :func:`create_model`
- :mod:`resnet_course.summary` -- per-stage shapes, parameters and multiply-adds
- :mod:`resnet_course.data` -- CIFAR-10 and the hand-gesture set, the tensor-resident loader
- :mod:`resnet_course.train` -- ``fit`` / ``evaluate``, checkpoints, schedules
- :mod:`resnet_course.budget` -- quick vs full mode
"""

from resnet_course.nn.registry import create_model, list_models
from resnet_course.nn.summary import summary

__all__ = ["create_model", "list_models", "summary"]
__version__ = "0.1.0"
