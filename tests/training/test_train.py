"""Tests of resnet_course.training: schedules, fit, checkpoints, resume, divergence, DDP.

Everything runs on the CPU with a few-thousand-parameter network on synthetic 8x8 images,
so the whole file takes well under a minute on two cores.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from resnet_course import training as T
from resnet_course.training.callbacks import TrainingDiverged
from resnet_course.training.checkpoint import CheckpointError, CheckpointMismatchError, load_checkpoint, save_checkpoint
from resnet_course.training.evaluation import confusion_matrix, evaluate, predict
from resnet_course.training.history import History
from resnet_course.training.loop import fit
from resnet_course.training.optim import make_optimizer, make_schedule, schedule_multiplier
from resnet_course.training.runtime import distributed_info

REPO = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------------------
# Tiny model, tiny data, a loader with the TensorLoader interface
# ----------------------------------------------------------------------------------------


class TinyNet(nn.Module):
    """Two 3x3 convs with BN, global pooling, optional dropout, a linear classifier (~1k
    parameters). Dropout draws from the global torch RNG at every training step."""

    def __init__(self, num_classes: int = 4, width: int = 8, arch: str = "tinynet", dropout: float = 0.0) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
        )
        self.fc = nn.Linear(width, num_classes)
        self.arch, self.num_classes = arch, num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def tiny(seed: int = 0, **kwargs) -> TinyNet:
    torch.manual_seed(seed)
    return TinyNet(**kwargs)


def make_data(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """4 classes told apart by the mean of a colour channel (so left-right flips keep them)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    y = y[torch.randperm(n, generator=g)]
    x = torch.randn(n, 3, 8, 8, generator=g)
    for c, (channel, sign) in enumerate([(0, 1.0), (1, 1.0), (2, 1.0), (0, -1.0)]):
        x[y == c, channel] += sign
    return x, y


class TinyLoader:
    """Same interface as resnet_course.data.TensorLoader: batches reproducible per epoch
    (order and flips from a generator seeded by (seed, epoch)), shard(), set_epoch()."""

    def __init__(self, x, y, batch_size=32, seed=0, shuffle=True, augment=True, rank=0, world_size=1, nan_at=None):
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.shuffle, self.augment, self.nan_at = shuffle, augment, nan_at
        self.rank, self.world_size, self.epoch = rank, world_size, 0
        self.num_samples = len(x) // world_size

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def shard(self, rank: int, world_size: int) -> TinyLoader:
        return TinyLoader(
            self.x, self.y, self.batch_size, self.seed, self.shuffle, self.augment, rank, world_size, self.nan_at
        )

    def __iter__(self):
        n = len(self.x)
        g = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        order = torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)
        flips = torch.rand(n, generator=g) < 0.5
        mine = order[self.rank : self.num_samples * self.world_size : self.world_size]
        epoch, self.epoch = self.epoch, self.epoch + 1
        for b in range(len(self)):
            index = mine[b * self.batch_size : (b + 1) * self.batch_size]
            x = self.x[index]
            if self.augment:
                x = torch.where(flips[index, None, None, None], x.flip(3), x)
            if self.nan_at == (epoch, b):
                x = torch.full_like(x, float("nan"))
            yield x, self.y[index]


class Interrupting:
    """Wraps a loader; at (epoch, step) -- counting its own iterations as epochs -- raises
    KeyboardInterrupt ("raise") or sends this process a real SIGINT ("sigint")."""

    def __init__(self, inner, epoch: int, step: int, how: str = "raise") -> None:
        self.inner, self.at, self.how, self.epoch = inner, (epoch, step), how, 0

    def __len__(self) -> int:
        return len(self.inner)

    def __getattr__(self, name):  # set_epoch, shard, num_samples exactly when the inner has them
        return getattr(self.inner, name)

    def __iter__(self):
        epoch, self.epoch = self.epoch, self.epoch + 1
        for step, batch in enumerate(self.inner):
            if (epoch, step) == self.at:
                if self.how == "raise":
                    raise KeyboardInterrupt
                os.kill(os.getpid(), signal.SIGINT)
            yield batch


# Tiny tensors: every test here runs on one CPU thread (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    x, y = make_data(320, seed=1)
    xv, yv = make_data(128, seed=2)
    return x, y, xv, yv


def loaders(data, **kwargs):
    x, y, xv, yv = data
    return TinyLoader(x, y, **kwargs), TinyLoader(xv, yv, shuffle=False, augment=False)


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), f"{key} differs"


