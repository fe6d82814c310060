"""Training throughput: the usual CIFAR-10 script vs ``fit``, one speed trick at a time.

Every row trains the same network, from the same initial weights, on CIFAR-10 training
images for the same number of steps, in one process. Each row first runs a few untimed
warm-up steps (they start the ``DataLoader``'s workers, compile the model, let cuDNN pick
its algorithms), then times its training loop alone: from the first timed batch to the
last finished step, the GPU synchronised at both ends, data loading and augmentation
included (which is the point). This is a benchmark, not a test: no number here is
asserted anywhere.

The rows (:data:`TRICKS`), each adding one trick to the row before it:

1. the usual script (the loop of the typical blog post): a ``DataLoader`` over PIL images
   with ``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip``, ``ToTensor`` and
   ``Normalize``, fp32, no compilation, PyTorch's default SGD;
2. :func:`~resnet_course.train.fit` with the tensor-resident
   :class:`~resnet_course.data.TensorLoader` (still fp32, eager, default SGD);
3. + bf16 autocast; 4. + channels-last memory; 5. + ``torch.compile``;
6. + CUDA graphs (compile mode ``"reduce-overhead"``; CUDA only); 7. + fused SGD;
8. all: every trick above that applies on the device, with the rest of the ``fast``
   recipe (:mod:`resnet_course.recipes`): its batch size (512), schedule and optimizer
   settings.

Without ``tricks=True`` only rows 1 and 2 run. With it, the report also gives each row's
achieved throughput as a fraction of the device's *measured* bf16 matrix-multiply rate:
model FLOPs per image (3 × the forward pass's, :func:`training_flops_per_image`) × images
per second ÷ that rate.
"""

from __future__ import annotations

import copy
import re
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Union

import torch
from torch import nn

from resnet_course.data.cifar10 import load_cifar10
from resnet_course.data.imageset import ImageSet
from resnet_course.data.loaders import TensorLoader, torchvision_loader
from resnet_course.experiments.provenance import run_metadata
from resnet_course.nn.registry import create_model
from resnet_course.nn.summary import count_macs
from resnet_course.training.checkpoint import holds_checkpoint
from resnet_course.training.evaluation import evaluate
from resnet_course.training.loop import fit
from resnet_course.training.recipes import get_recipe, recipe_name
from resnet_course.training.runtime import resolve_compile, resolve_device, synchronize

__all__ = [
    "BASELINE", "device_tag", "EVAL_BATCH_SIZE", "format_table", "format_time_to_accuracy",
    "measure_matmul_flops", "reached_target", "TENSOR", "throughput_comparison", "ThroughputReport", "ThroughputRow",
    "time_to_accuracy", "TimeToAccuracy", "training_flops_per_image", "Trick", "TRICKS", "typical_epoch_seconds",
    "usual_training_steps", "WARMUP_STEPS",
]


WARMUP_STEPS = 5
BASELINE = "usual script (PIL transforms, DataLoader, fp32)"
TENSOR = "fit + tensor-resident loader"


@dataclass(frozen=True)
class Trick:
    """One row: a name, and what it changes in the row before it (keys of :class:`_Setup`)."""

    name: str
    changes: dict[str, Any]
    cuda_only: bool = False


#: The rows with ``tricks=True``, cumulative. The first two are the default comparison.
TRICKS: tuple[Trick, ...] = (
    Trick(BASELINE, {"loader": "torchvision"}),
    Trick(TENSOR, {"loader": "tensor"}),
    Trick("+ bf16 autocast", {"amp": True}),
    Trick("+ channels-last", {"channels_last": True}),
    Trick("+ torch.compile", {"compile": "default"}),
    Trick("+ CUDA graphs (compile mode reduce-overhead)", {"compile": "reduce-overhead"}, cuda_only=True),
    Trick("+ fused SGD", {"fused": True}),
    Trick("all: + the fast recipe's batch, schedule, optimizer", {"recipe": "fast"}),
)


@dataclass(frozen=True)
class _Setup:
    loader: str = "torchvision"
    amp: bool = False
    channels_last: bool = False
    compile: Optional[str] = None
    fused: bool = False
    recipe: Optional[str] = None


