"""The stored pre-trained CIFAR-10 networks (results/cifar10_*.pt) are what their metadata says.

Each checkpoint is loaded with ``weights_only=True`` (through ``load_pretrained``, which
also verifies the SHA-256 recorded in results/pretrained.json) and evaluated on the same
1,000 test images the reference run measured; the accuracy must agree with the stored one
within one point. A damaged file, a missing file and another network's weights each give a
clear error.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import REPO_ROOT

from resnet_course.data.cifar10 import load_cifar10
from resnet_course.data.safety import ChecksumError, sha256_file
from resnet_course.experiments import pretrained
from resnet_course.experiments.pretrained import (
    ARCHITECTURES,
    PINNED_SHA256,
    accuracy_on,
    check_subset,
    checkpoint_file,
    load_pretrained,
)
from resnet_course.experiments.results import load_result
from resnet_course.nn.registry import create_model
from resnet_course.training.checkpoint import CheckpointMismatchError, load_checkpoint, save_checkpoint

RESULTS = REPO_ROOT / "results"
RECORD = load_result("pretrained")


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_checkpoint_is_small_and_loads_weights_only(arch: str) -> None:
    path = RESULTS / checkpoint_file(arch)
    assert path.stat().st_size < 5_000_000, "keep the stored checkpoints small (a few MB at most)"
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    assert checkpoint["arch"] == arch and checkpoint["num_classes"] == 10


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_accuracy_on_1000_test_images_matches_metadata(arch: str, data_root: Path) -> None:
    model = load_pretrained(arch)
    images = check_subset(load_cifar10("test", data_root))
    assert len(images) == 1_000
    measured = accuracy_on(model, images)
    stored = RECORD["checkpoints"][arch]["check_accuracy"]
    assert abs(measured - stored) <= 0.01, f"{arch}: {measured:.2%} measured, {stored:.2%} in pretrained.json"
    assert measured > 0.5, f"{arch} is barely trained ({measured:.2%}): not a network worth shipping"


def test_damaged_checkpoint_is_refused_with_a_checksum_error(tmp_path: Path) -> None:
    for name in ("pretrained.json", checkpoint_file("resnet20")):
        shutil.copy(RESULTS / name, tmp_path / name)
    with open(tmp_path / checkpoint_file("resnet20"), "r+b") as f:
        f.seek(2000)
        f.write(b"\x00" * 16)
    with pytest.raises(ChecksumError, match="git checkout -- cifar10_resnet20.pt"):
        load_pretrained("resnet20", tmp_path)


def test_missing_checkpoint_says_how_to_make_it(tmp_path: Path) -> None:
    shutil.copy(RESULTS / "pretrained.json", tmp_path / "pretrained.json")
    with pytest.raises(FileNotFoundError, match="resnet-course experiment pretrained"):
        load_pretrained("resnet20", tmp_path)


def test_unknown_architecture_names_the_stored_ones() -> None:
    with pytest.raises(ValueError, match="stored: resnet20, plain20"):
        load_pretrained("resnet56")


def test_checkpoint_refuses_another_network() -> None:
    with pytest.raises(CheckpointMismatchError, match="create_model\\('resnet20', num_classes=10\\)"):
        load_checkpoint(RESULTS / checkpoint_file("resnet20"), create_model("resnet32"))


# ----------------------------------------------------------------------------------------
# Hardening (issue 13, item 7): the book's checkpoints are pinned in the package
# ----------------------------------------------------------------------------------------


def test_the_pins_are_the_shipped_files_and_their_record() -> None:
    for arch in ARCHITECTURES:
        assert PINNED_SHA256[arch] == sha256_file(RESULTS / checkpoint_file(arch)) == RECORD["checkpoints"][arch][
            "sha256"], f"{arch}: a new run's checkpoint must be pinned in resnet_course.experiments.pretrained"


def test_a_replaced_checkpoint_with_a_rewritten_record_is_caught_by_the_pin(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The impostor is even a ResNet-20 (loads without a mismatch); only the pinned hash can tell."""
    shutil.copy(RESULTS / "pretrained.json", tmp_path / "pretrained.json")
    impostor = save_checkpoint(tmp_path / checkpoint_file("resnet20"), create_model("resnet20"))
    record = json.loads((tmp_path / "pretrained.json").read_text())
    record["checkpoints"]["resnet20"]["sha256"] = sha256_file(impostor)
    (tmp_path / "pretrained.json").write_text(json.dumps(record))
    assert load_pretrained("resnet20", tmp_path) is not None  # as a run of your own: its record is trusted
    monkeypatch.setattr(pretrained, "default_results_dir", lambda: tmp_path)  # as the book's files
    with pytest.raises(ChecksumError, match="but the package pins a38ccfc6798193d9… for the book's resnet20") as info:
        load_pretrained("resnet20")
    assert "\n" not in str(info.value)
