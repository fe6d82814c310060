"""Reference results: every file in results/ parses and says how it was produced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from resnet_course.experiments import EXPERIMENTS, describe_meta, load_result

RESULT_FILES = sorted((REPO_ROOT / "results").glob("*.json"))
REQUIRED_META = {"device", "torch", "commit", "date", "data_variant"}


def test_there_are_results() -> None:
    assert RESULT_FILES, "results/ holds no reference results"


@pytest.mark.parametrize("path", RESULT_FILES, ids=lambda p: p.name)
def test_result_file_has_complete_metadata(path: Path) -> None:
    result = json.loads(path.read_text())
    meta = result["meta"]
    assert REQUIRED_META <= set(meta), f"{path.name} lacks {REQUIRED_META - set(meta)}"
    assert meta["commit"] != "unknown" and "+dirty" not in meta["commit"], "results must come from committed code"
    if "CIFAR-10" in meta["data_variant"] and "JPEG" not in meta["data_variant"]:
        assert "official" in meta["data_variant"]


@pytest.mark.parametrize("name", [name for name in EXPERIMENTS if (REPO_ROOT / "results" / f"{name}.json").exists()])
def test_experiment_results_hold_every_model_and_epoch(name: str) -> None:
    result = load_result(name)
    assert set(result["runs"]) == set(EXPERIMENTS[name].models)
    for history in result["runs"].values():
        assert len(history["train_acc"]) == len(history["val_acc"]) == result["meta"]["epochs"]
    assert "Reference run:" in describe_meta(result["meta"])


def test_missing_result_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="resnet-course experiment degradation"):
        load_result("degradation", tmp_path)
