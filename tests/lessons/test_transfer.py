"""Transfer learning (resnet_course.lessons.transfer): strategies, learning-curve points, verdicts, ImageNet weights.

The frozen body must get no gradient and keep its BatchNorm statistics in training mode; a
new head must have the right shape; unknown strategies and networks without ImageNet
weights must be refused with a message that says why; torchvision's state dicts must load
from a local file into the course's ImageNet ResNets and compute what torchvision computes;
an unavailable download must say what to do. The learning curves: per-class subsets drawn
per seed (nested across sizes), the same number of steps for every strategy at a size,
learning rates chosen on validation data, and the verdict on synthetic curves. Nothing here
needs the network.
"""

from __future__ import annotations

import math
import urllib.error

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from resnet_course.data.hands import load_hands
from resnet_course.data.imageset import ImageSet
from resnet_course.data.safety import ChecksumError
from resnet_course.lessons import transfer
from resnet_course.nn.registry import create_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def hands_small(data_root, tmp_path_factory):
    """16-pixel crops of the dataset's test file: a training pool and a test set of real data, small."""
    data = load_hands("test", data_root, size=16, cache_dir=tmp_path_factory.mktemp("cache"))
    return data.select(range(0, len(data), 2)), data.select(range(1, 60, 2))


def _trained_looking(arch: str = "resnet20") -> nn.Module:
    """A network with random weights and non-trivial BatchNorm statistics, in eval mode."""
    torch.manual_seed(0)
    model = create_model(arch)
    with torch.no_grad():
        for _ in range(2):
            model.train()(torch.randn(8, 3, 32, 32) * 2 + 0.5)
    return model.eval()


def _buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: b.clone() for name, b in model.named_buffers()}


# --------------------------------------------------------------------------- FrozenFeatures


def test_frozen_features_trains_only_the_new_head():
    model = transfer.FrozenFeatures(_trained_looking(), 6)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["fc.weight", "fc.bias"]
    assert transfer.trainable_parameters(model) == 64 * 6 + 6
    model.train()
    loss = F.cross_entropy(model(torch.randn(8, 3, 32, 32)), torch.randint(0, 6, (8,)))
    loss.backward()
    assert all(p.grad is None for p in model.body.parameters()), "the frozen body received gradients"
    assert model.fc.weight.grad is not None and model.fc.weight.grad.abs().sum() > 0


def test_frozen_features_keeps_batchnorm_statistics_in_training_mode():
    model = transfer.FrozenFeatures(_trained_looking(), 6)
    before = _buffers(model.body)
    assert model.train() is model
    assert model.training and not model.body.training
    assert not any(m.training for m in model.body.modules()), "a body module is in training mode"
    with torch.no_grad():
        model(torch.randn(16, 3, 32, 32) + 3.0)  # statistics far from the stored ones
    after = _buffers(model.body)
    assert all(torch.equal(before[name], after[name]) for name in before), "the body's BatchNorm statistics changed"


def test_frozen_features_computes_the_bodys_features():
    body = _trained_looking()
    model = transfer.FrozenFeatures(body, 3).train()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), model.fc(body.eval().features(x)))


def test_a_naive_freeze_would_change_the_statistics():
    """The test above can fail: frozen weights alone do not stop BatchNorm from updating."""
    model = _trained_looking().requires_grad_(False)
    before = _buffers(model)
    with torch.no_grad():
        model.train()(torch.randn(16, 3, 32, 32) + 3.0)
    assert any(not torch.equal(before[n], b) for n, b in model.named_buffers() if "running" in n)


# --------------------------------------------------------------------------- new_head, gesture_model


@pytest.mark.parametrize("arch, features", [("resnet20", 64), ("resnet18", 512)])
def test_new_head_replaces_the_classifier(arch, features):
    model = create_model(arch)
    body = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("fc.")}
    model = transfer.new_head(model, 6)
    assert (model.fc.in_features, model.fc.out_features, model.num_classes) == (features, 6, 6)
    size = 32 if arch == "resnet20" else 64
    assert model.eval()(torch.randn(2, 3, size, size)).shape == (2, 6)
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in body.items())
    assert all(p.requires_grad for p in model.parameters())


def test_gesture_model_rejects_an_unknown_strategy():
    with pytest.raises(ValueError, match=r"unknown strategy 'linear'.*scratch, finetune, features"):
        transfer.gesture_model("linear")


