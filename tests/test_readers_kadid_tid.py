"""KADID-10k and TID2013/TID2008 readers on tiny fixtures in the releases' own layouts."""

import math
import os
import re

import numpy as np
import pytest
from PIL import Image

from iqa_keras.data import DatasetError, read_dataset
from iqa_keras.data.readers.kadid10k import read_kadid10k
from iqa_keras.data.readers.tid import read_tid2008, read_tid2013

# Lines in the format of the real KADID-10k dmos.csv.
KADID_CSV = """dist_img,ref_img,dmos,var
I01_01_01.png,I01.png,4.57,0.496
I01_01_02.png,I01.png,4.33,0.869
I01_01_03.png,I01.png,2.67,0.789
I02_24_05.png,I02.png,1.23,0.259
"""

# Lines in the format of the real TID2013 mos_with_names.txt and mos_std.txt.
TID_MOS = """5.51429 i01_01_1.bmp
5.56757 i01_01_2.bmp
4.94444 I01_08_3.bmp

0.24242 i25_24_5.bmp
"""
TID_STD = "0.13598\n0.18339\n0.12710\n0.17525\n"


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as file:
        file.write(text)


def write_image(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)


@pytest.fixture
def kadid(tmp_path):
    write(tmp_path / "dmos.csv", KADID_CSV)
    for name in ("I01", "I01_01_01", "I01_01_02", "I01_01_03", "I02", "I02_24_05"):
        write_image(str(tmp_path / "images" / f"{name}.png"))
    return str(tmp_path)


@pytest.fixture
def tid(tmp_path):
    """TID's case quirks: references I01.BMP and i25.bmp, distorted names in mixed case."""
    write(tmp_path / "mos_with_names.txt", TID_MOS)
    write(tmp_path / "mos_std.txt", TID_STD)
    for name in ("I01.BMP", "i25.bmp"):
        write(tmp_path / "reference_images" / name, "")
    for name in ("I01_01_1.BMP", "i01_01_2.bmp", "i01_08_3.bmp", "i25_24_5.bmp"):
        write(tmp_path / "distorted_images" / name, "")
    return str(tmp_path)


def test_kadid_records(kadid):
    records = read_dataset("kadid10k", kadid)
    assert len(records) == 4
    first = records[0]
    assert first.distorted == os.path.join(kadid, "images", "I01_01_01.png")
    assert first.reference == os.path.join(kadid, "images", "I01.png")
    assert (first.distortion_type, first.distortion_level) == ("01", 1)
    assert records[3].distortion_type == "24" and records[3].distortion_level == 5
    assert [r.content_id for r in records] == ["I01", "I01", "I01", "I02"]
    assert math.isclose(first.score_std, math.sqrt(0.496))
    assert first.scale.low == 1.0 and first.scale.high == 5.0 and first.scale.higher_is_better
    scores = [r.score for r in records]
    assert np.argmax(scores) == 0 and np.argmin(scores) == 3
    assert math.isclose(first.score, (4.57 - 1) / 4)
    assert all(r.split is None for r in records)


def test_kadid_generated_layout(tmp_path):
    write(
        tmp_path / "dmos.csv",
        "dist_img,ref_img,dmos,seed\n"
        "I001_C2_03.png,I001.png,3.5,7\n"
        "I001_12_01.png,I001.png,4.5,8\n",
    )
    records = read_kadid10k(str(tmp_path))
    assert [(r.distortion_type, r.distortion_level) for r in records] == [("C2", None), ("12", 1)]
    assert {r.content_id for r in records} == {"I001"}
    assert all(r.score_std is None for r in records)


def test_kadid_missing_label_file(tmp_path):
    with pytest.raises(DatasetError, match=r"dmos\.csv.*KADID-10k"):
        read_kadid10k(str(tmp_path))


def test_kadid_labels_with_a_header_alone_are_refused_by_name(tmp_path):
    write(tmp_path / "dmos.csv", "dist_img,ref_img,dmos,var\n")
    with pytest.raises(DatasetError, match=r"the kadid10k labels list no images"):
        read_dataset("kadid10k", str(tmp_path))


def test_kadid_missing_columns(tmp_path):
    write(tmp_path / "dmos.csv", "dist_img,score\nI01_01_01.png,4.0\n")
    with pytest.raises(DatasetError, match=r"missing column\(s\) ref_img, dmos"):
        read_kadid10k(str(tmp_path))


