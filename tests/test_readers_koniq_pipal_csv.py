"""KonIQ-10k, PIPAL and generic CSV readers on tiny fixtures in their own layouts."""

import math
import os
import re

import numpy as np
import pytest
from PIL import Image

from iqa_keras.data import DatasetError, read_dataset, split_by_content
from iqa_keras.data.readers.csv_list import read_csv
from iqa_keras.data.readers.koniq10k import read_koniq10k
from iqa_keras.data.readers.pipal import read_pipal

# Lines in the format of the real KonIQ-10k release files.
KONIQ_SCORES = """"image_name","c1","c2","c3","c4","c5","c_total","MOS","SD","MOS_zscore"
"10004473376.jpg",0,25,73,7,3,108,3.828571429,0.6206362,77.38364758
"10007357496.jpg",0,13,77,15,2,107,3.953271028,0.5985576,80.19212263
"10028643266.jpg",5,59,38,2,0,104,2.355769231,0.6453283,41.94321013
"""
KONIQ_SETS = """"image_name","c1","c2","c3","c4","c5","c_total","MOS","SD","set"
"10004473376.jpg",0,25,73,7,3,108,77.38364758,0.6206362,"training"
"10007357496.jpg",0,13,77,15,2,107,80.19212263,0.5985576,"validation"
"10028643266.jpg",5,59,38,2,0,104,41.94321013,0.6453283,"test"
"""
KONIQ_IMAGES = ("10004473376.jpg", "10007357496.jpg", "10028643266.jpg")

# Lines in the format of the real PIPAL Train_Label/*.txt files.
PIPAL_LABELS = {
    "A0001.txt": "A0001_00_00.bmp,1520.0634\nA0001_10_02.bmp,1389.5214\n",
    "A0002.txt": "A0002_03_01.bmp,1291.1127\r\nA0002_00_00.bmp,1601.3370\r\n",
}


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as file:
        file.write(text)


def write_image(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)


@pytest.fixture
def koniq(tmp_path):
    write(tmp_path / "koniq10k_scores_and_distributions.csv", KONIQ_SCORES)
    for name in KONIQ_IMAGES:
        write_image(str(tmp_path / "512x384" / name))
    return str(tmp_path)


@pytest.fixture
def pipal(tmp_path):
    for name, text in PIPAL_LABELS.items():
        write(tmp_path / "Train_Label" / name, text)
    for name in ("A0001.bmp", "A0002.bmp"):
        write_image(str(tmp_path / "Train_Ref" / name))
    layout = {
        "Distortion_1": ("A0001_00_00.bmp",),
        "Distortion_2": ("A0001_10_02.bmp", "A0002_03_01.bmp"),
        "Distortion_4": ("A0002_00_00.bmp",),
    }
    for folder, names in layout.items():
        for name in names:
            write_image(str(tmp_path / folder / name))
    return str(tmp_path)


# KonIQ-10k ------------------------------------------------------------------------------


def test_koniq_records_without_split_file(koniq):
    records = read_dataset("koniq10k", koniq)
    assert [os.path.basename(r.distorted) for r in records] == list(KONIQ_IMAGES)
    assert all(os.path.dirname(r.distorted) == os.path.join(koniq, "512x384") for r in records)
    assert all(r.reference is None and r.split is None for r in records)
    assert [r.content_id for r in records] == ["10004473376", "10007357496", "10028643266"]
    assert records[0].score_std == pytest.approx(0.6206362)
    assert records[0].scale.low == 1.0 and records[0].scale.high == 5.0
    assert np.argmax([r.score for r in records]) == 1 and np.argmin([r.score for r in records]) == 2
    assert math.isclose(records[1].score, (3.953271028 - 1) / 4)


def test_koniq_official_split(koniq):
    write(os.path.join(koniq, "koniq10k_distributions_sets.csv"), KONIQ_SETS)
    records = read_dataset("koniq10k", koniq)
    assert [r.split for r in records] == ["train", "validation", "test"]
    # The scores come from the scores file (1-5), not the sets file's 0-100 column.
    assert records[0].raw_score == pytest.approx(3.828571429)


