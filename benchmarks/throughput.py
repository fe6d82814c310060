"""Training throughput: the usual CIFAR-10 script vs ``fit``, adding one speed trick at a time.

    python benchmarks/throughput.py --model resnet20 --steps 30 [--device cuda] [--json PATH]

Every row trains the same network from the same weights for the same number of steps, in
this one invocation: the usual script (PIL transforms, DataLoader, fp32), then ``fit`` with
the tensor-resident loader, then + bf16 autocast, + channels-last, + torch.compile,
+ CUDA graphs, + fused SGD (each added to the row before), and last all of those with
the rest of the ``fast`` recipe (its batch of 512, schedule and optimizer). The table gives images per
second, the ratio to the usual script and the share
of the device's measured bf16 matmul rate that the model's FLOPs reach. A trick that does
not apply on the device is listed as "n/a". The JSON goes to
``results/throughput_<device>_<model>.json`` unless ``--json`` says otherwise. A benchmark,
not a test (see resnet_course/bench.py).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path

import torch

from resnet_course.experiments.provenance import git_commit, run_metadata
from resnet_course.experiments.speed import TRICKS, WARMUP_STEPS, device_tag, format_table, throughput_comparison

RESULTS = Path(__file__).resolve().parents[1] / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--steps", type=int, default=30, help="timed training steps per row (default: 30)")
    parser.add_argument("--batch-size", type=int, default=128, help="every row's but the fast recipe's")
    parser.add_argument("--repeats", type=int, default=3,
                        help="time each row this many times and keep the fastest (default: 3)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the usual script")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tricks", action=argparse.BooleanOptionalAction, default=True,
                        help="every row (default); --no-tricks: only the usual script and the tensor-resident fit")
    parser.add_argument("--json", type=Path, help="where to write the table and its metadata "
                                                  "(default: results/throughput_<device>_<model>.json)")
    parser.add_argument("--data-root", help="data folder (default: $RESNET_COURSE_DATA)")
    args = parser.parse_args()
    load_before = os.getloadavg()  # a shared machine's other work shows up in every timing
    commit = git_commit()  # the code that runs, taken before the run can write anything
    report = throughput_comparison(args.model, steps=args.steps, batch_size=args.batch_size, device=args.device,
                                   data_root=args.data_root, workers=args.workers, tricks=args.tricks,
                                   repeats=args.repeats)
    meta = run_metadata(args.device, commit=commit, load_average={"before": load_before, "after": os.getloadavg()},
                        model=args.model, steps=args.steps, repeats=args.repeats,
                        batch_size=args.batch_size,
                        workers=args.workers, data_variant=report.data_variant,
                        rows=[t.name for t in (TRICKS if args.tricks else TRICKS[:2])],
                        flops_per_image=report.flops_per_image, peak_matmul_flops=report.peak_flops,
                        timing=f"each row's training loop after {WARMUP_STEPS} untimed warm-up steps "
                               "(compilation excluded); the fastest of --repeats runs")
    print(format_table(report, meta))
    path = args.json or RESULTS / f"throughput_{device_tag(args.device)}_{args.model}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "rows": [asdict(r) for r in report.rows]}, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
