""":func:`fit`: the training loop.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from resnet_course.experiments.provenance import run_metadata
from resnet_course.nn.summary import count_parameters
from resnet_course.training.callbacks import StopOnCtrlC
from resnet_course.training.checkpoint import (
    atomic_copy,
    check_compatible,
    get_rng_state,
    latest_checkpoint,
    rng_for_saving,
    save_checkpoint,
    set_rng_state,
)
from resnet_course.training.evaluation import evaluate_model
from resnet_course.training.history import History, PathLike
from resnet_course.training.optim import (
    OPTIMIZERS,
    SCHEDULES,
    check_choice,
    make_optimizer,
    make_schedule,
)
from resnet_course.training.runtime import (
    autocast,
    barrier,
    distributed_info,
    init_distributed,
    read_stats,
    resolve_amp,
    resolve_compile,
    resolve_fused,
    synchronize,
    to_device,
    training_device,
    unwrap,
)

__all__ = ["fit", "LOG_EVERY", "TrainingDiverged"]


LOG_EVERY = 20  # steps between reads of values from the GPU (progress bar, NaN check)


# ----------------------------------------------------------------------------------------
# 1. Errors
# ----------------------------------------------------------------------------------------


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite.

    ``epoch`` and ``step`` are 0-based indices (the message also counts from 1, like the
    progress bar); ``lr`` is the learning rate of that step.
    """

    def __init__(self, message: str, *, epoch: int = -1, step: int = -1, lr: float = math.nan) -> None:
        super().__init__(message)
        self.epoch, self.step, self.lr = epoch, step, lr


# ----------------------------------------------------------------------------------------
# 9. fit
# ----------------------------------------------------------------------------------------




def _diverged(epoch: int, step: int, lr: float, checkpoint_dir: Optional[Path]) -> TrainingDiverged:
    message = (
        f"training diverged: the loss became NaN or infinite at step {step + 1} of epoch {epoch + 1} "
        f"(0-based: epoch index {epoch}, step index {step}) with lr {lr:.4g}. "
    )
    last = checkpoint_dir / "last.pt" if checkpoint_dir is not None else None
    if last is not None and last.exists():
        message += f"The last good checkpoint, {last}, is untouched. "
    message += (
        "Try a smaller lr, a warm-up (warmup_epochs=1; the paper warms ResNet-110 up, §4.2), "
        "grad_clip=..., or amp='bf16' instead of 'fp16'."
    )
    return TrainingDiverged(message, epoch=epoch, step=step, lr=lr)


def _num_samples(loader: Any) -> Optional[int]:
    samples = getattr(loader, "num_samples", None)
    if samples is None and hasattr(loader, "dataset"):
        with contextlib.suppress(TypeError):
            samples = len(loader.dataset)
    return int(samples) if isinstance(samples, int) else None


def _batches_per_epoch(loader: Iterable[Any]) -> int:
    """``len(loader)``; for a re-iterable loader without one, count a pass (with a warning)."""
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        pass
    if iter(loader) is loader:
        raise TypeError(
            "fit needs a loader it can iterate once per epoch (a DataLoader, a TensorLoader, a list of "
            "batches), not a one-shot iterator or generator"
        )
    warnings.warn("the training loader has no len(): counting its batches with one pass to lay out the lr schedule")
    return sum(1 for _ in loader)


def _run_meta(
    net: nn.Module, train: Any, samples: Optional[int], device: torch.device, world_size: int, **config: Any
) -> dict[str, Any]:
    """Where and how a run trained, for the History (and the book's result tables)."""
    num_classes = getattr(net, "num_classes", None)
    batch_size = getattr(train, "batch_size", None)
    return run_metadata(
        device,
        arch=str(getattr(net, "arch", type(net).__name__)),
        num_classes=int(num_classes) if num_classes is not None else None,
        parameters=count_parameters(net),
        device_type=str(device),
        world_size=world_size,
        batch_size=int(batch_size) if isinstance(batch_size, int) else None,
        train_samples=samples,
        **config,
    )


