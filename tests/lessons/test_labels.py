"""How the book names networks (resnet_course.lessons.labels)."""

from __future__ import annotations

import pytest

from resnet_course.lessons.labels import network_label


@pytest.mark.parametrize("arch, label", [
    ("resnet20", "ResNet-20"), ("resnet110", "ResNet-110"), ("plain56", "plain-56"),
    ("resnet18_cifar", "ResNet-18 (CIFAR stem)"), ("preact_resnet164", "pre-activation ResNet-164"),
    ("wide_resnet", "wide_resnet"), ("", ""), ("resnet", "resnet"),
])
def test_network_label(arch: str, label: str) -> None:
    assert network_label(arch) == label
