"""The tables of chapters 5 and 5b, computed from the reference results and phrased from their numbers.

- :func:`recipe_table` — the training recipes side by side (``get_recipe``: the paper's, the
  ``fast`` one and the zoo's);
- :func:`table6_rows`, :func:`format_table6` — He et al. 2015, Table 6 beside the zoo's ResNets
  (test error with a single view, as the paper tests, and with flip test-time augmentation);
- :func:`target_verdict` — does a network reach a test-accuracy target, and how far is it
  from the paper's number; :func:`benchmark_target_verdict` the same for a run of
  ``benchmarks/time_to_accuracy.py`` (``results/time_to_accuracy_<device>_<model>.json``);
- :func:`schedule_steps` — how many SGD steps a run made, against the paper's 64k;
- :func:`trick_gains`, :func:`format_trick_gains`, :func:`speedup` — the CPU throughput table
  trick by trick (``results/throughput_<device>_<model>.json``): what each trick bought over the
  row before it;
- :func:`time_to_accuracy_rows`, :func:`format_time_to_accuracy` — epochs to a test accuracy and
  the minutes they take at the run's median pace (:func:`~resnet_course.experiments.zoo.
  median_epoch_seconds`: a slowed-down epoch says nothing about the network);
  :func:`benchmark_time_to_accuracy_row` the same row for a time-to-accuracy benchmark run, with
  the minutes the run itself trained; :func:`curves_against_zoo` and :func:`schedule_gain` set
  such runs beside the zoo run and beside each other;
- :func:`measure_images_per_second` — a few training steps timed by ``fit`` on the reader's
  machine, with the speed switches given (chapter 5b compares float32 and bf16 with it).

:func:`paste` hands computed numbers to a page's text (an exercise's solution).

Printed tables stay within :data:`COLUMN` characters, so that they fit the book's column. Accuracies and
errors are fractions (0.867 is 86.7 %).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from resnet_course.experiments.speed import reached_target, typical_epoch_seconds
from resnet_course.experiments.zoo import PAPER_TABLE6, epochs_to_accuracy, median_epoch_seconds
from resnet_course.lessons.labels import network_label
from resnet_course.lessons.verdicts import TABLE6_DEPTHS
from resnet_course.training.recipes import get_recipe

__all__ = [
    "COLUMN",
    "MEASURABLE",
    "PAPER_ITERATIONS",
    "RECIPE_FIELDS",
    "ScheduleSteps",
    "Table6Row",
    "TargetVerdict",
    "BenchmarkVerdict",
    "TimeToAccuracyRow",
    "TrickGain",
    "benchmark_target_verdict",
    "benchmark_time_to_accuracy_row",
    "curves_against_zoo",
    "format_table6",
    "format_time_to_accuracy",
    "format_trick_gains",
    "measure_images_per_second",
    "time_to_accuracy_report",
    "paste",
    "recipe_table",
    "schedule_gain",
    "schedule_steps",
    "speedup",
    "table6_rows",
    "target_verdict",
    "time_to_accuracy_rows",
    "trick_gains",
]

PAPER_ITERATIONS = 64_000  # He et al. 2015, §4.2: 64k iterations of 128 images
COLUMN = 80  # characters of a printed table line that fit the book's column without wrapping
MEASURABLE = 0.05  # a change of less than 5 % in images per second is within a benchmark's noise

#: The settings :func:`recipe_table` shows, in the order a reader meets them.
RECIPE_FIELDS: tuple[str, ...] = (
    "epochs", "batch_size", "drop_last", "optimizer", "lr", "momentum", "nesterov", "weight_decay",
    "decay_bn_and_bias", "schedule", "warmup_epochs", "label_smoothing", "amp", "channels_last", "compile",
    "fused", "tta_flip",
)


def _pct(value: float, decimals: int = 2) -> str:
    return f"{100 * value:.{decimals}f} %"


def paste(**values: str) -> None:
    """Hand computed numbers to the page's text, where ``{glue:text}`name``` shows them in the book.

    myst-nb's ``glue``, which the book's build reads from the stored outputs; where myst-nb is
    not installed (on Colab) it does nothing, and the code that computes the numbers prints them.
    """
    try:
        from myst_nb import glue
    except ImportError:
        return
    for name, value in values.items():
        glue(name, value, display=False)


# --------------------------------------------------------------------------- the recipes side by side


def recipe_table(names: Sequence[str] = ("paper", "fast", "zoo"), *, width: int = 15) -> str:
    """The recipes ``names`` (:func:`~resnet_course.training.recipes.get_recipe`) as a table, one column each.

    ``None`` (an engineering switch left to the device) prints as ``auto``; a ``*`` marks a
    setting that differs from the first recipe's.
    """
    recipes = [get_recipe(name) for name in names]
    lines = [f"{'setting':18s}" + "".join(f"{name:>{width}s}" for name in names)]
    for field in RECIPE_FIELDS:
        values = [getattr(recipe, field) for recipe in recipes]
        cells = []
        for value in values:
            text = "auto" if value is None else str(value)
            cells.append(f"{text + ('*' if value != values[0] else ' '):>{width}s}")
        lines.append(f"{field:18s}" + "".join(cells))
    lines.append(f"auto: on where it helps on the device (a GPU); *: differs from {names[0]!r}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- Table 6


@dataclass(frozen=True)
class Table6Row:
    """One ResNet of Table 6: the paper's numbers and the zoo run's."""

    name: str
    depth: int
    parameters: int | None  # the zoo network's, counted when it was trained
    paper_params_m: float
    paper_error: float  # a fraction, like the others
    test_error: float  # single view, as the paper tests
    test_error_tta: float | None  # averaged with the mirror image
    epochs: int | None


def table6_rows(zoo: Mapping[str, Mapping[str, Any]], depths: Sequence[int] = TABLE6_DEPTHS) -> list[Table6Row]:
    """The ResNets of Table 6 present in ``zoo`` (:func:`~resnet_course.experiments.zoo.load_zoo`), by depth.

    A depth whose network is not in ``zoo`` is left out, not shown empty.
    """
    rows = []
    for depth in depths:
        name = f"resnet{depth}"
        if name not in zoo or name not in PAPER_TABLE6:
            continue
        result, paper = zoo[name], PAPER_TABLE6[name]
        final, meta = result["final"], result.get("meta", {})
        rows.append(Table6Row(name, depth, meta.get("parameters"), paper["params_m"], paper["error"] / 100,
                              float(final["test_error"]), final.get("test_error_flip_tta"), meta.get("epochs")))
    return rows


def format_table6(rows: Sequence[Table6Row]) -> str:
    """Table 6 beside the zoo: parameters, the paper's test error, ours (single view, flip TTA), the gap."""
    header = (f"{'network':11s}{'params':>8s}{'paper':>8s}{'paper error':>13s}{'our error':>11s}"
              f"{'flip TTA':>10s}{'ours - paper':>14s}")
    lines = [header, "-" * len(header)]
    for row in rows:
        params = f"{row.parameters / 1e6:.2f} M" if row.parameters else "?"
        tta = _pct(row.test_error_tta) if row.test_error_tta is not None else "-"
        gap = f"{100 * (row.test_error - row.paper_error):+.2f} pts"
        paper = f"{row.paper_params_m:g} M"  # as precise as the paper gives it
        lines.append(f"{network_label(row.name):11s}{params:>8s}{paper:>8s}{_pct(row.paper_error):>13s}"
                     f"{_pct(row.test_error):>11s}{tta:>10s}{gap:>14s}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- a target accuracy


@dataclass(frozen=True)
class TargetVerdict:
    """Does ``network`` reach ``target`` test accuracy, and how far is it from the paper's accuracy?"""

    network: str
    accuracy: float  # single view
    accuracy_tta: float | None  # with flip test-time augmentation
    target: float
    paper_accuracy: float
    reached: bool  # single view
    reached_tta: bool
    sentence: str

    def __str__(self) -> str:
        return self.sentence


def target_verdict(name: str, result: Mapping[str, Any], target: float = 0.90) -> TargetVerdict:
    """Whether zoo network ``name`` reaches ``target`` test accuracy, single view and with flip TTA.

    The paper's accuracy is one minus its Table 6 error (He et al. 2015 test a single view).
    """
    final = result["final"]
    accuracy = 1 - float(final["test_error"])
    tta = 1 - float(final["test_error_flip_tta"]) if final.get("test_error_flip_tta") is not None else None
    paper = 1 - PAPER_TABLE6[name]["error"] / 100
    reached, reached_tta = accuracy >= target, tta is not None and tta >= target
    label = network_label(name)
    shown = f"{_pct(accuracy)} test accuracy with a single view" + (
        f" and {_pct(tta)} with flip TTA" if tta is not None else "")
    if reached:
        where = f"at or above the {_pct(target, 0)} target"
    elif reached_tta:
        where = f"below the {_pct(target, 0)} target with a single view, at or above it with flip TTA"
    else:
        where = f"below the {_pct(target, 0)} target" + (" either way" if tta is not None else "")
    gap = 100 * (paper - accuracy)
    versus = (f"{gap:.2f} points below" if gap > 0 else f"{-gap:.2f} points above" if gap < 0 else "level with")
    sentence = (f"{label} reaches {shown}: {where}; single view, {versus} the paper's {_pct(paper)}.")
    return TargetVerdict(name, accuracy, tta, target, paper, reached, reached_tta, sentence)


@dataclass(frozen=True)
class BenchmarkVerdict:
    """Does a time-to-accuracy benchmark run reach ``target``, after how many epochs and minutes?"""

    network: str
    accuracy: float  # the best epoch's test accuracy, as the run evaluated it (flip TTA if ``tta``)
    tta: bool
    epochs: int  # epochs trained (the run stops at the first epoch that reaches its own target)
    max_epochs: int  # the epochs its learning-rate schedule spans
    to_target: tuple[int, float] | None  # (epoch, minutes of training) when ``target`` was first reached
    target: float
    paper_accuracy: float
    sentence: str
    single_view: float | None = None  # the last epoch's network on a single view, where the run used flip TTA

    def __str__(self) -> str:
        return self.sentence


def benchmark_target_verdict(stored: Mapping[str, Any], target: float = 0.90) -> BenchmarkVerdict:
    """Whether the run of ``benchmarks/time_to_accuracy.py`` in ``stored`` reached ``target`` test accuracy.

    The sentence names the recipe, batch size, schedule length and device, says whether the
    accuracy is with flip TTA, and gives the distance to the paper's single-view accuracy
    (one minus He et al. 2015, Table 6's error); where the run stored its last network's
    single-view accuracy (flip TTA runs), that too, beside the paper's.
    """
    run, meta = stored["result"], stored["meta"]
    name, accuracies = run["model"], [float(a) for a in run["val_acc"]]
    tta = bool(run["fit_settings"].get("tta_flip"))
    best = max(accuracies)
    paper = 1 - PAPER_TABLE6[name]["error"] / 100
    hit = reached_target(stored, target)
    label, view = network_label(name), "with flip TTA" if tta else "with a single view"
    how = (f"the {run['recipe']} recipe at batch {run['batch_size']} and peak lr {run['fit_settings']['lr']:g}, "
           f"a {run['max_epochs']}-epoch schedule, on {meta['device']}")
    if hit is None:
        where = (f"reaches at best {_pct(best)} test accuracy {view} in its {run['epochs']} epochs: "
                 f"below the {_pct(target, 0)} target")
    else:
        where = (f"reaches {_pct(accuracies[hit[0] - 1])} test accuracy {view} after {hit[0]} of "
                 f"{run['max_epochs']} epochs, {hit[1]:.0f} minutes of training: at or above the "
                 f"{_pct(target, 0)} target")
    compared = " (which tests a single view)" if tta else ""
    sentence = (f"{label} trained with {how}, {where}; its best epoch is {_versus(best, paper)} the paper's "
                f"{_pct(paper)}{compared}.")
    single = run.get("final_single_view_acc")
    if single is not None:
        sentence += (f" Tested on a single view, as the paper tests, its last epoch's network reaches {_pct(single)}: "
                     f"{_versus(single, paper)} the paper's.")
    return BenchmarkVerdict(name, best, tta, int(run["epochs"]), int(run["max_epochs"]), hit, target, paper, sentence,
                            None if single is None else float(single))


def _versus(accuracy: float, reference: float) -> str:
    gap = 100 * (reference - accuracy)
    return f"{gap:.2f} points below" if gap > 0 else f"{-gap:.2f} points above" if gap < 0 else "level with"


# --------------------------------------------------------------------------- SGD steps


@dataclass(frozen=True)
class ScheduleSteps:
    """How much training a run did: steps per epoch, steps, images seen, and the share of the paper's steps."""

    epochs: int
    train_images: int
    batch_size: int
    steps_per_epoch: int
    steps: int
    images_seen: int
    share_of_paper: float  # steps / 64,000


def schedule_steps(result: Mapping[str, Any]) -> ScheduleSteps:
    """The SGD steps of a zoo run, from its metadata and recipe (every batch is a step, the last may be short)."""
    meta, recipe = result["meta"], result["settings"]["recipe"]
    images, batch, epochs = int(meta["train_images"]), int(recipe["batch_size"]), int(meta["epochs"])
    per_epoch = images // batch if recipe.get("drop_last") else math.ceil(images / batch)
    steps = epochs * per_epoch
    seen = epochs * (per_epoch * batch if recipe.get("drop_last") else images)
    return ScheduleSteps(epochs, images, batch, per_epoch, steps, seen, steps / PAPER_ITERATIONS)


# --------------------------------------------------------------------------- throughput, trick by trick


@dataclass(frozen=True)
class TrickGain:
    """One row of the throughput table and what it bought over the measured row before it."""

    method: str
    images_per_sec: float | None  # None: the trick does not apply on this device
    over_previous: float | None  # images per second over the row before (None for the first or an n/a row)
    over_first: float | None  # over the first row, the usual script
    spread: float | None  # (fastest - slowest) / fastest of the row's repeats
    verdict: str  # "baseline", "faster", "slower", "no measurable change" or the file's note ("n/a on cpu")


def trick_gains(throughput: Mapping[str, Any], measurable: float = MEASURABLE) -> list[TrickGain]:
    """Each row of a throughput result divided by the row before it and by the first row.

    A gain within ``measurable`` (5 %) of 1 is "no measurable change": the rows' repeats
    spread that much on a shared machine. Rows that do not apply on the device keep their note.
    """
    gains: list[TrickGain] = []
    first = previous = None
    for row in throughput["rows"]:
        rate = row.get("images_per_sec")
        if rate is None:
            gains.append(TrickGain(row["method"], None, None, None, None, row.get("note") or "n/a"))
            continue
        runs = row.get("runs_images_per_sec") or [rate]
        spread = (max(runs) - min(runs)) / max(runs)
        if previous is None:
            first = rate
            gains.append(TrickGain(row["method"], rate, None, 1.0, spread, "baseline"))
        else:
            gain = rate / previous
            verdict = ("faster" if gain > 1 + measurable else "slower" if gain < 1 - measurable
                       else "no measurable change")
            gains.append(TrickGain(row["method"], rate, gain, rate / first, spread, verdict))
        previous = rate
    return gains


def format_trick_gains(gains: Sequence[TrickGain], width: int = COLUMN) -> str:
    """The table of :func:`trick_gains`: images/s, × the row before, × the usual script, repeats' spread, trick.

    A trick's name longer than the room left in ``width`` characters continues on the next line.
    """
    header = f"{'images/s':>8s}{'× before':>9s}{'× usual':>8s}{'spread':>7s}  trick (each adds to the rows above)"
    indent = " " * 34
    lines = [header, "-" * len(header)]
    for g in gains:
        name = textwrap.wrap(g.method, width - len(indent)) or [""]
        if g.images_per_sec is None:
            numbers = f"{'n/a':>8s}{'':24s}  "
        else:
            before = f"{g.over_previous:.2f}×" if g.over_previous is not None else "-"
            numbers = f"{g.images_per_sec:8.1f}{before:>9s}{g.over_first:>7.2f}×{g.spread:>7.0%}  "
        lines.append(numbers + name[0])
        lines += [indent + more for more in name[1:]]
    return "\n".join(lines)


def speedup(throughput: Mapping[str, Any], method: str, over: str) -> float:
    """Images per second of row ``method`` over those of row ``over`` (rows named as in the file)."""
    rates = {row["method"]: row.get("images_per_sec") for row in throughput["rows"]}
    for name in (method, over):
        if rates.get(name) is None:
            raise KeyError(f"no measured row {name!r}; the rows: {', '.join(rates)}")
    return rates[method] / rates[over]


# --------------------------------------------------------------------------- time to accuracy


@dataclass(frozen=True)
class TimeToAccuracyRow:
    """Epochs and minutes to each target test accuracy of one run: a zoo run's at its median pace
    (:func:`time_to_accuracy_rows`), a benchmark run's as it trained (:func:`benchmark_time_to_accuracy_row`)."""

    name: str
    epochs: int
    final_accuracy: float
    best_accuracy: float
    median_epoch_s: float
    images_per_sec: float  # at the median epoch's pace
    to_target: dict[float, tuple[int, float] | None]  # target -> (epochs, minutes), or None if never reached
    pace: str = "at its median pace"  # how the minutes were counted


def time_to_accuracy_rows(zoo: Mapping[str, Mapping[str, Any]],
                          targets: Sequence[float] = (0.85, 0.90)) -> list[TimeToAccuracyRow]:
    """For each run in ``zoo``: epochs to each target test accuracy and their minutes at the median pace."""
    rows = []
    for name, result in zoo.items():
        accuracy = result["history"]["val_acc"]
        seconds = median_epoch_seconds(result)
        reached = {}
        for target in targets:
            epochs = epochs_to_accuracy(result, target)
            reached[target] = None if epochs is None else (epochs, epochs * seconds / 60)
        rows.append(TimeToAccuracyRow(name, len(accuracy), float(accuracy[-1]), float(max(accuracy)), seconds,
                                      result["meta"]["train_images"] / seconds, reached))
    return rows


def benchmark_time_to_accuracy_row(stored: Mapping[str, Any],
                                   targets: Sequence[float] = (0.85, 0.90)) -> TimeToAccuracyRow:
    """A time-to-accuracy benchmark run as a :class:`TimeToAccuracyRow`: epochs to each target and the
    minutes of training they took (the run's own training seconds up to that epoch, evaluation excluded)."""
    run = stored["result"]
    accuracy, median = run["val_acc"], typical_epoch_seconds(stored)
    reached = {target: reached_target(stored, target) for target in targets}
    return TimeToAccuracyRow(run["model"], len(accuracy), float(accuracy[-1]), float(max(accuracy)), median,
                             run["train_images"] / median, reached, pace="of its own training")


def format_time_to_accuracy(rows: Sequence[TimeToAccuracyRow]) -> str:
    """The table of :func:`time_to_accuracy_rows`: one line per network, one column per target."""
    targets = list(rows[0].to_target) if rows else []
    header = f"{'network':11s}{'epochs':>7s}{'final acc':>11s}{'median epoch':>14s}" + "".join(
        f"{'to ' + _pct(t, 0):>18s}" for t in targets)
    lines = [header, "-" * len(header)]
    for row in rows:
        cells = []
        for target in targets:
            hit = row.to_target[target]
            cells.append(f"{'not reached' if hit is None else f'{hit[0]} ep, {hit[1]:.1f} min':>18s}")
        lines.append(f"{network_label(row.name):11s}{row.epochs:>7d}{_pct(row.final_accuracy):>11s}"
                     f"{row.median_epoch_s:>12.1f} s" + "".join(cells))
    return "\n".join(lines)


def time_to_accuracy_report(row: TimeToAccuracyRow, result: Mapping[str, Any],
                            throughput: Mapping[str, Any]) -> str:
    """One network's time to each target, its pace, and the usual script's rate on the same CPU.

    ``row`` is the network's :class:`TimeToAccuracyRow`, ``result`` its zoo result (or a stored
    time-to-accuracy benchmark run) and ``throughput`` a throughput result whose first row is the
    usual training script. Where a target was reached, the report adds what the same epochs take
    at the usual script's rate.
    """
    label = network_label(row.name)
    lines = []
    for target, hit in row.to_target.items():
        lines.append(f"{label} to {_pct(target, 0)} test accuracy: " + (
            f"not reached in its {row.epochs} epochs (best {_pct(row.best_accuracy)})" if hit is None
            else f"{hit[0]} epochs, {hit[1]:.1f} minutes {row.pace}"))
    history = result["result"]["history"] if "result" in result else result["history"]
    rates = history["images_per_sec"]
    images = result["meta"]["train_images"]
    lines.append(f"its median pace: {row.median_epoch_s:.1f} s per epoch of {images:,} images, "
                 f"{row.images_per_sec:.0f} images/s; its epochs ran at {min(rates):.0f} to {max(rates):.0f} images/s")
    usual = throughput["rows"][0]
    seconds = images / usual["images_per_sec"]
    lines.append(f"the usual training script (the throughput table's first row) on the same CPU: "
                 f"{usual['images_per_sec']:.1f} images/s, {seconds:.0f} s per epoch")
    reached = [(target, hit) for target, hit in row.to_target.items() if hit is not None]
    if reached:
        target, (epochs, _) = reached[0]
        lines.append(f"at that rate, the {epochs} epochs to {_pct(target, 0)} would take "
                     f"{epochs * seconds / 60:.1f} minutes")
    return "\n".join(lines)


def curves_against_zoo(curves: Mapping[str, Sequence[float]], zoo_curve: Sequence[float]) -> list[str]:
    """Test-accuracy curves of other runs (by label) against the zoo run's ``zoo_curve``, epoch by epoch:
    at how many of the zoo run's epochs each is behind it, and the first epoch at which it passes the
    zoo run's final accuracy ("never" if none)."""
    lines = []
    for label, curve in curves.items():
        behind = sum(other < zoo for other, zoo in zip(curve, zoo_curve))
        passed = next((epoch for epoch, accuracy in enumerate(curve, start=1) if accuracy > zoo_curve[-1]), None)
        passing = (f"first above its final {zoo_curve[-1]:.2%} at epoch {passed} of {len(curve)}" if passed
                   else f"never above its final {zoo_curve[-1]:.2%} in {len(curve)} epochs")
        lines.append(f"{label}: behind the zoo run at {behind} of its {len(zoo_curve)} epochs; {passing}")
    return lines


def schedule_gain(shorter: Mapping[str, Any], longer: Mapping[str, Any]) -> str:
    """Two time-to-accuracy runs (``stored["result"]``) of different schedules: the longer schedule's best
    epoch against the shorter one's, in percentage points."""
    gain = max(longer["val_acc"]) - max(shorter["val_acc"])
    return (f"the {longer['max_epochs']}-epoch schedule's best epoch against the {shorter['max_epochs']}-epoch "
            f"one's: {100 * gain:+.2f} points")


# --------------------------------------------------------------------------- timing a few steps here


def measure_images_per_second(model_name: str, data: Any, device: Any, *, batch_size: int = 128, steps: int = 6,
                              warmup: int = 2, **settings: Any) -> float:
    """Training images per second of a fresh ``model_name`` on ``device``, timed by ``fit`` over ``steps`` steps.

    ``data`` is an :class:`~resnet_course.data.imageset.ImageSet`; ``settings`` are ``fit``'s
    (``amp``, ``channels_last`` …). ``warmup`` untimed steps come first, as the first steps of
    a run are slower (memory allocation, kernel selection). The caller's random state is kept.
    """
    from resnet_course.data.loaders import TensorLoader
    from resnet_course.nn.registry import create_model
    from resnet_course.training.loop import fit

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = create_model(model_name)
        loader = TensorLoader(data, batch_size=batch_size, device=device, seed=0)
        batches = [batch for _, batch in zip(range(warmup + steps), loader)]
        run = dict(epochs=1, lr=0.1, schedule="constant", device=device, progress=False, **settings)
        if warmup:
            fit(model, batches[:warmup], **run)
        return float(fit(model, batches[warmup:], **run).images_per_sec[0])

