"""Quick vs full mode is read from the environment, in one place."""

from __future__ import annotations

import pytest

from resnet_course.budget import ENV_VAR, FULL, QUICK, current_budget


def test_env_var_selects_quick_or_full():
    assert current_budget({ENV_VAR: "1"}, cuda_available=True).mode == "quick"
    assert current_budget({ENV_VAR: "0"}, cuda_available=False).mode == "full"


def test_default_is_full_on_cuda_and_quick_elsewhere():
    assert current_budget({}, cuda_available=True).mode == "full"
    cpu = current_budget({}, cuda_available=False)
    assert cpu.quick and "no CUDA GPU" in cpu.describe()


def test_bad_value_is_refused():
    with pytest.raises(ValueError, match=ENV_VAR):
        current_budget({ENV_VAR: "maybe"})


def test_quick_budget_is_smaller_and_says_what_full_would_do():
    assert QUICK.train_subset < 50_000 and QUICK.epochs < FULL.epochs
    assert FULL.train_subset is None
    text = current_budget({ENV_VAR: "1"}).describe()
    assert "Quick mode" in text and str(FULL.epochs) in text and f"{ENV_VAR}=0" in text
