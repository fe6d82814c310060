"""The zoo of reference networks: registry, skip-finished, exact resume within a network, stored weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from resnet_course.data.safety import ChecksumError, sha256_file
from resnet_course.experiments import zoo
from resnet_course.experiments.zoo import (
    WEIGHTS_STORED,
    ZOO,
    ZOO_BY_DEPTH,
    ZOO_RECIPE,
    ZooSettingsError,
    epochs_to_accuracy,
    load_zoo,
    median_epoch_seconds,
    minutes_to_accuracy,
    train_zoo_network,
)
from resnet_course.nn.registry import create_model
from resnet_course.nn.weights import WeightsError
from resnet_course.training.recipes import get_recipe

TINY = ZOO_RECIPE.with_changes(epochs=2, batch_size=32, warmup_epochs=1.0)


def test_the_zoo_holds_the_papers_fig6_and_table6_networks_with_one_recipe() -> None:
    assert set(ZOO) == {f"{kind}{depth}" for kind in ("plain", "resnet") for depth in (20, 32, 44, 56)} | {"resnet110"}
    assert ZOO[:4] == ("resnet20", "plain20", "resnet56", "plain56")  # the headline four first
    assert ZOO_BY_DEPTH == ("resnet20", "plain20", "resnet32", "plain32", "resnet44", "plain44", "resnet56",
                            "plain56", "resnet110")  # read by depth, each ResNet beside its plain twin
    assert WEIGHTS_STORED <= set(ZOO) and {"resnet20", "plain20", "resnet56", "plain56"} <= WEIGHTS_STORED
    assert ZOO_RECIPE == get_recipe("zoo") and ZOO_RECIPE.epochs >= 30 and ZOO_RECIPE.batch_size == 128
    for name in ZOO:  # every name builds, plain nets without shortcuts
        assert create_model(name) is not None


@pytest.fixture(scope="module")
def tiny_sets(data_root: Path, tmp_path_factory: pytest.TempPathFactory):
    train = zoo.cifar10_split("train", 96, data_root=data_root)
    test = zoo.cifar10_split("test", 40, data_root=data_root)
    return train, test


def _train(tiny_sets, results: Path, runs: Path, recipe=TINY) -> Path:
    train, test = tiny_sets
    return train_zoo_network("resnet20", train, test, recipe=recipe, device="cpu", results_dir=results,
                             runs_dir=runs, progress=False)


def test_a_finished_network_writes_history_finals_and_pinned_weights_then_is_skipped(
    tiny_sets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _train(tiny_sets, tmp_path / "results", tmp_path / "runs")
    result = json.loads(path.read_text())
    assert result["meta"]["network"] == "resnet20" and result["meta"]["train_images"] == 96
    assert len(result["history"]["val_acc"]) == 2 and len(result["history"]["train_loss"]) == 2
    assert set(result["final"]) >= {"test_error", "test_error_flip_tta", "train_error_eval", "test_loss"}
    weights = path.with_suffix(".pt")
    assert result["weights"] == {"file": "resnet20.pt", "sha256": sha256_file(weights)}
    state = torch.load(weights, weights_only=True)
    assert all(t.dtype in (torch.float32, torch.int64) for t in state.values())
    create_model("resnet20").load_state_dict(state)  # a plain float32 state dict of the network

    def no_training(*args, **kwargs):
        raise AssertionError("a finished network was trained again")

    monkeypatch.setattr(zoo, "fit", no_training)
    assert _train(tiny_sets, tmp_path / "results", tmp_path / "runs") == path
    assert load_zoo(["resnet20", "plain20"], tmp_path / "results", missing_ok=True).keys() == {"resnet20"}
    with pytest.raises(FileNotFoundError, match="resnet-course experiment zoo"):
        load_zoo(["plain20"], tmp_path / "results")


def test_load_zoo_reads_by_depth_whatever_the_training_order(tmp_path: Path) -> None:
    (tmp_path / "zoo").mkdir()
    for name in ("resnet56", "resnet20", "plain56", "resnet32"):  # finished in this order
        (tmp_path / "zoo" / f"{name}.json").write_text(json.dumps({"meta": {"model": name}}))
    assert list(load_zoo(results_dir=tmp_path, missing_ok=True)) == ["resnet20", "resnet32", "resnet56", "plain56"]


def test_a_finished_result_made_with_other_settings_is_not_silently_reused(tiny_sets, tmp_path: Path) -> None:
    path = _train(tiny_sets, tmp_path / "results", tmp_path / "runs")
    before = {p.name: p.read_bytes() for p in path.parent.iterdir()}
    with pytest.raises(ZooSettingsError, match="other settings"):
        _train(tiny_sets, tmp_path / "results", tmp_path / "runs2", recipe=TINY.with_changes(lr=0.05))
    assert {p.name: p.read_bytes() for p in path.parent.iterdir()} == before  # the finished result kept
    assert not (tmp_path / "runs2").exists()  # refused before training


def test_a_network_stopped_after_an_epoch_resumes_to_the_same_history(
    tiny_sets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    straight = json.loads(_train(tiny_sets, tmp_path / "a", tmp_path / "runs_a").read_text())

    real_fit = zoo.fit

    def stopped_after_one_epoch(*args, **kwargs):
        def stop(epoch, history):
            raise KeyboardInterrupt  # as if the machine went away after the first epoch's checkpoint

        return real_fit(*args, **{**kwargs, "on_epoch_end": stop})

    monkeypatch.setattr(zoo, "fit", stopped_after_one_epoch)
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_sets, tmp_path / "b", tmp_path / "runs_b")
    assert (tmp_path / "runs_b" / "zoo" / "resnet20" / "last.pt").is_file()
    assert not (tmp_path / "b" / "zoo" / "resnet20.json").exists()  # nothing finished is claimed
    monkeypatch.setattr(zoo, "fit", real_fit)
    resumed = json.loads(_train(tiny_sets, tmp_path / "b", tmp_path / "runs_b").read_text())
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
        assert resumed["history"][key] == straight["history"][key], key
    assert resumed["final"] == straight["final"]


def _result(val_acc: list[float], rates: list[float], images: int = 50_000) -> dict:
    return {"meta": {"train_images": images}, "history": {"val_acc": val_acc, "images_per_sec": rates}}


def test_time_to_accuracy_counts_epochs_and_uses_the_median_pace() -> None:
    result = _result([0.5, 0.86, 0.91, 0.92], [1000.0, 250.0, 1000.0, 1000.0])  # one epoch slowed by other work
    assert epochs_to_accuracy(result, 0.85) == 2 and epochs_to_accuracy(result, 0.90) == 3
    assert epochs_to_accuracy(result, 0.95) is None and minutes_to_accuracy(result, 0.95) is None
    assert median_epoch_seconds(result) == 50.0  # 50,000 images at the usual 1,000 per second
    assert minutes_to_accuracy(result, 0.90) == pytest.approx(3 * 50 / 60)


REFERENCE = Path(__file__).resolve().parents[2] / "results" / "zoo"


@pytest.mark.parametrize("path", sorted(REFERENCE.glob("*.pt")), ids=lambda p: p.stem)
def test_every_stored_reference_network_is_pinned_in_the_package(path: Path) -> None:
    """A finished zoo network's weights are read by the chapters: its SHA-256 must be in nn.weights.WEIGHTS."""
    from resnet_course.nn.weights import WEIGHTS

    pinned = WEIGHTS.get((path.stem, "cifar10"))
    assert pinned is not None, f"pin {path.name} in resnet_course/nn/weights.py: sha256 {sha256_file(path)}"
    assert pinned.file == path.name and pinned.sha256 == sha256_file(path)
    assert json.loads((REFERENCE / f"{path.stem}.json").read_text())["final"]["test_error"] < 0.5


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(REFERENCE.glob("*.pt")), ids=lambda p: p.stem)
def test_a_stored_network_reproduces_its_recorded_test_error(path: Path, data_root: Path) -> None:
    """The weights the chapters load, evaluated on all 10,000 test images, give the error their result records."""
    from resnet_course.data.loaders import TensorLoader
    from resnet_course.experiments.zoo import cifar10_split, load_zoo_network
    from resnet_course.training.evaluation import evaluate

    model = load_zoo_network(path.stem)
    test_set = cifar10_split("test", data_root=data_root)
    scores = evaluate(model, TensorLoader(test_set, batch_size=500, shuffle=False, augment=False, device="cpu"),
                      device="cpu", amp="bf16")
    recorded = json.loads((REFERENCE / f"{path.stem}.json").read_text())["final"]["test_error"]
    error = 1 - scores["accuracy"]
    assert abs(error - recorded) <= 0.005, f"{path.stem}: {error:.2%} now, {recorded:.2%} recorded"


