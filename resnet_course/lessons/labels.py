"""How the book names a network: ``resnet56`` is "ResNet-56", ``plain20`` is "plain-20".

One function for the figures' legends (:mod:`~resnet_course.lessons.plots.understanding`), the
diagram's title (:mod:`~resnet_course.lessons.diagram`) and the chapters' verdict sentences
(:mod:`~resnet_course.lessons.verdicts`), so that all three spell a network the same way, as
He et al. 2015 do (ResNet-20 … ResNet-110, "plain-20" … "plain-56").
"""

from __future__ import annotations

import re

__all__ = ["network_label"]


_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"^resnet(\d+)$", "ResNet-{}"),
    (r"^resnet(\d+)_cifar$", "ResNet-{} (CIFAR stem)"),
    (r"^plain(\d+)$", "plain-{}"),
    (r"^preact_resnet(\d+)$", "pre-activation ResNet-{}"),
)


def network_label(arch: str) -> str:
    """The book's name for a registry name: ``network_label("resnet110") == "ResNet-110"``; others unchanged."""
    for pattern, template in _PATTERNS:
        match = re.match(pattern, arch)
        if match:
            return template.format(match.group(1))
    return arch
