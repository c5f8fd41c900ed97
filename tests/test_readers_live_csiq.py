"""Tests of the LIVE Release 2 and CSIQ readers on tiny releases built in their real layouts."""

import os
import sys

import numpy as np
import openpyxl
import pytest
import scipy.io

from iqa_keras.data import DatasetError, read_dataset
from iqa_keras.data.readers.csiq import read_csiq
from iqa_keras.data.readers.live import LIVE_FOLDERS, read_live

# ---------------------------------------------------------------------------------------
# LIVE Release 2
# ---------------------------------------------------------------------------------------

LIVE_SIZE = 982
LIVE_REFERENCES = ["coinsinfountain.bmp", "bikes.bmp", "parrots.bmp"]


def _live_entries():
    return [(folder, k) for folder, size in LIVE_FOLDERS.items() for k in range(1, size + 1)]


def _row(values):
    return np.asarray(values, dtype=np.float64)[None, :]


def make_live(root, realigned=True, files=False, **overrides):
    """Writes the LIVE Release 2 label files (982 entries, as shipped); returns the arrays."""
    rng = np.random.default_rng(0)
    arrays = {
        "dmos": rng.uniform(1.0, 99.0, LIVE_SIZE),
        "orgs": (np.arange(LIVE_SIZE) % 5 == 0).astype(np.float64),
        "refnames": [LIVE_REFERENCES[i % 3] for i in range(LIVE_SIZE)],
        "dmos_new": rng.uniform(-3.0, 110.0, LIVE_SIZE),
        "dmos_std": rng.uniform(5.0, 20.0, LIVE_SIZE),
    }
    arrays.update(overrides)
    os.makedirs(root, exist_ok=True)
    scipy.io.savemat(
        os.path.join(root, "dmos.mat"), {"dmos": _row(arrays["dmos"]), "orgs": _row(arrays["orgs"])}
    )
    refnames = np.empty((1, len(arrays["refnames"])), dtype=object)
    refnames[0, :] = arrays["refnames"]
    scipy.io.savemat(os.path.join(root, "refnames_all.mat"), {"refnames_all": refnames})
    if realigned:
        scipy.io.savemat(
            os.path.join(root, "dmos_realigned.mat"),
            {
                "dmos_new": _row(arrays["dmos_new"]),
                "dmos_std": _row(arrays["dmos_std"]),
                "orgs": _row(arrays["orgs"]),
            },
        )
    if files:
        for folder in [*LIVE_FOLDERS, "refimgs"]:
            os.makedirs(os.path.join(root, folder), exist_ok=True)
        for folder, k in _live_entries():
            open(os.path.join(root, folder, f"img{k}.bmp"), "wb").close()
        for name in LIVE_REFERENCES:
            open(os.path.join(root, "refimgs", name), "wb").close()
    return arrays


def test_live_uses_realigned_dmos_and_std_and_drops_reference_copies(tmp_path):
    arrays = make_live(str(tmp_path))
    records = read_live(str(tmp_path))
    kept = np.flatnonzero(arrays["orgs"] == 0)
    assert len(records) == LIVE_SIZE - int(arrays["orgs"].sum()) == len(kept)
    entries = _live_entries()
    for record, index in zip(records, kept):
        folder, k = entries[index]
        assert record.distorted == os.path.join(str(tmp_path), folder, f"img{k}.bmp")
        assert record.raw_score == pytest.approx(arrays["dmos_new"][index])
        assert record.score_std == pytest.approx(arrays["dmos_std"][index])
        reference = arrays["refnames"][index]
        assert record.reference == os.path.join(str(tmp_path), "refimgs", reference)
        assert record.content_id == os.path.splitext(reference)[0]
        assert record.distortion_type == folder
        assert record.distortion_level is None and record.split is None
    # Index 0 (jp2k/img1.bmp) is a reference copy, so the first record is jp2k/img2.bmp.
    assert records[0].distorted.endswith(os.path.join("jp2k", "img2.bmp"))
    counts = {folder: sum(r.distortion_type == folder for r in records) for folder in LIVE_FOLDERS}
    assert counts == {
        folder: sum(1 for i in kept if entries[i][0] == folder) for folder in LIVE_FOLDERS
    }
    assert {r.content_id for r in records} == {"coinsinfountain", "bikes", "parrots"}