# ----------------------------------------------------------------------------------------
# Hardening (issue 13, beyond its list): damaged or replaced files of a zoo run of your own
# ----------------------------------------------------------------------------------------


def test_a_damaged_result_stops_the_zoo_with_a_hint_that_works(tiny_sets, tmp_path: Path) -> None:
    result = tmp_path / "results" / "zoo" / "resnet20.json"
    result.parent.mkdir(parents=True)
    result.write_text('{"meta": {"network": "resnet20"}, "sett')  # cut off mid-write
    with pytest.raises(ValueError, match="is damaged .*delete it and run 'resnet-course experiment zoo' again"):
        _train(tiny_sets, tmp_path / "results", tmp_path / "runs")
    result.unlink()  # what the message says to do
    assert json.loads(_train(tiny_sets, tmp_path / "results", tmp_path / "runs").read_text())["meta"]["network"] \
        == "resnet20"


def _own_zoo(folder: Path, name: str, state: dict, sha256: str | None = None) -> None:
    (folder / "zoo").mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "zoo" / f"{name}.pt")
    digest = sha256 or sha256_file(folder / "zoo" / f"{name}.pt")
    (folder / "zoo" / f"{name}.json").write_text(json.dumps({"meta": {}, "weights": {"file": f"{name}.pt",
                                                                                      "sha256": digest}}))


