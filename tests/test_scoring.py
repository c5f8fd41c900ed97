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
