"""Self-checks for the book's exercises: students call them on their own solutions.

Every check builds what the student wrote, runs it on small inputs and compares it with
the package's reference implementation (:mod:`resnet_course.nn.blocks`,
:mod:`resnet_course.nn.models`, …). When something is wrong it raises :class:`ExerciseError`
(an ``AssertionError``) whose message says *what* is wrong — the output shape, the
parameter count, the behaviour with a zero residual branch, an in-place addition … —
and how to fix it. When everything is right it prints one line starting with ``✓`` and
returns ``None`` (so that a notebook cell shows just that line).

One module per chapter, each naming the exercises it grades; the machinery they share
(running the student's code, reporting, comparing networks) is in
:mod:`~resnet_course.exercises.checking`.

- :mod:`~resnet_course.exercises.ch01`, *The degradation problem*: :func:`check_identity_layer`
- :mod:`~resnet_course.exercises.ch02`, *Residual learning*: :func:`check_residual`,
  :func:`check_neighbour_correlation`
- :mod:`~resnet_course.exercises.ch03`, *Building blocks*: :func:`check_basic_block`,
  :func:`check_bottleneck`, :func:`check_preact_block`, :func:`check_zero_init`
- :mod:`~resnet_course.exercises.ch04`, *The ResNet family*: :func:`check_cifar_param_formula`,
  :func:`check_cifar_resnet`
- :mod:`~resnet_course.exercises.ch05`, *Training ResNets on CIFAR-10*: :func:`check_lr_schedule`,
  :func:`check_smoothed_targets`, :func:`check_confusion_summary`, :func:`check_param_groups`
- :mod:`~resnet_course.exercises.ch05b`, *Training fast*: :func:`check_crop_flip`, :func:`check_trick_gains`,
  :func:`check_minutes_to_accuracy`
- :mod:`~resnet_course.exercises.ch06`, *Transfer learning on hand gestures*: :func:`check_new_head`,
  :func:`check_frozen_body`, :func:`check_finetune_param_groups`
- :mod:`~resnet_course.exercises.ch07`, *Why ResNets work*: :func:`check_filter_normalisation`,
  :func:`check_block_deleter`, :func:`check_path_count`
- :mod:`~resnet_course.exercises.ch08`, *Beyond ResNet*: :func:`check_wrn_param_formula`,
  :func:`check_resnext_block`, :func:`check_dense_layer`, :func:`check_ddp_settings`

All checks are deterministic (they seed their own random numbers without disturbing the
caller's) and run in well under a second on a laptop CPU.
"""

from resnet_course.exercises.ch01 import check_identity_layer, reference_make_identity
from resnet_course.exercises.ch02 import (
    ReferenceResidual,
    check_neighbour_correlation,
    check_residual,
    reference_neighbour_correlation,
)
from resnet_course.exercises.ch03 import (
    check_basic_block,
    check_bottleneck,
    check_preact_block,
    check_zero_init,
)
from resnet_course.exercises.ch04 import check_cifar_param_formula, check_cifar_resnet
from resnet_course.exercises.ch05 import (
    PAPER_ITERATIONS,
    check_confusion_summary,
    check_lr_schedule,
    check_param_groups,
    check_smoothed_targets,
    reference_confusion_summary,
    reference_lr_at,
    reference_param_groups,
    reference_smoothed_targets,
)
from resnet_course.exercises.ch05b import (
    check_crop_flip,
    check_minutes_to_accuracy,
    check_trick_gains,
    reference_crop_flip,
    reference_minutes_to_accuracy,
    reference_trick_gains,
)
from resnet_course.exercises.ch06 import (
    check_finetune_param_groups,
    check_frozen_body,
    check_new_head,
    reference_finetune_param_groups,
)
from resnet_course.exercises.ch07 import (
    check_block_deleter,
    check_filter_normalisation,
    check_path_count,
    reference_count_paths,
    reference_delete_block,
    reference_filter_normalise,
)
from resnet_course.exercises.ch08 import (
    ReferenceResNeXtBlock,
    check_ddp_settings,
    check_dense_layer,
    check_resnext_block,
    check_wrn_param_formula,
    reference_ddp_settings,
    reference_wrn_params,
)
from resnet_course.exercises.checking import ExerciseError

__all__ = [
    "PAPER_ITERATIONS",
    "ExerciseError",
    "ReferenceResNeXtBlock",
    "ReferenceResidual",
    "check_basic_block",
    "check_block_deleter",
    "check_bottleneck",
    "check_cifar_param_formula",
    "check_cifar_resnet",
    "check_confusion_summary",
    "check_crop_flip",
    "check_ddp_settings",
    "check_dense_layer",
    "check_filter_normalisation",
    "check_finetune_param_groups",
    "check_frozen_body",
    "check_identity_layer",
    "check_lr_schedule",
    "check_minutes_to_accuracy",
    "check_neighbour_correlation",
    "check_new_head",
    "check_param_groups",
    "check_path_count",
    "check_preact_block",
    "check_residual",
    "check_resnext_block",
    "check_smoothed_targets",
    "check_trick_gains",
    "check_wrn_param_formula",
    "check_zero_init",
    "reference_confusion_summary",
    "reference_count_paths",
    "reference_crop_flip",
    "reference_ddp_settings",
    "reference_delete_block",
    "reference_filter_normalise",
    "reference_finetune_param_groups",
    "reference_lr_at",
    "reference_make_identity",
    "reference_minutes_to_accuracy",
    "reference_neighbour_correlation",
    "reference_param_groups",
    "reference_smoothed_targets",
    "reference_trick_gains",
    "reference_wrn_params",
]
