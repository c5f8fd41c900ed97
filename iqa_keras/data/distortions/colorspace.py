"""Colour-space conversions used by the distortions, as MATLAB computes them.

- sRGB <-> CIE Lab, D65 white, as MATLAB's `rgb2lab` / `lab2rgb` (sRGB companding, the
  linear-RGB to XYZ matrix derived from the sRGB primaries and the D65 white point);
- RGB <-> YCbCr, ITU-R BT.601 studio range, as MATLAB's `rgb2ycbcr` / `ycbcr2rgb` on
  floats in [0, 1] (Y in [16, 235]/255, Cb and Cr in [16, 240]/255);
- RGB <-> HSV, as MATLAB's `rgb2hsv` / `hsv2rgb` (all three channels in [0, 1]).

Arrays are ...x3 with RGB in [0, 1]; results are float32 and never clipped, so a
round trip returns the input.

Example:
>>> import numpy as np
>>> white = np.ones((1, 1, 3), np.float32)
>>> np.round(rgb_to_lab(white), 3)[0, 0].tolist()
[100.0, 0.0, 0.0]
>>> np.round(rgb_to_ycbcr(white) * 255, 3)[0, 0].tolist()
[235.0, 128.0, 128.0]
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "rgb_to_lab",
    "lab_to_rgb",
    "rgb_to_ycbcr",
    "ycbcr_to_rgb",
    "rgb_to_hsv",
    "hsv_to_rgb",
]

# MATLAB's whitepoint('d65') (ASTM E308, CIE 1931 2-degree observer).
D65_WHITE = np.array([0.95047, 1.0, 1.08883])
_SRGB_PRIMARIES_XY = np.array([[0.64, 0.33], [0.30, 0.60], [0.15, 0.06]])


def _rgb_to_xyz_matrix() -> np.ndarray:
    """The linear-RGB to XYZ matrix that maps RGB (1, 1, 1) to the D65 white."""
    x, y = _SRGB_PRIMARIES_XY[:, 0], _SRGB_PRIMARIES_XY[:, 1]
    primaries_xyz = np.stack([x / y, np.ones(3), (1.0 - x - y) / y])
    return primaries_xyz * np.linalg.solve(primaries_xyz, D65_WHITE)


_RGB_TO_XYZ = _rgb_to_xyz_matrix()
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_LAB_EPSILON = (6.0 / 29.0) ** 3

# MATLAB's rgb2ycbcr for floats: YCbCr = offset + matrix @ RGB.
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0]) / 255.0
_RGB_TO_YCBCR = (
    np.array(
        [
            [65.481, 128.553, 24.966],
            [-37.797, -74.203, 112.0],
            [112.0, -93.786, -18.214],
        ]
    )
    / 255.0
)
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR)


def _as_colour_array(image, name: str) -> np.ndarray:
    array = np.asarray(image, dtype=np.float64)
    if array.ndim == 0 or array.shape[-1] != 3:
        raise ValueError(
            f"`{name}` must be an array whose last axis has 3 channels. "
            f"Received: shape={array.shape}"
        )
    return array


def rgb_to_lab(image) -> np.ndarray:
    """Converts sRGB in [0, 1] to CIE Lab (L in [0, 100]), as MATLAB's `rgb2lab`.

    Example:
    >>> import numpy as np
    >>> red = np.array([[[1.0, 0.0, 0.0]]], np.float32)
    >>> np.round(rgb_to_lab(red).astype(float), 2)[0, 0].tolist()
    [53.24, 80.09, 67.2]
    """
    rgb = _as_colour_array(image, "image")
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / D65_WHITE
    f = np.where(
        xyz > _LAB_EPSILON, np.cbrt(xyz), xyz / (3 * (6.0 / 29.0) ** 2) + 4.0 / 29.0
    )
    lightness = 116.0 * f[..., 1] - 16.0
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    return np.stack([lightness, a, b], axis=-1).astype(np.float32)


def lab_to_rgb(lab) -> np.ndarray:
    """Converts CIE Lab back to sRGB, as MATLAB's `lab2rgb` (not clipped to [0, 1]).

    Example:
    >>> import numpy as np
    >>> rgb = np.array([[[0.2, 0.5, 0.9]]], np.float32)
    >>> bool(np.allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-5))
    True
    """
    lab = _as_colour_array(lab, "lab")
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    xyz = np.where(f > 6.0 / 29.0, f**3, 3 * (6.0 / 29.0) ** 2 * (f - 4.0 / 29.0))
    linear = (xyz * D65_WHITE) @ _XYZ_TO_RGB.T
    magnitude = np.abs(linear)
    # sRGB companding, odd-symmetric for out-of-gamut negatives as in MATLAB.
    rgb = np.sign(linear) * np.where(
        magnitude <= 0.0031308,
        12.92 * magnitude,
        1.055 * magnitude ** (1.0 / 2.4) - 0.055,
    )
    return rgb.astype(np.float32)


def rgb_to_ycbcr(image) -> np.ndarray:
    """Converts RGB in [0, 1] to BT.601 YCbCr in [0, 1], as MATLAB's `rgb2ycbcr`.

    Example:
    >>> import numpy as np
    >>> black = np.zeros((1, 1, 3), np.float32)
    >>> np.round(rgb_to_ycbcr(black) * 255, 3)[0, 0].tolist()
    [16.0, 128.0, 128.0]
    """
    rgb = _as_colour_array(image, "image")
    return (_YCBCR_OFFSET + rgb @ _RGB_TO_YCBCR.T).astype(np.float32)


def ycbcr_to_rgb(ycbcr) -> np.ndarray:
    """Converts BT.601 YCbCr in [0, 1] back to RGB, as MATLAB's `ycbcr2rgb`.

    Example:
    >>> import numpy as np
    >>> rgb = np.array([[[0.2, 0.5, 0.9]]], np.float32)
    >>> bool(np.allclose(ycbcr_to_rgb(rgb_to_ycbcr(rgb)), rgb, atol=1e-6))
    True
    """
    ycbcr = _as_colour_array(ycbcr, "ycbcr")
    return ((ycbcr - _YCBCR_OFFSET) @ _YCBCR_TO_RGB.T).astype(np.float32)


def rgb_to_hsv(image) -> np.ndarray:
    """Converts RGB in [0, 1] to HSV with hue in [0, 1), as MATLAB's `rgb2hsv`.

    Example:
    >>> import numpy as np
    >>> np.round(rgb_to_hsv(np.array([[[0.0, 0.5, 1.0]]])).astype(float), 4)[0, 0].tolist()
    [0.5833, 1.0, 1.0]
    """
    rgb = _as_colour_array(image, "image")
    value = rgb.max(axis=-1)
    chroma = value - rgb.min(axis=-1)
    safe_chroma = np.where(chroma > 0, chroma, 1.0)
    red, green, blue = np.moveaxis(rgb, -1, 0)
    hue = np.select(
        [chroma == 0, value == red, value == green],
        [0.0, (green - blue) / safe_chroma, 2.0 + (blue - red) / safe_chroma],
        default=4.0 + (red - green) / safe_chroma,
    )
    hue = (hue / 6.0) % 1.0
    saturation = np.where(value > 0, chroma / np.where(value > 0, value, 1.0), 0.0)
    return np.stack([hue, saturation, value], axis=-1).astype(np.float32)


def hsv_to_rgb(hsv) -> np.ndarray:
    """Converts HSV (all channels in [0, 1]) back to RGB, as MATLAB's `hsv2rgb`.

    Example:
    >>> import numpy as np
    >>> rgb = np.array([[[0.2, 0.5, 0.9]]], np.float32)
    >>> bool(np.allclose(hsv_to_rgb(rgb_to_hsv(rgb)), rgb, atol=1e-6))
    True
    """
    hsv = _as_colour_array(hsv, "hsv")
    hue, saturation, value = np.moveaxis(hsv, -1, 0)
    sector = hue * 6.0
    # Distance of each channel's hue from its own peak, as in the standard hexcone.
    offsets = np.array([5.0, 3.0, 1.0]).reshape((3,) + (1,) * hue.ndim)
    k = (offsets + sector) % 6.0
    ramp = np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    rgb = value * (1.0 - saturation * ramp)
    return np.moveaxis(rgb, 0, -1).astype(np.float32)
