"""The prepared GPU session script, rehearsed on the CPU at a tiny size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import REPO_ROOT


@pytest.mark.slow
def test_gpu_session_runs_every_step_and_packs_results_with_metadata(data_root: Path, tmp_path: Path) -> None:
    env = {**os.environ, "SIZE": "tiny", "OUT": str(tmp_path), "RESNET_COURSE_DATA": str(data_root),
           "PYTHON": os.environ.get("PYTHON", sys.executable)}
    done = subprocess.run(["bash", str(REPO_ROOT / "benchmarks" / "gpu_session.sh")], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=1800)
    log = (tmp_path / "gpu_session.log").read_text()
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:] + log[-3000:]
    for step in ("data", "tta-resnet18", "tta-resnet20", "throughput"):
        assert f"=== {step}: exit 0" in log, log[-3000:]
    with tarfile.open(tmp_path / "gpu_session.tar.gz") as archive:
        names = set(archive.getnames())
        expected = {"results/time_to_accuracy_resnet18_cifar.json", "results/time_to_accuracy_resnet20.json",
                    "results/throughput_resnet20.json"} | {f"results/zoo/{n}.json" for n in
                                                          ("resnet20", "plain20", "resnet56", "plain56")}
        assert expected <= names, sorted(names)
        assert not any(name.endswith(".pt") for name in names)
        for name in expected:
            meta = json.load(archive.extractfile(name))["meta"]
            assert meta["device"] and meta["date"] and meta["commit"]
