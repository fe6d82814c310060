"""The zoo: the course's reference CIFAR-10 networks, plain and residual, trained with one recipe.

He et al. 2015 §4.2 and Fig. 6 compare plain nets and ResNets of 20, 32, 44, 56 and 110
layers trained the same way. The zoo trains that family on all 50,000 training images and
tests every epoch on all 10,000 test images, every network with the same recipe
(:data:`ZOO_RECIPE`), so that every chapter reads one set of networks: the degradation
figure (chapter 1), Table 6 (chapter 5), the transfer source (chapter 6), the lesion study
and the loss landscapes (chapter 7).

    resnet-course experiment zoo                      # every network, in ZOO order
    resnet-course experiment zoo --only resnet20 plain20

Each network is one unit of work. It checkpoints after every epoch into
``runs/zoo/<name>/`` (ignored by git), so a stopped run continues exactly with the same
command; when it finishes, ``results/zoo/<name>.json`` (history, final numbers, metadata)
and, for the networks the chapters load (:data:`WEIGHTS_STORED`), ``results/zoo/<name>.pt``
(float32 weights) are written at once, and later calls skip it.
"""

from __future__ import annotations

import difflib
import json
import time
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from resnet_course.data.cifar10 import load_cifar10
from resnet_course.data.imageset import ImageSet
from resnet_course.data.loaders import TensorLoader
from resnet_course.data.safety import ChecksumError, sha256_file
from resnet_course.experiments.provenance import run_metadata
from resnet_course.experiments.results import load_result, result_path, write_result
from resnet_course.nn.registry import create_model, family_and_depth
from resnet_course.nn.weights import Weights, load_weights
from resnet_course.training.checkpoint import atomic_write, holds_checkpoint
from resnet_course.training.config import TrainConfig
from resnet_course.training.evaluation import evaluate
from resnet_course.training.loop import fit
from resnet_course.training.recipes import get_recipe, recipe_record
from resnet_course.training.runtime import precision_name, resolve_device

__all__ = [
    "cifar10_split", "epochs_to_accuracy", "final_scores", "finished_networks", "load_zoo", "load_zoo_network",
    "median_epoch_seconds", "minutes_to_accuracy", "PAPER_TABLE6", "run_zoo", "train_zoo_network", "WEIGHTS_STORED",
    "ZOO", "ZOO_BY_DEPTH", "ZOO_RECIPE", "ZooSettingsError",
]

# Training order: the four networks of Fig. 1/Fig. 6's headline first, then the rest of Fig. 6 and Table 6.
ZOO: tuple[str, ...] = (
    "resnet20", "plain20", "resnet56", "plain56",
    "resnet32", "resnet44", "resnet110", "plain32", "plain44",
)


def _depth_then_resnet_first(name: str) -> tuple[int, bool]:
    """The reading order's key: by depth, each ResNet before its plain twin."""
    family, depth = family_and_depth(name) or ("", 0)
    return depth, family != "resnet"


# Reading order (tables, figures, the README).
ZOO_BY_DEPTH: tuple[str, ...] = tuple(sorted(ZOO, key=_depth_then_resnet_first))

# The networks whose weights the chapters load (lesion, landscape, transfer, inspection).
WEIGHTS_STORED: frozenset[str] = frozenset({"resnet20", "plain20", "resnet56", "plain56"})

ZOO_RECIPE: TrainConfig = get_recipe("zoo")
EVAL_BATCH = 500

# He et al. 2015, Table 6: CIFAR-10 test error (%) and parameters (millions). ResNet-110's
# 6.43 is the best of 5 runs (mean 6.61 ± 0.16). The paper trains on the official files
# (45k/5k train/val split, 64k iterations at batch 128, about 182 epochs).
PAPER_TABLE6: dict[str, dict[str, float]] = {
    "resnet20": {"error": 8.75, "params_m": 0.27},
    "resnet32": {"error": 7.51, "params_m": 0.46},
    "resnet44": {"error": 7.17, "params_m": 0.66},
    "resnet56": {"error": 6.97, "params_m": 0.85},
    "resnet110": {"error": 6.43, "params_m": 1.7},
    "resnet1202": {"error": 7.93, "params_m": 19.4},
}


