"""Quick vs full mode: how much compute a notebook or a reference run may spend.

One place defines both budgets (DESIGN.md, "Two modes, one set of notebooks"):

- **quick** (``RESNET_COURSE_QUICK=1``, set by the tests): real data, small subsets and a
  couple of epochs, so each notebook runs in about a minute on a 2-core CPU;
- **full**: the real schedules. He et al. 2015, §4.2 train the CIFAR networks for 64k
  iterations at batch 128 on 45k images — about 182 epochs.

With the variable unset, full mode is the default on a CUDA machine and quick mode
elsewhere (a full schedule on a laptop CPU would take days); ``RESNET_COURSE_QUICK=0``
forces full mode anywhere.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Literal, Mapping

import torch

__all__ = ["Budget", "current_budget", "ENV_VAR", "FULL", "Mode", "QUICK"]

ENV_VAR = "RESNET_COURSE_QUICK"
Mode = Literal["quick", "full"]


@dataclass(frozen=True)
class Budget:
    """The sizes a notebook uses; read it with :func:`current_budget`."""

    mode: Mode
    reason: str
    train_subset: int | None  # images of the training split (None: all)
    test_subset: int | None  # images of the test split (None: all)
    epochs: int  # a chapter's live training run
    paper_epochs: int  # the paper's CIFAR schedule (64k iterations at batch 128)
    batch_size: int
    schedule: str  # learning-rate schedule of a live run (a 2-epoch run has no room for the paper's steps)
    warmup_epochs: float
    degradation_depths: tuple[int, ...]  # plain/residual depths trained side by side (chapter 1)
    gradient_depths: tuple[int, ...]  # depths whose gradients are measured at initialisation (chapter 2)
    landscape_points: int  # grid points per axis of a loss-landscape slice (chapter 7)
    gesture_size: int  # side of the hand-gesture crops in pixels (chapter 6)

    @property
    def quick(self) -> bool:
        return self.mode == "quick"

    def describe(self) -> str:
        """One paragraph a notebook prints so the reader knows what ran and what a full run does."""
        if self.quick:
            return (
                f"Quick mode ({self.reason}): {self.train_subset:,} training and {self.test_subset:,} test images, "
                f"{self.epochs} epoch(s) with the {self.schedule} schedule, "
                f"depths {', '.join(map(str, self.degradation_depths))}. "
                f"A full run uses all 50,000/10,000 images and {FULL.epochs} epochs "
                f"(the paper's schedule: {FULL.paper_epochs}); set {ENV_VAR}=0 on a GPU machine for it."
            )
        return (
            f"Full mode ({self.reason}): all images, {self.epochs} epochs "
            f"(the paper's schedule: {self.paper_epochs}), depths {', '.join(map(str, self.degradation_depths))}."
        )

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


QUICK = Budget(
    mode="quick",
    reason="",
    train_subset=5_000,
    test_subset=1_000,
    epochs=2,
    paper_epochs=182,
    batch_size=128,
    schedule="onecycle",
    warmup_epochs=0.3,
    degradation_depths=(8, 14, 20),
    gradient_depths=(20, 56, 110),
    landscape_points=7,
    gesture_size=32,  # the CIFAR networks' own input size: a quarter of the work of 64×64 crops
)

FULL = Budget(
    mode="full",
    reason="",
    train_subset=None,
    test_subset=None,
    epochs=15,  # sized so each chapter's live run takes minutes on a Colab-class GPU (lessons.chapter estimates it)
    paper_epochs=182,
    batch_size=128,
    schedule="onecycle",
    warmup_epochs=1.0,
    degradation_depths=(20, 56),
    gradient_depths=(20, 56, 110),
    landscape_points=31,
    gesture_size=64,
)


def current_budget(environ: Mapping[str, str] | None = None, cuda_available: bool | None = None) -> Budget:
    """The active budget: ``RESNET_COURSE_QUICK`` if set, else full on CUDA and quick elsewhere."""
    environ = os.environ if environ is None else environ
    value = environ.get(ENV_VAR, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return _with_reason(QUICK, f"{ENV_VAR}={environ[ENV_VAR]}")
    if value in ("0", "false", "no", "off"):
        return _with_reason(FULL, f"{ENV_VAR}={environ[ENV_VAR]}")
    if value:
        raise ValueError(f"{ENV_VAR} must be 1 (quick) or 0 (full), not {environ[ENV_VAR]!r}")
    cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
    if cuda:
        return _with_reason(FULL, "a CUDA GPU is available")
    return _with_reason(QUICK, f"no CUDA GPU and {ENV_VAR} unset")


def _with_reason(budget: Budget, reason: str) -> Budget:
    return Budget(**{**budget.to_dict(), "reason": reason})  # type: ignore[arg-type]
