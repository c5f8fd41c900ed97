"""iqa_keras.scoring: a failing file never stops the others; arrays are made RGB as files are."""

import pytest

from iqa_keras.scoring import EXAMPLE_IMAGES, score_files


def test_a_file_the_measure_fails_on_yields_its_error_and_the_others_are_scored(tmp_path):
    unreadable = tmp_path / "broken.png"
    unreadable.write_bytes(b"not a png")
    files = [EXAMPLE_IMAGES["distorted_jpeg"], str(unreadable), EXAMPLE_IMAGES["distorted_blur"],
             EXAMPLE_IMAGES["reference"]]
    calls = []

    def measure(distorted, reference):
        calls.append(distorted.shape)
        if len(calls) == 2:  # the blur image: the model fails on it, e.g. out of memory
            raise RuntimeError("out of memory")
        return 1.0

    results = list(score_files([(None, path) for path in files], measure, "fake"))

    assert [result.score for result in results] == [1.0, None, None, 1.0]
    assert "broken.png" in results[1].error
    assert results[2].error == f"{files[2]}: RuntimeError: out of memory"


def test_arrays_are_made_rgb_as_files_are(tmp_path):
    import numpy as np
    from PIL import Image

    from iqa_keras.scoring import score

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    noisy = np.clip(rgb + rng.normal(0, 10, rgb.shape), 0, 255).astype(np.uint8)
    with_alpha = [np.dstack([image, rng.integers(0, 256, (24, 32), dtype=np.uint8)]) for image in (rgb, noisy)]
    for name, image in (("ref.png", with_alpha[0]), ("dist.png", with_alpha[1])):
        Image.fromarray(image).save(tmp_path / name)
    from_files = score(tmp_path / "dist.png", reference=tmp_path / "ref.png", metric="mse")
    assert score(with_alpha[1], reference=with_alpha[0], metric="mse") == from_files > 0
    gray = rgb[..., 0]
    assert score(gray, reference=gray[..., None], metric="mse") == 0.0
    with pytest.raises(ValueError, match=r"HxWx4. Received: shape \(24, 32, 2\)"):
        score(rgb[..., :2], reference=rgb, metric="mse")


@pytest.mark.parametrize("text, message", [
    ("reference,distorted\n", r"pairs.csv lists no images: it has a header row only"),
    ("reference,distorted\nref.png,dist.png\nref.png,\n", r"pairs.csv, line 3: the `distorted` cell is empty"),
])  # fmt: skip
def test_a_pair_list_without_images_names_the_file(tmp_path, text, message):
    from iqa_keras.data import DatasetError
    from iqa_keras.scoring import read_pair_list

    (tmp_path / "pairs.csv").write_text(text)
    with pytest.raises(DatasetError, match=message):
        read_pair_list(tmp_path / "pairs.csv")


def test_options_a_measure_would_ignore_are_refused():
    import numpy as np

    from iqa_keras.scoring import score

    image = np.full((32, 32, 3), 100.0, np.float32)
    with pytest.raises(ValueError, match="nr-default is no-reference: it would ignore `reference`"):
        score(image, reference=image, model="nr-default")
    with pytest.raises(ValueError, match="`color` applies to classic metrics"):
        score(image, reference=image, model="fr-default", color="y")
