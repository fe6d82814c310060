""":func:`evaluate`, :func:`predict` and :func:`confusion_matrix`.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from resnet_course.training.runtime import (
    autocast,
    is_channels_last,
    model_device,
    read_stats,
    resolve_amp,
    to_device,
)

__all__ = ["confusion_matrix", "evaluate", "evaluate_model", "predict"]


# ----------------------------------------------------------------------------------------
# Evaluate, predict, confusion_matrix
# ----------------------------------------------------------------------------------------


def _logits(
    model: nn.Module, data: Iterable[tuple[Tensor, Tensor]], device: torch.device,
    amp_dtype: torch.dtype | None, channels_last: bool, tta_flip: bool,
) -> Iterable[tuple[Tensor, Tensor]]:
    """``(float32 logits, labels)`` per batch; with ``tta_flip`` the mean of the logits of
    the images and of their mirror images (flipped left-right, ``dims=[3]``)."""
    for x, y in data:
        x, y = to_device(x, y, device, channels_last)
        with autocast(device, amp_dtype):
            logits = model(x).float()
            if tta_flip:
                logits = (logits + model(torch.flip(x, dims=[3])).float()) / 2
        yield logits, y


@torch.no_grad()
def evaluate_model(
    model: nn.Module, data: Iterable[tuple[Tensor, Tensor]], device: torch.device, amp_dtype: torch.dtype | None,
    channels_last: bool, label_smoothing: float = 0.0, tta_flip: bool = False, reduce: bool = False,
) -> dict[str, float]:
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    count = 0
    for logits, y in _logits(model, data, device, amp_dtype, channels_last, tta_flip):
        loss_sum += F.cross_entropy(logits, y, reduction="sum", label_smoothing=label_smoothing)
        correct += (logits.argmax(1) == y).sum()
        count += y.shape[0]
    model.train(was_training)
    loss, right, n, _ = read_stats(loss_sum, correct, count, torch.zeros((), device=device), reduce)
    if n == 0:
        return {"loss": math.nan, "accuracy": math.nan, "count": 0}
    return {"loss": loss / n, "accuracy": right / n, "count": n}


def evaluate(
    model: nn.Module,
    data: Iterable[tuple[Tensor, Tensor]],
    *,
    tta_flip: bool = False,
    device: torch.device | str | None = None,
    amp: str | bool | None = None,
    label_smoothing: float = 0.0,
) -> dict[str, float]:
    """Mean loss, accuracy (a fraction) and sample count of ``model`` on ``data``.

    The model runs in eval mode (BN with its running statistics) under ``no_grad``, as in
    the paper's single-view testing (§4.2). ``tta_flip`` averages the logits of each image
    and its mirror image -- a cheap test-time augmentation the paper does not use.
    ``device`` defaults to the model's (a different one moves the model there); ``amp``
    as in :func:`fit`.
    """
    device = model_device(model) if device is None else torch.device(device)
    model.to(device)
    amp_dtype = resolve_amp(amp, device)
    return evaluate_model(model, data, device, amp_dtype, is_channels_last(model), label_smoothing, tta_flip)


@torch.no_grad()
def predict(
    model: nn.Module,
    data: Iterable[tuple[Tensor, Tensor]],
    tta_flip: bool = False,
    *,
    device: torch.device | str | None = None,
    amp: str | bool | None = None,
) -> tuple[Tensor, Tensor]:
    """``(logits, labels)`` for all of ``data``, on the CPU (float32 logits, int64 labels).

    ``logits.softmax(1)`` gives the probabilities, ``logits.argmax(1)`` the predictions.
    ``tta_flip`` as in :func:`evaluate`.
    """
    device = model_device(model) if device is None else torch.device(device)
    model.to(device)
    was_training = model.training
    model.eval()
    outputs, labels = [], []
    for logits, y in _logits(model, data, device, resolve_amp(amp, device), is_channels_last(model), tta_flip):
        outputs.append(logits.cpu())
        labels.append(y.cpu())
    model.train(was_training)
    if not outputs:
        return torch.zeros(0, 0), torch.zeros(0, dtype=torch.long)
    return torch.cat(outputs), torch.cat(labels)


def confusion_matrix(preds: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """``num_classes x num_classes`` counts: row = true class, column = predicted class.

    ``preds`` may be class indices or logits/probabilities (then the argmax is taken).
    The matrix sums to the number of samples and its trace over that is the accuracy.
    """
    if preds.ndim == 2:
        preds = preds.argmax(1)
    preds, labels = preds.long().flatten().cpu(), labels.long().flatten().cpu()
    if preds.shape != labels.shape:
        raise ValueError(f"preds and labels differ in length: {preds.numel()} vs {labels.numel()}")
    index = labels * num_classes + preds
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
