"""The loss-landscape experiment behind chapter 7 (Li et al. 2018), on the zoo's networks.

    resnet-course experiment landscape                      # the finished ones of ResNet-20/56, plain-20/56
    resnet-course experiment landscape --points 15 --subset 500 --only resnet20 plain20

For each network (loaded with its pinned weights), a 1-D and a 2-D slice of the training
loss along filter-normalised random directions around the trained weights
(:mod:`resnet_course.lessons.landscape`), measured on a fixed subset of training images.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import torch

from resnet_course.data.loaders import TensorLoader
from resnet_course.experiments.lesion import choose_networks, source_networks
from resnet_course.experiments.provenance import run_metadata
from resnet_course.experiments.results import write_result
from resnet_course.experiments.zoo import cifar10_split, load_zoo_network
from resnet_course.lessons.landscape import grid, slice_1d, slice_2d
from resnet_course.training.runtime import precision_name, resolve_device

__all__ = ["NAME", "NETWORKS", "run_landscape"]

NAME = "landscape"
NETWORKS: tuple[str, ...] = ("resnet20", "plain20", "resnet56", "plain56")


def run_landscape(
    *, networks: Sequence[str] | None = None, points_1d: int = 41, points_2d: int = 21, images: int = 1_000,
    amp: str | bool = "bf16", seed: int = 0, device: torch.device | str | None = None,
    data_root: str | Path | None = None, results_dir: str | Path | None = None,
) -> Path:
    """1-D and 2-D slices of the zoo's stored networks on ``images`` training images; writes ``landscape.json``.

    ``networks``: these (all must be finished), or by default the finished ones of :data:`NETWORKS`.
    """
    networks, skipped = choose_networks(networks, results_dir, NETWORKS)
    device = resolve_device(device)
    train_set = cifar10_split("train", images, seed=seed, data_root=data_root)
    meta = run_metadata(device, experiment=NAME,
                        description="Li et al. 2018: loss along filter-normalised random directions around the "
                                    "trained weights of ResNets and of their plain twins (BN in eval mode)",
                        data_variant=train_set.variant, train_images=len(train_set), points_1d=points_1d,
                        points_2d=points_2d, extent=1.0, seed=seed, precision=precision_name(amp, device),
                        networks=source_networks(networks, results_dir), skipped=skipped)
    loader = TensorLoader(train_set, batch_size=500, shuffle=False, augment=False, device=device)
    start = time.perf_counter()
    runs = {}
    for name in networks:
        model = load_zoo_network(name, results_dir).to(device)
        runs[name] = {"1d": slice_1d(model, loader, grid(points_1d), seed=seed, amp=amp),
                      "2d": slice_2d(model, loader, grid(points_2d), seed=seed, amp=amp)}
        centre = runs[name]["1d"]["loss"][points_1d // 2]
        print(f"{name}: loss at the trained weights {centre:.3f}, at the 1-D ends "
              f"{runs[name]['1d']['loss'][0]:.2f} / {runs[name]['1d']['loss'][-1]:.2f}", flush=True)
    meta["wall_time_s"] = round(time.perf_counter() - start, 1)
    return write_result(NAME, {"meta": meta, "runs": runs}, results_dir)