def test_gesture_model_strategies():
    scratch = transfer.gesture_model("scratch")
    finetune = transfer.gesture_model("finetune")
    features = transfer.gesture_model("features")
    assert scratch.fc.out_features == finetune.fc.out_features == features.fc.out_features == 6
    assert transfer.trainable_parameters(scratch) == transfer.trainable_parameters(finetune) == 269_462
    assert transfer.trainable_parameters(features) == 390
    source = create_model("resnet20", weights="cifar10").state_dict()  # the zoo's pinned ResNet-20
    tuned = finetune.state_dict()
    assert all(torch.equal(tuned[k], v) for k, v in source.items() if not k.startswith("fc."))
    assert not any(torch.equal(scratch.state_dict()[k], v) for k, v in source.items() if k.endswith("conv1.weight"))


def test_a_source_without_cifar10_weights_is_refused_clearly():
    from resnet_course.nn.weights import WeightsError

    with pytest.raises(WeightsError, match="no weights 'cifar10' for resnet32"):
        transfer.gesture_model("finetune", "resnet32")


def test_the_learning_rate_grids():
    assert set(transfer.LR_GRIDS) == set(transfer.STRATEGIES)
    assert all(list(grid) == sorted(grid) and len(grid) >= 3 for grid in transfer.LR_GRIDS.values())
    assert all(transfer.DEFAULT_LRS[s] in transfer.LR_GRIDS[s] for s in transfer.STRATEGIES)
    assert transfer.source_weights("resnet20") == transfer.source_weights("resnet56") == "cifar10"
    assert transfer.source_weights("resnet18") == transfer.source_weights("resnet50") == "imagenet"


# --------------------------------------------------------------------------- per_class_accuracy


def test_per_class_accuracy_is_the_recall_of_each_class():
    # true labels 0,0,0,0,1,1,2 ; predictions 0,0,1,2,1,0,2 -> recall 2/4, 1/2, 1/1 (precision would be 2/3, 1/2, 1/2)
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    preds = torch.tensor([0, 0, 1, 2, 1, 0, 2])
    logits = F.one_hot(preds, 4).float()  # a 4th class with no test sample
    assert transfer.per_class_accuracy(logits, labels, 4) == pytest.approx([0.5, 0.5, 1.0, 0.0])


# --------------------------------------------------------------------------- ImageNet weights


@pytest.mark.parametrize("name", ["resnet20", "resnet56", "plain20", "preact_resnet110"])
def test_imagenet_weights_refuse_cifar_networks(name):
    with pytest.raises(ValueError, match=r"only for resnet18, resnet34, resnet50, resnet101, resnet152.*CIFAR network"):
        transfer.load_imagenet_weights(name)


def test_imagenet_weights_refuse_plain_and_unknown_networks():
    with pytest.raises(ValueError, match="plain network"):
        transfer.load_imagenet_weights("plain34")
    with pytest.raises(ValueError, match="unknown model 'resnet7'"):
        transfer.load_imagenet_weights("resnet7")


def test_unavailable_download_says_what_to_do(monkeypatch, tmp_path):
    def offline(self, *args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.models.ResNet18_Weights, "get_state_dict", offline)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    with pytest.raises(transfer.ImageNetWeightsUnavailable) as error:
        transfer.load_imagenet_weights("resnet18")
    message = str(error.value)
    assert "no network" in message and url in message
    assert str(tmp_path / "hub" / "checkpoints") in message and "path=" in message
    assert isinstance(error.value, OSError)
    assert transfer.imagenet_weights_url("resnet18") == url


def test_missing_local_file_says_what_to_do(tmp_path):
    with pytest.raises(transfer.ImageNetWeightsUnavailable, match=r"no file .*resnet34-.*\.pth.*download"):
        transfer.load_imagenet_weights("resnet34", path=tmp_path)  # a folder without the file


def test_weights_load_from_a_local_file_and_compute_what_torchvision_computes(tmp_path):
    torch.manual_seed(0)
    theirs = torchvision.models.resnet18()  # random weights: nothing is downloaded
    with torch.no_grad():
        theirs.train()(torch.randn(4, 3, 64, 64))  # non-trivial BatchNorm statistics
    file = tmp_path / "my_resnet18.pth"
    torch.save(theirs.state_dict(), file)
    ours = transfer.load_imagenet_weights("resnet18", path=file)
    assert type(ours).__module__ == "resnet_course.nn.models" and not ours.training
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ours(x), theirs.eval()(x))