class ZooSettingsError(ValueError):
    """A finished result or an epoch checkpoint was made with other settings than this call's."""


def cifar10_split(split: str, images: int | None = None, *, seed: int = 0,
                  data_root: str | Path | None = None) -> ImageSet:
    """One CIFAR-10 split, or its class-balanced seeded subset of ``images`` when that is smaller."""
    data = load_cifar10(split, data_root)
    return data.subset(images, seed=seed) if images is not None and images < len(data) else data


def _settings(recipe: TrainConfig, train_images: int, test_images: int, seed: int) -> dict[str, Any]:
    """What makes two zoo runs the same run: the recipe, the data sizes and the seed."""
    return json.loads(json.dumps({"recipe": recipe_record("zoo", recipe), "train_images": train_images,
                                  "test_images": test_images, "seed": seed}))


def final_scores(model: nn.Module, train_set: ImageSet, test_set: ImageSet, device: torch.device,
                 amp: str | bool | None) -> dict[str, float]:
    """The end-of-training numbers: test loss/error (single view and with flip TTA) and the
    error on the un-augmented training images in eval mode (what Fig. 6's thin curves plot)."""
    test = TensorLoader(test_set, batch_size=EVAL_BATCH, shuffle=False, augment=False, device=device)
    train = TensorLoader(train_set, batch_size=EVAL_BATCH, shuffle=False, augment=False, device=device)
    single = evaluate(model, test, device=device, amp=amp)
    flipped = evaluate(model, test, device=device, amp=amp, tta_flip=True)
    train_eval = evaluate(model, train, device=device, amp=amp)
    return {
        "test_loss": single["loss"], "test_error": 1 - single["accuracy"],
        "test_error_flip_tta": 1 - flipped["accuracy"],
        "train_loss_eval": train_eval["loss"], "train_error_eval": 1 - train_eval["accuracy"],
    }


def _float32_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: (value.detach().float() if value.is_floating_point() else value.detach()).contiguous().cpu()
            for key, value in model.state_dict().items()}


def _save_weights(model: nn.Module, path: Path) -> dict[str, str]:
    state = _float32_state(model)
    atomic_write(path, lambda file: torch.save(state, file))  # a stop or a full disk leaves the old file whole
    return {"file": path.name, "sha256": sha256_file(path)}


def _finished(name: str, settings: dict[str, Any], results_dir: str | Path | None) -> bool:
    """Whether ``name`` is finished with these settings; a result made otherwise is an error."""
    path = result_path(f"zoo/{name}", results_dir)
    if not path.is_file():
        return False
    if load_result(f"zoo/{name}", results_dir).get("settings") == settings:
        return True
    raise ZooSettingsError(f"{path} was made with other settings than this call's; move it away (or pass "
                           "another --results-dir) to train it again")


