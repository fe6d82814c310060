"""The reference experiments of chapters 5-7 run end to end through the command line, at toy size.

One module-scoped chain: ``experiment pretrained`` (1 epoch on 1,024 images) writes the
two checkpoints and their record into a temporary results folder; ``lesion``,
``landscape`` and ``gestures`` then read those networks from it, exactly as the full runs
read ``results/``. Each result must carry the metadata the book prints.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resnet_course.cli import main
from resnet_course.experiments.pretrained import load_pretrained
from resnet_course.experiments.reference import EXPERIMENTS, PAPER_TABLE6
from resnet_course.experiments.results import describe_meta, write_result

RUN_META = {"device", "torch", "commit", "date", "data_variant", "seed", "precision", "wall_time_s", "experiment"}


@pytest.fixture(scope="module")
def toy_results(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    folder = tmp_path_factory.mktemp("results")
    common = ["--device", "cpu", "--data-root", str(data_root), "--results-dir", str(folder)]
    assert main(["experiment", "pretrained", "--epochs", "1", "--subset", "1024", "--batch-size", "128",
                 "--no-progress", *common]) == 0
    assert main(["experiment", "lesion", "--test-subset", "200", *common]) == 0
    assert main(["experiment", "landscape", "--points", "3", "--subset", "100", *common]) == 0
    assert main(["experiment", "gestures", "--epochs", "1", "--no-progress", *common]) == 0
    return folder


def _read(folder: Path, name: str) -> dict:
    result = json.loads((folder / f"{name}.json").read_text())
    assert RUN_META <= set(result["meta"]), f"{name}: missing {RUN_META - set(result['meta'])}"
    assert "Reference run:" in describe_meta(result["meta"])
    return result


@pytest.mark.slow
def test_pretrained_writes_checkpoints_that_load(toy_results: Path) -> None:
    record = _read(toy_results, "pretrained")
    assert set(record["checkpoints"]) == {"resnet20", "plain20"}
    for arch, entry in record["checkpoints"].items():
        assert 0 <= entry["check_accuracy"] <= 1 and len(entry["sha256"]) == 64
        assert load_pretrained(arch, toy_results).arch == arch
    assert record["meta"]["lr"] == pytest.approx(0.1), "batch 128 scales the fast recipe's 0.4 at 512 to 0.1"


@pytest.mark.slow
def test_lesion_deletes_each_same_shape_block(toy_results: Path) -> None:
    result = _read(toy_results, "lesion")
    for run in result["runs"].values():
        assert len(run["single"]) == len(run["blocks"]) == 7  # 9 blocks, 2 of them downsample
        assert set(run["multiple"]) == {str(k) for k in range(2, 8)}
    assert result["meta"]["networks"] == "results/pretrained.json"


@pytest.mark.slow
def test_landscape_grids_have_the_asked_size(toy_results: Path) -> None:
    result = _read(toy_results, "landscape")
    for run in result["runs"].values():
        assert run["1d"]["alpha"] == [-1.0, -0.5, 0.0, 0.5, 1.0]
        assert len(run["2d"]["loss"]) == 3 and all(len(row) == 3 for row in run["2d"]["loss"])


@pytest.mark.slow
def test_gestures_compare_three_strategies(toy_results: Path) -> None:
    result = _read(toy_results, "gestures")
    runs = result["runs"]
    assert set(runs) == {"scratch", "finetune", "features"}
    assert runs["features"]["trainable_parameters"] == 64 * 6 + 6  # only the new 6-way head
    assert runs["scratch"]["trainable_parameters"] == runs["finetune"]["trainable_parameters"]
    for run in runs.values():
        matrix = run["confusion_matrix"]
        assert sum(map(sum, matrix)) == result["meta"]["test_images"]
        assert len(run["per_class_accuracy"]) == 6


def test_table6_trains_the_papers_depths() -> None:
    assert EXPERIMENTS["table6"].models == ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110")
    assert set(EXPERIMENTS["table6"].models) <= set(PAPER_TABLE6)
    assert PAPER_TABLE6["resnet20"]["error"] == 8.75


def test_a_result_without_metadata_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no meta block"):
        write_result("x", {"runs": {}}, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_unknown_experiment_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["experiment", "lesions"])
    assert "invalid choice" in capsys.readouterr().err
