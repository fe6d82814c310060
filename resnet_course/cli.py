"""The ``resnet-course`` command (also ``python -m resnet_course``).

    resnet-course list-models
    resnet-course train --model resnet20 --data cifar10 --epochs 182 --schedule paper --out results/resnet20
    resnet-course train --model resnet18_cifar --recipe fast --out results/resnet18_fast
    resnet-course train --out results/resnet20 --resume            # continue a stopped run exactly
    resnet-course evaluate results/resnet20/best.pt
    resnet-course bench --model resnet20 --steps 30

``train`` writes ``history.json`` (per-epoch curves), ``best.pt`` / ``last.pt``
(checkpoints) and ``metadata.json`` (how the run was made) into ``--out``; ``evaluate``
rebuilds the network and the test data from a checkpoint alone.

The command is thin: it parses, builds a :class:`~resnet_course.training.TrainConfig`
(flags over the recipe over the defaults), calls the package, and turns every anticipated
error into one line on stderr that names the file or option and what to do (exit status
2 for a mistake in the arguments, 1 for anything else, 130 for Ctrl-C); ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Callable, Sequence

import torch

from resnet_course.budget import Budget, current_budget
from resnet_course.data.cifar10 import CIFAR10_CLASSES
from resnet_course.data.hands import HANDS_CLASSES
from resnet_course.data.imageset import ImageSet
from resnet_course.data.loaders import TensorLoader
from resnet_course.data.registry import DATASETS, load_dataset, normalisation_for
from resnet_course.experiments.provenance import device_name, run_metadata
from resnet_course.nn.registry import create_model, list_models
from resnet_course.training.checkpoint import CheckpointError, atomic_write, load_checkpoint, remove_leftovers
from resnet_course.training.config import TrainConfig
from resnet_course.training.evaluation import evaluate
from resnet_course.training.history import History
from resnet_course.training.loop import fit
from resnet_course.training.optim import SCHEDULES
from resnet_course.training.recipes import get_recipe, list_recipes
from resnet_course.training.runtime import distributed_info, resolve_device, seed_everything

__all__ = [
    "build_parser", "check_output_folder", "cmd_bench", "cmd_evaluate", "cmd_experiment", "cmd_list_models",
    "cmd_train", "CommandError", "DATASET_CLASSES", "device_option", "EVAL_BATCH_SIZE", "main", "RUN_FILES",
    "train_config",
]

EVAL_BATCH_SIZE = 500
DATASET_CLASSES = {"cifar10": CIFAR10_CLASSES, "hands": HANDS_CLASSES}
RUN_FILES = ("history.json", "metadata.json", "best.pt", "last.pt", "interrupted.pt")  # what train writes
PATH_VARIABLES = ("RESNET_COURSE_CACHE", "RESNET_COURSE_DATA")  # folders the environment may name
TRAIN_FLAGS = ("epochs", "schedule", "warmup_epochs", "batch_size", "lr", "momentum", "weight_decay", "nesterov",
               "label_smoothing")  # the flags that are TrainConfig settings, named alike


class CommandError(Exception):
    """A mistake in the command's arguments or inputs: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument prints one line (and the hint to use --help), not the whole usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# --------------------------------------------------------------------------- argument values


def _number(kind: Callable[[str], float], test: Callable[[float], bool], wanted: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, not {text!r}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"must be {wanted}, not {text}")
        return value

    parse.__name__ = kind.__name__  # what argparse calls the type in its messages
    return parse


positive_int = _number(int, lambda v: v >= 1, "a whole number >= 1")
non_negative_int = _number(int, lambda v: v >= 0, "a whole number >= 0")
positive_float = _number(float, lambda v: 0 < v < float("inf"), "a number > 0")
non_negative_float = _number(float, lambda v: 0 <= v < float("inf"), "a number >= 0")
fraction = _number(float, lambda v: 0 <= v < 1, "a number in [0, 1)")


def device_option(name: str | None) -> torch.device:
    """``--device``: the named device, or CUDA if there is one; under ``torchrun``, each process's own GPU."""
    try:
        return resolve_device(name)
    except ValueError as error:
        raise CommandError(f"--device: {error}") from None


def _dataset_options(data: str, image_size: int | None) -> dict[str, int]:
    if image_size is None:
        return {}
    if data != "hands":
        raise CommandError("--image-size applies to --data hands only (CIFAR-10 images are 32×32)")
    return {"size": image_size}


# --------------------------------------------------------------------------- list-models, train


