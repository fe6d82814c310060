"""The registry (``@register_model``, create_model, list_models) and the weights table."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

import resnet_course.nn.weights as weights_module
from resnet_course.data import ChecksumError
from resnet_course.nn import (
    Weights,
    WeightsError,
    cifar_resnet,
    create_model,
    list_models,
    register_model,
    registry,
    weights_dirs,
    weights_path,
)

# ----------------------------------------------------------------------------------------
# The registry
# ----------------------------------------------------------------------------------------


@pytest.fixture()
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made in a test vanish with it."""
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))


def test_list_models_is_the_course_list_in_order():
    assert list_models() == [
        "plain18", "resnet18", "plain34", "resnet34", "resnet50", "resnet101", "resnet152",
        "resnet18_cifar", "plain20", "preact_resnet20", "resnet20", "plain32", "preact_resnet32", "resnet32",
        "plain44", "preact_resnet44", "resnet44", "plain56", "preact_resnet56", "resnet56", "plain110",
        "preact_resnet110", "resnet110", "preact_resnet164", "preact_resnet1001", "resnet1202",
    ]  # fmt: skip


def test_registered_function_and_create_model_build_the_same_network():
    torch.manual_seed(0)
    a = registry.resnet20(num_classes=7)
    torch.manual_seed(0)
    b = create_model("resnet20", num_classes=7)
    assert a.arch == b.arch == "resnet20" and a.num_classes == b.num_classes == 7
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_register_model_adds_a_readers_network(scratch_registry: None):
    @register_model
    def tiny_resnet(num_classes: int = 10, **options: object) -> nn.Module:
        return cifar_resnet(8, num_classes, **options)

    assert list_models()[-1] == "tiny_resnet"
    model = create_model("Tiny_ResNet ", num_classes=3, shortcut="B")
    assert model.arch == "tiny_resnet" and model.num_classes == 3 and len(model.layer1) == 1
    with pytest.raises(ValueError, match="registered already"):
        register_model(tiny_resnet)


def test_the_name_fixes_the_family():
    with pytest.raises(TypeError, match="does not take option.*plain.*it takes: block, shortcut, zero_init_residual"):
        create_model("resnet20", plain=True)
    with pytest.raises(TypeError, match="preact"):
        create_model("resnet26", preact=True)
    assert create_model("preact_resnet38").layer1[0].__class__.__name__ == "PreActBasicBlock"
    assert create_model("plain50").layer1[0].__class__.__name__ == "PlainBottleneck"  # Table 1 depth: ImageNet


def test_family_and_depth_reads_a_name_of_the_family_rule():
    assert registry.family_and_depth("resnet56") == ("resnet", 56)
    assert registry.family_and_depth("plain20") == ("plain", 20)
    assert registry.family_and_depth("resnet110") == ("resnet", 110)
    assert registry.family_and_depth("preact_resnet20") == ("preact_resnet", 20)
    for other in ("resnet18_cifar", "tiny_resnet", "resnet", "myresnet20", "resnet20x", "ResNet-20"):
        assert registry.family_and_depth(other) is None, other


# ----------------------------------------------------------------------------------------
# The weights table
# ----------------------------------------------------------------------------------------


def _store(model: nn.Module, folder: Path, file: str, **meta: object) -> Weights:
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / file)
    return Weights(file, hashlib.sha256((folder / file).read_bytes()).hexdigest(), dict(meta))