@dataclass
class ThroughputRow:
    """One row of the table; ``images_per_sec`` and the rest are ``None`` for a trick that
    does not apply on the device (``note`` says so)."""

    method: str
    steps: int
    images: int
    seconds: Optional[float]
    images_per_sec: Optional[float]
    ratio: Optional[float] = 1.0
    batch_size: Optional[int] = None
    fraction_of_peak: Optional[float] = None
    note: str = ""
    runs_images_per_sec: list[float] = field(default_factory=list)


@dataclass
class ThroughputReport:
    model: str
    data_variant: str
    batch_size: int
    rows: list[ThroughputRow]
    device: str = "cpu"
    flops_per_image: Optional[float] = None  # training (forward + backward) FLOPs per image
    peak_flops: dict[str, float] = field(default_factory=dict)  # measured matmul FLOP/s by dtype


# ----------------------------------------------------------------------------------------
# Helpers: device names, the measured peak, FLOPs per image
# ----------------------------------------------------------------------------------------




def device_tag(device: Union[torch.device, str]) -> str:
    """A short name for file names: ``"cpu"``, or the GPU's name, e.g. ``"h100-80gb-hbm3"``."""
    device = torch.device(device)
    if device.type != "cuda":
        return device.type
    name = torch.cuda.get_device_name(device).lower().replace("nvidia", "")
    return re.sub(r"[^a-z0-9]+", "-", name).strip("-") or "cuda"


def measure_matmul_flops(device: Union[torch.device, str], dtype: torch.dtype = torch.bfloat16,
                         size: Optional[int] = None, repeats: Optional[int] = None) -> float:
    """The best of three timings of square ``size`` × ``size`` matrix products, in FLOP/s.

    A practical peak for the device (what its BLAS reaches on a large, well-shaped
    problem), not the data-sheet number; 8192 on a GPU, 2048 on a CPU by default.
    """
    device = torch.device(device)
    size = size or (8192 if device.type == "cuda" else 2048)
    repeats = repeats or (50 if device.type == "cuda" else 3)
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(3):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 * repeats / best


def training_flops_per_image(model: nn.Module, image_size: tuple[int, int, int] = (3, 32, 32)) -> float:
    """Model FLOPs of one training step per image: 3 × the forward pass's convolutions and
    matrix products (the backward pass costs about twice the forward: gradients with
    respect to the inputs and to the weights), as PyTorch's flop counter counts them."""
    macs, _ = count_macs(model, (1, *image_size))
    return 3 * 2 * macs


# ----------------------------------------------------------------------------------------
# The two ways to train
# ----------------------------------------------------------------------------------------


def _cycle(loader: Iterable) -> Iterator:
    """Batches of ``loader``, epoch after epoch; an epoch without a batch raises ``ValueError``
    (else this would loop for ever)."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("the training loader gives no batch: use more images than one batch")


class _Steps:
    """The next ``steps`` batches of a loader (crossing epochs as needed), as a loader ``fit`` accepts."""

    def __init__(self, batches: Iterator, steps: int, batch_size: int) -> None:
        self.batches, self.steps, self.batch_size = batches, steps, batch_size

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator:
        for _ in range(self.steps):
            yield next(self.batches)


def usual_training_steps(model: nn.Module, batches: Iterator, steps: int, *, device: torch.device,
                         lr: float = 0.1) -> None:
    """``steps`` steps of the blog-post loop: batches to the device, SGD, cross-entropy, fp32."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    criterion = nn.CrossEntropyLoss()
    model.train()
    for _ in range(steps):
        images, labels = next(batches)
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()


def _fit_kwargs(setup: _Setup) -> dict[str, Any]:
    tricks = {"amp": "bf16" if setup.amp else False, "channels_last": setup.channels_last,
              "compile": setup.compile or False, "fused": setup.fused}
    if setup.recipe is not None:  # the recipe's optimiser and schedule, the tricks of the rows before
        return get_recipe(setup.recipe).fit_kwargs(epochs=1, tta_flip=False, **tricks)
    return {"epochs": 1, "lr": 0.1, "schedule": "constant", **tricks}