@pytest.mark.parametrize(
    "line, problem",
    [
        ("I01_01_01.png,I01.png,high,0.5", "`dmos` must be a number"),
        ("I01_01_01.png,I01.png,4.0,-0.5", "`var` must be at least 0"),
        ("I01-blur.png,I01.png,4.0,0.5", "does not follow"),
        ("I01_01_01.png,I01.png,4.0", "expected 4 fields"),
    ],
)
def test_kadid_bad_line(tmp_path, line, problem):
    header = "dist_img,ref_img,dmos,var\nI01_01_02.png,I01.png,4,0.1"
    write(tmp_path / "dmos.csv", f"{header}\n{line}\n")
    expected = rf"dmos\.csv, line 3: .*{problem}.*{re.escape(line)}"
    with pytest.raises(DatasetError, match=expected):
        read_kadid10k(str(tmp_path))


def test_kadid_missing_image_reported_by_read_dataset(kadid):
    os.remove(os.path.join(kadid, "images", "I01_01_03.png"))
    with pytest.raises(DatasetError, match="1 of 6 image files are missing: .*I01_01_03.png"):
        read_dataset("kadid10k", kadid)


def test_tid2013_records_match_case_insensitively(tid):
    records = read_dataset("tid2013", tid)
    assert len(records) == 4
    names = [os.path.basename(r.distorted) for r in records]
    assert names == ["I01_01_1.BMP", "i01_01_2.bmp", "i01_08_3.bmp", "i25_24_5.bmp"]
    assert [os.path.basename(r.reference) for r in records] == ["I01.BMP"] * 3 + ["i25.bmp"]
    assert [r.content_id for r in records] == ["I01", "I01", "I01", "I25"]
    assert [(r.distortion_type, r.distortion_level) for r in records][2:] == [("08", 3), ("24", 5)]
    assert [r.score_std for r in records] == [0.13598, 0.18339, 0.12710, 0.17525]
    assert records[0].scale.low == 0.0 and records[0].scale.high == 9.0
    scores = [r.score for r in records]
    assert np.argmax(scores) == 1 and np.argmin(scores) == 3
    assert math.isclose(records[1].score, 5.56757 / 9)


def test_tid2008_without_std_file(tid):
    os.remove(os.path.join(tid, "mos_std.txt"))
    records = read_dataset("tid2008", tid)
    assert len(records) == 4 and all(r.score_std is None for r in records)


def test_tid_label_file_name_case(tid):
    os.rename(os.path.join(tid, "mos_with_names.txt"), os.path.join(tid, "MOS_with_names.TXT"))
    assert len(read_tid2013(tid)) == 4


def test_tid_missing_label_file(tmp_path):
    with pytest.raises(DatasetError, match=r"mos_with_names\.txt.*TID2008"):
        read_tid2008(str(tmp_path))


def test_tid_missing_folder(tid):
    os.rename(os.path.join(tid, "distorted_images"), os.path.join(tid, "distorted"))
    with pytest.raises(DatasetError, match=r"Folder not found: .*distorted_images.*TID2013"):
        read_tid2013(tid)


@pytest.mark.parametrize(
    "line, problem",
    [
        ("five i01_01_1.bmp", "`mos` must be a number"),
        ("5.1 i01_01_1.bmp extra", "expected two fields"),
        ("5.1 reference.bmp", "does not follow"),
    ],
)
def test_tid_bad_line(tid, line, problem):
    write(os.path.join(tid, "mos_with_names.txt"), f"5.0 i01_01_2.bmp\n{line}\n")
    os.remove(os.path.join(tid, "mos_std.txt"))
    expected = rf"mos_with_names\.txt, line 2: .*{problem}.*{re.escape(line)}"
    with pytest.raises(DatasetError, match=expected):
        read_tid2013(tid)


def test_tid_std_count_mismatch(tid):
    write(os.path.join(tid, "mos_std.txt"), "0.1\n0.2\n")
    with pytest.raises(DatasetError, match=r"mos_std\.txt has 2 values but .* has 4"):
        read_tid2013(tid)


def test_tid_missing_image_reported_by_read_dataset(tid):
    os.remove(os.path.join(tid, "distorted_images", "i25_24_5.bmp"))
    with pytest.raises(DatasetError, match=r"missing: .*i25_24_5\.bmp"):
        read_dataset("tid2013", tid)