QUICK = dict(lr=0.05, progress=False, device="cpu")


# ----------------------------------------------------------------------------------------
# History, schedules, optimisers
# ----------------------------------------------------------------------------------------


def test_history_json_round_trip(tmp_path):
    h = History()
    h.add_epoch(train_loss=1.5, train_acc=0.25, lr=0.1, images_per_sec=1e3, epoch_time=2.0, val_loss=1.2, val_acc=0.4)
    h.add_epoch(train_loss=0.9, train_acc=0.6, lr=0.01, images_per_sec=1e3, epoch_time=1.9, val_loss=1.0, val_acc=0.35)
    h.wall_time, h.meta = 3.9, {"arch": "resnet20", "device": "cpu", "epochs": 2}
    assert h.best_val_acc == 0.4 and h.epochs == 2
    path = h.to_json(tmp_path / "sub" / "h.json")
    back = History.from_json(path)
    assert back == h
    assert back.to_dict() == h.to_dict() == json.loads(path.read_text())
    h.truncate(1)
    assert h.val_acc == [0.4] and h.epochs == 1 and h.best_val_acc == 0.4


def lrs_of(name: str, total: int, warmup: int = 0, base: float = 0.1) -> list[float]:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=base)
    sched = make_schedule(name, opt, total, warmup)
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_paper_schedule_divides_by_ten_at_half_and_three_quarters():
    lrs = lrs_of("paper", 100)
    assert lrs[:50] == pytest.approx([0.1] * 50)
    assert lrs[50:75] == pytest.approx([0.01] * 25)
    assert lrs[75:] == pytest.approx([0.001] * 25)
    f = schedule_multiplier("paper", 64_000)  # the paper's 32k and 48k of 64k iterations
    assert (f(31_999), f(32_000), f(47_999), f(48_000), f(63_999)) == (1.0, 0.1, 0.1, 0.01, 0.01)


def test_warmup_ramps_linearly_then_follows_the_schedule():
    lrs = lrs_of("paper", 100, warmup=10)
    assert lrs[:10] == pytest.approx([0.1 * (s + 1) / 10 for s in range(10)])
    assert lrs[10:50] == pytest.approx([0.1] * 40)
    assert lrs[60] == pytest.approx(0.01)
    constant = lrs_of("constant", 20, warmup=4)
    assert constant == pytest.approx([0.025, 0.05, 0.075] + [0.1] * 17)


def test_cosine_and_onecycle_shapes():
    cos = lrs_of("cosine", 100)
    assert cos[0] == pytest.approx(0.1) and cos[50] == pytest.approx(0.05)
    assert all(a >= b for a, b in zip(cos, cos[1:])) and 0 < cos[-1] < 1e-3
    one = lrs_of("onecycle", 100)
    peak = one.index(max(one))
    assert peak == 29 and one[peak] == pytest.approx(0.1)  # 30% of the steps
    assert all(a < b for a, b in zip(one[:peak], one[1 : peak + 1]))
    assert all(a > b for a, b in zip(one[peak:], one[peak + 1 :]))
    assert 0 < one[-1] < one[0]
    assert lrs_of("onecycle", 100, warmup=10).index(0.1) == 9


def test_unknown_schedule_and_optimizer_names_raise(data):
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="'paper'.*'cosine'.*'onecycle'.*'constant'"):
        make_schedule("step", opt, 10)
    with pytest.raises(ValueError, match="'sgd', 'adamw'"):
        make_optimizer(TinyNet(), "adam")
    train, _ = loaders(data)
    with pytest.raises(ValueError, match="unknown schedule 'steps'"):
        fit(TinyNet(), train, epochs=1, schedule="steps", **QUICK)
    with pytest.raises(ValueError, match="unknown optimizer 'lamb'"):
        fit(TinyNet(), train, epochs=1, optimizer="lamb", **QUICK)


def test_weight_decay_can_spare_batchnorm_and_biases():
    model = TinyNet()
    (group,) = make_optimizer(model, weight_decay=5e-4).param_groups  # the paper: decay all
    assert group["weight_decay"] == 5e-4 and len(group["params"]) == len(list(model.parameters()))
    decay, no_decay = make_optimizer(model, weight_decay=5e-4, decay_bn_and_bias=False).param_groups
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"]) and len(decay["params"]) == 3  # 2 convs + fc weight
    assert all(p.ndim == 1 for p in no_decay["params"]) and len(no_decay["params"]) == 5  # 2 BN x 2 + fc bias
    adamw = make_optimizer(model, "adamw", lr=1e-3)
    assert isinstance(adamw, torch.optim.AdamW)


