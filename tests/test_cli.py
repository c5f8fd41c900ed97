"""The `iqa-keras` command, run as a user runs it: in a subprocess."""

import csv
import io as text_io
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

import iqa_keras
from iqa_keras.scoring import EXAMPLE_IMAGES
from iqa_keras.tiling import Scorer

REFERENCE, JPEG, BLUR = (EXAMPLE_IMAGES[k] for k in ("reference", "distorted_jpeg", "distorted_blur"))


def run(*arguments, env=None):
    completed = subprocess.run(
        [sys.executable, "-m", "iqa_keras.cli", *arguments],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
    )
    return completed.returncode, completed.stdout, completed.stderr


def test_console_script_is_installed():
    executable = shutil.which("iqa-keras", path=os.path.dirname(sys.executable))
    assert executable is not None
    completed = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0 and completed.stdout.startswith("iqa-keras ")


def test_help_everywhere_with_examples():
    for command in ([], ["score"], ["metrics"], ["generate"]):
        code, out, _ = run(*command, "--help")
        assert code == 0 and "usage: iqa-keras" in out
    assert "example" in run("score", "--help")[1]


def test_score_pair_json_matches_the_library():
    import iqa_keras

    code, out, err = run("score", "--metric", "ssim", "--reference", REFERENCE, JPEG, BLUR, "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert [sorted(row) for row in rows] == [["distorted", "metric", "reference", "score"]] * 2
    assert rows[0]["distorted"] == JPEG and rows[0]["reference"] == REFERENCE and rows[0]["metric"] == "ssim"
    assert rows[0]["score"] == pytest.approx(iqa_keras.score(JPEG, reference=REFERENCE, metric="ssim"), abs=1e-6)
    assert 0 < rows[1]["score"] < 1


@pytest.mark.skipif(sys.platform != "linux", reason="file names are bytes on Linux only")
def test_a_file_name_that_is_not_utf8_is_printed_as_it_is(tmp_path):
    name = os.path.join(os.fsencode(tmp_path), b"caf\xe9.png")  # Latin-1, invalid UTF-8
    shutil.copy(JPEG, name)
    completed = subprocess.run(
        [sys.executable, "-m", "iqa_keras.cli", "score", "--metric", "psnr", "--reference", REFERENCE,
         str(tmp_path), "-f", "csv"],
        capture_output=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONIOENCODING": "utf-8"},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert name + b"," in completed.stdout


def test_a_reference_for_a_no_reference_model_is_refused():
    code, out, err = run("score", "--model", "nr-default", "--reference", REFERENCE, JPEG)
    assert code == 2 and out == ""
    assert "nr-default is no-reference: it would ignore the references" in err


def test_a_model_a_command_cannot_use_is_refused_by_name(tmp_path, capsys):
    import keras

    from iqa_keras.cli import main

    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"not a zip file")
    plain = tmp_path / "plain.keras"  # a Keras model, but none of the toolkit's: no quality map
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]).save(plain)
    out = str(tmp_path / "exported")
    ratings = tmp_path / "ratings.csv"
    ratings.write_text(f"distorted,score\n{JPEG},2\n{BLUR},3\n")
    cases = [
        (["score", "--model", str(corrupt), JPEG], 1, f"Cannot load {corrupt} as a Keras model"),
        (["maps", "--model", str(corrupt), JPEG], 1, f"Cannot load {corrupt} as a Keras model"),
        (["export", str(corrupt), out], 1, f"Cannot load {corrupt} as a Keras model"),
        (["score", "--model", str(plain), JPEG], 2, "must be a learned model of iqa_keras"),
        (["maps", "--model", str(plain), JPEG], 2, "must be a learned model of iqa_keras"),
        (["export", str(plain), out, "--maps"], 2, "which has no quality map"),
        (["export", "fr-default", out, "--format", "onnx", "--version", "3"], 2, "an ONNX export is the one file OUT"),
        (["export", "fr-default", str(tmp_path), "--format", "onnx"], 2, "already exists, refusing to overwrite it"),
        (["evaluate", "--dataset", "kadid10k", "--root", str(tmp_path), "--model", str(corrupt)], 1, "Cannot load"),
        (["evaluate", "--dataset", "kadid10k", "--root", str(tmp_path), "--model", str(plain)], 2,
         "must be a learned model of iqa_keras"),
        (["finetune", "--model", str(corrupt), "--data", str(ratings), "--out", str(tmp_path / "f")], 1,
         "Cannot load"),
        (["maps", "--model", "nr-default", "--reference", REFERENCE, JPEG], 2, "no-reference: it would ignore"),
        (["maps", "--model", "nr-default", "--out", BLUR, JPEG], 2, f"--out {BLUR} is a file, not a folder"),
    ]
    for argv, code, message in cases:
        assert main(argv) == code, argv
        assert message in capsys.readouterr().err, argv
    assert not os.path.exists(out)
    with pytest.raises(SystemExit) as exit_:
        main(["maps", "--model", "nr-default", "--alpha", "2", JPEG])
    assert exit_.value.code == 2 and "--alpha: must be a number from 0 to 1, not '2'" in capsys.readouterr().err


