"""The chapters' verdicts: what the reference runs show, as numbers, a yes or no, and one sentence.

A chapter that claims "the deeper plain network trains worse" must say so only when its
numbers show it. Each function here reads the runs, decides, and phrases the decision in a
sentence that states the numbers it rests on — and says the opposite when the numbers do:

- :func:`degradation_verdict` — the degradation problem (He et al. 2015, §1 and §4.2, Fig. 1
  and Fig. 6 left): the deeper *plain* network ends with a higher training error;
- :func:`plain_depth_verdict` — the same across every plain depth present (Fig. 6 left, 20 → 32
  → 44 → 56 layers): does the training error rise at every step?
- :func:`residual_verdict` — the residual fix (He et al. 2015, §4.2, Fig. 6 middle): the deeper
  *ResNet* ends with a lower training error and a lower test error;
- :func:`depth_trend_verdict` — Table 6 of He et al. 2015: ResNet test error falls with depth,
  20 → 32 → 44 → 56 → 110 layers (the depths present);
- :func:`shortcut_verdict` — the same depth with and without shortcuts (He et al. 2015, §4.2,
  Fig. 6): does ResNet-d end lower than plain-d in training and test error?
- :func:`fig6_findings` — every one of the above that the runs present allow, and for each
  comparison they do not allow, what the paper reports instead, marked as the paper's;
- :func:`construction_verdict` — the deeper network built from a shallower one (He et al. 2015, §1)
  against the one SGD found;
- :func:`transfer_verdict` — chapter 6's learning curves: one transfer strategy against
  another at each training-set size, the gap against two standard errors of the difference.

The runs are what the experiments store, keyed by network: ``{"resnet20": {"final":
{"test_error": 0.08, "train_error_eval": 0.01}, "history": {"train_acc": [...], "val_acc":
[...], …}}, …}``, or a bare history per network (``{"plain20": {"train_acc": [...], …}}``).
Errors are fractions (0.079 is 7.9 %). Every verdict prints as its sentence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resnet_course.lessons.labels import network_label
from resnet_course.nn.registry import family_and_depth

__all__ = [
    "TABLE6_DEPTHS",
    "DegradationVerdict",
    "DepthTrendVerdict",
    "PlainDepthVerdict",
    "ResidualVerdict",
    "ShortcutVerdict",
    "SeedSummary",
    "SizeComparison",
    "TransferVerdict",
    "construction_verdict",
    "degradation_verdict",
    "depth_trend_verdict",
    "fig6_findings",
    "plain_depth_verdict",
    "final_errors",
    "residual_verdict",
    "shortcut_verdict",
    "transfer_verdict",
]


TABLE6_DEPTHS: tuple[int, ...] = (20, 32, 44, 56, 110)  # He et al. 2015, Table 6 (1202 aside)


# --------------------------------------------------------------------------- reading the runs


def final_errors(runs: Mapping[str, Mapping[str, Any]], names: Sequence[str]) -> dict[str, tuple[float, float]]:
    """``{name: (training error, test error)}`` at the end of training, the same measure for every name.

    When every named run has ``final`` scores, those are used: ``final["train_error_eval"]``
    (the whole training set in eval mode, after training) and ``final["test_error"]``. Otherwise
    every run is read from its last epoch: ``1 − train_acc[-1]`` and ``1 − val_acc[-1]`` (the
    history sits under ``"history"`` or is the run itself), so two networks are never compared
    on different measures.
    """
    missing = [name for name in names if name not in runs]
    if missing:
        raise KeyError(f"no run for {', '.join(missing)}; the runs hold {', '.join(sorted(runs)) or 'nothing'}")
    if all("train_error_eval" in runs[n].get("final", {}) and "test_error" in runs[n].get("final", {})
           for n in names):
        return {n: (float(runs[n]["final"]["train_error_eval"]), float(runs[n]["final"]["test_error"]))
                for n in names}
    errors = {}
    for name in names:
        history = runs[name].get("history", runs[name])
        if not history.get("train_acc") or not history.get("val_acc"):
            raise ValueError(f"the run of {name} has neither final scores nor a history with train_acc and val_acc")
        errors[name] = (1.0 - float(history["train_acc"][-1]), 1.0 - float(history["val_acc"][-1]))
    return errors


def _depth(name: str, family: str) -> int | None:
    """``_depth("plain56", "plain") == 56``; None for a name of another family."""
    found = family_and_depth(name)
    return found[1] if found is not None and found[0] == family else None


def _shallowest_and_deepest(runs: Mapping[str, Any], family: str) -> tuple[str, str]:
    """The names of the shallowest and the deepest network of ``family`` ("plain", "resnet") in ``runs``."""
    found = sorted((d, name) for name in runs if (d := _depth(name, family)) is not None)
    if len(found) < 2:
        raise ValueError(f"need two {family} networks of different depths; the runs hold "
                         f"{', '.join(sorted(runs)) or 'nothing'}")
    return found[0][1], found[-1][1]


# --------------------------------------------------------------------------- phrasing numbers


def _decimals(values: Sequence[float]) -> int:
    """How many decimals (1 to 3) percentages need so that unequal values read unequal."""
    for decimals in (1, 2, 3):
        texts = [f"{100 * v:.{decimals}f}" for v in values]
        if all(texts[i] != texts[j] for i in range(len(values)) for j in range(i) if values[i] != values[j]):
            return decimals
    return 3


def _percentages(values: Sequence[float]) -> list[str]:
    """``7.9 %`` for each value, with just enough decimals that unequal values read unequal."""
    decimals = _decimals(values)
    return [f"{100 * v:.{decimals}f} %" for v in values]


def _relation(value: float, other: float) -> str:
    """``"below"``, ``"above"`` or ``"the same as"``: where ``value`` lies against ``other``."""
    return "below" if value < other else "above" if value > other else "the same as"


# --------------------------------------------------------------------------- (a) degradation


@dataclass(frozen=True)
class DegradationVerdict:
    """Degradation (He et al. 2015, §1): does the deeper plain network end with the higher training error?"""

    shallow: str
    deep: str
    shallow_train_error: float
    deep_train_error: float
    holds: bool  # the deeper plain network's training error is above the shallower's
    sentence: str

    def __str__(self) -> str:
        return self.sentence


def degradation_verdict(runs: Mapping[str, Mapping[str, Any]], shallow: str | None = None,
                        deep: str | None = None) -> DegradationVerdict:
    """The deeper plain network's final training error against the shallower's (default: shallowest, deepest).

    The effect holds when the deeper network's training error is strictly above: a deeper
    network that could copy the shallower one and make its extra layers identities trains
    *worse* — not overfitting, an optimisation difficulty (He et al. 2015, §1, Fig. 1).
    """
    if shallow is None or deep is None:
        default_shallow, default_deep = _shallowest_and_deepest(runs, "plain")
        shallow, deep = shallow or default_shallow, deep or default_deep
    errors = final_errors(runs, [shallow, deep])
    low, high = errors[shallow][0], errors[deep][0]
    holds = high > low
    deep_text, shallow_text = _percentages([high, low])
    conclusion = ("the deeper plain net trains worse." if holds
                  else "no degradation here, the deeper plain net trains at least as well.")
    sentence = (f"{network_label(deep)} ends with {deep_text} training error, {_relation(high, low)} "
                f"{network_label(shallow)}'s {shallow_text}: {conclusion}")
    return DegradationVerdict(shallow, deep, low, high, holds, sentence)


@dataclass(frozen=True)
class PlainDepthVerdict:
    """Fig. 6 left (He et al. 2015): does the plain nets' training error rise at every step in depth?"""

    depths: tuple[int, ...]
    train_errors: tuple[float, ...]
    no_rise: tuple[tuple[int, int], ...]  # (shallower, deeper) steps where the training error did not rise
    holds: bool  # at least two depths, and the training error rises at every step
    sentence: str

    def __str__(self) -> str:
        return self.sentence


