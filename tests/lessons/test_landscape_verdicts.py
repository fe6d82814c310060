"""Chapter 7's landscape verdicts say what the slices show: Li et al.'s direction, the opposite, or neither."""

from __future__ import annotations

import math

import pytest

from resnet_course.lessons.landscape_verdicts import (
    absolute_rise_report,
    ring_to_centre,
    sharpness_report,
    surface_report,
)

PAIR = ("resnet56", "plain56")
ALPHA = [-1.0, -0.5, 0.0, 0.5, 1.0]


def _slice(rise: float, centre: float = 0.1) -> dict:
    """A 1-D slice whose loss at ±0.5 is ``rise`` times the centre's."""
    return {"alpha": ALPHA, "loss": [centre * rise * 3, centre * rise, centre, centre * rise, centre * rise * 3]}


def _surface(ring: float, centre: float = 0.1) -> dict:
    """A 5×5 grid over [-1, 1]²: ``centre`` at the middle, ``ring`` times it at distance 0.5, more beyond."""
    loss = [[centre * ring * 4 if max(abs(a), abs(b)) > 0.5 else centre * ring if (a, b) != (0, 0) else centre
             for a in ALPHA] for b in ALPHA]
    return {"alpha": ALPHA, "beta": ALPHA, "loss": loss}


@pytest.mark.parametrize("resnet_rise, plain_rise, verdict", [
    (1.5, 6.0, "Verdict: plain-56's loss rises 4.0× as steeply as ResNet-56's — a sharper minimum, the direction "
               "of Li et al.'s Fig. 5."),
    (6.0, 1.5, "Verdict: here ResNet-56's loss rises 4.0× as steeply as plain-56's, the opposite of Li et al.'s "
               "deep networks."),
    (2.0, 3.0, "Verdict: ResNet-56 and plain-56 rise comparably (within a factor of 2; plain-56/ResNet-56 = 1.50)."),
])
def test_sharpness_report_in_every_direction(resnet_rise, plain_rise, verdict) -> None:
    lines, relative = sharpness_report({"resnet56": _slice(resnet_rise), "plain56": _slice(plain_rise)}, 0.5, *PAIR)
    assert lines[0] == f"ResNet-56  loss at α = ±0.50 is {resnet_rise:.2f}× the loss at the trained weights"
    assert lines[-1] == verdict and relative == pytest.approx(plain_rise / resnet_rise)


def test_ring_to_centre_averages_the_ring_at_the_distance() -> None:
    assert ring_to_centre(_surface(3.0)) == pytest.approx(3.0)
    assert math.isnan(ring_to_centre(_surface(3.0), distance=2.0))  # beyond the grid's corners (√2)


def test_surface_report_agrees_only_when_both_measures_point_the_same_way() -> None:
    surfaces = {"resnet56": _surface(1.5), "plain56": _surface(4.5)}
    same = surface_report(surfaces, [PAIR], {PAIR: 2.5})
    assert same[0] == "ResNet-56  2-D: mean loss at distance ≈ 0.5 is 1.50× the centre's; largest loss on the grid 0.6"
    assert same[2] == "2-D: plain-56's ring-to-centre ratio is 3.00× ResNet-56's — its surface rises markedly faster."
    assert same[3] == ("In both measures the 56-layer plain network's minimum is the sharper one (2.5× in 1-D, 3.0× "
                       "in 2-D): the direction of Li et al.'s deep networks.")
    opposite = surface_report({"resnet56": _surface(4.5), "plain56": _surface(1.5)}, [PAIR], {PAIR: 0.5})
    assert opposite[3].startswith("In both measures the 56-layer ResNet's minimum is the sharper one (2.0× in 1-D, "
                                  "3.0× in 2-D): the opposite")
    mixed = surface_report(surfaces, [PAIR], {PAIR: 0.8})
    assert mixed[3] == "The 1-D and 2-D measures disagree on which 56-layer minimum is sharper: no direction to read."


def test_absolute_rise_report_compares_without_the_centre() -> None:
    runs = {"resnet56": {"1d": _slice(2.0, centre=0.2), "2d": _surface(2.0, centre=0.2)},
            "plain56": {"1d": _slice(2.0, centre=0.05), "2d": _surface(2.0, centre=0.05)}}
    lines = absolute_rise_report(runs, [PAIR])
    assert lines[0] == "ResNet-56  1-D: rises by 0.20 at α = ±0.5; 2-D: largest loss 1.6"
    assert lines[2] == "rise at ±0.5 (1-D): ResNet-56's is 4.0× plain-56's — markedly higher"
    assert lines[3] == "largest loss on the 2-D grid: ResNet-56's is 4.0× plain-56's — markedly higher"