def test_folders_are_paired_by_name_and_csv_is_parseable(tmp_path):
    references, distorted = tmp_path / "refs", tmp_path / "dists"
    references.mkdir()
    distorted.mkdir()
    for name in ("one.png", "two.png"):
        shutil.copy(REFERENCE, references / name)
    shutil.copy(JPEG, distorted / "one.png")
    shutil.copy(REFERENCE, distorted / "two.png")
    code, out, err = run("score", "--metric", "psnr", "--reference", str(references), str(distorted), "-f", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(text_io.StringIO(out)))
    assert [os.path.basename(row["distorted"]) for row in rows] == ["one.png", "two.png"]
    assert float(rows[0]["score"]) < 40 and rows[1]["score"] == "inf"  # identical pair: infinite PSNR


def test_an_image_without_its_reference_is_reported_and_the_others_are_scored(tmp_path, capsys):
    from iqa_keras.cli import main

    references, distorted = tmp_path / "refs", tmp_path / "dists"
    references.mkdir()
    distorted.mkdir()
    shutil.copy(REFERENCE, references / "Photo.png")
    shutil.copy(REFERENCE, references / "two.png")
    shutil.copy(JPEG, references / "two.bmp")  # two candidates for two.jpg: which is meant?
    shutil.copy(JPEG, distorted / "photo.jpg")  # matched in any case
    shutil.copy(JPEG, distorted / "two.jpg")
    shutil.copy(JPEG, distorted / "orphan.png")
    assert main(["score", "-m", "psnr", "-r", str(references), str(distorted), "-f", "csv"]) == 1
    captured = capsys.readouterr()
    rows = list(csv.DictReader(text_io.StringIO(captured.out)))
    assert [(os.path.basename(row["reference"]), os.path.basename(row["distorted"])) for row in rows] == [
        ("Photo.png", "photo.jpg")
    ]
    assert f"No reference for {distorted / 'orphan.png'} in folder {references}" in captured.err
    assert f"Several references for {distorted / 'two.jpg'} in folder {references}: two.bmp, two.png" in captured.err


def test_list_errors_are_named(tmp_path, capsys):
    from iqa_keras.cli import main

    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"distorted\n{JPEG}\n")
    assert main(["score", "-r", REFERENCE, "--list", str(pairs)]) == 2  # it would be ignored
    assert "--reference pairs the images named on the command line" in capsys.readouterr().err
    for missing in (tmp_path / "nowhere.csv", tmp_path):
        assert main(["score", "-m", "psnr", "--list", str(missing)]) == 1
        assert f"Cannot read {missing}: " in capsys.readouterr().err


def test_maps_skips_the_overlays_a_glob_names(tmp_path, capsys):
    from iqa_keras.cli import main

    shutil.copy(BLUR, tmp_path / "a.png")
    assert main(["maps", "--model", "nr-default", str(tmp_path / "a.png")]) == 0
    again = sorted(str(path) for path in tmp_path.iterdir())  # as a shell expands *.png the second time
    assert main(["maps", "--model", "nr-default", *again]) == 0
    assert f"skipped {tmp_path / 'a.quality.png'}: a quality map this command writes" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["a.png", "a.quality.png"]


def test_table_output_and_glob(tmp_path):
    for name in ("x1.png", "x2.png"):
        shutil.copy(BLUR, tmp_path / name)
    code, out, err = run("score", "-m", "mse", "-r", REFERENCE, str(tmp_path / "x*.png"))
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split() == ["distorted", "reference", "metric", "score"] and len(lines) == 3