def plain_depth_verdict(runs: Mapping[str, Mapping[str, Any]]) -> PlainDepthVerdict:
    """The final training error of every plain net in ``runs``, by depth: the deeper, the higher, at every step?

    The paper's plain nets of 20, 32, 44 and 56 layers end in that order, the deepest worst
    (§4.2, Fig. 6 left); :func:`degradation_verdict` compares only the shallowest and the
    deepest. With fewer than two plain depths there is nothing to read, and the verdict says so.
    """
    present = tuple(_family_depths(runs, "plain"))
    errors = _errors_by_depth(runs, "plain", present, _TRAIN)
    if len(present) < 2:
        return PlainDepthVerdict(present, errors, (), False, _no_depth_trend("plain", present, "no plain net"))
    error_at = dict(zip(present, errors))
    no_rise = tuple((a, b) for a, b in zip(present, present[1:]) if error_at[b] <= error_at[a])
    listing = _depth_listing(present, errors)
    if not no_rise:
        sentence = (f"plain training error rises at every step in depth: {listing}. The deeper the plain net, "
                    "the worse it trains.")
    else:
        sentence = (f"plain training error does not rise at every step in depth: {listing}; it does not rise "
                    f"from {_steps('plain', no_rise)}.")
    return PlainDepthVerdict(present, errors, no_rise, not no_rise, sentence)