def _run(setup: _Setup, model: nn.Module, images: ImageSet, *, steps: int, batch_size: int,
         device: torch.device, workers: int, repeats: int) -> list[float]:
    """Warm up, then train ``steps`` steps ``repeats`` times; returns the seconds of each timed run."""
    if setup.loader == "torchvision":
        loader = torchvision_loader(images, batch_size=batch_size, train=True, num_workers=workers)
        batches = _cycle(loader)
        try:
            usual_training_steps(model, batches, WARMUP_STEPS, device=device)
            times = []
            for _ in range(repeats):
                synchronize(device)
                start = time.perf_counter()
                usual_training_steps(model, batches, steps, device=device)
                synchronize(device)
                times.append(time.perf_counter() - start)
            return times
        finally:
            batches.close()  # and with it the DataLoader's workers
    kwargs = _fit_kwargs(setup)
    loader = TensorLoader(images, batch_size=batch_size, device=device, seed=0, drop_last=True,
                          channels_last=setup.channels_last)
    batches = _cycle(loader)
    if resolve_compile(kwargs["compile"], device) is not None:
        torch._dynamo.reset()  # each compiled row starts from its own, static-shape graphs
    fit(model, _Steps(batches, WARMUP_STEPS, batch_size), progress=False, device=device, **kwargs)
    times = []
    for _ in range(repeats):
        history = fit(model, _Steps(batches, steps, batch_size), progress=False, device=device, **kwargs)
        times.append(steps * batch_size / history.images_per_sec[0])  # fit's own clock around its loop
    return times


def throughput_comparison(
    model_name: str = "resnet20",
    *,
    steps: int = 30,
    batch_size: int = 128,
    device: Union[torch.device, str] = "cpu",
    data_root: Union[str, Path, None] = None,
    workers: int = 2,
    tricks: bool = False,
    repeats: int = 1,
) -> ThroughputReport:
    """Images per second of the usual script and of ``fit`` with the tensor-resident loader;
    with ``tricks=True``, of every row of :data:`TRICKS`, plus the fraction of the measured peak.

    ``batch_size`` is every row's except the last (the fast recipe's own). The first row is
    the baseline of every ratio. With ``repeats > 1`` each row times ``steps`` steps that
    many times and reports the fastest (on a shared machine, other work only slows runs
    down); every run's rate is kept in ``runs_images_per_sec``.
    """
    device = torch.device(device)
    images = load_cifar10("train", data_root)
    initial = create_model(model_name).to(device)
    report = ThroughputReport(model_name, images.variant, batch_size, [], device=str(device))
    if tricks:
        report.flops_per_image = training_flops_per_image(initial)
        report.peak_flops["bfloat16"] = measure_matmul_flops(device, torch.bfloat16)
        report.peak_flops["float32"] = measure_matmul_flops(device, torch.float32)
    setup = _Setup()
    for trick in TRICKS if tricks else TRICKS[:2]:
        if trick.cuda_only and device.type != "cuda":
            report.rows.append(ThroughputRow(trick.name, 0, 0, None, None, None, None, None,
                                             note=f"n/a on {device.type}"))
            continue
        setup = replace(setup, **trick.changes)
        rows_batch = get_recipe(setup.recipe).batch_size if setup.recipe else batch_size
        model = copy.deepcopy(initial)
        times = _run(setup, model, images, steps=steps, batch_size=rows_batch, device=device, workers=workers,
                     repeats=repeats)
        seconds = min(times)  # other work on the machine can only slow a run down
        report.rows.append(ThroughputRow(trick.name, steps, steps * rows_batch, seconds,
                                         steps * rows_batch / seconds, batch_size=rows_batch,
                                         runs_images_per_sec=[steps * rows_batch / t for t in times]))
    if tricks:  # the best of two measurements, before and after: other work on the machine only slows it
        for dtype in (torch.bfloat16, torch.float32):
            name = str(dtype).replace("torch.", "")
            report.peak_flops[name] = max(report.peak_flops[name], measure_matmul_flops(device, dtype))
    for row in report.rows:
        if row.images_per_sec is not None:
            row.ratio = row.images_per_sec / report.rows[0].images_per_sec
            if report.flops_per_image and report.peak_flops:
                row.fraction_of_peak = row.images_per_sec * report.flops_per_image / report.peak_flops["bfloat16"]
    return report


