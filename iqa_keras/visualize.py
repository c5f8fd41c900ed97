"""Pictures of results: quality maps laid over images, and the evaluation scatter plot.

Quality maps are drawn with Google's Turbo colormap (Mikhailov, 2019), approximated
by nine anchor colours interpolated linearly, reversed so that it runs from poor to good quality:
the lowest values (degraded regions) are dark red, then orange and yellow, the middle
is green, and the highest values (good regions) are light blue, then dark blue. Maps
are on the model's score scale, where higher means better; for a map on a DMOS scale
(higher means worse) pass its negative.

Drawing uses NumPy and Pillow only; PNGs are written atomically.

Example:
>>> image = np.full((4, 6, 3), 128.0)
>>> quality_map = np.linspace(0.0, 1.0, 24).reshape(4, 6)
>>> overlay = heat_overlay(image, quality_map, alpha=1.0)
>>> overlay.shape, overlay.dtype, overlay[0, 0].tolist(), overlay[-1, -1].tolist()
((4, 6, 3), dtype('uint8'), [122, 4, 3], [48, 18, 59])
"""

from __future__ import annotations

import functools
import io
import math
import os
import warnings

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from iqa_keras import evaluation
from iqa_keras.atomic import write_atomic

__all__ = ["POOR_TO_GOOD_COLORS", "heat_overlay", "is_own_picture", "quality_colors", "save_overlay", "scatter_plot"]

_SOFTWARE = "iqa-keras"  # the PNG text chunk that marks the pictures this module writes

# Turbo, sampled at nine evenly spaced points and reversed: poor (dark red) to good (dark blue).
POOR_TO_GOOD_COLORS = np.array(
    [
        [122, 4, 3],
        [201, 45, 12],
        [255, 128, 29],
        [238, 208, 45],
        [150, 250, 80],
        [64, 243, 146],
        [38, 189, 225],
        [68, 106, 238],
        [48, 18, 59],
    ],
    np.float64,
)

_LEGEND_HEIGHT = 26  # a 10-pixel colour bar and a row of text
_DOT_COLOR = (31, 119, 180)
_CURVE_COLOR = (214, 39, 40)
_AXIS_COLOR = (0, 0, 0)
_MIN_PLOT_SIZE = (160, 120)
_MARGINS = {"left": 56, "right": 16, "top": 34, "bottom": 36}


# --------------------------------------------------------------------------------------
# Quality maps.


def quality_colors(quality_map, value_range=None) -> np.ndarray:
    """Colours a quality map, poor quality warm and good quality cool (uint8 HxWx3).

    Args:
        quality_map: HxW (or HxWx1) floats, higher meaning better quality.
        value_range: `(low, high)`, the values given the two end colours; values
            outside are clipped to them. By default the map's own minimum and maximum:
            the colours then show *where* an image is worse or better, not how bad it
            is, and two images cannot be compared by colour. Pass one range for all
            images to make their colours comparable. A constant map with the default
            range has no spread to show: it is drawn all in the middle colour (green).

    Example:
    >>> quality_colors([[0.0, 0.5, 1.0]]).tolist()
    [[[122, 4, 3], [150, 250, 80], [48, 18, 59]]]
    >>> quality_colors([[0.0, 0.5, 1.0]], value_range=(0.0, 4.0))[0, 2].tolist()
    [255, 128, 29]
    """
    values = _map_values(quality_map)
    low, high = _value_range(values, value_range)
    if high > low:
        position = np.clip((values - low) / (high - low), 0.0, 1.0)
    else:
        position = np.full_like(values, 0.5)
    anchors = np.linspace(0.0, 1.0, len(POOR_TO_GOOD_COLORS))
    channels = [np.interp(position, anchors, POOR_TO_GOOD_COLORS[:, c]) for c in range(3)]
    return np.round(np.stack(channels, axis=-1)).astype(np.uint8)


