"""Tests of the LIVE Challenge and SPAQ readers on tiny releases built in their real layouts."""

import os
import sys

import numpy as np
import openpyxl
import pytest
import scipy.io

from iqa_keras.data import DatasetError, read_dataset
from iqa_keras.data.readers.livec import read_livec
from iqa_keras.data.readers.spaq import read_spaq

# ---------------------------------------------------------------------------------------
# LIVE In the Wild Image Quality Challenge
# ---------------------------------------------------------------------------------------

LIVEC_SIZE = 1169
LIVEC_NAMES = [f"t{i}.bmp" for i in range(1, 8)] + [f"{i}.bmp" for i in range(1, 1163)]


def make_livec(root, files=False, **overrides):
    """Writes the three Data/*.mat files as released (names as a 1169x1 cell array)."""
    rng = np.random.default_rng(1)
    arrays = {
        "names": LIVEC_NAMES,
        "mos": rng.uniform(3.0, 92.0, LIVEC_SIZE),
        "std": rng.uniform(10.0, 25.0, LIVEC_SIZE),
    }
    arrays.update(overrides)
    data = os.path.join(root, "Data")
    os.makedirs(data, exist_ok=True)
    names = np.empty((len(arrays["names"]), 1), dtype=object)
    names[:, 0] = arrays["names"]
    scipy.io.savemat(os.path.join(data, "AllImages_release.mat"), {"AllImages_release": names})
    scipy.io.savemat(
        os.path.join(data, "AllMOS_release.mat"), {"AllMOS_release": arrays["mos"][None, :]}
    )
    scipy.io.savemat(
        os.path.join(data, "AllStdDev_release.mat"), {"AllStdDev_release": arrays["std"][None, :]}
    )
    if files:
        os.makedirs(os.path.join(root, "Images", "trainingImages"))
        for name in LIVEC_NAMES:
            folder = "trainingImages" if name.startswith("t") else ""
            open(os.path.join(root, "Images", folder, name), "wb").close()
    return arrays


def test_livec_drops_the_seven_training_images_and_keeps_release_order(tmp_path):
    root = str(tmp_path)
    arrays = make_livec(root)
    records = read_livec(root)
    assert len(records) == 1162
    for offset, record in enumerate(records):
        index = offset + 7
        name = LIVEC_NAMES[index]
        assert record.distorted == os.path.join(root, "Images", name)
        assert record.raw_score == pytest.approx(arrays["mos"][index])
        assert record.score_std == pytest.approx(arrays["std"][index])
        assert record.content_id == os.path.splitext(name)[0]
        assert record.reference is None and record.split is None
        assert record.distortion_type is None and record.distortion_level is None
    assert records[0].content_id == "1" and records[-1].content_id == "1162"


def test_livec_mos_direction_best_image_scores_highest(tmp_path):
    make_livec(str(tmp_path))
    records = read_livec(str(tmp_path))
    best = max(records, key=lambda r: r.raw_score)
    assert best.score == max(r.score for r in records) == pytest.approx(best.raw_score / 100.0)
    assert records[0].scale.higher_is_better is True


def test_livec_through_read_dataset_checks_files(tmp_path):
    root = str(tmp_path)
    make_livec(root, files=True)
    assert len(read_dataset("livec", root)) == 1162
    os.remove(os.path.join(root, "Images", "500.bmp"))
    with pytest.raises(DatasetError, match=r"livec: 1 of 1162 image files are missing: .*500\.bmp"):
        read_dataset("livec", root)


@pytest.mark.parametrize("name", ["AllImages_release", "AllMOS_release", "AllStdDev_release"])
def test_livec_missing_label_file_names_it_and_the_layout(tmp_path, name):
    make_livec(str(tmp_path))
    os.remove(os.path.join(str(tmp_path), "Data", f"{name}.mat"))
    expected = rf"Label file not found: .*{name}.mat. Expected the LIVE Challenge"
    with pytest.raises(DatasetError, match=expected):
        read_livec(str(tmp_path))


def test_livec_wrong_entry_count_is_refused(tmp_path):
    make_livec(str(tmp_path), mos=np.ones(1162))
    with pytest.raises(DatasetError, match=r"`AllMOS_release` has 1162 entries, expected 1169"):
        read_livec(str(tmp_path))


def test_livec_missing_variable_is_named(tmp_path):
    make_livec(str(tmp_path))
    path = os.path.join(str(tmp_path), "Data", "AllStdDev_release.mat")
    scipy.io.savemat(path, {"AllStdDev": np.ones((1, LIVEC_SIZE))})
    expected = r"missing variable `AllStdDev_release`.*Found: AllStdDev"
    with pytest.raises(DatasetError, match=expected):
        read_livec(str(tmp_path))


