"""Looking inside networks: gradients at initialisation, gradient shattering, the identity task.

References
----------
- He, Zhang, Ren, Sun (2015), *Deep Residual Learning for Image Recognition*: §3.1, the
  residual-learning hypothesis ("if identity mappings are optimal, it is easier to push the
  residual to zero than to fit an identity mapping by a stack of nonlinear layers").
- He, Zhang, Ren, Sun (2016), *Identity Mappings in Deep Residual Networks*: Eq. (4)
  ``x_L = x_l + Σ_{i=l}^{L-1} F(x_i)`` and Eq. (5)
  ``∂L/∂x_l = ∂L/∂x_L · (1 + ∂/∂x_l Σ_{i=l}^{L-1} F(x_i))`` for identity shortcuts.
- Balduzzi, Frean, Leary, Lewis, Ma, McWilliams (2017), *The Shattered Gradients Problem:
  If resnets are the answer, then what is the question?*: gradients of deep plain networks
  with respect to their input look like white noise (neighbouring inputs get uncorrelated
  gradients), those of residual networks like brown noise (§2, Fig. 1 and 2).

Modules: :mod:`~resnet_course.lessons.analysis.gradients` (gradient norms, the gradient
identity, shared helpers), :mod:`~resnet_course.lessons.analysis.shattering`,
:mod:`~resnet_course.lessons.analysis.identity` (learning the identity, chapter 1) and
:mod:`~resnet_course.lessons.analysis.tables` (the text tables the chapters print). Chapters 1
and 2 use them; chapter 7's studies are :mod:`resnet_course.lessons.lesion` and
:mod:`resnet_course.lessons.landscape`.
"""

from resnet_course.lessons.analysis.gradients import (
    BLOCK_CLASSES,
    NETWORK_KINDS,
    GradientIdentityCheck,
    LossFn,
    block_output_gradient_norms,
    check_gradient_identity,
    cifar_batch,
    gradient_norms,
    gradient_profiles,
    model_name,
    preserved_state,
    residual_blocks,
    residual_chain,
    run_chain,
    seeded_model,
    single_thread,
)
from resnet_course.lessons.analysis.identity import (
    identity_learning_curves,
    identity_stack,
)
from resnet_course.lessons.analysis.shattering import (
    Shattering,
    autocorrelation,
    calibrate_batchnorm,
    gradient_shattering,
    neighbour_correlation,
    resize_images,
    shattering_sweep,
)
from resnet_course.lessons.analysis.tables import (
    block_gradient_table,
    gradient_norm_table,
    shattering_table,
)

__all__ = [
    "BLOCK_CLASSES", "NETWORK_KINDS", "GradientIdentityCheck", "LossFn", "Shattering", "autocorrelation",
    "block_gradient_table", "block_output_gradient_norms", "calibrate_batchnorm", "check_gradient_identity",
    "cifar_batch", "gradient_norm_table", "gradient_norms", "gradient_profiles", "gradient_shattering",
    "identity_learning_curves", "identity_stack", "model_name", "neighbour_correlation", "preserved_state",
    "residual_blocks", "residual_chain", "resize_images", "run_chain", "seeded_model", "shattering_sweep",
    "shattering_table", "single_thread"
]
