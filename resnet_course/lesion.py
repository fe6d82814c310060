"""Lesion study: delete blocks from a trained network and measure what is left of it.

Veit, Wilber and Belongie (2016), *Residual Networks Behave Like Ensembles of Relatively
Shallow Networks*, §4: deleting a single block from a trained ResNet (replacing it by its
identity shortcut) barely changes its test error, whereas deleting a layer from a plain
network such as VGG leaves it at chance (Fig. 3); deleting several blocks raises the error
smoothly (Fig. 5). Their reading: a residual network with n blocks is a collection of
2^n paths of different lengths (the "unraveled view", Eq. 5-6), and most of them do not
depend on any one block.

Only blocks whose input and output have the same shape can be deleted (stride 1, no
projection or zero-padding shortcut): for a residual block, deleting it leaves the identity
shortcut; for a plain block, the identity. The downsampling blocks stay.

    resnet-course experiment lesion           # on the stored networks of results/pretrained.json
"""

from __future__ import annotations

import contextlib
import random
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from resnet_course.analysis import residual_blocks
from resnet_course.data import TensorLoader, load_cifar10
from resnet_course.experiments import load_result, precision_name, write_result
from resnet_course.provenance import run_metadata
from resnet_course.train import evaluate

NAME = "lesion"


def deletable_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The blocks of ``model`` that map a tensor to one of the same shape (stride 1, no shortcut projection)."""
    found = []
    for name, block in residual_blocks(model):
        convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
        same_channels = convs[0].in_channels == convs[-1].out_channels
        if getattr(block, "stride", 1) == 1 and getattr(block, "downsample", None) is None and same_channels:
            found.append((name, block))
    return found


@contextlib.contextmanager
def blocks_deleted(model: nn.Module, names: Sequence[str]) -> Iterator[nn.Module]:
    """Inside the block, the named blocks of ``model`` are replaced by ``nn.Identity``; restored afterwards."""
    allowed = {name for name, _ in deletable_blocks(model)}
    refused = [name for name in names if name not in allowed]
    if refused:
        raise ValueError(f"cannot delete {', '.join(refused)}: only blocks that keep the shape can go "
                         f"({', '.join(sorted(allowed)) or 'none in this network'})")
    saved = []
    try:
        for name in names:
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            saved.append((parent, child, getattr(parent, child)))
            setattr(parent, child, nn.Identity())
        yield model
    finally:
        for parent, child, block in reversed(saved):
            setattr(parent, child, block)


def lesion_study(
    model: nn.Module,
    data: TensorLoader,
    *,
    samples: int = 3,
    seed: int = 0,
    amp: str | bool | None = False,
) -> dict[str, Any]:
    """Test accuracy of ``model`` intact, with each deletable block deleted, and with k random ones deleted.

    Returns ``{"baseline": acc, "blocks": [names], "single": {name: acc}, "multiple": {k: [acc, ...]}}``
    where ``multiple[k]`` holds ``samples`` accuracies, each with a different random set
    of k blocks deleted (Veit et al. 2016, Fig. 5), for k = 2 … all deletable blocks.
    """
    model.eval()

    def accuracy() -> float:
        return evaluate(model, data, amp=amp)["accuracy"]

    names = [name for name, _ in deletable_blocks(model)]
    result: dict[str, Any] = {"baseline": accuracy(), "blocks": names, "single": {}, "multiple": {}}
    for name in names:
        with blocks_deleted(model, [name]):
            result["single"][name] = accuracy()
    chooser = random.Random(seed)
    for k in range(2, len(names) + 1):
        draws = samples if k < len(names) else 1  # deleting all of them can be done one way only
        accuracies = []
        for _ in range(draws):
            with blocks_deleted(model, chooser.sample(names, k)):
                accuracies.append(accuracy())
        result["multiple"][str(k)] = accuracies
    return result


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
    from resnet_course.pretrained import NAME as PRETRAINED, load_pretrained

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    test_set = load_cifar10("test", data_root)
    if test_subset is not None and test_subset < len(test_set):
        test_set = test_set.subset(test_subset, seed=seed)
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
    out = Path(results_dir) / f"{NAME}.json" if results_dir is not None else None
    return write_result(NAME, {"meta": meta, "runs": runs}, out)