def cmd_list_models(_args: argparse.Namespace) -> int:
    for name in list_models():
        print(name)
    return 0


def train_config(args: argparse.Namespace, budget: Budget) -> TrainConfig:
    """The run's settings: explicit flags first, then the recipe, then the defaults.

    Without ``--recipe`` this is what ``train`` always did: the paper's optimiser settings,
    with epochs, schedule and warm-up from the quick/full budget. With it, the recipe
    supplies every setting a flag does not; quick mode still shrinks the epochs.
    """
    if args.recipe is None:
        base = get_recipe("paper").replace(epochs=budget.epochs, schedule=budget.schedule,
                                           warmup_epochs=budget.warmup_epochs)
    else:
        base = get_recipe(args.recipe)
        if budget.quick:
            base = base.replace(epochs=budget.epochs)
    flags = {name: getattr(args, name) for name in TRAIN_FLAGS if getattr(args, name) is not None}
    return base.replace(seed=args.seed, **flags)


def check_output_folder(out: Path, *, resume: bool, overwrite: bool) -> Path:
    """``--out``: a folder; one that holds files only with ``--resume`` (a run to continue) or
    ``--overwrite``. Leftovers of a checkpoint write that was killed are removed first."""
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {out} is a file; give a folder for the run's files")
    above = next((parent for parent in out.parents if parent.exists()), None)
    if above is not None and not above.is_dir():
        raise CommandError(f"--out {out}: {above} is a file, so no folder can be made inside it")
    if out.is_dir():
        remove_leftovers(out)
    has_checkpoint = any((out / name).is_file() for name in ("last.pt", "interrupted.pt"))
    if resume and not has_checkpoint:
        raise CommandError(f"--resume: {out} holds no last.pt or interrupted.pt to continue from; "
                           "drop --resume to start a new run there")
    found = sorted(path.name for path in out.iterdir()) if out.is_dir() else []
    if found and not (resume or overwrite):
        shown = ", ".join(found[:4]) + (f" and {len(found) - 4} more" if len(found) > 4 else "")
        raise CommandError(f"--out {out} is not empty ({shown}): continue the run in it with --resume, replace it "
                           "with --overwrite, or choose another folder")
    return out


def training_data(args: argparse.Namespace, budget: Budget, options: dict[str, int]) -> tuple[ImageSet, ImageSet]:
    """The training and test splits, each cut to its subset (the budget's unless given), seeded."""
    train_set = load_dataset(args.data, "train", args.data_root, **options)
    test_set = load_dataset(args.data, "test", args.data_root, **options)
    train_subset = args.subset if args.subset is not None else budget.train_subset
    test_subset = args.test_subset if args.test_subset is not None else budget.test_subset
    if train_subset is not None and train_subset < len(train_set):
        train_set = train_set.subset(train_subset, seed=args.seed)
    if test_subset is not None and test_subset < len(test_set):
        test_set = test_set.subset(test_subset, seed=args.seed)
    return train_set, test_set


def cmd_train(args: argparse.Namespace) -> int:
    budget = current_budget()
    config = train_config(args, budget)  # an unknown recipe or a bad setting fails here, before any work
    out = check_output_folder(Path(args.out), resume=args.resume, overwrite=args.overwrite)
    device = device_option(args.device)
    options = _dataset_options(args.data, args.image_size)
    seed_everything(args.seed)  # before the model is built: the same seed gives the same initial weights
    model = create_model(args.model, num_classes=len(DATASET_CLASSES[args.data]))  # a bad name fails before data loads
    train_set, test_set = training_data(args, budget, options)
    mean, std = normalisation_for(args.data, train_set)
    train_loader = TensorLoader(train_set, batch_size=config.batch_size, mean=mean, std=std, device=device,
                                seed=args.seed, drop_last=config.drop_last)
    test_loader = TensorLoader(test_set, batch_size=EVAL_BATCH_SIZE, shuffle=False, augment=False, mean=mean,
                               std=std, device=device)
    meta = {  # what fit records beside the settings, and compares on --resume
        "model": args.model, "data": args.data, "data_variant": train_set.variant,
        "image_size": int(train_set.images.shape[-1]), "classes": list(train_set.classes),
        "train_images": len(train_set), "test_images": len(test_set), "test_subset_seed": args.seed,
        "normalisation": {"mean": list(mean), "std": list(std)}, "mode": budget.mode, "recipe": args.recipe,
    }
    is_main = distributed_info()[0] == 0  # under torchrun one process speaks and writes
    if is_main:
        print(f"training {args.model} on {train_set.variant}: {len(train_set):,} training / {len(test_set):,} test "
              f"images, {config.epochs} epoch{'s' if config.epochs != 1 else ''}, device {device_name(device)}")
        start_output_folder(out, overwrite=args.overwrite)
    history = fit(model, train_loader, test_loader, config, checkpoint_dir=out, resume=args.resume,
                  progress="log" if args.no_progress else True, device=device, meta=meta)
    if is_main:
        write_run(out, history)
    return 0


