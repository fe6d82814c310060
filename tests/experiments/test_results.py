"""Reference results: every file in results/ parses and says how it was produced."""

from __future__ import annotations

import errno
import json
import re
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from resnet_course.experiments.results import describe_meta, describe_shared_meta, load_result, write_result

RESULT_FILES = sorted([*(REPO_ROOT / "results").glob("*.json"), *(REPO_ROOT / "results" / "zoo").glob("*.json")])
ZOO_FILES = sorted((REPO_ROOT / "results" / "zoo").glob("*.json"))
REQUIRED_META = {"device", "torch", "commit", "date", "data_variant"}
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb")) + sorted((REPO_ROOT / "book").glob("*.ipynb"))
# How the chapters read results/: load_result("name"), or a path (the zoo: load_zoo, create_model(weights=...)).
READS = (
    (re.compile(r"load_result\(\s*[\"']([\w-]+)[\"']"), "{}.json"),
    (re.compile(r"results/([\w.-]+\.(?:json|pt))"), "{}"),
)


def _code(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def files_read_by_notebooks() -> dict[str, list[str]]:
    """results/ file name -> the notebooks whose code reads it."""
    found: dict[str, list[str]] = {}
    for notebook in NOTEBOOKS:
        code = _code(notebook)
        names = {template.format(m) for pattern, template in READS for m in pattern.findall(code)}
        for name in names:
            found.setdefault(name, []).append(notebook.name)
    return found


def test_the_chapters_read_reference_results_and_the_zoo() -> None:
    assert files_read_by_notebooks(), "no chapter reads a file of results/"
    assert any("load_zoo(" in _code(notebook) for notebook in NOTEBOOKS), "no chapter reads the zoo"


@pytest.mark.parametrize("name", sorted(files_read_by_notebooks()))
def test_every_result_a_notebook_reads_exists_with_metadata(name: str) -> None:
    path = REPO_ROOT / "results" / name
    readers = ", ".join(files_read_by_notebooks()[name])
    assert path.is_file(), f"{readers} read(s) results/{name}, which does not exist"
    if path.suffix == ".json":
        meta = json.loads(path.read_text())["meta"]
        assert REQUIRED_META <= set(meta), f"results/{name} (read by {readers}) lacks {REQUIRED_META - set(meta)}"


def test_there_are_results() -> None:
    assert RESULT_FILES, "results/ holds no reference results"


@pytest.mark.parametrize("path", RESULT_FILES, ids=lambda p: p.relative_to(REPO_ROOT / "results").as_posix())
def test_result_file_has_complete_metadata(path: Path) -> None:
    result = json.loads(path.read_text())
    meta = result["meta"]
    assert REQUIRED_META <= set(meta), f"{path.name} lacks {REQUIRED_META - set(meta)}"
    if "experiment" in meta:  # the reference runs of resnet-course experiment: how, how long, how much
        assert {"wall_time_s", "seed", "precision"} <= set(meta), f"{path.name}: incomplete run metadata"
    assert meta["commit"] != "unknown" and "+dirty" not in meta["commit"], "results must come from committed code"
    if "CIFAR-10" in meta["data_variant"] and "JPEG" not in meta["data_variant"]:
        assert "official" in meta["data_variant"]


@pytest.mark.parametrize("path", ZOO_FILES, ids=lambda p: p.stem)
def test_a_zoo_network_holds_every_epoch_and_its_finals(path: Path) -> None:
    result = json.loads(path.read_text())
    epochs = result["meta"]["epochs"]
    for curve in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time"):
        assert len(result["history"][curve]) == epochs, f"{path.name}: {curve} has not {epochs} epochs"
    assert {"test_error", "test_error_flip_tta", "train_error_eval"} <= set(result["final"])
    assert "Reference run:" in describe_meta(result["meta"])


def test_describe_meta_reads_an_old_device_name_as_today() -> None:
    meta = {"device": "CPU x86_64 (1 threads)", "seed": 0}
    assert describe_meta(meta, keys=("device", "seed")) == "Reference run: device=CPU x86_64 (1 thread); seed=0"
    assert meta["device"] == "CPU x86_64 (1 threads)"  # the stored metadata itself is left as it was


def test_describe_shared_meta_gives_a_shared_value_once_and_a_differing_one_with_its_runs() -> None:
    metas = {"ResNet-20": {"seed": 0, "device": "CPU x86_64 (2 threads)"},
             "plain-20": {"seed": 0, "device": "CPU x86_64 (1 threads)"},
             "ResNet-56": {"seed": 0, "device": "CPU x86_64 (1 threads)"}}
    assert describe_shared_meta(metas, keys=("seed", "device")) == (
        "Reference runs (3): seed=0; device=CPU x86_64 (2 threads) for ResNet-20, "
        "CPU x86_64 (1 thread) for the other 2")
    same_device = {label: {**meta, "device": "NVIDIA H200"} for label, meta in metas.items()}
    assert describe_shared_meta(same_device, keys=("device",)) == "Reference runs (3): device=NVIDIA H200"


def test_describe_shared_meta_names_every_run_when_no_value_is_the_most_common() -> None:
    metas = {"ResNet-20": {"wall_time_s": 10.0}, "plain-20": {"wall_time_s": 12.0}, "ResNet-56": {"seed": 0}}
    assert describe_shared_meta(metas, keys=("wall_time_s", "epochs")) == (
        "Reference runs (3): wall_time_s=10.0 for ResNet-20, 12.0 for plain-20 (not recorded for 1)")
    with pytest.raises(ValueError, match="no runs"):
        describe_shared_meta({})


def test_missing_result_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="resnet-course experiment lesion"):
        load_result("lesion", tmp_path)
    # a benchmark's result names its script, not an experiment that does not exist
    with pytest.raises(FileNotFoundError, match="benchmarks/time_to_accuracy.py"):
        load_result("time_to_accuracy_cpu_resnet20", tmp_path)
    with pytest.raises(FileNotFoundError, match="benchmarks/throughput.py"):
        load_result("throughput_cpu_resnet20", tmp_path)


# ----------------------------------------------------------------------------------------
# Hardening (issue 13, beyond its list): damaged result files and faults while writing them
# ----------------------------------------------------------------------------------------


def test_a_truncated_result_names_the_file_and_a_fix_that_works(tmp_path: Path) -> None:
    """Its hint was 'run ... again', which reads the damaged file again (the zoo skips finished networks)."""
    path = write_result("lesion", {"meta": {"epochs": 2}, "runs": {"resnet20": [0.1] * 50}}, tmp_path)
    path.write_text(path.read_text()[:40])  # a copy cut off mid-write
    with pytest.raises(ValueError) as info:
        load_result("lesion", tmp_path)
    message = str(info.value)
    assert "\n" not in message and f"the reference result {path} is damaged" in message
    assert "restore it from git, or delete it and run 'resnet-course experiment lesion' again" in message


def test_a_full_disk_while_a_result_is_written_keeps_the_old_one(tmp_path: Path, full_disk) -> None:
    path = write_result("lesion", {"meta": {"epochs": 1}}, tmp_path)
    before = path.read_bytes()
    full_disk("lesion.json", room=10)
    with pytest.raises(OSError) as info:
        write_result("lesion", {"meta": {"epochs": 2}, "runs": {}}, tmp_path)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["lesion.json"]