def test_a_file_with_torchvisions_name_must_have_its_checksum(tmp_path):
    file = tmp_path / transfer.imagenet_weights_url("resnet18").rsplit("/", 1)[-1]
    torch.save(torchvision.models.resnet18().state_dict(), file)
    with pytest.raises(ChecksumError, match="does not start with f37072fd"):
        transfer.load_imagenet_weights("resnet18", path=tmp_path)


def test_a_state_dict_of_another_depth_is_refused(tmp_path):
    file = tmp_path / "resnet34_weights.pth"
    torch.save(torchvision.models.resnet34().state_dict(), file)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        transfer.load_imagenet_weights("resnet18", path=file)



def test_cached_imagenet_weights_are_only_looked_up(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert transfer.cached_imagenet_weights("resnet18") is None
    available, sentence = transfer.imagenet_status("resnet18")
    assert not available and sentence.startswith("ImageNet route skipped:")
    assert "not in the local torch cache" in sentence
    assert str(tmp_path) not in sentence and "\n" not in sentence  # one line, no machine path
    file = tmp_path / "hub" / "checkpoints" / transfer.imagenet_weights_url("resnet18").rsplit("/", 1)[-1]
    file.parent.mkdir(parents=True)
    file.write_bytes(b"")
    assert transfer.cached_imagenet_weights("resnet18") == file
    available, sentence = transfer.imagenet_status("resnet18")
    assert available and str(tmp_path) not in sentence


def test_imagenet_input_resizes_and_renormalises():
    torch.manual_seed(0)
    inner = create_model("resnet18", num_classes=6).eval()
    wrapped = transfer.ImageNetInput(inner, size=64).eval()
    assert wrapped.fc is inner.fc
    pixels = torch.rand(2, 3, 32, 32)

    def normalised(x, mean, std):
        return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)

    cifar = normalised(pixels, transfer.CIFAR10_MEAN, transfer.CIFAR10_STD)
    resized = F.interpolate(pixels, size=(64, 64), mode="bilinear", align_corners=False)
    imagenet = normalised(resized, transfer.IMAGENET_MEAN, transfer.IMAGENET_STD)
    with torch.no_grad():
        assert torch.allclose(wrapped(cifar), inner(imagenet), atol=1e-4)
        frozen = transfer.FrozenFeatures(wrapped, 6)
        assert frozen(cifar).shape == (2, 6) and transfer.trainable_parameters(frozen) == 512 * 6 + 6


def test_gesture_model_takes_imagenet_weights_for_an_imagenet_resnet(monkeypatch):
    def fake_weights(name):  # torchvision's weights are not here: any resnet18 state stands in
        torch.manual_seed(1)
        return create_model(name).eval()

    monkeypatch.setattr(transfer, "load_imagenet_weights", fake_weights)
    tuned = transfer.gesture_model("finetune", "resnet18", input_size=64)
    assert isinstance(tuned, transfer.ImageNetInput) and tuned.fc.out_features == 6 and tuned.training
    assert torch.equal(tuned.model.conv1.weight, fake_weights("resnet18").conv1.weight)
    frozen = transfer.gesture_model("features", "resnet18", input_size=64)
    assert transfer.trainable_parameters(frozen) == 512 * 6 + 6
    assert isinstance(transfer.gesture_model("scratch", "resnet18", input_size=64), transfer.ImageNetInput)


# --------------------------------------------------------------------------- learning curves: subsets and steps


def test_per_class_subset_draws_per_class_and_seed():
    labels = torch.tensor([0] * 10 + [1] * 7 + [2] * 3)
    subset = transfer.per_class_subset(labels, 5, seed=0, num_classes=3)
    assert torch.bincount(labels[subset], minlength=3).tolist() == [5, 5, 3]  # a class with fewer gives all it has
    assert subset == sorted(subset) and len(set(subset)) == len(subset)
    assert transfer.per_class_subset(labels, 5, seed=0, num_classes=3) == subset  # deterministic
    assert transfer.per_class_subset(labels, 5, seed=1, num_classes=3) != subset  # another seed, other images
    smaller = transfer.per_class_subset(labels, 2, seed=0, num_classes=3)
    assert set(smaller) <= set(subset)  # nested: one seed's 2 per class are among its 5
    assert transfer.per_class_subset(labels, None, seed=3) == list(range(20))
    with pytest.raises(ValueError, match="per_class"):
        transfer.per_class_subset(labels, 0, seed=0)