def test_own_zoo_weights_of_another_network_are_refused_in_one_line(tmp_path: Path) -> None:
    """resnet20.pt replaced by resnet32's, its recorded SHA-256 updated: was load_state_dict's RuntimeError."""
    _own_zoo(tmp_path, "resnet20", create_model("resnet32").state_dict())
    with pytest.raises(WeightsError, match=r"holds weights for another architecture than resnet20: .* unexpected") \
            as info:
        zoo.load_zoo_network("resnet20", tmp_path)
    assert "\n" not in str(info.value)
    _own_zoo(tmp_path, "resnet20", create_model("resnet20").state_dict(), sha256="0" * 64)  # replaced, record not
    with pytest.raises(ChecksumError, match="resnet20.json records 0000.*damaged or replaced; restore it"):
        zoo.load_zoo_network("resnet20", tmp_path)
    _own_zoo(tmp_path, "resnet20", create_model("resnet20").state_dict())
    assert not zoo.load_zoo_network("resnet20", tmp_path).training  # the right file loads, in eval mode


# ----------------------------------------------------------------------------------------
# The book's stored networks (results/zoo/*.pt): they reproduce their records; damage is caught
# ----------------------------------------------------------------------------------------


def test_a_damaged_or_foreign_stored_file_is_refused_in_one_line(tmp_path: Path, monkeypatch) -> None:
    """The book's ResNet-20 with 16 bytes zeroed fails its pinned SHA-256; loaded into a ResNet-32 it is another
    architecture; a network with no stored weights names the ones there are."""
    import resnet_course.nn.weights as weights_module
    from resnet_course.nn.weights import WEIGHTS

    damaged = bytearray((REFERENCE / "resnet20.pt").read_bytes())
    damaged[5000:5016] = bytes(16)
    (tmp_path / "resnet20.pt").write_bytes(bytes(damaged))
    monkeypatch.setattr(weights_module, "weights_dirs", lambda: [tmp_path])
    with pytest.raises(ChecksumError, match="package pins") as info:
        create_model("resnet20", weights="cifar10")
    assert "\n" not in str(info.value)
    monkeypatch.setattr(weights_module, "weights_dirs", lambda: [REFERENCE])
    with pytest.raises(WeightsError, match="another architecture than resnet32"):
        create_model("resnet32", weights=WEIGHTS[("resnet20", "cifar10")])
    with pytest.raises(WeightsError, match="weights 'cifar10' exist for .*resnet20"):
        create_model("resnet110", weights="cifar10")
