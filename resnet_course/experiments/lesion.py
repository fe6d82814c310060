"""The lesion experiment behind chapter 7.
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
from resnet_course.lessons.lesion import lesion_study
from resnet_course.training.runtime import precision_name, resolve_device

__all__ = ["NAME", "run_lesion"]


NAME = "lesion"


def run_lesion(
    *,
    architectures: Sequence[str] = ("resnet20", "plain20"),
    test_subset: int | None = None,
    samples: int = 3,
    seed: int = 0,
    device: torch.device | str | None = None,
    data_root: str | Path | None = None,
    results_dir: str | Path | None = None,
) -> Path:
    """Run :func:`lesion_study` on the stored pre-trained networks; write ``results/lesion.json``."""
    from resnet_course.experiments.pretrained import NAME as PRETRAINED
    from resnet_course.experiments.pretrained import load_pretrained

    device = resolve_device(device)
    test_set = cifar10_split("test", test_subset, seed=seed, data_root=data_root)
    source = load_result(PRETRAINED, results_dir)["meta"]
    meta = run_metadata(device, experiment=NAME, description="Veit et al. 2016 §4: delete one block, then k random "
                                                             "blocks, of a trained ResNet and of its plain twin",
                        data_variant=test_set.variant, test_images=len(test_set), samples=samples, seed=seed,
                        precision=precision_name(False, device), networks=f"results/{PRETRAINED}.json",
                        networks_commit=source["commit"], networks_epochs=source["epochs"])
    loader = TensorLoader(test_set, batch_size=500, shuffle=False, augment=False, device=device)
    start = time.perf_counter()
    runs = {}
    for arch in architectures:
        model = load_pretrained(arch, results_dir).to(device)
        runs[arch] = lesion_study(model, loader, samples=samples, seed=seed)
        worst = min(runs[arch]["single"].values())
        print(f"{arch}: intact {runs[arch]['baseline']:.2%}, worst single deletion {worst:.2%}", flush=True)
    meta["wall_time_s"] = round(time.perf_counter() - start, 1)
    return write_result(NAME, {"meta": meta, "runs": runs}, results_dir)
