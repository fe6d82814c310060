"""The reference experiments ``resnet-course experiment NAME`` runs, in one table.

Each :class:`Experiment` says what it makes, which of the command's options it reads, and how
it calls its module with them — the defaults live here and nowhere else:

- ``zoo`` (:mod:`~resnet_course.experiments.zoo`): the reference networks every chapter reads;
- ``gestures`` (:mod:`~resnet_course.experiments.gestures`): transfer learning curves (chapter 6);
- ``lesion`` (:mod:`~resnet_course.experiments.lesion`): Veit et al. 2016's block deletions (chapter 7);
- ``landscape`` (:mod:`~resnet_course.experiments.landscape`): Li et al. 2018's loss slices (chapter 7).

Every experiment also takes the common options ``seed``, ``device``, ``data_root``,
``results_dir``, ``overwrite`` and ``no_progress``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ALL_OPTIONS", "COMMON_OPTIONS", "EXPERIMENTS", "Experiment", "options_not_taken"]

#: The options every experiment reads (``device`` and ``seed`` are resolved by the command).
COMMON_OPTIONS = frozenset({"seed", "device", "data_root", "results_dir", "overwrite", "no_progress"})

Options = Mapping[str, Any]


@dataclass(frozen=True)
class Experiment:
    """One reference experiment: its name, what it makes, the options it reads, and how it runs."""

    name: str
    description: str
    options: frozenset[str]
    run: Callable[[Options, dict[str, Any]], Path]


def _given(options: Options, *names: str) -> dict[str, Any]:
    """The options among ``names`` that were given (not ``None``), under the runner's parameter names."""
    return {name: options[name] for name in names if options.get(name) is not None}


def _precision(options: Options) -> dict[str, Any]:
    amp = options.get("amp")
    return {} if amp is None else {"amp": False if amp == "off" else amp}


def _zoo(options: Options, common: dict[str, Any]) -> Path:
    from resnet_course.experiments.zoo import ZOO_RECIPE, run_zoo

    recipe = ZOO_RECIPE.with_changes(epochs=options["epochs"]) if options.get("epochs") else ZOO_RECIPE
    paths = run_zoo(options.get("only"), recipe=recipe, subset=options.get("subset"),
                    test_subset=options.get("test_subset"), results_dir=options.get("results_dir"),
                    runs_dir=options.get("runs_dir") or "runs", progress=not options.get("no_progress"), **common)
    return paths[-1].parent


def _gestures(options: Options, common: dict[str, Any]) -> Path:
    from resnet_course.experiments.gestures import run_gestures

    return run_gestures(**_given(options, "sizes", "seeds", "steps", "image_size", "batch_size", "sources"),
                        results_dir=options.get("results_dir"), progress=not options.get("no_progress"),
                        **_precision(options), **common)


def _lesion(options: Options, common: dict[str, Any]) -> Path:
    from resnet_course.experiments.lesion import run_lesion

    networks = {"networks": options["only"]} if options.get("only") else {}
    return run_lesion(test_subset=options.get("test_subset"), results_dir=options.get("results_dir"),
                      extend=bool(options.get("extend")), **networks, **_precision(options), **common)


def _landscape(options: Options, common: dict[str, Any]) -> Path:
    from resnet_course.experiments.landscape import run_landscape

    points = options.get("points") or 21
    networks = {"networks": options["only"]} if options.get("only") else {}
    return run_landscape(points_2d=points, points_1d=2 * points - 1, images=options.get("subset") or 1_000,
                         results_dir=options.get("results_dir"), extend=bool(options.get("extend")), **networks,
                         **_precision(options), **common)


EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    Experiment("zoo", "the reference networks every chapter reads: plain and residual CIFAR-10 nets of 20-110 "
                      "layers, one recipe (He et al. 2015, Fig. 6 and Table 6), network by network, resumable",
               frozenset({"epochs", "subset", "test_subset", "only", "runs_dir"}), _zoo),
    Experiment("gestures", "hand gestures on a session split: learning curves of ResNet-20 from scratch, fine-tuned "
                           "from CIFAR-10 and frozen features, over sizes and seeds (chapter 6)",
               frozenset({"sizes", "seeds", "steps", "image_size", "batch_size", "sources", "amp"}), _gestures),
    Experiment("lesion", "Veit et al. 2016: delete blocks of the zoo's trained ResNets and plain nets (chapter 7)",
               frozenset({"only", "test_subset", "amp", "extend"}), _lesion),
    Experiment("landscape", "Li et al. 2018: filter-normalised loss slices of the zoo's networks (chapter 7)",
               frozenset({"only", "points", "subset", "amp", "extend"}), _landscape),
)}


#: Every option some experiment reads: the ``experiment`` command's options, no more.
ALL_OPTIONS = frozenset().union(COMMON_OPTIONS, *(e.options for e in EXPERIMENTS.values()))


def options_not_taken(name: str, given: Options) -> list[str]:
    """The given options (not ``None``, not ``False``) that experiment ``name`` does not read, as ``--flag``s.

    Keys of ``given`` that are no experiment's option (the command's own bookkeeping) are ignored.
    """
    taken = EXPERIMENTS[name].options | COMMON_OPTIONS
    return sorted("--" + option.replace("_", "-") for option, value in given.items()
                  if value is not None and value is not False and option in ALL_OPTIONS and option not in taken)