def format_table(report: ThroughputReport, meta: Optional[dict] = None) -> str:
    meta = meta or run_metadata()
    rows = report.rows
    width = max(len(r.method) for r in rows)
    lines = [f"{report.model}, batch {report.batch_size}, {report.data_variant}",
             f"device: {meta['device']} | torch {meta['torch']} | commit {meta['commit']} | {meta['date']}"]
    if report.peak_flops and report.flops_per_image:
        peaks = ", ".join(f"{dtype} {rate / 1e12:.3g} TFLOP/s" for dtype, rate in report.peak_flops.items())
        lines.append(f"measured matmul peak: {peaks}; model: {report.flops_per_image / 1e9:.3g} GFLOP per "
                     "training image (3 × forward)")
    show_peak = bool(report.peak_flops and report.flops_per_image)
    header = f"{'method'.ljust(width)}  batch  steps  images/s   ratio"
    header += "  % of bf16 peak" if show_peak else ""
    lines += [header, "-" * len(header)]
    for r in rows:
        if r.images_per_sec is None:
            lines.append(f"{r.method.ljust(width)}  {r.note}")
            continue
        line = f"{r.method.ljust(width)}  {r.batch_size or report.batch_size:5d}  {r.steps:5d}  " \
               f"{r.images_per_sec:8.1f}  {r.ratio:5.2f}×"
        if show_peak and r.fraction_of_peak is not None:
            line += f"  {100 * r.fraction_of_peak:13.2f}%"
        lines.append(line)
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------
# Time to accuracy
# ----------------------------------------------------------------------------------------

EVAL_BATCH_SIZE = 500


@dataclass
class TimeToAccuracy:
    """What :func:`time_to_accuracy` measured. Times are seconds; accuracies fractions.

    ``train_seconds`` adds up the training loops of the epochs trained (evaluation and
    compilation excluded); ``warmup_seconds`` is the untimed warm-up run before it (a few
    steps and one evaluation pass: compilation, CUDA-graph recording, cuDNN autotuning),
    so ``train_seconds + warmup_seconds`` is the time with compilation included;
    ``wall_seconds`` is the timed ``fit`` call from start to end, evaluation included.
    ``final_single_view_acc``: where the run tested with flip TTA, the last epoch's network
    tested once more on a single view, as He et al. 2015 test (§4.2); ``None`` otherwise.
    """

    model: str
    recipe: str
    target: float
    max_epochs: int
    reached: bool
    epochs: int
    train_seconds: float
    warmup_seconds: float
    wall_seconds: float
    warmup_steps: int
    val_acc: list[float]
    train_seconds_cumulative: list[float]
    images_per_sec: float
    flops_per_image: float
    peak_flops: dict[str, float]
    fraction_of_peak: float
    fit_settings: dict[str, Any]
    batch_size: int
    data_variant: str
    train_images: int
    test_images: int
    history: dict[str, Any] = field(default_factory=dict)
    final_single_view_acc: Optional[float] = None


