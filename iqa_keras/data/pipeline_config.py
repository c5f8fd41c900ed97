"""`PipelineConfig`: how records become batches, checked when made.

Kept apart from the tf.data pipeline so that training configs load without TensorFlow.

Example:
>>> PipelineConfig(batch_size=4, crop_size=(96, 128)).crop_size
(96, 128)
"""

from __future__ import annotations

import dataclasses
import math

from iqa_keras.tiling import DEFAULT_TILE_SIZE

__all__ = ["PipelineConfig"]

_ON_ERROR = ("raise", "skip")


# The fields marked (training) and (evaluation) in PipelineConfig's Args.
_TRAINING_ONLY = ("crop_size", "patches_per_image", "augment", "level_groups", "shuffle_buffer")
_EVALUATION_ONLY = ("tile_size", "tile_overlap")


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """How records become batches. Fields marked (training) or (evaluation) apply there only.

    Args:
        batch_size: images (or crops) per batch. Evaluation uses it only with `resize_to`.
        crop_size: (training) side of square random crops, or `(height, width)`; None
            trains on whole images (then `resize_to` or `batch_size=1` is needed).
        patches_per_image: (training) crops taken from each image per epoch.
        augment: (training) random horizontal flips and rotations, identical on both
            images of a pair: quarter turns when crops are square, half turns otherwise.
        resize_shorter_side: resize so that the shorter side has this many pixels,
            keeping the aspect ratio (bilinear, antialiased). Exclusive with `resize_to`.
        resize_to: resize every image to this `(height, width)`.
        tile_size: (evaluation) an image of more than `tile_size**2` pixels is scored in
            tiles of this side (at least 32), their maps pooled as `iqa-keras score`
            pools them (`iqa_keras.tiling.Scorer`, which the test figures use).
        tile_overlap: (evaluation) context, in pixels, around each tile.
        use_reference: feed the reference image when records have one; False trains a
            no-reference model on a full-reference database.
        level_groups: (training) batches filled with level groups: the levels of one
            distortion of one photo, one after the other and cropped, flipped and turned
            alike (a group can straddle two batches), so that batch-wise ranking losses
            learn their order (`iqa_keras.data.level_groups`); each of the
            `patches_per_image` patches of a group is drawn as a group of its own, and
            the element order is kept whatever `deterministic` says. Best with
            `batch_size` a multiple of the number of levels. False draws every record on
            its own.
        shuffle_buffer: (training) crops held to mix patches of different images when
            `patches_per_image > 1` (not with `level_groups`). Records themselves are
            always fully shuffled.
        seed: fixes the order, crops, flips and rotations.
        deterministic: keep the element order of parallel stages fixed, so that a seed
            fixes the batches exactly; False lets a slow image be overtaken.
        on_error: `"raise"` stops at an unreadable image naming its file; `"skip"` drops it.
        num_parallel_calls: images decoded and cropped at once; None for the CPU count.
        prefetch_batches: batches prepared ahead of the model.

    Example:
    >>> PipelineConfig(crop_size=224).crop_size
    (224, 224)
    >>> PipelineConfig(on_error="ignore")
    Traceback (most recent call last):
    ...
    ValueError: `on_error` must be one of ('raise', 'skip'). Received: on_error='ignore'
    """

    batch_size: int = 16
    crop_size: int | tuple[int, int] | None = None
    patches_per_image: int = 1
    augment: bool = True
    resize_shorter_side: int | None = None
    resize_to: tuple[int, int] | None = None
    tile_size: int = DEFAULT_TILE_SIZE
    tile_overlap: int = 64
    use_reference: bool = True
    level_groups: bool = False
    shuffle_buffer: int = 64
    seed: int = 0
    deterministic: bool = True
    on_error: str = "raise"
    num_parallel_calls: int | None = None
    prefetch_batches: int = 2

    def __post_init__(self):
        for name in ("batch_size", "patches_per_image", "shuffle_buffer", "prefetch_batches"):
            _check_positive_int(name, getattr(self, name))
        for name in ("resize_shorter_side", "num_parallel_calls"):
            if getattr(self, name) is not None:
                _check_positive_int(name, getattr(self, name))
        if isinstance(self.crop_size, int):
            object.__setattr__(self, "crop_size", (self.crop_size, self.crop_size))
        for name in ("crop_size", "resize_to"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _height_width(name, getattr(self, name)))
        if self.resize_shorter_side is not None and self.resize_to is not None:
            raise ValueError(
                "Set at most one of `resize_shorter_side` and `resize_to`. Received: "
                f"resize_shorter_side={self.resize_shorter_side}, resize_to={self.resize_to}"
            )
        for name, minimum in (("tile_size", 32), ("tile_overlap", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}")
        if self.on_error not in _ON_ERROR:
            raise ValueError(f"`on_error` must be one of {_ON_ERROR}. Received: on_error={self.on_error!r}")
        for name in ("augment", "use_reference", "level_groups", "deterministic"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"`{name}` must be True or False. Received: {name}={getattr(self, name)!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise TypeError(f"`seed` must be an integer. Received: seed={self.seed!r}")

    def check_training(self) -> None:
        """Raises a `ValueError`, naming the field, if these settings cannot make training
        batches: patches without a `crop_size`, uncropped images of several sizes in one
        batch, or an (evaluation) field set, which training would ignore.

        Example:
        >>> PipelineConfig(crop_size=None, patches_per_image=2).check_training()
        Traceback (most recent call last):
        ...
        ValueError: `patches_per_image` needs a crop_size to cut patches. Received: 2 ...
        """
        self._check_left_default(_EVALUATION_ONLY, "evaluation")
        if self.crop_size is not None:
            return
        if self.patches_per_image > 1:
            raise ValueError(
                f"`patches_per_image` needs a crop_size to cut patches. Received: {self.patches_per_image} "
                f"patches per image (patches_per_image={self.patches_per_image}, crop_size=None)"
            )
        if self.resize_to is None and self.batch_size > 1:
            raise ValueError(
                "`crop_size` is null: training batches of whole images need one size: set `crop_size` "
                f"or `resize_to`, or use batch_size=1. Received: batch_size={self.batch_size}"
            )

    def check_evaluation(self) -> None:
        """Raises a `ValueError`, naming the field, if a (training) field is set to anything
        but its default: evaluation would ignore it.

        Example:
        >>> PipelineConfig(crop_size=224).check_evaluation()
        Traceback (most recent call last):
        ...
        ValueError: `crop_size` applies to training batches only, and would be ignored here. Received: crop_size=(224, 224)
        """
        self._check_left_default(_TRAINING_ONLY, "training")

    def _check_left_default(self, names: tuple[str, ...], where: str) -> None:
        defaults = PipelineConfig()
        for name in names:
            if getattr(self, name) != getattr(defaults, name):
                raise ValueError(
                    f"`{name}` applies to {where} batches only, and would be ignored here. "
                    f"Received: {name}={getattr(self, name)!r}"
                )

    def training_batches(self, num_records: int) -> int:
        """Batches in one training pass over `num_records` records (fewer if images are
        skipped): the steps of an epoch, which a learning-rate schedule needs.

        Example:
        >>> PipelineConfig(batch_size=16, patches_per_image=4).training_batches(100)
        25
        """
        return math.ceil(num_records * self.patches_per_image / self.batch_size)


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


def _height_width(name, value):
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or any(isinstance(side, bool) or not isinstance(side, int) or side < 1 for side in value)
    ):
        raise ValueError(
            f"`{name}` must be a positive integer or a (height, width) pair of them. "
            f"Received: {name}={value!r}"
        )
    return tuple(value)