def start_output_folder(out: Path, *, overwrite: bool) -> None:
    """Create ``--out``; with ``--overwrite``, remove the files a previous run wrote there (only those)."""
    out.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)


def write_run(out: Path, history: History) -> None:
    """``history.json`` and ``metadata.json`` (the settings as used, the data, the environment, the results)."""
    history.meta.update(
        wall_time_s=round(history.wall_time, 2),
        final_test_accuracy=history.val_acc[-1] if history.val_acc else None,
        best_test_accuracy=history.best_val_acc,
    )
    for name, data in (("history.json", history.to_dict()), ("metadata.json", history.to_dict()["meta"])):
        text = json.dumps(data, indent=2) + "\n"
        atomic_write(out / name, lambda f, text=text: f.write(text.encode()))
    best = f"{history.best_val_acc:.2%}" if history.best_val_acc is not None else "n/a"
    print(f"best test accuracy {best}; wrote {out / 'history.json'}, {out / 'best.pt'}, {out / 'metadata.json'}")


# --------------------------------------------------------------------------- evaluate


def _checkpoint_meta(checkpoint: dict, path: Path) -> dict:
    meta = dict((checkpoint.get("history") or {}).get("meta") or {})
    beside = path.parent / "metadata.json"
    if not meta.get("data") and beside.is_file():
        try:
            meta.update(json.loads(beside.read_text()))
        except ValueError:
            raise CommandError(f"{beside} is not valid JSON; restore it or delete it") from None
    missing = [key for key in ("data", "image_size", "normalisation") if key not in meta]
    if missing or checkpoint.get("arch") is None:
        raise CommandError(f"{path} does not say which network and data it was trained on (no "
                           f"{', '.join(missing) or 'arch'} in it or beside it); use a checkpoint written by "
                           "'resnet-course train'")
    return meta


def cmd_evaluate(args: argparse.Namespace) -> int:
    path = Path(args.checkpoint)
    if not path.is_file():
        raise CommandError(f"no checkpoint at {path}")
    checkpoint = load_checkpoint(path)
    meta = _checkpoint_meta(checkpoint, path)
    model = create_model(checkpoint["arch"], num_classes=checkpoint["num_classes"])
    load_checkpoint(path, model)
    device = device_option(args.device)
    options = {"size": meta["image_size"]} if meta["data"] == "hands" else {}
    test_set = load_dataset(meta["data"], "test", args.data_root, **options)
    if not args.all_test_images and meta.get("test_images", len(test_set)) < len(test_set):
        test_set = test_set.subset(meta["test_images"], seed=meta.get("test_subset_seed", 0))
    norm = meta["normalisation"]
    loader = TensorLoader(test_set, batch_size=EVAL_BATCH_SIZE, shuffle=False, augment=False, mean=norm["mean"],
                          std=norm["std"], device=device)
    result = evaluate(model, loader, tta_flip=args.tta_flip, device=device)
    report = {"checkpoint": str(path), "model": checkpoint["arch"], "data_variant": test_set.variant,
              "test_images": result["count"], "accuracy": result["accuracy"], "loss": result["loss"],
              "tta_flip": args.tta_flip}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{checkpoint['arch']} on {result['count']:,} test images of {test_set.variant}: "
              f"accuracy {result['accuracy']:.2%}, loss {result['loss']:.4f}"
              + (" (flip TTA)" if args.tta_flip else ""))
    return 0


# --------------------------------------------------------------------------- experiment, bench