def heat_overlay(image, quality_map, alpha: float = 0.5, value_range=None) -> np.ndarray:
    """Blends the coloured quality map (`quality_colors`) over the image (uint8 HxWx3).

    Args:
        image: HxWx3, values 0-255 (the toolkit's convention); values outside are clipped.
        quality_map: HxW (or HxWx1) floats of the same height and width, higher
            meaning better quality (e.g. a model's "quality_map" output at input
            resolution).
        alpha: the colours' weight, from 0 (the image alone) to 1 (the colours alone).
        value_range: `(low, high)` for the colours; see `quality_colors`.

    Example:
    >>> image = np.zeros((2, 2, 3))
    >>> heat_overlay(image, [[0.0, 1.0], [1.0, 1.0]], alpha=0.5)[0, 0].tolist()
    [61, 2, 2]
    """
    pixels = _image_values(image)
    values = _map_values(quality_map)
    if values.shape != pixels.shape[:2]:
        raise ValueError(
            "`quality_map` must have the height and width of `image`. Received: "
            f"image.shape={pixels.shape}, quality_map.shape={np.shape(quality_map)}"
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"`alpha` must be between 0 and 1. Received: alpha={alpha!r}")
    colors = quality_colors(values, value_range).astype(np.float64)
    blend = (1.0 - alpha) * pixels + alpha * colors
    return np.round(np.clip(blend, 0.0, 255.0)).astype(np.uint8)


def save_overlay(
    path: str | os.PathLike, image, quality_map, alpha: float = 0.5, value_range=None
) -> Image.Image:
    """Writes `heat_overlay` as a PNG with a legend strip below; returns the picture.

    The strip holds the colour bar and, under its two ends, the values of the range
    used (the map's minimum and maximum unless `value_range` is given). A picture
    narrower than the legend's text is widened, the image kept at the top left.

    Example:
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "overlay.png")
    >>> picture = save_overlay(path, np.zeros((40, 200, 3)), np.ones((40, 200)))
    >>> picture.size, Image.open(path).size
    ((200, 66), (200, 66))
    """
    overlay = heat_overlay(image, quality_map, alpha, value_range)
    low, high = _value_range(_map_values(quality_map), value_range)
    labels = (f"{low:.4g} poor", f"good {high:.4g}")
    height, width = overlay.shape[:2]
    width = max(width, sum(_text_size(label)[0] for label in labels) + 12)
    picture = Image.new("RGB", (width, height + _LEGEND_HEIGHT), "black")
    picture.paste(Image.fromarray(overlay), (0, 0))
    bar = quality_colors(np.repeat(np.linspace(low, high, width)[None, :], 10, axis=0))
    picture.paste(Image.fromarray(bar), (0, height))
    draw = ImageDraw.Draw(picture)
    _draw_text(draw, labels[0], (2, height + 12), 0.0, fill="white")
    _draw_text(draw, labels[1], (width - 2, height + 12), 1.0, fill="white")
    _save_png(picture, path)
    return picture


def _image_values(image) -> np.ndarray:
    pixels = np.asarray(image, dtype=np.float64)
    if pixels.ndim != 3 or pixels.shape[-1] != 3:
        raise ValueError(f"`image` must be HxWx3. Received: image.shape={pixels.shape}")
    if not np.all(np.isfinite(pixels)):
        raise ValueError(
            f"`image` must be finite. Received: {int(np.sum(~np.isfinite(pixels)))} NaN or "
            f"inf values among {pixels.size}"
        )
    return pixels


def _map_values(quality_map) -> np.ndarray:
    values = np.asarray(quality_map, dtype=np.float64)
    if values.ndim == 3 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim != 2 or values.size == 0:
        raise ValueError(
            f"`quality_map` must be HxW or HxWx1 and not empty. Received: "
            f"quality_map.shape={np.shape(quality_map)}"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"`quality_map` must be finite. Received: {int(np.sum(~np.isfinite(values)))} "
            f"NaN or inf values among {values.size}"
        )
    return values


