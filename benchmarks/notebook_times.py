"""How long each chapter takes to run top to bottom, for the teaching guide.

    python benchmarks/notebook_times.py [--inplace] [--mode quick] [--json results/notebook_times_cpu.json]

Executes every ``notebooks/NN_*.ipynb`` in a fresh kernel (quick mode unless ``--mode
full``), one after the other, and records the wall time of each with the run's metadata.
With ``--inplace`` the executed notebooks are written back (this is also the way to
re-execute the whole book in order). A benchmark, not a test: the numbers depend on the
machine, and the file says which one.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import nbformat
import torch
from nbclient import NotebookClient

from resnet_course.data.cifar10 import load_cifar10
from resnet_course.experiments.provenance import run_metadata
from resnet_course.lessons.teaching import NOTEBOOK_DIR, TIMES_FILE, chapter_notebooks


def run_notebook(path: Path, *, inplace: bool, timeout: int) -> float:
    """Execute one notebook in its own folder; returns the wall time in seconds."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    if inplace:
        nbformat.write(notebook, path)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["quick", "full"], default="quick")
    parser.add_argument("--inplace", action="store_true", help="write the executed notebooks back")
    parser.add_argument("--only", nargs="*", help="notebook file names to run (default: all chapters)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--json", type=Path, default=TIMES_FILE)
    args = parser.parse_args()
    os.environ["RESNET_COURSE_QUICK"] = "1" if args.mode == "quick" else "0"  # the kernels inherit it

    paths = [p for p in chapter_notebooks(NOTEBOOK_DIR) if not args.only or p.name in args.only]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    # The chapters read CIFAR-10 from the same place (decoded once and cached, so this is cheap).
    meta = run_metadata(device, mode=args.mode, data_variant=load_cifar10("test").variant,
                        data_root=os.environ.get("RESNET_COURSE_DATA", "(unset)"))
    times: dict[str, float] = {}
    if args.json.is_file() and args.only:  # keep the other chapters' times
        times.update(json.loads(args.json.read_text())["notebooks"])
    for path in paths:
        seconds = run_notebook(path, inplace=args.inplace, timeout=args.timeout)
        times[path.name] = round(seconds, 1)
        print(f"{path.name}: {seconds:.0f} s", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"meta": meta, "notebooks": times}, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