_TRAIN, _TEST = 0, 1  # the columns of final_errors


def _errors_by_depth(runs: Mapping[str, Mapping[str, Any]], family: str, depths: Sequence[int],
                     column: int) -> tuple[float, ...]:
    """The final training (``_TRAIN``) or test (``_TEST``) error of ``family<d>`` for each of ``depths``."""
    by_name = final_errors(runs, [f"{family}{d}" for d in depths])
    return tuple(by_name[f"{family}{d}"][column] for d in depths)


def _depth_listing(depths: Sequence[int], errors: Sequence[float]) -> str:
    """``7.9 % (20), 11.0 % (32), 19.2 % (56)``."""
    return ", ".join(f"{text} ({d})" for d, text in zip(depths, _percentages(errors)))


def _no_depth_trend(family: str, present: Sequence[int], none: str) -> str:
    """The sentence of a depth verdict with fewer than two depths: which one there is, or ``none``."""
    shown = f"only {network_label(f'{family}{present[0]}')}" if present else none
    return f"{shown} in the runs: no depth trend to read."


def _steps(family: str, pairs: Sequence[tuple[int, int]], note: Callable[[int, int], str] = lambda a, b: "") -> str:
    """``plain-20 to plain-32 or from plain-44 to plain-56``, each step followed by ``note(a, b)``."""
    return " or from ".join(f"{network_label(f'{family}{a}')} to {network_label(f'{family}{b}')}{note(a, b)}"
                            for a, b in pairs)


# --------------------------------------------------------------------------- (b) the residual fix


@dataclass(frozen=True)
class ResidualVerdict:
    """The residual fix (He et al. 2015, §4.2): does the deeper ResNet end lower in training *and* test error?"""

    shallow: str
    deep: str
    shallow_train_error: float
    deep_train_error: float
    shallow_test_error: float
    deep_test_error: float
    holds: bool  # both of the deeper ResNet's errors are below the shallower's
    sentence: str

    def __str__(self) -> str:
        return self.sentence


_RESIDUAL_CONCLUSIONS = {
    (True, True): "the deeper ResNet trains better and generalises better.",
    (True, False): "the deeper ResNet trains better but does not generalise better.",
    (False, True): "the deeper ResNet generalises better but does not train better.",
    (False, False): "the deeper ResNet does no better on either.",
}


