"""Tests of iqa_keras.layers: attention, difference fusion, resizing, residual blocks."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from iqa_keras.layers import (
    AttentionBlock,
    DifferenceFusion,
    ResidualBlock,
    ResizeLike,
    StackedPair,
    attention_pooled,
)

RNG = np.random.default_rng(0)
FEATURES = RNG.normal(size=(2, 16, 16, 8)).astype("float32")
# A fine-to-coarse pyramid with odd sizes (as "same"-padded strided convs give for 35x45).
PYRAMID_SHAPES = [(2, 18, 23, 4), (2, 9, 12, 8), (2, 5, 6, 8), (2, 3, 3, 16)]


def pyramid(seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype("float32") for shape in PYRAMID_SHAPES]


def as_list(outputs):
    return [np.asarray(output) for output in keras.tree.flatten(outputs)]


def check_keras_round_trip(layer, inputs, arguments, tmp_path):
    """Config round trip, then a real `.keras` save/load of a model around the layer."""
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    symbolic = {
        name: keras.tree.map_structure(lambda array: keras.Input(array.shape[1:]), value)
        if isinstance(value, list)
        else keras.Input(value.shape[1:], name=name)
        for name, value in inputs.items()
    }
    model = keras.Model(symbolic, layer(*[symbolic[name] for name in arguments]))
    expected = as_list(model(inputs))
    path = tmp_path / "layer.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    restored = loaded.get_layer(layer.name)
    assert type(restored) is type(layer) and restored.get_config() == config
    for before, after in zip(expected, as_list(loaded(inputs))):
        np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------------------
# AttentionBlock


def test_attention_block_shapes_and_gate_range():
    block = AttentionBlock(reduction=4, return_attention_map=True)
    features, gate = block(FEATURES)
    assert tuple(features.shape) == FEATURES.shape
    assert tuple(gate.shape) == (2, 16, 16, 1)
    assert block.compute_output_shape(FEATURES.shape) == (FEATURES.shape, (2, 16, 16, 1))
    gate = np.asarray(gate)
    assert np.all(gate > 0) and np.all(gate < 1)
    # Bottleneck of 8 // 4 = 2 units in both gates.
    assert block.channel_hidden.units == 2 and block.spatial_hidden.filters == 2


def test_attention_block_gates_multiply_the_input():
    block = AttentionBlock(reduction=2, return_attention_map=True)
    features, spatial_gate = (np.asarray(output) for output in block(FEATURES))
    # features = input * channel_gate * spatial_gate, and both gates are in (0, 1).
    channel_gate = features / (FEATURES * spatial_gate)
    same_at_every_position = np.broadcast_to(channel_gate[:, :1, :1, :], channel_gate.shape)
    np.testing.assert_allclose(channel_gate, same_at_every_position, rtol=1e-4)
    assert np.all((channel_gate > 0) & (channel_gate < 1))


def test_attention_block_without_map_returns_features_only():
    block = AttentionBlock()
    assert tuple(block(FEATURES).shape) == FEATURES.shape
    assert block.compute_output_shape((None, None, None, 8)) == (None, None, None, 8)


def test_attention_block_keras_round_trip(tmp_path):
    check_keras_round_trip(
        AttentionBlock(reduction=2, return_attention_map=True, name="attention"),
        {"features": FEATURES},
        ["features"],
        tmp_path,
    )


def test_attention_block_gate_is_float32_under_mixed_precision(mixed_bfloat16):
    block = AttentionBlock(return_attention_map=True)
    features, gate = block(FEATURES)
    assert keras.backend.standardize_dtype(features.dtype) == "bfloat16"
    assert keras.backend.standardize_dtype(gate.dtype) == "float32"
    symbolic_features, symbolic_gate = block(keras.Input((None, None, 8)))
    assert symbolic_features.dtype == "bfloat16" and symbolic_gate.dtype == "float32"


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"reduction": 0}, "reduction=0"),
        ({"reduction": 2.0}, "reduction=2.0"),
        ({"return_attention_map": 1}, "return_attention_map=1"),
    ],
)
def test_attention_block_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        AttentionBlock(**arguments)


def test_attention_block_needs_known_channels():
    with pytest.raises(ValueError, match="known number of channels"):
        AttentionBlock()(keras.Input((None, None, None)))


# --------------------------------------------------------------------------------------
# ResizeLike


@pytest.mark.parametrize("target", [(35, 45), (7, 5), (16, 16)])
def test_resize_like_equals_tf_bilinear_resize(target):
    images = RNG.normal(size=(2, 9, 12, 3)).astype("float32")
    like = np.zeros((2, *target, 1), "float32")
    resized = ResizeLike()(images, like)
    expected = tf.image.resize(images, target, method="bilinear")
    assert tuple(resized.shape) == (2, *target, 3)
    np.testing.assert_allclose(resized, expected, rtol=1e-5, atol=1e-5)
    assert ResizeLike().compute_output_shape(images.shape, like.shape) == (2, *target, 3)


def test_resize_like_works_with_sizes_unknown_until_run_time():
    layer = ResizeLike()
    spec = tf.TensorSpec((None, None, None, None), tf.float32)
    resize = tf.function(layer, input_signature=[spec, spec])
    images = RNG.normal(size=(1, 5, 6, 2)).astype("float32")
    for target in ((9, 11), (10, 12)):
        like = np.zeros((1, *target, 1), "float32")
        np.testing.assert_allclose(resize(images, like), layer(images, like), atol=1e-6)
        assert tuple(resize(images, like).shape) == (1, *target, 2)


def test_resize_like_keras_round_trip(tmp_path):
    inputs = {"images": FEATURES[:, :5, :7], "like": FEATURES[:, :, :11, :1]}
    check_keras_round_trip(ResizeLike(name="resize"), inputs, ["images", "like"], tmp_path)


# --------------------------------------------------------------------------------------
# DifferenceFusion


def test_difference_fusion_output_at_the_finest_scale():
    fusion = DifferenceFusion(filters=8)
    fused = fusion(pyramid(1), pyramid(2))
    assert tuple(fused.shape) == (2, 18, 23, 8)
    assert fusion.compute_output_shape(PYRAMID_SHAPES, PYRAMID_SHAPES) == (2, 18, 23, 8)
    assert [convolution.kernel.shape for convolution in fusion.convolutions] == [
        (3, 3, 16, 8),  # the coarsest difference alone
        (3, 3, 16, 8),  # 8 upsampled + 8 channels of this scale
        (3, 3, 16, 8),
        (3, 3, 12, 8),  # 8 upsampled + 4 channels of the finest scale
    ]


def test_difference_fusion_depends_only_on_absolute_differences():
    fusion = DifferenceFusion(filters=8)
    reference, distorted = pyramid(1), pyramid(2)
    shift = pyramid(3)
    fused = np.asarray(fusion(reference, distorted))
    # |r - d| is unchanged by swapping the two, or by adding the same features to both.
    np.testing.assert_allclose(fusion(distorted, reference), fused, atol=1e-6)
    shifted = fusion(
        [r + s for r, s in zip(reference, shift)], [d + s for d, s in zip(distorted, shift)]
    )
    np.testing.assert_allclose(shifted, fused, atol=1e-4)
    # Identical features give the same output whatever they are.
    np.testing.assert_array_equal(fusion(reference, reference), fusion(shift, shift))
    assert not np.allclose(fusion(reference, shift), fused)


def test_difference_fusion_keras_round_trip(tmp_path):
    reference, distorted = pyramid(1), pyramid(2)
    inputs = {"reference": reference, "distorted": distorted}
    fusion = DifferenceFusion(filters=8, kernel_size=1, name="fusion")
    check_keras_round_trip(fusion, inputs, ["reference", "distorted"], tmp_path)


def test_difference_fusion_under_mixed_precision(mixed_bfloat16):
    fused = DifferenceFusion(filters=8)(pyramid(1), pyramid(2))
    assert keras.backend.standardize_dtype(fused.dtype) == "bfloat16"
    assert np.all(np.isfinite(np.asarray(fused, "float32")))


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"filters": 0}, "filters=0"),
        ({"kernel_size": 2}, "kernel_size=2"),
        ({"kernel_size": "3"}, "kernel_size='3'"),
    ],
)
def test_difference_fusion_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        DifferenceFusion(**arguments)


def test_difference_fusion_rejects_mismatched_pyramids():
    reference = pyramid(1)
    with pytest.raises(ValueError, match="equal length"):
        DifferenceFusion()(reference, reference[:3])
    with pytest.raises(ValueError, match="same known number of channels"):
        DifferenceFusion()(reference, [reference[0][..., :2], *reference[1:]])


# --------------------------------------------------------------------------------------
# ResidualBlock


def test_residual_block_shape_and_identity_path():
    block = ResidualBlock(kernel_size=3)
    outputs = np.asarray(block(FEATURES))
    assert outputs.shape == FEATURES.shape
    assert block.compute_output_shape((None, None, None, 8)) == (None, None, None, 8)
    # With the second convolution zeroed the block is leaky_relu(x).
    second = block.convolutions[1]
    second.kernel.assign(np.zeros(second.kernel.shape))
    second.bias.assign(np.zeros(second.bias.shape))
    leaky_relu = np.where(FEATURES > 0, FEATURES, 0.2 * FEATURES)
    np.testing.assert_allclose(block(FEATURES), leaky_relu, rtol=1e-6)


def test_residual_block_keras_round_trip(tmp_path):
    block = ResidualBlock(kernel_size=1, name="residual")
    check_keras_round_trip(block, {"features": FEATURES}, ["features"], tmp_path)


def test_residual_block_under_mixed_precision(mixed_bfloat16):
    outputs = ResidualBlock()(FEATURES)
    assert keras.backend.standardize_dtype(outputs.dtype) == "bfloat16"


@pytest.mark.parametrize("kernel_size", [0, 4, True, 3.0])
def test_residual_block_rejects_bad_kernel_size(kernel_size):
    with pytest.raises(ValueError, match=f"kernel_size={kernel_size!r}"):
        ResidualBlock(kernel_size=kernel_size)


def test_attention_pooling_is_the_weighted_mean_and_finite_when_every_gate_is_shut():
    quality = np.arange(8, dtype="float32").reshape(2, 2, 2, 1)
    attention = np.array([[1, 0, 0, 1], [0, 0, 0, 0]], "float32").reshape(2, 2, 2, 1)
    np.testing.assert_allclose(np.asarray(attention_pooled(quality, attention)), [[1.5], [0.0]])
    attention_variable = tf.Variable(attention)
    with tf.GradientTape() as tape:
        pooled = attention_pooled(quality, attention_variable)
    gradient = tape.gradient(pooled, attention_variable).numpy()
    assert np.isfinite(gradient).all() and not gradient[1].any()


def test_stacked_pair_puts_the_references_first_and_repeats_a_single_one():
    reference, distorted = np.zeros((1, 4, 6, 3), "float32"), np.arange(2 * 72, dtype="float32").reshape(2, 4, 6, 3)
    stacked = np.asarray(StackedPair()(reference, distorted))
    np.testing.assert_array_equal(stacked, np.concatenate([np.zeros_like(distorted), distorted]))
    assert StackedPair().compute_output_shape((None, 4, 6, 3), (5, 4, 6, 3)) == (10, 4, 6, 3)


@pytest.mark.parametrize("reference_shape", [(2, 1, 1, 3), (3, 4, 6, 3), (1, 4, 7, 3)])
def test_stacked_pair_refuses_images_that_do_not_pair_when_shapes_are_known_only_at_run_time(reference_shape):
    spec = tf.TensorSpec((None, None, None, 3))
    stacked_pair = tf.function(StackedPair(), input_signature=[spec, spec])
    np.testing.assert_array_equal(stacked_pair(tf.ones((1, 4, 6, 3)), tf.zeros((2, 4, 6, 3)))[:2], np.ones((2, 4, 6, 3)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="ConcatOp|not in"):  # nothing broadcast
        stacked_pair(tf.zeros(reference_shape), tf.zeros((2, 4, 6, 3)))


@pytest.mark.parametrize("reference_shape", [(2, 4, 6, 3), (3, 4, 7, 3), (1, 5, 6, 3)])
def test_stacked_pair_refuses_images_that_do_not_pair(reference_shape):
    with pytest.raises(ValueError, match=rf"reference of shape \({reference_shape[0]}, {reference_shape[1]}"):
        StackedPair()(np.zeros(reference_shape, "float32"), np.zeros((3, 4, 6, 3), "float32"))