def test_metrics_lists_direction_and_range():
    code, out, _ = run("metrics", "--format", "json")
    assert code == 0
    listed = {row["name"]: row for row in json.loads(out)}
    assert {"psnr", "mse", "mae", "ssim", "ms_ssim", "lmse", "nae", "max_difference", "structural_content"} <= set(listed)
    assert listed["ssim"]["higher_is_better"] is True and listed["mse"]["higher_is_better"] is False


def test_failed_input_exits_1_naming_the_file_and_keeps_the_others(tmp_path):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not an image")
    code, out, err = run("score", "-m", "psnr", "-r", REFERENCE, str(corrupt), JPEG, "-f", "json")
    assert code == 1
    assert "corrupt.png" in err
    assert [row["distorted"] for row in json.loads(out)] == [JPEG]


def test_size_mismatch_exits_1_with_both_sizes(tmp_path):
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(small)
    code, _, err = run("score", "-r", REFERENCE, str(small))
    assert code == 1 and "256x256" in err and "30x20" in err
    assert err.startswith("iqa-keras score: error:")  # no TensorFlow start-up noise before it


def test_bad_usage_exits_2():
    assert run("score", "-m", "ssim", JPEG)[0] == 2  # a full-reference metric without --reference
    code, _, err = run("score", "-m", "nosuchmetric", "-r", REFERENCE, JPEG)
    assert code == 2 and "nosuchmetric" in err and "ssim" in err
    assert run("nosuchcommand")[0] == 2


def test_generate_writes_a_dataset_the_kadid_reader_loads(tmp_path):
    from iqa_keras.data import read_dataset
    from iqa_keras.data.distortions import kadid_mean_score

    pristine = tmp_path / "pristine"
    pristine.mkdir()
    shutil.copy(REFERENCE, pristine / "astronaut.png")
    out = tmp_path / "synthetic"
    arguments = ("generate", "--pristine", str(pristine), "--out", str(out), "--types", "jpeg", "gaussian_blur",
                 "--levels", "1", "5", "--compose", "1")
    code, stdout, err = run(*arguments)
    assert code == 0, err
    assert "5 distorted images of 1 references" in stdout
    records = read_dataset("kadid10k", out)
    assert len(records) == 5
    jpeg5 = next(r for r in records if r.distortion_type == "10" and r.distortion_level == 5)
    assert jpeg5.raw_score == pytest.approx(kadid_mean_score("jpeg", 5), abs=1e-4)
    code, stdout, _ = run(*arguments)  # a rerun keeps everything
    assert code == 0 and "0 written, 6 kept" in stdout


def test_generate_bad_arguments(tmp_path):
    code, _, err = run("generate", "--pristine", str(tmp_path / "none"), "--out", str(tmp_path / "o"))
    assert code == 1 and "none" in err
    (tmp_path / "p").mkdir()
    shutil.copy(REFERENCE, tmp_path / "p" / "a.png")
    code, _, err = run("generate", "--pristine", str(tmp_path / "p"), "--out", str(tmp_path / "o"), "--levels", "9")
    assert code == 2 and "level=9" in err


def test_score_with_a_learned_model_file(tmp_path):
    import keras

    import iqa_keras
    from iqa_keras.models import SiameseDifferenceIQA

    keras.utils.set_random_seed(0)
    path = tmp_path / "tiny.keras"
    SiameseDifferenceIQA(fusion_filters=8, num_residual_blocks=0).save(path)
    code, out, err = run("score", "--model", str(path), "--reference", REFERENCE, JPEG, "-f", "json")
    assert code == 0, err
    [row] = json.loads(out)
    assert row["metric"] == str(path)
    assert row["score"] == pytest.approx(iqa_keras.score(JPEG, reference=REFERENCE, model=str(path)), abs=1e-5)
    code, _, err = run("score", "--model", str(path), JPEG)
    assert code == 2 and "full-reference" in err
    code, _, err = run("score", "--model", str(tmp_path / "nothere.keras"), "-r", REFERENCE, JPEG)
    assert code == 1 and "nothere.keras" in err


