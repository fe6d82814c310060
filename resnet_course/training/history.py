""":class:`History`: what :func:`fit` measured, epoch by epoch.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Union

__all__ = ["History", "PathLike"]


PathLike = Union[str, os.PathLike]

# ----------------------------------------------------------------------------------------
# History: what fit() measured, epoch by epoch
# ----------------------------------------------------------------------------------------


@dataclass
class History:
    """Per-epoch measurements of one training run, plus where and how it ran.

    The lists have one entry per epoch (``val_loss``/``val_acc`` stay empty without
    validation data). Accuracies are fractions in [0, 1]. ``lr`` is the learning rate of
    each epoch's first step; ``images_per_sec`` counts training images (all ranks) per
    second of training, evaluation excluded; ``epoch_time`` is the whole epoch in seconds,
    evaluation included; ``wall_time`` adds up all of it, across resumed runs.
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    images_per_sec: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    wall_time: float = 0.0
    best_val_acc: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.train_loss)

    def add_epoch(
        self,
        *,
        train_loss: float,
        train_acc: float,
        lr: float,
        images_per_sec: float,
        epoch_time: float,
        val_loss: float | None = None,
        val_acc: float | None = None,
    ) -> None:
        """Append one epoch's numbers."""
        self.train_loss.append(train_loss)
        self.train_acc.append(train_acc)
        self.lr.append(lr)
        self.images_per_sec.append(images_per_sec)
        self.epoch_time.append(epoch_time)
        if val_loss is not None and val_acc is not None:
            self.val_loss.append(val_loss)
            self.val_acc.append(val_acc)
            self.best_val_acc = max(self.val_acc)

    def truncate(self, epochs: int) -> None:
        """Keep only the first ``epochs`` epochs."""
        for name in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "images_per_sec", "epoch_time"):
            del getattr(self, name)[epochs:]
        self.best_val_acc = max(self.val_acc) if self.val_acc else None

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (lists, numbers, strings) -- JSON- and checkpoint-safe."""
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in data.items() if k in known}
        if isinstance(values.get("meta"), dict):
            values["meta"] = dict(values["meta"])
        return cls(**values)

    def to_json(self, path: PathLike) -> Path:
        """Write the history as JSON (creating folders as needed); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def from_json(cls, path: PathLike) -> History:
        """Read a history written by :meth:`to_json`."""
        return cls.from_dict(json.loads(Path(path).read_text()))
