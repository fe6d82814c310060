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
import contextlib
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

from resnet_course import cli_args
from resnet_course.budget import Budget, current_budget
from resnet_course.data.cifar10 import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD
from resnet_course.data.hands import HANDS_CLASSES
from resnet_course.data.imageset import ImageSet
from resnet_course.data.loaders import TensorLoader
from resnet_course.data.registry import load_dataset, normalisation_for
from resnet_course.data.safety import sha256_file
from resnet_course.experiments.provenance import device_name, run_metadata
from resnet_course.experiments.results import result_path
from resnet_course.nn.registry import create_model, list_models
from resnet_course.nn.weights import WEIGHTS
from resnet_course.training.callbacks import TrainingDiverged
from resnet_course.training.checkpoint import (
    LOCK,
    CheckpointError,
    FolderInUseError,
    ResumeMismatchError,
    atomic_write,
    folder_lock,
    holds_checkpoint,
    latest_checkpoint,
    load_checkpoint,
    lock_holder,
    remove_leftovers,
)
from resnet_course.training.config import TrainConfig
from resnet_course.training.evaluation import evaluate
from resnet_course.training.history import History
from resnet_course.training.loop import fit
from resnet_course.training.recipes import get_recipe
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
    return base.replace(seed=args.seed if args.seed is not None else 0, **flags)


def check_output_folder(out: Path, *, resume: bool, overwrite: bool) -> Path:
    """``--out``: a folder; one that holds files only with ``--resume`` (a run to continue) or
    ``--overwrite``. Leftovers of a checkpoint write that was killed are removed first."""
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {out} is a file; give a folder for the run's files")
    above = next((parent for parent in out.parents if parent.exists()), None)
    if above is not None and not above.is_dir():
        raise CommandError(f"--out {out}: {above} is a file, so no folder can be made inside it")
    writable = out if out.is_dir() else above
    if writable is not None and not _may_write(writable):
        raise CommandError(f"--out {out}: {writable} is read-only; choose a folder you can write to")
    if out.is_dir():
        remove_leftovers(out)
        holder = lock_holder(out)  # a stale lock (its process gone) is removed
        if holder is not None:
            raise CommandError(f"--out {out} is in use by another resnet-course train (process {holder}); wait for "
                               "it to finish, or choose another folder")
    has_checkpoint = holds_checkpoint(out)
    if resume and not has_checkpoint:
        raise CommandError(f"--resume: {out} holds no last.pt or interrupted.pt to continue from; "
                           "drop --resume to start a new run there")
    found = sorted(path.name for path in out.iterdir() if path.name != LOCK) if out.is_dir() else []
    if found and not (resume or overwrite):
        shown = ", ".join(found[:4]) + (f" and {len(found) - 4} more" if len(found) > 4 else "")
        raise CommandError(f"--out {out} is not empty ({shown}): continue the run in it with --resume, replace it "
                           "with --overwrite, or choose another folder")
    return out


def _may_write(folder: Path) -> bool:
    """Whether files may be made in ``folder``; a folder without write permission bits counts as
    read-only even for root (who could write there anyway), as :func:`~resnet_course.data.writable_dir` does."""
    return os.access(folder, os.W_OK | os.X_OK) and bool(folder.stat().st_mode & 0o222)


# What a run records (history.meta) that ``train --resume`` takes when the flag is not given.
RESUMED_FROM_RECORD = ("model", "data", "recipe", "seed", "image_size", *TRAIN_FLAGS)
TRAIN_DEFAULTS = {"model": "resnet20", "data": "cifar10", "seed": 0}