def residual_verdict(runs: Mapping[str, Mapping[str, Any]], shallow: str | None = None,
                     deep: str | None = None) -> ResidualVerdict:
    """The deeper ResNet's final training and test errors against the shallower's (default: shallowest, deepest).

    The effect holds when both are strictly below: with identity shortcuts the added depth
    is used, and the deeper network trains and generalises better (He et al. 2015, §4.2,
    Fig. 6; the opposite of the plain networks' degradation).
    """
    if shallow is None or deep is None:
        default_shallow, default_deep = _shallowest_and_deepest(runs, "resnet")
        shallow, deep = shallow or default_shallow, deep or default_deep
    errors = final_errors(runs, [shallow, deep])
    (train_s, test_s), (train_d, test_d) = errors[shallow], errors[deep]
    train_lower, test_lower = train_d < train_s, test_d < test_s
    train_d_text, train_s_text = _percentages([train_d, train_s])
    test_d_text, test_s_text = _percentages([test_d, test_s])
    sentence = (f"{network_label(deep)} ends with {train_d_text} training error, {_relation(train_d, train_s)} "
                f"{network_label(shallow)}'s {train_s_text}, and {test_d_text} test error, "
                f"{_relation(test_d, test_s)} its {test_s_text}: {_RESIDUAL_CONCLUSIONS[train_lower, test_lower]}")
    return ResidualVerdict(shallow, deep, train_s, train_d, test_s, test_d, train_lower and test_lower, sentence)


# --------------------------------------------------------------------------- (c) the depth trend of Table 6


@dataclass(frozen=True)
class DepthTrendVerdict:
    """Table 6 (He et al. 2015): does ResNet test error fall at every step in depth?"""

    depths: tuple[int, ...]
    test_errors: tuple[float, ...]
    rises: tuple[tuple[int, int], ...]  # (shallower, deeper) steps where the error did not fall
    holds: bool  # at least two depths, and the error falls at every step
    sentence: str
    falls_overall: bool = False  # the deepest network's error is below the shallowest's

    def __str__(self) -> str:
        return self.sentence


def depth_trend_verdict(runs: Mapping[str, Mapping[str, Any]],
                        depths: Sequence[int] = TABLE6_DEPTHS) -> DepthTrendVerdict:
    """ResNet test error across ``depths`` (those of ``resnet<depth>`` present in ``runs``): monotonic or not?

    The effect holds when the error is strictly lower at every deeper network. Where it is not,
    the sentence gives each rise against the sampling noise of the test set (two standard errors
    of a test error on that many images, when the runs' metadata says how many) and whether the
    error falls from the shallowest network to the deepest. With fewer than two depths present
    there is no trend to read, and the verdict says so.
    """
    present = tuple(d for d in sorted(depths) if f"resnet{d}" in runs)
    errors = _errors_by_depth(runs, "resnet", present, _TEST)
    if len(present) < 2:
        return DepthTrendVerdict(present, errors, (), False,
                                 _no_depth_trend("resnet", present, "no ResNet of those depths"))
    error_at = dict(zip(present, errors))
    rises = tuple((a, b) for a, b in zip(present, present[1:]) if error_at[b] >= error_at[a])
    listing = _depth_listing(present, errors)
    falls_overall = errors[-1] < errors[0]
    if not rises:
        sentence = f"ResNet test error falls at every step in depth: {listing}."
    else:
        steps = _steps("resnet", rises, lambda a, b: _within_noise(error_at[a], error_at[b], _test_images(runs, a, b)))
        first, last = network_label(f"resnet{present[0]}"), network_label(f"resnet{present[-1]}")
        overall = (f"From {first} to {last} it falls by {100 * (errors[0] - errors[-1]):.2f} points." if falls_overall
                   else f"From {first} to {last} it does not fall.")
        sentence = (f"ResNet test error does not fall at every step in depth: {listing}; it does not fall from "
                    f"{steps}. {overall}")
    return DepthTrendVerdict(present, errors, rises, not rises, sentence, falls_overall)


