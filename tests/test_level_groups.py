"""Level groups: the grouping, the epoch order, and batches of groups cropped
alike in both feeders (`CropBatches` and the tf.data pipeline)."""

import numpy as np
import pytest
from PIL import Image

from iqa_keras.data import PipelineConfig
from iqa_keras.data.arrays import CropBatches
from iqa_keras.data.level_groups import batch_groups, epoch_units, level_groups
from iqa_keras.data.records import Record, Scale

SCALE = Scale(1.0, 5.0, True)
LEVELS = (1, 2, 3, 4, 5)


def record(content, kind, level, path="x.png", reference=None):
    return Record(path, 5.0 - (level or 1) * 0.5, SCALE, reference=reference,
                  distortion_type=kind, distortion_level=level, content_id=content)


def test_groups_join_the_levels_of_one_type_on_one_content_in_level_order():
    records = [record("A", "01", 3), record("B", "01", 1), record("A", "01", 1),
               record("A", "02", 1), record("A", "C2", None), record("A", None, None),
               record("A", "01", 2)]
    assert level_groups(records) == [[2, 6, 0], [1], [3], [4], [5]]
    assert batch_groups(records[:3], by_level=False) == [[0], [1], [2]]
    assert batch_groups(records, by_level=True) == level_groups(records)


def test_an_epoch_holds_each_record_once_per_repeat_its_units_whole():
    groups = [[0, 1, 2], [3], [4, 5]]
    order, units = epoch_units(groups, repeats=2, rng=np.random.default_rng(7))
    assert sorted(order.tolist()) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert sorted(set(units.tolist())) == list(range(6))
    for unit in set(units.tolist()):  # a unit's records are consecutive and its group's
        positions = np.flatnonzero(units == unit)
        assert positions.tolist() == list(range(positions[0], positions[-1] + 1))
        assert order[positions].tolist() == groups[unit % 3]
    again, _ = epoch_units(groups, repeats=2, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(again, order)


@pytest.fixture(scope="module")
def level_records(tmp_path_factory, photos):
    """Two photos x one type x 5 levels whose distorted images are the photo itself (so
    crops at the same place are equal), plus one composition each."""
    root = tmp_path_factory.mktemp("levels")
    records = []
    for content, photo in zip("AB", photos[:2]):
        path = str(root / f"{content}.png")
        Image.fromarray(photo[:64, :80].astype(np.uint8)).save(path)
        records += [record(content, "01", level, path, path) for level in LEVELS]
        records.append(record(content, "C2", None, path, path))
    return records


def batches_of_crop_batches(records, grouped, seed=0, patches=1):
    batches = CropBatches(records, batch_size=5, crop_size=24, patches_per_image=patches,
                          level_groups=grouped, seed=seed)
    return [batches[index] for index in range(len(batches))]


def batches_of_pipeline(records, grouped, seed=0, patches=1):
    from iqa_keras.data import training_dataset

    config = PipelineConfig(batch_size=5, crop_size=24, patches_per_image=patches, level_groups=grouped,
                            seed=seed, num_parallel_calls=4)
    return [({k: v.numpy() for k, v in inputs.items()}, scores.numpy())
            for inputs, scores in training_dataset(records, config)]


@pytest.mark.parametrize("patches", [1, 3])
@pytest.mark.parametrize("make_batches", [batches_of_crop_batches, batches_of_pipeline])
def test_grouped_batches_hold_all_levels_of_a_photo_cropped_alike(level_records, make_batches, patches):
    level_scores = sorted(np.float32(r.score) for r in level_records[:5])
    batches = make_batches(level_records, grouped=True, patches=patches)
    # The stream of crops, batch boundaries aside (a group may straddle two batches).
    crops = np.concatenate([inputs["distorted"] for inputs, _ in batches])
    references = np.concatenate([inputs["reference"] for inputs, _ in batches])
    scores = np.concatenate([batch_scores for _, batch_scores in batches])
    assert len(scores) == len(level_records) * patches
    whole_groups = [
        start for start in range(len(scores) - 4)
        if sorted(scores[start : start + 5].tolist()) == level_scores
        and all(np.array_equal(crop, crops[start]) for crop in crops[start : start + 5])
    ]
    # Each photo's five levels, cropped at one place (ungrouped crops never are: see the
    # next test), once per patch.
    assert len(whole_groups) == 2 * patches
    for start in whole_groups:
        np.testing.assert_array_equal(references[start : start + 5], crops[start : start + 5])


@pytest.mark.parametrize("make_batches", [batches_of_crop_batches, batches_of_pipeline])
def test_ungrouped_batches_crop_each_record_on_its_own(level_records, make_batches):
    same_place = 0
    for inputs, _ in make_batches(level_records, grouped=False):
        crops = inputs["distorted"]
        same_place += sum(np.array_equal(crops[0], crop) for crop in crops[1:])
    assert same_place == 0


def test_level_groups_must_be_a_bool():
    with pytest.raises(TypeError, match="`level_groups` must be True or False"):
        PipelineConfig(level_groups="yes")