def settings_to_resume(args: argparse.Namespace, out: Path) -> tuple[Path, dict[str, Any]]:
    """``--resume``: every setting not given as a flag is the run's own (its checkpoint records them), so
    ``train --out DIR --resume`` continues it exactly. A flag that names another network or data set is
    refused here, before any data is read. Returns the checkpoint the run continues from, and what it recorded.
    The quick/full mode of the session then decides nothing: the run keeps the mode it was started in."""
    checkpoint, path = latest_checkpoint(out)
    assert checkpoint is not None and path is not None  # check_output_folder made sure
    recorded = (checkpoint.get("history") or {}).get("meta") or {}
    for key in ("model", "data", "image_size") if recorded.get("data") == "hands" else ("model", "data"):
        given, was = getattr(args, key), recorded.get(key)
        if given is not None and was is not None and given != was:
            flag = "--" + key.replace("_", "-")
            raise ResumeMismatchError(f"--resume: the run in {out} trains {recorded.get('model')} on "
                                      f"{recorded.get('data')} ({flag} {was}), not {flag} {given}: leave {flag} out "
                                      "to continue it, or start the new run in another --out")
    for key in RESUMED_FROM_RECORD:
        if key == "image_size" and recorded.get("data") != "hands":
            continue  # recorded for every run, a flag for the hand crops only
        if getattr(args, key) is None and recorded.get(key) is not None:
            setattr(args, key, recorded[key])
    for flag, key in (("subset", "train_images"), ("test_subset", "test_images")):
        if getattr(args, flag) is None and recorded.get(key) is not None:
            setattr(args, flag, recorded[key])
    return path, recorded


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
    out = check_output_folder(Path(args.out), resume=args.resume, overwrite=args.overwrite)
    continued, recorded = settings_to_resume(args, out) if args.resume else (None, {})
    for key, value in TRAIN_DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    config = train_config(args, budget)  # an unknown recipe or a bad setting fails here, before any work
    device = device_option(args.device)
    options = _dataset_options(args.data, args.image_size)
    seed_everything(args.seed)  # before the model is built: the same seed gives the same initial weights
    model = create_model(args.model, num_classes=len(DATASET_CLASSES[args.data]))  # a bad name fails before data loads
    train_set, test_set = training_data(args, budget, options)
    if config.drop_last and len(train_set) < config.batch_size:
        raise CommandError(f"--batch-size {config.batch_size} is more than the {len(train_set):,} training images, and "
                           "the recipe drops incomplete batches, so no step would be left: use a smaller --batch-size "
                           "or a larger --subset")
    mean, std = normalisation_for(args.data, train_set)
    train_loader = TensorLoader(train_set, batch_size=config.batch_size, mean=mean, std=std, device=device,
                                seed=args.seed, drop_last=config.drop_last)
    test_loader = TensorLoader(test_set, batch_size=EVAL_BATCH_SIZE, shuffle=False, augment=False, mean=mean,
                               std=std, device=device)
    meta = {  # what fit records beside the settings, and compares on --resume
        "model": args.model, "data": args.data, "data_variant": train_set.variant,
        "image_size": int(train_set.images.shape[-1]), "classes": list(train_set.classes),
        "train_images": len(train_set), "test_images": len(test_set), "test_subset_seed": args.seed,
        "normalisation": {"mean": list(mean), "std": list(std)}, "mode": recorded.get("mode", budget.mode),
        "recipe": args.recipe,
    }
    is_main = distributed_info()[0] == 0  # under torchrun one process speaks and writes
    if is_main:
        doing = f"continuing {args.model} from {continued}" if continued else f"training {args.model}"
        print(f"{doing} on {train_set.variant}: {len(train_set):,} training / {len(test_set):,} test images, "
              f"{config.epochs} epoch{'s' if config.epochs != 1 else ''}, device {device_name(device)}")
        out.mkdir(parents=True, exist_ok=True)
    with output_lock(out, args) if is_main else contextlib.nullcontext():
        return train_and_record(args, out, model, train_loader, test_loader, config, device, meta, is_main)


@contextlib.contextmanager
def output_lock(out: Path, args: argparse.Namespace) -> Iterator[None]:
    """Hold ``--out``'s lock while training into it; once held, check the folder again -- another ``train``
    may have finished a run there while this one read its data -- and only then clear it for ``--overwrite``."""
    try:
        with folder_lock(out):
            check_output_folder(out, resume=args.resume, overwrite=args.overwrite)
            start_output_folder(out, overwrite=args.overwrite)
            yield
    except FolderInUseError as error:
        raise CommandError(f"--out {out} is in use by another resnet-course train (process {error.pid}); wait for "
                           "it to finish, or choose another folder") from None


