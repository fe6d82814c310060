"""The speed tricks change speed, not results: each one checked on the CPU against the plain path.

Plain path: fp32, contiguous memory, eager, PyTorch's default SGD. Each trick of the fast
path (bf16 autocast, channels-last, torch.compile, the fused optimizer) must give the same
loss on the same batch (within bf16's rounding where bf16 is on) and the same update;
flip TTA must be the mean of the two passes; the no-decay parameter groups must hold
exactly the BN parameters and biases. Also the recipe registry, ``resnet-course train
--recipe``, and the benchmarks' code (never their numbers: no timing is asserted).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import fields
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import REPO_ROOT
from resnet_course.budget import FULL, QUICK
from resnet_course.cli import build_parser, main, train_config
from resnet_course.experiments.speed import (
    ThroughputReport,
    ThroughputRow,
    _cycle,
    format_table,
    format_time_to_accuracy,
    time_to_accuracy,
    training_flops_per_image,
)
from resnet_course.nn.registry import create_model
from resnet_course.training.checkpoint import load_checkpoint
from resnet_course.training.config import TrainConfig
from resnet_course.training.evaluation import evaluate, predict
from resnet_course.training.loop import fit
from resnet_course.training.optim import make_optimizer, schedule_multiplier
from resnet_course.training.recipes import RECIPES, Recipe, get_recipe, list_recipes

# Tiny tensors: every test here runs on one CPU thread (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


class BiasNet(nn.Module):
    """Convolutions with and without biases, BN, a linear layer: every kind of parameter."""

    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=True)
        self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, num_classes)
        self.arch, self.num_classes = "biasnet", num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.conv(F.relu(self.stem(x)))))
        return self.fc(x.mean((2, 3)))


def batch(n: int = 16, size: int = 32, classes: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g), torch.randint(0, classes, (n,), generator=g)


def one_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, **tricks) -> tuple[float, nn.Module]:
    """fit for exactly one step on (x, y) from a copy of ``model``: (the step's loss, the updated copy).

    The updated copy carries ``.run`` (fit's record of how it trained: amp, compile, fused …)."""
    trained = copy.deepcopy(model)
    options = dict(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True, decay_bn_and_bias=False,
                   label_smoothing=0.1, schedule="constant", amp=False, channels_last=False, compile=False,
                   fused=False)
    options.update(tricks)
    history = fit(trained, [(x, y)], epochs=1, progress=False, device="cpu", **options)
    trained.run = history.meta
    return history.train_loss[0], trained


def by_hand_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The loss the plain path must compute: train-mode forward, label-smoothed cross-entropy, fp32."""
    reference = copy.deepcopy(model).train()
    return F.cross_entropy(reference(x), y, label_smoothing=0.1).item()


def update(before: nn.Module, after: nn.Module) -> torch.Tensor:
    """All parameters' changes in one flat vector."""
    return torch.cat([(a.detach() - b.detach()).flatten() for b, a in zip(before.parameters(), after.parameters())])


# ----------------------------------------------------------------------------------------
# Same loss, same update
# ----------------------------------------------------------------------------------------


def test_plain_path_loss_is_the_loss_by_hand() -> None:
    model, (x, y) = create_model("resnet20"), batch()
    loss, _ = one_step(model, x, y)
    assert loss == pytest.approx(by_hand_loss(model, x, y), rel=1e-6)


def relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    return ((value - reference).norm() / reference.norm()).item()


# (trick, loss tolerance, update tolerance): the update's relative error, as a norm. The fused
# kernel does the same arithmetic. PyTorch's channels-last BatchNorm on the CPU sums in a
# different order, about 50x less accurately than the contiguous kernel (still fp32), which
# 20 layers of BN backward amplify to ~3e-3; the contiguous path is within 1e-6 of float64.
# bf16 keeps 8 bits of mantissa.
TRICKS = [({"channels_last": True}, 1e-5, 1e-2), ({"fused": True}, 1e-6, 1e-6), ({"amp": "bf16"}, 2e-2, 0.1)]


@pytest.mark.parametrize("trick, loss_tolerance, update_tolerance", TRICKS, ids=["channels_last", "fused", "bf16"])
def test_each_eager_trick_gives_the_plain_loss_and_update(
    trick: dict, loss_tolerance: float, update_tolerance: float
) -> None:
    model, (x, y) = create_model("resnet20"), batch()
    plain_loss, plain = one_step(model, x, y)
    loss, tricked = one_step(model, x, y, **trick)
    assert loss == pytest.approx(plain_loss, rel=loss_tolerance)
    plain_update, tricked_update = update(model, plain), update(model, tricked)
    assert plain_update.abs().max() > 1e-3  # the step really moved the weights
    assert relative_error(tricked_update, plain_update) < update_tolerance
    assert F.cosine_similarity(plain_update, tricked_update, dim=0) > 0.99
    if "channels_last" in trick:
        assert tricked.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    if "amp" in trick:
        assert tricked.run["amp"] == "bfloat16" and loss != plain_loss  # bf16 really ran
    if "fused" in trick:
        assert tricked.run["fused"] is True and plain.run["fused"] is False


@pytest.mark.slow
def test_the_whole_fast_path_compiled_matches_the_plain_path() -> None:
    """bf16 + channels-last + torch.compile + fused SGD together (compiling takes ~half a minute on a CPU)."""
    model, (x, y) = BiasNet(num_classes=10), batch(n=32, size=16)
    plain_loss, plain = one_step(model, x, y)
    fast_loss, fast = one_step(model, x, y, amp="bf16", channels_last=True, compile=True, fused=True)
    assert plain_loss == pytest.approx(by_hand_loss(model, x, y), rel=1e-6)
    assert fast_loss == pytest.approx(plain_loss, rel=2e-2) and fast_loss != plain_loss
    assert fast.run["compile"] == "default" and fast.run["amp"] == "bfloat16" and fast.run["fused"] is True
    assert relative_error(update(model, fast), update(model, plain)) < 0.1
    assert F.cosine_similarity(update(model, plain), update(model, fast), dim=0) > 0.99
    assert not any(name.startswith("_orig_mod") for name in fast.state_dict())  # fit trains the module in place


def test_fused_and_compile_settings_are_validated_and_recorded() -> None:
    x, y = batch(n=8, size=8)
    history = fit(BiasNet(10), [(x, y)], epochs=1, progress=False, device="cpu", fused=None, compile=None)
    assert history.meta["fused"] is True and history.meta["compile"] is False  # auto on a CPU: fused, eager
    with pytest.raises(ValueError, match="unknown compile 'fastest'.*'reduce-overhead'"):
        fit(BiasNet(10), [(x, y)], epochs=1, progress=False, device="cpu", compile="fastest")
    assert isinstance(make_optimizer(BiasNet(), fused=True), torch.optim.SGD)
    assert make_optimizer(BiasNet(), fused=True).defaults["fused"] is True
    assert make_optimizer(BiasNet()).defaults["fused"] is None  # PyTorch's default implementation, as before


# ----------------------------------------------------------------------------------------
# Flip TTA
# ----------------------------------------------------------------------------------------


def test_flip_tta_is_the_mean_of_the_two_passes_in_fit_and_evaluate() -> None:
    torch.manual_seed(0)
    model = create_model("resnet8")
    x, y = batch(n=40, seed=1)
    val = [(x[:24], y[:24]), (x[24:], y[24:])]
    history = fit(model, [batch(n=16, seed=2)], val, epochs=1, lr=0.01, progress=False, device="cpu",
                  channels_last=True, tta_flip=True)
    assert history.meta["tta_flip"] is True
    model.eval()
    with torch.no_grad():
        both = (model(x) + model(torch.flip(x, dims=[3]))) / 2
        plain = model(x)
    logits, _ = predict(model, val, tta_flip=True)
    torch.testing.assert_close(logits, both, atol=1e-5, rtol=1e-5)
    scores = evaluate(model, val, tta_flip=True)
    assert scores["accuracy"] == pytest.approx((both.argmax(1) == y).float().mean().item()) == history.val_acc[0]
    assert scores["loss"] == pytest.approx(F.cross_entropy(both, y).item(), rel=1e-5)
    assert history.val_loss[0] == pytest.approx(scores["loss"], rel=1e-5)
    assert not torch.allclose(both, plain, atol=1e-4)  # the mirror pass changed something


# ----------------------------------------------------------------------------------------
# No weight decay on BN parameters and biases
# ----------------------------------------------------------------------------------------


def expected_groups(model: nn.Module) -> tuple[set[int], set[int]]:
    """By module type: conv/linear weights decay; BN weights and biases and all biases do not."""
    decay, no_decay = set(), set()
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            decay.add(id(module.weight))
            if module.bias is not None:
                no_decay.add(id(module.bias))
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            no_decay.update({id(module.weight), id(module.bias)})
    return decay, no_decay


@pytest.mark.parametrize("name", ["biasnet", "resnet20", "resnet18_cifar", "preact_resnet20", "resnet50"])
def test_no_decay_group_holds_exactly_bn_parameters_and_biases(name: str) -> None:
    model = BiasNet() if name == "biasnet" else create_model(name)
    decay, no_decay = make_optimizer(model, weight_decay=5e-4, decay_bn_and_bias=False).param_groups
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0
    want_decay, want_no_decay = expected_groups(model)
    assert {id(p) for p in decay["params"]} == want_decay
    assert {id(p) for p in no_decay["params"]} == want_no_decay
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    if name == "biasnet":
        assert id(model.stem.bias) in want_no_decay and id(model.fc.bias) in want_no_decay


def test_fit_with_the_fast_recipe_uses_the_no_decay_groups(tmp_path: Path) -> None:
    model = BiasNet(10)
    fit(model, [batch(n=8, size=8)], config=get_recipe("fast").replace(epochs=1), checkpoint_dir=tmp_path,
        progress=False, device="cpu")
    groups = load_checkpoint(tmp_path / "last.pt")["optimizer"]["param_groups"]
    assert [g["weight_decay"] for g in groups] == [5e-4, 0.0]
    assert [len(g["params"]) for g in groups] == [3, 4]  # stem, conv, fc weights | stem and fc biases, BN x 2
    assert all(g["nesterov"] and g["fused"] for g in groups)


# ----------------------------------------------------------------------------------------
# Recipes
# ----------------------------------------------------------------------------------------


def test_paper_recipe_is_the_paper_and_fits_defaults() -> None:
    paper = get_recipe("paper")
    assert (paper.lr, paper.momentum, paper.weight_decay, paper.batch_size) == (0.1, 0.9, 1e-4, 128)
    assert paper.schedule == "paper" and paper.epochs == 182 and not paper.nesterov
    # 182 epochs of the paper's 45k training images at batch 128 are its 64k iterations,
    # divided by 10 at 32k and 48k (He et al. 2015, §4.2).
    steps = paper.epochs * math.ceil(45_000 / paper.batch_size)
    assert abs(steps - 64_000) < 100
    f = schedule_multiplier(paper.schedule, steps)
    drops = [s for s in range(1, steps) if f(s) < f(s - 1)]
    assert len(drops) == 2 and abs(drops[0] - 32_000) < 100 and abs(drops[1] - 48_000) < 100
    assert paper == TrainConfig(epochs=182)  # TrainConfig's defaults ARE the paper's recipe


def test_fast_recipe_settings_and_overrides() -> None:
    fast = get_recipe("fast")
    kwargs = fast.fit_kwargs()
    assert kwargs["nesterov"] and kwargs["label_smoothing"] > 0 and not kwargs["decay_bn_and_bias"]
    assert kwargs["schedule"] in ("onecycle", "cosine") and kwargs["tta_flip"] and fast.batch_size >= 512
    settings = {f.name for f in fields(TrainConfig)}  # every key is a setting fit takes as a keyword
    assert set(kwargs) == settings - {"batch_size", "drop_last", "seed"}  # the loader's and the seed: passed apart
    assert fast.fit_kwargs(epochs=3, compile=False)["epochs"] == 3
    assert fast.fit_kwargs(batch_size=64)["batch_size"] == 64  # overridden: included
    with pytest.raises(TypeError, match="batch_sise"):
        fast.fit_kwargs(batch_sise=64)  # a misspelt name is refused, not ignored
    assert fast.with_changes(label_smoothing=0.0).label_smoothing == 0.0 and fast.label_smoothing > 0
    assert set(list_recipes()) == set(RECIPES) == {"paper", "fast", "zoo"}
    assert all(isinstance(r, TrainConfig) for r in RECIPES.values()) and Recipe is TrainConfig


def test_unknown_recipe_names_the_valid_ones_and_the_closest() -> None:
    with pytest.raises(ValueError, match=r"unknown recipe 'fsat'\. Did you mean 'fast'\? Recipes: 'paper', 'fast'"):
        get_recipe("fsat")
    with pytest.raises(ValueError, match="Recipes: 'paper', 'fast'"):
        get_recipe("sgd")
    assert get_recipe(" Fast ") is RECIPES["fast"]


# ----------------------------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------------------------


def settings_of(*argv: str, budget=QUICK) -> TrainConfig:
    return train_config(build_parser().parse_args(["train", "--out", "unused", *argv]), budget)


def test_cli_settings_precedence() -> None:
    plain = settings_of()  # without --recipe: what train always did
    assert plain == TrainConfig(epochs=QUICK.epochs, schedule=QUICK.schedule, warmup_epochs=QUICK.warmup_epochs)
    assert (plain.batch_size, plain.lr, plain.momentum, plain.weight_decay, plain.nesterov) == (128, 0.1, 0.9, 1e-4,
                                                                                                False)
    assert settings_of(budget=FULL).epochs == FULL.epochs
    fast = settings_of("--recipe", "fast", budget=FULL)
    assert fast == get_recipe("fast")  # every setting from the recipe, none from the budget
    assert settings_of("--recipe", "fast").epochs == QUICK.epochs  # quick mode still shrinks it
    overridden = settings_of("--recipe", "fast", "--lr", "0.2", "--no-nesterov", "--batch-size", "256", "--seed", "3")
    assert overridden == get_recipe("fast").replace(epochs=QUICK.epochs, lr=0.2, nesterov=False, batch_size=256,
                                                    seed=3)
    assert settings_of("--recipe", "paper", budget=FULL).epochs == 182


def test_cli_unknown_recipe_is_one_line_and_writes_nothing(tmp_path: Path, capsys) -> None:
    assert main(["train", "--recipe", "fsat", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'fsat'" in err and "Did you mean 'fast'" in err
    assert not (tmp_path / "run").exists()


def test_cli_train_with_the_fast_recipe(tmp_path: Path, data_root: Path) -> None:
    """A tiny real run: ResNet-8, 1,024 images = 2 steps of the recipe's 512, 200 test images."""
    out = tmp_path / "fast"
    status = main(["train", "--recipe", "fast", "--model", "resnet8", "--out", str(out), "--epochs", "1",
                   "--subset", "1024", "--test-subset", "200", "--data-root", str(data_root), "--device", "cpu",
                   "--no-progress"])
    assert status == 0
    meta = json.loads((out / "metadata.json").read_text())
    fast = get_recipe("fast")
    assert meta["recipe"] == "fast" and meta["batch_size"] == fast.batch_size and meta["lr"] == fast.lr
    assert meta["nesterov"] is True and meta["schedule"] == fast.schedule
    history = json.loads((out / "history.json").read_text())
    assert len(history["val_acc"]) == 1 and math.isfinite(history["train_loss"][0])
    fit_meta = history["meta"]
    assert fit_meta["steps_per_epoch"] == 2 and fit_meta["tta_flip"] is True
    assert fit_meta["decay_bn_and_bias"] is False and fit_meta["label_smoothing"] == fast.label_smoothing
    checkpoint = load_checkpoint(out / "best.pt")
    assert [g["weight_decay"] for g in checkpoint["optimizer"]["param_groups"]] == [fast.weight_decay, 0.0]


# ----------------------------------------------------------------------------------------
# The benchmarks' code (their numbers are for benchmarks/, never asserted)
# ----------------------------------------------------------------------------------------


def test_training_flops_per_image_of_resnet20() -> None:
    """He et al. 2015 Table 6 / §4.2: ResNet-20 is about 41M multiply-adds; training is 3 × 2 × that."""
    flops = training_flops_per_image(create_model("resnet20"))
    assert 3 * 2 * 40e6 < flops < 3 * 2 * 42e6


def test_throughput_table_lists_tricks_that_do_not_apply() -> None:
    rows = [ThroughputRow("usual", 4, 512, 2.0, 256.0, 1.0, 128, 0.01),
            ThroughputRow("+ CUDA graphs", 0, 0, None, None, None, note="n/a on cpu"),
            ThroughputRow("+ fused SGD", 4, 512, 1.0, 512.0, 2.0, 128, 0.02)]
    report = ThroughputReport("resnet20", "CIFAR-10", 128, rows, flops_per_image=2.4e8, peak_flops={"bfloat16": 1e12})
    meta = {"device": "cpu", "torch": "x", "commit": "c", "date": "d"}
    table = format_table(report, meta)
    assert "+ CUDA graphs" in table and "n/a on cpu" in table and "2.00×" in table and "2.00%" in table


def test_time_to_accuracy_runs_end_to_end(data_root: Path) -> None:
    result = time_to_accuracy("resnet8", target=1.0, epochs=1, device="cpu", data_root=data_root, subset=512,
                              test_subset=100, progress=False, warmup_steps=1)
    assert result.epochs == 1 and not result.reached and len(result.val_acc) == 1
    assert result.train_images == 512 and result.test_images == 100
    assert result.train_seconds > 0 and result.warmup_seconds > 0 and 0 < result.fraction_of_peak
    assert result.fit_settings["tta_flip"] is True and result.recipe == "fast"
    assert "did NOT reach 100.00%" in format_time_to_accuracy(result)
    assert result.final_single_view_acc is not None and 0 <= result.final_single_view_acc <= 1
    assert "on a single view (no flip TTA)" in format_time_to_accuracy(result)


def test_time_to_accuracy_refuses_fewer_images_than_one_full_batch(data_root: Path) -> None:
    # the fast recipe drops partial batches: 256 images at batch 512 would give no step at all
    with pytest.raises(ValueError, match="256 training images make no full batch of 512"):
        time_to_accuracy("resnet8", target=1.0, epochs=1, device="cpu", data_root=data_root, subset=256,
                         test_subset=100, progress=False, warmup_steps=1)


def test_time_to_accuracy_takes_another_batch_size_and_records_it(data_root: Path) -> None:
    result = time_to_accuracy("resnet8", target=1.0, epochs=1, device="cpu", data_root=data_root, subset=256,
                              test_subset=100, progress=False, warmup_steps=1, batch_size=128, lr=0.1)
    assert result.batch_size == 128 and result.fit_settings["lr"] == 0.1
    no_tta = time_to_accuracy("resnet8", target=1.0, epochs=1, device="cpu", data_root=data_root, subset=256,
                              test_subset=100, progress=False, warmup_steps=1, batch_size=128, tta_flip=False)
    assert no_tta.final_single_view_acc is None  # its curve is single-view already
    assert result.history["images_per_sec"] and len(result.val_acc) == 1


def test_cycling_an_empty_loader_raises_instead_of_looping_for_ever() -> None:
    with pytest.raises(ValueError, match="gives no batch"):
        next(_cycle([]))


def test_the_benchmark_script_says_so_in_one_line_and_writes_nothing(data_root: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "tta.json"
    done = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "time_to_accuracy.py"), "--model", "resnet8",
                           "--device", "cpu", "--target", "0.5", "--subset", "256", "--test-subset", "100",
                           "--data-root", str(data_root), "--json", str(out), "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "time_to_accuracy.py: error: 256 training images make no full batch of 512 (the 'fast' recipe drops "
        "partial batches): use at least 512 images or a smaller batch size"]
    assert not out.exists()


def test_time_to_accuracy_continues_from_its_checkpoint_like_an_unbroken_run(data_root: Path, tmp_path: Path) -> None:
    settings = dict(epochs=2, device="cpu", data_root=data_root, subset=256, test_subset=64, progress=False,
                    warmup_steps=1, batch_size=128, lr=0.1)
    unbroken = time_to_accuracy("resnet8", target=1.0, **settings)
    # a target of 0 stops after the first epoch, as if the machine had gone away there
    first = time_to_accuracy("resnet8", target=0.0, checkpoint_dir=tmp_path, **settings)
    assert first.epochs == 1 and (tmp_path / "last.pt").exists()
    rest = time_to_accuracy("resnet8", target=1.0, checkpoint_dir=tmp_path, **settings)
    assert rest.epochs == 2 and rest.val_acc == unbroken.val_acc
    assert [note["epoch"] for note in rest.history["meta"]["resumed"]] == [1]  # trained only the second epoch
    assert rest.history["train_loss"] == unbroken.history["train_loss"]
    assert len(rest.train_seconds_cumulative) == 2 and rest.train_seconds > first.train_seconds
