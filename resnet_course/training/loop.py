""":func:`fit`: the training loop, which reads like the algorithm.

    prepare the run    device, seed, data shards, optimiser and schedule, resume (prepare_run)
    for each epoch:
        train the steps    forward, cross-entropy, backward, SGD and schedule step (train_epoch)
        evaluate           the validation data in eval mode (validate)
        record             the epoch's numbers in the History (record)
        checkpoint         last.pt, and best.pt when validation improved (Checkpointer)

The recipe is the paper's (He et al. 2015, §3.4 and §4.2; the settings and their defaults
are :class:`~resnet_course.training.config.TrainConfig`'s). The other concerns are small
named objects the loop calls: :class:`~resnet_course.training.callbacks.StopOnCtrlC`,
:class:`~resnet_course.training.callbacks.NaNGuard`,
:class:`~resnet_course.training.callbacks.ProgressBar`,
:class:`~resnet_course.training.callbacks.EpochLog` and
:class:`~resnet_course.training.checkpoint.Checkpointer`; exact mid-epoch resume is
:func:`~resnet_course.training.checkpoint.epoch_batches`.

Several processes: launched by ``torchrun`` with ``WORLD_SIZE > 1``, each process joins the
process group (NCCL on ``cuda:LOCAL_RANK``, gloo on CPU), trains a DistributedDataParallel
copy on ``train.shard(rank, world_size)`` and reports metrics summed over all ranks; only
rank 0 writes checkpoints and progress. The global batch is ``world_size`` times the
loader's, with the same ``lr``. On CUDA, fit sets ``torch.backends.cudnn.benchmark = True``.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from resnet_course.experiments.provenance import run_metadata
from resnet_course.nn.summary import count_parameters
from resnet_course.training.callbacks import (
    EpochLog,
    NaNGuard,
    ProgressBar,
    StopOnCtrlC,
    TrainingDiverged,
    TrainingInterrupted,
    progress_modes,
)
from resnet_course.training.checkpoint import (
    Checkpointer,
    Position,
    Resumed,
    epoch_batches,
    get_rng_state,
    resume_from,
)
from resnet_course.training.config import TrainConfig, training_config
from resnet_course.training.evaluation import evaluate_model
from resnet_course.training.history import History, PathLike
from resnet_course.training.optim import make_optimizer, make_schedule
from resnet_course.training.runtime import (
    autocast,
    barrier,
    distributed_info,
    init_distributed,
    read_stats,
    resolve_amp,
    resolve_compile,
    resolve_device,
    seed_everything,
    synchronize,
    to_device,
    unwrap,
)

__all__ = ["EpochMeter", "fit", "LOG_EVERY", "prepare_run", "Run", "TrainingDiverged", "TrainingInterrupted"]


LOG_EVERY = 20  # steps between reads of values from the GPU (progress bar, NaN check)

Batches = Iterable[tuple[Tensor, Tensor]]


def fit(
    model: nn.Module, train: Batches, val: Batches | None = None, config: TrainConfig | None = None, *,
    checkpoint_dir: PathLike | None = None, resume: bool = False, progress: bool | str = True,
    device: torch.device | str | None = None, on_epoch_end: Callable[[int, History], bool | None] | None = None,
    meta: dict[str, Any] | None = None, **settings: Any,
) -> History:
    """Train ``model`` on ``train`` with the settings of ``config`` and return its :class:`History`.

    ``config`` is a :class:`~resnet_course.training.config.TrainConfig` (a recipe:
    ``get_recipe("paper")`` is He et al. 2015 §4.2); keyword ``settings`` change some of it,
    or stand for it: ``fit(model, train, val, epochs=3, lr=0.05)``. ``train``/``val``: a
    :class:`~resnet_course.data.TensorLoader`, a ``DataLoader`` or any re-iterable of
    ``(images, labels)`` batches with a ``len``, built with the config's batch size. The model
    is trained in place on ``device`` (default: the GPU if there is one).

    * ``checkpoint_dir``: ``last.pt`` after every epoch, ``best.pt`` when the validation
      accuracy improves. Ctrl-C finishes the step, writes ``interrupted.pt`` and raises
      :class:`TrainingInterrupted` (a ``KeyboardInterrupt`` naming that file). A NaN loss
      raises :class:`TrainingDiverged` before any checkpoint holds it.
    * ``resume=True``: continue from the furthest checkpoint there, mid-epoch if need be,
      bit-identically to an uninterrupted run on the CPU. The settings and ``meta`` must be
      the checkpoint's (more ``epochs``, ``compile`` and ``fused`` may change); otherwise
      :class:`~resnet_course.training.checkpoint.ResumeMismatchError` names the differences.
    * ``progress``: ``True`` a bar and a line per epoch, ``"log"`` the lines only (output to a
      file), ``False`` nothing.
    * ``meta``: the caller's fields (data variant, subset sizes, …) for ``history.meta``,
      which also holds the settings as used (``asdict`` of the config with "auto" resolved
      and the loader's batch size) and where the run ran; saved in every checkpoint.
    * ``on_epoch_end(epoch, history)`` runs after each epoch's checkpoint; ``True`` stops. A
      run resumed after the epoch that stopped it is asked again, and stays stopped.

    Under ``torchrun`` each process trains a DistributedDataParallel copy on its shard of
    the data (see the module's notes); only rank 0 writes and reports.
    """
    config = training_config(config, **settings)
    show_bar, show_lines = progress_modes(progress)
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    run, resumed = prepare_run(model, train, val, config, device=device, checkpoint_dir=folder, resume=resume,
                               meta=meta)
    log = EpochLog(show_lines and run.is_main)
    if resumed is not None:
        say_resumed(log, resumed, run)
    if run.at.epoch >= run.config.epochs:
        log.say(f"nothing to do: the checkpoint has trained {run.at.epoch} epochs already (epochs={config.epochs})")
        return run.history
    if stopped_already(run, resumed, on_epoch_end):
        log.say(f"nothing to do: the checkpoint's epoch {run.at.epoch} met the stopping condition (on_epoch_end)")
        return run.history
    log.bar = bar = ProgressBar(run.config.epochs * run.steps_per_epoch,
                                run.at.epoch * run.steps_per_epoch + run.at.step, show_bar and run.is_main)
    guard, checkpoints, stop = NaNGuard(run.lr_at, folder), Checkpointer(folder, run.is_main), StopOnCtrlC()
    start = resumed.position if resumed is not None else None
    try:
        with stop if run.world_size == 1 else contextlib.nullcontext():  # torchrun: every rank stops at once
            for epoch in range(run.at.epoch, run.config.epochs):
                meter = train_epoch(run, epoch, start, bar, guard, stop)
                scores = validate(run)
                improved = record(run, meter, scores)
                run.at = Position(epoch + 1, 0, get_rng_state(run.device))
                checkpoints.epoch_end(run, improved)
                if run.world_size > 1:
                    barrier(run.device)
                log.epoch_end(run.history, epoch, run.config.epochs, validated=scores is not None)
                if on_epoch_end is not None and on_epoch_end(epoch, run.history):
                    break
                if stop.requested:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        raise stopped(run, guard, checkpoints, bar, log, forced=stop.forced) from None
    finally:
        bar.close()
    run.history.wall_time = run.wall_time()
    return run.history


# ----------------------------------------------------------------------------------------
# What fit works with: the Run, and the epoch's running sums
# ----------------------------------------------------------------------------------------


@dataclass(eq=False)
class Run:
    """Everything one call of :func:`fit` trains with, made by :func:`prepare_run`.

    ``config`` holds the settings as used ("auto" resolved for the device, the loader's
    batch size); ``net`` is the plain network trained in place, ``model`` what runs the
    steps (``net``, or its DistributedDataParallel and/or compiled wrapper). ``at`` is where
    the run is and ``meter`` the current epoch's sums: what a Ctrl-C saves.
    """

    config: TrainConfig
    device: torch.device
    world_size: int
    is_main: bool
    net: nn.Module
    model: nn.Module
    train: Batches
    val: Batches | None
    val_sharded: bool
    steps_per_epoch: int
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    history: History = field(default_factory=History)
    at: Position = field(default_factory=Position)
    meter: EpochMeter | None = None
    wall_before: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    def lr_at(self, epoch: int, step: int) -> float:
        """The learning rate of step ``step`` of epoch ``epoch`` (both from 0)."""
        return self.scheduler.base_lrs[0] * self.scheduler.lr_lambdas[0](epoch * self.steps_per_epoch + step)

    def wall_time(self) -> float:
        """Seconds of training so far, across resumed runs."""
        return self.wall_before + time.perf_counter() - self.started

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """The batch's cross-entropy loss (label-smoothed if asked) and logits, under autocast."""
        with autocast(self.device, self.amp_dtype):
            logits = self.model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=self.config.label_smoothing)
        return loss, logits

    def backward_and_step(self, loss: Tensor) -> None:
        """Gradients (scaled for fp16, clipped if asked), one optimiser step, one schedule step."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.net.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()


class EpochMeter:
    """One epoch's running sums, kept on the device (reading them every step would stall a GPU):
    loss × images, correct predictions, images, and the earliest step whose loss was not
    finite; plus the epoch's clock. A resumed epoch starts from the interrupted one's sums."""

    def __init__(self, epoch: int, device: torch.device, partial: dict[str, Any] | None = None) -> None:
        self.epoch = epoch
        self.loss_sum = torch.zeros((), device=device)
        self.correct = torch.zeros((), dtype=torch.long, device=device)
        self.first_bad = torch.full((), math.inf, device=device)
        self.count, self.elapsed_before, self.started = 0, 0.0, time.perf_counter()
        self.totals: tuple[float, int, int] = (0.0, 0, 0)  # loss sum, correct, images over all ranks
        self.train_time = 0.0
        if partial:
            self.loss_sum.fill_(partial["loss_sum"])
            self.correct.fill_(partial["correct"])
            self.count, self.elapsed_before = int(partial["count"]), float(partial["elapsed"])

    def start_clock(self) -> None:
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    def add(self, loss: Tensor, logits: Tensor, y: Tensor, step: int) -> None:
        self.loss_sum += loss.detach() * y.shape[0]
        self.correct += (logits.detach().argmax(1) == y).sum()
        self.count += y.shape[0]
        this_bad = torch.where(torch.isfinite(loss.detach()), math.inf, float(step))
        self.first_bad = torch.minimum(self.first_bad, this_bad)

    def read(self, reduce: bool) -> tuple[float, int, int, float]:
        """``(loss sum, correct, images, first bad step)`` on the CPU, summed over ranks with ``reduce``."""
        return read_stats(self.loss_sum, self.correct, self.count, self.first_bad, reduce)

    def partial(self) -> dict[str, Any]:
        """The sums so far, for a mid-epoch checkpoint."""
        return {"loss_sum": self.loss_sum.item(), "correct": int(self.correct.item()), "count": self.count,
                "elapsed": self.elapsed()}


# ----------------------------------------------------------------------------------------
# The steps of the algorithm
# ----------------------------------------------------------------------------------------


def train_epoch(
    run: Run, epoch: int, resumed: Position | None, bar: ProgressBar, guard: NaNGuard, stop: StopOnCtrlC
) -> EpochMeter:
    """Train epoch ``epoch``'s steps (SGD on the cross-entropy, §3.4); returns its meter, read and checked."""
    run.model.train()
    bar.epoch(epoch, run.config.epochs)
    if hasattr(run.train, "set_epoch"):
        run.train.set_epoch(epoch)
    batches, run.at = epoch_batches(run.train, epoch, run.steps_per_epoch, resumed, run.device)
    run.meter = meter = EpochMeter(epoch, run.device, run.at.partial)
    synchronize(run.device)
    meter.start_clock()
    for step, (x, y) in enumerate(batches, start=run.at.step):
        x, y = to_device(x, y, run.device, run.config.channels_last)
        loss, logits = run.forward(x, y)
        meter.add(loss, logits, y, step)
        run.backward_and_step(loss)
        run.at = run.at.advanced(get_rng_state(run.device))
        bar.step()
        if (step + 1) % LOG_EVERY == 0:
            loss_sum, correct, seen, bad = meter.read(run.world_size > 1)
            guard.check(epoch, bad)
            bar.show(loss_sum / seen, correct / seen, seen / max(meter.elapsed(), 1e-9))
        if stop.requested:
            raise KeyboardInterrupt
    synchronize(run.device)
    meter.train_time = meter.elapsed()
    loss_sum, correct, seen, bad = meter.read(run.world_size > 1)
    guard.check(epoch, bad)
    meter.totals = (loss_sum, correct, seen)
    bar.show(loss_sum / max(seen, 1), correct / max(seen, 1))
    return meter


def validate(run: Run) -> dict[str, float] | None:
    """Loss and accuracy on the validation data, in eval mode (BN's running statistics, §4.2)."""
    if run.val is None:
        return None
    return evaluate_model(run.model, run.val, run.device, run.amp_dtype, run.config.channels_last,
                          run.config.label_smoothing, run.config.tta_flip, reduce=run.val_sharded)


def record(run: Run, meter: EpochMeter, scores: dict[str, float] | None) -> bool:
    """Append the epoch to the history; returns whether the validation accuracy improved."""
    best = run.history.best_val_acc
    improved = scores is not None and (best is None or scores["accuracy"] > best)
    loss_sum, correct, seen = meter.totals
    run.history.add_epoch(
        train_loss=loss_sum / max(seen, 1),
        train_acc=correct / max(seen, 1),
        lr=run.lr_at(meter.epoch, 0),
        images_per_sec=seen / max(meter.train_time, 1e-9),
        epoch_time=meter.elapsed(),
        val_loss=scores["loss"] if scores else None,
        val_acc=scores["accuracy"] if scores else None,
    )
    run.history.wall_time = run.wall_time()
    return improved


def stopped_already(run: Run, resumed: Resumed | None, on_epoch_end: Callable[[int, History], bool | None] | None
                    ) -> bool:
    """Whether a run resumed at an epoch's end had stopped there on ``on_epoch_end`` (a target met):
    the same command run again must not train on past it."""
    if resumed is None or on_epoch_end is None or run.at.step != 0 or run.at.epoch == 0:
        return False
    return bool(on_epoch_end(run.at.epoch - 1, run.history))


def stopped(
    run: Run, guard: NaNGuard, checkpoints: Checkpointer, bar: ProgressBar, log: EpochLog, *, forced: bool
) -> BaseException:
    """After Ctrl-C: the exception to raise, once ``interrupted.pt`` is saved -- never with
    non-finite weights, nor after a second Ctrl-C (``forced``) that may have stopped a step half-way."""
    at, meter = run.at, run.meter
    if meter is not None and meter.first_bad.item() < math.inf:
        return guard.diverged(meter.epoch, int(meter.first_bad.item()))
    run.history.truncate(at.epoch)  # an epoch recorded after the last position update
    run.history.wall_time = run.wall_time()
    message = f"interrupted at epoch {at.epoch + 1}, step {at.step}"
    if forced:
        path = checkpoints.last()
        message += (": stopped at once, in the middle of a step, so not saved; " + (
            f"{path} holds the last finished epoch; continue from it with resume=True" if path else "nothing saved"))
    else:
        path = checkpoints.interrupted(run, meter.partial() if meter is not None and at.mid_epoch else None)
        message += f": saved {path}; continue with resume=True" if path else " (no checkpoint_dir: not saved)"
    bar.close()
    log.say(message)
    return TrainingInterrupted(message, checkpoint=path, epoch=at.epoch, step=at.step)


def say_resumed(log: EpochLog, resumed: Resumed, run: Run) -> None:
    """Where the run continues from, and the settings that changed since (epochs, compile, fused)."""
    at = resumed.position
    if at.mid_epoch:
        log.say(f"resumed from {resumed.path}: epoch {at.epoch + 1}, {at.step} of {run.steps_per_epoch} steps done")
    else:
        log.say(f"resumed from {resumed.path}: {at.epoch} epochs done")
    if "epochs" in resumed.changes and run.config.schedule != "constant":
        log.say(f"note: that run planned {resumed.changes['epochs'][0]} epochs; the lr schedule now spans "
                f"{run.config.epochs}")


# ----------------------------------------------------------------------------------------
# Preparing the run
# ----------------------------------------------------------------------------------------


def prepare_run(
    model: nn.Module, train: Batches, val: Batches | None, config: TrainConfig, *,
    device: torch.device | str | None, checkpoint_dir: Path | None, resume: bool, meta: dict[str, Any] | None,
) -> tuple[Run, Resumed | None]:
    """Device and process group, seeds, the network in place, data shards, optimiser and
    schedule, the checkpoint to resume from, the run's metadata, and the module that trains."""
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir, the folder to resume from")
    rank, world_size, _ = distributed_info()
    device = resolve_device(device)
    if world_size > 1:
        init_distributed(device)
    seed_everything(config.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # pick the fastest conv algorithms for these shapes
    settings = config.resolved(device)
    net = unwrap(model).to(device)
    if settings.channels_last:
        net.to(memory_format=torch.channels_last)
    train_samples = num_samples(train)  # before sharding: the whole training set
    train, val, val_sharded = shard(train, val, rank, world_size)
    steps = batches_per_epoch(train)
    settings = as_loaded(settings, train)
    optimizer = make_optimizer(
        net, settings.optimizer, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay,
        nesterov=settings.nesterov, decay_bn_and_bias=settings.decay_bn_and_bias, fused=bool(settings.fused),
    )
    scheduler = make_schedule(settings.schedule, optimizer, settings.epochs * steps,
                              round(settings.warmup_epochs * steps))
    amp_dtype = resolve_amp(settings.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    run = Run(settings, device, world_size, rank == 0, net, net, train, val, val_sharded, steps, optimizer,
              scheduler, scaler, amp_dtype)
    resumed = None
    if resume:
        assert checkpoint_dir is not None
        wanted = {**(meta or {}), **asdict(settings), "steps_per_epoch": steps, "world_size": world_size,
                  "train_samples": train_samples}
        resumed = resume_from(checkpoint_dir, net, optimizer, scheduler, scaler, wanted)
    remember(run, describe(run, train_samples, meta), resumed)
    run.model = training_module(net, device, world_size, settings.compile)
    run.started = time.perf_counter()
    return run, resumed


def describe(run: Run, train_samples: int | None, meta: dict[str, Any] | None) -> dict[str, Any]:
    """The run's metadata: where it runs, the network, the caller's ``meta``, then the settings as used."""
    num_classes = getattr(run.net, "num_classes", None)
    described = run_metadata(run.device)
    described.update(
        arch=str(getattr(run.net, "arch", type(run.net).__name__)),
        num_classes=int(num_classes) if num_classes is not None else None,
        parameters=count_parameters(run.net),
        device_type=str(run.device),
        world_size=run.world_size,
        train_samples=train_samples,
        steps_per_epoch=run.steps_per_epoch,
    )
    described.update(meta or {})
    described.update(asdict(run.config))
    return described


def remember(run: Run, described: dict[str, Any], resumed: Resumed | None) -> None:
    """Start the history (or continue the checkpoint's) with the run's metadata; a resume is noted in it."""
    if resumed is not None:
        run.history, run.at, run.wall_before = resumed.history, resumed.position, resumed.history.wall_time
        run.meter = EpochMeter(run.at.epoch, run.device, run.at.partial if run.at.mid_epoch else None)
        if run.at.epoch < run.config.epochs:  # something left to train
            note = {"epoch": run.at.epoch, "step": run.at.step, "changed": resumed.changes}
            run.history.meta["resumed"] = [*run.history.meta.get("resumed", []), note]
    described["date"] = run.history.meta.get("date", described["date"])  # when the run first started
    run.history.meta.update(described)


def training_module(net: nn.Module, device: torch.device, world_size: int, compile: bool | str) -> nn.Module:
    """What runs the steps: DDP averages gradients across ranks, ``torch.compile`` fuses kernels."""
    module: nn.Module = net
    if world_size > 1:
        module = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    mode = resolve_compile(compile, device)
    if mode is not None:
        # static shapes: a last, smaller batch gets its own graph instead of making every graph dynamic
        module = torch.compile(module, mode=mode, dynamic=False)
    return module


# ----------------------------------------------------------------------------------------
# The data: sizes and shards
# ----------------------------------------------------------------------------------------


def num_samples(loader: Any) -> int | None:
    """Images in the loader's data set, when it says (``num_samples`` or ``len(loader.dataset)``)."""
    samples = getattr(loader, "num_samples", None)
    if samples is None and hasattr(loader, "dataset"):
        with contextlib.suppress(TypeError):
            samples = len(loader.dataset)
    return int(samples) if isinstance(samples, int) else None


def shard(train: Any, val: Any, rank: int, world_size: int) -> tuple[Any, Any, bool]:
    """Each rank's shard of the data (``loader.shard(rank, world_size)``); ``True`` when ``val`` was sharded."""
    if world_size == 1:
        return train, val, False
    if hasattr(train, "shard"):
        train = train.shard(rank, world_size)
    else:
        warnings.warn("the training loader has no shard(): each rank trains on all of it; use a DistributedSampler")
    if val is not None and hasattr(val, "shard"):
        return train, val.shard(rank, world_size), True
    return train, val, False


def batches_per_epoch(loader: Iterable[Any]) -> int:
    """``len(loader)``; for a re-iterable loader without one, count a pass (with a warning)."""
    try:
        steps = len(loader)  # type: ignore[arg-type]
    except TypeError:
        if iter(loader) is loader:
            raise TypeError(
                "fit needs a loader it can iterate once per epoch (a DataLoader, a TensorLoader, a list of "
                "batches), not a one-shot iterator or generator"
            ) from None
        warnings.warn("the training loader has no len(): counting its batches with one pass to lay out the lr "
                      "schedule")
        steps = sum(1 for _ in loader)
    if steps == 0:
        raise ValueError("the training loader yields no batches")
    return steps


def as_loaded(settings: TrainConfig, loader: Any) -> TrainConfig:
    """``settings`` with the loader's own ``batch_size`` and ``drop_last`` when it has them:
    the loader, not the config, decides what a step sees."""
    batch_size, drop_last = getattr(loader, "batch_size", None), getattr(loader, "drop_last", None)
    changes: dict[str, Any] = {}
    if isinstance(batch_size, int) and not isinstance(batch_size, bool) and batch_size >= 1:
        changes["batch_size"] = batch_size
    if isinstance(drop_last, bool):
        changes["drop_last"] = drop_last
    return settings.replace(**changes) if changes else settings
