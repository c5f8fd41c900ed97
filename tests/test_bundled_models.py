"""The bundled default models: they load, score through Python and the command, rank clear
distortions below the pristine photo, score deterministically, and have model cards."""

import os
import re
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import skimage.data
from PIL import Image

import iqa_keras
from iqa_keras.data.distortions import distort
from iqa_keras.loading import BUNDLED_MODELS_DIR, bundled_models
from iqa_keras.models import HallucinatedIQA, SiameseDifferenceIQA
from iqa_keras.scoring import EXAMPLE_IMAGES

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULTS = {"fr-default": SiameseDifferenceIQA, "nr-default": HallucinatedIQA}
CLEAR_DISTORTIONS = ("gaussian_blur", "jpeg", "white_noise")


@pytest.fixture(scope="module")
def photo_and_distortions():
    """A photo the models never saw (scikit-image's coffee, at KADID-10k's scale), and
    its level-5 blur, JPEG and white noise."""
    photo = np.asarray(Image.fromarray(skimage.data.coffee()).resize((512, 341), Image.Resampling.LANCZOS), np.float32)
    distorted = {
        name: np.clip(np.rint(distort(photo / 255.0, name, 5, seed=0) * 255.0), 0, 255)
        for name in CLEAR_DISTORTIONS
    }
    return photo, distorted


def test_the_default_models_are_bundled_and_load_as_their_classes():
    assert set(DEFAULTS) <= set(bundled_models())
    for name, cls in DEFAULTS.items():
        path = os.path.join(BUNDLED_MODELS_DIR, f"{name}.keras")
        assert os.path.getsize(path) <= 25 * 2**20  # the issue: at most about 25 MB each
        model = iqa_keras.load(name)
        assert isinstance(model, cls) and model.dtype_policy.name == "float32"


def test_load_names_the_argument_or_the_file_it_cannot_load(tmp_path):
    with pytest.raises(TypeError, match="`name_or_path` must be the path of a .keras file or a bundled model's name. Received: name_or_path=None"):
        iqa_keras.load(None)
    empty = tmp_path / "empty.keras"
    empty.touch()
    with pytest.raises(iqa_keras.loading.ModelLoadError, match=f"Cannot load {re.escape(str(empty))} as a Keras model: it is not a .keras \\(zip\\) file"):
        iqa_keras.load(empty)


def test_score_without_a_model_uses_fr_default_with_a_reference_and_nr_default_without():
    reference, distorted = EXAMPLE_IMAGES["reference"], EXAMPLE_IMAGES["distorted_jpeg"]
    assert iqa_keras.score(distorted, reference=reference) == iqa_keras.score(
        distorted, reference=reference, model="fr-default"
    )
    assert iqa_keras.score(distorted) == iqa_keras.score(distorted, model="nr-default")


@pytest.mark.parametrize("name", CLEAR_DISTORTIONS)
def test_full_reference_default_scores_level_5_below_the_pristine_photo(photo_and_distortions, name):
    photo, distorted = photo_and_distortions
    pristine = iqa_keras.score(photo, reference=photo)
    assert iqa_keras.score(distorted[name], reference=photo) < pristine - 0.2


@pytest.mark.parametrize("name", CLEAR_DISTORTIONS)
def test_no_reference_default_scores_level_5_below_the_pristine_photo(photo_and_distortions, name):
    photo, distorted = photo_and_distortions
    assert iqa_keras.score(distorted[name]) < iqa_keras.score(photo)


def test_scores_are_deterministic(photo_and_distortions):
    photo, distorted = photo_and_distortions
    image = distorted["jpeg"]
    assert iqa_keras.score(image, reference=photo) == iqa_keras.score(image, reference=photo)
    assert iqa_keras.score(image) == iqa_keras.score(image)


