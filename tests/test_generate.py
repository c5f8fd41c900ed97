"""End-to-end tests of `generate_dataset`: layout, labels, reruns, resuming, errors."""

import csv
import os

import numpy as np
import pytest
from PIL import Image

from iqa_keras.data import read_dataset
from iqa_keras.data.distortions import composition_score, get_distortion, kadid_mean_score
from iqa_keras.data.generate import GenerationSummary, generate_dataset
from iqa_keras.data.records import DatasetError

TYPES = ("jpeg", 23)  # one deterministic type, one random (color_block)
LEVELS = (1, 4)


@pytest.fixture()
def pristine(tmp_path, photos):
    folder = tmp_path / "pristine"
    folder.mkdir()
    # Sorted names decide the numbering: beach -> I01, cat -> I02.
    Image.fromarray(photos[2][:64, :64].astype(np.uint8)).save(folder / "cat.png")
    Image.fromarray(photos[0][:64, :64].astype(np.uint8)).save(folder / "beach.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def generate(pristine, out, **overrides):
    arguments = dict(types=TYPES, levels=LEVELS, compositions=1, seed=3, progress=False)
    return generate_dataset(pristine, out, **{**arguments, **overrides})


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def snapshot(folder):
    images = folder / "images"
    return {name: os.stat(images / name).st_mtime_ns for name in sorted(os.listdir(images))}


def test_writes_the_kadid_layout_with_table_labels(pristine, tmp_path):
    out = tmp_path / "out"
    summary = generate(pristine, out)
    assert summary == GenerationSummary(written=12, kept=0, references=2, rows=10)

    names = sorted(os.listdir(out / "images"))
    for reference in ("I01", "I02"):
        assert f"{reference}.png" in names
        for type_id in (10, 23):
            for level in LEVELS:
                assert f"{reference}_{type_id:02d}_{level:02d}.png" in names
    compositions = [name for name in names if "_C" in name]
    assert len(compositions) == 2 and all(name.endswith("_01.png") for name in compositions)
    assert not [name for name in os.listdir(out) if name.startswith(".")]

    rows = read_csv(out / "dmos.csv")
    assert list(rows[0]) == ["dist_img", "ref_img", "dmos", "var"]
    assert len(rows) == 10 and {row["var"] for row in rows} == {"0"}
    for row in rows:
        assert row["ref_img"] == row["dist_img"].split("_")[0] + ".png"
        _, type_, level = os.path.splitext(row["dist_img"])[0].split("_")
        if not type_.startswith("C"):
            assert float(row["dmos"]) == kadid_mean_score(type_, int(level))

    steps = read_csv(out / "compositions.csv")
    assert sorted(row["dist_img"] for row in steps) == sorted(compositions)
    labels = {row["dist_img"]: float(row["dmos"]) for row in rows}
    for row in steps:
        recipe = [step.split(":") for step in row["steps"].split("+")]
        assert len(recipe) == int(row["dist_img"].split("_")[1][1:])
        assert {get_distortion(name).id for name, _ in recipe} <= {10, 23}
        expected = composition_score([(name, int(level)) for name, level in recipe])
        assert labels[row["dist_img"]] == pytest.approx(expected, abs=5e-5)

    assert read_csv(out / "references.csv") == [
        {"ref_img": "I01.png", "source": "beach.png"},
        {"ref_img": "I02.png", "source": "cat.png"},
    ]
    reference = np.asarray(Image.open(out / "images" / "I01.png"))
    np.testing.assert_array_equal(reference, np.asarray(Image.open(pristine / "beach.png")))


def test_the_kadid10k_reader_loads_it(pristine, tmp_path):
    generate(pristine, tmp_path / "out")
    records = read_dataset("kadid10k", tmp_path / "out")
    assert len(records) == 10
    assert {record.content_id for record in records} == {"I01", "I02"}
    jpeg_level_one = [r for r in records if r.distortion_type == "10" and r.distortion_level == 1]
    assert [r.raw_score for r in jpeg_level_one] == [kadid_mean_score(10, 1)] * 2
    assert {r.distortion_type for r in records} >= {"10", "23"}
    assert all(1.0 <= record.raw_score <= 5.0 for record in records)


def test_same_seed_same_images_other_seed_other_images(pristine, tmp_path):
    generate(pristine, tmp_path / "a")
    generate(pristine, tmp_path / "b")
    generate(pristine, tmp_path / "c", seed=4)
    names = sorted(os.listdir(tmp_path / "a" / "images"))
    assert names == sorted(os.listdir(tmp_path / "b" / "images"))
    for name in names:
        same = (tmp_path / "a" / "images" / name).read_bytes()
        assert same == (tmp_path / "b" / "images" / name).read_bytes(), name
    block = "I01_23_04.png"  # color_block: random
    assert (tmp_path / "a" / "images" / block).read_bytes() != (
        tmp_path / "c" / "images" / block
    ).read_bytes()
    jpeg = "I01_10_04.png"  # deterministic
    assert (tmp_path / "a" / "images" / jpeg).read_bytes() == (
        tmp_path / "c" / "images" / jpeg
    ).read_bytes()


def test_rerun_keeps_files_and_rewrites_the_same_csv(pristine, tmp_path):
    out = tmp_path / "out"
    generate(pristine, out)
    before, table = snapshot(out), (out / "dmos.csv").read_bytes()
    summary = generate(pristine, out)
    assert summary == GenerationSummary(written=0, kept=12, references=2, rows=10)
    assert snapshot(out) == before
    assert (out / "dmos.csv").read_bytes() == table


def test_an_interrupted_run_is_completed(pristine, tmp_path):
    out = tmp_path / "out"
    generate(pristine, out)
    lost = out / "images" / "I02_23_04.png"
    content = lost.read_bytes()
    table = (out / "dmos.csv").read_bytes()
    lost.unlink()
    (out / "dmos.csv").unlink()
    (out / "images" / ".iqa-keras-half-written").write_bytes(b"\x89PNG")
    summary = generate(pristine, out)
    assert (summary.written, summary.kept) == (1, 11)
    assert lost.read_bytes() == content
    assert (out / "dmos.csv").read_bytes() == table
    assert not (out / "images" / ".iqa-keras-half-written").exists()


def test_references_get_more_digits_past_99_images(tmp_path):
    pristine = tmp_path / "pristine"
    pristine.mkdir()
    for index in range(100):
        pixels = np.full((8, 8, 3), index, np.uint8)
        Image.fromarray(pixels).save(pristine / f"photo{index:03d}.png")
    out = tmp_path / "out"
    summary = generate_dataset(pristine, out, types=["mean_shift"], levels=[1], progress=False)
    assert summary.references == 100 and summary.rows == 100
    names = set(os.listdir(out / "images"))
    assert {"I001.png", "I100.png", "I001_18_01.png", "I100_18_01.png"} <= names
    assert read_csv(out / "references.csv")[99] == {"ref_img": "I100.png", "source": "photo099.png"}


def test_progress_bar_goes_to_stderr_only_when_asked(pristine, tmp_path, capsys):
    generate(pristine, tmp_path / "quiet")
    assert capsys.readouterr().err == ""
    generate(pristine, tmp_path / "loud", progress=True)
    captured = capsys.readouterr()
    assert "generate" in captured.err and "12/12" in captured.err
    assert captured.out == ""


def test_resuming_with_another_seed_or_other_photos_is_refused(pristine, tmp_path):
    out = tmp_path / "out"
    generate(pristine, out)
    with pytest.raises(DatasetError, match="seed=3; resuming it with seed=5"):
        generate(pristine, out, seed=5)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(pristine / "apple.png")
    with pytest.raises(DatasetError, match="generated from other pristine files"):
        generate(pristine, out)


def test_resuming_compositions_from_other_types_or_levels_is_refused(pristine, tmp_path):
    out = tmp_path / "out"
    generate(pristine, out)
    with pytest.raises(DatasetError, match="composed_from=.*would mix two datasets"):
        generate(pristine, out, levels=[1])  # the kept composition files would get other labels
    generate(pristine, out, types=["jpeg"], compositions=0)  # no compositions drawn: allowed
    with pytest.raises(DatasetError, match="composed_from="):
        generate(pristine, out, types=["jpeg", "white_noise"])
    generate(pristine, out)  # the recipe of the composition files there: allowed


def test_a_run_with_other_types_adds_its_images_to_the_labels(pristine, tmp_path):
    out = tmp_path / "out"
    generate(pristine, out, types=["jpeg"], compositions=0)
    summary = generate(pristine, out, types=["pixelate"], compositions=0)
    names = [row["dist_img"] for row in read_csv(out / "dmos.csv")]
    assert summary.rows == len(names) == 8
    assert names == sorted(f"I0{ref}_{kind:02d}_0{level}.png" for ref in (1, 2) for kind in (10, 21) for level in LEVELS)
    generate(pristine, out)  # compositions join, numbered with the width of the first run that made them
    os.remove(out / "images" / "I01_10_01.png")  # a label without its image is dropped
    generate(pristine, out, compositions=0)
    singles = {f"I0{ref}_{kind:02d}_0{level}.png" for ref in (1, 2) for kind in (10, 21, 23) for level in LEVELS}
    compositions = {"I01_C2_01.png", "I02_C2_01.png"}
    assert [row["dist_img"] for row in read_csv(out / "dmos.csv")] == sorted(singles | compositions)
    assert (out / "images" / "I01_10_01.png").exists()  # remade by the last run
    assert [row["dist_img"] for row in read_csv(out / "compositions.csv")] == sorted(compositions)
    with pytest.raises(DatasetError, match="numbers its compositions with 2 digits, so at most 99"):
        generate(pristine, out, compositions=100)


def test_a_folder_holding_another_dataset_is_refused_untouched(pristine, tmp_path):
    out = tmp_path / "kadid"
    (out / "images").mkdir(parents=True)
    (out / "dmos.csv").write_text("dist_img,ref_img,dmos,var\nI01_01_01.png,I01.png,4.1,0.2\n")
    with pytest.raises(DatasetError, match="without the generation.json that `generate` writes"):
        generate(pristine, out)
    assert (out / "dmos.csv").read_text().endswith("I01.png,4.1,0.2\n")
    assert sorted(os.listdir(out)) == ["dmos.csv", "images"] and not os.listdir(out / "images")


@pytest.mark.parametrize("name, content, message", [
    ("dog.png", b"\x89PNG\r\n\x1a\n cut short", r"dog.png cannot be read as an image"),
    ("tiny.png", (40, 64), r"tiny.png is 64x40 \(width x height\); non_eccentricity_patch needs images of at least 48x48"),
])  # fmt: skip
def test_a_bad_pristine_file_is_named_before_anything_is_written(pristine, tmp_path, name, content, message):
    if isinstance(content, bytes):
        (pristine / name).write_bytes(content)
    else:
        Image.new("RGB", content[::-1]).save(pristine / name)
    (pristine / "LICENSE.pdf").write_bytes(b"%PDF-1.4")  # Pillow writes PDF but cannot read it: not a photo
    with pytest.raises(DatasetError, match=message):
        generate(pristine, tmp_path / "out", types=["jpeg", "non_eccentricity_patch"])
    assert not (tmp_path / "out").exists()
    (pristine / name).unlink()
    generate(pristine, tmp_path / "out", types=["jpeg", "non_eccentricity_patch"])  # the folder starts clean


def test_a_pillow_without_openjpeg_is_refused_before_anything_is_written(pristine, tmp_path, monkeypatch):
    from PIL import features

    monkeypatch.setattr(features, "check", lambda feature: feature != "jpg_2000")
    with pytest.raises(ValueError, match="jpeg2000 distortion needs Pillow built with OpenJPEG"):
        generate(pristine, tmp_path / "out", types=["jpeg2000", "jpeg"])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(types=["fog"]), "Unknown distortion type 'fog'"),
        (dict(types="jpeg"), "`types` must be a sequence"),
        (dict(types=[]), "`types` must name at least one"),
        (dict(levels=[0]), "`level` must be an integer in 1..5"),
        (dict(levels=[]), "`levels` must hold at least one"),
        (dict(compositions=-1), "`compositions` must be a non-negative integer"),
        (dict(seed=1.5), "`seed` must be a non-negative integer"),
        (dict(types=["jpeg"], compositions=1), "at least 2 distortion types"),
        (dict(workers=0), "`workers` must be a positive integer"),
        (dict(max_side=8), "`max_side` must be at least 16"),
    ],
)
def test_invalid_arguments_raise(pristine, tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        generate(pristine, tmp_path / "out", **overrides)


def test_missing_or_empty_pristine_folder_raises(tmp_path):
    with pytest.raises(DatasetError, match="folder not found"):
        generate_dataset(tmp_path / "nowhere", tmp_path / "out", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="No image files"):
        generate_dataset(tmp_path / "empty", tmp_path / "out", progress=False)


def test_workers_write_the_same_files_as_one_process(pristine, tmp_path):
    generate(pristine, tmp_path / "one")
    summary = generate(pristine, tmp_path / "two", workers=2)
    assert summary == GenerationSummary(written=12, kept=0, references=2, rows=10)
    for name in os.listdir(tmp_path / "one" / "images"):
        one = np.asarray(Image.open(tmp_path / "one" / "images" / name))
        two = np.asarray(Image.open(tmp_path / "two" / "images" / name))
        np.testing.assert_array_equal(one, two, err_msg=name)
    assert read_csv(tmp_path / "one" / "dmos.csv") == read_csv(tmp_path / "two" / "dmos.csv")


def test_max_side_downscales_larger_photos_only_and_is_kept_for_resuming(pristine, tmp_path, photos):
    Image.fromarray(photos[1][:40, :80].astype(np.uint8)).save(pristine / "wide.png")
    out = tmp_path / "out"
    generate(pristine, out, types=["jpeg"], compositions=0, max_side=48)
    sizes = {name: Image.open(out / "images" / name).size for name in ("I01.png", "I03.png", "I03_10_04.png")}
    assert sizes == {"I01.png": (48, 48), "I03.png": (48, 24), "I03_10_04.png": (48, 24)}
    with pytest.raises(DatasetError, match="max_side=48; resuming it with max_side=None"):
        generate(pristine, out, types=["jpeg"], compositions=0)


def test_several_pristine_folders_are_numbered_in_order_and_named_by_folder(pristine, tmp_path, photos):
    other = tmp_path / "more"
    other.mkdir()
    Image.fromarray(photos[1][:32, :32].astype(np.uint8)).save(other / "beach.png")
    out = tmp_path / "out"
    summary = generate_dataset([pristine, other], out, types=["jpeg"], levels=[2], progress=False)
    assert summary.references == 3
    sources = {row["ref_img"]: row["source"] for row in read_csv(out / "references.csv")}
    assert sources == {"I01.png": "pristine/beach.png", "I02.png": "pristine/cat.png", "I03.png": "more/beach.png"}
    assert Image.open(out / "images" / "I03.png").size == (32, 32)
