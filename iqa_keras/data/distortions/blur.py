"""KADID-10k blur types: 01 gaussian_blur, 02 lens_blur, 03 motion_blur.

Each filters the image with a kernel as MATLAB's `imfilter(..., 'replicate')` does
(correlation, edges replicated), with the kernels of MATLAB's `imgaussfilt` and
`fspecial('disk')` / `fspecial('motion')`.

Example:
>>> import numpy as np
>>> image = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
>>> blurred = lens_blur(image, level=3, rng=np.random.default_rng(0))
>>> blurred.shape, blurred.dtype, bool(blurred.std() < image.std())
((16, 16, 3), dtype('float32'), True)
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage, signal

from iqa_keras.data.distortions._validate import check_image, check_level

__all__ = [
    "GAUSSIAN_BLUR_SIGMAS",
    "LENS_BLUR_RADII",
    "MOTION_BLUR_LENGTHS",
    "gaussian_blur",
    "lens_blur",
    "motion_blur",
    "gaussian_filter_2d",
    "filter_replicate",
    "disk_kernel",
    "motion_kernel",
]

GAUSSIAN_BLUR_SIGMAS = (0.1, 0.5, 1.0, 2.0, 5.0)
LENS_BLUR_RADII = (1, 2, 4, 6, 8)
MOTION_BLUR_LENGTHS = (1, 2, 4, 6, 10)


def gaussian_filter_2d(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-filters each 2-D plane of an HxW or HxWxC array, as MATLAB's `imgaussfilt`.

    The kernel is (2 * ceil(2 * sigma) + 1) wide and edges are replicated.

    Example:
    >>> import numpy as np
    >>> plane = np.zeros((5, 5), np.float32); plane[2, 2] = 1.0
    >>> round(float(gaussian_filter_2d(plane, 0.5).sum()), 6)
    1.0
    """
    sigmas = (sigma, sigma) + (0.0,) * (image.ndim - 2)
    return ndimage.gaussian_filter(
        image, sigma=sigmas, mode="nearest", radius=math.ceil(2 * sigma)
    )


