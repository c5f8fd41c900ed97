"""Shared fixtures: small real photos from scikit-image, and quiet TensorFlow logs."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest


@pytest.fixture(scope="session")
def photo():
    """A real RGB photo (scikit-image's astronaut), float32 0-255, 512x512x3."""
    from skimage import data

    return data.astronaut().astype(np.float32)


@pytest.fixture(scope="session")
def photos():
    """Several real RGB photos of different content, float32 0-255, cropped to 256x256."""
    from skimage import data

    images = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    return [image[:256, :256].astype(np.float32) for image in images]


@pytest.fixture
def mixed_bfloat16():
    """Runs a test under the mixed_bfloat16 policy, restoring float32 afterwards."""
    import keras

    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
