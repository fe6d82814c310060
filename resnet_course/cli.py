"""The ``resnet-course`` command (also ``python -m resnet_course``).

    resnet-course list-models
    resnet-course train --model resnet20 --data cifar10 --epochs 182 --schedule paper --out results/resnet20
    resnet-course train --model resnet18_cifar --recipe fast --out results/resnet18_fast
    resnet-course evaluate results/resnet20/best.pt
    resnet-course bench --model resnet20 --steps 30

``train`` writes ``history.json`` (per-epoch curves), ``best.pt`` / ``last.pt``
(checkpoints) and ``metadata.json`` (how the run was made) into ``--out``; ``evaluate``
rebuilds the network and the test data from a checkpoint alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import torch

from resnet_course.budget import Budget, current_budget
from resnet_course.data.cifar10 import CIFAR10_CLASSES
from resnet_course.data.hands import HANDS_CLASSES
from resnet_course.data.loaders import TensorLoader
from resnet_course.data.registry import DATASETS, load_dataset, normalisation_for
from resnet_course.experiments.provenance import run_metadata
from resnet_course.nn.registry import create_model, list_models
from resnet_course.training.checkpoint import load_checkpoint
from resnet_course.training.evaluation import evaluate
from resnet_course.training.loop import fit
from resnet_course.training.optim import SCHEDULES
from resnet_course.training.recipes import Recipe, get_recipe, list_recipes
from resnet_course.training.runtime import distributed_info

EVAL_BATCH_SIZE = 500
DATASET_CLASSES = {"cifar10": CIFAR10_CLASSES, "hands": HANDS_CLASSES}


class CommandError(Exception):
    """A mistake in the command's arguments or inputs: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument prints one line (and the hint to use --help), not the whole usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _device(name: str | None) -> torch.device:
    """The device named, or CUDA if there is one; under ``torchrun``, each process's own GPU."""
    if name is None:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise CommandError(f"unknown device {name!r}: use cpu, cuda or cuda:N") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CommandError(f"--device {name}: this machine has no CUDA GPU; use --device cpu")
    _, world_size, local_rank = distributed_info()
    if device.type == "cuda" and device.index is None and world_size > 1:
        device = torch.device("cuda", local_rank)
    return device


def _dataset_options(data: str, image_size: int | None) -> dict[str, int]:
    if image_size is None:
        return {}
    if data != "hands":
        raise CommandError("--image-size applies to --data hands only (CIFAR-10 images are 32×32)")
    return {"size": image_size}


# --------------------------------------------------------------------------- commands


def cmd_list_models(_args: argparse.Namespace) -> int:
    for name in list_models():
        print(name)
    return 0


def _settings(args: argparse.Namespace, budget: Budget) -> tuple[Recipe | None, dict]:
    """The run's recipe (or ``None``) and its settings: explicit flags first, then the recipe, then the defaults.

    Without ``--recipe`` this is what ``train`` always did: the paper's optimiser settings,
    with epochs, schedule and warm-up from the quick/full budget. With it, the recipe
    supplies every setting a flag does not; quick mode still shrinks the epochs.
    """
    recipe = get_recipe(args.recipe) if args.recipe is not None else None
    base = recipe or get_recipe("paper")

    def pick(flag: object, from_recipe: object, default: object) -> object:
        if flag is not None:
            return flag
        return from_recipe if recipe is not None else default

    settings = {
        "epochs": pick(args.epochs, budget.epochs if budget.quick else base.epochs, budget.epochs),
        "schedule": pick(args.schedule, base.schedule, budget.schedule),
        "warmup_epochs": pick(args.warmup_epochs, base.warmup_epochs, budget.warmup_epochs),
        "batch_size": pick(args.batch_size, base.batch_size, base.batch_size),
        "lr": pick(args.lr, base.lr, base.lr),
        "momentum": pick(args.momentum, base.momentum, base.momentum),
        "weight_decay": pick(args.weight_decay, base.weight_decay, base.weight_decay),
        "nesterov": pick(args.nesterov, base.nesterov, False),
        "label_smoothing": pick(args.label_smoothing, base.label_smoothing, 0.0),
    }
    if recipe is not None:  # the switches only a recipe sets (fit's defaults otherwise)
        settings.update(
            drop_last=recipe.drop_last, optimizer=recipe.optimizer, decay_bn_and_bias=recipe.decay_bn_and_bias,
            amp=recipe.amp, channels_last=recipe.channels_last, compile=recipe.compile, fused=recipe.fused,
            tta_flip=recipe.tta_flip,
        )
    return recipe, settings


