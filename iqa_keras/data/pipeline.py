"""The one tf.data pipeline of the toolkit: records -> `(inputs, score)` batches.

Full-reference and no-reference models train and evaluate on the same pipeline. Each
element is `({"reference": ref, "distorted": dist}, score)`, or `({"distorted": dist},
score)` for no-reference records (or `use_reference=False`); images are float32 NHWC
with values 0-255 unless `preprocess` rescales them; `score` is `Record.score`
(float32, [0, 1], higher = better).

- `training_dataset`: records shuffled (on their own, or in level groups) ->
  decoded in parallel -> resized -> aligned random crops of reference and distorted
  (`patches_per_image` per image) with the same random flip and rotation on both (and on
  every image of a level group) -> batched -> preprocessed -> prefetched.
- `evaluation_dataset`: records in their order -> whole images (batches of one, or of
  `batch_size` after a fixed `resize_to`), which `iqa_keras.tiling.Scorer` scores (in
  tiles when large, as the command does).

Decoding gives exactly what `iqa_keras.io.read_image` gives (grayscale replicated,
alpha dropped, palettes expanded, 16-bit grayscale scaled by 255/65535, JPEG through
the accurate integer DCT as Pillow does): PNG, JPEG, BMP and still WebP decode natively
in TensorFlow; any other file (GIF, TIFF, 1-bit BMP, ..., a corrupt file, a pair of
different sizes) is read again with `read_image`, whose error names the file. With
`on_error="skip"` unreadable images are dropped instead, logged once each as a warning
and listed in a `SkippedImages` the caller may pass in.

Randomness is stateless: the order, crops and flips of a training pass are a function of
`seed` and the pass's number (and, where `patches_per_image > 1` mixes the patches of
ungrouped records, of TensorFlow's global seed, which `keras.utils.set_random_seed`
sets), so the n-th pass over any dataset built from the same records and config yields
the same batches, successive passes (epochs) differ, and a `PassCounter` set to n makes
the next pass the n-th (a run resumed at epoch n sees what it would have seen
uninterrupted). The datasets run with
tf.data autotuning off and fixed parallelism: with autotuning on, `model.fit` on
TensorFlow 2.21 sometimes returns seconds late (Keras opens the next epoch's iterator
at the end of each epoch, the last included, and its autotune thread winds down slowly).

Example:
>>> import os, tempfile, numpy as np
>>> from PIL import Image
>>> from iqa_keras.data.records import Record, Scale
>>> folder = tempfile.mkdtemp()
>>> for name in ("ref.png", "dist.png"):
...     Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(os.path.join(folder, name))
>>> record = Record(os.path.join(folder, "dist.png"), 4.0, Scale(1.0, 5.0, True),
...                 reference=os.path.join(folder, "ref.png"))
>>> config = PipelineConfig(batch_size=2, crop_size=32, patches_per_image=2)
>>> inputs, score = next(iter(training_dataset([record], config)))
>>> inputs["reference"].shape, inputs["distorted"].shape, score.numpy().tolist()
(TensorShape([2, 32, 32, 3]), TensorShape([2, 32, 32, 3]), [0.75, 0.75])
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from iqa_keras.data.decode import decode_image_bytes
from iqa_keras.data.level_groups import batch_groups
from iqa_keras.data.pipeline_config import PipelineConfig
from iqa_keras.data.records import Record
from iqa_keras.io import ImageReadError, check_same_size, read_image

__all__ = ["PipelineConfig", "SkippedImages", "PassCounter", "training_dataset", "evaluation_dataset"]

_logger = logging.getLogger(__name__)


class SkippedImages:
    """The unreadable images that datasets built with `on_error="skip"` dropped so far.

    Pass one to `training_dataset` or `evaluation_dataset` and read it during or after
    iteration. Each file is counted (and logged as a warning) once, however many epochs
    meet it.

    Example:
    >>> skipped = SkippedImages()
    >>> skipped.add("broken.png", "truncated")
    >>> len(skipped), skipped.paths
    (1, ['broken.png'])
    """

    def __init__(self):
        self._reasons: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, path: str, reason: str) -> None:
        """Records a skipped file, logging a warning the first time it is seen."""
        with self._lock:
            if path in self._reasons:
                return
            self._reasons[path] = reason
            count = len(self._reasons)
        _logger.warning("Skipped unreadable image %s (%d skipped so far): %s", path, count, reason)

    @property
    def paths(self) -> list[str]:
        """The skipped files, in the order they were met."""
        with self._lock:
            return list(self._reasons)

    def __len__(self) -> int:
        with self._lock:
            return len(self._reasons)

    def __repr__(self) -> str:
        return f"SkippedImages({self.paths!r})"


class PassCounter:
    """The number of the next pass over a `training_dataset`.

    Each iteration of the dataset takes the next number as it starts, and its order,
    crops and flips follow from the config's seed and that number. Set it with
    `start_at(n)` before iterating to pick up at pass n, e.g. epoch n of a resumed run.

    Example:
    >>> counter = PassCounter()
    >>> counter.start_at(3)
    >>> counter.next_pass
    3
    """

    def __init__(self):
        with tf.device("/cpu:0"):  # beside tf.data, whatever device the model trains on
            self._next = tf.Variable(0, dtype=tf.int64, trainable=False, name="next_pass")
            self._taking = tf.CriticalSection(name="take_pass")

    @property
    def next_pass(self) -> int:
        return int(self._next.numpy())

    def start_at(self, pass_number: int) -> None:
        self._next.assign(pass_number)

    def take(self) -> tf.Tensor:
        """The next pass's number, counting it as taken (runs inside the pipeline); two
        iterations starting at once get two numbers."""
        return self._taking.execute(lambda: self._next.assign_add(1) - 1)


def training_dataset(
    records: Sequence[Record],
    config: PipelineConfig | None = None,
    preprocess: Callable[[tf.Tensor], tf.Tensor] | None = None,
    skipped: SkippedImages | None = None,
    passes: PassCounter | None = None,
) -> tf.data.Dataset:
    """Shuffled, cropped, augmented batches for `model.fit`; one pass is one epoch.

    Args:
        records: the training records (all with a reference, or none).
        config: a `PipelineConfig`; default `PipelineConfig()`.
        preprocess: the model's preprocessing, applied to each batch of images (NHWC,
            0-255), e.g. a `keras.layers.Rescaling`; it must run inside tf.data.
        skipped: filled with the files dropped when `config.on_error == "skip"`.
        passes: numbers the passes, each iteration taking the next number; default a
            new `PassCounter`, from 0. (`model.fit` under a distribution strategy reads a
            batch before training, which takes a number: `StartPassesAtEpoch` sets it back.)

    Example:
    >>> import os, tempfile, numpy as np
    >>> from PIL import Image
    >>> from iqa_keras.data.records import Record, Scale
    >>> path = os.path.join(tempfile.mkdtemp(), "photo.png")
    >>> Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(path)
    >>> records = [Record(path, 80.0, Scale(0.0, 100.0, True))] * 3
    >>> dataset = training_dataset(records, PipelineConfig(batch_size=2, crop_size=24),
    ...                            preprocess=lambda images: images / 255.0)
    >>> [(inputs["distorted"].shape[0], sorted(inputs)) for inputs, score in dataset]
    [(2, ['distorted']), (1, ['distorted'])]
    """
    config = config or PipelineConfig()
    config.check_training()
    columns, with_reference = _record_columns(records, config.use_reference)
    order_seed, crop_seed, mix_seed = np.random.SeedSequence(config.seed).generate_state(3).tolist()
    groups = batch_groups(records, config.level_groups)
    if config.level_groups:
        # Each patch of a group is a unit of its own, as in CropBatches: the group's images
        # stay consecutive, so nothing may mix or reorder the crops.
        groups = groups * config.patches_per_image
        patcher = _Patcher(dataclasses.replace(config, patches_per_image=1))
    else:
        patcher = _Patcher(config)
    mixes = config.patches_per_image > 1 and config.shuffle_buffer > 1 and not config.level_groups

    def one_pass(pass_number):
        elements = _shuffled_groups(columns, groups, order_seed, crop_seed, pass_number)
        dataset = _decode_in_parallel(
            elements, patcher, config, skipped, deterministic=config.deterministic or config.level_groups
        )
        if mixes:
            # One mixing for every pass (a shuffle's seed cannot be a tensor), of its own crops.
            dataset = dataset.shuffle(config.shuffle_buffer, seed=mix_seed, reshuffle_each_iteration=False)
        return dataset

    passes = passes or PassCounter()
    dataset = tf.data.Dataset.range(1).map(lambda _: passes.take()).flat_map(one_pass)
    dataset = dataset.batch(config.batch_size)
    num_batches = config.training_batches(len(records))
    return _finish(dataset, with_reference, preprocess, config, num_batches)


def evaluation_dataset(
    records: Sequence[Record],
    config: PipelineConfig | None = None,
    preprocess: Callable[[tf.Tensor], tf.Tensor] | None = None,
    skipped: SkippedImages | None = None,
) -> tf.data.Dataset:
    """Whole images in the order of `records`, for scoring.

    Each batch holds one whole image, or `batch_size` images after a fixed `resize_to`.
    Skipped images (`on_error="skip"`) leave no batch: see `skipped`. The `tile_*`
    fields are the scorer's (`iqa_keras.training.predict_scores`), not read here.

    Example:
    >>> import os, tempfile, numpy as np
    >>> from PIL import Image
    >>> from iqa_keras.data.records import Record, Scale
    >>> path = os.path.join(tempfile.mkdtemp(), "photo.png")
    >>> Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(path)
    >>> config = PipelineConfig(batch_size=2, resize_to=(24, 32))
    >>> inputs, scores = next(iter(evaluation_dataset([Record(path, 2.0, Scale(1.0, 5.0, True))], config)))
    >>> inputs["distorted"].shape, scores.shape
    (TensorShape([1, 24, 32, 3]), TensorShape([1]))
    """
    config = config or PipelineConfig()
    columns, with_reference = _record_columns(records, config.use_reference)
    elements = tf.data.Dataset.from_tensor_slices(columns)
    # Evaluation keeps the order of `records`, whatever `config.deterministic` says.
    resize = _Resizer(config)
    dataset = _decode_in_parallel(
        elements,
        lambda images, element: tf.data.Dataset.from_tensors((tf.concat(resize(images), -1), element["score"])),
        config,
        skipped,
        deterministic=True,
    )
    batch_size = config.batch_size if config.resize_to is not None else 1
    dataset = dataset.batch(batch_size)
    num_batches = math.ceil(len(records) / batch_size)
    return _finish(dataset, with_reference, preprocess, config, num_batches)


def _record_columns(records, use_reference):
    """`{"paths": [reference, distorted] or [distorted] per record, "score": scores}`
    as tensors, and whether references are fed."""
    if not records:
        raise ValueError("`records` is empty: there are no images to feed.")
    without_reference = sum(record.reference is None for record in records)
    if use_reference and 0 < without_reference < len(records):
        raise ValueError(
            f"{without_reference} of {len(records)} records have no reference image; feed "
            "full-reference and no-reference records separately, or set use_reference=False."
        )
    with_reference = use_reference and without_reference == 0
    if with_reference:
        paths = [[record.reference, record.distorted] for record in records]
    else:
        paths = [[record.distorted] for record in records]
    scores = np.array([record.score for record in records], np.float32)
    return {"paths": tf.constant(paths), "score": tf.constant(scores)}, with_reference


def _shuffled_groups(columns, groups, order_seed, crop_seed, pass_number):
    """The records, group after group in this pass's order; all records of a group share
    one seed of this pass, the seed of their crops and flips."""
    members = tf.RaggedTensor.from_row_lengths(
        np.concatenate(groups).astype(np.int64), [len(group) for group in groups]
    )
    order = _pass_seed(order_seed, pass_number)
    crops = _pass_seed(crop_seed, pass_number)

    def records_of(position):
        indices = members[tf.random.experimental.index_shuffle(position, order, len(groups) - 1)]
        seed = tf.random.experimental.stateless_fold_in(crops, position)
        return tf.data.Dataset.from_tensor_slices(indices).map(
            lambda index: {name: tf.gather(column, index) for name, column in columns.items()}
            | {"seed": seed}
        )

    return tf.data.Dataset.range(len(groups)).flat_map(records_of)


def _pass_seed(seed, pass_number):
    """A stateless RNG seed (shape [2]) for one pass, from one of the config's seeds."""
    return tf.random.experimental.stateless_fold_in(tf.constant([seed, 0], tf.int64), pass_number)


