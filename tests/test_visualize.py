"""Tests for iqa_keras.visualize: quality-map overlays and the evaluation scatter plot."""

import os
import warnings

import numpy as np
import pytest
from PIL import Image
from scipy import stats

from iqa_keras import evaluation, visualize
from iqa_keras.visualize import POOR_TO_GOOD_COLORS, heat_overlay, quality_colors, save_overlay, scatter_plot

POOR, MIDDLE, GOOD = POOR_TO_GOOD_COLORS[0], POOR_TO_GOOD_COLORS[4], POOR_TO_GOOD_COLORS[-1]


@pytest.fixture
def image():
    """A 6x8 RGB image of whole numbers, so that a blend with alpha=0 is exact."""
    return np.random.default_rng(0).integers(0, 256, (6, 8, 3)).astype(np.float32)


@pytest.fixture
def quality_map():
    """Increasing quality from top left to bottom right; the worst at (0, 0)."""
    return np.arange(48, dtype=np.float32).reshape(6, 8) / 10.0 + 1.0


def _pairs(n):
    predictions = np.linspace(0.0, 1.0, n)
    mos = 1.0 + 4.0 / (1.0 + np.exp(-8.0 * (predictions - 0.5))) + np.sin(7.0 * predictions) * 0.2
    return predictions, mos


def _has_color(picture, color):
    return bool(np.any(np.all(np.asarray(picture) == np.asarray(color, np.uint8), axis=-1)))


# --------------------------------------------------------------------------------------
# Overlays.


def test_overlay_shape_and_dtype(image, quality_map):
    overlay = heat_overlay(image, quality_map)
    assert overlay.shape == (6, 8, 3)
    assert overlay.dtype == np.uint8


def test_alpha_zero_gives_the_image(image, quality_map):
    np.testing.assert_array_equal(heat_overlay(image, quality_map, alpha=0.0), image)


def test_alpha_one_gives_the_colormap(image, quality_map):
    overlay = heat_overlay(image, quality_map, alpha=1.0)
    np.testing.assert_array_equal(overlay, quality_colors(quality_map))
    np.testing.assert_array_equal(overlay, heat_overlay(np.zeros_like(image), quality_map, alpha=1.0))


def test_half_alpha_is_the_mean_of_image_and_colors(image, quality_map):
    expected = (image + quality_colors(quality_map)) / 2.0
    overlay = heat_overlay(image, quality_map, alpha=0.5).astype(np.float64)
    assert np.max(np.abs(overlay - expected)) <= 0.5


def test_worst_position_is_warm_and_best_is_cool(image, quality_map):
    quality_map = quality_map.copy()
    quality_map[3, 5], quality_map[2, 1] = -7.0, 99.0
    colors = heat_overlay(image, quality_map, alpha=1.0)
    np.testing.assert_array_equal(colors[3, 5], POOR)
    np.testing.assert_array_equal(colors[2, 1], GOOD)
    assert POOR[0] > POOR[2] and GOOD[2] > GOOD[0]  # red over blue, blue over red


def test_colors_follow_the_ramp_in_order():
    colors = quality_colors(np.linspace(0.0, 1.0, len(POOR_TO_GOOD_COLORS))[None, :])
    np.testing.assert_array_equal(colors[0], POOR_TO_GOOD_COLORS)


def test_map_with_a_channel_axis_is_accepted(image, quality_map):
    np.testing.assert_array_equal(
        heat_overlay(image, quality_map[..., None]), heat_overlay(image, quality_map)
    )


def test_constant_map_is_drawn_in_the_middle_color(image):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division-by-zero RuntimeWarning
        colors = quality_colors(np.full((6, 8), 3.5))
        overlay = heat_overlay(image, np.full((6, 8), 3.5), alpha=1.0)
    assert np.all(colors == MIDDLE)
    np.testing.assert_array_equal(overlay, colors)


def test_value_range_is_respected_and_clips():
    values = np.array([[2.0, 3.0, 4.0, 9.0, -1.0]])
    colors = quality_colors(values, value_range=(2.0, 4.0))
    np.testing.assert_array_equal(colors[0, :3], [POOR, MIDDLE, GOOD])
    np.testing.assert_array_equal(colors[0, 3:], [GOOD, POOR])
    # The same relative map gives the same colours per image, different ones in one range.
    np.testing.assert_array_equal(quality_colors(values[:, :3]), quality_colors(values[:, :3] * 10))
    assert not np.array_equal(
        quality_colors(values[:, :3], (0.0, 40.0)), quality_colors(values[:, :3] * 10, (0.0, 40.0))
    )


@pytest.mark.parametrize("value_range", [(1.0, 1.0), (2.0, 1.0), (0.0, float("nan")), (1.0,), "ab"])
def test_bad_value_range_is_refused(quality_map, value_range):
    with pytest.raises(ValueError, match="value_range="):
        quality_colors(quality_map, value_range)


def test_size_mismatch_names_both_shapes(image):
    with pytest.raises(ValueError, match=r"image.shape=\(6, 8, 3\), quality_map.shape=\(6, 7\)"):
        heat_overlay(image, np.zeros((6, 7)))


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_alpha_out_of_range_is_refused(image, quality_map, alpha):
    with pytest.raises(ValueError, match="alpha="):
        heat_overlay(image, quality_map, alpha=alpha)


