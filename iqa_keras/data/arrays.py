"""Random aligned crops of records as NumPy batches: training data for any Keras backend.

`CropBatches` is a `keras.utils.PyDataset`, so `model.fit` takes it on TensorFlow, JAX
or PyTorch alike; the tf.data pipeline (`iqa_keras.data.training_dataset`) is the
TensorFlow-only equivalent, with streaming decoding for datasets too large for memory.
Here every image is decoded once, with `iqa_keras.io.read_image`, and held in memory as
8-bit RGB. A batch is `({"reference": ref, "distorted": dist}, score)` (float32, 0-255,
`score` = `Record.score`), or `({"distorted": dist}, score)` without references. Crops
of a pair are aligned and get the same random flip and quarter turn; with `level_groups`,
batches are filled with level groups (`iqa_keras.data.level_groups`), each group's
images cropped, flipped and turned alike. The batches of an epoch follow from `(seed, epoch)`
alone, whatever order Keras asks for them in.

Example:
>>> import os, tempfile
>>> import numpy as np
>>> from PIL import Image
>>> from iqa_keras.data.records import Record, Scale
>>> folder = tempfile.mkdtemp()
>>> for name in ("ref.png", "dist.png"):
...     pixels = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
...     Image.fromarray(pixels).save(os.path.join(folder, name))
>>> record = Record(os.path.join(folder, "dist.png"), 2.0, Scale(1.0, 5.0, True),
...                 reference=os.path.join(folder, "ref.png"))
>>> batches = CropBatches([record] * 3, batch_size=2, crop_size=32)
>>> len(batches)
2
>>> inputs, scores = batches[0]
>>> sorted(inputs), inputs["distorted"].shape, scores.tolist()
(['distorted', 'reference'], (2, 32, 32, 3), [0.25, 0.25])
"""

from __future__ import annotations

import concurrent.futures
import math
import os
from collections.abc import Sequence

import keras
import numpy as np

from iqa_keras.data.level_groups import batch_groups, epoch_units
from iqa_keras.data.records import Record
from iqa_keras.io import check_same_size, read_image

__all__ = ["CropBatches"]


class CropBatches(keras.utils.PyDataset):
    """Batches of random crops of `records`, `patches_per_image` per record per epoch.

    Args:
        records: the records to train on.
        batch_size: crops per batch; the last batch of an epoch may be smaller.
        crop_size: side of the square crops; every image must be at least this large.
        patches_per_image: crops taken from each record per epoch.
        use_reference: give the reference images when the records have them.
        augment: random horizontal flips and quarter turns, the same on both images.
        level_groups: batches filled with level groups, cropped alike (see above).
        seed: the batches of every epoch follow from it.
        threads: threads decoding the images at the start.
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size` for `PyDataset`.
    """

    def __init__(
        self,
        records: Sequence[Record],
        batch_size: int = 16,
        crop_size: int = 192,
        patches_per_image: int = 1,
        use_reference: bool = True,
        augment: bool = True,
        level_groups: bool = False,
        seed: int = 0,
        threads: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (
            ("batch_size", batch_size),
            ("crop_size", crop_size),
            ("patches_per_image", patches_per_image),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
        if not records:
            raise ValueError("`records` must hold at least one record. Received: []")
        self.records = list(records)
        self.batch_size = batch_size
        self.crop_size = crop_size
        self.patches_per_image = patches_per_image
        self.use_reference = use_reference and all(r.reference is not None for r in self.records)
        self.augment = augment
        self.groups = batch_groups(self.records, level_groups)
        self.seed = seed
        self.epoch = 0
        self.scores = np.array([record.score for record in self.records], np.float32)
        self._images = _decoded(self._paths(), crop_size, threads or os.cpu_count() or 1)
        if self.use_reference:
            for record in self.records:
                check_same_size(self._images[record.reference], self._images[record.distorted],
                                record.reference, record.distorted)
        self._order, self._units = self._epoch_units()

    def _paths(self) -> list[str]:
        paths = [record.distorted for record in self.records]
        if self.use_reference:
            paths += [record.reference for record in self.records]
        return sorted(set(paths))

    def __len__(self) -> int:
        return math.ceil(len(self.records) * self.patches_per_image / self.batch_size)

    def __getitem__(self, index: int):
        batch = slice(index * self.batch_size, (index + 1) * self.batch_size)
        chosen = self._order[batch]
        crops = [
            self._crop(self.records[i], np.random.default_rng([self.seed, self.epoch, unit]))
            for i, unit in zip(chosen, self._units[batch])
        ]
        inputs = {"distorted": np.stack([crop[..., :3] for crop in crops])}
        if self.use_reference:
            inputs["reference"] = np.stack([crop[..., 3:] for crop in crops])
        return inputs, self.scores[chosen]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order, self._units = self._epoch_units()

    def _epoch_units(self) -> tuple[np.ndarray, np.ndarray]:
        """This epoch's records in batch order, and the unit (crop) of each."""
        rng = np.random.default_rng([self.seed, self.epoch])
        return epoch_units(self.groups, self.patches_per_image, rng)

    def _crop(self, record: Record, rng: np.random.Generator) -> np.ndarray:
        """One random crop of the record, its distorted and reference channels stacked."""
        images = [self._images[record.distorted]]
        if self.use_reference:
            images.append(self._images[record.reference])
        height, width = images[0].shape[:2]
        top = int(rng.integers(0, height - self.crop_size + 1))
        left = int(rng.integers(0, width - self.crop_size + 1))
        window = (slice(top, top + self.crop_size), slice(left, left + self.crop_size))
        crop = np.concatenate([image[window] for image in images], axis=-1)
        if self.augment:
            if rng.integers(2):
                crop = crop[:, ::-1]
            crop = np.rot90(crop, int(rng.integers(4)))
        return crop.astype(np.float32)


def _decoded(paths: list[str], crop_size: int, threads: int) -> dict[str, np.ndarray]:
    """{path: 8-bit image}, checking that each is at least `crop_size` on both sides."""

    def read(path):
        image = read_image(path)
        if min(image.shape[:2]) < crop_size:
            raise ValueError(
                f"{path} is {image.shape[1]}x{image.shape[0]}, smaller than crop_size={crop_size}"
            )
        return np.rint(image).astype(np.uint8)

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return dict(zip(paths, pool.map(read, paths)))