@pytest.mark.slow
def test_generate_train_score_export_finetune_through_the_command(tmp_path):
    from skimage import data as photos

    pristine = tmp_path / "pristine"
    pristine.mkdir()
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        Image.fromarray(getattr(photos, name)()[:64, :64]).save(pristine / f"{name}.png")
    dataset, run_dir = tmp_path / "synthetic", tmp_path / "run"
    assert run("generate", "--pristine", str(pristine), "--out", str(dataset),
               "--types", "gaussian_blur", "white_noise", "--levels", "1", "5")[0] == 0
    code, out, err = run(
        "train", "training/synthetic_fr.yaml", "--set", f"data.root={dataset}", "--set", f"output_dir={run_dir}",
        "--set", "trainer.epochs=1", "--set", "data.train={batch_size: 4, crop_size: 32}",
        "--set", "data.ratios={train: 0.5, validation: 0.25, test: 0.25}",
        "--set", "model.arguments={encoder: small, fusion_filters: 8, num_residual_blocks: 0}",
    )
    assert code == 0, err
    best = run_dir / "best.keras"
    assert best.is_file() and str(best) in out
    code, out, err = run("score", "--model", str(best), "-r", REFERENCE, JPEG, "-f", "json")
    assert code == 0, err
    assert np.isfinite(json.loads(out)[0]["score"])
    code, out, err = run("export", str(best), str(tmp_path / "serving"), "--maps")
    assert code == 0, err
    assert (tmp_path / "serving" / "1" / "saved_model.pb").is_file()
    assert run("export", str(best), str(tmp_path / "serving"), "--version", "1")[0] == 2  # exists
    ratings = tmp_path / "ratings.csv"
    rows = ["reference,distorted,score"] + [
        f"{dataset / 'images' / line.split(',')[1]},{dataset / 'images' / line.split(',')[0]},{line.split(',')[2]}"
        for line in (dataset / "dmos.csv").read_text().splitlines()[1:]
    ]
    ratings.write_text("\n".join(rows) + "\n")
    finetune = ("finetune", "--model", str(best), "--data", str(ratings), "--out", str(tmp_path / "ft"), "--epochs", "1")
    code, _, err = run(*finetune)  # the default 224-pixel crops do not fit 64-pixel images
    last_line = err.strip().splitlines()[-1]
    assert code == 1 and last_line.startswith("iqa-keras finetune: error: Image ") and "crop_size" in last_line
    code, out, err = run(*finetune, "--crop-size", "32", "--batch-size", "4")
    assert code == 0, err
    assert "before" in out and "after" in out and (tmp_path / "ft" / "finetuned.keras").is_file()
    code, _, err = run(*finetune, "--crop-size", "32", "--batch-size", "4")  # again: refused, nothing lost
    assert code == 2 and "finetuned.keras, which finetune never overwrites" in err


def test_serve_answers_the_client_and_stops_on_sigterm(tmp_path):
    import signal
    import socket
    import time
    import urllib.request

    import keras

    from iqa_keras.export import export_saved_model
    from iqa_keras.models import SiameseDifferenceIQA
    from iqa_keras.serving import Client

    keras.utils.set_random_seed(0)
    model = SiameseDifferenceIQA(fusion_filters=8, num_residual_blocks=0)
    export_saved_model(model, tmp_path / "fr")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "iqa_keras.cli", "serve", str(tmp_path / "fr"), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()
                time.sleep(0.5)
        reference = np.asarray(Image.open(REFERENCE), np.float32)[:64, :64]
        distorted = np.asarray(Image.open(JPEG), np.float32)[:64, :64]
        scores = Client(f"http://127.0.0.1:{port}", "fr").score(distorted[None], reference=reference[None])
        expected = model({"reference": reference[None], "distorted": distorted[None]})
        assert float(scores[0]) == pytest.approx(float(expected[0, 0]), abs=1e-5)
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
    assert server.returncode == 0, err
    assert "POST /v1/models/fr:predict" in err  # request logging