def _test_images(runs: Mapping[str, Mapping[str, Any]], *depths: int) -> int | None:
    """The number of test images the ResNets of ``depths`` were tested on, if their runs say and agree."""
    counts = {runs[f"resnet{d}"].get("meta", {}).get("test_images") for d in depths}
    return counts.pop() if len(counts) == 1 and None not in counts else None


def _within_noise(shallower: float, deeper: float, images: int | None) -> str:
    """`` (+0.09 points, 9 of the 10,000 test images: within two standard errors …)``: how large a rise is
    against the sampling noise of a test error measured on ``images`` images (binomial: √(e(1 − e)/n));
    empty when the number of images is not known."""
    if not images:
        return ""
    rise, error = deeper - shallower, (shallower + deeper) / 2
    two_se = 2 * math.sqrt(error * (1 - error) / images)
    where = "within" if rise <= two_se else "beyond"
    return (f" (+{100 * rise:.2f} points, {round(rise * images):,} of the {images:,} test images: {where} two "
            f"standard errors of a test error measured on {images:,} images, {100 * two_se:.2f} points)")


# --------------------------------------------------------------------------- (c') one depth, with and without shortcuts


@dataclass(frozen=True)
class ShortcutVerdict:
    """He et al. 2015, §4.2: at one depth, does the ResNet end lower than its plain twin in training and test error?"""

    depth: int
    plain_train_error: float
    resnet_train_error: float
    plain_test_error: float
    resnet_test_error: float
    holds: bool  # both of the ResNet's errors are below the plain net's
    sentence: str

    def __str__(self) -> str:
        return self.sentence


_SHORTCUT_CONCLUSIONS = {
    (True, True): "with shortcuts the same layers train better and generalise better.",
    (True, False): "with shortcuts the same layers train better but do not generalise better.",
    (False, True): "with shortcuts the same layers generalise better but do not train better.",
    (False, False): "at this depth the shortcuts help neither.",
}


def shortcut_verdict(runs: Mapping[str, Mapping[str, Any]], depth: int) -> ShortcutVerdict:
    """``resnet<depth>`` against ``plain<depth>``: the same layers, the shortcuts the only difference.

    The effect holds when the ResNet's final training and test errors are both strictly below
    the plain network's (He et al. 2015, §4.2, Fig. 6: at every depth the ResNet ends lower).
    """
    plain, resnet = f"plain{depth}", f"resnet{depth}"
    errors = final_errors(runs, [plain, resnet])
    (plain_train, plain_test), (res_train, res_test) = errors[plain], errors[resnet]
    train_lower, test_lower = res_train < plain_train, res_test < plain_test
    res_train_text, plain_train_text = _percentages([res_train, plain_train])
    res_test_text, plain_test_text = _percentages([res_test, plain_test])
    sentence = (f"{network_label(resnet)} ends with {res_train_text} training error and {res_test_text} test error, "
                f"{network_label(plain)} with {plain_train_text} and {plain_test_text}: "
                f"{_SHORTCUT_CONCLUSIONS[train_lower, test_lower]}")
    return ShortcutVerdict(depth, plain_train, res_train, plain_test, res_test, train_lower and test_lower, sentence)


# --------------------------------------------------------------------------- (c'') all of Fig. 6 the runs allow


def _family_depths(runs: Mapping[str, Any], family: str) -> list[int]:
    return sorted(d for name in runs if (d := _depth(name, family)) is not None)