def _decode_in_parallel(elements, prepare, config, skipped, deterministic):
    """Decodes each element's images and maps `prepare` over them.

    `prepare(images, element)` takes the decoded images (`[reference, distorted]` or
    `[distorted]`) and returns a dataset of channel stacks (one element, or one per
    patch), so that a record may yield several; decoding and preparing run
    `num_parallel_calls` at once.
    """
    skipped = SkippedImages() if skipped is None else skipped
    parallel = config.num_parallel_calls or os.cpu_count() or 1

    def per_element(element):
        decoded = _decoded_images(element["paths"], config.on_error, skipped)
        return decoded.flat_map(lambda *images: prepare(list(images), element))

    return elements.interleave(
        per_element,
        cycle_length=parallel,
        block_length=1,
        num_parallel_calls=parallel,
        deterministic=deterministic,
    )


def _decoded_images(paths, on_error, skipped):
    """A dataset of one element, the images of `paths` (none if skipped).

    TensorFlow decodes first; if it fails for any reason (format it does not know,
    corrupt data, images of different sizes), `read_image` reads the files again and
    either succeeds or raises an error naming the file.
    """
    num_images = int(paths.shape[0])

    def natively(paths):
        images = tuple(_decode_natively(paths[i]) for i in range(num_images))
        sizes_agree = tf.debugging.assert_equal(
            tf.shape(images[0])[:2], tf.shape(images[-1])[:2], message="sizes differ"
        )
        with tf.control_dependencies([sizes_agree]):
            return tuple(tf.identity(image) for image in images) + (True,)

    native = tf.data.Dataset.from_tensors(paths).map(natively)
    careful = tf.data.Dataset.from_tensors(paths).map(
        lambda paths: _read_with_pillow(paths, num_images, on_error, skipped)
    )
    decoded = native.ignore_errors().concatenate(careful).take(1)
    return decoded.filter(lambda *images_and_ok: images_and_ok[-1]).map(
        lambda *images_and_ok: images_and_ok[:-1]
    )