def test_evaluate_a_metric_on_a_database_with_a_scatter_plot(tmp_path):
    from iqa_keras.data.generate import generate_dataset

    pristine = tmp_path / "pristine"
    pristine.mkdir()
    shutil.copy(REFERENCE, pristine / "astronaut.png")
    generate_dataset(pristine, tmp_path / "synthetic", types=["gaussian_blur", "jpeg", "white_noise"],
                     levels=[1, 3, 5], progress=False)
    plot = tmp_path / "plot.png"
    code, out, err = run("evaluate", "--dataset", "kadid10k", "--root", str(tmp_path / "synthetic"),
                         "--metric", "mse", "--plot", str(plot), "-f", "json")
    assert code == 0, err
    [row] = json.loads(out)
    assert row["measure"] == "mse" and row["n"] == 9
    assert row["srcc"] > 0  # mse is lower-better: reported with its sign turned, as the field does
    assert Image.open(plot).size == (640, 480)
    evaluate_mse = ("evaluate", "--dataset", "kadid10k", "--root", str(tmp_path / "synthetic"), "--metric", "mse")
    assert run(*evaluate_mse, "--plot", str(plot))[0] == 0  # its own plot: written again
    users = tmp_path / "users.png"
    Image.new("RGB", (4, 4)).save(users)
    code, _, err = run(*evaluate_mse, "--plot", str(users))
    assert code == 2 and f"--plot: {users} exists and iqa-keras did not write it" in err
    assert Image.open(users).size == (4, 4)
    code, _, err = run("evaluate", "--dataset", "nosuch", "--root", str(tmp_path), "--metric", "mse")
    assert code == 2 and "nosuch" in err
    shutil.copy(REFERENCE, pristine / "astronaut_again.png")  # two photos: a split by content
    generate_dataset(pristine, tmp_path / "two", types=["jpeg"], levels=[1, 3, 5], progress=False)
    synthetic = ("evaluate", "--dataset", "kadid10k", "--root", str(tmp_path / "two"), "--metric", "mse")
    code, _, err = run(*synthetic, "--split", "content", "--part", "val")
    assert code == 2 and "--part val: the content split has the parts test, train" in err
    code, out, err = run(*synthetic, "--split", "content", "--part", "Training", "-f", "json")
    assert code == 0 and json.loads(out)[0]["n"] == 3  # one photo x 3 levels
    code, _, err = run(*synthetic, "--plot", str(tmp_path / "no" / "such" / "plot.png"))
    assert code == 2 and "plot.png: its folder does not exist" in err