def fig6_findings(runs: Mapping[str, Mapping[str, Any]],
                  paper_table6: Mapping[str, Mapping[str, float]] | None = None) -> list[str]:
    """What the runs show of He et al. 2015's Fig. 6, one sentence per comparison, and the paper's word for the rest.

    In order: the shortcut verdict at every depth that has both a plain net and a ResNet;
    the degradation verdict (two plain depths needed; with three or more, also depth by depth)
    and the residual and depth-trend verdicts (two ResNet depths needed). A comparison the
    runs cannot make is replaced by what the paper reports, beginning "In the paper" so that it
    never reads as measured; ``paper_table6`` (``{"resnet20": {"error": 8.75}, …}``, percent)
    supplies its Table 6 numbers.
    """
    plain, resnet = _family_depths(runs, "plain"), _family_depths(runs, "resnet")
    names = [f"plain{d}" for d in plain] + [f"resnet{d}" for d in resnet]
    listing = ", ".join(network_label(n) for n in names) or "none"
    found = [f"Same depth, without and with shortcuts: {shortcut_verdict(runs, d)}"
             for d in sorted(set(plain) & set(resnet))]
    if len(plain) >= 2:
        found.append(f"Degradation: {degradation_verdict(runs)}")
        if len(plain) >= 3:
            found.append(f"Degradation, depth by depth: {plain_depth_verdict(runs)}")
    else:
        found.append(f"Degradation needs two plain depths; these networks are {listing}. In the paper "
                     "(He et al. 2015, Fig. 1 and Fig. 6 left), plain-56 ends with a higher training error than "
                     "plain-20, and the deeper the plain net, the higher its training error.")
    if len(resnet) >= 2:
        found.append(f"Residual learning: {residual_verdict(runs)}")
        found.append(f"Depth trend: {depth_trend_verdict(runs)}")
    else:
        table = paper_table6 or {}
        numbers = (f", {table['resnet56']['error']:.2f} % against {table['resnet20']['error']:.2f} % (Table 6)"
                   if {"resnet20", "resnet56"} <= set(table) else "")
        found.append(f"The residual fix between depths needs two ResNet depths; these networks are {listing}. In the "
                     "paper (He et al. 2015, Fig. 6 middle), ResNet-56 ends with a lower training error than "
                     f"ResNet-20 and a lower test error{numbers}.")
    return found


def construction_verdict(built_error: float, sgd_error: float | None, deep: str = "plain56",
                         shallow: str = "plain20") -> str:
    """He et al. 2015, §1: a deeper network built from a trained shallower one (the added layers set to the
    identity) has the shallower one's training error, ``built_error``. Did SGD, training the deeper network
    from scratch, find one as good (``sgd_error``)? Without a trained deeper network, the paper's finding."""
    built = f"A {network_label(deep)} with training error {built_error:.2%} exists — we just built it. "
    if sgd_error is None:
        return (built + f"In the paper (He et al. 2015, Fig. 6 left), SGD, starting from scratch, finds a "
                f"{network_label(deep)} whose training error stays above {network_label(shallow)}'s.")
    return built + "SGD, starting from scratch, " + ("found a worse one." if sgd_error > built_error
                                                      else "found one at least as good.")


# --------------------------------------------------------------------------- (d) transfer learning curves


@dataclass(frozen=True)
class SeedSummary:
    """A measurement over seeds: mean, sample standard deviation and number of seeds."""

    mean: float
    std: float
    seeds: int

    @classmethod
    def of(cls, values: Sequence[float]) -> SeedSummary:
        """Mean and sample standard deviation (n − 1) of one value per seed (std 0 for a single seed)."""
        n = len(values)
        if n == 0:
            raise ValueError("no values to summarise")
        mean = sum(values) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
        return cls(mean, std, n)

    @property
    def standard_error(self) -> float:
        """std / √seeds: the uncertainty of the mean."""
        return self.std / math.sqrt(self.seeds)


@dataclass(frozen=True)
class SizeComparison:
    """Two strategies at one training-set size: the difference of the means and two standard errors of it."""

    size: int
    first: SeedSummary
    second: SeedSummary
    difference: float  # first.mean − second.mean
    two_standard_errors: float  # 2·√(se_first² + se_second²); nan with a single seed on either side
    clear: bool  # |difference| > two standard errors (never with a single seed)


