"""The tiling rule of `iqa_keras.tiling.Scorer` inside a TensorFlow graph, for exported models.

A learned model scores a large image in one call with memory that grows with the image;
the command tiles it (`tiling.Scorer`). `TiledModel` does the same in the graph, so that
a SavedModel and the server give the command's score and keep memory bounded by the tile:

- an image of at most `tile_size` x `tile_size` pixels runs whole;
- a larger one runs tile by tile (`tile_size` pixels a side, `overlap` pixels of context
  cropped off again), in a `tf.while_loop` that adds up each tile's `sum(q * w)` and
  `sum(w)`; the score is their ratio, the maps are assembled from the tiles.

Images smaller than the model's `min_image_size` a side are refused (an
`InvalidArgumentError` that says so; the server answers 400). Both branches compute the score as `sum(q * w) / sum(w)` over the model's
feature-resolution maps (what the model's own pooling computes), and maps at the input's
size with the model's bilinear `ResizeLike`. Only the outputs "score", "quality_map" and
"attention_map" can be tiled; `tileable` says whether a model's are.

Example:
>>> import numpy as np, tensorflow as tf
>>> from iqa_keras.models import SiameseDifferenceIQA
>>> model = SiameseDifferenceIQA(fusion_filters=8, num_residual_blocks=0)
>>> tiled = TiledModel(model, tile_size=64)
>>> image = tf.random.uniform((1, 100, 150, 3), 0, 255, seed=1)
>>> tuple(tiled({"reference": image, "distorted": image + 10.0})["score"].shape)
(1, 1)
"""

from __future__ import annotations

import tensorflow as tf

from iqa_keras.layers.fusion import ResizeLike
from iqa_keras.tiling import aligned

__all__ = ["TILED_OUTPUTS", "TiledModel", "tileable"]

TILED_OUTPUTS = ("score", "quality_map", "attention_map")
_PROBE_SIZE = 128


def tileable(model) -> bool:
    """Whether `model` is a learned model whose outputs `TiledModel` can compute."""
    return hasattr(model, "with_outputs") and set(model.output_keys) <= set(TILED_OUTPUTS)