def test_live_dmos_direction_best_image_scores_highest(tmp_path):
    make_live(str(tmp_path))
    records = read_live(str(tmp_path))
    raw = np.array([r.raw_score for r in records])
    scores = np.array([r.score for r in records])
    assert np.argmin(raw) == np.argmax(scores)
    assert scores[np.argmin(raw)] > 1.0  # a realigned DMOS below 0 is not clipped
    assert records[0].scale.higher_is_better is False
    assert (records[0].scale.low, records[0].scale.high) == (0.0, 100.0)


def test_live_without_realigned_file_uses_original_dmos_without_std(tmp_path):
    arrays = make_live(str(tmp_path), realigned=False)
    records = read_live(str(tmp_path))
    kept = np.flatnonzero(arrays["orgs"] == 0)
    assert [r.raw_score for r in records] == pytest.approx(arrays["dmos"][kept].tolist())
    assert all(r.score_std is None for r in records)


def test_live_through_read_dataset_checks_files(tmp_path):
    root = str(tmp_path)
    make_live(root, files=True)
    records = read_dataset("live", root)
    assert len(records) == 982 - 197
    os.remove(os.path.join(root, "wn", "img3.bmp"))
    with pytest.raises(DatasetError, match=r"live: 1 of .* missing: .*img3\.bmp"):
        read_dataset("live", root)


@pytest.mark.parametrize("name", ["dmos.mat", "refnames_all.mat"])
def test_live_missing_label_file_names_it_and_the_layout(tmp_path, name):
    make_live(str(tmp_path))
    os.remove(os.path.join(str(tmp_path), name))
    with pytest.raises(DatasetError, match=rf"Label file not found: .*{name}.*LIVE Release 2"):
        read_live(str(tmp_path))


def test_live_wrong_entry_count_is_refused(tmp_path):
    make_live(str(tmp_path), dmos_new=np.ones(981))
    expected = r"dmos_realigned.mat: `dmos_new` has 981 entries, expected 982"
    with pytest.raises(DatasetError, match=expected):
        read_live(str(tmp_path))


def test_live_missing_variable_is_named(tmp_path):
    make_live(str(tmp_path))
    scipy.io.savemat(os.path.join(str(tmp_path), "dmos.mat"), {"dmos": _row(np.ones(LIVE_SIZE))})
    with pytest.raises(DatasetError, match=r"dmos.mat: missing variable `orgs`.*Found: dmos"):
        read_live(str(tmp_path))


@pytest.mark.parametrize("cut", [None, 100, 127])  # foreign bytes; a real file cut short (two crashes)
def test_live_unreadable_mat_file_is_refused(tmp_path, cut):
    make_live(str(tmp_path))
    path = os.path.join(str(tmp_path), "refnames_all.mat")
    with open(path, "rb") as file:
        contents = b"not a mat file" if cut is None else file.read()[:cut]
    with open(path, "wb") as file:
        file.write(contents)
    with pytest.raises(DatasetError, match=r"Cannot read .*refnames_all.mat as a MATLAB .mat file"):
        read_live(str(tmp_path))


def test_live_non_finite_dmos_of_a_distorted_image_is_named(tmp_path):
    dmos_new = np.linspace(0.0, 100.0, LIVE_SIZE)
    dmos_new[1] = np.nan  # entry 2 = jp2k/img2.bmp, a distorted image
    make_live(str(tmp_path), dmos_new=dmos_new)
    expected = r"`dmos_new` entry 2 \(jp2k/img2.bmp\) must be a finite"
    with pytest.raises(DatasetError, match=expected):
        read_live(str(tmp_path))


