"""torchvision's ImageNet weights for the course's own ImageNet ResNets (chapter 6's ImageNet route).

:func:`load_imagenet_weights` builds ``create_model(name)`` and loads torchvision's
``IMAGENET1K_V1`` weights into it (from a file, the local torch hub cache, or a download when
asked); :func:`imagenet_status` says in one line whether they are here, without any download.
Used by :mod:`resnet_course.lessons.transfer`, which re-exports these names.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import socket
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from resnet_course.data.safety import ChecksumError
from resnet_course.nn.registry import create_model

__all__ = ["IMAGENET_DEPTHS", "ImageNetWeightsUnavailable", "cached_imagenet_weights", "imagenet_status",
           "imagenet_weights_url", "load_imagenet_weights"]



IMAGENET_DEPTHS: tuple[int, ...] = (18, 34, 50, 101, 152)


class ImageNetWeightsUnavailable(OSError):
    """torchvision's ImageNet weights could not be had (no network, no local file); the message says what to do."""


def imagenet_weights_url(model_name: str = "resnet18") -> str:
    """The address torchvision downloads ``model_name``'s IMAGENET1K_V1 weights from."""
    return _imagenet_weights(model_name).url


def _imagenet_weights(model_name: str) -> Any:
    """torchvision's ``ResNet<d>_Weights.IMAGENET1K_V1`` for an ImageNet ResNet name, else a clear ``ValueError``."""
    import torchvision

    name = model_name.strip().lower() if isinstance(model_name, str) else model_name
    match = re.fullmatch(r"resnet(\d+)", name) if isinstance(name, str) else None
    if match and int(match.group(1)) in IMAGENET_DEPTHS:
        return getattr(torchvision.models, f"ResNet{match.group(1)}_Weights").IMAGENET1K_V1
    available = ", ".join(f"resnet{d}" for d in IMAGENET_DEPTHS)
    try:
        model = create_model(name)  # an unknown name raises create_model's own error
    except (TypeError, ValueError) as error:
        raise ValueError(f"no ImageNet weights for {model_name!r}: {error}") from None
    if not hasattr(model, "layer4"):
        why = ("it is a CIFAR network: a 3×3 stem and three stages of 16/32/64 channels for 32×32 images "
               "(He et al. 2015, §4.2), while the ImageNet ResNets have a 7×7 stem and four stages of 64-512 "
               "channels (Table 1), so no ImageNet tensor has the shape or the name of one of its layers. For a "
               "pre-trained CIFAR network use the course's CIFAR-10 weights: "
               f"create_model({name!r}, weights='cifar10')")
    elif name.startswith("plain"):
        why = "it is a plain network (no shortcuts), and ImageNet weights were published only for the residual ones"
    else:
        why = ("its stem differs from the ImageNet ResNets' (a 3×3 convolution for small images), so their tensors "
               "do not fit")
    raise ValueError(f"ImageNet weights exist only for {available} (torchvision's IMAGENET1K_V1); "
                     f"{model_name!r} has none: {why}.")


def _unavailable_message(model_name: str, url: str, reason: str) -> str:
    """What to download, from where, and where to put it, after ``reason``."""
    file = url.rsplit("/", 1)[-1]
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    return (f"torchvision's ImageNet weights for {model_name} could not be loaded ({reason}). Without internet "
            f"here, download them on a machine that has it: {url} (e.g. curl -LO {url}), "
            f"then either copy "
            f"{file} into torch's hub cache, {cache}/ (then load_imagenet_weights({model_name!r}) finds it), or "
            f"pass its path: load_imagenet_weights({model_name!r}, path='/path/to/{file}').")