class TiledModel:
    """Runs a learned model whole or in tiles, as `tiling.Scorer` does; call it on the
    model's inputs (a dict of NHWC float batches, one image size per batch).

    It stands in for the model when exporting: `input` and `name` are the model's,
    `output_keys` its outputs, and `model` the feature-maps copy whose weights it runs
    (the one to track in a SavedModel).
    """

    def __init__(self, model, tile_size: int = 1024, overlap: int = 64):
        if not tileable(model):
            raise ValueError(
                f"Only models returning {list(TILED_OUTPUTS)} can be tiled. Received: model "
                f"{getattr(model, 'name', model)!r} with outputs {list(getattr(model, 'output_keys', ()))}"
            )
        self.output_keys = tuple(model.output_keys)
        self.map_resolution = model.map_resolution
        self.model = model.with_outputs(TILED_OUTPUTS, map_resolution="feature")
        self.name = model.name
        self.min_size = model.min_image_size
        self.tile_size, self.overlap = aligned(tile_size), aligned(overlap)
        self._resize = ResizeLike(dtype="float32")
        probe = tf.zeros((1, _PROBE_SIZE, _PROBE_SIZE, 3))
        cells = self._maps({name: probe for name in self.model.input})[0].shape[1]
        self.stride = _PROBE_SIZE // cells

    @property
    def input(self):
        return self.model.input

    def __call__(self, inputs: dict, training: bool = False) -> dict:
        image = next(iter(inputs.values()))
        height, width = tf.shape(image)[1], tf.shape(image)[2]
        large_enough = tf.debugging.assert_greater_equal(
            tf.minimum(height, width), self.min_size,
            message=f"The images are smaller than the minimum of {self.min_size}x{self.min_size} pixels of "
                    "this model (the stride of its coarsest features): their score would mean nothing",
        )
        with tf.control_dependencies([large_enough]):
            height = tf.identity(height)
        quality, attention, weighted, weights = tf.cond(
            height * width <= self.tile_size**2, lambda: self._whole(inputs), lambda: self._tiles(inputs)
        )
        available = {"score": (weighted / weights)[:, None], "quality_map": quality[..., None],
                     "attention_map": attention[..., None]}
        if self.map_resolution == "input":
            for key in ("quality_map", "attention_map"):
                available[key] = self._resize(available[key], image)
        return {key: available[key] for key in self.output_keys}

    def _maps(self, inputs):
        """(quality, attention) at feature resolution, (N, h, w) float32."""
        outputs = self.model(inputs, training=False)
        return tuple(tf.cast(outputs[key], tf.float32)[..., 0] for key in ("quality_map", "attention_map"))

    def _whole(self, inputs):
        quality, attention = self._maps(inputs)
        return quality, attention, tf.reduce_sum(quality * attention, [1, 2]), tf.reduce_sum(attention, [1, 2])

    def _tiles(self, inputs):
        image = next(iter(inputs.values()))
        batch, height, width = tf.shape(image)[0], tf.shape(image)[1], tf.shape(image)[2]
        size, overlap, stride = self.tile_size, self.overlap, self.stride
        rows, columns = -(-height // size), -(-width // size)
        cells = size // stride  # cells of a whole tile's own pixels

        def tile(index, weighted, weights, last, quality_tiles, attention_tiles):
            top, left = (index // columns) * size, (index % columns) * size
            bottom, right = tf.minimum(top + size, height), tf.minimum(left + size, width)
            window_top, window_left = tf.maximum(top - overlap, 0), tf.maximum(left - overlap, 0)
            window_bottom, window_right = tf.minimum(bottom + overlap, height), tf.minimum(right + overlap, width)
            crop = {name: value[:, window_top:window_bottom, window_left:window_right] for name, value in inputs.items()}
            quality, attention = self._maps(crop)
            # The cells of this tile's own pixels (context cropped off); a map may lack a
            # last, partial cell.
            first_row, first_column = (top - window_top) // stride, (left - window_left) // stride
            last_row = tf.minimum(-(-(bottom - window_top) // stride), tf.shape(quality)[1])
            last_column = tf.minimum(-(-(right - window_left) // stride), tf.shape(quality)[2])
            quality = quality[:, first_row:last_row, first_column:last_column]
            attention = attention[:, first_row:last_row, first_column:last_column]
            filled = tf.shape(quality)[1:3]
            padding = [[0, 0], [0, cells - filled[0]], [0, cells - filled[1]]]
            return (index + 1,
                    weighted + tf.reduce_sum(quality * attention, [1, 2]),
                    weights + tf.reduce_sum(attention, [1, 2]),
                    filled,
                    quality_tiles.write(index, tf.pad(quality, padding)),
                    attention_tiles.write(index, tf.pad(attention, padding)))

        count = rows * columns
        zeros = tf.zeros([batch])
        arrays = [tf.TensorArray(tf.float32, size=count, element_shape=[None, cells, cells]) for _ in range(2)]
        _, weighted, weights, last, quality_tiles, attention_tiles = tf.while_loop(
            lambda index, *_: index < count, tile, (tf.constant(0), zeros, zeros, tf.zeros([2], tf.int32), *arrays),
            parallel_iterations=1,  # one tile in memory at a time
        )
        # The last tile (bottom right) ends where the maps do.
        map_height, map_width = (rows - 1) * cells + last[0], (columns - 1) * cells + last[1]

        def assembled(tiles):
            grid = tf.reshape(tiles.stack(), [rows, columns, batch, cells, cells])
            grid = tf.reshape(tf.transpose(grid, [2, 0, 3, 1, 4]), [batch, rows * cells, columns * cells])
            return grid[:, :map_height, :map_width]

        return assembled(quality_tiles), assembled(attention_tiles), weighted, weights
