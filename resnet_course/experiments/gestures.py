"""The hand-gesture transfer experiment behind chapter 6: learning curves on a session-disjoint split.

    resnet-course experiment gestures                      # the reference run (results/gestures.json)
    resnet-course experiment gestures --sources resnet20 resnet56   # a second source network, once its weights exist

What it does, in order:

1. **Splits.** The HandsDataset's two files are pooled and split again by recording session
   (:func:`resnet_course.data.split_by_session`, 25 % of every class in test, the class
   balance printed), so that no session has frames on both sides. The training sessions
   are split once more, by session, into a *fitting* part and a *validation* part, on which
   the learning rates are chosen. The dataset's own split, which shares sessions between
   train and test, is kept for the leakage comparison (step 4).
2. **Learning rates.** For every source network and strategy, each learning rate of
   :data:`~resnet_course.lessons.transfer.LR_GRIDS` is trained on ``tune_per_class``
   images per class of the fitting part and scored on the validation part
   (:func:`~resnet_course.lessons.transfer.tune_lr`, which extends the grid past an end
   that comes out best); the best is used at every size. The test sessions are not looked at.
3. **Learning curves.** For every seed, size (images per class; ``None`` = all) and
   strategy, one :func:`~resnet_course.lessons.transfer.run_point`: the same per-class
   subset, batches and augmentations for every strategy of a seed, the same number of
   steps for every strategy at a size, one test at the end on the test sessions.
4. **Leakage.** The three strategies of the first source once more on all training images,
   trained on the dataset's own training file and tested on its own test file, with the
   same seeds and settings: next to the session split's "all" points, this shows how much
   the shared sessions inflate the score.
5. **ImageNet.** When torchvision's ImageNet weights for ``imagenet`` (ResNet-18) are in the
   local torch cache, the course's ``resnet18`` holding them is fine-tuned and used as a
   frozen feature extractor at every size as well (input resized to ``imagenet_size``).
   Otherwise the result says in one sentence that this was skipped and why.

Everything is written to ``results/gestures.json`` with its metadata.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from resnet_course.data.hands import load_hands
from resnet_course.data.imageset import ImageSet
from resnet_course.data.splits import SessionSplit, group_by_session, shared_sessions, split_by_session
from resnet_course.experiments.provenance import run_metadata
from resnet_course.experiments.results import write_result
from resnet_course.lessons.transfer import (
    LR_GRIDS,
    MAX_STEPS,
    MIN_STEPS,
    STEP_PASSES,
    STRATEGIES,
    imagenet_status,
    run_point,
    source_weights,
    transfer_config,
    tune_lr,
)
from resnet_course.nn.weights import get_weights
from resnet_course.training.runtime import precision_name, resolve_device

__all__ = ["NAME", "SIZES", "run_gestures", "size_label", "strategies_for"]


NAME = "gestures"
#: Training images per class of the learning curves; ``None`` is every training image.
SIZES: tuple[int | None, ...] = (5, 10, 20, 50, None)


def size_label(per_class: int | None) -> str:
    """``"5"`` … ``"50"``, or ``"all"``: how a size is written in the result file."""
    return "all" if per_class is None else str(per_class)


def strategies_for(arch: str) -> tuple[str, ...]:
    """The strategies run for a source network: all three for a CIFAR one; for an ImageNet
    ResNet the two that use its weights (its scratch baseline at 112 pixels would cost
    more than the rest of the experiment together on a CPU)."""
    return STRATEGIES if source_weights(arch) == "cifar10" else ("finetune", "features")


def _split_record(split: SessionSplit, fit_split: SessionSplit, own_train: ImageSet, own_test: ImageSet) -> dict:
    assert own_train.sources is not None and own_test.sources is not None
    sessions = group_by_session([*own_train.sources, *own_test.sources])
    return {
        "rule": "whole recording sessions (file-name prefix before pic<N>.jpg) assigned to train or test, the "
                "assignment closest to the test share in every class (resnet_course.data.session_split)",
        "test_fraction": split.test_fraction,
        "sessions": len(sessions),
        "train_sessions": split.train_sessions, "test_sessions": split.test_sessions,
        "train_counts": split.train_counts, "test_counts": split.test_counts,
        "fit_sessions": fit_split.train_sessions, "validation_sessions": fit_split.test_sessions,
        "fit_counts": fit_split.train_counts, "validation_counts": fit_split.test_counts,
        "own_split": {"train_images": len(own_train), "test_images": len(own_test),
                      "train_counts": own_train.class_counts(), "test_counts": own_test.class_counts(),
                      "shared_sessions": shared_sessions(own_train.sources, own_test.sources)},
    }


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, flush=True)


def _point_line(done: int, total: int, record: dict[str, Any], where: str) -> str:
    size = "all" if record["per_class"] is None else f"{record['per_class']}/class"
    flag = " (diverged)" if record["diverged"] else ""
    return (f"[{done}/{total}] {where}{record['arch']} {record['strategy']} {size} seed {record['seed']}: "
            f"test {record['test_accuracy']:.1%}, train {record['train_accuracy']:.1%}{flag} "
            f"({record['steps']} steps, lr {record['lr']:g}, {record['wall_time_s']:.0f} s)")


def run_gestures(
    *,
    sizes: Sequence[int | None] = SIZES,
    seeds: int = 3,
    seed: int = 0,
    steps: int | None = None,
    batch_size: int = 32,
    image_size: int = 32,
    sources: Sequence[str] = ("resnet20",),
    tune_per_class: int | None = 20,
    tune_seeds: int = 2,
    test_fraction: float = 0.25,
    leakage: bool = True,
    imagenet: str | None = "resnet18",
    imagenet_size: int = 112,
    amp: str | bool | None = "bf16",
    device: torch.device | str | None = None,
    data_root: str | Path | None = None,
    results_dir: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Run the experiment (see the module docstring) and write ``results/gestures.json``; return its path.

    ``seeds`` seeds per point, numbered from ``seed``; ``steps`` gives every run that many
    steps (default: :func:`~resnet_course.lessons.transfer.steps_for` the subset's size, the
    same for every strategy); ``sources`` the CIFAR networks to transfer from (each needs
    ``create_model(arch, weights="cifar10")``); ``imagenet`` the ImageNet ResNet tried when
    its weights are cached (``None``: not tried).
    """
    for arch in sources:  # a source without stored CIFAR-10 weights fails here, before any work
        get_weights(arch, "cifar10")
    device = resolve_device(device)
    start = time.perf_counter()
    meta: dict[str, Any] = run_metadata(device, experiment=NAME)  # the commit and date of the code as it starts
    own_train = load_hands("train", data_root, size=image_size)
    own_test = load_hands("test", data_root, size=image_size)
    pool = ImageSet.concatenate([own_train, own_test], "all")
    _say(progress, "The session split (train/test):")
    train, test, split = split_by_session(pool, test_fraction=test_fraction, verbose=progress)
    _say(progress, "The training sessions split again (fitting/validation, for the learning rates):")
    fit_part, val_part, fit_split = split_by_session(train, test_fraction=test_fraction, verbose=progress)
    if imagenet is not None:
        imagenet_available, imagenet_reason = imagenet_status(imagenet)
    else:
        imagenet_available, imagenet_reason = False, "ImageNet route not asked for (imagenet=None)."
    _say(progress, imagenet_reason)
    archs = [*sources, *([imagenet] if imagenet_available else [])]
    seed_list = list(range(seed, seed + seeds))
    settings = {"batch_size": batch_size, "amp": amp, "device": device, "input_size": imagenet_size}
    if steps is not None:
        settings["steps"] = steps

    tuning = _tune_learning_rates(archs, fit_part, val_part, per_class=tune_per_class,
                                  seeds=list(range(seed, seed + tune_seeds)), settings=settings, progress=progress)
    jobs = [(arch, strategy, s, size) for s in seed_list for size in sizes for arch in archs
            for strategy in strategies_for(arch)]
    leak_jobs = [(sources[0], strategy, s, None) for s in seed_list for strategy in strategies_for(sources[0])]
    leak_jobs = leak_jobs if leakage else []
    counter = _Counter(len(jobs) + len(leak_jobs), progress)
    points = _run_points(jobs, train, test, tuning, settings, counter, "")
    leaky = _run_points(leak_jobs, own_train, own_test, tuning, settings, counter, "dataset's own split: ")

    meta.update(_settings_meta(
        train=train, test=test, val_part=val_part, fit_part=fit_part, sources=sources, sizes=sizes,
        seed_list=seed_list, seed=seed, steps=steps, points=points, batch_size=batch_size, amp=amp, device=device,
        archs=archs, tuning=tuning, tune_per_class=tune_per_class, tune_seeds=tune_seeds, image_size=image_size,
        imagenet=imagenet, imagenet_available=imagenet_available, imagenet_reason=imagenet_reason,
        imagenet_size=imagenet_size))
    meta["wall_time_s"] = round(time.perf_counter() - start, 1)
    result = {"meta": meta, "split": _split_record(split, fit_split, own_train, own_test),
              "tuning": tuning, "points": points, "leakage": {"own_split": leaky}}
    return write_result(NAME, result, results_dir)


