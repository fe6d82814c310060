"""Networks by name: :func:`create_model` and :func:`list_models`.
"""

from __future__ import annotations

import difflib
import inspect
import re
from typing import Callable

from torch import nn

from resnet_course.nn.models import (
    CIFAR_PLAIN_DEPTHS,
    CIFAR_PREACT_DEPTHS,
    CIFAR_RESNET_DEPTHS,
    IMAGENET_CONFIGS,
    cifar_blocks_per_stage,
    cifar_resnet,
    imagenet_resnet,
)

__all__ = [
    "create_model", "list_models", "ModelBuilder", "plain110", "plain18", "plain20", "plain32", "plain34",
    "plain44", "plain56", "preact_resnet1001", "preact_resnet110", "preact_resnet164", "preact_resnet20",
    "preact_resnet56", "resnet101", "resnet110", "resnet1202", "resnet152", "resnet18", "resnet18_cifar",
    "resnet20", "resnet32", "resnet34", "resnet44", "resnet50", "resnet56"
]


# --------------------------------------------------------------------------- the registry

ModelBuilder = Callable[..., nn.Module]


def _named_builders() -> dict[str, tuple[ModelBuilder, dict[str, object]]]:
    """Every name :func:`list_models` shows, with its builder and fixed arguments."""
    named: dict[str, tuple[ModelBuilder, dict[str, object]]] = {}
    for depth in IMAGENET_CONFIGS:
        named[f"resnet{depth}"] = (imagenet_resnet, {"depth": depth})
    for depth in (18, 34):
        named[f"plain{depth}"] = (imagenet_resnet, {"depth": depth, "plain": True})
    named["resnet18_cifar"] = (imagenet_resnet, {"depth": 18, "stem": "cifar", "num_classes": 10})
    for depth in CIFAR_RESNET_DEPTHS:
        named[f"resnet{depth}"] = (cifar_resnet, {"depth": depth})
    for depth in CIFAR_PLAIN_DEPTHS:
        named[f"plain{depth}"] = (cifar_resnet, {"depth": depth, "plain": True})
    for depth in CIFAR_PREACT_DEPTHS:
        named[f"preact_resnet{depth}"] = (cifar_resnet, {"depth": depth, "preact": True})
    return named


_NAMED = _named_builders()
_PATTERN = re.compile(r"^(?P<prefix>preact_resnet|resnet|plain)(?P<depth>\d+)$")


def list_models() -> list[str]:
    """The registry's model names: ImageNet ones first, then CIFAR, each by depth."""
    def key(name: str) -> tuple[int, int, str]:
        builder, fixed = _NAMED[name]
        family = 0 if builder is imagenet_resnet and fixed.get("stem") != "cifar" else 1
        return (family, int(fixed["depth"]), name)  # type: ignore[arg-type]
    return sorted(_NAMED, key=key)


def _resolve(name: str) -> tuple[ModelBuilder, dict[str, object]]:
    """Map a name to its builder: a listed name, or any depth the family's rule allows."""
    if name in _NAMED:
        return _NAMED[name]
    match = _PATTERN.match(name)
    if match is None:
        close = difflib.get_close_matches(name, list_models(), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown model {name!r}.{hint} See list_models() for all {len(_NAMED)} names.")
    prefix, depth = match["prefix"], int(match["depth"])
    if prefix == "preact_resnet":
        return cifar_resnet, {"depth": depth, "preact": True}
    plain = prefix == "plain"
    if depth in IMAGENET_CONFIGS:
        return imagenet_resnet, {"depth": depth, "plain": plain}
    try:
        cifar_blocks_per_stage(depth, 2)
    except ValueError as error:
        raise ValueError(
            f"unknown model {name!r}: ImageNet ResNets have depth 18, 34, 50, 101 or 152 (Table 1), and {error}"
        ) from None
    return cifar_resnet, {"depth": depth, "plain": plain}


def create_model(name: str, num_classes: int | None = None, **options: object) -> nn.Module:
    """Build a network by name, e.g. ``create_model("resnet20")`` or ``create_model("resnet50", num_classes=6)``.

    Names: see :func:`list_models`; besides those, ``resnet<d>`` / ``plain<d>`` /
    ``preact_resnet<d>`` for any depth ``d`` its family's rule allows (CIFAR: 6n+2).
    ``num_classes`` defaults to 1000 for ImageNet networks and 10 for CIFAR ones.
    ``options`` go to the builder (:func:`imagenet_resnet` or :func:`cifar_resnet`):
    ``shortcut="A"|"B"|"C"``, ``zero_init_residual``, ``stride_in_1x1``, ``block`` …
    """
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string such as 'resnet20', not {type(name).__name__}")
    builder, fixed = _resolve(name.strip().lower())
    allowed = set(inspect.signature(builder).parameters) - set(fixed) - {"num_classes"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"{name} does not take option(s) {', '.join(unknown)}; it takes: {', '.join(sorted(allowed))}")
    kwargs = {**fixed, **options}
    if num_classes is not None:
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        kwargs["num_classes"] = num_classes
    model = builder(**kwargs)
    model.arch = name.strip().lower()  # type: ignore[assignment]
    model.num_classes = model.fc.out_features  # type: ignore[assignment]
    return model


def _registry_function(name: str) -> Callable[..., nn.Module]:
    def build(num_classes: int | None = None, **options: object) -> nn.Module:
        return create_model(name, num_classes, **options)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"``create_model({name!r}, num_classes, **options)``."
    return build


resnet18 = _registry_function("resnet18")
resnet34 = _registry_function("resnet34")
resnet50 = _registry_function("resnet50")
resnet101 = _registry_function("resnet101")
resnet152 = _registry_function("resnet152")
plain18 = _registry_function("plain18")
plain34 = _registry_function("plain34")
resnet18_cifar = _registry_function("resnet18_cifar")
resnet20 = _registry_function("resnet20")
resnet32 = _registry_function("resnet32")
resnet44 = _registry_function("resnet44")
resnet56 = _registry_function("resnet56")
resnet110 = _registry_function("resnet110")
resnet1202 = _registry_function("resnet1202")
plain20 = _registry_function("plain20")
plain32 = _registry_function("plain32")
plain44 = _registry_function("plain44")
plain56 = _registry_function("plain56")
plain110 = _registry_function("plain110")
preact_resnet20 = _registry_function("preact_resnet20")
preact_resnet56 = _registry_function("preact_resnet56")
preact_resnet110 = _registry_function("preact_resnet110")
preact_resnet164 = _registry_function("preact_resnet164")
preact_resnet1001 = _registry_function("preact_resnet1001")