# ----------------------------------------------------------------------------------------
# fit learns; evaluate agrees with it
# ----------------------------------------------------------------------------------------


def test_fit_learns_a_separable_problem(data):
    train, val = loaders(data)
    model = tiny()
    before = evaluate(model, val)
    history = fit(model, train, val, epochs=6, schedule="cosine", warmup_epochs=0.5, **QUICK)
    assert history.epochs == 6 and len(history.val_acc) == 6 and len(history.lr) == 6
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.val_acc[-1] >= 0.9 and history.train_acc[-1] >= 0.85
    assert before["accuracy"] < 0.5  # it really learned it
    after = evaluate(model, val)
    assert after["count"] == 128
    assert after["accuracy"] == pytest.approx(history.val_acc[-1])
    assert after["loss"] == pytest.approx(history.val_loss[-1], rel=1e-5)
    assert history.best_val_acc == max(history.val_acc)
    assert all(v > 0 for v in history.images_per_sec + history.epoch_time) and history.wall_time > 0
    assert history.meta["arch"] == "tinynet" and history.meta["epochs"] == 6
    assert history.meta["steps_per_epoch"] == 10 and history.meta["train_samples"] == 320
    assert history.meta["device_type"] == "cpu" and history.meta["amp"] == "off"


def test_fit_accepts_a_plain_dataloader_and_bf16_autocast(data):
    x, y, xv, yv = data
    train = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    val = DataLoader(TensorDataset(xv, yv), batch_size=64)
    history = fit(tiny(), train, val, epochs=2, amp="bf16", **QUICK)
    assert history.meta["amp"] == "bfloat16"
    assert all(math.isfinite(v) for v in history.train_loss + history.val_loss)
    batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, 320, 32)]  # a list of batches works too
    assert fit(tiny(), batches, [(xv, yv)], epochs=1, **QUICK).meta["steps_per_epoch"] == 10
    with pytest.raises(TypeError, match="one-shot iterator"):
        fit(tiny(), iter(batches), epochs=1, **QUICK)
    assert T.resolve_amp(None, torch.device("cpu")) is None
    assert T.resolve_amp("fp16", torch.device("cpu")) is torch.float16
    with pytest.raises(ValueError, match="amp"):
        T.resolve_amp("int8", torch.device("cpu"))


def test_fp16_trains_through_a_grad_scaler(data, tmp_path):
    train, _ = loaders(data)
    history = fit(tiny(), train, epochs=1, amp="fp16", checkpoint_dir=tmp_path, **QUICK)
    assert math.isfinite(history.train_loss[0])
    scaler_state = load_checkpoint(tmp_path / "last.pt")["scaler"]
    assert scaler_state and scaler_state["scale"] > 0  # a real, enabled scaler was saved


def test_progress_bar_and_silence(data, capsys):
    train, val = loaders(data)
    fit(tiny(), train, val, epochs=1, lr=0.05, device="cpu", progress=True)
    out = capsys.readouterr()
    assert "epoch 1/1" in out.err + out.out and "val loss" in out.err + out.out
    fit(tiny(), train, val, epochs=1, **QUICK)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


# ----------------------------------------------------------------------------------------
# Checkpoints and resuming
# ----------------------------------------------------------------------------------------


def test_resume_after_an_epoch_is_bit_identical(data, tmp_path):
    train, val = loaders(data)
    straight = tiny()
    h_straight = fit(straight, train, val, epochs=2, schedule="constant", checkpoint_dir=tmp_path / "a", **QUICK)

    first = tiny()
    fit(first, train, val, epochs=1, schedule="constant", checkpoint_dir=tmp_path / "b", **QUICK)
    resumed = tiny(seed=123)  # different init: everything must come from the checkpoint
    h_resumed = fit(
        resumed, train, val, epochs=2, schedule="constant", checkpoint_dir=tmp_path / "b", resume=True, **QUICK
    )

    assert_same_weights(straight, resumed)
    assert h_resumed.train_loss == h_straight.train_loss and h_resumed.val_acc == h_straight.val_acc
    assert h_resumed.epochs == 2
    # and a control: without the checkpoint's random state and momentum it would differ
    other = tiny(seed=123)
    fit(other, train, val, epochs=2, schedule="constant", seed=1, **QUICK)
    assert not torch.equal(other.fc.weight, straight.fc.weight)