def test_steps_depend_on_the_size_only():
    assert transfer.steps_for(30) == transfer.steps_for(120) == 100  # small sets: the minimum
    assert transfer.steps_for(1289) == transfer.steps_for(5000) == 400  # the cap
    assert transfer.steps_for(300, 32) == 235  # 25 passes in between
    sizes = [30, 60, 120, 300, 640, 1289]
    assert [transfer.steps_for(n) for n in sizes] == sorted(transfer.steps_for(n) for n in sizes)


def test_batch_stream_gives_full_batches_and_even_coverage():
    stream = transfer.batch_stream(10, steps=7, batch_size=4, seed=0)
    assert stream.shape == (28,) and torch.equal(stream, transfer.batch_stream(10, 7, 4, seed=0))
    counts = torch.bincount(stream, minlength=10)
    assert counts.max() - counts.min() <= 1  # every sample seen equally often, up to one pass
    assert not torch.equal(stream, transfer.batch_stream(10, 7, 4, seed=1))
    tiny = transfer.batch_stream(3, steps=2, batch_size=8, seed=0)  # fewer samples than a batch
    assert tiny.shape == (16,) and set(tiny.tolist()) == {0, 1, 2}


def test_fixed_step_loader_yields_exactly_the_steps():
    images = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    data = ImageSet(images, torch.tensor([0, 1, 0, 1, 0]), ["a", "b"], "toy", "train")
    loader = transfer.fixed_step_loader(data, steps=6, batch_size=4, seed=0)
    batches = list(loader)
    assert len(loader) == len(batches) == 6 and all(x.shape == (4, 3, 8, 8) for x, _ in batches)


def test_every_strategy_takes_the_same_steps(hands_small):
    train, test = hands_small
    records = {s: transfer.run_point(s, train, test, per_class=2, seed=0, lr=transfer.DEFAULT_LRS[s], steps=3,
                                     batch_size=8, amp=False, device="cpu")[1] for s in transfer.STRATEGIES}
    assert {r["steps"] for r in records.values()} == {3}
    assert {r["train_images"] for r in records.values()} == {12}  # 2 per class, 6 classes
    for r in records.values():
        assert 0 <= r["test_accuracy"] <= 1 and sum(map(sum, r["confusion_matrix"])) == len(test)
        assert not r["diverged"] and r["per_class"] == 2 and r["seed"] == 0
    default = transfer.run_point("features", train, test, per_class=2, seed=0, lr=0.1, batch_size=8, amp=False,
                                 device="cpu")[1]
    assert default["steps"] == transfer.steps_for(12, 8)


def test_features_leave_the_pretrained_body_untouched(hands_small):
    train, test = hands_small
    model, _ = transfer.run_point("features", train, test, per_class=2, seed=0, lr=0.3, steps=3, batch_size=8,
                                  amp=False, device="cpu")
    source = create_model("resnet20", weights="cifar10").state_dict()
    body = model.body.state_dict()
    assert all(torch.equal(body[k], v) for k, v in source.items()), "training changed the frozen body"


def test_tune_lr_picks_the_best_validation_accuracy(monkeypatch):
    seen = []

    def fake_point(strategy, train_part, val_part, *, per_class, seed, lr, **settings):
        seen.append((val_part, lr, seed))
        accuracy = {0.01: 0.4, 0.03: 0.6, 0.1: 0.6}[lr]
        return None, {"test_accuracy": accuracy + 0.01 * seed, "diverged": lr == 0.1 and seed == 1}

    monkeypatch.setattr(transfer, "run_point", fake_point)
    tuned = transfer.tune_lr("finetune", "fit part", "validation part", per_class=20, seeds=[0, 1])
    assert {v for v, _, _ in seen} == {"validation part"}  # scored on the validation data it was given
    assert tuned["grid"] == [0.01, 0.03, 0.1] and tuned["val_accuracy"]["0.1"] == [0.6, 0.0]  # diverged scores 0
    assert tuned["chosen"] == 0.03 and tuned["extended"] == []
    tie = transfer.tune_lr("finetune", "fit", "val", per_class=20, seeds=[0], grid=[0.1, 0.03], extend=0)
    assert tie["chosen"] == 0.03  # equal accuracy: the smaller learning rate