def test_live_reference_names_must_be_text(tmp_path):
    make_live(str(tmp_path))
    names = np.empty((1, LIVE_SIZE), dtype=object)
    names[0, :] = [np.array([[7.0]])] * LIVE_SIZE
    scipy.io.savemat(os.path.join(str(tmp_path), "refnames_all.mat"), {"refnames_all": names})
    with pytest.raises(DatasetError, match=r"`refnames_all` must be a cell array of text; entry 1"):
        read_live(str(tmp_path))


# ---------------------------------------------------------------------------------------
# CSIQ
# ---------------------------------------------------------------------------------------

CSIQ_HEADER = ["image", "dst_idx", "dst_type", "dst_lev", "dmos_std", "dmos"]
# (image, dst_idx, dst_type, dst_lev, dmos_std, dmos), as in the release's all_by_image sheet.
CSIQ_ROWS = [
    (1600, 1, "noise", 1, 0.061, 0.062),
    (1600, 1, "noise", 2, 0.097, 0.206),
    (1600, 2, "jpeg", 1, 0.040, 0.085),
    (1600, 3, "jpeg 2000", 1, 0.050, 0.110),
    (1600, 4, "1/f noise", 3, 0.070, 0.300),
    (1600, 5, "blur", 5, 0.090, 0.850),
    (1600, 6, "contrast", 4, 0.080, 0.700),
    ("aerial_city", 1, "noise", 1, 0.030, 0.010),
    ("aerial_city", 5, "blur", 2, 0.060, 0.400),
]
# How the release spells each type's folder and file-name token.
CSIQ_FILES = {
    "noise": ("awgn", "AWGN"),
    "jpeg": ("jpeg", "JPEG"),
    "jpeg 2000": ("jpeg2000", "jpeg2000"),
    "1/f noise": ("fnoise", "fnoise"),
    "blur": ("blur", "BLUR"),
    "contrast": ("contrast", "contrast"),
}


def _csiq_file(image, dst_type, level):
    folder, token = CSIQ_FILES[dst_type]
    return os.path.join("dst_imgs", folder, f"{image}.{token}.{level}.png")


def make_csiq_images(root, rows=CSIQ_ROWS):
    os.makedirs(os.path.join(root, "src_imgs"), exist_ok=True)
    for folder, _ in CSIQ_FILES.values():
        os.makedirs(os.path.join(root, "dst_imgs", folder), exist_ok=True)
    for image, _, dst_type, level, _, _ in rows:
        open(os.path.join(root, "src_imgs", f"{image}.png"), "wb").close()
        open(os.path.join(root, _csiq_file(image, dst_type, level)), "wb").close()


def make_csiq_xlsx(root, rows=CSIQ_ROWS, header=CSIQ_HEADER, sheet="all_by_image"):
    """The DMOS workbook as shipped: title rows, a blank row, then the table from column B."""
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    worksheet.title = sheet
    worksheet["B1"] = "CSIQ image quality database: DMOS"
    worksheet["B2"] = "Larson and Chandler, Oklahoma State University"
    worksheet.append([])
    worksheet.append([None, *header])
    for row in rows:
        worksheet.append([None, *row])
    workbook.create_sheet("all_by_distortion")
    path = os.path.join(root, "csiq.DMOS.xlsx")
    workbook.save(path)
    return path


def make_csiq_text(root, name, delimiter, rows=CSIQ_ROWS):
    lines = [delimiter.join(CSIQ_HEADER)] + [delimiter.join(str(v) for v in row) for row in rows]
    with open(os.path.join(root, name), "w") as file:
        file.write("\n".join(lines) + "\n")


@pytest.fixture
def csiq_root(tmp_path):
    root = str(tmp_path)
    make_csiq_images(root)
    make_csiq_xlsx(root)
    return root