def train_and_record(args: argparse.Namespace, out: Path, model: torch.nn.Module, train_loader: TensorLoader,
                     test_loader: TensorLoader, config: TrainConfig, device: torch.device, meta: dict[str, Any],
                     is_main: bool) -> int:
    """``fit``, then ``history.json`` and ``metadata.json``; a fault after training began says what is intact."""
    try:
        history = fit(model, train_loader, test_loader, config, checkpoint_dir=out, resume=args.resume,
                      progress="log" if args.no_progress else True, device=device, meta=meta)
        if is_main:
            write_run(out, history)
    except KeyboardInterrupt as stop:
        if getattr(stop, "checkpoint", None) is None and (out / "last.pt").is_file():
            stop.checkpoint = out / "last.pt"  # Ctrl-C after the last epoch, while writing history.json
        raise
    except TrainingDiverged as error:
        raise RunStopped(f"training diverged: the loss became NaN or infinite at step {error.step + 1} of epoch "
                         f"{error.epoch + 1} (lr {error.lr:.4g}); {saved_so_far(out)} Train again with a smaller --lr "
                         "or with --warmup-epochs 1 (in another --out, or with --overwrite)") from error
    except OSError as error:  # a full disk, a folder made read-only meanwhile, a file system gone away
        raise RunStopped(f"{error_line(error)}; {saved_so_far(out)} Once that is fixed, continue with: "
                         f"{resume_command(args.argv)}") from error
    return 0


class RunStopped(Exception):
    """Training stopped by a fault after it began; the message says what is safe and how to continue."""


def saved_so_far(out: Path) -> str:
    """What of the run is safe on disk, in words."""
    if not (out / "last.pt").is_file():
        return "no epoch had finished, so nothing of the run was saved."
    epochs = len((load_checkpoint(out / "last.pt").get("history") or {}).get("train_loss") or [])
    return f"{out / 'last.pt'} holds the last finished epoch ({epochs}), intact."


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
            recorded = json.loads(beside.read_text())
        except ValueError:
            recorded = None
        if not isinstance(recorded, dict):
            raise CommandError(f"{beside} is not the metadata a run writes (damaged JSON?); restore it, or move it "
                               "away and evaluate a checkpoint that carries its own (any written by 'resnet-course "
                               "train')")
        meta.update(recorded)
    missing = [key for key in ("data", "image_size", "normalisation") if key not in meta]
    if missing or checkpoint.get("arch") is None:
        bare = " (weights only, and not weights the package pins)" if checkpoint.get("format_version") == 0 else ""
        raise CommandError(f"{path} does not say which network and data it was trained on{bare}: no "
                           f"{', '.join(missing) or 'arch'} in it or beside it; use a checkpoint written by "
                           "'resnet-course train' (best.pt or last.pt)")
    return meta


def _pinned_meta(path: Path) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """A bare CIFAR-10 weights file the package pins (``results/zoo/resnet20.pt``): network, options and data."""
    digest = sha256_file(path)
    for (name, tag), weights in WEIGHTS.items():
        if weights.sha256.lower() == digest and tag == "cifar10":
            meta = {"data": "cifar10", "image_size": 32, "data_variant": weights.meta.get("data"),
                    "normalisation": {"mean": list(CIFAR10_MEAN), "std": list(CIFAR10_STD)}}
            return name, {"num_classes": 10, **weights.meta.get("options", {})}, meta
    return None


def cmd_evaluate(args: argparse.Namespace) -> int:
    path = Path(args.checkpoint)
    if path.is_dir():
        inside = [path / name for name in ("best.pt", "last.pt") if (path / name).is_file()]
        raise CommandError(f"{path} is a folder, not a checkpoint" + (f": evaluate {inside[0]}" if inside else ""))
    if not path.is_file():
        raise CommandError(f"no checkpoint at {path}")
    checkpoint = load_checkpoint(path)
    pinned = _pinned_meta(path) if checkpoint.get("format_version") == 0 else None
    if pinned is not None:
        arch, options, meta = pinned
    else:
        meta = _checkpoint_meta(checkpoint, path)
        arch, options = checkpoint["arch"], {"num_classes": checkpoint["num_classes"]}
    model = create_model(arch, **options)
    load_checkpoint(path, model)
    device = device_option(args.device)
    data_options = {"size": meta["image_size"]} if meta["data"] == "hands" else {}
    test_set = load_dataset(meta["data"], "test", args.data_root, **data_options)
    if not args.all_test_images and meta.get("test_images", len(test_set)) < len(test_set):
        test_set = test_set.subset(meta["test_images"], seed=meta.get("test_subset_seed", 0))
    mean, std = meta["normalisation"]["mean"], meta["normalisation"]["std"]
    if meta.get("data_variant") and meta["data_variant"] != test_set.variant:
        print(f"note: trained on {meta['data_variant']}, evaluated on {test_set.variant}", file=sys.stderr)
    loader = TensorLoader(test_set, batch_size=EVAL_BATCH_SIZE, shuffle=False, augment=False, mean=mean,
                          std=std, device=device)
    result = evaluate(model, loader, tta_flip=args.tta_flip, device=device)
    report = {"checkpoint": str(path), "model": arch, "data_variant": test_set.variant,
              "test_images": result["count"], "accuracy": result["accuracy"], "loss": result["loss"],
              "tta_flip": args.tta_flip}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{arch} on {result['count']:,} test images of {test_set.variant}: "
              f"accuracy {result['accuracy']:.2%}, loss {result['loss']:.4f}"
              + (" (flip TTA)" if args.tta_flip else ""))
    return 0


