"""Training without TensorFlow: `CropBatches`, `fit_hallucinated_iqa` and
`training/train_on_jax.py` on the JAX backend (in subprocesses), and the modules that
must import without TensorFlow."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from iqa_keras.data import read_dataset
from iqa_keras.data.arrays import CropBatches
from iqa_keras.data.generate import generate_dataset
from iqa_keras.data.records import Record, Scale

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_on_jax(code, cwd=REPO_ROOT, timeout=600):
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=cwd,
        env={**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": REPO_ROOT}, timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, photos):
    """A KADID-layout dataset of 4 small photos x 2 types x 2 levels."""
    root = tmp_path_factory.mktemp("jax_data")
    pristine = root / "pristine"
    pristine.mkdir()
    for index, photo in enumerate(photos[:4]):
        Image.fromarray(photo[:48, :64].astype(np.uint8)).save(pristine / f"p{index}.png")
    generate_dataset(pristine, root / "data", types=["gaussian_blur", "white_noise"], levels=(1, 5),
                     progress=False)
    return root / "data"


def test_crop_batches_are_aligned_augmented_and_fixed_by_seed_and_epoch(dataset):
    records = read_dataset("kadid10k", dataset)
    batches = CropBatches(records, batch_size=5, crop_size=32, patches_per_image=2, seed=3)
    assert len(batches) == 7  # 16 records x 2 patches / 5, rounded up
    inputs, scores = batches[1]
    assert inputs["distorted"].shape == inputs["reference"].shape == (5, 32, 32, 3)
    assert inputs["distorted"].dtype == np.float32 and scores.dtype == np.float32
    assert set(scores.tolist()) <= {float(np.float32(record.score)) for record in records}
    again = CropBatches(records, batch_size=5, crop_size=32, patches_per_image=2, seed=3)
    np.testing.assert_array_equal(again[1][0]["distorted"], inputs["distorted"])
    batches.on_epoch_end()
    assert not np.array_equal(batches[1][0]["distorted"], inputs["distorted"])
    assert sum(len(batches[index][1]) for index in range(len(batches))) == 32


def test_crop_batches_of_identical_images_keep_pairs_aligned(tmp_path, photos):
    """A pair made of one image twice must give identical crops whatever the flips."""
    path = tmp_path / "same.png"
    Image.fromarray(photos[0][:40, :50].astype(np.uint8)).save(path)
    record = Record(str(path), 3.0, Scale(1.0, 5.0, True), reference=str(path))
    batches = CropBatches([record] * 8, batch_size=8, crop_size=24, seed=0)
    inputs, _ = batches[0]
    np.testing.assert_array_equal(inputs["distorted"], inputs["reference"])
    assert len({crop.tobytes() for crop in inputs["distorted"]}) > 1


def test_crop_batches_reject_bad_arguments_naming_them(tmp_path, photos):
    path = tmp_path / "small.png"
    Image.fromarray(photos[0][:20, :20].astype(np.uint8)).save(path)
    record = Record(str(path), 3.0, Scale(1.0, 5.0, True))
    with pytest.raises(ValueError, match="small.png is 20x20, smaller than crop_size=32"):
        CropBatches([record], crop_size=32)
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer"):
        CropBatches([record], batch_size=0, crop_size=16)
    with pytest.raises(ValueError, match="`records` must hold at least one record"):
        CropBatches([], crop_size=16)


def test_readers_generation_configs_and_models_import_without_tensorflow():
    output = run_on_jax(
        """
        import sys
        import iqa_keras.data, iqa_keras.data.generate, iqa_keras.data.arrays, iqa_keras.models
        import iqa_keras.training, iqa_keras.training.compiling, iqa_keras.training.jax_gan
        from iqa_keras.training import load_config
        load_config("training/synthetic_nr.yaml")
        print("tensorflow" in sys.modules)
        """
    )
    assert output.strip() == "False"


@pytest.mark.slow
def test_fit_hallucinated_iqa_trains_every_part_on_jax(dataset):
    output = run_on_jax(
        f"""
        import json
        import numpy as np
        from iqa_keras.data import read_dataset
        from iqa_keras.data.arrays import CropBatches
        from iqa_keras.models import HallucinatedIQA
        from iqa_keras.models.hallucination_generator import HallucinationGenerator
        from iqa_keras.models.hallucination_regressor import HallucinationGuidedRegressor
        from iqa_keras.models.patch_discriminator import PatchDiscriminator
        from iqa_keras.training.jax_gan import fit_hallucinated_iqa
        batches = CropBatches(read_dataset("kadid10k", {str(dataset)!r}), batch_size=4, crop_size=32)
        generator = HallucinationGenerator(filters=8, num_downsamples=1, num_residual_blocks=1)
        model = HallucinatedIQA(
            generator, PatchDiscriminator(filters=8, num_downsamples=1),
            HallucinationGuidedRegressor(generator.feature_channels, filters=8, num_residual_blocks=1),
        )
        model.compile()
        parts = ("generator", "discriminator", "regressor")
        before = {{part: [w.copy() for w in getattr(model, part).get_weights()] for part in parts}}
        seen = []
        history = fit_hallucinated_iqa(model, batches, epochs=2, verbose=False,
                                       on_epoch_end=lambda epoch, logs: seen.append(epoch))
        changed = {{part: any(not np.array_equal(a, b) for a, b in zip(before[part], getattr(model, part).get_weights()))
                    for part in parts}}
        steps = [int(o.iterations.numpy()) for o in
                 (model.optimizer, model.generator_optimizer, model.discriminator_optimizer)]
        print(json.dumps({{"changed": changed, "steps": steps, "seen": seen, "keys": sorted(history[0]),
                           "finite": bool(np.all(np.isfinite([v for h in history for v in h.values()])))}}))
        """
    )
    result = json.loads(output.strip().splitlines()[-1])
    assert result["changed"] == {"generator": True, "discriminator": True, "regressor": True}
    assert result["steps"] == [8, 8, 8] and result["seen"] == [0, 1] and result["finite"]
    assert {"regressor_loss", "generator_loss", "discriminator_loss", "generator_l1"} <= set(result["keys"])


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["fr", "nr"])
def test_train_on_jax_writes_a_float32_best_model_tensorflow_loads(dataset, tmp_path, recipe):
    out = tmp_path / "run"
    overrides = [
        f"data.root={dataset}", f"output_dir={out}", "trainer.epochs=2", "trainer.precision=float32",
        "data.train.crop_size=32", "data.train.batch_size=4", "data.ratios=[0.5, 0.25, 0.25]",
    ]
    if recipe == "nr":
        overrides += ["model.arguments.generator.filters=8", "model.arguments.discriminator.filters=8",
                      "model.arguments.regressor.filters=8", "model.arguments.regressor.num_residual_blocks=1"]
    result = subprocess.run(
        [sys.executable, "training/train_on_jax.py", f"training/synthetic_{recipe}.yaml",
         *[item for override in overrides for item in ("--set", override)]],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=600,
        env={**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": REPO_ROOT},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["backend"] == "jax" and metrics["best_epoch"] in (1, 2)
    assert len((out / "log.csv").read_text().splitlines()) == 3  # header + 2 epochs
    import iqa_keras  # on TensorFlow, in this process

    model = iqa_keras.load(str(out / "best.keras"))
    assert model.dtype_policy.name == "float32"
    assert np.isfinite(iqa_keras.score(np.full((40, 40, 3), 128.0), reference=np.full((40, 40, 3), 128.0)
                                       if recipe == "fr" else None, model=model))


@pytest.mark.parametrize("recipe, backend, overrides, message", [
    ("synthetic_fr", "tensorflow", [], "set KERAS_BACKEND=jax"),
    ("spaq_nr", "jax", [], "`data.train.resize_shorter_side` is set"),  # CropBatches would not resize
    ("synthetic_fr", "jax", ["data.train.crop_size=[16, 32]"], "`data.train.crop_size` must be one side"),
    ("synthetic_fr", "jax", ["data.train.crop_size=null", "data.train.patches_per_image=1", "data.train.batch_size=1"],
     "`data.train.crop_size` must be one side (square crops) for this script. Received: None"),
])  # fmt: skip
def test_train_on_jax_refuses_another_backend_and_training_images_it_cannot_crop(recipe, backend, overrides, message):
    result = subprocess.run(
        [sys.executable, "training/train_on_jax.py", f"training/{recipe}.yaml",
         *[argument for override in overrides for argument in ("--set", override)]],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
        env={**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": REPO_ROOT},
    )
    assert result.returncode == 2 and message in result.stderr