def test_csiq_reads_the_workbook_in_sheet_order(csiq_root):
    records = read_csiq(csiq_root)
    assert len(records) == len(CSIQ_ROWS)
    for record, (image, _, dst_type, level, std, dmos) in zip(records, CSIQ_ROWS):
        assert record.distorted == os.path.join(csiq_root, _csiq_file(image, dst_type, level))
        assert record.reference == os.path.join(csiq_root, "src_imgs", f"{image}.png")
        assert record.raw_score == pytest.approx(dmos)
        assert record.score_std == pytest.approx(std)
        assert record.distortion_type == CSIQ_FILES[dst_type][0]
        assert record.distortion_level == level
        assert record.content_id == str(image)
        assert record.split is None
    assert records[0].content_id == "1600"  # a numeric cell, kept as text
    assert records[0].distorted.endswith(os.path.join("awgn", "1600.AWGN.1.png"))


def test_csiq_dmos_direction_best_image_scores_highest(csiq_root):
    records = read_csiq(csiq_root)
    best = min(records, key=lambda r: r.raw_score)
    worst = max(records, key=lambda r: r.raw_score)
    assert best.score == max(r.score for r in records) == pytest.approx(1.0 - 0.010)
    assert worst.score == min(r.score for r in records) == pytest.approx(1.0 - 0.850)


@pytest.mark.parametrize("name, delimiter", [("csiq.DMOS.txt", "\t"), ("csiq.DMOS.csv", ",")])
def test_csiq_text_export_reads_like_the_workbook(csiq_root, name, delimiter):
    from_workbook = read_csiq(csiq_root)
    os.remove(os.path.join(csiq_root, "csiq.DMOS.xlsx"))
    make_csiq_text(csiq_root, name, delimiter)
    assert read_csiq(csiq_root) == from_workbook


def test_csiq_matches_folders_and_files_ignoring_case(tmp_path):
    root = str(tmp_path)
    rows = [(1600, 5, "Blur", 1, 0.05, 0.2)]
    os.makedirs(os.path.join(root, "src_imgs"))
    os.makedirs(os.path.join(root, "dst_imgs", "BLUR"))
    open(os.path.join(root, "src_imgs", "1600.PNG"), "wb").close()
    open(os.path.join(root, "dst_imgs", "BLUR", "1600.blur.1.PNG"), "wb").close()
    make_csiq_xlsx(root, rows)
    (record,) = read_dataset("csiq", root)
    assert record.distorted == os.path.join(root, "dst_imgs", "BLUR", "1600.blur.1.PNG")
    assert record.reference == os.path.join(root, "src_imgs", "1600.PNG")
    assert record.distortion_type == "blur"


def test_csiq_labels_naming_a_reference_in_two_cases_give_one_content(tmp_path):
    root = str(tmp_path)
    rows = [("boston", 5, "Blur", 1, 0.05, 0.2), ("Boston", 5, "Blur", 2, 0.1, 0.2)]  # as typed
    os.makedirs(os.path.join(root, "src_imgs"))
    os.makedirs(os.path.join(root, "dst_imgs", "blur"))
    open(os.path.join(root, "src_imgs", "boston.png"), "wb").close()
    for level in (1, 2):
        open(os.path.join(root, "dst_imgs", "blur", f"boston.BLUR.{level}.png"), "wb").close()
    make_csiq_xlsx(root, rows)
    assert [record.content_id for record in read_dataset("csiq", root)] == ["boston", "boston"]


def test_csiq_through_read_dataset_checks_files(csiq_root):
    assert len(read_dataset("csiq", csiq_root)) == len(CSIQ_ROWS)
    os.remove(os.path.join(csiq_root, _csiq_file(1600, "jpeg", 1)))
    with pytest.raises(DatasetError, match=r"csiq: 1 of .* missing: .*1600\.JPEG\.1\.png"):
        read_dataset("csiq", csiq_root)


def test_csiq_missing_label_file_names_it_and_the_layout(tmp_path):
    make_csiq_images(str(tmp_path))
    expected = r"Label file not found: .*csiq.DMOS.xlsx .*csiq.DMOS.txt.*CSIQ"
    with pytest.raises(DatasetError, match=expected):
        read_csiq(str(tmp_path))


