"""The reference experiments of chapter 7 run end to end through the command line, at toy size.

One module-scoped chain: a tiny zoo (ResNet-20 and plain-20, 2 epochs on 96 images) writes
``zoo/`` into a temporary results folder; ``lesion`` and ``landscape`` read the zoo's
finished networks from it and skip the unfinished ones (ResNet-56, plain-56), exactly as the
full runs read ``results/``. Each result must carry the metadata the book prints.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from resnet_course.cli import main
from resnet_course.experiments.results import describe_meta, write_result
from resnet_course.experiments.zoo import ZOO_RECIPE, run_zoo

RUN_META = {"device", "torch", "commit", "date", "data_variant", "seed", "precision", "wall_time_s", "experiment"}


@pytest.fixture(scope="module")
def toy_results(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    folder = tmp_path_factory.mktemp("results")
    common = ["--device", "cpu", "--data-root", str(data_root), "--results-dir", str(folder)]
    tiny = ZOO_RECIPE.with_changes(epochs=2, batch_size=32, warmup_epochs=1.0)
    run_zoo(["resnet20", "plain20"], recipe=tiny, subset=96, test_subset=40, device="cpu", data_root=data_root,
            results_dir=folder, runs_dir=folder / "runs", progress=False)
    assert main(["experiment", "lesion", "--test-subset", "200", *common]) == 0
    assert main(["experiment", "landscape", "--points", "3", "--subset", "100", *common]) == 0
    return folder


def _read(folder: Path, name: str) -> dict:
    result = json.loads((folder / f"{name}.json").read_text())
    assert RUN_META <= set(result["meta"]), f"{name}: missing {RUN_META - set(result['meta'])}"
    assert "Reference run:" in describe_meta(result["meta"])
    return result


@pytest.mark.slow
def test_lesion_deletes_each_same_shape_block(toy_results: Path) -> None:
    result = _read(toy_results, "lesion")
    for run in result["runs"].values():
        assert len(run["single"]) == len(run["blocks"]) == 7  # 9 blocks, 2 of them downsample
        assert set(run["multiple"]) == {str(k) for k in range(2, 8)}
    assert set(result["runs"]) == set(result["meta"]["networks"]) == {"resnet20", "plain20"}
    assert result["meta"]["skipped"] == ["resnet56", "plain56"]  # not in this zoo: read what exists
    assert result["meta"]["networks"]["plain20"]["result"] == "results/zoo/plain20.json"


@pytest.mark.slow
def test_landscape_grids_have_the_asked_size(toy_results: Path) -> None:
    result = _read(toy_results, "landscape")
    for run in result["runs"].values():
        assert run["1d"]["alpha"] == [-1.0, -0.5, 0.0, 0.5, 1.0]
        assert len(run["2d"]["loss"]) == 3 and all(len(row) == 3 for row in run["2d"]["loss"])
    assert set(result["runs"]) == {"resnet20", "plain20"} and result["meta"]["skipped"] == ["resnet56", "plain56"]
    assert result["meta"]["points_2d"] == 3 and result["meta"]["train_images"] == 100


@pytest.mark.slow
@pytest.mark.parametrize("study", ["lesion", "landscape"])
def test_a_named_network_that_is_not_finished_is_a_one_line_error(
    toy_results: Path, data_root: Path, study: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unnamed, an unfinished network is skipped with a note; named with --only, it is an error, and nothing is
    written."""
    before = (toy_results / f"{study}.json").read_bytes()
    code = main(["experiment", study, "--only", "resnet20", "resnet56", "--overwrite", "--device", "cpu",
                 "--data-root", str(data_root), "--results-dir", str(toy_results)])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1
    assert "resnet56" in err and "experiment zoo --only resnet56" in err
    assert (toy_results / f"{study}.json").read_bytes() == before


@pytest.mark.slow
def test_extend_adds_the_network_a_study_lacks_and_keeps_the_others(toy_results: Path, data_root: Path,
                                                                       tmp_path: Path) -> None:
    """A network that joins the zoo later is added to lesion.json with --extend; the others are not measured again."""
    shutil.copytree(toy_results / "zoo", tmp_path / "zoo")
    full = _read(toy_results, "lesion")
    partial = json.loads(json.dumps(full))
    for table in (partial["runs"], partial["meta"]["networks"], partial["meta"].get("made", {})):
        table.pop("plain20", None)
    (tmp_path / "lesion.json").write_text(json.dumps(partial))
    assert main(["experiment", "lesion", "--extend", "--test-subset", "200", "--device", "cpu",
                 "--data-root", str(data_root), "--results-dir", str(tmp_path)]) == 0
    extended = _read(tmp_path, "lesion")
    assert list(extended["runs"]) == ["resnet20", "plain20"]
    assert extended["runs"]["resnet20"] == full["runs"]["resnet20"]  # kept, not measured again
    assert extended["meta"]["made"]["resnet20"] == full["meta"]["made"]["resnet20"]
    assert extended["runs"]["plain20"]["baseline"] == full["runs"]["plain20"]["baseline"]  # the same network


def test_a_study_with_no_finished_network_at_all_is_an_error(tmp_path: Path) -> None:
    from resnet_course.experiments.lesion import choose_networks

    with pytest.raises(FileNotFoundError, match="none of resnet20, plain20, resnet56, plain56 is a finished zoo"):
        choose_networks(None, tmp_path)


def test_a_result_without_metadata_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no meta block"):
        write_result("x", {"runs": {}}, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_unknown_experiment_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["experiment", "lesions"])
    assert "invalid choice" in capsys.readouterr().err