def test_koniq_split_file_lacking_an_image(koniq):
    write(os.path.join(koniq, "koniq10k_distributions_sets.csv"), KONIQ_SETS.rsplit("\n", 2)[0])
    with pytest.raises(DatasetError, match=r"line 4: image 10028643266\.jpg is missing from"):
        read_koniq10k(koniq)


def test_koniq_resolution_choice(koniq):
    for name in KONIQ_IMAGES:
        write_image(os.path.join(koniq, "1024x768", name))
    assert os.path.join("512x384", KONIQ_IMAGES[0]) in read_koniq10k(koniq)[0].distorted
    large = read_koniq10k(koniq, resolution="1024x768")
    assert os.path.join("1024x768", KONIQ_IMAGES[0]) in large[0].distorted
    assert read_dataset("koniq10k", koniq, resolution="1024x768") == large
    with pytest.raises(ValueError, match="The koniq10k reader has no option 'size'; its options: resolution"):
        read_dataset("koniq10k", koniq, size="1024x768")
    os.rename(os.path.join(koniq, "512x384"), os.path.join(koniq, "small"))
    assert len(read_dataset("koniq10k", koniq)) == 3  # falls back to 1024x768
    with pytest.raises(ValueError, match=r"`resolution` must be .* Received: resolution='512'"):
        read_koniq10k(koniq, resolution="512")


def test_koniq_errors(tmp_path):
    with pytest.raises(DatasetError, match=r"koniq10k_scores_and_distributions\.csv.*KonIQ-10k"):
        read_koniq10k(str(tmp_path))
    write(tmp_path / "koniq10k_scores_and_distributions.csv", '"image_name","MOS"\n"a.jpg",3\n')
    with pytest.raises(DatasetError, match=r"missing column\(s\) SD"):
        read_koniq10k(str(tmp_path))
    bad_line = '"b.jpg",1,1,1,1,1,5,,0.5,3\n'
    write(tmp_path / "koniq10k_scores_and_distributions.csv", KONIQ_SCORES + bad_line)
    with pytest.raises(DatasetError, match=r"line 5: `MOS` must be a number, received ''.*b\.jpg"):
        read_koniq10k(str(tmp_path))


def test_koniq_unknown_split_name(koniq):
    sets = KONIQ_SETS.replace('"test"', '"holdout"')
    write(os.path.join(koniq, "koniq10k_distributions_sets.csv"), sets)
    with pytest.raises(DatasetError, match=r"sets\.csv, line 4: unknown split 'holdout'"):
        read_koniq10k(koniq)


# PIPAL ----------------------------------------------------------------------------------


def test_pipal_records(pipal):
    records = read_dataset("pipal", pipal)
    names = [os.path.basename(r.distorted) for r in records]
    assert names == ["A0001_00_00.bmp", "A0001_10_02.bmp", "A0002_03_01.bmp", "A0002_00_00.bmp"]
    folders = [os.path.basename(os.path.dirname(r.distorted)) for r in records]
    assert folders == ["Distortion_1", "Distortion_2", "Distortion_2", "Distortion_4"]
    assert records[2].reference == os.path.join(pipal, "Train_Ref", "A0002.bmp")
    assert [r.content_id for r in records] == ["A0001", "A0001", "A0002", "A0002"]
    assert [r.distortion_type for r in records] == ["00", "10", "03", "00"]
    assert all(r.distortion_level is None and r.score_std is None for r in records)
    scale = records[0].scale
    assert (scale.low, scale.high, scale.higher_is_better) == (1291.1127, 1601.3370, True)
    assert [r.score for r in records][2:] == [0.0, 1.0]


def test_pipal_image_in_no_distortion_folder(pipal):
    os.remove(os.path.join(pipal, "Distortion_4", "A0002_00_00.bmp"))
    with pytest.raises(DatasetError, match=r"1 of 4 rated images are in none .*: A0002_00_00\.bmp"):
        read_pipal(pipal)


