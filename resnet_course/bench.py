"""Training throughput: the usual CIFAR-10 script vs the package's tensor-resident ``fit``.

Both methods train the same network, from the same initial weights, on the same images
for the same number of steps, in one process; each is timed with the wall clock around
the whole run (data loading included, which is the point) after a few untimed warm-up
steps. The result is a table of images per second and the ratio to the baseline. This
is a benchmark, not a test: no number here is asserted anywhere.

The baseline is the loop of the typical blog post: a ``DataLoader`` over PIL images with
``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip``, ``ToTensor`` and ``Normalize``,
fp32, no compilation.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from resnet_course.data import ImageSet, TensorLoader, load_cifar10, torchvision_loader
from resnet_course.models import create_model
from resnet_course.provenance import run_metadata
from resnet_course.train import fit

WARMUP_STEPS = 3


@dataclass
class ThroughputRow:
    method: str
    steps: int
    images: int
    seconds: float
    images_per_sec: float
    ratio: float = 1.0


@dataclass
class ThroughputReport:
    model: str
    data_variant: str
    batch_size: int
    rows: list[ThroughputRow]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def usual_training_loop(model: nn.Module, data: ImageSet, *, batch_size: int, device: torch.device,
                        workers: int, lr: float = 0.1) -> int:
    """One epoch of the blog-post loop over ``data``; returns the number of steps taken."""
    loader = torchvision_loader(data, batch_size=batch_size, train=True, num_workers=workers)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    criterion = nn.CrossEntropyLoss()
    model.train()
    steps = 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()
        steps += 1
    return steps


def tensor_resident_fit(model: nn.Module, data: ImageSet, *, batch_size: int, device: torch.device,
                        workers: int = 0, lr: float = 0.1) -> int:
    """One epoch of :func:`resnet_course.train.fit` with the :class:`TensorLoader`; returns steps."""
    loader = TensorLoader(data, batch_size=batch_size, device=device, seed=0)
    fit(model, loader, None, epochs=1, lr=lr, schedule="constant", progress=False, device=device)
    return len(loader)


METHODS: dict[str, Callable[..., int]] = {
    "usual script (PIL transforms, DataLoader, fp32)": usual_training_loop,
    "fit + tensor-resident loader": tensor_resident_fit,
}


def _time(method: Callable[..., int], model: nn.Module, data: ImageSet, warmup: ImageSet, **kwargs) -> tuple[int, float]:
    device = kwargs["device"]
    method(model, warmup, **kwargs)  # untimed: allocator, thread pools, cuDNN heuristics
    _sync(device)
    start = time.perf_counter()
    steps = method(model, data, **kwargs)
    _sync(device)
    return steps, time.perf_counter() - start


def throughput_comparison(
    model_name: str = "resnet20",
    *,
    steps: int = 30,
    batch_size: int = 128,
    device: torch.device | str = "cpu",
    data_root: str | Path | None = None,
    workers: int = 2,
) -> ThroughputReport:
    """Images per second of each method in :data:`METHODS`, the first being the baseline."""
    device = torch.device(device)
    images = load_cifar10("train", data_root)
    timed = images.subset(steps * batch_size, seed=0)
    warmup = images.subset(WARMUP_STEPS * batch_size, seed=1)
    initial = create_model(model_name).to(device)
    rows: list[ThroughputRow] = []
    for name, method in METHODS.items():
        model = copy.deepcopy(initial)
        done, seconds = _time(method, model, timed, warmup, batch_size=batch_size, device=device, workers=workers)
        rows.append(ThroughputRow(name, done, done * batch_size, seconds, done * batch_size / seconds))
    for row in rows:
        row.ratio = row.images_per_sec / rows[0].images_per_sec
    return ThroughputReport(model_name, images.variant, batch_size, rows)


def format_table(report: ThroughputReport, meta: dict | None = None) -> str:
    meta = meta or run_metadata()
    rows = report.rows
    width = max(len(r.method) for r in rows)
    lines = [f"{report.model}, batch {report.batch_size}, {report.data_variant}",
             f"device: {meta['device']} | torch {meta['torch']} | commit {meta['commit']} | {meta['date']}",
             f"{'method'.ljust(width)}  steps  images/s  ratio", "-" * (width + 25)]
    lines += [f"{r.method.ljust(width)}  {r.steps:5d}  {r.images_per_sec:8.1f}  {r.ratio:5.2f}×" for r in rows]
    return "\n".join(lines)
