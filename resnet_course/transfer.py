"""Transfer learning on hand gestures: from scratch, fine-tuned, or frozen features with a new head.

The course's source article trains ResNet-50 on 2,850 gesture photos from scratch (72.6 %
validation accuracy) and fine-tuned from ImageNet weights (88 %). The same experiment at
the course's scale: the HandsDataset crops (6 classes, how many fingers; 1,381 training and
349 test crops, :func:`resnet_course.data.load_hands`) and the ResNet-20 the course
pre-trained on CIFAR-10 (:mod:`resnet_course.pretrained`), three ways (Yosinski et al.
2014 on how transferable features are):

* ``scratch`` -- random initialisation, every weight trained;
* ``finetune`` -- start from the CIFAR-10 weights, a new 6-way classifier, every weight
  trained with a smaller learning rate;
* ``features`` -- the CIFAR-10 body frozen (weights and BatchNorm statistics), only the new
  classifier trained: "feature extraction", a linear probe.

    resnet-course experiment gestures --epochs 30
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from resnet_course.data import CIFAR10_MEAN, CIFAR10_STD, TensorLoader, load_hands
from resnet_course.experiments import load_result, precision_name, write_result
from resnet_course.models import create_model
from resnet_course.provenance import run_metadata
from resnet_course.train import confusion_matrix, fit, predict

NAME = "gestures"
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
        super().train(mode)
        self.body.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.body.features(x))


def new_head(model: nn.Module, num_classes: int) -> nn.Module:
    """``model`` with its classifier replaced by a freshly initialised ``num_classes``-way one."""
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    model.num_classes = num_classes
    return model


def gesture_model(strategy: str, arch: str = "resnet20", num_classes: int = 6,
                  results_dir: str | Path | None = None) -> nn.Module:
    """The network a strategy starts from: random, or the stored CIFAR-10 ``arch`` with a new head."""
    from resnet_course.pretrained import load_pretrained

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
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def per_class_accuracy(logits: Tensor, labels: Tensor, num_classes: int) -> list[float]:
    """Recall of each class: the fraction of its test samples predicted right."""
    matrix = confusion_matrix(logits, labels, num_classes).double()
    return (matrix.diagonal() / matrix.sum(1).clamp_min(1)).tolist()


def run_gestures(
    *,
    epochs: int = 30,
    strategies: Sequence[str] = STRATEGIES,
    arch: str = "resnet20",
    size: int = 64,
    batch_size: int = 64,
    amp: str | bool | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    data_root: str | Path | None = None,
    results_dir: str | Path | None = None,
    progress: bool = False,
) -> Path:
    """Train each strategy on the gesture crops for ``epochs``; write curves, per-class accuracy and confusion matrices."""
    from resnet_course.pretrained import NAME as PRETRAINED

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    train_set, test_set = load_hands("train", data_root, size=size), load_hands("test", data_root, size=size)
    source = load_result(PRETRAINED, results_dir)["meta"]
    meta: dict[str, Any] = run_metadata(
        device, experiment=NAME,
        description="HandsDataset crops: ResNet-20 from scratch vs fine-tuned from the course's CIFAR-10 weights "
                    "vs frozen CIFAR-10 features with a new head",
        data_variant=train_set.variant, train_images=len(train_set), test_images=len(test_set), image_size=size,
        classes=list(train_set.classes), arch=arch, epochs=epochs, batch_size=batch_size, optimizer="sgd",
        momentum=0.9, schedule="cosine", settings={k: asdict(v) for k, v in SETTINGS.items()},
        normalisation="CIFAR-10 mean and std for every strategy", augmentation="random crop (pad 4) and flip",
        precision=precision_name(amp, device), seed=seed, pretrained=f"results/{PRETRAINED}.json",
        pretrained_commit=source["commit"])
    runs: dict[str, Any] = {}
    start = time.perf_counter()
    for strategy in strategies:
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
        logits, labels = predict(model, test_loader)
        runs[strategy] = {
            **history.to_dict(),
            "trainable_parameters": trainable_parameters(model),
            "per_class_accuracy": per_class_accuracy(logits, labels, len(train_set.classes)),
            "confusion_matrix": confusion_matrix(logits, labels, len(train_set.classes)).tolist(),
        }
        print(f"{strategy}: test accuracy {history.val_acc[-1]:.2%} (best {history.best_val_acc:.2%}), "
              f"training accuracy {history.train_acc[-1]:.2%}", flush=True)
    meta["wall_time_s"] = round(time.perf_counter() - start, 1)
    out = Path(results_dir) / f"{NAME}.json" if results_dir is not None else None
    return write_result(NAME, {"meta": meta, "runs": runs}, out)
