"""KADID-10k noise types: 11 white_noise, 12 white_noise_color_component,
13 impulse_noise, 14 multiplicative_noise, 15 denoise.

The noises mirror MATLAB's `imnoise` on double images, which clips its result to
[0, 1]; all randomness comes from the `rng` argument.

Example:
>>> import numpy as np
>>> image = np.full((16, 16, 3), 0.5, np.float32)
>>> noisy = white_noise(image, level=5, rng=np.random.default_rng(0))
>>> round(float(noisy.var()), 2)
0.01
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from iqa_keras.data.distortions._validate import check_image, check_level
from iqa_keras.data.distortions.colorspace import rgb_to_ycbcr, ycbcr_to_rgb

__all__ = [
    "WHITE_NOISE_VARIANCES",
    "WHITE_NOISE_COLOR_COMPONENT_VARIANCES",
    "IMPULSE_NOISE_DENSITIES",
    "MULTIPLICATIVE_NOISE_VARIANCES",
    "DENOISE_NOISE_VARIANCES",
    "DENOISE_WINDOW",
    "white_noise",
    "white_noise_color_component",
    "impulse_noise",
    "multiplicative_noise",
    "denoise",
]

WHITE_NOISE_VARIANCES = (0.001, 0.002, 0.003, 0.005, 0.01)
WHITE_NOISE_COLOR_COMPONENT_VARIANCES = (0.0001, 0.0005, 0.001, 0.002, 0.003)
IMPULSE_NOISE_DENSITIES = (0.001, 0.005, 0.01, 0.02, 0.03)
MULTIPLICATIVE_NOISE_VARIANCES = (0.001, 0.005, 0.01, 0.02, 0.05)
DENOISE_NOISE_VARIANCES = (0.01, 0.03, 0.05, 0.1, 0.15)
# Side of the square window of the Wiener denoiser (pixels).
DENOISE_WINDOW = 7


def _clip(image: np.ndarray) -> np.ndarray:
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def _add_gaussian(image: np.ndarray, variance: float, rng: np.random.Generator):
    """MATLAB `imnoise(image, 'gaussian', 0, variance)`: add N(0, variance), clip."""
    return _clip(image + np.sqrt(variance) * rng.standard_normal(image.shape))


def white_noise(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """KADID type 11: additive Gaussian noise of variance `WHITE_NOISE_VARIANCES[level - 1]`.

    Independent in each RGB channel. Mirrors KADIS `imnoisegauss` (`imnoise` 'gaussian').

    Example:
    >>> import numpy as np
    >>> image = np.full((8, 8, 3), 0.5, np.float32)
    >>> a = white_noise(image, 1, np.random.default_rng(1))
    >>> bool(np.array_equal(a, white_noise(image, 1, np.random.default_rng(1))))
    True
    """
    image = check_image(image)
    return _add_gaussian(image, WHITE_NOISE_VARIANCES[check_level(level) - 1], rng)


def white_noise_color_component(
    image: np.ndarray, level: int, rng: np.random.Generator
) -> np.ndarray:
    """KADID type 12: Gaussian noise added to the YCbCr channels, then back to RGB.

    Variance `WHITE_NOISE_COLOR_COMPONENT_VARIANCES[level - 1]` in each of Y, Cb, Cr
    (BT.601, [0, 1] scale), so the noise is correlated across RGB and coloured.
    Mirrors KADIS `imnoisecolorcomp` (`rgb2ycbcr`, `imnoise` 'gaussian', `ycbcr2rgb`).

    Example:
    >>> import numpy as np
    >>> image = np.full((8, 8, 3), 0.5, np.float32)
    >>> white_noise_color_component(image, 3, np.random.default_rng(0)).shape
    (8, 8, 3)
    """
    image = check_image(image)
    variance = WHITE_NOISE_COLOR_COMPONENT_VARIANCES[check_level(level) - 1]
    return _clip(ycbcr_to_rgb(_add_gaussian(rgb_to_ycbcr(image), variance, rng)))


def impulse_noise(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """KADID type 13: salt-and-pepper noise of density `IMPULSE_NOISE_DENSITIES[level - 1]`.

    As MATLAB's `imnoise(image, 'salt & pepper', d)`, each value (each channel of each
    pixel) becomes 0 with probability d / 2 and 1 with probability d / 2.
    Mirrors KADIS `imnoiseimpulse`.

    Example:
    >>> import numpy as np
    >>> image = np.full((64, 64, 3), 0.5, np.float32)
    >>> noisy = impulse_noise(image, 5, np.random.default_rng(0))
    >>> round(float(np.mean(noisy != 0.5)), 2)
    0.03
    """
    image = check_image(image)
    density = IMPULSE_NOISE_DENSITIES[check_level(level) - 1]
    draws = rng.random(image.shape)
    noisy = np.where(draws < density / 2, 0.0, image)
    return _clip(np.where((draws >= density / 2) & (draws < density), 1.0, noisy))


def multiplicative_noise(
    image: np.ndarray, level: int, rng: np.random.Generator
) -> np.ndarray:
    """KADID type 14: speckle noise, image + image * n.

    n has variance `MULTIPLICATIVE_NOISE_VARIANCES[level - 1]`; as in MATLAB's
    `imnoise(image, 'speckle', v)`, it is uniform with zero mean and variance v.
    Mirrors KADIS `imnoisemultiplicative`.

    Example:
    >>> import numpy as np
    >>> image = np.zeros((8, 8, 3), np.float32)
    >>> float(multiplicative_noise(image, 5, np.random.default_rng(0)).max())
    0.0
    """
    image = check_image(image)
    variance = MULTIPLICATIVE_NOISE_VARIANCES[check_level(level) - 1]
    uniform = rng.random(image.shape) - 0.5
    return _clip(image + np.sqrt(12 * variance) * image * uniform)


def denoise(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """KADID type 15: Gaussian noise added, then denoised (smeared detail).

    The noise variance is `DENOISE_NOISE_VARIANCES[level - 1]`. KADIS `imdenoise` adds
    the noise with `imnoise` and removes it from each channel with MATLAB's DnCNN
    network. Here each channel goes through an adaptive Wiener filter
    (`scipy.signal.wiener`, `DENOISE_WINDOW` pixels square, told the true noise
    variance): like the CNN at these strong noise levels, it smooths flat regions into
    blotches and smears fine texture, more so as the noise grows.

    Example:
    >>> import numpy as np
    >>> image = np.full((16, 16, 3), 0.5, np.float32)
    >>> noisy = white_noise(image, 5, np.random.default_rng(0))
    >>> denoised = denoise(image, 1, np.random.default_rng(0))
    >>> bool(denoised.std() < noisy.std())
    True
    """
    image = check_image(image)
    variance = DENOISE_NOISE_VARIANCES[check_level(level) - 1]
    noisy = _add_gaussian(image, variance, rng).astype(np.float64)
    # Mirrored edges: `wiener` pads with zeros, which would darken a frame of the image.
    margin = DENOISE_WINDOW // 2
    padded = np.pad(noisy, ((margin, margin), (margin, margin), (0, 0)), mode="symmetric")
    channels = [
        signal.wiener(padded[..., channel], DENOISE_WINDOW, noise=variance)[margin:-margin, margin:-margin]
        for channel in range(3)
    ]
    return _clip(np.stack(channels, axis=-1))
