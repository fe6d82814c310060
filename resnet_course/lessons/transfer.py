"""Transfer learning (chapter 6): three strategies, learning curves over seeds, ImageNet weights.

A network trained on CIFAR-10 is reused on the hand gestures in three ways
(:data:`STRATEGIES`): trained from scratch (the baseline), fine-tuned under a new head
(:func:`new_head`), or used as a frozen feature extractor under a new linear classifier
(:class:`FrozenFeatures`, BatchNorm statistics frozen too). :func:`gesture_model` builds the
network a strategy starts from, out of the course's stored weights
(``create_model(arch, weights="cifar10")``) or, for the ImageNet ResNets, torchvision's
ImageNet weights (:func:`load_imagenet_weights`, the input resized by :class:`ImageNetInput`).

A *learning curve* is test accuracy against the number of training images per class. One
point of it (:func:`run_point`) is one strategy trained on a seeded, per-class subset of the
training pool (:func:`per_class_subset`) for a fixed number of optimisation steps
(:func:`steps_for`, the same for every strategy at a size: :func:`fixed_step_loader`) and
tested once at the end. :func:`tune_lr` picks a strategy's learning rate on held-out
*validation* data, never on the test set.

Pure functions of networks and data; :mod:`resnet_course.experiments.gestures` runs them over
sizes, seeds and splits and stores the result, which
:func:`resnet_course.lessons.verdicts.transfer_verdict` compares (:func:`curve`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_course.data.cifar10 import CIFAR10_MEAN, CIFAR10_STD
from resnet_course.data.imageset import ImageSet
from resnet_course.data.loaders import TensorLoader
from resnet_course.lessons.imagenet import (
    IMAGENET_DEPTHS,
    ImageNetWeightsUnavailable,
    cached_imagenet_weights,
    imagenet_status,
    imagenet_weights_url,
    load_imagenet_weights,
)
from resnet_course.lessons.verdicts import TransferVerdict, transfer_verdict
from resnet_course.nn.registry import create_model
from resnet_course.nn.summary import count_parameters
from resnet_course.training.callbacks import TrainingDiverged
from resnet_course.training.config import TrainConfig
from resnet_course.training.evaluation import confusion_matrix, predict
from resnet_course.training.loop import fit
from resnet_course.training.runtime import resolve_device

__all__ = [
    "DEFAULT_LRS",
    "IMAGENET_DEPTHS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LR_GRIDS",
    "MAX_STEPS",
    "MIN_STEPS",
    "STEP_PASSES",
    "STRATEGIES",
    "FrozenFeatures",
    "ImageNetInput",
    "ImageNetWeightsUnavailable",
    "batch_stream",
    "cached_imagenet_weights",
    "compare_strategies",
    "curve",
    "fixed_step_loader",
    "gesture_model",
    "imagenet_status",
    "imagenet_weights_url",
    "load_imagenet_weights",
    "nearest_training_crops",
    "new_head",
    "per_class_accuracy",
    "per_class_subset",
    "run_point",
    "source_weights",
    "steps_for",
    "trainable_parameters",
    "transfer_config",
    "tune_lr",
    "verdict_table",
]


STRATEGIES: tuple[str, ...] = ("scratch", "finetune", "features")

#: The learning rates :func:`tune_lr` tries for each strategy (peak of a cosine schedule, SGD
#: with Nesterov momentum 0.9): a factor of about 3 apart, around the usual choices -- 0.1
#: from scratch, a few times less to fine-tune (adjust the features, do not overwrite them),
#: more for a lone linear head on fixed features (nothing to destroy).
LR_GRIDS: dict[str, tuple[float, ...]] = {
    "scratch": (0.03, 0.1, 0.3),
    "finetune": (0.01, 0.03, 0.1),
    "features": (0.1, 0.3, 1.0),
}

#: What a run uses when no learning rate was tuned (a live run in a chapter): the grids' middles.
DEFAULT_LRS: dict[str, float] = {strategy: grid[len(grid) // 2] for strategy, grid in LR_GRIDS.items()}

#: torchvision's ImageNet normalisation (the statistics its ImageNet weights expect).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# ----------------------------------------------------------------------------------------
# The networks a strategy starts from
# ----------------------------------------------------------------------------------------


class FrozenFeatures(nn.Module):
    """A trained network's body, frozen, under a new linear classifier (feature extraction).

    The body's weights get no gradient and its BatchNorm layers stay in evaluation mode even
    when the wrapper is put in training mode, so its running statistics are not updated by
    the new data: the features are exactly those the body learned on its source task.
    """

    def __init__(self, body: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.body = body
        for parameter in self.body.parameters():
            parameter.requires_grad_(False)
        self.fc = nn.Linear(body.fc.in_features, num_classes)
        self.num_classes = num_classes

    def train(self, mode: bool = True) -> FrozenFeatures:
        """Set the head's mode; the body stays in eval mode (its BatchNorm statistics are not updated)."""
        super().train(mode)
        self.body.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        """The new classifier on the frozen body's pooled features."""
        return self.fc(self.body.features(x))