def fit(
    model: nn.Module,
    train: Iterable[tuple[Tensor, Tensor]],
    val: Optional[Iterable[tuple[Tensor, Tensor]]] = None,
    *,
    epochs: int,
    optimizer: str = "sgd",
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    nesterov: bool = False,
    decay_bn_and_bias: bool = True,
    schedule: str = "paper",
    warmup_epochs: float = 0.0,
    label_smoothing: float = 0.0,
    amp: Union[str, bool, None] = None,
    channels_last: Optional[bool] = None,
    compile: Union[bool, str, None] = False,
    fused: Optional[bool] = False,
    tta_flip: bool = False,
    checkpoint_dir: Optional[PathLike] = None,
    resume: bool = False,
    seed: int = 0,
    progress: bool = True,
    device: Union[str, torch.device, None] = None,
    grad_clip: Optional[float] = None,
    on_epoch_end: Optional[Callable[[int, History], Optional[bool]]] = None,
    meta: Optional[dict[str, Any]] = None,
) -> History:
    """Train ``model`` on ``train`` for ``epochs`` epochs and return its :class:`History`.

    The defaults are the paper's CIFAR-10 recipe (§4.2; §3.4 for ImageNet): SGD, momentum
    0.9, weight decay 1e-4 on every parameter, lr 0.1 divided by 10 at 50% and 75% of the
    steps (``schedule="paper"``), cross-entropy loss. Give the loader a batch size of 128 to
    match it (the paper's 64k iterations are about 164 epochs of 50k images).

    * ``train``/``val``: a :class:`~resnet_course.data.TensorLoader`, a ``DataLoader`` or any
      iterable of ``(images, labels)`` batches with a ``len``. Batches are moved to the
      device if they are not there; ``set_epoch(epoch)`` is called when the loader has it.
    * ``optimizer``: ``"sgd"`` or ``"adamw"``; ``decay_bn_and_bias=False`` exempts BN
      parameters and biases from weight decay (see :func:`make_optimizer`).
    * ``schedule``: ``"paper"``, ``"cosine"``, ``"onecycle"`` or ``"constant"``, stepped
      every batch; ``warmup_epochs`` (may be fractional) ramps the lr up linearly first.
    * ``amp``: ``None`` = bfloat16 autocast on a GPU that supports it, float32 on CPU;
      ``"bf16"``, ``"fp16"`` (with a ``GradScaler``) or ``False``. ``channels_last``:
      ``None`` = on for CUDA. ``compile``: wrap the model in ``torch.compile`` --
      ``True``, a mode from :data:`COMPILE_MODES` (``"reduce-overhead"`` adds CUDA graphs),
      or ``None`` = on for CUDA. ``fused``: the fused optimizer kernel (``None`` = wherever
      PyTorch has one). ``tta_flip``: validate on each image and its mirror image (see
      :func:`evaluate`). These change speed (``amp`` and ``channels_last`` also the
      rounding; ``tta_flip`` what validation measures), not the training recipe;
      :mod:`resnet_course.recipes` names sets of all the settings.
    * ``checkpoint_dir``: after every epoch write ``last.pt``, and ``best.pt`` when the
      validation accuracy improves, atomically. Ctrl-C finishes the current step, writes
      ``interrupted.pt`` and re-raises ``KeyboardInterrupt``.
    * ``resume=True``: continue from the furthest-on of ``last.pt`` and ``interrupted.pt``
      (mid-epoch if need be, skipping the batches already done). On the CPU the result is
      bit-identical to an uninterrupted run as long as the schedule is the same, i.e. the
      same ``epochs`` (or ``schedule="constant"``) and the same loader. Without a
      checkpoint it warns and starts from scratch.
    * ``seed`` seeds torch, ``random`` and numpy at the start (create the model after
      ``torch.manual_seed`` yourself to make its initialisation repeatable too).
    * A NaN or infinite loss raises :class:`TrainingDiverged` (naming the epoch, step and
      lr) before any checkpoint is written with it; the loss is checked on the GPU every
      step and read every :data:`LOG_EVERY` steps, so the weights in memory may be
      non-finite by then, but ``last.pt`` is the previous epoch's.
    * ``meta``: fields of the caller's (data variant, subset sizes, …) merged into
      ``history.meta`` and so saved in every checkpoint.
    * ``on_epoch_end(epoch, history)`` runs after each epoch (after the checkpoint); return
      ``True`` to stop early. It runs on every rank.
    * Launched by ``torchrun`` with ``WORLD_SIZE > 1``, each process joins the process group
      (NCCL on ``cuda:LOCAL_RANK``, gloo on CPU), trains a DistributedDataParallel copy on
      ``train.shard(rank, world_size)``, and reports metrics summed over all ranks; only
      rank 0 writes checkpoints and progress. The global batch is ``world_size`` times the
      loader's, with the same ``lr``.

    The model is moved to the device (and to channels-last) in place and holds the trained
    weights afterwards. On CUDA this also sets ``torch.backends.cudnn.benchmark = True``.
    """
    # -- check the arguments before doing any work
    check_choice("schedule", schedule, SCHEDULES)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir, the folder to resume from")

    # -- where to run: one process, or one of several launched by torchrun
    rank, world_size, local_rank = distributed_info()
    device = training_device(device, world_size, local_rank)
    if world_size > 1:
        init_distributed(device)
    is_main = rank == 0
    show = progress and is_main

    def say(message: str) -> None:
        if show:
            tqdm.write(message)

    # -- reproducibility and speed
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # pick the fastest conv algorithms for these shapes
    amp_dtype = resolve_amp(amp, device)
    if channels_last is None:
        channels_last = device.type == "cuda"
    compile_mode = resolve_compile(compile, device)
    fused = resolve_fused(fused, device)

    # -- the model, in place on the device
    net = unwrap(model)
    net.to(device)
    if channels_last:
        net.to(memory_format=torch.channels_last)

    # -- the data: each rank its own shard
    val_sharded = False
    train_samples = _num_samples(train)  # before sharding: the whole training set
    if world_size > 1:
        if hasattr(train, "shard"):
            train = train.shard(rank, world_size)
        else:
            warnings.warn("the training loader has no shard(): each rank trains on all of it; use a DistributedSampler")
        if val is not None and hasattr(val, "shard"):
            val, val_sharded = val.shard(rank, world_size), True
    steps_per_epoch = _batches_per_epoch(train)
    if steps_per_epoch == 0:
        raise ValueError("the training loader yields no batches")

    # -- optimiser, lr schedule (a multiplier per step), loss scaler for fp16
    opt = make_optimizer(
        net, optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov,
        decay_bn_and_bias=decay_bn_and_bias, fused=fused,
    )
    sched = make_schedule(schedule, opt, epochs * steps_per_epoch, round(warmup_epochs * steps_per_epoch))
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)

    def lr_at(epoch: int, step: int) -> float:
        return sched.base_lrs[0] * sched.lr_lambdas[0](epoch * steps_per_epoch + step)

    # -- resume: weights, optimiser, schedule, history, position, random state
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    history = History()
    start_epoch, start_step, partial = 0, 0, None
    rng_resume: Optional[dict[str, Any]] = None
    rng_epoch_start: Any = None
    if resume:
        assert checkpoint_dir is not None
        checkpoint, path = latest_checkpoint(checkpoint_dir)
        if checkpoint is None:
            warnings.warn(f"resume=True but {checkpoint_dir} holds no last.pt or interrupted.pt: starting from scratch")
        else:
            check_compatible(checkpoint, net, path)
            net.load_state_dict(checkpoint["model"])
            opt.load_state_dict(checkpoint["optimizer"])
            sched.load_state_dict(checkpoint["scheduler"])
            if scaler.is_enabled() and checkpoint.get("scaler"):
                scaler.load_state_dict(checkpoint["scaler"])
            history = History.from_dict(checkpoint["history"] or {})
            start_epoch, start_step = int(checkpoint["epoch"]), int(checkpoint["step"])
            partial, rng_resume = checkpoint.get("partial"), checkpoint["rng"]
            rng_epoch_start = checkpoint.get("rng_epoch_start")
            if start_step:
                say(f"resumed from {path}: epoch {start_epoch + 1}, {start_step} of {steps_per_epoch} steps done")
            else:
                say(f"resumed from {path}: {start_epoch} epochs done")
            if checkpoint.get("epochs") not in (None, epochs) and schedule != "constant":
                say(f"note: that run planned {checkpoint['epochs']} epochs; the lr schedule now spans {epochs}")
    run_meta = _run_meta(
        net, train, train_samples, device, world_size,
        optimizer=optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov,
        decay_bn_and_bias=decay_bn_and_bias, schedule=schedule, warmup_epochs=warmup_epochs,
        label_smoothing=label_smoothing, amp=str(amp_dtype).replace("torch.", "") if amp_dtype else "off",
        channels_last=bool(channels_last), compile=compile_mode or False, fused=fused, tta_flip=tta_flip,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch, seed=seed, grad_clip=grad_clip,
    )
    run_meta.update(meta or {})  # the caller's own fields (data variant, …) travel in every checkpoint
    run_meta["date"] = history.meta.get("date", run_meta["date"])  # when the run first started
    history.meta.update(run_meta)

    # -- the module that trains: DDP averages gradients across ranks, compile fuses kernels
    train_model: nn.Module = net
    if world_size > 1:
        train_model = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    if compile_mode is not None:
        # static shapes: a last, smaller batch gets its own graph instead of making every graph dynamic
        train_model = torch.compile(train_model, mode=compile_mode, dynamic=False)

    def save(name: str, epoch: int, step: int, rng: dict[str, Any], rng_start: Any = None, partial: Any = None) -> Path:
        assert checkpoint_dir is not None
        return save_checkpoint(
            checkpoint_dir / name, net, opt, sched, scaler, epoch=epoch, step=step, history=history, rng=rng,
            rng_epoch_start=rng_for_saving(rng_start), partial=partial, epochs=epochs,
            steps_per_epoch=steps_per_epoch,
        )

    # -- state for an interruption: where we are (epoch, steps done, random state there)
    if rng_resume is not None and start_step == 0:
        set_rng_state(rng_resume, device)
    at: tuple[int, int, Any] = (start_epoch, start_step, rng_resume)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    first_bad = torch.full((), math.inf, device=device)  # earliest step with a non-finite loss
    count, elapsed_before, t_epoch = 0, 0.0, time.perf_counter()
    wall_before, t_fit = history.wall_time, time.perf_counter()
    if start_epoch >= epochs:
        say(f"nothing to do: the checkpoint has trained {start_epoch} epochs already (epochs={epochs})")
        return history
    bar = tqdm(
        total=epochs * steps_per_epoch, initial=start_epoch * steps_per_epoch + start_step,
        disable=not show, unit="step", dynamic_ncols=True,
    )
    stop = StopOnCtrlC()  # under torchrun every rank gets the signal at a different step: stop at once
    epoch = start_epoch
    try:
        with stop if world_size == 1 else contextlib.nullcontext():
            for epoch in range(start_epoch, epochs):
                train_model.train()
                bar.set_description(f"epoch {epoch + 1}/{epochs}")
                if hasattr(train, "set_epoch"):
                    train.set_epoch(epoch)
                mid_epoch = epoch == start_epoch and start_step > 0
                if mid_epoch:  # replay the epoch's start: same random state, same batches
                    set_rng_state(rng_epoch_start, device)
                rng_epoch_start = get_rng_state(device)
                done = start_step if mid_epoch else 0
                loss_sum = torch.zeros((), device=device)
                correct = torch.zeros((), dtype=torch.long, device=device)
                first_bad = torch.full((), math.inf, device=device)
                count, elapsed_before = 0, 0.0
                if mid_epoch and partial:  # the interrupted run's sums so far this epoch
                    loss_sum.fill_(partial["loss_sum"])
                    correct.fill_(partial["correct"])
                    count, elapsed_before = int(partial["count"]), float(partial["elapsed"])
                if done < steps_per_epoch:
                    batches = iter(train)
                    for _ in range(done):  # skip the batches done before the interruption
                        next(batches)
                else:
                    batches = iter(())
                if mid_epoch:
                    set_rng_state(rng_resume, device)  # type: ignore[arg-type]
                at = (epoch, done, rng_resume if mid_epoch else rng_epoch_start)
                synchronize(device)
                t_epoch = time.perf_counter()

                for step, (x, y) in enumerate(batches, start=done):
                    x, y = to_device(x, y, device, channels_last)
                    with autocast(device, amp_dtype):
                        logits = train_model(x)
                        loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
                    # running sums stay on the GPU: reading them every step would stall it
                    loss_sum += loss.detach() * y.shape[0]
                    correct += (logits.detach().argmax(1) == y).sum()
                    count += y.shape[0]
                    this_bad = torch.where(torch.isfinite(loss.detach()), math.inf, float(step))
                    first_bad = torch.minimum(first_bad, this_bad)
                    opt.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    if grad_clip is not None:
                        scaler.unscale_(opt)
                        nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
                    scaler.step(opt)
                    scaler.update()
                    sched.step()
                    at = (epoch, step + 1, get_rng_state(device))
                    bar.update(1)
                    if (step + 1) % LOG_EVERY == 0:
                        seen_loss, seen_correct, seen, bad = read_stats(
                            loss_sum, correct, count, first_bad, world_size > 1
                        )
                        if bad < math.inf:
                            raise _diverged(epoch, int(bad), lr_at(epoch, int(bad)), checkpoint_dir)
                        rate = seen / max(elapsed_before + time.perf_counter() - t_epoch, 1e-9)
                        bar.set_postfix(
                            loss=f"{seen_loss / seen:.3f}", acc=f"{seen_correct / seen:.1%}", img_s=f"{rate:.0f}"
                        )
                    if stop.requested:
                        raise KeyboardInterrupt

                # -- end of epoch: global metrics, validation, history, checkpoints
                synchronize(device)
                train_time = elapsed_before + time.perf_counter() - t_epoch
                seen_loss, seen_correct, seen, bad = read_stats(loss_sum, correct, count, first_bad, world_size > 1)
                if bad < math.inf:
                    raise _diverged(epoch, int(bad), lr_at(epoch, int(bad)), checkpoint_dir)
                bar.set_postfix(loss=f"{seen_loss / max(seen, 1):.3f}", acc=f"{seen_correct / max(seen, 1):.1%}")
                scores = None
                if val is not None:
                    scores = evaluate_model(
                        train_model, val, device, amp_dtype, channels_last, label_smoothing, tta_flip,
                        reduce=val_sharded,
                    )
                best = history.best_val_acc
                improved = scores is not None and (best is None or scores["accuracy"] > best)
                history.add_epoch(
                    train_loss=seen_loss / max(seen, 1),
                    train_acc=seen_correct / max(seen, 1),
                    lr=lr_at(epoch, 0),
                    images_per_sec=seen / max(train_time, 1e-9),
                    epoch_time=elapsed_before + time.perf_counter() - t_epoch,
                    val_loss=scores["loss"] if scores else None,
                    val_acc=scores["accuracy"] if scores else None,
                )
                history.wall_time = wall_before + time.perf_counter() - t_fit
                at = (epoch + 1, 0, get_rng_state(device))
                if is_main and checkpoint_dir is not None:
                    last = save("last.pt", epoch + 1, 0, at[2])
                    if improved:
                        atomic_copy(last, checkpoint_dir / "best.pt")
                    (checkpoint_dir / "interrupted.pt").unlink(missing_ok=True)  # superseded
                if world_size > 1:
                    barrier(device)
                line = (
                    f"epoch {epoch + 1}/{epochs}: train loss {history.train_loss[-1]:.4f} "
                    f"acc {history.train_acc[-1]:.2%}"
                )
                if scores:
                    line += f" | val loss {scores['loss']:.4f} acc {scores['accuracy']:.2%}"
                line += f" | lr {history.lr[-1]:.4g} | {history.images_per_sec[-1]:.0f} img/s"
                line += f" | {history.epoch_time[-1]:.1f} s"
                say(line)
                if on_epoch_end is not None and on_epoch_end(epoch, history):
                    break
                if stop.requested:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        at_epoch, at_step, at_rng = at
        bad = first_bad.item()
        if bad < math.inf:  # never save non-finite weights
            raise _diverged(epoch, int(bad), lr_at(epoch, int(bad)), checkpoint_dir) from None
        history.truncate(at_epoch)  # an epoch recorded after the last position update
        history.wall_time = wall_before + time.perf_counter() - t_fit
        if is_main and checkpoint_dir is not None:
            partial_stats = None
            if at_step > 0:
                partial_stats = {
                    "loss_sum": loss_sum.item(), "correct": int(correct.item()), "count": count,
                    "elapsed": elapsed_before + time.perf_counter() - t_epoch,
                }
            rng_start = rng_epoch_start if at_step > 0 else None
            path = save("interrupted.pt", at_epoch, at_step, at_rng, rng_start, partial_stats)
            bar.close()
            say(f"interrupted at epoch {at_epoch + 1}, step {at_step}: saved {path}; continue with resume=True")
        raise
    finally:
        bar.close()
    history.wall_time = wall_before + time.perf_counter() - t_fit
    return history