def test_livec_non_finite_mos_is_named(tmp_path):
    mos = np.full(LIVEC_SIZE, 50.0)
    mos[9] = np.inf  # entry 10 = 3.bmp
    make_livec(str(tmp_path), mos=mos)
    expected = r"`AllMOS_release` entry 10 \(3.bmp\) must be a finite number"
    with pytest.raises(DatasetError, match=expected):
        read_livec(str(tmp_path))


# ---------------------------------------------------------------------------------------
# SPAQ
# ---------------------------------------------------------------------------------------

SPAQ_HEADER = [
    "Image name", "MOS", "Brightness", "Colorfulness", "Contrast", "Noisiness", "Sharpness"
]
SPAQ_ROWS = [
    ("00001.jpg", 42.5, 50.2, 45.0, 48.1, 40.3, 39.9),
    ("00002.jpg", 81.0, 70.1, 77.7, 72.4, 80.2, 83.3),
    ("00003.jpg", 12.25, 20.0, 15.5, 18.0, 10.1, 11.0),
]
SPAQ_LABELS = os.path.join("Annotations", "MOS and Image attribute scores.xlsx")


def make_spaq(root, rows=SPAQ_ROWS, header=SPAQ_HEADER, files=True):
    os.makedirs(os.path.join(root, "Annotations"), exist_ok=True)
    workbook = openpyxl.Workbook()
    workbook.active.append(header)
    for row in rows:
        workbook.active.append(row)
    workbook.save(os.path.join(root, SPAQ_LABELS))
    if files:
        os.makedirs(os.path.join(root, "TestImage"), exist_ok=True)
        for row in rows:
            open(os.path.join(root, "TestImage", row[0]), "wb").close()


def test_spaq_reads_the_workbook_in_order(tmp_path):
    root = str(tmp_path)
    make_spaq(root)
    records = read_spaq(root)
    assert [r.distorted for r in records] == [
        os.path.join(root, "TestImage", row[0]) for row in SPAQ_ROWS
    ]
    assert [r.raw_score for r in records] == [42.5, 81.0, 12.25]
    assert [r.content_id for r in records] == ["00001", "00002", "00003"]
    assert all(r.reference is None and r.score_std is None and r.split is None for r in records)


def test_spaq_mos_direction_best_image_scores_highest(tmp_path):
    make_spaq(str(tmp_path))
    scores = [r.score for r in read_spaq(str(tmp_path))]
    assert scores == pytest.approx([0.425, 0.81, 0.1225])
    assert max(scores) == scores[1]


def test_spaq_through_read_dataset_checks_files(tmp_path):
    root = str(tmp_path)
    make_spaq(root)
    assert len(read_dataset("spaq", root)) == 3
    os.remove(os.path.join(root, "TestImage", "00002.jpg"))
    with pytest.raises(DatasetError, match=r"spaq: 1 of 3 image files are missing: .*00002\.jpg"):
        read_dataset("spaq", root)


def test_spaq_missing_label_file_names_it_and_the_layout(tmp_path):
    expected = r"Label file not found: .*MOS and Image attribute scores.xlsx. Expected the SPAQ"
    with pytest.raises(DatasetError, match=expected):
        read_spaq(str(tmp_path))


def test_spaq_missing_columns_are_named(tmp_path):
    make_spaq(str(tmp_path), header=["Image name", "Mean opinion score"])
    with pytest.raises(DatasetError, match=r"scores.xlsx: missing column\(s\) MOS"):
        read_spaq(str(tmp_path))


@pytest.mark.parametrize(
    "bad_row, problem, shown",
    [
        (("00002.jpg", "abc"), "`MOS` must be a number, received 'abc'", "00002.jpg\tabc"),
        ((None, 50.0), "`Image name` is empty", "50"),
    ],
)
def test_spaq_bad_row_names_the_file_and_line_and_shows_it(tmp_path, bad_row, problem, shown):
    make_spaq(str(tmp_path), rows=[SPAQ_ROWS[0], bad_row], files=False)
    path = os.path.join(str(tmp_path), SPAQ_LABELS)
    with pytest.raises(DatasetError) as error:
        read_spaq(str(tmp_path))
    assert str(error.value) == f"{path}, line 3: {problem}: {shown}"


def test_spaq_without_openpyxl_says_how_to_install_it(tmp_path, monkeypatch):
    make_spaq(str(tmp_path))
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # makes `import openpyxl` fail
    expected = r"needs openpyxl: install iqa-keras\[xlsx\] or pip install openpyxl"
    with pytest.raises(DatasetError, match=expected):
        read_spaq(str(tmp_path))