def _value_range(values: np.ndarray, value_range) -> tuple[float, float]:
    if value_range is None:
        return float(values.min()), float(values.max())
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"`value_range` must be (low, high). Received: value_range={value_range!r}"
        ) from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(
            "`value_range` must be finite with low < high. Received: "
            f"value_range={value_range!r}"
        )
    return low, high


# --------------------------------------------------------------------------------------
# The scatter plot of the evaluation protocol.


def scatter_plot(
    predictions, mos, path=None, mapping=None, title: str = "", size=(640, 480)
) -> Image.Image:
    """Draws MOS against predictions, the fitted logistic curve, SRCC and PLCC.

    Each (prediction, MOS) pair is a blue dot; the curve is drawn in red over the
    predictions' range; the top right corner gives `evaluation.evaluate`'s SRCC and fitted
    PLCC (the raw PLCC, marked so, when there are fewer than 5 pairs). The vertical
    axis spans the MOS and the curve, so nothing is cut off.

    Args:
        predictions: predicted scores, 1-D (or `(N, 1)`), finite, at least 2.
        mos: the human scores, the same length.
        path: if given, the picture is also written there as a PNG (atomically).
        mapping: the curve, a callable from predictions to MOS such as an
            `evaluation.LogisticMapping`. By default `evaluation.fit_logistic` with
            5 pairs or more, and no curve with fewer.
        title: a line of text at the top.
        size: `(width, height)` in pixels, at least 160x120.

    Example:
    >>> picture = scatter_plot([0.1, 0.4, 0.35, 0.8, 0.7, 0.9], [1.2, 2.0, 2.4, 4.1, 3.6, 4.5])
    >>> picture.size, picture.mode
    ((640, 480), 'RGB')
    """
    width, height = _plot_size(size)
    with warnings.catch_warnings():
        # Fewer than 5 pairs: no fitted PLCC, which the picture says. Failed fits still warn.
        warnings.filterwarnings(
            "ignore", "the logistic fit needs at least", evaluation.LogisticFitWarning
        )
        result = evaluation.evaluate(predictions, mos)  # also validates both inputs
    x = np.asarray(predictions, dtype=np.float64).reshape(-1)
    y = np.asarray(mos, dtype=np.float64).reshape(-1)
    if mapping is None and len(x) >= evaluation.MIN_FIT_ITEMS:
        mapping = evaluation.fit_logistic(x, y)
    curve_x = np.linspace(x.min(), x.max(), 200)
    curve_y = None if mapping is None else np.asarray(mapping(curve_x), np.float64)
    if curve_y is not None and not np.all(np.isfinite(curve_y)):
        raise ValueError(f"`mapping` gave non-finite values. Received: mapping={mapping!r}")

    picture = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(picture)
    box = (_MARGINS["left"], _MARGINS["top"])
    box += (width - _MARGINS["right"], height - _MARGINS["bottom"])
    x_axis = _Axis(x, box[0], box[2])
    y_axis = _Axis(y if curve_y is None else np.concatenate([y, curve_y]), box[3], box[1])
    _draw_axes(draw, box, x_axis, y_axis)
    if curve_y is not None:
        points = list(zip(x_axis.pixels(curve_x), y_axis.pixels(curve_y)))
        draw.line(points, fill=_CURVE_COLOR, width=2, joint="curve")
    for px, py in zip(x_axis.pixels(x), y_axis.pixels(y)):
        draw.ellipse((px - 2.5, py - 2.5, px + 2.5, py + 2.5), fill=_DOT_COLOR)
    if math.isnan(result.plcc):
        correlation = f"PLCC (raw) {result.plcc_raw:.3f}"
    else:
        correlation = f"PLCC {result.plcc:.3f}"
    _draw_text(draw, f"SRCC {result.srcc:.3f}  {correlation}  n={result.n}", (box[2], 18), 1.0)
    _draw_text(draw, title, (width / 2, 4), 0.5)
    _draw_text(draw, "MOS", (4, 18), 0.0)
    _draw_text(draw, "prediction", ((box[0] + box[2]) / 2, height - 14), 0.5)
    if path is not None:
        _save_png(picture, path)
    return picture


