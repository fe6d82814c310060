"""Transfer learning (resnet_course.lessons.transfer): the three strategies, per-class accuracy, ImageNet weights.

The frozen body must get no gradient and keep its BatchNorm statistics in training mode; a
new head must have the right shape; unknown strategies and networks without ImageNet
weights must be refused with a message that says why; torchvision's state dicts must load
from a local file into the course's ImageNet ResNets and compute what torchvision computes;
an unavailable download must say what to do. Nothing here needs the network.
"""

from __future__ import annotations

import urllib.error

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from resnet_course.data.hands import load_hands
from resnet_course.data.safety import ChecksumError
from resnet_course.lessons import transfer
from resnet_course.nn.registry import create_model

pytestmark = pytest.mark.usefixtures("one_thread")


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
    from resnet_course.experiments.pretrained import load_pretrained

    scratch = transfer.gesture_model("scratch")
    finetune = transfer.gesture_model("finetune")
    features = transfer.gesture_model("features")
    assert scratch.fc.out_features == finetune.fc.out_features == features.fc.out_features == 6
    assert transfer.trainable_parameters(scratch) == transfer.trainable_parameters(finetune) == 269_462
    assert transfer.trainable_parameters(features) == 390
    source = load_pretrained("resnet20").state_dict()
    tuned = finetune.state_dict()
    assert all(torch.equal(tuned[k], v) for k, v in source.items() if not k.startswith("fc."))
    assert transfer.SETTINGS["finetune"].lr < transfer.SETTINGS["scratch"].lr


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


# --------------------------------------------------------------------------- a short training run on real crops


def test_train_strategy_on_real_crops(data_root, cache_dir):
    test_set = load_hands("test", data_root, size=32, cache_dir=cache_dir)
    small = test_set.subset(48, seed=0)
    model, history = transfer.train_strategy("features", small, small, epochs=1, batch_size=16, device="cpu")
    assert isinstance(model, transfer.FrozenFeatures)
    assert history.epochs == 1 and 0.0 <= history.val_acc[-1] <= 1.0
    assert history.meta["lr"] == transfer.SETTINGS["features"].lr
    from resnet_course.experiments.pretrained import load_pretrained

    source = load_pretrained("resnet20").state_dict()
    body = model.body.state_dict()
    assert all(torch.equal(body[k], v) for k, v in source.items()), "training changed the frozen body"