def test_bad_image_and_map_are_refused(image, quality_map):
    with pytest.raises(ValueError, match=r"image.shape=\(6, 8\)"):
        heat_overlay(image[..., 0], quality_map)
    with pytest.raises(ValueError, match=r"quality_map.shape=\(2, 6, 8\)"):
        heat_overlay(image, np.stack([quality_map, quality_map]))
    holed = quality_map.copy()
    holed[2, 3] = np.nan
    with pytest.raises(ValueError, match="`quality_map` must be finite. Received: 1 NaN"):
        heat_overlay(image, holed)
    with pytest.raises(ValueError, match="`image` must be finite"):
        heat_overlay(np.full_like(image, np.inf), quality_map)


def test_save_overlay_writes_image_and_legend(tmp_path):
    image = np.full((30, 200, 3), 100.0)
    quality_map = np.tile(np.linspace(0.0, 1.0, 200), (30, 1))
    path = tmp_path / "overlay.png"
    returned = save_overlay(path, image, quality_map, alpha=0.25)
    with Image.open(path) as saved:
        saved = np.asarray(saved.convert("RGB"))
    np.testing.assert_array_equal(saved, np.asarray(returned))
    assert saved.shape == (30 + 26, 200, 3)
    np.testing.assert_array_equal(saved[:30], heat_overlay(image, quality_map, alpha=0.25))
    np.testing.assert_array_equal(saved[32, 0], POOR)  # the colour bar under the image
    np.testing.assert_array_equal(saved[32, -1], GOOD)
    assert np.any(saved[40:].min(axis=-1) > 200)  # the range's labels, white on black
    assert os.listdir(tmp_path) == ["overlay.png"]  # no temporary file left


def test_save_overlay_widens_a_narrow_image_for_its_labels(tmp_path):
    picture = save_overlay(tmp_path / "small.png", np.zeros((8, 8, 3)), np.ones((8, 8)))
    assert picture.size[0] > 8 and picture.size[1] == 8 + 26
    assert np.all(np.asarray(picture)[8:18, :] == MIDDLE)  # constant map: a one-colour bar


# --------------------------------------------------------------------------------------
# Scatter plots.


def test_scatter_plot_has_the_requested_size():
    picture = scatter_plot(*_pairs(20), size=(320, 200), title="test set")
    assert picture.size == (320, 200)
    assert picture.mode == "RGB"
    assert _has_color(picture, visualize._DOT_COLOR)


def test_scatter_plot_is_saved_as_png(tmp_path):
    path = tmp_path / "scatter.png"
    returned = scatter_plot(*_pairs(20), path=path)
    with Image.open(path) as saved:
        assert saved.format == "PNG"
        np.testing.assert_array_equal(np.asarray(saved.convert("RGB")), np.asarray(returned))
    assert os.listdir(tmp_path) == ["scatter.png"]


def test_curve_is_drawn_when_fitted():
    assert _has_color(scatter_plot(*_pairs(5)), visualize._CURVE_COLOR)


def test_no_curve_with_fewer_than_five_pairs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the missing fit is said in the picture, not warned
        picture = scatter_plot(*_pairs(4))
    assert _has_color(picture, visualize._DOT_COLOR)
    assert not _has_color(picture, visualize._CURVE_COLOR)


def test_a_given_mapping_is_drawn_even_for_few_pairs():
    mapping = evaluation.LogisticMapping(0.0, 0.0, 0.0, 2.0, 1.0, kind="linear")
    assert _has_color(scatter_plot(*_pairs(3), mapping=mapping), visualize._CURVE_COLOR)


def test_curve_follows_the_mapping():
    """A falling line is drawn high on the left and low on the right of the plot."""
    mapping = evaluation.LogisticMapping(0.0, 0.0, 0.0, -4.0, 5.0, kind="linear")
    curve = np.all(np.asarray(scatter_plot(*_pairs(3), mapping=mapping)) == visualize._CURVE_COLOR, axis=-1)
    rows, columns = np.nonzero(curve)
    left, right = rows[columns == columns.min()].mean(), rows[columns == columns.max()].mean()
    assert left < right - 100  # image rows grow downwards


def test_constant_predictions_warn_and_still_draw():
    with pytest.warns(stats.ConstantInputWarning):
        picture = scatter_plot(np.full(6, 0.3), np.arange(6.0))
    assert picture.size == (640, 480)


def test_scatter_plot_refuses_bad_input():
    with pytest.raises(ValueError, match=r"len\(predictions\)=3, len\(mos\)=4"):
        scatter_plot([1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="`mos` must be finite. Received: 1 NaN"):
        scatter_plot([1.0, 2.0, 3.0], [1.0, np.nan, 3.0])
    with pytest.raises(ValueError, match="`mapping` gave non-finite values"):
        scatter_plot(*_pairs(3), mapping=lambda x: np.full_like(x, np.inf))


@pytest.mark.parametrize("size", [(100, 480), (640, 50), (640.0, 480), (640,), "640x480"])
def test_scatter_plot_refuses_bad_size(size):
    with pytest.raises(ValueError, match="size="):
        scatter_plot(*_pairs(6), size=size)
