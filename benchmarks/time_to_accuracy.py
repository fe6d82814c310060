"""Time to accuracy on CIFAR-10 with the ``fast`` recipe: epochs, seconds, the accuracy curve.

    python benchmarks/time_to_accuracy.py --model resnet18_cifar              # target 94.00%, at most 20 epochs
    python benchmarks/time_to_accuracy.py --model resnet20                    # target 91.25%, at most 60 epochs
    python benchmarks/time_to_accuracy.py --model resnet20 --compile reduce-overhead   # with CUDA graphs
    python benchmarks/time_to_accuracy.py --model resnet20 --device cpu --target 0.90 --epochs 60 \
        --amp bf16 --channels-last on --batch-size 128 --lr 0.1               # a CPU: bf16 is about 2x float32

The learning-rate schedule spans ``--epochs``; training stops after the first epoch whose
test accuracy (with flip test-time augmentation, as the recipe says) reaches ``--target``.
Before the timed run an untimed warm-up (a few steps and one evaluation on other
batches) compiles everything, so the report gives the training time with compilation
excluded and included, the wall time with evaluation, the accuracy curve, and the
throughput as a fraction of the device's measured bf16 matmul rate. The JSON goes to
``results/time_to_accuracy_<device>_<model>.json`` unless ``--json`` says otherwise.
With ``--checkpoint-dir`` a run of hours survives a stopped machine: the same command
continues from the last finished epoch.
A benchmark, not a test: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path

import torch

from resnet_course.experiments.provenance import run_metadata
from resnet_course.experiments.speed import device_tag, format_time_to_accuracy, time_to_accuracy
from resnet_course.training.recipes import get_recipe, list_recipes, recipe_name
from resnet_course.training.runtime import COMPILE_MODES

RESULTS = Path(__file__).resolve().parents[1] / "results"
# The issue's targets: (test accuracy, most epochs). ResNet-20's is the paper's (Table 6: 8.75% error).
DEFAULTS = {"resnet18_cifar": (0.94, 20), "resnet20": (0.9125, 60)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18_cifar")
    parser.add_argument("--target", type=float, help="test accuracy to reach, a fraction (default: 0.94 for "
                                                     "resnet18_cifar, 0.9125 for resnet20)")
    parser.add_argument("--epochs", type=int,
                        help="at most this many epochs; the schedule spans them "
                             "(default: 20 for resnet18_cifar, 60 for resnet20, else the recipe's)")
    parser.add_argument("--recipe", default="fast", help=f"one of {', '.join(list_recipes())} (default: fast)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", choices=("auto", "off", *COMPILE_MODES), default="auto",
                        help="torch.compile mode (default: the recipe's, i.e. 'default' on CUDA, off on CPU)")
    parser.add_argument("--amp", choices=("auto", "bf16", "fp16", "off"), default="auto",
                        help="autocast (default: the recipe's, i.e. bf16 on a GPU, float32 on a CPU)")
    parser.add_argument("--channels-last", choices=("auto", "on", "off"), default="auto",
                        help="channels-last memory format (default: the recipe's, i.e. on a GPU only)")
    parser.add_argument("--batch-size", type=int,
                        help="replaces the recipe's batch size (scale --lr with it: the fast recipe's 0.4 is for 512)")
    parser.add_argument("--lr", type=float, help="replaces the recipe's peak learning rate")
    parser.add_argument("--no-tta", action="store_true", help="evaluate without flip test-time augmentation")
    parser.add_argument("--subset", type=int, help="training images (default: all 50,000)")
    parser.add_argument("--test-subset", type=int, help="test images (default: all 10,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", help="data folder (default: $RESNET_COURSE_DATA)")
    parser.add_argument("--json", type=Path, help="default: results/time_to_accuracy_<device>_<model>.json")
    parser.add_argument("--checkpoint-dir", type=Path,
                        help="write a checkpoint there after every epoch; run the same command again to continue "
                             "from the last one (a CPU run of hours)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()

    recipe = get_recipe(args.recipe)
    default_target, default_epochs = DEFAULTS.get(args.model, (None, recipe.epochs))
    target = args.target if args.target is not None else default_target
    if target is None:
        parser.error(f"--target is needed for {args.model} (defaults exist for {', '.join(DEFAULTS)})")
    overrides = {}
    if args.compile != "auto":
        overrides["compile"] = False if args.compile == "off" else args.compile
    if args.amp != "auto":
        overrides["amp"] = False if args.amp == "off" else args.amp
    if args.channels_last != "auto":
        overrides["channels_last"] = args.channels_last == "on"
    if args.lr is not None:
        overrides["lr"] = args.lr
    if args.no_tta:
        overrides["tta_flip"] = False
    load_before = os.getloadavg()  # a shared machine's other work shows up in every timing
    try:
        result = time_to_accuracy(args.model, target=target, epochs=args.epochs or default_epochs,
                                  recipe=recipe_name(args.recipe),
                                  device=args.device, data_root=args.data_root, subset=args.subset,
                                  test_subset=args.test_subset, seed=args.seed, progress=not args.no_progress,
                                  batch_size=args.batch_size, checkpoint_dir=args.checkpoint_dir, **overrides)
    except ValueError as error:  # too few images for one batch, a bad setting: one line, nothing written
        parser.exit(2, f"time_to_accuracy.py: error: {error}\n")
    meta = run_metadata(args.device, load_average={"before": load_before, "after": os.getloadavg()},
                        model=args.model, recipe=recipe_name(args.recipe), target=target,
                        max_epochs=result.max_epochs, batch_size=result.batch_size, data_variant=result.data_variant,
                        train_images=result.train_images, test_images=result.test_images, seed=args.seed,
                        fit_settings=result.fit_settings)
    print(format_time_to_accuracy(result))
    path = args.json or RESULTS / f"time_to_accuracy_{device_tag(args.device)}_{args.model}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "result": asdict(result)}, indent=2, default=str) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
