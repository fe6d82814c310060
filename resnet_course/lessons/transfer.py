"""Transfer learning (chapter 6): three strategies, new heads, frozen features, ImageNet weights.

A network trained on CIFAR-10 is reused on the hand gestures in three ways
(:data:`STRATEGIES`): trained from scratch (the baseline), fine-tuned under a new head
(:func:`new_head`), or used as a frozen feature extractor under a new linear classifier
(:class:`FrozenFeatures`, BatchNorm statistics frozen too). :func:`train_strategy` trains one
of them; :func:`load_imagenet_weights` loads torchvision's ImageNet weights into the course's
ImageNet ResNets (He et al. 2015, Table 1), whose state-dict keys are torchvision's.

Pure functions of networks and data; :mod:`resnet_course.experiments.gestures` runs the
strategies over seeds and training-set sizes and stores the learning curves, which
:func:`resnet_course.lessons.verdicts.transfer_verdict` compares.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from resnet_course.data.cifar10 import CIFAR10_MEAN, CIFAR10_STD
from resnet_course.data.imageset import ImageSet
from resnet_course.data.loaders import TensorLoader
from resnet_course.data.safety import ChecksumError
from resnet_course.nn.registry import create_model
from resnet_course.nn.summary import count_parameters
from resnet_course.training.evaluation import confusion_matrix
from resnet_course.training.history import History
from resnet_course.training.loop import fit
from resnet_course.training.runtime import resolve_device

__all__ = [
    "IMAGENET_DEPTHS",
    "SETTINGS",
    "STRATEGIES",
    "FrozenFeatures",
    "ImageNetWeightsUnavailable",
    "TransferSettings",
    "gesture_model",
    "imagenet_weights_url",
    "load_imagenet_weights",
    "new_head",
    "per_class_accuracy",
    "train_strategy",
    "trainable_parameters"
]


STRATEGIES: tuple[str, ...] = ("scratch", "finetune", "features")


@dataclass(frozen=True)
class TransferSettings:
    """The optimiser settings of one strategy (SGD, momentum 0.9, cosine schedule)."""

    lr: float
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0


# A network trained from scratch takes the usual lr; fine-tuning a smaller one so the
# pre-trained weights are adjusted rather than overwritten; a lone linear head a large one.
SETTINGS: dict[str, TransferSettings] = {
    "scratch": TransferSettings(lr=0.1),
    "finetune": TransferSettings(lr=0.02),
    "features": TransferSettings(lr=0.1),
}


class FrozenFeatures(nn.Module):
    """A trained network's body, frozen, under a new linear classifier (feature extraction).

    The body's weights get no gradient and its BatchNorm layers stay in evaluation mode even
    when the wrapper is put in training mode, so its running statistics are not updated by
    the new data: the features are exactly those the body learned on CIFAR-10.
    """

    def __init__(self, body: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.body = body
        for parameter in self.body.parameters():
            parameter.requires_grad_(False)
        self.fc = nn.Linear(body.fc.in_features, num_classes)
        self.num_classes = num_classes

    def train(self, mode: bool = True) -> FrozenFeatures:
        """Set the head's mode; the body stays in eval mode (its BatchNorm statistics are not updated)."""
        super().train(mode)
        self.body.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        """The new classifier on the frozen body's pooled features."""
        return self.fc(self.body.features(x))


def new_head(model: nn.Module, num_classes: int) -> nn.Module:
    """``model`` with its classifier replaced by a freshly initialised ``num_classes``-way one."""
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    model.num_classes = num_classes
    return model


def gesture_model(strategy: str, arch: str = "resnet20", num_classes: int = 6,
                  results_dir: str | Path | None = None) -> nn.Module:
    """The network a strategy starts from: random, or the stored CIFAR-10 ``arch`` with a new head."""
    from resnet_course.experiments.pretrained import load_pretrained

    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    if strategy == "scratch":
        return create_model(arch, num_classes=num_classes)
    body = load_pretrained(arch, results_dir).train()
    if strategy == "finetune":
        return new_head(body, num_classes)
    return FrozenFeatures(body, num_classes)


def trainable_parameters(model: nn.Module) -> int:
    """How many weights training changes."""
    return count_parameters(model, trainable_only=True)


def per_class_accuracy(logits: Tensor, labels: Tensor, num_classes: int) -> list[float]:
    """Recall of each class: the fraction of its test samples predicted right."""
    matrix = confusion_matrix(logits, labels, num_classes).double()
    return (matrix.diagonal() / matrix.sum(1).clamp_min(1)).tolist()


# ----------------------------------------------------------------------------------------
# Chapter 6: one strategy trained live, and torchvision's ImageNet weights
# ----------------------------------------------------------------------------------------


def train_strategy(
    strategy: str,
    train_set: ImageSet,
    test_set: ImageSet,
    *,
    epochs: int,
    arch: str = "resnet20",
    batch_size: int = 64,
    amp: str | bool | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    results_dir: str | Path | None = None,
    progress: bool = False,
) -> tuple[nn.Module, History]:
    """Train one strategy on ``train_set`` with its :data:`SETTINGS`, as :func:`run_gestures` does.

    The model (:func:`gesture_model`, seeded with ``seed``) is trained with SGD, momentum 0.9
    and a cosine schedule after the strategy's warm-up, on batches of CIFAR-10-normalised,
    randomly cropped and flipped images, and tested on ``test_set`` after every epoch.
    Returns the trained model and its :class:`~resnet_course.training.History`.
    """
    device = resolve_device(device)
    torch.manual_seed(seed)
    model = gesture_model(strategy, arch, len(train_set.classes), results_dir)
    settings = SETTINGS[strategy]
    train_loader = TensorLoader(train_set, batch_size=batch_size, mean=CIFAR10_MEAN, std=CIFAR10_STD,
                                device=device, seed=seed)
    test_loader = TensorLoader(test_set, batch_size=500, shuffle=False, augment=False, mean=CIFAR10_MEAN,
                               std=CIFAR10_STD, device=device)
    history = fit(model, train_loader, test_loader, epochs=epochs, lr=settings.lr,
                  weight_decay=settings.weight_decay, warmup_epochs=settings.warmup_epochs, schedule="cosine",
                  amp=amp, seed=seed, device=device, progress=progress)
    return model, history


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
               "resnet_course.experiments.pretrained.load_pretrained('resnet20')")
    elif name.startswith("plain"):
        why = "it is a plain network (no shortcuts), and ImageNet weights were published only for the residual ones"
    else:
        why = "its stem differs from the ImageNet ResNets' (a 3×3 convolution for small images), so their tensors do not fit"
    raise ValueError(f"ImageNet weights exist only for {available} (torchvision's IMAGENET1K_V1); "
                     f"{model_name!r} has none: {why}.")


def _unavailable_message(model_name: str, url: str, reason: str) -> str:
    """What to download, from where, and where to put it, after ``reason``."""
    file = url.rsplit("/", 1)[-1]
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    return (f"torchvision's ImageNet weights for {model_name} could not be loaded ({reason}). Without internet "
            f"(as on the course machines), download them on a machine that has it: {url} (e.g. curl -LO {url}), then either copy "
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
