"""The setup cell every chapter opens with, and the run-time estimate the chapters print."""

from __future__ import annotations

import subprocess

import pytest
import torch

import resnet_course
from resnet_course.lessons import chapter
from resnet_course.lessons.chapter import PACKAGE_URL, SETUP_CELL, estimate_minutes


def test_the_setup_cell_installs_nothing_where_the_package_is_importable(monkeypatch, capsys) -> None:
    def no_install(*args, **kwargs):
        raise AssertionError(f"the setup cell ran pip although resnet_course is importable: {args}")

    monkeypatch.setattr(subprocess, "run", no_install)
    namespace: dict = {}
    exec(SETUP_CELL, namespace)
    budget, device = namespace["budget"], namespace["device"]
    out = capsys.readouterr().out
    assert f"resnet_course {resnet_course.__version__}" in out and "device:" in out and budget.describe() in out
    assert isinstance(device, torch.device)


def test_the_setup_cell_installs_the_books_version_where_the_package_is_missing(monkeypatch) -> None:
    import importlib.util

    calls = []
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(subprocess, "run", lambda command, check: calls.append(command))
    exec(SETUP_CELL, {})
    assert calls and calls[0][-1] == PACKAGE_URL and f"@v{resnet_course.__version__}" in PACKAGE_URL
    assert "torch" not in " ".join(calls[0])  # the reader's PyTorch stays


def test_on_colab_without_a_gpu_the_device_line_says_how_to_get_one(monkeypatch) -> None:
    monkeypatch.setattr(chapter, "on_colab", lambda: True)
    assert "Change runtime type" in chapter.describe_device(torch.device("cpu"))
    monkeypatch.setattr(chapter, "on_colab", lambda: False)
    assert "Change runtime type" not in chapter.describe_device(torch.device("cpu"))


def test_the_device_line_counts_threads_in_words(monkeypatch) -> None:
    monkeypatch.setattr(chapter, "on_colab", lambda: False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert chapter.describe_device(torch.device("cpu")) == "device: CPU (1 thread), no GPU"
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert chapter.describe_device(torch.device("cpu")) == "device: CPU (2 threads), no GPU"


def test_the_estimate_scales_measured_steps_to_the_run(monkeypatch) -> None:
    measured = {"plain20": 0.5, "plain56": 1.5}  # seconds per step
    monkeypatch.setattr(chapter, "_seconds_per_step", lambda name, *args: measured[name])
    minutes = estimate_minutes({"plain20": 10, "plain56": 10}, images=50_000, batch_size=128, device="cpu")
    assert minutes == pytest.approx((0.5 + 1.5) * 391 * 10 / 60)
    assert estimate_minutes({"plain20": 20}, images=50_000, batch_size=128, device="cpu") == pytest.approx(
        2 * estimate_minutes({"plain20": 10}, images=50_000, batch_size=128, device="cpu"))


def test_a_measured_step_is_a_positive_number_of_seconds() -> None:
    """Measured, not compared: how long steps take depends on the machine and its load (speed lives in benchmarks/)."""
    for batch_size, image_size in ((2, 8), (16, 32)):
        seconds = chapter._seconds_per_step("resnet8", batch_size, image_size, torch.device("cpu"), 1)
        assert isinstance(seconds, float) and 0 < seconds < float("inf")
