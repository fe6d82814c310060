"""Training: :func:`fit` and :func:`evaluate`, checkpoints, learning-rate schedules.

The recipe is the paper's (He, Zhang, Ren & Sun 2015, *Deep Residual Learning for Image
Recognition*):

* §4.2, CIFAR-10: SGD with momentum 0.9 and weight decay 1e-4, mini-batch 128 (split over
  two GPUs), no dropout; learning rate 0.1, divided by 10 at 32k and again at 48k
  iterations, training stops at 64k iterations (about 164 epochs of 50k images). For
  ResNet-110 the rate starts at 0.01 until the training error falls below 80% (about 400
  iterations) -- a warm-up. ``schedule="paper"`` puts the two divisions at 50% and 75% of
  however many steps you train, which is exactly 32k/64k and 48k/64k.
* §3.4, ImageNet: the same optimiser with mini-batch 256 and lr 0.1, divided by 10 when
  the error plateaus, for up to 60e4 iterations.

Everything else here is engineering around that recipe: mixed precision, channels-last
memory, checkpoints that survive Ctrl-C and resume bit for bit, NaN detection, progress
bars, and DistributedDataParallel when launched with ``torchrun``.

Read top to bottom: errors, :class:`History`, schedules, optimisers, devices and
distributed helpers, random-number state, checkpoints, :func:`fit`, then
:func:`evaluate`, :func:`predict` and :func:`confusion_matrix`.
"""

from resnet_course.training.history import (  # noqa: F401
    History,
    PathLike,
)
from resnet_course.training.optim import (  # noqa: F401
    check_choice,
    make_optimizer,
    make_schedule,
    OPTIMIZERS,
    schedule_multiplier,
    SCHEDULES,
)
from resnet_course.training.runtime import (  # noqa: F401
    autocast,
    barrier,
    COMPILE_MODES,
    distributed_info,
    init_distributed,
    is_channels_last,
    model_device,
    precision_name,
    read_stats,
    resolve_amp,
    resolve_compile,
    resolve_device,
    resolve_fused,
    synchronize,
    to_device,
    training_device,
    unwrap,
)
from resnet_course.training.checkpoint import (  # noqa: F401
    atomic_copy,
    check_compatible,
    CheckpointError,
    CheckpointMismatchError,
    FORMAT_VERSION,
    get_rng_state,
    latest_checkpoint,
    load_checkpoint,
    rng_for_saving,
    save_checkpoint,
    set_rng_state,
)
from resnet_course.training.callbacks import (  # noqa: F401
    StopOnCtrlC,
)
from resnet_course.training.loop import (  # noqa: F401
    fit,
    LOG_EVERY,
    TrainingDiverged,
)
from resnet_course.training.evaluation import (  # noqa: F401
    confusion_matrix,
    evaluate,
    evaluate_model,
    predict,
)
from resnet_course.training.recipes import (  # noqa: F401
    get_recipe,
    list_recipes,
    Recipe,
    RECIPES,
)

__all__ = ["atomic_copy", "autocast", "barrier", "check_choice", "check_compatible", "CheckpointError", "CheckpointMismatchError", "COMPILE_MODES", "confusion_matrix", "distributed_info", "evaluate", "evaluate_model", "fit", "FORMAT_VERSION", "get_recipe", "get_rng_state", "History", "init_distributed", "is_channels_last", "latest_checkpoint", "list_recipes", "load_checkpoint", "LOG_EVERY", "make_optimizer", "make_schedule", "model_device", "OPTIMIZERS", "PathLike", "precision_name", "predict", "read_stats", "Recipe", "RECIPES", "resolve_amp", "resolve_compile", "resolve_device", "resolve_fused", "rng_for_saving", "save_checkpoint", "schedule_multiplier", "SCHEDULES", "set_rng_state", "StopOnCtrlC", "synchronize", "to_device", "training_device", "TrainingDiverged", "unwrap"]