def cmd_experiment(args: argparse.Namespace) -> int:
    from resnet_course.experiments.reference import EXPERIMENTS, run_experiment

    device = device_option(args.device)
    amp = {None: None, "off": False}.get(args.amp, args.amp)
    common = {"seed": args.seed, "device": device, "data_root": args.data_root}
    if args.name in EXPERIMENTS:
        path = run_experiment(args.name, epochs=args.epochs or 182, subset=args.subset, test_subset=args.test_subset,
                              batch_size=args.batch_size or 128, warmup_epochs=args.warmup_epochs, amp=amp,
                              channels_last=args.channels_last, out=args.out, progress=not args.no_progress,
                              **common)
    elif args.name == "zoo":
        from resnet_course.experiments.zoo import ZOO_RECIPE, run_zoo

        recipe = ZOO_RECIPE.with_changes(epochs=args.epochs) if args.epochs else ZOO_RECIPE
        paths = run_zoo(args.only, recipe=recipe, subset=args.subset, test_subset=args.test_subset,
                        results_dir=args.results_dir, runs_dir=args.runs_dir, progress=not args.no_progress, **common)
        path = paths[-1].parent
    elif args.name == "pretrained":
        from resnet_course.experiments.pretrained import run_pretrained

        path = run_pretrained(epochs=args.epochs or 20, subset=args.subset, amp=amp, batch_size=args.batch_size,
                              channels_last=args.channels_last,
                              results_dir=args.results_dir, progress=not args.no_progress, **common)
    elif args.name == "gestures":
        from resnet_course.experiments.gestures import SIZES, run_gestures

        if args.epochs:
            raise CommandError("experiment gestures gives every run a number of steps, not epochs: use --steps")
        path = run_gestures(sizes=args.sizes or SIZES, seeds=args.seeds, steps=args.steps, image_size=args.image_size,
                            batch_size=args.batch_size or 32, sources=args.sources, results_dir=args.results_dir,
                            progress=not args.no_progress, **({"amp": amp} if args.amp else {}), **common)
    elif args.name == "lesion":
        from resnet_course.experiments.lesion import run_lesion

        path = run_lesion(test_subset=args.test_subset, results_dir=args.results_dir, **common)
    else:
        from resnet_course.experiments.landscape import run_landscape

        path = run_landscape(points_2d=args.points, points_1d=2 * args.points - 1, images=args.subset or 1_000,
                             amp=amp, results_dir=args.results_dir, **common)
    print(f"wrote {path}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from resnet_course.experiments.speed import format_table, throughput_comparison

    device = device_option(args.device)
    report = throughput_comparison(args.model, steps=args.steps, batch_size=args.batch_size, device=device,
                                   data_root=args.data_root, workers=args.workers, tricks=args.tricks)
    print(format_table(report, run_metadata(device)))
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="resnet-course",
        description="Build, train and evaluate the ResNets of the ResNet Course.",
        epilog="Data comes from $RESNET_COURSE_DATA (or --data-root). RESNET_COURSE_QUICK=1 selects quick mode. "
               "Errors are one line; --debug shows the traceback.",
    )
    parser.add_argument("--debug", action="store_true", help="on an error, show the traceback")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    listing = commands.add_parser("list-models", help="print every model name create_model() accepts")
    listing.set_defaults(run=cmd_list_models)
    _add_train(commands)
    _add_evaluate(commands)
    _add_experiment(commands)
    _add_bench(commands)
    for command in commands.choices.values():  # --debug after the command, too
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _add_train(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser(
        "train", help="train a model and write history, checkpoints and metadata",
        description="Train a network with SGD and write history.json, best.pt, last.pt and metadata.json to --out. "
                    "Without --epochs, quick mode trains briefly on a subset and full mode uses the full budget.",
    )
    train.add_argument("--model", default="resnet20",
                       help="a name from 'resnet-course list-models' (default: resnet20)")
    train.add_argument("--data", default="cifar10", choices=DATASETS, help="the data set (default: cifar10)")
    train.add_argument("--out", required=True, help="folder for history.json, best.pt, last.pt and metadata.json "
                                                    "(must be empty unless --resume or --overwrite)")
    train.add_argument("--recipe", metavar="NAME",
                       help=f"a named set of settings ({', '.join(list_recipes())}): 'paper' is He et al. 2015 "
                            "§4.2, 'fast' trains for time to accuracy; the flags below override it")
    train.add_argument("--epochs", type=positive_int, help="epochs to train (the paper's CIFAR schedule is 182)")
    train.add_argument("--schedule", choices=SCHEDULES,
                       help="learning-rate schedule; 'paper' divides by 10 at 50%% and 75%% of training "
                            "(default: the recipe's; without one, paper in full mode, onecycle in quick mode)")
    train.add_argument("--batch-size", type=positive_int,
                       help="images per step (default: 128, as the paper, or the recipe's)")
    train.add_argument("--lr", type=positive_float, help="peak learning rate (default: 0.1, or the recipe's)")
    train.add_argument("--momentum", type=fraction, help="(default: 0.9, or the recipe's)")
    train.add_argument("--weight-decay", type=non_negative_float, help="(default: 1e-4, or the recipe's)")
    train.add_argument("--nesterov", action=argparse.BooleanOptionalAction,
                       help="Nesterov momentum (default: off, or the recipe's)")
    train.add_argument("--warmup-epochs", type=non_negative_float,
                       help="linear warm-up (default: the recipe's; without one, 0.3 in quick mode, else 0)")
    train.add_argument("--label-smoothing", type=fraction, help="(default: 0, or the recipe's)")
    train.add_argument("--subset", type=positive_int, help="train on this many images (class-balanced, seeded)")
    train.add_argument("--test-subset", type=positive_int, help="evaluate on this many test images")
    train.add_argument("--image-size", type=positive_int,
                       help="side of the hand crops in pixels (hands only; default 64)")
    train.add_argument("--seed", type=non_negative_int, default=0,
                       help="seeds the initial weights, the subsets and the batch order (default: 0)")
    train.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available)")
    train.add_argument("--data-root", help="data folder (default: $RESNET_COURSE_DATA)")
    again = train.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its last checkpoint, with the same settings")
    again.add_argument("--overwrite", action="store_true", help="replace the run in --out (its files are deleted)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar (still one line per epoch)")
    train.set_defaults(run=cmd_train)


