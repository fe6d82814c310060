"""The degradation and Table 6 reference runs.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from resnet_course.data.cifar10 import load_cifar10
from resnet_course.data.imageset import ImageSet
from resnet_course.data.loaders import TensorLoader
from resnet_course.experiments.provenance import run_metadata
from resnet_course.experiments.results import write_result
from resnet_course.nn.registry import create_model
from resnet_course.training.checkpoint import atomic_write
from resnet_course.training.history import History
from resnet_course.training.loop import fit
from resnet_course.training.runtime import precision_name, resolve_device

__all__ = [
    "cifar10_split", "Experiment", "EXPERIMENTS", "OTHER_EXPERIMENTS", "PAPER_TABLE6", "run_experiment",
    "train_network"
]



@dataclass(frozen=True)
class Experiment:
    """A named set of networks trained on CIFAR-10 with one recipe."""

    name: str
    models: tuple[str, ...]
    description: str
    paper_epochs: int = 182  # He et al. 2015 §4.2: 64k iterations at batch 128 on 45k images


EXPERIMENTS: dict[str, Experiment] = {
    "degradation": Experiment(
        "degradation",
        ("plain20", "plain56", "resnet20", "resnet56"),
        "He et al. 2015, Fig. 1 and Fig. 6: plain-20 vs plain-56 (the deeper plain net has higher training error) "
        "and ResNet-20 vs ResNet-56 (the deeper residual net is better).",
    ),
    "table6": Experiment(
        "table6",
        ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110"),
        "He et al. 2015, Table 6: test error of the CIFAR-10 ResNets of 20 to 110 layers, trained with one recipe.",
    ),
}

# The experiments with modules of their own (name -> what it makes), run by the same command.
OTHER_EXPERIMENTS: dict[str, str] = {
    "zoo": "the reference networks every chapter reads: plain and residual CIFAR-10 nets of 20-110 layers, one recipe",
    "pretrained": "the CIFAR-10 ResNet-20 and plain-20 the book loads (results/cifar10_*.pt), 'fast' recipe",
    "gestures": "hand gestures: ResNet-20 from scratch vs fine-tuned from CIFAR-10 vs frozen features (chapter 6)",
    "lesion": "Veit et al. 2016: delete blocks of the stored ResNet-20 and plain-20 (chapter 7)",
    "landscape": "Li et al. 2018: filter-normalised loss slices of the stored ResNet-20 and plain-20 (chapter 7)",
}

# He et al. 2015, Table 6: CIFAR-10 test error (%) and parameters (millions). ResNet-110's
# 6.43 is the best of 5 runs (mean 6.61 ± 0.16). The paper trains on the official files.
PAPER_TABLE6: dict[str, dict[str, float]] = {
    "resnet20": {"error": 8.75, "params_m": 0.27},
    "resnet32": {"error": 7.51, "params_m": 0.46},
    "resnet44": {"error": 7.17, "params_m": 0.66},
    "resnet56": {"error": 6.97, "params_m": 0.85},
    "resnet110": {"error": 6.43, "params_m": 1.7},
    "resnet1202": {"error": 7.93, "params_m": 19.4},
}


def run_experiment(
    name: str,
    *,
    epochs: int,
    subset: int | None = None,
    test_subset: int | None = None,
    batch_size: int = 128,
    schedule: str = "paper",
    warmup_epochs: float = 0.0,
    amp: str | bool | None = None,
    channels_last: bool | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    data_root: str | Path | None = None,
    out: str | Path | None = None,
    progress: bool = False,
) -> Path:
    """Train every model of experiment ``name`` with the paper's SGD recipe; write and return the JSON path.

    ``amp`` and ``channels_last`` are :func:`fit`'s (``None``: bf16 and channels-last on a
    GPU, float32 on a CPU); ``amp="bf16"`` on a CPU runs about 2.7 times faster
    (``results/throughput_cpu_resnet20.json``) and is recorded in the metadata as ``precision``.

    ``warmup_epochs`` ramps the learning rate linearly up to 0.1 first. He et al. 2015, §4.2
    needed a warm-up (0.01 for about 400 iterations) for ResNet-110, whose first steps at 0.1
    diverge; in a short reduced run the same happens to ResNet-56 (its loss explodes in the
    first few steps at 0.1 and it never leaves chance level), so reduced runs warm up every
    network the same way.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}: choose one of {', '.join(EXPERIMENTS)}")
    experiment = EXPERIMENTS[name]
    device = resolve_device(device)
    train_set = cifar10_split("train", subset, seed=seed, data_root=data_root)
    test_set = cifar10_split("test", test_subset, seed=seed, data_root=data_root)
    meta: dict[str, Any] = run_metadata(
        device,
        experiment=name,
        description=experiment.description,
        data_variant=train_set.variant,
        train_images=len(train_set),
        test_images=len(test_set),
        epochs=epochs,
        paper_epochs=experiment.paper_epochs,
        scale="full" if subset is None and epochs >= experiment.paper_epochs else "reduced",
        batch_size=batch_size,
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        weight_decay=1e-4,
        schedule=schedule,
        warmup_epochs=warmup_epochs,
        precision=precision_name(amp, device),
        seed=seed,
    )
    runs: dict[str, Any] = {}
    start = time.perf_counter()
    for model_name in experiment.models:
        _, history = train_network(model_name, train_set, test_set, batch_size=batch_size, seed=seed, device=device,
                                   progress=progress, epochs=epochs, lr=0.1, momentum=0.9, weight_decay=1e-4,
                                   schedule=schedule, warmup_epochs=warmup_epochs, amp=amp,
                                   channels_last=channels_last)
        runs[model_name] = history.to_dict()
        print(f"{model_name}: final training accuracy {history.train_acc[-1]:.2%}, "
              f"test accuracy {history.val_acc[-1]:.2%}, {history.wall_time:.0f} s", flush=True)
    meta["wall_time_s"] = round(time.perf_counter() - start, 1)
    if out is not None:  # a file of the caller's choosing, written whole or not at all
        text = json.dumps({"meta": meta, "runs": runs}, indent=1) + "\n"
        atomic_write(Path(out), lambda file: file.write(text.encode()))
        return Path(out)
    return write_result(name, {"meta": meta, "runs": runs})


def train_network(
    arch: str,
    train_set: ImageSet,
    test_set: ImageSet,
    *,
    batch_size: int,
    drop_last: bool = False,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = False,
    **fit_kwargs: Any,
) -> tuple[torch.nn.Module, History]:
    """One reference network: ``create_model(arch)`` seeded with ``seed``, trained by :func:`fit` on
    tensor-resident loaders (augmented training batches, the whole test split after every epoch)."""
    device = resolve_device(device)
    torch.manual_seed(seed)
    model = create_model(arch)
    train_loader = TensorLoader(train_set, batch_size=batch_size, drop_last=drop_last, device=device, seed=seed)
    test_loader = TensorLoader(test_set, batch_size=500, shuffle=False, augment=False, device=device)
    history = fit(model, train_loader, test_loader, seed=seed, device=device, progress=progress, **fit_kwargs)
    return model, history


def cifar10_split(split: str, images: int | None = None, *, seed: int = 0,
                  data_root: str | Path | None = None) -> ImageSet:
    """One CIFAR-10 split, or its class-balanced seeded subset of ``images`` when that is smaller."""
    data = load_cifar10(split, data_root)
    return data.subset(images, seed=seed) if images is not None and images < len(data) else data
