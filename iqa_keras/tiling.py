"""Scoring images of any size with a learned model, whole or tile by tile.

The learned models pool a per-position quality map `q` with positive attention weights
`w` into `score = sum(q * w) / sum(w)`. A `Scorer` asks the model for both maps at
feature resolution (`model.with_outputs(..., map_resolution="feature")`), so:

- an image up to `tile_size` x `tile_size` pixels is scored in one call, exactly as the
  model scores it (`score_batch` scores several of one size in one call);
- a larger image is cut into tiles of `tile_size` pixels, each run with `overlap` pixels
  of context on every side (cropped off again), and the tiles' `sum(q * w)` and
  `sum(w)` are added up: memory stays bounded by the tile, whatever the image size.
  Each tile's channel attention sees only its own window, so a tiled score is close to,
  not identical with, the whole-image score.

The quality map (where the image is degraded and how much; the model's score scale) is
assembled from the tiles at feature resolution and resized to the image's size.

The model runs compiled (`predict_on_batch`: a traced function on TensorFlow, jitted on
JAX), and this is the one place where the toolkit turns images into a learned model's
scores: the command's `score`, `evaluate` and `maps`, training's validation and test
figures, `finetune`'s report and the Python API all come here.

Example:
>>> import numpy as np
>>> from iqa_keras.models import SiameseDifferenceIQA
>>> scorer = Scorer(SiameseDifferenceIQA(fusion_filters=8, num_residual_blocks=0), tile_size=64)
>>> reference = np.random.default_rng(0).uniform(0, 255, (100, 150, 3)).astype("float32")
>>> prediction = scorer(reference + 10.0, reference=reference, maps=True)
>>> prediction.quality_map.shape, bool(np.isfinite(prediction.score))
((100, 150), True)
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["Prediction", "Scorer", "aligned"]

DEFAULT_TILE_SIZE = 1024

# Tile corners and margins are multiples of this, so that tiles map to whole feature cells
# for every encoder (the coarsest stride of the keras.applications backbones is 32).
_ALIGNMENT = 32


@dataclasses.dataclass(frozen=True)
class Prediction:
    """A model's score for one image, with its maps (HxW float32) when asked for."""

    score: float
    quality_map: np.ndarray | None = None
    attention_map: np.ndarray | None = None


