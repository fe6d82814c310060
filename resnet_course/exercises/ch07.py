"""Chapter 7 (*Why ResNets work*): the self-checks of its three graded exercises.

- ``ex-ch7-filter-normalisation`` — the filter-wise normalisation of a random direction
  (Li et al. 2018, §4): :func:`check_filter_normalisation`, solution
  :func:`reference_filter_normalise`;
- ``ex-ch7-delete-block`` — a context manager that deletes one residual block and puts it back
  (the lesion study of Veit et al. 2016, §4): :func:`check_block_deleter`, solution
  :func:`reference_delete_block`;
- ``ex-ch7-count-paths`` — the paths of length k in an unraveled network of n blocks (Veit et
  al. 2016, Eq. (6)): :func:`check_path_count`, solution :func:`reference_count_paths`.

The package's own versions are in :mod:`resnet_course.lessons.landscape` and
:mod:`resnet_course.lessons.lesion`.
"""

from __future__ import annotations

import contextlib
import copy
import math
import numbers
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_course.exercises.checking import (
    ExerciseError,
    display_name,
    fail,
    format_shape,
    randomise_batchnorm,
    require_callable,
    run_student_code,
    self_check,
    succeed,
)
from resnet_course.lessons.landscape import filter_normalise
from resnet_course.nn.registry import create_model

__all__ = [
    "check_block_deleter",
    "check_filter_normalisation",
    "check_path_count",
    "reference_count_paths",
    "reference_delete_block",
    "reference_filter_normalise",
]


# --------------------------------------------------------------------------- filter normalisation


def reference_filter_normalise(direction: Tensor, weight: Tensor) -> Tensor:
    """Li et al. 2018, §4: scale every filter ``direction[j]`` to the norm of ``weight[j]``; zero for 1-D tensors
    (the package's own :func:`resnet_course.lessons.landscape.filter_normalise`)."""
    return filter_normalise(direction, weight)


def _filter_norms(t: Tensor) -> Tensor:
    """The norm of every filter ``t[j]`` (one output channel)."""
    return t.flatten(1).norm(dim=1)


def _filter_norm_hint(out: Tensor, weight: Tensor) -> str:
    """Why the filters of ``out`` do not have the norms of ``weight``'s: norm 1, the wrong axis, one global norm."""
    got, want = _filter_norms(out), _filter_norms(weight)
    if torch.allclose(got, torch.ones_like(got), rtol=1e-4):
        return ("every filter has norm 1: after dividing by ‖δ_j‖, multiply by the norm of the weight's own "
                "filter, ‖θ_j‖")
    if torch.allclose(_filter_norms(out.transpose(0, 1)), _filter_norms(weight.transpose(0, 1)), rtol=1e-4):
        return ("you normalised along the input channels (weight[:, i]); a filter is weight[j], one output "
                "channel: flatten(1) and norm(dim=1)")
    if abs(out.norm() - weight.norm()) <= 1e-4 * weight.norm():
        return ("the whole tensor has the weight's norm, but its filters do not: you normalised the layer as "
                "one vector. Normalise filter by filter — filter j is weight[j], one output channel")
    j = int((got - want).abs().argmax())
    return f"filter {j} has norm {got[j]:.4g}, the weight's filter {j} has {want[j]:.4g}"


def _check_normalised(check: str, fn: Callable[[Tensor, Tensor], Tensor], what: str, direction: Tensor,
                      weight: Tensor) -> None:
    """``fn(direction, weight)`` for one tensor: arguments untouched, the weight's shape, the right filter norms."""
    d0, w0 = direction.clone(), weight.clone()
    out = run_student_code(check, f"{display_name(fn)}(direction, weight) for {what}", fn, direction, weight)
    if not torch.equal(direction, d0) or not torch.equal(weight, w0):
        changed = "direction" if not torch.equal(direction, d0) else "weight"
        fail(check, f"for {what} your function changed its argument `{changed}` in place; return a new tensor "
                     "(e.g. `direction * scale`, not `direction.mul_(scale)`): the model's weights must stay as "
                     "they are, and a direction is reused")
    if not isinstance(out, Tensor) or out.shape != weight.shape:
        got = format_shape(out) if isinstance(out, Tensor) else type(out).__name__
        fail(check, f"for {what} your function returned {got}; expected a tensor of the weight's shape "
                     f"{format_shape(weight)}")
    if not torch.isfinite(out).all():
        fail(check, f"for {what} the result has NaN or infinite entries")
    if weight.ndim <= 1:
        if out.abs().max() > 0:
            fail(check, f"for {what} the result is not zero. One-dimensional parameters (BatchNorm's γ and β, "
                         "biases) get a zero direction: Li et al. leave them where training put them — a BN "
                         "layer already undoes any rescaling of the filters before it, and moving γ or β would "
                         "change the network in a way the filter norms do not measure")
        return
    if not torch.allclose(_filter_norms(out), _filter_norms(weight), rtol=1e-4, atol=1e-6):
        fail(check, f"for {what} the filters of the result do not have the norms of the weight's filters: "
                     f"{_filter_norm_hint(out, weight)}")
    cosine = F.cosine_similarity(out.flatten(1), direction.flatten(1), dim=1)
    if (cosine < 1 - 1e-4).any():
        j = int(cosine.argmin())
        fail(check, f"for {what} filter {j} of the result does not point the way the random direction's filter "
                     f"does (cosine {cosine[j]:.3f}): only rescale each filter, δ_j · ‖θ_j‖ / ‖δ_j‖, do not "
                     "replace it")


