"""Markdown tables of the reference results, for the README (never typed in by hand).

``benchmarks/readme_tables.py --write`` renders each table from ``results/`` and puts it
between its markers in ``README.md`` (``<!-- table: NAME -->`` … ``<!-- end table -->``);
``tests/test_readme_tables.py`` checks that the README shows exactly what the files say.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from resnet_course.experiments.provenance import stored_device_name
from resnet_course.experiments.results import load_result, result_path
from resnet_course.experiments.speed import reached_target, typical_epoch_seconds
from resnet_course.experiments.zoo import (
    PAPER_TABLE6,
    epochs_to_accuracy,
    load_zoo,
    median_epoch_seconds,
    minutes_to_accuracy,
)
from resnet_course.lessons.labels import network_label

__all__ = ["TABLES", "markdown_table", "render_readme", "speed_table", "time_to_accuracy_table", "zoo_table"]

MARKER = re.compile(r"(<!-- table: (?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- end table -->)", re.S)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f} %"


def zoo_table(results_dir: str | Path | None = None) -> str:
    """One row per finished zoo network: final errors beside the paper's Table 6, and where it ran."""
    rows = []
    for name, result in load_zoo(results_dir=results_dir, missing_ok=True).items():
        final, meta = result["final"], result["meta"]
        paper = PAPER_TABLE6.get(name, {}).get("error")
        rows.append([network_label(name), f"{meta['parameters']:,}", meta["epochs"], _percent(final["test_error"]),
                     _percent(final["test_error_flip_tta"]), _percent(final["train_error_eval"]),
                     "—" if paper is None else f"{paper:.2f} %", _device(meta),
                     f"{meta['wall_time_s'] / 60:.0f} min"])
    header = ["network", "parameters", "epochs", "test error", "with flip TTA", "training error (eval)",
              "paper (Table 6)", "device", "wall time"]
    return markdown_table(header, rows)


def time_to_accuracy_table(results_dir: str | Path | None = None, targets: Sequence[float] = (0.85, 0.90),
                           benchmarks: Sequence[str] = ("time_to_accuracy_cpu_resnet20",
                                                        "time_to_accuracy_cpu_resnet20_120ep")) -> str:
    """Epochs and minutes until the test accuracy first reached each target: the zoo's ResNet-20 and
    ResNet-56 at their runs' median pace, then each stored time-to-accuracy benchmark run that
    exists, with the minutes it trained (evaluation excluded)."""
    rows = []
    for name, result in load_zoo(("resnet20", "resnet56"), results_dir, missing_ok=True).items():
        row: list[object] = [network_label(name), f"zoo recipe, {result['meta']['epochs']} epochs",
                             _device(result["meta"]), f"{median_epoch_seconds(result):.0f} s"]
        for target in targets:
            epochs, minutes = epochs_to_accuracy(result, target), minutes_to_accuracy(result, target)
            row.append("not reached" if epochs is None else f"epoch {epochs}, {minutes:.0f} min")
        rows.append(row)
    for benchmark in benchmarks:
        if not result_path(benchmark, results_dir).is_file():
            continue
        stored = load_result(benchmark, results_dir)
        run = stored["result"]
        seconds = typical_epoch_seconds(stored)
        tta = ", flip TTA" if run["fit_settings"].get("tta_flip") else ""
        row = [network_label(run["model"]),
               f"{run['recipe']} recipe at batch {run['batch_size']}{tta}, {run['max_epochs']}-epoch schedule",
               _device(stored["meta"]), f"{seconds:.0f} s"]
        for target in targets:
            hit = reached_target(stored, target)
            row.append("not reached" if hit is None else f"epoch {hit[0]}, {hit[1]:.0f} min")
        rows.append(row)
    header = ["network", "run", "device", "median epoch"] + [f"to {100 * t:.0f} % test accuracy" for t in targets]
    return markdown_table(header, rows)


def _device(meta: Mapping[str, Any]) -> str:
    return stored_device_name(meta["device"])


def speed_table(results_dir: str | Path | None = None, name: str = "throughput_cpu_resnet20") -> str:
    """The throughput benchmark's rows: images per second, the ratio to the usual script, share of bf16 peak."""
    result = load_result(name, results_dir)
    rows = []
    for row in result["rows"]:
        if row["images_per_sec"] is None:
            rows.append([row["method"], "", row["note"] or "n/a", "", ""])
            continue
        peak = row.get("fraction_of_peak")
        rows.append([row["method"], row["batch_size"], f"{row['images_per_sec']:.1f}", f"{row['ratio']:.2f}×",
                     "" if peak is None else f"{100 * peak:.1f} %"])
    return markdown_table(["method", "batch", "images/s", "ratio", "% of bf16 peak"], rows)


TABLES: Mapping[str, Callable[[Any], str]] = {
    "zoo": zoo_table,
    "time_to_accuracy": time_to_accuracy_table,
    "speed_cpu": speed_table,
}


def render_readme(text: str, results_dir: str | Path | None = None) -> str:
    """``text`` with every marked table re-rendered from the result files."""

    def render(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in TABLES:
            raise ValueError(f"README names an unknown table {name!r}; known: {', '.join(TABLES)}")
        return match.group(1) + TABLES[name](results_dir) + match.group(4)

    return MARKER.sub(render, text)