@dataclass(frozen=True)
class TransferVerdict:
    """Chapter 6's learning curves: is one strategy ahead of another by more than two standard errors?"""

    first: str
    second: str
    metric: str
    comparisons: tuple[SizeComparison, ...]
    holds: bool  # ``first`` is ahead, by more than two standard errors, at every size
    sentence: str

    def __str__(self) -> str:
        return self.sentence


def _as_summary(value: SeedSummary | Sequence[float] | Mapping[str, float]) -> SeedSummary:
    """A curve's point as a :class:`SeedSummary`: given as one, as ``{"mean", "std", "seeds"}`` or as values."""
    if isinstance(value, SeedSummary):
        return value
    if isinstance(value, Mapping):
        return SeedSummary(float(value["mean"]), float(value["std"]), int(value["seeds"]))
    return SeedSummary.of([float(v) for v in value])


def _compare_at(size: int, first: SeedSummary, second: SeedSummary) -> SizeComparison:
    """The difference of the means at one size, and whether it exceeds two standard errors of it."""
    difference = first.mean - second.mean
    if min(first.seeds, second.seeds) < 2:
        return SizeComparison(size, first, second, difference, math.nan, False)
    two_se = 2 * math.hypot(first.standard_error, second.standard_error)
    return SizeComparison(size, first, second, difference, two_se, abs(difference) > two_se)


def _phrase_size(c: SizeComparison, sign: int, first: str, second: str) -> str:
    """``200 images 71.2 % vs 45.0 % (+26.2 points, beyond two standard errors, 6.1 points: … ahead)``."""
    decimals = _decimals([c.first.mean, c.second.mean])
    a, b = (f"{100 * v:.{decimals}f} %" for v in (c.first.mean, c.second.mean))
    points = f"{100 * c.difference:+.{decimals}f} points"
    if math.isnan(c.two_standard_errors):
        return f"{c.size} images {a} vs {b} ({points}; a single seed, no standard error)"
    bound = f"two standard errors, {100 * c.two_standard_errors:.{decimals}f} points"
    if not c.clear:
        return f"{c.size} images {a} vs {b} ({points}, within {bound})"
    leader = first if sign * c.difference > 0 else second
    return f"{c.size} images {a} vs {b} ({points}, beyond {bound}: {leader} ahead)"


def transfer_verdict(first: str, first_curve: Mapping[int, Any], second: str, second_curve: Mapping[int, Any], *,
                     metric: str = "test accuracy", higher_is_better: bool = True) -> TransferVerdict:
    """Strategy ``first`` against ``second`` at every training-set size both curves have.

    Each curve maps a size (training images) to the metric over seeds: a :class:`SeedSummary`,
    a mapping ``{"mean", "std", "seeds"}``, or the list of per-seed values. At each size the
    difference of the means is compared with two standard errors of that difference,
    ``2·√(std₁²/n₁ + std₂²/n₂)``; it is *clear* when it exceeds them (with a single seed on
    either side there is no standard error, and nothing is clear). The verdict holds when
    ``first`` is ahead by a clear margin at every size.
    """
    sizes = sorted(set(first_curve) & set(second_curve))
    if not sizes:
        raise ValueError(f"the curves of {first} and {second} share no training-set size")
    sign = 1 if higher_is_better else -1
    comparisons = tuple(_compare_at(size, _as_summary(first_curve[size]), _as_summary(second_curve[size]))
                        for size in sizes)
    holds = all(c.clear and sign * c.difference > 0 for c in comparisons)
    listing = "; ".join(_phrase_size(c, sign, first, second) for c in comparisons)
    conclusion = (f"{first} is ahead of {second} by more than two standard errors at every size." if holds
                  else f"{first} is not ahead of {second} by more than two standard errors at every size.")
    conclusion = conclusion[0].upper() + conclusion[1:]
    sentence = f"{first} vs {second}, {metric} (mean over seeds): {listing}. {conclusion}"
    return TransferVerdict(first, second, metric, comparisons, holds, sentence)