def cmd_train(args: argparse.Namespace) -> int:
    budget = current_budget()
    recipe, settings = _settings(args, budget)  # an unknown recipe fails here, before any work
    epochs, schedule, warmup_epochs = settings["epochs"], settings["schedule"], settings["warmup_epochs"]
    device = _device(args.device)
    options = _dataset_options(args.data, args.image_size)
    model = create_model(args.model, num_classes=len(DATASET_CLASSES[args.data]))  # a bad name fails before data loads
    train_set = load_dataset(args.data, "train", args.data_root, **options)
    test_set = load_dataset(args.data, "test", args.data_root, **options)
    train_subset = args.subset if args.subset is not None else budget.train_subset
    test_subset = args.test_subset if args.test_subset is not None else budget.test_subset
    if train_subset is not None and train_subset < len(train_set):
        train_set = train_set.subset(train_subset, seed=args.seed)
    if test_subset is not None and test_subset < len(test_set):
        test_set = test_set.subset(test_subset, seed=args.seed)
    mean, std = normalisation_for(args.data, train_set)
    train_loader = TensorLoader(train_set, batch_size=settings["batch_size"], mean=mean, std=std, device=device,
                                seed=args.seed, drop_last=settings.get("drop_last", False))
    test_loader = TensorLoader(test_set, batch_size=EVAL_BATCH_SIZE, shuffle=False, augment=False, mean=mean,
                               std=std, device=device)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = run_metadata(
        device,
        model=args.model,
        data=args.data,
        data_variant=train_set.variant,
        image_size=int(train_set.images.shape[-1]),
        classes=list(train_set.classes),
        train_images=len(train_set),
        test_images=len(test_set),
        test_subset_seed=args.seed,
        normalisation={"mean": list(mean), "std": list(std)},
        epochs=epochs,
        batch_size=settings["batch_size"],
        optimizer=settings.get("optimizer", "sgd"),
        lr=settings["lr"],
        momentum=settings["momentum"],
        weight_decay=settings["weight_decay"],
        nesterov=settings["nesterov"],
        schedule=schedule,
        warmup_epochs=warmup_epochs,
        label_smoothing=settings["label_smoothing"],
        seed=args.seed,
        mode=budget.mode,
        recipe=recipe.name if recipe is not None else None,
    )
    rank = distributed_info()[0]
    say = print if rank == 0 else (lambda *_args, **_kwargs: None)  # one process speaks and writes
    say(f"training {args.model} on {train_set.variant}: {len(train_set):,} training / {len(test_set):,} test "
          f"images, {epochs} epoch{'s' if epochs != 1 else ''}, device {meta['device']}")
    fit_settings = {k: v for k, v in settings.items() if k not in ("batch_size", "drop_last")}
    history = fit(
        model, train_loader, test_loader, **fit_settings,
        checkpoint_dir=out, resume=args.resume, seed=args.seed, progress=not args.no_progress, device=device,
        meta=meta,
    )
    meta.update(
        wall_time_s=round(history.wall_time, 2),
        final_test_accuracy=history.val_acc[-1] if history.val_acc else None,
        best_test_accuracy=history.best_val_acc,
    )
    history.meta.update(meta)
    if rank != 0:
        return 0
    history.to_json(out / "history.json")
    (out / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    say(f"best test accuracy {history.best_val_acc:.2%}; wrote {out / 'history.json'}, {out / 'best.pt'}, "
          f"{out / 'metadata.json'}")
    return 0


def _checkpoint_meta(checkpoint: dict, path: Path) -> dict:
    meta = dict((checkpoint.get("history") or {}).get("meta") or {})
    beside = path.parent / "metadata.json"
    if not meta.get("data") and beside.is_file():
        meta.update(json.loads(beside.read_text()))
    if not meta.get("data"):
        raise CommandError(f"{path} does not say which data it was trained on (no metadata in it or beside it); "
                           "use a checkpoint written by 'resnet-course train'")
    return meta


def cmd_evaluate(args: argparse.Namespace) -> int:
    path = Path(args.checkpoint)
    if not path.is_file():
        raise CommandError(f"no checkpoint at {path}")
    checkpoint = load_checkpoint(path)
    meta = _checkpoint_meta(checkpoint, path)
    model = create_model(checkpoint["arch"], num_classes=checkpoint["num_classes"])
    load_checkpoint(path, model)
    device = _device(args.device)
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
              f"accuracy {result['accuracy']:.2%}, loss {result['loss']:.4f}" + (" (flip TTA)" if args.tta_flip else ""))
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from resnet_course.experiments.reference import EXPERIMENTS, run_experiment

    device = _device(args.device)
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

        path = run_pretrained(epochs=args.epochs or 20, subset=args.subset, amp=amp, batch_size=args.batch_size, channels_last=args.channels_last,
                              results_dir=args.results_dir, progress=not args.no_progress, **common)
    elif args.name == "gestures":
        from resnet_course.experiments.gestures import run_gestures

        path = run_gestures(epochs=args.epochs or 30, amp=amp, results_dir=args.results_dir,
                            progress=not args.no_progress, **common)
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

    device = _device(args.device)
    report = throughput_comparison(args.model, steps=args.steps, batch_size=args.batch_size, device=device,
                                   data_root=args.data_root, workers=args.workers, tricks=args.tricks)
    print(format_table(report, run_metadata(device)))
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="resnet-course",
        description="Build, train and evaluate the ResNets of the ResNet Course.",
        epilog="Data comes from $RESNET_COURSE_DATA (or --data-root). RESNET_COURSE_QUICK=1 selects quick mode.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    listing = commands.add_parser("list-models", help="print every model name create_model() accepts")
    listing.set_defaults(run=cmd_list_models)

    train = commands.add_parser(
        "train", help="train a model and write history, checkpoints and metadata",
        description="Train a network with SGD and write history.json, best.pt, last.pt and metadata.json to --out. "
                    "Without --epochs, quick mode trains briefly on a subset and full mode uses the full budget.",
    )
    train.add_argument("--model", default="resnet20", help="a name from 'resnet-course list-models' (default: resnet20)")
    train.add_argument("--data", default="cifar10", choices=DATASETS, help="the data set (default: cifar10)")
    train.add_argument("--out", required=True, help="folder for history.json, best.pt, last.pt and metadata.json")
    train.add_argument("--recipe", metavar="NAME",
                       help=f"a named set of settings ({', '.join(list_recipes())}): 'paper' is He et al. 2015 "
                            "§4.2, 'fast' trains for time to accuracy; the flags below override it")
    train.add_argument("--epochs", type=int, help="epochs to train (the paper's CIFAR schedule is 182)")
    train.add_argument("--schedule", choices=SCHEDULES,
                       help="learning-rate schedule; 'paper' divides by 10 at 50%% and 75%% of training "
                            "(default: the recipe's; without one, paper in full mode, onecycle in quick mode)")
    train.add_argument("--batch-size", type=int, help="images per step (default: 128, as the paper, or the recipe's)")
    train.add_argument("--lr", type=float, help="peak learning rate (default: 0.1, or the recipe's)")
    train.add_argument("--momentum", type=float, help="(default: 0.9, or the recipe's)")
    train.add_argument("--weight-decay", type=float, help="(default: 1e-4, or the recipe's)")
    train.add_argument("--nesterov", action=argparse.BooleanOptionalAction,
                       help="Nesterov momentum (default: off, or the recipe's)")
    train.add_argument("--warmup-epochs", type=float,
                       help="linear warm-up (default: the recipe's; without one, 0.3 in quick mode, else 0)")
    train.add_argument("--label-smoothing", type=float, help="(default: 0, or the recipe's)")
    train.add_argument("--subset", type=int, help="train on this many images (class-balanced, seeded)")
    train.add_argument("--test-subset", type=int, help="evaluate on this many test images")
    train.add_argument("--image-size", type=int, help="side of the hand crops in pixels (hands only; default 64)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available)")
    train.add_argument("--data-root", help="data folder (default: $RESNET_COURSE_DATA)")
    train.add_argument("--resume", action="store_true", help="continue from the checkpoints in --out")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(run=cmd_train)

    evaluate_ = commands.add_parser("evaluate", help="test accuracy of a checkpoint written by 'train'")
    evaluate_.add_argument("checkpoint", help="a .pt file written by 'resnet-course train'")
    evaluate_.add_argument("--tta-flip", action="store_true", help="average predictions on the image and its mirror")
    evaluate_.add_argument("--all-test-images", action="store_true",
                           help="use the whole test split, not the subset the run was evaluated on")
    evaluate_.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available)")
    evaluate_.add_argument("--data-root", help="data folder (default: $RESNET_COURSE_DATA)")
    evaluate_.add_argument("--json", action="store_true", help="print one JSON line")
    evaluate_.set_defaults(run=cmd_evaluate)

    from resnet_course.experiments.reference import EXPERIMENTS, OTHER_EXPERIMENTS

    experiment = commands.add_parser(
        "experiment", help="run a reference experiment of the book and write results/<name>.json",
        description="Train the networks of one of the book's reference experiments and write their curves and "
                    "metadata to results/<name>.json. Experiments: "
                    + "; ".join([*(f"{e.name}: {e.description}" for e in EXPERIMENTS.values()),
                                 *(f"{name}: {text}" for name, text in OTHER_EXPERIMENTS.items())]),
    )
    experiment.add_argument("name", choices=sorted([*EXPERIMENTS, *OTHER_EXPERIMENTS]))
    experiment.add_argument("--epochs", type=int,
                            help="epochs per network (default: the paper's 182 for degradation and table6; "
                                 "20 for pretrained, 30 for gestures)")
    experiment.add_argument("--subset", type=int,
                            help="training images (default: all 50,000; landscape: the images the loss is "
                                 "measured on, default 1,000)")
    experiment.add_argument("--test-subset", type=int, help="test images (default: all 10,000)")
    experiment.add_argument("--batch-size", type=int,
                            help="degradation and table6 (default 128); pretrained: replaces the 'fast' recipe's 512 "
                                 "and scales its lr in proportion")
    experiment.add_argument("--warmup-epochs", type=float, default=0.0,
                            help="linear learning-rate warm-up before the paper's schedule (reduced runs need it)")
    experiment.add_argument("--amp", choices=("bf16", "fp16", "off"),
                            help="mixed precision (default: bf16 on a GPU, off on a CPU; bf16 is ~2.7x faster on a CPU)")
    experiment.add_argument("--channels-last", action="store_true", default=None,
                            help="channels-last memory layout (default: on for a GPU)")
    experiment.add_argument("--points", type=int, default=21, help="landscape: grid points per axis of the 2-D slice")
    experiment.add_argument("--seed", type=int, default=0)
    experiment.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available)")
    experiment.add_argument("--data-root", help="data folder (default: $RESNET_COURSE_DATA)")
    experiment.add_argument("--out", help="degradation and table6: output JSON (default: results/<name>.json)")
    experiment.add_argument("--results-dir", help="the others: folder to read the pre-trained networks from and "
                                                  "write to (default: results/)")
    experiment.add_argument("--only", nargs="+", metavar="NAME", help="zoo: train only these networks")
    experiment.add_argument("--runs-dir", default="runs",
                            help="zoo: folder of the per-epoch checkpoints that let a stopped run resume (default: runs/)")
    experiment.add_argument("--no-progress", action="store_true")
    experiment.set_defaults(run=cmd_experiment)

    bench = commands.add_parser(
        "bench", help="images per second: the usual DataLoader loop vs the tensor-resident fit",
        description="Train the same network for the same number of steps two ways (with --tricks: adding one "
                    "speed trick at a time) and compare images per second.",
    )
    bench.add_argument("--model", default="resnet20")
    bench.add_argument("--steps", type=int, default=30, help="timed training steps per method (default: 30)")
    bench.add_argument("--batch-size", type=int, default=128)
    bench.add_argument("--workers", type=int, default=2, help="DataLoader workers of the usual loop (default: 2)")
    bench.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available)")
    bench.add_argument("--data-root", help="data folder (default: $RESNET_COURSE_DATA)")
    bench.add_argument("--tricks", action="store_true",
                       help="also add bf16, channels-last, torch.compile, CUDA graphs, fused SGD and the fast recipe "
                            "one at a time, and the share of the measured bf16 matmul peak")
    bench.set_defaults(run=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except CommandError as error:
        print(f"resnet-course {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, FloatingPointError) as error:  # bad names, missing data, divergence
        print(f"resnet-course {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
