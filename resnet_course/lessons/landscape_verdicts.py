"""What chapter 7's loss landscapes show, in sentences that state their numbers (Li et al. 2018).

The slices (:mod:`resnet_course.lessons.landscape`, stored by
:mod:`resnet_course.experiments.landscape`) are compared between a ResNet and its plain twin,
always as "plain against ResNet". Li et al.'s deep networks (§5, Fig. 5) have the sharper,
chaotic minimum without shortcuts; these functions say whether a pair shows that direction,
the opposite, or no clear difference (within a factor of 2):

- :func:`sharpness_report` — a 1-D slice: the loss at ``α = ±r`` over the loss at the centre;
- :func:`ring_to_centre` and :func:`surface_report` — a 2-D surface: the mean loss on the ring
  at distance 0.5 over the centre's, and whether the 1-D and 2-D measures agree;
- :func:`absolute_rise_report` — the same pair without dividing by the centre: the rise at
  ``α = ±0.5`` and the largest loss on the 2-D grid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from resnet_course.lessons.labels import network_label
from resnet_course.lessons.landscape import sharpness

__all__ = ["MARKED_FACTOR", "absolute_rise_report", "ring_to_centre", "sharpness_report", "surface_report"]

MARKED_FACTOR = 2.0  # plain against ResNet: a ratio beyond 2 (or below 1/2) is a marked difference

Pair = tuple[str, str]  # (ResNet, plain twin)


def sharpness_report(slices: Mapping[str, Mapping[str, Sequence[float]]], radius: float, resnet: str,
                     plain: str) -> tuple[list[str], float]:
    """1-D slices (``{"alpha": […], "loss": […]}`` per network): a line per network with its
    :func:`~resnet_course.lessons.landscape.sharpness` ratio at ``±radius``, and a verdict; also
    the plain network's ratio over the ResNet's (above 1: the plain minimum is the sharper)."""
    ratio = {name: sharpness(slices[name], radius)["ratio"] for name in (resnet, plain)}
    lines = [f"{network_label(name):10s} loss at α = ±{radius:.2f} is {value:.2f}× the loss at the trained weights"
             for name, value in ratio.items()]
    relative = ratio[plain] / ratio[resnet]
    res, pl = network_label(resnet), network_label(plain)
    if relative > MARKED_FACTOR:
        lines.append(f"Verdict: {pl}'s loss rises {relative:.1f}× as steeply as {res}'s "
                     "— a sharper minimum, the direction of Li et al.'s Fig. 5.")
    elif relative < 1 / MARKED_FACTOR:
        lines.append(f"Verdict: here {res}'s loss rises {1 / relative:.1f}× as steeply as {pl}'s, "
                     "the opposite of Li et al.'s deep networks.")
    else:
        lines.append(f"Verdict: {res} and {pl} rise comparably (within a factor of 2; {pl}/{res} = {relative:.2f}).")
    return lines, relative


def ring_to_centre(surface: Mapping[str, Sequence[Any]], distance: float = 0.5) -> float:
    """A 2-D surface (``alpha``, ``beta`` coordinates and ``loss[beta][alpha]``): the mean loss on the grid
    points at ``distance`` from the centre (within half a grid step) over the loss at the centre;
    NaN when no grid point lies at that distance."""
    a, b = np.meshgrid(surface["alpha"], surface["beta"])
    loss = np.asarray(surface["loss"], dtype=float)
    radius = np.hypot(a, b)
    step = max(abs(a[0, 1] - a[0, 0]), 1e-9)
    ring = (np.abs(radius - distance) <= step / 2 + 1e-9) & (radius > 0)
    centre = loss[radius == radius.min()].mean()
    return float(loss[ring].mean() / centre) if ring.any() else math.nan


def surface_report(surfaces: Mapping[str, Mapping[str, Sequence[Any]]], pairs: Sequence[Pair],
                   one_d: Mapping[Pair, float], distance: float = 0.5) -> list[str]:
    """The 2-D surfaces: a line per network (:func:`ring_to_centre`, the largest loss on the grid), then
    per pair the plain network's ring ratio over the ResNet's, and whether it points the same way as
    the 1-D measure ``one_d[pair]`` (the plain ratio over the ResNet's, :func:`sharpness_report`)."""
    ring = {name: ring_to_centre(surface, distance) for name, surface in surfaces.items()}
    lines = [f"{network_label(name):10s} 2-D: mean loss at distance ≈ {distance} is {ring[name]:.2f}× the centre's; "
             f"largest loss on the grid {np.max(surface['loss']):.3g}" for name, surface in surfaces.items()]
    for resnet, plain in pairs:
        res, pl = network_label(resnet), network_label(plain)
        relative = ring[plain] / ring[resnet]
        lines.append(f"2-D: {pl}'s ring-to-centre ratio is {relative:.2f}× {res}'s — "
                     + ("its surface rises markedly faster." if relative > MARKED_FACTOR else
                        f"{res}'s rises markedly faster here." if relative < 1 / MARKED_FACTOR else
                        "comparable (within a factor of 2)." if relative == relative else
                        "not measurable on this grid."))
        along_line, depth = one_d[(resnet, plain)], resnet.removeprefix("resnet")
        if along_line < 1 and relative < 1:
            lines.append(f"In both measures the {depth}-layer ResNet's minimum is the sharper one "
                         f"({1 / along_line:.1f}× in 1-D, {1 / relative:.1f}× in 2-D): the opposite of the "
                         "direction of Li et al.'s deep networks, where the network with shortcuts has the "
                         "flatter, smoother minimum.")
        elif along_line > 1 and relative > 1:
            lines.append(f"In both measures the {depth}-layer plain network's minimum is the sharper one "
                         f"({along_line:.1f}× in 1-D, {relative:.1f}× in 2-D): the direction of Li et al.'s "
                         "deep networks.")
        else:
            lines.append(f"The 1-D and 2-D measures disagree on which {depth}-layer minimum is sharper: "
                         "no direction to read.")
    return lines


def _plain_against_resnet(plain_value: float, resnet_value: float, what: str, resnet: str, plain: str) -> str:
    res, pl = network_label(resnet), network_label(plain)
    factor = plain_value / resnet_value
    if factor > MARKED_FACTOR:
        return f"{what}: {pl}'s is {factor:.1f}× {res}'s — markedly higher"
    if factor < 1 / MARKED_FACTOR:
        return f"{what}: {res}'s is {1 / factor:.1f}× {pl}'s — markedly higher"
    return f"{what}: comparable ({pl}/{res} = {factor:.2f})"


def absolute_rise_report(runs: Mapping[str, Mapping[str, Any]], pairs: Sequence[Pair],
                         radius: float = 0.5) -> list[str]:
    """Without dividing by the loss at the centre: per pair, how much the loss rises at ``α = ±radius``
    along the 1-D slice (``runs[name]["1d"]``) and the largest loss on the 2-D grid (``runs[name]["2d"]``)."""
    lines = []
    for resnet, plain in pairs:
        rise = {name: sharpness(runs[name]["1d"], radius)["increase"] for name in (resnet, plain)}
        peak = {name: float(np.max(runs[name]["2d"]["loss"])) for name in (resnet, plain)}
        lines += [f"{network_label(name):10s} 1-D: rises by {rise[name]:.2f} at α = ±{radius}; "
                  f"2-D: largest loss {peak[name]:.3g}" for name in (resnet, plain)]
        lines.append(_plain_against_resnet(rise[plain], rise[resnet], f"rise at ±{radius} (1-D)", resnet, plain))
        lines.append(_plain_against_resnet(peak[plain], peak[resnet], "largest loss on the 2-D grid", resnet, plain))
    return lines
