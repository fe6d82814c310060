"""Networks by name: :func:`create_model`, :func:`list_models` and the ``@register_model`` decorator.

In the style of timm's registry: each named network is a small builder function,
registered by one decorator under its own name, and :func:`create_model` calls it.
Besides the registered names, ``resnet<d>``, ``plain<d>`` and ``preact_resnet<d>`` are
understood for every depth ``d`` the family's rule allows (:func:`resolve_family`):
the five ImageNet depths of He et al. 2015, Table 1, and any CIFAR depth 6n+2 (9n+2 with
bottlenecks) of §4.2. ``create_model(name, weights="cifar10")`` loads stored weights
checked against a SHA-256 pinned in :mod:`resnet_course.nn.weights`.

A reader's own network joins the registry the same way::

    @register_model
    def tiny_resnet(num_classes: int = 10, **options) -> nn.Module:
        return cifar_resnet(8, num_classes, **options)

    create_model("tiny_resnet")          # and list_models() shows it
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from resnet_course.nn.models import (
    IMAGENET_CONFIGS,
    cifar_blocks_per_stage,
    cifar_resnet,
    imagenet_resnet,
)
from resnet_course.nn.weights import Weights, get_weights, load_weights

__all__ = [
    "ModelBuilder",
    "build_named",
    "create_model",
    "family_and_depth",
    "list_models",
    "plain18",
    "plain20",
    "plain32",
    "plain34",
    "plain44",
    "plain56",
    "plain110",
    "preact_resnet20",
    "preact_resnet32",
    "preact_resnet44",
    "preact_resnet56",
    "preact_resnet110",
    "preact_resnet164",
    "preact_resnet1001",
    "register_model",
    "resnet18",
    "resnet18_cifar",
    "resnet20",
    "resnet32",
    "resnet34",
    "resnet44",
    "resnet50",
    "resnet56",
    "resnet101",
    "resnet110",
    "resnet152",
    "resnet1202",
    "resolve_family",
]


ModelBuilder = Callable[..., nn.Module]
Builder = TypeVar("Builder", bound=ModelBuilder)

_MODELS: dict[str, ModelBuilder] = {}
_FAMILY_NAME = re.compile(r"^(?P<prefix>preact_resnet|resnet|plain)(?P<depth>\d+)(?P<cifar>_cifar)?$")


def family_and_depth(name: str) -> tuple[str, int] | None:
    """The family and the depth a registry name spells, or None for a name of no family.

    ``("resnet", 56)`` for ``resnet56``, ``("plain", 20)`` for ``plain20`` (He et al. 2015,
    Sec. 4.2's CIFAR-10 networks and their plain twins), ``("preact_resnet", 20)`` for
    ``preact_resnet20``; None for ``resnet18_cifar`` (another stem) or ``tiny_resnet``.
    One reading of a name for the zoo's order, the verdicts and the figures' colours.
    """
    match = _FAMILY_NAME.fullmatch(name)
    if match is None or match["cifar"]:
        return None
    return match["prefix"], int(match["depth"])


def register_model(builder: Builder) -> Builder:
    """Register ``builder`` under its function name, as timm's ``@register_model`` does.

    :func:`create_model` then calls ``builder(num_classes, **options)`` (``num_classes``
    only when given). Registering a name twice is an error, not a silent replacement.
    """
    name = builder.__name__
    if name in _MODELS:
        raise ValueError(f"a model named {name!r} is registered already")
    _MODELS[name] = builder
    return builder


# --------------------------------------------------------------------------- the family rule


def resolve_family(name: str) -> tuple[ModelBuilder, dict[str, object]]:
    """The family builder and the arguments that ``name`` fixes, or a ValueError explaining why not.

    ``resnet<d>``/``plain<d>`` with ``d`` in Table 1 → :func:`imagenet_resnet`;
    ``resnet18_cifar`` → the ImageNet ResNet-18 with a CIFAR stem; any other
    ``resnet<d>``/``plain<d>``/``preact_resnet<d>`` → :func:`cifar_resnet`, whose depth rule
    (6n+2, 9n+2) decides. The name fixes the family: ``plain`` and ``preact`` are never
    options (``create_model("resnet20", plain=True)`` is refused, not a plain network
    called ResNet-20).
    """
    match = _FAMILY_NAME.match(name)
    if match is None or (match["cifar"] and name != "resnet18_cifar"):
        close = difflib.get_close_matches(name, list(_MODELS), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown model {name!r}.{hint} See list_models() (the command: resnet-course list-models) "
                         f"for all {len(_MODELS)} names.")
    if match["cifar"]:
        return imagenet_resnet, {"depth": 18, "plain": False, "stem": "cifar", "num_classes": 10}
    prefix, depth = match["prefix"], int(match["depth"])
    plain, preact = prefix == "plain", prefix == "preact_resnet"
    if depth in IMAGENET_CONFIGS and not preact:
        return imagenet_resnet, {"depth": depth, "plain": plain}
    if not preact:
        try:
            cifar_blocks_per_stage(depth, 2)
        except ValueError as error:
            raise ValueError(
                f"unknown model {name!r}: ImageNet ResNets have depth 18, 34, 50, 101 or 152 (Table 1), and {error}"
            ) from None
    return cifar_resnet, {"depth": depth, "plain": plain, "preact": preact}


def build_named(name: str, num_classes: int | None = None, **options: object) -> nn.Module:
    """Build the family network ``name`` (see :func:`resolve_family`), checking ``options`` first.

    ``num_classes`` defaults to 1000 for ImageNet networks and 10 for CIFAR ones; an
    option the family builder does not take is refused with the list of those it takes.
    The network records its name (``arch``) and ``num_classes``.
    """
    builder, fixed = resolve_family(name)
    allowed = set(inspect.signature(builder).parameters) - set(fixed) - {"num_classes"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"{name} does not take option(s) {', '.join(unknown)}; it takes: {', '.join(sorted(allowed))}")
    kwargs = {**fixed, **options}
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    return _label(builder(**kwargs), name)


def _label(model: nn.Module, arch: str) -> nn.Module:
    """Record the network's name and classes on it (checkpoints and the diagrams read them)."""
    model.arch = arch  # type: ignore[assignment]
    if isinstance(getattr(model, "fc", None), nn.Linear):
        model.num_classes = model.fc.out_features  # type: ignore[assignment]
    return model


# --------------------------------------------------------------------------- the public face


def _sort_key(name: str) -> tuple[int, int, str]:
    """ImageNet networks first, then CIFAR ones, each by depth; other registered names last."""
    try:
        builder, fixed = resolve_family(name)
    except ValueError:
        return (2, 0, name)
    family = 0 if builder is imagenet_resnet and fixed.get("stem") != "cifar" else 1
    return (family, int(fixed["depth"]), name)  # type: ignore[call-overload]


def list_models() -> list[str]:
    """The registry's model names: ImageNet ones first, then CIFAR, each by depth."""
    return sorted(_MODELS, key=_sort_key)


def _check_num_classes(num_classes: object, weights: Weights | None) -> int | None:
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    stored = weights.meta.get("num_classes") if weights is not None else None
    if num_classes is not None and stored is not None and num_classes != stored:
        raise ValueError(f"these weights have {stored} classes, not {num_classes}: build the network with "
                         f"num_classes={stored}, then replace its fc layer")
    return num_classes if num_classes is not None else stored  # type: ignore[return-value]


def create_model(name: str, num_classes: int | None = None, weights: str | Weights | None = None,
                 **options: object) -> nn.Module:
    """Build a network by name, e.g. ``create_model("resnet20")`` or ``create_model("resnet50", num_classes=6)``.

    Names: see :func:`list_models`; besides those, ``resnet<d>`` / ``plain<d>`` /
    ``preact_resnet<d>`` for any depth ``d`` its family's rule allows (CIFAR: 6n+2).
    ``num_classes`` defaults to 1000 for ImageNet networks and 10 for CIFAR ones.
    ``weights`` is a tag of the weights table (``"cifar10"``) or a :class:`Weights`
    record: the stored file is checked against its pinned SHA-256 and loaded
    (:func:`~resnet_course.nn.weights.load_weights`); the network comes back in training
    mode, as torchvision's do. ``options`` go to the builder (:func:`imagenet_resnet` or
    :func:`cifar_resnet`): ``shortcut="A"|"B"|"C"``, ``zero_init_residual``,
    ``stride_in_1x1``, ``block`` …
    """
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string such as 'resnet20', not {type(name).__name__}")
    arch = name.strip().lower()
    entry = get_weights(arch, weights) if isinstance(weights, str) else weights
    num_classes = _check_num_classes(num_classes, entry)
    if entry is not None:
        options = {**entry.meta.get("options", {}), **options}
    builder = _MODELS.get(arch)
    model = builder(num_classes, **options) if builder is not None else build_named(arch, num_classes, **options)
    _label(model, arch)
    if entry is not None:
        load_weights(model, entry, name=arch)
    return model


# --------------------------------------------------------------------------- the named networks
# He et al. 2015 ("Deep Residual Learning"): Table 1 (ImageNet), §4.2 and Table 6 (CIFAR-10);
# He et al. 2016 ("Identity Mappings"): the pre-activation networks.


@register_model
def resnet18(num_classes: int | None = None, **options: Any) -> nn.Module:
    """ResNet-18 (Table 1: basic blocks 2-2-2-2, 1.8 GFLOPs, 11.7M parameters)."""
    return build_named("resnet18", num_classes, **options)


@register_model
def resnet34(num_classes: int | None = None, **options: Any) -> nn.Module:
    """ResNet-34 (Table 1: basic blocks 3-4-6-3, 3.6 GFLOPs; Fig. 4 right)."""
    return build_named("resnet34", num_classes, **options)


@register_model
def resnet50(num_classes: int | None = None, **options: Any) -> nn.Module:
    """ResNet-50 (Table 1: bottlenecks 3-4-6-3, 3.8 GFLOPs)."""
    return build_named("resnet50", num_classes, **options)


@register_model
def resnet101(num_classes: int | None = None, **options: Any) -> nn.Module:
    """ResNet-101 (Table 1: bottlenecks 3-4-23-3, 7.6 GFLOPs)."""
    return build_named("resnet101", num_classes, **options)


@register_model
def resnet152(num_classes: int | None = None, **options: Any) -> nn.Module:
    """ResNet-152 (Table 1: bottlenecks 3-8-36-3, 11.3 GFLOPs)."""
    return build_named("resnet152", num_classes, **options)


@register_model
def plain18(num_classes: int | None = None, **options: Any) -> nn.Module:
    """Plain-18: ResNet-18 without shortcuts (Fig. 4 left, Table 2)."""
    return build_named("plain18", num_classes, **options)


@register_model
def plain34(num_classes: int | None = None, **options: Any) -> nn.Module:
    """Plain-34: ResNet-34 without shortcuts (Fig. 3 middle, Fig. 4 left: the degradation problem)."""
    return build_named("plain34", num_classes, **options)


@register_model
def resnet18_cifar(num_classes: int | None = None, **options: Any) -> nn.Module:
    """ResNet-18 with a 3×3/1 stem and no max-pool: the CIFAR-10 ResNet-18 of fast training scripts."""
    return build_named("resnet18_cifar", num_classes, **options)


@register_model
def resnet20(num_classes: int | None = None, **options: Any) -> nn.Module:
    """ResNet-20 for CIFAR-10 (§4.2, Table 6: 0.27M parameters, 8.75 % error)."""
    return build_named("resnet20", num_classes, **options)


@register_model
def resnet32(num_classes: int | None = None, **options: Any) -> nn.Module:
    """ResNet-32 for CIFAR-10 (Table 6: 0.46M parameters, 7.51 % error)."""
    return build_named("resnet32", num_classes, **options)


@register_model
def resnet44(num_classes: int | None = None, **options: Any) -> nn.Module:
    """ResNet-44 for CIFAR-10 (Table 6: 0.66M parameters, 7.17 % error)."""
    return build_named("resnet44", num_classes, **options)


@register_model
def resnet56(num_classes: int | None = None, **options: Any) -> nn.Module:
    """ResNet-56 for CIFAR-10 (Table 6: 0.85M parameters, 6.97 % error)."""
    return build_named("resnet56", num_classes, **options)


@register_model
def resnet110(num_classes: int | None = None, **options: Any) -> nn.Module:
    """ResNet-110 for CIFAR-10 (Table 6: 1.7M parameters, 6.43 % error)."""
    return build_named("resnet110", num_classes, **options)


@register_model
def resnet1202(num_classes: int | None = None, **options: Any) -> nn.Module:
    """ResNet-1202 for CIFAR-10 (Table 6: 19.4M parameters, 7.93 % error: over-fitting, §4.2)."""
    return build_named("resnet1202", num_classes, **options)


@register_model
def plain20(num_classes: int | None = None, **options: Any) -> nn.Module:
    """Plain-20 for CIFAR-10: ResNet-20 without shortcuts (Fig. 6 left)."""
    return build_named("plain20", num_classes, **options)


@register_model
def plain32(num_classes: int | None = None, **options: Any) -> nn.Module:
    """Plain-32 for CIFAR-10 (Fig. 6 left)."""
    return build_named("plain32", num_classes, **options)


@register_model
def plain44(num_classes: int | None = None, **options: Any) -> nn.Module:
    """Plain-44 for CIFAR-10 (Fig. 6 left)."""
    return build_named("plain44", num_classes, **options)


@register_model
def plain56(num_classes: int | None = None, **options: Any) -> nn.Module:
    """Plain-56 for CIFAR-10 (Fig. 6 left: higher training error than plain-20)."""
    return build_named("plain56", num_classes, **options)


@register_model
def plain110(num_classes: int | None = None, **options: Any) -> nn.Module:
    """Plain-110 for CIFAR-10: ResNet-110 without shortcuts (§4.2)."""
    return build_named("plain110", num_classes, **options)


@register_model
def preact_resnet20(num_classes: int | None = None, **options: Any) -> nn.Module:
    """Pre-activation ResNet-20 (He et al. 2016, Fig. 4(e))."""
    return build_named("preact_resnet20", num_classes, **options)


@register_model
def preact_resnet32(num_classes: int | None = None, **options: Any) -> nn.Module:
    """Pre-activation ResNet-32 (He et al. 2016, Fig. 4(e))."""
    return build_named("preact_resnet32", num_classes, **options)


@register_model
def preact_resnet44(num_classes: int | None = None, **options: Any) -> nn.Module:
    """Pre-activation ResNet-44 (He et al. 2016, Fig. 4(e))."""
    return build_named("preact_resnet44", num_classes, **options)


@register_model
def preact_resnet56(num_classes: int | None = None, **options: Any) -> nn.Module:
    """Pre-activation ResNet-56 (He et al. 2016, Fig. 4(e))."""
    return build_named("preact_resnet56", num_classes, **options)


@register_model
def preact_resnet110(num_classes: int | None = None, **options: Any) -> nn.Module:
    """Pre-activation ResNet-110, basic blocks (He et al. 2016, Fig. 4(e))."""
    return build_named("preact_resnet110", num_classes, **options)


@register_model
def preact_resnet164(num_classes: int | None = None, **options: Any) -> nn.Module:
    """Pre-activation ResNet-164, bottlenecks (He et al. 2016: 1.7M parameters)."""
    return build_named("preact_resnet164", num_classes, **options)


@register_model
def preact_resnet1001(num_classes: int | None = None, **options: Any) -> nn.Module:
    """Pre-activation ResNet-1001, bottlenecks (He et al. 2016: 10.2M parameters)."""
    return build_named("preact_resnet1001", num_classes, **options)