def _tune_learning_rates(archs: Sequence[str], fit_part: ImageSet, val_part: ImageSet, *, per_class: int | None,
                         seeds: list[int], settings: dict[str, Any], progress: bool) -> dict[str, dict[str, Any]]:
    """Each strategy's learning rate for each source, chosen on the validation sessions (never the test ones)."""
    tuning: dict[str, dict[str, Any]] = {}
    for arch in archs:
        tuning[arch] = {}
        for strategy in strategies_for(arch):
            tuned = tune_lr(strategy, fit_part, val_part, per_class=per_class, seeds=seeds, arch=arch, **settings)
            tuning[arch][strategy] = tuned
            _say(progress, f"learning rate of {arch} {strategy}: {tuned['chosen']:g} (validation accuracy by lr: "
                           + ", ".join(f"{lr}: {sum(v) / len(v):.1%}" for lr, v in tuned["val_accuracy"].items())
                           + (f"; grid extended by {tuned['extended']}" if tuned["extended"] else "") + ")")
    return tuning


class _Counter:
    """Counts the experiment's finished runs for its progress lines."""

    def __init__(self, total: int, progress: bool) -> None:
        self.total, self.done, self.progress = total, 0, progress

    def finished(self, record: dict[str, Any], prefix: str) -> None:
        self.done += 1
        _say(self.progress, _point_line(self.done, self.total, record, prefix))


