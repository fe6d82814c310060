"""The course's own pre-trained CIFAR-10 networks, stored small in ``results/``.

Chapters 5-7 need trained networks: chapter 5 inspects one (confusion matrix, the most
confidently wrong test images), chapter 6 fine-tunes one on hand gestures, chapter 7
deletes its blocks (lesion study) and walks its loss landscape. Training them in every
notebook would take minutes on a GPU and hours on a CPU, so one reference run trains a
residual network and its plain twin (the same 20 layers without shortcuts, He et al. 2015
§4.2) with the ``fast`` recipe and stores both checkpoints (about 1 MB each) next to
``results/pretrained.json``, which records how they were made, their accuracy and the
SHA-256 of each file.

    resnet-course experiment pretrained --epochs 12       # what the stored files were made with: see their metadata

:func:`load_pretrained` verifies the checksum and loads the weights with
``torch.load(..., weights_only=True)`` (through :func:`resnet_course.train.load_checkpoint`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from resnet_course.data.imageset import ImageSet
from resnet_course.data.loaders import TensorLoader
from resnet_course.data.safety import ChecksumError, sha256_file
from resnet_course.experiments.provenance import run_metadata
from resnet_course.experiments.reference import cifar10_split, train_network
from resnet_course.experiments.results import load_result, write_result
from resnet_course.locations import results_dir as default_results_dir
from resnet_course.nn.registry import create_model
from resnet_course.training.checkpoint import load_checkpoint, save_checkpoint
from resnet_course.training.evaluation import evaluate
from resnet_course.training.recipes import get_recipe
from resnet_course.training.runtime import precision_name, resolve_device

__all__ = [
    "accuracy_on", "ARCHITECTURES", "CHECK_IMAGES", "CHECK_SEED", "check_subset", "checkpoint_file",
    "load_pretrained", "NAME", "PINNED_SHA256", "run_pretrained"
]


NAME = "pretrained"
ARCHITECTURES: tuple[str, ...] = ("resnet20", "plain20")
CHECK_IMAGES = 1_000  # the test images whose accuracy is stored for a quick check of a checkpoint
CHECK_SEED = 0
#: SHA-256 of the checkpoints the book ships (``results/cifar10_<arch>.pt``), pinned in the package as
#: :data:`resnet_course.nn.weights.WEIGHTS` pins the zoo's: ``pretrained.json`` beside them records the same
#: values, but a replaced file with a rewritten JSON must not pass (issue 13, item 7). Copy a new run's here.
PINNED_SHA256 = {
    "resnet20": "a38ccfc6798193d9f3a0bb5329a7c882961f486aeca3bcd3cd828f5ea525e3a7",
    "plain20": "34383fc083cd6aa3f9024967fbb84c74c2328f56e3b35399ccfa612a26d7a319",
}


def checkpoint_file(arch: str) -> str:
    """The file name of the stored checkpoint of ``arch``, e.g. ``cifar10_resnet20.pt``."""
    return f"cifar10_{arch}.pt"


def check_subset(test_set: ImageSet) -> ImageSet:
    """The class-balanced 1,000 test images whose accuracy the metadata stores (seed 0)."""
    return test_set.subset(min(CHECK_IMAGES, len(test_set)), seed=CHECK_SEED)


def accuracy_on(model: nn.Module, images: ImageSet, device: torch.device | str = "cpu") -> float:
    """Single-view float32 test accuracy (no flip TTA): the number a checkpoint check compares."""
    loader = TensorLoader(images, batch_size=500, shuffle=False, augment=False, device=device)
    return evaluate(model, loader, device=device, amp=False)["accuracy"]


def run_pretrained(
    *,
    epochs: int = 12,
    architectures: Sequence[str] = ARCHITECTURES,
    subset: int | None = None,
    batch_size: int | None = None,
    amp: str | bool | None = None,
    channels_last: bool | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    data_root: str | Path | None = None,
    results_dir: str | Path | None = None,
    progress: bool = False,
) -> Path:
    """Train each of ``architectures`` with the ``fast`` recipe for ``epochs``; store checkpoints and JSON.

    On a CPU, pass ``amp="bf16", channels_last=True`` for a run 2.9 times faster than
    float32 (``results/throughput_cpu_resnet20.json``). ``batch_size`` replaces the
    recipe's 512 and scales its peak learning rate in proportion (the linear scaling rule,
    Goyal et al. 2017): a short run has few steps at batch 512, too few for the one-cycle
    warm-up to tame lr 0.4 (ResNet-20 stayed near chance for 3 epochs of 10,000 images on a
    CPU, while batch 128 at lr 0.1 reached 47 %). The stored accuracy is measured
    afterwards in float32 without test-time augmentation, on all test images and on the
    1,000 of :func:`check_subset`.
    """
    device = resolve_device(device)
    folder = Path(results_dir) if results_dir is not None else default_results_dir()
    recipe = get_recipe("fast")
    if batch_size is not None and batch_size != recipe.batch_size:
        recipe = recipe.with_changes(batch_size=batch_size, lr=recipe.lr * batch_size / recipe.batch_size)
    train_set = cifar10_split("train", subset, seed=seed, data_root=data_root)
    test_set = cifar10_split("test", data_root=data_root)
    settings = recipe.fit_kwargs(epochs=epochs, amp=recipe.amp if amp is None else amp,
                                 channels_last=recipe.channels_last if channels_last is None else channels_last)
    meta: dict[str, Any] = run_metadata(
        device, experiment=NAME, description="CIFAR-10 networks the book loads: a ResNet and its plain twin, "
                                             "trained with the 'fast' recipe",
        data_variant=train_set.variant, train_images=len(train_set), test_images=len(test_set), epochs=epochs,
        recipe="fast", schedule=recipe.schedule, batch_size=recipe.batch_size, lr=recipe.lr,
        weight_decay=recipe.weight_decay, label_smoothing=recipe.label_smoothing,
        precision=precision_name(settings["amp"], device), seed=seed,
        scale="full" if subset is None and epochs >= get_recipe("fast").epochs else "reduced",
        check=f"float32 accuracy on test_set.subset({CHECK_IMAGES}, seed={CHECK_SEED}), no TTA",
    )
    runs: dict[str, Any] = {}
    checkpoints: dict[str, Any] = {}
    start = time.perf_counter()
    for arch in architectures:
        model, history = train_network(arch, train_set, test_set, batch_size=recipe.batch_size,
                                       drop_last=recipe.drop_last, seed=seed, device=device, progress=progress,
                                       **settings)
        model = model.to("cpu").to(memory_format=torch.contiguous_format).float()
        path = save_checkpoint(folder / checkpoint_file(arch), model, epoch=epochs, history=history)
        checkpoints[arch] = {
            "file": path.name,
            "sha256": sha256_file(path),
            "bytes": path.stat().st_size,
            "test_accuracy": accuracy_on(model, test_set),
            "test_accuracy_tta": history.val_acc[-1] if settings["tta_flip"] else None,
            "check_accuracy": accuracy_on(model, check_subset(test_set)),
        }
        runs[arch] = history.to_dict()
        print(f"{arch}: test accuracy {checkpoints[arch]['test_accuracy']:.2%} "
              f"({history.wall_time:.0f} s of training)", flush=True)
    meta["wall_time_s"] = round(time.perf_counter() - start, 1)
    return write_result(NAME, {"meta": meta, "runs": runs, "checkpoints": checkpoints}, folder)


def load_pretrained(arch: str = "resnet20", results_dir: str | Path | None = None) -> nn.Module:
    """The stored CIFAR-10 network ``arch``, checksum-verified, in eval mode on the CPU.

    The book's files (no ``results_dir``) are checked against :data:`PINNED_SHA256`; a run of
    your own (``results_dir``) against the SHA-256 its ``pretrained.json`` records. Raises
    ``FileNotFoundError`` naming the command that makes it when it is missing,
    :class:`~resnet_course.data.ChecksumError` when the file is not the one pinned or recorded,
    and :class:`~resnet_course.train.CheckpointError` when it cannot be read.
    """
    pinned = PINNED_SHA256.get(arch) if results_dir is None else None
    folder = Path(results_dir) if results_dir is not None else default_results_dir()
    record = load_result(NAME, folder)
    if arch not in record["checkpoints"]:
        raise ValueError(f"no pre-trained {arch!r} in {folder / (NAME + '.json')}; stored: "
                         f"{', '.join(record['checkpoints'])}")
    entry = record["checkpoints"][arch]
    path = folder / entry["file"]
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; produce it with 'resnet-course experiment {NAME}'")
    actual = sha256_file(path)
    if pinned is not None and actual != pinned:
        raise ChecksumError(f"{path} has SHA-256 {actual[:16]}…, but the package pins {pinned[:16]}… for the book's "
                            f"{arch}: the file was damaged or replaced; restore it (git checkout -- {path.name}) or "
                            "reinstall the package")
    if actual != entry["sha256"]:
        raise ChecksumError(f"{path} has SHA-256 {actual}, but {NAME}.json records {entry['sha256']}: the file was "
                            f"changed or damaged; restore it (git checkout -- {path.name}) or re-run "
                            f"'resnet-course experiment {NAME}'")
    model = create_model(arch)
    load_checkpoint(path, model)
    return model.eval()