# --------------------------------------------------------------------------- experiment, bench


def check_finished_result(args: argparse.Namespace) -> None:
    """A finished result (the book's reference, or a long run of yours) is replaced only with ``--overwrite``
    (or, for the studies of stored networks, added to with ``--extend``)."""
    from resnet_course.experiments.catalogue import EXPERIMENTS

    if args.name == "zoo":
        if args.overwrite:
            raise CommandError("--overwrite does not apply to zoo: finished networks are skipped; move a network's "
                               "results/zoo/<name>.* away to train it again")
        return
    if getattr(args, "extend", False):
        if args.overwrite:
            raise CommandError("--extend keeps the networks the result holds and --overwrite replaces them: give one")
        return
    path = result_path(args.name, args.results_dir)
    if path.exists() and not args.overwrite:
        try:
            meta = json.loads(path.read_text()).get("meta", {})
            made = f" (made {meta.get('date', '?')[:10]} on {meta.get('device', '?')})"
        except (ValueError, AttributeError):
            made = ""
        extend = "add the networks it lacks with --extend, " if "extend" in EXPERIMENTS[args.name].options else ""
        raise CommandError(f"{path} holds a finished run{made}: {extend}replace it with --overwrite, or write the new "
                           f"one elsewhere with --results-dir")


def cmd_experiment(args: argparse.Namespace) -> int:
    from resnet_course.experiments.catalogue import EXPERIMENTS, options_not_taken

    options = vars(args)
    refused = options_not_taken(args.name, options)
    if refused:
        taken = " ".join(sorted("--" + o.replace("_", "-") for o in EXPERIMENTS[args.name].options))
        raise CommandError(f"experiment {args.name} does not take {', '.join(refused)} (it takes {taken} and the "
                           "common options; see 'resnet-course experiment --help')")
    check_finished_result(args)
    common = {"seed": args.seed, "device": device_option(args.device), "data_root": args.data_root}
    path = EXPERIMENTS[args.name].run(options, common)
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
    """The command's parser (:mod:`resnet_course.cli_args`), each sub-command calling its ``cmd_*`` here."""
    return cli_args.build_parser({"list-models": cmd_list_models, "train": cmd_train, "evaluate": cmd_evaluate,
                                  "experiment": cmd_experiment, "bench": cmd_bench})


# --------------------------------------------------------------------------- main: one line per error

# Errors the command anticipates (bad names and values, missing or damaged files, divergence):
# one line each. Anything else is a bug and keeps its traceback.
ANTICIPATED = (CommandError, ValueError, OSError, FloatingPointError, CheckpointError, RunStopped,
               torch.cuda.OutOfMemoryError)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    args.argv = argv
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
    return (f"resnet-course {command}: interrupted; the run can continue from {checkpoint}. "
            f"Continue it with: {resume_command(argv)}")


def resume_command(argv: Sequence[str]) -> str:
    """The command line that continues a stopped ``train``: the same one, with ``--resume`` for ``--overwrite``."""
    words = [word for word in argv if word not in ("--overwrite", "--debug")]
    if words[:1] == ["train"] and "--resume" not in words:
        words.append("--resume")
    return shlex.join(["resnet-course", *words])


if __name__ == "__main__":
    sys.exit(main())