def test_resume_is_bit_identical_with_a_shuffling_dataloader(data, tmp_path):
    """A DataLoader shuffles with the global torch RNG: the checkpoint's RNG state matters."""
    x, y, _, _ = data
    make = lambda: DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)  # noqa: E731
    straight = tiny()
    fit(straight, make(), epochs=2, schedule="constant", **QUICK)
    fit(tiny(), make(), epochs=1, schedule="constant", checkpoint_dir=tmp_path, **QUICK)
    resumed = tiny(seed=5)
    fit(resumed, make(), epochs=2, schedule="constant", checkpoint_dir=tmp_path, resume=True, **QUICK)
    assert_same_weights(straight, resumed)


@pytest.mark.parametrize("kind", ["tensorloader", "dataloader"])
def test_interrupt_mid_epoch_then_resume_matches_uninterrupted(data, tmp_path, kind):
    """With the DataLoader the model also uses dropout, so the global random state must be
    the one at the interrupted step, not the one at the start of the epoch."""
    x, y, xv, yv = data
    if kind == "tensorloader":
        make = lambda: TinyLoader(x, y)  # noqa: E731
        net = lambda seed=0: tiny(seed)  # noqa: E731
    else:
        make = lambda: DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)  # noqa: E731
        net = lambda seed=0: tiny(seed, dropout=0.2)  # noqa: E731
    val = TinyLoader(xv, yv, shuffle=False, augment=False)
    recipe = dict(epochs=3, schedule="paper", warmup_epochs=0.5, momentum=0.9, **QUICK)

    straight = net()
    h_straight = fit(straight, make(), val, **recipe)

    with pytest.raises(KeyboardInterrupt):
        fit(net(), Interrupting(make(), epoch=1, step=3), val, checkpoint_dir=tmp_path, **recipe)
    interrupted = torch.load(tmp_path / "interrupted.pt", weights_only=True)
    assert (interrupted["epoch"], interrupted["step"]) == (1, 3)
    assert interrupted["partial"]["count"] == 3 * 32
    assert interrupted["history"]["train_loss"] == h_straight.train_loss[:1]
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1

    resumed = net(seed=7)
    h_resumed = fit(resumed, make(), val, checkpoint_dir=tmp_path, resume=True, **recipe)
    assert_same_weights(straight, resumed)
    assert h_resumed.train_loss == h_straight.train_loss  # partial-epoch sums carried over
    assert h_resumed.train_acc == h_straight.train_acc and h_resumed.val_loss == h_straight.val_loss
    assert h_resumed.lr == h_straight.lr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]  # interrupted.pt superseded


@pytest.mark.usefixtures("ctrl_c_raises")
def test_real_ctrl_c_finishes_the_step_saves_and_resumes_exactly(data, tmp_path):
    train, val = loaders(data)
    straight = tiny()
    fit(straight, train, val, epochs=2, schedule="paper", **QUICK)

    with pytest.raises(KeyboardInterrupt):
        sigint_at_1_3 = Interrupting(TinyLoader(*data[:2]), 1, 3, how="sigint")
        fit(tiny(), sigint_at_1_3, val, epochs=2, checkpoint_dir=tmp_path, **QUICK)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    checkpoint = load_checkpoint(tmp_path / "interrupted.pt")
    assert (checkpoint["epoch"], checkpoint["step"]) == (1, 4)  # the signal came while fetching step 3

    resumed = tiny(seed=9)
    fit(resumed, train, val, epochs=2, checkpoint_dir=tmp_path, resume=True, **QUICK)
    assert_same_weights(straight, resumed)


def test_resume_without_a_checkpoint_warns_and_starts_fresh(data, tmp_path):
    train, _ = loaders(data)
    with pytest.warns(UserWarning, match="starting from scratch"):
        history = fit(tiny(), train, epochs=1, checkpoint_dir=tmp_path / "empty", resume=True, **QUICK)
    assert history.epochs == 1 and (tmp_path / "empty" / "last.pt").exists()
    with pytest.raises(ValueError, match="checkpoint_dir"):
        fit(tiny(), train, epochs=1, resume=True, **QUICK)