def train_zoo_network(
    name: str, train_set: ImageSet, test_set: ImageSet, *, recipe: TrainConfig = ZOO_RECIPE, seed: int = 0,
    device: torch.device | str | None = None, results_dir: str | Path | None = None,
    runs_dir: str | Path = "runs", progress: bool = True,
) -> Path:
    """Train (or resume, or skip) zoo network ``name``; return its result file's path."""
    device = resolve_device(device)
    settings = _settings(recipe, len(train_set), len(test_set), seed)
    if _finished(name, settings, results_dir):
        print(f"{name}: finished already ({result_path(f'zoo/{name}', results_dir)}); skipped", flush=True)
        return result_path(f"zoo/{name}", results_dir)
    checkpoint_dir = Path(runs_dir) / "zoo" / name
    torch.manual_seed(seed)
    model = create_model(name)
    train_loader = TensorLoader(train_set, batch_size=recipe.batch_size, drop_last=recipe.drop_last, device=device,
                                seed=seed)
    test_loader = TensorLoader(test_set, batch_size=EVAL_BATCH, shuffle=False, augment=False, device=device)
    resume = holds_checkpoint(checkpoint_dir)
    history = fit(model, train_loader, test_loader, recipe.replace(seed=seed), device=device, progress=progress,
                  checkpoint_dir=checkpoint_dir, resume=resume, meta={"zoo_settings": settings})
    if history.meta.get("zoo_settings") != settings:
        raise ZooSettingsError(f"{checkpoint_dir} holds a run with other settings; delete it to start {name} again")
    evaluated = time.perf_counter()
    scores = final_scores(model, train_set, test_set, device, recipe.amp)
    meta = run_metadata(device, experiment="zoo", network=name, data_variant=train_set.variant,
                        train_images=len(train_set), test_images=len(test_set), epochs=recipe.epochs,
                        recipe="zoo", precision=precision_name(recipe.amp, device), seed=seed,
                        parameters=history.meta.get("parameters"), wall_time_s=round(history.wall_time, 1),
                        final_eval_s=round(time.perf_counter() - evaluated, 1),
                        date_started=history.meta.get("date"), commit_started=history.meta.get("commit"))
    result: dict[str, Any] = {"meta": meta, "settings": settings, "final": scores,
                              "history": {k: v for k, v in history.to_dict().items() if k != "meta"}}
    if name in WEIGHTS_STORED:
        result["weights"] = _save_weights(model, result_path(f"zoo/{name}", results_dir, ".pt"))
    path = write_result(f"zoo/{name}", result, results_dir)
    print(f"{name}: test error {scores['test_error']:.2%} ({scores['test_error_flip_tta']:.2%} with flip TTA), "
          f"training error {scores['train_error_eval']:.2%}, {history.wall_time / 60:.1f} min -> {path}", flush=True)
    return path


def run_zoo(
    only: Sequence[str] | None = None, *, recipe: TrainConfig = ZOO_RECIPE, subset: int | None = None,
    test_subset: int | None = None, seed: int = 0, device: torch.device | str | None = None,
    data_root: str | Path | None = None, results_dir: str | Path | None = None, runs_dir: str | Path = "runs",
    progress: bool = True,
) -> list[Path]:
    """Train the zoo's networks (all, or ``only`` these) one after the other; return their result files."""
    names = list(only) if only else list(ZOO)
    unknown = [n for n in names if n not in ZOO]
    if unknown:
        close = [match for n in unknown for match in difflib.get_close_matches(n, list(ZOO), n=1)]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(f"not in the zoo: {', '.join(unknown)}{hint}; the zoo has {', '.join(ZOO)}")
    train_set = cifar10_split("train", subset, seed=seed, data_root=data_root)
    test_set = cifar10_split("test", test_subset, seed=seed, data_root=data_root)
    return [train_zoo_network(n, train_set, test_set, recipe=recipe, seed=seed, device=device,
                              results_dir=results_dir, runs_dir=runs_dir, progress=progress) for n in names]


def load_zoo_network(name: str, results_dir: str | Path | None = None) -> nn.Module:
    """A stored zoo network with its trained weights, in eval mode.

    By default the weights the book ships, checked against the SHA-256 pinned in the package
    (``create_model(name, weights="cifar10")``). With ``results_dir`` (your own zoo run), the
    weights beside that folder's result file, checked against the SHA-256 recorded in it.
    """
    if results_dir is None:
        return create_model(name, weights="cifar10").eval()
    record = load_result(f"zoo/{name}", results_dir).get("weights")
    if not record:
        raise FileNotFoundError(f"{result_path(f'zoo/{name}', results_dir)} stores no weights; the zoo keeps "
                                f"weights for {', '.join(sorted(WEIGHTS_STORED))}")
    path = result_path(f"zoo/{name}", results_dir, ".pt")
    actual = sha256_file(path) if path.is_file() else None
    if actual is not None and actual != str(record["sha256"]).lower():
        raise ChecksumError(f"{path} has SHA-256 {actual[:16]}…, but {path.with_suffix('.json').name} records "
                            f"{str(record['sha256'])[:16]}…: the file was damaged or replaced; restore it, or move "
                            f"both away and run 'resnet-course experiment zoo --only {name}' again")
    # read weights_only, and refused in one line if the tensors are another network's (was a RuntimeError)
    return load_weights(create_model(name), Weights(path.name, actual or ""), name=name, dirs=[path.parent]).eval()


