"""Stored weights by (network, tag), each pinned by its SHA-256, loaded without running pickled code.

As torchvision's weights enums: a small table in the code maps ``(name, tag)`` — e.g.
``("resnet20", "cifar10")`` — to a :class:`Weights` record: the file name, the file's
SHA-256 *pinned here in the package* and a ``meta`` dict (recipe, data, accuracy, …).
:func:`~resnet_course.nn.registry.create_model` with ``weights="cifar10"`` finds the
file (:func:`weights_path`), checks it against the pinned hash and loads it with
``torch.load(..., weights_only=True)`` (:func:`load_weights`). Because the expected hash
is in the code and not in a JSON file beside the weights, a replaced file is caught even
when whoever replaced it also rewrote the JSON (issue 13, item 7: tampering, not only
corruption).

Where the files are
-------------------
:func:`weights_dirs` gives the folders searched, in order: the checkout's
``results/zoo/`` (when the package runs from a source checkout, recognised by the
``pyproject.toml`` beside the package), so a fresh reference run shows up while
developing; then ``resnet_course/_data/results/zoo/``, the copy shipped inside the
installed package. Change that one function to change where weights are looked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from resnet_course.data.safety import ChecksumError, sha256_file
from resnet_course.locations import PACKAGED_RESULTS, checkout_root

__all__ = [
    "WEIGHTS",
    "Weights",
    "WeightsError",
    "get_weights",
    "load_weights",
    "weights_dirs",
    "weights_path",
]




class WeightsError(ValueError):
    """Weights that cannot be used: unknown for this network, or made for another architecture."""


@dataclass(frozen=True)
class Weights:
    """One stored set of weights: its file name, the file's pinned SHA-256, and what it is.

    ``meta`` is free-form provenance (recipe, data variant, accuracy, the command that
    made it) plus two keys :func:`~resnet_course.nn.registry.create_model` reads:
    ``num_classes`` (the classifier's size) and ``options`` (builder options the weights
    were trained with, e.g. ``{"shortcut": "B"}``).
    """

    file: str
    sha256: str
    meta: Mapping[str, Any] = field(default_factory=dict)


#: ``(network name, tag) → Weights``. The reference runs (``resnet-course experiment zoo``)
#: write ``results/zoo/<name>.pt``; their SHA-256 is copied here by hand, which is the pin.
WEIGHTS: dict[tuple[str, str], Weights] = {
    ("resnet20", "cifar10"): Weights(
        "resnet20.pt", "16d1b71b79e70ea1901083e6b3871501dbec88d08e981b56dd59fce0144bbab1",
        {"recipe": "zoo", "result": "results/zoo/resnet20.json", "data": "CIFAR-10 (JPEG copy)", "num_classes": 10},
    ),
    ("plain20", "cifar10"): Weights(
        "plain20.pt", "069b7c75d7598fc666fb045b8b6f00283c6f00f6cc3b098892f29944b63e0d17",
        {"recipe": "zoo", "result": "results/zoo/plain20.json", "data": "CIFAR-10 (JPEG copy)", "num_classes": 10},
    ),
    ("resnet56", "cifar10"): Weights(
        "resnet56.pt", "408488172b49cb40206217481a9e001cd7432d2b1e0179aceba202e3f3ef9755",
        {"recipe": "zoo", "result": "results/zoo/resnet56.json", "data": "CIFAR-10 (JPEG copy)", "num_classes": 10},
    ),
    ("plain56", "cifar10"): Weights(
        "plain56.pt", "32ce30288f90781081b5ce3e5d69f2b79f90b0bdbf2f83ee704364da3f5657c2",
        {"recipe": "zoo", "result": "results/zoo/plain56.json", "data": "CIFAR-10 (JPEG copy)", "num_classes": 10},
    ),
}


def get_weights(name: str, tag: str, table: Mapping[tuple[str, str], Weights] | None = None) -> Weights:
    """The :class:`Weights` of network ``name`` tagged ``tag``, or a one-line :class:`WeightsError`."""
    table = WEIGHTS if table is None else table
    if (name, tag) in table:
        return table[(name, tag)]
    same_net = sorted(t for n, t in table if n == name)
    same_tag = sorted(n for n, t in table if t == tag)
    if same_net:
        hint = f"{name} has weights {', '.join(map(repr, same_net))}"
    elif same_tag:
        hint = f"weights {tag!r} exist for {', '.join(same_tag)}"
    else:
        hint = "no weights are stored for any network yet" if not table else f"{len(table)} are stored"
    raise WeightsError(f"no weights {tag!r} for {name}: {hint} (the table is resnet_course.nn.weights.WEIGHTS)")


def weights_dirs() -> list[Path]:
    """The folders :func:`weights_path` searches, first match wins (see the module docstring)."""
    root = checkout_root()
    return ([root / "results" / "zoo"] if root is not None else []) + [PACKAGED_RESULTS / "zoo"]


def weights_path(file: str, dirs: Iterable[str | Path] | None = None) -> Path:
    """Where weights file ``file`` (a bare file name) is: the first of ``dirs`` (default :func:`weights_dirs`)
    holding it.

    Raises ``ValueError`` for a name with a folder in it (the table names files, never
    paths) and ``FileNotFoundError`` naming every folder searched.
    """
    if not file or Path(file).name != file or file in (".", ".."):
        raise ValueError(f"a weights file is a bare file name such as 'resnet20.pt', not {file!r}")
    searched = [Path(d) for d in (weights_dirs() if dirs is None else dirs)]
    for folder in searched:
        if (folder / file).is_file():
            return folder / file
    where = " or ".join(str(d) for d in searched) or "no folder"
    raise FileNotFoundError(f"weights file {file} not found in {where}; it is made by 'resnet-course experiment zoo'")


def _state_dict_of(blob: object, path: Path) -> dict[str, Tensor]:
    """The state dict in a loaded file: a bare one, or a checkpoint's ``"model"`` entry."""
    state = blob.get("model", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise WeightsError(f"{path} holds no state dict (a dict of tensors, or a checkpoint with one under 'model')")
    return state


def _architecture_mismatch(model: nn.Module, state: Mapping[str, Tensor]) -> str | None:
    """What differs between ``model``'s tensors and ``state`` (names and shapes), or ``None``."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    reshaped = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if not (missing or unexpected or reshaped):
        return None
    parts = []
    if missing:
        parts.append(f"{len(missing)} tensors missing (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    if reshaped:
        k = reshaped[0]
        parts.append(f"{len(reshaped)} of another shape (e.g. {k}: "
                     f"{tuple(state[k].shape)} in the file, {tuple(expected[k].shape)} in the network)")
    return "; ".join(parts)


def load_weights(model: nn.Module, weights: Weights, *, name: str | None = None,
                 dirs: Iterable[str | Path] | None = None) -> nn.Module:
    """Load ``weights`` into ``model`` (in place) and return it, after checking that they belong there.

    In order: the file is found (:func:`weights_path`); its SHA-256 must equal the pinned
    ``weights.sha256`` (else :class:`~resnet_course.data.ChecksumError`: the file was
    damaged or replaced); it is read with ``torch.load(..., weights_only=True)``, which
    builds tensors and plain containers only and never runs pickled code; a checkpoint
    recording another ``arch`` than ``name``, or tensors whose names or shapes differ from
    the model's, raise :class:`WeightsError` saying what differs. Each error is one line.
    """
    path = weights_path(weights.file, dirs)
    actual = sha256_file(path)
    if actual != weights.sha256.lower():
        raise ChecksumError(f"{path} has SHA-256 {actual[:16]}…, but the package pins {weights.sha256[:16]}…: "
                            "the file was damaged or replaced; restore it or re-run the experiment that makes it")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"{path} cannot be read as weights ({type(exc).__name__}: {exc})") from exc
    recorded = blob.get("arch") if isinstance(blob, dict) else None
    if name is not None and recorded is not None and recorded != name:
        raise WeightsError(f"{path} holds weights for {recorded}, not for {name}")
    state = _state_dict_of(blob, path)
    mismatch = _architecture_mismatch(model, state)
    if mismatch:
        label = name or type(model).__name__
        raise WeightsError(f"{path} holds weights for another architecture than {label}: {mismatch}")
    model.load_state_dict(state)
    return model
