"""Expanding files, folders and patterns; pairing distorted images with references."""

import os

import pytest

from iqa_keras import inputs


@pytest.fixture
def folders(tmp_path):
    references, distorted = tmp_path / "refs", tmp_path / "dists"
    references.mkdir()
    distorted.mkdir()
    for name in ("a.png", "b.png"):
        (references / name).touch()
    for name in ("a.png", "b.jpg", "readme.txt"):
        (distorted / name).touch()
    return references, distorted


def test_folder_expands_to_sorted_images_only(folders):
    _, distorted = folders
    assert [os.path.basename(p) for p in inputs.expand_images([distorted])] == ["a.png", "b.jpg"]


def test_folder_leaves_out_hidden_files_and_quality_map_overlays(folders):
    _, distorted = folders
    (distorted / "._a.png").touch()  # macOS resource fork
    (distorted / "a.quality.png").touch()  # written by `iqa-keras maps`
    assert [os.path.basename(p) for p in inputs.expand_images([distorted])] == ["a.png", "b.jpg"]


def test_overlays_are_named_by_stem_unless_two_images_share_one(tmp_path):
    shots, other = str(tmp_path / "shots"), str(tmp_path / "other")
    images = [os.path.join(shots, "a.jpg"), os.path.join(shots, "a.png"), os.path.join(shots, "b.png"),
              os.path.join(other, "a.png")]
    assert [os.path.relpath(path, tmp_path) for path in inputs.overlay_paths(images)] == [
        os.path.join("shots", "a.jpg.quality.png"), os.path.join("shots", "a.png.quality.png"),
        os.path.join("shots", "b.quality.png"), os.path.join("other", "a.quality.png"),
    ]
    maps = str(tmp_path / "maps")
    assert inputs.overlay_paths(images[1:3], maps) == [os.path.join(maps, "a.quality.png"),
                                                       os.path.join(maps, "b.quality.png")]
    with pytest.raises(inputs.InputError, match=r"shots.a\.png and .*other.a\.png would both write .*a\.png\.quality\.png"):
        inputs.overlay_paths(images, maps)
    # Names that differ in case alone meet on macOS and Windows; an image given twice is one image.
    assert inputs.overlay_paths(["s/A.png", "s/a.jpg", "s/b.png", "s/b.png"]) == [
        "s/A.png.quality.png", "s/a.jpg.quality.png", "s/b.quality.png", "s/b.quality.png"]
    with pytest.raises(inputs.InputError, match="would both write"):
        inputs.overlay_paths(["s/Photo.png", "t/photo.png"], maps)


def test_glob_pattern_expands_leaving_out_quality_map_overlays(folders):
    _, distorted = folders
    assert [os.path.basename(p) for p in inputs.expand_images([str(distorted / "*.jpg")])] == ["b.jpg"]
    (distorted / "a.quality.png").touch()  # written by `iqa-keras maps`
    assert [os.path.basename(p) for p in inputs.expand_images([str(distorted / "*.png")])] == ["a.png"]


def test_plain_file_is_kept_even_if_missing(tmp_path):
    # the reader reports a missing file with its name; expansion keeps it as given
    assert inputs.expand_images([str(tmp_path / "x.png")]) == [str(tmp_path / "x.png")]


def test_pattern_matching_nothing_names_the_pattern(tmp_path):
    with pytest.raises(inputs.InputError, match=r"Pattern .*\*.png matches no file"):
        inputs.expand_images([str(tmp_path / "*.png")])


def test_empty_folder_names_the_folder(tmp_path):
    with pytest.raises(inputs.InputError, match="holds no image files"):
        inputs.expand_images([tmp_path])


def test_reference_folder_matches_by_name_then_by_stem(folders):
    references, distorted = folders
    pairs = inputs.match_pairs(references, inputs.expand_images([distorted]))
    assert [(os.path.basename(r), os.path.basename(d)) for r, d in pairs] == [
        ("a.png", "a.png"),
        ("b.png", "b.jpg"),
    ]


def test_a_folder_named_like_an_image_is_no_reference_candidate(folders):
    references, distorted = folders
    os.mkdir(os.path.join(references, "b.jpeg"))
    pairs = inputs.match_pairs(references, [os.path.join(distorted, "b.jpg")])
    assert pairs == [(os.path.join(references, "b.png"), os.path.join(distorted, "b.jpg"))]


def test_missing_reference_in_folder_names_the_image(folders, tmp_path):
    references, _ = folders
    orphan = tmp_path / "c.png"
    orphan.touch()
    with pytest.raises(inputs.InputError, match="No reference for .*c.png"):
        inputs.match_pairs(references, [str(orphan)])
    unmatched = []
    assert inputs.match_pairs(references, [str(orphan), str(tmp_path / "a.png")], unmatched) == [
        (os.path.join(references, "a.png"), str(tmp_path / "a.png"))
    ]
    assert len(unmatched) == 1 and "No reference for" in str(unmatched[0])