class ImageNetInput(nn.Module):
    """An ImageNet network fed CIFAR-normalised crops: resized to ``size`` and re-normalised with ImageNet's statistics.

    The course's loaders normalise with CIFAR-10's mean and standard deviation; torchvision's
    ImageNet weights expect ImageNet's, and 224-pixel photos (its stem divides the side by 4
    before the first block). ``features`` and ``fc`` are the wrapped network's, so
    :class:`FrozenFeatures` and the evaluation code treat the wrapper as the network.
    """

    def __init__(self, model: nn.Module, size: int = 112, mean: Sequence[float] = CIFAR10_MEAN,
                 std: Sequence[float] = CIFAR10_STD) -> None:
        super().__init__()
        self.model, self.size = model, size
        source_mean, source_std = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
        target_mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        target_std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        self.register_buffer("scale", source_std / target_std, persistent=False)  # pixel = x·std + mean
        self.register_buffer("shift", (source_mean - target_mean) / target_std, persistent=False)
        self.num_classes = getattr(model, "num_classes", None)

    @property
    def fc(self) -> nn.Module:
        return self.model.fc

    def prepare(self, x: Tensor) -> Tensor:
        """The batch as the ImageNet network expects it: ``size``×``size``, ImageNet-normalised."""
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return x * self.scale.to(x.dtype) + self.shift.to(x.dtype)

    def features(self, x: Tensor) -> Tensor:
        return self.model.features(self.prepare(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.model(self.prepare(x))


def new_head(model: nn.Module, num_classes: int) -> nn.Module:
    """``model`` with its classifier replaced by a freshly initialised ``num_classes``-way one."""
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    model.num_classes = num_classes
    return model


def source_weights(arch: str) -> str:
    """The weights a source network starts from: ``"imagenet"`` for the ImageNet ResNets, else ``"cifar10"``."""
    return "imagenet" if re.fullmatch(r"resnet(\d+)", arch) and int(arch[6:]) in IMAGENET_DEPTHS else "cifar10"


def gesture_model(strategy: str, arch: str = "resnet20", num_classes: int = 6, *, input_size: int = 112) -> nn.Module:
    """The network a strategy starts from (draws its random weights from torch's global generator).

    ``scratch``: ``create_model(arch)``, random. ``finetune``: the pre-trained ``arch`` with a
    new ``num_classes``-way head; ``features``: the same body frozen under a new head
    (:class:`FrozenFeatures`). A CIFAR network starts from the course's stored CIFAR-10
    weights (``create_model(arch, weights="cifar10")``, checked against a pinned SHA-256); an
    ImageNet ResNet (``resnet18`` … ``resnet152``) from torchvision's ImageNet weights
    (:func:`load_imagenet_weights`), its input resized to ``input_size`` (:class:`ImageNetInput`).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    imagenet = source_weights(arch) == "imagenet"
    if strategy == "scratch":
        model = create_model(arch, num_classes=num_classes)
        return ImageNetInput(model, input_size) if imagenet else model
    if imagenet:
        body: nn.Module = ImageNetInput(load_imagenet_weights(arch).train(), input_size)
    else:
        body = create_model(arch, weights="cifar10")
    if strategy == "features":
        return FrozenFeatures(body, num_classes)
    if imagenet:
        new_head(body.model, num_classes)
        body.num_classes = num_classes
        return body
    return new_head(body, num_classes)


def trainable_parameters(model: nn.Module) -> int:
    """How many weights training changes."""
    return count_parameters(model, trainable_only=True)


def per_class_accuracy(logits: Tensor, labels: Tensor, num_classes: int) -> list[float]:
    """Recall of each class: the fraction of its test samples predicted right."""
    matrix = confusion_matrix(logits, labels, num_classes).double()
    return (matrix.diagonal() / matrix.sum(1).clamp_min(1)).tolist()


# ----------------------------------------------------------------------------------------
# Learning curves: per-class subsets, equal step budgets, one point
# ----------------------------------------------------------------------------------------


def per_class_subset(labels: Tensor | Sequence[int], per_class: int | None, seed: int,
                     num_classes: int | None = None) -> list[int]:
    """Indices of ``per_class`` samples of every class (all of a class that has fewer), drawn with ``seed``.

    Each class's samples are put in a random order by a generator seeded with ``seed`` and
    the first ``per_class`` are kept, so with one seed the subsets are *nested* (the 10 per
    class contain the 5), and another seed draws other samples. ``None`` keeps everything.
    Sorted, as :meth:`ImageSet.select` takes them.
    """
    labels = torch.as_tensor(labels, dtype=torch.long)
    if per_class is None:
        return list(range(len(labels)))
    if per_class < 1:
        raise ValueError(f"per_class must be a whole number >= 1 (or None for all), not {per_class!r}")
    num_classes = int(labels.max()) + 1 if num_classes is None and len(labels) else (num_classes or 0)
    generator = torch.Generator().manual_seed(seed)
    chosen: list[int] = []
    for c in range(num_classes):
        members = (labels == c).nonzero().squeeze(1)
        order = torch.randperm(len(members), generator=generator)  # the same draws whatever per_class is
        chosen += members[order[:per_class]].tolist()
    return sorted(chosen)


#: The step budget of :func:`steps_for`: passes over the training images, and its bounds.
STEP_PASSES, MIN_STEPS, MAX_STEPS = 25.0, 100, 400


def steps_for(train_images: int, batch_size: int = 32, *, passes: float = STEP_PASSES, min_steps: int = MIN_STEPS,
              max_steps: int = MAX_STEPS) -> int:
    """Optimisation steps for ``train_images`` training images: ``passes`` over them, within [min_steps, max_steps].

    Every strategy gets this many steps at a size (the budget depends on the size only), so a
    difference between strategies is not a difference in training time. A tiny set gets
    ``min_steps`` (many passes: it is learnt by heart either way), the whole set ``passes``
    passes, capped by ``max_steps`` (the CPU budget; see the chapter).
    """
    if train_images < 1 or batch_size < 1:
        raise ValueError(f"need train_images >= 1 and batch_size >= 1, got {train_images} and {batch_size}")
    return int(min(max_steps, max(min_steps, math.ceil(passes * train_images / batch_size))))


def batch_stream(n: int, steps: int, batch_size: int, seed: int) -> Tensor:
    """``steps × batch_size`` sample indices: random orders of ``range(n)`` one after another, cut short.

    Every batch has exactly ``batch_size`` samples even when ``n`` is smaller (a sample then
    appears in a batch more than once, under different augmentations), and every sample is
    seen equally often up to one pass.
    """
    if n < 1 or steps < 1 or batch_size < 1:
        raise ValueError(f"need n, steps and batch_size >= 1, got {n}, {steps}, {batch_size}")
    generator = torch.Generator().manual_seed(seed)
    wanted = steps * batch_size
    orders = [torch.randperm(n, generator=generator) for _ in range(math.ceil(wanted / n))]
    return torch.cat(orders)[:wanted]


def fixed_step_loader(train_set: ImageSet, steps: int, batch_size: int, seed: int,
                      device: torch.device | str = "cpu") -> TensorLoader:
    """A loader of exactly ``steps`` batches of ``batch_size`` augmented crops (:func:`batch_stream`'s order).

    One pass of it is the whole run, so ``fit(model, loader, None, config)`` with
    ``epochs=1`` takes exactly ``steps`` optimisation steps and lays its learning-rate
    schedule over them. Crops are randomly cropped (padding 4) and flipped, and normalised
    with CIFAR-10's statistics (what the pre-trained networks expect).
    """
    stream = train_set.select(batch_stream(len(train_set), steps, batch_size, seed))
    return TensorLoader(stream, batch_size=batch_size, shuffle=False, augment=True, drop_last=True, seed=seed,
                        mean=CIFAR10_MEAN, std=CIFAR10_STD, device=device)


def transfer_config(lr: float, *, batch_size: int = 32, seed: int = 0, amp: str | bool | None = "bf16") -> TrainConfig:
    """The settings of every run of the learning curves; only ``lr`` differs between strategies.

    SGD with Nesterov momentum 0.9, weight decay 5e-4 (BatchNorm parameters and biases
    spared), a linear warm-up over the first 10 % of the steps and a cosine decay to zero,
    bf16 autocast (on a CPU 1.5-2× faster than float32 here), one "epoch" that is the whole
    run (:func:`fixed_step_loader`).
    """
    return TrainConfig(epochs=1, batch_size=batch_size, drop_last=True, lr=lr, momentum=0.9, nesterov=True,
                       weight_decay=5e-4, decay_bn_and_bias=False, schedule="cosine", warmup_epochs=0.1, amp=amp,
                       seed=seed)


def _accuracy_and_confusion(model: nn.Module, data: ImageSet, device: torch.device,
                            amp: str | bool | None) -> tuple[float, list[list[int]]]:
    loader = TensorLoader(data, batch_size=500, shuffle=False, augment=False, mean=CIFAR10_MEAN, std=CIFAR10_STD,
                          device=device)
    logits, labels = predict(model, loader, device=device, amp=amp)
    matrix = confusion_matrix(logits, labels, len(data.classes))
    return float(matrix.diagonal().sum() / max(1, len(labels))), matrix.tolist()


def run_point(strategy: str, train_pool: ImageSet, test_set: ImageSet, *, per_class: int | None, seed: int,
              lr: float, steps: int | None = None, batch_size: int = 32, arch: str = "resnet20",
              amp: str | bool | None = "bf16", device: torch.device | str | None = None,
              input_size: int = 112) -> tuple[nn.Module, dict[str, Any]]:
    """One point of a learning curve: ``strategy`` trained on ``per_class`` images per class of ``train_pool``.

    ``seed`` draws the subset (:func:`per_class_subset`), the new weights (the head, or the
    whole network from scratch), the batch order and the augmentations -- the same for every
    strategy, so strategies are compared on the same images. The network takes ``steps``
    steps (default :func:`steps_for` the subset's size) at peak learning rate ``lr``
    (:func:`transfer_config`), then is tested once on ``test_set``. Returns the network and
    a record: test accuracy and confusion matrix, accuracy on its own (un-augmented) training
    images, the subset's size, the steps taken, and whether training diverged.
    """
    device = resolve_device(device)
    start = time.perf_counter()
    subset = train_pool.select(per_class_subset(train_pool.labels, per_class, seed, len(train_pool.classes)))
    steps = steps_for(len(subset), batch_size) if steps is None else steps
    torch.manual_seed(seed)
    model = gesture_model(strategy, arch, len(train_pool.classes), input_size=input_size)
    loader = fixed_step_loader(subset, steps, batch_size, seed, device)
    diverged = False
    try:
        history = fit(model, loader, None, transfer_config(lr, batch_size=batch_size, seed=seed, amp=amp),
                      device=device, progress=False)
        taken = history.epochs * len(loader)
    except TrainingDiverged:
        diverged, taken = True, len(loader)
    test_accuracy, matrix = _accuracy_and_confusion(model, test_set, device, amp)
    train_accuracy, _ = _accuracy_and_confusion(model, subset, device, amp)
    record = {"strategy": strategy, "arch": arch, "per_class": per_class, "seed": seed, "lr": lr,
              "train_images": len(subset), "steps": taken, "batch_size": batch_size,
              "test_accuracy": test_accuracy, "train_accuracy": train_accuracy, "confusion_matrix": matrix,
              "diverged": diverged, "wall_time_s": round(time.perf_counter() - start, 2)}
    return model, record


def tune_lr(strategy: str, train_part: ImageSet, val_part: ImageSet, *, per_class: int | None, seeds: Sequence[int],
            grid: Sequence[float] | None = None, extend: int = 2, **settings: Any) -> dict[str, Any]:
    """Pick ``strategy``'s learning rate on validation data: the value with the best mean accuracy.

    Each learning rate of ``grid`` (default :data:`LR_GRIDS`) trains on ``per_class``
    images per class of ``train_part`` for every seed (:func:`run_point`, ``settings`` passed
    on) and is scored on ``val_part`` -- which must not be the test set. A diverged run
    scores 0; ties go to the smaller learning rate. When the best is at an end of the grid,
    the grid is extended beyond that end by its own ratio (up to ``extend`` times), so that
    the choice is not cut off by where the grid happened to stop. Returns the learning rates
    tried (sorted), the accuracy of every (lr, seed), those added by extension, and the
    chosen lr.
    """
    tried = sorted(LR_GRIDS[strategy] if grid is None else grid)
    ratio = (tried[-1] / tried[0]) ** (1 / (len(tried) - 1)) if len(tried) > 1 else 3.0
    scores: dict[float, list[float]] = {}
    added: list[float] = []

    def score(lr: float) -> None:
        records = [run_point(strategy, train_part, val_part, per_class=per_class, seed=seed, lr=lr, **settings)[1]
                   for seed in seeds]
        scores[lr] = [0.0 if r["diverged"] else r["test_accuracy"] for r in records]

    def best() -> float:
        return max(sorted(scores), key=lambda lr: (sum(scores[lr]) / len(scores[lr]), -lr))

    for lr in tried:
        score(lr)
    up = down = 0
    for _ in range(extend):
        lrs = sorted(scores)
        if len(lrs) < 2 or best() not in (lrs[0], lrs[-1]):
            break
        if best() == lrs[-1]:
            up += 1
            new = float(f"{tried[-1] * ratio ** up:.3g}")
        else:
            down += 1
            new = float(f"{tried[0] / ratio ** down:.3g}")
        added.append(new)
        score(new)
    return {"grid": sorted(scores), "val_accuracy": {repr(lr): scores[lr] for lr in sorted(scores)},
            "extended": added, "chosen": best()}


def curve(points: Sequence[Mapping[str, Any]], strategy: str, arch: str | None = None) -> dict[int, list[float]]:
    """``{training images: [test accuracy per seed]}`` of one strategy, as :func:`transfer_verdict` takes it.

    ``points`` are :func:`run_point` records (those of other strategies, or of another
    ``arch`` when given, are skipped), ordered by size.
    """
    found: dict[int, list[float]] = {}
    for p in points:
        if p["strategy"] == strategy and (arch is None or p["arch"] == arch):
            found.setdefault(int(p["train_images"]), []).append(float(p["test_accuracy"]))
    return dict(sorted(found.items()))


def compare_strategies(points: Sequence[Mapping[str, Any]], first: str = "finetune", second: str = "scratch",
                       arch: str | None = None, labels: Mapping[str, str] | None = None) -> TransferVerdict:
    """:func:`transfer_verdict` of two strategies' curves (:func:`curve`): ``first`` minus ``second`` at every size.

    ``labels`` names the strategies in the verdict's sentence (default: the strategy names).
    """
    labels = labels or {}
    return transfer_verdict(labels.get(first, first), curve(points, first, arch),
                            labels.get(second, second), curve(points, second, arch))


def verdict_table(verdict: TransferVerdict, per_class: Mapping[int, str] | None = None) -> str:
    """The verdict as a table: one row per size with both means ± std, the difference and two standard errors.

    ``per_class`` maps a size in training images to its label in images per class (``"5"``,
    ``"all"``), shown in the first column when given. The columns are as wide as their
    contents (a strategy's column as its name), so the table stays narrow.
    """
    per_class = per_class or {}
    first_width, second_width = max(11, len(verdict.first)), max(11, len(verdict.second))
    head = (f"{'per class':>9}  {'images':>6}  {verdict.first:>{first_width}}  {verdict.second:>{second_width}}  "
            f"{'diff.':>6}  {'2 s.e.':>6}  beyond?")
    rows = [head]
    for c in verdict.comparisons:
        two_se = "-" if math.isnan(c.two_standard_errors) else f"{100 * c.two_standard_errors:.1f}"
        first = f"{100 * c.first.mean:.1f} ± {100 * c.first.std:4.1f}"
        second = f"{100 * c.second.mean:.1f} ± {100 * c.second.std:4.1f}"
        rows.append(f"{per_class.get(c.size, ''):>9}  {c.size:>6}  {first:>{first_width}}  {second:>{second_width}}  "
                    f"{100 * c.difference:>+6.1f}  {two_se:>6}  {'yes' if c.clear else 'no':>7}")
    return ("\n".join(rows) + "\n(test accuracy and differences in percentage points, mean ± std over seeds; "
            "beyond? = is the difference beyond two standard errors)")


def nearest_training_crops(train: ImageSet, queries: ImageSet) -> tuple[Tensor, Tensor]:
    """For every query crop, the index of the most similar training crop and how different they are.

    Similarity is pixel by pixel: the distance is the root-mean-square difference of the two
    crops' pixel values (0-255), 0 for identical crops. Near-duplicates -- neighbouring frames
    of one recording session -- are a few units apart; unrelated crops several tens.
    """
    a = queries.images.flatten(1).float()
    b = train.images.flatten(1).float()
    distances = torch.cdist(a, b) / math.sqrt(a.shape[1])
    best, index = distances.min(dim=1)
    return index, best
