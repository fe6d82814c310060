"""The loss-landscape experiment behind chapter 7.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import torch

from resnet_course.data.loaders import TensorLoader
from resnet_course.experiments.provenance import run_metadata
from resnet_course.experiments.reference import cifar10_split
from resnet_course.experiments.results import load_result, write_result
from resnet_course.lessons.landscape import grid, slice_1d, slice_2d
from resnet_course.training.runtime import precision_name, resolve_device

__all__ = ["NAME", "run_landscape"]


NAME = "landscape"


def run_landscape(
    *,
    architectures: Sequence[str] = ("resnet20", "plain20"),
    points_1d: int = 41,
    points_2d: int = 21,
    images: int = 1_000,
    amp: str | bool | None = False,
    seed: int = 0,
    device: torch.device | str | None = None,
    data_root: str | Path | None = None,
    results_dir: str | Path | None = None,
) -> Path:
    """1-D and 2-D slices of the stored pre-trained networks on ``images`` training images; writes ``results/landscape.json``."""
    from resnet_course.experiments.pretrained import NAME as PRETRAINED
    from resnet_course.experiments.pretrained import load_pretrained

    device = resolve_device(device)
    train_set = cifar10_split("train", images, seed=seed, data_root=data_root)
    source = load_result(PRETRAINED, results_dir)["meta"]
    meta = run_metadata(device, experiment=NAME,
                        description="Li et al. 2018: loss along filter-normalised random directions around the "
                                    "trained weights of a ResNet and of its plain twin (BN in eval mode)",
                        data_variant=train_set.variant, train_images=len(train_set), points_1d=points_1d,
                        points_2d=points_2d, extent=1.0, seed=seed, precision=precision_name(amp, device),
                        networks=f"results/{PRETRAINED}.json", networks_commit=source["commit"],
                        networks_epochs=source["epochs"])
    loader = TensorLoader(train_set, batch_size=500, shuffle=False, augment=False, device=device)
    start = time.perf_counter()
    runs = {}
    for arch in architectures:
        model = load_pretrained(arch, results_dir).to(device)
        runs[arch] = {"1d": slice_1d(model, loader, grid(points_1d), seed=seed, amp=amp),
                      "2d": slice_2d(model, loader, grid(points_2d), seed=seed, amp=amp)}
        centre = runs[arch]["1d"]["loss"][points_1d // 2]
        print(f"{arch}: loss at the trained weights {centre:.3f}, at the 1-D ends "
              f"{runs[arch]['1d']['loss'][0]:.2f} / {runs[arch]['1d']['loss'][-1]:.2f}", flush=True)
    meta["wall_time_s"] = round(time.perf_counter() - start, 1)
    return write_result(NAME, {"meta": meta, "runs": runs}, results_dir)