def _add_evaluate(commands: argparse._SubParsersAction) -> None:
    evaluate_ = commands.add_parser("evaluate", help="test accuracy of a checkpoint written by 'train'")
    evaluate_.add_argument("checkpoint", help="a .pt file written by 'resnet-course train'")
    evaluate_.add_argument("--tta-flip", action="store_true", help="average predictions on the image and its mirror")
    evaluate_.add_argument("--all-test-images", action="store_true",
                           help="use the whole test split, not the subset the run was evaluated on")
    evaluate_.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available)")
    evaluate_.add_argument("--data-root", help="data folder (default: $RESNET_COURSE_DATA)")
    evaluate_.add_argument("--json", action="store_true", help="print one JSON line")
    evaluate_.set_defaults(run=cmd_evaluate)


def _add_experiment(commands: argparse._SubParsersAction) -> None:
    from resnet_course.experiments.reference import EXPERIMENTS, OTHER_EXPERIMENTS

    experiment = commands.add_parser(
        "experiment", help="run a reference experiment of the book and write results/<name>.json",
        description="Train the networks of one of the book's reference experiments and write their curves and "
                    "metadata to results/<name>.json. Experiments: "
                    + "; ".join([*(f"{e.name}: {e.description}" for e in EXPERIMENTS.values()),
                                 *(f"{name}: {text}" for name, text in OTHER_EXPERIMENTS.items())]),
    )
    experiment.add_argument("name", choices=sorted([*EXPERIMENTS, *OTHER_EXPERIMENTS]))
    experiment.add_argument("--epochs", type=positive_int,
                            help="epochs per network (default: the paper's 182 for degradation and table6; "
                                 "20 for pretrained)")
    experiment.add_argument("--subset", type=positive_int,
                            help="training images (default: all 50,000; landscape: the images the loss is "
                                 "measured on, default 1,000)")
    experiment.add_argument("--test-subset", type=positive_int, help="test images (default: all 10,000)")
    experiment.add_argument("--batch-size", type=positive_int,
                            help="degradation and table6 (default 128); pretrained: replaces the 'fast' recipe's 512 "
                                 "and scales its lr in proportion")
    experiment.add_argument("--warmup-epochs", type=non_negative_float, default=0.0,
                            help="linear learning-rate warm-up before the paper's schedule (reduced runs need it)")
    experiment.add_argument("--amp", choices=("bf16", "fp16", "off"),
                            help="mixed precision (default: bf16 on a GPU, off on a CPU; bf16 is ~2.7x faster on a "
                                 "CPU)")
    experiment.add_argument("--channels-last", action="store_true", default=None,
                            help="channels-last memory layout (default: on for a GPU)")
    experiment.add_argument("--points", type=positive_int, default=21,
                            help="landscape: grid points per axis of the 2-D slice")
    experiment.add_argument("--seed", type=non_negative_int, default=0)
    experiment.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available)")
    experiment.add_argument("--data-root", help="data folder (default: $RESNET_COURSE_DATA)")
    experiment.add_argument("--out", help="degradation and table6: output JSON (default: results/<name>.json)")
    experiment.add_argument("--results-dir", help="the others: folder to read the pre-trained networks from and "
                                                  "write to (default: results/)")
    experiment.add_argument("--only", nargs="+", metavar="NAME", help="zoo: train only these networks")
    experiment.add_argument("--runs-dir", default="runs",
                            help="zoo: folder of the per-epoch checkpoints that let a stopped run resume "
                                 "(default: runs/)")
    gestures = experiment.add_argument_group("gestures (learning curves on the session split)")
    gestures.add_argument("--sizes", nargs="+", type=lambda v: None if v == "all" else positive_int(v),
                          help="training images per class, 'all' for every one (default: 5 10 20 50 all)")
    gestures.add_argument("--seeds", type=positive_int, default=3, help="seeds per point (default: 3)")
    gestures.add_argument("--steps", type=positive_int, help="steps of every run (default: by size, 100 to 400)")
    gestures.add_argument("--image-size", type=positive_int, default=32, help="crop side in pixels (default: 32)")
    gestures.add_argument("--sources", nargs="+", default=["resnet20"], metavar="ARCH",
                          help="CIFAR-10 networks to transfer from (default: resnet20)")
    experiment.add_argument("--no-progress", action="store_true")
    experiment.set_defaults(run=cmd_experiment)


