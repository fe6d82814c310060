"""The loss-landscape experiment behind chapter 7 (Li et al. 2018), on the zoo's networks.

    resnet-course experiment landscape                      # the finished ones of ResNet-20/56, plain-20/56
    resnet-course experiment landscape --points 15 --subset 500 --only resnet20 plain20
    resnet-course experiment landscape --points 17 --extend  # add the networks landscape.json lacks

For each network (loaded with its pinned weights), a 1-D and a 2-D slice of the training
loss along filter-normalised random directions around the trained weights
(:mod:`resnet_course.lessons.landscape`), measured on a fixed subset of training images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from resnet_course.data.loaders import TensorLoader
from resnet_course.experiments.lesion import choose_networks, source_networks
from resnet_course.experiments.studies import run_study
from resnet_course.experiments.zoo import cifar10_split, load_zoo_network
from resnet_course.lessons.landscape import grid, slice_1d, slice_2d
from resnet_course.training.runtime import precision_name, resolve_device

__all__ = ["NAME", "NETWORKS", "run_landscape"]

NAME = "landscape"
NETWORKS: tuple[str, ...] = ("resnet20", "plain20", "resnet56", "plain56")


def run_landscape(
    *, networks: Sequence[str] | None = None, points_1d: int = 41, points_2d: int = 21, images: int = 1_000,
    amp: str | bool = "bf16", seed: int = 0, device: torch.device | str | None = None,
    data_root: str | Path | None = None, results_dir: str | Path | None = None, extend: bool = False,
) -> Path:
    """1-D and 2-D slices of the zoo's stored networks on ``images`` training images; writes ``landscape.json``
    after each network.

    ``networks``: these (all must be finished), or by default the finished ones of :data:`NETWORKS`.
    ``extend``: keep the networks an existing file with the same settings holds, measure the rest
    (:mod:`resnet_course.experiments.studies`).
    """
    networks, skipped = choose_networks(networks, results_dir, NETWORKS)
    device = resolve_device(device)
    train_set = cifar10_split("train", images, seed=seed, data_root=data_root)
    settings = {"data_variant": train_set.variant, "train_images": len(train_set), "points_1d": points_1d,
                "points_2d": points_2d, "extent": 1.0, "seed": seed, "precision": precision_name(amp, device)}
    loader = TensorLoader(train_set, batch_size=500, shuffle=False, augment=False, device=device)

    def measure(name: str) -> dict[str, Any]:
        model = load_zoo_network(name, results_dir).to(device)
        return {"1d": slice_1d(model, loader, grid(points_1d), seed=seed, amp=amp),
                "2d": slice_2d(model, loader, grid(points_2d), seed=seed, amp=amp)}

    def summary(name: str, run: dict[str, Any]) -> str:
        loss = run["1d"]["loss"]
        return (f"{name}: loss at the trained weights {loss[points_1d // 2]:.3f}, at the 1-D ends "
                f"{loss[0]:.2f} / {loss[-1]:.2f}")

    return run_study(NAME, "Li et al. 2018: loss along filter-normalised random directions around the trained "
                           "weights of ResNets and of their plain twins (BN in eval mode)", settings, networks,
                     skipped, measure, summary, sources=source_networks(networks, results_dir), order=NETWORKS,
                     device=device, results_dir=results_dir, extend=extend)
