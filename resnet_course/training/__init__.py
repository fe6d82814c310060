"""Training: :func:`fit` and :func:`evaluate`, the settings, checkpoints, learning-rate schedules.

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

The modules, one concern each: :mod:`~.config` (:class:`TrainConfig`, every setting of a
run) and :mod:`~.recipes` (named configs), :mod:`~.loop` (:func:`fit`), :mod:`~.callbacks`
(Ctrl-C, NaN guard, progress bar, epoch log), :mod:`~.checkpoint` (atomic files, exact
resume), :mod:`~.optim` (optimisers and schedules), :mod:`~.runtime` (device, precision,
compile, DDP), :mod:`~.history` and :mod:`~.evaluation` (:func:`evaluate`, :func:`predict`,
:func:`confusion_matrix`).
"""

from resnet_course.training.callbacks import (
    EpochLog,
    NaNGuard,
    ProgressBar,
    StopOnCtrlC,
    TrainingDiverged,
    TrainingInterrupted,
)
from resnet_course.training.checkpoint import (
    FORMAT_VERSION,
    Checkpointer,
    CheckpointError,
    CheckpointMismatchError,
    Position,
    ResumeMismatchError,
    atomic_copy,
    atomic_write,
    check_compatible,
    get_rng_state,
    latest_checkpoint,
    load_checkpoint,
    remove_leftovers,
    rng_for_saving,
    save_checkpoint,
    set_rng_state,
)
from resnet_course.training.config import (
    TrainConfig,
    training_config,
)
from resnet_course.training.evaluation import (
    confusion_matrix,
    evaluate,
    evaluate_model,
    predict,
)
from resnet_course.training.history import (
    History,
    PathLike,
)
from resnet_course.training.loop import (
    LOG_EVERY,
    fit,
)
from resnet_course.training.optim import (
    OPTIMIZERS,
    SCHEDULES,
    check_choice,
    make_optimizer,
    make_schedule,
    schedule_multiplier,
)
from resnet_course.training.recipes import (
    RECIPE_DESCRIPTIONS,
    RECIPES,
    Recipe,
    get_recipe,
    list_recipes,
    recipe_name,
)
from resnet_course.training.runtime import (
    COMPILE_MODES,
    autocast,
    barrier,
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
    seed_everything,
    synchronize,
    to_device,
    unwrap,
)

__all__ = [
    "atomic_copy", "atomic_write", "autocast", "barrier", "check_choice", "check_compatible", "CheckpointError",
    "Checkpointer", "CheckpointMismatchError", "COMPILE_MODES", "confusion_matrix", "distributed_info", "EpochLog",
    "evaluate", "evaluate_model", "fit", "FORMAT_VERSION", "get_recipe", "get_rng_state", "History",
    "init_distributed", "is_channels_last", "latest_checkpoint", "list_recipes", "load_checkpoint", "LOG_EVERY",
    "make_optimizer", "make_schedule", "model_device", "NaNGuard", "OPTIMIZERS", "PathLike", "Position",
    "precision_name", "predict", "ProgressBar", "read_stats", "Recipe", "RECIPE_DESCRIPTIONS", "recipe_name",
    "RECIPES", "remove_leftovers", "resolve_amp", "resolve_compile", "resolve_device", "resolve_fused",
    "ResumeMismatchError", "rng_for_saving", "save_checkpoint", "schedule_multiplier", "SCHEDULES", "seed_everything",
    "set_rng_state", "StopOnCtrlC", "synchronize", "to_device", "TrainConfig", "training_config", "TrainingDiverged",
    "TrainingInterrupted", "unwrap",
]