@self_check
def check_filter_normalisation(fn: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Check ``fn(direction, weight)``: the filter-wise normalisation of Li et al. 2018, §4, for one tensor.

    For a convolution's weight (``out × in × k × k``) or a linear layer's (``out × in``) each
    filter ``direction[j]`` must keep its direction and get the norm of ``weight[j]``; for a
    one-dimensional parameter (BatchNorm's γ and β, a bias) the result must be zero. Neither
    argument may be changed in place.
    """
    check = "check_filter_normalisation"
    require_callable(check, fn, "my_normalise")
    scales = torch.tensor([0.1, 0.5, 1.0, 2.0, 3.0, 0.05, 1.5, 4.0])
    cases = {
        "a convolution weight 8×4×3×3": (torch.randn(8, 4, 3, 3), torch.randn(8, 4, 3, 3) * scales.view(8, 1, 1, 1)),
        "a linear weight 8×6": (torch.randn(8, 6), torch.randn(8, 6) * scales.view(8, 1)),
        "a BatchNorm γ of 8 channels": (torch.randn(8), 1.0 + torch.rand(8)),
    }
    for what, (direction, weight) in cases.items():
        _check_normalised(check, fn, what, direction, weight)
    succeed(check, f"{display_name(fn)} scales every filter (conv and linear) to the norm of the weight's filter, "
                   "keeps its direction, and gives one-dimensional parameters a zero direction (Li et al. 2018, §4).")


# --------------------------------------------------------------------------- deleting a block


@contextlib.contextmanager
def reference_delete_block(model: nn.Module, name: str) -> Iterator[nn.Module]:
    """Replace the block ``name`` (e.g. ``"layer2.1"``) of ``model`` by ``nn.Identity`` inside the ``with``;
    restore it after."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    block = getattr(parent, child)
    setattr(parent, child, nn.Identity())
    try:
        yield model
    finally:
        setattr(parent, child, block)


class _Interrupted(RuntimeError):
    """Raised inside the student's ``with`` block to see that the block is restored anyway."""


def _lesion_test_model() -> nn.Module:
    """A ResNet-14 in eval mode with non-trivial BatchNorms (two blocks per stage, so some can go)."""
    model = create_model("resnet14")  # two blocks per stage: layer1.0, layer1.1, layer2.1, layer3.1 can go
    randomise_batchnorm(model, seed=7)
    return model.eval()


def _deleter(check: str, fn: Callable[[nn.Module, str], Any], model: nn.Module, name: str) -> Any:
    """``fn(model, name)``, which must be a context manager."""
    manager = run_student_code(check, f"{display_name(fn)}(model, {name!r})", fn, model, name)
    if not (hasattr(manager, "__enter__") and hasattr(manager, "__exit__")):
        fail(check, f"{display_name(fn)}(model, {name!r}) returned {type(manager).__name__}, not a context manager: "
                     "decorate a generator function with @contextlib.contextmanager (or write a class with "
                     "__enter__ and __exit__) so that `with delete_block(model, name):` works")
    return manager


def _check_deleted_inside(check: str, model: nn.Module, name: str, original: nn.Module, x: Tensor,
                          before: Tensor, expected: Tensor) -> None:
    """Inside the ``with``: the block is gone, and the network computes what the lesioned reference computes."""
    if model.get_submodule(name) is original:
        fail(check, f"inside the with block, model.{name} is still the original block: replace it, "
                     "e.g. setattr(parent, child, nn.Identity()) with parent = model.get_submodule(parent_name)")
    with torch.no_grad():
        inside = model(x)
    if torch.allclose(inside, before):
        fail(check, f"inside the with block the network computes exactly what it computed before: {name} still runs")
    if not torch.allclose(inside, expected, atol=1e-5):
        fail(check, f"inside the with block the output differs from the network with {name} replaced "
                     f"by the identity (largest difference {(inside - expected).abs().max():.3g}): the "
                     "deleted block must pass its input through unchanged — the shortcut is what is left")


def _check_restored(check: str, model: nn.Module, name: str, original: nn.Module, x: Tensor,
                    before: Tensor) -> None:
    """After the ``with``: the very same module object is back, and the network computes what it did."""
    now = model.get_submodule(name)
    if now is not original:
        what = ("a copy of it" if type(now) is type(original) else f"a {type(now).__name__}")
        fail(check, f"after the with block model.{name} is {what}, not the original block object: put the "
                     "very module back (an optimiser and other code hold references to its parameters)")
    with torch.no_grad():
        after = model(x)
    if not torch.equal(after, before):
        fail(check, f"after the with block the network computes something else than before (largest difference "
                     f"{(after - before).abs().max():.3g}): deleting must not change the block's weights — swap "
                     "the module out and back, do not zero or edit it")


def _check_restored_after_error(check: str, fn: Callable[[nn.Module, str], Any], model: nn.Module) -> None:
    """An exception inside the ``with`` (a bug, Ctrl-C) must propagate, and the block must be restored anyway."""
    name = "layer2.1"
    original = model.get_submodule(name)
    manager = run_student_code(check, f"{display_name(fn)}(model, {name!r})", fn, model, name)
    raised = False
    try:
        with manager:
            raise _Interrupted("an error inside the with block")
    except _Interrupted:
        raised = True
    if not raised:
        fail(check, "an exception raised inside the with block disappeared: the context manager must not swallow it")
    if model.get_submodule(name) is not original:
        fail(check, f"an exception inside the with block (a bug, Ctrl-C) left {name} deleted: restore the block in a "
                     "`finally:` clause around the `yield`")


@self_check
def check_block_deleter(fn: Callable[[nn.Module, str], Any]) -> None:
    """Check a context manager ``fn(model, name)`` that deletes one block inside a ``with`` and restores it.

    Inside the ``with``, the network must compute what it computes with the block replaced by
    the identity (Veit et al. 2016, §4: a deleted residual block leaves its shortcut); after
    it — also when the code inside raised an exception — the very same module object must
    be back, and the network must compute what it computed before.
    """
    check = "check_block_deleter"
    require_callable(check, fn, "delete_block")
    model = _lesion_test_model()
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        before = model(x)
    for name in ("layer1.1", "layer3.1"):
        original = model.get_submodule(name)
        reference = copy.deepcopy(model)
        with torch.no_grad(), reference_delete_block(reference, name):
            expected = reference(x)
        manager = _deleter(check, fn, model, name)
        try:
            with manager:
                _check_deleted_inside(check, model, name, original, x, before, expected)
        except ExerciseError:
            raise
        except Exception as error:  # noqa: BLE001 - any failure of the student's code is reported
            fail(check, f"`with {display_name(fn)}(model, {name!r}):` raised {type(error).__name__}: {error}")
        _check_restored(check, model, name, original, x, before)
    _check_restored_after_error(check, fn, model)
    succeed(check, f"{display_name(fn)} replaces a block by the identity inside the with block — the output matches "
                   "the lesioned network — and puts the very same module back afterwards, also after an exception.")


# --------------------------------------------------------------------------- counting paths


def reference_count_paths(n: int, k: int) -> int:
    """The paths of length ``k`` in a residual network of ``n`` blocks unraveled (Veit et al. 2016, Eq. 6): C(n, k)."""
    return math.comb(n, k)


def check_path_count(fn: Callable[[int, int], Any]) -> None:
    """Check ``fn(n, k)``: how many of the 2^n paths of an unraveled ResNet of n blocks go through k residual branches.

    Compared for n = 1, 2, 3, 9, 27, 54 and 60 blocks and every k = 0 … n; the answer must be
    an exact integer (the counts for ResNet-110's 54 blocks pass 10^15).
    """
    check = "check_path_count"
    require_callable(check, fn, "count_paths")
    for n in (1, 2, 3, 9, 27, 54, 60):
        for k in range(n + 1):
            got = run_student_code(check, f"{display_name(fn)}({n}, {k})", fn, n, k)
            expected = math.comb(n, k)
            if isinstance(got, bool) or not isinstance(got, numbers.Integral):
                fail(check, f"{display_name(fn)}({n}, {k}) returned {got!r} ({type(got).__name__}); "
                             "return an exact int — "
                             "floating-point numbers carry only 53 bits, and these counts grow past 2^53 (use "
                             "math.comb or integer arithmetic with //)")
            got = int(got)
            if got == expected:
                continue
            if got == 2**k:
                hint = "2^k counts the subsets of k given blocks; here the k blocks are chosen among n"
            elif got == math.perm(n, k):
                hint = ("that counts ordered choices; a path visits its blocks in network order, so the order is "
                        "fixed — divide by k!")
            elif got in (math.comb(n, k + 1) if k < n else -1, math.comb(n, k - 1) if k > 0 else -1,
                         math.comb(n + 1, k), math.comb(n - 1, k) if n > 0 else -1):
                hint = ("off by one: a path of length k goes through k of the n residual branches and skips "
                        "the other n−k")
            else:
                hint = ("each block is either on the path's branch side or skipped, and the path's length is how "
                        "many it goes through")
            fail(check, f"{display_name(fn)}({n}, {k}) = {got:,}, but a network of {n} blocks has {expected:,} "
                         f"path(s) of length {k}. Hint: {hint}.")
    succeed(check, f"{display_name(fn)}(n, k) = C(n, k) for n up to 60: e.g. ResNet-110's 54 blocks give 2^54 = "
            f"{2**54:,} paths, {math.comb(54, 27):,} of them of length 27.")
