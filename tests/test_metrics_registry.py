"""available() and get(): what code and the CLI learn about each metric."""

import dataclasses
import math

import numpy as np
import pytest

from iqa_keras import metrics


def test_available_lists_every_metric_in_a_stable_order():
    names = [info.name for info in metrics.available()]
    assert names == [
        "psnr", "ssim", "ms_ssim", "mse", "mae", "lmse", "nae", "max_difference", "structural_content",
    ]
    assert metrics.available() == metrics.available()


@pytest.mark.parametrize("info", metrics.available(), ids=lambda info: info.name)
def test_each_info_is_consistent(info):
    low, high = info.value_range
    assert low < high and low <= info.best_value <= high
    assert info.higher_is_better in (True, False, None) and info.description
    assert metrics.get(info.name) is info
    assert getattr(metrics, info.name) is info.function
    if info.higher_is_better is True:
        assert info.best_value == high
    elif info.higher_is_better is False:
        assert info.best_value == low


def test_infos_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        metrics.get("psnr").higher_is_better = False


def test_the_cli_call_returns_a_plain_float_for_a_numpy_pair(photo):
    # The CLI calls get(name).function(reference, distorted, data_range=255.0) and prints float(...).
    distorted = np.clip(photo + 3.0, 0, 255).astype(np.float32)
    for info in metrics.available():
        value = float(info.function(photo, distorted, data_range=255.0))
        assert math.isfinite(value), info.name