def test_nan_loss_raises_and_keeps_the_last_good_checkpoint(data, tmp_path):
    x, y, xv, yv = data
    val = TinyLoader(xv, yv, shuffle=False, augment=False)
    good = tiny()
    fit(good, TinyLoader(x, y), val, epochs=1, schedule="constant", **QUICK)

    with pytest.raises(TrainingDiverged) as caught:
        nan_at_1_3 = TinyLoader(x, y, nan_at=(1, 3))
        fit(tiny(), nan_at_1_3, val, epochs=2, schedule="constant", checkpoint_dir=tmp_path, **QUICK)
    error = caught.value
    assert isinstance(error, FloatingPointError)
    assert (error.epoch, error.step, error.lr) == (1, 3, pytest.approx(0.05))
    assert "step 4 of epoch 2" in str(error) and "lr 0.05" in str(error) and "last.pt" in str(error)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]  # no interrupted.pt, no temp files
    restored = TinyNet()
    checkpoint = load_checkpoint(tmp_path / "last.pt", restored)
    assert checkpoint["epoch"] == 1 and len(checkpoint["history"]["train_loss"]) == 1
    assert all(torch.isfinite(t).all() for t in restored.state_dict().values())
    assert_same_weights(restored, good)  # exactly the weights after epoch 1


def test_checkpoint_files_contents_and_weights_only_loading(data, tmp_path):
    train, val = loaders(data)
    model = tiny()
    history = fit(model, train, val, epochs=3, checkpoint_dir=tmp_path, **QUICK)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]  # no temp files left
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    expected = ("model", "optimizer", "scheduler", "scaler", "rng", "epoch", "step", "history", "arch", "num_classes")
    for key in expected + ("format_version",):
        assert key in last, key
    assert (last["arch"], last["num_classes"], last["epoch"], last["step"]) == ("tinynet", 4, 3, 0)
    assert set(last["rng"]) == {"torch", "cuda", "python", "numpy"}
    assert last["history"]["train_loss"] == history.train_loss
    best_epoch = history.val_acc.index(max(history.val_acc))
    assert best["epoch"] == best_epoch + 1
    fresh = TinyNet()
    load_checkpoint(tmp_path / "last.pt", fresh)
    assert_same_weights(fresh, model)


def test_mismatched_checkpoint_names_both_networks(tmp_path):
    save_checkpoint(tmp_path / "a.pt", TinyNet(arch="tiny-a", num_classes=4))
    expected = "checkpoint is tiny-a with 4 classes; model is tiny-b with 6 classes"
    with pytest.raises(CheckpointMismatchError, match=expected):
        load_checkpoint(tmp_path / "a.pt", TinyNet(arch="tiny-b", num_classes=6))
    with pytest.raises(ValueError, match="tiny-a with 4 classes; model is tiny-a with 6 classes"):
        load_checkpoint(tmp_path / "a.pt", TinyNet(arch="tiny-a", num_classes=6))
    # networks without arch/num_classes: compared by state-dict keys and shapes
    save_checkpoint(tmp_path / "plain.pt", nn.Sequential(nn.Linear(3, 4)))
    with pytest.raises(CheckpointMismatchError, match=r"0\.weight \(4, 3\) vs \(5, 3\)"):
        load_checkpoint(tmp_path / "plain.pt", nn.Sequential(nn.Linear(3, 5)))
    load_checkpoint(tmp_path / "plain.pt", nn.Sequential(nn.Linear(3, 4)))  # the right one loads


def test_mismatch_with_real_resnets(tmp_path, data):
    from resnet_course.nn.registry import create_model

    save_checkpoint(tmp_path / "last.pt", create_model("resnet56", num_classes=10))
    with pytest.raises(CheckpointMismatchError) as caught:
        load_checkpoint(tmp_path / "last.pt", create_model("resnet20", num_classes=6))
    assert "checkpoint is resnet56 with 10 classes; model is resnet20 with 6 classes" in str(caught.value)
    assert "create_model('resnet56', num_classes=10)" in str(caught.value)
    train, _ = loaders(data)  # resuming into the wrong network refuses too
    before = (tmp_path / "last.pt").read_bytes()
    with pytest.raises(CheckpointMismatchError, match="model is resnet20 with 6 classes"):
        fit(create_model("resnet20", num_classes=6), train, epochs=1, checkpoint_dir=tmp_path, resume=True, **QUICK)
    assert (tmp_path / "last.pt").read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_corrupt_or_truncated_checkpoint_names_the_file(tmp_path, data):
    train, _ = loaders(data)
    fit(tiny(), train, epochs=1, checkpoint_dir=tmp_path, **QUICK)
    last = tmp_path / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as caught:
        load_checkpoint(last)
    assert str(last) in str(caught.value)
    with pytest.raises(CheckpointError, match=str(last)):
        fit(tiny(), train, epochs=2, checkpoint_dir=tmp_path, resume=True, **QUICK)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(1000))
    with pytest.raises(CheckpointError, match=str(garbage)):
        load_checkpoint(garbage, TinyNet())
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_save_checkpoint_unwraps_compiled_models_and_loads_bare_state_dicts(tmp_path):
    class Compiled(nn.Module):  # what torch.compile returns: the model as ._orig_mod
        def __init__(self, inner):
            super().__init__()
            self._orig_mod = inner

    model = tiny()
    save_checkpoint(tmp_path / "c.pt", Compiled(model))
    checkpoint = load_checkpoint(tmp_path / "c.pt")
    assert set(checkpoint["model"]) == set(model.state_dict()) and checkpoint["arch"] == "tinynet"
    torch.save({"module." + k: v for k, v in model.state_dict().items()}, tmp_path / "bare.pt")
    fresh = TinyNet()
    load_checkpoint(tmp_path / "bare.pt", fresh)
    assert_same_weights(fresh, model)


