import random

import pytest

from iqa_keras.data.records import Record, Scale
from iqa_keras.data.splits import k_fold_by_content, official_split, split_by_content

SCALE = Scale(1.0, 5.0, True)


def full_reference_records(num_contents=10, per_content=4):
    return [
        Record(f"scene{scene}_d{level}.png", 1.0 + level, SCALE, reference=f"scene{scene}.png")
        for scene in range(num_contents)
        for level in range(per_content)
    ]


def contents(records):
    return {record.content_id for record in records}


@pytest.mark.parametrize("ratios", [(0.8, 0.2), (0.6, 0.2, 0.2), {"a": 0.5, "b": 0.3, "c": 0.2}])
def test_no_content_in_two_parts_over_many_seeds(ratios):
    records = full_reference_records(num_contents=13, per_content=3)
    splits = split_by_content(records, ratios, seed=7, repeats=50)
    assert len(splits) == 50
    for split in splits:
        parts = list(split.values())
        for i, part in enumerate(parts):
            for other in parts[i + 1 :]:
                assert not contents(part) & contents(other)
        # every record lands in exactly one part
        assert sorted(r.distorted for part in parts for r in part) == sorted(r.distorted for r in records)


def test_no_reference_records_split_by_image():
    records = [Record(f"img{i}.jpg", 3.0, SCALE) for i in range(20)]
    (split,) = split_by_content(records, (0.75, 0.25))
    assert [len(split["train"]), len(split["test"])] == [15, 5]
    assert not contents(split["train"]) & contents(split["test"])


def test_proportions_count_contents_not_records():
    # content 0 has many more records than the others: the split still counts scenes
    records = full_reference_records(num_contents=10, per_content=2)
    records += [Record(f"scene0_extra{i}.png", 2.0, SCALE, reference="scene0.png") for i in range(30)]
    for split in split_by_content(records, (0.6, 0.2, 0.2), repeats=5):
        assert [len(contents(part)) for part in split.values()] == [6, 2, 2]
        assert list(split) == ["train", "validation", "test"]


def test_every_part_non_empty_when_a_share_rounds_to_zero():
    records = full_reference_records(num_contents=4, per_content=1)
    (split,) = split_by_content(records, (0.9, 0.05, 0.05))
    assert [len(contents(part)) for part in split.values()] == [2, 1, 1]


def test_deterministic_and_independent_of_record_order():
    records = full_reference_records()
    shuffled = records[:]
    random.Random(0).shuffle(shuffled)
    first = split_by_content(records, (0.8, 0.2), seed=3, repeats=3)
    again = split_by_content(records, (0.8, 0.2), seed=3, repeats=3)
    from_shuffled = split_by_content(shuffled, (0.8, 0.2), seed=3, repeats=3)
    assert first == again
    assert [contents(s["test"]) for s in first] == [contents(s["test"]) for s in from_shuffled]
    # records keep their input order inside a part
    assert first[0]["train"] == [r for r in records if r in first[0]["train"]]


def test_repeats_and_seeds_give_different_splits():
    records = full_reference_records(num_contents=20)
    splits = split_by_content(records, (0.5, 0.5), seed=0, repeats=5)
    assert len({frozenset(contents(s["test"])) for s in splits}) == 5
    (other_seed,) = split_by_content(records, (0.5, 0.5), seed=1)
    assert contents(other_seed["test"]) != contents(splits[0]["test"])


@pytest.mark.parametrize(
    "ratios, message",
    [
        ((0.8, 0.3), "sum to 1"),
        ((1.2, -0.2), "positive"),
        ((1.0, 0.0), "positive"),
        ((1.0,), "Received: ratios=\\(1.0,\\)"),
        ((0.25, 0.25, 0.25, 0.25), "dict"),
        ({"train": 1.0}, "at least two parts"),
        ("0.8", "must be \\(train, test\\)"),
    ],
)
def test_bad_ratios_raise(ratios, message):
    with pytest.raises(ValueError, match=message):
        split_by_content(full_reference_records(), ratios)


def test_ratios_within_tolerance_accepted():
    (split,) = split_by_content(full_reference_records(), (0.7, 0.3 + 1e-8))
    assert len(contents(split["train"])) == 7


def test_too_few_contents_raises_naming_ratios_and_count():
    records = full_reference_records(num_contents=2)
    with pytest.raises(ValueError, match=r"Cannot split 2 contents into 3 .*ratios=\(0.6, 0.2, 0.2\)"):
        split_by_content(records, (0.6, 0.2, 0.2))


def test_bad_repeats_and_empty_records_raise():
    with pytest.raises(ValueError, match="repeats=0"):
        split_by_content(full_reference_records(), (0.8, 0.2), repeats=0)
    with pytest.raises(ValueError, match="empty"):
        split_by_content([], (0.8, 0.2))


def test_official_split_groups_by_release_split():
    records = [
        Record("a.png", 3.0, SCALE, split="test"),
        Record("b.png", 3.0, SCALE, split="train"),
        Record("c.png", 3.0, SCALE, split="extra"),
        Record("d.png", 3.0, SCALE, split="train"),
        Record("e.png", 3.0, SCALE, split="validation"),
    ]
    split = official_split(records)
    assert list(split) == ["train", "validation", "test", "extra"]
    assert [r.distorted for r in split["train"]] == ["b.png", "d.png"]


def test_official_split_without_splits_raises():
    with pytest.raises(ValueError, match="None of the 2 records"):
        official_split([Record("a.png", 3.0, SCALE), Record("b.png", 3.0, SCALE)])
    with pytest.raises(ValueError, match="1 of 2 records have no official split, e.g. b.png"):
        official_split([Record("a.png", 3.0, SCALE, split="train"), Record("b.png", 3.0, SCALE)])


def test_ten_random_splits_of_a_no_reference_list_share_no_image():
    records = [Record(f"photo{i}.jpg", float(i), SCALE) for i in range(50)]
    splits = split_by_content(records, (0.8, 0.2), seed=0, repeats=10)
    assert len(splits) == 10
    for split in splits:
        train = {record.distorted for record in split["train"]}
        test = {record.distorted for record in split["test"]}
        assert (len(train), len(test)) == (40, 10) and not train & test
    assert len({tuple(r.distorted for r in split["test"]) for split in splits}) == 10  # all different


def test_k_folds_test_each_content_once_and_never_train_on_it():
    records = full_reference_records(num_contents=11, per_content=3)
    folds = k_fold_by_content(records, folds=4, seed=3)
    assert len(folds) == 4
    tested = [record.distorted for fold in folds for record in fold["test"]]
    assert sorted(tested) == sorted(record.distorted for record in records)
    for fold in folds:
        assert not contents(fold["train"]) & contents(fold["test"])
        assert len(fold["train"]) + len(fold["test"]) == len(records)
    assert sorted(len(contents(fold["test"])) for fold in folds) == [2, 3, 3, 3]


@pytest.mark.parametrize("folds, message", [(1, "at least 2"), (2.0, "at least 2"), (True, "at least 2"),
                                             (12, "Cannot make 12 folds of 11 distinct content ids")])
def test_bad_folds_are_named(folds, message):
    with pytest.raises(ValueError, match=message):
        k_fold_by_content(full_reference_records(num_contents=11), folds=folds)
