"""iqa_keras.scoring.score_files: one result per file, a failing file never stops the others."""

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