def load_imagenet_weights(model_name: str = "resnet18", path: str | Path | None = None, *,
                          progress: bool = False, timeout: float = 60.0) -> nn.Module:
    """``create_model(model_name)`` holding torchvision's ImageNet-trained IMAGENET1K_V1 weights, in eval mode.

    The course's ImageNet ResNets (He et al. 2015, Table 1: ResNet-18, 34, 50, 101, 152) have
    the same state-dict keys and shapes as torchvision's, so torchvision's weights load with
    ``strict=True``. ``path`` is the weights file (``resnet18-f37072fd.pth`` …) or a folder
    holding it under torchvision's file name; a file that has torchvision's name is checked
    against the SHA-256 prefix in that name, as ``torch.hub`` does. Without ``path`` the
    weights come from torchvision's weights API, which looks in the torch hub cache
    (``torch.hub.get_dir()/checkpoints``) and downloads into it when they are not there
    (``timeout`` seconds per network operation).

    Raises ``ValueError`` for a network without ImageNet weights (the CIFAR ResNets, plain
    networks) and :class:`ImageNetWeightsUnavailable` -- saying what to download, from where,
    and where to put it -- when the weights can be neither found nor downloaded.
    """
    weights = _imagenet_weights(model_name)
    name = model_name.strip().lower()
    if path is not None:
        state_dict = _state_dict_from_file(Path(path).expanduser(), weights, name)
    else:
        state_dict = _state_dict_from_hub(weights, name, progress=progress, timeout=timeout)
    model = create_model(name)
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def _state_dict_from_file(path: Path, weights: Any, name: str) -> dict[str, Tensor]:
    """The state dict in ``path`` (a file, or a folder holding torchvision's file), checked like ``torch.hub``."""
    file = weights.url.rsplit("/", 1)[-1]
    if path.is_dir():
        path = path / file
    if not path.is_file():
        raise ImageNetWeightsUnavailable(_unavailable_message(name, weights.url, f"no file {path}"))
    if path.name == file:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        prefix = file.rsplit("-", 1)[-1].split(".")[0]
        if not digest.startswith(prefix):
            raise ChecksumError(f"{path} has SHA-256 {digest}, which does not start with {prefix} as "
                                f"torchvision's {file} does: the file is damaged or not the published one; "
                                f"download it again from {weights.url}")
    return torch.load(path, map_location="cpu", weights_only=True)


def _state_dict_from_hub(weights: Any, name: str, *, progress: bool, timeout: float) -> dict[str, Tensor]:
    """torchvision's weights API: the torch hub cache, else a download into it (``timeout`` s per operation)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        # torch.hub announces every download ("Downloading: URL to PATH", on stdout or stderr
        # depending on the version), progress or not: silence it unless progress is asked for
        with contextlib.ExitStack() as quiet:
            if not progress:
                quiet.enter_context(contextlib.redirect_stdout(io.StringIO()))
                quiet.enter_context(contextlib.redirect_stderr(io.StringIO()))
            return weights.get_state_dict(progress=progress, check_hash=True)
    except (OSError, RuntimeError) as error:  # URLError is an OSError; a bad hash a RuntimeError
        raise ImageNetWeightsUnavailable(_unavailable_message(name, weights.url, str(error))) from error
    finally:
        socket.setdefaulttimeout(previous)


def cached_imagenet_weights(model_name: str = "resnet18") -> Path | None:
    """The file of torchvision's ImageNet weights for ``model_name`` in the local torch hub cache, or ``None``.

    Looks only (``torch.hub.get_dir()/checkpoints/<torchvision's file name>``); never downloads.
    """
    file = imagenet_weights_url(model_name).rsplit("/", 1)[-1]
    path = Path(torch.hub.get_dir()) / "checkpoints" / file
    return path if path.is_file() else None


def imagenet_status(model_name: str = "resnet18") -> tuple[bool, str]:
    """Whether the ImageNet route can run here, and one sentence saying so (no file paths, no raw errors).

    It can when torchvision's weights for ``model_name`` are in the local torch cache
    (:func:`cached_imagenet_weights`); nothing is downloaded to find out.
    """
    label = model_name.strip().lower()
    if cached_imagenet_weights(label) is not None:
        return True, (f"torchvision's ImageNet weights for {label} are in the local torch cache: the ImageNet route "
                      "runs.")
    return False, (f"ImageNet route skipped: torchvision's ImageNet weights for {label} are not in the local torch "
                   f"cache, and they are only fetched on purpose (with internet: "
                   f"transfer.load_imagenet_weights({label!r}) downloads them once, from "
                   f"{imagenet_weights_url(label)}).")