def test_pipal_missing_layout(tmp_path):
    with pytest.raises(DatasetError, match=r"Folder not found: .*Train_Label.*PIPAL"):
        read_pipal(str(tmp_path))
    write(tmp_path / "Train_Label" / "A0001.txt", PIPAL_LABELS["A0001.txt"])
    with pytest.raises(DatasetError, match=r"No Distortion_<k> folders"):
        read_pipal(str(tmp_path))


@pytest.mark.parametrize(
    "line, problem",
    [
        ("A0001_00_00.bmp 1520.06", "expected two fields"),
        ("A0001_00_00.bmp,n/a", "`elo` must be a number"),
    ],
)
def test_pipal_bad_line(pipal, line, problem):
    write(os.path.join(pipal, "Train_Label", "A0002.txt"), f"A0002_03_01.bmp,1291.1\n{line}\n")
    with pytest.raises(DatasetError, match=rf"A0002\.txt, line 2: {problem}.*{re.escape(line)}"):
        read_pipal(pipal)


# Generic CSV ----------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    for name in ("ref.png", "a.png", "b.png", "c.png"):
        write_image(str(tmp_path / "images" / name))
    return tmp_path


def test_csv_full_reference(folder):
    path = folder / "ratings.csv"
    write(
        path,
        "reference,distorted,score,std,split,notes\n"
        "images/ref.png,images/a.png,2.5,0.3,training,x\n"
        f"images/ref.png,{folder}/images/b.png,4.5,,val,y\n"
        "images/ref.png,images/c.png,1.0,0.1,Test,z\n",
    )
    records = read_dataset("csv", path)
    assert records[0].distorted == os.path.join(str(folder), "images", "a.png")
    assert records[1].distorted == os.path.join(str(folder), "images", "b.png")
    assert records[0].reference == os.path.join(str(folder), "images", "ref.png")
    assert [r.content_id for r in records] == ["images/ref"] * 3
    assert [r.split for r in records] == ["train", "validation", "test"]
    assert [r.score_std for r in records] == [0.3, None, 0.1]
    assert (records[0].scale.low, records[0].scale.high) == (1.0, 4.5)
    assert [r.score for r in records] == [pytest.approx(1.5 / 3.5), 1.0, 0.0]


def test_csv_in_windows_1252_with_an_ellipsis_keeps_its_lines(folder):
    path = folder / "ratings.csv"
    # "\x85" is cp1252's ellipsis; read as Latin-1 it is a character str.splitlines splits at
    path.write_bytes(b"distorted,score,notes\nimages/a.png,2.5,ok\x85 fine\nimages/b.png,4.5,x\n")
    records = read_dataset("csv", path)
    assert [os.path.basename(r.distorted) for r in records] == ["a.png", "b.png"]


def test_csv_score_column_named_dmos_is_lower_is_better_and_scenes_in_folders_are_contents(tmp_path):
    path = tmp_path / "ratings.csv"
    # Excel's "Unicode Text": UTF-16 with a byte-order mark, tab-free here.
    text = "reference,distorted,dmos\nscene1/ref.png,scene1/a.png,20\nscene2/ref.png,scene2/a.png,80\n"
    path.write_bytes(text.encode("utf-16"))
    records = read_csv(str(path))
    assert [(r.content_id, r.score) for r in records] == [("scene1/ref", 1.0), ("scene2/ref", 0.0)]
    assert [r.score for r in read_csv(str(path), higher_is_better=True)] == [0.0, 1.0]  # told otherwise
    path.write_text("distorted,score,dmos\na.png,1,9\nb.png,3,2\n")  # the first name listed wins
    assert [r.score for r in read_csv(str(path))] == [0.0, 1.0]
    path.write_bytes("distorted,score\na.png,1\n".encode("utf-16") + b"x")  # an odd byte: not UTF-16
    with pytest.raises(DatasetError, match=r"ratings\.csv begins as UTF-16 text but is not"):
        read_csv(str(path))
    (parts,) = split_by_content(records, {"train": 0.5, "test": 0.5}, seed=0)
    assert sorted(len(part) for part in parts.values()) == [1, 1]


