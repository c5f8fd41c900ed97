"""Tests of KADID types 16-25 (brightness, spatial, sharpness) and the distortions API."""

import csv
import importlib.resources

import numpy as np
import pytest

from iqa_keras.data import distortions
from iqa_keras.data.distortions import brightness, sharpness, spatial
from iqa_keras.data.distortions._validate import check_image, check_level

FUNCTIONS = {
    "brighten": brightness.brighten,
    "darken": brightness.darken,
    "mean_shift": brightness.mean_shift,
    "jitter": spatial.jitter,
    "non_eccentricity_patch": spatial.non_eccentricity_patch,
    "pixelate": spatial.pixelate,
    "quantization": spatial.quantization,
    "color_block": spatial.color_block,
    "high_sharpen": sharpness.high_sharpen,
    "contrast_change": sharpness.contrast_change,
}
RANDOM = ("jitter", "non_eccentricity_patch", "color_block")
MONOTONE = tuple(name for name in FUNCTIONS if name not in ("mean_shift", "contrast_change"))
# The two types whose parameter is 0 at level 3, where they are least severe.
V_SHAPED = ("mean_shift", "contrast_change")
# For the deterministic types, which ignore it.
RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def unit_photos(photos):
    return [photo / 255.0 for photo in photos]


@pytest.fixture(scope="module")
def crop(unit_photos):
    return unit_photos[1][:64, :80]