def _decode_natively(path):
    return decode_image_bytes(tf.io.read_file(path))


def _read_with_pillow(paths, num_images, on_error, skipped):
    def read(paths):
        names = [path.decode() for path in paths]
        images = []
        for name in names:
            try:
                images.append(read_image(name))
            except ImageReadError as error:
                if on_error == "raise":
                    raise
                skipped.add(name, str(error))
                return [np.zeros((0, 0, 3), np.float32)] * num_images + [False]
        check_same_size(images[0], images[-1], names[0], names[-1])
        return images + [True]

    outputs = tf.numpy_function(
        read, [paths], [tf.float32] * num_images + [tf.bool], name="read_with_pillow"
    )
    for image in outputs[:-1]:
        image.set_shape([None, None, 3])
    outputs[-1].set_shape([])
    return tuple(outputs)


class _Resizer:
    """Applies the config's resize policy to the images of a record (all of one size)."""

    def __init__(self, config):
        self.shorter_side = config.resize_shorter_side
        self.size = config.resize_to
        self.resizes = self.shorter_side is not None or self.size is not None

    def __call__(self, images):
        if self.size is not None:
            return [_resize(image, self.size) for image in images]
        if self.shorter_side is None:
            return images
        height_width = tf.cast(tf.shape(images[0])[:2], tf.float64)
        scale = self.shorter_side / tf.reduce_min(height_width)
        size = tf.cast(tf.round(height_width * scale), tf.int32)
        return [_resize(image, size) for image in images]