def test_csv_no_reference_lower_is_better_with_known_scale(folder):
    path = folder / "dmos.csv"
    write(path, "distorted,score\nimages/a.png,10\nimages/b.png,90\n")
    records = read_csv(str(path), higher_is_better=False, scale=(0, 100))
    assert [r.reference for r in records] == [None, None]
    assert [r.content_id for r in records] == ["images/a", "images/b"]
    assert [r.score for r in records] == [pytest.approx(0.9), pytest.approx(0.1)]
    assert all(r.split is None and r.score_std is None for r in records)


def test_csv_content_column_keeps_a_scenes_images_in_one_part(tmp_path):
    path = tmp_path / "ratings.csv"
    rows = [f"{scene}_{kind}.png,{score},{scene}\n" for scene in "abcd" for kind, score in (("blur", 2), ("noise", 3))]
    rows.append("e_blur.png,4,\n")  # an empty cell: the image's own path
    path.write_text("distorted,mos,content\n" + "".join(rows))
    records = read_csv(str(path))
    assert [r.content_id for r in records] == ["a", "a", "b", "b", "c", "c", "d", "d", "e_blur"]
    for seed in range(5):
        (parts,) = split_by_content(records, {"train": 0.6, "test": 0.4}, seed=seed)
        scenes = [{r.content_id for r in part} for part in parts.values()]
        assert not scenes[0] & scenes[1]
        assert sorted(len(part) for part in parts.values()) in ([3, 6], [4, 5])  # whole scenes


@pytest.mark.parametrize(
    "text, message",
    [
        ("image,mos\na.png,3\n", r"missing column\(s\) distorted\. .*found image, mos"),
        ("distorted,quality\na.png,3\n", r"no score column \(score, mos or dmos\)"),
        ("distorted,score\n", r"header but no rows"),
        (
            "distorted,score\na.png,3\nb.png,good\n",
            r"line 3: `score` must be a number, received 'good': b\.png,good",
        ),
        (
            "distorted,score,split\na.png,3,train\nb.png,4,holdout\n",
            r"line 3: unknown split 'holdout'; expected train, validation or test",
        ),
        ("distorted;score\na.png;3\n", r"The header holds ';': separate the columns with ','"),
        ("distorted,score,std\na.png,3,-1\n", r"line 2: `std` must be at least 0"),
        ("distorted,score\n,3\nb.png,4\n", r"line 2: `distorted` is empty"),
        ("distorted,score\na.png,3\nb.png,4,5\n", r"line 3: expected 2 fields"),
        (
            "distorted,score\na.png,3\nb.png,3\n",
            r"all 2 scores equal 3\.0.*read_csv\(path, scale=\(low, high\)\)",
        ),
    ],
)
def test_csv_bad_input(tmp_path, text, message):
    path = tmp_path / "list.csv"
    write(path, text)
    with pytest.raises(DatasetError, match=message):
        read_csv(str(path))


def test_csv_score_outside_known_scale(tmp_path):
    path = tmp_path / "list.csv"
    write(path, "distorted,score\na.png,3\nb.png,7\n")
    expected = r"line 3: `score` 7\.0 lies outside scale=\(1\.0, 5\.0\)"
    with pytest.raises(DatasetError, match=expected):
        read_csv(str(path), scale=(1, 5))


def test_csv_bad_arguments_and_paths(tmp_path):
    with pytest.raises(DatasetError, match=r"CSV file not found: .*missing\.csv"):
        read_csv(str(tmp_path / "missing.csv"))
    with pytest.raises(DatasetError, match=r"is a folder; expected a CSV file"):
        read_csv(str(tmp_path))
    with pytest.raises(ValueError, match=r"`scale` must be .* Received: scale=\(5, 1\)"):
        read_csv(str(tmp_path), scale=(5, 1))
    with pytest.raises(TypeError, match=r"`higher_is_better` must be None, True or False"):
        read_csv(str(tmp_path), higher_is_better="no")