class Scorer:
    """Scores images with a full- or no-reference model, tiling large ones.

    Args:
        model: a learned model of this toolkit (it has `with_outputs`); its inputs
            `reference` and `distorted` make it full-reference, `distorted` alone
            no-reference.
        tile_size: images with more than `tile_size**2` pixels are scored in tiles of
            this side (rounded up to a multiple of 32); None for 1024.
        overlap: context, in pixels, added around each tile (rounded up to a multiple
            of 32) and cropped off its maps.
    """

    def __init__(self, model, tile_size: int | None = None, overlap: int = 64):
        tile_size = DEFAULT_TILE_SIZE if tile_size is None else tile_size
        for name, value, minimum in (("tile_size", tile_size, _ALIGNMENT), ("overlap", overlap, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"`{name}` must be an int >= {minimum}. Received: {name}={value!r}")
        if not hasattr(model, "with_outputs"):
            raise TypeError(
                "`model` must be a learned model of iqa_keras (with a `with_outputs` method). "
                f"Received: {type(model).__name__}"
            )
        self.tile_size = aligned(tile_size)
        self.overlap = aligned(overlap)
        self.full_reference = "reference" in _input_names(model)
        self.min_size = getattr(model, "min_image_size", 1)
        self._maps_model = model.with_outputs(("score", "quality_map", "attention_map"), map_resolution="feature")
        self._stride = None

    def __call__(self, distorted: np.ndarray, reference: np.ndarray | None = None, maps: bool = False):
        """Scores one HxWx3 image (values 0-255) against its reference, if the model needs one.

        Raises:
            ValueError: an image that is not HxWx3, smaller than the model's
                `min_image_size` a side, or with NaN or infinite pixels; a missing or
                mismatched reference.
        """
        distorted, reference = self._checked_pair(distorted, reference)
        height, width = distorted.shape[:2]
        if height * width <= self.tile_size**2:
            weighted, weights, quality, attention = self._run_one(distorted, reference)
        else:
            weighted, weights, quality, attention = self._run_tiles(distorted, reference)
        score = weighted / weights
        if not maps:
            return Prediction(score)
        return Prediction(score, _resized(quality, height, width), _resized(attention, height, width))

    def score_batch(self, distorted: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
        """The scores (float64) of N images of one size (NxHxWx3, values 0-255), in one
        call of the model when they need no tiles; equal to scoring each with `__call__`.

        Example:
        >>> from iqa_keras.models import SiameseDifferenceIQA
        >>> scorer = Scorer(SiameseDifferenceIQA(fusion_filters=8, num_residual_blocks=0))
        >>> images = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
        >>> scores = scorer.score_batch(images, reference=images[::-1])
        >>> bool(np.allclose(scores[1], scorer(images[1], reference=images[1]).score, atol=1e-5))
        True
        """
        distorted = np.asarray(distorted, np.float32)
        if distorted.ndim != 4:
            raise ValueError(f"`distorted` must be a batch NxHxWx3. Received: distorted.shape={distorted.shape}")
        if not self.full_reference:
            reference = None
        references = [None] * len(distorted) if reference is None else reference
        height, width = distorted.shape[1:3]
        if len(distorted) == 1 or height * width > self.tile_size**2:
            return np.array([self(image, other).score for image, other in zip(distorted, references)])
        for image, other in zip(distorted, references):  # the checks of `__call__`, image by image
            self._checked_pair(image, other)
        weighted, weights, _, _ = self._run(distorted, None if reference is None else np.asarray(reference, np.float32))
        return weighted / weights

    def _checked_pair(self, distorted, reference):
        distorted = _checked_image(distorted, "distorted", self.min_size)
        if not self.full_reference:
            return distorted, None
        if reference is None:
            raise ValueError("This model is full-reference: pass `reference`. Received: reference=None")
        reference = _checked_image(reference, "reference", self.min_size)
        if reference.shape != distorted.shape:
            raise ValueError(
                "`reference` and `distorted` must have the same shape. Received: "
                f"reference.shape={reference.shape}, distorted.shape={distorted.shape}"
            )
        return distorted, reference

    def _run(self, distorted, reference):
        """Sums `(q * w, w)` per image and the maps of a batch (N of each; maps NxHxW)."""
        inputs = self._inputs(distorted, reference)
        outputs = self._maps_model.predict_on_batch(inputs)
        quality = np.asarray(outputs["quality_map"], np.float64)[..., 0]
        attention = np.asarray(outputs["attention_map"], np.float64)[..., 0]
        return np.sum(quality * attention, axis=(1, 2)), np.sum(attention, axis=(1, 2)), quality, attention

    def _run_one(self, distorted, reference):
        weighted, weights, quality, attention = self._run(
            distorted[None], None if reference is None else reference[None]
        )
        return float(weighted[0]), float(weights[0]), quality[0], attention[0]

    def _run_tiles(self, distorted, reference):
        height, width = distorted.shape[:2]
        stride = self._feature_stride()
        quality = np.zeros((math.ceil(height / stride), math.ceil(width / stride)))
        attention = np.zeros_like(quality)
        weighted = weights = 0.0
        for top in range(0, height, self.tile_size):
            for left in range(0, width, self.tile_size):
                bottom, right = min(top + self.tile_size, height), min(left + self.tile_size, width)
                window = (
                    max(top - self.overlap, 0),
                    max(left - self.overlap, 0),
                    min(bottom + self.overlap, height),
                    min(right + self.overlap, width),
                )
                crop = (slice(window[0], window[2]), slice(window[1], window[3]))
                _, _, tile_quality, tile_attention = self._run_one(
                    distorted[crop], None if reference is None else reference[crop]
                )
                # Rows and columns of this tile's own pixels (context cropped off), in the
                # tile's maps (a map may lack a last, partial cell) and in the whole image's.
                rows = _cells(top - window[0], bottom - window[0], stride, tile_quality.shape[0])
                columns = _cells(left - window[1], right - window[1], stride, tile_quality.shape[1])
                target = (
                    slice(top // stride, top // stride + rows.stop - rows.start),
                    slice(left // stride, left // stride + columns.stop - columns.start),
                )
                quality[target], attention[target] = tile_quality[rows, columns], tile_attention[rows, columns]
                weighted += float(np.sum(tile_quality[rows, columns] * tile_attention[rows, columns]))
                weights += float(np.sum(tile_attention[rows, columns]))
        # The last tile (bottom right) ends where the maps do: at their last cell, or the
        # one before when the model's maps have no partial cell.
        filled = (slice(target[0].stop), slice(target[1].stop))
        return weighted, weights, quality[filled], attention[filled]

    def _feature_stride(self) -> int:
        """Pixels per cell of the model's maps, measured once on a 128x128 probe."""
        if self._stride is None:
            probe = np.zeros((128, 128, 3), np.float32)
            cells = self._run_one(probe, probe if self.full_reference else None)[2].shape[0]
            self._stride = 128 // cells
        return self._stride

    def _inputs(self, distorted, reference):
        if self.full_reference:
            return {"reference": reference, "distorted": distorted}
        return {"distorted": distorted}


def _input_names(model) -> set[str]:
    inputs = model.input if isinstance(model.input, dict) else {}
    return set(inputs) or {tensor.name for tensor in model.inputs}


def _checked_image(image, name: str, min_size: int) -> np.ndarray:
    image = np.asarray(image, np.float32)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"`{name}` must be one HxWx3 image. Received: {name}.shape={image.shape}")
    if min(image.shape[:2]) < min_size:
        raise ValueError(
            f"`{name}` is {image.shape[1]}x{image.shape[0]} pixels, smaller than this model's minimum of "
            f"{min_size}x{min_size} (its coarsest features' stride): its score would mean nothing"
        )
    if not np.isfinite(image).all():
        raise ValueError(f"`{name}` holds NaN or infinite values; pixels must be finite numbers, 0-255")
    return image


def _cells(start: int, stop: int, stride: int, available: int) -> slice:
    """The map cells covering pixels [start, stop) of a tile, `start` a multiple of
    `stride`, at most the `available` cells of its map."""
    return slice(start // stride, min(math.ceil(stop / stride), available))


def aligned(value: int) -> int:
    """`value` rounded up to a multiple of 32, the tiles' alignment."""
    return math.ceil(value / _ALIGNMENT) * _ALIGNMENT


def _resized(feature_map: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a feature-resolution map to the image's size (Pillow, float32)."""
    from PIL import Image

    return np.asarray(Image.fromarray(feature_map.astype(np.float32)).resize((width, height), Image.BILINEAR))