@pytest.fixture(scope="module")
def kadid_table():
    table = importlib.resources.files("iqa_keras.data").joinpath(
        "kadid10k_type_level_mean_dmos.csv"
    )
    with table.open("r", encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def mse(a, b):
    return float(np.mean((a.astype(np.float64) - b) ** 2))


def errors_by_level(function, images):
    return [
        np.mean([mse(image, function(image, level, np.random.default_rng(5))) for image in images])
        for level in range(1, 6)
    ]


# --- the contract of every function -----------------------------------------------------


@pytest.mark.parametrize("name", FUNCTIONS)
def test_shape_dtype_range_at_every_level(name, crop):
    for level in range(1, 6):
        out = FUNCTIONS[name](crop, level, np.random.default_rng(0))
        assert out.shape == crop.shape
        assert out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("name", FUNCTIONS)
def test_same_seed_same_output(name, crop):
    first = FUNCTIONS[name](crop, 4, np.random.default_rng(3))
    second = FUNCTIONS[name](crop, 4, np.random.default_rng(3))
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", RANDOM)
def test_different_seeds_differ(name, crop):
    first = FUNCTIONS[name](crop, 4, np.random.default_rng(3))
    second = FUNCTIONS[name](crop, 4, np.random.default_rng(4))
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("level", [0, 6, 2.5, True, "3", None])
def test_invalid_level_raises(name, level, crop):
    with pytest.raises(ValueError, match="`level` must be an integer in 1..5"):
        FUNCTIONS[name](crop, level, np.random.default_rng(0))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_input_does_not_change(name, crop):
    before = crop.copy()
    FUNCTIONS[name](crop, 5, np.random.default_rng(0))
    np.testing.assert_array_equal(crop, before)


# --- severity on real photos --------------------------------------------------------------


@pytest.mark.parametrize("name", MONOTONE)
def test_error_grows_with_level(name, unit_photos):
    errors = errors_by_level(FUNCTIONS[name], unit_photos)
    assert errors[0] > 0.0
    assert all(low < high for low, high in zip(errors, errors[1:])), errors


@pytest.mark.parametrize("name", V_SHAPED)
def test_least_severe_at_level_three(name, unit_photos):
    errors = errors_by_level(FUNCTIONS[name], unit_photos)
    assert errors[2] == min(errors), errors
    assert errors[0] > errors[1] > errors[2] < errors[3] < errors[4], errors


def test_mean_shift_level_three_is_identity(crop):
    np.testing.assert_array_equal(brightness.mean_shift(crop, 3, RNG), crop)


# --- what each type does ------------------------------------------------------------------


def test_brighten_raises_and_darken_lowers_the_mean(crop):
    for level in range(1, 6):
        assert brightness.brighten(crop, level, RNG).mean() > crop.mean()
        assert brightness.darken(crop, level, RNG).mean() < crop.mean()


def test_tone_curve_passes_through_its_control_points():
    x = np.array([0.0, 0.3, 0.5, 0.7, 1.0], np.float32)
    amount = sharpness.CONTRAST_CHANGE_AMOUNTS[0]
    expected = [0.0, 0.25 - amount / 4, 0.5, 0.75 + amount / 4, 1.0]
    curved = sharpness.contrast_change(np.tile(x[None, :, None], (1, 1, 3)), 1, RNG)
    np.testing.assert_allclose(curved[0, :, 0], expected, atol=1e-6)


def test_darken_curve_is_a_parabola_through_mid_grey():
    # MATLAB's spline through three points is the parabola through them.
    x = np.linspace(0.6, 1.0, 5, dtype=np.float32)
    amount = brightness.DARKEN_AMOUNTS[4]
    mid = 0.5 - amount / 2
    slope = 4 * mid - 1  # y = b x + (1 - b) x^2 with y(0.5) = mid
    expected = np.clip(slope * x + (1 - slope) * x**2, 0, 1)
    got = brightness.darken(np.tile(x[None, :, None], (1, 1, 3)), 5, RNG)[0, :, 0]
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_non_eccentricity_keeps_the_border_and_rejects_small_images(crop):
    moved = spatial.non_eccentricity_patch(crop, 5, np.random.default_rng(0))
    assert not np.array_equal(moved, crop)
    # Patches start >= 16 px from the border and move by <= 8 px.
    np.testing.assert_array_equal(moved[:8], crop[:8])
    np.testing.assert_array_equal(moved[:, -8:], crop[:, -8:])
    with pytest.raises(ValueError, match=r"at least 48x48. Received: shape=\(40, 80, 3\)"):
        spatial.non_eccentricity_patch(crop[:40], 1, np.random.default_rng(0))


def test_pixelate_makes_blocks_of_the_expected_count(unit_photos):
    out = spatial.pixelate(unit_photos[0], 5, RNG)
    zoom = 0.95 - 0.5**0.6
    distinct_columns = len(np.unique(out[:, :, 0], axis=1).T)
    assert distinct_columns <= int(np.ceil(zoom * 256))
    assert distinct_columns > 0.8 * zoom * 256


def test_quantization_uses_threshold_count_plus_one_values(unit_photos):
    for level, count in enumerate(spatial.QUANTIZATION_THRESHOLD_COUNTS, start=1):
        assert len(np.unique(spatial.quantization(unit_photos[0], level, RNG))) == count + 1


@pytest.mark.parametrize("classes", [2, 3, 4])
def test_otsu_thresholds_match_scikit_image(classes, unit_photos):
    from skimage.filters import threshold_multiotsu

    gray = unit_photos[1].mean(axis=-1)
    ours = spatial.multilevel_otsu_thresholds(gray, classes - 1)
    theirs = threshold_multiotsu(gray, classes=classes, nbins=256)
    # Same criterion, exhaustive in both; the histograms' bins differ by < one bin.
    bin_width = (gray.max() - gray.min()) / 255
    np.testing.assert_allclose(ours, theirs, atol=1.5 * bin_width)


def test_otsu_threshold_count_is_validated():
    with pytest.raises(ValueError, match="`count` must be in 1..255. Received: count=0"):
        spatial.multilevel_otsu_thresholds(np.arange(10.0), 0)


def test_color_block_pastes_solid_blocks():
    image = np.zeros((128, 128, 3), np.float32)
    out = spatial.color_block(image, 1, np.random.default_rng(2))  # 2 blocks of 32x32
    changed = int(np.any(out != 0, axis=-1).sum())
    assert 1024 <= changed <= 2048
    assert len(np.unique(out.reshape(-1, 3), axis=0)) <= 3


def test_high_sharpen_overshoots_more_at_higher_levels():
    step = np.full((32, 32, 3), 0.3, np.float32)
    step[:, 16:] = 0.6
    overshoots = [sharpness.high_sharpen(step, level, RNG)[0, 16, 0] for level in range(1, 6)]
    assert overshoots[0] > 0.6
    assert all(low <= high for low, high in zip(overshoots, overshoots[1:]))


# --- shared validation --------------------------------------------------------------------


def test_check_level_and_check_image_messages():
    assert check_level(np.int64(2)) == 2
    with pytest.raises(ValueError, match=r"Received: level=7"):
        check_level(7)
    with pytest.raises(ValueError, match=r"Received: shape=\(4, 4, 4\)"):
        check_image(np.zeros((4, 4, 4)))
    with pytest.raises(ValueError, match=r"values in \[0, 1\].*max=255.0"):
        check_image(np.full((4, 4, 3), 255.0))
    assert check_image(np.zeros((2, 2, 3), np.float64)).dtype == np.float32


# --- the package API ----------------------------------------------------------------------


def test_table_matches_kadid(kadid_table):
    assert [d.id for d in distortions.DISTORTIONS] == list(range(1, 26))
    for distortion, row in zip(distortions.DISTORTIONS, kadid_table):
        assert int(row["type_id"]) == distortion.id
        assert row["name"].startswith(distortion.name)
        assert distortions.get_distortion(row["name"]) is distortion
        kadid_parameters = [float(row[f"param_L{level}"]) for level in range(1, 6)]
        np.testing.assert_allclose(distortion.parameters, kadid_parameters)


@pytest.mark.parametrize(
    "key, expected_id",
    [(10, 10), ("10", 10), ("09", 9), ("9", 9), ("jpeg", 10), ("JPEG", 10),
     ("color_saturation_2", 8), ("color_saturation_2_lab", 8), (np.int32(25), 25)],
)
def test_get_distortion_accepts_ids_and_names(key, expected_id):
    assert distortions.get_distortion(key).id == expected_id


@pytest.mark.parametrize("key", [0, 26, "26", "blurry", True, 2.0, None])
def test_get_distortion_rejects_unknown_types(key):
    with pytest.raises(ValueError, match="Expected an id 1..25 or one of: gaussian_blur, lens"):
        distortions.get_distortion(key)


def test_distort_normalises_like_kadis_and_is_seeded(crop):
    out = distortions.distort(crop, "jitter", 3, seed=11)
    assert out.dtype == np.float32 and out.shape == crop.shape
    assert out.min() == 0.0 and out.max() == 1.0  # mapmm on the output
    np.testing.assert_array_equal(out, distortions.distort(crop, 19, 3, seed=11))
    assert not np.array_equal(out, distortions.distort(crop, 19, 3, seed=12))
    # mapmm on the input: a mean shift of 0 on a dim image returns it stretched.
    dim = crop * 0.5 + 0.2
    stretched = (dim - dim.min()) / (dim.max() - dim.min())
    np.testing.assert_allclose(distortions.distort(dim, "mean_shift", 3), stretched, atol=1e-6)


def test_distort_validates_its_arguments(crop):
    with pytest.raises(ValueError, match="`level` must be an integer"):
        distortions.distort(crop, "jpeg", 9)
    with pytest.raises(ValueError, match="Unknown distortion type"):
        distortions.distort(crop, "fog", 1)
    with pytest.raises(ValueError, match="Received: shape"):
        distortions.distort(crop[..., 0], "jpeg", 1)


def test_every_type_runs_through_distort(crop):
    for distortion in distortions.DISTORTIONS:
        out = distortions.distort(crop, distortion.id, 2, seed=0)
        assert out.shape == crop.shape and out.dtype == np.float32, distortion.name
        assert out.min() >= 0.0 and out.max() <= 1.0, distortion.name


def test_compose_chains_seeded_steps(crop):
    steps = [("jitter", 4), ("color_block", 2), (11, 3)]
    first = distortions.compose(crop, steps, seed=5)
    np.testing.assert_array_equal(first, distortions.compose(crop, steps, seed=5))
    assert not np.array_equal(first, distortions.compose(crop, steps, seed=6))
    # Each step gets its own spawned seed, as distort would with that seed.
    seeds = np.random.SeedSequence(5).spawn(3)
    manual = crop
    for (type_, level), step_seed in zip(steps, seeds):
        manual = distortions.distort(manual, type_, level, seed=step_seed)
    np.testing.assert_array_equal(first, manual)
    # A SeedSequence gives the same chain however often it is passed (spawn() would not).
    sequence = np.random.SeedSequence(5)
    np.testing.assert_array_equal(distortions.compose(crop, steps, seed=sequence), first)
    np.testing.assert_array_equal(distortions.compose(crop, steps, seed=sequence), first)


@pytest.mark.parametrize("seed", [-1, 1.5, "7"])
def test_a_bad_seed_is_named(seed, crop):
    message = rf"`seed` must be None, a non-negative int.*Received: seed={seed!r}"
    with pytest.raises(ValueError, match=message):
        distortions.distort(crop, "jpeg", 1, seed=seed)
    with pytest.raises(ValueError, match=message):
        distortions.compose(crop, [("jpeg", 1)], seed=seed)


@pytest.mark.parametrize("steps", [[], "jpeg", [("jpeg",)], [("jpeg", 6)], [("fog", 1)]])
def test_compose_rejects_bad_steps(steps, crop):
    with pytest.raises(ValueError):
        distortions.compose(crop, steps)


def test_kadid_mean_score_reads_the_table(kadid_table):
    for row in kadid_table:
        for level in range(1, 6):
            assert distortions.kadid_mean_score(row["name"], level) == float(row[f"L{level}"])
    with pytest.raises(ValueError, match="`level`"):
        distortions.kadid_mean_score(1, 0)


def test_composition_score_product_rule():
    single = distortions.kadid_mean_score("jpeg", 2)
    assert distortions.composition_score([("jpeg", 2)]) == single
    pair = [("jpeg", 2), ("gaussian_blur", 3)]
    quality = (single - 1) / 4 * (distortions.kadid_mean_score(1, 3) - 1) / 4
    assert distortions.composition_score(pair) == pytest.approx(1 + 4 * quality)
    assert distortions.composition_score(pair) == pytest.approx(
        distortions.composition_score(pair[::-1])
    )
    worst = [(2, 5), (1, 5), (4, 5)]
    assert 1.0 <= distortions.composition_score(worst) < distortions.composition_score(worst[:2])


def test_distort_tf_in_a_dataset_map(crop):
    import tensorflow as tf

    images = tf.data.Dataset.from_tensor_slices(np.stack([crop, crop[::-1]])).enumerate()
    types = tf.constant([19, 23], tf.int64)
    mapped = images.map(
        lambda index, image: distortions.distort_tf(image, types[index], 3, index + 100)
    )
    assert mapped.element_spec.shape == (64, 80, 3)
    outputs = list(mapped.as_numpy_iterator())
    np.testing.assert_array_equal(outputs[0], distortions.distort(crop, 19, 3, seed=100))
    np.testing.assert_array_equal(outputs[1], distortions.distort(crop[::-1], 23, 3, seed=101))
