"""The README's result tables say exactly what the result files say."""

from __future__ import annotations

import pytest

from conftest import REPO_ROOT
from resnet_course.experiments.report import MARKER, render_readme


def test_readme_tables_match_the_result_files() -> None:
    text = (REPO_ROOT / "README.md").read_text()
    assert {m.group("name") for m in MARKER.finditer(text)} >= {"zoo", "speed_cpu", "time_to_accuracy"}
    assert render_readme(text) == text, "README.md is stale: run python benchmarks/readme_tables.py --write"


def test_a_stale_or_unknown_table_is_caught() -> None:
    stale = "<!-- table: speed_cpu -->\n| made up | 1 |\n<!-- end table -->\n"
    assert render_readme(stale) != stale
    with pytest.raises(ValueError, match="unknown table 'nonsense'"):
        render_readme("<!-- table: nonsense -->\n<!-- end table -->\n")


def test_the_time_to_accuracy_table_adds_a_stored_benchmark_run(tmp_path) -> None:
    import json

    from resnet_course.experiments.report import time_to_accuracy_table

    cumulative = [60.0, 130.0, 180.0]
    stored = {"meta": {"device": "CPU x86_64 (2 threads)", "commit": "c", "date": "d", "torch": "t",
                       "data_variant": "CIFAR-10 (JPEG copy)"},
              "result": {"model": "resnet20", "recipe": "fast", "batch_size": 128, "max_epochs": 60, "epochs": 3,
                         "val_acc": [0.5, 0.86, 0.905], "train_seconds_cumulative": cumulative,
                         "fit_settings": {"tta_flip": True}}}
    (tmp_path / "time_to_accuracy_cpu_resnet20.json").write_text(json.dumps(stored))
    table = time_to_accuracy_table(tmp_path)  # no zoo here: the benchmark's row alone
    assert table.splitlines()[2] == ("| ResNet-20 | fast recipe at batch 128, flip TTA, 60-epoch schedule | "
                                     "CPU x86_64 (2 threads) | 60 s | epoch 2, 2 min | epoch 3, 3 min |")
    assert len(table.splitlines()) == 3
