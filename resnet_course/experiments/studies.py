"""Chapter 7's studies of stored networks (lesion, landscape), written network by network.

A study's result, ``results/<study>.json``, holds one entry of ``runs`` per zoo network and a
``meta`` block: the study's settings (data, sizes, seed, precision), ``networks`` (the zoo
result each network came from) and ``made`` (per network: the commit, date and device that
measured it, and its seconds). The file is rewritten after each network, so a stopped study
loses only the network in flight.

``extend=True`` (``--extend`` on the command line) keeps the runs of an existing file that were
made with the same settings from the same zoo files, and measures only the others: a network
that joins the zoo later (ResNet-56 after ResNet-20) is added without measuring the rest again.
An existing file with other settings is an error that says what differs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from resnet_course.experiments.provenance import run_metadata
from resnet_course.experiments.results import load_result, result_path, write_result

__all__ = ["StudySettingsError", "describe_networks", "kept_runs", "run_study"]

Measure = Callable[[str], dict[str, Any]]


class StudySettingsError(ValueError):
    """An existing study result was made with other settings than this call's, so it cannot be extended."""


def _made_before(meta: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Who measured ``name`` in an existing file; files from before ``made`` share one line for all networks."""
    made = meta.get("made")
    if isinstance(made, Mapping) and isinstance(made.get(name), Mapping):
        return dict(made[name])
    return {"commit": meta.get("commit"), "date": meta.get("date"), "device": meta.get("device"), "wall_time_s": None}


def kept_runs(study: str, settings: Mapping[str, Any], sources: Mapping[str, Any],
              results_dir: str | Path | None = None) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], float]:
    """What an extended run keeps of ``results/<study>.json``: ``(runs, networks, made, shared_seconds)``.

    Kept: every run whose zoo network is unchanged (the same result commit and date as in ``sources``, or
    not among this call's networks). ``shared_seconds``: the file's wall time not attributed to one
    network (files from before ``made``). A missing file keeps nothing; other settings raise
    :class:`StudySettingsError` naming the first that differs.
    """
    path = result_path(study, results_dir)
    if not path.is_file():
        return {}, {}, {}, 0.0
    old = load_result(study, results_dir)
    meta, runs = old["meta"], old.get("runs")
    differing = [key for key in settings if meta.get(key) != settings[key]]
    if differing or not isinstance(runs, Mapping):
        what = (f"{differing[0]} {meta.get(differing[0])!r} there, {settings[differing[0]]!r} here" if differing
                else "it has no runs")
        raise StudySettingsError(f"{path} was made with other settings ({what}): replace it with --overwrite, or "
                                 "write this one elsewhere with --results-dir")
    networks = meta.get("networks") if isinstance(meta.get("networks"), Mapping) else {}
    keep = [name for name in runs if name in networks and (name not in sources or networks[name] == sources[name])]
    made = {name: _made_before(meta, name) for name in keep}
    shared = 0.0
    if any(entry.get("wall_time_s") is None for entry in made.values()):
        attributed = sum(entry.get("wall_time_s") or 0.0 for entry in (_made_before(meta, n) for n in runs))
        shared = max(float(meta.get("wall_time_s") or 0.0) - attributed, 0.0)
    return {name: runs[name] for name in keep}, {name: networks[name] for name in keep}, made, shared


def run_study(study: str, description: str, settings: dict[str, Any], networks: Sequence[str],
              skipped: Sequence[str], measure: Measure, summary: Callable[[str, dict[str, Any]], str], *,
              sources: Mapping[str, Any], order: Sequence[str], device: torch.device | str | None,
              results_dir: str | Path | None = None, extend: bool = False) -> Path:
    """Measure each of ``networks`` with ``measure(name)`` and write ``results/<study>.json`` after each one.

    ``settings`` go into ``meta`` and must match an existing file when ``extend``; ``sources`` are the
    zoo results the networks came from; ``order`` orders the runs; ``summary(name, run)`` is the line
    printed when a network is done. Returns the path written.
    """
    runs, known, made, shared_seconds = (kept_runs(study, settings, sources, results_dir) if extend
                                         else ({}, {}, {}, 0.0))
    path = result_path(study, results_dir)
    for name in networks:
        if name in runs:
            print(f"{name}: kept from {path} (same settings, same zoo network)", flush=True)
    todo = [name for name in networks if name not in runs]
    # The code this process runs is the checkout's at the start: once the file below is written into a
    # checkout, the tree is dirty, and a later network's stamp must not call the code that measured it so.
    code = run_metadata(device)["commit"]
    for name in todo:
        start = time.perf_counter()
        runs[name] = measure(name)
        known[name] = dict(sources[name])
        stamp = {**run_metadata(device), "commit": code}  # this network's device and date: the meta block's own
        made[name] = {"commit": stamp["commit"], "device": stamp["device"], "date": stamp["date"],
                      "wall_time_s": round(time.perf_counter() - start, 1)}
        print(summary(name, runs[name]), flush=True)
        names = [n for n in order if n in runs] + [n for n in runs if n not in order]
        seconds = shared_seconds + sum(entry["wall_time_s"] or 0.0 for entry in made.values())
        meta = {**stamp, "experiment": study, "description": description, **settings,
                "networks": {n: known[n] for n in names}, "made": {n: made[n] for n in names},
                "skipped": [n for n in skipped if n not in runs], "wall_time_s": round(seconds, 1)}
        write_result(study, {"meta": meta, "runs": {n: runs[n] for n in names}}, results_dir)
    if not todo:
        print(f"nothing to measure: {path} already holds {', '.join(networks)}", flush=True)
    return path


def describe_networks(result: Mapping[str, Any], study: str, in_zoo: Sequence[str] = ()) -> list[str]:
    """One line per network of a study's result (the zoo file it came from, and who measured it when), and one
    per network of ``in_zoo`` the result does not hold yet, with the command that adds it."""
    from resnet_course.lessons.labels import network_label

    meta = result["meta"]
    made = meta.get("made") if isinstance(meta.get("made"), Mapping) else {}
    lines = []
    for name, source in meta.get("networks", {}).items():
        line = (f"{network_label(name)}: {source['result']}, {source['epochs']} epochs, "
                f"test error {source['test_error']:.2%}")
        if name in made:
            line += f"; measured {str(made[name].get('date'))[:10]} on {made[name].get('device')}"
        lines.append(line)
    for name in in_zoo:
        if name not in result.get("runs", {}):
            lines.append(f"{network_label(name)}: in the zoo, not in this study yet ('resnet-course experiment {study} "
                         "--extend' adds it)")
    return lines
