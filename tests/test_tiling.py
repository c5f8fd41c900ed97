"""Scoring with learned models: whole images equal the model, tiles cover the image."""

import math
import types

import numpy as np
import pytest

import iqa_keras
from iqa_keras.models import SiameseDifferenceIQA
from iqa_keras.tiling import Scorer


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(0)
    return SiameseDifferenceIQA(fusion_filters=8, num_residual_blocks=1)


@pytest.fixture(scope="module")
def pair(photo):
    reference = photo[:200, :260]
    noise = np.random.default_rng(0).normal(0, 20, reference.shape)
    return reference, np.clip(reference + noise, 0, 255).astype(np.float32)


def test_whole_image_score_equals_the_model(model, pair):
    reference, distorted = pair
    expected = float(model({"reference": reference[None], "distorted": distorted[None]})[0, 0])
    assert Scorer(model, tile_size=512)(distorted, reference).score == pytest.approx(expected, abs=1e-5)


def test_whole_image_maps_have_the_image_size_and_pool_to_the_score(model, pair):
    reference, distorted = pair
    prediction = Scorer(model, tile_size=512)(distorted, reference, maps=True)
    assert prediction.quality_map.shape == prediction.attention_map.shape == (200, 260)
    pooled = np.sum(prediction.quality_map * prediction.attention_map) / np.sum(prediction.attention_map)
    assert pooled == pytest.approx(prediction.score, abs=0.02)  # resizing moves it slightly


def test_tiles_cover_every_position_and_stay_near_the_whole_image_score(model, pair):
    reference, distorted = pair
    whole = Scorer(model, tile_size=512)(distorted, reference).score
    tiled = Scorer(model, tile_size=64, overlap=32)(distorted, reference, maps=True)
    assert tiled.quality_map.shape == (200, 260)
    assert tiled.attention_map.min() > 0  # no tile left a hole in the assembled maps
    # only the channel gate differs (each tile averages its own window): measured 0.2%
    assert tiled.score == pytest.approx(whole, rel=0.02)


class BlockMeans:
    """A stand-in model whose maps are local: each cell is the mean of its 8x8 pixels (a
    last, partial cell too with `partial_cells`, as padded convolutions give; not
    without, as valid ones), so tiles must add up exactly to the whole image."""

    input = {"distorted": None}

    def __init__(self, partial_cells):
        self.rounding = math.ceil if partial_cells else math.floor

    def with_outputs(self, keys, map_resolution):
        def run(inputs):
            image = np.asarray(inputs["distorted"])[0, ..., 0]
            rows, columns = (self.rounding(side / 8) for side in image.shape)
            quality = np.array([[image[8 * i : 8 * i + 8, 8 * j : 8 * j + 8].mean() for j in range(columns)]
                                for i in range(rows)])
            return {"quality_map": quality[None, ..., None], "attention_map": np.ones((1, rows, columns, 1))}

        return types.SimpleNamespace(predict_on_batch=run)  # the compiled call the scorer makes


@pytest.mark.parametrize("partial_cells", [True, False])
@pytest.mark.parametrize("shape", [(70, 100), (64, 200), (150, 97)])
def test_tiles_with_short_edges_add_up_to_the_whole_image(shape, partial_cells):
    image = np.random.default_rng(1).uniform(0, 255, (*shape, 3)).astype(np.float32)
    whole = Scorer(BlockMeans(partial_cells), tile_size=512)(image, maps=True)
    tiled = Scorer(BlockMeans(partial_cells), tile_size=64, overlap=32)(image, maps=True)
    assert tiled.score == pytest.approx(whole.score, rel=1e-12)
    np.testing.assert_allclose(tiled.quality_map, whole.quality_map, rtol=1e-6)


def test_tile_and_overlap_are_aligned_to_32(model):
    scorer = Scorer(model, tile_size=100, overlap=10)
    assert (scorer.tile_size, scorer.overlap) == (128, 32)


def test_errors_name_the_argument(model, pair):
    reference, distorted = pair
    with pytest.raises(ValueError, match="full-reference: pass `reference`"):
        Scorer(model)(distorted)
    with pytest.raises(ValueError, match=r"reference.shape=\(200, 259, 3\)"):
        Scorer(model)(distorted, reference[:, :259])
    with pytest.raises(ValueError, match=r"distorted.shape=\(200, 260\)"):
        Scorer(model)(distorted[..., 0], reference)
    with pytest.raises(ValueError, match="tile_size=8"):
        Scorer(model, tile_size=8)
    with pytest.raises(TypeError, match="with_outputs"):
        Scorer(object())


def test_score_and_load_take_a_saved_model(model, pair, tmp_path):
    reference, distorted = pair
    path = tmp_path / "fr.keras"
    model.save(path)
    expected = float(model({"reference": reference[None], "distorted": distorted[None]})[0, 0])
    assert iqa_keras.score(distorted, reference=reference, model=str(path)) == pytest.approx(expected, abs=1e-5)
    assert type(iqa_keras.load(path)).__name__ == "SiameseDifferenceIQA"
    with pytest.raises(FileNotFoundError, match="no bundled model of that name"):
        iqa_keras.load(tmp_path / "missing.keras")


def test_no_reference_model_is_scored_without_a_reference(photo):
    from iqa_keras.models import HallucinatedIQA, HallucinationGenerator, HallucinationGuidedRegressor

    generator = HallucinationGenerator(filters=8, num_residual_blocks=0)
    model = HallucinatedIQA(generator, regressor=HallucinationGuidedRegressor(generator.feature_channels, filters=8))
    image = photo[:96, :128]
    expected = float(model({"distorted": image[None]})[0, 0])
    scorer = Scorer(model, tile_size=512)
    assert not scorer.full_reference
    prediction = scorer(image, maps=True)
    assert prediction.score == pytest.approx(expected, abs=1e-5)
    assert prediction.quality_map.shape == (96, 128)
    tiled = Scorer(model, tile_size=32, overlap=32)(image)
    assert np.isfinite(tiled.score)


def test_images_below_the_models_minimum_or_not_finite_are_refused(model):
    """A 1x1 pair would get a plausible-looking number; the minimum is the encoder's stride."""
    scorer = Scorer(model)
    assert model.min_image_size == 16
    tiny = np.zeros((1, 1, 3), np.float32)
    with pytest.raises(ValueError, match=r"`distorted` is 1x1 pixels, smaller than this model's minimum of 16x16"):
        scorer(tiny, reference=tiny)
    assert np.isfinite(scorer(np.zeros((16, 40, 3)), reference=np.zeros((16, 40, 3))).score)
    broken = np.zeros((32, 32, 3), np.float32)
    for value in (np.nan, np.inf):
        broken[3, 4, 1] = value
        with pytest.raises(ValueError, match="`reference` holds NaN or infinite values"):
            scorer(np.zeros((32, 32, 3)), reference=broken)


def test_a_no_reference_models_minimum_is_its_coarsest_stride():
    from iqa_keras.models import HallucinatedIQA, HallucinationGenerator, HallucinationGuidedRegressor

    generator = HallucinationGenerator(filters=8, num_downsamples=2, num_residual_blocks=0)
    model = HallucinatedIQA(generator, regressor=HallucinationGuidedRegressor(generator.feature_channels, filters=8,
                                                                             num_downsamples=3))
    assert model.min_image_size == 8
    with pytest.raises(ValueError, match="7x9 pixels, smaller than this model's minimum of 8x8"):
        Scorer(model)(np.zeros((9, 7, 3)))
