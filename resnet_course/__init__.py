"""ResNet Course: residual networks built, trained and dissected.

The package behind the book, one folder per concept (see ``DESIGN.md``):

- :mod:`resnet_course.nn` -- the networks: blocks, the ImageNet and CIFAR ResNets and their
  registry (:func:`create_model`), variants, :func:`summary`
- :mod:`resnet_course.data` -- CIFAR-10 and the hand gestures, the cache, the tensor-resident loader
- :mod:`resnet_course.training` -- :func:`fit` / :func:`evaluate`, :class:`TrainConfig` and the
  recipes (He et al. 2015 §3.4/§4.2), checkpoints and exact resume, devices and precision
- :mod:`resnet_course.experiments` -- the reference runs behind the book and their result files
- :mod:`resnet_course.lessons` and :mod:`resnet_course.exercises` -- what only the chapters use
- :mod:`resnet_course.budget` -- quick vs full mode; :mod:`resnet_course.cli` -- the ``resnet-course`` command

The public face::

    from resnet_course import create_model, list_models, summary, fit, evaluate, TrainConfig, get_recipe
"""

from resnet_course.nn.registry import create_model, list_models
from resnet_course.nn.summary import summary
from resnet_course.training.config import TrainConfig
from resnet_course.training.evaluation import evaluate
from resnet_course.training.loop import fit
from resnet_course.training.recipes import get_recipe

__all__ = ["TrainConfig", "create_model", "evaluate", "fit", "get_recipe", "list_models", "summary"]
__version__ = "0.1.0"
