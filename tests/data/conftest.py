"""Fixtures shared by the data tests."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every URL fetch fails as it does offline (torchvision's and ours use urlopen)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network is unreachable (test)")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
