"""Reading and writing the reference results, ``results/<name>.json``, with their provenance.

Every result file holds a ``meta`` block saying how it was produced (see
:mod:`resnet_course.experiments.provenance`); :func:`write_result` refuses a result without
one. Files are found through :func:`resnet_course.locations.results_dir`: the checkout's
``results/`` folder, else the copy installed with the package.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from resnet_course.experiments.provenance import stored_device_name
from resnet_course.locations import results_dir as default_results_dir
from resnet_course.training.checkpoint import atomic_write

__all__ = ["BENCHMARK_SCRIPTS", "PROVENANCE_KEYS", "describe_meta", "load_result", "producing_command", "result_path",
           "write_result"]

PROVENANCE_KEYS = ("device", "data_variant", "train_images", "test_images", "epochs", "recipe", "schedule",
                   "warmup_epochs", "precision", "seed", "wall_time_s", "commit", "date")


def result_path(name: str, results_dir: str | Path | None = None, suffix: str = ".json") -> Path:
    """Where result ``name`` (e.g. ``"lesion"`` or ``"zoo/resnet20"``) lives."""
    return Path(results_dir or default_results_dir()) / f"{name}{suffix}"


def write_result(name: str, result: dict[str, Any], results_dir: str | Path | None = None) -> Path:
    """Write ``result`` (with its ``meta``) to ``<results_dir>/<name>.json`` atomically; return the path.

    Through :func:`~resnet_course.training.checkpoint.atomic_write`: a run stopped while writing, or a
    full disk, leaves the previous file whole and no temporary file behind."""
    if "meta" not in result:
        raise ValueError(f"result {name!r} has no meta block: say how it was produced")
    path = result_path(name, results_dir)
    text = json.dumps(result, indent=1) + "\n"
    atomic_write(path, lambda file: file.write(text.encode()))  # a stop or a full disk leaves the old file whole
    return path


# The results the benchmarks write (``<benchmark>_<device>_<model>.json``) and the script that writes each.
BENCHMARK_SCRIPTS = {"throughput": "python benchmarks/throughput.py",
                     "time_to_accuracy": "python benchmarks/time_to_accuracy.py"}


def producing_command(name: str) -> str:
    """The command that writes result ``name``: a benchmark script or ``resnet-course experiment``."""
    for prefix, script in BENCHMARK_SCRIPTS.items():
        if name.startswith(prefix + "_"):
            return script
    return f"resnet-course experiment {name.split('/')[0]}"


def load_result(name: str, results_dir: str | Path | None = None) -> dict[str, Any]:
    """Read ``<results_dir>/<name>.json``; a missing or damaged file says which command produces it."""
    path = result_path(name, results_dir)
    command = producing_command(name)
    if not path.is_file():
        raise FileNotFoundError(f"no reference result {path}; produce it with '{command}'")
    try:
        result = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"the reference result {path} is damaged ({error}); restore it from git, or delete it "
                         f"and run '{command}' again") from error
    if not isinstance(result, dict) or not isinstance(result.get("meta"), dict):
        raise ValueError(f"{path} has no meta block, so nothing says how it was produced; run '{command}' again")
    return result


def describe_meta(meta: dict[str, Any], keys: Sequence[str] = PROVENANCE_KEYS) -> str:
    """One line of provenance to print under a reference figure."""
    shown = {**meta, "device": stored_device_name(meta["device"])} if "device" in meta else meta
    return "Reference run: " + "; ".join(f"{key}={shown[key]}" for key in keys if key in shown)