def _add_bench(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser(
        "bench", help="images per second: the usual DataLoader loop vs the tensor-resident fit",
        description="Train the same network for the same number of steps two ways (with --tricks: adding one "
                    "speed trick at a time) and compare images per second.",
    )
    bench.add_argument("--model", default="resnet20")
    bench.add_argument("--steps", type=positive_int, default=30, help="timed training steps per method (default: 30)")
    bench.add_argument("--batch-size", type=positive_int, default=128)
    bench.add_argument("--workers", type=non_negative_int, default=2,
                       help="DataLoader workers of the usual loop (default: 2)")
    bench.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available)")
    bench.add_argument("--data-root", help="data folder (default: $RESNET_COURSE_DATA)")
    bench.add_argument("--tricks", action="store_true",
                       help="also add bf16, channels-last, torch.compile, CUDA graphs, fused SGD and the fast recipe "
                            "one at a time, and the share of the measured bf16 matmul peak")
    bench.set_defaults(run=cmd_bench)


# --------------------------------------------------------------------------- main: one line per error

# Errors the command anticipates (bad names and values, missing or damaged files, divergence):
# one line each. Anything else is a bug and keeps its traceback.
ANTICIPATED = (CommandError, ValueError, OSError, FloatingPointError, CheckpointError, torch.cuda.OutOfMemoryError)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except KeyboardInterrupt as stop:
        if args.debug:
            raise
        print(interrupted_message(args.command, argv, stop), file=sys.stderr)
        return 130
    except ANTICIPATED as error:
        if args.debug:
            raise
        print(f"resnet-course {args.command}: error: {error_line(error)}", file=sys.stderr)
        return 2 if isinstance(error, CommandError) else 1


def error_line(error: BaseException) -> str:
    """The error's message on one line (what to do is in the message itself)."""
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return f"out of GPU memory ({text.split('.')[0]}): use a smaller --batch-size"
    if isinstance(error, OSError) and not isinstance(error, FileNotFoundError) and error.filename:
        text = f"{error.strerror or text}: {error.filename}"
        for variable in PATH_VARIABLES:  # a path that came from the environment: say which variable to fix
            value = os.environ.get(variable)
            if value and str(error.filename).startswith(value):
                text += f" (the path comes from ${variable}; set it to a folder that can be used)"
    return text


def interrupted_message(command: str, argv: Sequence[str], stop: BaseException) -> str:
    """Where Ctrl-C left the work, and the exact command that continues it."""
    checkpoint = getattr(stop, "checkpoint", None)
    if checkpoint is None:
        return f"resnet-course {command}: interrupted; nothing was saved"
    words = [word for word in argv if word not in ("--overwrite", "--debug")]
    if command == "train" and "--resume" not in words:
        words.append("--resume")
    return (f"resnet-course {command}: interrupted; the run can continue from {checkpoint}. "
            f"Continue it with: {shlex.join(['resnet-course', *words])}")


if __name__ == "__main__":
    sys.exit(main())