def time_to_accuracy(
    model_name: str = "resnet18_cifar",
    *,
    target: float = 0.94,
    epochs: Optional[int] = None,
    recipe: str = "fast",
    device: Union[torch.device, str, None] = None,
    data_root: Union[str, Path, None] = None,
    subset: Optional[int] = None,
    test_subset: Optional[int] = None,
    seed: int = 0,
    progress: bool = True,
    warmup_steps: int = WARMUP_STEPS,
    batch_size: Optional[int] = None,
    checkpoint_dir: Union[str, Path, None] = None,
    **overrides: Any,
) -> TimeToAccuracy:
    """Train ``model_name`` on CIFAR-10 with ``recipe`` until the test accuracy reaches ``target``.

    The learning-rate schedule spans ``epochs`` (default: the recipe's); training stops
    after the first epoch whose test accuracy (flip TTA if the recipe says so) reaches
    ``target``, or after ``epochs``. Before the timed run, the same model trains
    ``warmup_steps`` steps and evaluates once on a second loader (compiling everything the
    timed run will run), then gets its initial weights back. ``overrides`` change recipe
    settings (``compile="reduce-overhead"``, ``amp=False``, ``lr=0.1`` …); ``batch_size``
    replaces the recipe's (with ``lr`` scaled by the caller); ``subset`` and ``test_subset``
    shrink the data (for a quick check that the script works). Fewer training images than
    one full batch raise ``ValueError``. With ``checkpoint_dir`` the timed run writes a
    checkpoint after every epoch there and, called again with the same settings, continues
    from the last one (a run of hours that outlives its machine); the times add up across
    the pieces, the warm-up is repeated untimed. A run that met its target trains no more.
    """
    device = resolve_device(device)
    chosen = get_recipe(recipe)
    if batch_size is not None:
        chosen = chosen.replace(batch_size=batch_size)
    kwargs = chosen.fit_kwargs(**{"epochs": epochs or chosen.epochs, **overrides})
    train_set, test_set = load_cifar10("train", data_root), load_cifar10("test", data_root)
    if subset is not None and subset < len(train_set):
        train_set = train_set.subset(subset, seed=seed)
    if test_subset is not None and test_subset < len(test_set):
        test_set = test_set.subset(test_subset, seed=seed)
    if chosen.drop_last and len(train_set) < chosen.batch_size:
        raise ValueError(f"{len(train_set)} training images make no full batch of {chosen.batch_size} "
                         f"(the {recipe_name(recipe)!r} recipe drops partial batches): use at least "
                         f"{chosen.batch_size} images or a smaller batch size")
    channels_last = kwargs["channels_last"] if kwargs["channels_last"] is not None else device.type == "cuda"

    def train_loader(loader_seed: int) -> TensorLoader:
        return TensorLoader(train_set, batch_size=chosen.batch_size, drop_last=chosen.drop_last, device=device,
                            seed=loader_seed, channels_last=channels_last)

    test_loader = TensorLoader(test_set, batch_size=EVAL_BATCH_SIZE, shuffle=False, augment=False, device=device,
                               channels_last=channels_last)
    torch.manual_seed(seed)
    model = create_model(model_name)
    flops_per_image = training_flops_per_image(model)
    peak = {"bfloat16": measure_matmul_flops(device, torch.bfloat16),
            "float32": measure_matmul_flops(device, torch.float32)}
    warmup_seconds = _warm_up(model, _Steps(_cycle(train_loader(seed + 1)), warmup_steps, chosen.batch_size),
                              test_loader, device=device, seed=seed, fit_kwargs=kwargs)

    # -- the timed run
    loader = train_loader(seed)
    images_per_epoch = len(loader) * chosen.batch_size if chosen.drop_last else loader.num_samples
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    resume = folder is not None and holds_checkpoint(folder)
    history = fit(model, loader, test_loader, progress=progress, device=device, seed=seed, checkpoint_dir=folder,
                  resume=resume, on_epoch_end=lambda _epoch, h: h.val_acc[-1] >= target, **kwargs)
    per_epoch = [images_per_epoch / rate for rate in history.images_per_sec]
    cumulative = [sum(per_epoch[: i + 1]) for i in range(len(per_epoch))]
    images_per_sec = images_per_epoch * history.epochs / cumulative[-1]
    single_view = evaluate(model, test_loader, amp=kwargs["amp"])["accuracy"] if kwargs["tta_flip"] else None
    return TimeToAccuracy(
        model=model_name, recipe=recipe_name(recipe), target=target, max_epochs=kwargs["epochs"],
        reached=history.val_acc[-1] >= target, epochs=history.epochs, train_seconds=cumulative[-1],
        warmup_seconds=warmup_seconds, wall_seconds=history.wall_time, warmup_steps=warmup_steps,
        val_acc=list(history.val_acc),
        train_seconds_cumulative=cumulative, images_per_sec=images_per_sec, flops_per_image=flops_per_image,
        peak_flops=peak, fraction_of_peak=images_per_sec * flops_per_image / peak["bfloat16"],
        fit_settings=dict(kwargs), batch_size=chosen.batch_size, data_variant=train_set.variant,
        train_images=len(train_set), test_images=len(test_set), history=history.to_dict(),
        final_single_view_acc=single_view,
    )