def filter_replicate(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Filters each channel of an HxWxC image with an odd-sized 2-D kernel, as
    `imfilter(..., 'replicate')` does: correlation, edges replicated (through the FFT).

    Example:
    >>> import numpy as np
    >>> image = np.ones((4, 4, 3), np.float32)
    >>> bool(np.allclose(filter_replicate(image, np.full((3, 3), 1 / 9)), 1.0))
    True
    """
    pad_rows, pad_cols = kernel.shape[0] // 2, kernel.shape[1] // 2
    padded = np.pad(image, ((pad_rows, pad_rows), (pad_cols, pad_cols), (0, 0)), mode="edge")
    flipped = kernel[::-1, ::-1, None].astype(image.dtype)
    return signal.fftconvolve(padded, flipped, mode="valid", axes=(0, 1))


def disk_kernel(radius: float) -> np.ndarray:
    """The anti-aliased disk (pillbox) kernel of MATLAB's `fspecial('disk', radius)`.

    Each cell holds the area of the disk of that radius inside the cell, so the kernel
    sums to one once normalised and the disk edge is smooth.

    Example:
    >>> np.round(disk_kernel(1), 4).tolist()
    [[0.0251, 0.1453, 0.0251], [0.1453, 0.3183, 0.1453], [0.0251, 0.1453, 0.0251]]
    """
    if not radius > 0:
        raise ValueError(f"`radius` must be positive. Received: radius={radius}")
    crad = math.ceil(radius - 0.5)
    x, y = np.meshgrid(np.arange(-crad, crad + 1), np.arange(-crad, crad + 1))
    maxxy = np.maximum(np.abs(x), np.abs(y)).astype(np.float64)
    minxy = np.minimum(np.abs(x), np.abs(y)).astype(np.float64)
    r2 = radius**2

    def _safe_sqrt(values):
        return np.sqrt(np.maximum(values, 0.0))

    def _segment(m):
        angle = np.arcsin(np.clip(m / radius, -1.0, 1.0))
        return 0.5 * angle + 0.25 * np.sin(2 * angle)

    # Where the circle enters (m1) and leaves (m2) each cell, along the cell's edge.
    m1 = np.where(
        r2 < (maxxy + 0.5) ** 2 + (minxy - 0.5) ** 2,
        minxy - 0.5,
        _safe_sqrt(r2 - (maxxy + 0.5) ** 2),
    )
    m2 = np.where(
        r2 > (maxxy - 0.5) ** 2 + (minxy + 0.5) ** 2,
        minxy + 0.5,
        _safe_sqrt(r2 - (maxxy - 0.5) ** 2),
    )
    on_edge = (
        (r2 < (maxxy + 0.5) ** 2 + (minxy + 0.5) ** 2)
        & (r2 > (maxxy - 0.5) ** 2 + (minxy - 0.5) ** 2)
    ) | ((minxy == 0) & (maxxy - 0.5 < radius) & (maxxy + 0.5 >= radius))
    area = r2 * (_segment(m2) - _segment(m1)) - (maxxy - 0.5) * (m2 - m1) + (m1 - minxy + 0.5)
    grid = np.where(on_edge, area, 0.0)
    grid += (maxxy + 0.5) ** 2 + (minxy + 0.5) ** 2 < r2
    grid[crad, crad] = min(math.pi * r2, math.pi / 2)
    if crad > 0 and radius > crad - 0.5 and r2 < (crad - 0.5) ** 2 + 0.25:
        m1 = math.sqrt(r2 - (crad - 0.5) ** 2)
        cap = 2 * (r2 * _segment(m1) - m1 * (crad - 0.5))
        end, centre = 2 * crad, crad
        for row, col in ((end, centre), (centre, end), (centre, 0), (0, centre)):
            grid[row, col] = cap
        for row, col in ((end - 1, centre), (centre, end - 1), (centre, 1), (1, centre)):
            grid[row, col] -= cap
    grid[crad, crad] = min(grid[crad, crad], 1.0)
    return grid / grid.sum()


def motion_kernel(length: float, angle: float) -> np.ndarray:
    """The linear motion kernel of MATLAB's `fspecial('motion', length, angle)`.

    A line `length` pixels long at `angle` degrees counter-clockwise, anti-aliased over
    one pixel of width, normalised to sum to one.

    Example:
    >>> np.round(motion_kernel(3, 0), 4).tolist()
    [[0.3333, 0.3333, 0.3333]]
    >>> motion_kernel(5, 90).shape
    (5, 1)
    """
    eps = np.finfo(np.float64).eps
    length = max(1.0, float(length))
    half = (length - 1) / 2
    phi = math.radians(angle % 180)
    cosphi, sinphi = math.cos(phi), math.sin(phi)
    xsign = 1.0 if cosphi >= 0 else -1.0
    line_width = 1.0
    # One half of the kernel; `eps` gives the right size at 0 and 90 degrees.
    sx = math.trunc(half * cosphi + line_width * xsign - length * eps)
    sy = math.trunc(half * sinphi + line_width - length * eps)
    x, y = np.meshgrid(np.arange(0, sx + xsign, xsign), np.arange(0, sy + 1))
    dist_to_line = y * cosphi - x * sinphi
    beyond_end = (np.hypot(x, y) >= half) & (np.abs(dist_to_line) <= line_width)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        along = half - np.abs((x + dist_to_line * sinphi) / cosphi)
    dist_to_line = np.where(beyond_end, np.hypot(dist_to_line, along), dist_to_line)
    weights = np.maximum(line_width + eps - np.abs(dist_to_line), 0.0)
    rows, cols = weights.shape
    kernel = np.zeros((2 * rows - 1, 2 * cols - 1))
    kernel[:rows, :cols] = np.rot90(weights, 2)
    kernel[rows - 1 :, cols - 1 :] = weights
    kernel /= kernel.sum() + eps * length * length
    return np.flipud(kernel) if cosphi > 0 else kernel


def gaussian_blur(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """KADID type 01: Gaussian blur of sigma `GAUSSIAN_BLUR_SIGMAS[level - 1]`.

    Mirrors KADIS `imblurgauss` (MATLAB `imgaussfilt`). Deterministic: `rng` is unused.

    Example:
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((8, 8, 3), dtype=np.float32)
    >>> gaussian_blur(image, 5, np.random.default_rng(0)).shape
    (8, 8, 3)
    """
    image = check_image(image)
    sigma = GAUSSIAN_BLUR_SIGMAS[check_level(level) - 1]
    return np.clip(gaussian_filter_2d(image, sigma), 0.0, 1.0)


def lens_blur(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """KADID type 02: convolution with a disk of radius `LENS_BLUR_RADII[level - 1]`.

    Mirrors KADIS `imblurlens` (MATLAB `fspecial('disk')`, `imfilter` with 'replicate').
    Deterministic: `rng` is unused.

    Example:
    >>> import numpy as np
    >>> image = np.zeros((9, 9, 3), np.float32); image[4, 4] = 1.0
    >>> blurred = lens_blur(image, 1, np.random.default_rng(0))
    >>> round(float(blurred[4, 4, 0]), 4)
    0.3183
    """
    image = check_image(image)
    kernel = disk_kernel(LENS_BLUR_RADII[check_level(level) - 1])
    return np.clip(filter_replicate(image, kernel), 0.0, 1.0).astype(np.float32)


def motion_blur(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """KADID type 03: linear motion blur `MOTION_BLUR_LENGTHS[level - 1]` pixels long.

    The direction is a random whole number of degrees in [0, 180) drawn from `rng`.
    Mirrors KADIS `imblurmotion` (MATLAB `fspecial('motion')`, `imfilter` 'replicate');
    as there, a length of 1 leaves the image unchanged.

    Example:
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((8, 8, 3), dtype=np.float32)
    >>> blurred = motion_blur(image, 5, np.random.default_rng(0))
    >>> blurred.shape, bool(blurred.std() < image.std())
    ((8, 8, 3), True)
    """
    image = check_image(image)
    length = MOTION_BLUR_LENGTHS[check_level(level) - 1]
    angle = int(rng.integers(0, 180))
    kernel = motion_kernel(length, angle)
    return np.clip(filter_replicate(image, kernel), 0.0, 1.0).astype(np.float32)
