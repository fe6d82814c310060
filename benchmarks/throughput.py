"""Training throughput: the usual CIFAR-10 script vs ``fit`` with the tensor-resident loader.

    python benchmarks/throughput.py --model resnet20 --steps 30 [--device cuda] [--json results/throughput_cpu.json]

Both ways train the same network from the same weights on the same images for the same
number of steps, in this one invocation; the table gives images per second and the ratio
to the usual script. A benchmark, not a test (see resnet_course/bench.py).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import torch

from resnet_course.bench import format_table, throughput_comparison
from resnet_course.provenance import run_metadata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", type=Path, help="also write the table and its metadata here")
    args = parser.parse_args()
    report = throughput_comparison(args.model, steps=args.steps, batch_size=args.batch_size, device=args.device,
                                 workers=args.workers)
    meta = run_metadata(args.device, model=args.model, steps=args.steps, batch_size=args.batch_size,
                        workers=args.workers, data_variant=report.data_variant)
    print(format_table(report, meta))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": meta, "rows": [asdict(r) for r in report.rows]}, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