def test_evaluate_over_repeated_splits_and_folds(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    folder.mkdir()
    lines = ["distorted,score"]
    for index in range(10):  # noisier photos get lower scores
        noise = rng.normal(0, 5 * index, (16, 16, 3))
        Image.fromarray(np.clip(128 + noise, 0, 255).astype(np.uint8)).save(folder / f"{index}.png")
        lines.append(f"photos/{index}.png,{90 - 8 * index}")
    (tmp_path / "ratings.csv").write_text("\n".join(lines) + "\n")
    listed = ("evaluate", "--dataset", "csv", "--root", str(tmp_path / "ratings.csv"), "--model", "nr-default")
    code, out, err = run(*listed, "--split", "content", "--repeats", "3", "-f", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert [row["split"] for row in rows] == ["1", "2", "3", "median"]
    assert all(row["n"] == 2 for row in rows)  # 20% of 10 photos
    assert rows[-1]["srcc"] == pytest.approx(float(np.median([row["srcc"] for row in rows[:3]])))
    code, out, err = run(*listed, "--split", "kfold", "--folds", "5", "-f", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert [row["split"] for row in rows] == ["1", "2", "3", "4", "5", "median"] and sum(r["n"] for r in rows[:5]) == 10
    code, _, err = run(*listed, "--repeats", "3")
    assert code == 2 and "`repeats` applies to the content split only" in err
    code, _, err = run(*listed, "--split", "kfold", "--part", "train")
    assert code == 2 and "must be the test part with the kfold split" in err


def test_maps_score_list_and_models(tmp_path):
    import keras

    from iqa_keras.models import SiameseDifferenceIQA

    keras.utils.set_random_seed(0)
    model = tmp_path / "fr.keras"
    SiameseDifferenceIQA(fusion_filters=8, num_residual_blocks=0).save(model)
    code, out, err = run("maps", "--model", str(model), "-r", REFERENCE, JPEG, "--out", str(tmp_path / "maps"))
    assert code == 0, err
    overlay = tmp_path / "maps" / "distorted_jpeg.quality.png"
    assert Image.open(overlay).size[0] == 256 and str(overlay) in out
    shots = tmp_path / "shots"  # two images named alike: neither overlay overwrites the other
    shots.mkdir()
    shutil.copy(JPEG, shots / "x.png")
    shutil.copy(BLUR, shots / "x.jpg")
    code, out, err = run("maps", "--model", str(model), "-r", REFERENCE, str(shots))
    assert code == 0, err
    assert sorted(os.listdir(shots)) == ["x.jpg", "x.jpg.quality.png", "x.png", "x.png.quality.png"]
    assert run("maps", "--model", str(model), "-r", REFERENCE, str(shots))[0] == 0  # its own overlays: rewritten
    Image.new("RGB", (4, 4)).save(shots / "x.png.quality.png")  # now a user's file of that name
    code, out, err = run("maps", "--model", str(model), "-r", REFERENCE, str(shots))
    assert code == 2 and f"maps: {shots / 'x.png.quality.png'} exists and iqa-keras did not write it" in err
    assert Image.open(shots / "x.png.quality.png").size == (4, 4) and out == ""
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"reference,distorted\n{REFERENCE},{JPEG}\n{REFERENCE},{BLUR}\n")
    code, out, err = run("score", "-m", "psnr", "--list", str(pairs), "-f", "json")
    assert code == 0, err
    assert [row["distorted"] for row in json.loads(out)] == [JPEG, BLUR]
    code, out, _ = run("models")
    assert code == 0 and out.startswith("fr-default\t") and "\nnr-default\t" in out


def test_score_shards_are_disjoint_and_cover_the_inputs(tmp_path):
    references, distorted = tmp_path / "refs", tmp_path / "dists"
    references.mkdir()
    distorted.mkdir()
    rng = np.random.default_rng(0)
    for index in range(9):
        image = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(image).save(references / f"{index}.png")
        Image.fromarray(255 - image).save(distorted / f"{index}.png")
    parts = []
    for shard in ("0/3", "1/3", "2/3"):
        code, out, err = run("score", "-m", "psnr", "-r", str(references), str(distorted), "--shard", shard, "-f", "json")
        assert code == 0, err
        parts.append({row["distorted"] for row in json.loads(out)})
    assert sorted(name for part in parts for name in part) == sorted(str(distorted / f"{i}.png") for i in range(9))
    (references / "4.png").unlink()  # an image without a reference: reported by its part only
    reported = []
    for shard in ("0/3", "1/3", "2/3"):
        code, _, err = run("score", "-m", "psnr", "-r", str(references), str(distorted), "--shard", shard, "-f", "json")
        reported.append(err.count("No reference for"))
        assert code == (1 if reported[-1] else 0), err
    assert sorted(reported) == [0, 0, 1]
    code, _, err = run("score", "-m", "psnr", "-r", str(references), str(distorted), "--shard", "3/3")
    assert code == 2 and "--shard must be I/N with 0 <= I < N" in err


def test_score_output_is_written_atomically_and_never_replaced_without_overwrite(tmp_path):
    results = tmp_path / "scores.csv"
    code, out, err = run("score", "-m", "psnr", "-r", REFERENCE, JPEG, "-f", "csv", "-o", str(results))
    assert code == 0 and out == "", err
    first = results.read_text()
    assert first.startswith("distorted,reference,metric,score\n") and JPEG in first
    code, _, err = run("score", "-m", "psnr", "-r", REFERENCE, BLUR, "-f", "csv", "-o", str(results))
    assert code == 2 and f"--output {results} exists: give --overwrite to replace it" in err
    assert results.read_text() == first
    code, _, err = run("score", "-m", "psnr", "-r", REFERENCE, BLUR, "-f", "csv", "-o", str(results), "--overwrite")
    assert code == 0 and BLUR in results.read_text() and JPEG not in results.read_text()
    code, _, err = run("score", "-m", "psnr", "-r", REFERENCE, BLUR, "--overwrite")
    assert code == 2 and "--overwrite applies to --output FILE" in err
    code, _, err = run("score", "-m", "psnr", "-r", REFERENCE, BLUR, "-o", str(tmp_path / "no" / "scores.csv"))
    assert code == 2 and "its folder does not exist" in err
    assert sorted(os.listdir(tmp_path)) == ["scores.csv"]  # no temporary file left behind


def test_score_resume_after_a_kill_loses_and_repeats_no_row(tmp_path):
    import signal

    references, distorted = tmp_path / "refs", tmp_path / "dists"
    references.mkdir()
    distorted.mkdir()
    rng = np.random.default_rng(0)
    names = [f"{index:02d}.jpg" for index in range(40)]
    for name in names:
        image = rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8)
        Image.fromarray(image).save(references / name, quality=95)
        Image.fromarray(image // 2).save(distorted / name, quality=60)
    output = tmp_path / "scores.csv"
    command = [sys.executable, "-m", "iqa_keras.cli", "score", "-m", "ms_ssim", "-r", str(references), str(distorted),
               "-f", "csv", "-o", str(output), "--resume", "--no-progress"]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if output.exists() and output.read_text().count("\n") >= 4:  # the header and 3 rows
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    written = output.read_text().count("\n") - 1
    assert 3 <= written < len(names)  # killed in the middle of the folder
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)
    assert finished.returncode == 0, finished.stderr[-2000:]
    with open(output, newline="") as file:
        rows = list(csv.DictReader(file))
    assert sorted(os.path.basename(row["distorted"]) for row in rows) == names  # each image once
    assert all(0 < float(row["score"]) <= 1 for row in rows)


def test_appended_rows_cut_a_partial_last_line_and_refuse_other_columns(tmp_path):
    from iqa_keras.results import AppendedRows

    path = tmp_path / "scores.csv"
    path.write_text("distorted,score\na.png,0.5\nb.png,0.2")  # the last row cut by a kill
    with AppendedRows(path, "csv", ("distorted", "score")) as rows:
        assert rows.done == {("", "a.png")}
        rows.append({"distorted": "b.png", "score": 0.25})
    assert path.read_text() == "distorted,score\na.png,0.5\nb.png,0.25\n"
    with pytest.raises(ValueError, match=r"scores.csv has the columns \['distorted', 'score'\], not"):
        AppendedRows(path, "csv", ("distorted", "reference", "score"))
    lines = tmp_path / "scores.jsonl"
    with AppendedRows(lines, "jsonl", ("distorted", "reference", "score")) as rows:
        rows.append({"distorted": "a.png", "reference": "r.png", "score": float("inf")})
    with AppendedRows(lines, "jsonl", ("distorted", "reference", "score")) as rows:
        assert rows.done == {("r.png", "a.png")}
    assert json.loads(lines.read_text()) == {"distorted": "a.png", "reference": "r.png", "score": "inf"}


def test_train_splits_refuses_the_official_split_and_folds_it_does_not_have(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(f"output_dir: {tmp_path / 'run'}\ndata: {{dataset: kadid10k, root: {tmp_path}, split: official}}\n")
    code, _, err = run("train", str(config), "--splits", "10")
    assert code == 2 and "`data.split` is 'official', a single split" in err
    code, _, err = run("train", str(config), "--splits", "4", "--set", "data.split=kfold")
    assert code == 2 and "`splits` must equal data.folds (5) with split: kfold. Received: 4" in err
    assert not (tmp_path / "run").exists()


def test_serve_refuses_limits_out_of_range_before_loading_anything(tmp_path):
    code, _, err = run("serve", str(tmp_path / "missing"), "--workers", "0")
    assert code == 2 and "`workers` must be a positive integer. Received: workers=0" in err
    code, _, err = run("serve", str(tmp_path / "missing"), "--request-timeout", "-1")
    assert code == 2 and "`request_timeout` must be a positive number of seconds" in err
    code, out, _ = run("serve", "--help")
    assert code == 0 and "--max-pixels N" in out and "default: 33554432" in out


def test_tile_size_tiles_a_learned_models_images_as_the_scorer_does(capsys):
    from iqa_keras.cli import main

    argv = ["score", "--model", "fr-default", "-r", REFERENCE, JPEG, "-f", "json", "--no-progress"]
    assert main([*argv, "--tile-size", "64"]) == 0
    (tiled,) = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    (whole,) = json.loads(capsys.readouterr().out)
    scorer = Scorer(iqa_keras.load("fr-default"), tile_size=64)
    expected = scorer(iqa_keras.io.read_image(JPEG), reference=iqa_keras.io.read_image(REFERENCE)).score
    assert tiled["score"] == pytest.approx(expected, abs=1e-5) and tiled["score"] != whole["score"]
    for argv, message in (
        (["score", "--model", "fr-default", "-r", REFERENCE, JPEG, "--tile-size", "16"],
         "--tile-size: must be an integer of at least 32, not '16'"),
        (["maps", "--model", "nr-default", JPEG, "--tile-size", "x"], "--tile-size: must be an integer"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        assert message in capsys.readouterr().err
    assert main(["score", "-m", "psnr", "-r", REFERENCE, JPEG, "--tile-size", "64"]) == 2
    assert "`tile_size` applies to learned models" in capsys.readouterr().err