def test_tune_lr_extends_the_grid_past_an_edge(monkeypatch):
    def peak_at_one(strategy, train_part, val_part, *, per_class, seed, lr, **settings):
        return None, {"test_accuracy": 1 - abs(math.log10(lr)) / 10, "diverged": False}

    monkeypatch.setattr(transfer, "run_point", peak_at_one)
    tuned = transfer.tune_lr("finetune", "fit", "val", per_class=20, seeds=[0], grid=[0.01, 0.03, 0.1])
    assert tuned["extended"] == [0.316, 1.0] and tuned["chosen"] == 1.0  # two steps up, best still at the edge
    assert tuned["grid"] == [0.01, 0.03, 0.1, 0.316, 1.0] and set(tuned["val_accuracy"]) == {
        "0.01", "0.03", "0.1", "0.316", "1.0"}
    down = transfer.tune_lr("features", "fit", "val", per_class=20, seeds=[0], grid=[3.0, 10.0, 30.0], extend=5)
    assert down["extended"] == [0.949, 0.3] and down["chosen"] == 0.949  # 1.0 lies between 0.949 and 3: interior
    none = transfer.tune_lr("features", "fit", "val", per_class=20, seeds=[0], grid=[3.0, 10.0], extend=0)
    assert none["extended"] == [] and none["chosen"] == 3.0


# --------------------------------------------------------------------------- the verdict on synthetic curves


def _synthetic_points():
    """Fine-tuning far ahead at 30 images, level with scratch at 600; three seeds each."""
    points = []
    for strategy, small, large in (("finetune", [0.60, 0.62, 0.61], [0.80, 0.78, 0.83]),
                                   ("scratch", [0.30, 0.33, 0.31], [0.79, 0.82, 0.80])):
        for seed in range(3):
            points.append({"strategy": strategy, "arch": "resnet20", "per_class": 5, "train_images": 30,
                           "seed": seed, "test_accuracy": small[seed]})
            points.append({"strategy": strategy, "arch": "resnet20", "per_class": None, "train_images": 600,
                           "seed": seed, "test_accuracy": large[seed]})
    return points


def test_curve_and_verdict_on_synthetic_points():
    points = _synthetic_points()
    assert transfer.curve(points, "scratch") == {30: [0.30, 0.33, 0.31], 600: [0.79, 0.82, 0.80]}
    assert transfer.curve(points, "scratch", "resnet56") == {}
    verdict = transfer.compare_strategies(points, labels={"finetune": "fine-tuned", "scratch": "from scratch"})
    small, large = verdict.comparisons
    assert small.size == 30 and small.clear and small.difference == pytest.approx(0.61 - 0.94 / 3)
    assert large.size == 600 and not large.clear
    assert not verdict.holds and "fine-tuned vs from scratch" in verdict.sentence
    table = transfer.verdict_table(verdict, {30: "5", 600: "all"})
    lines = table.splitlines()
    assert "fine-tuned" in lines[0] and lines[1].split()[:2] == ["5", "30"] and lines[1].endswith("yes")
    assert lines[2].split()[:2] == ["all", "600"] and lines[2].endswith("no") and "+29.7" in lines[1]


def test_nearest_training_crops():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    train = ImageSet(images, torch.arange(4) % 2, ["a", "b"], "toy", "train")
    queries = ImageSet(images[[2, 0]].clone(), torch.tensor([0, 0]), ["a", "b"], "toy", "test")
    queries.images[1, 0, 0, 0] = (int(queries.images[1, 0, 0, 0]) + 64) % 256
    index, distance = transfer.nearest_training_crops(train, queries)
    assert index.tolist() == [2, 0] and distance[0] == 0 and 0 < distance[1] < 256 / 192 ** 0.5 + 1e-4


# --------------------------------------------------------------------------- the figures


def test_learning_curve_figure_on_synthetic_points():
    import matplotlib.pyplot as plt

    from resnet_course.lessons.plots.transfer import curve_points, plot_learning_curves, plot_split_comparison

    points = _synthetic_points()
    rows = curve_points(points, "finetune")
    assert [r[1] for r in rows] == ["5", "all"] and rows[1][0] == 100.0 and rows[0][4] == 3
    fig = plot_learning_curves(points, baseline=0.28)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and [t.get_text() for t in ax.get_xticklabels()] == ["5", "all\n(≈100)"]
    plt.close(fig)
    fig = plot_split_comparison({"own": {"scratch": [0.9, 0.95]}, "session": {"scratch": [0.5, 0.6]}})
    plt.close(fig)
