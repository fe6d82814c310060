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

Chapter 2 of the book uses everything here; chapter 7 (lesion study, loss landscape) adds
to this module.
"""

from resnet_course.lessons.analysis.gradients import (  # noqa: F401
    BLOCK_CLASSES,
    block_output_gradient_norms,
    check_gradient_identity,
    cifar_batch,
    gradient_norms,
    gradient_profiles,
    GradientIdentityCheck,
    LossFn,
    model_name,
    NETWORK_KINDS,
    preserved_state,
    residual_blocks,
    residual_chain,
    run_chain,
    seeded_model,
    single_thread,
)
from resnet_course.lessons.analysis.shattering import (  # noqa: F401
    autocorrelation,
    calibrate_batchnorm,
    gradient_shattering,
    neighbour_correlation,
    resize_images,
    Shattering,
    shattering_sweep,
)
from resnet_course.lessons.analysis.identity import (  # noqa: F401
    identity_learning_curves,
    identity_stack,
)
from resnet_course.lessons.analysis.tables import (  # noqa: F401
    block_gradient_table,
    gradient_norm_table,
    shattering_table,
)

__all__ = ["autocorrelation", "BLOCK_CLASSES", "block_gradient_table", "block_output_gradient_norms", "calibrate_batchnorm", "check_gradient_identity", "cifar_batch", "gradient_norm_table", "gradient_norms", "gradient_profiles", "gradient_shattering", "GradientIdentityCheck", "identity_learning_curves", "identity_stack", "LossFn", "model_name", "neighbour_correlation", "NETWORK_KINDS", "preserved_state", "residual_blocks", "residual_chain", "resize_images", "run_chain", "seeded_model", "Shattering", "shattering_sweep", "shattering_table", "single_thread"]