def test_csiq_missing_columns_are_named(tmp_path):
    root = str(tmp_path)
    make_csiq_images(root)
    header = ["image", "dst_idx", "dst_type", "dst_lev", "std", "score"]
    make_csiq_xlsx(root, header=header)
    with pytest.raises(DatasetError, match=r"csiq.DMOS.xlsx: missing column\(s\) dmos_std, dmos"):
        read_csiq(root)


def test_csiq_text_export_missing_columns_are_named(csiq_root):
    os.remove(os.path.join(csiq_root, "csiq.DMOS.xlsx"))
    with open(os.path.join(csiq_root, "csiq.DMOS.txt"), "w") as file:
        file.write("image\tdst_type\tdst_lev\tdmos\n1600\tnoise\t1\t0.1\n")
    with pytest.raises(DatasetError, match=r"csiq.DMOS.txt: missing column\(s\) dmos_std"):
        read_csiq(csiq_root)


def test_csiq_missing_sheet_lists_the_sheets(tmp_path):
    make_csiq_xlsx(str(tmp_path), sheet="Sheet1")
    expected = r"no sheet 'all_by_image'.*Found: Sheet1, all_by_distortion"
    with pytest.raises(DatasetError, match=expected):
        read_csiq(str(tmp_path))


@pytest.mark.parametrize(
    "bad_row, problem",
    [
        ((1600, 7, "salt", 1, 0.1, 0.2), "unknown `dst_type` 'salt'; expected one of 1/f noise"),
        ((1600, 1, "noise", 1.5, 0.1, 0.2), "`dst_lev` must be a whole number >= 1, received"),
        ((1600, 1, "noise", 1, 0.1, "n/a"), "`dmos` must be a number, received 'n/a'"),
        ((None, 1, "noise", 1, 0.1, 0.2), "`image` is empty"),
    ],
)
def test_csiq_bad_row_names_the_file_and_line_and_shows_it(csiq_root, bad_row, problem):
    make_csiq_xlsx(csiq_root, rows=[CSIQ_ROWS[0], bad_row])
    with pytest.raises(DatasetError) as error:
        read_csiq(csiq_root)
    message = str(error.value)
    # Two title rows, a blank row and the header: the second data row is row 6.
    assert message.startswith(f"{os.path.join(csiq_root, 'csiq.DMOS.xlsx')}, line 6: {problem}")
    shown = "\t".join("" if value is None else str(value) for value in bad_row).strip("\t")
    assert message.endswith(f": {shown}")


def test_csiq_bad_text_line_names_the_line(csiq_root):
    os.remove(os.path.join(csiq_root, "csiq.DMOS.xlsx"))
    rows = [CSIQ_ROWS[0], (1600, 1, "noise", 0, 0.1, 0.2)]
    make_csiq_text(csiq_root, "csiq.DMOS.csv", ",", rows=rows)
    expected = r"csiq.DMOS.csv, line 3: `dst_lev` .*: 1600,1,noise,0,0.1,0.2"
    with pytest.raises(DatasetError, match=expected):
        read_csiq(csiq_root)


def test_csiq_without_openpyxl_says_how_to_install_it(csiq_root, monkeypatch):
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # makes `import openpyxl` fail
    expected = r"needs openpyxl: install iqa-keras\[xlsx\] or pip install openpyxl"
    with pytest.raises(DatasetError, match=expected):
        read_csiq(csiq_root)


def test_csiq_unreadable_workbook_is_refused(csiq_root):
    with open(os.path.join(csiq_root, "csiq.DMOS.xlsx"), "wb") as file:
        file.write(b"not a workbook")
    with pytest.raises(DatasetError, match=r"Cannot read .*csiq.DMOS.xlsx as an .xlsx workbook"):
        read_csiq(csiq_root)
