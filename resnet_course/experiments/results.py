"""Reading and writing the reference results, ``results/<name>.json``, with their provenance.

Every result file holds a ``meta`` block saying how it was produced (see
:mod:`resnet_course.experiments.provenance`); :func:`write_result` refuses a result without
one. Files are found through :func:`resnet_course.locations.results_dir`: the checkout's
``results/`` folder, else the copy installed with the package.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from resnet_course.experiments.provenance import stored_device_name
from resnet_course.locations import results_dir as default_results_dir
from resnet_course.training.checkpoint import atomic_write

__all__ = ["BENCHMARK_SCRIPTS", "PROVENANCE_KEYS", "describe_meta", "describe_shared_meta", "load_result",
           "producing_command", "result_path", "write_result"]

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


def _shown(meta: Mapping[str, Any]) -> dict[str, Any]:
    """``meta`` as printed: a stored device name in today's words."""
    return {**meta, "device": stored_device_name(meta["device"])} if "device" in meta else dict(meta)


def describe_meta(meta: dict[str, Any], keys: Sequence[str] = PROVENANCE_KEYS) -> str:
    """One line of provenance to print under a reference figure."""
    shown = _shown(meta)
    return "Reference run: " + "; ".join(f"{key}={shown[key]}" for key in keys if key in shown)


def describe_shared_meta(metas: Mapping[str, Mapping[str, Any]], keys: Sequence[str] = PROVENANCE_KEYS) -> str:
    """One line of provenance for several runs (``metas``: run label -> meta), e.g. the zoo's networks.

    A value all runs share is given once. A value that differs is given with the runs it belongs to, so that
    no run is credited with another's provenance; the value most runs share comes last, as "the other N"
    when it is the only most common one: ``device=CPU x86_64 (2 threads) for ResNet-20, CPU x86_64
    (1 thread) for the other 7``. Runs whose meta lacks the key are counted as not recorded."""
    if not metas:
        raise ValueError("no runs to describe")
    shown_metas = {label: _shown(meta) for label, meta in metas.items()}
    parts = []
    for key in keys:
        runs_by_value: dict[str, list[str]] = {}
        for label, shown in shown_metas.items():
            if key in shown:
                runs_by_value.setdefault(str(shown[key]), []).append(label)
        missing = len(metas) - sum(len(labels) for labels in runs_by_value.values())
        if not runs_by_value:
            continue
        if len(runs_by_value) == 1 and not missing:
            parts.append(f"{key}={next(iter(runs_by_value))}")
            continue
        *fewer, (common, most) = sorted(runs_by_value.items(), key=lambda group: len(group[1]))  # stable sort
        named = [f"{value} for {', '.join(labels)}" for value, labels in fewer]
        if fewer and not missing and all(len(labels) < len(most) for _, labels in fewer):
            named.append(f"{common} for the other {len(most)}")
        else:
            named.append(f"{common} for {', '.join(most)}")
        parts.append(f"{key}=" + ", ".join(named) + (f" (not recorded for {missing})" if missing else ""))
    return f"Reference runs ({len(metas)}): " + "; ".join(parts)
