"""The lesion experiment behind chapter 7 (Veit et al. 2016 §4), on the zoo's networks.

    resnet-course experiment lesion                         # the finished ones of ResNet-20/56, plain-20/56
    resnet-course experiment lesion --only resnet20 plain20 # these, or a one-line error if one is missing
    resnet-course experiment lesion --extend                # add the networks lesion.json lacks, keep the rest

By default the study reads whichever of :data:`NETWORKS` the zoo has finished and skips the
others with a one-line note (the result's ``meta`` lists both); networks named with
``--only`` must all exist. Each network is loaded with its pinned weights (``create_model(name, weights="cifar10")``),
then :func:`~resnet_course.lessons.lesion.lesion_study` deletes one block at a time and k
random blocks at a time. The result file names the zoo results the networks came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from resnet_course.data.loaders import TensorLoader
from resnet_course.experiments.results import load_result
from resnet_course.experiments.studies import run_study
from resnet_course.experiments.zoo import cifar10_split, finished_networks, load_zoo_network
from resnet_course.lessons.lesion import lesion_study
from resnet_course.training.runtime import precision_name, resolve_device

__all__ = ["NAME", "NETWORKS", "choose_networks", "run_lesion", "source_networks"]

NAME = "lesion"
NETWORKS: tuple[str, ...] = ("resnet20", "plain20", "resnet56", "plain56")


def source_networks(names: Sequence[str], results_dir: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Where each network came from: its zoo result's commit, date, epochs and test error (for the meta block)."""
    sources = {}
    for name in names:
        result = load_result(f"zoo/{name}", results_dir)
        sources[name] = {"result": f"results/zoo/{name}.json", "commit": result["meta"].get("commit"),
                         "date": result["meta"].get("date"), "epochs": result["meta"].get("epochs"),
                         "test_error": result["final"]["test_error"]}
    return sources


def choose_networks(requested: Sequence[str] | None, results_dir: str | Path | None = None,
                    candidates: Sequence[str] = NETWORKS) -> tuple[list[str], list[str]]:
    """The networks a chapter-7 study runs on, ``(use, skipped)``; prints one line per skipped network."""
    use, skipped = finished_networks(candidates, requested, results_dir)
    for name in skipped:
        print(f"{name}: no finished zoo network (results/zoo/{name}.json with weights); skipped", flush=True)
    return use, skipped


def run_lesion(
    *, networks: Sequence[str] | None = None, test_subset: int | None = None, samples: int = 3,
    amp: str | bool = "bf16",
    seed: int = 0, device: torch.device | str | None = None, data_root: str | Path | None = None,
    results_dir: str | Path | None = None, extend: bool = False,
) -> Path:
    """Run :func:`lesion_study` on the zoo's stored networks; write ``results/lesion.json`` after each one.

    ``networks``: these (all must be finished), or by default the finished ones of :data:`NETWORKS`.
    ``extend``: keep the networks an existing file with the same settings holds, measure the rest
    (:mod:`resnet_course.experiments.studies`).
    """
    networks, skipped = choose_networks(networks, results_dir)
    device = resolve_device(device)
    test_set = cifar10_split("test", test_subset, seed=seed, data_root=data_root)
    settings = {"data_variant": test_set.variant, "test_images": len(test_set), "samples": samples, "seed": seed,
                "precision": precision_name(amp, device)}
    loader = TensorLoader(test_set, batch_size=500, shuffle=False, augment=False, device=device)

    def measure(name: str) -> dict[str, Any]:
        model = load_zoo_network(name, results_dir).to(device)
        return lesion_study(model, loader, samples=samples, seed=seed, amp=amp)

    def summary(name: str, run: dict[str, Any]) -> str:
        return f"{name}: intact {run['baseline']:.2%}, worst single deletion {min(run['single'].values()):.2%}"

    return run_study(NAME, "Veit et al. 2016 §4: delete one block, then k random blocks, of trained ResNets and "
                           "of their plain twins", settings, networks, skipped, measure, summary,
                     sources=source_networks(networks, results_dir), order=NETWORKS, device=device,
                     results_dir=results_dir, extend=extend)