def _resize(image, size):
    return tf.image.resize(image, size, method="bilinear", antialias=True)


def _require_at_least(images, size, path, setting, resized):
    """Fails naming `path` when the (resized) images are smaller than `size`."""
    height, width = tf.shape(images[0])[0], tf.shape(images[0])[1]

    def fail(path, height, width):
        after = ", after resizing" if resized else ""
        raise ValueError(
            f"Image {path.decode()} is {width}x{height} (width x height{after}), smaller "
            f"than `{setting}` {size[1]}x{size[0]}."
        )

    fits = tf.logical_and(height >= size[0], width >= size[1])
    checked = tf.cond(
        fits,
        lambda: tf.constant(True),
        lambda: tf.numpy_function(fail, [path, height, width], tf.bool, name="image_too_small"),
    )
    with tf.control_dependencies([checked]):
        return [tf.identity(image) for image in images]


class _Patcher:
    """Resizes images, then takes `patches_per_image` aligned random crops, augmented.

    Each patch is the crops of all images of a record at the same place, stacked along
    channels, so that flips and rotations apply to all of them at once.
    """

    def __init__(self, config):
        self.resize = _Resizer(config)
        self.crop_size = config.crop_size
        self.patches_per_image = config.patches_per_image
        self.augment = config.augment
        size = config.crop_size or config.resize_to
        self.quarter_turns = size is not None and size[0] == size[1]

    def __call__(self, images, element):
        images = self.resize(images)
        if self.crop_size is not None:
            images = _require_at_least(
                images, self.crop_size, element["paths"][-1], "crop_size", self.resize.resizes
            )
        seeds = tf.random.experimental.stateless_split(element["seed"], self.patches_per_image)
        patch_shape = [*(self.crop_size or (None, None)), 3 * len(images)]
        patches = tf.map_fn(
            lambda seed: self._patch(images, seed),
            seeds,
            fn_output_signature=tf.TensorSpec(patch_shape, tf.float32),
        )
        scores = tf.fill([self.patches_per_image], element["score"])
        return tf.data.Dataset.from_tensor_slices((patches, scores))

    def _patch(self, images, seed):
        row_seed, column_seed, flip_seed, turn_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 4)
        )
        if self.crop_size is not None:
            # Crop before stacking: the full-size images are never copied.
            height, width = self.crop_size
            top = _uniform_int(row_seed, tf.shape(images[0])[0] - height + 1)
            left = _uniform_int(column_seed, tf.shape(images[0])[1] - width + 1)
            images = [tf.slice(image, [top, left, 0], [height, width, 3]) for image in images]
        stack = tf.concat(images, -1)
        if self.augment:
            flip = tf.random.stateless_uniform([], flip_seed) < 0.5
            stack = tf.cond(flip, lambda: tf.reverse(stack, axis=[1]), lambda: stack)
            turns = _uniform_int(turn_seed, 4 if self.quarter_turns else 2)
            stack = tf.image.rot90(stack, turns if self.quarter_turns else 2 * turns)
        return stack


def _uniform_int(seed, limit):
    """A stateless random integer in `[0, limit)`."""
    return tf.random.stateless_uniform([], seed, minval=0, maxval=limit, dtype=tf.int32)


def _finish(dataset, with_reference, preprocess, config, num_batches):
    """Splits the channel stacks into named model inputs, preprocesses, prefetches.

    Unless images may be skipped, the dataset declares its length (`num_batches`), so
    that Keras knows the steps of an epoch from the first one.
    """
    preprocess = preprocess or (lambda images: images)

    def model_inputs(stacks, scores):
        if with_reference:
            inputs = {"reference": preprocess(stacks[..., :3]), "distorted": preprocess(stacks[..., 3:])}
        else:
            inputs = {"distorted": preprocess(stacks)}
        return inputs, scores

    dataset = dataset.map(model_inputs)
    if config.on_error == "raise":
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_batches))
    dataset = dataset.prefetch(config.prefetch_batches)
    options = tf.data.Options()
    options.deterministic = config.deterministic
    options.autotune.enabled = False
    return dataset.with_options(options)
