"""The gestures experiment end to end through its command, at toy size (resnet_course.experiments.gestures).

``python -m resnet_course experiment gestures`` with two sizes, two seeds, two steps per run
and 16-pixel crops, into a temporary results folder. The result must hold an honest split
(no session on both sides, the same one a fresh split of the pooled data gives), per-class
subsets of the asked size, the same number of steps for every strategy at a size, learning
rates chosen from the grids on validation sessions, the leakage comparison, one clean line
on the ImageNet route, and the metadata the chapter prints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from resnet_course.data import ImageSet, load_hands, session_split
from resnet_course.lessons.transfer import LR_GRIDS, STRATEGIES

REPO_ROOT = Path(__file__).resolve().parents[2]


def _command(*args: str, data_root: Path, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TORCH_HOME": str(home), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "resnet_course", "experiment", "gestures", "--device", "cpu",
                           "--data-root", str(data_root), *args], capture_output=True, text=True, env=env,
                          cwd=REPO_ROOT, timeout=900)


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> tuple[dict, str]:
    folder = tmp_path_factory.mktemp("results")
    home = tmp_path_factory.mktemp("torch_home")  # an empty torch cache: the ImageNet route is skipped
    done = _command("--sizes", "2", "all", "--seeds", "2", "--steps", "2", "--image-size", "16", "--no-progress",
                    "--results-dir", str(folder), data_root=data_root, home=home)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == f"wrote {folder / 'gestures.json'}"
    return json.loads((folder / "gestures.json").read_text()), str(home)


@pytest.mark.slow
def test_the_split_is_by_session_and_deterministic(toy, data_root, tmp_path) -> None:
    result, _ = toy
    split = result["split"]
    assert set(split["train_sessions"]).isdisjoint(split["test_sessions"])
    assert set(split["fit_sessions"]).isdisjoint(split["validation_sessions"])
    assert set(split["fit_sessions"]) | set(split["validation_sessions"]) == set(split["train_sessions"])
    assert len(split["own_split"]["shared_sessions"]) >= 10  # the dataset's own split leaks
    parts = [load_hands(s, data_root, size=16, cache_dir=tmp_path) for s in ("train", "test")]
    pool = ImageSet.concatenate(parts, "all")
    again = session_split(pool.sources, pool.labels.tolist(), pool.classes, verbose=False)
    assert again.test_sessions == split["test_sessions"] and again.test_counts == split["test_counts"]
    assert sum(split["train_counts"]) == result["meta"]["train_images"]
    assert sum(split["test_counts"]) == result["meta"]["test_images"]


@pytest.mark.slow
def test_every_point_of_the_curves(toy) -> None:
    result, _ = toy
    points, meta = result["points"], result["meta"]
    assert len(points) == 2 * 2 * len(STRATEGIES)  # seeds x sizes x strategies
    assert {(p["strategy"], p["per_class"], p["seed"]) for p in points} == {
        (s, size, seed) for s in STRATEGIES for size in (2, None) for seed in (0, 1)}
    steps = defaultdict(set)
    for p in points:
        steps[p["per_class"]].add(p["steps"])
        assert p["lr"] == meta["learning_rates"]["resnet20"][p["strategy"]]
        assert p["train_images"] == (12 if p["per_class"] == 2 else meta["train_images"])
        assert sum(map(sum, p["confusion_matrix"])) == meta["test_images"]
        assert 0 <= p["test_accuracy"] <= 1 and 0 <= p["train_accuracy"] <= 1
    assert all(s == {2} for s in steps.values())  # the same steps for every strategy (here: --steps 2)


@pytest.mark.slow
def test_learning_rates_are_tuned_on_validation_sessions(toy) -> None:
    result, _ = toy
    for strategy, tuned in result["tuning"]["resnet20"].items():
        assert set(LR_GRIDS[strategy]) <= set(tuned["grid"]) and tuned["chosen"] in tuned["grid"]
        assert len(tuned["grid"]) == len(LR_GRIDS[strategy]) + len(tuned["extended"]) <= len(LR_GRIDS[strategy]) + 2
        assert all(len(scores) == 2 for scores in tuned["val_accuracy"].values())  # two tuning seeds
        means = {float(lr): sum(v) / len(v) for lr, v in tuned["val_accuracy"].items()}
        assert means[tuned["chosen"]] == max(means.values())
    assert result["meta"]["validation_images"] == sum(result["split"]["validation_counts"])


@pytest.mark.slow
def test_leakage_and_imagenet_are_recorded(toy) -> None:
    result, home = toy
    leaky = result["leakage"]["own_split"]
    assert {(p["strategy"], p["seed"]) for p in leaky} == {(s, seed) for s in STRATEGIES for seed in (0, 1)}
    own = result["split"]["own_split"]
    assert all(p["train_images"] == own["train_images"] and p["per_class"] is None for p in leaky)
    assert all(sum(map(sum, p["confusion_matrix"])) == own["test_images"] for p in leaky)
    imagenet = result["meta"]["imagenet"]
    assert imagenet["ran"] is False and imagenet["status"].startswith("ImageNet route skipped:")
    assert home not in imagenet["status"] and "\n" not in imagenet["status"]


@pytest.mark.slow
def test_the_metadata_says_how_it_was_made(toy) -> None:
    meta = toy[0]["meta"]
    for key in ("device", "torch", "commit", "date", "data_variant", "image_size", "sizes", "seeds", "steps",
                "steps_by_size", "batch_size", "learning_rates", "lr_grids", "precision", "wall_time_s", "sources"):
        assert key in meta, key
    assert meta["sizes"] == ["2", "all"] and meta["seeds"] == [0, 1] and meta["sources"] == ["resnet20"]
    assert meta["steps_by_size"] == {"2": 2, "all": 2} and "16×16" in meta["data_variant"]


def test_epochs_are_refused_with_one_line(data_root, tmp_path) -> None:
    done = _command("--epochs", "3", "--results-dir", str(tmp_path), data_root=data_root, home=tmp_path)
    assert done.returncode != 0 and "does not take --epochs" in done.stderr and "--steps" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "gestures.json").exists()


def test_a_source_without_weights_is_refused(data_root, tmp_path) -> None:
    done = _command("--sources", "resnet32", "--sizes", "2", "--seeds", "1", "--steps", "1", "--image-size", "16",
                    "--no-progress", "--results-dir", str(tmp_path), data_root=data_root, home=tmp_path)
    assert done.returncode != 0 and "no weights 'cifar10' for resnet32" in done.stderr
    assert "Traceback" not in done.stderr