def _run_points(jobs: Sequence[tuple[str, str, int, int | None]], train: ImageSet, test: ImageSet,
                tuning: dict[str, dict[str, Any]], settings: dict[str, Any], counter: _Counter,
                prefix: str) -> list[dict[str, Any]]:
    """One learning-curve point per ``(source, strategy, seed, images per class)``, each with its tuned lr."""
    records = []
    for arch, strategy, seed, per_class in jobs:
        _, record = run_point(strategy, train, test, per_class=per_class, seed=seed,
                              lr=tuning[arch][strategy]["chosen"], arch=arch, **settings)
        records.append(record)
        counter.finished(record, prefix)
    return records


def _settings_meta(*, train: ImageSet, test: ImageSet, val_part: ImageSet, fit_part: ImageSet,
                   sources: Sequence[str], sizes: Sequence[int | None], seed_list: list[int], seed: int,
                   steps: int | None, points: list[dict[str, Any]], batch_size: int, amp: str | bool | None,
                   device: torch.device, archs: Sequence[str], tuning: dict[str, dict[str, Any]],
                   tune_per_class: int | None, tune_seeds: int, image_size: int, imagenet: str | None,
                   imagenet_available: bool, imagenet_reason: str, imagenet_size: int) -> dict[str, Any]:
    """The result's metadata beyond provenance: the split's sizes, the sizes and seeds, the step budget, the
    recipe, the learning rates and the ImageNet route's status."""
    example = transfer_config(0.1, batch_size=batch_size, seed=seed, amp=amp)
    return dict(
        description="HandsDataset crops, session-disjoint split: learning curves (test accuracy against training "
                    "images per class) of training from scratch, fine-tuning the course's CIFAR-10 network and "
                    "frozen CIFAR-10 features under a new head; learning rates chosen on validation sessions",
        data_variant=train.variant, image_size=image_size, classes=list(train.classes),
        train_images=len(train), test_images=len(test), validation_images=len(val_part), fit_images=len(fit_part),
        sources=list(sources), sizes=[size_label(s) for s in sizes], seeds=seed_list, seed=seed,
        steps="fixed: " + str(steps) if steps is not None else
              f"steps_for(training images, batch size): {STEP_PASSES:g} passes, at least {MIN_STEPS} and at most "
              f"{MAX_STEPS} steps; the same for every strategy at a size",
        steps_by_size={size_label(p["per_class"]): p["steps"] for p in points},
        batch_size=batch_size, optimizer="sgd (Nesterov momentum 0.9)", schedule=example.schedule,
        warmup_epochs=example.warmup_epochs, weight_decay=example.weight_decay,
        train_config={k: v for k, v in asdict(example).items() if k not in ("lr", "seed")},
        lr_grids={arch: {s: list(LR_GRIDS[s]) for s in strategies_for(arch)} for arch in archs},
        learning_rates={arch: {s: t["chosen"] for s, t in by.items()} for arch, by in tuning.items()},
        tune_per_class=tune_per_class, tune_seeds=list(range(seed, seed + tune_seeds)),
        normalisation="CIFAR-10 mean and std for every strategy (ImageNet networks re-normalise inside)",
        augmentation="random crop (pad 4) and horizontal flip", precision=precision_name(amp, device),
        imagenet={"model": imagenet, "ran": imagenet_available, "status": imagenet_reason,
                  "input_size": imagenet_size},
    )