def _warm_up(model: nn.Module, steps: Any, test_loader: TensorLoader, *, device: torch.device, seed: int,
             fit_kwargs: dict[str, Any]) -> float:
    """Run the timed run's shapes and modes once on other batches (compiling what it will run), then give
    ``model`` its initial weights back; returns the seconds it took."""
    initial = copy.deepcopy(model.state_dict())
    if resolve_compile(fit_kwargs["compile"], device) is not None:
        torch._dynamo.reset()
    start = time.perf_counter()
    fit(model, steps, test_loader, progress=False, device=device, seed=seed, **{**fit_kwargs, "epochs": 1})
    synchronize(device)
    seconds = time.perf_counter() - start
    model.load_state_dict(initial)
    return seconds


def reached_target(stored: Mapping[str, Any], target: float) -> tuple[int, float] | None:
    """From a stored time-to-accuracy result (``{"meta": …, "result": …}`` as the benchmark writes it):
    the first epoch whose test accuracy reached ``target`` and the minutes of training up to its end
    (the run's own training seconds, evaluation and warm-up excluded); ``None`` if no epoch did."""
    run = stored["result"]
    for epoch, (accuracy, seconds) in enumerate(zip(run["val_acc"], run["train_seconds_cumulative"]), start=1):
        if accuracy >= target:
            return epoch, seconds / 60
    return None


def typical_epoch_seconds(stored: Mapping[str, Any]) -> float:
    """The median of the training seconds of the epochs of a stored time-to-accuracy result
    (evaluation excluded): a typical epoch, which an epoch slowed by other work does not move."""
    cumulative = stored["result"]["train_seconds_cumulative"]
    return statistics.median(b - a for a, b in zip([0.0, *cumulative], cumulative))


def format_time_to_accuracy(result: TimeToAccuracy) -> str:
    """The accuracy curve and the summary lines :func:`time_to_accuracy` measured."""
    tta = " (flip TTA)" if result.fit_settings.get("tta_flip") else ""
    lines = [f"{result.model}, {result.recipe} recipe, target {result.target:.2%}{tta}, at most {result.max_epochs} "
             f"epochs, {result.train_images:,} training / {result.test_images:,} test images of {result.data_variant}",
             "epoch  training s (cumulative)  test accuracy"]
    lines += [f"{i + 1:5d}  {seconds:23.2f}  {acc:13.2%}"
              for i, (seconds, acc) in enumerate(zip(result.train_seconds_cumulative, result.val_acc))]
    outcome = "reached" if result.reached else "did NOT reach"
    lines.append(f"{outcome} {result.target:.2%} after {result.epochs} epoch(s): {result.train_seconds:.2f} s of "
                 f"training (compilation excluded), {result.train_seconds + result.warmup_seconds:.2f} s with the "
                 f"warm-up ({result.warmup_seconds:.2f} s: compilation, autotuning, {result.warmup_steps} steps, one "
                 f"evaluation); wall time of the timed run with evaluation {result.wall_seconds:.2f} s")
    if result.final_single_view_acc is not None:
        lines.append(f"the last epoch's network on a single view (no flip TTA): {result.final_single_view_acc:.2%}")
    achieved = result.images_per_sec * result.flops_per_image
    lines.append(f"throughput {result.images_per_sec:,.0f} images/s × {result.flops_per_image / 1e9:.3g} GFLOP "
                 f"= {achieved / 1e12:.3g} TFLOP/s = {result.fraction_of_peak:.1%} of the measured bf16 matmul rate "
                 f"({result.peak_flops['bfloat16'] / 1e12:.3g} TFLOP/s; float32: "
                 f"{result.peak_flops['float32'] / 1e12:.3g} TFLOP/s)")
    return "\n".join(lines)
