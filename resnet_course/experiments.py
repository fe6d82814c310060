"""The reference runs behind the book's figures, each writing ``results/<name>.json``.

Every result file holds ``meta`` (how it was produced: device, data variant, subset
sizes, epochs, schedule, seed, wall time, commit, date — see :mod:`resnet_course.provenance`)
and the per-model training histories. The notebooks read these files and print their
metadata under every reference figure.

    resnet-course experiment degradation --epochs 182          # full scale (a GPU)
    resnet-course experiment degradation --epochs 8 --subset 10000 --warmup-epochs 1   # what fits on a CPU
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from resnet_course.data import TensorLoader, load_cifar10
from resnet_course.models import create_model
from resnet_course.provenance import run_metadata
from resnet_course.train import fit

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


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
    seed: int = 0,
    device: torch.device | str | None = None,
    data_root: str | Path | None = None,
    out: str | Path | None = None,
    progress: bool = False,
) -> Path:
    """Train every model of experiment ``name`` with the paper's SGD recipe; write and return the JSON path.

    ``warmup_epochs`` ramps the learning rate linearly up to 0.1 first. He et al. 2015, §4.2
    needed a warm-up (0.01 for about 400 iterations) for ResNet-110, whose first steps at 0.1
    diverge; in a short reduced run the same happens to ResNet-56 (its loss explodes in the
    first few steps at 0.1 and it never leaves chance level), so reduced runs warm up every
    network the same way.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}: choose one of {', '.join(EXPERIMENTS)}")
    experiment = EXPERIMENTS[name]
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    train_set, test_set = load_cifar10("train", data_root), load_cifar10("test", data_root)
    if subset is not None and subset < len(train_set):
        train_set = train_set.subset(subset, seed=seed)
    if test_subset is not None and test_subset < len(test_set):
        test_set = test_set.subset(test_subset, seed=seed)
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
        seed=seed,
    )
    runs: dict[str, Any] = {}
    start = time.perf_counter()
    for model_name in experiment.models:
        torch.manual_seed(seed)
        model = create_model(model_name)
        train_loader = TensorLoader(train_set, batch_size=batch_size, device=device, seed=seed)
        test_loader = TensorLoader(test_set, batch_size=500, shuffle=False, augment=False, device=device)
        history = fit(model, train_loader, test_loader, epochs=epochs, lr=0.1, momentum=0.9, weight_decay=1e-4,
                      schedule=schedule, warmup_epochs=warmup_epochs, seed=seed, device=device,
                      progress=progress)
        runs[model_name] = history.to_dict()
        print(f"{model_name}: final training accuracy {history.train_acc[-1]:.2%}, "
              f"test accuracy {history.val_acc[-1]:.2%}, {history.wall_time:.0f} s", flush=True)
    meta["wall_time_s"] = round(time.perf_counter() - start, 1)
    path = Path(out) if out is not None else RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps({"meta": meta, "runs": runs}, indent=1) + "\n")
    temporary.replace(path)
    return path


def load_result(name: str, results_dir: str | Path | None = None) -> dict[str, Any]:
    """Read ``results/<name>.json``; a missing file says which command produces it."""
    path = Path(results_dir or RESULTS_DIR) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no reference result {path}; produce it with 'resnet-course experiment {name}'")
    return json.loads(path.read_text())


PROVENANCE_KEYS = ("device", "data_variant", "train_images", "test_images", "epochs", "schedule", "warmup_epochs",
                   "scale", "wall_time_s", "commit", "date")


def describe_meta(meta: dict[str, Any], keys: Sequence[str] = PROVENANCE_KEYS) -> str:
    """One line of provenance to print under a reference figure."""
    return "Reference run: " + "; ".join(f"{key}={meta[key]}" for key in keys if key in meta)
