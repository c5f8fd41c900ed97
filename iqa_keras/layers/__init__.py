"""Keras layers of the learned IQA models: attention, difference fusion, residual blocks.

Example:
>>> import numpy as np
>>> from iqa_keras.layers import AttentionBlock, DifferenceFusion, ResidualBlock, ResizeLike
>>> tuple(ResidualBlock()(np.zeros((1, 8, 8, 4))).shape)
(1, 8, 8, 4)
"""

from iqa_keras.layers.attention import AttentionBlock, attention_pooled
from iqa_keras.layers.fusion import DifferenceFusion, ResizeLike, StackedPair
from iqa_keras.layers.residual import ResidualBlock

__all__ = ["AttentionBlock", "DifferenceFusion", "ResidualBlock", "ResizeLike", "StackedPair", "attention_pooled"]