def load_zoo(names: Sequence[str] = ZOO_BY_DEPTH, results_dir: str | Path | None = None, *,
             missing_ok: bool = False) -> dict[str, dict[str, Any]]:
    """The finished zoo networks' results by name, in the order of ``names`` (by default by depth, each ResNet
    before its plain twin; ``missing_ok``: leave out those not trained yet)."""
    found = {}
    for name in names:
        if missing_ok and not result_path(f"zoo/{name}", results_dir).is_file():
            continue
        found[name] = load_result(f"zoo/{name}", results_dir)
    return found


def finished_networks(candidates: Sequence[str], requested: Sequence[str] | None = None,
                      results_dir: str | Path | None = None) -> tuple[list[str], list[str]]:
    """The zoo networks a study can use, and those it skips: ``(use, skipped)``.

    Without ``requested``, every name of ``candidates`` whose zoo result is finished and
    stores weights is used, and the others are skipped (the study reads whatever exists).
    With ``requested`` (the user named them), all of them must be finished: one that is
    not raises a one-line ``FileNotFoundError`` saying how to train it. Either way, no
    network at all is an error too.
    """
    def ready(name: str) -> bool:
        path = result_path(f"zoo/{name}", results_dir)
        return path.is_file() and bool(load_result(f"zoo/{name}", results_dir).get("weights"))

    if requested:
        unknown = [n for n in requested if n not in ZOO]
        if unknown:
            raise ValueError(f"not in the zoo: {', '.join(unknown)}; the zoo has {', '.join(ZOO)}")
        missing = [n for n in requested if not ready(n)]
        if missing:
            raise FileNotFoundError(f"no finished zoo network with weights for {', '.join(missing)}: train it with "
                                    f"'resnet-course experiment zoo --only {' '.join(missing)}'")
        return list(requested), []
    use = [n for n in candidates if ready(n)]
    skipped = [n for n in candidates if n not in use]
    if not use:
        raise FileNotFoundError(f"none of {', '.join(candidates)} is a finished zoo network with weights: train them "
                                f"with 'resnet-course experiment zoo --only {' '.join(candidates)}'")
    return use, skipped


def epochs_to_accuracy(result: dict[str, Any], target: float) -> int | None:
    """The first epoch (counting from 1) after which the test accuracy reached ``target``; ``None`` if never."""
    for epoch, accuracy in enumerate(result["history"]["val_acc"], start=1):
        if accuracy >= target:
            return epoch
    return None


def median_epoch_seconds(result: dict[str, Any]) -> float:
    """Training seconds of a typical epoch (evaluation excluded): the median over the run's epochs.

    The median, because an epoch that shared the machine with other work runs slower and says
    nothing about the network; the per-epoch rates stay in the history for anyone to check.
    """
    images = result["meta"]["train_images"]
    seconds = sorted(images / rate for rate in result["history"]["images_per_sec"])
    middle = len(seconds) // 2
    return seconds[middle] if len(seconds) % 2 else (seconds[middle - 1] + seconds[middle]) / 2


def minutes_to_accuracy(result: dict[str, Any], target: float) -> float | None:
    """Minutes of training to ``target`` test accuracy at the run's median pace; ``None`` if never reached."""
    epochs = epochs_to_accuracy(result, target)
    return None if epochs is None else epochs * median_epoch_seconds(result) / 60
