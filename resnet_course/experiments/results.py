"""Reading and writing ``results/*.json`` with their provenance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

__all__ = ["describe_meta", "load_result", "PROVENANCE_KEYS", "RESULTS_DIR", "write_result"]


RESULTS_DIR = Path(__file__).resolve().parents[2] / "results"


def write_result(name: str, result: dict[str, Any], out: str | Path | None = None) -> Path:
    """Write ``result`` (with its ``meta``) to ``results/<name>.json`` or ``out``, atomically; return the path."""
    if "meta" not in result:
        raise ValueError(f"result {name!r} has no meta block: say how it was produced")
    path = Path(out) if out is not None else RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(result, indent=1) + "\n")
    temporary.replace(path)
    return path


def load_result(name: str, results_dir: str | Path | None = None) -> dict[str, Any]:
    """Read ``results/<name>.json``; a missing file says which command produces it."""
    path = Path(results_dir or RESULTS_DIR) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no reference result {path}; produce it with 'resnet-course experiment {name}'")
    return json.loads(path.read_text())


PROVENANCE_KEYS = ("device", "data_variant", "train_images", "test_images", "epochs", "schedule", "warmup_epochs",
                   "precision", "scale", "wall_time_s", "commit", "date")


def describe_meta(meta: dict[str, Any], keys: Sequence[str] = PROVENANCE_KEYS) -> str:
    """One line of provenance to print under a reference figure."""
    return "Reference run: " + "; ".join(f"{key}={meta[key]}" for key in keys if key in meta)