class _Axis:
    """Maps data values onto pixels along one axis, with a 5% margin on both sides."""

    def __init__(self, values: np.ndarray, first_pixel: float, last_pixel: float):
        low, high = float(values.min()), float(values.max())
        pad = 0.05 * (high - low) if high > low else max(0.5, 0.05 * abs(low))
        self.low, self.high = low - pad, high + pad
        self.first_pixel, self.last_pixel = first_pixel, last_pixel

    def pixels(self, values) -> np.ndarray:
        fraction = (np.asarray(values, np.float64) - self.low) / (self.high - self.low)
        return self.first_pixel + fraction * (self.last_pixel - self.first_pixel)

    def ticks(self) -> np.ndarray:
        """Round values (1, 2, 2.5 or 5 times a power of ten apart) inside the axis."""
        rough = (self.high - self.low) / 6
        power = 10.0 ** math.floor(math.log10(rough))
        step = next(s * power for s in (1, 2, 2.5, 5, 10) if s * power >= rough)
        return np.arange(math.ceil(self.low / step), math.floor(self.high / step) + 1) * step


def _draw_axes(draw: ImageDraw.ImageDraw, box, x_axis: _Axis, y_axis: _Axis) -> None:
    left, _, _, bottom = box
    draw.rectangle(box, outline=_AXIS_COLOR)
    for value, px in zip(x_axis.ticks(), x_axis.pixels(x_axis.ticks())):
        draw.line((px, bottom, px, bottom + 4), fill=_AXIS_COLOR)
        _draw_text(draw, f"{value:.4g}", (px, bottom + 6), 0.5)
    for value, py in zip(y_axis.ticks(), y_axis.pixels(y_axis.ticks())):
        draw.line((left - 4, py, left, py), fill=_AXIS_COLOR)
        _draw_text(draw, f"{value:.4g}", (left - 7, py - 7), 1.0)


def _plot_size(size) -> tuple[int, int]:
    pair = isinstance(size, (tuple, list)) and len(size) == 2 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in size
    )
    if not pair or size[0] < _MIN_PLOT_SIZE[0] or size[1] < _MIN_PLOT_SIZE[1]:
        raise ValueError(
            f"`size` must be (width, height) in whole pixels, at least {_MIN_PLOT_SIZE}. "
            f"Received: size={size!r}"
        )
    return int(size[0]), int(size[1])


# --------------------------------------------------------------------------------------
# Shared by both pictures.


@functools.cache
def _font():
    return ImageFont.load_default()


def _text_size(text: str) -> tuple[int, int]:
    left, top, right, bottom = _font().getbbox(text)
    return right - left, bottom - top


def _draw_text(draw: ImageDraw.ImageDraw, text: str, at, align: float, fill=_AXIS_COLOR) -> None:
    """Draws `text` with its top at `at[1]`; `align` 0, 0.5 or 1 puts `at[0]` at its
    left, centre or right."""
    draw.text((at[0] - align * _text_size(text)[0], at[1]), text, fill=fill, font=_font())


def is_own_picture(path: str | os.PathLike) -> bool:
    """Whether `path` is a PNG this module wrote (an overlay or a plot, which a command may
    write again), by the "Software" text chunk it puts in them."""
    try:
        with Image.open(path) as picture:
            return picture.format == "PNG" and picture.text.get("Software") == _SOFTWARE
    except (OSError, ValueError, SyntaxError):
        return False


def _save_png(picture: Image.Image, path: str | os.PathLike) -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Software", _SOFTWARE)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", pnginfo=info)
    write_atomic(path, lambda file: file.write(buffer.getvalue()))
