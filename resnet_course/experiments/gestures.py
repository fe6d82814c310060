"""The hand-gesture transfer experiment behind chapter 6.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import torch

from resnet_course.data.cifar10 import CIFAR10_MEAN, CIFAR10_STD
from resnet_course.data.hands import load_hands
from resnet_course.data.loaders import TensorLoader
from resnet_course.experiments.provenance import run_metadata
from resnet_course.experiments.results import load_result, write_result
from resnet_course.lessons.transfer import (
    SETTINGS,
    STRATEGIES,
    per_class_accuracy,
    train_strategy,
    trainable_parameters,
)
from resnet_course.training.evaluation import confusion_matrix, predict
from resnet_course.training.runtime import precision_name, resolve_device

__all__ = ["NAME", "run_gestures"]


NAME = "gestures"


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
    from resnet_course.experiments.pretrained import NAME as PRETRAINED

    device = resolve_device(device)
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
    test_loader = TensorLoader(test_set, batch_size=500, shuffle=False, augment=False, mean=CIFAR10_MEAN,
                               std=CIFAR10_STD, device=device)
    for strategy in strategies:
        model, history = train_strategy(strategy, train_set, test_set, epochs=epochs, arch=arch,
                                        batch_size=batch_size, amp=amp, seed=seed, device=device,
                                        results_dir=results_dir, progress=progress)
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
    return write_result(NAME, {"meta": meta, "runs": runs}, results_dir)