@pytest.fixture()
def zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty weights folder searched instead of the real ones, and an empty table."""
    folder = tmp_path / "zoo"
    folder.mkdir()
    monkeypatch.setattr(weights_module, "weights_dirs", lambda: [folder])
    monkeypatch.setattr(weights_module, "WEIGHTS", {})
    return folder


def test_create_model_loads_pinned_weights(zoo: Path):
    trained = create_model("resnet20", num_classes=6)
    weights_module.WEIGHTS[("resnet20", "hands")] = _store(trained, zoo, "resnet20_hands.pt", num_classes=6)
    loaded = create_model("resnet20", weights="hands")  # num_classes comes from the record
    assert loaded.num_classes == 6 and loaded.training
    assert all(torch.equal(x, y) for x, y in zip(loaded.state_dict().values(), trained.state_dict().values()))
    with pytest.raises(ValueError, match="6 classes, not 10"):
        create_model("resnet20", num_classes=10, weights="hands")


def test_weights_record_may_carry_builder_options(zoo: Path):
    trained = create_model("resnet20", shortcut="B")
    record = _store(trained, zoo, "r20b.pt", options={"shortcut": "B"})
    loaded = create_model("resnet20", weights=record)
    assert isinstance(loaded.layer2[0].downsample, nn.Sequential)


def test_unknown_weights_are_one_clear_line(zoo: Path):
    with pytest.raises(WeightsError, match="no weights 'cifar10' for resnet20: no weights are stored") as info:
        create_model("resnet20", weights="cifar10")
    assert "\n" not in str(info.value)
    weights_module.WEIGHTS[("resnet20", "cifar10")] = _store(create_model("resnet20"), zoo, "resnet20.pt")
    with pytest.raises(WeightsError, match="no weights 'imagenet' for resnet20: resnet20 has weights 'cifar10'"):
        create_model("resnet20", weights="imagenet")
    with pytest.raises(WeightsError, match="weights 'cifar10' exist for resnet20"):
        create_model("resnet56", weights="cifar10")


def test_a_replaced_file_is_caught_even_with_a_rewritten_json(zoo: Path):
    record = _store(create_model("resnet20"), zoo, "resnet20.pt")
    impostor = create_model("resnet20")
    torch.save(impostor.state_dict(), zoo / "resnet20.pt")
    new_hash = hashlib.sha256((zoo / "resnet20.pt").read_bytes()).hexdigest()
    (zoo / "resnet20.json").write_text(json.dumps({"weights": {"file": "resnet20.pt", "sha256": new_hash}}))
    with pytest.raises(ChecksumError, match="package pins") as info:
        create_model("resnet20", weights=record)  # the pin is in the code, not in the JSON
    assert "\n" not in str(info.value)


def test_a_file_for_another_architecture_is_refused(zoo: Path):
    record = _store(create_model("resnet32"), zoo, "resnet32.pt")  # right hash, wrong network
    with pytest.raises(WeightsError,
                       match=r"another architecture than resnet20: 72 unexpected \(e\.g\. layer1\.3\.conv1"):
        create_model("resnet20", weights=record)
    checkpoint = {"arch": "plain20", "model": create_model("plain20").state_dict()}
    torch.save(checkpoint, zoo / "ckpt.pt")
    record = Weights("ckpt.pt", hashlib.sha256((zoo / "ckpt.pt").read_bytes()).hexdigest())
    with pytest.raises(WeightsError, match="holds weights for plain20, not for resnet20"):
        create_model("resnet20", weights=record)  # same tensors, but the checkpoint says what it is


class _Boom:
    def __reduce__(self):
        return (Path.touch, (Path("PWNED"),))


def test_weights_are_loaded_without_running_pickled_code(zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    with open(zoo / "evil.pt", "wb") as file:
        pickle.dump({"conv1.weight": _Boom()}, file, protocol=2)
    record = Weights("evil.pt", hashlib.sha256((zoo / "evil.pt").read_bytes()).hexdigest())
    with pytest.raises(WeightsError, match="cannot be read as weights"):
        create_model("resnet20", weights=record)
    assert not (tmp_path / "PWNED").exists()


def test_weights_path_search_order(tmp_path: Path):
    checkout, package = tmp_path / "checkout" / "results" / "zoo", tmp_path / "package" / "results" / "zoo"
    for folder in (checkout, package):
        folder.mkdir(parents=True)
    (package / "a.pt").write_bytes(b"package")
    assert weights_path("a.pt", [checkout, package]) == package / "a.pt"
    (checkout / "a.pt").write_bytes(b"checkout")
    assert weights_path("a.pt", [checkout, package]) == checkout / "a.pt"  # a checkout's own file wins
    with pytest.raises(FileNotFoundError, match=f"b.pt not found in {checkout} or {package}"):
        weights_path("b.pt", [checkout, package])
    for bad in ("../a.pt", "zoo/a.pt", "", ".."):
        with pytest.raises(ValueError, match="bare file name"):
            weights_path(bad, [checkout])


def test_weights_dirs_checkout_first_then_package_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import resnet_course.locations as locations

    package = tmp_path / "repo" / "resnet_course"
    monkeypatch.setattr(locations, "PACKAGE_DIR", package)
    monkeypatch.setattr(weights_module, "PACKAGED_RESULTS", package / "_data" / "results")
    assert weights_dirs() == [package / "_data" / "results" / "zoo"]  # an installed package: no checkout
    (tmp_path / "repo" / "results").mkdir(parents=True)
    (tmp_path / "repo" / "pyproject.toml").write_text("")
    assert weights_dirs() == [tmp_path / "repo" / "results" / "zoo", package / "_data" / "results" / "zoo"]