def test_the_command_scores_a_pair_and_a_single_image_with_the_defaults():
    reference, distorted = EXAMPLE_IMAGES["reference"], EXAMPLE_IMAGES["distorted_blur"]
    command = [sys.executable, "-m", "iqa_keras.cli", "score", "--format", "csv"]
    pair = subprocess.run([*command, "--reference", reference, distorted], capture_output=True, text=True)
    single = subprocess.run([*command, distorted], capture_output=True, text=True)
    assert pair.returncode == 0 and single.returncode == 0, pair.stderr + single.stderr
    (pair_row,) = pair.stdout.splitlines()[1:]
    (single_row,) = single.stdout.splitlines()[1:]
    assert ",fr-default," in pair_row and ",nr-default," in single_row
    assert float(pair_row.rsplit(",", 1)[1]) == pytest.approx(
        iqa_keras.score(distorted, reference=reference), abs=1e-6
    )
    assert float(single_row.rsplit(",", 1)[1]) == pytest.approx(iqa_keras.score(distorted), abs=1e-6)


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_each_model_card_names_its_data_command_figures_and_limitations(name):
    with open(os.path.join(BUNDLED_MODELS_DIR, f"{name}.md"), encoding="utf-8") as file:
        card = file.read()
    assert f"training/synthetic_{name[:2]}.yaml" in card
    assert "training/train_on_jax.py" in card and "iqa-keras generate" in card
    assert re.search(r"SRCC\s*\|", card), "a table of validation figures"
    for heading in ("## Training data and labels", "## Recipe and command", "## Validation", "## Speed",
                    "## Limitations"):
        assert heading in card


def test_the_readme_quick_start_shows_the_scores_the_bundled_models_give():
    """The README's quick start prints rows `distorted [reference] model score`: each score
    must be what the bundled model gives today (a retrained model must update it)."""
    with open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8") as file:
        readme = file.read()
    rows = re.findall(r"^(iqa_keras/examples/\S+)\s+(iqa_keras/examples/\S+\s+)?(\S+-default)\s+([\d.]+)$",
                      readme, flags=re.MULTILINE)
    assert {model for *_, model, _ in rows} == set(DEFAULTS)
    for distorted, reference, model, shown in rows:
        reference = os.path.join(REPO_ROOT, reference.strip()) if reference else None
        score = iqa_keras.score(os.path.join(REPO_ROOT, distorted), reference=reference, model=model)
        assert f"{score:.6f}" == shown, (distorted, model)


@pytest.mark.parametrize("name", list(DEFAULTS))
def test_from_preset_loads_the_bundled_model_as_its_class(name):
    model = DEFAULTS[name].from_preset(name)
    assert type(model) is DEFAULTS[name] and not model.compiled  # for inference
    other = next(cls for cls in DEFAULTS.values() if cls is not DEFAULTS[name])
    with pytest.raises(ValueError, match=f"The preset '{name}' is a {DEFAULTS[name].__name__}, not a {other.__name__}"):
        other.from_preset(name)


@pytest.mark.slow
def test_a_wheel_carries_the_bundled_models_and_scores_with_them(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(os.path.join(REPO_ROOT, name), source / name)
    for folder in ("iqa_keras", "saved_models"):
        shutil.copytree(os.path.join(REPO_ROOT, folder), source / folder, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "wheel"), str(source)], check=True, capture_output=True, timeout=600)
    (wheel,) = (tmp_path / "wheel").iterdir()
    installed = tmp_path / "installed"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(installed)
    assert not os.path.islink(installed / "iqa_keras" / "saved_models")  # the files, not the link
    script = ("import iqa_keras, sys; print(iqa_keras.__file__); "
              "print(iqa_keras.score(sys.argv[2], reference=sys.argv[1]))")
    completed = subprocess.run(
        [sys.executable, "-c", script, EXAMPLE_IMAGES["reference"], EXAMPLE_IMAGES["distorted_jpeg"]],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(installed), "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert completed.returncode == 0, completed.stderr
    module, score = completed.stdout.split()[-2:]
    assert module.startswith(str(installed))  # the wheel's package, not this checkout's
    expected = iqa_keras.score(EXAMPLE_IMAGES["distorted_jpeg"], reference=EXAMPLE_IMAGES["reference"])
    assert float(score) == pytest.approx(expected, abs=1e-6)