# ----------------------------------------------------------------------------------------
# evaluate, predict, confusion matrix
# ----------------------------------------------------------------------------------------


def test_evaluate_with_flip_tta_is_the_mean_of_both_passes(data):
    _, _, xv, yv = data
    model = tiny()
    model.train()  # evaluate must switch to eval mode, and back
    val = TinyLoader(xv, yv, batch_size=50, shuffle=False, augment=False)
    logits, labels = predict(model, val, tta_flip=True)
    assert model.training
    model.eval()
    with torch.no_grad():
        by_hand = (model(xv) + model(torch.flip(xv, dims=[3]))) / 2
        plain = model(xv)
    assert torch.equal(labels, yv)
    assert torch.allclose(logits, by_hand, atol=1e-6)
    assert not torch.allclose(by_hand, plain, atol=1e-3)  # the flip matters for this model
    model.train()
    scores = evaluate(model, val, tta_flip=True)
    assert scores["count"] == 128
    assert scores["accuracy"] == (by_hand.argmax(1) == yv).float().mean().item()
    assert scores["loss"] == pytest.approx(F.cross_entropy(by_hand, yv).item(), rel=1e-5)
    assert evaluate(model, val)["loss"] == pytest.approx(F.cross_entropy(plain, yv).item(), rel=1e-5)


def test_confusion_matrix_counts(data):
    _, _, xv, yv = data
    model = tiny()
    logits, labels = predict(model, TinyLoader(xv, yv, shuffle=False, augment=False))
    cm = confusion_matrix(logits, labels, 4)
    assert cm.shape == (4, 4) and cm.sum().item() == len(yv)
    accuracy = evaluate(model, TinyLoader(xv, yv, shuffle=False, augment=False))["accuracy"]
    assert cm.trace().item() / len(yv) == pytest.approx(accuracy)
    assert cm.sum(1).tolist() == torch.bincount(yv, minlength=4).tolist()  # rows: true class
    assert confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]), 2).tolist() == [[1, 1], [0, 1]]


# ----------------------------------------------------------------------------------------
# DistributedDataParallel: two CPU processes, gloo
# ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_distributed_info_defaults(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert distributed_info() == (0, 1, 0)
    monkeypatch.setenv("RANK", "3"), monkeypatch.setenv("WORLD_SIZE", "4"), monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed_info() == (3, 4, 1)


def test_ddp_two_cpu_processes(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), MASTER_ADDR="127.0.0.1")
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
        "--master_port", str(free_port()), str(REPO / "tests" / "ddp_worker.py"), str(tmp_path),
    ]
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for rank, result in enumerate(results):
        assert result["rank"] == rank and result["world_size"] == 2 and result["backend"] == "gloo"
        assert len(result["history"]["train_loss"]) == 2 and len(result["history"]["val_acc"]) == 2
        assert result["steps_per_epoch"] == 5  # 320 samples / 2 ranks / batch 32: each rank its shard
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):  # global metrics on every rank
        assert results[0]["history"][key] == results[1]["history"][key], key
    assert results[0]["checksum"] == results[1]["checksum"]  # DDP kept the replicas equal
    assert results[0]["saves"] >= 2 and results[1]["saves"] == 0  # only rank 0 writes
    files = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert files == ["best.pt", "last.pt"]
    last = load_checkpoint(tmp_path / "checkpoints" / "last.pt", TinyNet())  # no "module." prefixes
    assert last["epoch"] == 2 and last["history"]["train_loss"] == results[0]["history"]["train_loss"]
