"""The ``resnet-course`` command's arguments: one argparse sub-parser per command, and the value types.

:mod:`resnet_course.cli` runs the commands; this module only says what each accepts, so that a bad
value is refused by the parser as one line (exit status 2) before any work starts.
"""

from __future__ import annotations

import argparse
from typing import Callable, Mapping

from resnet_course.data.registry import DATASETS
from resnet_course.training.optim import SCHEDULES
from resnet_course.training.recipes import list_recipes

__all__ = ["build_parser", "fraction", "Handler", "non_negative_float", "non_negative_int", "positive_float",
           "positive_int"]

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument prints one line (and the hint to use --help), not the whole usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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


def build_parser(handlers: Mapping[str, Handler]) -> argparse.ArgumentParser:
    """The whole parser; ``handlers[command]`` becomes the sub-command's ``run``."""
    parser = _Parser(
        prog="resnet-course",
        description="Build, train and evaluate the ResNets of the ResNet Course.",
        epilog="Data comes from $RESNET_COURSE_DATA (or --data-root). RESNET_COURSE_QUICK=1 selects quick mode. "
               "Errors are one line; --debug shows the traceback.",
    )
    parser.add_argument("--debug", action="store_true", help="on an error, show the traceback")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    listing = commands.add_parser("list-models", help="print every model name create_model() accepts")
    listing.set_defaults(run=handlers["list-models"])
    for add in (_add_train, _add_evaluate, _add_experiment, _add_bench):
        add(commands, handlers)
    for command in commands.choices.values():  # --debug after the command, too
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _add_train(commands: argparse._SubParsersAction, handlers: Mapping[str, Handler]) -> None:
    train = commands.add_parser(
        "train", help="train a model and write history, checkpoints and metadata",
        description="Train a network with SGD and write history.json, best.pt, last.pt and metadata.json to --out. "
                    "Without --epochs, quick mode trains briefly on a subset and full mode uses the full budget.",
    )
    train.add_argument("--model", help="a name from 'resnet-course list-models' (default: resnet20; with --resume, "
                                        "the run's)")
    train.add_argument("--data", choices=DATASETS, help="the data set (default: cifar10; with --resume, the run's)")
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
    train.add_argument("--seed", type=non_negative_int,
                       help="seeds the initial weights, the subsets and the batch order (default: 0)")
    train.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available)")
    train.add_argument("--data-root", help="data folder (default: $RESNET_COURSE_DATA)")
    again = train.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its last checkpoint, with its settings (a flag may "
                            "only add epochs)")
    again.add_argument("--overwrite", action="store_true", help="replace the run in --out (its files are deleted)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar (still one line per epoch)")
    train.set_defaults(run=handlers["train"])


def _add_evaluate(commands: argparse._SubParsersAction, handlers: Mapping[str, Handler]) -> None:
    evaluate_ = commands.add_parser("evaluate", help="test accuracy of a checkpoint written by 'train'")
    evaluate_.add_argument("checkpoint", help="a .pt file written by 'resnet-course train'")
    evaluate_.add_argument("--tta-flip", action="store_true", help="average predictions on the image and its mirror")
    evaluate_.add_argument("--all-test-images", action="store_true",
                           help="use the whole test split, not the subset the run was evaluated on")
    evaluate_.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available)")
    evaluate_.add_argument("--data-root", help="data folder (default: $RESNET_COURSE_DATA)")
    evaluate_.add_argument("--json", action="store_true", help="print one JSON line")
    evaluate_.set_defaults(run=handlers["evaluate"])


def _add_experiment(commands: argparse._SubParsersAction, handlers: Mapping[str, Handler]) -> None:
    from resnet_course.experiments.catalogue import EXPERIMENTS

    experiment = commands.add_parser(
        "experiment", help="run a reference experiment of the book and write results/<name>.json",
        description="Run one of the book's reference experiments and write its results and metadata to "
                    "results/. Experiments: " + "; ".join(f"{e.name}: {e.description}" for e in EXPERIMENTS.values())
                    + ". An option the experiment does not read is refused.",
    )
    experiment.add_argument("name", choices=list(EXPERIMENTS))
    experiment.add_argument("--epochs", type=positive_int, help="zoo: epochs per network (default: the zoo recipe's)")
    experiment.add_argument("--subset", type=positive_int,
                            help="zoo: training images (default: all 50,000); landscape: the images the loss is "
                                 "measured on (default 1,000)")
    experiment.add_argument("--test-subset", type=positive_int, help="zoo, lesion: test images (default: all 10,000)")
    experiment.add_argument("--only", nargs="+", metavar="NAME",
                            help="zoo: train only these networks; lesion, landscape: study only these (each a "
                                 "finished zoo network; default: the finished ones of resnet20, plain20, resnet56, "
                                 "plain56)")
    experiment.add_argument("--runs-dir", help="zoo: folder of the per-epoch checkpoints that let a stopped run "
                                               "resume (default: runs/)")
    experiment.add_argument("--points", type=positive_int, help="landscape: grid points per axis of the 2-D slice "
                                                                "(default 21)")
    experiment.add_argument("--amp", choices=("bf16", "fp16", "off"),
                            help="gestures, lesion, landscape: mixed precision (default: the experiment's)")
    gestures = experiment.add_argument_group("gestures (learning curves on the session split)")
    gestures.add_argument("--sizes", nargs="+", type=lambda v: None if v == "all" else positive_int(v),
                          help="training images per class, 'all' for every one (default: 5 10 20 50 all)")
    gestures.add_argument("--seeds", type=positive_int, help="seeds per point (default: 3)")
    gestures.add_argument("--steps", type=positive_int, help="steps of every run (default: by size, 100 to 400)")
    gestures.add_argument("--image-size", type=positive_int, help="crop side in pixels (default: 32)")
    gestures.add_argument("--batch-size", type=positive_int, help="images per step (default: 32)")
    gestures.add_argument("--sources", nargs="+", metavar="ARCH",
                          help="CIFAR-10 networks to transfer from (default: resnet20)")
    experiment.add_argument("--seed", type=non_negative_int, default=0)
    experiment.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available)")
    experiment.add_argument("--data-root", help="data folder (default: $RESNET_COURSE_DATA)")
    experiment.add_argument("--results-dir", help="folder to read the zoo's networks from and write the results to "
                                                  "(default: results/)")
    experiment.add_argument("--overwrite", action="store_true",
                            help="replace a finished result of the same name (otherwise refused)")
    experiment.add_argument("--extend", action="store_true",
                            help="lesion, landscape: keep the networks the result already holds (same settings, same "
                                 "zoo files) and add the others")
    experiment.add_argument("--no-progress", action="store_true")
    experiment.set_defaults(run=handlers["experiment"])


def _add_bench(commands: argparse._SubParsersAction, handlers: Mapping[str, Handler]) -> None:
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
    bench.set_defaults(run=handlers["bench"])
