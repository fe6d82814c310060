"""Matplotlib figures of the book. Every function draws one figure and returns it.

The notebooks call ``plt.show()`` after each; the widgets render the same figures to PNG.
Chapter 2 (residual learning) uses all of those below; data come from
:mod:`resnet_course.analysis`.
"""

from resnet_course.lessons.plots.foundations import (
    IDENTITY_LABELS,
    KIND_COLORS,
    KIND_LABELS,
    error_curves,
    plot_error_curves,
    plot_gradient_norms,
    plot_gradient_profile,
    plot_identity_curves,
    plot_nested_function_classes,
    plot_shattering,
    plot_zoo_degradation,
    plot_zoo_shortcuts,
    show_samples,
)
from resnet_course.lessons.plots.training import (
    STRATEGY_COLORS,
    STRATEGY_LABELS,
    confident_mistakes,
    plot_augmentation,
    plot_confident_mistakes,
    plot_confusion_matrix,
    plot_hand_crops,
    plot_lr_schedules,
    plot_per_class_accuracy,
    plot_time_to_accuracy,
    plot_transfer_curves,
)
from resnet_course.lessons.plots.understanding import (
    NETWORK_COLORS,
    lesion_curve,
    plot_landscape_1d,
    plot_landscape_2d,
    plot_lesion,
    plot_lesion_multiple,
    plot_path_lengths,
)

__all__ = [
    "IDENTITY_LABELS", "KIND_COLORS", "KIND_LABELS", "NETWORK_COLORS", "STRATEGY_COLORS", "STRATEGY_LABELS",
    "confident_mistakes", "error_curves", "lesion_curve", "plot_augmentation", "plot_confident_mistakes",
    "plot_confusion_matrix", "plot_error_curves", "plot_gradient_norms", "plot_gradient_profile", "plot_hand_crops",
    "plot_identity_curves", "plot_landscape_1d", "plot_landscape_2d", "plot_lesion", "plot_lesion_multiple",
    "plot_lr_schedules", "plot_nested_function_classes", "plot_path_lengths", "plot_per_class_accuracy",
    "plot_shattering", "plot_zoo_degradation", "plot_zoo_shortcuts", "plot_time_to_accuracy",
    "plot_transfer_curves", "show_samples"
]
